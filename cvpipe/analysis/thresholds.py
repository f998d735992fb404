"""Which confidence threshold to ship: precision, recall and F1 at the F1-optimal confidence.

Detections are matched as in :mod:`cvpipe.analysis.matching` (greedy in score order, IoU >=
``iou_threshold`` with an object of the same class, at most ``max_dets`` per image, crowd
regions ignored). Keeping the detections scoring at least ``c`` gives ``tp(c)`` true and
``fp(c)`` false positives; with ``n`` objects, precision ``tp / (tp + fp)``, recall ``tp / n``
and ``F1 = 2 P R / (P + R)``. Only the distinct scores are candidate thresholds (keeping a
score keeps all its ties); the F1-optimal one is the highest confidence reaching the largest F1.

Per class, and overall: one confidence for all classes, on the pooled detections (micro
precision/recall, every object counting once); plus what the per-class thresholds give
together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Dataset
from .matching import Prepared, ignored, match, prepare

__all__ = ["f1_curve", "best_f1", "thresholds", "format_thresholds"]


def f1_curve(scores: np.ndarray, tp: np.ndarray, npos: int) -> dict[str, np.ndarray]:
    """Precision, recall and F1 when keeping detections scoring at least each distinct score.

    Args:
        scores, tp: ``(N,)`` detection scores and true-positive flags (any order).
        npos: objects (> 0 for a defined recall).

    Returns:
        ``{"confidence", "precision", "recall", "f1", "tp", "fp"}``: ``(M,)`` arrays, one per
        distinct score in descending order (``recall``/``f1`` NaN when ``npos`` is 0).
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], np.asarray(tp, dtype=bool)[order]
    tpc = np.cumsum(t, dtype=np.int64)
    fpc = np.cumsum(~t, dtype=np.int64)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, dtype=np.int64)
    tpc, fpc, conf = tpc[last], fpc[last], s[last]
    prec = tpc / np.maximum(tpc + fpc, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tpc / npos if npos > 0 else np.full(len(tpc), np.nan)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    if npos <= 0:
        f1 = np.full(len(tpc), np.nan)
    return {"confidence": conf, "precision": prec, "recall": rec, "f1": f1, "tp": tpc, "fp": fpc}


def best_f1(scores: np.ndarray, tp: np.ndarray, npos: int) -> dict[str, Any]:
    """The F1-optimal point of :func:`f1_curve`: ``{"confidence", "precision", "recall", "f1",
    "tp", "fp", "fn", "objects", "detections"}`` (confidence None, and precision/recall/F1 0,
    when no detection is right; precision/recall/F1 None without objects, every detection
    then counted in ``fp``)."""
    scores = np.asarray(scores, dtype=np.float64)
    tp = np.asarray(tp, dtype=bool)
    out: dict[str, Any] = {"confidence": None, "precision": 0.0, "recall": 0.0, "f1": 0.0,
                           "tp": 0, "fp": 0, "fn": int(npos), "objects": int(npos), "detections": int(len(scores))}
    if npos <= 0:  # every detection is wrong; recall is undefined
        out.update(recall=None, f1=None, precision=None, fp=int(len(scores)))
        return out
    curve = f1_curve(scores, tp, npos)
    if not len(curve["f1"]) or not np.any(curve["tp"] > 0):
        return out
    i = int(np.argmax(curve["f1"]))  # first maximum: the highest confidence
    out.update(confidence=float(curve["confidence"][i]), precision=float(curve["precision"][i]),
               recall=float(curve["recall"][i]), f1=float(curve["f1"][i]), tp=int(curve["tp"][i]),
               fp=int(curve["fp"][i]), fn=int(npos - curve["tp"][i]))
    return out


def matched_flags(prep: Prepared, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, tp)`` over ``prep``'s detections: not crowd-ignored, and true positive."""
    det_gt, _ = match(prep, iou_threshold)
    keep = ~ignored(prep, det_gt, iou_threshold)
    return keep, det_gt >= 0


def thresholds(gt: Dataset, dt: Dataset, *, iou_threshold: float = 0.5, max_dets: int = 100,
               difficult: str = "count", prep: Prepared | None = None) -> dict[str, Any]:
    """Per-class and overall F1-optimal confidences of detections ``dt`` against ``gt``
    (Datasets, matched as :func:`cvpipe.evaluation.align_detections` does; ``prep``: an already
    prepared pair, then ``gt``/``dt`` are unused).

    Returns:
        JSON-ready ``{"iou_threshold", "max_dets", "per_class": {name: best_f1 dict},
        "all": best_f1 dict (one confidence for all classes), "per_class_thresholds":
        {"precision", "recall", "f1", "tp", "fp", "fn"} (every class at its own confidence)}``.
    """
    if prep is None:
        prep = prepare(gt, dt, min_iou=iou_threshold, max_dets=max_dets, difficult=difficult)  # type: ignore[arg-type]
    keep, tp = matched_flags(prep, iou_threshold)
    labels, scores, tp = prep.det_label[keep], prep.det_score[keep], tp[keep]
    npos = prep.npos()
    per_class = {}
    tot_tp = tot_fp = 0
    for k, name in enumerate(prep.categories):
        sel = labels == k
        best = best_f1(scores[sel], tp[sel], int(npos[k]))
        per_class[name] = best
        if best["confidence"] is not None:
            tot_tp += best["tp"]
            tot_fp += best["fp"]
    n = int(npos.sum())
    p = tot_tp / (tot_tp + tot_fp) if tot_tp + tot_fp else 0.0
    r = tot_tp / n if n else None
    combined = {"precision": p, "recall": r,
                "f1": (2 * p * r / (p + r) if r is not None and p + r > 0 else (None if r is None else 0.0)),
                "tp": tot_tp, "fp": tot_fp, "fn": n - tot_tp}
    return {"iou_threshold": float(iou_threshold), "max_dets": int(max_dets), "per_class": per_class,
            "all": best_f1(scores, tp, n), "per_class_thresholds": combined}


def format_thresholds(result: dict[str, Any]) -> str:
    """The :func:`thresholds` result as a table for people: one row per class, then ``all``
    (one confidence for every class) and the per-class thresholds together."""
    from ..console import format_table

    def cell(v: Any) -> Any:
        return "-" if v is None else v

    rows = []
    for name, b in list(result["per_class"].items()) + [("all (one confidence)", result["all"])]:
        rows.append([name, cell(b["confidence"]), cell(b["precision"]), cell(b["recall"]), cell(b["f1"]),
                     b["tp"], b["fp"], b["fn"]])
    c = result["per_class_thresholds"]
    rows.append(["all (per-class confidences)", "", cell(c["precision"]), cell(c["recall"]), cell(c["f1"]),
                 c["tp"], c["fp"], c["fn"]])
    return (f"F1-optimal confidence per class (IoU >= {result['iou_threshold']:g}; keep detections scoring at "
            "least the confidence; '-': no ground truth or no correct detection)\n"
            + format_table(rows, ["class", "confidence", "precision", "recall", "F1", "TP", "FP", "FN"]))
