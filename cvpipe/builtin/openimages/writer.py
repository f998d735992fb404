"""Write a :class:`~cvpipe.data.Dataset` as Open Images boxes CSV files.

Written into ``dst`` (the layout of the package docstring): per split
``annotations/<split>-annotations-bbox.csv`` (Open Images' 13 columns, plus any extra columns
kept from an Open Images source), ``annotations/<split>-images-with-rotation.csv`` (every image,
so images without boxes survive), ``annotations/class-descriptions.csv`` (``MID,DisplayName``
for every category, no header, like the boxable descriptions download),
``annotations/bbox_labels_600_hierarchy.json`` (every class directly under Open Images' root,
for tools that want a hierarchy) and ``images/<split>/<ImageID><ext>``, where ``ImageID`` is the
image's name without its extension. Samples without a split go to ``train`` when no sample has
one, else to ``unassigned``.

MIDs: those read from Open Images (``Dataset.meta["openimages_mids"]``); a category without one
uses its name as its ``LabelName`` (the class descriptions map it to itself).
Coordinates: normalised, the shortest decimal that reads back to the same float. ``Confidence``
is the score for detections, else the value read (1 for boxes from other formats);
``IsTruncated``/``IsGroupOf`` come from the truncated/crowd flags, the other attributes from the
values read, else -1 (unknown). Difficult boxes are left out and counted unless
``keep_difficult`` (Open Images has no such flag).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cvpipe.errors import InputError
from cvpipe.formats.images import check_images_mode, place_image, split_groups, unique_names

from .layout import (ANNOTATIONS_DIR, BOX_COLUMNS, DESCRIPTIONS_FILE, HIERARCHY_FILE, IMAGE_COLUMNS, IMAGES_DIR,
                     ROOT_MID)

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["write_openimages", "norm_text"]


def norm_text(v: float) -> str:
    """A normalised coordinate, clamped to [0, 1], as the shortest decimal that reads back."""
    v = min(max(float(v), 0.0), 1.0)
    return "0" if v == 0.0 else "1" if v == 1.0 else repr(v)


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _flag(stored: Any, flag: bool) -> str:
    s = str(stored).strip() if stored is not None else ""
    if flag:
        return "1"
    return "0" if s in ("", "1") else s


def _image_id(rel: str) -> str:
    """The ImageID of the image named ``rel``: its name without the extension."""
    last = rel.rsplit("/", 1)[-1]
    return rel[: len(rel) - len(last)] + (last.rsplit(".", 1)[0] if "." in last[1:] else last)


def write_openimages(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
                     keep_difficult: bool = False) -> dict:
    """Write ``dataset`` into the folder ``dst`` (see the module docstring).

    Returns ``{"images", "boxes", "skipped": {"difficult": n}}``. ``dst`` appears whole or not
    at all; image names are confined to ``dst/images``.
    """
    from cvpipe.fsutil import atomic_dir, safe_join

    check_images_mode(images)
    known = dataset.meta.get("openimages_mids") if isinstance(dataset.meta.get("openimages_mids"), dict) else {}
    mids = [str(known.get(c) or c) for c in dataset.categories]
    if len(set(mids)) != len(mids):
        dup = sorted({m for m in mids if mids.count(m) > 1})
        raise InputError("two categories would get the same LabelName", field="categories", value=dup,
                         expected="distinct MIDs")
    plan = []
    for split, samples in split_groups(dataset.samples).items():
        for s, rel, image_id in unique_names(dataset, samples, key=_image_id, what="ImageID",
                                             expected="image names that differ by more than their extension"):
            plan.append((split, s, rel, image_id))
    extra_cols: list[str] = []
    for _, s, _, _ in plan:
        for bx in s.box_extra:
            for c in (bx.get("openimages") or {}):
                if c not in BOX_COLUMNS and c not in extra_cols:
                    extra_cols.append(str(c))
    header = list(BOX_COLUMNS) + extra_cols
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0}}
    box_rows: dict[str, list[list[str]]] = {split: [header] for split in dict.fromkeys(p[0] for p in plan)}
    image_rows: dict[str, list[list[str]]] = {split: [list(IMAGE_COLUMNS)] for split in box_rows}
    with atomic_dir(Path(dst)) as tmp:
        for split, s, rel, image_id in plan:
            image_rows[split].append([image_id, split] + [""] * (len(IMAGE_COLUMNS) - 3) + ["0"])
            for j in range(len(s)):
                if s.difficult[j] and not keep_difficult:
                    report["skipped"]["difficult"] += 1
                    continue
                oi = s.box_extra[j].get("openimages") if isinstance(s.box_extra[j].get("openimages"), dict) else {}
                x1, y1, x2, y2 = (float(v) for v in s.boxes[j])
                vals = {
                    "ImageID": image_id, "Source": str(oi.get("Source", "") or "cvpipe"),
                    "LabelName": mids[int(s.labels[j])],
                    "Confidence": repr(float(s.scores[j])) if s.scores is not None else str(oi.get("Confidence", "1")),
                    "XMin": norm_text(x1 / s.width), "XMax": norm_text(x2 / s.width),
                    "YMin": norm_text(y1 / s.height), "YMax": norm_text(y2 / s.height),
                    "IsOccluded": str(oi.get("IsOccluded", s.box_extra[j].get("occluded", -1))),
                    "IsTruncated": _flag(oi.get("IsTruncated"), bool(s.truncated[j])),
                    "IsGroupOf": _flag(oi.get("IsGroupOf"), bool(s.iscrowd[j])),
                    "IsDepiction": str(oi.get("IsDepiction", -1)), "IsInside": str(oi.get("IsInside", -1)),
                }
                box_rows[split].append([vals[c] if c in vals else str(oi.get(c, "")) for c in header])
                report["boxes"] += 1
            if images != "none":
                src = dataset.image_path(s)
                ext = Path(rel).suffix if Path(rel).suffix else src.suffix
                place_image(src, safe_join(tmp / IMAGES_DIR / split, image_id + ext), images)
            report["images"] += 1
        ann = tmp / ANNOTATIONS_DIR
        ann.mkdir()
        for split in box_rows:
            (ann / f"{split}-annotations-bbox.csv").write_text(_csv(box_rows[split]), encoding="utf-8")
            (ann / f"{split}-images-with-rotation.csv").write_text(_csv(image_rows[split]), encoding="utf-8")
        (ann / DESCRIPTIONS_FILE).write_text(_csv([[m, str(c)] for m, c in zip(mids, dataset.categories)]),
                                             encoding="utf-8")
        hierarchy = {"LabelName": ROOT_MID, "Subcategory": [{"LabelName": m} for m in mids]}
        (ann / HIERARCHY_FILE).write_text(json.dumps(hierarchy, indent=1) + "\n", encoding="utf-8")
    return report
