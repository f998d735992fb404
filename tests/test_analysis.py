"""Error analysis (TIDE's breakdown), F1-optimal thresholds, ``--max-dets`` and ``evaluate --analyse``.

References: hand-built cases where each error kind is known (the numbers worked out in the
comments; AP is COCO's mean over 101 recall points of the precision envelope), tidecv 1.0.1's
own numbers on random cases (``data/tide_reference.json``, made by ``data/make_tide_reference.py``),
pycocotools (AP50 and AP equal TIDE's base AP; the ``max_dets`` summary) and a plain greedy loop
(the vectorised matching).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.analysis import tide as tide_mod
from cvpipe.analysis.matching import match, prepare
from cvpipe.analysis.report import analyse, format_analysis, run_analysis
from cvpipe.analysis.thresholds import best_f1, f1_curve, thresholds
from cvpipe.analysis.tide import ERROR_KINDS, analyse_errors, tide
from cvpipe.cli import main
from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError

HERE = Path(__file__).parent
UNIT = [0.0, 0.0, 10.0, 10.0]


def ds(categories: list[str], images: list[list[tuple]], *, scores: bool) -> Dataset:
    """A Dataset from per-image lists of ``(label, box)`` (ground truth) or ``(label, box, score)``."""
    samples = []
    for i, objs in enumerate(images):
        boxes = np.array([o[1] for o in objs], dtype=np.float64).reshape(-1, 4)
        labels = [o[0] for o in objs]
        samples.append(Sample(f"im{i}.png", 100, 100, boxes=boxes, labels=labels,
                              scores=[o[2] for o in objs] if scores else None))
    return Dataset(categories, samples)


def kinds(result: dict) -> dict[str, int]:
    return {k: result["errors"][k]["count"] for k in ERROR_KINDS}


def daps(result: dict) -> dict[str, float]:
    return {k: result["errors"][k]["dAP"] for k in ERROR_KINDS}


def only(kind: str, value: float) -> dict[str, float]:
    return {k: (value if k == kind else 0.0) for k in ERROR_KINDS}


# ---------------------------------------------------------------------------------------------
# Hand-built cases: one per error kind
# ---------------------------------------------------------------------------------------------


def test_localisation_error():
    # image 0: object A, a perfect detection (0.9, TP). image 1: object B, a detection shifted by
    # half its width (0.8): IoU 50/150 = 1/3, in [0.1, 0.5] -> Loc, pointing at B (free), so B is
    # not missed. AP: TP then FP, recall 0.5 reached at precision 1 -> 51 of 101 recall points
    # at 1, the rest 0: 51/101. Fixing Loc turns the detection into B's TP: AP 1, dAP 50/101.
    # Special: false negatives (B removed): 1 - 51/101; false positives: the FP is already last: 0.
    gt = ds(["a"], [[(0, UNIT)], [(0, UNIT)]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9)], [(0, [5, 0, 15, 10], 0.8)]], scores=True)
    r = tide(gt, dt)
    assert r["AP"] == pytest.approx(51 / 101)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "localisation": 1}
    assert daps(r) == pytest.approx(only("localisation", 50 / 101))
    assert r["progressive_dAP"] == pytest.approx(only("localisation", 50 / 101))
    assert r["special"] == pytest.approx({"false_positives": 0.0, "false_negatives": 50 / 101})


def test_background_error():
    # one object A; a box far from it scored 0.95 (IoU 0 <= 0.1: Bkg), then the perfect
    # detection at 0.9. Precision 0 then 1/2 at recall 1: envelope 0.5 at every recall point:
    # AP 0.5. Removing the Bkg error: AP 1 (dAP 0.5); so does perfect precision; recall is already perfect.
    gt = ds(["a"], [[(0, UNIT)]], scores=False)
    dt = ds(["a"], [[(0, [50, 50, 60, 60], 0.95), (0, UNIT, 0.9)]], scores=True)
    r = tide(gt, dt)
    assert r["AP"] == pytest.approx(0.5)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "background": 1}
    assert daps(r) == pytest.approx(only("background", 0.5))
    assert r["special"] == pytest.approx({"false_positives": 0.5, "false_negatives": 0.0})


def test_duplicate_error():
    # image 0: A with the perfect detection (0.9) and a second one at IoU 0.9 (0.8): A is taken,
    # so Dupe. image 1: B with a perfect detection (0.7). Score order TP, FP, TP: precision
    # 1, 1/2, 2/3 at recall 1/2, 1/2, 1; envelope 1, 2/3, 2/3: recall points 0..0.5 (51) at 1,
    # 0.51..1 (50) at 2/3: AP (51 + 100/3) / 101. Removing the duplicate: AP 1.
    gt = ds(["a"], [[(0, UNIT)], [(0, UNIT)]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9), (0, [0, 0, 10, 9], 0.8)], [(0, UNIT, 0.7)]], scores=True)
    r = tide(gt, dt)
    base = (51 + 100 / 3) / 101
    assert r["AP"] == pytest.approx(base)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "duplicate": 1}
    assert daps(r) == pytest.approx(only("duplicate", 1 - base))


def test_classification_error():
    # image 0: an "a" object found exactly but called "b" (0.9): IoU 1 >= 0.5 with an object of
    # another class -> Cls, pointing at the free object (not missed). image 1: an "a" object with a
    # TP (0.8); image 2: a "b" object with a TP (0.7).
    # class a: 2 objects, one TP -> 51/101. class b: FP (0.9) then TP: 0.5. mAP (51/101 + 0.5) / 2.
    # Fixing Cls moves the detection to class a as a TP: both classes perfect, mAP 1.
    # False negatives: class a has 1 object left (AP 1), b unchanged: (1 + 0.5) / 2 = 0.75.
    # False positives: class b's TP above its FP: (51/101 + 1) / 2.
    gt = ds(["a", "b"], [[(0, UNIT)], [(0, UNIT)], [(1, UNIT)]], scores=False)
    dt = ds(["a", "b"], [[(1, UNIT, 0.9)], [(0, UNIT, 0.8)], [(1, UNIT, 0.7)]], scores=True)
    r = tide(gt, dt)
    base = (51 / 101 + 0.5) / 2
    assert r["AP"] == pytest.approx(base)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "classification": 1}
    assert daps(r) == pytest.approx(only("classification", 1 - base))
    assert r["special"] == pytest.approx({"false_positives": (51 / 101 + 1) / 2 - base,
                                          "false_negatives": 0.75 - base})
    assert r["per_class"]["b"]["classification"] == 1 and r["per_class"]["a"]["classification"] == 0


def test_both_error():
    # image 0: an "a" object with its TP (0.6) and a "b" detection shifted by half (0.9): IoU 1/3
    # with an object of the other class, no "b" object near: not Loc (no "b" overlap), not Cls
    # (1/3 < 0.5), not Dupe, not Bkg (1/3 > 0.1) -> Both. image 1: a "b" object with a TP (0.7).
    # class a: AP 1; class b: FP then TP: 0.5; mAP 0.75. Removing the Both error: 1 (dAP 0.25).
    gt = ds(["a", "b"], [[(0, UNIT)], [(1, UNIT)]], scores=False)
    dt = ds(["a", "b"], [[(0, UNIT, 0.6), (1, [5, 0, 15, 10], 0.9)], [(1, UNIT, 0.7)]], scores=True)
    r = tide(gt, dt)
    assert r["AP"] == pytest.approx(0.75)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "both": 1}
    assert daps(r) == pytest.approx(only("both", 0.25))


def test_missed_error():
    # two objects, one found (0.9), the other with no detection near: missed. AP 51/101; removing
    # the missed object from the ground truth: AP 1 (dAP 50/101), as does perfect recall.
    gt = ds(["a"], [[(0, UNIT)], [(0, [40, 40, 60, 60])]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9)], []], scores=True)
    r = tide(gt, dt)
    assert r["AP"] == pytest.approx(51 / 101)
    assert kinds(r) == {**dict.fromkeys(ERROR_KINDS, 0), "missed": 1}
    assert daps(r) == pytest.approx(only("missed", 50 / 101))
    assert r["special"]["false_negatives"] == pytest.approx(50 / 101)


def test_mixed_image_and_the_fix_rules():
    # One image, objects A = UNIT and B = [30, 0, 40, 10], class a; detections in score order:
    #   d0 0.9 on A exactly              -> TP (A taken)
    #   d1 0.8 IoU 0.9 with A            -> Dupe
    #   d2 0.7 IoU 1/3 with A (taken)    -> Loc pointing at a taken object: a fix removes it
    #   d3 0.6 IoU 1/3 with B            -> Loc, the best on B: a fix makes it B's TP
    #   d4 0.5 IoU 0.2 with B            -> Loc on B too, but lower: a fix removes it
    #   d5 0.4 far from everything       -> Bkg
    # B is pointed at, so nothing is missed. AP: TP, then five FPs; recall 1/2 at precision 1:
    # 51/101. Fixing Loc: d2 and d4 go, d3 is B's TP: TP (d0), FP (d1), TP (d3), FP (d5): as in
    # the duplicate case, (51 + 100/3) / 101; fixing Dupe too: AP 1.
    gt = ds(["a"], [[(0, UNIT), (0, [30, 0, 40, 10])]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9), (0, [0, 0, 10, 9], 0.8), (0, [5, 0, 15, 10], 0.7),
                     (0, [35, 0, 45, 10], 0.6), (0, [30, 0, 40, 2], 0.5), (0, [70, 70, 80, 80], 0.4)]],
            scores=True)
    prep = prepare(gt, dt)
    ea = analyse_errors(prep)
    assert ea.kind.tolist() == [0, tide_mod.DUPE, tide_mod.LOC, tide_mod.LOC, tide_mod.LOC, tide_mod.BKG]
    assert ea.fixer.tolist() == [False, False, False, True, False, False]
    assert ea.target.tolist() == [-1, -1, 0, 1, 1, -1]
    assert not ea.missed.any()
    assert ea.mean_ap() == pytest.approx(51 / 101)
    assert ea.mean_ap(["localisation"]) == pytest.approx((51 + 100 / 3) / 101)
    assert ea.mean_ap(["localisation", "duplicate"]) == pytest.approx(1.0)
    # fixing everything in TIDE's order reaches AP 1: the progressive gains sum to 1 - AP
    r = tide(gt, dt)
    assert r["AP"] + sum(r["progressive_dAP"].values()) == pytest.approx(1.0)


def test_crowd_regions_ignore_detections_and_count_no_object():
    # a crowd region of class a and one real object; a detection inside the crowd region is
    # neither right nor wrong; one outside everything is Bkg. Objects: 1, found -> AP 1.
    gt = Dataset(["a"], [Sample("im0.png", 100, 100, boxes=[UNIT, [50, 50, 90, 90]], labels=[0, 0],
                                iscrowd=[False, True])])
    dt = ds(["a"], [[(0, [60, 60, 70, 70], 0.95), (0, UNIT, 0.9), (0, [20, 20, 30, 30], 0.1)]], scores=True)
    ea = analyse_errors(prepare(gt, dt))
    assert ea.kind.tolist() == [tide_mod.IGNORED, tide_mod.TP, tide_mod.BKG]
    assert ea.mean_ap() == pytest.approx(1.0)
    assert ea.prep.npos().tolist() == [1]


def test_detections_in_another_order_and_class_order_are_aligned_first():
    case, gt, dt = reference_cases()[0]
    shuffled = Dataset(list(reversed(dt.categories)),
                       [Sample(s.image, s.width, s.height, boxes=s.boxes, labels=len(dt.categories) - 1 - s.labels,
                               scores=s.scores) for s in reversed(dt.samples)])
    assert tide(gt, shuffled) == tide(gt, dt)
    assert thresholds(gt, shuffled) == thresholds(gt, dt)


def test_difficult_drop_and_max_dets():
    # a difficult object: counted (found -> AP 1) or dropped (its detection becomes Bkg, no object: None)
    gt = Dataset(["a"], [Sample("im0.png", 100, 100, boxes=[UNIT], labels=[0], difficult=[True])])
    dt = ds(["a"], [[(0, UNIT, 0.9)]], scores=True)
    assert tide(gt, dt)["AP"] == pytest.approx(1.0)
    dropped = tide(gt, dt, difficult="drop")
    assert dropped["AP"] is None and dropped["errors"]["background"]["count"] == 1
    # max_dets keeps the highest scores per image: with 1, the lower TP is gone and B is missed
    gt2 = ds(["a"], [[(0, UNIT), (0, [30, 0, 40, 10])]], scores=False)
    dt2 = ds(["a"], [[(0, [30, 0, 40, 10], 0.5), (0, UNIT, 0.9)]], scores=True)
    r = tide(gt2, dt2, max_dets=1)
    assert r["errors"]["missed"]["count"] == 1 and r["AP"] == pytest.approx(51 / 101)


# ---------------------------------------------------------------------------------------------
# tidecv's own numbers, pycocotools' AP, and the greedy matching
# ---------------------------------------------------------------------------------------------


def reference_cases() -> list[tuple[dict, Dataset, Dataset]]:
    data = json.loads((HERE / "data" / "tide_reference.json").read_text())
    out = []
    for case in data["cases"]:
        cats = [str(c) for c in range(case["classes"])]
        gt = ds(cats, [list(zip(im["gt_labels"], im["gt_boxes"])) for im in case["images"]], scores=False)
        dt = ds(cats, [list(zip(im["dt_labels"], im["dt_boxes"], im["dt_scores"])) for im in case["images"]],
                scores=True)
        out.append((case, gt, dt))
    return out


def test_equals_tidecv_on_random_cases(monkeypatch):
    # tidecv samples recall at x / 100, pycocotools (and cvpipe) at np.linspace(0, 1, 101): the
    # two differ in the last bit at 10 of the 101 points, which matters when a recall lands
    # exactly on one of them; compared on tidecv's points, everything equals to rounding,
    # tied scores included (their order after a fix is tidecv's).
    monkeypatch.setattr(tide_mod, "RECALL_POINTS", np.array([x / 100 for x in range(101)]))
    checked = 0
    cases = reference_cases()
    for case, gt, dt in cases:
        for ref in case["tidecv"]:
            r = tide(gt, dt, iou_fg=ref["pos"], iou_bg=ref["bg"], max_dets=ref["max_dets"])
            assert [r["errors"][k]["count"] for k in ERROR_KINDS] == ref["counts"]
            assert r["AP"] * 100 == pytest.approx(ref["AP"], abs=1e-9)
            assert [r["errors"][k]["dAP"] * 100 for k in ERROR_KINDS] == pytest.approx(ref["dAP"], abs=1e-9)
            assert [r["progressive_dAP"][k] * 100 for k in ERROR_KINDS] == pytest.approx(ref["progressive"], abs=1e-9)
            assert r["special"]["false_positives"] * 100 == pytest.approx(ref["false_positives"], abs=1e-9)
            assert r["special"]["false_negatives"] * 100 == pytest.approx(ref["false_negatives"], abs=1e-9)
            checked += 1
    assert checked == 30  # 10 cases (two with tied scores) x 3 settings
    # the cases exercise every error kind
    assert all(sum(ref["counts"][i] for c, _, _ in cases for ref in c["tidecv"]) > 0 for i in range(6))


def coco_eval(gt, dt, **settings):
    """The registered ``coco`` metric's numbers for ``gt``/``dt`` with ``settings``."""
    from cvpipe.plugins import get_registry

    return get_registry().metrics.create("coco", settings).compute(gt, dt)


