"""COCO bbox evaluation: :func:`coco_eval` gives ``AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs
ARm ARl`` exactly as pycocotools computes them (``-1`` where pycocotools gives -1: no ground
truth in that range), plus ``per_class`` AP@[.5:.95].

The COCO dictionaries are built in memory (:func:`coco_dicts`) with the COCO writer's rules (the
``to_coco_dict`` the caller passes, the COCO format's: original image and category ids when the
ground truth came from COCO, the annotations' own ``area``, which pycocotools uses for the
small/medium/large ranges, ``iscrowd``, the original ``bbox`` numbers) except for annotation ids,
which are always fresh from 1: pycocotools marks "unmatched" with id 0, so a ground truth whose
ids start at 0 is silently mis-scored. Engine: faster-coco-eval (a C++ reimplementation giving
pycocotools' numbers several times faster; the default) or pycocotools itself (the reference,
and the fallback when faster-coco-eval is not installed). Both are imported when a metric runs.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from itertools import repeat
from typing import Any, Callable, Literal, Sequence

from .errors import ConfigError

__all__ = ["coco_eval", "coco_dicts", "run_cocoeval", "results_dict", "faster_prepared_eval",
           "check_iou_thresholds", "check_max_dets", "coco_summary", "coco_pr_curves", "evaluated", "Engine"]

Engine = Literal["faster", "pycocotools"]
#: ``to_coco_dict(dataset, *, keep_difficult, keep_crowd, file_names) -> dict``
ToCocoDict = Callable[..., dict]


def _int_ids(values: list[Any]) -> list[int]:
    """``values`` when they are distinct integers (what both engines need), else 1..N."""
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values) and len(set(values)) == len(values)
    return [int(v) for v in values] if ok else list(range(1, len(values) + 1))


def _gt_dict(gt, difficult: str, to_coco_dict: ToCocoDict) -> tuple[dict, list[int], list[int]]:
    """The ground-truth COCO dict (see :func:`coco_dicts`), its image ids in sample order and its
    category ids in category order."""
    gt_dict = to_coco_dict(gt, keep_difficult=(difficult == "count"), keep_crowd=True,
                           file_names=[s.image for s in gt.samples])
    old_img = [im["id"] for im in gt_dict["images"]]
    new_img = _int_ids(old_img)
    old_cat = [c["id"] for c in gt_dict["categories"]]
    new_cat = _int_ids(old_cat)
    img_map = dict(zip(old_img, new_img))
    cat_map = dict(zip(old_cat, new_cat))
    for im, iid in zip(gt_dict["images"], new_img):
        im["id"] = iid
    for c, cid in zip(gt_dict["categories"], new_cat):
        c["id"] = cid
    for k, a in enumerate(gt_dict["annotations"], start=1):
        a["id"] = k
        a["image_id"] = img_map[a["image_id"]]
        a["category_id"] = cat_map[a["category_id"]]
        a.pop("segmentation", None)  # bbox evaluation never reads it
    return gt_dict, new_img, new_cat


def _detection_xywh(d) -> "Any":
    """``(N, 4)`` COCO ``[x, y, w, h]`` of a detections sample: the detection file's own
    numbers (``box_extra["bbox"]``, kept by the COCO results reader) where they still describe
    the box, as the COCO writer does, so results read from a file are evaluated on exactly that
    file's numbers (``x + w - x`` is not always ``w`` in floating point); else computed."""
    import numpy as np

    b = d.boxes
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    origs = [ex.get("bbox") if ex else None for ex in d.box_extra]
    if origs and all(isinstance(o, list) and len(o) == 4 for o in origs):
        try:
            o = np.asarray(origs, dtype=np.float64)
        except (TypeError, ValueError):
            return xywh
        same = ((o[:, 0] == b[:, 0]) & (o[:, 1] == b[:, 1])
                & (o[:, 0] + o[:, 2] == b[:, 2]) & (o[:, 1] + o[:, 3] == b[:, 3]))
        xywh[same] = o[same]
    return xywh


