"""``cvpipe evaluate`` (GT and detections in different formats) and the ``evaluate`` step.

References: pycocotools on the JSON files, and the devkit transcription of test_evaluation.py
applied to the numbers written into the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.cli import main
from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError, UnknownNameError
from cvpipe.evaluation import COCO_KEYS, evaluate
from test_evaluation import TOL, devkit_ap, make_coco_pair, pycocotools_stats, voc_case, write_pair

SIZE = 512  # a power of two: YOLO's normalised numbers are exact in binary
CATS = ["cat", "dog", "horse"]  # Pascal VOC names: the VOC reader keeps VOC_CLASSES order


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def integer_case(seed: int):
    """``voc_case`` with boxes kept inside a SIZE x SIZE image (integer pixel numbers)."""
    gt, dets = voc_case(seed, n_images=10)
    clip = lambda b: [float(min(max(v, 1), SIZE - 1)) for v in b]  # noqa: E731
    gt = {k.split("/")[-1].replace(".jpg", ""): [(c, clip(b), d) for c, b, d in objs] for k, objs in gt.items()}
    dets = [(img.split("/")[-1].replace(".jpg", ""), c, s, clip(b)) for img, c, s, b in dets]
    gt = {k: [o for o in objs if o[1][0] < o[1][2] and o[1][1] < o[1][3]] for k, objs in gt.items()}
    dets = [d for d in dets if d[3][0] < d[3][2] and d[3][1] < d[3][3]]
    return gt, dets


def write_voc_xml(folder: Path, gt: dict, *, scores: dict | None = None) -> None:
    """Plain Pascal VOC XML, one file per image (scores: detections with ``<score>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, objs in gt.items():
        parts = [f"<annotation><folder>VOC</folder><filename>{stem}.jpg</filename>",
                 f"<size><width>{SIZE}</width><height>{SIZE}</height><depth>3</depth></size>"]
        for k, (cls, box, diff) in enumerate(objs):
            score = f"<score>{scores[stem][k]!r}</score>" if scores else ""
            parts.append(f"<object><name>{CATS[cls]}</name><difficult>{int(diff)}</difficult>{score}<bndbox>"
                         f"<xmin>{box[0]:g}</xmin><ymin>{box[1]:g}</ymin><xmax>{box[2]:g}</xmax><ymax>{box[3]:g}</ymax>"
                         "</bndbox></object>")
        parts.append("</annotation>")
        (folder / f"{stem}.xml").write_text("".join(parts))


def reference_voc(gt: dict, dets: list, use_07: bool) -> dict:
    ordered = [d for stem in gt for d in dets if d[0] == stem]
    return {c: devkit_ap(gt, ordered, k, use_07=use_07) for k, c in enumerate(CATS)}


def assert_per_class(got: dict, ref: dict) -> None:
    for c, v in ref.items():
        if v is None:
            assert got.get(c) is None
        else:
            assert got[c] == pytest.approx(v, abs=TOL), c


def test_cli_coco_gt_coco_results_equals_pycocotools(tmp_path, capsys):
    gt, dets = make_coco_pair(5)
    gt_file, dt_file = write_pair(tmp_path, gt, dets)
    out = tmp_path / "m.json"
    code, text, err = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--json", str(out)], capsys)
    assert code == 0, err
    assert "AP50" in text and "class90" in text
    got = json.loads(out.read_text())
    assert set(got) == {"coco"}
    ref = pycocotools_stats(gt_file, dt_file)
    np.testing.assert_allclose([got["coco"][k] for k in COCO_KEYS], ref, rtol=0, atol=TOL)
    # the reference engine gives the same numbers
    code, text, _ = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--engine", "pycocotools",
                             "--json", "-"], capsys)
    assert code == 0
    np.testing.assert_allclose([json.loads(text)["coco"][k] for k in COCO_KEYS], ref, rtol=0, atol=TOL)


