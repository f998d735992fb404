"""The run report: one self-contained, escaped, deterministic HTML file, written atomically by
`cvpipe report` and by the built-in plugin at the end of every run."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from cvpipe.cli import main
from cvpipe.errors import InputError
from cvpipe.report import build_report, read_run, write_report
from cvpipe.report.html import image_info, render_json
from cvpipe.testing import blank_png

EVIL = '<script>alert("x")</script> & "quoted"'


def make_run(root: Path) -> Path:
    """A run folder as `cvpipe run` leaves it (pipeline.yaml, results.json, steps/, step folders),
    with a class name and a problem message that are HTML, and a plugin's analysis files."""
    run = root / "run"
    (run / "steps").mkdir(parents=True)
    (run / "pipeline.yaml").write_text(f"name: demo\nsteps:\n  - read: {{path: '{EVIL}'}}\n")
    results = {
        "pipeline": "demo", "run_dir": str(run), "status": "ok", "error": None, "seconds": 12.5,
        "started": "2026-01-02T03:04:05+00:00", "overrides": [],
        "steps": {
            "read": {"index": 0, "kind": "read", "status": "ok", "seconds": 0.5,
                     "result": {"summary": "voc: 2 images", "images": 2}},
            "check": {"index": 1, "kind": "validate", "status": "ok", "seconds": 0.1,
                      "result": {"summary": "1 problems", "problems": 1}},
            "evaluate": {"index": 2, "kind": "evaluate", "status": "ok", "seconds": 1.0,
                         "result": {"images": 2}},
            "later": {"index": 3, "kind": "write", "status": "skipped", "seconds": 0.0, "result": None},
        },
    }
    (run / "results.json").write_text(json.dumps(results))
    for i, name in enumerate(["read", "check", "evaluate"]):
        entry = results["steps"][name]
        (run / "steps" / f"{i:02d}_{name}.json").write_text(json.dumps(
            {"step": name, "kind": entry["kind"], "seconds": entry["seconds"], "settings": {"path": EVIL},
             "result": entry["result"]}))
    (run / "check").mkdir()
    (run / "check" / "problems.json").write_text(json.dumps(
        [{"message": "box outside the image", "file": "a.xml", "line": 7, "value": EVIL}]))
    metrics = {"coco": {"AP": 0.5, "AP50": 0.75, "per_class": {EVIL: 0.25, "dog": None}},
               "voc07": {"mAP": 0.625, "per_class": {EVIL: 0.5, "dog": None}}}
    (run / "evaluate").mkdir()
    (run / "evaluate" / "metrics.json").write_text(json.dumps(metrics))
    (run / "metrics.json").write_text(json.dumps(metrics))
    blank_png(run / "evaluate" / "pr_curves.png", 30, 20)
    blank_png(run / "evaluate" / "confusion_matrix.png", 20, 20)
    # what another plugin might write: found by name, not by importing its code
    (run / "evaluate" / "analysis").mkdir()
    (run / "evaluate" / "analysis" / "errors.json").write_text(json.dumps(
        {"dAP": {"classification": 0.01, "localisation": 0.02, "missed": 0.1},
         "per_class": {EVIL: {"precision": 0.9, "recall": 0.8, "conf": 0.4}}}))
    blank_png(run / "evaluate" / "analysis" / "error_breakdown.png", 25, 15)
    (run / "evaluate" / ".pr_curves.png.tmp-123").write_bytes(b"partial")  # a temporary: never shown
    return run


