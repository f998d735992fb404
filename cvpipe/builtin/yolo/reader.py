"""Reading YOLO txt labels: one label file into rows (shared with :mod:`.predictions`), and
:func:`read_yolo` building the Dataset of an Ultralytics or darknet layout."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from cvpipe.data.checks import box_problem
from cvpipe.data.origin import Origin
from cvpipe.errors import InputError, Problem
from cvpipe.formats.numbers import DECIMAL_TEXT, INDEX_TEXT, parse_decimal, parse_index
from cvpipe.formats.io import label_lines

from .layout import darknet_items, find_in, rel_in_split, ultralytics_items

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_yolo", "layout_items", "read_items", "parse_labels", "make_sample"]


def parse_labels(path: Path, width: int, height: int, ncls: int, found: list[Problem],
                  confidence_second: bool = False, predictions: bool = False) -> list[tuple]:
    """Valid lines of one label file as ``(class, [x1, y1, x2, y2], score | None, polygon | None,
    line)`` in absolute pixels; problems (with file and line) appended to ``found``.
    ``predictions``: a detector's boxes may reach outside the image (values outside [0, 1] are
    kept as they are; they must still be finite, with positive width and height)."""
    file = str(path)
    out = []
    for lineno, line, tok in label_lines(path, found, missing_ok=True):
        n = len(tok)
        if confidence_second and n == 6:  # class confidence cx cy w h
            tok = [tok[0], *tok[2:], tok[1]]
        if not (n in (5, 6) or (n >= 7 and (n - 1) % 2 == 0)):
            found.append(Problem("wrong number of values", file=file, line=lineno, value=line.strip(),
                                 expected="5 (class cx cy w h), 6 (plus confidence) or a polygon "
                                          "(class x1 y1 x2 y2 x3 y3 ...)"))
            continue
        cls = parse_index(tok[0])  # "+1", "0_0", "-0", Arabic-Indic digits: not class ids
        if cls is None:
            found.append(Problem("class id is not an integer", file=file, line=lineno, field="class",
                                 value=tok[0], expected=INDEX_TEXT))
            continue
        if not 0 <= cls < ncls:
            found.append(Problem("unknown class id", file=file, line=lineno, field="class", value=cls,
                                 expected=f"0..{ncls - 1} ({ncls} names)" if ncls else "no ids (no names declared)"))
            continue
        vals = [parse_decimal(t) for t in tok[1:]]
        if None in vals:
            bad = tok[1 + vals.index(None)]
            found.append(Problem("not a number", file=file, line=lineno, value=bad, expected=DECIMAL_TEXT))
            continue
        if predictions:
            if not all(math.isfinite(v) for v in vals):
                found.append(Problem("not a finite number", file=file, line=lineno, value=line.strip(),
                                     expected="finite numbers"))
                continue
        elif any(not (0.0 <= v <= 1.0) for v in vals):  # also catches nan
            bad_i = next(i for i, v in enumerate(vals) if not (0.0 <= v <= 1.0))
            fields = ("x_center", "y_center", "width", "height", "confidence") if n <= 6 else None
            found.append(Problem("value outside [0, 1]", file=file, line=lineno,
                                 field=fields[bad_i] if fields else f"value[{bad_i + 1}]", value=tok[bad_i + 1],
                                 expected="normalised values in [0, 1]"))
            continue
        poly = None
        score = None
        if n <= 6:
            cx, cy, w, h = vals[:4]
            score = vals[4] if n == 6 else None
            if w <= 0 or h <= 0:
                found.append(Problem("box has zero area", file=file, line=lineno, field="width" if w <= 0 else "height",
                                     value=line.strip(), expected="width > 0 and height > 0"))
                continue
            nx1, ny1, nx2, ny2 = cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0
            if predictions:
                out.append((cls, [nx1 * width, ny1 * height, nx2 * width, ny2 * height], score, None, lineno))
                continue
            # the one tolerance (cvpipe.data.checks), in normalised units: the file's rounding
            if box_problem(nx1, ny1, nx2, ny2, 1.0, 1.0) == "outside":
                found.append(Problem("box is outside the image", file=file, line=lineno, value=line.strip(),
                                     expected="cx - w/2 >= 0, cx + w/2 <= 1 (and likewise for y)"))
                continue
            # within the tolerance the file's rounding put a border a hair outside: clamp it
            box = [max(nx1, 0.0) * width, max(ny1, 0.0) * height, min(nx2, 1.0) * width, min(ny2, 1.0) * height]
        else:
            xs, ys = vals[0::2], vals[1::2]
            if max(xs) == min(xs) or max(ys) == min(ys):
                found.append(Problem("polygon has zero area", file=file, line=lineno, value=line.strip(),
                                     expected="points spanning a non-empty box"))
                continue
            box = [min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height]
            poly = [[v * (width if i % 2 == 0 else height) for i, v in enumerate(vals)]]
        out.append((cls, box, score, poly, lineno))
    return out




def make_sample(image: str, width: int, height: int, rows: list[tuple], label_file: str, *,
                 split: str | None, ident: str, with_scores: bool):
    import numpy as np

    from cvpipe.data import Sample

    box_extra = []
    for _, _, _, poly, _ in rows:
        box_extra.append({"segmentation": poly} if poly is not None else {})
    return Sample(
        image=image, width=width, height=height,
        boxes=np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 4),
        labels=np.array([r[0] for r in rows], dtype=np.int64),
        scores=np.array([r[2] for r in rows], dtype=np.float64) if with_scores else None,
        box_extra=box_extra, id=ident, split=split, origin=Origin(label_file),
        box_origins=[Origin(label_file, r[4], "box") for r in rows],
    )


def layout_items(path: Path, splits: list[str] | None, images_dir: Path | None, found: list[Problem]):
    """``(names, root, items)`` of the YOLO dataset at ``path`` (data.yaml, data.yml, the YAML
    file itself or darknet's obj.names), or None with the problem appended to ``found``."""
    if path.is_file():
        return ultralytics_items(path, splits, images_dir, found)
    if (path / "data.yaml").is_file() or (path / "data.yml").is_file():
        y = path / "data.yaml" if (path / "data.yaml").is_file() else path / "data.yml"
        return ultralytics_items(y, splits, images_dir, found)
    if (path / "obj.names").is_file():
        return darknet_items(path, splits, found)
    found.append(Problem("not a YOLO dataset", file=str(path),
                         expected="a folder with data.yaml (Ultralytics) or obj.names (darknet)"))
    return None


def read_items(items, ncls: int, root: Path, ds_root: Path, images_dir: Path | None,
               found: list[Problem]) -> list:
    """The samples of ``items`` (``(split, image path, label path)``, as the layout lists them):
    each image's size from its header, its label file parsed; problems appended to ``found``.
    Image paths are relative to ``root`` (absolute when outside it). Whether the labels carry
    confidences is decided over ``items`` (all of them or none)."""
    from cvpipe.formats.images import image_size

    samples = []
    parsed = []
    for split, img, lab in items:
        if images_dir:
            rel = rel_in_split(img, ds_root, split)
            img = find_in(Path(images_dir), rel)
        try:
            w, h = image_size(img)
        except InputError:
            found.append(Problem("image file not found or unreadable", file=str(lab) if lab.is_file() else str(img),
                                 value=str(img), expected="an image whose header gives the size (YOLO labels are "
                                                         "normalised by it)", hint="point to the images with --images-dir"))
            continue
        rows = parse_labels(lab, w, h, ncls, found)
        parsed.append((split, img, lab, w, h, rows))
    with_scores = any(r[2] is not None for p in parsed for r in p[5])
    for split, img, lab, w, h, rows in parsed:
        if with_scores and any(r[2] is None for r in rows):
            r = next(r for r in rows if r[2] is None)
            found.append(Problem("confidence missing", file=str(lab), line=r[4],
                                 expected="a 6th value (confidence) on every line of a predictions dataset"))
            rows = [r for r in rows if r[2] is not None]
        try:
            image = img.relative_to(root).as_posix()
        except ValueError:
            image = str(img)
        samples.append(make_sample(image, w, h, rows, str(lab), split=split, ident=img.stem,
                                    with_scores=with_scores))
    return samples


def read_yolo(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
              problems: list[Problem] | None = None) -> "Dataset":
    """Read a YOLO dataset (layouts and rules: see the module docstring).

    Args:
        path: the dataset folder (holding ``data.yaml``/``data.yml`` or ``obj.names``) or the
            YAML file itself.
        images_dir: where the images are, overriding the layout.
        splits: the splits to read; None reads all.
        problems: collect problems here and skip what is bad; None raises one InputError
            listing every problem.
    """
    from cvpipe.data import Dataset
    from cvpipe.formats import raise_or_collect

    path = Path(path)
    found: list[Problem] = []
    got = layout_items(path, splits, images_dir, found)
    samples = []
    names: list[str] = []
    root = Path(images_dir) if images_dir else path
    if got is not None:
        names, ds_root, items = got
        root = Path(images_dir) if images_dir else ds_root
        samples = read_items(items, len(names), root, ds_root, images_dir, found)
    raise_or_collect(found, problems)
    return Dataset(names, samples, root=root, meta={"format": "yolo"}, origin=Origin(str(path)))