def coco_dicts(gt, dt, *, to_coco_dict: ToCocoDict,
               difficult: Literal["count", "drop"] = "count") -> tuple[dict, list[dict]]:
    """The COCO ground-truth dict and the detection results list for ``gt`` and ``dt``.

    ``gt`` becomes what the COCO writer would write (``to_coco_dict``, the COCO format's),
    then annotation ids are renumbered from 1 and image/category ids that are not distinct
    integers are replaced by 1..N (in sample/category order). ``difficult="drop"`` leaves VOC
    difficult objects out; by default they count like any object. Detections (matched to
    ``gt`` by :func:`cvpipe.evaluation.align_detections`) keep their order; their ``bbox`` is the
    original COCO ``bbox`` when the box still equals it, else ``[x1, y1, x2 - x1, y2 - y1]``.
    """
    import numpy as np

    from .evaluation import align_detections

    dt = align_detections(gt, dt)
    gt_dict, img_ids, cat_list = _gt_dict(gt, difficult, to_coco_dict)
    cat_ids = np.asarray(cat_list, dtype=np.int64)
    results: list[dict] = []
    for iid, d in zip(img_ids, dt.samples):
        if not len(d):
            continue
        results.extend({"image_id": iid, "category_id": c, "bbox": bb, "score": sc}
                       for c, bb, sc in zip(cat_ids[d.labels].tolist(), _detection_xywh(d).tolist(),
                                            d.scores.tolist()))
    return gt_dict, results


def results_dict(gt_dict: dict, results: list[dict]) -> dict:
    """What ``COCO.loadRes`` makes of bbox ``results``: it sets, in place as loadRes does,
    ``id`` (from 1 in list order), ``area = w * h`` and ``iscrowd = 0`` on each result; built
    directly so that an empty list works with either engine."""
    for k, r in enumerate(results, start=1):
        b = r["bbox"]
        r["area"] = b[2] * b[3]
        r["id"] = k
        r["iscrowd"] = 0
    return {"images": list(gt_dict["images"]), "categories": [dict(c) for c in gt_dict["categories"]],
            "annotations": results}


def _indexed(coco: Any, data: dict) -> Any:
    """``coco`` (a ``COCO`` of either engine) holding ``data``, indexed."""
    coco.dataset = data
    coco.createIndex()
    return coco


def _set_params(ev: Any, iou_thresholds: Sequence[float] | None, max_dets: Sequence[int] | None) -> None:
    """``ev.params`` (a COCOeval of either engine) given the IoU thresholds and detection caps."""
    import numpy as np

    if iou_thresholds is not None:
        ev.params.iouThrs = np.asarray(iou_thresholds, dtype=np.float64)
    if max_dets is not None:
        ev.params.maxDets = [int(m) for m in max_dets]


def _summarized(ev: Any, iou_thresholds: Sequence[float] | None, max_dets: Sequence[int] | None = None) -> Any:
    """``ev`` (a COCOeval of either engine) after ``evaluate(); accumulate(); summarize()``."""
    _set_params(ev, iou_thresholds, max_dets)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev


def run_cocoeval(gt_dict: dict, results: list[dict], *, engine: Engine = "faster",
                 iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None):
    """Run COCO bbox evaluation on in-memory dicts; returns the evaluator after
    ``evaluate(); accumulate(); summarize()`` (its printing silenced): ``.stats`` holds the
    twelve numbers (for the default ``max_dets`` only, see :func:`coco_summary`),
    ``.eval["precision"]`` the ``[T, R, K, A, M]`` array. ``max_dets``: ``params.maxDets``."""
    dt_dict = results_dict(gt_dict, results)
    if engine == "faster":
        from faster_coco_eval import COCO, COCOeval_faster

        def quiet(*args: Any, **kwargs: Any) -> None:
            return None

        coco_gt, coco_dt = (_indexed(COCO(print_function=quiet), d) for d in (gt_dict, dt_dict))
        return _summarized(COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=quiet), iou_thresholds, max_dets)
    if engine == "pycocotools":
        from pycocotools.coco import COCO as PyCOCO
        from pycocotools.cocoeval import COCOeval

        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt, coco_dt = (_indexed(PyCOCO(), d) for d in (gt_dict, dt_dict))
            return _summarized(COCOeval(coco_gt, coco_dt, "bbox"), iou_thresholds, max_dets)
    raise ConfigError("unknown COCO engine", field="engine", value=engine, expected="'faster' or 'pycocotools'")


def _can_prepare() -> bool:
    """Whether the installed faster-coco-eval has the internals :func:`faster_prepared_eval`
    replaces or calls (checked, so that a release that changes them falls back to its public
    API instead of failing)."""
    try:
        from faster_coco_eval import COCOeval_faster
        from faster_coco_eval.core import mask
    except ImportError:
        return False
    ev = COCOeval_faster(None, None, "bbox", print_function=lambda *a, **k: None)
    return (callable(getattr(COCOeval_faster, "_prepare", None)) and callable(getattr(COCOeval_faster, "computeIoU", None))
            and hasattr(ev, "gt_dataset") and callable(getattr(ev.gt_dataset, "append_ref", None))
            and callable(getattr(ev.gt_dataset, "clean", None)) and callable(getattr(mask, "iou", None)))


