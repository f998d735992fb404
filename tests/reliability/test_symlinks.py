"""Issue 14 item 4: symlinked images. ``--images link`` (and ``copy``) put the resolved file into
the output, never a symlink; an image whose link resolves outside the dataset is refused
(exit 2, the image named) unless ``--follow-symlinks``; ``validate`` judges as ``convert``
does, and passes on what ``convert`` wrote. Relative and absolute links, every built-in writer
(VOC -> YOLO through its direct converter too)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cvpipe.cli import main


class Result:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


@pytest.fixture
def run(capsys):
    """``run(*args)``: the CLI in this process; ``.exit_code`` and ``.output`` (stdout + stderr)."""
    def _run(*args) -> Result:
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(rc, out + err)
    return _run


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("symlinks") / "voc"
    synthesize_voc(root, images=3, seed=5, size=(64, 48), object_size=(10, 20), objects_per_image=(1, 1))
    return root


def make(base: Path, tmp: Path, kind: str) -> tuple[Path, Path]:
    """A copy of ``base`` whose image 000000.jpg is a symlink of ``kind``: ``inside-relative``
    (to ``store/`` inside the dataset), ``inside-absolute``, ``outside-relative`` (to a file
    beside the dataset), ``outside-absolute``. Returns (dataset, the image link)."""
    voc = tmp / "src" / "voc"
    shutil.copytree(base, voc)
    img = voc / "JPEGImages" / "000000.jpg"
    if kind.startswith("inside"):
        target = voc / "store" / "real.jpg"
    else:
        target = tmp / "src" / "elsewhere" / "real.jpg"
    target.parent.mkdir(parents=True)
    shutil.move(img, target)
    img.symlink_to(os.path.relpath(target, img.parent) if kind.endswith("relative") else target)
    return voc, img


def no_symlinks(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            assert not os.path.islink(os.path.join(dirpath, n)), os.path.join(dirpath, n)


KINDS = ["inside-relative", "inside-absolute", "outside-relative", "outside-absolute"]


@pytest.mark.parametrize("to", ["coco", "yolo", "voc"])
@pytest.mark.parametrize("kind", KINDS)
def test_link_places_the_resolved_file(run, base, tmp_path, kind, to):
    voc, img = make(base, tmp_path, kind)
    out = tmp_path / "out"
    extra = ["--follow-symlinks"] if kind.startswith("outside") else []
    r = run("convert", voc, out, "--to", to, "--images", "link", *extra)
    assert r.exit_code == 0, r.output
    no_symlinks(out)
    placed = [p for p in out.rglob("000000.jpg")]
    assert len(placed) == 1 and placed[0].read_bytes() == img.read_bytes()
    assert os.stat(placed[0]).st_ino == os.stat(img).st_ino  # a hard link of the real file
    r = run("validate", out)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("to", ["coco", "yolo"])
@pytest.mark.parametrize("kind", ["outside-relative", "outside-absolute"])
@pytest.mark.parametrize("images", ["link", "copy"])
def test_link_outside_refused_unless_followed(run, base, tmp_path, kind, to, images):
    voc, img = make(base, tmp_path, kind)
    out = tmp_path / "out"
    r = run("convert", voc, out, "--to", to, "--images", images)
    assert r.exit_code == 2, r.output
    assert "image is a symlink to a file outside the dataset" in r.output and str(img) in r.output
    assert "--follow-symlinks" in r.output and "Traceback" not in r.output
    assert not out.exists()
    # validate judges the same things
    r = run("validate", voc)
    assert r.exit_code == 2 and "image is a symlink to a file outside the dataset" in r.output
    assert run("validate", voc, "--follow-symlinks").exit_code == 0
    # --skip-invalid leaves the image out
    r = run("convert", voc, out, "--to", to, "--images", images, "--skip-invalid")
    assert r.exit_code == 0, r.output
    assert not list(out.rglob("000000.jpg")) and len(list(out.rglob("*.jpg"))) == 2
    no_symlinks(out)


def test_copy_of_a_symlink_is_a_file(run, base, tmp_path):
    voc, img = make(base, tmp_path, "inside-relative")
    out = tmp_path / "out"
    assert run("convert", voc, out, "--to", "coco", "--images", "copy").exit_code == 0
    no_symlinks(out)
    assert run("validate", out).exit_code == 0


def test_place_file_resolves(tmp_path):
    from cvpipe.fsutil import place_file

    (tmp_path / "real.jpg").write_bytes(b"x")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "l.jpg").symlink_to("../real.jpg")
    for mode in ("link", "copy"):
        dst = tmp_path / mode / "l.jpg"
        place_file(tmp_path / "a" / "l.jpg", dst, mode)
        assert not dst.is_symlink() and dst.read_bytes() == b"x"
