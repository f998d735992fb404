"""TIDE's error breakdown: why the AP is what it is, and what fixing each kind of error would gain.

Definitions of Bolya et al., "TIDE: A General Toolbox for Identifying Object Detection Errors"
(ECCV 2020), as the reference implementation (tidecv 1.0.1) applies them; foreground IoU
``t_f`` (0.5), background IoU ``t_b`` (0.1). Detections are matched to objects as in
:mod:`cvpipe.analysis.matching`; every detection left unmatched (and not inside a crowd region)
is one error, tested in this order:

1. **localisation** (Loc): ``t_b <= IoU <= t_f`` with the object of its class it overlaps most;
2. **classification** (Cls): ``IoU >= t_f`` with an object of another class;
3. **duplicate** (Dupe): ``IoU >= t_f`` with an object of its class already taken by a higher
   scoring detection;
4. **background** (Bkg): ``IoU <= t_b`` with every object (or the image has none);
5. **both** (Both): anything else (wrong class and poorly localised);

and every object no detection took, and that no Cls or Loc error points at, is **missed** (Miss).

The dAP of an error kind is the mean AP after an oracle fixes every error of that kind and
nothing else, minus the mean AP as is (clamped at 0, as TIDE): a Cls or Loc error becomes a true
positive of its object's class when it is the highest scoring one pointing at an object nobody
took, and is removed otherwise; Dupe, Bkg and Both errors are removed; missed objects are
removed from the ground truth. ``progressive`` applies the fixes one after another in TIDE's
order (Cls, Loc, Both, Dupe, Bkg, Miss): all fixed, every class left is perfect, so the gains
sum to ``1 - AP`` (unless a step was clamped). The special errors:
``false_positives`` (every true positive scored above every false one) and
``false_negatives`` (every unmatched object removed).

AP is COCO's (101 recall points, precision envelope) at ``t_f``, averaged over the classes that
have objects, so the base AP equals pycocotools' AP50 when no image has more than ``max_dets``
detections. (tidecv also averages classes that have detections but no object, at AP 0, and
gives crowd-ignored detections error kinds without AP effect; cvpipe follows COCO there.)
APs are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np

from ..data import Dataset
from .matching import Prepared, ignored, match, prepare

__all__ = ["ERROR_KINDS", "SHORT_NAMES", "ErrorAnalysis", "analyse_errors", "mean_ap", "tide", "format_tide"]

#: The error kinds in TIDE's order (the order of its table and of the progressive fixes).
ERROR_KINDS: tuple[str, ...] = ("classification", "localisation", "both", "duplicate", "background", "missed")
#: TIDE's short names.
SHORT_NAMES: dict[str, str] = {"classification": "Cls", "localisation": "Loc", "both": "Both",
                               "duplicate": "Dupe", "background": "Bkg", "missed": "Miss"}

# codes of ErrorAnalysis.kind
TP, IGNORED, CLS, LOC, BOTH, DUPE, BKG = 0, -1, 1, 2, 3, 4, 5
_CODE = {"classification": CLS, "localisation": LOC, "both": BOTH, "duplicate": DUPE, "background": BKG}

#: COCO's recall thresholds (pycocotools' ``np.linspace(0, 1, 101)``).
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def mean_ap_sorted(labels: np.ndarray, tp: np.ndarray, npos: np.ndarray) -> tuple[float | None, np.ndarray]:
    """:func:`mean_ap` of detections already in descending score order (ties in the order
    they should keep): ``labels`` and ``tp`` ``(N,)``, ``npos`` ``(K,)``.

    Per class (a stable grouping by label, radix-sorted): precision ``tp / (tp + fp + eps)`` and
    recall ``tp / npos`` after each detection, the precision envelope (the best precision at
    this recall or beyond), and the mean over the 101 recall points of the envelope at the first
    detection reaching that recall (0 past the end), as pycocotools' ``accumulate``.
    """
    k = len(npos)
    labels = np.asarray(labels)
    order = np.argsort(labels.astype(np.int16 if k < 2**15 else np.int64), kind="stable")
    lab = labels[order]
    flags = np.asarray(tp, dtype=bool)[order]
    bounds = np.searchsorted(lab, np.arange(k + 1), side="left")
    n_c = np.diff(bounds)
    # running counts restarting at each class (integers, exact in float64)
    tpc = np.cumsum(flags, dtype=np.float64)
    fpc = np.arange(1, len(flags) + 1, dtype=np.float64) - tpc
    tp_before = np.r_[0.0, tpc][bounds[:-1]]
    tpc -= np.repeat(tp_before, n_c)
    fpc -= np.repeat(bounds[:-1] - tp_before, n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tpc / np.repeat(npos.astype(np.float64), n_c)
    prec = tpc / (tpc + fpc + np.spacing(1))
    aps = np.full(k, np.nan)
    points = RECALL_POINTS
    for c in np.flatnonzero(npos > 0).tolist():
        lo, hi = bounds[c], bounds[c + 1]
        if hi == lo:
            aps[c] = 0.0
            continue
        env = np.maximum.accumulate(prec[lo:hi][::-1])[::-1]
        idx = np.searchsorted(rec[lo:hi], points, side="left")
        aps[c] = float(env[idx[idx < hi - lo]].sum() / len(points))
    valid = aps[~np.isnan(aps)]
    return (float(valid.mean()) if valid.size else None), aps


def mean_ap(labels: np.ndarray, scores: np.ndarray, tp: np.ndarray, npos: np.ndarray) -> tuple[float | None, np.ndarray]:
    """COCO-style AP per class and their mean over the classes with objects.

    Args:
        labels, scores, tp: ``(N,)`` class, score and true-positive flag of each detection
            (ties in score keep this order, as a stable sort).
        npos: ``(K,)`` objects per class.

    Returns:
        ``(mAP or None when no class has objects, (K,) per-class AP with NaN for classes
        without objects)``.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return mean_ap_sorted(np.asarray(labels)[order], np.asarray(tp, dtype=bool)[order], np.asarray(npos))


