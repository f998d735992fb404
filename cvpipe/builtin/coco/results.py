"""COCO detections: the results form (``[{image_id, category_id, bbox, score}]``) read against a
ground truth (:func:`read_coco_results`, :func:`read_coco_predictions` for ``cvpipe evaluate``)
and written (:func:`to_coco_results`)."""

from __future__ import annotations

import functools
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from ...data.origin import Origin
from ...errors import InputError, Problem
from ...formats.json import LineFinder, add_lines, decode_typed, load_json_bytes, read_json_bytes
from ...formats.lookup import file_head
from .reader import Places, hashable, is_num, read_coco, short
from .writer import category_entries, to_coco_dict

__all__ = ["read_coco_results", "read_coco_predictions", "to_coco_results"]


def _category_ids(reference) -> list[Any]:
    """The COCO category id of each of ``reference.categories`` (original ids when the
    reference came from COCO, else 1..N in category order, as :func:`to_coco_dict` writes)."""
    return [c["id"] for c in category_entries(reference)]


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
        if isinstance(im, dict) and hashable(im.get("id")) and isinstance(im.get("file_name"), str):
            fn = im["file_name"]
            i = by_name.get(fn, by_name.get(PurePosixPath(fn).name))
            if i is not None:
                img_map[im["id"]] = i
    cat_map: dict[Any, int] = {}
    names = {n: k for k, n in enumerate(reference.categories)}
    for c in data.get("categories") or []:
        if isinstance(c, dict) and hashable(c.get("id")) and c.get("name") in names:
            cat_map[c["id"]] = names[c["name"]]
    return ({**index, **img_map} if img_map else index), ({**label_of, **cat_map} if cat_map else label_of)


#: fields of a detection the results form models (typed decoding reads only these)
_RESULT_KEYS = ("image_id", "category_id", "bbox", "score")


@functools.lru_cache(maxsize=1)
def _result_type() -> Any:
    """``list[Detection]``: the msgspec type a plain results list decodes into (no dict per
    detection; any other shape, ``NaN``, a bool or float id makes msgspec refuse it and the
    item-by-item path name the problems)."""
    import msgspec

    class Detection(msgspec.Struct, gc=False):
        image_id: int | str
        category_id: int | str
        bbox: list[int | float]
        score: float

    return list[Detection]


class _Columns:
    """The kept detections of a results file, one entry per detection in file order: ``pos``
    (index in the file), ``img`` (reference sample index), ``label``, ``bbox`` (the file's
    ``[x, y, w, h]`` lists), ``score``; and the ones ignored for an unknown category."""

    def __init__(self) -> None:
        self.pos: list[int] = []
        self.img: list[int] = []
        self.label: list[int] = []
        self.bbox: list[list] = []
        self.score: list[float] = []
        self.ignored: list[tuple[int, Any]] = []  # (index in the file, category id)


def _unknown_image(fname: str, where: str, iid: Any) -> Problem:
    return Problem("unknown image id", file=fname, field=f"{where}.image_id", value=iid,
                   expected="the id of an image in the ground truth")


def _bad_bbox(fname: str, where: str, bbox: Any) -> Problem:
    return Problem("bad bbox", file=fname, field=f"{where}.bbox", value=bbox, expected="[x, y, width, height] as 4 numbers")


