"""Read KITTI 2D object labels into a :class:`~cvpipe.data.Dataset` (absolute pixel xyxy).

Each line of ``label_2/<stem>.txt``: ``type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry``
and, in result files, a 16th value ``score`` (-> ``Sample.scores``; then every line needs one).
``x1 y1 x2 y2`` is the 2D box in pixels (left, top, right, bottom: cvpipe's xyxy as it is).

* ``truncated`` (0..1) sets ``Sample.truncated`` when above 0; the value itself, ``occluded``
  (0 fully visible, 1 partly, 2 largely occluded, 3 unknown), ``alpha``, ``dimensions`` [h, w, l],
  ``location`` [x, y, z] and ``rotation_y`` are kept in ``box_extra["kitti"]`` for round trips.
* ``DontCare`` regions are kept as boxes of category ``DontCare`` flagged ``difficult`` (ignored
  by evaluation, left out of YOLO/COCO unless ``--keep-difficult``, and counted when left out);
  ``Dataset.meta["kitti_dontcare"]`` counts them.
* Image sizes come from the images' headers (``image_2/<stem>.<ext>``); an image in ``image_2/``
  without a label file is an image without objects. A split folder without ``label_2/`` (the
  benchmark's ``testing/``) has no labels and is not read.

Categories: KITTI's types in the development kit's order (:data:`~.layout.KITTI_CLASSES`), only
those present, then any other type sorted.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvpipe.errors import InputError, Problem
from cvpipe.formats.io import label_lines

from .layout import DONTCARE, IMAGES_DIR, KITTI_CLASSES, LABELS_DIR, split_folders

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_kitti", "parse_label_file"]

_FIELDS = ("type", "truncated", "occluded", "alpha", "x1", "y1", "x2", "y2", "h", "w", "l", "x", "y", "z",
           "rotation_y", "score")


def parse_label_file(path: Path, found: list[Problem]) -> list[dict[str, Any]]:
    """The valid lines of one label file as ``{"type", "box", "score", "kitti", "line"}``;
    problems (file, line, field) appended to ``found``."""
    file = str(path)
    out = []
    for lineno, line, tok in label_lines(path, found):
        if len(tok) not in (15, 16):
            found.append(Problem("wrong number of values", file=file, line=lineno, value=line.strip(),
                                 expected="15 (type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry) "
                                          "or 16 (plus score)"))
            continue
        vals = []
        for k, t in enumerate(tok[1:], 1):
            try:
                v = float(t)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                found.append(Problem("not a finite number", file=file, line=lineno, field=_FIELDS[k], value=t,
                                     expected="a number"))
                break
            vals.append(v)
        else:
            occ = vals[1]
            if occ != int(occ):
                found.append(Problem("occluded is not an integer", file=file, line=lineno, field="occluded",
                                     value=tok[2], expected="0, 1, 2 or 3 (-1 for DontCare)"))
                continue
            out.append({
                "type": tok[0], "box": vals[3:7], "score": vals[14] if len(vals) == 15 else None, "line": lineno,
                "kitti": {"truncated": vals[0], "occluded": int(occ), "alpha": vals[2], "dimensions": vals[7:10],
                          "location": vals[10:13], "rotation_y": vals[13]},
            })
    return out


def _images_of(folder: Path) -> dict[str, Path]:
    """Image files below ``folder`` by their path without extension (``sub/000001``)."""
    from cvpipe.formats.images import is_image

    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if not f.startswith(".") and is_image(p):
                out.setdefault(p.relative_to(folder).with_suffix("").as_posix(), p)
    return out


def read_kitti(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
               problems: list[Problem] | None = None) -> "Dataset":
    """Read a KITTI object dataset (rules: the module docstring).

    Args:
        path: a folder holding ``label_2/`` (and ``image_2/``), or one whose split folders do.
        images_dir: where the images are (looked up by the label file's stem, in
            ``images_dir/<split>/`` then ``images_dir/``).
        splits: the split folders to read; None reads all.
        problems: collect problems here and skip what is bad; None raises one InputError.
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect
    from cvpipe.formats.images import image_size

    path = Path(path)
    found: list[Problem] = []
    folders = split_folders(path)
    if not folders:
        found.append(Problem("not a KITTI dataset" if path.exists() else "no such file or directory", file=str(path),
                             expected=f"a folder holding {LABELS_DIR}/ (and {IMAGES_DIR}/), or split folders that do"))
    if splits:
        have = [s for s, _ in folders]
        for s in splits:
            if s not in have:
                found.append(Problem("split not found", file=str(path), field="splits", value=s,
                                     expected="one of: " + (", ".join(str(h) for h in have) or "(none)")))
        folders = [(s, f) for s, f in folders if s in splits]
    if images_dir is not None:
        root = Path(images_dir)
    else:  # the dataset folder (the split folder when path named its label_2/)
        root = folders[0][1] if len(folders) == 1 and folders[0][0] is None else path
    records = []  # (split, image path, label file, rows)
    for split, folder in folders:
        lab_dir = folder / LABELS_DIR
        if images_dir is not None:
            imgs = {}
            for cand in ([Path(images_dir) / split] if split else []) + [Path(images_dir)]:
                for k, v in _images_of(cand).items():
                    imgs.setdefault(k, v)
        else:
            imgs = _images_of(folder / IMAGES_DIR)
        labels: dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(lab_dir):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(".txt") and not f.startswith("."):
                    p = Path(dirpath) / f
                    labels[p.relative_to(lab_dir).with_suffix("").as_posix()] = p
        for key in sorted(set(labels) | set(imgs)):
            lab = labels.get(key)
            img = imgs.get(key)
            if img is None:
                found.append(Problem("image file not found", file=str(lab),
                                     value=str((folder / IMAGES_DIR / key).with_suffix(".png")),
                                     expected="the image (its header gives the size)",
                                     hint="point to the images with --images-dir"))
                continue
            rows = parse_label_file(lab, found) if lab is not None else []
            records.append((split, img, lab, rows))
    with_scores = any(r["score"] is not None for rec in records for r in rec[3])
    present = {r["type"] for rec in records for r in rec[3]}
    names = [c for c in KITTI_CLASSES if c in present] + sorted(present - set(KITTI_CLASSES))
    index = {n: i for i, n in enumerate(names)}
    samples = []
    dontcare = 0
    for split, img, lab, rows in records:
        if with_scores and any(r["score"] is None for r in rows):
            r = next(r for r in rows if r["score"] is None)
            found.append(Problem("score missing", file=str(lab), line=r["line"],
                                 expected="a 16th value (score) on every line of a results dataset"))
            rows = [r for r in rows if r["score"] is not None]
        try:
            w, h = image_size(img)
        except InputError as exc:
            found.extend(exc.problems)
            continue
        dc = [r["type"] == DONTCARE for r in rows]
        dontcare += sum(dc)
        try:
            rel = img.relative_to(root).as_posix()
        except ValueError:
            rel = str(img)
        samples.append(Sample(
            image=rel, width=w, height=h, boxes=np.array([r["box"] for r in rows], dtype=np.float64).reshape(-1, 4),
            labels=np.array([index[r["type"]] for r in rows], dtype=np.int64), difficult=dc,
            truncated=[r["kitti"]["truncated"] > 0 for r in rows],
            scores=np.array([r["score"] for r in rows], dtype=np.float64) if with_scores else None,
            box_extra=[{"kitti": r["kitti"]} for r in rows], id=img.stem, split=split))
    raise_or_collect(found, problems)
    meta: dict[str, Any] = {"format": "kitti"}
    if dontcare:
        meta["kitti_dontcare"] = dontcare
    return Dataset(names, samples, root=root, meta=meta)