def test_base_ap_equals_pycocotools_ap50_and_the_variant_its_ap():

    for case, gt, dt in reference_cases()[:3]:
        coco = coco_eval(gt, dt, engine="pycocotools")
        r = analyse(gt, dt)["tide"]
        assert r["AP"] == pytest.approx(coco["AP50"], abs=1e-12)
        assert r["over_thresholds"]["AP"] == pytest.approx(coco["AP"], abs=1e-12)
        assert r["AP"] + sum(r["progressive_dAP"].values()) == pytest.approx(1.0)


def greedy_reference(gt: Dataset, dt: Dataset, t: float) -> list[int]:
    """Plain per-detection greedy matching (TIDE's loop), detections in prepare()'s order."""
    from cvpipe.analysis.matching import iou_matrix

    out, offset = [], 0
    for g, d in zip(gt.samples, dt.samples):
        order = np.argsort(-d.scores, kind="stable")[:100]
        if not len(g):
            out += [-1] * len(order)
            continue
        iou, _ = iou_matrix(d.boxes[order], g.boxes)
        buf = iou * (d.labels[order][:, None] == g.labels[None, :])
        for r in range(len(order)):
            j = int(np.argmax(buf[r]))
            if buf[r, j] >= t:
                out.append(offset + j)
                buf[:, j] = 0
            else:
                out.append(-1)
        offset += len(g)
    return out


