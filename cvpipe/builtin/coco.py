"""COCO: instances JSON (ground truth) and the results form (detections), read and written.

On disk (what the reader accepts and the writer produces)::

    DST/annotations/instances_<split>.json
    DST/images/<split>/<file_name>            # file_name may contain sub-folders

The reader also takes a single JSON file, or a folder holding ``instances_*.json`` directly.
Images are looked up under ``images/<split>/``, ``<split>/``, ``images/`` (beside the
``annotations`` folder) or the JSON file's folder, the first that holds them; ``images_dir``
overrides (the folder itself, or its ``<split>/`` sub-folder when that is where they are).

Boxes: COCO ``bbox`` is float ``[x, y, w, h]`` in pixels; cvpipe's xyxy is
``x1 = x, y1 = y, x2 = x + w, y2 = y + h`` (no pixel shift). The original ``bbox`` list is kept in
``box_extra["bbox"]`` and written back unchanged while the box still equals it, so COCO -> COCO
is exact to the last bit; other paths are exact to float precision.

Lossless round trips: categories keep their (arbitrary, non-contiguous) ids and supercategories
(``Dataset.meta["coco"]["categories"]``); every other image key (``license``, ``coco_url``, ...)
goes to ``Sample.extra`` and every other annotation key (``id``, ``area``, ``segmentation``,
``attributes``, ...) to ``box_extra``; ``info``, ``licenses`` and unknown top-level keys go to
``Dataset.meta["coco"]``. Category order in the Dataset is by category id (as pycocotools'
``getCatIds``).

Splits: ``instances_<split>.json`` is split ``<split>``; another file name gives no split, and
the writer puts samples without a split in ``instances_default.json``. COCO has no difficult
flag: difficult boxes are left out unless ``keep_difficult`` (then written with
``attributes.difficult: true``, which the reader reads back); crowd boxes are kept (``iscrowd``).

COCO -> YOLO: :func:`convert_coco_to_yolo` writes the same bytes as the general path without
building a Dataset (typed msgspec decoding that skips segmentations, vectorised checks); it
declines (returns None) on anything irregular, so the general path names the problems.

Problems name the file and the JSON path (``annotations[17].bbox``), plus the line of the
offending object when the file is pretty-printed (found by a scan run only when there is a
problem). Malformed JSON is reported with its line and column.

Detections: :func:`read_coco_results` reads the results form (``[{image_id, category_id, bbox,
score}]``) against a reference ground-truth dataset; :func:`to_coco_dict` and
:func:`to_coco_results` build the in-memory dicts pycocotools takes.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from .. import hookimpl
from ..data.origin import Origin
from ..errors import InputError, Problem
from ..formats.json import LineFinder, add_lines, gc_paused, load_json

__all__ = [
    "detect",
    "read_coco",
    "write_coco",
    "read_coco_results",
    "read_coco_predictions",
    "to_coco_dict",
    "to_coco_results",
    "convert_coco_to_yolo",
]

_INSTANCES = re.compile(r"^instances_(.+)\.json$")
#: image keys cvpipe models itself; every other image key goes to Sample.extra
_IMAGE_CORE = ("id", "file_name", "width", "height")
#: annotation keys cvpipe models itself; every other annotation key goes to box_extra
_ANN_CORE = ("image_id", "category_id", "iscrowd")
#: the split name used for a dataset without splits
DEFAULT_SPLIT = "default"


# ---------------------------------------------------------------------------------------------
# Where things are
# ---------------------------------------------------------------------------------------------


def _json_files(path: Path) -> list[tuple[Path, str | None]]:
    """``(json file, split)`` pairs for a COCO path (a file or a folder)."""
    path = Path(path)
    if path.is_file():
        m = _INSTANCES.match(path.name)
        return [(path, m.group(1) if m else None)]
    for folder in (path / "annotations", path):
        found = sorted(f for f in folder.glob("instances_*.json") if f.is_file()) if folder.is_dir() else []
        if found:
            return [(f, _INSTANCES.match(f.name).group(1)) for f in found]
    return []


def detect(path: Path) -> bool:
    """A ``.json`` file whose first bytes look like a COCO instances object, or a folder with
    ``annotations/instances_*.json`` (or ``instances_*.json``)."""
    path = Path(path)
    if path.is_dir():
        return bool(_json_files(path))
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    head = head.lstrip()
    return head.startswith(b"{") and any(k in head for k in (b'"images"', b'"annotations"', b'"categories"'))


def _dataset_base(json_file: Path) -> Path:
    parent = json_file.parent
    return parent.parent if parent.name == "annotations" else parent


def _image_candidates(json_file: Path, split: str | None) -> list[Path]:
    base = _dataset_base(json_file)
    out = []
    if split:
        out += [base / "images" / split, base / split]
    out += [base / "images", base]
    if json_file.parent != base:
        out.append(json_file.parent)
    return out


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_id(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


class _Parsed:
    """One instances file, checked: images, categories and annotations grouped per image."""

    def __init__(self, file: Path, split: str | None) -> None:
        self.file, self.split = file, split
        self.images: list[dict] = []
        self.image_fields: list[str] = []  # the JSON path of each kept image
        self.categories: list[dict] = []
        self.top: dict[str, Any] = {}
        # kept annotations, in file order: the dicts, their index in the file, their image's
        # index in ``images``, their category id and their bbox as an (N, 4) xywh array
        self.anns: list[dict] = []
        self.ann_pos: list[int] = []
        self.ann_image: list[int] = []
        self.ann_cat: list[Any] = []
        self.xywh = None


def _parse_instances(data: Any, file: Path, split: str | None, found: list[Problem]) -> _Parsed | None:
    fname = str(file)
    out = _Parsed(file, split)

    def bad(message: str, field: str, value: Any = None, expected: str | None = None, **kw: Any) -> None:
        extra = {} if value is None and "value" not in kw else {"value": value}
        found.append(Problem(message, file=fname, field=field, expected=expected, **extra, **kw))

    if not isinstance(data, dict):
        bad("not a COCO instances object", "(top level)", type(data).__name__,
            "a JSON object with images, annotations and categories")
        return None
    for key in ("images", "categories"):
        if key not in data:
            found.append(Problem(f"missing {key!r}", file=fname, field=key, expected="a list"))
    images = data.get("images", [])
    annotations = data.get("annotations", [])
    categories = data.get("categories", [])
    for key, value in (("images", images), ("annotations", annotations), ("categories", categories)):
        if not isinstance(value, list):
            bad("not a list", key, type(value).__name__, "a list")
            return None
    out.top = {k: v for k, v in data.items() if k not in ("images", "annotations", "categories")}

    # categories
    cat_ids: dict[Any, int] = {}
    names: dict[str, int] = {}
    for k, c in enumerate(categories):
        where = f"categories[{k}]"
        if not isinstance(c, dict):
            bad("not an object", where, type(c).__name__, "a category object")
            continue
        cid, name = c.get("id"), c.get("name")
        if not _is_id(cid):
            bad("bad category id", f"{where}.id", cid, "an integer")
            continue
        if not isinstance(name, str) or not name:
            bad("bad category name", f"{where}.name", name, "a non-empty string")
            continue
        if cid in cat_ids:
            bad("duplicate category id", f"{where}.id", cid, "unique category ids",
                hint=f"also categories[{cat_ids[cid]}]")
            continue
        if name in names:
            bad("duplicate category name", f"{where}.name", name, "unique category names",
                hint=f"also categories[{names[name]}]")
            continue
        cat_ids[cid], names[name] = k, k
        out.categories.append(c)

    # images
    index: dict[Any, int] = {}
    for k, im in enumerate(images):
        where = f"images[{k}]"
        if not isinstance(im, dict):
            bad("not an object", where, type(im).__name__, "an image object")
            continue
        iid, fn, w, h = im.get("id"), im.get("file_name"), im.get("width"), im.get("height")
        ok = True
        if not _is_id(iid):
            bad("bad image id", f"{where}.id", iid, "an integer")
            ok = False
        elif iid in index:
            bad("duplicate image id", f"{where}.id", iid, "unique image ids",
                hint=f"also {out.image_fields[index[iid]]}")
            ok = False
        if not isinstance(fn, str) or not fn.strip():
            bad("bad file_name", f"{where}.file_name", fn, "a non-empty relative path")
            ok = False
        for key, v in (("width", w), ("height", h)):
            if not _is_num(v) or v <= 0 or v != int(v):
                bad(f"bad image {key}", f"{where}.{key}", v, "a positive integer")
                ok = False
        if ok:
            index[iid] = len(out.images)
            out.images.append(im)
            out.image_fields.append(where)

    # annotations: a vectorised pass for well-formed files, the item-by-item pass (which names
    # every problem) only when the fast one meets anything irregular
    if not _fast_annotations(annotations, index, cat_ids, out):
        _slow_annotations(annotations, index, cat_ids, out, bad)
    return out


def _fast_annotations(annotations: list, index: dict, cat_ids: dict, out: _Parsed) -> bool:
    """Check and take every annotation at once; False (and nothing taken) at the first
    irregularity: a missing key, an unknown id, a malformed bbox, a bad iscrowd, repeated ids."""
    import numpy as np

    n = len(annotations)
    try:
        img = [index.get(a["image_id"]) for a in annotations]
        cats = [a["category_id"] for a in annotations]
        crowd = {a.get("iscrowd", 0) for a in annotations}
        ids = [a.get("id") for a in annotations]
        if None in img or not set(cats) <= cat_ids.keys() or len(set(ids)) != n:
            return False
        if not crowd <= {0, 1} or not {type(c) for c in crowd} <= {int}:
            return False
        bboxes = [a["bbox"] for a in annotations]
        if not {type(b) for b in bboxes} <= {list}:
            return False
        xywh = np.array(bboxes) if n else np.zeros((0, 4))
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    if xywh.shape != (n, 4) or xywh.dtype.kind not in "if":
        return False
    out.anns, out.ann_pos, out.ann_image, out.ann_cat = annotations, range(n), img, cats
    out.xywh = xywh.astype(np.float64, copy=False)
    return True


def _slow_annotations(annotations: list, index: dict, cat_ids: dict, out: _Parsed, bad) -> None:
    import numpy as np

    seen_ann: dict[Any, int] = {}
    bboxes = []
    for k, a in enumerate(annotations):
        where = f"annotations[{k}]"
        if not isinstance(a, dict):
            bad("not an object", where, type(a).__name__, "an annotation object")
            continue
        img = index.get(a.get("image_id"), -1) if _hashable(a.get("image_id")) else -1
        ok = True
        if img < 0:
            bad("unknown image id", f"{where}.image_id", a.get("image_id"), "the id of an entry in images")
            ok = False
        cid = a.get("category_id")
        if not _hashable(cid) or cid not in cat_ids:
            bad("unknown category id", f"{where}.category_id", cid,
                "one of the category ids: " + _short(sorted(cat_ids, key=str)))
            ok = False
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_num(v) for v in bbox)):
            bad("bad bbox", f"{where}.bbox", bbox, "[x, y, width, height] as 4 numbers")
            ok = False
        crowd = a.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, (float, bool)):
            bad("bad iscrowd", f"{where}.iscrowd", crowd, "0 or 1")
            ok = False
        aid = a.get("id")
        if aid is not None and _hashable(aid):
            if aid in seen_ann:
                bad("duplicate annotation id", f"{where}.id", aid, "unique annotation ids",
                    hint=f"also annotations[{seen_ann[aid]}]")
                ok = False
            else:
                seen_ann[aid] = k
        if ok:
            out.anns.append(a)
            out.ann_pos.append(k)
            out.ann_image.append(img)
            out.ann_cat.append(cid)
            bboxes.append(bbox)
    out.xywh = np.array(bboxes, dtype=np.float64).reshape(-1, 4)


def _hashable(v: Any) -> bool:
    return isinstance(v, (int, str, float, type(None))) and not isinstance(v, bool)


def _short(items: list, n: int = 12) -> str:
    text = ", ".join(str(i) for i in items[:n])
    return text + (", ..." if len(items) > n else "") if items else "(none)"


def read_coco(
    path: Path,
    *,
    images_dir: Path | None = None,
    splits: list[str] | None = None,
    problems: list[Problem] | None = None,
):
    """Read COCO instances at ``path`` (a JSON file or a folder, see the module docs).

    Returns a :class:`~cvpipe.data.Dataset` whose samples carry COCO ids (``Sample.id``), the
    split named by ``instances_<split>.json`` (None for other file names) and boxes in absolute
    xyxy. Problems (malformed JSON with its line, unknown image or category ids, bad bboxes,
    duplicate ids) are appended to ``problems`` and the bad items skipped, or, without
    ``problems``, raised together as one InputError.
    """
    with gc_paused():
        return _read_coco(Path(path), images_dir, splits, problems)


def _read_coco(path: Path, images_dir: Path | None, splits: list[str] | None, problems: list[Problem] | None):
    import numpy as np

    from ..data import Dataset, Sample
    from ..data.boxes import xywh_to_xyxy
    from ..formats import find_images_dir, raise_or_collect

    path = Path(path)
    found: list[Problem] = []
    files = _json_files(path)
    if not files:
        raise_or_collect([Problem("no COCO instances JSON found", file=str(path),
                                  expected="a JSON file, or a folder with annotations/instances_<split>.json")],
                         problems)
        return Dataset([])
    if splits:
        known = {s for _, s in files}
        missing = [s for s in splits if s not in known]
        for s in missing:
            found.append(Problem("split not found", file=str(path), value=s,
                                 expected="one of: " + ", ".join(sorted(x for x in known if x) or ["(none)"])))
        files = [(f, s) for f, s in files if s in splits]

    parsed: list[_Parsed] = []
    for file, split in files:
        data = load_json(file, found)
        if data is None:
            continue
        p = _parse_instances(data, file, split, found)
        if p is not None:
            parsed.append(p)

    # categories: union by name, ordered by id (first file that names them wins)
    cat_by_name: dict[str, dict] = {}
    for p in parsed:
        for c in p.categories:
            cat_by_name.setdefault(c["name"], c)
    cats = sorted(cat_by_name.values(), key=lambda c: (isinstance(c["id"], str), c["id"]))
    names = [c["name"] for c in cats]
    label_of = {n: i for i, n in enumerate(names)}

    # where the images are: one root if every split shares a folder, else the common base
    dirs: list[Path] = []
    for p in parsed:
        probe = p.images[0]["file_name"] if p.images else None
        if images_dir is not None:  # the folder itself, or its <split>/ sub-folder if that holds them
            cands = [Path(images_dir)] + ([Path(images_dir) / p.split] if p.split else [])
            d = find_images_dir(cands, probe) if probe and not (Path(images_dir) / probe).is_file() else None
            dirs.append(d if d is not None else Path(images_dir))
        else:
            d = find_images_dir(_image_candidates(p.file, p.split), probe)
            dirs.append(d if d is not None else _dataset_base(p.file))
    if len(set(dirs)) <= 1:
        root = dirs[0] if dirs else (Path(images_dir) if images_dir else None)
        prefixes = [""] * len(parsed)
    else:
        import os

        root = Path(os.path.commonpath([str(d.absolute()) for d in dirs]))
        prefixes = [d.absolute().relative_to(root).as_posix() + "/" for d in dirs]
        prefixes = ["" if x == "./" else x for x in prefixes]

    image_keys: dict[str, None] = {}
    ann_keys: set[str] = set()
    samples = []
    for p, prefix in zip(parsed, prefixes):
        fname = str(p.file)
        label_here = {c["id"]: label_of[c["name"]] for c in p.categories}
        # group annotations by image with one stable argsort; samples get slices (views)
        img_idx = np.asarray(p.ann_image, dtype=np.int64)
        order = np.argsort(img_idx, kind="stable")
        counts = np.bincount(img_idx, minlength=len(p.images))
        ends = np.cumsum(counts)
        bounds = zip((ends - counts).tolist(), ends.tolist())
        xyxy = xywh_to_xyxy(p.xywh[order])  # COCO's border: x2 = x + w, y2 = y + h
        labels_all = np.array([label_here[c] for c in p.ann_cat], dtype=np.int64).reshape(-1)[order]
        anns = [p.anns[i] for i in order.tolist()]
        crowd_all = np.array([a.get("iscrowd", 0) == 1 for a in anns], dtype=bool).reshape(-1)
        attrs = [a.get("attributes") for a in anns]
        difficult_all = np.array([type(x) is dict and bool(x.get("difficult")) for x in attrs], dtype=bool).reshape(-1)
        truncated_all = np.array([type(x) is dict and bool(x.get("truncated")) for x in attrs], dtype=bool).reshape(-1)
        # the annotation dicts become box_extra (the modelled keys move out); where each came
        # from is its origin (the line is left to the dataset's locate)
        pos = p.ann_pos
        origins = []
        for a, k in zip(anns, order.tolist()):
            for key in _ANN_CORE:
                a.pop(key, None)
            origins.append(Origin(fname, None, f"annotations[{pos[k]}]"))
        ann_keys.update(*anns)
        for im, field, (a0, a1) in zip(p.images, p.image_fields, bounds):
            extra = {k: v for k, v in im.items() if k not in _IMAGE_CORE}
            image_keys.update(dict.fromkeys(extra))
            extra["file_name"] = im["file_name"]
            samples.append(Sample(
                image=prefix + im["file_name"], width=int(im["width"]), height=int(im["height"]),
                boxes=xyxy[a0:a1], labels=labels_all[a0:a1], iscrowd=crowd_all[a0:a1],
                difficult=difficult_all[a0:a1], truncated=truncated_all[a0:a1],
                box_extra=anns[a0:a1], extra=extra, id=im["id"], split=p.split,
                origin=Origin(fname, None, field), box_origins=origins[a0:a1],
            ))
    meta: dict[str, Any] = {"coco": {
        "categories": cats,
        "image_keys": list(image_keys),
        "annotation_keys": list(ann_keys),
    }}
    if parsed:
        meta["coco"]["top"] = parsed[0].top
    finder = LineFinder([str(f) for f, _ in files])  # the line of images[k] / annotations[k]
    add_lines(found, 0, finder)
    raise_or_collect(found, problems)
    return Dataset(names, samples, root=root, meta=meta,
                   origin=Origin(str(parsed[0].file)) if len(parsed) == 1 else None, locate=finder)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _category_entries(dataset) -> list[dict]:
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


def _ids_or_sequential(values: list[Any]) -> list[Any]:
    ok = all(_is_id(v) for v in values) and len(set(values)) == len(values)
    return list(values) if ok else list(range(1, len(values) + 1))


def _xywh_list(box, orig) -> list[float]:
    x1, y1, x2, y2 = box
    if (isinstance(orig, list) and len(orig) == 4 and all(_is_num(v) for v in orig)
            and orig[0] == x1 and orig[1] == y1 and orig[0] + orig[2] == x2 and orig[1] + orig[3] == y2):
        return orig
    return [x1, y1, x2 - x1, y2 - y1]


def to_coco_dict(dataset, *, keep_difficult: bool = True, keep_crowd: bool = True,
                 file_names: list[str] | None = None, skipped: Counter | None = None) -> dict:
    """``dataset`` as one COCO instances dict (what pycocotools' ``COCO.dataset`` holds).

    Image ids are the samples' ids when they are all distinct integers/strings, else 1..N;
    annotation ids likewise from ``box_extra["id"]``. Difficult boxes are left out unless
    ``keep_difficult`` (then marked ``attributes.difficult``), crowd boxes unless ``keep_crowd``;
    both are counted in ``skipped``. ``area`` is the original one when known, else ``w * h``.
    """
    from ..formats import image_names

    skipped = skipped if skipped is not None else Counter()
    coco_meta = dataset.meta.get("coco", {})
    image_keys = set(coco_meta.get("image_keys", ()))
    ann_keys = set(coco_meta.get("annotation_keys", ()))
    categories = _category_entries(dataset)
    cat_ids = [c["id"] for c in categories]
    samples = dataset.samples
    names = file_names if file_names is not None else image_names(samples)
    img_ids = _ids_or_sequential([s.id for s in samples])

    all_ann_ids = [ex.get("id") for s in samples for ex in s.box_extra]
    ann_ids_ok = all(_is_id(v) for v in all_ann_ids) and len(set(all_ann_ids)) == len(all_ann_ids)
    images, annotations = [], []
    next_ann = 1
    for s, name, iid in zip(samples, names, img_ids):
        entry = {"id": iid, "file_name": name, "width": int(s.width), "height": int(s.height)}
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
                "area": ex["area"] if _is_num(ex.get("area")) else bbox[2] * bbox[3],
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


def write_coco(
    dataset,
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    keep_difficult: bool = False,
    keep_crowd: bool = True,
    indent: int | None = None,
    progress: bool = False,
) -> dict:
    """Write ``dataset`` as ``dst/annotations/instances_<split>.json`` plus
    ``dst/images/<split>/<file_name>`` (``images``: copy, hard ``link`` (copy across devices) or
    ``none``). Samples without a split go to split ``default``. ``dst`` appears whole or not at
    all; ``progress`` shows a bar (stderr) while images are placed.

    Returns ``{"images", "boxes", "skipped": {reason: n}, "splits": {split: {...}}}``."""
    from ..fsutil import atomic_dir, place_file, safe_join, safe_relpath
    from ..formats import image_names

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
                    src = dataset.image_path(s)
                    if not src.is_file():
                        raise InputError("image file not found", file=str(src), expected="an existing image file",
                                         hint="point to the images with --images-dir, or use --images none")
                    place_file(src, safe_join(tmp / "images" / split, rel), images)
            report["splits"][split] = {"images": len(samples), "boxes": len(coco["annotations"])}
            report["images"] += len(samples)
            report["boxes"] += len(coco["annotations"])
    report["skipped"] = dict(skipped)
    return report


# ---------------------------------------------------------------------------------------------
# Results (detections)
# ---------------------------------------------------------------------------------------------


def _category_ids(reference) -> list[Any]:
    """The COCO category id of each of ``reference.categories`` (original ids when the
    reference came from COCO, else 1..N in category order, as :func:`to_coco_dict` writes)."""
    return [c["id"] for c in _category_entries(reference)]


def _match_by_names(data: dict, reference, index: dict, label_of: dict) -> tuple[dict, dict]:
    """Image and category id maps for a detections file in instances form: its images matched
    to the reference's by file name (then base name), its categories by name; ids the file
    does not describe keep the plain id matching."""
    from pathlib import PurePosixPath

    by_name: dict[str, int] = {}
    for i, s in enumerate(reference.samples):
        for key in (s.extra.get("file_name"), s.image, PurePosixPath(str(s.image)).name):
            if isinstance(key, str):
                by_name.setdefault(key, i)
    img_map: dict[Any, int] = {}
    for im in data.get("images") or []:
        if isinstance(im, dict) and _hashable(im.get("id")) and isinstance(im.get("file_name"), str):
            fn = im["file_name"]
            i = by_name.get(fn, by_name.get(PurePosixPath(fn).name))
            if i is not None:
                img_map[im["id"]] = i
    cat_map: dict[Any, int] = {}
    names = {n: k for k, n in enumerate(reference.categories)}
    for c in data.get("categories") or []:
        if isinstance(c, dict) and _hashable(c.get("id")) and c.get("name") in names:
            cat_map[c["id"]] = names[c["name"]]
    return ({**index, **img_map} if img_map else index), ({**label_of, **cat_map} if cat_map else label_of)


def read_coco_results(path: Path, reference, *, problems: list[Problem] | None = None):
    """Read COCO detections (``[{image_id, category_id, bbox: [x, y, w, h], score}, ...]``)
    against the ground truth ``reference``.

    Image ids are matched to ``reference`` samples' ids (``Sample.id``; string and integer
    forms of one id match), category ids to the reference's COCO category ids (original ids when
    it was read from COCO, else 1..N in category order). An instances-form file whose
    annotations carry scores is accepted too: its ``images`` and ``categories`` then map its ids
    to the reference's images by file name and categories by name. Returns a Dataset with the reference's
    categories and one sample per reference image (no detections -> empty), ``scores`` set.
    Unknown image or category ids, bad boxes and missing scores are problems (skipped when
    ``problems`` is given, else raised together).
    """
    import numpy as np

    from ..data import Dataset
    from ..data.boxes import xywh_to_xyxy
    from ..formats import raise_or_collect
    from dataclasses import replace

    path = Path(path)
    fname = str(path)
    found: list[Problem] = []
    data = load_json(path, found)
    prefix = ""
    index: dict[Any, int] = {}
    for i, s in enumerate(reference.samples):
        if s.id is not None:
            index.setdefault(s.id, i)
            index.setdefault(str(s.id), i)
    label_of = {cid: k for k, cid in enumerate(_category_ids(reference))}
    label_of.update({str(cid): k for cid, k in list(label_of.items())})
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        # an instances file whose annotations carry scores: its own images and categories say
        # which ground-truth image (by file name) and category (by name) each id means
        prefix = "annotations"
        index, label_of = _match_by_names(data, reference, index, label_of)
        data = data["annotations"]
    elif data is not None and not isinstance(data, list):
        found.append(Problem("not a COCO results list", file=fname, field="(top level)", value=type(data).__name__,
                             expected="a JSON list of {image_id, category_id, bbox, score}"))
        data = None
    per_image: list[list[tuple[list, int, float, int]]] = [[] for _ in reference.samples]
    for k, d in enumerate(data or []):
        where = f"{prefix}[{k}]"
        if not isinstance(d, dict):
            found.append(Problem("not an object", file=fname, field=where, value=type(d).__name__,
                                 expected="{image_id, category_id, bbox, score}"))
            continue
        iid, cid, bbox, score = d.get("image_id"), d.get("category_id"), d.get("bbox"), d.get("score")
        ok = True
        img = index.get(iid, index.get(str(iid))) if _hashable(iid) and iid is not None else None
        if img is None:
            found.append(Problem("unknown image id", file=fname, field=f"{where}.image_id", value=iid,
                                 expected="the id of an image in the ground truth"))
            ok = False
        label = label_of.get(cid) if _hashable(cid) else None
        if label is None:
            found.append(Problem("unknown category id", file=fname, field=f"{where}.category_id", value=cid,
                                 expected="one of the ground truth's category ids: " + _short(list(label_of)[: len(reference.categories)])))
            ok = False
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_num(v) for v in bbox)):
            found.append(Problem("bad bbox", file=fname, field=f"{where}.bbox", value=bbox,
                                 expected="[x, y, width, height] as 4 numbers"))
            ok = False
        if not _is_num(score):
            found.append(Problem("bad score", file=fname, field=f"{where}.score", value=score, expected="a number"))
            ok = False
        if ok:
            per_image[img].append((bbox, label, float(score), k))
    samples = []
    for s, dets in zip(reference.samples, per_image):
        if dets:
            boxes = xywh_to_xyxy([d[0] for d in dets])
            labels = np.array([d[1] for d in dets], dtype=np.int64)
            scores = np.array([d[2] for d in dets], dtype=np.float64)
            box_extra = [{"bbox": d[0]} for d in dets]
            box_origins = [Origin(fname, None, f"[{d[3]}]") for d in dets]
        else:
            boxes, labels, scores, box_extra = np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0), []
            box_origins = []
        samples.append(replace(s, boxes=boxes, labels=labels, scores=scores, box_extra=box_extra,
                               difficult=None, truncated=None, iscrowd=None, extra=dict(s.extra),
                               origin=Origin(fname), box_origins=box_origins))
    finder = LineFinder([fname])
    add_lines(found, 0, finder)
    raise_or_collect(found, problems)
    return Dataset(list(reference.categories), samples, root=reference.root, meta=dict(reference.meta),
                   origin=Origin(fname), locate=finder)


def read_coco_predictions(path: Path, reference, *, problems: list[Problem] | None = None):
    """COCO detections for ``cvpipe evaluate`` (the format's ``read_predictions``): a results
    list (:func:`read_coco_results`, matched to ``reference``), or an instances file whose
    annotations carry a ``score`` (read as a dataset, the scores moved into ``Sample.scores``)."""
    path = Path(path)
    if path.is_file() and _json_kind(path) == "object":
        return _scores_from_extra(read_coco(path, problems=problems), path)
    return read_coco_results(path, reference, problems=problems)


def _json_kind(path: Path) -> str | None:
    """``"list"`` or ``"object"``: what the JSON file at ``path`` holds at the top level, from its
    first non-blank byte (None when unreadable; the reader then reports the problem). Reading
    only the start keeps a 500,000-detection file from being parsed twice."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    return {b"[": "list", b"{": "object"}.get(head[:1])


def _scores_from_extra(dt, path: Path):
    """Move ``box_extra["score"]`` (COCO annotations with scores) into ``Sample.scores``."""
    import numpy as np

    missing = []
    for s in dt.samples:
        vals = [e.get("score") for e in s.box_extra]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in vals):
            missing.append(s.image)
            continue
        s.scores = np.asarray(vals, dtype=np.float64).reshape(-1)
    if missing:
        raise InputError("annotations without a score", file=str(path), value=", ".join(missing[:5]),
                         expected="a numeric 'score' on every annotation of a detections file")
    return dt


def to_coco_results(detections) -> list[dict]:
    """Detections (a Dataset with ``scores``) as the COCO results list, with image ids and
    category ids as :func:`to_coco_dict` assigns them for the same dataset."""
    coco = to_coco_dict(detections.subset(detections.samples), keep_difficult=True)
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": a.get("score", 1.0)} for a in coco["annotations"]]


# ---------------------------------------------------------------------------------------------
# COCO -> YOLO fast path
# ---------------------------------------------------------------------------------------------


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

    from ..data import Dataset
    from ..data.boxes import xywh_to_xyxy
    from ..data.categories import order_categories
    from ..data.checks import box_masks
    from ..formats.yolo_text import data_yaml_text, label_name, output_split
    from ..fsutil import atomic_dir

    if images != "none" or images_dir is not None or not 1 <= decimals <= 15:
        return None
    files = _json_files(Path(src))
    if len(files) != 1 or (splits and files[0][1] not in splits):
        return None
    file, split = files[0]
    try:
        import msgspec

        with gc_paused():
            data = msgspec.json.decode(file.read_bytes(), type=_schema())
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
    if (widths <= 0).any() or (heights <= 0).any():
        return None
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
    return {"images": len(imgs), "boxes": int(keep.sum()),
            "skipped": {"difficult": int(skip_d.sum()), "crowd": int(skip_c.sum())}, "files": len(imgs) + 1}


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


@hookimpl
def cvpipe_register_formats(register):
    register("coco", reader=read_coco, writer=write_coco, detect=detect, read_predictions=read_coco_predictions,
             description="COCO instances JSON (annotations/instances_<split>.json, images/<split>/)")


#: the options of hook ``cvpipe_convert`` the COCO -> YOLO converter takes (others: decline)
_DIRECT_OPTIONS = {"classes", "classes_file", "keep_difficult", "images", "splits", "images_dir", "skip_invalid",
                   "progress"}


@hookimpl
def cvpipe_convert(src, dst, src_format, dst_format, options):
    """COCO -> YOLO without building a Dataset (None for other pairs, or to decline). The
    converter runs on plainly valid input only, so ``skip_invalid`` changes nothing."""
    if (src_format, dst_format) != ("coco", "yolo"):
        return None
    if any(k not in _DIRECT_OPTIONS and v not in (None, False) for k, v in options.items()):
        return None
    from ..formats import conversion_report

    written = convert_coco_to_yolo(Path(src), Path(dst), classes=options.get("classes"),
                                   keep_difficult=bool(options.get("keep_difficult")),
                                   images=options.get("images", "copy"), splits=options.get("splits"),
                                   images_dir=options.get("images_dir"))
    return None if written is None else conversion_report(written, Counter(), 0)
