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
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigError, InputError, Problem
from .detection_files import CLASSES_FILE

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["LAYOUTS", "files_by_image", "COORDS", "CONFS", "TxtLayout", "read_txt_detections", "txt_files", "is_txt_folder",
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
class _Rows:
    """Every detection line read, ``N`` rows: the five numbers ``(N, 5)`` float64 in file order,
    the class tokens, each row's image size, file, line and reference sample index."""

    values: Any
    cls: list[str]
    width: Any
    height: Any
    files: list[str]
    file_of: Any  # (N,) index into files
    line: Any
    sample: Any

    def where(self, i: int) -> str:
        return f"{self.files[int(self.file_of[i])]}:{int(self.line[i])}"


def _coords_of(t: TxtLayout, v: Any) -> tuple[Any, Any]:
    """The confidences ``(N,)`` and the four box numbers ``(N, 4)`` of the rows ``v`` read as ``t``."""
    return (v[:, 0], v[:, 1:]) if t.conf == "second" else (v[:, 4], v[:, :4])


def _abs_xyxy(t: TxtLayout, v: Any, width: Any, height: Any) -> tuple[Any, Any]:
    """``(confidences (N,), boxes (N, 4) absolute pixel xyxy)`` of the rows ``v`` read as ``t``."""
    import numpy as np

    conf, q = _coords_of(t, v)
    a, b, c, d = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    if t.coords == "rel":
        a, b, c, d = a * width, b * height, c * width, d * height
    if t.layout == "yolo":
        box = (a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0)
    elif t.layout == "xywh":
        box = (a, b, a + c, b + d)
    else:
        box = (a, b, c, d)
    return conf, np.stack(box, axis=1)


def _first_misfit(t: TxtLayout, r: _Rows) -> str | None:
    """Why the first row that cannot be read as ``t`` cannot (``file:line: reason``), or None
    when every row can."""
    import numpy as np

    conf, box = _abs_xyxy(t, r.values, r.width, r.height)
    _, q = _coords_of(t, r.values)
    x1, y1, x2, y2 = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    sx, sy = _PX_SLACK + _REL_SLACK * r.width, _PX_SLACK + _REL_SLACK * r.height
    checks = [
        (~((conf >= 0.0) & (conf <= 1.0)), lambda i: f"confidence {conf[i]:g} outside [0, 1]"),
        (((q < -_REL_SLACK) | (q > 1.0 + _REL_SLACK)).any(axis=1) if t.coords == "rel" else np.zeros(len(q), bool),
         lambda i: "relative coordinate outside [0, 1]"),
        ((x2 < x1) | (y2 < y1), lambda i: "box of negative size"),
        ((x1 < -sx) | (y1 < -sy) | (x2 > r.width + sx) | (y2 > r.height + sy),
         lambda i: f"box {x1[i]:g},{y1[i]:g},{x2[i]:g},{y2[i]:g} outside the {int(r.width[i])}x{int(r.height[i])} image"),
    ]
    bad = np.zeros(len(q), bool)
    for mask, _ in checks:
        bad |= mask
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    reason = next(text(i) for mask, text in checks if mask[i])
    return f"{r.where(i)}: {reason}"


def fitting_layouts(rows: _Rows, candidates: list[TxtLayout]) -> tuple[list[TxtLayout], dict[TxtLayout, str]]:
    """The candidates every row fits, and for the others the first row that does not (as
    ``file:line: reason``). Absolute candidates do not fit when every coordinate is in [0, 1]."""
    import numpy as np

    fits, why = [], {}
    for t in candidates:
        if t.coords == "abs" and len(rows.values) and bool(np.all(np.abs(_coords_of(t, rows.values)[1]) <= 1.0 + _REL_SLACK)):
            why[t] = "every coordinate is within [0, 1]: relative, not pixels"
            continue
        reason = _first_misfit(t, rows)
        if reason is None:
            fits.append(t)
        else:
            why[t] = reason
    return fits, why


#: five decimals, one per line: the whole of a file's numbers checked by one match
_NUMBERS_RE = re.compile(r"(?:[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\n)*\Z")


def files_by_image(files: list[Path], reference: "Dataset", found: list[Problem], *, kind: str = "detection",
                   within: str = "the ground truth") -> list[tuple[Path, int]]:
    """``(file, index of its reference sample)`` for each of ``files`` (one txt file per image,
    named after the image's stem), in order; a file naming no image, or a stem two reference
    images share, is a problem appended to ``found`` (``kind`` and ``within`` word it)."""
    by_stem: dict[str, list[int]] = {}
    for i, s in enumerate(reference.samples):
        by_stem.setdefault(Path(s.image).stem, []).append(i)
    out = []
    for f in files:
        refs = by_stem.get(f.stem)
        if not refs:
            found.append(Problem(f"{kind} file for an unknown image", file=str(f), value=f.stem,
                                 expected=f"a file named after an image of {within}"))
        elif len(refs) > 1:
            found.append(Problem("image name is ambiguous", file=str(f), value=f.stem,
                                 expected=f"image stems unique in {within}"))
        else:
            out.append((f, refs[0]))
    return out


def _parse(files: list[Path], reference: "Dataset", found: list[Problem]) -> _Rows:
    """Every row of the files, with the index of its file's reference sample; problems (unknown
    image, wrong number of values, not a number) appended to ``found``. A file whose lines are
    all well formed is converted at once; another is checked line by line to name each problem."""
    import numpy as np

    from .io import label_lines
    from .numbers import DECIMAL_TEXT, parse_decimal

    values, cls, width, height, file_of, line, sample = [], [], [], [], [], [], []
    names: list[str] = []
    for f, ref in files_by_image(files, reference, found):
        s = reference.samples[ref]
        lines = label_lines(f, found)
        if not lines:
            continue
        k = len(names)
        names.append(str(f))
        nums = None
        if all(len(tok) == 6 for _, _, tok in lines):
            text = "".join(x + "\n" for _, _, tok in lines for x in tok[1:])
            if _NUMBERS_RE.match(text):
                nums = np.array(text.split(), dtype=np.float64).reshape(-1, 5)
                if not np.isfinite(nums).all():  # 1e999
                    nums = None
        if nums is not None:
            keep = [(n, tok[0]) for n, _, tok in lines]
        else:  # name each bad line
            rows, keep = [], []
            for lineno, text_line, tok in lines:
                if len(tok) != 6:
                    found.append(Problem("wrong number of values", file=str(f), line=lineno, value=text_line.strip(),
                                         expected="6: class, confidence and four box numbers"))
                    continue
                vals = [parse_decimal(t) for t in tok[1:]]
                if None in vals or not all(math.isfinite(v) for v in vals):  # type: ignore[arg-type]
                    bad = next(t for t, v in zip(tok[1:], vals) if v is None or not math.isfinite(v))
                    found.append(Problem("not a finite number", file=str(f), line=lineno, value=bad,
                                         expected=DECIMAL_TEXT))
                    continue
                rows.append(vals)
                keep.append((lineno, tok[0]))
            nums = np.array(rows, dtype=np.float64).reshape(-1, 5)
        n = len(keep)
        values.append(nums)
        cls += [c for _, c in keep]
        line.append(np.array([ln for ln, _ in keep], dtype=np.int64))
        width.append(np.full(n, float(s.width)))
        height.append(np.full(n, float(s.height)))
        file_of.append(np.full(n, k, dtype=np.int64))
        sample.append(np.full(n, ref, dtype=np.int64))

    def cat(parts: list, shape: tuple, dtype) -> Any:
        return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)

    return _Rows(cat(values, (0, 5), np.float64), cls, cat(width, (0,), np.float64), cat(height, (0,), np.float64),
                 names, cat(file_of, (0,), np.int64), cat(line, (0,), np.int64), cat(sample, (0,), np.int64))


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
    rows = _parse(files, reference, found)
    if found:
        raise InputError.from_problems(found)
    candidates = [TxtLayout(a, b, c) for a, b, c in product(
        [layout] if layout else LAYOUTS, [coords] if coords else COORDS, [conf] if conf else CONFS)]
    chosen = candidates[0]
    if len(rows.values):
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
    tokens = list(dict.fromkeys(rows.cls))
    for c in tokens:
        if not _is_int(c) and c not in categories:
            categories.append(c)
    for n in id_names:
        if n not in categories:
            categories.append(n)
    index = {c: i for i, c in enumerate(categories)}
    label_of: dict[str, int] = {}
    for c in tokens:
        if not _is_int(c):
            label_of[c] = index[c]
        elif int(c) < len(id_names):
            label_of[c] = index[id_names[int(c)]]
    for i, c in enumerate(rows.cls):
        if c not in label_of:
            found.append(Problem("unknown class id", file=rows.files[int(rows.file_of[i])], line=int(rows.line[i]),
                                 field="class", value=c, expected=f"0..{len(id_names) - 1} ({len(id_names)} names)"))
    if found:
        raise InputError.from_problems(found)
    scores, boxes = _abs_xyxy(chosen, rows.values, rows.width, rows.height)
    labels = np.array([label_of[c] for c in rows.cls], dtype=np.int64)
    order = np.argsort(rows.sample, kind="stable")
    starts = np.searchsorted(rows.sample[order], np.arange(len(reference.samples) + 1))
    samples = []
    for i, s in enumerate(reference.samples):
        idx = order[starts[i]:starts[i + 1]]
        file = rows.files[int(rows.file_of[idx[0]])] if len(idx) else str(path / (Path(s.image).stem + ".txt"))
        samples.append(Sample(
            image=s.image, width=s.width, height=s.height, boxes=boxes[idx].reshape(-1, 4), labels=labels[idx],
            scores=scores[idx], id=s.id, split=s.split, origin=Origin(file),
            box_origins=[Origin(file, int(ln), "box") for ln in rows.line[idx]]))
    return Dataset(categories, samples, root=reference.root,
                   meta={"format": "txt-detections", "layout": chosen.layout, "coords": chosen.coords,
                         "conf": chosen.conf}, origin=Origin(str(path)))


def _is_int(token: str) -> bool:
    return token.isascii() and token.isdigit()