@pytest.mark.parametrize("t", [0.5, 0.75])
def test_vectorised_matching_equals_the_greedy_loop(t):
    for _, gt, dt in reference_cases():
        det_gt, gt_det = match(prepare(gt, dt), t)
        assert det_gt.tolist() == greedy_reference(gt, dt, t)
        matched = det_gt >= 0
        assert (gt_det[det_gt[matched]] == np.flatnonzero(matched)).all()


# ---------------------------------------------------------------------------------------------
# F1-optimal thresholds
# ---------------------------------------------------------------------------------------------


def test_f1_curve_and_best_by_hand():
    # 4 objects; detections 0.9 TP, 0.8 FP, 0.7 TP, 0.6 TP, 0.5 FP, 0.4 FP. Keeping >= c:
    # 0.9: P 1, R 1/4, F1 0.4; 0.8: 1/2, 1/4, 1/3; 0.7: 2/3, 1/2, 4/7; 0.6: 3/4, 3/4, 3/4;
    # 0.5: 3/5, 3/4, 2/3; 0.4: 1/2, 3/4, 3/5 -> best at 0.6: P = R = F1 = 3/4, TP 3, FP 1, FN 1.
    scores = np.array([0.5, 0.9, 0.7, 0.4, 0.8, 0.6])  # any order
    tp = np.array([False, True, True, False, False, True])
    c = f1_curve(scores, tp, 4)
    assert c["confidence"].tolist() == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert c["f1"] == pytest.approx([0.4, 1 / 3, 4 / 7, 0.75, 2 / 3, 0.6])
    b = best_f1(scores, tp, 4)
    assert b == pytest.approx({"confidence": 0.6, "precision": 0.75, "recall": 0.75, "f1": 0.75, "tp": 3, "fp": 1,
                               "fn": 1, "objects": 4, "detections": 6})
    # ties: keeping a score keeps all of it (0.6 twice: one TP one FP -> one point)
    c = f1_curve(np.array([0.9, 0.6, 0.6]), np.array([True, True, False]), 2)
    assert c["confidence"].tolist() == [0.9, 0.6] and c["tp"].tolist() == [1, 2] and c["fp"].tolist() == [0, 1]
    # nothing right: no confidence; no objects: recall undefined
    assert best_f1(np.array([0.5]), np.array([False]), 3)["confidence"] is None
    assert best_f1(np.array([0.5]), np.array([False]), 0)["recall"] is None