def faster_prepared_eval(gt, dt, *, to_coco_dict: ToCocoDict, difficult: Literal["count", "drop"] = "count",
                         iou_thresholds: Sequence[float] | None = None, max_dets: Sequence[int] | None = None):
    """COCO bbox evaluation of ``gt``/``dt`` with faster-coco-eval's C++ matcher, fed directly.

    Same numbers as :func:`run_cocoeval` on :func:`coco_dicts` (the tests check both against
    pycocotools), with less Python around the C++ (README, Performance): it skips building detection dicts with boxes, the two ``COCO`` indexes and
    the per (image, category) Python look-ups by
    handing the evaluator (a ``COCOeval_faster`` whose ``_prepare`` and ``computeIoU`` are
    replaced) ground truth and detections grouped per image as cvpipe already holds them. IoUs
    come from faster-coco-eval's own ``mask.iou`` (the one ``computeIoU`` calls), once per image
    over all its detections (sorted by score, stable, as ``computeIoU`` sorts them) and objects,
    then sliced per category; IoU is element-wise, so the slices equal the per-pair results.
    Returns the evaluator after ``evaluate(); accumulate(); summarize()``.
    """
    import numpy as np
    from faster_coco_eval import COCOeval_faster
    from faster_coco_eval.core import mask as mask_utils

    from .evaluation import align_detections

    dt = align_detections(gt, dt)
    gt_dict, img_ids, cat_list = _gt_dict(gt, difficult, to_coco_dict)
    cat_ids = np.asarray(cat_list, dtype=np.int64)

    gt_by_img: dict[int, list[dict]] = {}
    for a in gt_dict["annotations"]:
        a["ignore"] = int(a.get("iscrowd", 0))  # as COCOeval._prepare sets it
        gt_by_img.setdefault(a["image_id"], []).append(a)
    gt_arrays = {iid: (np.asarray([a["bbox"] for a in anns], dtype=np.float64),
                       np.asarray([a["category_id"] for a in anns], dtype=np.int64),
                       [int(a.get("iscrowd", 0)) for a in anns])
                 for iid, anns in gt_by_img.items()}
    dt_arrays = {}
    for iid, d in zip(img_ids, dt.samples):
        if len(d):
            dt_arrays[iid] = (_detection_xywh(d), cat_ids[d.labels], d.scores)

    def quiet(*args: Any, **kwargs: Any) -> None:
        return None

    class Prepared(COCOeval_faster):
        def _prepare(self) -> None:
            self.gt_dataset.clean()
            self.dt_dataset.clean()
            gt_pairs, dt_pairs = set(), set()
            for anns in gt_by_img.values():
                for a in anns:
                    self.gt_dataset.append_ref(a["image_id"], a["category_id"], a)
                    gt_pairs.add((a["image_id"], a["category_id"]))
            # detection ids as COCO.loadRes numbers them: 1.. in results order; one C-level
            # map over all detections instead of a Python loop
            if dt_arrays:
                xywh = np.concatenate([v[0] for v in dt_arrays.values()])
                cats = np.concatenate([v[1] for v in dt_arrays.values()]).tolist()
                scores = np.concatenate([v[2] for v in dt_arrays.values()]).tolist()
                iids = np.repeat(np.fromiter(dt_arrays, np.int64, len(dt_arrays)),
                                 [len(v[1]) for v in dt_arrays.values()]).tolist()
                area = (xywh[:, 2] * xywh[:, 3]).tolist()
                n = len(cats)
                records = list(map(dict, map(zip, repeat(("id", "score", "area", "iscrowd")),
                                             zip(range(1, n + 1), scores, area, repeat(0, n)))))
                deque(map(self.dt_dataset.append_ref, iids, cats, records), maxlen=0)
                dt_pairs.update(zip(iids, cats))
            self._nonempty_iou_pairs = gt_pairs & dt_pairs
            self._image = None

        def computeIoU(self, imgId, catId):  # noqa: N802 (the evaluator's name)
            if imgId != self._image:
                gx, gc, crowd = gt_arrays[imgId]
                dx, dc, ds = dt_arrays[imgId]
                order = np.argsort(-ds, kind="mergesort")
                self._image = imgId
                self._dc, self._gc = dc[order], gc
                self._iou = np.asarray(mask_utils.iou(dx[order], gx, crowd), dtype=np.float64)
            rows = np.flatnonzero(self._dc == catId)[: self.params.maxDets[-1]]
            cols = np.flatnonzero(self._gc == catId)
            return self._iou[rows[:, None], cols]

    ev = Prepared(None, None, "bbox", print_function=quiet)
    ev.params.imgIds = sorted(img_ids)
    ev.params.catIds = sorted(cat_list)
    _set_params(ev, iou_thresholds, max_dets)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ev.cvpipe_categories = {c["id"]: c["name"] for c in gt_dict["categories"]}
    return ev


