"""Reading YOLO txt labels: one label file into rows (shared with :mod:`.predictions`), and
:func:`read_yolo` building the Dataset of an Ultralytics or darknet layout."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvpipe.data.checks import OUTSIDE_TOLERANCE, box_problem
from cvpipe.data.origin import Origin
from cvpipe.errors import InputError, Problem
from cvpipe.formats.numbers import DECIMAL_TEXT, INDEX_TEXT, parse_decimal, parse_index
from cvpipe.formats.io import label_lines

from .layout import (
    NOTE_NAMES_FROM_IDS,
    darknet_items,
    find_in,
    rel_in_split,
    split_folder_items,
    split_folder_splits,
    ultralytics_items,
)

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_yolo", "layout_items", "read_items", "finish_samples", "parse_labels", "make_sample", "LabelStats",
           "CLIP_TOLERANCE"]


#: how far outside [0, 1] a normalised value may be and still be read (clipped, counted), as
#: Ultralytics tolerates it: 1% of the image side
CLIP_TOLERANCE = 0.01
#: the note counting label lines with a value clipped into [0, 1]
NOTE_CLIPPED = "label lines with values up to 1% outside [0, 1]: clipped to the image"
#: the note counting label lines read as oriented boxes
NOTE_OBB = "label lines with 8 corner values read as oriented boxes (box: their enclosing box)"


@dataclass
class LabelStats:
    """What :func:`parse_labels` counts while reading (summed over the files of a dataset):
    ``clipped`` lines with a value clipped into [0, 1] (beyond the rounding tolerance of
    :mod:`cvpipe.data.checks`), ``decimals`` the most decimal places of a box value on the first
    line of each file (the source's precision), ``point_counts`` the number of points of each
    polygon line read."""

    clipped: int = 0
    decimals: int = 0
    point_counts: Counter = field(default_factory=Counter)


def _decimals(tokens) -> int:
    """The most decimal places among ``tokens`` (17 for exponent notation: precision unknown)."""
    d = 0
    for t in tokens:
        i = t.find(".")
        if "e" in t or "E" in t:
            return 17
        if i >= 0 and len(t) - i - 1 > d:
            d = len(t) - i - 1
    return d


def _expected_count(kpt_shape: tuple[int, int] | None) -> str:
    if kpt_shape is not None:
        k, d = kpt_shape
        return (f"{5 + k * d} (class cx cy w h, then {k} keypoints of {d} values: kpt_shape [{k}, {d}] "
                "in data.yaml)")
    return ("5 (class cx cy w h), 6 (plus confidence), 9 (class and 4 corners of an oriented box) or a "
            "polygon (class x1 y1 x2 y2 x3 y3 ...)")


def parse_labels(path: Path, width: int, height: int, ncls: int, found: list[Problem],
                  confidence_second: bool = False, predictions: bool = False, *,
                  kpt_shape: tuple[int, int] | None = None, stats: LabelStats | None = None) -> list[tuple]:
    """Valid lines of one label file as ``(class, [x1, y1, x2, y2], score | None, box_extra | None,
    line)`` in absolute pixels; problems (with file and line) appended to ``found``.

    ``box_extra`` of a polygon line is ``{"segmentation": [[x1, y1, ...]]}`` (its box: the
    enclosing one; an 8-value polygon may be an oriented box, which :func:`read_yolo` decides for
    the whole dataset), of a pose line (``kpt_shape`` = ``(keypoints, values per keypoint)``
    given) ``{"keypoints": [x1, y1, (v1,) ...]}``, keypoint coordinates in absolute pixels,
    visibilities as read. Values up to :data:`CLIP_TOLERANCE` outside [0, 1] are clipped (counted
    in ``stats``); farther outside is a problem. ``predictions``: a detector's boxes may reach
    outside the image (values outside [0, 1] are kept as they are; they must still be finite,
    with positive width and height)."""
    file = str(path)
    out = []
    pose_n = 5 + kpt_shape[0] * kpt_shape[1] if kpt_shape is not None else None
    lo, hi = -CLIP_TOLERANCE, 1.0 + CLIP_TOLERANCE
    for lineno, line, tok in label_lines(path, found, missing_ok=True):
        n = len(tok)
        if confidence_second and n == 6:  # class confidence cx cy w h
            tok = [tok[0], *tok[2:], tok[1]]
        ok = n == pose_n if pose_n is not None else (n in (5, 6) or (n >= 7 and (n - 1) % 2 == 0))
        if not ok:
            found.append(Problem("wrong number of values", file=file, line=lineno, value=line.strip(),
                                 expected=_expected_count(kpt_shape)))
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
        clipped = False
        if predictions:
            if not all(math.isfinite(v) for v in vals):
                found.append(Problem("not a finite number", file=file, line=lineno, value=line.strip(),
                                     expected="finite numbers"))
                continue
        elif n == 5 and 0.0 <= min(vals) and max(vals) <= 1.0:
            pass  # the plain box line it nearly always is: nothing to check or clip value by value
        else:
            checked = range(len(vals))
            if pose_n is not None and kpt_shape[1] == 3:  # visibilities are flags, not coordinates
                checked = [i for i in checked if i < 4 or (i - 4) % 3 != 2]
            bad_i = next((i for i in checked if not (lo <= vals[i] <= hi)), None)  # also catches nan
            if bad_i is not None:
                fields = ("x_center", "y_center", "width", "height", "confidence") if n <= 6 else None
                found.append(Problem("value outside [0, 1]", file=file, line=lineno,
                                     field=fields[bad_i] if fields else f"value[{bad_i + 1}]", value=tok[bad_i + 1],
                                     expected="normalised values in [0, 1]",
                                     hint=f"values up to {CLIP_TOLERANCE:g} outside are clipped"))
                continue
            is_box = n <= 6 or pose_n is not None  # a box's own values are clipped at its edges below
            for i in checked:
                v = vals[i]
                if (v < 0.0 or v > 1.0) and not (is_box and i < 4):
                    vals[i] = 0.0 if v < 0.0 else 1.0
                    clipped = clipped or v < -OUTSIDE_TOLERANCE or v > 1.0 + OUTSIDE_TOLERANCE
        extra = None
        score = None
        if n <= 6 or pose_n is not None:
            cx, cy, w, h = vals[:4]
            score = vals[4] if n == 6 and pose_n is None else None
            if w <= 0 or h <= 0:
                found.append(Problem("box has zero area", file=file, line=lineno, field="width" if w <= 0 else "height",
                                     value=line.strip(), expected="width > 0 and height > 0"))
                continue
            nx1, ny1, nx2, ny2 = cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0
            if predictions:
                out.append((cls, [nx1 * width, ny1 * height, nx2 * width, ny2 * height], score, None, lineno))
                continue
            if min(nx1, ny1) < lo or max(nx2, ny2) > hi:
                found.append(Problem("box is outside the image", file=file, line=lineno, value=line.strip(),
                                     expected="cx - w/2 >= 0, cx + w/2 <= 1 (and likewise for y)",
                                     hint=f"up to {CLIP_TOLERANCE:g} outside is clipped"))
                continue
            # a border a hair outside (the file's rounding) or up to 1% outside: clipped to the image
            if box_problem(nx1, ny1, nx2, ny2, 1.0, 1.0) == "outside":
                clipped = True
            box = [max(nx1, 0.0) * width, max(ny1, 0.0) * height, min(nx2, 1.0) * width, min(ny2, 1.0) * height]
            if box[2] <= box[0] or box[3] <= box[1]:
                found.append(Problem("box is outside the image", file=file, line=lineno, value=line.strip(),
                                     expected="a box overlapping the image"))
                continue
            if pose_n is not None:
                k, d = kpt_shape
                kp = vals[4:]
                extra = {"keypoints": [v * (width if j % d == 0 else height) if j % d < 2 else v
                                       for j, v in enumerate(kp)]}
        else:
            xs, ys = vals[0::2], vals[1::2]
            if max(xs) == min(xs) or max(ys) == min(ys):
                found.append(Problem("polygon has zero area", file=file, line=lineno, value=line.strip(),
                                     expected="points spanning a non-empty box"))
                continue
            box = [min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height]
            extra = {"segmentation": [[v * (width if i % 2 == 0 else height) for i, v in enumerate(vals)]]}
            if stats is not None:
                stats.point_counts[len(vals) // 2] += 1
        if stats is not None:
            stats.clipped += clipped
            if not out:  # a file's precision, from its first line (one tool wrote the file)
                d = _decimals(tok[1:5])
                if d > stats.decimals:
                    stats.decimals = d
        out.append((cls, box, score, extra, lineno))
    return out


def make_sample(image: str, width: int, height: int, rows: list[tuple], label_file: str, *,
                 split: str | None, ident: str, with_scores: bool):
    """A Sample of :func:`parse_labels` rows (``box_extra``: each row's extra, or ``{}``)."""
    import numpy as np

    from cvpipe.data import Sample

    box_extra = [dict(r[3]) if r[3] is not None else {} for r in rows]
    return Sample(
        image=image, width=width, height=height,
        boxes=np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 4),
        labels=np.array([r[0] for r in rows], dtype=np.int64),
        scores=np.array([r[2] for r in rows], dtype=np.float64) if with_scores else None,
        box_extra=box_extra, id=ident, split=split, origin=Origin(label_file),
        box_origins=[Origin(label_file, r[4], "box") for r in rows],
    )


def _kpt_shape(value, file: str, found: list[Problem]) -> tuple[int, int] | None:
    """``kpt_shape`` of a data.yaml: ``[keypoints, 2 or 3]``; a problem otherwise."""
    if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                            for v in value) and value[0] > 0 and value[1] in (2, 3)):
        return value[0], value[1]
    found.append(Problem("bad kpt_shape", file=file, field="kpt_shape", value=value,
                         expected="[number of keypoints, 2 or 3] (x y, or x y visibility)"))
    return None


