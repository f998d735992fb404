"""The whole analysis of a detections/ground-truth pair: TIDE's breakdown and the F1-optimal
confidences, from one matching pass, as JSON and as tables for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

from ..data import Dataset
from .matching import Prepared, prepare
from .thresholds import format_thresholds, thresholds
from .tide import ErrorAnalysis, analyse_errors, format_tide, tide

__all__ = ["COCO_IOUS", "Analysis", "run_analysis", "analyse", "format_analysis"]

#: COCO's IoU thresholds 0.50:0.05:0.95.
COCO_IOUS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass
class Analysis:
    """One analysis run: the JSON-ready ``result`` (``{"tide": ..., "thresholds": ...}``) and
    what the pictures are drawn from (the flattened pair and its error kinds at ``iou_fg``)."""

    result: dict[str, Any]
    prep: Prepared
    errors: ErrorAnalysis


def run_analysis(gt: Dataset, dt: Dataset, *, iou_fg: float = 0.5, iou_bg: float = 0.1, max_dets: int = 100,
                 difficult: Literal["count", "drop"] = "count",
                 iou_thresholds: Sequence[float] | None = COCO_IOUS) -> Analysis:
    """TIDE's breakdown (:func:`cvpipe.analysis.tide.tide`) and the F1-optimal confidences
    (:func:`cvpipe.analysis.thresholds.thresholds`, at IoU ``iou_fg``) of the pair
    ``gt``/``dt`` (detections matched to images and classes by :func:`cvpipe.evaluation.align_detections`).

    ``iou_thresholds``: foreground thresholds the breakdown is also averaged over (COCO's by
    default: the AP50:95 variant; None to skip it).
    """
    thr = list(iou_thresholds or [])
    prep = prepare(gt, dt, min_iou=min([iou_fg, *thr]), max_dets=max_dets, difficult=difficult)
    errors = analyse_errors(prep, iou_fg=iou_fg, iou_bg=iou_bg)
    result = {"tide": tide(gt, dt, iou_fg=iou_fg, iou_bg=iou_bg, max_dets=max_dets, iou_thresholds=thr or None,
                           prep=prep, errors=errors),
              "thresholds": thresholds(gt, dt, iou_threshold=iou_fg, max_dets=max_dets, prep=prep)}
    return Analysis(result, prep, errors)


def analyse(gt: Dataset, dt: Dataset, **options: Any) -> dict[str, Any]:
    """:func:`run_analysis`'s JSON-ready result (same options)."""
    return run_analysis(gt, dt, **options).result


def format_analysis(result: dict[str, Any]) -> str:
    """:func:`analyse`'s result as the two tables."""
    return format_tide(result["tide"]) + "\n\n" + format_thresholds(result["thresholds"])