def check_iou_thresholds(iou_thresholds: Sequence[float] | None) -> list[float] | None:
    """``iou_thresholds`` as floats, or ConfigError unless increasing, distinct, in (0, 1]."""
    if iou_thresholds is None:
        return None
    thr = [float(t) for t in iou_thresholds]
    if not thr or any(not (0.0 < t <= 1.0) for t in thr) or sorted(thr) != thr or len(set(thr)) != len(thr):
        raise ConfigError("bad IoU thresholds", field="iou_thresholds", value=list(iou_thresholds),
                          expected="increasing distinct numbers in (0, 1], e.g. [0.5, 0.75]")
    return thr


def check_max_dets(max_dets: Sequence[int] | None) -> list[int] | None:
    """``max_dets`` as three increasing positive integers (None: pycocotools' 1, 10, 100), or
    ConfigError."""
    if max_dets is None:
        return None
    vals = list(max_dets)
    ok = (len(vals) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in vals)
          and vals[0] < vals[1] < vals[2])
    if not ok:
        raise ConfigError("bad detection caps", field="max_dets", value=vals,
                          expected="three increasing positive integers, e.g. 100,300,1000")
    return [int(v) for v in vals]


def coco_summary(ev: Any, max_dets: Sequence[int]) -> list[float]:
    """The twelve summary numbers of an accumulated evaluator whose ``params.maxDets`` is
    ``max_dets``, with pycocotools' ``summarize`` formulas (mean of the entries > -1, else -1)
    but the given caps: AP, AP50, AP75, APs/m/l and ARs/m/l at the largest cap, then AR at
    each cap (pycocotools' own summarize reads AP at a hard-coded 100 detections, and -1 when
    100 is not a cap)."""
    import numpy as np

    p = ev.params
    caps = list(p.maxDets)
    area = {lbl: i for i, lbl in enumerate(p.areaRngLbl)}

    def one(ap: bool, iou: float | None = None, rng: str = "all", cap: int = caps[-1]) -> float:
        m = caps.index(cap)
        s = ev.eval["precision"][:, :, :, area[rng], m] if ap else ev.eval["recall"][:, :, area[rng], m]
        if iou is not None:
            s = s[np.where(iou == np.asarray(p.iouThrs))[0]]
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    big = max_dets[-1]
    return [one(True), one(True, 0.5), one(True, 0.75), one(True, rng="small"), one(True, rng="medium"),
            one(True, rng="large"), one(False, cap=max_dets[0]), one(False, cap=max_dets[1]),
            one(False, cap=big), one(False, rng="small"), one(False, rng="medium"), one(False, rng="large")]


def evaluated(gt, dt, *, to_coco_dict: ToCocoDict, engine: Engine, iou_thresholds: list[float] | None,
              difficult: Literal["count", "drop"], max_dets: list[int] | None = None) -> tuple[Any, dict[int, str]]:
    """The COCO evaluator after ``evaluate(); accumulate(); summarize()`` on ``gt`` and ``dt``,
    and its category id -> name map (faster-coco-eval when installed and asked for, else
    pycocotools); ``max_dets``: its ``params.maxDets`` (None: 1, 10, 100)."""
    from .formats.json import gc_paused

    if engine == "faster":
        try:
            import faster_coco_eval  # noqa: F401
        except ImportError:
            engine = "pycocotools"
    with gc_paused():
        if engine == "faster" and _can_prepare():
            ev = faster_prepared_eval(gt, dt, to_coco_dict=to_coco_dict, difficult=difficult,
                                      iou_thresholds=iou_thresholds, max_dets=max_dets)
            return ev, ev.cvpipe_categories
        # pycocotools, or a faster-coco-eval whose internals differ: its public API
        gt_dict, results = coco_dicts(gt, dt, to_coco_dict=to_coco_dict, difficult=difficult)
        ev = run_cocoeval(gt_dict, results, engine=engine, iou_thresholds=iou_thresholds, max_dets=max_dets)
        return ev, {c["id"]: c["name"] for c in gt_dict["categories"]}


