"""The evaluation pictures tell the same story as the tables: the precision-recall plot's APs are
computed as the metric in the table beside it computes them (VOC07 11-point, VOC all-point,
COCO 101-point AP50), and the evaluate step and command pass that definition through."""

from __future__ import annotations

import numpy as np
import pytest

from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError
from cvpipe.evaluation import evaluate, pr_ap_definition, pr_curves, plot_pr_curves

CLASSES = ["cat", "dog", "bird"]


def generated_pair(seed: int, n_images: int = 12) -> tuple[Dataset, Dataset]:
    """Ground truth and noisy detections (shifted boxes, wrong classes, duplicates, false
    positives, misses) on ``n_images`` 200x150 images."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for i in range(n_images):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 140, (n, 2))
        wh = rng.uniform(8, 60, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [200, 150])], axis=1)
        labels = rng.integers(0, len(CLASSES), n)
        gts.append(Sample(f"{i}.jpg", 200, 150, boxes, labels))
        keep = rng.random(n) > 0.2  # misses
        d = boxes[keep] + rng.normal(0, 4, (int(keep.sum()), 4))
        dl = labels[keep].copy()
        flip = rng.random(len(dl)) < 0.15
        dl[flip] = (dl[flip] + 1) % len(CLASSES)
        extra = int(rng.integers(0, 3))  # false positives
        exy = rng.uniform(0, 150, (extra, 2))
        d = np.concatenate([d, np.concatenate([exy, exy + 20], axis=1), d[:1] + 2])  # + a duplicate
        dl = np.concatenate([dl, rng.integers(0, len(CLASSES), extra), dl[:1]])
        scores = rng.uniform(0.05, 1.0, len(d)).round(3)
        dts.append(Sample(f"{i}.jpg", 200, 150, d, dl, scores=scores))
    return Dataset(CLASSES, gts), Dataset(CLASSES, dts)


def test_which_ap_the_plot_shows():
    assert pr_ap_definition(["coco", "voc07"]) == "voc07"  # the per-class column that equals the legend
    assert pr_ap_definition(["voc12", "voc07"]) == "voc12"
    assert pr_ap_definition(["coco"]) == "coco"
    assert pr_ap_definition(["mine"]) == "voc12"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ap", ["voc07", "voc12"])
def test_plot_ap_equals_the_voc_table(seed, ap):
    gt, dt = generated_pair(seed)
    table = evaluate(gt, dt, [ap])[ap]
    curves = pr_curves(gt, dt, ap=ap)
    assert curves["mAP"] == pytest.approx(table["mAP"], abs=1e-12)
    for name, c in curves["per_class"].items():
        assert c["ap"] == pytest.approx(table["per_class"][name], abs=1e-12)
    assert set(curves["per_class"]) == {n for n, v in table["per_class"].items() if v is not None}


def test_the_two_voc_definitions_differ_on_this_data():
    gt, dt = generated_pair(0)
    assert abs(pr_curves(gt, dt, ap="voc07")["mAP"] - pr_curves(gt, dt, ap="voc12")["mAP"]) > 1e-3


@pytest.mark.parametrize("engine", ["faster", "pycocotools"])
def test_plot_ap_equals_the_coco_table_ap50(engine):
    gt, dt = generated_pair(3)
    table = evaluate(gt, dt, ["coco"], engine=engine)["coco"]
    curves = pr_curves(gt, dt, ap="coco", params={"engine": engine})
    assert curves["mAP"] == pytest.approx(table["AP50"], abs=1e-12)
    assert curves["definition"] == "COCO 101-point AP50"
    for c in curves["per_class"].values():
        assert len(c["recall"]) == len(c["precision"]) == 101
        assert np.all(np.diff(c["precision"]) <= 1e-12)  # COCO's interpolated precision never rises
    # at 0.75 it is the table's AP75
    assert pr_curves(gt, dt, ap="coco", iou_threshold=0.75)["mAP"] == pytest.approx(table["AP75"], abs=1e-12)


def test_a_metric_without_curves_is_a_clear_error(cvpipe_plugin):
    class Plain:
        def compute(self, gt, dt):
            return {"x": 1.0}

    class Plugin:
        from cvpipe.hookspecs import hookimpl

        @hookimpl
        def cvpipe_register_metrics(self, register):
            register("plain", Plain)

    cvpipe_plugin(Plugin(), name="plain-metric")
    gt, dt = generated_pair(0, n_images=2)
    with pytest.raises(ConfigError, match="draws no precision-recall curves"):
        pr_curves(gt, dt, ap="plain")
    with pytest.raises(ConfigError, match="IoU threshold"):
        pr_curves(gt, dt, ap="voc07", iou_threshold=0)


def test_plot_writes_a_png(tmp_path):
    gt, dt = generated_pair(1)
    path = plot_pr_curves(gt, dt, tmp_path / "pr.png", ap="voc07")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def recorder(monkeypatch):
    import cvpipe.evaluation as ev

    calls = []
    real = ev.plot_pr_curves

    def record(gt, dt, path, **kw):
        calls.append(kw)
        return real(gt, dt, path, **kw)

    monkeypatch.setattr(ev, "plot_pr_curves", record)
    return calls


def test_evaluate_step_plots_the_tables_ap(tmp_path, monkeypatch):
    from cvpipe.builtin.metrics import EvaluateStep
    from cvpipe.testing import make_context

    calls = recorder(monkeypatch)
    gt, dt = generated_pair(2, n_images=4)
    for metrics, want in ((["coco", "voc07"], "voc07"), (["coco"], "coco"), (["voc12"], "voc12")):
        ctx = make_context(tmp_path, step_name="evaluate", gt=gt, dt=dt)
        EvaluateStep(gt="gt", detections="dt", metrics=metrics, samples=0).run(ctx)
        assert calls[-1]["ap"] == want
    assert calls[-2]["params"] == {"engine": "faster", "difficult": "count"}


def test_evaluate_command_plots_the_tables_ap(tmp_path, monkeypatch, capsys):
    import json

    from cvpipe.cli import main

    calls = recorder(monkeypatch)
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900,
                           "iscrowd": 0}],
          "categories": [{"id": 1, "name": "cat"}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [11, 10, 30, 30], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    args = ["evaluate", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"), "--plots",
            str(tmp_path / "plots")]
    assert main(args + ["--metric", "coco", "--metric", "voc07"]) == 0
    assert calls[-1]["ap"] == "voc07"
    assert main(args + ["--engine", "pycocotools"]) == 0
    assert calls[-1]["ap"] == "coco" and calls[-1]["params"]["engine"] == "pycocotools"