def _columns_typed(dets: list, index: dict, label_of: dict, fname: str, found: list[Problem]) -> _Columns:
    """:class:`_Columns` of a results list msgspec decoded (every field typed): ids looked up
    in bulk, the problems (unknown image ids, bboxes without 4 numbers) in file order."""
    import numpy as np

    n = len(dets)
    out = _Columns()
    minus = repeat(-1, n)
    img = np.fromiter(map(index.get, [d.image_id for d in dets], minus), np.int64, n)
    label = np.fromiter(map(label_of.get, [d.category_id for d in dets], repeat(-1, n)), np.int64, n)
    bbox = [d.bbox for d in dets]
    four = np.fromiter(map(len, bbox), np.int64, n) == 4
    known = label >= 0
    ok = (img >= 0) & known & four
    if not ok.all():
        for k in np.flatnonzero(~ok).tolist():
            if img[k] < 0:
                found.append(_unknown_image(fname, f"[{k}]", dets[k].image_id))
            if not four[k]:
                found.append(_bad_bbox(fname, f"[{k}]", dets[k].bbox))
            if not known[k] and img[k] >= 0 and four[k]:
                out.ignored.append((k, dets[k].category_id))
    keep = np.flatnonzero(ok)
    if len(keep) == n:
        out.bbox = bbox
        out.score = [d.score for d in dets]
    else:
        kl = keep.tolist()
        out.bbox = [bbox[k] for k in kl]
        out.score = [dets[k].score for k in kl]
    out.pos, out.img, out.label = keep, img[keep], label[keep]
    return out


def _columns_items(data: list, prefix: str, index: dict, label_of: dict, fname: str,
                   found: list[Problem]) -> _Columns:
    """:class:`_Columns` of a decoded results list, item by item (the general path: every
    problem named)."""
    out = _Columns()
    for k, d in enumerate(data):
        where = f"{prefix}[{k}]"
        if not isinstance(d, dict):
            found.append(Problem("not an object", file=fname, field=where, value=type(d).__name__,
                                 expected="{image_id, category_id, bbox, score}"))
            continue
        iid, cid, bbox, score = d.get("image_id"), d.get("category_id"), d.get("bbox"), d.get("score")
        ok = True
        img = index.get(iid, index.get(str(iid))) if hashable(iid) and iid is not None else None
        if img is None:
            found.append(_unknown_image(fname, where, iid))
            ok = False
        label = label_of.get(cid) if hashable(cid) else None
        if not hashable(cid):
            found.append(Problem("bad category id", file=fname, field=f"{where}.category_id", value=cid,
                                 expected="an integer or string id"))
            ok = False
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_num(v) for v in bbox)):
            found.append(_bad_bbox(fname, where, bbox))
            ok = False
        if not is_num(score):
            found.append(Problem("bad score", file=fname, field=f"{where}.score", value=score, expected="a number"))
            ok = False
        if ok and label is None:  # pycocotools evaluates the ground truth's categories only
            out.ignored.append((k, cid))
        elif ok:
            out.pos.append(k)
            out.img.append(img)
            out.label.append(label)
            out.bbox.append(bbox)
            out.score.append(float(score))
    return out


