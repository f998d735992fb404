"""COCO detections: the results form (``[{image_id, category_id, bbox, score}]``) read against a
ground truth (:func:`read_coco_results`, :func:`read_coco_predictions` for ``cvpipe evaluate``)
and written (:func:`to_coco_results`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...data.origin import Origin
from ...errors import InputError, Problem
from ...formats.json import LineFinder, add_lines, load_json
from ...formats.lookup import file_head
from .reader import hashable, is_num, read_coco, short
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

    from ...data import Dataset
    from ...data.boxes import xywh_to_xyxy
    from ...formats import raise_or_collect
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
    for i, s in enumerate(reference.samples):  # results named by file stem (cvpipe predict, Ultralytics):
        stem = Path(str(s.image)).stem          # "000001" or 1 for 000001.jpg; ids above take priority
        index.setdefault(stem, i)
        if stem.isascii() and stem.isdigit():
            index.setdefault(int(stem), i)
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
        img = index.get(iid, index.get(str(iid))) if hashable(iid) and iid is not None else None
        if img is None:
            found.append(Problem("unknown image id", file=fname, field=f"{where}.image_id", value=iid,
                                 expected="the id of an image in the ground truth"))
            ok = False
        label = label_of.get(cid) if hashable(cid) else None
        if label is None:
            found.append(Problem("unknown category id", file=fname, field=f"{where}.category_id", value=cid,
                                 expected="one of the ground truth's category ids: " + short(list(label_of)[: len(reference.categories)])))
            ok = False
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_num(v) for v in bbox)):
            found.append(Problem("bad bbox", file=fname, field=f"{where}.bbox", value=bbox,
                                 expected="[x, y, width, height] as 4 numbers"))
            ok = False
        if not is_num(score):
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
