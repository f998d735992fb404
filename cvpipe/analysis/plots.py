"""Pictures of an analysis (:class:`~cvpipe.analysis.report.Analysis`): F1-vs-confidence and
precision-recall curves with the F1-optimal point marked, TIDE's breakdown as a bar chart, and
galleries of the worst false positives and missed objects per class.

matplotlib and OpenCV are imported inside the functions; boxes are cvpipe's absolute pixel xyxy;
images are drawn with :mod:`cvpipe.draw`'s public functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import InputError
from ..evaluation import save_figure
from .report import Analysis
from .thresholds import f1_curve
from .tide import BKG, BOTH, CLS, DUPE, ERROR_KINDS, LOC, SHORT_NAMES, TP

__all__ = ["plot_thresholds", "plot_breakdown", "save_galleries", "save_analysis_pictures"]

_KIND_NAME = {CLS: "Cls", LOC: "Loc", BOTH: "Both", DUPE: "Dupe", BKG: "Bkg"}
#: Bar colours of the error kinds (TIDE's order), then the two special errors.
_BAR_COLORS = ("#e6550d", "#3182bd", "#756bb1", "#31a354", "#636363", "#d6616b")


def plot_thresholds(analysis: Analysis, path: Path) -> Path:
    """Two panels, saved as a PNG: F1 against the confidence threshold per class (and for all
    classes pooled, black), and precision against recall, each curve with a dot at its
    F1-optimal confidence (the one of the thresholds table)."""
    from matplotlib.figure import Figure

    prep, ea = analysis.prep, analysis.errors
    keep = ea.kind != -1
    labels, scores, tp = prep.det_label[keep], prep.det_score[keep], ea.kind[keep] == TP
    npos = prep.npos()
    res = analysis.result["thresholds"]
    fig = Figure(figsize=(13, 5.5))
    ax_f1, ax_pr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    classes = [k for k in range(len(prep.categories)) if npos[k] > 0]
    many = len(classes) > 10
    curves = [(prep.categories[k], f1_curve(scores[labels == k], tp[labels == k], int(npos[k])),
               res["per_class"][prep.categories[k]], None) for k in classes]
    if classes:
        curves.append(("all classes", f1_curve(scores, tp, int(npos.sum())), res["all"], "black"))
    for name, c, best, color in curves:
        if not len(c["confidence"]):
            continue
        lw = 2.5 if color else (1.0 if many else 1.5)
        conf = np.r_[1.0, c["confidence"]]
        line, = ax_f1.plot(conf, np.r_[0.0, c["f1"]], drawstyle="steps-post", linewidth=lw, alpha=0.85, color=color,
                           label=(f"{name} F1 {best['f1']:.2f} at {best['confidence']:.2f}"
                                  if best["confidence"] is not None else f"{name} (no correct detection)"))
        ax_pr.plot(np.r_[0.0, c["recall"]], np.r_[1.0, c["precision"]], linewidth=lw, alpha=0.85,
                   color=line.get_color())
        if best["confidence"] is not None:
            ax_f1.plot([best["confidence"]], [best["f1"]], "o", color=line.get_color(), markersize=6,
                       markeredgecolor="white")
            ax_pr.plot([best["recall"]], [best["precision"]], "o", color=line.get_color(), markersize=6,
                       markeredgecolor="white")
    ax_f1.set_xlim(0, 1)
    ax_f1.set_ylim(0, 1.02)
    ax_f1.set_xlabel("confidence threshold (keep scores >= it)")
    ax_f1.set_ylabel("F1")
    ax_f1.set_title(f"F1 against confidence (IoU >= {res['iou_threshold']:g}); dot: F1-optimal")
    ax_pr.set_xlim(0, 1)
    ax_pr.set_ylim(0, 1.02)
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.set_title("Precision-recall; dot: at the F1-optimal confidence")
    for ax in (ax_f1, ax_pr):
        ax.grid(True, alpha=0.3)
    if not classes:
        ax_f1.text(0.5, 0.5, "no ground-truth objects", ha="center", va="center")
    elif len(classes) <= 25:
        ax_pr.legend(*ax_f1.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.01, 0.5),
                     fontsize=8, frameon=False)
    else:
        handles, names = ax_f1.get_legend_handles_labels()
        ax_pr.legend(handles[-1:], names[-1:], loc="lower left", fontsize=9)
    return save_figure(fig, Path(path))


def plot_breakdown(result: dict[str, Any], path: Path) -> Path:
    """TIDE's breakdown (:func:`cvpipe.analysis.tide.tide`'s result) as horizontal bars: the dAP
    of fixing each error kind (with its count) and, apart, the two special errors."""
    from matplotlib.figure import Figure

    err, sp = result["errors"], result["special"]
    fig = Figure(figsize=(10, 4.2))
    ax, ax_sp = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    names = [f"{SHORT_NAMES[k]} ({err[k]['count']})" for k in ERROR_KINDS]
    vals = [err[k]["dAP"] or 0.0 for k in ERROR_KINDS]
    y = np.arange(len(names))[::-1]
    ax.barh(y, vals, color=_BAR_COLORS)
    for yi, v in zip(y, vals):
        ax.text(v, yi, f" {v:.3f}", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlabel("dAP (AP gained by fixing that kind alone)")
    ax.set_title(f"Main errors (AP{round(result['iou_foreground'] * 100)} "
                 + ("-" if result["AP"] is None else f"{result['AP']:.3f}") + ")")
    sp_vals = [sp["false_positives"] or 0.0, sp["false_negatives"] or 0.0]
    ax_sp.barh([1, 0], sp_vals, color=["#9e9ac8", "#fd8d3c"])
    for yi, v in zip([1, 0], sp_vals):
        ax_sp.text(v, yi, f" {v:.3f}", va="center", fontsize=8)
    ax_sp.set_yticks([1, 0])
    ax_sp.set_yticklabels(["false positives", "false negatives"])
    ax_sp.set_xlabel("dAP")
    ax_sp.set_title("Special errors")
    top = max(vals + sp_vals + [0.01])
    for a in (ax, ax_sp):
        a.set_xlim(0, top * 1.25)
        a.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, Path(path))


def _crop(img: np.ndarray, box: np.ndarray, tile: int) -> tuple[np.ndarray, float, np.ndarray]:
    """The region around ``box`` (xyxy) with some context, scaled to fit ``tile`` pixels:
    ``(crop, scale, origin xy)``; a box at ``b`` in the image is at ``(b - origin) * scale``."""
    import cv2

    h, w = img.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    margin = max(0.3 * max(bw, bh), 12.0)
    x1 = int(np.clip(np.floor(box[0] - margin), 0, max(w - 1, 0)))
    y1 = int(np.clip(np.floor(box[1] - margin), 0, max(h - 1, 0)))
    x2 = int(np.clip(np.ceil(box[2] + margin), x1 + 1, w))
    y2 = int(np.clip(np.ceil(box[3] + margin), y1 + 1, h))
    crop = img[y1:y2, x1:x2]
    scale = tile / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return crop, scale, np.array([x1, y1, x1, y1], dtype=np.float64)


def _gallery(gt: Dataset, items: list[list[dict[str, Any]]], path: Path, tile: int,
             legend: list[tuple[str, str, tuple[int, int, int] | None]]) -> Path | None:
    """One row per class of ``items`` (dicts with ``image`` index, ``box``, ``label``, ``score``
    or None, ``gt_box`` or None, ``title``), drawn (detections solid in their class colour, true
    boxes dashed, as :func:`cvpipe.draw.draw_boxes` draws them) with ``legend`` below and saved
    as a PNG; None when no image could be read."""
    from ..draw import add_legend, draw_boxes, draw_ground_truth, image_grid, read_image, save_png

    cache: dict[int, np.ndarray | None] = {}

    def image(i: int) -> np.ndarray | None:
        if i not in cache:
            try:
                cache[i] = read_image(gt.image_path(gt.samples[i]))
            except InputError:
                cache[i] = None
        return cache[i]

    cols = max((len(r) for r in items), default=0)
    tiles, titles, found = [], [], False
    blank = np.full((1, 1, 3), 255, dtype=np.uint8)
    for row in items:
        drawn = []
        for it in row:
            img = image(it["image"])
            if img is None:
                continue
            crop, scale, origin = _crop(img, it["box"], tile)
            truth = None if it.get("gt_box") is None else ((it["gt_box"] - origin) * scale)[None]
            if it.get("score") is not None:
                crop = draw_boxes(crop, ((it["box"] - origin) * scale)[None], [it["label"]], gt.categories,
                                  [it["score"]], show_labels=False, ground_truth=truth)
            elif truth is not None:
                crop = draw_ground_truth(crop, truth)
            drawn.append((crop, it["title"]))
        if not drawn:
            continue
        found = True
        drawn += [(blank, "")] * (cols - len(drawn))
        tiles += [d[0] for d in drawn]
        titles += [d[1] for d in drawn]
    if not found:
        return None
    return save_png(path, add_legend(image_grid(tiles, cols=cols, titles=titles), legend))


def save_galleries(analysis: Analysis, gt: Dataset, out_dir: Path, *, per_class: int = 6,
                   max_classes: int = 20, tile: int = 160) -> dict[str, str]:
    """Write ``false_positives.png`` (per class, its most confident wrong detections, titled with
    TIDE's error kind and score, solid in the class colour; the object a Cls/Loc/Dupe error
    refers to dashed) and ``missed.png`` (per class, its largest missed objects, dashed) into
    ``out_dir``. Rows are
    the classes with the most such errors (at most ``max_classes``); images that cannot be read
    are skipped. Returns ``{picture: path}`` for the files written."""
    prep, ea = analysis.prep, analysis.errors
    cats = prep.categories
    gt_boxes, det_boxes = prep.gt_boxes, prep.det_boxes
    related = np.where(ea.target >= 0, ea.target, np.where(ea.kind == DUPE, prep.best_same_gt, -1))

    fp_rows: list[list[dict[str, Any]]] = []
    wrong = np.flatnonzero(ea.kind > 0)
    for k in np.argsort(-np.bincount(prep.det_label[wrong], minlength=len(cats)), kind="stable")[:max_classes]:
        sel = wrong[prep.det_label[wrong] == k]
        if not len(sel):
            break
        sel = sel[np.argsort(-prep.det_score[sel], kind="stable")][:per_class]
        row = []
        for d in sel:
            g = int(related[d])
            kind = _KIND_NAME[int(ea.kind[d])]
            title = f"{cats[k]} {kind}" + (f">{cats[prep.gt_label[g]]}" if ea.kind[d] == CLS else "") + \
                f" {prep.det_score[d]:.2f}"
            row.append({"image": int(prep.det_image[d]), "box": det_boxes[d], "label": int(k),
                        "score": float(prep.det_score[d]), "gt_box": gt_boxes[g] if g >= 0 else None, "title": title})
        fp_rows.append(row)

    miss_rows: list[list[dict[str, Any]]] = []
    missed = np.flatnonzero(ea.missed)
    area = (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1]) if len(gt_boxes) else np.zeros(0)
    for k in np.argsort(-np.bincount(prep.gt_label[missed], minlength=len(cats)), kind="stable")[:max_classes]:
        sel = missed[prep.gt_label[missed] == k]
        if not len(sel):
            break
        sel = sel[np.argsort(-area[sel], kind="stable")][:per_class]
        miss_rows.append([{"image": int(prep.gt_image[g]), "box": gt_boxes[g], "label": int(k), "score": None,
                           "gt_box": gt_boxes[g], "title": f"{cats[k]} missed"} for g in sel])

    out_dir = Path(out_dir)
    written = {}
    from ..draw import color_for

    legends = {
        "false_positives": [("the object it refers to (ground truth)", "dashed", None)]
        + [(f"{cats[row[0]['label']]} (wrong detection)", "solid", color_for(row[0]["label"])) for row in fp_rows],
        "missed": [("missed object (ground truth)", "dashed", None)],
    }
    for name, rows in (("false_positives", fp_rows), ("missed", miss_rows)):
        if rows:
            p = _gallery(gt, rows, out_dir / f"{name}.png", tile, legends[name])
            if p is not None:
                written[name] = str(p)
    return written


def save_analysis_pictures(analysis: Analysis, gt: Dataset, out_dir: Path) -> dict[str, str]:
    """Write ``f1_curves.png``, ``error_breakdown.png`` and (when ``gt``'s images are found)
    ``false_positives.png`` and ``missed.png`` into ``out_dir``; returns ``{picture: path}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"f1_curves": str(plot_thresholds(analysis, out_dir / "f1_curves.png")),
               "error_breakdown": str(plot_breakdown(analysis.result["tide"], out_dir / "error_breakdown.png"))}
    written.update(save_galleries(analysis, gt, out_dir))
    return written
