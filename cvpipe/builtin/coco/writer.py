"""Writing COCO: a dataset as instances dicts (:func:`to_coco_dict`) and as
``annotations/instances_<split>.json`` plus ``images/<split>/`` (:func:`write_coco`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from ...errors import InputError
from .layout import DEFAULT_SPLIT
from .reader import is_num

__all__ = ["to_coco_dict", "write_coco", "category_entries", "SOURCE_ID_KEY"]


def category_entries(dataset) -> list[dict]:
    """COCO category objects for ``dataset.categories`` (in order): original ids and fields
    where the dataset came from COCO, fresh ids (1.., after the largest known) otherwise."""
    known = {c["name"]: c for c in dataset.meta.get("coco", {}).get("categories", []) if isinstance(c, dict)}
    used_ids = {c["id"] for n, c in known.items() if n in set(dataset.categories)}
    next_id = max([i for i in used_ids if isinstance(i, int)], default=0) + 1
    out = []
    for name in dataset.categories:
        c = known.get(name)
        if c is not None:
            entry = dict(c)
        else:
            while next_id in used_ids:
                next_id += 1
            entry = {"id": next_id, "name": name, "supercategory": ""}
            used_ids.add(next_id)
        out.append(entry)
    return out


#: the image record's field that keeps a sample's own id when the written id is a fresh integer
SOURCE_ID_KEY = "source_id"


def _int_ids(values: list[Any]) -> tuple[list[int], bool]:
    """``(ids, renumbered)``: ``values`` when they are distinct integers, else 1..N in order
    (pycocotools and faster-coco-eval index images and annotations by integer ids)."""
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values) and len(set(values)) == len(values)
    return (list(values), False) if ok else (list(range(1, len(values) + 1)), True)


def _xywh_list(box, orig) -> list[float]:
    x1, y1, x2, y2 = box
    if (isinstance(orig, list) and len(orig) == 4 and all(is_num(v) for v in orig)
            and orig[0] == x1 and orig[1] == y1 and orig[0] + orig[2] == x2 and orig[1] + orig[3] == y2):
        return orig
    return [x1, y1, x2 - x1, y2 - y1]


def to_coco_dict(dataset, *, keep_difficult: bool = True, keep_crowd: bool = True,
                 file_names: list[str] | None = None, skipped: Counter | None = None) -> dict:
    """``dataset`` as one COCO instances dict (what pycocotools' ``COCO.dataset`` holds).

    Image ids are integers: the samples' ids when they are all distinct integers, else 1..N in
    sample order, each sample's own id (a VOC or YOLO file stem, a string COCO id) then kept in
    the record's ``source_id`` (and, for VOC and YOLO, in its file name); annotation ids
    likewise from ``box_extra["id"]``. Difficult boxes are left out unless
    ``keep_difficult`` (then marked ``attributes.difficult``), crowd boxes unless ``keep_crowd``;
    both are counted in ``skipped``. ``area`` is the original one when known, else ``w * h``.
    """
    from ...formats import image_names

    skipped = skipped if skipped is not None else Counter()
    coco_meta = dataset.meta.get("coco", {})
    image_keys = set(coco_meta.get("image_keys", ()))
    ann_keys = set(coco_meta.get("annotation_keys", ()))
    categories = category_entries(dataset)
    cat_ids = [c["id"] for c in categories]
    samples = dataset.samples
    names = file_names if file_names is not None else image_names(samples)
    img_ids, renumbered = _int_ids([s.id for s in samples])

    all_ann_ids = [ex.get("id") for s in samples for ex in s.box_extra]
    ann_ids_ok = not _int_ids(all_ann_ids)[1]
    images, annotations = [], []
    next_ann = 1
    for s, name, iid in zip(samples, names, img_ids):
        entry = {"id": iid, "file_name": name, "width": int(s.width), "height": int(s.height)}
        if renumbered and s.id is not None:
            entry[SOURCE_ID_KEY] = s.id
        for k, v in s.extra.items():
            if k in image_keys and k not in entry:
                entry[k] = v
        images.append(entry)
        boxes = s.boxes.tolist()
        for j in range(len(s)):
            if s.difficult[j] and not keep_difficult:
                skipped["difficult"] += 1
                continue
            if s.iscrowd[j] and not keep_crowd:
                skipped["crowd"] += 1
                continue
            ex = s.box_extra[j]
            bbox = _xywh_list(boxes[j], ex.get("bbox"))
            ann: dict[str, Any] = {
                "id": ex["id"] if ann_ids_ok else next_ann,
                "image_id": iid,
                "category_id": cat_ids[int(s.labels[j])],
                "bbox": bbox,
                "area": ex["area"] if is_num(ex.get("area")) else bbox[2] * bbox[3],
                "iscrowd": int(s.iscrowd[j]),
                "segmentation": ex["segmentation"] if "segmentation" in ex else [],
            }
            next_ann += 1
            for k, v in ex.items():
                if k in ann_keys and k not in ann and k != "bbox":
                    ann[k] = v
            flags = {f: True for f in ("difficult", "truncated") if getattr(s, f)[j]}
            if flags and (keep_difficult or "difficult" not in flags):
                attrs = dict(ann.get("attributes") or {})
                attrs.update(flags)
                ann["attributes"] = attrs
            if s.scores is not None:
                ann["score"] = float(s.scores[j])
            annotations.append(ann)
    out: dict[str, Any] = {}
    top = coco_meta.get("top", {})
    for k in ("info", "licenses"):
        if k in top:
            out[k] = top[k]
    out.update({"images": images, "annotations": annotations, "categories": categories})
    for k, v in top.items():
        if k not in out:
            out[k] = v
    return out


def write_coco(dataset, dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
               keep_difficult: bool = False, keep_crowd: bool = True, indent: int | None = None,
               progress: bool = False) -> dict:
    """Write ``dataset`` as ``dst/annotations/instances_<split>.json`` plus
    ``dst/images/<split>/<file_name>`` (``images``: copy, hard ``link`` (copy across devices) or
    ``none``). Samples without a split go to split ``default``. ``dst`` appears whole or not at
    all; ``progress`` shows a bar (stderr) while images are placed.

    Returns ``{"images", "boxes", "skipped": {reason: n}, "splits": {split: {...}}}``."""
    from ...formats import image_names
    from ...formats.images import place_image
    from ...fsutil import atomic_dir, safe_join, safe_relpath

    if images not in ("copy", "link", "none"):
        raise InputError("bad images mode", field="images", value=images, expected="copy, link or none")
    skipped: Counter = Counter()
    groups: dict[str, list] = {}
    for s in dataset.samples:
        groups.setdefault(s.split or DEFAULT_SPLIT, []).append(s)
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {}, "splits": {}}
    with atomic_dir(Path(dst)) as tmp:
        (tmp / "annotations").mkdir()
        for split, samples in groups.items():
            safe_relpath(split, field="split")
            names = image_names(samples)
            seen: dict[str, str] = {}
            safe = []
            for s, name in zip(samples, names):
                rel = safe_relpath(name, file=str(s.origin.file if s.origin is not None and s.origin.file
                                                  else dataset.image_path(s)), field="file_name")
                if rel in seen:
                    raise InputError("two images would get the same output name", file=str(dataset.image_path(s)),
                                     value=rel, expected="distinct image names per split",
                                     hint=f"also {seen[rel]}")
                seen[rel] = str(dataset.image_path(s))
                safe.append(rel)
            sub = dataset.subset(samples)
            coco = to_coco_dict(sub, keep_difficult=keep_difficult, keep_crowd=keep_crowd,
                                file_names=safe, skipped=skipped)
            text = json.dumps(coco, indent=indent, ensure_ascii=False,
                              separators=None if indent is not None else (",", ":"))
            (tmp / "annotations" / f"instances_{split}.json").write_text(text + "\n", encoding="utf-8")
            if images != "none":
                pairs = zip(samples, safe)
                if progress:
                    from tqdm import tqdm

                    pairs = tqdm(pairs, total=len(samples), desc=f"{images} images ({split})", unit="img",
                                 leave=False)
                for s, rel in pairs:
                    place_image(dataset.image_path(s), safe_join(tmp / "images" / split, rel), images)
            report["splits"][split] = {"images": len(samples), "boxes": len(coco["annotations"])}
            report["images"] += len(samples)
            report["boxes"] += len(coco["annotations"])
    report["skipped"] = dict(skipped)
    return report