def test_cli_voc_gt_yolo_predictions(tmp_path, capsys):
    gt, dets = integer_case(21)
    write_voc_xml(tmp_path / "gt", gt)
    pred = tmp_path / "predict" / "labels"  # Ultralytics' layout: runs/detect/predict/labels
    pred.mkdir(parents=True)
    for stem in gt:
        lines = []
        for img, c, s, (x1, y1, x2, y2) in dets:
            if img == stem:
                cx, cy, w, h = (x1 + x2) / 2 / SIZE, (y1 + y2) / 2 / SIZE, (x2 - x1) / SIZE, (y2 - y1) / SIZE
                lines.append(f"{c} {cx!r} {cy!r} {w!r} {h!r} {s!r}")
        if lines:
            (pred / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "m.json"
    code, text, err = run_cli(["evaluate", "--gt", str(tmp_path / "gt"), "--dt", str(tmp_path / "predict"),
                               "--metric", "voc07", "--metric", "voc12", "--json", str(out),
                               "--plots", str(tmp_path / "plots")], capsys)
    assert code == 0, err
    got = json.loads(out.read_text())
    assert set(got) == {"voc07", "voc12"}
    assert_per_class(got["voc07"]["per_class"], reference_voc(gt, dets, True))
    assert_per_class(got["voc12"]["per_class"], reference_voc(gt, dets, False))
    assert (tmp_path / "plots" / "pr_curves.png").is_file()
    assert (tmp_path / "plots" / "confusion_matrix.png").is_file()
    # --difficult reaches the coco metric
    from cvpipe.commands.evaluate import read_detections
    from cvpipe.formats import read_dataset

    g = read_dataset(tmp_path / "gt", "voc")
    d = read_detections(tmp_path / "predict", g)
    for mode in ("count", "drop"):
        code, text, err = run_cli(["evaluate", "--gt", str(tmp_path / "gt"), "--dt", str(tmp_path / "predict"),
                                   "--difficult", mode, "--json", "-"], capsys)
        assert code == 0, err
        assert json.loads(text)["coco"] == evaluate(g, d, ["coco"], difficult=mode)["coco"]


def test_cli_coco_gt_voc_detections_with_scores(tmp_path, capsys):
    gt, dets = integer_case(22)
    images = [{"id": i + 1, "file_name": f"{stem}.jpg", "width": SIZE, "height": SIZE} for i, stem in enumerate(gt)]
    anns = []
    for i, (stem, objs) in enumerate(gt.items()):
        for cls, (x1, y1, x2, y2), diff in objs:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cls + 1,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                         "attributes": {"difficult": diff}})
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps({"images": images, "annotations": anns,
                                   "categories": [{"id": k + 1, "name": c} for k, c in enumerate(CATS)]}))
    by_image = {stem: [(c, b, False) for img, c, s, b in dets if img == stem] for stem in gt}
    scores = {stem: [s for img, c, s, b in dets if img == stem] for stem in gt}
    write_voc_xml(tmp_path / "dets", {k: v for k, v in by_image.items() if v}, scores=scores)
    code, text, err = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(tmp_path / "dets"),
                               "--metric", "voc12", "--json", "-"], capsys)
    assert code == 0, err
    got = json.loads(text)
    assert_per_class(got["voc12"]["per_class"], reference_voc(gt, dets, False))


