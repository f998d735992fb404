"""Settings declared once, and the one binder that checks them.

A factory (step, model, postprocessor, metric, transform, format option set) declares its
settings in one of two ways:

* **a settings model**: a :class:`Settings` (pydantic v2) subclass given as the factory's
  ``Settings`` attribute. Its fields are the one declaration of the names, types, defaults,
  ranges (``Field(ge=..., gt=...)``, validators) and descriptions; the factory is still called
  with keyword arguments and turns them into the model with :func:`build_settings`. YAML
  validation, ``--set``, the engine (which receives the model) and the docs
  (:func:`settings_doc`) all read that declaration;
* **a plain typed signature** (what third-party factories usually write): keyword parameters
  with type hints and defaults; range checks are then the factory's own.

:func:`bind` handles both: unknown keys (with a did-you-mean), missing required settings and
wrong types, and for a settings model also every range or validator problem, all reported at
once as a :class:`~cvpipe.errors.ConfigError` placed at the YAML path (``where.key``) and line.
:func:`resolve_path` is the one rule for relative paths in path-typed settings.

Supported hints: ``bool``, ``int``, ``float`` (ints accepted), ``str``, ``pathlib.Path`` (strings
accepted; relative ones resolved against ``base_dir``), ``Literal[...]``, ``list[T]``,
``tuple[T, ...]``, ``dict[str, T]``, ``T | None`` / ``Optional[T]`` / unions, ``Any``; other
annotations are accepted as they are.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Union

from .errors import MISSING, ConfigError, CvpipeError, Problem, closest

__all__ = [
    "Settings", "Lazy", "settings_model", "build_settings", "bind", "signature_params", "describe_type", "ParamInfo",
    "resolve_path", "is_path_hint", "place", "under", "problem", "settings_doc", "validation_problems",
]


if typing.TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


def _make_base() -> type:
    from pydantic import BaseModel, ConfigDict

    class Settings(BaseModel):
        """Base of cvpipe's settings models: unknown keys are errors, any field name is allowed
        (``model``, ``model_params``), values are checked again on assignment."""

        model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True,
                                  validate_assignment=True)

    Settings.__module__ = __name__
    return Settings


def __getattr__(name: str) -> Any:
    # pydantic is imported when a settings model is first needed, not when the registry loads
    # (``cvpipe --help`` and the plugin listing stay fast)
    if name == "Settings":
        base = globals()["Settings"] = _make_base()
        return base
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Lazy:
    """A factory's ``Settings`` given by reference (``"package.module:Name"``), imported on
    first use: registering a factory then costs no pydantic import. ``Name`` is a settings model
    or a function returning one."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self._model: Any = None

    def resolve(self) -> Any:
        if self._model is None:
            import importlib

            module, _, attr = self.ref.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._model = obj if isinstance(obj, type) else obj()
        return self._model

    def __repr__(self) -> str:
        return f"Lazy({self.ref!r})"


class ParamInfo(typing.NamedTuple):
    """One setting of a factory: name, type hint, default (``MISSING`` if required), description."""

    @property
    def required(self) -> bool:
        """No default: the setting must be given."""
        return self.default is MISSING

    name: str
    annotation: Any
    default: Any
    description: str = ""


def settings_model(factory: Any) -> "type[BaseModel] | None":
    """The settings model ``factory`` declares (its ``Settings`` attribute, a pydantic model or
    a :class:`Lazy` reference to one), or None."""
    model = getattr(factory, "Settings", None)
    if isinstance(model, Lazy):
        model = model.resolve()
    if model is None or not isinstance(model, type):
        return None
    from pydantic import BaseModel

    return model if issubclass(model, BaseModel) else None


def signature_params(func: Callable[..., Any], skip: int = 0) -> dict[str, ParamInfo]:
    """The settings of ``func``: the fields of its settings model, else its keyword parameters
    (a class's ``__init__``'s) with resolved type hints. The first ``skip`` positional parameters
    are left out (e.g. the ``num_classes`` a model factory receives from the engine); ``**kwargs``
    is not listed."""
    model = settings_model(func)
    if model is not None:
        out: dict[str, ParamInfo] = {}
        for name, f in model.model_fields.items():
            if f.is_required():
                default = MISSING
            elif f.default_factory is not None:
                default = f.default_factory()  # type: ignore[call-arg]
            else:
                default = f.default
            out[name] = ParamInfo(name, f.annotation, default, f.description or "")
        return out
    target = func.__init__ if isinstance(func, type) else func  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    sig = inspect.signature(func)
    out = {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if i < skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        out[name] = ParamInfo(name, hints.get(name, Any), default)
    return out


def _accepts_var_keyword(func: Callable[..., Any]) -> bool:
    if settings_model(func) is not None:
        return False
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values())


