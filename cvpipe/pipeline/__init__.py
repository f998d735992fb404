"""YAML pipelines: load -> validate (YAML path + line for every problem) -> run steps in order.

A pipeline file::

    name: voc_to_yolo                 # optional; default: the file's stem
    vars:                             # optional; used as ${vars.NAME}
      voc_root: null
    steps:                            # ordered; each item is {kind: {settings}}
      - read: {format: voc, path: "${vars.voc_root}", output: voc}
      - write: {dataset: voc, format: yolo, path: "${run_dir}/yolo"}

Every step's settings are checked against its registered factory (:func:`cvpipe.params.bind`)
and the whole file is validated before anything runs; all problems are reported at once with
their YAML path and line (:class:`~cvpipe.errors.ConfigError`, exit code 2).

Runner-level step settings (taken out before the step's own settings are checked):

* ``name``: the step's name (default: its kind, or ``<kind>_<index>`` when a kind repeats); it
  names the step's folder in the run directory and is what ``--set NAME.key=value`` addresses.
* ``when`` / ``unless``: run the step only when the value is true / false (null, false, ``""``,
  0 and empty lists count as false). Typically ``unless: ${vars.voc_root}``.

Interpolation (strings anywhere in the file, ``vars`` included):

* ``${vars.NAME}`` (``${vars.NAME.key}`` reaches into a mapping), ``${env:NAME}``, ``${run_dir}``
  (the absolute run directory); ``${REF:-DEFAULT}`` uses DEFAULT (itself interpolated) when REF
  is undefined, null or empty; ``$${`` writes a literal ``${``.
* A string that is exactly one ``${...}`` takes the referenced value with its type; inside a
  longer string the value's text is substituted. Environment values are read as YAML scalars
  when they are the whole value (``EPOCHS=3`` gives the integer 3).

Overrides (``--set KEY=VALUE``, VALUE read as YAML: a scalar, or a flow list/mapping): ``steps.2.epochs`` (0-based step
index, optionally followed by the kind), ``train.epochs`` (by step name), ``vars.voc_root``,
``name``. They are applied before interpolation and validated like the file.

Relative paths: in Path-typed settings, a relative path written in the YAML file resolves
against the YAML file's folder; a relative path that comes from outside the file (a ``--set``
value or an ``${env:...}`` value, directly or through a var, as long as the string starts with it)
resolves against the current directory, as on any command line.

A run writes ``runs/<pipeline>/<timestamp>/`` (relative to the current directory; ``out`` /
``--out`` to choose): ``pipeline.yaml`` (the resolved pipeline), ``run.log``,
``steps/<index>_<name>.json`` (each step's result) and ``results.json`` (everything).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TextIO

import yaml

from .errors import MISSING, ConfigError, CvpipeError, JobError, Problem, closest

__all__ = ["Context", "Pipeline", "PlannedStep", "StepFailed", "load_pipeline", "find_latest_run"]

#: Top-level keys of a pipeline file.
TOP_LEVEL_KEYS = ("name", "vars", "steps")
#: Step settings the runner consumes itself.
RUNNER_KEYS = ("name", "when", "unless")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# ============================================================================================
# Context: what a running step sees
# ============================================================================================


class Context:
    """What a running step sees.

    Attributes:
        run_dir: the run directory (``runs/<pipeline>/<timestamp>/`` or ``--out``).
        base_dir: the pipeline YAML's folder (Path-typed settings are already resolved against it).
        pipeline: the pipeline's name.
        step_name: the name of the step running now.
        quiet: True when the user asked for no progress output.
        resume: True when re-running in an existing run dir (``cvpipe run --resume``): a step
            that keeps checkpoints (``train``) continues from them.
        hook: the plugin manager's hook relay (``ctx.hook.cvpipe_on_epoch_end(...)``).

    Produced objects are stored and read with dict access: ``ctx["voc"] = dataset``,
    ``ctx["voc"]``, ``"voc" in ctx``.
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        base_dir: Path,
        pipeline: str,
        quiet: bool = False,
        resume: bool = False,
        hook: Any = None,
        log_stream: TextIO | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.base_dir = Path(base_dir)
        self.pipeline = pipeline
        self.quiet = quiet
        self.resume = resume
        if hook is None:
            from .plugins import get_plugin_manager

            hook = get_plugin_manager().hook
        self.hook = hook
        self.step_name = ""
        self._log_stream = log_stream
        self._objects: dict[str, Any] = {}

    @property
    def step_dir(self) -> Path:
        """``run_dir / step_name``, created on first access: where the running step writes files."""
        path = self.run_dir / (self.step_name or "pipeline")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, msg: str) -> None:
        """Write ``msg`` to the run log (``run.log``) and, unless quiet, to stderr."""
        self._log_only(msg)
        if not self.quiet:
            for line in str(msg).splitlines() or [""]:
                print(f"    {line}", file=sys.stderr)

    def _log_only(self, msg: str) -> None:
        """Write ``msg`` to the run log only (the runner's own records)."""
        if self._log_stream is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            for line in str(msg).splitlines() or [""]:
                self._log_stream.write(f"{stamp} [{self.step_name or self.pipeline}] {line}\n")
            self._log_stream.flush()

    # ---- produced objects ------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        try:
            return self._objects[name]
        except KeyError:
            have = ", ".join(self._objects) or "(nothing yet)"
            raise JobError(
                f"step {self.step_name!r} needs {name!r}, which no earlier step produced",
                expected=f"one of: {have}",
            ) from None

    def __setitem__(self, name: str, value: Any) -> None:
        self._objects[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, name: str, default: Any = None) -> Any:
        return self._objects.get(name, default)

    def keys(self) -> list[str]:
        return list(self._objects)