def test_cli_bad_input_exit_2(tmp_path, capsys):
    gt, dets = make_coco_pair(2, n_images=6)
    gt_file, dt_file = write_pair(tmp_path, gt, dets)
    code, _, err = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "missing.json" in err and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 424242, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 0.5}]))
    code, _, err = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(bad)], capsys)
    assert code == 2 and "424242" in err
    code, _, err = run_cli(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--metric", "cocoo"], capsys)
    assert code == 2 and "did you mean 'coco'" in err


# ---------------------------------------------------------------------------------------------
# The evaluate step
# ---------------------------------------------------------------------------------------------


def step_pair() -> tuple[Dataset, Dataset]:
    return step_pair_of(*integer_case(23))


def test_evaluate_step(tmp_path):
    from cvpipe.pipeline import Context
    from cvpipe.plugins import get_registry

    gt, dt = step_pair()
    reg = get_registry()
    step = reg.steps.create("evaluate", {"gt": "val", "detections": "pred", "metrics": ["coco", "voc12"],
                                         "samples": 0})
    assert step.inputs == {"gt": "val", "detections": "pred"} and step.outputs == {"output": "metrics"}
    ctx = Context(run_dir=tmp_path / "run", base_dir=tmp_path, pipeline="t", quiet=True)
    ctx.step_name = "evaluate"
    ctx["val"], ctx["pred"] = gt, dt
    result = step.run(ctx)
    expected = evaluate(gt, dt, ["coco", "voc12"])
    assert ctx["metrics"] == expected
    assert json.loads((tmp_path / "run" / "evaluate" / "metrics.json").read_text()) == expected
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == expected
    assert set(result["pictures"]) == {"pr_curves", "confusion_matrix"}
    assert result["detections"] == dt.num_boxes
    json.dumps(result)  # JSON-ready


def test_evaluate_step_settings_are_checked():
    from cvpipe.plugins import get_registry

    steps = get_registry().steps
    with pytest.raises(UnknownNameError, match="did you mean 'voc07'"):
        steps.create("evaluate", {"gt": "a", "detections": "b", "metrics": ["voc7"]})
    with pytest.raises(ConfigError, match="iou_threshold"):
        steps.create("evaluate", {"gt": "a", "detections": "b", "iou_threshold": 1.5})
    with pytest.raises(ConfigError, match="unknown setting"):
        steps.create("evaluate", {"gt": "a", "detections": "b", "pictures_dir": "x"})


def test_cli_reads_detections_as_the_predict_step_writes_them(tmp_path, capsys):
    """Detections written by cvpipe's own writers (what ``predict`` with ``format:`` produces,
    without images): a YOLO dataset with a confidence column, COCO instances with scores, VOC
    XML with <score>; each evaluated against VOC ground truth equals the devkit reference."""
    from cvpipe.formats import write_dataset

    gt_raw, dets = integer_case(24)
    gt, dt = step_pair_of(gt_raw, dets)
    for s in dt.samples:
        s.split = "val"
    write_dataset(gt, tmp_path / "gt", "voc", images="none")
    write_dataset(dt, tmp_path / "yolo", "yolo", images="none", decimals=12)
    write_dataset(dt, tmp_path / "coco", "coco", images="none")
    write_dataset(dt, tmp_path / "voc", "voc", images="none")
    coco_json = next((tmp_path / "coco").rglob("*.json"))
    ref = reference_voc(gt_raw, dets, False)
    for dt_path in (tmp_path / "yolo", coco_json, tmp_path / "voc"):
        code, text, err = run_cli(["evaluate", "--gt", str(tmp_path / "gt"), "--dt", str(dt_path),
                                   "--metric", "voc12", "--json", "-"], capsys)
        assert code == 0, (dt_path, err)
        assert_per_class(json.loads(text)["voc12"]["per_class"], ref)


def step_pair_of(gt: dict, dets: list) -> tuple[Dataset, Dataset]:
    samples = [Sample(f"{stem}.jpg", SIZE, SIZE, [o[1] for o in objs], [o[0] for o in objs],
                      difficult=[o[2] for o in objs]) for stem, objs in gt.items()]
    dsamples = [Sample(f"{stem}.jpg", SIZE, SIZE, [d[3] for d in dets if d[0] == stem],
                       [d[1] for d in dets if d[0] == stem], scores=[d[2] for d in dets if d[0] == stem])
                for stem in gt]
    return Dataset(CATS, samples), Dataset(CATS, dsamples)


def test_cvpipe_evaluate_does_not_import_torch(tmp_path):
    """Evaluation needs no torch, torchvision or albumentations (fast start, light installs)."""
    import subprocess
    import sys

    gt, dets = make_coco_pair(4, n_images=5)
    gt_file, dt_file = write_pair(tmp_path, gt, dets)
    code = ("import sys; from cvpipe.cli import main; "
            f"rc = main(['evaluate', '--gt', {str(gt_file)!r}, '--dt', {str(dt_file)!r}, '--metric', 'coco', "
            "'--metric', 'voc07', '--json', '-']); "
            "heavy = [m for m in ('torch', 'torchvision', 'albumentations') if m in sys.modules]; "
            "sys.exit(rc or (3 if heavy else 0))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["voc07"]["mAP"] is not None


def test_evaluate_step_in_a_pipeline(tmp_path, capsys):
    """`cvpipe run`: read ground truth and scored detections (VOC XML), evaluate; bad settings
    are reported at their YAML path before anything runs."""
    gt, dets = integer_case(25)
    write_voc_xml(tmp_path / "gt", gt)
    by_image = {stem: [(c, b, False) for img, c, s, b in dets if img == stem] for stem in gt}
    scores = {stem: [s for img, c, s, b in dets if img == stem] for stem in gt}
    write_voc_xml(tmp_path / "dets", {k: v for k, v in by_image.items() if v}, scores=scores)
    yaml_text = """name: evaltest
steps:
  - read: {path: gt, format: voc, output: gt}
  - read: {path: dets, format: voc, output: dets, name: read_dets}
  - evaluate:
      gt: gt
      detections: dets
      metrics: [voc07, voc12]
      samples: 0
"""
    (tmp_path / "p.yaml").write_text(yaml_text)
    code, _, err = run_cli(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert_per_class(metrics["voc12"]["per_class"], reference_voc(gt, dets, False))
    assert_per_class(metrics["voc07"]["per_class"], reference_voc(gt, dets, True))
    assert (tmp_path / "run" / "evaluate" / "pr_curves.png").is_file()

    (tmp_path / "bad.yaml").write_text(yaml_text.replace("metrics: [voc07, voc12]", "metrics: [voc07, vocc12]"))
    code, _, err = run_cli(["run", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "run2")], capsys)
    assert code == 2 and "steps[2].evaluate.metrics[1]" in err and "did you mean 'voc12'" in err
    assert not (tmp_path / "run2" / "metrics.json").exists()
