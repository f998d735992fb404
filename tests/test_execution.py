"""``--executor``: the executor hook, the built-in ``local`` executor, and per-shard convert and
validate giving the single-process answer byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cvpipe.cli import main
from cvpipe.contract import Executor
from cvpipe.errors import ConfigError, UnknownNameError
from cvpipe.formats import write_dataset
from cvpipe.testing import make_dataset, write_images

pytest.importorskip("pyarrow")


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.exit_code, self.output, self.err = code, out, err


@pytest.fixture
def cli(capsys):
    """Run ``cvpipe ARGS`` in process: a Result with exit_code, output (stdout) and err."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def _tree(folder: Path) -> dict[str, bytes]:
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_local_executor_is_registered_and_keeps_order():
    from cvpipe.execution import executor_names, get_executor

    assert "local" in executor_names()
    ex = get_executor("local")
    assert isinstance(ex, Executor)
    assert list(ex.map(lambda x: x * x, iter(range(5)))) == [0, 1, 4, 9, 16]
    ex.close()
    with pytest.raises(ConfigError, match="takes no address"):
        get_executor("local", "127.0.0.1:6379")
    with pytest.raises(UnknownNameError):
        get_executor("no-such-engine")


@pytest.fixture
def dataset_dirs(tmp_path):
    """A parquet dataset (4 shards, images copied) with a few bad boxes, and the same as YOLO."""
    ds = make_dataset(9, boxes_per_image=3, empty_images=2)
    ds.samples[2].boxes[1] = [30, 5, 10, 20]  # inverted
    ds.samples[6].boxes[0] = [1, 1, 500, 20]  # outside
    ds = write_images(ds, tmp_path / "png")
    write_dataset(ds, tmp_path / "pq", "parquet", images="copy", rows_per_shard=3)
    write_dataset(ds, tmp_path / "coco", "coco", images="copy")
    return tmp_path


@pytest.mark.parametrize("src,to", [("pq", "yolo"), ("pq", "parquet"), ("coco", "parquet"), ("coco", "voc")])
def test_convert_on_an_executor_equals_single_process(dataset_dirs, src, to, cli):
    t = dataset_dirs
    outs = {}
    for label, extra in (("plain", []), ("local", ["--executor", "local"])):
        dst = t / f"out-{label}"
        r = cli("convert", str(t / src), str(dst), "--to", to, "--skip-invalid", "-q", "--json", str(t / f"{label}.json"),
                *extra)
        assert r.exit_code == 0, r.output
        outs[label] = (r.output.replace(str(dst), "<DST>"), _tree(dst),
                       (t / f"{label}.json").read_text().replace(str(dst), "<DST>"))
    assert outs["plain"] == outs["local"]
    assert "skipped" in outs["local"][0]


@pytest.mark.parametrize("src", ["pq", "coco"])
def test_validate_on_an_executor_equals_single_process(dataset_dirs, src, cli):
    t = dataset_dirs
    plain = cli("validate", str(t / src), "-q")
    local = cli("validate", str(t / src), "-q", "--executor", "local")
    assert plain.exit_code == local.exit_code == 2
    assert (plain.output, plain.err) == (local.output, local.err) and "box is inverted" in local.output
    assert ".parquet:" in local.output or src == "coco"


def test_convert_refusal_on_an_executor_writes_nothing(dataset_dirs, cli):
    t = dataset_dirs
    plain = cli("convert", str(t / "pq"), str(t / "a"), "--to", "parquet", "-q")
    local = cli("convert", str(t / "pq"), str(t / "b"), "--to", "parquet", "-q", "--executor", "local")
    assert plain.exit_code == local.exit_code == 2
    assert plain.err.replace(str(t / "a"), "<DST>") == local.err.replace(str(t / "b"), "<DST>")
    assert "nothing was written" in local.err
    assert not (t / "b").exists() and not [p for p in t.iterdir() if p.name.startswith(".b")]


def test_sharded_parquet_output_is_whole_or_nothing(dataset_dirs, monkeypatch):
    """A task failing after other shards were written leaves no output and no temporary."""
    from cvpipe import execution

    t = dataset_dirs
    calls = []
    real = execution.write_part

    def flaky(task):
        calls.append(task.index)
        if task.index == 2:
            raise OSError("disk full")
        return real(task)

    monkeypatch.setattr(execution, "write_part", flaky)
    monkeypatch.setattr("cvpipe.builtin.parquet.sharding.ParquetSharding.rows_per_part", 3)
    from cvpipe.execution import convert_sharded, get_executor

    with pytest.raises(OSError):
        convert_sharded(t / "pq", t / "out", "parquet", executor=get_executor("local"), skip_invalid=True)
    assert calls == [0, 1, 2]
    assert not (t / "out").exists() and not [p for p in t.iterdir() if p.name.startswith(".out")]


def test_duplicates_across_shards_are_found(tmp_path, cli):
    ds = make_dataset(4, empty_images=0)
    ds.samples[3].image = ds.samples[0].image
    ds.samples[3].id = "other"
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    r = cli("validate", str(tmp_path / "pq"), "--no-images", "--executor", "local", "--json", "-")
    data = json.loads(r.output)
    assert [p["message"] for p in data["problems"]] == ["duplicate image"]
    assert data["problems"][0]["file"].endswith("part-00001.parquet") and data["problems"][0]["line"] == 2


def test_part_meta_merges_as_one_read_has_it():
    """Notes add up, the finest coordinate precision wins, other keys keep their first value."""
    from cvpipe.execution import merge_part_meta

    meta = {"format": "yolo", "notes": {"a": 1}}
    merge_part_meta(meta, {"format": "other", "notes": {"a": 2, "b": 1},
                           "coordinate_precision": {"normalized": 1e-3}})
    merge_part_meta(meta, {"notes": {"b": 4}, "coordinate_precision": {"normalized": 1e-6}})
    merge_part_meta(meta, {"coordinate_precision": {"normalized": 1e-4}})
    assert meta == {"format": "yolo", "notes": {"a": 3, "b": 5}, "coordinate_precision": {"normalized": 1e-6}}