# ============================================================================================
# YAML with line numbers
# ============================================================================================

PathKey = tuple  # a path into the data: ("steps", 2, "train", "epochs")


def dotted(path: Iterable[Any]) -> str:
    """``("steps", 2, "train", "epochs")`` -> ``"steps[2].train.epochs"``."""
    out = ""
    for p in path:
        if isinstance(p, int) and not isinstance(p, bool):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _parent_fields(field_: str) -> Iterator[str]:
    """``a.b[1].c`` -> ``a.b[1].c``, ``a.b[1]``, ``a.b``, ``a``."""
    while field_:
        yield field_
        cut = max(field_.rfind("."), field_.rfind("["))
        field_ = field_[:cut] if cut > 0 else ""


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def load_yaml_with_lines(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """Parse ``text`` with YAML safe loading, returning the data and the 1-based line of every
    mapping key and sequence item, keyed by dotted path (``steps[2].train.epochs``).

    Raises:
        ConfigError: invalid YAML, a duplicate key, or a non-scalar mapping key (with the line).
    """
    loader = yaml.SafeLoader(text)
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ConfigError(
                f"invalid YAML: {exc.problem or exc}", file=file, line=mark.line + 1 if mark else None,
                hint=exc.context,
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=file) from None
        active: set[int] = set()

        def build(n: yaml.Node, path: tuple) -> Any:
            if id(n) in active:
                raise ConfigError("recursive YAML alias", file=file, line=n.start_mark.line + 1, field=dotted(path))
            if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)) and n.tag not in _PLAIN_TAGS:
                raise ConfigError("invalid YAML: unsupported tag", file=file, line=n.start_mark.line + 1,
                                  field=dotted(path) or None, value=n.tag, expected="plain YAML (safe loading)")
            if isinstance(n, yaml.MappingNode):
                active.add(id(n))
                loader.flatten_mapping(n)
                out: dict[Any, Any] = {}
                for k, v in n.value:
                    key = loader.construct_object(k, deep=True)
                    line = k.start_mark.line + 1
                    if not isinstance(key, (str, int, float, bool)):
                        problems.append(Problem("mapping key must be a scalar", file=file, line=line,
                                                field=dotted(path), value=key))
                        continue
                    if key in out:
                        problems.append(Problem("duplicate key", file=file, line=line, field=dotted(path + (key,)),
                                                hint=f"first on line {lines.get(dotted(path + (key,)))}"))
                        continue
                    lines[dotted(path + (key,))] = line
                    out[key] = build(v, path + (key,))
                active.discard(id(n))
                return out
            if isinstance(n, yaml.SequenceNode):
                active.add(id(n))
                items = []
                for i, item in enumerate(n.value):
                    lines[dotted(path + (i,))] = item.start_mark.line + 1
                    items.append(build(item, path + (i,)))
                active.discard(id(n))
                return items
            return loader.construct_object(n, deep=True)

        try:
            data = None if node is None else build(node, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=file,
                              line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    if problems:
        raise ConfigError.from_problems(problems)
    return data, lines


# ============================================================================================
# Where things came from: the YAML file (line) or the command line (--set)
# ============================================================================================


@dataclass
class _Source:
    file: str
    lines: dict[str, int]
    origins: dict[str, str] = field(default_factory=dict)  # dotted path -> "--set K=V"

    def locate(self, field_: str | None) -> tuple[str, int | None]:
        """(file, line) of ``field_``: the ``--set`` that gave it, or the YAML file and the line
        of the nearest enclosing key."""
        for f in _parent_fields(field_ or ""):
            if f in self.origins:
                return self.origins[f], None
            if f in self.lines:
                return self.file, self.lines[f]
        return self.file, None

    def place(self, p: Problem, prefix: str | None = None) -> Problem:
        """``p`` with its field prefixed by ``prefix`` and its file and line filled in."""
        f = p.field
        if prefix:
            f = prefix if not f else (f"{prefix}{f}" if f.startswith("[") else f"{prefix}.{f}")
        if p.file is not None and p.file not in (self.file,) and p.line is not None:
            return dataclasses.replace(p, field=f)
        file, line = self.locate(f)
        return dataclasses.replace(p, field=f, file=file, line=line if line is not None else
                                   (p.line if p.file == self.file else None))


# ============================================================================================
# Interpolation
# ============================================================================================


class _InterpError(Exception):
    def __init__(self, message: str, *, value: Any = MISSING, expected: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.value, self.expected, self.hint = message, value, expected, hint


class _BadVar(Exception):
    """A reference to a var that is itself in error (already reported)."""


_UNSET: Any = object()


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (dict, list)):
        raise _InterpError("cannot insert a null, mapping or list into text", value=value,
                           expected="a string, number or boolean")
    return str(value)


def _scalar(text: str) -> Any:
    """``text`` read as a YAML scalar (``3`` -> 3, ``true`` -> True); other text stays a string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, (dict, list)) or (value is None and text.strip() not in ("", "~", "null", "Null", "NULL")):
        return text
    return value


def _empty(value: Any) -> bool:
    return value is _UNSET or value is None or value == ""


class _Interpolator:
    """Resolves ``${...}`` references in the pipeline data; records which values came from
    outside the file (``--set``, ``${env:...}``) so relative paths in them resolve against the
    current directory."""

    def __init__(self, vars_: dict[str, Any], cli_vars: set[str], run_dir: Path, source: _Source,
                 problems: list[Problem], env: Mapping[str, str]) -> None:
        self.raw_vars = vars_
        self.cli_vars = cli_vars
        self.run_dir = run_dir
        self.source = source
        self.problems = problems
        self.env = env
        self.resolved: dict[str, tuple[Any, bool]] = {}
        self.failed: set[str] = set()
        self.active: list[str] = []
        self.external: set[tuple] = set()  # paths whose value came from outside the file
        self.failed_paths: set[str] = set()  # dotted paths whose interpolation failed (reported)

    # -- references ------------------------------------------------------------------------
    def var(self, name: str) -> tuple[Any, bool]:
        if name in self.failed:
            raise _BadVar
        if name in self.resolved:
            return self.resolved[name]
        if name not in self.raw_vars:
            return _UNSET, False
        if name in self.active:
            cycle = " -> ".join(self.active[self.active.index(name):] + [name])
            raise _InterpError("vars refer to each other in a cycle", value=cycle,
                               expected="vars that do not refer back to themselves")
        self.active.append(name)
        try:
            n_before = len(self.problems)
            value = self.walk(self.raw_vars[name], ("vars", name))
            ext = name in self.cli_vars or ("vars", name) in self.external
            if len(self.problems) > n_before:
                self.failed.add(name)
                raise _BadVar
            self.resolved[name] = (value, ext)
            return value, ext
        finally:
            self.active.pop()

    def ref(self, expr: str) -> tuple[Any, bool, str | None]:
        """(value, external, text) of one ``${expr}``; text is the raw text for env values."""
        name, sep, default = expr.partition(":-")
        name = name.strip()
        value: Any = _UNSET
        ext = False
        text = None
        if name == "run_dir":
            value = str(self.run_dir)
        elif name.startswith("env:"):
            key = name[4:].strip()
            if not key:
                raise _InterpError("empty environment variable name", value="${" + expr + "}",
                                   expected="${env:NAME}")
            if key in self.env:
                text = self.env[key]
                value, ext = _scalar(text), True
            elif not sep:
                raise _InterpError(f"environment variable {key} is not set", value="${" + expr + "}",
                                   hint=f"export {key}=... or write ${{env:{key}:-DEFAULT}}")
        elif name.startswith("vars."):
            parts = name[5:].split(".")
            value, ext = self.var(parts[0])
            if value is _UNSET and not sep:
                match = closest(parts[0], self.raw_vars)
                raise _InterpError(f"unknown var {parts[0]!r}", value="${" + expr + "}",
                                   expected="one of: " + (", ".join(map(str, self.raw_vars)) or "(no vars defined)"),
                                   hint=f"did you mean {match!r}?" if match else None)
            for i, part in enumerate(parts[1:], 1):
                if isinstance(value, dict) and part in value:
                    value = value[part]
                elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                    value = value[int(part)]
                elif sep:
                    value = _UNSET
                    break
                else:
                    raise _InterpError(f"var {'.'.join(parts[:i])!r} has no key {part!r}",
                                       value="${" + expr + "}")
        else:
            raise _InterpError("unknown reference", value="${" + expr + "}",
                               expected="${vars.NAME}, ${env:NAME} or ${run_dir}")
        if sep and _empty(value):
            value, ext = self.string(default)
            text = None
        return value, ext, text

    # -- strings ---------------------------------------------------------------------------
    def string(self, s: str) -> tuple[Any, bool]:
        """Interpolate one string: (value, external)."""
        if "${" not in s:
            return s.replace("$${", "${"), False
        pieces: list[tuple[str, Any]] = []  # ("lit", text) or ("ref", (value, ext, text))
        i, lit = 0, []
        while i < len(s):
            if s.startswith("$${", i):
                lit.append("${")
                i += 3
            elif s.startswith("${", i):
                depth, j = 1, i + 2
                while j < len(s) and depth:
                    if s.startswith("${", j):
                        depth += 1
                        j += 2
                        continue
                    if s[j] == "}":
                        depth -= 1
                    j += 1
                if depth:
                    raise _InterpError("unclosed ${", value=s, expected="${...}")
                if lit:
                    pieces.append(("lit", "".join(lit)))
                    lit = []
                pieces.append(("ref", self.ref(s[i + 2:j - 1])))
                i = j
            else:
                lit.append(s[i])
                i += 1
        if lit:
            pieces.append(("lit", "".join(lit)))
        if len(pieces) == 1 and pieces[0][0] == "ref":
            value, ext, _ = pieces[0][1]
            return (None if value is _UNSET else value), ext
        out = []
        for kind, item in pieces:
            if kind == "lit":
                out.append(item)
            else:
                value, _, text = item
                out.append(text if text is not None else _text_of(None if value is _UNSET else value))
        first = pieces[0]
        ext = first[0] == "ref" and first[1][1]
        return "".join(out), ext

    # -- data ------------------------------------------------------------------------------
    def walk(self, value: Any, path: tuple) -> Any:
        if isinstance(value, (dict, list)) and dotted(path) in self.source.origins:
            self.external.add(path)
        if isinstance(value, dict):
            return {k: self.walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str):
            try:
                out, ext = self.string(value)
            except _BadVar:
                self.failed_paths.add(dotted(path))
                return value
            except _InterpError as exc:
                self.failed_paths.add(dotted(path))
                file, line = self.source.locate(dotted(path))
                self.problems.append(Problem(exc.message, file=file, line=line, field=dotted(path),
                                             value=exc.value, expected=exc.expected, hint=exc.hint))
                return value
            if ext or dotted(path) in self.source.origins:
                self.external.add(path)
            return out
        if dotted(path) in self.source.origins:
            self.external.add(path)
        return value


# ============================================================================================
# --set overrides
# ============================================================================================


def _step_kind(item: Any) -> str | None:
    if isinstance(item, dict) and len(item) == 1:
        kind = next(iter(item))
        return kind if isinstance(kind, str) else None
    return None


def _default_names(steps: list[Any]) -> list[str]:
    """Each step's name: its ``name`` setting, else its kind, else ``<kind>_<index>`` when the
    kind repeats."""
    kinds = [_step_kind(s) or f"step{i}" for i, s in enumerate(steps)]
    names = []
    for i, (item, kind) in enumerate(zip(steps, kinds)):
        settings = item.get(kind) if isinstance(item, dict) else None
        given = settings.get("name") if isinstance(settings, dict) else None
        if isinstance(given, str) and given:
            names.append(given)
        else:
            names.append(kind if kinds.count(kind) == 1 else f"{kind}_{i}")
    return names


def _apply_override(data: dict[str, Any], text: str, source: _Source, cli_vars: set[str]) -> Problem | None:
    """Apply one ``KEY=VALUE`` to ``data``; a Problem if it cannot be applied."""
    where = f"--set {text}"
    if "=" not in text:
        return Problem("expected KEY=VALUE", file=where, expected="e.g. --set steps.2.epochs=3, "
                       "--set train.epochs=3 or --set vars.voc_root=PATH")
    key, raw = text.split("=", 1)
    segs = [s for s in key.strip().split(".")]
    if not key.strip() or any(not s for s in segs):
        return Problem("bad key", file=where, value=key, expected="a dotted path such as train.epochs")
    try:  # a YAML scalar, or a flow list/mapping ("[a, b]", "{old: new}")
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    names = _default_names(steps)
    head = segs[0]
    if head == "name" and len(segs) == 1:
        path: tuple = ("name",)
    elif head == "vars":
        vars_ = data.get("vars") if isinstance(data.get("vars"), dict) else {}
        if len(segs) < 2:
            return Problem("name the var", file=where, expected="vars.NAME=VALUE")
        if segs[1] not in vars_:
            match = closest(segs[1], [str(v) for v in vars_])
            return Problem(f"unknown var {segs[1]!r}", file=where,
                           expected="one of: " + (", ".join(map(str, vars_)) or "(the pipeline defines no vars)"),
                           hint=f"did you mean {match!r}?" if match else None)
        if len(segs) == 2:
            cli_vars.add(segs[1])
        path = ("vars", *segs[1:])
    else:
        if head == "steps":
            if len(segs) < 2 or not segs[1].lstrip("-").isdigit():
                return Problem("expected a step index after 'steps.'", file=where, value=key,
                               expected="steps.INDEX.SETTING (0-based)")
            index = int(segs[1])
            if not 0 <= index < len(steps):
                return Problem("step index out of range", file=where, value=index,
                               expected=f"0..{len(steps) - 1}" if steps else "a pipeline with steps")
            rest = segs[2:]
        elif head in names:
            index = names.index(head)
            rest = segs[1:]
        else:
            options = names + ["vars", "steps", "name"]
            match = closest(head, options)
            return Problem(f"no step named {head!r}", file=where, value=key,
                           expected="STEP.SETTING with STEP one of: " + ", ".join(names) +
                           "; or steps.INDEX.SETTING or vars.NAME",
                           hint=f"did you mean {match!r}?" if match else None)
        kind = _step_kind(steps[index])
        if kind is None:
            return Problem("the step is malformed; fix it in the file first", file=where, value=key)
        if rest and rest[0] == kind and len(rest) > 1:
            rest = rest[1:]
        if not rest:
            return Problem("name the setting to change", file=where, value=key, expected=f"{key.strip()}.SETTING=VALUE")
        if steps[index][kind] is None:
            steps[index][kind] = {}
        path = ("steps", index, kind, *rest)
    # walk and set
    node: Any = data
    typed: list[Any] = []
    for depth, seg in enumerate(path[:-1]):
        k: Any = seg
        if isinstance(node, list):
            if not (isinstance(seg, int) or str(seg).isdigit()) or int(seg) >= len(node):
                return Problem("no such list item", file=where, value=key, field=dotted(typed + [seg]),
                               expected=f"an index 0..{len(node) - 1}")
            k = int(seg)
        elif isinstance(node, dict):
            if k not in node:
                if str(k).isdigit() and int(k) in node:
                    k = int(k)
                else:
                    node[k] = {}
        else:
            return Problem("cannot set a key inside a non-mapping value", file=where, value=key,
                           field=dotted(typed))
        typed.append(k)
        node = node[k]
    last: Any = path[-1]
    if isinstance(node, list):
        if not str(last).isdigit() or int(last) >= len(node):
            return Problem("no such list item", file=where, value=key, expected=f"an index 0..{len(node) - 1}")
        last = int(last)
    elif not isinstance(node, dict):
        return Problem("cannot set a key inside a non-mapping value", file=where, value=key, field=dotted(typed))
    node[last] = value
    source.origins[dotted(typed + [last])] = where
    return None


# ============================================================================================
# Validation and the planned steps
# ============================================================================================


def _jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (Paths and numpy values converted; tuples and sets to lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return _jsonable(value.item())
        if isinstance(value, np.ndarray):
            return _jsonable(value.tolist())
    except ImportError:  # pragma: no cover
        pass
    return repr(value)


def _is_path_hint(tp: Any) -> bool:
    return tp is Path or (isinstance(tp, type) and issubclass(tp, Path))


def _absolutize(value: Any, tp: Any, path: tuple, external: set[tuple], cwd: Path) -> Any:
    """Make relative paths that came from outside the file absolute against ``cwd`` wherever
    the type hint ``tp`` expects a Path."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if path in external and isinstance(value, (str, Path)) and any(_is_path_hint(a) for a in args):
            return _absolutize(value, Path, path, external, cwd)
        for a in args:
            if typing.get_origin(a) in (list, tuple, dict, set, typing.Sequence) and isinstance(value, (list, dict)):
                return _absolutize(value, a, path, external, cwd)
        return value
    if _is_path_hint(tp):
        if path in external and isinstance(value, (str, Path)) and str(value):
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else cwd / p)
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


