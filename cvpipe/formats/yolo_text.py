"""YOLO text the formats share: label lines, label file names, split folders and ``data.yaml``.

The YOLO writer and every direct converter to YOLO (hook ``cvpipe_convert``) build their bytes
with these functions, so that all of them write the same files; ``cvpipe evaluate`` reads class
names from a ``data.yaml`` with :func:`data_yaml_names`. Pure Python (no numpy): the streaming
converters call them once per file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

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
    "stand_ins",
    "stand_in_notes",
    "STAND_IN_KEY",
    "yolo_values_text",
    "NOTE_NC_WITHOUT_NAMES",
]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*( [A-Za-z0-9_.\-]+)*\Z")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def yolo_box_text(x1: float, y1: float, x2: float, y2: float, width: float, height: float, decimals: int) -> str:
    """``"cx cy w h"`` normalised, ``decimals`` places, for an absolute xyxy box."""
    d = decimals
    return (f"{(x1 + x2) / 2.0 / width:.{d}f} {(y1 + y2) / 2.0 / height:.{d}f} "
            f"{(x2 - x1) / width:.{d}f} {(y2 - y1) / height:.{d}f}")


def yolo_values_text(values: Sequence[float], decimals: int) -> str:
    """Normalised values (polygon or OBB corners, keypoints) as ``decimals``-place text, space
    separated (the format :func:`yolo_box_text` gives the box)."""
    d = decimals
    return " ".join(f"{v:.{d}f}" for v in values)


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


#: the data.yaml key mapping a stand-in split key to the split whose images it repeats
#: (``{val: train}``): cvpipe then reads those images once, as that split
STAND_IN_KEY = "split_stand_ins"
#: split names taken for Ultralytics' ``val`` when no split is named ``val`` (before ``train``)
VAL_ALIASES = ("valid", "validation")
_EVAL_SPLITS = ("val", "test", *VAL_ALIASES)


def stand_ins(splits: Sequence[str]) -> dict[str, str]:
    """The keys Ultralytics requires that no split fills (``train`` and ``val``: it refuses a
    data.yaml without either), each mapped to the split whose images it repeats.

    ``val``: ``valid``/``validation`` (Roboflow's folder names), else ``train``, else the split
    standing in for ``train``; ``train``: the first split (in :func:`split_order`) that is not an
    evaluation split, else the first split. Empty when both are present (or there is no split)."""
    splits = split_order(splits)
    if not splits:
        return {}
    out: dict[str, str] = {}
    if "train" not in splits:
        out["train"] = next((s for s in splits if s not in _EVAL_SPLITS), splits[0])
    if "val" not in splits:
        out["val"] = next((s for s in VAL_ALIASES if s in splits), None) or out.get("train", "train")
    return out


def stand_in_notes(splits: Sequence[str], images: Callable[[str], int]) -> dict[str, int]:
    """The notes a YOLO writer adds to its report (``{text: images}``, ``images(split)`` counting
    a split's images) for the keys :func:`stand_ins` fills, else ``{}``."""
    out = {}
    for key, src in stand_ins(splits).items():
        what = "the training images" if src == "train" else f"the {src} images"
        out[f"no {key} split: data.yaml's {key} is {what} (images/{src})"] = images(src)
    return out


def data_yaml_text(root: Path, splits: Sequence[str], names: Sequence[str], *,
                   kpt_shape: Sequence[int] | None = None, flip_idx: Sequence[int] | None = None) -> str:
    """The ``data.yaml`` cvpipe writes: absolute ``path``, ``<split>: images/<split>``, always
    ``train`` and ``val`` (:func:`stand_ins`: another split's images when no split has the name,
    with :data:`STAND_IN_KEY` saying so, so that cvpipe reads those images once), ``nc``,
    ``names`` as an ``{id: name}`` map, and for a pose dataset ``kpt_shape`` (and ``flip_idx``
    when known)."""
    lines = ["# YOLO dataset written by cvpipe (Ultralytics layout)", f"path: {yaml_str(str(root))}"]
    alias = stand_ins(splits)
    for s in split_order([*splits, *alias]):
        if s in alias:
            lines.append(f"{s}: {yaml_str('images/' + alias[s])}  # no {s} split: Ultralytics needs one")
        else:
            lines.append(f"{yaml_str(s)}: {yaml_str('images/' + s)}")
    if alias:  # read back by cvpipe as the splits they are
        lines.append(f"{STAND_IN_KEY}: {{{', '.join(f'{k}: {yaml_str(v)}' for k, v in alias.items())}}}")
    if kpt_shape is not None:
        lines.append(f"kpt_shape: [{', '.join(str(int(v)) for v in kpt_shape)}]")
        if flip_idx is not None:
            lines.append(f"flip_idx: [{', '.join(str(int(v)) for v in flip_idx)}]")
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


def _class_name(v: object) -> str | None:
    """A class name as data.yaml may give one: a string, or a number YAML read (``0: 7``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _class_id(k: object) -> int | None:
    """An id key of a ``names`` map: an integer (YAML ``0:``) or ASCII digits (``"0":``)."""
    if isinstance(k, int) and not isinstance(k, bool):
        return k
    if isinstance(k, str) and re.fullmatch(r"[0-9]+", k):
        return int(k)
    return None


#: the note of a data.yaml with ``nc`` and no ``names``
NOTE_NC_WITHOUT_NAMES = "data.yaml has nc but no names: classes named class_0, class_1, ..."


def _nc(data: dict, file: str, found: list[Problem]) -> int | None:
    """``nc`` of a parsed data.yaml: None when absent; -1 with a problem when not a count."""
    nc = data.get("nc")
    if nc is None:
        return None
    if isinstance(nc, bool) or not isinstance(nc, int) or nc < 0:
        found.append(Problem("nc is not a class count", file=file, field="nc", value=nc,
                             expected="a non-negative integer (the number of names)"))
        return -1
    return nc


def data_yaml_names(data: dict, file: str, found: list[Problem], notes: dict[str, int] | None = None) -> list[str] | None:
    """The class names of a parsed ``data.yaml`` (``names`` as a list or an ``{id: name}`` map
    with ids 0..n-1; each name a string or a number, never a list or a mapping), or None with a
    Problem appended to ``found``.

    As Ultralytics' ``check_det_dataset``: ``nc`` without ``names`` names the classes
    ``class_0`` ... ``class_<nc-1>`` (counted in ``notes`` under :data:`NOTE_NC_WITHOUT_NAMES`);
    ``nc`` disagreeing with the number of ``names`` is a problem naming both."""
    nc = _nc(data, file, found)
    if nc == -1:
        return None
    if data.get("names") is None and nc is not None:
        if notes is not None:
            notes[NOTE_NC_WITHOUT_NAMES] = notes.get(NOTE_NC_WITHOUT_NAMES, 0) + nc
        return [f"class_{i}" for i in range(nc)]
    out = _names(data, file, found)
    if out is not None and nc is not None and nc != len(out):
        found.append(Problem("nc disagrees with names", file=file, field="nc", value=nc,
                             expected=f"{len(out)}, the number of names ({', '.join(out[:10])}"
                                      f"{', ...' if len(out) > 10 else ''})",
                             hint="correct nc, or the names list"))
        return None
    return out


def _names(data: dict, file: str, found: list[Problem]) -> list[str] | None:
    """The ``names`` of a parsed data.yaml (see :func:`data_yaml_names`)."""
    names = data.get("names")
    if isinstance(names, list):
        raw = list(enumerate(names))
    elif isinstance(names, dict):
        keys = [_class_id(k) for k in names]
        if None in keys:
            found.append(Problem("class ids of names are not integers", file=file, field="names",
                                 value=list(names), expected="a list or an {id: name} map"))
            return None
        ids = sorted(keys)
        if ids != list(range(len(ids))):
            found.append(Problem("class ids of names are not 0..n-1", file=file, field="names", value=ids,
                                 expected=f"0..{len(ids) - 1}"))
            return None
        by_id = dict(zip(keys, names.values()))
        raw = [(i, by_id[i]) for i in ids]
    else:
        found.append(Problem("names missing", file=file, field="names", value=names,
                             expected="a list of class names or an {id: name} map (or nc: the class count)"))
        return None
    out = []
    for i, v in raw:
        name = _class_name(v)
        if name is None or not name.strip():
            found.append(Problem("bad class name", file=file, field=f"names[{i}]", value=v,
                                 expected="a class name (a string)"))
            return None
        out.append(name)
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        found.append(Problem("class name listed twice", file=file, field="names", value=dup, expected="distinct names"))
        return None
    return out