def test_thresholds_per_class_overall_and_combined():
    # class a: objects 2; detections 0.9 TP, 0.3 TP -> best at 0.3 (F1 1). class b: object 1;
    # detections 0.8 TP, 0.7 FP (far) -> best at 0.8 (F1 1). One confidence for both: at 0.8
    # TP 2 (a 0.9, b 0.8), FP 0, FN 1: F1 0.8; at 0.7: 2, 1, 1: 2/3; at 0.3: 3, 1, 0: 6/7 -> 0.3.
    gt = ds(["a", "b"], [[(0, UNIT), (0, [30, 0, 40, 10]), (1, [60, 0, 70, 10])]], scores=False)
    dt = ds(["a", "b"], [[(0, UNIT, 0.9), (0, [30, 0, 40, 10], 0.3), (1, [60, 0, 70, 10], 0.8),
                          (1, [80, 80, 90, 90], 0.7)]], scores=True)
    r = thresholds(gt, dt)
    assert r["per_class"]["a"]["confidence"] == 0.3 and r["per_class"]["a"]["f1"] == 1.0
    assert r["per_class"]["b"]["confidence"] == 0.8 and r["per_class"]["b"]["f1"] == 1.0
    assert r["all"]["confidence"] == 0.3 and r["all"]["f1"] == pytest.approx(6 / 7)
    assert r["per_class_thresholds"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 3, "fp": 0, "fn": 0}
    text = format_analysis(analyse(gt, dt))
    assert "F1-optimal confidence per class" in text and "Error breakdown" in text


