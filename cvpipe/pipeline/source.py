"""Pipeline YAML loaded safely with the line of every key and item, and where each value came
from (the file, or a ``--set`` on the command line)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import yaml

from ..errors import ConfigError, Problem
from ..yamlsafe import check_node

__all__ = ["dotted", "load_yaml_with_lines", "Source"]


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
        check_node(node, file=file)  # no alias bombs: bounded once expanded, before building
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
class Source:
    """Where the values of one pipeline came from.

    Attributes:
        file: the pipeline file, as the user named it.
        lines: dotted path (``steps[2].train.epochs``) -> 1-based line in ``file``.
        origins: dotted path -> ``"--set KEY=VALUE"`` for values given on the command line.
    """

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
        if p.file is not None and p.file != self.file:  # about another file: keep its place
            return dataclasses.replace(p, field=f)
        file, line = self.locate(f)
        return dataclasses.replace(p, field=f, file=file, line=line if line is not None else
                                   (p.line if p.file == self.file else None))
