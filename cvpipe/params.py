"""Validate settings (from YAML, the CLI or Python) against a factory's signature.

Every registered factory (format option set, transform, model, postprocessor, metric, step)
declares its parameters as keyword arguments with type hints and defaults. :func:`bind` checks a
dict of settings against that signature *before* anything runs: unknown keys (with a
did-you-mean), missing required parameters and wrong types are all reported at once as a
:class:`~cvpipe.errors.ConfigError`. Range checks belong to the factory itself.

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

from .errors import MISSING, ConfigError, Problem, closest

__all__ = ["bind", "signature_params", "describe_type", "ParamInfo"]


class ParamInfo(typing.NamedTuple):
    """One parameter of a factory: name, type hint, default (``MISSING`` if required)."""

    name: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is MISSING


def signature_params(func: Callable[..., Any], skip: int = 0) -> dict[str, ParamInfo]:
    """The keyword parameters of ``func`` (a function or a class, whose ``__init__`` is used),
    with resolved type hints. The first ``skip`` positional parameters are left out (e.g. the
    ``num_classes`` a model factory receives from the engine). ``**kwargs`` is not listed."""
    target = func.__init__ if isinstance(func, type) else func  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    sig = inspect.signature(func)
    out: dict[str, ParamInfo] = {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if i < skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        out[name] = ParamInfo(name, hints.get(name, Any), default)
    return out


def _accepts_var_keyword(func: Callable[..., Any]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values())


def describe_type(tp: Any) -> str:
    """Human wording for a type hint: ``int`` -> "an integer", ``list[str]`` -> "a list of strings"."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return "any value"
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


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any, base_dir: Path | None) -> Any:
    """``value`` converted to ``tp`` where that is lossless, else raise _Mismatch."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
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
    if tp is Path or (isinstance(tp, type) and issubclass(tp, Path)):
        if isinstance(value, (str, Path)):
            p = Path(value).expanduser()
            return base_dir / p if base_dir is not None and not p.is_absolute() else p
        raise _Mismatch
    if tp in (list, dict):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value


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
    """Check ``params`` against ``func``'s keyword parameters and return them coerced.

    Args:
        func: the factory (function or class).
        params: the settings given (None means none).
        where: the YAML path or option prefix the settings live at (``steps[2].train``);
            problems are reported at ``where.key``.
        file: the file the settings came from, for the message.
        lines: line number of each key, when known (from the YAML loader).
        base_dir: folder relative ``Path`` parameters are resolved against.
        skip: leading positional parameters supplied by the caller, not the user.

    Returns:
        The given settings, coerced to their hinted types (defaults are not filled in).

    Raises:
        ConfigError: listing every unknown key, missing required key and wrong type.
    """
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
    if problems:
        raise ConfigError.from_problems(problems)
    return out