def _as_obb(samples: list) -> int:
    """Turn the 4-point polygons of ``samples`` into oriented boxes (``box_extra["obb"]``, the 8
    corner coordinates in absolute pixels); returns how many."""
    n = 0
    for s in samples:
        for ex in s.box_extra:
            seg = ex.pop("segmentation", None)
            if seg is not None:
                ex["obb"] = list(seg[0])
                n += 1
    return n


def layout_items(path: Path, splits: list[str] | None, images_dir: Path | None, found: list[Problem],
                 notes: dict[str, int] | None = None, info: dict[str, Any] | None = None):
    """``(names, root, items)`` of the YOLO dataset at ``path`` (data.yaml, data.yml, the YAML
    file itself, darknet's obj.names or a split-folder export), or None with the problem
    appended to ``found``. ``names`` is None when nothing names the classes (the ids do:
    ``class_<id>``). ``info`` receives the data.yaml keys the reading needs (``task``,
    ``flip_idx``) and ``kpt``, the checked ``kpt_shape`` (or None); ``notes`` what was assumed."""
    info = {} if info is None else info
    yaml_file = None
    if path.is_file():
        yaml_file = path
    elif (path / "data.yaml").is_file() or (path / "data.yml").is_file():
        yaml_file = path / "data.yaml" if (path / "data.yaml").is_file() else path / "data.yml"
    if yaml_file is not None:
        got = ultralytics_items(yaml_file, splits, images_dir, found, notes, info)
    elif (path / "obj.names").is_file():
        got = darknet_items(path, splits, found)
    elif split_folder_splits(path):
        got = split_folder_items(path, splits, found)
    else:
        found.append(Problem("not a YOLO dataset", file=str(path),
                             expected="a folder with data.yaml (Ultralytics), obj.names (darknet) or "
                                      "train/images + train/labels (a split-folder export)"))
        return None
    info["kpt"] = None
    if "kpt_shape" in info:
        info["kpt"] = _kpt_shape(info["kpt_shape"], str(yaml_file), found)
        if info["kpt"] is None:
            return None
    return got


