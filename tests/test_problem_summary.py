"""A flood of problems is summarised for people, the same way in every command: at most 20
lines per kind, then ``... and 1,149 more like this (all in --json)``, and a final count per
kind; nothing changes when there is no flood. ``--json`` still lists every problem."""

from __future__ import annotations

import json

from cvpipe.cli import main
from cvpipe.console import error_lines, problem_lines
from cvpipe.errors import InputError, Problem


def _flood(tmp_path, bad: int = 1169, unknown: int = 3):
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 4], "area": 1, "iscrowd": 0}
            for k in range(bad)]
    anns += [{"id": bad + k + 1, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 0}
             for k in range(unknown)]
    f = tmp_path / "instances_train.json"
    f.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
                             "annotations": anns, "categories": [{"id": 1, "name": "cat"}]}))
    return f


def test_problem_lines_cut_each_kind_at_20_and_count_them():
    problems = [Problem("box is inverted", file="a.json", field=f"annotations[{k}]") for k in range(1169)]
    problems[5:5] = [Problem("unknown category id", file="a.json", field="annotations[5]")] * 3
    lines = problem_lines(problems, more="(all in --json)")
    assert len(lines) == 20 + 3 + 1 + 3
    assert lines[:5] == [str(p) for p in problems[:5]] and lines[5] == str(problems[5])  # the file's order
    assert lines[23] == "... and 1,149 more like this (all in --json)"
    assert lines[24:] == ["1,172 problems by kind:", "  1,169  box is inverted", "      3  unknown category id"]
    few = problems[:10]
    assert problem_lines(few) == [str(p) for p in few]  # no flood: each problem, nothing added
    err = InputError.from_problems(few)
    assert error_lines(err) == str(err).splitlines()  # the CLI prints small errors as before


def test_validate_summarises_and_json_keeps_all(tmp_path, capsys):
    f = _flood(tmp_path)
    assert main(["validate", str(f), "--no-images", "--json", str(tmp_path / "p.json")]) == 2
    out = capsys.readouterr().out.splitlines()
    assert sum("box has negative" in ln or "inverted" in ln or "width" in ln for ln in out) <= 21
    more = [ln for ln in out if "more like this" in ln]
    assert more == ["... and 1,149 more like this (all in --json)"]
    assert "1,172 problems by kind:" in out
    assert len(out) < 40
    assert len(json.loads((tmp_path / "p.json").read_text())["problems"]) == 1172


def test_convert_refusal_is_summarised_the_same_way(tmp_path, capsys):
    f = _flood(tmp_path)
    assert main(["convert", str(f), str(tmp_path / "out"), "--to", "yolo", "--images", "none"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) < 40
    assert err[0] == "error: 1173 problems:"
    assert any(ln.strip().startswith("... and 1,149 more like this (all with: cvpipe validate") for ln in err)
    assert err[-1].strip().startswith("1  nothing was written") or any("nothing was written" in ln for ln in err)
    assert not (tmp_path / "out").exists()
