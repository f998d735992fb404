"""Reading COCO instances JSON into a Dataset (:func:`read_coco`): every problem named with its
file and JSON path (and line, found lazily), the bad items skipped when asked."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from ...data.origin import Origin
from ...errors import Problem
from ...formats.json import LineFinder, add_lines, gc_paused, load_json
from .layout import dataset_base, image_candidates, json_files

__all__ = ["read_coco", "Places", "is_num", "is_id", "other_id_form", "hashable", "short"]

#: image keys cvpipe models itself (``file_name`` is kept in Sample.extra too); every other
#: image key goes to Sample.extra
_IMAGE_CORE = ("id", "file_name", "width", "height")
#: annotation keys cvpipe models itself; every other annotation key goes to box_extra
_ANN_CORE = ("image_id", "category_id", "iscrowd")


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_id(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


def other_id_form(v: int | str) -> int | str | None:
    """The other spelling of a COCO id (``"2299"`` for 2299, 2299 for ``"2299"``; None for a
    string that is not an integer written plainly, such as ``"02299"`` or ``"a1"``). cvpipe
    matches both spellings alike, in ground truth and detections: some exporters write image
    ids as strings in one place and as numbers in another."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if v.isascii() and v.isdigit() and str(int(v)) == v:
        return int(v)
    return None


class Places(Sequence):
    """The :class:`Origin` of each box of a sample (``file``, field ``<name>[k]`` with ``k`` the
    box's index in the file's list ``name``: ``annotations[17]``, or ``[17]`` for a results
    list), made when asked: 800,000 boxes need no 800,000 objects for the few problems that
    name one. Slices are Places too."""

    __slots__ = ("file", "name", "pos")

    def __init__(self, file: str, name: str, pos: Any) -> None:
        self.file, self.name, self.pos = file, name, pos

    def __len__(self) -> int:
        return len(self.pos)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return Places(self.file, self.name, self.pos[i])
        return Origin(self.file, None, f"{self.name}[{int(self.pos[i])}]")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


class _Parsed:
    """One instances file, checked: images, categories and annotations grouped per image."""

    def __init__(self, file: Path, split: str | None) -> None:
        self.file, self.split = file, split
        self.images: list[dict] = []
        self.image_fields: list[str] = []  # the JSON path of each kept image
        self.sizeless: list[int] = []  # kept images without width/height (sizes from headers)
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
        if not is_id(cid):
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

    # images: a vectorised pass for well-formed lists, item by item (naming every problem) else
    index = _fast_images(images, out)
    if index is None:
        index = _slow_images(images, out, bad)

    # annotations: a vectorised pass for well-formed files, the item-by-item pass (which names
    # every problem) only when the fast one meets anything irregular
    if not _fast_annotations(annotations, index, cat_ids, out):
        _slow_annotations(annotations, index, cat_ids, out, bad)
    return out


def _fast_images(images: list, out: _Parsed) -> dict | None:
    """The id -> index map of ``images`` (both spellings of each id, see
    :func:`other_id_form`) with every image taken into ``out``, or None (nothing taken) at the
    first irregularity: not a dict, an id that is not a distinct integer, a file name that is
    not a non-blank string, a width or height that is not a positive integer."""
    from operator import itemgetter

    n = len(images)
    try:
        if not set(map(type, images)) <= {dict}:
            return None
        ids = list(map(itemgetter("id"), images))
        if not set(map(type, ids)) <= {int} or len(set(ids)) != n:
            return None
        names = list(map(itemgetter("file_name"), images))
        if not set(map(type, names)) <= {str} or not all(map(str.strip, names)):
            return None
        sizes = list(map(itemgetter("width"), images)) + list(map(itemgetter("height"), images))
        if not set(map(type, sizes)) <= {int} or (sizes and min(sizes) <= 0):
            return None
    except KeyError:
        return None
    out.images = images
    out.image_fields = [f"images[{k}]" for k in range(n)]
    index = dict(zip(map(str, ids), range(n)))  # "2299" for image 2299
    index.update(zip(ids, range(n)))
    return index


