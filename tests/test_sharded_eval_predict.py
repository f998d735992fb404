"""``evaluate --executor`` and ``predict --executor``: per-image COCO matching sharded by image
with one accumulate (the twelve numbers pycocotools gives, bit for bit), prediction over image
shards (the single-process detections, byte for byte once written), on the built-in ``local``
executor and on a process-pool executor registered through the hook like any plugin's."""

from __future__ import annotations

import json
import multiprocessing
import types
from pathlib import Path

import numpy as np
import pytest

from cvpipe.cli import main
from test_evaluation import FIXTURES, make_coco_pair, ours, pycocotools_stats, write_pair


class PoolExecutor:
    """An executor of other processes (multiprocessing, spawn): items and results pickled."""

    name = "pool"

    def __init__(self) -> None:
        self.pool = multiprocessing.get_context("spawn").Pool(2)

    def map(self, fn, items):
        yield from self.pool.imap(fn, items)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


def _pool_plugin() -> types.ModuleType:
    from cvpipe import hookimpl

    mod = types.ModuleType("pool_plugin")

    @hookimpl
    def cvpipe_register_executors(register):
        register.add_executor("pool", lambda address=None: PoolExecutor(), description="two spawned processes")

    mod.cvpipe_register_executors = cvpipe_register_executors
    return mod


@pytest.fixture
def pool_registry():
    from cvpipe.testing import plugin_registry

    with plugin_registry(("pool", _pool_plugin())) as reg:
        yield reg


def _pairs(tmp: Path) -> list[tuple[Path, Path]]:
    pairs = [write_pair(tmp, *make_coco_pair(seed), tag=str(seed)) for seed in (0, 1, 2)]
    real = FIXTURES / "coco-val2014"
    if real.is_dir():
        pairs.append((real / "instances_val2014_100.json", real / "instances_val2014_fakebbox100_results.json"))
    return pairs


def test_sharded_coco_equals_pycocotools_bit_for_bit(tmp_path):
    from cvpipe.builtin.coco import read_coco_results, to_coco_dict
    from cvpipe.evaluation import evaluate
    from cvpipe.evaluation_sharded import coco_eval_sharded
    from cvpipe.execution import get_executor
    from cvpipe.formats import read_dataset

    ex = get_executor("local")
    for gt_file, dt_file in _pairs(tmp_path):
        ref = pycocotools_stats(gt_file, dt_file)
        gt = read_dataset(gt_file, "coco")
        dt = read_coco_results(dt_file, gt)
        single = evaluate(gt, dt, ["coco"], engine="pycocotools")["coco"]
        faster = evaluate(gt, dt, ["coco"])["coco"]
        for shard in (1, 7, 10_000):  # one image per task, uneven shards, one shard
            got = coco_eval_sharded(gt, dt, executor=ex, to_coco_dict=to_coco_dict, shard_images=shard)
            assert (ours(got) == ref).all(), (gt_file.name, shard, ours(got) - ref)
            assert got == single  # the single-process path on the reference engine, per_class included
            np.testing.assert_allclose(ours(got), ours(faster), rtol=0, atol=1e-15)  # faster-coco-eval's own rounding
        assert ref[0] > 0.05


def test_sharded_coco_options_equal_single_process(tmp_path):
    from cvpipe.builtin.coco import read_coco_results
    from cvpipe.evaluation import evaluate
    from cvpipe.execution import get_executor
    from cvpipe.formats import read_dataset

    gt_file, dt_file = write_pair(tmp_path, *make_coco_pair(5, n_images=30))
    gt = read_dataset(gt_file, "coco")
    dt = read_coco_results(dt_file, gt)
    ex = get_executor("local")
    for params in ({"iou_thresholds": [0.3, 0.5, 0.9]}, {"max_dets": [2, 5, 20]}, {"difficult": "drop"}):
        single = evaluate(gt, dt, {"coco": {"engine": "pycocotools", **params}})["coco"]
        sharded = evaluate(gt, dt, {"coco": params}, executor=ex)["coco"]
        assert sharded == single, params


