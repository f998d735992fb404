"""Detections as text files, one ``<image stem>.txt`` per image and one box per line, in any of
the layouts detection tools write, declared or detected (``cvpipe evaluate --dt DIR``).

A line is ``class confidence a b c d`` or ``class a b c d confidence`` (``conf``: ``second`` as
review_object_detection_metrics writes, ``last`` as Ultralytics writes); ``class`` is an integer
id (into ``names``, default the ground truth's categories) or a class name. ``a b c d`` are, by
``layout`` (the names of ``cvpipe evaluate --dt-layout``):

========  =============================  =============================================
layout    the four numbers               the same in other tools
========  =============================  =============================================
``yolo``  centre x, centre y, w, h       globox ``XYWH``; review_object_detection_metrics
                                         ``YOLO`` (and its *relative* ``XYWH``); Ultralytics
``xywh``  left, top, w, h                globox ``LTWH``; review_object_detection_metrics
                                         *absolute* ``XYWH``; COCO's ``bbox``
``xyxy``  left, top, right, bottom       globox ``LTRB``; review_object_detection_metrics ``XYX2Y2``
========  =============================  =============================================

and ``coords`` is ``abs`` (pixels) or ``rel`` (fractions of the image's width and height).

What is not declared is detected: every combination still open is tried on every line, and
one fits when every confidence is in [0, 1], relative coordinates are in [0, 1] (5% slack),
absolute ones are not all within that (such a folder is relative), and every box has no
negative size and lies inside its image (5% of the side plus one pixel of slack: detectors that
do not clip reach a little outside). Exactly one
fitting combination is used; several are refused with a message listing them and the flags
that pick each; none is refused with the first line each one fails on. A declared layout is
checked the same way (a wrong declaration is refused, never scored). Files with no lines say
nothing: a folder of empty files is no detections in any layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import ConfigError, InputError, Problem
from .detection_files import CLASSES_FILE

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["LAYOUTS", "COORDS", "CONFS", "TxtLayout", "read_txt_detections", "txt_files", "is_txt_folder",
           "fitting_layouts"]

#: the box layouts (``--dt-layout``)
LAYOUTS = ("yolo", "xywh", "xyxy")
#: the coordinate kinds (``--dt-coords``)
COORDS = ("abs", "rel")
#: where the confidence is (``--dt-conf``)
CONFS = ("second", "last")
_NUMBERS = {"yolo": "cx cy w h", "xywh": "x y w h", "xyxy": "x1 y1 x2 y2"}
#: slack of the plausibility checks: relative values, and a fraction of each image side
_REL_SLACK = 0.05
_PX_SLACK = 1.0


@dataclass(frozen=True)
class TxtLayout:
    """One way of reading a detection line: box ``layout``, ``coords`` and ``conf`` position."""

    layout: str
    coords: str
    conf: str

    def __str__(self) -> str:
        nums = _NUMBERS[self.layout]
        line = f"class conf {nums}" if self.conf == "second" else f"class {nums} conf"
        return f"{line} ({'relative' if self.coords == 'rel' else 'pixels'})"

    @property
    def flags(self) -> str:
        """The ``cvpipe evaluate`` options selecting this layout."""
        return f"--dt-layout {self.layout} --dt-coords {self.coords} --dt-conf {self.conf}"


def _check_choice(value: str | None, allowed: Sequence[str], field: str) -> None:
    if value is not None and value not in allowed:
        raise ConfigError(f"unknown {field[5:]}", field=field, value=value, expected="one of: " + ", ".join(allowed))


def _listed(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.txt")
                  if p.is_file() and not p.name.startswith(".") and p.name != CLASSES_FILE)


def txt_files(path: Path) -> list[Path]:
    """The ``*.txt`` detection files of folder ``path`` (or of its ``labels/``, where
    Ultralytics' ``predict`` and ``cvpipe predict --format yolo`` put them), sorted, a
    ``classes.txt`` left out; ``[]`` when there are none."""
    path = Path(path)
    if not path.is_dir():
        return []
    files = _listed(path)
    if not files and (path / "labels").is_dir():
        files = _listed(path / "labels")
    return files


def is_txt_folder(path: Path) -> bool:
    """Whether ``path`` is a folder of detection txt files (:func:`txt_files`, or an empty
    ``labels/`` or a ``classes.txt``: a predict run that detected nothing), not a YOLO dataset
    (no ``data.yaml``, ``data.yml`` or darknet ``obj.names``)."""
    path = Path(path)
    if not path.is_dir() or any((path / n).is_file() for n in ("data.yaml", "data.yml", "obj.names")):
        return False
    return bool(txt_files(path)) or (path / "labels").is_dir() or (path / CLASSES_FILE).is_file()


@dataclass
class _Row:
    file: str
    line: int
    cls: str
    values: list[float]  # the five numbers in file order
    width: int
    height: int


def _abs_xyxy(t: TxtLayout, v: list[float], width: int, height: int) -> tuple[float, list[float]]:
    """``(confidence, [x1, y1, x2, y2] in pixels)`` of the five numbers ``v`` read as ``t``."""
    conf, (a, b, c, d) = (v[0], v[1:]) if t.conf == "second" else (v[4], v[:4])
    if t.coords == "rel":
        a, b, c, d = a * width, b * height, c * width, d * height
    if t.layout == "yolo":
        return conf, [a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0]
    if t.layout == "xywh":
        return conf, [a, b, a + c, b + d]
    return conf, [a, b, c, d]


def _misfit(t: TxtLayout, r: _Row) -> str | None:
    """Why row ``r`` cannot be read as ``t`` (None: it can)."""
    conf, (x1, y1, x2, y2) = _abs_xyxy(t, r.values, r.width, r.height)
    if not 0.0 <= conf <= 1.0:
        return f"confidence {conf:g} outside [0, 1]"
    if t.coords == "rel":
        coords = r.values[1:] if t.conf == "second" else r.values[:4]
        if any(not -_REL_SLACK <= c <= 1.0 + _REL_SLACK for c in coords):
            return "relative coordinate outside [0, 1]"
    if x2 < x1 or y2 < y1:
        return "box of negative size"
    sx, sy = _PX_SLACK + _REL_SLACK * r.width, _PX_SLACK + _REL_SLACK * r.height
    if x1 < -sx or y1 < -sy or x2 > r.width + sx or y2 > r.height + sy:
        return f"box {x1:g},{y1:g},{x2:g},{y2:g} outside the {r.width}x{r.height} image"
    return None


def fitting_layouts(rows: list[_Row], candidates: list[TxtLayout]) -> tuple[list[TxtLayout], dict[TxtLayout, str]]:
    """The candidates every row fits, and for the others the first row that does not (as
    ``file:line: reason``). Absolute candidates do not fit when every coordinate is in [0, 1]."""
    fits, why = [], {}
    for t in candidates:
        if t.coords == "abs" and rows and all(
                abs(c) <= 1.0 + _REL_SLACK for r in rows for c in (r.values[1:] if t.conf == "second" else r.values[:4])):
            why[t] = "every coordinate is within [0, 1]: relative, not pixels"
            continue
        for r in rows:
            reason = _misfit(t, r)
            if reason is not None:
                why[t] = f"{r.file}:{r.line}: {reason}"
                break
        else:
            fits.append(t)
    return fits, why


def _parse(files: list[Path], reference: "Dataset", found: list[Problem]) -> dict[int, list[_Row]]:
    """The rows of each file, by the index of its reference sample; problems (unknown image,
    wrong number of values, not a number) appended to ``found``."""
    from .io import label_lines
    from .numbers import DECIMAL_TEXT, parse_decimal

    by_stem: dict[str, list[int]] = {}
    for i, s in enumerate(reference.samples):
        by_stem.setdefault(Path(s.image).stem, []).append(i)
    out: dict[int, list[_Row]] = {}
    for f in files:
        refs = by_stem.get(f.stem)
        if not refs:
            found.append(Problem("detection file for an unknown image", file=str(f), value=f.stem,
                                 expected="a file named after an image of the ground truth"))
            continue
        if len(refs) > 1:
            found.append(Problem("image name is ambiguous", file=str(f), value=f.stem,
                                 expected="image stems unique in the ground truth"))
            continue
        s = reference.samples[refs[0]]
        rows = out.setdefault(refs[0], [])
        for lineno, line, tok in label_lines(f, found):
            if len(tok) != 6:
                found.append(Problem("wrong number of values", file=str(f), line=lineno, value=line.strip(),
                                     expected="6: class, confidence and four box numbers"))
                continue
            vals = [parse_decimal(t) for t in tok[1:]]
            if None in vals or not all(math.isfinite(v) for v in vals):  # type: ignore[arg-type]
                bad = next(t for t, v in zip(tok[1:], vals) if v is None or not math.isfinite(v))
                found.append(Problem("not a finite number", file=str(f), line=lineno, value=bad, expected=DECIMAL_TEXT))
                continue
            rows.append(_Row(str(f), lineno, tok[0], vals, s.width, s.height))  # type: ignore[arg-type]
    return out


def read_txt_detections(path: Path, reference: "Dataset", *, layout: str | None = None, coords: str | None = None,
                        conf: str | None = None, names: Sequence[str] | None = None) -> "Dataset":
    """Detections from the text files in folder ``path`` (:func:`txt_files`), one sample per
    ``reference`` image in its order (an image without a file has no detections), sized and named
    by ``reference`` (the ground truth), with ``scores`` set.

    ``layout``/``coords``/``conf`` (see the module docstring) declare the line layout; what is
    None is detected, except in a ``labels/`` sub-folder (Ultralytics' and ``cvpipe predict``'s
    layout), read as ``class cx cy w h conf``, relative, unless declared otherwise (and checked to
    fit). ``names`` are the class names integer class ids index (default: ``classes.txt`` in
    ``path`` when there is one, else the reference's categories); a class given by name is
    matched by name, names the reference lacks are appended to the categories.

    Raises:
        ConfigError: an unknown layout, coords or conf value.
        InputError: a bad line or file (file and line named), or no single layout fits (the
            message lists the fitting layouts, or why each failed).
    """
    import numpy as np

    from ..data import Dataset, Sample
    from ..data.origin import Origin

    _check_choice(layout, LAYOUTS, "--dt-layout")
    _check_choice(coords, COORDS, "--dt-coords")
    _check_choice(conf, CONFS, "--dt-conf")
    path = Path(path)
    files = txt_files(path)
    if not path.is_dir():
        raise InputError("no such folder", file=str(path), expected="a folder of detection .txt files")
    if files and files[0].parent != path:  # labels/: Ultralytics' predict layout, unless declared otherwise
        layout, coords, conf = layout or "yolo", coords or "rel", conf or "last"
    if names is None and (path / CLASSES_FILE).is_file():
        from ..data.categories import read_classes_file

        names = read_classes_file(path / CLASSES_FILE)
    found: list[Problem] = []
    rows_of = _parse(files, reference, found)
    if found:
        raise InputError.from_problems(found)
    rows = [r for rs in rows_of.values() for r in rs]
    candidates = [TxtLayout(a, b, c) for a, b, c in product(
        [layout] if layout else LAYOUTS, [coords] if coords else COORDS, [conf] if conf else CONFS)]
    chosen = candidates[0]
    if rows:
        fits, why = fitting_layouts(rows, candidates)
        if not fits:
            others = fitting_layouts(rows, [t for t in (TxtLayout(*c) for c in product(LAYOUTS, COORDS, CONFS))
                                            if t not in candidates])[0]
            listed = [Problem("the detections do not fit the layout", file=str(path), value=str(t), hint=why[t])
                      for t in candidates]
            if others:
                listed.append(Problem("the detections fit another layout", file=str(path),
                                      value="; ".join(f"{t} ({t.flags})" for t in others)))
            raise InputError.from_problems(listed)
        if len(fits) > 1:
            raise InputError.from_problems([Problem(
                "the detection layout is ambiguous", file=str(path),
                value="; ".join(str(t) for t in fits),
                expected="exactly one layout that fits every line",
                hint="name it: " + " or ".join(t.flags for t in fits))])
        chosen = fits[0]
    id_names = list(names) if names is not None else list(reference.categories)
    categories = list(reference.categories)
    for r in rows:
        if not _is_int(r.cls) and r.cls not in categories:
            categories.append(r.cls)
    for n in id_names:
        if n not in categories:
            categories.append(n)
    index = {c: i for i, c in enumerate(categories)}
    for r in rows:
        if _is_int(r.cls) and not 0 <= int(r.cls) < len(id_names):
            found.append(Problem("unknown class id", file=r.file, line=r.line, field="class", value=r.cls,
                                 expected=f"0..{len(id_names) - 1} ({len(id_names)} names)"))
    if found:
        raise InputError.from_problems(found)
    samples = []
    for i, s in enumerate(reference.samples):
        mine = rows_of.get(i, [])
        conv = [_abs_xyxy(chosen, r.values, r.width, r.height) for r in mine]
        file = mine[0].file if mine else str(path / (Path(s.image).stem + ".txt"))
        samples.append(Sample(
            image=s.image, width=s.width, height=s.height,
            boxes=np.array([b for _, b in conv], dtype=np.float64).reshape(-1, 4),
            labels=np.array([index[id_names[int(r.cls)]] if _is_int(r.cls) else index[r.cls] for r in mine],
                            dtype=np.int64),
            scores=np.array([c for c, _ in conv], dtype=np.float64), id=s.id, split=s.split,
            origin=Origin(file), box_origins=[Origin(r.file, r.line, "box") for r in mine]))
    return Dataset(categories, samples, root=reference.root,
                   meta={"format": "txt-detections", "layout": chosen.layout, "coords": chosen.coords,
                         "conf": chosen.conf}, origin=Origin(str(path)))


def _is_int(token: str) -> bool:
    return token.isascii() and token.isdigit()