@dataclass
class PlannedStep:
    """A validated step, ready to run.

    Attributes:
        index: position in ``steps`` (0-based).
        name: unique step name (folder in the run dir, target of ``--set NAME.key=...``).
        kind: the registered step kind.
        settings: the resolved settings as written (after interpolation and overrides).
        bound: the validated, type-coerced settings the step was built with (JSON-ready).
        step: the step object (``run(ctx) -> dict``).
        inputs / outputs: setting name -> context name.
        skip: True when ``when``/``unless`` says the step does not run.
        line: the step's line in the YAML file.
    """

    index: int
    name: str
    kind: str
    settings: dict[str, Any]
    bound: dict[str, Any]
    step: Any
    inputs: dict[str, str]
    outputs: dict[str, str]
    skip: bool = False
    line: int | None = None


class StepFailed(CvpipeError):
    """A step raised while running. Names the step; the exit code is the original error's
    (a :class:`~cvpipe.errors.CvpipeError`'s own, e.g. 2 for bad input data) or 1."""

    exit_code = 1

    def __init__(self, step: PlannedStep, error: BaseException, problems: list[Problem] | None = None) -> None:
        self.step_name, self.kind, self.error = step.name, step.kind, error
        if isinstance(error, CvpipeError):
            self.problems = list(problems if problems is not None else error.problems)
            self.exit_code = error.exit_code
        else:
            self.problems = [Problem(f"{type(error).__name__}: {error}")]
        Exception.__init__(self, str(self))

    def __str__(self) -> str:
        head = f"step {self.step_name!r} ({self.kind}) failed"
        if len(self.problems) == 1:
            return f"{head}: {self.problems[0]}"
        return f"{head}: {len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)

    def __reduce__(self):  # pragma: no cover - not sent across processes
        return (JobError.from_problems, (self.problems,))


