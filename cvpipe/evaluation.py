"""Detection evaluation: COCO's twelve numbers, Pascal VOC AP, and pictures for people.

Entry point::

    from cvpipe.evaluation import evaluate
    result = evaluate(gt, dt, ["coco", "voc07"])
    result["coco"]["AP50"], result["voc07"]["per_class"]["dog"]

``gt`` is a :class:`~cvpipe.data.Dataset` of ground truth, ``dt`` a Dataset of detections
(samples with ``scores``). Detections are matched to ground-truth images by image path (relative
to each dataset's root), falling back to the file stem when the stem is unique; categories are
matched by name. Boxes are cvpipe's absolute pixel xyxy.

Metrics (each also a ``cvpipe_register_metrics`` plugin in :mod:`cvpipe.builtin.metrics`):

* ``coco`` (:func:`cvpipe.evaluation_coco.coco_eval`): ``AP AP50 AP75 APs APm APl AR1 AR10
  AR100 ARs ARm ARl`` exactly as pycocotools computes them (``-1`` where pycocotools gives -1:
  no ground truth in that range), plus ``per_class`` AP@[.5:.95]. The COCO dictionaries are
  built in memory with fresh annotation ids starting at 1 (pycocotools treats annotation id 0
  as "unmatched" and silently mis-scores it), original COCO image and category ids when the
  ground truth came from COCO, ``iscrowd`` and the annotations' own ``area`` (pycocotools uses
  the ground truth's ``area`` field, not the box, for the small/medium/large ranges). Engine:
  faster-coco-eval (a C++ reimplementation giving pycocotools' numbers several times faster) or
  pycocotools itself.
* ``voc07`` / ``voc12`` (:func:`voc_eval`): the Pascal VOC devkit's rules: per class, detections
  sorted by descending score (stable), each matched to the ground truth of its image it overlaps
  most (the devkit's IoU for inclusive pixel coordinates: widths ``x2 - x1 + 1``, applied to
  the boxes as they are; the VOC reader keeps the XML's numbers, or shifts all four by one,
  which leaves this IoU unchanged), a hit when
  ``IoU >= 0.5``; a hit on a ``difficult`` object counts neither way, a second hit on an object is
  a false positive. ``voc07``: 11-point interpolated AP; ``voc12``: all-point (VOC2010+) AP.
  ``mAP`` averages the classes that have at least one non-difficult object; ``per_class`` gives
  ``None`` for the others.

Pictures (:func:`save_pictures`): per-class precision-recall curves, a confusion matrix, and a
grid of images with true and predicted boxes drawn (matplotlib and OpenCV imported on use).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

import numpy as np

from .data import Dataset, Sample
from .errors import ConfigError, InputError
from .formats.json import gc_paused  # one gc pause for JSON loading and evaluation (re-exported)

__all__ = [
    "COCO_KEYS",
    "save_figure",
    "coco_keys",
    "evaluate",
    "align_detections",
    "voc_eval",
    "voc_match",
    "voc_ap",
    "voc_pr",
    "confusion_matrix",
    "PR_AP_DEFINITIONS",
    "pr_ap_definition",
    "pr_curves",
    "plot_pr_curves",
    "plot_confusion_matrix",
    "draw_samples",
    "save_pictures",
    "format_report",
    "gc_paused",
]

#: The twelve COCO summary numbers, in pycocotools' ``stats`` order.
COCO_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def coco_keys(max_dets: Sequence[int] | None = None) -> tuple[str, ...]:
    """The twelve COCO summary names for detection caps ``max_dets`` (three; None: 1, 10, 100):
    :data:`COCO_KEYS` with ``AR<cap>`` for each cap."""
    if max_dets is None:
        return COCO_KEYS
    return COCO_KEYS[:6] + tuple(f"AR{int(m)}" for m in max_dets) + COCO_KEYS[9:]


# ---------------------------------------------------------------------------------------------
# Matching detections to ground truth
# ---------------------------------------------------------------------------------------------


def _norm(path: str) -> str:
    parts = [p for p in PurePosixPath(str(path).replace("\\", "/")).parts if p not in ("", ".")]
    return "/".join(parts)


def _is_aligned(gt: Dataset, dt: Dataset) -> bool:
    return (
        len(gt.samples) == len(dt.samples)
        and list(gt.categories) == list(dt.categories)
        and all(d.scores is not None and d.image == g.image for g, d in zip(gt.samples, dt.samples))
    )


def align_detections(gt: Dataset, dt: Dataset) -> Dataset:
    """``dt`` rearranged to follow ``gt``: one detections sample per ground-truth sample (same
    image, same order; an image without detections gets an empty one), labels re-indexed to
    ``gt.categories`` by name. Boxes, scores and per-box extras keep their order.

    Detections are matched by image path relative to each dataset's root, then by absolute path,
    then by file stem when that stem is unique in ``gt``. Several detection samples of one image
    are concatenated.

    Raises:
        InputError: detections without scores, detections for images that are not in ``gt``, or
            detection classes that ``gt`` does not have.
    """
    if _is_aligned(gt, dt):
        return dt
    by_path: dict[str, int] = {}
    by_abs: dict[str, int] = {}
    by_stem: dict[str, list[int]] = {}
    for i, s in enumerate(gt.samples):
        key = _norm(s.image)
        if key in by_path:
            raise InputError("image listed twice in the ground truth", field="image", value=s.image,
                             expected="each image once")
        by_path[key] = i
        if gt.root is not None or Path(s.image).is_absolute():
            by_abs[str(Path(gt.image_path(s)).absolute())] = i
        by_stem.setdefault(PurePosixPath(key).stem, []).append(i)

    # category names -> gt index
    gt_index = {c: k for k, c in enumerate(gt.categories)}
    lut = np.full(max(len(dt.categories), 1), -1, dtype=np.int64)
    for k, c in enumerate(dt.categories):
        lut[k] = gt_index.get(c, -1)

    parts: list[list[Sample]] = [[] for _ in gt.samples]
    unmatched: list[str] = []
    unknown: dict[str, int] = {}
    no_scores: list[str] = []
    for d in dt.samples:
        key = _norm(d.image)
        i = by_path.get(key)
        if i is None and by_abs and (dt.root is not None or Path(d.image).is_absolute()):
            i = by_abs.get(str(Path(dt.image_path(d)).absolute()))
        if i is None:
            cands = by_stem.get(PurePosixPath(key).stem, [])
            i = cands[0] if len(cands) == 1 else None
        if i is None:
            if len(d):
                unmatched.append(d.image)
            continue
        if len(d) and d.scores is None:
            no_scores.append(d.image)
            continue
        if len(d):
            if d.labels.min() < 0 or d.labels.max() >= len(dt.categories):
                raise InputError("detection label out of range", file=d.image, field="labels",
                                 value=int(d.labels.max()), expected=f"0..{len(dt.categories) - 1}")
            mapped = lut[d.labels]
            for k in np.unique(d.labels[mapped < 0]):
                unknown[dt.categories[k]] = unknown.get(dt.categories[k], 0) + int((d.labels == k).sum())
        parts[i].append(d)

    problems = []
    if no_scores:
        problems.append(("detections have no scores", no_scores, "detections with a confidence per box"))
    if unmatched:
        problems.append(("detections for images that are not in the ground truth", unmatched,
                         "image paths or file stems of ground-truth images"))
    if problems:
        msg, names, expected = problems[0]
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} images)" if len(names) > 5 else "")
        raise InputError(msg, value=shown, expected=expected)
    if unknown:
        raise InputError("detection classes that the ground truth does not have",
                         value=", ".join(f"{c} ({n} boxes)" for c, n in sorted(unknown.items())),
                         expected="one of: " + ", ".join(gt.categories))

    samples = []
    for g, ds in zip(gt.samples, parts):
        ds = [d for d in ds if len(d)]
        if not ds:
            samples.append(Sample(g.image, g.width, g.height, scores=np.zeros(0), id=g.id, split=g.split))
            continue
        samples.append(Sample(
            g.image, g.width, g.height,
            boxes=np.concatenate([d.boxes for d in ds]),
            labels=lut[np.concatenate([d.labels for d in ds])],
            scores=np.concatenate([d.scores for d in ds]),
            box_extra=[e for d in ds for e in d.box_extra],
            id=g.id, split=g.split,
        ))
    return Dataset(list(gt.categories), samples, root=gt.root, meta=dict(gt.meta))


# ---------------------------------------------------------------------------------------------
# Pascal VOC
# ---------------------------------------------------------------------------------------------


def _pairwise_iou(a: np.ndarray, b: np.ndarray, *, inclusive: bool) -> np.ndarray:
    """``(len(a), len(b))`` IoU of xyxy boxes; ``-inf`` where boxes do not overlap at all.

    ``inclusive`` computes it as the VOC devkit does on its 1-based inclusive pixel
    coordinates (widths ``x2 - x1 + 1``). Written with numpy rather than torchvision.ops.box_iou
    because torchvision has no inclusive variant, and evaluation should not need torch.
    """
    one = 1.0 if inclusive else 0.0
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    iw = ix2 - ix1 + one
    ih = iy2 - iy1 + one
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((iw > 0) & (ih > 0), iou, -np.inf)


def voc_match(gt: Dataset, dt: Dataset, *, iou_threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Mark every detection as the VOC devkit does.

    For each image and class, detections in descending score order (stable) take the ground
    truth of their class that they overlap most (devkit IoU on inclusive coordinates, any object
    including difficult ones and already-taken ones); ``IoU >= iou_threshold`` on a difficult
    object: ignored; on an object not yet taken: true positive; on a taken one: false positive
    (duplicate); below the threshold: false positive.

    Returns arrays over all detections in ``dt``'s aligned order: ``labels``, ``scores``,
    ``tp``, ``fp`` (bool; both False for ignored ones), ``iou`` (the best overlap, -inf if
    none) and ``npos`` ``(K,)``: non-difficult objects per class.
    """
    dt = align_detections(gt, dt)
    k = len(gt.categories)
    npos = np.zeros(k, dtype=np.int64)
    labels, scores, tps, fps, ious = [], [], [], [], []
    for g, d in zip(gt.samples, dt.samples):
        if len(g):
            npos += np.bincount(g.labels[~g.difficult], minlength=k)[:k]
        n = len(d)
        if not n:
            continue
        tp = np.zeros(n, dtype=bool)
        fp = np.ones(n, dtype=bool)
        best = np.full(n, -np.inf)
        if len(g):
            order = np.argsort(-d.scores, kind="stable")
            iou = _pairwise_iou(d.boxes[order], g.boxes, inclusive=True)
            iou[d.labels[order][:, None] != g.labels[None, :]] = -np.inf
            jmax = np.argmax(iou, axis=1)  # first maximum, as the devkit's strict ``ov > ovmax``
            ovmax = iou[np.arange(n), jmax]
            hit = ovmax >= iou_threshold
            diff = g.difficult[jmax]
            cand = np.flatnonzero(hit & ~diff)
            # the first candidate (in score order) on each object is the true positive
            _, first = np.unique(jmax[cand], return_index=True)
            tp_sorted = np.zeros(n, dtype=bool)
            tp_sorted[cand[first]] = True
            fp_sorted = ~hit | (hit & ~diff & ~tp_sorted)
            tp[order] = tp_sorted
            fp[order] = fp_sorted
            best[order] = ovmax
        labels.append(d.labels)
        scores.append(d.scores)
        tps.append(tp)
        fps.append(fp)
        ious.append(best)

    def cat(xs, dtype):
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype=dtype)

    return {"labels": cat(labels, np.int64), "scores": cat(scores, np.float64), "tp": cat(tps, bool),
            "fp": cat(fps, bool), "iou": cat(ious, np.float64), "npos": npos}


