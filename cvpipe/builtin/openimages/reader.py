"""Read Open Images boxes CSV files into a :class:`~cvpipe.data.Dataset` (absolute pixel xyxy).

Read:

* boxes: each row of ``<split>-annotations-bbox.csv`` (columns found by the header, any order;
  ``ImageID``, ``LabelName``, ``XMin``, ``XMax``, ``YMin``, ``YMax`` required). Coordinates are
  normalised to [0, 1] in the order **XMin, XMax, YMin, YMax**; the box is
  ``[XMin * width, YMin * height, XMax * width, YMax * height]``. ``IsTruncated`` = 1 sets
  ``Sample.truncated``, ``IsGroupOf`` = 1 sets ``Sample.iscrowd`` (a group box, COCO's crowd);
  every other column (``Source``, ``Confidence``, ``IsOccluded``, ``IsDepiction``, ``IsInside``,
  ``XClick*``) is kept as text in ``box_extra["openimages"]`` for round trips (1 present, 0 not,
  -1 unknown).
* images: ``<ImageID>.jpg`` (or another image extension) in ``images/<split>/``, ``<split>/``,
  ``images/`` or the dataset folder (or ``images_dir``); sizes from their headers (the CSV has
  none), so an image that is not there is a problem. Images of an image list
  (``*-images-with-rotation.csv``) without boxes are images without boxes when their file is
  there; listed images that are absent are counted in ``Dataset.meta["openimages_absent"]``.
* categories: the class descriptions (``LabelName,DisplayName`` rows, MID -> name, with or
  without a header row) in file order, display names as category names (a name two MIDs share
  becomes ``name (MID)``); ``Dataset.meta["openimages_mids"]`` maps names back to MIDs. Without a
  descriptions file the MIDs used, sorted, are the names. A MID the descriptions lack is a
  problem.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvpipe.errors import InputError, Problem

from .layout import (IMAGES_DIR, annotation_folder, box_files, dataset_base, descriptions_file, image_list_files,
                     split_of)

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_openimages", "read_descriptions"]

_REQUIRED = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")
_COORDS = ("XMin", "XMax", "YMin", "YMax")
_HEADERS = ({"labelname", "displayname"}, {"id", "name"})
_FLAG_VALUES = ("-1", "0", "1")


def _rows(path: Path, found: list[Problem]) -> list[list[str]] | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        found.append(Problem("cannot read CSV file", file=str(path), value=str(exc), expected="a UTF-8 CSV file"))
        return None
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        found.append(Problem(f"malformed CSV: {exc}", file=str(path), expected="a CSV file"))
        return None


def read_descriptions(path: Path, found: list[Problem]) -> list[tuple[str, str]]:
    """``(MID, display name)`` rows of a class descriptions file (a header row skipped)."""
    rows = _rows(path, found) or []
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows, 1):
        if not row or not any(c.strip() for c in row):
            continue
        if lineno == 1 and {c.strip().lower() for c in row} in _HEADERS:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            found.append(Problem("wrong number of columns", file=str(path), line=lineno, value=",".join(row),
                                 expected="LabelName,DisplayName (a MID and a class name)"))
            continue
        mid = row[0].strip()
        if mid in seen:
            found.append(Problem("class listed twice", file=str(path), line=lineno, value=mid,
                                 expected="each MID once", hint=f"first on line {seen[mid]}"))
            continue
        seen[mid] = lineno
        out.append((mid, row[1].strip()))
    if not out and not found:
        found.append(Problem("no classes", file=str(path), expected="LabelName,DisplayName rows"))
    return out


def _find_image(folders: list[Path], image_id: str) -> Path | None:
    from cvpipe.formats.images import IMAGE_EXTENSIONS

    for folder in folders:
        for ext in IMAGE_EXTENSIONS:
            for e in (ext, ext.upper()):
                p = folder / (image_id + e)
                if p.is_file():
                    return p
    return None


def read_openimages(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
                    problems: list[Problem] | None = None) -> "Dataset":
    """Read an Open Images dataset (rules: the module docstring).

    Args:
        path: the dataset folder (boxes files in it or in ``annotations/``) or one boxes CSV.
        images_dir: where the images are (``images_dir/<split>/`` then ``images_dir/``).
        splits: the splits to read (``train``, ``validation``, ``test``); None reads all.
        problems: collect problems here and skip what is bad; None raises one InputError.
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect
    from cvpipe.formats.images import image_size

    path = Path(path)
    found: list[Problem] = []
    if path.is_file():
        ann, files, lists = path.parent, [path], []
    else:
        folder = annotation_folder(path) if path.is_dir() else None
        if folder is None:
            found.append(Problem("not an Open Images dataset" if path.exists() else "no such file or directory",
                                 file=str(path), expected="a folder with <split>-annotations-bbox.csv files (or "
                                                          "annotations/ holding them), or one such file"))
            raise_or_collect(found, problems)
            return Dataset([], meta={"format": "openimages"})
        ann, files, lists = folder, box_files(folder), image_list_files(folder)
    base = dataset_base(ann)
    desc = descriptions_file([ann, base])
    classes = read_descriptions(desc, found) if desc is not None else None
    if splits:
        files = [f for f in files if split_of(f.name) in splits or (split_of(f.name) is None and path.is_file())]

    def folders_of(split: str | None) -> list[Path]:
        roots = [Path(images_dir)] if images_dir is not None else [base / IMAGES_DIR, base]
        out = []
        for r in roots:
            if split:
                out.append(r / split)
            out.append(r)
        return out

    order: list[tuple[str | None, str]] = []  # (split, image id) in first-seen order
    boxes_of: dict[tuple[str | None, str], list] = {}
    where: dict[tuple[str | None, str], tuple[str, int]] = {}
    used_mids: dict[str, tuple[str, int]] = {}
    for f in files:
        split = split_of(f.name)
        rows = _rows(f, found)
        if not rows:
            if rows is not None:
                found.append(Problem("empty CSV file", file=str(f), expected="a header row: " + ",".join(_REQUIRED)))
            continue
        header = [c.strip() for c in rows[0]]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            found.append(Problem("boxes CSV header lacks columns", file=str(f), line=1, value=",".join(header)[:200],
                                 expected="columns " + ",".join(_REQUIRED) + " (missing: " + ",".join(missing) + ")"))
            continue
        col = {c: i for i, c in enumerate(header)}
        for lineno, row in enumerate(rows[1:], 2):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                found.append(Problem("wrong number of columns", file=str(f), line=lineno, value=len(row),
                                     expected=f"{len(header)} as in the header"))
                continue
            vals = {}
            for c in _COORDS:
                try:
                    v = float(row[col[c]])
                except ValueError:
                    v = math.nan
                if not (0.0 <= v <= 1.0):
                    found.append(Problem("value outside [0, 1]" if math.isfinite(v) else "not a number", file=str(f),
                                         line=lineno, field=c, value=row[col[c]], expected="a normalised coordinate in [0, 1]"))
                    break
                vals[c] = v
            else:
                if vals["XMin"] > vals["XMax"] or vals["YMin"] > vals["YMax"]:
                    found.append(Problem("box is inverted", file=str(f), line=lineno, field="XMin,XMax,YMin,YMax",
                                         value=tuple(row[col[c]] for c in _COORDS),
                                         expected="XMin <= XMax and YMin <= YMax (the order is XMin,XMax,YMin,YMax)"))
                    continue
                for c in ("IsTruncated", "IsGroupOf"):
                    if c in col and row[col[c]].strip() not in _FLAG_VALUES:
                        found.append(Problem("not a flag", file=str(f), line=lineno, field=c, value=row[col[c]],
                                             expected="1, 0 or -1 (unknown)"))
                        break
                else:
                    image_id, mid = row[col["ImageID"]].strip(), row[col["LabelName"]].strip()
                    key = (split, image_id)
                    if key not in boxes_of:
                        boxes_of[key] = []
                        order.append(key)
                        where[key] = (str(f), lineno)
                    used_mids.setdefault(mid, (str(f), lineno))
                    extra = {c: row[i] for c, i in col.items() if c not in _REQUIRED}
                    boxes_of[key].append((mid, vals, extra))
    absent = 0
    for lst in lists:
        lsplit = split_of(lst.name)
        rows = _rows(lst, found)
        if not rows:
            continue
        header = [c.strip() for c in rows[0]]
        if "ImageID" not in header:
            found.append(Problem("image list header lacks ImageID", file=str(lst), line=1,
                                 value=",".join(header)[:200], expected="ImageID,Subset,..."))
            continue
        ci, cs = header.index("ImageID"), header.index("Subset") if "Subset" in header else None
        for lineno, row in enumerate(rows[1:], 2):
            if len(row) <= ci or not row[ci].strip():
                continue
            split = lsplit or (row[cs].strip() if cs is not None and len(row) > cs and row[cs].strip() else None)
            if splits and split not in splits:
                continue
            key = (split, row[ci].strip())
            if key in boxes_of:
                continue
            if _find_image(folders_of(split), key[1]) is None:
                absent += 1
                continue
            boxes_of[key] = []
            order.append(key)
            where[key] = (str(lst), lineno)
    # categories
    if classes is not None:
        counts: dict[str, int] = {}
        for _, name in classes:
            counts[name] = counts.get(name, 0) + 1
        names = [name if counts[name] == 1 else f"{name} ({mid})" for mid, name in classes]
        mids = [mid for mid, _ in classes]
        known = set(mids)
        for mid, (file, line) in used_mids.items():
            if mid not in known:
                found.append(Problem("class not in the class descriptions", file=file, line=line, field="LabelName",
                                     value=mid, expected=f"a MID listed in {desc}"))
    else:
        mids = sorted(used_mids)
        names = list(mids)
    index = {m: i for i, m in enumerate(mids)}
    samples = []
    for key in order:
        split, image_id = key
        file, line = where[key]
        img = _find_image(folders_of(split), image_id)
        if img is None:
            found.append(Problem("image file not found", file=file, line=line, field="ImageID", value=image_id,
                                 expected=f"{image_id}.jpg in {folders_of(split)[0]} (its header gives the size)",
                                 hint="point to the images with --images-dir"))
            continue
        try:
            w, h = image_size(img)
        except InputError as exc:
            found.extend(exc.problems)
            continue
        rows = [r for r in boxes_of[key] if r[0] in index]
        # rounded to 1e-9 px: the float noise of normalised * size (0.202 * 500 is 101)
        b = [[round(v["XMin"] * w, 9), round(v["YMin"] * h, 9), round(v["XMax"] * w, 9), round(v["YMax"] * h, 9)]
             for _, v, _ in rows]
        root = Path(images_dir) if images_dir is not None else base
        try:
            rel = img.relative_to(root).as_posix()
        except ValueError:
            rel = str(img)
        samples.append(Sample(
            image=rel, width=w, height=h, boxes=np.array(b, dtype=np.float64).reshape(-1, 4),
            labels=np.array([index[m] for m, _, _ in rows], dtype=np.int64),
            truncated=[e.get("IsTruncated", "0").strip() == "1" for _, _, e in rows],
            iscrowd=[e.get("IsGroupOf", "0").strip() == "1" for _, _, e in rows],
            box_extra=[{"openimages": e} for _, _, e in rows], id=image_id, split=split))
    raise_or_collect(found, problems)
    meta: dict[str, Any] = {"format": "openimages", "openimages_mids": dict(zip(names, mids))}
    if absent:
        meta["openimages_absent"] = absent
    return Dataset(names, samples, root=Path(images_dir) if images_dir is not None else base, meta=meta)