# ---------------------------------------------------------------------------------------------
# COCO with other detection caps
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["faster", "pycocotools"])
def test_max_dets_summary_equals_pycocotools_with_those_caps(tmp_path, engine):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from cvpipe.builtin.coco import read_coco_results
    from cvpipe.formats import read_dataset
    from test_evaluation import make_coco_pair, write_pair

    caps = [5, 20, 120]  # image 3 has 130 detections: the largest cap matters
    gt_file, dt_file = write_pair(tmp_path, *make_coco_pair(2))
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO(str(gt_file))
        ev = COCOeval(cg, cg.loadRes(str(dt_file)), "bbox")
        ev.params.maxDets = caps
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # pycocotools' summarize reads AP (stats[0]) at a hard-coded 100 detections (-1 when 100 is
    # no cap); the other eleven use the caps. AP is the mean of precision at the largest cap.
    p = ev.eval["precision"][:, :, :, 0, -1]
    ref = [float(np.mean(p[p > -1]))] + [float(v) for v in ev.stats[1:]]
    assert ev.stats[0] == -1
    gt = read_dataset(gt_file, "coco")
    got = coco_eval(gt, read_coco_results(dt_file, gt), engine=engine, max_dets=caps)
    keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR5", "AR20", "AR120", "ARs", "ARm", "ARl"]
    assert list(got)[:12] == keys and got["max_dets"] == caps
    np.testing.assert_allclose([got[k] for k in keys], ref, rtol=0, atol=1e-12)
    default = coco_eval(gt, read_coco_results(dt_file, gt), engine=engine)
    assert "max_dets" not in default and "AR1" in default
    assert coco_eval(gt, read_coco_results(dt_file, gt), engine=engine, max_dets=[1, 10, 100]) == default
    with pytest.raises(ConfigError, match="detection caps"):
        coco_eval(gt, read_coco_results(dt_file, gt), max_dets=[100, 10, 1])