def read_coco_results(path: Path, reference, *, problems: list[Problem] | None = None):
    """Read COCO detections (``[{image_id, category_id, bbox: [x, y, w, h], score}, ...]``)
    against the ground truth ``reference``.

    Image ids are matched to ``reference`` samples' ids (``Sample.id``; string and integer
    forms of one id match: ``"2299"`` is image 2299), category ids to the reference's COCO category ids (original ids when
    it was read from COCO, else 1..N in category order). An instances-form file whose
    annotations carry scores is accepted too: its ``images`` and ``categories`` then map its ids
    to the reference's images by file name and categories by name. Returns a Dataset with the reference's
    categories and one sample per reference image (no detections -> empty), ``scores`` set.

    A detection whose category id the ground truth does not have is left out and counted, as
    pycocotools leaves it out of the evaluation: ``meta["ignored_detections"]`` is then
    ``{"count": n, "ids": {id: n, ...}, "problems": [the first 20 as Problems]}``.
    Unknown image ids, bad boxes and missing scores are problems (skipped when
    ``problems`` is given, else raised together).

    A plain results list is decoded by msgspec straight into typed records (the fast path);
    anything it refuses is read item by item, with the same result and every problem named.
    """
    from ...formats import raise_or_collect

    path = Path(path)
    fname = str(path)
    found: list[Problem] = []
    index: dict[Any, int] = {}
    for i, s in enumerate(reference.samples):
        if s.id is not None:
            index.setdefault(s.id, i)
            index.setdefault(str(s.id), i)
            if isinstance(s.id, str) and s.id.isdigit() and s.id.isascii() and str(int(s.id)) == s.id:
                index.setdefault(int(s.id), i)
    for i, s in enumerate(reference.samples):  # results named by file stem (cvpipe predict, Ultralytics):
        stem = Path(str(s.image)).stem          # "000001" or 1 for 000001.jpg; ids above take priority
        index.setdefault(stem, i)
        if stem.isascii() and stem.isdigit():
            index.setdefault(int(stem), i)
    label_of = {cid: k for k, cid in enumerate(_category_ids(reference))}
    label_of.update({str(cid): k for cid, k in list(label_of.items())})
    raw = read_json_bytes(path, found)
    typed = decode_typed(raw, _result_type(), keys=_RESULT_KEYS) if raw is not None else None
    if typed is not None:
        cols = _columns_typed(typed, index, label_of, fname, found)
    else:
        data = load_json_bytes(raw, path, found) if raw is not None else None
        prefix = ""
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
        cols = _columns_items(data or [], prefix, index, label_of, fname, found)
    dt = _detections(reference, cols, fname)
    if cols.ignored:
        dt.meta["ignored_detections"] = _ignored(cols.ignored, fname, reference)
    finder = LineFinder([fname])
    dt.locate = finder
    add_lines(found, 0, finder)
    raise_or_collect(found, problems)
    return dt


def _ignored(ignored: list[tuple[int, Any]], fname: str, reference) -> dict[str, Any]:
    """What ``meta["ignored_detections"]`` says of the detections left out for their category."""
    from collections import Counter

    expected = "one of the ground truth's category ids: " + short(_category_ids(reference))
    return {"count": len(ignored), "ids": dict(Counter(cid for _, cid in ignored)),
            "problems": [Problem("category id not in the ground truth", file=fname, field=f"[{k}].category_id",
                                 value=cid, expected=expected) for k, cid in ignored[:20]]}


def _detections(reference, cols: _Columns, fname: str):
    """The detections Dataset: one sample per reference image, its detections in file order
    (per-image slices of arrays built once for the whole file)."""
    from dataclasses import replace

    import numpy as np

    from ...data import Dataset
    from ...data.boxes import xywh_to_xyxy

    n = len(cols.bbox)
    img = np.asarray(cols.img, dtype=np.int64).reshape(-1)
    order = np.argsort(img, kind="stable")
    counts = np.bincount(img, minlength=len(reference.samples))
    ends = np.cumsum(counts)
    if n:
        flat = np.fromiter(chain.from_iterable(cols.bbox), np.float64, 4 * n).reshape(n, 4)[order]
    else:
        flat = np.zeros((0, 4))
    xyxy = xywh_to_xyxy(flat)  # COCO's border: x2 = x + w, y2 = y + h
    labels = np.asarray(cols.label, dtype=np.int64).reshape(-1)[order]
    scores = np.asarray(cols.score, dtype=np.float64).reshape(-1)[order]
    pos = np.asarray(cols.pos, dtype=np.int64).reshape(-1)[order]
    ol = order.tolist()
    extras = [{"bbox": cols.bbox[k]} for k in ol]
    origin = Origin(fname)
    origins = Places(fname, "", pos)
    samples = []
    for s, a1, c in zip(reference.samples, ends.tolist(), counts.tolist()):
        a0 = a1 - c
        samples.append(replace(s, boxes=xyxy[a0:a1], labels=labels[a0:a1], scores=scores[a0:a1],
                               box_extra=extras[a0:a1], difficult=None, truncated=None, iscrowd=None,
                               extra=dict(s.extra), origin=origin, box_origins=origins[a0:a1]))
    return Dataset(list(reference.categories), samples, root=reference.root, meta=dict(reference.meta),
                   origin=Origin(fname))


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
    head = file_head(path, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
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