def describe_type(tp: Any) -> str:
    """Human wording for a type hint: ``int`` -> "an integer", ``list[str]`` -> "a list of strings"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return "any value"
    if origin is typing.Annotated:
        return describe_type(args[0])
    if origin is Literal:
        return "one of: " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        parts = [describe_type(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return text + " or null" if type(None) in args else text
    if origin in (list, typing.List, tuple, typing.Sequence, set):
        inner = describe_type(args[0]) if args else "values"
        return f"a list of {_plural(inner)}"
    if origin in (dict, typing.Dict, Mapping):
        inner = describe_type(args[1]) if len(args) == 2 else "values"
        return f"a mapping of {_plural(inner)}"
    return {
        bool: "a boolean (true/false)",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path",
        list: "a list",
        dict: "a mapping",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _plural(text: str) -> str:
    for art in ("an ", "a "):
        if text.startswith(art):
            return text[len(art):] + "s"
    return text


def resolve_path(value: str | Path, base_dir: Path | None) -> Path:
    """The one rule for path-typed settings: ``~`` expanded, a relative path joined to
    ``base_dir`` (the YAML file's folder for values written in the file, the current directory
    for values given on the command line); absolute paths and ``base_dir=None`` left as they are."""
    p = Path(value).expanduser()
    return base_dir / p if base_dir is not None and not p.is_absolute() else p


def is_path_hint(tp: Any) -> bool:
    """True when the type hint ``tp`` is ``Path`` (or a subclass)."""
    return tp is Path or (isinstance(tp, type) and issubclass(tp, Path))


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any, base_dir: Path | None) -> Any:
    """``value`` converted to ``tp`` where that is lossless, else raise _Mismatch."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _coerce(value, args[0], base_dir)
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise _Mismatch
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, base_dir)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin in (list, typing.List, typing.Sequence, set, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _Mismatch
            return tuple(_coerce(v, a, base_dir) for v, a in zip(value, args))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, base_dir) for v in value]
        return tuple(items) if origin is tuple else set(items) if origin is set else items
    if origin in (dict, typing.Dict, Mapping):
        if not isinstance(value, dict):
            raise _Mismatch
        kt, vt = args if len(args) == 2 else (Any, Any)
        return {_coerce(k, kt, base_dir): _coerce(v, vt, base_dir) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if is_path_hint(tp):
        if isinstance(value, (str, Path)):
            return resolve_path(value, base_dir)
        raise _Mismatch
    if tp in (list, dict):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value


# ------------------------------------------------------------------ pydantic errors -> Problems
_BOUNDS = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt",
           "multiple_of": "multiple_of"}


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _bounds_text(word: str, c: Mapping[str, Any]) -> str:
    lo = ("[", c["ge"]) if "ge" in c else ("(", c["gt"]) if "gt" in c else None
    hi = ("]", c["le"]) if "le" in c else (")", c["lt"]) if "lt" in c else None
    if lo and hi:
        text = f"{word} in {lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"
    elif lo:
        text = f"{word} {'>=' if lo[0] == '[' else '>'} {_num(lo[1])}"
    elif hi:
        text = f"{word} {'<=' if hi[0] == ']' else '<'} {_num(hi[1])}"
    else:
        text = word
    if "multiple_of" in c:
        text += f", a multiple of {_num(c['multiple_of'])}"
    return text


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metadata:
        for key in ("ge", "gt", "le", "lt", "multiple_of"):
            v = getattr(m, key, None)
            if v is not None:
                out[key] = v
    return out


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _word(annotation: Any, value: Any) -> str:
    base = annotation
    while typing.get_origin(base) in (Union, types.UnionType, typing.Annotated):
        args = [a for a in typing.get_args(base) if a is not type(None)]
        base = args[0]
    if base is int or (isinstance(value, int) and not isinstance(value, (bool, float)) and base is not float):
        return "an integer"
    return "a number"