def voc_pr(match: Mapping[str, np.ndarray], label: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recall, precision and score arrays of class ``label`` after :func:`voc_match`, detections
    in descending score order (stable), as the devkit's ``cumsum(tp) / npos`` and
    ``tp / max(tp + fp, eps)``."""
    sel = np.flatnonzero(match["labels"] == label)
    order = sel[np.argsort(-match["scores"][sel], kind="stable")]
    tp = np.cumsum(match["tp"][order]).astype(np.float64)
    fp = np.cumsum(match["fp"][order]).astype(np.float64)
    npos = float(match["npos"][label])
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tp / npos if npos > 0 else np.full_like(tp, np.nan)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return rec, prec, match["scores"][order]


def voc_ap(rec: np.ndarray, prec: np.ndarray, *, use_07_metric: bool) -> float:
    """AP from a precision-recall curve, as the VOC devkit computes it.

    ``use_07_metric``: VOC2007's 11-point interpolated AP (mean over recall thresholds
    0, 0.1, ..., 1 of the best precision at recall >= t, 0 when none). Otherwise VOC2010+'s
    all-point AP: the area under the precision envelope (precision made monotonically
    decreasing) at every point where recall changes.
    """
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = float(np.max(prec[rec >= t])) if np.any(rec >= t) else 0.0
            ap += p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_eval(
    gt: Dataset,
    dt: Dataset,
    *,
    use_07_metric: bool,
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """Pascal VOC AP per class and their mean: ``{"mAP": float, "per_class": {name: AP or None}}``.

    See :func:`voc_match` for the matching rules and :func:`voc_ap` for the two AP definitions.
    Classes without a non-difficult object get ``None`` and are left out of ``mAP`` (the devkit
    would divide by zero); ``mAP`` is ``None`` when no class has one.
    """
    if not (0.0 < float(iou_threshold) <= 1.0):
        raise ConfigError("IoU threshold out of range", field="iou_threshold", value=iou_threshold,
                          expected="a number in (0, 1]")
    m = voc_match(gt, dt, iou_threshold=float(iou_threshold))
    per_class: dict[str, float | None] = {}
    for k, name in enumerate(gt.categories):
        if m["npos"][k] == 0:
            per_class[name] = None
            continue
        rec, prec, _ = voc_pr(m, k)
        per_class[name] = voc_ap(rec, prec, use_07_metric=use_07_metric)
    aps = [v for v in per_class.values() if v is not None]
    return {"mAP": float(np.mean(aps)) if aps else None, "per_class": per_class}


# ---------------------------------------------------------------------------------------------
# evaluate(): every metric asked for, through the metrics plugins
# ---------------------------------------------------------------------------------------------


def evaluate(
    gt: Dataset,
    dt: Dataset,
    metrics: Sequence[str] | Mapping[str, Mapping[str, Any] | None] = ("coco",),
    *,
    executor: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate detections ``dt`` against ground truth ``gt`` with each metric in ``metrics``.

    Args:
        gt: ground truth.
        dt: detections (samples with ``scores``), matched to ``gt`` by image path or stem and
            by category name (see :func:`align_detections`).
        metrics: registered metric names (``coco``, ``voc07``, ``voc12`` or a plugin's), or a
            mapping ``{name: {param: value}}`` giving each its own parameters.
        **options: parameters handed to every metric whose factory accepts them, e.g.
            ``engine="pycocotools"`` and ``iou_thresholds=[...]`` (coco), ``iou_threshold=0.7``
            (voc07/voc12), ``difficult="drop"`` (coco). An option no metric accepts is a
            :class:`~cvpipe.errors.ConfigError`.
        executor: a :class:`cvpipe.contract.Executor` (``--executor NAME``): a metric that has
            ``compute_sharded(gt, dt, *, executor)`` (coco) runs its per-image work there; the
            others run here as without it.

    Returns:
        ``{name: result}``, e.g. ``{"coco": {"AP": ..., ..., "ARl": ..., "per_class": {...}},
        "voc07": {"mAP": ..., "per_class": {name: AP}}}``; JSON-ready.
    """
    from .settings import signature_params
    from .plugins import get_registry
    from .registry import call_plugin

    fam = get_registry().metrics
    if isinstance(metrics, str):
        metrics = [metrics]
    items = list(metrics.items()) if isinstance(metrics, Mapping) else [(m, None) for m in metrics]
    if not items:
        raise ConfigError("no metric asked for", field="metrics", expected="at least one of: " + ", ".join(fam.names()))
    dt = align_detections(gt, dt)
    used: set[str] = set()
    entries = []
    for name, params in items:
        entry = fam.get(name, field="metrics")
        accepted = signature_params(entry.obj)
        merged = {k: v for k, v in options.items() if k in accepted}
        used.update(merged)
        merged.update(params or {})
        entries.append((name, entry, merged))
    unused = sorted(set(options) - used)
    if unused:
        raise ConfigError("option accepted by none of the metrics", field=unused[0], value=options[unused[0]],
                          expected="an option of " + ", ".join(n for n, _, _ in entries))
    result: dict[str, Any] = {}
    for name, entry, params in entries:
        metric = fam.create(name, params, where=f"metrics.{name}")
        sharded = getattr(metric, "compute_sharded", None) if executor is not None else None
        if callable(sharded):
            result[name] = call_plugin(entry, sharded, gt, dt, executor=executor)
        else:
            result[name] = call_plugin(entry, metric.compute, gt, dt)
    return result


