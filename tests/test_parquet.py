"""The built-in parquet format: lossless round trips (hypothesis), conformance, manifest and
hash checks, streaming reads, and DuckDB reading the shards without cvpipe."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError
from cvpipe.formats import read_dataset, write_dataset
from cvpipe.testing import check_format, make_dataset, write_images

pytest.importorskip("pyarrow")

from cvpipe.builtin.parquet import iter_samples, read_manifest  # noqa: E402

HYPO = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ["dog", "person", "été", "zebra crossing", "图像"]
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=6),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                       max_leaves=6)


def _fresh(tmp_path: Path, tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=tag, dir=tmp_path))


@st.composite
def datasets(draw):
    """Datasets using every field of the data model: float boxes, flags, scores or none,
    JSON extras per image and per box, int or str ids, splits or none."""
    cats = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    detections = draw(st.booleans())
    samples = []
    for i in range(draw(st.integers(0, 5))):
        n = draw(st.integers(0, 4))
        coords = st.floats(-1e4, 1e4, allow_nan=False, width=64)
        boxes = [[draw(coords) for _ in range(4)] for _ in range(n)]
        flag = st.lists(st.booleans(), min_size=n, max_size=n)
        samples.append(Sample(
            image=draw(st.sampled_from([f"im_{i}.png", f"sub/dir/ünï_{i}.jpg"])),
            width=draw(st.integers(1, 5000)), height=draw(st.integers(1, 5000)),
            boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
            labels=[draw(st.integers(0, len(cats) - 1)) for _ in range(n)],
            difficult=draw(flag), truncated=draw(flag), iscrowd=draw(flag),
            scores=[draw(st.floats(0, 1)) for _ in range(n)] if detections else None,
            box_extra=[draw(st.dictionaries(st.sampled_from(["pose", "id", "área"]), JSONISH, max_size=2))
                       for _ in range(n)],
            extra=draw(st.dictionaries(st.sampled_from(["folder", "license", "source"]), JSONISH, max_size=2)),
            id=draw(st.none() | st.integers(0, 10**9) | st.text(min_size=1, max_size=8)),
            split=draw(st.none() | st.sampled_from(["train", "val"]))))
    meta = draw(st.dictionaries(st.sampled_from(["info", "licenses"]), JSONISH, max_size=2))
    return Dataset(cats, samples, meta=meta)


def _public(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def assert_identical(a: Dataset, b: Dataset) -> None:
    """Every field of the data model equal (private provenance keys aside), in order."""
    assert a.categories == b.categories
    assert _public(a.meta) == _public(b.meta)
    assert len(a.samples) == len(b.samples)
    for x, y in zip(a.samples, b.samples):
        assert (x.image, x.width, x.height, x.id, x.split) == (y.image, y.width, y.height, y.id, y.split)
        assert type(x.id) is type(y.id)
        assert np.array_equal(x.boxes, y.boxes) and x.boxes.dtype == y.boxes.dtype
        for f in ("labels", "difficult", "truncated", "iscrowd"):
            assert np.array_equal(getattr(x, f), getattr(y, f)), f
        assert (x.scores is None) == (y.scores is None)
        if x.scores is not None:
            assert np.array_equal(x.scores, y.scores)
        assert [_public(e) for e in x.box_extra] == [_public(e) for e in y.box_extra]
        assert _public(x.extra) == _public(y.extra)


@HYPO
@given(ds=datasets(), rows=st.integers(1, 4))
def test_random_datasets_round_trip_losslessly(tmp_path, ds, rows):
    dst = _fresh(tmp_path, "pq") / "out"
    report = write_dataset(ds, dst, "parquet", images="none", rows_per_shard=rows)
    assert report["images"] == len(ds) and report["boxes"] == ds.num_boxes
    assert report["shards"] == max(1, -(-len(ds) // rows))
    back = read_dataset(dst)  # detected
    assert_identical(ds, back)
    assert_identical(ds, Dataset(ds.categories, list(iter_samples(dst)), meta=dict(ds.meta)))


@st.composite
def plain_datasets(draw):
    """Datasets every built-in format stores: integer-ish boxes inside the image."""
    cats = draw(st.lists(st.sampled_from(["dog", "person", "car", "été"]), min_size=1, max_size=3, unique=True))
    samples = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(st.integers(8, 90)), draw(st.integers(8, 90))
        boxes = []
        for _ in range(draw(st.integers(0, 3))):
            x1, y1 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
            boxes.append([x1, y1, draw(st.integers(x1 + 1, w)), draw(st.integers(y1 + 1, h))])
        labels = [draw(st.integers(0, len(cats) - 1)) for _ in boxes]
        samples.append(Sample(f"im_{i}.png", w, h, np.array(boxes, dtype=float).reshape(-1, 4), labels,
                              id=f"im_{i}", split="train"))
    return Dataset(cats, samples)


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path; the folder's own path (YOLO's data.yaml
    names it) replaced by a placeholder."""
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=plain_datasets())
def test_format_via_parquet_equals_the_direct_round_trip(tmp_path, fmt, ds):
    work = _fresh(tmp_path, fmt)
    write_dataset(write_images(ds, work / "png"), work / "src", fmt, images="copy")
    first = read_dataset(work / "src", fmt)
    write_dataset(first, work / "direct", fmt, images="copy")
    write_dataset(first, work / "pq", "parquet", images="copy", rows_per_shard=2)
    mid = read_dataset(work / "pq", "parquet")
    assert_identical(first, mid)
    write_dataset(mid, work / "via", fmt, images="copy")
    assert _tree(work / "via") == _tree(work / "direct")


