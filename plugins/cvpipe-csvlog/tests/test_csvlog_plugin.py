"""Tests of cvpipe-csvlog as installed: a lifecycle-hook plugin seen from outside, through real
pipeline runs (`cvpipe run`) and the hook relay the training engine calls."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import cvpipe_csvlog
from cvpipe.cli import main
from cvpipe.formats import write_dataset
from cvpipe.testing import make_dataset, write_images


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "events.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def pipeline_file(tmp_path):
    ds = write_images(make_dataset(3), tmp_path / "images")
    write_dataset(ds, tmp_path / "voc", "voc", images="copy")
    f = tmp_path / "demo.yaml"
    f.write_text(
        "name: csvlog_demo\n"
        "steps:\n"
        "  - read: {format: voc, path: voc, output: ds}\n"
        "  - stats: {dataset: ds, chart: false, table: false}\n",
        encoding="utf-8",
    )
    return f, ds


def test_installed_as_a_lifecycle_plugin(cvpipe_registry):
    from cvpipe.plugins import get_plugin_manager

    info = {p.name: p for p in cvpipe_registry.plugins}["csvlog"]
    assert info.error is None and info.distribution == "cvpipe-csvlog"
    assert not any(cvpipe_registry.registers("csvlog").values())  # registers no names
    hook = get_plugin_manager().hook
    for name in ("cvpipe_on_pipeline_start", "cvpipe_on_step_start", "cvpipe_on_step_end",
                 "cvpipe_on_epoch_end", "cvpipe_on_pipeline_end"):
        assert "csvlog" in [i.plugin_name for i in getattr(hook, name).get_hookimpls()], name
    # and `cvpipe plugins` says so
    from cvpipe.commands.plugins import plugins_report

    entry = next(p for p in plugins_report()["plugins"] if p["name"] == "csvlog")
    assert entry["lifecycle"] == ["cvpipe_on_epoch_end", "cvpipe_on_pipeline_end", "cvpipe_on_pipeline_start",
                                  "cvpipe_on_step_end", "cvpipe_on_step_start"]


def test_a_pipeline_run_is_logged(cvpipe_registry, pipeline_file, tmp_path):
    f, ds = pipeline_file
    run = tmp_path / "run"
    assert main(["run", str(f), "--out", str(run), "--quiet"]) == 0
    rows = _rows(run)
    assert [(r["event"], r["step"]) for r in rows if r["event"] != "step_end"] == [
        ("pipeline_start", ""), ("step_start", "read"), ("step_start", "stats"), ("pipeline_end", "")]
    assert {r["pipeline"] for r in rows} == {"csvlog_demo"}
    ends = [r for r in rows if r["event"] == "step_end"]
    assert {r["step"] for r in ends} == {"read", "stats"} and all(float(r["seconds"]) >= 0 for r in ends)
    stats = {r["metric"]: r["value"] for r in ends if r["step"] == "stats"}
    assert int(stats["images"]) == len(ds) and int(stats["boxes"]) == ds.num_boxes  # the step's own numbers
    assert rows[-1]["note"] == "ok"
    # a second (resumed) run appends to the same file, one header
    assert main(["run", str(f), "--out", str(run), "--resume", "--quiet"]) == 0
    again = _rows(run)
    assert len(again) == 2 * len(rows) and [r["event"] for r in again].count("pipeline_start") == 2


def test_a_failed_run_is_logged(cvpipe_registry, pipeline_file, tmp_path):
    f, _ = pipeline_file
    run = tmp_path / "run"
    assert main(["run", str(f), "--out", str(run), "--quiet", "--set", "read.path=missing"]) != 0
    rows = _rows(run)
    assert [r["event"] for r in rows] == ["pipeline_start", "step_start", "pipeline_end"]
    assert rows[-1]["note"].startswith("failed:") and "read" in rows[-1]["note"]


def test_epochs_are_logged_through_the_hook_relay(cvpipe_registry, tmp_path):
    from cvpipe.plugins import get_plugin_manager

    hook = get_plugin_manager().hook
    hook.cvpipe_on_pipeline_start(pipeline="p", run_dir=tmp_path, config={})
    for epoch, loss in ((1, 0.75), (2, 0.5)):
        hook.cvpipe_on_epoch_end(run_dir=tmp_path, step="train", epoch=epoch,
                                 metrics={"loss": loss, "lr": 0.01, "AP50": float("nan")})
    rows = [r for r in _rows(tmp_path) if r["event"] == "epoch_end"]
    assert [(r["epoch"], r["metric"], r["value"]) for r in rows] == [
        ("1", "loss", "0.75"), ("1", "lr", "0.01"), ("1", "AP50", "nan"),
        ("2", "loss", "0.5"), ("2", "lr", "0.01"), ("2", "AP50", "nan")]
    assert {r["pipeline"] for r in rows} == {"p"} and {r["step"] for r in rows} == {"train"}


def test_numbers_flattens_results():
    result = {"images": 3, "ok": True, "per_class": {"cat": 2, "dog": 0.5}, "names": ["a"], "path": "x"}
    assert list(cvpipe_csvlog.numbers(result)) == [("images", 3), ("per_class.cat", 2), ("per_class.dog", 0.5)]
