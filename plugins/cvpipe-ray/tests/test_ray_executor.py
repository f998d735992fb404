"""The ray executor on a real local Ray instance (one per module: start-up is slow): convert and
validate give the single-process answer byte for byte."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]', or the cvpipe-ray plugin)")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'cvpipe[parquet]')")


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_registered_and_keeps_order(registry):
    from cvpipe.contract import Executor
    from cvpipe.execution import get_executor

    assert registry.executors.get("ray").plugin == "ray"
    ex = get_executor("ray")
    assert isinstance(ex, Executor)
    assert list(ex.map(abs, [-3, 1, -2, 0, 5])) == [3, 1, 2, 0, 5]
    assert list(ex.map(abs, [])) == []
    ex.close()
    assert ray.is_initialized()  # it joined the running instance, so it leaves it running


@pytest.mark.parametrize("src,to", [("pq", "parquet"), ("coco", "parquet"), ("pq", "yolo")])
def test_convert_on_ray_equals_single_process(registry, datasets, tmp_path, src, to, tree):
    from cvpipe.execution import convert_sharded, get_executor
    from cvpipe.formats import convert_dataset

    plain = convert_dataset(datasets / src, tmp_path / "plain", to, skip_invalid=True)
    on_ray = convert_sharded(datasets / src, tmp_path / "ray", to, executor=get_executor("ray"), skip_invalid=True)
    assert tree(tmp_path / "plain") == tree(tmp_path / "ray")
    assert {k: v for k, v in plain.items() if k != "dst"} == {k: v for k, v in on_ray.items() if k != "dst"}
    assert plain["skipped"] and plain["images"] == 11


def test_validate_on_ray_equals_single_process(registry, datasets):
    from cvpipe.execution import get_executor, validate_sharded
    from cvpipe.formats import validate_dataset

    plain = validate_dataset(datasets / "pq")
    on_ray = validate_sharded(datasets / "pq", executor=get_executor("ray"))
    assert plain == on_ray
    assert [p.message for p in on_ray["problems"]] == ["box is inverted", "box is outside the image"]
    assert on_ray["problems"][1].file.endswith("part-00002.parquet") and on_ray["problems"][1].line == 3


def test_refusal_on_ray_writes_nothing(registry, datasets, tmp_path):
    from cvpipe.errors import InputError
    from cvpipe.execution import convert_sharded, get_executor

    with pytest.raises(InputError, match="nothing was written"):
        convert_sharded(datasets / "pq", tmp_path / "out", "parquet", executor=get_executor("ray"))
    assert list(tmp_path.iterdir()) == []
