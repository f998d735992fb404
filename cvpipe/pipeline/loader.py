"""Load a pipeline file: parse with lines, apply ``--set``, interpolate, build and check every
step, and collect all problems into one ConfigError."""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, CvpipeError, Problem, closest
from ..settings import bind, is_path_hint, place, resolve_path, signature_params
from .resolve import BadVar, InterpError, Interpolator, apply_override, default_names, step_kind
from ..jsondata import jsonable
from .rundir import fresh_run_dir
from .runner import Pipeline, PlannedStep
from .source import Source, load_yaml_with_lines

__all__ = ["load_pipeline", "TOP_LEVEL_KEYS", "RUNNER_KEYS"]

#: Top-level keys of a pipeline file.
TOP_LEVEL_KEYS = ("name", "vars", "steps")
#: Step settings the runner consumes itself.
RUNNER_KEYS = ("name", "when", "unless")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_STEP_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # no '.': --set NAME.key must split


def _absolutize(value: Any, tp: Any, path: tuple, external: set[tuple], cwd: Path) -> Any:
    """Make relative paths that came from outside the file (``--set``, ``${env:...}``) absolute
    against ``cwd`` wherever the type hint ``tp`` expects a Path (:func:`resolve_path`); those
    written in the file are resolved against its folder when the settings are bound."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _absolutize(value, args[0], path, external, cwd)
    if origin in (typing.Union, types.UnionType):
        if path in external and isinstance(value, (str, Path)) and any(is_path_hint(a) for a in args):
            return _absolutize(value, Path, path, external, cwd)
        for a in args:
            if typing.get_origin(a) in (list, tuple, dict, set, typing.Sequence) and isinstance(value, (list, dict)):
                return _absolutize(value, a, path, external, cwd)
        return value
    if is_path_hint(tp):
        if path in external and isinstance(value, (str, Path)) and str(value):
            return str(resolve_path(value, cwd))
        return value
    if origin in (list, tuple, set, typing.Sequence) and isinstance(value, list):
        inner = args[0] if args else Any
        return [_absolutize(v, inner, path + (i,), external | ({path + (i,)} if path in external else set()), cwd)
                for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: _absolutize(v, args[1], path + (k,), external | ({path + (k,)} if path in external else set()), cwd)
                for k, v in value.items()}
    return value


def _truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or value == 0 or value == [] or value == {})




def load_pipeline(path: Path | str, overrides: Sequence[str] = (), *,
                  run_dir: Path | str | Callable[[str], Path] | None = None) -> Pipeline:
    """Load, resolve and validate the pipeline at ``path``.

    Args:
        path: the pipeline YAML file.
        overrides: ``--set`` strings (``"train.epochs=3"``, ``"vars.voc_root=/data/VOC2007"``).
        run_dir: the run directory ``${run_dir}`` stands for: a path; or a function given the
            pipeline's name that chooses it (``cvpipe run`` passes
            :func:`~cvpipe.pipeline.rundir.choose_run_dir`), the pipeline then runs there; default:
            a new ``runs/<name>/<timestamp>/`` under the current directory (:meth:`Pipeline.run`
            loads the file again when it runs elsewhere).

    Raises:
        ConfigError: every problem found (YAML path and line each); nothing has run.
    """
    if callable(run_dir):
        return _build(Path(path), tuple(overrides), run_dir=run_dir, run_dir_given=True)
    return _build(Path(path), tuple(overrides), run_dir=None if run_dir is None else Path(run_dir).absolute(),
                  run_dir_given=run_dir is not None)


def _build(path: Path, overrides: tuple[str, ...], *, run_dir: Path | Callable[[str], Path] | None,
           run_dir_given: bool) -> Pipeline:
    from ..plugins import get_registry
    from ..registry import call_plugin

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("cannot read the pipeline file", file=file, value=exc.strerror or str(exc),
                          expected="a readable YAML file") from None
    data, lines = load_yaml_with_lines(text, file)
    source = Source(file, lines)
    problems: list[Problem] = []

    def problem(message: str, field_: str, **kw: Any) -> None:
        f, line = source.locate(field_)
        problems.append(Problem(message, file=f, line=line, field=field_ or None, **kw))

    if data is None:
        raise ConfigError("the pipeline file is empty", file=file, expected="a mapping with name, vars and steps")
    if not isinstance(data, dict):
        raise ConfigError("a pipeline must be a mapping", file=file, line=1, value=type(data).__name__,
                          expected="keys: " + ", ".join(TOP_LEVEL_KEYS))
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            match = closest(str(key), TOP_LEVEL_KEYS)
            problem("unknown top-level key", str(key), expected="one of: " + ", ".join(TOP_LEVEL_KEYS),
                    hint=f"did you mean {match!r}?" if match else None)
    if "vars" in data and data["vars"] is None:
        data["vars"] = {}
    if not isinstance(data.get("vars", {}), dict):
        problem("vars must be a mapping", "vars", value=data["vars"], expected="NAME: value pairs")
        data["vars"] = {}
    for k in data.get("vars", {}):
        if not isinstance(k, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", k):
            problem("bad var name", f"vars.{k}", value=k, expected="letters, digits, _ and -")
    if "steps" not in data or data["steps"] is None:
        problem("missing required key", "steps", expected="a list of steps, each {kind: {settings}}")
        data["steps"] = []
    elif not isinstance(data["steps"], list):
        problem("steps must be a list", "steps", value=type(data["steps"]).__name__,
                expected="a list of steps, each {kind: {settings}}")
        data["steps"] = []
    elif not data["steps"]:
        problem("the pipeline has no steps", "steps", expected="at least one step")

    # overrides (applied to the raw data, before interpolation)
    cli_vars: set[str] = set()
    for text_ in overrides:
        p = apply_override(data, text_, source, cli_vars)
        if p is not None:
            problems.append(p)

    # interpolation
    name_guess = data.get("name") if isinstance(data.get("name"), str) else path.stem
    chooser = run_dir if callable(run_dir) else None
    if chooser is not None:
        run_dir = Path(chooser(_safe_name(name_guess) or path.stem))
    elif run_dir is None:
        run_dir = fresh_run_dir(_safe_name(name_guess) or path.stem)
    interp = Interpolator(data.get("vars", {}), cli_vars, run_dir, source, problems, os.environ)
    resolved_vars: dict[str, Any] = {}
    for k in data.get("vars", {}):
        try:
            resolved_vars[k] = interp.var(k)[0]
        except BadVar:
            resolved_vars[k] = data["vars"][k]
        except InterpError as exc:
            f, line = source.locate(f"vars.{k}")
            problems.append(Problem(exc.message, file=f, line=line, field=f"vars.{k}", value=exc.value,
                                    expected=exc.expected, hint=exc.hint))
            interp.failed.add(k)
            resolved_vars[k] = data["vars"][k]
    config: dict[str, Any] = {}
    name = interp.walk(data.get("name", path.stem), ("name",))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problem("bad pipeline name", "name", value=name,
                expected="letters, digits, '_', '-' and '.' (it names the run folder)")
        name = _safe_name(str(name)) or path.stem
    config["name"] = name
    if resolved_vars:
        config["vars"] = resolved_vars
    steps_raw = interp.walk(data.get("steps", []), ("steps",))
    config["steps"] = steps_raw

    # steps
    registry = get_registry()
    names = default_names(steps_raw)
    seen_names: dict[str, int] = {}
    produced: dict[str, int] = {}  # context name -> index of the step producing it
    skipped_outputs: dict[str, str] = {}  # context name -> skipped step producing it
    planned: list[PlannedStep] = []
    cwd = Path.cwd()
    base_dir = path.parent.absolute()
    for i, item in enumerate(steps_raw):
        spath = f"steps[{i}]"
        kind = step_kind(item)
        if kind is None:
            problem("a step must be a mapping with one key, its kind", spath,
                    value=item if not isinstance(item, dict) else ", ".join(map(str, item)) or "{}",
                    expected="- KIND: {settings}", hint="indent the settings under the kind")
            continue
        where = f"{spath}.{kind}"
        settings = item[kind]
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            problem("step settings must be a mapping", where, value=settings, expected="setting: value pairs")
            continue
        settings = dict(settings)
        step_name = names[i]
        given = settings.pop("name", None)
        if given is not None and (not isinstance(given, str) or not _STEP_NAME_RE.match(given)
                                  or given in ("vars", "steps", "name")):
            problem("bad step name", f"{where}.name", value=given,
                    expected="letters, digits, '_' and '-' (not vars, steps or name)")
        if step_name in seen_names:
            problem("two steps have the same name", f"{where}.name" if given else where, value=step_name,
                    expected="unique step names", hint=f"steps[{seen_names[step_name]}] is also {step_name!r}; "
                    "give one a different name")
        seen_names.setdefault(step_name, i)
        skip = False
        for cond in ("when", "unless"):
            if cond in settings:
                v = settings.pop(cond)
                if isinstance(v, (dict, list)) and v:
                    problem(f"{cond} must be a single value", f"{where}.{cond}", value=v,
                            expected="a boolean, or a value that is set (true) or null/empty (false)")
                elif (cond == "when") != _truthy(v):
                    skip = True
        try:
            entry = registry.steps.get(kind, **dict(zip(("file", "line"), source.locate(where))), field=spath)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        spec = signature_params(entry.obj)
        step_path = ("steps", i, kind)
        settings = {k: (_absolutize(v, spec[k].annotation, step_path + (k,), interp.external, cwd) if k in spec else v)
                    for k, v in settings.items()}
        try:
            bound = bind(entry.obj, settings, where=where, file=file, base_dir=base_dir)
        except ConfigError as exc:
            problems.extend(source.place(p) for p in place(exc.problems, where) if p.field not in interp.failed_paths)
            continue
        try:
            obj = call_plugin(entry, entry.obj, **bound)
        except ConfigError as exc:
            problems.extend(source.place(p, where) for p in exc.problems)
            continue
        except CvpipeError as exc:
            problems.extend(dataclasses.replace(source.place(p, where), message=f"{kind}: {p.message}")
                            for p in exc.problems)
            continue
        inputs = getattr(obj, "inputs", None) or {}
        outputs = getattr(obj, "outputs", None) or {}
        if not (isinstance(inputs, dict) and isinstance(outputs, dict)
                and all(isinstance(v, str) for v in [*inputs.values(), *outputs.values()])):
            problem(f"step kind {kind!r} (plugin {entry.plugin!r}) declares malformed inputs/outputs", where,
                    expected="dicts of setting name -> context name (strings)")
            continue
        # an earlier step that could not be built may produce what this one reads: a name among
        # its settings' text values or its factory's string defaults is not reported
        built = {p.index for p in planned}
        maybe = set().union(*(_guess_outputs(registry, steps_raw[j]) for j in range(i) if j not in built))
        for setting, ctx_name in inputs.items():
            if ctx_name in produced or (ctx_name in maybe and ctx_name not in skipped_outputs):
                continue
            field_ = f"{where}.{setting}"
            if ctx_name in skipped_outputs:
                if skip:  # a skipped step may read what another skipped step would have produced
                    continue
                problem(f"{ctx_name!r} is produced only by step {skipped_outputs[ctx_name]!r}, which is skipped "
                        "(when/unless)", field_, value=ctx_name, expected="a name a step that runs produces")
                continue
            have = list(produced)
            match = closest(ctx_name, have)
            problem("no earlier step produces this", field_, value=ctx_name,
                    expected="one of: " + ", ".join(have) if have else "a name an earlier step produces "
                    "(none does: add a read step first)", hint=f"did you mean {match!r}?" if match else None)
        for ctx_name in outputs.values():
            if skip:
                skipped_outputs.setdefault(ctx_name, step_name)
            else:
                produced[ctx_name] = i
        planned.append(PlannedStep(
            index=i, name=step_name, kind=kind, settings=item[kind] or {},
            bound=jsonable(bound), step=obj, inputs=dict(inputs), outputs=dict(outputs), skip=skip,
            line=source.locate(spath)[1],
        ))

    if problems:
        unique = list({str(p): p for p in problems}.values())
        # the file's problems in line order, then those of --set overrides
        unique.sort(key=lambda p: (p.file != file, p.line or 0) if p.file == file else (True, 0))
        raise ConfigError.from_problems(unique)
    pipe = Pipeline(name=name, path=path.absolute(), base_dir=base_dir, config=config, steps=planned,
                    run_dir=run_dir, overrides=overrides, run_dir_given=run_dir_given, chosen=chooser is not None,
                    reload=lambda other: _build(path, overrides, run_dir=other, run_dir_given=True))
    pipe._source = source  # type: ignore[attr-defined]  # to place run-time ConfigErrors
    return pipe


def _guess_outputs(registry: Any, item: Any) -> set[str]:
    """Names a step that could not be built might have produced: the strings among its
    settings and its factory's string defaults."""
    kind = step_kind(item)
    if kind is None:
        return set()
    settings = item[kind] if isinstance(item[kind], dict) else {}
    out = {v for v in settings.values() if isinstance(v, str)}
    for v in settings.values():
        if isinstance(v, list):
            out |= {x for x in v if isinstance(x, str)}
    if kind in registry.steps:
        try:
            out |= {p.default for p in signature_params(registry.steps.get(kind).obj).values()
                    if isinstance(p.default, str)}
        except (TypeError, ValueError):  # pragma: no cover - an uninspectable factory
            pass
    return out


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