def test_conformance():
    results = check_format("parquet")
    assert all(v.startswith("ok") for v in results.values()), results


def test_duckdb_reads_the_shards_without_cvpipe(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    ds = make_dataset(7, boxes_per_image=3, empty_images=2)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=3)
    assert len(list((tmp_path / "pq").glob("part-*.parquet"))) == 3
    glob = (tmp_path / "pq" / "*.parquet").as_posix()
    count, boxes = duckdb.sql(f"select count(*), sum(len(labels)) from '{glob}'").fetchall()[0]
    assert (count, boxes) == (7, ds.num_boxes)
    first = duckdb.sql(f"select image, width, boxes[1] from '{glob}' order by image limit 1").fetchall()[0]
    s = min(ds.samples, key=lambda s: s.image)
    assert first[0] == s.image and first[1] == s.width and list(first[2]) == s.boxes[0].tolist()


def test_manifest_lists_shards_with_hashes(tmp_path):
    ds = make_dataset(5)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    m = json.loads((tmp_path / "pq" / "manifest.json").read_text())
    assert m["format"] == "cvpipe-parquet" and m["schema_version"] == 1 and m["categories"] == ds.categories
    assert [s["rows"] for s in m["shards"]] == [2, 2, 1] and m["rows"] == 5 and m["boxes"] == ds.num_boxes
    assert [s["file"] for s in m["shards"]] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    import hashlib

    for s in m["shards"]:
        assert hashlib.sha256((tmp_path / "pq" / s["file"]).read_bytes()).hexdigest() == s["sha256"]
    assert m["writer"].startswith("cvpipe ")