def _nullable(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(annotation)


PROBLEM = "cvpipe_problem"


def problem(message: str, expected: str | None = None) -> Exception:
    """An error for a settings model's field validator to raise: reported as a
    :class:`~cvpipe.errors.Problem` with ``message`` and ``expected`` at the field, together with
    the other fields' problems."""
    from pydantic_core import PydanticCustomError

    return PydanticCustomError(PROBLEM, message, {"expected": expected} if expected else None)


def validation_problems(exc: "ValidationError", model: "type[BaseModel]") -> list[Problem]:
    """Problems for a pydantic ``ValidationError`` of ``model``, one per error, each with the
    field path (``lr_groups.backbone``, ``milestones[0]``), the value and what was expected.
    A field's ``json_schema_extra`` may give ``message`` and ``expected`` wording."""
    problems: list[Problem] = []
    for e in exc.errors(include_url=False):
        loc = tuple(e.get("loc", ()))
        field = model.model_fields.get(loc[0]) if loc and isinstance(loc[0], str) else None
        extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
        value = e.get("input", MISSING)
        kind = e.get("type", "")
        message, expected = "out of range", None
        if kind in _BOUNDS:
            if field is not None and len(loc) == 1:
                c = _constraints(field.metadata)
                expected = _bounds_text(_word(field.annotation, value), c)
                if _nullable(field.annotation):
                    expected += ", or null"
            else:
                expected = _bounds_text(_word(float if isinstance(value, float) else int, value), e.get("ctx") or {})
        if kind == PROBLEM:  # a validator's settings.problem(): its own wording
            problems.append(Problem(e.get("msg", ""), field=_field_path(loc) or None, value=value,
                                    expected=(e.get("ctx") or {}).get("expected")))
            continue
        if kind == "value_error":  # a validator's ValueError: its text is the message
            message = str((e.get("ctx") or {}).get("error", e.get("msg", "")))
        elif kind not in _BOUNDS:
            message = e.get("msg", "invalid value")
        message = str(extra.get("message", message))
        expected = extra.get("expected", expected)
        problems.append(Problem(message, field=_field_path(loc) or None, value=value, expected=expected))
    return problems


def _located(p: Problem, file: str | None, lines: Mapping[str, int]) -> Problem:
    import dataclasses

    top = (p.field or "").split(".")[0].split("[")[0]
    return dataclasses.replace(p, file=p.file or file, line=p.line if p.line is not None else lines.get(top))


def under(field: str | None, where: str) -> bool:
    """True when problem field ``field`` already lies at or below the YAML path ``where``."""
    return bool(field) and bool(where) and (field == where or field.startswith((where + ".", where + "[")))


def place(problems: list[Problem], where: str) -> list[Problem]:
    """``problems`` with the fields not yet below ``where`` prefixed by it (the value problems
    :func:`bind` reports at the setting's own name, as a factory's own checks are)."""
    import dataclasses

    out = []
    for p in problems:
        if where and not under(p.field, where):
            f = p.field or ""
            p = dataclasses.replace(p, field=where if not f else (f"{where}{f}" if f.startswith("[") else f"{where}.{f}"))
        out.append(p)
    return out


def _check(
    func: Callable[..., Any],
    params: Mapping[str, Any] | None,
    *,
    where: str,
    file: str | None,
    lines: Mapping[str, int] | None,
    base_dir: Path | None,
    skip: int,
) -> "tuple[dict[str, Any], BaseModel | None]":
    params = dict(params or {})
    spec = signature_params(func, skip=skip)
    lines = lines or {}
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    def path(key: str) -> str:
        return f"{where}.{key}" if where else key

    open_ended = _accepts_var_keyword(func)
    for key, value in params.items():
        info = spec.get(key)
        if info is None:
            if open_ended:
                out[key] = value
                continue
            match = closest(str(key), spec)
            problems.append(Problem(
                "unknown setting", file=file, line=lines.get(key), field=path(str(key)),
                expected="one of: " + (", ".join(spec) or "(no settings)"),
                hint=f"did you mean {match!r}?" if match else None,
            ))
            continue
        try:
            out[key] = _coerce(value, info.annotation, base_dir)
        except _Mismatch:
            problems.append(Problem(
                "wrong type", file=file, line=lines.get(key), field=path(key), value=value,
                expected=describe_type(info.annotation),
            ))
    for name, info in spec.items():
        if info.required and name not in params:
            problems.append(Problem(
                "missing required setting", file=file, line=lines.get("__self__"), field=path(name),
                expected=describe_type(info.annotation),
            ))
    model = settings_model(func)
    instance = None
    if model is not None and not problems:
        from pydantic import ValidationError

        try:
            instance = model.model_validate(out)
        except ValidationError as exc:
            problems.extend(_located(p, file, lines) for p in validation_problems(exc, model))
        except CvpipeError as exc:  # a validator's own cvpipe error, with its field
            problems.extend(_located(p, file, lines) for p in exc.problems)
    if problems:
        raise ConfigError.from_problems(problems)
    return out, instance


def bind(
    func: Callable[..., Any],
    params: Mapping[str, Any] | None,
    *,
    where: str = "",
    file: str | None = None,
    lines: Mapping[str, int] | None = None,
    base_dir: Path | None = None,
    skip: int = 0,
) -> dict[str, Any]:
    """Check ``params`` against ``func``'s settings (its settings model, else its signature)
    and return them coerced.

    Args:
        func: the factory (function or class).
        params: the settings given (None means none).
        where: the YAML path or option prefix the settings live at (``steps[2].train``);
            problems are reported at ``where.key``.
        file: the file the settings came from, for the message.
        lines: line number of each key, when known (from the YAML loader).
        base_dir: folder relative ``Path`` settings are resolved against (:func:`resolve_path`).
        skip: leading positional parameters supplied by the caller, not the user.

    Returns:
        The given settings, coerced to their declared types (defaults are not filled in), to be
        passed to ``func`` as keyword arguments.

    Raises:
        ConfigError: listing every unknown key, missing required key and wrong type (at
            ``where.key``), and (with a settings model, when the types are right) every
            out-of-range or inconsistent value, reported at the setting's own name as a factory's
            own checks are (:func:`place` puts them under ``where``).
    """
    return _check(func, params, where=where, file=file, lines=lines, base_dir=base_dir, skip=skip)[0]


_S = typing.TypeVar("_S")


def build_settings(model: type[_S], values: Mapping[str, Any], *, where: str = "",
                   base_dir: Path | None = None) -> _S:
    """The ``model`` instance for keyword ``values`` (what a factory declaring ``Settings = model``
    does with its keyword arguments); :class:`ConfigError` listing every problem otherwise."""

    class _Factory:
        Settings = model

    instance = _check(_Factory, values, where=where, file=None, lines=None, base_dir=base_dir, skip=0)[1]
    assert instance is not None
    return instance  # type: ignore[return-value]


def settings_doc(factory: Any, *, indent: str = "    ", markdown: bool = False) -> str:
    """The settings of ``factory`` as documentation, from the one declaration: lines such as
    ``epochs (an integer >= 1; default 10): epochs to train ...``, or with ``markdown`` a table
    (setting, type, default, meaning), the form the README shows."""
    model = settings_model(factory)
    lines = ["| setting | type | default | meaning |", "|---|---|---|---|"] if markdown else []
    for name, info in signature_params(factory).items():
        kind = describe_type(info.annotation)
        if model is not None:
            f = model.model_fields[name]
            c = _constraints(f.metadata)
            if c:
                kind = _bounds_text(_word(f.annotation, info.default), c) + (" or null" if _nullable(f.annotation) else "")
        if markdown:
            default = "required" if info.required else f"`{info.default!r}`"
            lines.append(f"| `{name}` | {kind} | {default} | {info.description} |".replace("``", "`"))
        else:
            default = "required" if info.required else f"default {info.default!r}"
            lines.append(f"{indent}{name} ({kind}; {default}): {info.description}".rstrip(": "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m cvpipe.settings MODULE:FACTORY``: print the factory's settings as a markdown
    table (how the README's tables are made)."""
    import importlib
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        print("usage: python -m cvpipe.settings MODULE:FACTORY", file=sys.stderr)
        return 2
    module, _, name = args[0].partition(":")
    this = importlib.import_module("cvpipe.settings")  # not __main__'s copy: Lazy must be the same class
    print(this.settings_doc(getattr(importlib.import_module(module), name), markdown=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