def read_items(items, ncls: int, root: Path, ds_root: Path, images_dir: Path | None, found: list[Problem], *,
               kpt_shape: tuple[int, int] | None = None, stats: "LabelStats | None" = None) -> list:
    """The samples of ``items`` (``(split, image path, label path)``, as the layout lists them):
    each image's size from its header, its label file parsed (an image in two splits is read
    once); problems appended to ``found``. Image paths are relative to ``root`` (absolute when
    outside it). Whether the labels carry confidences is decided over ``items`` (all of them or
    none)."""
    from cvpipe.formats.images import image_size

    stats = LabelStats() if stats is None else stats
    parsed = []
    done: dict[tuple[Path, Path], tuple] = {}
    for split, img, lab in items:
        if images_dir:
            rel = rel_in_split(img, ds_root, split)
            img = find_in(Path(images_dir), rel)
        if (img, lab) in done:
            parsed.append((split, img, lab, *done[(img, lab)]))
            continue
        try:
            w, h = image_size(img)
        except InputError:
            found.append(Problem("image file not found or unreadable", file=str(lab) if lab.is_file() else str(img),
                                 value=str(img), expected="an image whose header gives the size (YOLO labels are "
                                                         "normalised by it)", hint="point to the images with --images-dir"))
            continue
        rows = parse_labels(lab, w, h, ncls, found, kpt_shape=kpt_shape, stats=stats)
        done[(img, lab)] = (w, h, rows)
        parsed.append((split, img, lab, w, h, rows))
    with_scores = any(r[2] is not None for p in parsed for r in p[5])
    samples = []
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