@dataclass
class Pipeline:
    """A loaded and validated pipeline (see :func:`load_pipeline`).

    Attributes:
        name: the pipeline's name.
        path: the YAML file.
        base_dir: the YAML file's folder.
        config: the resolved pipeline (interpolated, overrides applied) as plain data.
        steps: the planned steps in order.
        run_dir: the run directory it will write (``${run_dir}`` was resolved to it).
        overrides: the ``--set`` strings applied.
    """

    name: str
    path: Path
    base_dir: Path
    config: dict[str, Any]
    steps: list[PlannedStep]
    run_dir: Path
    overrides: tuple[str, ...] = ()
    run_dir_given: bool = False

    # ---- describing ----------------------------------------------------------------------
    def resolved_yaml(self) -> str:
        """The resolved pipeline as YAML text."""
        return yaml.safe_dump(_jsonable(self.config), sort_keys=False, allow_unicode=True, width=100)

    def plan(self) -> list[dict[str, Any]]:
        """One dict per step: ``index``, ``name``, ``kind``, ``inputs``, ``outputs``, ``skip``."""
        return [{"index": s.index, "name": s.name, "kind": s.kind, "inputs": dict(s.inputs),
                 "outputs": dict(s.outputs), "skip": s.skip} for s in self.steps]

    def describe(self) -> str:
        """The plan as a table: step, kind, inputs -> outputs."""
        from .console import format_table

        rows = []
        for s in self.steps:
            flow = f"{', '.join(dict.fromkeys(s.inputs.values())) or '-'} -> {', '.join(dict.fromkeys(s.outputs.values())) or '-'}"
            rows.append([s.index, s.name, s.kind, flow, "skipped (when/unless)" if s.skip else ""])
        return format_table(rows, ["#", "step", "kind", "inputs -> outputs", "note"])

    # ---- running -------------------------------------------------------------------------
    def run(self, out: Path | str | None = None, resume: bool = False, quiet: bool = False) -> dict[str, Any]:
        """Run the steps in order and return ``results.json``'s content.

        Args:
            out: the run directory (default ``runs/<name>/<timestamp>/`` under the current
                directory; with ``resume``, the latest run there).
            resume: re-run in an existing run directory with ``ctx.resume = True`` (a ``train``
                step continues from its checkpoint).
            quiet: print nothing but errors.

        Raises:
            ConfigError: bad run directory (nothing ran).
            StepFailed: a step raised (the steps before it are recorded in the run dir).
        """
        run_dir = self._choose_run_dir(out, resume)
        if run_dir != self.run_dir:
            # ${run_dir} may appear in settings: re-resolve against the directory actually used
            other = _build(self.path, self.overrides, run_dir=run_dir, run_dir_given=True)
            return other._execute(run_dir, resume=resume, quiet=quiet)
        return self._execute(run_dir, resume=resume, quiet=quiet)

    def _choose_run_dir(self, out: Path | str | None, resume: bool) -> Path:
        if out is not None:
            run_dir = Path(out).expanduser().absolute()
            if resume and not (run_dir / "pipeline.yaml").is_file():
                raise ConfigError("nothing to resume: not a run directory", field="--out", value=str(run_dir),
                                  expected="a folder an earlier `cvpipe run` wrote (with pipeline.yaml)")
        elif resume:
            latest = find_latest_run(self.name)
            if latest is None:
                raise ConfigError(f"nothing to resume: no earlier run of {self.name!r}", field="--resume",
                                  value=str(Path("runs") / self.name),
                                  expected="a run directory under runs/<pipeline>/", hint="give it with --out DIR")
            run_dir = latest
        else:
            run_dir = self.run_dir
            if not self.run_dir_given:
                run_dir = _fresh_run_dir(self.name) if run_dir.exists() else run_dir
        if not resume and run_dir.is_dir() and any(run_dir.iterdir()):
            raise ConfigError("the run directory exists and is not empty", field="--out", value=str(run_dir),
                              expected="a new or empty folder",
                              hint="add --resume to continue that run, or choose another --out")
        return run_dir

    def _execute(self, run_dir: Path, *, resume: bool, quiet: bool) -> dict[str, Any]:
        from .fsutil import atomic_write_json, atomic_write_text
        from .plugins import get_plugin_manager

        hook = get_plugin_manager().hook
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "steps").mkdir(exist_ok=True)
        atomic_write_text(run_dir / "pipeline.yaml", self.resolved_yaml())
        say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
        started = _dt.datetime.now().astimezone()
        results: dict[str, Any] = {
            "pipeline": self.name, "file": str(self.path), "run_dir": str(run_dir), "resume": resume,
            "overrides": list(self.overrides), "started": started.isoformat(timespec="seconds"),
            "status": "running", "error": None, "seconds": None, "steps": {},
        }
        finished: dict[str, Any] = {}
        t_start = time.perf_counter()
        error: BaseException | None = None
        with open(run_dir / "run.log", "a", encoding="utf-8") as log:
            ctx = Context(run_dir=run_dir, base_dir=self.base_dir, pipeline=self.name, quiet=quiet,
                          resume=resume, hook=hook, log_stream=log)
            ctx._log_only(("resuming" if resume else "starting") + f" pipeline {self.name!r} from {self.path}"
                    + (f" with --set {' '.join(self.overrides)}" if self.overrides else ""))
            say(f"{'resuming' if resume else 'running'} {self.name} ({len(self.steps)} steps) -> {run_dir}")
            try:
                _fire(hook.cvpipe_on_pipeline_start, pipeline=self.name, run_dir=run_dir,
                      config=_jsonable(self.config))
                for s in self.steps:
                    ctx.step_name = s.name
                    label = f"[{s.index + 1}/{len(self.steps)}] {s.name} ({s.kind})"
                    entry: dict[str, Any] = {"index": s.index, "kind": s.kind, "status": "skipped",
                                             "seconds": 0.0, "result": None}
                    results["steps"][s.name] = entry
                    if s.skip:
                        ctx._log_only("skipped (when/unless)")
                        say(f"{label} skipped (when/unless)")
                        continue
                    entry["status"] = "running"
                    _fire(hook.cvpipe_on_step_start, pipeline=self.name, run_dir=run_dir, step=s.name,
                          kind=s.kind, settings=dict(s.bound))
                    say(f"{label} ...")
                    ctx._log_only("start")
                    t0 = time.perf_counter()
                    try:
                        result = s.step.run(ctx)
                    except Exception as exc:  # noqa: BLE001 - every failure is reported naming the step
                        entry["status"], entry["seconds"] = "failed", round(time.perf_counter() - t0, 3)
                        raise _step_failure(s, exc, self) from exc
                    seconds = time.perf_counter() - t0
                    result = _jsonable(result if result is not None else {})
                    if not isinstance(result, dict):
                        result = {"result": result}
                    entry.update(status="ok", seconds=round(seconds, 3), result=result)
                    atomic_write_json(run_dir / "steps" / f"{s.index:02d}_{s.name}.json",
                                      {"step": s.name, "kind": s.kind, "seconds": round(seconds, 3),
                                       "settings": s.bound, "result": result})
                    finished[s.name] = result
                    summary = _summary(result)
                    ctx._log_only(f"done in {seconds:.2f}s" + (f": {summary}" if summary else ""))
                    say(f"{label} done in {_fmt_seconds(seconds)}" + (f": {summary}" if summary else ""))
                    _fire(hook.cvpipe_on_step_end, pipeline=self.name, run_dir=run_dir, step=s.name,
                          kind=s.kind, result=result, seconds=seconds)
            except BaseException as exc:
                error = exc
                ctx.step_name = ""
                ctx._log_only(f"failed: {exc}" if not isinstance(exc, KeyboardInterrupt) else "interrupted")
                raise
            finally:
                results["status"] = "ok" if error is None else ("interrupted" if isinstance(error, KeyboardInterrupt)
                                                                 else "failed")
                results["error"] = None if error is None else str(error) or type(error).__name__
                results["seconds"] = round(time.perf_counter() - t_start, 3)
                atomic_write_json(run_dir / "results.json", results)
                try:
                    _fire(hook.cvpipe_on_pipeline_end, pipeline=self.name, run_dir=run_dir, results=finished,
                          error=error)
                except CvpipeError as hook_exc:
                    if error is None:
                        raise
                    ctx._log_only(f"(while ending) {hook_exc}")
        if not quiet:
            self._print_table(results)
        return results

    def _print_table(self, results: dict[str, Any]) -> None:
        from .console import format_table

        rows = [[s["index"], name, s["kind"], s["status"], _fmt_seconds(s["seconds"]),
                 _summary(s["result"] or {})] for name, s in results["steps"].items()]
        print(format_table(rows, ["#", "step", "kind", "status", "time", "summary"]))
        print(f"\n{self.name}: {results['status']} in {_fmt_seconds(results['seconds'])}; "
              f"results in {results['run_dir']}")


