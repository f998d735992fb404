"""``${...}`` interpolation and ``--set`` overrides (see :mod:`cvpipe.pipeline` for the rules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import MISSING, Problem, closest
from ..yamlsafe import YAMLLimitError, load_yaml
from .source import Source, _parent_fields, dotted

__all__ = ["Interpolator", "InterpError", "BadVar", "apply_override", "default_names", "step_kind"]


class InterpError(Exception):
    def __init__(self, message: str, *, value: Any = MISSING, expected: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.value, self.expected, self.hint = message, value, expected, hint


class BadVar(Exception):
    """A reference to a var that is itself in error (already reported)."""


_UNSET: Any = object()


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (dict, list)):
        raise InterpError("cannot insert a null, mapping or list into text", value=value,
                           expected="a string, number or boolean")
    return str(value)


def _scalar(text: str) -> Any:
    """``text`` read as a YAML scalar (``3`` -> 3, ``true`` -> True); other text stays a string."""
    try:
        value = load_yaml(text)
    except (yaml.YAMLError, YAMLLimitError):  # (over the limits it is a list or mapping: text too)
        return text
    if isinstance(value, (dict, list)) or (value is None and text.strip() not in ("", "~", "null", "Null", "NULL")):
        return text
    return value


def _empty(value: Any) -> bool:
    return value is _UNSET or value is None or value == ""


class Interpolator:
    """Resolves ``${...}`` references in the pipeline data; records which values came from
    outside the file (``--set``, ``${env:...}``) so relative paths in them resolve against the
    current directory."""

    def __init__(self, vars_: dict[str, Any], cli_vars: set[str], run_dir: Path, source: Source,
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
        self.seen_origins: list[str] = []  # the --set origins of the vars the current string used

    # -- references ------------------------------------------------------------------------
    def var(self, name: str) -> tuple[Any, bool]:
        if name in self.failed:
            raise BadVar
        if name in self.resolved:
            return self.resolved[name]
        if name not in self.raw_vars:
            return _UNSET, False
        if name in self.active:
            cycle = " -> ".join(self.active[self.active.index(name):] + [name])
            raise InterpError("vars refer to each other in a cycle", value=cycle,
                               expected="vars that do not refer back to themselves")
        self.active.append(name)
        try:
            n_before = len(self.problems)
            value = self.walk(self.raw_vars[name], ("vars", name))
            ext = name in self.cli_vars or ("vars", name) in self.external
            if len(self.problems) > n_before:
                self.failed.add(name)
                raise BadVar
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
                raise InterpError("empty environment variable name", value="${" + expr + "}",
                                   expected="${env:NAME}")
            if key in self.env:
                text = self.env[key]
                value, ext = _scalar(text), True
            elif not sep:
                raise InterpError(f"environment variable {key} is not set", value="${" + expr + "}",
                                   hint=f"export {key}=... or write ${{env:{key}:-DEFAULT}}")
        elif name.startswith("vars."):
            parts = name[5:].split(".")
            value, ext = self.var(parts[0])
            self._note_origin("vars." + ".".join(parts))
            if value is _UNSET and not sep:
                match = closest(parts[0], self.raw_vars)
                raise InterpError(f"unknown var {parts[0]!r}", value="${" + expr + "}",
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
                    raise InterpError(f"var {'.'.join(parts[:i])!r} has no key {part!r}",
                                       value="${" + expr + "}")
        else:
            raise InterpError("unknown reference", value="${" + expr + "}",
                               expected="${vars.NAME}, ${env:NAME} or ${run_dir}")
        if sep and _empty(value):
            value, ext = self.string(default)
            text = None
        return value, ext, text

    def _note_origin(self, field_: str) -> None:
        """Remember the ``--set`` that gave the var ``field_`` (or an enclosing one), so a value
        interpolated from it is blamed on that ``--set``, not on the line that refers to it."""
        for f in _parent_fields(field_):
            if f in self.source.origins:
                self.seen_origins.append(self.source.origins[f])
                return

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
                    raise InterpError("unclosed ${", value=s, expected="${...}")
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
            outer, self.seen_origins = self.seen_origins, []
            try:
                out, ext = self.string(value)
                if self.seen_origins and ext:  # from a var a --set gave: blame that --set
                    self.source.origins.setdefault(dotted(path), self.seen_origins[0])
            except BadVar:
                self.failed_paths.add(dotted(path))
                return value
            except InterpError as exc:
                self.failed_paths.add(dotted(path))
                file, line = self.source.locate(dotted(path))
                self.problems.append(Problem(exc.message, file=file, line=line, field=dotted(path),
                                             value=exc.value, expected=exc.expected, hint=exc.hint))
                return value
            finally:
                self.seen_origins = outer + self.seen_origins
            if ext or dotted(path) in self.source.origins:
                self.external.add(path)
            return out
        if dotted(path) in self.source.origins:
            self.external.add(path)
        return value


# ============================================================================================
# --set overrides
# ============================================================================================


def step_kind(item: Any) -> str | None:
    if isinstance(item, dict) and len(item) == 1:
        kind = next(iter(item))
        return kind if isinstance(kind, str) else None
    return None


def default_names(steps: list[Any]) -> list[str]:
    """Each step's name: its ``name`` setting, else its kind, else ``<kind>_<index>`` when the
    kind repeats."""
    kinds = [step_kind(s) or f"step{i}" for i, s in enumerate(steps)]
    names = []
    for i, (item, kind) in enumerate(zip(steps, kinds)):
        settings = item.get(kind) if isinstance(item, dict) else None
        given = settings.get("name") if isinstance(settings, dict) else None
        if isinstance(given, str) and given:
            names.append(given)
        else:
            names.append(kind if kinds.count(kind) == 1 else f"{kind}_{i}")
    return names


def apply_override(data: dict[str, Any], text: str, source: Source, cli_vars: set[str]) -> Problem | None:
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
        value = load_yaml(raw, file=where) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    except YAMLLimitError as exc:
        return dataclasses.replace(exc.problems[0], line=None)  # (a line of the command line: no)
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    names = default_names(steps)
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
        kind = step_kind(steps[index])
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