def format_report(result: Mapping[str, Any]) -> str:
    """The result of :func:`evaluate` as tables for people: COCO's twelve numbers, then one
    per-class AP table with a column per metric."""
    from .console import format_table

    blocks = []
    if "coco" in result:
        c = result["coco"]
        caps = c.get("max_dets")
        rows = [[k, c[k]] for k in coco_keys(caps) if k in c]
        note = f"; AP at up to {caps[-1]} detections per image" if caps else ""
        blocks.append(f"COCO (pycocotools' definitions; -1: no ground truth in that range{note})\n"
                      + format_table(rows, ["metric", "value"]))
    cols = [m for m, r in result.items() if isinstance(r, Mapping) and isinstance(r.get("per_class"), Mapping)]
    if cols:
        names: list[str] = []
        for m in cols:
            names += [n for n in result[m]["per_class"] if n not in names]
        rows = [[n] + [_cell(result[m]["per_class"].get(n)) for m in cols] for n in names]
        summary = []
        for m in cols:
            r = result[m]
            summary.append(_cell(r.get("mAP", r.get("AP"))))
        rows.append(["mean"] + summary)
        heads = ["class"] + [f"{m} AP" if m != "coco" else "coco AP@[.5:.95]" for m in cols]
        blocks.append("Per-class AP ('-': no ground truth of that class)\n" + format_table(rows, heads))
    for m, r in result.items():
        if m in cols or m == "coco" or not isinstance(r, Mapping):
            continue
        rows = [[k, v] for k, v in r.items() if isinstance(v, (int, float, str)) or v is None]
        blocks.append(f"{m}\n" + format_table(rows, ["metric", "value"]))
    return "\n\n".join(blocks)


