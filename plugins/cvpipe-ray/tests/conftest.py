"""Shared fixtures of the cvpipe-ray tests: generated datasets, the plugin registered in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

#: why the tests skip where ray is absent (the test modules call importorskip with it)
NO_RAY = "ray is not installed (pip install 'ray[data]', or the cvpipe-ray plugin)"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, its own path replaced (YOLO's data.yaml)."""
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tree():
    """``tree(folder) -> {relative path: bytes}`` of every file under ``folder``."""
    return _tree


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    """``pq`` (parquet, 4 shards, images copied) and ``coco`` of one generated dataset with two
    bad boxes."""
    from cvpipe.formats import write_dataset
    from cvpipe.testing import make_dataset, write_images

    t = tmp_path_factory.mktemp("ray-data")
    ds = make_dataset(11, boxes_per_image=3, empty_images=2)
    ds.samples[2].boxes[1] = [30, 5, 10, 20]  # inverted
    ds.samples[8].boxes[0] = [1, 1, 500, 20]  # outside the image
    ds = write_images(ds, t / "png")
    write_dataset(ds, t / "pq", "parquet", images="copy", rows_per_shard=3)
    write_dataset(ds, t / "coco", "coco", images="copy")
    return t


@pytest.fixture
def registry():
    """The built-ins plus cvpipe-ray, registered in-process (installed or not)."""
    import cvpipe_ray
    from cvpipe.testing import plugin_registry

    with plugin_registry(("ray", cvpipe_ray)) as reg:
        yield reg
