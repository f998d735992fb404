"""End to end through the CLI: a tiny training pipeline runs, resumes (and extends), and
``cvpipe predict`` writes detections that ``cvpipe evaluate`` reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cvpipe.cli import main

PIPELINE = """
name: tiny_detect
vars:
  epochs: 1
steps:
  - synthesize:
      path: ${run_dir}/data
      images: 12
      size: [96, 64]
      object_size: [14, 30]
      objects_per_image: [1, 2]
      seed: 4
      skip_if_exists: true
  - read: {name: read_train, format: voc, path: "${run_dir}/data", splits: [train], output: train}
  - read: {name: read_val, format: voc, path: "${run_dir}/data", splits: [val], output: val}
  - train:
      dataset: train
      val: val
      model_params: {image_size: 64, width: 8, depth: 0, fpn_channels: 16, head_convs: 1}
      epochs: ${vars.epochs}
      batch_size: 4
      workers: 0
      threads: 1
  - predict: {model: model, dataset: val, output: detections, draw: 2, format: coco}
  - evaluate: {gt: val, detections: detections, metrics: [coco, voc07], pictures: false}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pipe")
    (base / "tiny.yaml").write_text(PIPELINE)
    out = base / "run"
    assert main(["run", str(base / "tiny.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


def test_pipeline_trains_predicts_and_evaluates(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"coco", "voc07"} and 0 <= metrics["coco"]["AP50"] <= 1
    assert (run_dir / "train" / "best.pt").is_file() and (run_dir / "train" / "metrics.csv").is_file()
    assert (run_dir / "predict" / "predictions.png").is_file()
    assert (run_dir / "predict" / "detections").exists()


def test_resume_extends_the_finished_run(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    yaml = run_dir.parent / "tiny.yaml"
    assert main(["run", str(yaml), "--out", str(run), "--resume", "--set", "train.epochs=2", "--quiet"]) == 0
    rows = (run / "train" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2]


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_cli_predict_writes_what_evaluate_reads(run_dir, tmp_path, fmt, capsys):
    images = run_dir / "data" / "JPEGImages"
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), str(images), "--out", str(out), "--format", fmt, "--draw",
                 "--quiet", "--score-threshold", "0.01", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 12 and summary["drawn"] == 12
    assert len(list((out / "drawn").glob("*.png"))) == 12
    dt = out / "detections"
    if fmt == "coco":
        dt = next(dt.rglob("*.json"))
    assert main(["evaluate", "--gt", str(run_dir / "data"), "--dt", str(dt), "--metric", "voc07",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert 0 <= json.loads((tmp_path / "m.json").read_text())["voc07"]["mAP"] <= 1


def test_cli_predict_bad_inputs_exit_2(run_dir, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    img = next((run_dir / "data" / "JPEGImages").glob("*.jpg"))
    assert main(["predict", str(junk), str(img), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "junk.pt" in err and "Traceback" not in err
    assert main(["predict", str(run_dir), str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert main(["predict", str(run_dir), str(img), "--out", str(tmp_path / "o"), "--format", "yolov8"]) == 2


def test_shipped_voc_detect_validates(capsys):
    shipped = Path(__file__).resolve().parents[1] / "pipelines" / "voc_detect.yaml"
    assert main(["run", str(shipped), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "evaluate" in out and "${" not in out
    assert main(["run", str(shipped), "--dry-run", "--set", "train.model_params.image_sise=96"]) == 2
    assert "image_size" in capsys.readouterr().err
