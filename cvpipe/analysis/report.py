"""The whole analysis of a detections/ground-truth pair: TIDE's breakdown and the F1-optimal
confidences, from one matching pass, as JSON and as tables for people."""

from __future__ import annotations

from typing import Any, Literal, Sequence

from ..data import Dataset
from .matching import prepare
from .thresholds import format_thresholds, thresholds
from .tide import format_tide, tide

__all__ = ["analyse", "format_analysis"]

#: COCO's IoU thresholds 0.50:0.05:0.95.
COCO_IOUS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def analyse(gt: Dataset, dt: Dataset, *, iou_fg: float = 0.5, iou_bg: float = 0.1, max_dets: int = 100,
            difficult: Literal["count", "drop"] = "count",
            iou_thresholds: Sequence[float] | None = COCO_IOUS) -> dict[str, Any]:
    """TIDE's breakdown (:func:`cvpipe.analysis.tide.tide`) and the F1-optimal confidences
    (:func:`cvpipe.analysis.thresholds.thresholds`, at IoU ``iou_fg``) of the aligned pair
    ``gt``/``dt`` (see :func:`cvpipe.evaluation.align_detections`).

    ``iou_thresholds``: foreground thresholds the breakdown is also averaged over (COCO's by
    default, the AP50:95 variant; None to skip it). Returns ``{"tide": ..., "thresholds": ...}``,
    JSON-ready.
    """
    thr = list(iou_thresholds or [])
    prep = prepare(gt, dt, min_iou=min([iou_fg, *thr]), max_dets=max_dets, difficult=difficult)
    return {"tide": tide(gt, dt, iou_fg=iou_fg, iou_bg=iou_bg, max_dets=max_dets, iou_thresholds=thr or None, prep=prep),
            "thresholds": thresholds(gt, dt, iou_threshold=iou_fg, max_dets=max_dets, prep=prep)}


def format_analysis(result: dict[str, Any]) -> str:
    """:func:`analyse`'s result as the two tables."""
    return format_tide(result["tide"]) + "\n\n" + format_thresholds(result["thresholds"])