# ---------------------------------------------------------------------------------------------
# cvpipe evaluate --analyse / --max-dets
# ---------------------------------------------------------------------------------------------


def write_coco_case(tmp: Path) -> tuple[Path, Path]:
    """A small COCO pair with real (flat grey) image files: 3 images 64x64, two classes."""
    import cv2

    images, anns, dets = [], [], []
    aid = 1
    for i in range(3):
        img = np.full((64, 64, 3), 40 * i, dtype=np.uint8)
        cv2.imwrite(str(tmp / f"im{i}.png"), img)
        images.append({"id": i + 1, "file_name": f"im{i}.png", "width": 64, "height": 64})
        for c, box in ((1, [5, 5, 20, 20]), (2, [35, 30, 20, 25])):
            anns.append({"id": aid, "image_id": i + 1, "category_id": c, "bbox": box, "area": box[2] * box[3],
                         "iscrowd": 0})
            aid += 1
        dets.append({"image_id": i + 1, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.9 - 0.1 * i})
        dets.append({"image_id": i + 1, "category_id": 2 if i else 1, "bbox": [36, 31, 20, 25], "score": 0.5})
        dets.append({"image_id": i + 1, "category_id": 2, "bbox": [40, 2, 10, 10], "score": 0.3 + 0.1 * i})
    anns.append({"id": aid, "image_id": 3, "category_id": 1, "bbox": [2, 45, 12, 12], "area": 144, "iscrowd": 0})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (tmp / "gt.json").write_text(json.dumps(gt))
    (tmp / "dt.json").write_text(json.dumps(dets))
    return tmp / "gt.json", tmp / "dt.json"


