"""``cvpipe train DATA``: VOC, COCO and YOLO inputs (tiny generated data), the seeded split when
there is no validation split, the pipeline.yaml it writes (re-run by ``cvpipe run`` to the same
result), --json, --help examples and errors (exit 2, no traceback)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from cvpipe import cli  # noqa: E402

#: a tiny compact detector, one thread, no curves: a fast run
FAST = ["--model", "compact", "--imgsz", "64", "--epochs", "1", "--batch", "4", "--workers", "0",
        "--set", "model_params.width=8", "--set", "model_params.depth=0", "--set", "model_params.fpn_channels=16",
        "--set", "model_params.head_convs=1", "--set", "threads=1", "--set", "curves=false", "-q"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same tiny dataset as VOC, COCO and YOLO (train/val splits), and YOLO without val."""
    from cvpipe.formats import read_dataset, write_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("data")
    synthesize_voc(root / "voc", images=12, seed=3, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
    ds = read_dataset(root / "voc", "voc")
    write_dataset(ds, root / "coco", "coco", images="copy")
    write_dataset(ds, root / "yolo", "yolo", images="copy")
    plain = dataclasses.replace(ds, samples=[dataclasses.replace(s, split=None) for s in ds.samples])
    write_dataset(plain, root / "yolo_nosplit", "yolo", images="copy")
    return root


def _train(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["train", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_voc_run_writes_a_pipeline_that_cvpipe_run_repeats(datasets, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _train(capsys, datasets / "voc", *FAST, "--out", run)
    assert code == 0, err
    # the per-class table, the split used and best.pt end the output
    assert "AP50-95" in out and "F1-conf" in out and "circle" in out
    assert "DATA's splits: train 'train' (10 images), val 'val' (2 images)" in out
    best = run / "train" / "best.pt"
    assert f"best model: {best}" in out and best.is_file()
    per_class = json.loads((run / "evaluate" / "per_class.json").read_text())
    assert set(per_class) == {"classes", "all"}
    row = next(iter(per_class["classes"].values()))
    assert set(row) == {"images", "objects", "precision", "recall", "AP50", "AP50_95", "confidence"}
    # pipeline.yaml is what ran; `cvpipe run` on it gives the same result
    text = (run / "pipeline.yaml").read_text()
    assert "train:" in text and "evaluate:" in text and "per_class: true" in text
    again = tmp_path / "again"
    assert cli.main(["run", str(run / "pipeline.yaml"), "--out", str(again), "-q"]) == 0
    capsys.readouterr()
    assert json.loads((again / "metrics.json").read_text()) == json.loads((run / "metrics.json").read_text())
    assert json.loads((again / "evaluate" / "per_class.json").read_text()) == per_class
    import torch

    a = torch.load(best, weights_only=True)["model"]["state_dict"]
    b = torch.load(again / "train" / "best.pt", weights_only=True)["model"]["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_coco_input_and_json_summary(datasets, tmp_path, capsys):
    code, out, err = _train(capsys, datasets / "coco", *FAST, "--out", tmp_path / "run", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["format"] == "coco" and not summary["seeded_split"]
    assert Path(summary["best_checkpoint"]).name == "best.pt"
    assert "AP50" in summary["metrics"]["coco"] and "all" in summary["per_class"]


def test_yolo_without_val_gets_a_seeded_split(datasets, tmp_path, capsys):
    code, out, err = _train(capsys, datasets / "yolo_nosplit" / "data.yaml", *FAST, "--out", tmp_path / "run",
                            "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["format"] == "yolo" and summary["seeded_split"]
    assert "seeded split of its 12 images (train 80%, val 20%, stratified, seed 0)" in summary["splits"]
    text = (tmp_path / "run" / "pipeline.yaml").read_text()
    assert "split:" in text and "data_val" in text


def test_yolo_with_splits_resumes(datasets, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _train(capsys, datasets / "yolo", *FAST, "--out", run)
    assert code == 0, err
    assert "val 'val' (2 images)" in out
    code, out, err = _train(capsys, datasets / "yolo", *FAST[:5], "2", *FAST[6:], "--out", run, "--resume")
    assert code == 0, err
    lines = (run / "train" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_help_has_examples(capsys):
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Examples:" in text and "cvpipe train VOCdevkit/VOC2007" in text and "--resume" in text


@pytest.mark.parametrize("args, field", [
    (["no/such/dataset"], "no such file or directory"),
    (["{voc}", "--model", "compact", "--imgsz", "70"], "--imgsz"),
    (["{voc}", "--model", "no-such-model"], "--model"),
    (["{voc}", "--set", "nonsense"], "--set[0]"),
    (["{voc}", "--set", "mosaic=3"], "mosaic"),
    (["{voc}", "--weights", "missing.pt"], "--weights"),
])
def test_errors_exit_2_without_traceback(datasets, tmp_path, capsys, args, field):
    args = [a.format(voc=datasets / "voc") for a in args]
    code, out, err = _train(capsys, *args, "--out", tmp_path / "run", "--epochs", "1")
    assert code == 2, (out, err)
    assert field in err and "Traceback" not in err
    assert not (tmp_path / "run" / "pipeline.yaml").exists()