def test_the_same_data_gives_the_same_bytes(tmp_path):
    ds = make_dataset(6)
    write_dataset(ds, tmp_path / "a", "parquet", images="none", rows_per_shard=4)
    write_dataset(ds, tmp_path / "b", "parquet", images="none", rows_per_shard=4)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_a_modified_shard_is_named(tmp_path):
    write_dataset(make_dataset(5), tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    shard = tmp_path / "pq" / "part-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        read_dataset(tmp_path / "pq", "parquet")
    p = err.value.problem
    assert p.file == str(shard) and "hash" in p.message and p.field == "sha256"
    problems: list = []
    ds = read_dataset(tmp_path / "pq", "parquet", problems=problems)
    assert len(ds) == 3 and [q.file for q in problems] == [str(shard)]  # the other shards read


def test_another_schema_version_is_refused(tmp_path):
    write_dataset(make_dataset(2), tmp_path / "pq", "parquet", images="none")
    mfile = tmp_path / "pq" / "manifest.json"
    m = json.loads(mfile.read_text())
    m["schema_version"] = 99
    mfile.write_text(json.dumps(m))
    with pytest.raises(InputError) as err:
        read_dataset(tmp_path / "pq", "parquet")
    p = err.value.problem
    assert p.file == str(mfile) and p.field == "schema_version" and p.value == 99 and p.expected == "1"


def test_a_missing_shard_and_bad_json_are_named(tmp_path):
    write_dataset(make_dataset(4), tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    (tmp_path / "pq" / "part-00001.parquet").unlink()
    with pytest.raises(InputError, match="shard file missing") as err:
        read_dataset(tmp_path / "pq", "parquet")
    assert err.value.problem.file.endswith("part-00001.parquet")
    (tmp_path / "pq" / "manifest.json").write_text('{\n  "format": "cvpipe-parquet",\n  oops\n}')
    with pytest.raises(InputError) as err:
        read_dataset(tmp_path / "pq", "parquet")
    assert err.value.problem.line == 3


def test_problems_found_later_name_shard_and_row(tmp_path):
    ds = make_dataset(4, empty_images=0, unicode_names=False)
    bad = ds.samples[3]
    bad.boxes[0] = [30, 5, 10, 20]  # inverted
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    from cvpipe.formats import validate_dataset

    result = validate_dataset(tmp_path / "pq", check_images=False)
    [p] = result["problems"]
    assert p.file == str(tmp_path / "pq" / "part-00001.parquet") and p.line == 2


def test_iter_samples_streams_shard_by_shard(tmp_path):
    ds = make_dataset(9)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=4)
    it = iter_samples(tmp_path / "pq")
    first = next(it)
    assert first.image == ds.samples[0].image
    assert [s.image for s in [first, *it]] == [s.image for s in ds.samples]
    assert [s.image for s in iter_samples(tmp_path / "pq", splits=["val"])] == []
    assert read_manifest(tmp_path / "pq")["rows"] == 9


def test_images_are_copied_under_images(tmp_path):
    ds = write_images(make_dataset(3), tmp_path / "src")
    write_dataset(ds, tmp_path / "pq", "parquet", images="copy")
    back = read_dataset(tmp_path / "pq")
    assert back.root == tmp_path / "pq" / "images"
    assert all(back.image_path(s).is_file() for s in back.samples)


def test_without_pyarrow_the_error_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(InputError) as err:
        write_dataset(make_dataset(1), tmp_path / "pq", "parquet", images="none")
    assert "pyarrow" in str(err.value) and "cvpipe[parquet]" in str(err.value)
    assert not (tmp_path / "pq").exists()


@HYPO
@given(ds=datasets())
def test_shard_table_from_buffers_equals_pyarrows_own_conversion(ds):
    """The writer builds each column from numpy buffers; pyarrow converting the same rows as
    Python lists (the general path) gives an equal table, nulls and types included."""
    import pyarrow as pa

    from cvpipe.builtin.parquet.schema import arrow_schema, to_json
    from cvpipe.builtin.parquet.writer import _table

    def public_json(d):
        return to_json(_public(d))

    rows = {"image": [s.image for s in ds.samples],
            "id": [None if s.id is None else to_json(s.id) for s in ds.samples],
            "width": [s.width for s in ds.samples], "height": [s.height for s in ds.samples],
            "split": [s.split for s in ds.samples], "boxes": [s.boxes.tolist() for s in ds.samples],
            **{f: [getattr(s, f).tolist() for s in ds.samples] for f in ("labels", "difficult", "truncated", "iscrowd")},
            "scores": [None if s.scores is None else s.scores.tolist() for s in ds.samples],
            "box_extra": [[public_json(e) for e in s.box_extra] for s in ds.samples],
            "extra": [public_json(s.extra) for s in ds.samples]}
    fast = _table(ds.samples, "none")
    assert fast.equals(pa.Table.from_pydict(rows, schema=arrow_schema()))
    fast.validate(full=True)
