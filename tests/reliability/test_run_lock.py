"""One process at a time per run directory (issue 14, item 5): a second ``cvpipe run --out
SAME`` is refused naming the first's pid; the lock goes at exit; a killed run's lock is stale
(said so, taken over) and its temporaries are swept."""

from __future__ import annotations

import os
import signal

import pytest

from reliability.harness import Fault, cvpipe, leftovers, rerun, start, wait_stopped

PIPELINE = """\
name: lockme
steps:
  - synthesize: {path: "${run_dir}/data", images: 2, seed: 0, size: [96, 64], object_size: [14, 30]}
"""


@pytest.fixture
def pipe(tmp_path):
    path = tmp_path / "lockme.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_second_run_on_the_same_out_is_refused_naming_the_first(pipe, tmp_path, resume):
    out = tmp_path / "run"
    if resume:
        rerun(["run", str(pipe), "--out", str(out), "-q"], cwd=tmp_path)
    extra = ["--resume"] if resume else []
    # the first run stops itself (SIGSTOP) holding the lock, just before writing pipeline.yaml
    first = start(["run", str(pipe), "--out", str(out), "-q", *extra], cwd=tmp_path, root=out,
                  fault=Fault("write", 1, signal.SIGSTOP, match="pipeline.yaml"))
    try:
        wait_stopped(first)
        err = rerun(["run", str(pipe), "--out", str(out), "-q", *extra], cwd=tmp_path, code=2)
        assert f"in use by another cvpipe process (pid {first.pid})" in err and str(out) in err
    finally:
        os.kill(first.pid, signal.SIGCONT)
        _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert not (out / ".cvpipe.lock").exists()  # released at exit
    rerun(["run", str(pipe), "--out", str(out), "-q", "--resume"], cwd=tmp_path)  # free again


def test_lock_of_a_killed_run_is_taken_over_and_its_temporaries_swept(pipe, tmp_path):
    out = tmp_path / "run"
    killed = cvpipe(["run", str(pipe), "--out", str(out), "-q"], cwd=tmp_path, root=out,
                    fault=Fault("rename", 1, signal.SIGKILL, match="results.json"))
    assert killed.returncode == -signal.SIGKILL
    assert (out / ".cvpipe.lock").read_text().strip().isdigit()
    assert any(".results.json.tmp-" in p for p in leftovers(out))
    err = rerun(["run", str(pipe), "--out", str(out), "-q", "--resume"], cwd=tmp_path)
    assert "stale lock of process" in err and "taking over" in err
    assert "removed" in err and ".results.json.tmp-" in err
    assert leftovers(out) == []


def test_a_refused_fresh_run_leaves_no_folder(pipe, tmp_path):
    """The lock creates --out; a run refused before writing anything removes it again."""
    out = tmp_path / "new-run"
    err = rerun(["run", str(pipe), "--out", str(out), "-q", "--resume"], cwd=tmp_path, code=2)
    assert "nothing to resume" in err
    assert not out.exists()
