"""The per-class table a training run ends with: precision and recall at the class's F1-optimal
confidence, COCO AP50 and AP50-95, and that confidence (the threshold to ship).

AP50 is pycocotools' 101-point AP at IoU 0.5 (:func:`cvpipe.evaluation.pr_curves` with ``coco``,
equal to the COCO metric's ``AP50`` averaged over classes); AP50-95 is the COCO metric's
per-class AP; precision, recall and the confidence are those of
:func:`cvpipe.analysis.thresholds.thresholds` (greedy matching at IoU 0.5, 100 detections per
image). Boxes are absolute pixel xyxy, as everywhere in cvpipe.
"""

from __future__ import annotations

from typing import Any, Literal

from ..data import Dataset

__all__ = ["class_table", "format_class_table"]


def class_table(gt: Dataset, dt: Dataset, *, difficult: Literal["count", "drop"] = "count",
                engine: str = "faster", coco: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per class and over all classes: ``{"classes": {name: {"images", "objects", "precision",
    "recall", "AP50", "AP50_95", "confidence"}}, "all": {...}}`` (None where undefined: no
    ground truth, or no correct detection for the confidence). ``dt`` must already be aligned
    with ``gt`` (:func:`cvpipe.evaluation.align_detections`). ``coco``: the COCO metric's result
    for the pair when already computed (its ``per_class`` and ``AP``/``AP50`` are used)."""
    import numpy as np

    from ..evaluation import evaluate, pr_curves
    from .thresholds import thresholds

    params = {"engine": engine, "difficult": difficult}
    if coco is None:
        coco = evaluate(gt, dt, {"coco": params})["coco"]
    curves = pr_curves(gt, dt, ap="coco", iou_threshold=0.5, params=params)["per_class"]
    thr = thresholds(gt, dt, iou_threshold=0.5, difficult=difficult)
    images = {c: 0 for c in gt.categories}
    for s in gt.samples:
        for k in np.unique(s.labels):
            images[gt.categories[int(k)]] += 1
    counts = gt.class_counts()
    rows: dict[str, dict[str, Any]] = {}
    for name in gt.categories:
        b = thr["per_class"][name]
        ap50 = curves.get(name, {}).get("ap")
        rows[name] = {"images": images[name], "objects": int(counts.get(name, 0)), "precision": b["precision"],
                      "recall": b["recall"], "AP50": None if ap50 is None else float(ap50),
                      "AP50_95": coco["per_class"].get(name), "confidence": b["confidence"]}
    a = thr["all"]
    every = {"images": len(gt.samples), "objects": int(sum(counts.values())), "precision": a["precision"],
             "recall": a["recall"], "AP50": coco.get("AP50"), "AP50_95": coco.get("AP"), "confidence": a["confidence"]}
    return {"classes": rows, "all": every}


def format_class_table(table: dict[str, Any]) -> str:
    """:func:`class_table` for people: one row per class, then ``all`` (one confidence for
    every class)."""
    from ..console import format_table

    def cell(v: Any) -> Any:
        return "-" if v is None else v

    keys = ("images", "objects", "precision", "recall", "AP50", "AP50_95", "confidence")
    rows = [[name, *(cell(r[k]) for k in keys)] for name, r in table["classes"].items()]
    rows.append(["all", *(cell(table["all"][k]) for k in keys)])
    return ("per class (P and R at the F1-optimal confidence, IoU 0.5; AP50 and AP50-95 as COCO; '-': undefined)\n"
            + format_table(rows, ["class", "images", "objects", "P", "R", "AP50", "AP50-95", "F1-conf"]))
