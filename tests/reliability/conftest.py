"""Shared data of the reliability tests: small synthetic datasets in each built-in format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _synth(root: Path, images: int, seed: int) -> Path:
    from cvpipe.synthetic import synthesize_voc

    synthesize_voc(root, images=images, seed=seed, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
    return root


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """``{"voc", "coco", "yolo"}`` -> a 6-image dataset in that format (the same images), and
    ``"old-<fmt>"`` -> a different 3-image one (what an ``--overwrite`` replaces)."""
    from cvpipe.formats import convert_dataset

    base = tmp_path_factory.mktemp("datasets")
    out = {"voc": _synth(base / "voc", 6, 1), "old-voc": _synth(base / "old-voc", 3, 2)}
    for fmt in ("coco", "yolo"):
        for prefix in ("", "old-"):
            convert_dataset(out[f"{prefix}voc"], base / f"{prefix}{fmt}", fmt, progress=False)
            out[f"{prefix}{fmt}"] = base / f"{prefix}{fmt}"
    return out


def copy_tree(src: Path, dst: Path) -> None:
    """``dst`` becomes a copy of ``src`` (whatever was there is removed first)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A finished tiny training run (:class:`reliability.harness.TrainCase`, run in this process)."""
    from reliability.harness import TrainCase

    return TrainCase(tmp_path_factory.mktemp("train")).setup()
