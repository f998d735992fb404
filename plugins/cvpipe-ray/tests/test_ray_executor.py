"""The ray executor on a real local Ray instance (one per module: start-up is slow): convert and
validate give the single-process answer byte for byte; evaluate's COCO numbers are pycocotools'
bit for bit; predict's detections (actor pool, one model per actor) are the single-process ones,
byte for byte once written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import pytest

from cvpipe.errors import InputError

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


def test_map_takes_items_as_results_are_handed_on(registry):
    """A streaming driver feeds ``map`` from a generator: it must not be drained up front,
    one map may feed another, and a task's exception arrives as itself."""
    from cvpipe.errors import InputError
    from cvpipe.execution import get_executor

    ex = get_executor("ray")
    limit = ex._in_flight()
    taken = []

    def items():
        for i in range(limit * 3 + 1):
            taken.append(i)
            yield -i

    results = ex.map(abs, items())
    first = next(results)
    assert first == 0 and len(taken) <= limit  # only the tasks in flight were taken
    assert [first, *results] == list(range(limit * 3 + 1))
    assert list(ex.map(abs, ex.map(abs, range(-5, 0)))) == [5, 4, 3, 2, 1]
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    with pytest.raises(InputError, match="not a number"):
        list(ex.map(_refuse, [1, "x"]))
    ex.close()


def _refuse(x):
    if not isinstance(x, int):
        raise InputError("not a number", value=x)
    return x


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


# ---------------------------------------------------------------------------------------------
# evaluate and predict
# ---------------------------------------------------------------------------------------------


def _pair(tmp: Path, seed: int = 0, n_images: int = 24) -> tuple[Path, Path]:
    """A generated COCO pair with crowds, odd areas, ties, >100 detections on one image."""
    rng = np.random.default_rng(seed)
    images = [{"id": 1000 + 7 * i, "file_name": f"im_{i:03d}.jpg", "width": 640, "height": 480} for i in range(n_images)]
    anns, dets = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 6))):
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            box = [round(float(v), 2) for v in (x, y, w, h)]
            cat = int(rng.choice([3, 7, 90]))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cat, "bbox": box,
                         "area": box[2] * box[3] * float(rng.uniform(0.5, 1.5)), "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):
                jit = [round(float(v), 2) for v in np.array(box) + rng.normal(0, 0.1, 4) * [w, h, w, h]]
                jit[2], jit[3] = max(jit[2], 1.0), max(jit[3], 1.0)
                dets.append({"image_id": im["id"], "category_id": cat, "bbox": jit,
                             "score": round(float(rng.uniform(0, 1)), 2)})
        for _ in range(int(rng.integers(0, 120 if im["id"] == 1007 else 5))):
            dets.append({"image_id": im["id"], "category_id": int(rng.choice([3, 7, 18])),
                         "bbox": [round(float(v), 2) for v in rng.uniform(1, 300, 4)],
                         "score": round(float(rng.uniform(0, 1)), 2)})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"c{c}"} for c in (3, 7, 18, 90)]}
    (tmp / "gt.json").write_text(json.dumps(gt))
    (tmp / "dt.json").write_text(json.dumps(dets))
    return tmp / "gt.json", tmp / "dt.json"


def _pycocotools(gt_file: Path, dt_file: Path) -> list[float]:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(str(dt_file)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
REAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "coco-val2014"


@pytest.mark.parametrize("which", ["generated", "real"])
def test_evaluate_on_ray_equals_pycocotools(registry, tmp_path, which):
    pytest.importorskip("pycocotools")
    from cvpipe.builtin.coco import read_coco_results, to_coco_dict
    from cvpipe.evaluation import evaluate
    from cvpipe.evaluation_sharded import coco_eval_sharded
    from cvpipe.execution import get_executor
    from cvpipe.formats import read_dataset

    if which == "real":
        if not REAL.is_dir():
            pytest.skip(f"real fixture {REAL} is absent (../shared/fixtures next to the checkout)")
        gt_file, dt_file = REAL / "instances_val2014_100.json", REAL / "instances_val2014_fakebbox100_results.json"
    else:
        gt_file, dt_file = _pair(tmp_path)
    gt = read_dataset(gt_file, "coco")
    dt = read_coco_results(dt_file, gt)
    got = coco_eval_sharded(gt, dt, executor=get_executor("ray"), to_coco_dict=to_coco_dict, shard_images=7)
    assert [got[k] for k in KEYS] == _pycocotools(gt_file, dt_file)
    assert got == evaluate(gt, dt, ["coco"], engine="pycocotools")["coco"]


def test_evaluate_cli_on_ray(registry, tmp_path):
    from cvpipe.cli import main

    gt_file, dt_file = _pair(tmp_path, seed=3)
    for name, extra in (("ray", ["--executor", "ray"]), ("plain", ["--engine", "pycocotools"])):
        assert main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--metric", "coco", "--metric", "voc12",
                     "--json", str(tmp_path / f"{name}.json"), "-q", *extra]) == 0
    assert json.loads((tmp_path / "ray.json").read_text()) == json.loads((tmp_path / "plain.json").read_text())


def _files(folder: Path) -> dict[str, bytes]:
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_predict_on_ray_actors_writes_the_same_bytes(registry, tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    from cvpipe.cli import main
    from cvpipe.engine import predict_sharded

    monkeypatch.setattr(predict_sharded, "SHARD_IMAGES", 2)  # 3 shards of 2, 2, 1 images on 2 actors
    from cvpipe.engine.checkpoint import save_checkpoint
    from cvpipe.models.build import build_model
    from cvpipe.testing import make_dataset, write_images

    params = {"image_size": 64, "width": 8, "depth": 0, "fpn_channels": 16, "head_convs": 1, "score_thresh": 0.001}
    torch.manual_seed(0)
    model = build_model("compact", 2, params)
    save_checkpoint(tmp_path / "m.pt", {"model": {"name": "compact", "params": params, "num_classes": 2,
                                                  "state_dict": model.state_dict()},
                                        "categories": ["a", "b"], "inference": {"input_size": 64}, "epoch": 1})
    write_images(make_dataset(5, boxes_per_image=2), tmp_path / "img")
    base = ["predict", str(tmp_path / "m.pt"), str(tmp_path / "img"), "--score-threshold", "0.0", "--batch-size", "2",
            "--device", "cpu", "--quiet", "--json", "--format", "coco"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*base, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["detections"] == plain["detections"] > 0 and got["per_class"] == plain["per_class"]
    assert _files(tmp_path / "ray" / "detections") == _files(tmp_path / "plain" / "detections")


def test_map_with_state_runs_on_actors_in_order(registry):
    import os

    from cvpipe.execution import get_executor, map_with_state

    ex = get_executor("ray")
    # state: the actor's pid (built once, in the actor); fn(state, item) = complex(pid, item)
    out = list(map_with_state(ex, os.getpid, complex, range(12)))
    assert [int(c.imag) for c in out] == list(range(12))
    pids = {int(c.real) for c in out}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # at most one actor per CPU, none in the driver
    assert list(map_with_state(ex, os.getpid, complex, [])) == []