def _cell(v: Any) -> Any:
    return "-" if v is None else v


# ---------------------------------------------------------------------------------------------
# Pictures: precision-recall curves, confusion matrix, sample images
# ---------------------------------------------------------------------------------------------


def confusion_matrix(gt: Dataset, dt: Dataset, *, iou_threshold: float = 0.5,
                     conf_threshold: float = 0.25) -> np.ndarray:
    """``(K + 1, K + 1)`` int64 counts: row = true class, column = predicted class; the last row
    counts detections that match no object (false positives, "background"), the last column
    objects no detection matched ("missed").

    Per image, detections scoring at least ``conf_threshold`` take, in descending score order,
    the not yet matched object they overlap most with ``IoU >= iou_threshold`` whatever its class
    (plain IoU of the xyxy boxes). Difficult objects are left out, and so are detections whose
    best match is a difficult object.
    """
    dt = align_detections(gt, dt)
    k = len(gt.categories)
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
    for g, d in zip(gt.samples, dt.samples):
        keep = d.scores >= conf_threshold if len(d) else np.zeros(0, dtype=bool)
        order = np.flatnonzero(keep)[np.argsort(-d.scores[keep], kind="stable")] if len(d) else np.zeros(0, np.int64)
        taken = np.zeros(len(g), dtype=bool)
        if len(g) and len(order):
            iou = _pairwise_iou(d.boxes[order], g.boxes, inclusive=False)
            for r, j in enumerate(order):
                row = np.where(taken, -np.inf, iou[r])
                best = int(np.argmax(row))
                if row[best] >= iou_threshold:
                    taken[best] = True
                    if not g.difficult[best]:
                        cm[g.labels[best], d.labels[j]] += 1
                else:
                    cm[k, d.labels[j]] += 1
        else:
            for j in order:
                cm[k, d.labels[j]] += 1
        for j in np.flatnonzero(~taken & ~g.difficult):
            cm[g.labels[j], k] += 1
    return cm


