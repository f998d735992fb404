"""Temporaries of killed processes are found and undone (issue 14, item 6): a ``.old-PID`` is put
back when its DST is missing (a kill between the two renames of an overwrite), removed
otherwise; ``.tmp-PID-*`` of dead PIDs are removed; those of live processes are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from cvpipe.fsutil import atomic_dir, atomic_open, recover, sweep_stale


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_killed_between_the_renames_restores_the_old_dst(tmp_path, dead_pid):
    old = tmp_path / f".out.old-{dead_pid}"
    old.mkdir()
    (old / "a.txt").write_text("old")
    half = tmp_path / f".out.tmp-{dead_pid}-abcd1234"
    half.mkdir()
    with pytest.warns(UserWarning) as said:
        recover(tmp_path / "out")
    assert [str(w.message).split(":")[0] for w in said] == [f"restored {tmp_path / 'out'} from .out.old-{dead_pid}",
                                                            f"removed {half}"]
    assert f"process {dead_pid} was killed while replacing it" in str(said[0].message)
    assert _names(tmp_path) == ["out"] and (tmp_path / "out" / "a.txt").read_text() == "old"


def test_killed_after_the_swap_removes_the_old_copy(tmp_path, dead_pid):
    (tmp_path / "out").mkdir()
    (tmp_path / f".out.old-{dead_pid}").mkdir()
    with pytest.warns(UserWarning, match="removed .*the previous version of out"):
        recover(tmp_path / "out")
    assert _names(tmp_path) == ["out"]


def test_live_processes_and_other_names_are_left_alone(tmp_path):
    live = os.getppid()
    keep = [f".out.tmp-{live}-x", f".out.old-{live}", ".out.tmp-", "out.tmp-1-x", ".other.tmp-1x"]
    for name in keep:
        (tmp_path / name).mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recover(tmp_path / "out")
        sweep_stale(tmp_path)
    assert _names(tmp_path) == sorted(keep)


def test_sweep_finds_temporaries_anywhere_below(tmp_path, dead_pid):
    deep = tmp_path / "train" / "sub"
    deep.mkdir(parents=True)
    (deep / f".last.pt.tmp-{dead_pid}-zz").write_bytes(b"half")
    (tmp_path / f".data.tmp-{dead_pid}-images-q").mkdir()
    (tmp_path / "train" / "last.pt").write_bytes(b"whole")
    with pytest.warns(UserWarning):
        done = sweep_stale(tmp_path)
    assert len(done) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["train", "train/last.pt", "train/sub"]


def test_writers_recover_their_destination_first(tmp_path, dead_pid):
    """atomic_dir on DST starts with recover(DST); temporaries are named after the writer's pid."""
    (tmp_path / f".out.old-{dead_pid}").mkdir()
    with pytest.warns(UserWarning, match="restored"):
        with atomic_dir(tmp_path / "out") as tmp:
            assert tmp.name.startswith(f".out.tmp-{os.getpid()}-")
            (tmp / "new.txt").write_text("new")
    assert _names(tmp_path) == ["out"] and _names(tmp_path / "out") == ["new.txt"]
    with atomic_open(tmp_path / "f.bin"):
        assert [n for n in _names(tmp_path) if n.startswith(f".f.bin.tmp-{os.getpid()}-")]


def test_interrupt_between_the_renames_puts_the_old_back(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, which the CLI turns into the same) right at the second rename."""
    import cvpipe.fsutil as fsutil

    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    real = os.replace
    calls = []

    def replace(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(a, b)

    monkeypatch.setattr(fsutil.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(dst) as tmp:
            (tmp / "new.txt").write_text("new")
    monkeypatch.undo()
    assert _names(tmp_path) == ["out"] and _names(dst) == ["old.txt"]


def test_a_file_writer_sweeps_its_folder_once(tmp_path, dead_pid):
    import cvpipe.fsutil as fsutil

    (tmp_path / f".m.json.tmp-{dead_pid}-ab12").write_text("{half")
    with pytest.warns(UserWarning, match="removed"):
        fsutil.atomic_write_text(tmp_path / "m.json", "{}")
    assert _names(tmp_path) == ["m.json"]
    (tmp_path / f".m.json.tmp-{dead_pid}-cd34").write_text("{half")
    fsutil.atomic_write_text(tmp_path / "m.json", "{}")  # the same process: no second listing
    assert len(_names(tmp_path)) == 2
