"""The training engine: a tiny run, checkpoints, exact resume, extension, predict + evaluate,
corrupt checkpoints, samplers, transfer-learning controls, the train step and its hook."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError, InputError

TINY = dict(image_size=64, width=8, depth=0, fpn_channels=16, head_convs=1)


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory) -> Path:
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("voc") / "shapes"
    synthesize_voc(root, images=16, seed=3, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
    return root


@pytest.fixture(scope="module")
def tiny_data(tiny_voc):
    from cvpipe.formats import read_dataset

    ds = read_dataset(tiny_voc, "voc")
    return ds.split("train"), ds.split("val")


def _cfg(epochs: int, **kw):
    from cvpipe.engine.train import TrainConfig

    base = dict(model="compact", model_params=dict(TINY), epochs=epochs, batch_size=4, workers=0, lr=0.004,
                warmup_epochs=0.5, threads=1)
    base.update(kw)
    return TrainConfig(**base)


class Interrupt(Exception):
    pass


def _fit(train, val, out: Path, epochs: int, resume: bool = False, stop_after: int | None = None, **kw):
    from cvpipe.builtin.augment import build_transforms
    from cvpipe.engine.train import fit

    def on_epoch_end(epoch, metrics):
        if epoch == stop_after:
            raise Interrupt  # as if the process were killed right after the epoch's checkpoint

    aug = build_transforms([{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}}])
    return fit(train, val, _cfg(epochs, **kw), out_dir=out, transform=aug, resume=resume,
               on_epoch_end=on_epoch_end, progress=False, log=lambda m: None)


@pytest.fixture(scope="module")
def full_run(tiny_data, tmp_path_factory):
    """Two epochs uninterrupted."""
    train, val = tiny_data
    out = tmp_path_factory.mktemp("full")
    return out, _fit(train, val, out, 2)


def _state(path: Path) -> dict:
    from cvpipe.engine.checkpoint import load_checkpoint

    return load_checkpoint(path)


def test_tiny_run_writes_logs_and_checkpoints(full_run):
    out, res = full_run
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and len(res.history) == 2
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    for col in ("epoch", "loss", "cls_loss", "box_loss", "lr", "images_per_s", "AP50", "AP"):
        assert col in header
    ck = _state(out / "last.pt")
    assert ck["model"]["name"] == "compact" and ck["epoch"] == 2
    assert ck["inference"]["input_size"] == 64
    assert ck["categories"] == ["circle", "square", "triangle"]
    assert "optimizer" in ck["train"] and "train" not in _state(out / "best.pt")
    assert res.bundle.categories == ck["categories"] and not res.bundle.model.training


def test_resume_gives_the_uninterrupted_result(full_run, tiny_data, tmp_path):
    out_full, full = full_run
    train, val = tiny_data
    with pytest.raises(Interrupt):
        _fit(train, val, tmp_path, 2, stop_after=1)
    resumed = _fit(train, val, tmp_path, 2, resume=True)
    a = _state(out_full / "last.pt")["model"]["state_dict"]
    b = _state(tmp_path / "last.pt")["model"]["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert resumed.epochs_run == 1


def test_resume_extends_a_finished_run(full_run, tiny_data, tmp_path):
    import shutil

    out_full, _ = full_run
    train, val = tiny_data
    for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv"):
        shutil.copy(out_full / name, tmp_path / name)
    res = _fit(train, val, tmp_path, 3, resume=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3] and res.epochs_run == 1
    assert _state(tmp_path / "last.pt")["epoch"] == 3


def test_resume_with_other_model_settings_is_refused(full_run, tiny_data, tmp_path):
    import shutil

    out_full, _ = full_run
    train, val = tiny_data
    shutil.copy(out_full / "last.pt", tmp_path / "last.pt")
    with pytest.raises(ConfigError, match="cannot resume"):
        _fit(train, val, tmp_path, 3, resume=True, model_params=dict(TINY, width=16))


def test_predict_and_evaluate_from_checkpoint(full_run, tiny_data):
    from cvpipe.engine.predict import load_bundle, predict_dataset
    from cvpipe.evaluation import evaluate

    out, _ = full_run
    _, val = tiny_data
    bundle = load_bundle(out)  # a run folder: finds best.pt
    assert bundle.checkpoint == out / "best.pt" and bundle.input_size == 64
    dets = predict_dataset(bundle, val, batch_size=3)
    assert [s.image for s in dets] == [s.image for s in val]
    for s, g in zip(dets, val):
        assert s.scores is not None and len(s.scores) == len(s.boxes) == len(s.labels)
        assert (s.boxes[:, 2] <= g.width + 1e-6).all() and (s.boxes[:, 3] <= g.height + 1e-6).all()
        assert ((s.labels >= 0) & (s.labels < 3)).all()
    res = evaluate(val, dets, ["coco", "voc07"])
    assert 0.0 <= res["coco"]["AP50"] <= 1.0 and 0.0 <= res["voc07"]["mAP"] <= 1.0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    from cvpipe.engine.checkpoint import load_checkpoint
    from cvpipe.engine.predict import load_bundle

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(InputError) as e:
        load_checkpoint(bad)
    assert str(bad) in str(e.value) and "corrupt" in str(e.value)

    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(2)}, foreign)
    with pytest.raises(InputError, match="not a cvpipe checkpoint") as e:
        load_bundle(foreign)
    assert str(foreign) in str(e.value)

    class Evil:  # a pickle that would run code: refused by weights_only
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(InputError, match="corrupt or not a weights-only"):
        load_checkpoint(evil)

    with pytest.raises(InputError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_truncated_checkpoint(full_run, tmp_path):
    from cvpipe.engine.checkpoint import load_checkpoint

    out, _ = full_run
    data = (out / "best.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        load_checkpoint(cut)
    assert "cut.pt" in str(e.value)


# ------------------------------------------------------------------------------ data and samplers
def test_collate_keeps_variable_box_counts(tiny_data):
    from cvpipe.engine.data import DetectionData, collate

    train, _ = tiny_data
    data = DetectionData(train, None, input_size=64)
    items = [data[i] for i in range(4)]
    images, targets = collate(items)
    assert len(images) == 4 and all(im.shape == (3, 64, 64) and im.dtype == torch.uint8 for im in images)
    for t, i in zip(targets, range(4)):
        s = train.samples[i]
        assert t["boxes"].shape == (len(s), 4) and t["labels"].tolist() == s.labels.tolist()
        sx, sy = t["scale"]
        assert np.allclose(t["boxes"].numpy() * [sx, sy, sx, sy], s.boxes, atol=1e-3)


def test_difficult_boxes_are_left_out_unless_kept():
    from cvpipe.engine.data import DetectionData

    ds = Dataset(["a"], [Sample("x.png", 8, 8, [[0, 0, 4, 4], [2, 2, 6, 6]], [0, 0], difficult=[False, True])])
    ds.root = None
    img = np.zeros((8, 8, 3), np.uint8)
    import cvpipe.draw as draw

    orig = draw.read_image
    draw.read_image = lambda p: img
    try:
        assert len(DetectionData(ds)[0][1]["boxes"]) == 1
        assert len(DetectionData(ds, keep_difficult=True)[0][1]["boxes"]) == 2
    finally:
        draw.read_image = orig


def test_epoch_sampler_is_deterministic_and_splits_across_ranks():
    from cvpipe.engine.data import EpochSampler

    one = EpochSampler(10, seed=5)
    one.set_epoch(3)
    again = EpochSampler(10, seed=5)
    again.set_epoch(3)
    assert list(one) == list(again) and sorted(i for _, i in one) == list(range(10))
    assert all(e == 3 for e, _ in one)
    one.set_epoch(4)
    assert list(one) != list(again)
    parts = []
    for rank in range(3):
        s = EpochSampler(10, seed=5, rank=rank, world_size=3)
        s.set_epoch(3)
        parts.append([i for _, i in s])
        assert len(parts[-1]) == len(s) == 4
    merged = [i for row in zip(*parts) for i in row]
    assert merged[:10] == [i for _, i in again]  # the same order, dealt round-robin (+2 padding)


def test_class_balanced_weights_hand_worked():
    from cvpipe.engine.data import EpochSampler, class_balanced_weights

    # class 0 in 3 of 4 images, class 1 in 2 of 4 (f = 0.75, 0.5 -> 1/sqrt(f) = 1.1547, 1.4142);
    # an image weighs as its rarest class; the empty one as the most frequent
    samples = [Sample("0.png", 10, 10, [[0, 0, 5, 5]], [0]), Sample("1.png", 10, 10, [[0, 0, 5, 5]], [0]),
               Sample("2.png", 10, 10, [[0, 0, 5, 5], [1, 1, 6, 6]], [0, 1]),
               Sample("3.png", 10, 10, [[1, 1, 6, 6]], [1]), Sample("4.png", 10, 10)]
    w = class_balanced_weights(Dataset(["a", "b"], samples[:4] + samples[4:]))
    n = 5  # images
    fa, fb = 3 / n, 2 / n
    assert np.allclose(w, [fa ** -0.5, fa ** -0.5, fb ** -0.5, fb ** -0.5, fa ** -0.5])
    s = EpochSampler(5, weights=np.array([0, 0, 0, 1.0, 0]), seed=0)
    assert {i for _, i in s} == {3}


# ------------------------------------------------------------------------------ transfer learning
def test_freeze_and_lr_groups():
    from cvpipe.models.build import build_model
    from cvpipe.engine.train import param_groups

    model = build_model("compact", 3, dict(TINY))
    groups = param_groups(model, _cfg(1, freeze=["backbone.stages.0"], lr_groups={"backbone": 0.0001}))
    assert not any(p.requires_grad for p in model.backbone.stages[0].parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    lrs = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert all(lrs[id(p)] == 0.0001 for p in model.backbone.stages[1].parameters())
    assert all(lrs[id(p)] == 0.004 for p in model.head.parameters())
    assert all(g["weight_decay"] == 0 for g in groups if all(p.ndim == 1 for p in g["params"]))

    with pytest.raises(ConfigError) as e:
        param_groups(build_model("compact", 3, dict(TINY)), _cfg(1, freeze=["backbon"]))
    assert e.value.problem.field == "freeze[0]"


def test_freeze_names_work_through_the_torchvision_wrapper():
    from cvpipe.models.build import build_model
    from cvpipe.engine.train import param_groups

    model = build_model("ssdlite320_mobilenet_v3_large", 2)
    param_groups(model, _cfg(1, model="ssdlite320_mobilenet_v3_large", freeze=["backbone"]))
    assert not any(p.requires_grad for p in model.model.backbone.parameters())
    assert any(p.requires_grad for p in model.model.head.parameters())


# ------------------------------------------------------------------------------ the train step
def test_train_step_runs_fires_the_hook_and_validates_settings(tiny_data, tmp_path):
    from cvpipe.builtin.train_steps import TrainStep
    from cvpipe.engine.predict import ModelBundle
    from cvpipe.testing import make_context

    calls = []

    class Hook:
        def cvpipe_on_epoch_end(self, run_dir, step, epoch, metrics):
            calls.append((step, epoch, sorted(metrics)))

    train, val = tiny_data
    step = TrainStep(dataset="train", val="val", model_params=dict(TINY), epochs=1, batch_size=4, workers=0,
                     threads=1, transforms=[{"HorizontalFlip": {"p": 0.5}}])
    assert step.inputs == {"dataset": "train", "val": "val"} and step.outputs == {"output": "model"}
    ctx = make_context(tmp_path, step_name="train", hook=Hook(), train=train, val=val)
    result = step.run(ctx)
    assert isinstance(ctx["model"], ModelBundle)
    assert calls and calls[0][0] == "train" and calls[0][1] == 1 and "AP50" in calls[0][2]
    assert result["epochs"] == 1 and Path(result["checkpoint"]).name == "best.pt"
    assert (tmp_path / "run" / "train" / "metrics.csv").is_file()

    with pytest.raises(ConfigError) as e:
        TrainStep(model_params={"imag_size": 64})
    assert e.value.problem.field == "model_params.imag_size" and "image_size" in str(e.value)
    with pytest.raises(ConfigError) as e:
        TrainStep(epochs=0, lr=-1)
    assert {p.field for p in e.value.problems} == {"epochs", "lr"}
    with pytest.raises(ConfigError) as e:
        TrainStep(model="fasterrcnn_resnet")
    assert e.value.problem.field == "model"
    with pytest.raises(ConfigError) as e:
        TrainStep(transforms=[{"HorizontalFlp": {}}])
    assert "transforms[0]" in str(e.value)


def test_a_torchvision_detector_trains_and_predicts(tiny_data, tmp_path):
    from cvpipe.engine.predict import load_bundle, predict_dataset

    train, val = tiny_data
    res = _fit(train.subset(train.samples[:4]), None, tmp_path, 1, model="fasterrcnn_mobilenet_v3_large_320_fpn",
               model_params={"min_size": 64, "max_size": 96}, batch_size=2)
    assert np.isfinite(res.history[0]["loss"]) and res.bundle.input_size is None
    bundle = load_bundle(tmp_path / "best.pt")
    dets = predict_dataset(bundle, val.subset(val.samples[:2]))
    assert len(dets) == 2 and all(((s.labels >= 0) & (s.labels < 3)).all() for s in dets)


def test_worker_processes_give_the_same_batches(tiny_data):
    from cvpipe.builtin.augment import build_transforms
    from cvpipe.engine.data import DetectionData, EpochSampler, make_loader

    train, _ = tiny_data
    aug = build_transforms([{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}}])

    def batches(workers: int):
        sampler = EpochSampler(len(train), seed=7)
        loader = make_loader(DetectionData(train, aug, input_size=64, seed=7), batch_size=3, workers=workers,
                             sampler=sampler)
        out = []
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            for images, targets in loader:
                out.append((torch.stack(images), [t["boxes"] for t in targets]))
        return out

    a, b = batches(0), batches(1)
    assert len(a) == len(b)
    for (ia, ta), (ib, tb) in zip(a, b):
        assert torch.equal(ia, ib) and all(torch.equal(x, y) for x, y in zip(ta, tb))
    assert not torch.equal(a[0][0], a[len(a) // 2][0])  # epochs differ


def test_learning_rate_schedules_hand_worked():
    from cvpipe.engine.train import lr_factor

    cos = _cfg(4, schedule="cosine", min_lr_ratio=0.1)
    # 10 steps per epoch, 40 in all, 10 of warm-up
    assert lr_factor(0, 40, 10, cos, 10) == pytest.approx(0.001)
    assert lr_factor(5, 40, 10, cos, 10) == pytest.approx(0.001 + 0.999 * 0.5)
    assert lr_factor(10, 40, 10, cos, 10) == pytest.approx(1.0)
    assert lr_factor(25, 40, 10, cos, 10) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert lr_factor(40, 40, 10, cos, 10) == pytest.approx(0.1)
    step = _cfg(4, schedule="step", milestones=[2, 3], gamma=0.5)
    assert [lr_factor(s, 40, 0, step, 10) for s in (0, 19, 20, 29, 30, 39)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert lr_factor(17, 40, 0, _cfg(4, schedule="constant"), 10) == 1.0