def test_cli_analyse_tables_json_and_pictures(tmp_path, capsys):
    gt_file, dt_file = write_coco_case(tmp_path)
    out, plots = tmp_path / "m.json", tmp_path / "plots"
    base = ["evaluate", "--gt", str(gt_file), "--dt", str(dt_file)]
    assert main(base) == 0
    plain = capsys.readouterr().out
    assert "Error breakdown" not in plain
    assert main(base + ["--analyse", "--json", str(out), "--plots", str(plots)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(plain.rstrip("\n"))  # the usual report unchanged, then the analysis
    assert "Error breakdown (TIDE" in text and "classification (Cls)" in text
    assert "F1-optimal confidence per class" in text and "all (one confidence)" in text
    got = json.loads(out.read_text())
    a = got["analysis"]
    assert set(a) == {"tide", "thresholds"}
    # image 0's "dog" called "cat" exactly: one Cls error; the three far boxes: Bkg; image 2's
    # second cat: missed
    assert a["tide"]["errors"]["classification"]["count"] == 1
    assert a["tide"]["errors"]["background"]["count"] == 3
    assert a["tide"]["errors"]["missed"]["count"] == 1
    assert a["tide"]["AP"] == pytest.approx(got["coco"]["AP50"], abs=1e-12)
    assert set(a["thresholds"]["per_class"]) == {"cat", "dog"}
    for name in ("f1_curves", "error_breakdown", "false_positives", "missed"):
        assert (plots / f"{name}.png").stat().st_size > 1000, name
    # machines: JSON on stdout only
    assert main(base + ["--analyse", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["analysis"]["tide"]["errors"] == a["tide"]["errors"]


def test_cli_max_dets(tmp_path, capsys):
    gt_file, dt_file = write_coco_case(tmp_path)
    base = ["evaluate", "--gt", str(gt_file), "--dt", str(dt_file)]
    assert main(base + ["--max-dets", "1,2,3", "--json", "-"]) == 0
    coco = json.loads(capsys.readouterr().out)["coco"]
    assert {"AR1", "AR2", "AR3"} <= set(coco) and coco["max_dets"] == [1, 2, 3]
    assert main(base + ["--max-dets", "1,2,3"]) == 0
    assert "AP at up to 3 detections per image" in capsys.readouterr().out
    for bad, extra in (("100,10", []), ("a,b,c", []), ("0,1,2", []), ("1,2,3", ["--metric", "voc07"])):
        assert main(base + ["--max-dets", bad] + extra) == 2
        err = capsys.readouterr().err
        assert "--max-dets" in err and "Traceback" not in err


def test_galleries_without_image_files_are_skipped(tmp_path):
    from cvpipe.analysis.plots import save_galleries

    gt = ds(["a"], [[(0, UNIT)], [(0, UNIT)]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9)], [(0, [5, 0, 15, 10], 0.8)]], scores=True)
    assert save_galleries(run_analysis(gt, dt), gt, tmp_path) == {}
    assert not any(tmp_path.iterdir())


def test_evaluate_step_analyse_setting(tmp_path):
    from cvpipe.pipeline import Context
    from cvpipe.plugins import get_registry

    gt = ds(["a"], [[(0, UNIT)], [(0, UNIT)]], scores=False)
    dt = ds(["a"], [[(0, UNIT, 0.9)], [(0, [5, 0, 15, 10], 0.8)]], scores=True)
    step = get_registry().steps.create("evaluate", {"gt": "val", "detections": "pred", "analyse": True,
                                                    "pictures": False})
    ctx = Context(run_dir=tmp_path / "run", base_dir=tmp_path, pipeline="t", quiet=True)
    ctx.step_name = "evaluate"
    ctx["val"], ctx["pred"] = gt, dt
    step.run(ctx)
    written = json.loads((tmp_path / "run" / "evaluate" / "analysis.json").read_text())
    assert written == json.loads(json.dumps(analyse(gt, dt)))
    assert written["tide"]["errors"]["localisation"]["count"] == 1