def _fire(hook_caller: Any, **kwargs: Any) -> None:
    """Call a lifecycle hook; a plugin raising inside it becomes a PluginError naming the hook."""
    from .errors import PluginError

    try:
        hook_caller(**kwargs)
    except CvpipeError:
        raise
    except Exception as exc:
        raise PluginError(f"a plugin failed in hook {hook_caller.name}: {type(exc).__name__}: {exc}") from exc


def _step_failure(step: PlannedStep, exc: BaseException, pipeline: Pipeline) -> StepFailed:
    """A StepFailed for ``exc``; a ConfigError raised while running gets the step's YAML path."""
    if isinstance(exc, ConfigError) and not isinstance(exc, StepFailed):
        src = getattr(pipeline, "_source", None)
        if src is not None:
            where = f"steps[{step.index}].{step.kind}"
            placed = [p if (p.field or "").startswith(("steps[", "vars.")) or p.file not in (None, src.file)
                      else src.place(p, where) for p in exc.problems]
            return StepFailed(step, exc, placed)
    return StepFailed(step, exc)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    m, s = divmod(seconds, 60)
    return f"{int(m)}m{s:04.1f}s" if m < 60 else f"{int(m // 60)}h{int(m % 60):02d}m"


def _summary(result: Mapping[str, Any], limit: int = 6) -> str:
    """One line for people: ``result["summary"]`` if the step gave one, else its first scalars."""
    if not isinstance(result, Mapping):
        return ""
    if isinstance(result.get("summary"), str):
        return result["summary"]
    parts = []
    for k, v in result.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, int) or (isinstance(v, str) and len(v) <= 40 and "\n" not in v):
            parts.append(f"{k}={v}")
        if len(parts) >= limit:
            break
    return " ".join(parts)