def _slow_images(images: list, out: _Parsed, bad) -> dict:
    """:func:`_fast_images` item by item, every problem named (and its image left out)."""
    index: dict[Any, int] = {}
    alias: dict[Any, int] = {}  # the other form of each id: 2299 for "2299", "2299" for 2299
    for k, im in enumerate(images):
        where = f"images[{k}]"
        if not isinstance(im, dict):
            bad("not an object", where, type(im).__name__, "an image object")
            continue
        iid, fn, w, h = im.get("id"), im.get("file_name"), im.get("width"), im.get("height")
        ok = True
        alt = other_id_form(iid) if is_id(iid) else None
        if not is_id(iid):
            bad("bad image id", f"{where}.id", iid, "an integer")
            ok = False
        elif iid in index:
            bad("duplicate image id", f"{where}.id", iid, "unique image ids",
                hint=f"also {out.image_fields[index[iid]]}")
            ok = False
        elif alt in index:
            bad("image ids that differ only in type", f"{where}.id", iid,
                f"one image per id: cvpipe reads {alt!r} and {iid!r} as the same image id (in the ground truth "
                "and in detections alike), so two images cannot have them",
                hint=f"also {out.image_fields[index[alt]]}")
            ok = False
        if not isinstance(fn, str) or not fn.strip():
            bad("bad file_name", f"{where}.file_name", fn, "a non-empty relative path")
            ok = False
        sized = True
        for key, v in (("width", w), ("height", h)):
            if v is None:  # absent (or null): read from the image's header, as VOC and YOLO do
                sized = False
            elif not is_num(v) or (isinstance(v, float) and not math.isfinite(v)) or v <= 0 or v != int(v):
                bad(f"bad image {key}", f"{where}.{key}", v, "a positive integer")
                ok = False
        if ok:
            if not sized:
                out.sizeless.append(len(out.images))
            index[iid] = len(out.images)
            if alt is not None:
                alias[alt] = len(out.images)
            out.images.append(im)
            out.image_fields.append(where)
    return {**alias, **index} if alias else index


def _fast_annotations(annotations: list, index: dict, cat_ids: dict, out: _Parsed) -> bool:
    """Check and take every annotation at once; False (and nothing taken) at the first
    irregularity: a missing key, an unknown id, a malformed bbox, a bad iscrowd, repeated ids."""
    import numpy as np

    from operator import itemgetter

    n = len(annotations)
    try:
        if not set(map(type, annotations)) <= {dict}:
            return False
        img_ids = list(map(itemgetter("image_id"), annotations))
        cats = list(map(itemgetter("category_id"), annotations))
        # ids are integers or strings: true and 1.0 equal 1 as dict keys, so they are checked
        if not set(map(type, img_ids)) | set(map(type, cats)) <= {int, str}:
            return False
        img = list(map(index.get, img_ids))
        crowd = set(map(dict.get, annotations, repeat("iscrowd"), repeat(0)))
        ids = list(map(dict.get, annotations, repeat("id")))
        if None in img or not set(cats) <= cat_ids.keys() or len(set(ids)) != n:
            return False
        if not crowd <= {0, 1} or not set(map(type, crowd)) <= {int}:
            return False
        bboxes = list(map(itemgetter("bbox"), annotations))
        if not set(map(type, bboxes)) <= {list} or not set(map(len, bboxes)) <= {4}:
            return False
        if not set(map(type, chain.from_iterable(bboxes))) <= {int, float}:  # true would be 1
            return False
        xywh = np.fromiter(chain.from_iterable(bboxes), np.float64, 4 * n).reshape(n, 4)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return False
    out.anns, out.ann_pos, out.ann_image, out.ann_cat = annotations, range(n), img, cats
    out.xywh = xywh.astype(np.float64, copy=False)
    return True


def _header_sizes(p: _Parsed, root: Path | None, prefix: str, found: list[Problem]) -> dict[int, tuple]:
    """``{image index: (width, height)}`` read from the image file headers, for the images of
    ``p`` whose record has no ``width``/``height`` (as VOC and YOLO readers do); ``(None,
    None)`` and a Problem naming the record and the file looked for when the image is not
    readable either (that image and its annotations are then left out)."""
    from ...errors import InputError
    from ...formats.images import image_size

    sizes: dict[int, tuple] = {}
    per_image = None
    for j in p.sizeless:
        im = p.images[j]
        rel = prefix + im["file_name"]
        path = Path(rel) if root is None else Path(root) / rel
        try:
            sizes[j] = image_size(path)
        except InputError:
            if per_image is None:
                from collections import Counter

                per_image = Counter(p.ann_image)
            n = per_image[j]
            missing = [k for k in ("width", "height") if im.get(k) is None]
            found.append(Problem("image size unknown", file=str(p.file), field=p.image_fields[j], value=im["file_name"],
                                 expected=f"{' and '.join(missing)} in the image record, or a readable image at {path}",
                                 hint=f"the image and its {n} annotation(s) are left out" if n else None))
            sizes[j] = (None, None)
    return sizes


