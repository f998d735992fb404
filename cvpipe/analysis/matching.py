"""Detections matched to ground truth the COCO/TIDE way, for the whole dataset at once.

:func:`prepare` turns a ground-truth/detections pair (cvpipe :class:`~cvpipe.data.Dataset`,
boxes absolute pixel xyxy) into flat arrays over every kept detection and every object, plus the
overlaps the error analysis needs; :func:`match` then matches them at one IoU threshold.

Rules (those of TIDE, Bolya et al. ECCV 2020, which follow COCO's):

* per image, detections are sorted by descending score (stable) and only the first
  ``max_dets`` are kept (TIDE caps per image; pycocotools caps per image and class);
* in that order each detection takes the not yet taken object of its class it overlaps most
  (first such object on ties) when that IoU is at least the threshold;
* ``iscrowd`` objects are no objects: a detection left unmatched whose IoU-over-its-own-area with a
  crowd region of its class is above the threshold is *ignored* (neither right nor wrong);
* IoU is the plain IoU of the xyxy boxes (0 where they do not overlap).

One IoU matrix per image (numpy); the greedy matching loops in Python only over the candidate
pairs of detections that compete for an object, the rest is resolved with array operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..data import Dataset
from ..evaluation import align_detections

__all__ = ["Prepared", "prepare", "match", "ignored", "iou_matrix"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and intersection-over-area-of-``a`` of xyxy boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``:
    two ``(N, M)`` float64 arrays, 0 where the boxes do not overlap (COCO's bbox IoU and its
    crowd variant)."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(inter > 0, inter / union, 0.0)
        over_a = np.where(inter > 0, inter / area_a[:, None], 0.0)
    return iou, over_a


@dataclass
class Prepared:
    """Every kept detection and every object of a dataset pair as flat arrays.

    Detections (``D`` of them) are in image order, then descending score (stable); objects
    (``G``, crowd regions excluded) in image order, then their order in the sample.

    Attributes:
        categories: class names (labels index them).
        det_image, det_index: ``(D,)`` image index and index of the box in its detections sample.
        det_label, det_score: ``(D,)`` int64 class and float64 score; ``det_boxes`` ``(D, 4)`` xyxy.
        gt_image, gt_index, gt_label: ``(G,)`` image index, index in its sample, class;
            ``gt_boxes`` ``(G, 4)`` xyxy.
        image_has_gt: ``(num_images,)`` bool: the image has at least one object.
        pair_det, pair_gt, pair_iou: candidate pairs, same class and IoU >= ``min_iou``, sorted by
            detection, then descending IoU, then object.
        best_same, best_same_gt: ``(D,)`` the largest IoU with an object of the detection's class
            (0 when none) and that object (global index; TIDE's argmax of the class-masked IoU row:
            the image's first object when every value is 0, -1 in an image without objects).
        best_other, best_other_gt: the same over objects of other classes.
        best_any: ``(D,)`` the largest IoU with any object.
        crowd_same: ``(D,)`` the largest intersection-over-detection-area with a crowd region of
            the detection's class (0 when none).
        min_iou: the lowest IoU threshold the pairs were kept for.
    """

    categories: list[str]
    num_images: int
    det_image: np.ndarray
    det_index: np.ndarray
    det_label: np.ndarray
    det_score: np.ndarray
    det_boxes: np.ndarray
    gt_image: np.ndarray
    gt_index: np.ndarray
    gt_label: np.ndarray
    gt_boxes: np.ndarray
    image_has_gt: np.ndarray
    pair_det: np.ndarray
    pair_gt: np.ndarray
    pair_iou: np.ndarray
    best_same: np.ndarray
    best_same_gt: np.ndarray
    best_other: np.ndarray
    best_other_gt: np.ndarray
    best_any: np.ndarray
    crowd_same: np.ndarray
    min_iou: float

    _score_order: np.ndarray | None = None

    def score_order(self) -> np.ndarray:
        """``(D,)`` detection indices by descending score (stable: ties in detection order)."""
        if self._score_order is None:
            self._score_order = np.argsort(-self.det_score, kind="stable")
        return self._score_order

    @property
    def num_dets(self) -> int:
        return len(self.det_label)

    @property
    def num_gt(self) -> int:
        return len(self.gt_label)

    def npos(self) -> np.ndarray:
        """``(K,)`` int64: objects per class."""
        k = len(self.categories)
        return np.bincount(self.gt_label, minlength=k)[:k].astype(np.int64)


def _empty(dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


def prepare(gt: Dataset, dt: Dataset, *, min_iou: float = 0.5, max_dets: int = 100,
            difficult: Literal["count", "drop"] = "count") -> Prepared:
    """Flatten the pair ``gt``/``dt`` for :func:`match`, after matching detections to images
    and classes by :func:`cvpipe.evaluation.align_detections` (a no-op on an aligned pair).

    ``min_iou``: the lowest foreground IoU threshold :func:`match` will be asked for (candidate
    pairs below it are not kept). ``difficult="drop"`` leaves VOC difficult objects out of the
    ground truth (as the ``coco`` metric's option does); by default they are ordinary objects.
    """
    if max_dets < 1:
        raise ValueError(f"max_dets must be at least 1, got {max_dets}")
    dt = align_detections(gt, dt)
    det_cols: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "index", "label", "score", "boxes", "same",
                                                             "same_gt", "other", "other_gt", "any", "crowd")}
    gt_cols: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "index", "label", "boxes")}
    pairs: dict[str, list[np.ndarray]] = {"det": [], "gt": [], "iou": []}
    has_gt = np.zeros(len(gt.samples), dtype=bool)
    n_det = n_gt = 0
    for i, (g, d) in enumerate(zip(gt.samples, dt.samples)):
        keep = ~g.iscrowd if difficult == "count" else ~g.iscrowd & ~g.difficult
        crowd = g.iscrowd if difficult == "count" else g.iscrowd & ~g.difficult
        gi = np.flatnonzero(keep)
        gb, gl = g.boxes[gi], g.labels[gi]
        has_gt[i] = len(gi) > 0
        gt_cols["image"].append(np.full(len(gi), i, dtype=np.int64))
        gt_cols["index"].append(gi.astype(np.int64))
        gt_cols["label"].append(gl)
        gt_cols["boxes"].append(gb)
        if len(d):
            order = np.argsort(-d.scores, kind="stable")[:max_dets]
            db, dl = d.boxes[order], d.labels[order]
            n = len(order)
            det_cols["image"].append(np.full(n, i, dtype=np.int64))
            det_cols["index"].append(order.astype(np.int64))
            det_cols["label"].append(dl)
            det_cols["score"].append(d.scores[order])
            det_cols["boxes"].append(db)
            if len(gi):
                iou, _ = iou_matrix(db, gb)
                same = dl[:, None] == gl[None, :]
                same_iou = iou * same  # TIDE's gt_cls_iou: zeros for other classes
                other_iou = iou * ~same
                js = np.argmax(same_iou, axis=1)
                jo = np.argmax(other_iou, axis=1)
                rows = np.arange(n)
                det_cols["same"].append(same_iou[rows, js])
                det_cols["same_gt"].append(js + n_gt)
                det_cols["other"].append(other_iou[rows, jo])
                det_cols["other_gt"].append(jo + n_gt)
                det_cols["any"].append(iou.max(axis=1))
                r, c = np.nonzero(same_iou >= min_iou)
                pairs["det"].append(r + n_det)
                pairs["gt"].append(c + n_gt)
                pairs["iou"].append(same_iou[r, c])
            else:
                for key in ("same", "other", "any"):
                    det_cols[key].append(np.zeros(n))
                for key in ("same_gt", "other_gt"):
                    det_cols[key].append(np.full(n, -1, dtype=np.int64))
            ci = np.flatnonzero(crowd)
            if len(ci):
                _, over = iou_matrix(db, g.boxes[ci])
                over = over * (dl[:, None] == g.labels[ci][None, :])
                det_cols["crowd"].append(over.max(axis=1))
            else:
                det_cols["crowd"].append(np.zeros(n))
            n_det += n
        n_gt += len(gi)

    def cat(xs: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(xs).astype(dtype, copy=False) if xs else _empty(dtype)

    def boxes(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs).astype(np.float64, copy=False) if xs else np.zeros((0, 4))

    pd, pg, pv = cat(pairs["det"], np.int64), cat(pairs["gt"], np.int64), cat(pairs["iou"], np.float64)
    order = np.lexsort((pg, -pv, pd))  # by detection, then descending IoU, then object (argmax's first)
    return Prepared(
        categories=list(gt.categories), num_images=len(gt.samples),
        det_image=cat(det_cols["image"], np.int64), det_index=cat(det_cols["index"], np.int64),
        det_label=cat(det_cols["label"], np.int64), det_score=cat(det_cols["score"], np.float64),
        det_boxes=boxes(det_cols["boxes"]),
        gt_image=cat(gt_cols["image"], np.int64), gt_index=cat(gt_cols["index"], np.int64),
        gt_label=cat(gt_cols["label"], np.int64), gt_boxes=boxes(gt_cols["boxes"]), image_has_gt=has_gt,
        pair_det=pd[order], pair_gt=pg[order], pair_iou=pv[order],
        best_same=cat(det_cols["same"], np.float64), best_same_gt=cat(det_cols["same_gt"], np.int64),
        best_other=cat(det_cols["other"], np.float64), best_other_gt=cat(det_cols["other_gt"], np.int64),
        best_any=cat(det_cols["any"], np.float64), crowd_same=cat(det_cols["crowd"], np.float64),
        min_iou=float(min_iou),
    )


def match(prep: Prepared, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching at ``iou_threshold`` (>= ``prep.min_iou``): ``(det_gt, gt_det)``, the
    object each detection took (``(D,)``, -1: none) and the detection each object was taken by
    (``(G,)``, -1: none). Crowd regions are not considered here (see :func:`ignored`)."""
    if iou_threshold < prep.min_iou - 1e-12:
        raise ValueError(f"iou_threshold {iou_threshold} is below the prepared minimum {prep.min_iou}")
    det_gt = np.full(prep.num_dets, -1, dtype=np.int64)
    gt_det = np.full(prep.num_gt, -1, dtype=np.int64)
    keep = prep.pair_iou >= iou_threshold
    pd, pg = prep.pair_det[keep], prep.pair_gt[keep]
    if not len(pd):
        return det_gt, gt_det
    # a detection whose candidate objects no other detection wants takes its best one directly
    shared = np.bincount(pg, minlength=prep.num_gt)[pg] > 1
    contested = np.zeros(prep.num_dets, dtype=bool)
    contested[pd[shared]] = True
    easy = ~contested[pd]
    rows, first = np.unique(pd[easy], return_index=True)  # pairs are sorted: first = best IoU
    det_gt[rows] = pg[easy][first]
    # the others compete: in score order (pairs are sorted by detection), each takes its best free object
    hard = np.flatnonzero(~easy)
    taken = np.zeros(prep.num_gt, dtype=bool)
    done = -1
    for r, c in zip(pd[hard].tolist(), pg[hard].tolist()):
        if r == done or taken[c]:
            continue
        taken[c] = True
        det_gt[r] = c
        done = r
    matched = det_gt >= 0
    gt_det[det_gt[matched]] = np.flatnonzero(matched)
    return det_gt, gt_det


def ignored(prep: Prepared, det_gt: np.ndarray, iou_threshold: float) -> np.ndarray:
    """``(D,)`` bool: unmatched detections inside a crowd region of their class (intersection
    over the detection's area above ``iou_threshold``, strictly, as TIDE)."""
    return (det_gt < 0) & (prep.crowd_same > iou_threshold)
