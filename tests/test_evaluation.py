"""Evaluation library: COCO numbers equal pycocotools', VOC AP equals the devkit's rules.

References are independent of cvpipe: pycocotools run on the JSON files themselves, and a
line-by-line transcription of the Pascal VOC devkit's VOCevaldet.m / VOCap in this file.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvpipe.builtin.coco import read_coco_results
from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError, InputError, UnknownNameError
from cvpipe.evaluation import (
    COCO_KEYS,
    align_detections,
    confusion_matrix,
    evaluate,
    format_report,
    save_pictures,
    voc_ap,
)
from cvpipe.formats import read_dataset

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# pycocotools, the reference
# ---------------------------------------------------------------------------------------------


def pycocotools_stats(gt_json: Path, results: Path | list) -> np.ndarray:
    """pycocotools' twelve numbers for a ground-truth file and a results file/list, exactly as
    its README runs it."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_json))
        coco_dt = coco_gt.loadRes(str(results) if isinstance(results, Path) else results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def ours(result: dict) -> np.ndarray:
    return np.array([result[k] for k in COCO_KEYS], dtype=np.float64)


def make_coco_pair(seed: int, *, n_images: int = 24, ann_id_start: int = 1) -> tuple[dict, list[dict]]:
    """A COCO ground truth and detections exercising pycocotools' rules: non-contiguous
    category ids (one without objects, one without detections), crowd boxes, ``area`` fields
    that differ from the box area, objects of every size range, images without objects,
    duplicates, tied scores and an image with more than 100 detections."""
    rng = np.random.default_rng(seed)
    cat_ids = [3, 7, 18, 90]
    images = [{"id": 1000 + 7 * i, "file_name": f"sub/im_{i:03d}.jpg", "width": 640, "height": 480}
              for i in range(n_images)]
    anns: list[dict] = []
    dets: list[dict] = []
    aid = ann_id_start
    for i, im in enumerate(images):
        n = 0 if i % 6 == 5 else int(rng.integers(1, 7))
        for _ in range(n):
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            bbox = [round(float(x), 2), round(float(y), 2), round(float(w), 2), round(float(h), 2)]
            cat = int(rng.choice([3, 7, 90]))  # 18 never has ground truth
            crowd = int(rng.random() < 0.08 or aid % 11 == 5)
            area = bbox[2] * bbox[3] * (float(rng.uniform(0.4, 1.6)) if rng.random() < 0.5 else 1.0)
            anns.append({"id": aid, "image_id": im["id"], "category_id": cat, "bbox": bbox, "area": area,
                         "iscrowd": crowd, "segmentation": []})
            aid += 1
            for _ in range(int(rng.integers(0, 3))):  # true-ish detections, duplicates included
                jit = rng.normal(0, 0.08, 4) * [w, h, w, h]
                db = [round(float(v), 2) for v in np.array(bbox) + jit]
                db[2], db[3] = max(db[2], 1.0), max(db[3], 1.0)
                dcat = cat if rng.random() < 0.85 else int(rng.choice(cat_ids))
                if dcat == 90 and rng.random() < 0.5:
                    dcat = 3
                dets.append({"image_id": im["id"], "category_id": dcat, "bbox": db,
                             "score": round(float(rng.uniform(0.05, 1.0)), 2)})
        extra = 130 if i == 3 else int(rng.integers(0, 5))
        for _ in range(extra):  # false positives, and > 100 detections on image 3
            w, h = np.exp(rng.uniform(np.log(4), np.log(200), 2))
            dets.append({"image_id": im["id"], "category_id": int(rng.choice([3, 7, 18])),
                         "bbox": [round(float(rng.uniform(0, 600)), 2), round(float(rng.uniform(0, 440)), 2),
                                  round(float(w), 2), round(float(h), 2)],
                         "score": round(float(rng.uniform(0.0, 0.9)), 2)})
    gt = {"info": {"description": "generated"}, "images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in cat_ids]}
    return gt, dets


def write_pair(tmp: Path, gt: dict, dets: list[dict], tag: str = "") -> tuple[Path, Path]:
    gt_file, dt_file = tmp / f"gt{tag}.json", tmp / f"dt{tag}.json"
    gt_file.write_text(json.dumps(gt))
    dt_file.write_text(json.dumps(dets))
    return gt_file, dt_file


def cvpipe_coco(gt_file: Path, dt_file: Path, engine: str) -> dict:
    gt = read_dataset(gt_file, "coco")
    dt = read_coco_results(dt_file, gt)
    return evaluate(gt, dt, ["coco"], engine=engine)["coco"]


# ---------------------------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_coco_equals_pycocotools_on_generated_pairs(tmp_path_factory, seed):
    tmp = tmp_path_factory.mktemp("coco")
    gt, dets = make_coco_pair(seed)
    gt_file, dt_file = write_pair(tmp, gt, dets)
    ref = pycocotools_stats(gt_file, dt_file)
    for engine in ("faster", "pycocotools"):
        got = ours(cvpipe_coco(gt_file, dt_file, engine))
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL, err_msg=f"engine={engine} seed={seed}")


def test_generated_pair_exercises_the_traps(tmp_path):
    gt, dets = make_coco_pair(1)
    assert any(a["iscrowd"] for a in gt["annotations"])
    assert any(abs(a["area"] - a["bbox"][2] * a["bbox"][3]) > 1 for a in gt["annotations"])
    per_image = {}
    for d in dets:
        per_image[d["image_id"]] = per_image.get(d["image_id"], 0) + 1
    assert max(per_image.values()) > 100
    gt_file, dt_file = write_pair(tmp_path, gt, dets)
    res = cvpipe_coco(gt_file, dt_file, "faster")
    assert res["per_class"]["class18"] is None  # no ground truth: no AP, like pycocotools' -1
    assert set(res["per_class"]) == {"class3", "class7", "class18", "class90"}
    # the area field, not the box, decides the size range: shrinking every area moves objects
    for a in gt["annotations"]:
        a["area"] = 1.0
    gt_file2, _ = write_pair(tmp_path, gt, dets, "-small")
    res2 = cvpipe_coco(gt_file2, dt_file, "faster")
    assert res2["APm"] == -1 and res2["APl"] == -1 and res2["APs"] != -1
    np.testing.assert_allclose(ours(res2), pycocotools_stats(gt_file2, dt_file), rtol=0, atol=TOL)


def test_faster_public_api_fallback_equals_pycocotools(tmp_path, monkeypatch):
    """Where faster-coco-eval's internals differ, cvpipe uses its public API: same numbers."""
    import cvpipe.evaluation_coco as metrics

    gt, dets = make_coco_pair(9)
    gt_file, dt_file = write_pair(tmp_path, gt, dets)
    fast = ours(cvpipe_coco(gt_file, dt_file, "faster"))
    monkeypatch.setattr(metrics, "_can_prepare", lambda: False)
    public = ours(cvpipe_coco(gt_file, dt_file, "faster"))
    ref = pycocotools_stats(gt_file, dt_file)
    np.testing.assert_allclose(public, ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=TOL)


def test_annotation_ids_from_zero_are_scored_as_if_they_started_at_one(tmp_path):
    """pycocotools uses annotation id 0 as "unmatched"; cvpipe hands it fresh ids."""
    gt0, dets = make_coco_pair(7, ann_id_start=0)
    gt1 = json.loads(json.dumps(gt0))
    for a in gt1["annotations"]:
        a["id"] += 1
    f0, dt_file = write_pair(tmp_path, gt0, dets, "0")
    f1, _ = write_pair(tmp_path, gt1, dets, "1")
    ref_shifted = pycocotools_stats(f1, dt_file)
    for engine in ("faster", "pycocotools"):
        np.testing.assert_allclose(ours(cvpipe_coco(f0, dt_file, engine)), ref_shifted, rtol=0, atol=TOL)


def test_coco_on_ground_truth_that_did_not_come_from_coco():
    """Non-COCO ground truth (string ids, no area field): fresh integer ids, box areas."""
    rng = np.random.default_rng(3)
    samples, dsamples = [], []
    for i in range(12):
        b = np.c_[rng.uniform(0, 100, (4, 2)), rng.uniform(120, 300, (4, 2))]
        samples.append(Sample(f"{i:02d}.jpg", 320, 320, b, rng.integers(0, 2, 4), id=f"{i:02d}"))
        dsamples.append(Sample(f"{i:02d}.jpg", 320, 320, b + rng.normal(0, 8, b.shape), rng.integers(0, 2, 4),
                               scores=rng.random(4)))
    gt, dt = Dataset(["a", "b"], samples), Dataset(["a", "b"], dsamples)
    a = evaluate(gt, dt, ["coco"], engine="faster")["coco"]
    b = evaluate(gt, dt, ["coco"], engine="pycocotools")["coco"]
    np.testing.assert_allclose(ours(a), ours(b), rtol=0, atol=TOL)
    # the same pair written as COCO JSON by hand and scored by pycocotools directly
    images = [{"id": i + 1, "file_name": s.image, "width": 320, "height": 320} for i, s in enumerate(samples)]
    anns, res = [], []
    for i, (s, d) in enumerate(zip(samples, dsamples)):
        for box, lab in zip(s.boxes, s.labels):
            x1, y1, x2, y2 = box.tolist()
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab) + 1,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        for box, lab, sc in zip(d.boxes, d.labels, d.scores):
            x1, y1, x2, y2 = box.tolist()
            res.append({"image_id": i + 1, "category_id": int(lab) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": float(sc)})
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "gt.json"
        f.write_text(json.dumps({"images": images, "annotations": anns,
                                 "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
        np.testing.assert_allclose(ours(a), pycocotools_stats(f, res), rtol=0, atol=TOL)


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real fixture {path} is absent (../shared/fixtures next to the checkout)")
    return path


@pytest.mark.parametrize("gt_rel, dt_rel", [
    (("coco-val2014", "instances_val2014_100.json"), ("coco-val2014", "instances_val2014_fakebbox100_results.json")),
    (("review-odm", "tests", "test_coco_eval", "gts", "sampled_gts_bbox_area.json"),
     ("review-odm", "tests", "test_coco_eval", "cocoapi_results.json")),
    (("review-odm", "tests", "test_coco_eval", "gts", "sampled_gts_bbox_area.json"),
     ("review-odm", "tests", "test_coco_eval", "dets", "sampled_bbox_results.json")),
])
def test_coco_equals_pycocotools_on_real_pairs(tmp_path, gt_rel, dt_rel):
    gt_file, dt_file = _fixture(*gt_rel), _fixture(*dt_rel)
    data = json.loads(dt_file.read_text())
    if isinstance(data, dict):  # review-odm ships these results inside a COCO-like dict
        dt_file = tmp_path / "results.json"
        dt_file.write_text(json.dumps(data["annotations"]))
    ref = pycocotools_stats(gt_file, dt_file)
    assert ref[0] > 0.3  # a real evaluation, not an empty one
    for engine in ("faster", "pycocotools"):
        np.testing.assert_allclose(ours(cvpipe_coco(gt_file, dt_file, engine)), ref, rtol=0, atol=TOL)


def test_coco_equals_pycocotools_on_review_odm_database():
    """Ground truth from CVAT's COCO export, detections from another tool with its own image and
    category ids (0-based): cvpipe matches by file name and class name; the reference maps the
    ids the same way by hand and runs pycocotools."""
    gt_file = _fixture("review-odm", "data", "database", "gts", "coco_format_v1", "instances_default.json")
    dt_file = _fixture("review-odm", "data", "database", "dets", "coco_format", "coco_dets.json")
    gt_json, dt_json = json.loads(gt_file.read_text()), json.loads(dt_file.read_text())
    img_of = {im["file_name"]: im["id"] for im in gt_json["images"]}
    cat_of = {c["name"]: c["id"] for c in gt_json["categories"]}
    dt_img = {im["id"]: im["file_name"] for im in dt_json["images"]}
    dt_cat = {c["id"]: c["name"] for c in dt_json["categories"]}
    results = [{"image_id": img_of[dt_img[a["image_id"]]], "category_id": cat_of[dt_cat[a["category_id"]]],
                "bbox": a["bbox"], "score": a["score"]} for a in dt_json["annotations"]]
    ref = pycocotools_stats(gt_file, results)

    from cvpipe.commands.evaluate import read_detections

    gt = read_dataset(gt_file, "coco")
    dt = read_detections(dt_file, gt)
    for engine in ("faster", "pycocotools"):
        got = evaluate(gt, dt, ["coco"], engine=engine)["coco"]
        np.testing.assert_allclose(ours(got), ref, rtol=0, atol=TOL)


def test_custom_iou_thresholds_and_options():
    gt, dt = _small_pair()
    full = evaluate(gt, dt, ["coco"])["coco"]
    only = evaluate(gt, dt, ["coco"], iou_thresholds=[0.5])["coco"]
    assert only["AP"] == pytest.approx(full["AP50"], abs=TOL)
    assert only["AP75"] == -1  # 0.75 not among the thresholds, as in pycocotools
    with pytest.raises(ConfigError):
        evaluate(gt, dt, ["coco"], iou_thresholds=[0.9, 0.5])
    with pytest.raises(ConfigError, match="none of the metrics"):
        evaluate(gt, dt, ["coco"], iou_threshold=0.7)  # a VOC option, no VOC metric asked for
    with pytest.raises(UnknownNameError, match="did you mean 'voc07'"):
        evaluate(gt, dt, ["voc7"])
    both = evaluate(gt, dt, {"voc07": {"iou_threshold": 0.3}, "voc12": None})
    assert both["voc07"]["mAP"] >= evaluate(gt, dt, ["voc07"])["voc07"]["mAP"]


# ---------------------------------------------------------------------------------------------
# Pascal VOC: a transcription of the devkit (VOCevaldet.m, VOCap.m) as the reference
# ---------------------------------------------------------------------------------------------


def devkit_ap(gt: dict, dets: list, cls: int, *, use_07: bool, minoverlap: float = 0.5) -> float | None:
    """VOCevaldet.m for one class. ``gt``: {image: [(cls, [x1, y1, x2, y2], difficult)]};
    ``dets``: [(image, cls, score, [x1, y1, x2, y2])] in file order. The devkit sorts with
    MATLAB's stable ``sort(-confidence)``; Python's ``sorted`` is stable too."""
    recs = {}
    npos = 0
    for img, objs in gt.items():
        mine = [o for o in objs if o[0] == cls]
        recs[img] = {"BB": [o[1] for o in mine], "diff": [o[2] for o in mine], "det": [False] * len(mine)}
        npos += sum(1 for o in mine if not o[2])
    if npos == 0:
        return None
    ds = [d for d in dets if d[1] == cls]
    order = sorted(range(len(ds)), key=lambda i: -ds[i][2])
    nd = len(ds)
    tp, fp = [0.0] * nd, [0.0] * nd
    for d, i in enumerate(order):
        img, _, _, bb = ds[i]
        rec = recs[img]
        ovmax, jmax = -np.inf, -1
        for j, bbgt in enumerate(rec["BB"]):
            bi = [max(bb[0], bbgt[0]), max(bb[1], bbgt[1]), min(bb[2], bbgt[2]), min(bb[3], bbgt[3])]
            iw = bi[2] - bi[0] + 1
            ih = bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax >= minoverlap:
            if not rec["diff"][jmax]:
                if not rec["det"][jmax]:
                    tp[d] = 1.0
                    rec["det"][jmax] = True
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    tp_c, fp_c = np.cumsum(tp), np.cumsum(fp)
    rec_c = tp_c / npos
    prec_c = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)  # MATLAB: 0/0 = NaN, ignored by max
    if use_07:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = max([p for r, p in zip(rec_c, prec_c) if r >= t], default=0.0)
            ap += p / 11
        return ap
    mrec = [0.0, *rec_c, 1.0]
    mpre = [0.0, *prec_c, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def to_datasets(gt: dict, dets: list, categories: list[str]) -> tuple[Dataset, Dataset]:
    samples, dsamples = [], []
    for img, objs in gt.items():
        samples.append(Sample(img, 1000, 1000, [o[1] for o in objs], [o[0] for o in objs],
                              difficult=[o[2] for o in objs]))
        mine = [d for d in dets if d[0] == img]
        dsamples.append(Sample(img, 1000, 1000, [d[3] for d in mine], [d[1] for d in mine],
                               scores=[d[2] for d in mine]))
    return Dataset(categories, samples), Dataset(categories, dsamples)


def voc_case(seed: int, n_images: int = 15, n_classes: int = 3):
    """Objects (some difficult, some overlapping), detections: hits, duplicates, misses,
    detections on difficult objects and on images without objects, tied scores."""
    rng = np.random.default_rng(seed)
    gt, dets = {}, []
    for i in range(n_images):
        img = f"JPEGImages/{i:04d}.jpg"
        objs = []
        for _ in range(int(rng.integers(0, 5))):
            x1, y1 = rng.integers(0, 400, 2)
            w, h = rng.integers(5, 200, 2)
            objs.append((int(rng.integers(0, n_classes)), [float(x1), float(y1), float(x1 + w), float(y1 + h)],
                         bool(rng.random() < 0.25)))
        gt[img] = objs
        for cls, box, _ in objs:
            for _ in range(int(rng.integers(0, 3))):  # 0: missed, 2: duplicate
                jit = rng.integers(-12, 13, 4)
                dets.append((img, cls if rng.random() < 0.9 else int(rng.integers(0, n_classes)),
                             round(float(rng.random()), 1), [float(v) for v in np.array(box) + jit]))
        for _ in range(int(rng.integers(0, 3))):  # unmatched
            x1, y1 = rng.integers(0, 600, 2)
            dets.append((img, int(rng.integers(0, n_classes)), round(float(rng.random()), 1),
                         [float(x1), float(y1), float(x1 + 30), float(y1 + 40)]))
    rng.shuffle(dets)
    return gt, dets


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_voc_equals_devkit_transcription(seed):
    gt, dets = voc_case(seed)
    cats = ["a", "b", "c"]
    g, d = to_datasets(gt, dets, cats)
    # the devkit reads detections in file order; cvpipe's order is per image, then box order
    ordered = [x for s in d.samples for x in dets if x[0] == s.image]
    result = evaluate(g, d, ["voc07", "voc12"])
    for metric, use_07 in (("voc07", True), ("voc12", False)):
        ref = {c: devkit_ap(gt, ordered, k, use_07=use_07) for k, c in enumerate(cats)}
        got = result[metric]["per_class"]
        for c in cats:
            if ref[c] is None:
                assert got[c] is None
            else:
                assert got[c] == pytest.approx(ref[c], abs=TOL), (metric, c, seed)
        aps = [v for v in ref.values() if v is not None]
        if aps:
            assert result[metric]["mAP"] == pytest.approx(float(np.mean(aps)), abs=TOL)


def test_voc_hand_worked_example():
    """Difficult object, duplicate, miss and a hit at IoU exactly 0.5 (the devkit's ``>=``)."""
    gt = {"A": [(0, [0.0, 0.0, 9.0, 9.0], False), (0, [20.0, 20.0, 29.0, 29.0], True)],
          "B": [(0, [0.0, 0.0, 9.0, 9.0], False)]}
    dets = [("A", 0, 0.9, [0.0, 0.0, 9.0, 9.0]),      # hit
            ("A", 0, 0.8, [0.0, 0.0, 9.0, 9.0]),      # duplicate: false positive
            ("A", 0, 0.7, [20.0, 20.0, 29.0, 29.0]),  # on a difficult object: ignored
            ("B", 0, 0.6, [50.0, 50.0, 60.0, 60.0]),  # miss: false positive
            ("B", 0, 0.5, [0.0, 0.0, 19.0, 9.0])]     # IoU (10*10)/(200+100-100) = 0.5: hit
    g, d = to_datasets(gt, dets, ["thing"])
    res = evaluate(g, d, ["voc07", "voc12"])
    # recall .5 .5 .5 .5 1, precision 1 .5 .5 1/3 .5
    assert res["voc12"]["per_class"]["thing"] == pytest.approx(0.5 * 1 + 0.5 * 0.5, abs=TOL)
    assert res["voc07"]["per_class"]["thing"] == pytest.approx((6 * 1 + 5 * 0.5) / 11, abs=TOL)
    assert res["voc12"]["mAP"] == res["voc12"]["per_class"]["thing"]


def test_voc_ap_definitions():
    rec, prec = np.array([0.5, 1.0]), np.array([1.0, 0.5])
    assert voc_ap(rec, prec, use_07_metric=False) == pytest.approx(0.75, abs=TOL)
    assert voc_ap(rec, prec, use_07_metric=True) == pytest.approx(8.5 / 11, abs=TOL)
    assert voc_ap(np.zeros(0), np.zeros(0), use_07_metric=False) == 0.0


def test_voc_classes_without_objects_and_without_detections():
    gt = {"A": [(0, [0.0, 0.0, 9.0, 9.0], False), (1, [30.0, 30.0, 50.0, 50.0], True)]}
    dets = [("A", 2, 0.9, [0.0, 0.0, 9.0, 9.0])]
    g, d = to_datasets(gt, dets, ["a", "b", "c"])
    res = evaluate(g, d, ["voc12"])["voc12"]
    assert res["per_class"] == {"a": 0.0, "b": None, "c": None}  # b: only difficult; c: no objects
    assert res["mAP"] == 0.0


# ---------------------------------------------------------------------------------------------
# Matching detections to ground truth
# ---------------------------------------------------------------------------------------------


def _small_pair() -> tuple[Dataset, Dataset]:
    gt, dets = voc_case(11, n_images=8)
    return to_datasets(gt, dets, ["a", "b", "c"])


def test_align_by_stem_other_order_and_category_names():
    g = Dataset(["cat", "dog"], [
        Sample("imgs/x/1.jpg", 100, 100, [[0, 0, 10, 10]], [1]),
        Sample("imgs/y/2.jpg", 100, 100, [[5, 5, 50, 50]], [0]),
        Sample("imgs/y/3.jpg", 100, 100),
    ])
    d = Dataset(["dog", "cat", "bird"], [
        Sample("2.png", 100, 100, [[5, 5, 50, 50], [1, 1, 2, 2]], [1, 0], scores=[0.9, 0.1]),
        Sample("imgs/x/1.jpg", 100, 100, [[0, 0, 10, 10]], [0], scores=[0.8]),
        Sample("1.jpg", 100, 100, [[0, 0, 11, 11]], [0], scores=[0.7]),
    ])
    a = align_detections(g, d)
    assert [s.image for s in a.samples] == [s.image for s in g.samples]
    assert a.samples[0].labels.tolist() == [1, 1] and a.samples[0].scores.tolist() == [0.8, 0.7]
    assert a.samples[1].labels.tolist() == [0, 1]
    assert len(a.samples[2]) == 0 and a.samples[2].scores is not None
    assert align_detections(g, a) is a
    assert evaluate(g, d, ["voc12"])["voc12"]["per_class"] == {"cat": 1.0, "dog": 1.0}


def test_align_errors():
    g = Dataset(["cat"], [Sample("a.jpg", 10, 10, [[0, 0, 5, 5]], [0])])
    with pytest.raises(InputError, match="not in the ground truth"):
        align_detections(g, Dataset(["cat"], [Sample("zzz.jpg", 10, 10, [[0, 0, 5, 5]], [0], scores=[1.0])]))
    with pytest.raises(InputError, match="does not have"):
        align_detections(g, Dataset(["cow"], [Sample("a.jpg", 10, 10, [[0, 0, 5, 5]], [0], scores=[1.0])]))
    with pytest.raises(InputError, match="no scores"):
        align_detections(g, Dataset(["cat"], [Sample("a.jpg", 10, 10, [[0, 0, 5, 5]], [0])]))


# ---------------------------------------------------------------------------------------------
# Pictures and report
# ---------------------------------------------------------------------------------------------


def test_confusion_matrix_hand_worked():
    g = Dataset(["a", "b"], [Sample("1.jpg", 100, 100, [[0, 0, 10, 10], [50, 50, 60, 60], [80, 80, 90, 90]],
                                    [0, 1, 1], difficult=[False, False, True])])
    d = Dataset(["a", "b"], [Sample("1.jpg", 100, 100,
                                    [[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [30, 30, 40, 40],
                                     [80, 80, 90, 90], [0, 0, 10, 10]],
                                    [0, 0, 0, 1, 1, 1], scores=[0.9, 0.8, 0.7, 0.6, 0.5, 0.1])])
    cm = confusion_matrix(g, d, conf_threshold=0.25)
    # a->a; duplicate a: background; b predicted a; stray b: background; b on difficult: dropped;
    # the 0.1 detection is under the threshold
    assert cm.tolist() == [[1, 0, 0], [1, 0, 0], [1, 1, 0]]


def test_pictures_and_report(tmp_path):
    from cvpipe.draw import save_png

    gt, dt = _small_pair()
    img_dir = tmp_path / "root"
    for s in gt.samples:
        save_png(img_dir / s.image, np.full((120, 160, 3), 200, np.uint8))
    gt.root = img_dir
    written = save_pictures(gt, dt, tmp_path / "pics", samples=4)
    assert set(written) == {"pr_curves", "confusion_matrix", "samples"}
    for p in written.values():
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(p).stat().st_size > 2000
    gt.root = tmp_path / "nowhere"
    assert "samples" not in save_pictures(gt, dt, tmp_path / "pics2")
    text = format_report(evaluate(gt, dt, ["coco", "voc07"]))
    assert "AP50" in text and "voc07 AP" in text and "coco AP@[.5:.95]" in text


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), conf=st.sampled_from([0.0, 0.25, 0.6]))
def test_confusion_matrix_accounts_for_every_object_and_detection(seed, conf):
    """Each non-difficult object is counted once (matched or missed); each detection above the
    threshold once (matched, background, or dropped on a difficult object)."""
    gt, dets = voc_case(seed)
    g, d = to_datasets(gt, dets, ["a", "b", "c"])
    cm = confusion_matrix(g, d, conf_threshold=conf)
    k = 3
    objects = np.zeros(k, np.int64)
    for s in g.samples:
        objects += np.bincount(s.labels[~s.difficult], minlength=k)
    assert cm[:k, :].sum(axis=1).tolist() == objects.tolist()
    above = np.zeros(k, np.int64)
    for s in d.samples:
        above += np.bincount(s.labels[s.scores >= conf], minlength=k)
    assert np.all(cm[:, :k].sum(axis=0) <= above)
    assert cm[k, k] == 0


def test_coco_difficult_drop_equals_removing_difficult_objects():
    gt, dets = voc_case(5)
    g, d = to_datasets(gt, dets, ["a", "b", "c"])
    kept = Dataset(g.categories, [s.select(~s.difficult) for s in g.samples])
    assert any(s.difficult.any() for s in g.samples)
    for engine in ("faster", "pycocotools"):
        a = evaluate(g, d, ["coco"], engine=engine, difficult="drop")["coco"]
        b = evaluate(kept, d, ["coco"], engine=engine)["coco"]
        c = evaluate(g, d, ["coco"], engine=engine)["coco"]
        np.testing.assert_allclose(ours(a), ours(b), rtol=0, atol=TOL)
        assert ours(a).tolist() != ours(c).tolist()