# ============================================================================================
# Run directories
# ============================================================================================


def _runs_root(name: str) -> Path:
    return Path.cwd() / "runs" / name


def _fresh_run_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = _runs_root(name)
    candidate = root / stamp
    n = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{n}"
        n += 1
    return candidate


def find_latest_run(name: str, root: Path | None = None) -> Path | None:
    """The newest run directory of pipeline ``name`` (under ``runs/<name>/`` in the current
    directory, or ``root``): the one most recently started, by its ``pipeline.yaml``'s time."""
    base = Path(root) if root is not None else _runs_root(name)
    if not base.is_dir():
        return None
    runs = [d for d in base.iterdir() if d.is_dir() and (d / "pipeline.yaml").is_file()]
    if not runs:
        return None
    return max(runs, key=lambda d: (d.name, (d / "pipeline.yaml").stat().st_mtime)).absolute()


# ============================================================================================
# Loading
# ============================================================================================


def load_pipeline(path: Path | str, overrides: Sequence[str] = (), *, run_dir: Path | str | None = None) -> Pipeline:
    """Load, resolve and validate the pipeline at ``path``.

    Args:
        path: the pipeline YAML file.
        overrides: ``--set`` strings (``"train.epochs=3"``, ``"vars.voc_root=/data/VOC2007"``).
        run_dir: the run directory ``${run_dir}`` stands for (default: a new
            ``runs/<name>/<timestamp>/`` under the current directory); :meth:`Pipeline.run`
            re-resolves when it runs elsewhere.

    Raises:
        ConfigError: every problem found (YAML path and line each); nothing has run.
    """
    return _build(Path(path), tuple(overrides), run_dir=None if run_dir is None else Path(run_dir).absolute(),
                  run_dir_given=run_dir is not None)