def _slow_annotations(annotations: list, index: dict, cat_ids: dict, out: _Parsed, bad) -> None:
    import numpy as np

    seen_ann: dict[Any, int] = {}
    bboxes = []
    for k, a in enumerate(annotations):
        where = f"annotations[{k}]"
        if not isinstance(a, dict):
            bad("not an object", where, type(a).__name__, "an annotation object")
            continue
        img = index.get(a.get("image_id"), -1) if is_id(a.get("image_id")) else -1
        ok = True
        if img < 0:
            bad("unknown image id", f"{where}.image_id", a.get("image_id"), "the id of an entry in images")
            ok = False
        cid = a.get("category_id")
        if not is_id(cid) or cid not in cat_ids:
            bad("unknown category id", f"{where}.category_id", cid,
                "one of the category ids: " + short(sorted(cat_ids, key=str)))
            ok = False
        bbox = a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_num(v) for v in bbox)):
            bad("bad bbox", f"{where}.bbox", bbox, "[x, y, width, height] as 4 numbers")
            ok = False
        crowd = a.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, (float, bool)):
            bad("bad iscrowd", f"{where}.iscrowd", crowd, "0 or 1")
            ok = False
        aid = a.get("id")
        if aid is not None and hashable(aid):
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


def hashable(v: Any) -> bool:
    return isinstance(v, (int, str, float, type(None))) and not isinstance(v, bool)


def short(items: list, n: int = 12) -> str:
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

    from ...data import Dataset, Sample
    from ...data.boxes import xywh_to_xyxy
    from ...formats import find_images_dir, raise_or_collect

    path = Path(path)
    found: list[Problem] = []
    files = json_files(path)
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
            d = find_images_dir(image_candidates(p.file, p.split), probe)
            dirs.append(d if d is not None else dataset_base(p.file))
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
        sizes = _header_sizes(p, root, prefix, found)
        label_here = {c["id"]: label_of[c["name"]] for c in p.categories}
        # group annotations by image with one stable argsort; samples get slices (views)
        img_idx = np.asarray(p.ann_image, dtype=np.int64)
        order = np.argsort(img_idx, kind="stable")
        counts = np.bincount(img_idx, minlength=len(p.images))
        ends = np.cumsum(counts)
        bounds = zip((ends - counts).tolist(), ends.tolist())
        xyxy = xywh_to_xyxy(p.xywh[order])  # COCO's border: x2 = x + w, y2 = y + h
        labels_all = np.array([label_here[c] for c in p.ann_cat], dtype=np.int64).reshape(-1)[order]
        anns = list(map(p.anns.__getitem__, order.tolist()))
        n_anns = len(anns)
        crowd_all = np.fromiter(map(dict.get, anns, repeat("iscrowd"), repeat(0)), np.int64, n_anns) == 1
        attrs = list(map(dict.get, anns, repeat("attributes")))
        if any(attrs):
            difficult_all = np.array([type(x) is dict and bool(x.get("difficult")) for x in attrs], dtype=bool).reshape(-1)
            truncated_all = np.array([type(x) is dict and bool(x.get("truncated")) for x in attrs], dtype=bool).reshape(-1)
        else:
            difficult_all = truncated_all = np.zeros(n_anns, dtype=bool)
        # the annotation dicts become box_extra (the modelled keys move out); where each came
        # from is its origin (the line is left to the dataset's locate)
        pos = np.asarray(p.ann_pos, dtype=np.int64).reshape(-1)[order]
        for key in _ANN_CORE:  # dict.pop mapped over the list: a C loop, no Python frame per box
            deque(map(dict.pop, anns, repeat(key), repeat(None)), maxlen=0)
        origins = Places(fname, "annotations", pos)
        ann_keys.update(*anns)
        for j, (im, field, (a0, a1)) in enumerate(zip(p.images, p.image_fields, bounds)):
            if sizes and j in sizes:
                w, h = sizes[j]
                if w is None:
                    continue  # its size is unknown: a problem named in _header_sizes
            else:
                w, h = im["width"], im["height"]
            # the image dict itself becomes Sample.extra (no copy of 118k dicts): the modelled
            # keys move out, file_name goes last, as a copy would hold them
            iid = im.pop("id")
            fn = im.pop("file_name")
            im.pop("width", None)
            im.pop("height", None)
            image_keys.update(dict.fromkeys(im))
            im["file_name"] = fn
            samples.append(Sample(
                image=prefix + fn, width=int(w), height=int(h),
                boxes=xyxy[a0:a1], labels=labels_all[a0:a1], iscrowd=crowd_all[a0:a1],
                difficult=difficult_all[a0:a1], truncated=truncated_all[a0:a1],
                box_extra=anns[a0:a1], extra=im, id=iid, split=p.split,
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
