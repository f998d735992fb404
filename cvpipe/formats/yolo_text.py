"""YOLO text the formats share: label lines, label file names, split folders and ``data.yaml``.

The YOLO writer and every direct converter to YOLO (hook ``cvpipe_convert``) build their bytes
with these functions, so that all of them write the same files; ``cvpipe evaluate`` reads class
names from a ``data.yaml`` with :func:`data_yaml_names`. Pure Python (no numpy): the streaming
converters call them once per file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..errors import Problem

__all__ = [
    "yolo_box_text",
    "label_name",
    "output_split",
    "yaml_str",
    "split_order",
    "data_yaml_text",
    "load_data_yaml",
    "data_yaml_names",
]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*( [A-Za-z0-9_.\-]+)*\Z")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yolo_box_text(x1: float, y1: float, x2: float, y2: float, width: float, height: float, decimals: int) -> str:
    """``"cx cy w h"`` normalised, ``decimals`` places, for an absolute xyxy box."""
    d = decimals
    return (f"{(x1 + x2) / 2.0 / width:.{d}f} {(y1 + y2) / 2.0 / height:.{d}f} "
            f"{(x2 - x1) / width:.{d}f} {(y2 - y1) / height:.{d}f}")


def label_name(image_name: str) -> str:
    """The label file for an image name inside its split folder: ``a/x.jpg`` -> ``a/x.txt``
    (pathlib's suffix rule, done on the string: this runs once per file on the fast path)."""
    head, sep, base = image_name.rpartition("/")
    dot = base.rfind(".")
    if 0 < dot < len(base) - 1:
        base = base[:dot]
    return head + sep + base + ".txt"


def output_split(split: str | None, any_split: bool) -> str:
    """The split folder a sample goes to (samples without a split go to ``train`` when
    no sample has one, else to ``unassigned``)."""
    if split is not None:
        return split
    return "unassigned" if any_split else "train"


def yaml_str(s: str) -> str:
    """``s`` as a YAML scalar: plain when that reads back as the same string, else double-quoted
    with YAML escapes (non-printable characters as ``\\uXXXX``/``\\UXXXXXXXX``; PyYAML neither
    joins JSON's surrogate pairs nor accepts raw non-printable characters)."""
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS:
        return s
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable() and c != "\ufeff":
            out.append(c)
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def split_order(names) -> list[str]:
    """``train``, ``val``, ``test`` first, then the other names in the order given."""
    names = list(dict.fromkeys(names))
    first = [s for s in ("train", "val", "test") if s in names]
    return first + [s for s in names if s not in first]


def data_yaml_text(root: Path, splits: Sequence[str], names: Sequence[str]) -> str:
    """The ``data.yaml`` cvpipe writes: absolute ``path``, ``<split>: images/<split>``, ``nc``
    and ``names`` as an ``{id: name}`` map."""
    lines = ["# YOLO dataset written by cvpipe (Ultralytics layout)", f"path: {yaml_str(str(root))}"]
    for s in split_order(splits):
        lines.append(f"{yaml_str(s)}: {yaml_str('images/' + s)}")
    lines.append(f"nc: {len(names)}")
    lines.append("names:" if names else "names: {}")
    lines += [f"  {i}: {yaml_str(n)}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


def load_data_yaml(path: Path, found: list[Problem]) -> dict | None:
    """The mapping in the YAML file ``path`` (read with the budgeted :func:`cvpipe.yamlsafe.load_yaml`:
    no alias bombs), or None with a Problem (file, line) appended to ``found``."""
    import yaml

    from ..yamlsafe import YAMLLimitError, load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"), file=str(path))
    except YAMLLimitError as exc:
        found.extend(exc.problems)
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        found.append(Problem(f"malformed YAML: {getattr(exc, 'problem', None) or exc}", file=str(path),
                             line=mark.line + 1 if mark else None, expected="a YOLO data.yaml"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        found.append(Problem("cannot read file", file=str(path), value=str(exc), expected="a YOLO data.yaml"))
        return None
    if not isinstance(data, dict):
        found.append(Problem("not a mapping", file=str(path), value=type(data).__name__,
                             expected="a YAML mapping with names and split keys"))
        return None
    return data


def data_yaml_names(data: dict, file: str, found: list[Problem]) -> list[str] | None:
    """The class names of a parsed ``data.yaml`` (``names`` as a list or an ``{id: name}`` map
    with ids 0..n-1), or None with a Problem appended to ``found``."""
    names = data.get("names")
    if isinstance(names, list):
        out = [str(n) for n in names]
    elif isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            found.append(Problem("class ids of names are not integers", file=file, field="names",
                                 value=list(names), expected="a list or an {id: name} map"))
            return None
        if ids != list(range(len(ids))):
            found.append(Problem("class ids of names are not 0..n-1", file=file, field="names", value=ids,
                                 expected=f"0..{len(ids) - 1}"))
            return None
        by_id = {int(k): str(v) for k, v in names.items()}
        out = [by_id[i] for i in ids]
    else:
        found.append(Problem("names missing", file=file, field="names", value=names,
                             expected="a list of class names or an {id: name} map"))
        return None
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        found.append(Problem("class name listed twice", file=file, field="names", value=dup, expected="distinct names"))
        return None
    return out
