"""The direct COCO -> YOLO converter (hook ``cvpipe_convert``): labels from one instances JSON
without building a Dataset (typed msgspec decoding that skips segmentations, vectorised checks),
for plainly valid input only; anything else declines, and the general path names the problems."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from ...formats.json import gc_paused
from .layout import json_files

__all__ = ["convert_coco_to_yolo"]


def _schema():
    """msgspec types for the fields a YOLO conversion needs; every other field (segmentation,
    area, ...) is skipped by the decoder without being built, which is where the time goes."""
    import msgspec

    Id = int | str
    image = msgspec.defstruct("Image", [("id", Id), ("file_name", str), ("width", int), ("height", int)])
    annotation = msgspec.defstruct("Annotation", [
        ("image_id", Id), ("category_id", Id), ("bbox", list[float]), ("iscrowd", int, 0),
        ("id", Id | None, None), ("attributes", dict[str, Any] | None, None)])
    category = msgspec.defstruct("Category", [("id", Id), ("name", str)])
    return msgspec.defstruct("Instances", [
        ("images", list[image]), ("categories", list[category]), ("annotations", list[annotation], [])])


def _plain_name(name: str) -> bool:
    """A relative ``/``-separated name that the general path keeps as it is (no ``\\``, ``:``,
    empty, ``.`` or ``..`` part), checked with string operations."""
    return "\\" not in name and ":" not in name and not any(p in ("", ".", "..") for p in name.split("/"))


def convert_coco_to_yolo(
    src: Path,
    dst: Path,
    *,
    classes: list[str] | None = None,
    keep_difficult: bool = False,
    keep_crowd: bool = False,
    images: Literal["copy", "link", "none"] = "none",
    splits: list[str] | None = None,
    images_dir: Path | None = None,
    decimals: int = 6,
) -> dict | None:
    """COCO -> YOLO labels for one instances JSON with ``images="none"``, without building a
    Dataset: a typed msgspec decode that skips segmentations, vectorised checks and
    normalisation, one formatting call per image. Writes byte for byte what
    ``write_yolo(order_categories(check_dataset(read_coco(src)), classes), dst, ...)`` writes
    and returns the same report.

    Returns None (nothing written) whenever the input is not plainly valid or the request is
    outside that case (images to place, several files, a split filter that does not match,
    classes the file lacks): the caller then takes the general path, which names every
    problem. ``convert`` uses it for ``--from coco --to yolo --images none``.
    """
    import numpy as np

    from ...data import Dataset
    from ...data.boxes import xywh_to_xyxy
    from ...data.categories import order_categories
    from ...data.checks import MAX_IMAGE_SIDE, box_masks, text_problem
    from ...formats.yolo_text import data_yaml_text, label_name, output_split, stand_in_notes
    from ...fsutil import atomic_dir

    if images != "none" or images_dir is not None or not 1 <= decimals <= 15:
        return None
    files = json_files(Path(src))
    if len(files) != 1 or (splits and files[0][1] not in splits):
        return None
    file, split = files[0]
    from ...formats.json import DUPLICATE_SCAN_LIMIT, decode

    try:
        import msgspec

        with gc_paused():
            raw = file.read_bytes() if file.is_file() else None  # never a FIFO
            if raw is None:
                return None
            if len(raw) <= DUPLICATE_SCAN_LIMIT:
                decode(raw)  # what the general path refuses (a repeated key) msgspec does not see
            data = msgspec.json.decode(raw, type=_schema())
    except Exception:  # malformed, unexpected types, msgspec missing: the general path says what
        return None
    imgs, anns, cats = data.images, data.annotations, data.categories
    if not imgs:
        return None

    # --- the checks read_coco and check_dataset make, all at once -------------------------------
    cat_ids = [c.id for c in cats]
    names = [c.name for c in cats]
    img_ids = [im.id for im in imgs]
    file_names = [im.file_name for im in imgs]
    if (len(set(cat_ids)) != len(cats) or len(set(names)) != len(cats) or "" in names or "" in cat_ids
            or len(set(img_ids)) != len(imgs) or "" in img_ids or len(set(file_names)) != len(imgs)
            or any(not f.strip() for f in file_names)):
        return None
    index = {iid: k for k, iid in enumerate(img_ids)}
    order_by_id = sorted(range(len(cats)), key=lambda k: (isinstance(cat_ids[k], str), cat_ids[k]))
    names = [names[k] for k in order_by_id]
    cat_ids = [cat_ids[k] for k in order_by_id]
    n = len(anns)
    img = [index.get(a.image_id, -1) for a in anns]
    label_of = {cid: k for k, cid in enumerate(cat_ids)}
    labels = [label_of.get(a.category_id, -1) for a in anns]
    ann_ids = [a.id for a in anns]
    distinct = set(ann_ids)
    distinct.discard(None)
    if (-1 in img or -1 in labels or not {a.iscrowd for a in anns} <= {0, 1} or "" in distinct
            or len(distinct) != n - ann_ids.count(None)):
        return None
    try:
        xywh = np.array([a.bbox for a in anns], dtype=np.float64).reshape(n, 4) if n else np.zeros((0, 4))
    except ValueError:  # a bbox without 4 numbers
        return None
    widths = np.array([im.width for im in imgs], dtype=np.int64)
    heights = np.array([im.height for im in imgs], dtype=np.int64)
    if (widths <= 0).any() or (heights <= 0).any() or (widths > MAX_IMAGE_SIDE).any() or (heights > MAX_IMAGE_SIDE).any():
        return None
    if any(text_problem(x) for x in names) or any(text_problem(x) for x in file_names):
        return None  # names a writer cannot write: the general path names them
    img_a = np.array(img, dtype=np.int64)
    lab_a = np.array(labels, dtype=np.int64)
    xyxy = xywh_to_xyxy(xywh)
    w, h = widths[img_a].astype(np.float64), heights[img_a].astype(np.float64)
    if box_masks(xyxy, lab_a, w, h, len(names))["bad"].any():
        return None

    # --- categories in the order the writer uses ---------------------------------------------
    target = order_categories(Dataset(names), classes).categories
    if classes is not None and not {names[k] for k in set(labels)} <= set(classes):
        return None
    remap = np.array([target.index(c) if c in target else -1 for c in names] + [-1], dtype=np.int64)
    lab_a = remap[lab_a] if n else lab_a

    # --- what is written ---------------------------------------------------------------------
    crowd = np.array([a.iscrowd == 1 for a in anns], dtype=bool).reshape(-1)
    difficult = np.array([bool(a.attributes.get("difficult")) if a.attributes is not None else False
                          for a in anns], dtype=bool).reshape(-1)
    skip_d = difficult & ~np.bool_(keep_difficult)
    skip_c = ~skip_d & crowd & ~np.bool_(keep_crowd)
    keep = ~(skip_d | skip_c)
    out_split = output_split(split, split is not None)
    if not all(_plain_name(f) for f in file_names):
        return None  # the general path names or normalises it (image_names, safe_relpath)
    labels_files = [label_name(f) for f in file_names]
    if len(set(labels_files)) != len(labels_files):
        return None
    # normalised cx, cy, w, h exactly as yolo_box_text computes them, for all boxes at once
    x1, y1, x2, y2 = xyxy.T
    rows = np.stack([lab_a.astype(np.float64), (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h,
                     (x2 - x1) / w, (y2 - y1) / h], axis=1)[keep]
    owner = img_a[keep]
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=len(imgs)).tolist()
    flat = rows[order].ravel().tolist()
    line = f"%d %.{decimals}f %.{decimals}f %.{decimals}f %.{decimals}f\n"
    dst = Path(dst).absolute()
    with atomic_dir(dst) as tmp:
        base = tmp / "labels" / out_split
        base.mkdir(parents=True)
        for parent in {lf.rpartition("/")[0] for lf in labels_files} - {""}:
            (base / parent).mkdir(parents=True, exist_ok=True)
        base_s = str(base) + "/"
        pos = 0
        # os.open/os.write: half the system calls of open() (no fstat/isatty), what the I/O-bound
        # part costs; "\n" line ends on every OS, as write_yolo writes them
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        for lf, k in zip(labels_files, counts):
            text = line * k % tuple(flat[pos:pos + 5 * k]) if k else ""
            pos += 5 * k
            data = text.encode("utf-8")
            fd = os.open(base_s + lf, flags, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        (tmp / "data.yaml").write_text(data_yaml_text(dst, [out_split], target), encoding="utf-8")
    report = {"images": len(imgs), "boxes": int(keep.sum()),
              "skipped": {"difficult": int(skip_d.sum()), "crowd": int(skip_c.sum())}, "files": len(imgs) + 1}
    notes = stand_in_notes([out_split], lambda split: len(imgs))  # data.yaml's train/val repeat it (as write_yolo)
    if notes:
        report["notes"] = notes
    return report
