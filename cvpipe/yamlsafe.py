"""YAML read safely *and* within a budget: no alias bombs ("billion laughs").

``yaml.safe_load`` constructs no objects from tags, but it expands aliases: a 500-byte document
of nine anchors each aliased nine times by the next is 9**9 values once anything walks, copies
or dumps the result. Every YAML cvpipe reads (pipelines, ``--set`` values, YOLO ``data.yaml``)
goes through :func:`check_node` on the composed node graph -- where an alias is still one shared
node, so the check is linear in the document's size -- before any value is constructed: the
graph's size *as if aliases were expanded* (values, scalar characters, nesting depth) must stay
within :data:`LIMITS`; a recursive alias is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from .errors import InputError

__all__ = ["YAMLLimits", "LIMITS", "YAMLLimitError", "check_node", "load_yaml"]


@dataclass(frozen=True)
class YAMLLimits:
    """Bounds on a YAML document once its aliases are expanded.

    Attributes:
        nodes: values (mappings, sequences, scalars, keys included).
        chars: characters of all scalars together.
        depth: nesting of mappings and sequences.
    """

    nodes: int = 100_000
    chars: int = 10_000_000
    depth: int = 100


#: The bounds every cvpipe YAML reader applies: far above any real pipeline or data.yaml.
LIMITS = YAMLLimits()


class YAMLLimitError(InputError):
    """A YAML document over :data:`LIMITS` (or with a recursive alias); exit code 2."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_node(root: yaml.Node | None, *, file: str | None = None, limits: YAMLLimits = LIMITS) -> None:
    """Refuse a composed YAML node graph that is too large once its aliases are expanded.

    Walks the graph once (iteratively, each shared node measured once), computing for every node
    the values, scalar characters and depth its expansion would have.

    Raises:
        YAMLLimitError: naming ``file``, the line of the outermost value found over a bound, what
            was exceeded and the bound; or a recursive alias (a node inside itself).
    """
    if root is None:
        return
    size: dict[int, tuple[int, int, int]] = {}  # id(node) -> (nodes, chars, depth) expanded
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            kids = [size[id(k)] for k in _children(node)]
            nodes = 1 + sum(k[0] for k in kids)
            chars = (len(node.value) if isinstance(node, yaml.ScalarNode) else 0) + sum(k[1] for k in kids)
            depth = (1 + max((k[2] for k in kids), default=0)) if kids or not isinstance(node, yaml.ScalarNode) else 0
            size[key] = (nodes, chars, depth)
            if depth > limits.depth:
                _refuse(node, file, f"the YAML nests more than {limits.depth} levels deep",
                        f"at most {limits.depth} levels of nesting")
            for what, value, bound in (("values", nodes, limits.nodes), ("characters", chars, limits.chars)):
                if value > bound:
                    _refuse(node, file, f"the YAML is too large once its aliases are expanded: more than "
                                        f"{bound} {what} (an alias bomb?)",
                            f"at most {bound} {what} after expanding aliases (*name)")
            continue
        if key in size:
            continue
        if key in active:
            _refuse(node, file, "recursive YAML alias (a value that contains itself)", "aliases to earlier, finished values")
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in reversed(_children(node)) if id(k) not in size)
        # a child already active (an ancestor) is caught when popped


def _refuse(node: yaml.Node, file: str | None, message: str, expected: str) -> None:
    mark = node.start_mark
    raise YAMLLimitError(message, file=file, line=mark.line + 1 if mark is not None else None, expected=expected)


def load_yaml(text: str, *, file: str | None = None, limits: YAMLLimits = LIMITS) -> Any:
    """``yaml.safe_load(text)`` after :func:`check_node` on the composed document.

    Raises:
        yaml.YAMLError: invalid YAML (as ``yaml.safe_load`` would).
        YAMLLimitError: over ``limits``, a recursive alias, or nested too deeply to parse.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YAMLLimitError("the YAML is nested too deeply to read", file=file,
                                 expected=f"at most {limits.depth} levels of nesting") from None
        check_node(node, file=file, limits=limits)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