def test_evaluate_cli_on_executors(tmp_path, pool_registry, capsys):
    gt_file, dt_file = write_pair(tmp_path, *make_coco_pair(3))
    ref = pycocotools_stats(gt_file, dt_file)
    outs = {}
    for name in ("local", "pool"):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--metric", "coco", "--metric", "voc07",
                     "--json", str(out), "-q", "--executor", name]) == 0
        outs[name] = json.loads(out.read_text())
        assert (ours(outs[name]["coco"]) == ref).all()
    assert main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--metric", "coco", "--metric", "voc07",
                 "--json", str(tmp_path / "plain.json"), "-q", "--engine", "pycocotools"]) == 0
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert outs["local"] == outs["pool"] == plain
    capsys.readouterr()
    assert main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--executor", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "--executor" in err and "local" in err and "Traceback" not in err
    assert main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--executor", "local", "--address", "x:1"]) == 2
    assert "--address" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """An untrained tiny ``compact`` checkpoint that still detects (low threshold) and 7 images."""
    torch = pytest.importorskip("torch")
    from cvpipe.engine.checkpoint import save_checkpoint
    from cvpipe.models.build import build_model
    from cvpipe.testing import make_dataset, write_images

    t = tmp_path_factory.mktemp("predict")
    params = {"image_size": 64, "width": 8, "depth": 0, "fpn_channels": 16, "head_convs": 1, "score_thresh": 0.001}
    torch.manual_seed(0)
    model = build_model("compact", 2, params)
    save_checkpoint(t / "m.pt", {"model": {"name": "compact", "params": params, "num_classes": 2,
                                           "state_dict": model.state_dict()},
                                 "categories": ["a", "b"], "inference": {"input_size": 64}, "epoch": 1})
    write_images(make_dataset(7, boxes_per_image=2), t / "img")
    return t / "m.pt", t / "img"


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, its own path replaced (YOLO's data.yaml names it)."""
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_predict_cli_on_executors_writes_the_same_bytes(checkpoint, tmp_path, pool_registry, capsys, monkeypatch):
    from cvpipe.engine import predict_sharded

    monkeypatch.setattr(predict_sharded, "SHARD_IMAGES", 3)  # shards of 3, 3, 1 images (batches of 3)
    model, images = checkpoint
    base = ["predict", str(model), str(images), "--format", "coco", "--score-threshold", "0.0", "--batch-size", "3",
            "--device", "cpu", "--quiet", "--json"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["images"] == 7 and plain["detections"] > 0
    for name in ("local", "pool"):
        assert main([*base, "--out", str(tmp_path / name), "--executor", name]) == 0
        got = json.loads(capsys.readouterr().out)
        assert {k: v for k, v in got.items() if k not in ("written", "writer")} == \
               {k: v for k, v in plain.items() if k not in ("written", "writer")}
        assert _files(tmp_path / name / "detections") == _files(tmp_path / "plain" / "detections")


def test_predict_shards_are_whole_batches(checkpoint, monkeypatch):
    """Every batch the model sees on an executor is one the single-process run sees."""
    from cvpipe.commands.predict import collect_images
    from cvpipe.engine import predict_sharded as ps
    from cvpipe.engine.predict import load_bundle, predict_dataset
    from cvpipe.execution import get_executor

    model, images = checkpoint
    monkeypatch.setattr(ps, "SHARD_IMAGES", 4)
    assert ps.shard_size(3, 4) == 6 and ps.shard_size(8, 4) == 8
    bundle = load_bundle(model)
    inputs = collect_images([images])
    import dataclasses

    inputs = dataclasses.replace(inputs, categories=list(bundle.categories))
    plain = predict_dataset(bundle, inputs, batch_size=3)
    got = ps.predict_sharded(ps.ModelSource(path=str(model), device="cpu"), inputs, executor=get_executor("local"),
                             categories=bundle.categories, name=bundle.name, batch_size=3, device="cpu",
                             shard_images=4)
    assert [s.image for s in got.samples] == [s.image for s in plain.samples]
    for a, b in zip(got.samples, plain.samples):
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
        assert np.array_equal(a.labels, b.labels)


# ---------------------------------------------------------------------------------------------
# executor: in pipeline steps
# ---------------------------------------------------------------------------------------------

STEPS = """
name: sharded
steps:
  - read: {{path: {src}, format: parquet}}
  - validate: {{fail: false{opts}}}
  - convert: {{path: "${{run_dir}}/out", format: parquet{opts}}}
"""


def test_validate_and_convert_steps_on_an_executor_equal_plain(tmp_path, pool_registry):
    pytest.importorskip("pyarrow")
    from cvpipe.formats import write_dataset
    from cvpipe.testing import make_dataset, write_images

    ds = make_dataset(9, boxes_per_image=2)
    ds.samples[4].boxes[0] = [30, 5, 10, 20]  # inverted: validate reports it and leaves it out
    write_dataset(write_images(ds, tmp_path / "png"), tmp_path / "pq", "parquet", images="copy", rows_per_shard=4)
    runs = {}
    for name, opts in (("plain", ""), ("local", ", executor: local"), ("pool", ", executor: pool")):
        (tmp_path / f"{name}.yaml").write_text(STEPS.format(src=tmp_path / "pq", opts=opts))
        assert main(["run", str(tmp_path / f"{name}.yaml"), "--out", str(tmp_path / name), "--quiet"]) == 0
        runs[name] = (_files(tmp_path / name / "out"), (tmp_path / name / "validate" / "problems.json").read_text())
    assert runs["plain"] == runs["local"] == runs["pool"]
    assert "inverted" in runs["plain"][1]


def test_executor_setting_errors_name_the_field(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(STEPS.format(src=tmp_path, opts=", executor: nosuch"))
    assert main(["run", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "executor" in err and "nosuch" in err and "local" in err and "Traceback" not in err
    (tmp_path / "bad2.yaml").write_text(STEPS.format(src=tmp_path, opts=", address: 'h:1'"))
    assert main(["run", str(tmp_path / "bad2.yaml"), "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "address" in capsys.readouterr().err


def test_evaluate_and_predict_steps_on_an_executor(tmp_path, checkpoint):
    from cvpipe.builtin.coco import read_coco_results
    from cvpipe.commands.predict import collect_images
    from cvpipe.engine.predict import load_bundle
    from cvpipe.formats import read_dataset
    from cvpipe.plugins import get_registry
    from cvpipe.testing import make_context

    gt_file, dt_file = write_pair(tmp_path, *make_coco_pair(4))
    gt = read_dataset(gt_file, "coco")
    dt = read_coco_results(dt_file, gt)
    steps = get_registry().steps
    out = {}
    for name, extra in (("plain", {"engine": "pycocotools"}), ("local", {"executor": "local"})):
        step = steps.create("evaluate", {"gt": "gt", "detections": "dt", "metrics": ["coco", "voc07"],
                                         "pictures": False, **extra})
        ctx = make_context(tmp_path / name, step_name="evaluate", gt=gt, dt=dt)
        out[name] = step.run(ctx)["metrics"]
    assert out["plain"] == out["local"] and (ours(out["local"]["coco"]) == pycocotools_stats(gt_file, dt_file)).all()

    model, images = checkpoint
    bundle = load_bundle(model)
    inputs = collect_images([images])
    dets = {}
    for name, extra in (("plain", {}), ("local", {"executor": "local"})):
        step = steps.create("predict", {"dataset": "images", "batch_size": 2, "device": "cpu", **extra})
        ctx = make_context(tmp_path / f"p{name}", step_name="predict", images=inputs, model=bundle)
        step.run(ctx)
        dets[name] = ctx["detections"]
    assert [s.image for s in dets["plain"].samples] == [s.image for s in dets["local"].samples]
    for a, b in zip(dets["plain"].samples, dets["local"].samples):
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
    assert dets["local"].num_boxes > 0