def save_figure(fig: Any, path: Path) -> Path:
    """Render a matplotlib Figure (no pyplot, no global backend change) to ``path`` as PNG,
    atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .fsutil import atomic_open

    FigureCanvasAgg(fig)
    with atomic_open(path) as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    return path


#: What each AP the precision-recall plot can show is called in its title.
PR_AP_DEFINITIONS: dict[str, str] = {
    "voc07": "VOC2007 11-point AP",
    "voc12": "VOC all-point AP",
    "coco": "COCO 101-point AP",
}


def pr_ap_definition(metrics: Sequence[str]) -> str:
    """The AP the precision-recall plot shows for an evaluation with ``metrics`` (names in the
    order asked for), so that it equals the table beside it: the first of ``voc07`` / ``voc12``
    (the plot's per-class numbers are that table column), else ``coco`` (its mean is the
    table's AP50), else ``voc12``."""
    names = list(metrics)
    for m in names:
        if m in ("voc07", "voc12"):
            return m
    return "coco" if "coco" in names else "voc12"


def pr_curves(gt: Dataset, dt: Dataset, *, ap: str = "voc12", iou_threshold: float = 0.5,
              params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per-class precision-recall curves and APs at ``iou_threshold``, as metric ``ap`` defines
    them, so the numbers equal that metric's table.

    ``voc07`` / ``voc12``: the devkit's matching (:func:`voc_match`) and its 11-point /
    all-point AP (:func:`voc_ap`); curves are the raw (recall, precision) points. Any other
    metric (``coco``) is asked through the registry for its curves: a metric plugin may offer
    ``pr_curves(gt, dt, *, iou_threshold)`` returning this same dictionary (``coco`` gives
    pycocotools' 101-point interpolated precision). ``params`` are the metric's parameters
    (engine, ...), as the table's evaluation used them.

    Returns:
        ``{"definition": text, "iou_threshold": float, "mAP": float or None, "per_class":
        {name: {"recall": (R,) array, "precision": (R,) array, "ap": float}}}``, classes
        without ground truth left out.

    Raises:
        ConfigError: ``ap`` names a metric that has no precision-recall curves.
    """
    if not (0.0 < float(iou_threshold) <= 1.0):
        raise ConfigError("IoU threshold out of range", field="iou_threshold", value=iou_threshold,
                          expected="a number in (0, 1]")
    if ap in ("voc07", "voc12"):
        m = voc_match(gt, dt, iou_threshold=iou_threshold)
        per_class: dict[str, dict[str, Any]] = {}
        for k, name in enumerate(gt.categories):
            if m["npos"][k] == 0:
                continue
            rec, prec, _ = voc_pr(m, k)
            per_class[name] = {"recall": rec, "precision": prec,
                               "ap": voc_ap(rec, prec, use_07_metric=(ap == "voc07"))}
        aps = [c["ap"] for c in per_class.values()]
        return {"definition": PR_AP_DEFINITIONS[ap], "iou_threshold": float(iou_threshold),
                "mAP": float(np.mean(aps)) if aps else None, "per_class": per_class}
    from .plugins import get_registry
    from .registry import call_plugin

    fam = get_registry().metrics
    entry = fam.get(ap, field="ap")
    metric = fam.create(ap, dict(params or {}), where=f"metrics.{ap}")
    if not callable(getattr(metric, "pr_curves", None)):
        raise ConfigError("this metric draws no precision-recall curves", field="ap", value=ap,
                          expected="voc07, voc12, coco or a metric with a pr_curves method")
    return call_plugin(entry, metric.pr_curves, gt, dt, iou_threshold=iou_threshold)


def plot_pr_curves(gt: Dataset, dt: Dataset, path: Path, *, iou_threshold: float = 0.5, ap: str = "voc12",
                   params: Mapping[str, Any] | None = None) -> Path:
    """Per-class precision-recall curves at ``iou_threshold`` (see :func:`pr_curves`) with each
    class's AP, computed as metric ``ap`` computes it (the table beside the plot: see
    :func:`pr_ap_definition`), in the legend, and their mean; saved as a PNG."""
    from matplotlib.figure import Figure

    from matplotlib import patheffects

    curves = pr_curves(gt, dt, ap=ap, iou_threshold=iou_threshold, params=params)
    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot(1, 1, 1)
    per_class = curves["per_class"]
    grid = np.linspace(0, 1, 101)
    envelope = []
    for k, (name, c) in enumerate(per_class.items()):
        rec, prec = np.asarray(c["recall"], dtype=np.float64), np.asarray(c["precision"], dtype=np.float64)
        r = np.concatenate(([0.0], rec))
        p = np.concatenate(([prec[0] if len(prec) else 0.0], prec))
        rgb = _class_color(gt.categories.index(name) if name in gt.categories else k)
        width = 1.2 if len(per_class) > 10 else 1.8
        light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 170  # yellow on white: outline it
        ax.plot(r, p, linewidth=width, color=[v / 255 for v in rgb], label=f"{name} {c['ap']:.3f}",
                path_effects=[patheffects.Stroke(linewidth=width + 1.2, foreground="0.3"), patheffects.Normal()]
                if light else None)
        # interpolated precision at recall t: the best precision at recall >= t (0 past the end)
        env = np.concatenate((np.maximum.accumulate(prec[::-1])[::-1], [0.0])) if len(prec) else np.zeros(1)
        envelope.append(env[np.searchsorted(rec, grid, side="left")] if len(rec) else np.zeros_like(grid))
    if per_class:
        ax.plot(grid, np.mean(envelope, axis=0), color="black", linewidth=2.5,
                label=f"all classes (mAP {curves['mAP']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall per class (IoU >= {iou_threshold:g}; legend: {curves['definition']})")
    ax.grid(True, alpha=0.3)
    if per_class:
        if len(per_class) <= 25:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        else:
            ax.legend(handles=ax.get_lines()[-1:], loc="lower left", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no ground-truth objects", ha="center", va="center")
    return save_figure(fig, Path(path))


def _class_color(k: int) -> tuple[int, int, int]:
    """Class ``k``'s colour, the same in the plots as in the drawn boxes."""
    from .draw import color_for

    return color_for(k)


def plot_confusion_matrix(gt: Dataset, dt: Dataset, path: Path, *, iou_threshold: float = 0.5,
                          conf_threshold: float = 0.25) -> Path:
    """The :func:`confusion_matrix` as a PNG: colours normalised per true class (row), counts
    written in the cells when there are at most 30 classes."""
    from matplotlib.figure import Figure

    cm = confusion_matrix(gt, dt, iou_threshold=iou_threshold, conf_threshold=conf_threshold)
    names = list(gt.categories)
    rows = names + ["background (FP)"]
    cols = names + ["missed (FN)"]
    n = len(rows)
    size = min(4 + 0.45 * n, 24)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.add_subplot(1, 1, 1)
    sums = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, sums, out=np.zeros(cm.shape, dtype=np.float64), where=sums > 0)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(cols, rotation=90, fontsize=8)
    ax.set_yticklabels(rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (IoU >= {iou_threshold:g}, score >= {conf_threshold:g})")
    if n <= 31:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    return save_figure(fig, Path(path))


def draw_samples(gt: Dataset, dt: Dataset, path: Path, *, count: int = 8, conf_threshold: float = 0.25,
                 max_side: int = 512, cols: int = 4) -> Path | None:
    """A grid of up to ``count`` images (spread evenly over ``gt``) with detections scoring at
    least ``conf_threshold`` solid in their class colours, higher scores on top, true boxes
    dashed white/black over them and the detections' labels last
    (:func:`cvpipe.draw.draw_boxes` with ``ground_truth``), and a legend below. Images that cannot be found are
    skipped; returns None when none could be read."""
    import cv2

    from .draw import add_legend, color_for, draw_boxes, image_grid, read_image, save_png

    dt = align_detections(gt, dt)
    n = len(gt.samples)
    if n == 0 or count <= 0:
        return None
    picks = sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist()))
    tiles, titles = [], []
    shown: set[int] = set()
    for i in picks:
        g, d = gt.samples[i], dt.samples[i]
        file = gt.image_path(g)
        if not file.is_file():
            continue
        try:
            img = read_image(file)
        except InputError:
            continue
        scale = min(1.0, max_side / max(img.shape[:2]))
        if scale < 1.0:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        keep = d.scores >= conf_threshold if len(d) else np.zeros(0, dtype=bool)
        img = draw_boxes(img, d.boxes[keep] * scale, d.labels[keep], gt.categories, d.scores[keep],
                         ground_truth=g.boxes * scale)
        shown.update(int(k) for k in d.labels[keep])
        tiles.append(img)
        titles.append(Path(g.image).name)
    if not tiles:
        return None
    grid = image_grid(tiles, cols=min(cols, len(tiles)), titles=titles)
    legend = [("ground truth", "dashed", None)]
    legend += [(f"{gt.categories[k]} (prediction, score >= {conf_threshold:g})", "solid", color_for(k))
               for k in sorted(shown)]
    return save_png(path, add_legend(grid, legend))


def save_pictures(gt: Dataset, dt: Dataset, out_dir: Path, *, iou_threshold: float = 0.5,
                  conf_threshold: float = 0.25, samples: int = 8, ap: str = "voc12",
                  ap_params: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write ``pr_curves.png``, ``confusion_matrix.png`` and (when images are found)
    ``samples.png`` into ``out_dir``; returns ``{picture: path}`` for those written.

    ``ap`` / ``ap_params``: the metric (and its parameters) whose AP the precision-recall plot
    shows, the one in the table next to it (:func:`pr_ap_definition`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dt = align_detections(gt, dt)
    written = {
        "pr_curves": str(plot_pr_curves(gt, dt, out_dir / "pr_curves.png", iou_threshold=iou_threshold,
                                        ap=ap, params=ap_params)),
        "confusion_matrix": str(plot_confusion_matrix(gt, dt, out_dir / "confusion_matrix.png",
                                                      iou_threshold=iou_threshold, conf_threshold=conf_threshold)),
    }
    grid = draw_samples(gt, dt, out_dir / "samples.png", count=samples, conf_threshold=conf_threshold)
    if grid is not None:
        written["samples"] = str(grid)
    return written
