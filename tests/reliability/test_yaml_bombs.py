"""YAML alias bombs are refused quickly with exit 2 naming the file, wherever cvpipe reads YAML:
pipeline files, ``--set`` values, YOLO ``data.yaml`` (issue 14, item 3). The commands run in a
subprocess with a capped address space, so a regression fails here instead of eating the
machine's memory."""

from __future__ import annotations

import pytest

from reliability.conftest import copy_tree
from reliability.harness import cvpipe

MEMORY_MB = 2048  # far more than cvpipe needs to refuse; far less than expanding a 9-level bomb
TIMEOUT = 120


def bomb_lines(levels: int = 9) -> list[str]:
    """Billion laughs: ``a0`` holds 9 strings, each ``a<i>`` 9 aliases of ``a<i-1>`` (9**levels)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return lines


def bomb_flow(levels: int = 9) -> str:
    return "{" + ", ".join(bomb_lines(levels)) + "}"


def _refused(out, file: str) -> None:
    text = out.stdout + out.stderr  # (validate lists problems on stdout)
    assert out.returncode == 2, text
    assert "too large once its aliases are expanded" in text and file in text, text
    assert "Traceback" not in text


def test_pipeline_file(tmp_path):
    pipe = tmp_path / "bomb.yaml"
    pipe.write_text("name: bomb\nvars:\n" + "".join(f"  {ln}\n" for ln in bomb_lines()) + "steps: []\n")
    _refused(cvpipe(["run", pipe, "--dry-run"], cwd=tmp_path, memory_mb=MEMORY_MB, timeout=TIMEOUT), "bomb.yaml:")


def test_set_value(tmp_path):
    pipe = tmp_path / "ok.yaml"
    pipe.write_text("name: ok\nvars:\n  x: 1\nsteps:\n  - synthesize: {path: out, images: 2}\n")
    out = cvpipe(["run", pipe, "--dry-run", "--set", f"vars.x={bomb_flow()}"], cwd=tmp_path,
                 memory_mb=MEMORY_MB, timeout=TIMEOUT)
    _refused(out, "--set vars.x=")


@pytest.mark.parametrize("command", ["validate", "convert"])
def test_yolo_data_yaml(datasets, tmp_path, command):
    yolo = tmp_path / "yolo"
    copy_tree(datasets["yolo"], yolo)
    with open(yolo / "data.yaml", "a", encoding="utf-8") as fh:
        fh.write("\n".join(bomb_lines()) + "\n")
    args = ["validate", yolo] if command == "validate" else ["convert", yolo, tmp_path / "coco", "--to", "coco"]
    _refused(cvpipe(args, cwd=tmp_path, memory_mb=MEMORY_MB, timeout=TIMEOUT), "data.yaml:")
    assert not (tmp_path / "coco").exists()


def test_recursive_alias_in_a_pipeline(tmp_path):
    pipe = tmp_path / "loop.yaml"
    pipe.write_text("name: loop\nvars:\n  a: &a [*a]\nsteps: []\n")
    out = cvpipe(["run", pipe, "--dry-run"], cwd=tmp_path, memory_mb=MEMORY_MB, timeout=TIMEOUT)
    assert out.returncode == 2 and "recursive YAML alias" in out.stderr and "loop.yaml:3" in out.stderr, out.stderr