def coco_pr_curves(gt, dt, *, to_coco_dict: ToCocoDict, engine: Engine = "faster", iou_threshold: float = 0.5,
                   difficult: Literal["count", "drop"] = "count") -> dict[str, Any]:
    """Per-class precision at pycocotools' 101 recall points at ``iou_threshold`` (area "all",
    100 detections per image), each class's AP their mean and ``mAP`` the classes' mean: at 0.5,
    exactly the COCO metric's ``AP50``. See :func:`cvpipe.evaluation.pr_curves` for the
    dictionary."""
    import numpy as np

    from .evaluation import PR_AP_DEFINITIONS

    ev, name_of = evaluated(gt, dt, to_coco_dict=to_coco_dict, engine=engine,
                            iou_thresholds=[float(iou_threshold)], difficult=difficult)
    rec = np.asarray(ev.params.recThrs, dtype=np.float64)
    by_name: dict[str, dict[str, Any]] = {}
    for k, cid in enumerate(ev.params.catIds):
        p = np.asarray(ev.eval["precision"][0, :, k, 0, -1], dtype=np.float64)
        if not (p > -1).any():
            continue  # no ground truth of that class
        by_name[name_of[cid]] = {"recall": rec, "precision": np.maximum(p, 0.0), "ap": float(np.mean(p[p > -1]))}
    per_class = {c: by_name[c] for c in gt.categories if c in by_name}
    aps = [c["ap"] for c in per_class.values()]
    return {"definition": f"{PR_AP_DEFINITIONS['coco']}{round(100 * iou_threshold):d}",
            "iou_threshold": float(iou_threshold), "mAP": float(np.mean(aps)) if aps else None,
            "per_class": per_class}


def coco_eval(
    gt,
    dt,
    *,
    to_coco_dict: ToCocoDict,
    engine: Engine = "faster",
    iou_thresholds: Sequence[float] | None = None,
    difficult: Literal["count", "drop"] = "count",
    max_dets: Sequence[int] | None = None,
) -> dict[str, Any]:
    """COCO bbox metrics of detections ``dt`` against ground truth ``gt`` (Datasets).

    Returns ``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
    "ARl"}`` exactly as pycocotools' ``stats`` (``-1`` where it is undefined), plus
    ``per_class``: ``{name: AP@[.5:.95] or None}`` (None: no ground truth of that class).

    Args:
        to_coco_dict: the COCO format's ``to_coco_dict(dataset, *, keep_difficult, keep_crowd,
            file_names)`` (what its writer writes), which builds the ground truth.
        engine: ``"faster"`` (faster-coco-eval; pycocotools when it is not installed) or
            ``"pycocotools"``.
        iou_thresholds: IoU thresholds instead of COCO's 0.50:0.05:0.95 (AP50/AP75 are -1
            unless 0.5/0.75 are among them, as in pycocotools).
        difficult: ``"count"``: VOC difficult objects are ordinary objects; ``"drop"``: they
            are left out of the ground truth.
        max_dets: three detection caps per image instead of pycocotools' 1, 10, 100 (e.g.
            ``[100, 300, 1000]`` for crowded images): AP and the area-range numbers use the
            largest, ``AR<cap>`` each cap (keys named after them), and the result gets
            ``"max_dets"``.
    """
    import numpy as np

    from .evaluation import coco_keys

    if engine not in ("faster", "pycocotools"):
        raise ConfigError("unknown COCO engine", field="engine", value=engine, expected="'faster' or 'pycocotools'")
    if difficult not in ("count", "drop"):
        raise ConfigError("bad value", field="difficult", value=difficult, expected="'count' or 'drop'")
    caps = check_max_dets(max_dets)
    if caps == [1, 10, 100]:
        caps = None
    ev, name_of = evaluated(gt, dt, to_coco_dict=to_coco_dict, engine=engine,
                            iou_thresholds=check_iou_thresholds(iou_thresholds), difficult=difficult, max_dets=caps)
    stats = ev.stats[:12] if caps is None else coco_summary(ev, caps)
    out: dict[str, Any] = {k: float(v) for k, v in zip(coco_keys(caps), stats)}
    if caps is not None:
        out["max_dets"] = caps
    precision = ev.eval["precision"]
    per_class: dict[str, float | None] = {}
    for k, cid in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        per_class[name_of[cid]] = float(np.mean(valid)) if valid.size else None
    out["per_class"] = {c: per_class.get(c) for c in gt.categories}
    return out