def finish_samples(samples: list, info: dict[str, Any], stats: "LabelStats", notes: dict[str, int],
                   meta: dict[str, Any]) -> None:
    """What is decided over the samples read (in place): 4-point polygons become oriented boxes
    (``task: obb``, or every polygon has 4 points and it is not a pose dataset); notes and
    ``meta`` (coordinate precision, pose keys) filled in."""
    kpt = info.get("kpt")
    task = info.get("task")
    if task == "obb" or (task is None and kpt is None and stats.point_counts and set(stats.point_counts) == {4}):
        n_obb = _as_obb(samples)
        if n_obb:
            notes[NOTE_OBB] = notes.get(NOTE_OBB, 0) + n_obb
    if stats.clipped:
        notes[NOTE_CLIPPED] = stats.clipped
    if stats.decimals:
        # one unit of the last decimal: a box edge (cx - w/2) carries 0.75 of it
        meta["coordinate_precision"] = {"normalized": 10.0 ** -stats.decimals}
    if kpt is not None:
        meta["yolo"] = {"kpt_shape": list(kpt)}
        if isinstance(info.get("flip_idx"), list):
            meta["yolo"]["flip_idx"] = list(info["flip_idx"])
    if notes:
        meta["notes"] = notes


def unnamed_classes(samples: list) -> list[str]:
    """``class_0 .. class_<largest id>`` for a dataset whose classes nothing names."""
    top = max((int(s.labels.max()) for s in samples if len(s.labels)), default=-1)
    return [f"class_{i}" for i in range(top + 1)]


def read_yolo(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
              problems: list[Problem] | None = None) -> "Dataset":
    """Read a YOLO dataset (layouts and rules: see the module docstring).

    Args:
        path: the dataset folder (holding ``data.yaml``/``data.yml`` or ``obj.names``, or a
            Roboflow-style export's ``train/``, ``valid/``, ``test/`` folders) or the YAML file
            itself.
        images_dir: where the images are, overriding the layout.
        splits: the splits to read; None reads all.
        problems: collect problems here and skip what is bad; None raises one InputError
            listing every problem.

    What the reader assumed or changed is counted in ``Dataset.meta["notes"]`` (clipped values,
    oriented boxes, class names made up, paths resolved another way).
    """
    from cvpipe.data import Dataset
    from cvpipe.formats import raise_or_collect

    path = Path(path)
    found: list[Problem] = []
    notes: dict[str, int] = {}
    info: dict[str, Any] = {}
    got = layout_items(path, splits, images_dir, found, notes, info)
    samples = []
    names: list[str] = []
    root = Path(images_dir) if images_dir else path
    meta: dict[str, Any] = {"format": "yolo"}
    if got is not None:
        names, ds_root, items = got
        unnamed = names is None  # no names anywhere: ids name the classes (class_<id>)
        ncls = 1 << 62 if unnamed else len(names)
        root = Path(images_dir) if images_dir else ds_root
        stats = LabelStats()
        samples = read_items(items, ncls, root, ds_root, images_dir, found, kpt_shape=info.get("kpt"), stats=stats)
        if unnamed:
            names = unnamed_classes(samples)
            notes[NOTE_NAMES_FROM_IDS] = len(names)
        finish_samples(samples, info, stats, notes, meta)
    elif notes:
        meta["notes"] = notes
    raise_or_collect(found, problems)
    return Dataset(names, samples, root=root, meta=meta, origin=Origin(str(path)))