@dataclass
class ErrorAnalysis:
    """Every kept detection and object of a pair, labelled with its TIDE error kind at one
    foreground threshold.

    Attributes:
        prep: the flattened pair (:class:`~cvpipe.analysis.matching.Prepared`).
        iou_fg, iou_bg: the foreground and background IoU thresholds.
        det_gt: ``(D,)`` the object each detection took (-1: none); ``gt_det`` ``(G,)`` the reverse.
        kind: ``(D,)`` int8: 0 true positive, -1 ignored (crowd), 1 Cls, 2 Loc, 3 Both, 4 Dupe,
            5 Bkg.
        target: ``(D,)`` the object a Cls or Loc error points at (-1 for the others).
        fixer: ``(D,)`` bool: a Cls/Loc error that a fix turns into a true positive (the highest
            scoring one pointing at an object nobody took).
        missed: ``(G,)`` bool: missed objects.
    """

    prep: Prepared
    iou_fg: float
    iou_bg: float
    det_gt: np.ndarray
    gt_det: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    fixer: np.ndarray
    missed: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        """Errors of each kind (detections; objects for ``missed``)."""
        out = {name: int(np.count_nonzero(self.kind == code)) for name, code in _CODE.items()}
        out["missed"] = int(np.count_nonzero(self.missed))
        return {name: out[name] for name in ERROR_KINDS}

    def counts_per_class(self) -> dict[str, dict[str, int]]:
        """Errors of each kind per class (a detection's own class; the object's for missed)."""
        k = len(self.prep.categories)
        table = {name: np.bincount(self.prep.det_label[self.kind == code], minlength=k)[:k]
                 for name, code in _CODE.items()}
        table["missed"] = np.bincount(self.prep.gt_label[self.missed], minlength=k)[:k]
        return {c: {name: int(table[name][i]) for name in ERROR_KINDS} for i, c in enumerate(self.prep.categories)}

    def mean_ap(self, fix: Iterable[str] = (), *, progressive: bool = False) -> float | None:
        """Mean AP with the error kinds in ``fix`` fixed by the oracle (see the module).

        ``progressive``: ``fix`` is the first kinds of :data:`ERROR_KINDS`, fixed one after
        another as TIDE's progressive mode does; this only changes the order of tied scores
        (TIDE lists the points fixed at earlier steps after the others)."""
        fix = frozenset(fix)
        unknown = fix - set(ERROR_KINDS)
        if unknown:
            raise ValueError(f"unknown error kinds {sorted(unknown)}; expected some of {ERROR_KINDS}")
        key = (fix, progressive and len(fix) > 1)
        if key not in self._cache:
            self._cache[key] = self._fixed_ap(fix, progressive=key[1])
        return self._cache[key]

    def _orders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Detection indices in descending score order (stable): the scored ones as they are
        listed (image, then score order), and TIDE's list after a fix (errors first, then the
        true positives), which only decides the order of tied scores; plus the tie groups of
        the latter (None when no two scores tie)."""
        if "orders" not in self._cache:
            order = self.prep.score_order()
            kind = self.kind[order]
            base = order[kind >= 0]
            fixed = order[kind != IGNORED]
            s = self.prep.det_score[fixed]
            group = None
            if len(s) > 1 and np.any(s[1:] == s[:-1]):  # tied scores: errors before true positives
                group = np.r_[0, np.cumsum(s[1:] != s[:-1])]
                perm = np.lexsort((self.kind[fixed] == TP, group))
                fixed, group = fixed[perm], group[perm]
            self._cache["orders"] = (base, fixed, group)
        return self._cache["orders"]

    def _progressive_order(self, fix: frozenset[str]) -> np.ndarray:
        """TIDE's list after fixing the kinds ``fix`` progressively, in descending score order:
        among tied scores, the errors not fixed and those fixed at the last step, then those
        fixed at each earlier step (the latest first), then the true positives."""
        _, fixed, group = self._orders()
        if group is None:
            return fixed
        steps = [k for k in ERROR_KINDS if k in fix and k != "missed"]
        rank = np.zeros(len(self.kind), dtype=np.int64)
        for i, name in enumerate(steps[:-1]):
            rank[self.kind == _CODE[name]] = len(steps) - 1 - i
        rank[self.kind == TP] = len(steps) + 1
        return fixed[np.lexsort((rank[fixed], group))]

    def _fixed_ap(self, fix: frozenset[str], *, perfect_precision: bool = False,
                  perfect_recall: bool = False, progressive: bool = False) -> float | None:
        p = self.prep
        npos = p.npos()
        base, fixed, _ = self._orders()
        if not fix and not perfect_precision and not perfect_recall:
            return mean_ap_sorted(p.det_label[base], self.kind[base] == TP, npos)[0]
        if progressive:
            fixed = self._progressive_order(fix)
        labels = p.det_label.copy()
        tp = self.kind == TP
        keep = self.kind >= 0
        for name in fix:
            if name == "missed":
                npos = npos - np.bincount(p.gt_label[self.missed], minlength=len(npos))[: len(npos)]
                continue
            sel = self.kind == _CODE[name]
            if name in ("classification", "localisation"):
                good = sel & self.fixer
                tp[good] = True
                labels[good] = p.gt_label[self.target[good]]
                keep[sel & ~good] = False
            else:
                keep[sel] = False
        pts = fixed[keep[fixed]]
        if perfect_precision:  # every true positive scored 1, every false one 0
            pts = np.concatenate([pts[tp[pts]], pts[~tp[pts]]])
        if perfect_recall:
            npos = np.bincount(p.det_label[self.kind == TP], minlength=len(npos))[: len(npos)]
        return mean_ap_sorted(labels[pts], tp[pts], npos)[0]

    def special(self) -> dict[str, float | None]:
        """TIDE's special errors: the AP gained by perfect precision (``false_positives``) and by
        perfect recall (``false_negatives``)."""
        base = self.mean_ap()
        out = {}
        for name, kw in (("false_positives", {"perfect_precision": True}), ("false_negatives", {"perfect_recall": True})):
            ap = self._fixed_ap(frozenset(), **kw)
            out[name] = None if ap is None or base is None else ap - base
        return out


def analyse_errors(prep: Prepared, *, iou_fg: float = 0.5, iou_bg: float = 0.1) -> ErrorAnalysis:
    """Match at ``iou_fg`` and label every detection and object with its error kind (vectorised
    over the whole dataset)."""
    if not (0.0 <= iou_bg <= iou_fg <= 1.0):
        raise ValueError(f"need 0 <= iou_bg <= iou_fg <= 1, got iou_bg={iou_bg}, iou_fg={iou_fg}")
    det_gt, gt_det = match(prep, iou_fg)
    n = prep.num_dets
    kind = np.full(n, TP, dtype=np.int8)
    unmatched = det_gt < 0
    ign = ignored(prep, det_gt, iou_fg)
    kind[ign] = IGNORED
    cand = unmatched & ~ign
    no_gt = ~prep.image_has_gt[prep.det_image] if n else np.zeros(0, dtype=bool)
    bkg = cand & no_gt
    rest = cand & ~no_gt
    loc = rest & (prep.best_same >= iou_bg) & (prep.best_same <= iou_fg)
    rest &= ~loc
    cls = rest & (prep.best_other >= iou_fg)
    rest &= ~cls
    # an unmatched detection overlapping an object of its class by more than t_f found it taken
    dupe = rest & (prep.best_same >= iou_fg)
    rest &= ~dupe
    bkg |= rest & (prep.best_any <= iou_bg)
    rest &= ~bkg
    kind[loc], kind[cls], kind[dupe], kind[bkg], kind[rest] = LOC, CLS, DUPE, BKG, BOTH

    target = np.full(n, -1, dtype=np.int64)
    target[loc] = prep.best_same_gt[loc]
    target[cls] = prep.best_other_gt[cls]
    pointing = np.flatnonzero(loc | cls)
    pointing = pointing[gt_det[target[pointing]] < 0]  # at an object nobody took
    fixer = np.zeros(n, dtype=bool)
    usable = np.zeros(prep.num_gt, dtype=bool)
    if len(pointing):
        # the first in detection order is the highest scoring (TIDE's BestGTMatch: strict '<')
        objs, first = np.unique(target[pointing], return_index=True)
        fixer[pointing[first]] = True
        usable[objs] = True
    missed = (gt_det < 0) & ~usable
    return ErrorAnalysis(prep, float(iou_fg), float(iou_bg), det_gt, gt_det, kind, target, fixer, missed)


def _gain(ap: float | None, before: float) -> float | None:
    """``ap - before`` clamped at 0 (TIDE's rule: a negative gain is binning noise); None when
    no object is left to measure (every object of every class removed as missed)."""
    return None if ap is None else max(ap - before, 0.0)


def _breakdown(ea: ErrorAnalysis, progressive: bool = True
               ) -> tuple[float | None, dict[str, float | None], dict[str, float | None]]:
    """Base AP, the independent dAP of each kind and the progressive ones."""
    base = ea.mean_ap()
    if base is None:
        return None, {k: None for k in ERROR_KINDS}, {k: None for k in ERROR_KINDS}
    independent = {k: _gain(ea.mean_ap([k]), base) for k in ERROR_KINDS}
    if not progressive:
        return base, independent, {}
    steps: dict[str, float | None] = {}
    last = base
    for i, k in enumerate(ERROR_KINDS):
        ap = ea.mean_ap(ERROR_KINDS[: i + 1], progressive=True)
        steps[k] = _gain(ap, last)
        last = last if ap is None else ap
    return base, independent, steps


def tide(gt: Dataset, dt: Dataset, *, iou_fg: float = 0.5, iou_bg: float = 0.1, max_dets: int = 100,
         difficult: Literal["count", "drop"] = "count", iou_thresholds: Sequence[float] | None = None,
         prep: Prepared | None = None, errors: ErrorAnalysis | None = None) -> dict[str, Any]:
    """TIDE's breakdown of detections ``dt`` against ground truth ``gt`` (Datasets, matched as
    :func:`cvpipe.evaluation.align_detections` does).

    Args:
        iou_fg, iou_bg: foreground and background IoU thresholds (TIDE's 0.5 and 0.1).
        max_dets: detections kept per image (highest scores).
        difficult: ``"drop"`` leaves VOC difficult objects out of the ground truth.
        iou_thresholds: also compute the breakdown with ``t_f`` at each of these and report the
            means (e.g. COCO's 0.50:0.05:0.95 for an AP50:95 variant).
        prep: an already :func:`~cvpipe.analysis.matching.prepare`-d pair (``gt``/``dt`` unused).
        errors: its :func:`analyse_errors` at ``iou_fg``/``iou_bg``, when already computed.

    Returns:
        JSON-ready ``{"iou_foreground", "iou_background", "max_dets", "AP", "errors": {kind:
        {"count", "dAP"}}, "progressive_dAP": {kind: dAP}, "special": {"false_positives",
        "false_negatives"}, "per_class": {class: {kind: count}}}``, plus ``"over_thresholds":
        {"iou_thresholds", "AP", "dAP": {kind: mean dAP}}`` when ``iou_thresholds`` is given.
    """
    thr = sorted({float(t) for t in iou_thresholds}) if iou_thresholds else []
    if prep is None:
        prep = prepare(gt, dt, min_iou=min([iou_fg, *thr]), max_dets=max_dets, difficult=difficult)
    ea = errors if errors is not None else analyse_errors(prep, iou_fg=iou_fg, iou_bg=iou_bg)
    base, independent, progressive = _breakdown(ea)
    counts = ea.counts()
    out: dict[str, Any] = {
        "iou_foreground": float(iou_fg), "iou_background": float(iou_bg), "max_dets": int(max_dets),
        "AP": base,
        "errors": {k: {"count": counts[k], "dAP": independent[k]} for k in ERROR_KINDS},
        "progressive_dAP": progressive,
        "special": ea.special(),
        "per_class": ea.counts_per_class(),
    }
    if thr:
        runs = [_breakdown(analyse_errors(prep, iou_fg=t, iou_bg=min(iou_bg, t)), progressive=False) for t in thr]
        ok = [r for r in runs if r[0] is not None]
        out["over_thresholds"] = {
            "iou_thresholds": thr,
            "AP": float(np.mean([r[0] for r in ok])) if ok else None,
            "dAP": {k: _mean([r[1][k] for r in ok]) for k in ERROR_KINDS},
        }
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def format_tide(result: dict[str, Any]) -> str:
    """The :func:`tide` result as a table for people: count and dAP per error kind (TIDE's order),
    the progressive gains and the special errors."""
    from ..console import format_table

    def num(v: float | None) -> Any:
        return "-" if v is None else v

    rows = [[f"{k} ({SHORT_NAMES[k]})", result["errors"][k]["count"], num(result["errors"][k]["dAP"]),
             num(result["progressive_dAP"][k])] for k in ERROR_KINDS]
    heads = ["error", "count", "dAP", "progressive dAP"]
    over = result.get("over_thresholds")
    if over:
        for row, k in zip(rows, ERROR_KINDS):
            row.append(num(over["dAP"][k]))
        heads.append("dAP@[.5:.95]")
    sp = result["special"]
    rows.append(["false positives (all)", "", num(sp["false_positives"]), ""] + ([""] if over else []))
    rows.append(["false negatives (all)", "", num(sp["false_negatives"]), ""] + ([""] if over else []))
    title = (f"Error breakdown (TIDE: foreground IoU {result['iou_foreground']:g}, background IoU "
             f"{result['iou_background']:g}, {result['max_dets']} detections per image; "
             f"AP{round(result['iou_foreground'] * 100)} {_fmt(result['AP'])}"
             + (f", AP@[.5:.95] {_fmt(over['AP'])}" if over else "") + ")")
    return title + "\n" + format_table(rows, heads)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"
