"""Outputs appear whole or not at all, with ordinary file modes; dataset paths never escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvpipe.errors import InputError
from cvpipe.fsutil import atomic_dir, atomic_open, atomic_write_json, safe_join, safe_relpath


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("name, clean", [("a.jpg", "a.jpg"), ("sub/./b.jpg", "sub/b.jpg"),
                                         ("sub\\c.jpg", "sub/c.jpg"), ("./d.png", "d.png")])
def test_safe_relpath_cleans(name, clean):
    assert safe_relpath(name) == clean


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.jpg", "a/../../x.jpg", "C:\\x.jpg", "..\\x.jpg", "", "."])
def test_safe_relpath_refuses_escapes(name):
    with pytest.raises(InputError) as info:
        safe_relpath(name, file="ann.json", field="images[0].file_name")
    assert "ann.json: images[0].file_name" in str(info.value)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "\\", "c.jpg", "C:"]), min_size=1, max_size=6))
def test_safe_join_stays_inside(parts):
    root = Path("/tmp/out-root")
    try:
        joined = safe_join(root, "".join(parts))
    except InputError:
        return
    assert os.path.normpath(joined).startswith(str(root) + os.sep)


def test_atomic_dir_whole_or_nothing(tmp_path):
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(dst) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no temporary left behind
    assert sorted(p.name for p in dst.iterdir()) == ["old.txt"]           # untouched
    with atomic_dir(dst) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in dst.iterdir()) == ["new.txt"]           # replaced whole
    assert dst.stat().st_mode & 0o777 == 0o777 & ~_umask()                # not mkdtemp's 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_open_and_json(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"AP": 0.5, "name": "ñ"})
    assert path.read_text(encoding="utf-8") == '{\n  "AP": 0.5,\n  "name": "ñ"\n}\n'
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()               # not mkstemp's 0600
    with pytest.raises(ValueError):
        with atomic_open(path) as fh:
            fh.write(b"partial")
            raise ValueError("crash while writing")
    assert path.read_text(encoding="utf-8").startswith('{\n  "AP"')       # old content kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
