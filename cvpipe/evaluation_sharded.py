"""COCO bbox evaluation sharded by image: per-image matching on an executor, one accumulate.

pycocotools' evaluation is two passes: ``evaluateImg`` matches each image's detections to its
ground truth (per category, area range and IoU threshold; independent across images), then
``accumulate`` sorts all detections of a category by score and integrates precision/recall.
:func:`coco_eval_sharded` runs the first pass per shard of images as executor tasks
(:func:`match_shard`, module-level and picklable, so any registered executor runs it: this
process, local processes, a Ray cluster) and the second once on the driver
(:func:`accumulate`) over the merged match records: per detection its score, category, rank
within its (image, category) and, per area range and IoU threshold, one true-positive and one
false-positive bit (both 0: ignored). A detection costs 8 + 4 + 4 + 10 bytes on the driver
(default parameters), whatever the shard.

The twelve numbers are pycocotools' to the last bit (tests compare them with pycocotools and
with the single-process :func:`cvpipe.evaluation_coco.coco_eval`): the ground truth is what
the COCO writer gives (``to_coco_dict``, per shard), ids as :func:`cvpipe.evaluation_coco.coco_dicts`
numbers them, IoUs from the engine's own ``mask.iou``, the greedy matching with pycocotools'
rules (best IoU, ties to the later object, regular objects before ignored ones, crowds
matched any number of times), detection caps per (image, category), images in id order and
``mergesort`` by score in the accumulate, summary means as ``COCOeval.summarize``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Literal, Sequence

from .errors import ConfigError

__all__ = ["SHARD_IMAGES", "ShardMatches", "match_shard", "accumulate", "coco_eval_sharded", "coco_params"]

#: images per matching task
SHARD_IMAGES = 2000

#: pycocotools' area ranges (``Params.setDetParams``)
AREA_RANGES = ((0.0, 1e5 ** 2), (0.0, 32.0 ** 2), (32.0 ** 2, 96.0 ** 2), (96.0 ** 2, 1e5 ** 2))
AREA_LABELS = ("all", "small", "medium", "large")


def coco_params(iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None) -> SimpleNamespace:
    """pycocotools' bbox ``Params`` (``iouThrs``, ``recThrs``, ``maxDets``, ``areaRng``,
    ``areaRngLbl``) with the given IoU thresholds and caps, built with its own expressions."""
    import numpy as np

    iou = (np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True) if iou_thresholds is None
           else np.asarray(iou_thresholds, dtype=np.float64))
    rec = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
    return SimpleNamespace(iouThrs=iou, recThrs=rec, maxDets=sorted(int(m) for m in (max_dets or (1, 10, 100))),
                           areaRng=[list(r) for r in AREA_RANGES], areaRngLbl=list(AREA_LABELS))


@dataclass(frozen=True)
class _MatchTask:
    """One shard: ground-truth samples and their aligned detections, images in evaluation
    (image id) order."""

    gt: Any  # Dataset: the shard's ground-truth samples, categories and meta
    dt: list  # detection samples, one per gt sample, labels indexing gt.categories
    to_coco_dict: Callable[..., dict]
    keep_difficult: bool
    cat_index: tuple[int, ...]  # category position in gt.categories -> evaluation index (sorted ids)
    cat_ids: tuple[Any, ...]  # to_coco_dict's category id of each category position
    iou_thresholds: tuple[float, ...]
    max_det: int


@dataclass
class ShardMatches:
    """Match records of one shard, detections in (image, category, score rank) order.

    ``cat``: ``(N,)`` int32 evaluation category index; ``rank``: ``(N,)`` int32 position within
    its (image, category) by descending score (stable); ``score``: ``(N,)`` float64;
    ``tp``/``fp``: ``(N, ceil(A*T/8))`` uint8, bits of the ``(A, T)`` true/false-positive flags
    (area range major); ``npig``: ``(K, A)`` int64 count of non-ignored objects."""

    cat: Any
    rank: Any
    score: Any
    tp: Any
    fp: Any
    npig: Any
    images: int = 0
    objects: int = 0


def _iou_function() -> Callable[..., Any]:
    """The COCO engine's box IoU, ``iou(dt_xywh (D,4), gt_xywh (G,4), iscrowd) -> (D, G)``
    (faster-coco-eval's, else pycocotools'; both are pycocotools' C ``bbIou``)."""
    try:
        from faster_coco_eval.core import mask
    except ImportError:
        from pycocotools import mask  # type: ignore[no-redef]
    return mask.iou


def _match_image(gb, gc, garea, gcrowd, db, dc, ds, thr, lo, hi, max_det: int, iou: Callable[..., Any]):
    """pycocotools' ``evaluateImg`` for one image, every category and area range at once.

    ``gb``: ``(G, 4)`` xywh objects, ``gc`` their category index, ``garea`` areas, ``gcrowd``
    crowd flags; ``db``/``dc``/``ds``: ``(D, 4)`` xywh detections, category index, scores.
    Returns ``(cat, rank, score, tp, fp)`` of the kept detections (``tp``/``fp``: ``(D', A, T)``
    bool) in (category, rank) order."""
    import numpy as np

    order = np.argsort(-ds, kind="mergesort")
    order = order[np.argsort(dc[order], kind="stable")]
    cats = dc[order]
    rank = np.arange(len(order)) - np.searchsorted(cats, cats, side="left")
    keep = order[rank < max_det]
    rank = rank[rank < max_det]
    db, dc, ds = db[keep], dc[keep], ds[keep]
    A, T, D, G = len(lo), len(thr), len(ds), len(gc)
    matched = np.zeros((A, T, D), dtype=bool)
    ign = np.zeros((A, T, D), dtype=bool)
    if D and G:
        ious = np.asarray(iou(db, gb, [int(c) for c in gcrowd]), dtype=np.float64).reshape(D, G)
        ious[dc[:, None] != gc[None, :]] = -1.0  # other categories never match
        g_ig = gcrowd[None, :] | (garea[None, :] < lo[:, None]) | (garea[None, :] > hi[:, None])  # (A, G)
        reg, ig3 = ~g_ig[:, None, :], g_ig[:, None, :]
        taken = np.zeros((A, T, G), dtype=bool)  # matched non-crowd objects
        a_idx, t_idx = np.indices((A, T))
        cand = np.flatnonzero((ious >= thr.min()).any(axis=1))
        over = ious[cand][:, None, :] >= thr[None, :, None]  # (C, T, G): IoU reaches the threshold
        for c, j in enumerate(cand):
            row = ious[j]
            free = over[c][None] & ~taken  # (A, T, G)
            v1 = np.where(free & reg, row, -1.0)
            v2 = np.where(free & ig3, row, -1.0)
            b1 = v1.max(axis=-1)
            use1 = b1 >= 0
            v = np.where(use1[..., None], v1, v2)
            m = G - 1 - np.argmax(v[..., ::-1], axis=-1)  # the best, ties to the later object
            found = use1 | (v2.max(axis=-1) >= 0)
            matched[:, :, j] = found
            ign[:, :, j] = found & g_ig[a_idx, m]
            hit = found & ~gcrowd[m]
            taken[a_idx[hit], t_idx[hit], m[hit]] = True
    area = db[:, 2] * db[:, 3]
    outside = (area[None, :] < lo[:, None]) | (area[None, :] > hi[:, None])  # (A, D)
    ign |= ~matched & outside[:, None, :]
    tp = (matched & ~ign).transpose(2, 0, 1)
    fp = (~matched & ~ign).transpose(2, 0, 1)
    return dc, rank, ds, tp, fp


def match_shard(task: _MatchTask) -> ShardMatches:
    """Per-image matching of one shard (module-level and picklable: executors run it anywhere)."""
    import numpy as np

    from .evaluation_coco import _detection_xywh

    params = coco_params(task.iou_thresholds)
    thr = np.minimum(np.asarray(task.iou_thresholds, dtype=np.float64), 1 - 1e-10)
    lo = np.asarray([r[0] for r in params.areaRng])
    hi = np.asarray([r[1] for r in params.areaRng])
    K, A = len(task.cat_index), len(lo)
    gt = task.gt
    gd = task.to_coco_dict(gt, keep_difficult=task.keep_difficult, keep_crowd=True,
                           file_names=[s.image for s in gt.samples])
    position = {im["id"]: i for i, im in enumerate(gd["images"])}
    cat_of = {cid: task.cat_index[k] for k, cid in enumerate(task.cat_ids)}
    per_image: list[list[dict]] = [[] for _ in gt.samples]
    for a in gd["annotations"]:
        per_image[position[a["image_id"]]].append(a)
    cat_lut = np.asarray(task.cat_index, dtype=np.int64)
    iou = _iou_function()
    npig = np.zeros((K, A), dtype=np.int64)
    parts: list[tuple] = []
    objects = 0
    for anns, d in zip(per_image, task.dt):
        objects += len(anns)
        gb = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        gc = np.asarray([cat_of[a["category_id"]] for a in anns], dtype=np.int64)
        garea = np.asarray([a["area"] for a in anns], dtype=np.float64)
        gcrowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
        if len(anns):
            g_ig = gcrowd[None, :] | (garea[None, :] < lo[:, None]) | (garea[None, :] > hi[:, None])
            for a_i in range(A):
                npig[:, a_i] += np.bincount(gc[~g_ig[a_i]], minlength=K)
        if len(d):
            parts.append(_match_image(gb, gc, garea, gcrowd, _detection_xywh(d), cat_lut[d.labels],
                                      np.asarray(d.scores, dtype=np.float64), thr, lo, hi, task.max_det, iou))
    T = len(thr)
    if parts:
        cat, rank, score, tp, fp = (np.concatenate([p[i] for p in parts]) for i in range(5))
    else:
        cat, rank, score = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        tp = fp = np.zeros((0, A, T), dtype=bool)
    pack = lambda b: np.packbits(b.reshape(len(b), A * T), axis=1)  # noqa: E731
    return ShardMatches(cat.astype(np.int32), rank.astype(np.int32), score, pack(tp), pack(fp), npig,
                        images=len(gt.samples), objects=objects)


def accumulate(shards: Sequence[ShardMatches] | Iterator[ShardMatches], params: SimpleNamespace, num_cats: int) -> dict:
    """pycocotools' ``accumulate`` over merged match records (shards in image-id order):
    ``{"precision": (T, R, K, A, M), "recall": (T, K, A, M)}``, -1 where undefined."""
    import numpy as np

    shards = list(shards)
    T, R, K, A, M = len(params.iouThrs), len(params.recThrs), num_cats, len(params.areaRng), len(params.maxDets)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    npig = sum((s.npig for s in shards), np.zeros((K, A), dtype=np.int64))
    cat = np.concatenate([s.cat for s in shards]) if shards else np.zeros(0, np.int32)
    order = np.argsort(cat, kind="stable")  # per category, images in order, then rank
    bounds = np.searchsorted(cat[order], np.arange(K + 1))
    rank = np.concatenate([s.rank for s in shards])[order] if shards else cat
    score = np.concatenate([s.score for s in shards])[order] if shards else np.zeros(0)
    bits = {}
    for name in ("tp", "fp"):
        packed = np.concatenate([getattr(s, name) for s in shards]) if shards else np.zeros((0, 1), np.uint8)
        bits[name] = packed[order]
        del packed
    rec_thrs = np.asarray(params.recThrs)
    for k in range(K):
        lo_k, hi_k = bounds[k], bounds[k + 1]
        if not npig[k].any():
            continue
        s_k, r_k = score[lo_k:hi_k], rank[lo_k:hi_k]
        flags = {n: np.unpackbits(b[lo_k:hi_k], axis=1, count=A * T).reshape(-1, A, T).astype(bool)
                 for n, b in bits.items()}
        for m, max_det in enumerate(params.maxDets):
            sel = r_k < max_det
            scores = s_k[sel]
            inds = np.argsort(-scores, kind="mergesort")
            for a in range(A):
                n_pos = int(npig[k, a])
                if n_pos == 0:
                    continue
                tps = flags["tp"][sel][:, a, :].T[:, inds]
                fps = flags["fp"][sel][:, a, :].T[:, inds]
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                nd = tp_sum.shape[1]
                rc = tp_sum / n_pos  # (T, nd), pycocotools' expressions row by row
                pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
                recall[:, k, a, m] = rc[:, -1] if nd else 0
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # pycocotools' backwards max loop
                for t in range(T):
                    idx = np.searchsorted(rc[t], rec_thrs, side="left")
                    q = np.zeros(R)
                    ok = idx < nd
                    q[ok] = pr[t, idx[ok]]
                    precision[t, :, k, a, m] = q
    return {"precision": precision, "recall": recall}


def _boxless(gt):
    """``gt`` without boxes (what the image and category ids depend on)."""
    import numpy as np

    from .data import Dataset

    empty = [dataclasses.replace(s, boxes=np.zeros((0, 4)), labels=[], difficult=None, truncated=None, iscrowd=None,
                                 box_extra=None, box_origins=None, scores=None) for s in gt.samples]
    return Dataset(list(gt.categories), empty, root=gt.root, meta=gt.meta)


def _tasks(gt, dt, order: list[int], *, to_coco_dict, keep_difficult: bool, cat_index, cat_ids, iou_thresholds,
           max_det: int, shard_images: int) -> Iterator[_MatchTask]:
    from .data import Dataset

    for i in range(0, max(len(order), 1), shard_images):
        idx = order[i:i + shard_images]
        sub = Dataset(list(gt.categories), [gt.samples[j] for j in idx], root=gt.root, meta=gt.meta)
        yield _MatchTask(sub, [dt.samples[j] for j in idx], to_coco_dict, keep_difficult, cat_index, cat_ids,
                         iou_thresholds, max_det)


def coco_eval_sharded(gt, dt, *, executor, to_coco_dict: Callable[..., dict],
                      iou_thresholds: Sequence[float] | None = None,
                      difficult: Literal["count", "drop"] = "count", max_dets: Sequence[int] | None = None,
                      shard_images: int = SHARD_IMAGES) -> dict[str, Any]:
    """:func:`cvpipe.evaluation_coco.coco_eval` with the per-image matching run per shard of
    ``shard_images`` images on ``executor`` (a :class:`cvpipe.contract.Executor`) and one
    accumulate on the driver: the same dict (the twelve numbers, ``per_class``, ``max_dets``
    with custom caps), the same numbers."""
    import numpy as np

    from .evaluation import align_detections, coco_keys
    from .evaluation_coco import _int_ids, check_iou_thresholds, check_max_dets, coco_summary

    if difficult not in ("count", "drop"):
        raise ConfigError("bad value", field="difficult", value=difficult, expected="'count' or 'drop'")
    if shard_images < 1:
        raise ConfigError("out of range", field="shard_images", value=shard_images, expected="an integer >= 1")
    caps = check_max_dets(max_dets)
    custom = caps is not None and caps != [1, 10, 100]
    params = coco_params(check_iou_thresholds(iou_thresholds), caps)
    dt = align_detections(gt, dt)
    head = to_coco_dict(_boxless(gt), keep_difficult=True, keep_crowd=True, file_names=[s.image for s in gt.samples])
    img_ids = _int_ids([im["id"] for im in head["images"]])
    old_cats = [c["id"] for c in head["categories"]]
    new_cats = _int_ids(old_cats)
    sorted_cats = sorted(new_cats)
    cat_index = tuple(sorted_cats.index(c) for c in new_cats)
    order = sorted(range(len(img_ids)), key=img_ids.__getitem__)
    tasks = _tasks(gt, dt, order, to_coco_dict=to_coco_dict, keep_difficult=difficult == "count",
                   cat_index=cat_index, cat_ids=tuple(old_cats), iou_thresholds=tuple(float(t) for t in params.iouThrs),
                   max_det=params.maxDets[-1], shard_images=shard_images)
    ev = SimpleNamespace(params=params, eval=accumulate(executor.map(match_shard, tasks), params, len(new_cats)))
    stats = coco_summary(ev, params.maxDets)
    out: dict[str, Any] = {k: float(v) for k, v in zip(coco_keys(caps if custom else None), stats)}
    if custom:
        out["max_dets"] = caps
    name_at = {cat_index[k]: name for k, name in enumerate(gt.categories)}
    per_class: dict[str, float | None] = {}
    for k in range(len(new_cats)):
        p = ev.eval["precision"][:, :, k, 0, -1]
        valid = p[p > -1]
        per_class[name_at[k]] = float(np.mean(valid)) if valid.size else None
    out["per_class"] = {c: per_class.get(c) for c in gt.categories}
    return out