def embedded_pictures(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_embeds_every_picture_and_loads_nothing(tmp_path):
    run = make_run(tmp_path)
    page = build_report(run)
    pictures = embedded_pictures(page)
    on_disk = sorted(p.read_bytes() for p in run.rglob("*.png"))
    assert sorted(pictures) == on_disk and len(pictures) == 3  # the plugin's picture too
    assert page.count("<img ") == 3
    assert not re.search(r"<script|src=\"(?!data:)|href=\"(?!#|data:)|url\(|@import", page, re.I)
    assert "default-src 'none'" in page  # the page may not load anything, whatever it contains
    assert 'width="30" height="20"' in page
    # the known files have their own views; the plugin's JSON is shown as tables
    assert "Validation problems" in page and "box outside the image" in page
    assert "COCO (pycocotools" in page and "0.7500" in page and "voc07 AP" in page
    assert "Errors" in page and "localisation" in page and "0.0200" in page
    assert "partial" not in page and ".tmp-" not in page


def test_every_string_from_the_run_is_escaped(tmp_path):
    page = build_report(make_run(tmp_path))
    assert "<script>" not in page and 'alert("x")' not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quoted&quot;"
    # pipeline.yaml, settings, problems, both metric tables, the plugin's per-class table
    assert page.count(escaped) >= 5


def test_report_lists_steps_in_order_with_their_status(tmp_path):
    run = read_run(make_run(tmp_path))
    assert [(s.name, s.kind, s.status) for s in run.steps] == [
        ("read", "read", "ok"), ("check", "validate", "ok"), ("evaluate", "evaluate", "ok"),
        ("later", "write", "skipped")]
    assert run.steps[2].files == ["confusion_matrix.png", "metrics.json", "pr_curves.png",
                                  "analysis/error_breakdown.png", "analysis/errors.json"]
    page = build_report(run.run_dir)
    order = [page.index(f"{i}. {n} ") for i, n in enumerate(["read", "check", "evaluate", "later"], start=1)]
    assert order == sorted(order)
    assert '<span class="status skipped">skipped</span>' in page


def test_report_is_deterministic_and_written_atomically(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    out = write_report(run)
    assert out == run / "report.html"
    first = out.read_bytes()
    assert write_report(run).read_bytes() == first == build_report(run).encode("utf-8")

    import cvpipe.report.build as build

    def broken(_run):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(build, "render_report", broken)
    with pytest.raises(RuntimeError):
        write_report(run)
    assert out.read_bytes() == first  # the old report is intact, no temporary left behind
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_failed_run_shows_its_error(tmp_path):
    run = make_run(tmp_path)
    res = json.loads((run / "results.json").read_text())
    res.update(status="failed", error="step 'evaluate' failed: <boom>")
    (run / "results.json").write_text(json.dumps(res))
    page = build_report(run)
    assert 'class="error">The run failed: step &#x27;evaluate&#x27; failed: &lt;boom&gt;' in page


def test_report_command(tmp_path, capsys):
    run = make_run(tmp_path)
    out = tmp_path / "out" / "r.html"
    assert main(["report", str(run), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"written to {out}" in said and "3 pictures" in said and "4 steps" in said
    assert out.read_text(encoding="utf-8") == build_report(run)
    assert main(["report", str(run)]) == 0 and (run / "report.html").is_file()


def test_report_command_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "not a cvpipe run folder" in capsys.readouterr().err
    run = make_run(tmp_path)
    (run / "results.json").write_text('{"pipeline": "demo",\n  "steps": }')
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "results.json:2: not valid JSON" in err and "Traceback" not in err
    assert not (run / "report.html").exists()
    with pytest.raises(InputError, match="not valid JSON"):
        read_run(run)


def test_a_broken_plugin_file_is_noted_not_fatal(tmp_path):
    run = make_run(tmp_path)
    (run / "evaluate" / "analysis" / "errors.json").write_text("{not json")
    page = build_report(run)
    assert "errors.json" in page and "not valid JSON" in page and "COCO (pycocotools" in page


def test_render_json_shapes():
    assert "<table>" in render_json({"a": 1, "b": "x"})
    matrix = render_json({"cat": {"p": 0.5, "r": 0.25}, "dog": {"p": 1.0, "r": 0.0}})
    assert matrix.count("<tr>") == 3 and "<th>p</th>" in matrix  # one row per key, one column per inner key
    rows = render_json([{"x": 1}, {"x": 2, "y": 3}])
    assert "<th>y</th>" in rows and rows.count("<tr>") == 3
    assert "&lt;b&gt;" in render_json({"<b>": "<b>"})


def test_image_info_reads_headers(tmp_path):
    png = blank_png(tmp_path / "a.png", 7, 5).read_bytes()
    assert image_info(png) == ("image/png", 7, 5)
    import cv2
    import numpy as np

    ok, jpg = cv2.imencode(".jpg", np.zeros((9, 11, 3), np.uint8))
    assert image_info(jpg.tobytes()) == ("image/jpeg", 11, 9)
    assert image_info(b"not a picture") is None


PIPELINE = """
name: tiny
steps:
  - synthesize: {path: "${run_dir}/data", images: 4, size: [64, 48], object_size: [12, 20], seed: 1}
  - read: {format: voc, path: "${run_dir}/data", output: ds}
  - stats: {dataset: ds}
"""


def test_every_run_ends_with_its_report(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(PIPELINE)
    assert main(["run", str(f), "--out", str(tmp_path / "ok"), "--quiet"]) == 0
    page = (tmp_path / "ok" / "report.html").read_text(encoding="utf-8")
    assert "cvpipe report: tiny" in page and "Dataset statistics" in page
    assert len(embedded_pictures(page)) == 1  # stats.png
    # a failing run still gets a report, saying why it failed
    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE.replace("path: \"${run_dir}/data\", output", "path: \"${run_dir}/nowhere\", output"))
    assert main(["run", str(bad), "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    page = (tmp_path / "bad" / "report.html").read_text(encoding="utf-8")
    assert "The run failed" in page and "nowhere" in page


def test_the_report_is_a_plugin_like_any_other():
    from cvpipe.plugins import BUILTIN_PLUGINS, get_plugin_manager

    assert "cvpipe.builtin.report" in BUILTIN_PLUGINS
    pm = get_plugin_manager()
    names = [impl.plugin_name for impl in pm.hook.cvpipe_on_pipeline_end.get_hookimpls()]
    assert "cvpipe.builtin.report" in names
    runner = Path(__file__).parents[1] / "cvpipe" / "pipeline"
    # the runner knows nothing of reports
    assert not any(re.search(r"report\.html|cvpipe\.report|write_report|from \.\.report", p.read_text())
                   for p in runner.glob("*.py"))


def test_report_command_imports_no_heavy_library(tmp_path):
    from test_cli import heavy_modules_after

    assert heavy_modules_after("report", str(make_run(tmp_path))) == []


def test_large_files_are_named_not_embedded(tmp_path, monkeypatch):
    import cvpipe.report.collect as collect

    run = make_run(tmp_path)
    (run / "evaluate" / "detections").mkdir()
    (run / "evaluate" / "detections" / "results.json").write_text(json.dumps([{"score": 0.123456}] * 5000))
    monkeypatch.setattr(collect, "MAX_DATA_BYTES", 50_000)
    page = build_report(run)
    assert "Not embedded (too large or too many): detections/results.json" in page
    assert "0.1235" not in page