def _build(path: Path, overrides: tuple[str, ...], *, run_dir: Path | None, run_dir_given: bool) -> Pipeline:
    from .params import bind, signature_params
    from .plugins import get_registry
    from .registry import call_plugin

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("cannot read the pipeline file", file=file, value=exc.strerror or str(exc),
                          expected="a readable YAML file") from None
    data, lines = load_yaml_with_lines(text, file)
    source = _Source(file, lines)
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
        p = _apply_override(data, text_, source, cli_vars)
        if p is not None:
            problems.append(p)

    # interpolation
    name_guess = data.get("name") if isinstance(data.get("name"), str) else path.stem
    if run_dir is None:
        run_dir = _fresh_run_dir(_safe_name(name_guess) or path.stem)
    interp = _Interpolator(data.get("vars", {}), cli_vars, run_dir, source, problems, os.environ)
    resolved_vars: dict[str, Any] = {}
    for k in data.get("vars", {}):
        try:
            resolved_vars[k] = interp.var(k)[0]
        except _BadVar:
            resolved_vars[k] = data["vars"][k]
        except _InterpError as exc:
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
    names = _default_names(steps_raw)
    seen_names: dict[str, int] = {}
    produced: dict[str, int] = {}  # context name -> index of the step producing it
    skipped_outputs: dict[str, str] = {}  # context name -> skipped step producing it
    planned: list[PlannedStep] = []
    cwd = Path.cwd()
    base_dir = path.parent.absolute()
    for i, item in enumerate(steps_raw):
        spath = f"steps[{i}]"
        kind = _step_kind(item)
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
        if given is not None and (not isinstance(given, str) or not _NAME_RE.match(given)
                                  or given in ("vars", "steps", "name")):
            problem("bad step name", f"{where}.name", value=given,
                    expected="letters, digits, '_', '-', '.' (not vars, steps or name)")
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
            problems.extend(source.place(p) for p in exc.problems if p.field not in interp.failed_paths)
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
        for setting, ctx_name in inputs.items():
            if ctx_name in produced:
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
            bound=_jsonable(bound), step=obj, inputs=dict(inputs), outputs=dict(outputs), skip=skip,
            line=source.locate(spath)[1],
        ))

    if problems:
        unique = list({str(p): p for p in problems}.values())
        # the file's problems in line order, then those of --set overrides
        unique.sort(key=lambda p: (p.file != file, p.line or 0) if p.file == file else (True, 0))
        raise ConfigError.from_problems(unique)
    pipe = Pipeline(name=name, path=path.absolute(), base_dir=base_dir, config=config, steps=planned,
                    run_dir=run_dir, overrides=overrides, run_dir_given=run_dir_given)
    pipe._source = source  # type: ignore[attr-defined]  # to place run-time ConfigErrors
    return pipe


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
