"""The recipe wired into the training loop: each setting acts, and exact resume holds with all on.

EMA (validated and saved), patience with keep-best, mosaic/mixup drawn from the dataset (exact
boxes, seeded, off for the last ``close_mosaic`` epochs), multi-scale sizes, the bias group and
its warm-up, ``compile`` and ``channels_last``. Tiny images, one torch thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402

from cvpipe.errors import ConfigError  # noqa: E402

TINY = dict(image_size=64, width=8, depth=0, fpn_channels=16, head_convs=1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from cvpipe.formats import read_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("voc") / "shapes"
    synthesize_voc(root, images=12, seed=5, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 3))
    ds = read_dataset(root, "voc")
    return ds.split("train"), ds.split("val")


class Interrupt(Exception):
    pass


def _cfg(epochs: int, **kw):
    from cvpipe.engine.train import TrainSettings

    base = dict(model="compact", model_params=dict(TINY), epochs=epochs, batch_size=4, workers=0, lr=0.004,
                warmup_epochs=0.5, threads=1, curves=False)
    base.update(kw)
    return TrainSettings(**base)


def _fit(train, val, out: Path, epochs: int, *, resume: bool = False, stop_after: int | None = None,
         transform=None, **kw):
    from cvpipe.engine.train import fit

    def on_epoch_end(epoch, metrics):
        if epoch == stop_after:
            raise Interrupt  # as if killed right after the epoch's checkpoint (see test_engine)

    return fit(train, val, _cfg(epochs, **kw), out_dir=out, transform=transform, resume=resume,
               on_epoch_end=on_epoch_end, progress=False, log=lambda m: None)


def _ck(path: Path) -> dict:
    from cvpipe.engine.checkpoint import load_checkpoint

    return load_checkpoint(path)


# ------------------------------------------------------------------ EMA


def test_ema_weights_differ_from_raw_and_are_evaluated_and_saved(tiny_data, tmp_path):
    from cvpipe.engine.predict import load_bundle
    from cvpipe.engine.train import TrainSettings, validate

    train, val = tiny_data
    res = _fit(train, val, tmp_path, 2, ema_tau=2.0)
    last = _ck(tmp_path / "last.pt")
    ema, raw = last["model"]["state_dict"], last["train"]["raw_state"]
    assert last["train"]["ema_updates"] == last["train"]["scheduler"]["last_epoch"] > 0  # one per optimiser step
    floats = [k for k, v in ema.items() if v.dtype.is_floating_point]
    assert any(not torch.equal(ema[k], raw[k]) for k in floats)  # the average is not the raw weights
    # best.pt holds the EMA weights of the best epoch, and they score what the history says
    best = _ck(tmp_path / "best.pt")
    assert best["epoch"] == res.best_epoch
    if res.best_epoch == 2:
        assert all(torch.equal(best["model"]["state_dict"][k], ema[k]) for k in ema)
    bundle = load_bundle(tmp_path / "best.pt")
    figures = validate(bundle, val, TrainSettings(), workers=0, progress=False)
    assert figures["AP50"] == pytest.approx(res.history[res.best_epoch - 1]["AP50"], abs=1e-12)
    # the model handed on is the best EMA model
    handed = res.bundle.model.state_dict()
    assert all(torch.equal(handed[k], best["model"]["state_dict"][k]) for k in handed)


def test_ema_off_saves_the_raw_weights(tiny_data, tmp_path):
    train, val = tiny_data
    _fit(train, None, tmp_path, 1, ema=False)
    last = _ck(tmp_path / "last.pt")
    assert "raw_state" not in last["train"] and "ema_updates" not in last["train"]


# ------------------------------------------------------------------ patience


def test_patience_stops_and_keeps_the_best(tiny_data, tmp_path, monkeypatch):
    import cvpipe.engine.train as T

    scripted = iter([0.3, 0.5, 0.4, 0.45, 0.9, 0.95])
    seen = []

    def fake_validate(bundle, val, cfg, *, workers, progress):
        seen.append({k: v.clone() for k, v in bundle.model.state_dict().items()})
        return {"AP50": next(scripted)}

    monkeypatch.setattr(T, "validate", fake_validate)
    train, val = tiny_data
    res = _fit(train, val, tmp_path, 6, patience=2)
    assert res.stopped_early and res.epochs_run == 4 and [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    assert res.best == 0.5 and res.best_epoch == 2
    best = _ck(tmp_path / "best.pt")
    assert best["epoch"] == 2
    assert all(torch.equal(best["model"]["state_dict"][k], seen[1][k]) for k in seen[1])  # keep-best
    assert _ck(tmp_path / "last.pt")["train"]["early_stop"]["bad_epochs"] == 2
    # resuming a stopped run trains no further
    again = _fit(train, val, tmp_path, 6, patience=2, resume=True)
    assert again.epochs_run == 0 and again.stopped_early and len(again.history) == 4


def test_patience_zero_never_stops(tiny_data, tmp_path, monkeypatch):
    import cvpipe.engine.train as T

    monkeypatch.setattr(T, "validate", lambda *a, **k: {"AP50": 0.5})
    train, val = tiny_data
    res = _fit(train, val, tmp_path, 3, patience=0, ema=False)
    assert res.epochs_run == 3 and not res.stopped_early


# ------------------------------------------------------------------ mosaic and mixup through the data


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), epoch=st.integers(0, 2), index=st.integers(0, 5), mixup=st.booleans())
def test_mosaic_boxes_exact_through_the_training_data(tiny_data, seed, epoch, index, mixup):
    from cvpipe.engine.data import DetectionData
    from cvpipe.engine.mosaic import MosaicMixup

    train, _ = tiny_data
    data = DetectionData(train, None, input_size=64, seed=seed)
    data.mosaic = MosaicMixup(data.load, len(data), 64, mixup_prob=float(mixup), epochs=3, close_mosaic=0, seed=seed)
    index %= len(data)
    image, target = data[(epoch, index)]
    want = data.mosaic(epoch, index)
    assert image.shape == (3, 64, 64)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), want.image)
    assert torch.equal(target["boxes"], torch.from_numpy(want.boxes.astype(np.float32)).reshape(-1, 4))
    assert target["labels"].tolist() == want.labels.tolist()
    # each box is a source box of its part moved exactly (x * sx + ox) and clipped to the part's region
    for (p_no, row), box in zip(want.origin, want.boxes):
        part = want.parts[p_no]
        _, src, _ = data.load(part.index)
        x1, y1, x2, y2 = src[row]
        r = part.region
        exact = [min(max(x1 * part.sx + part.ox, r[0]), r[2]), min(max(y1 * part.sy + part.oy, r[1]), r[3]),
                 min(max(x2 * part.sx + part.ox, r[0]), r[2]), min(max(y2 * part.sy + part.oy, r[1]), r[3])]
        assert box.tolist() == exact
    # deterministic for a seed: a second data object gives the same image and boxes
    twin = DetectionData(train, None, input_size=64, seed=seed)
    twin.mosaic = MosaicMixup(twin.load, len(twin), 64, mixup_prob=float(mixup), epochs=3, seed=seed)
    image2, target2 = twin[(epoch, index)]
    assert torch.equal(image, image2) and torch.equal(target["boxes"], target2["boxes"])


def test_mosaic_in_training_and_closed_for_the_last_epochs(tiny_data, tmp_path, monkeypatch):
    from cvpipe.engine.mosaic import MosaicMixup

    calls: list[int] = []
    original = MosaicMixup.__call__

    def spy(self, epoch, index):
        calls.append(epoch)
        return original(self, epoch, index)

    monkeypatch.setattr(MosaicMixup, "__call__", spy)
    train, _ = tiny_data
    _fit(train, None, tmp_path, 3, mosaic=1.0, mixup=0.5, close_mosaic=1, ema=False)
    n = len(train) // 4 * 4  # full batches of 4
    assert calls.count(0) == calls.count(1) == n and 2 not in calls  # the last epoch is plain


def test_recipe_settings_are_checked():
    from cvpipe.engine.train import TrainSettings
    from cvpipe.settings import build_settings

    with pytest.raises(ConfigError) as e:
        build_settings(TrainSettings, dict(mosaic=1.5, close_mosaic=-1, multiscale=1.0, patience=-2))
    assert {p.field for p in e.value.problems} == {"mosaic", "close_mosaic", "multiscale", "patience"}
    with pytest.raises(ConfigError, match="mosaic_scale"):
        build_settings(TrainSettings, dict(mosaic_scale=[0.8, 0.4]))


# ------------------------------------------------------------------ multi-scale


def test_multiscale_sizes_vary_and_come_back(tiny_data, tmp_path, monkeypatch):
    import cvpipe.models.stretch as S

    sizes: list[int] = []
    original = S.stretch_batch

    def spy(images, size, mean, std):
        sizes.append(size)
        return original(images, size, mean, std)

    monkeypatch.setattr(S, "stretch_batch", spy)
    train, val = tiny_data
    res = _fit(train, val, tmp_path, 2, batch_size=2, multiscale=0.5, ema=False, val_every=2)
    train_sizes = sizes[:len(train)]  # one batch per two images, two epochs
    assert set(train_sizes) <= {32, 64, 96} and len(set(train_sizes)) > 1  # sizes vary, multiples of 32
    assert sizes[len(train):] == [64]  # validation (one batch) at the model's own size
    assert res.bundle.model.image_size == 64


def test_multiscale_needs_a_square_input_model(tiny_data, tmp_path):
    train, _ = tiny_data
    with pytest.raises(ConfigError) as e:
        _fit(train.subset(train.samples[:2]), None, tmp_path, 1, model="fasterrcnn_mobilenet_v3_large_320_fpn",
             model_params={"min_size": 64, "max_size": 64}, multiscale=0.25)
    assert e.value.problem.field == "multiscale"


# ------------------------------------------------------------------ param groups, bias warm-up


def test_bias_group_without_decay_and_its_warmup():
    from cvpipe.engine.train import group_lr_factor, lr_factor, param_groups
    from cvpipe.models.build import build_model

    cfg = _cfg(1, weight_decay=0.05, warmup_bias_lr=0.1)
    model = build_model("compact", 3, dict(TINY))
    groups = {g["name"]: g for g in param_groups(model, cfg)}
    assert set(groups) == {"decay", "no_decay", "bias"}
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith(".bias") for p in groups["bias"]["params"])
    assert all(p.ndim == 1 for p in groups["no_decay"]["params"])  # norm weights
    assert groups["decay"]["weight_decay"] == 0.05
    assert groups["bias"]["weight_decay"] == groups["no_decay"]["weight_decay"] == 0.0
    base = cfg.lr
    bias = [group_lr_factor(s, 40, 10, cfg, 10, "bias", base) * base for s in range(12)]
    other = [group_lr_factor(s, 40, 10, cfg, 10, "decay", base) * base for s in range(12)]
    assert bias[0] == pytest.approx(0.1) and all(a > b for a, b in zip(bias[:10], bias[1:11]))
    assert all(a < b for a, b in zip(other[:10], other[1:11]))
    assert bias[10:] == other[10:] == [lr_factor(s, 40, 10, cfg, 10) * base for s in (10, 11)]
    no_bias = _cfg(1)
    assert group_lr_factor(0, 40, 10, no_bias, 10, "bias", base) == lr_factor(0, 40, 10, no_bias, 10)


def test_warmup_bias_lr_reaches_the_optimiser(tiny_data, tmp_path, monkeypatch):
    seen: list[dict[str, float]] = []
    original = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.append({g["name"]: g["lr"] for g in self.param_groups})
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    train, _ = tiny_data
    _fit(train, None, tmp_path, 1, warmup_epochs=1.0, warmup_bias_lr=0.05, ema=False)
    assert seen[0]["bias"] == pytest.approx(0.05) and seen[0]["decay"] == pytest.approx(0.004 * 0.001)
    assert seen[-1]["bias"] < 0.05 and seen[-1]["decay"] > seen[0]["decay"]


# ------------------------------------------------------------------ compile and channels_last


def test_compile_wraps_cvdet_dense_part(tiny_data, tmp_path, monkeypatch):
    compiled, called = [], []

    def fake_compile(fn, *a, **k):
        compiled.append(getattr(fn, "__name__", type(fn).__name__))

        def wrapped(*args, **kw):
            called.append(1)
            return fn(*args, **kw)

        return wrapped

    monkeypatch.setattr(torch, "compile", fake_compile)
    train, _ = tiny_data
    res = _fit(train.subset(train.samples[:4]), None, tmp_path, 1, model="cvdet-n", model_params={"image_size": 64},
               compile=True, ema=False)
    assert compiled == ["dense"] and called  # the dense part ran compiled
    assert "dense" not in "".join(res.bundle.model.state_dict())  # state dict names unchanged


def test_compile_wraps_other_models_whole(tiny_data, tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda m, *a, **k: compiled.append(type(m).__name__) or m)
    train, _ = tiny_data
    _fit(train.subset(train.samples[:4]), None, tmp_path, 1, compile=True, ema=False)
    assert compiled == ["CompactDetector"]


def test_channels_last_trains_in_that_format(tiny_data, tmp_path):
    train, _ = tiny_data
    res = _fit(train.subset(train.samples[:4]), None, tmp_path, 1, channels_last=True)
    convs = [m.weight for m in res.bundle.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


# ------------------------------------------------------------------ exact resume, everything on

ALL_ON = dict(ema=True, ema_tau=3.0, patience=5, mosaic=1.0, mixup=0.5, close_mosaic=1, multiscale=0.5,
              warmup_bias_lr=0.02, channels_last=True, batch_size=3)


def test_exact_resume_with_the_whole_recipe_on(tiny_data, tmp_path):
    from cvpipe.builtin.augment import build_transforms

    train, val = tiny_data
    aug = build_transforms([{"HorizontalFlip": {"p": 0.5}}, {"RandomBrightnessContrast": {"p": 0.5}}])
    full = _fit(train, val, tmp_path / "full", 3, transform=aug, **ALL_ON)
    with pytest.raises(Interrupt):
        _fit(train, val, tmp_path / "part", 3, transform=aug, stop_after=2, **ALL_ON)
    part_ck = _ck(tmp_path / "part" / "last.pt")
    assert part_ck["epoch"] == 2 and part_ck["train"]["early_stop"]["patience"] == 5
    resumed = _fit(train, val, tmp_path / "part", 3, transform=aug, resume=True, **ALL_ON)
    assert resumed.epochs_run == 1
    a, b = _ck(tmp_path / "full" / "last.pt"), _ck(tmp_path / "part" / "last.pt")
    for key in ("model", "raw"):
        x = a["model"]["state_dict"] if key == "model" else a["train"]["raw_state"]
        y = b["model"]["state_dict"] if key == "model" else b["train"]["raw_state"]
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), (key, k)  # bit-exact EMA and raw weights
    assert a["train"]["ema_updates"] == b["train"]["ema_updates"]
    assert a["train"]["early_stop"] == b["train"]["early_stop"]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert [h.get("AP50") for h in resumed.history] == [h.get("AP50") for h in full.history]
