"""Recipe building blocks: EMA, early stopping, param groups and warm-up, multi-scale, mosaic/mixup."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from cvpipe.engine.early_stop import EarlyStopping  # noqa: E402
from cvpipe.engine.ema import ModelEMA, unwrap_model  # noqa: E402
from cvpipe.engine.mosaic import MosaicMixup  # noqa: E402
from cvpipe.engine.multiscale import MultiScaleSampler  # noqa: E402
from cvpipe.engine.optim import apply_warmup, param_groups  # noqa: E402


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))


def _train_steps(model, ema, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x = torch.rand(4, 3, 6, 6, generator=g)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update(model)
    return opt


# ------------------------------------------------------------------ EMA


def test_ema_warmup_decay_and_average():
    model = _net()
    model(torch.zeros(1, 3, 6, 6))  # materialise the lazy layer
    ema = ModelEMA(model, decay=0.9, tau=2.0)
    assert ema.current_decay() == pytest.approx(0.9 * (1 - np.exp(-0.5)))
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    _train_steps(model, ema, 1)
    d = 0.9 * (1 - np.exp(-0.5))
    w = model[0].weight.detach()
    assert torch.allclose(ema.module[0].weight, before["0.weight"] * d + w * (1 - d), atol=1e-6)
    # integer buffers copied, not averaged
    assert ema.module[1].num_batches_tracked.item() == model[1].num_batches_tracked.item() == 2  # 1 + the lazy call
    _train_steps(model, ema, 5)
    assert not torch.equal(ema.module[0].weight, model[0].weight)  # EMA weights differ from the raw ones
    assert not ema.module[0].weight.requires_grad and not ema.module.training


def test_ema_state_dict_resumes_exactly():
    a = _net()
    a(torch.zeros(1, 3, 6, 6))
    ema_a = ModelEMA(a, decay=0.99, tau=3.0)
    _train_steps(a, ema_a, 3, seed=1)
    state = {k: (v.copy() if isinstance(v, dict) else v) for k, v in ema_a.state_dict().items()}
    state["module"] = {k: v.clone() for k, v in state["module"].items()}
    model_state = {k: v.clone() for k, v in a.state_dict().items()}
    _train_steps(a, ema_a, 2, seed=2)
    # resume from the saved state into fresh objects, run the same two steps
    b = _net()
    b(torch.zeros(1, 3, 6, 6))
    b.load_state_dict(model_state)
    ema_b = ModelEMA(b)
    ema_b.load_state_dict(state)
    assert ema_b.updates == 3 and ema_b.decay == 0.99
    _train_steps(b, ema_b, 2, seed=2)
    for (k, x), y in zip(ema_a.module.state_dict().items(), ema_b.module.state_dict().values()):
        assert torch.equal(x, y), k


def test_ema_unwraps_compiled_and_parallel():
    m = _net()
    assert unwrap_model(nn.DataParallel(m)) is m
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(m, decay=1.0)


# ------------------------------------------------------------------ early stopping


def test_early_stopping_patience_and_best():
    es = EarlyStopping(patience=2)
    assert es.step(0, 0.1) and es.best_epoch == 0
    assert es.step(1, 0.3)
    assert not es.step(2, 0.3) and not es.should_stop  # equal is no improvement
    assert not es.step(3, float("nan")) and es.should_stop
    assert es.best == 0.3 and es.best_epoch == 1
    state = es.state_dict()
    fresh = EarlyStopping(patience=2)
    fresh.load_state_dict(state)
    assert fresh.should_stop and fresh.best_epoch == 1 and fresh.bad_epochs == 2


def test_early_stopping_min_mode_delta_and_disabled():
    es = EarlyStopping(patience=1, mode="min", min_delta=0.05)
    es.step(0, 1.0)
    assert not es.step(1, 0.97) and es.should_stop
    never = EarlyStopping(patience=0)
    for e in range(5):
        never.step(e, 0.0)
    assert not never.should_stop
    with pytest.raises(ValueError):
        EarlyStopping(patience=-1)


# ------------------------------------------------------------------ param groups and warm-up


def test_param_groups_no_decay_on_norms_and_biases():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4))
    m[0].weight.requires_grad_(False)  # frozen: left out
    groups = {g["name"]: g for g in param_groups(m, 5e-4)}
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(groups["decay"]["params"]) == {id(m[2].weight)}
    assert ids(groups["no_decay"]["params"]) == {id(m[1].weight), id(m[3].weight)}
    assert ids(groups["bias"]["params"]) == {id(m[1].bias), id(m[2].bias), id(m[3].bias)}
    assert groups["decay"]["weight_decay"] == 5e-4
    assert groups["no_decay"]["weight_decay"] == groups["bias"]["weight_decay"] == 0.0


def test_bias_lr_warms_down_others_up():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = torch.optim.SGD(param_groups(m, 1e-4), lr=0.01, momentum=0.9)
    names = [g["name"] for g in opt.param_groups]
    lrs = []
    for step in range(6):
        apply_warmup(opt, step, 4, [0.01] * len(names), warmup_bias_lr=0.1)
        lrs.append({n: g["lr"] for n, g in zip(names, opt.param_groups)})
    assert lrs[0]["decay"] == pytest.approx(0.0025) and lrs[0]["bias"] == pytest.approx(0.1 - 0.09 * 0.25)
    assert all(a["bias"] > b["bias"] for a, b in zip(lrs[:3], lrs[1:4]))
    assert all(a["decay"] < b["decay"] for a, b in zip(lrs[:3], lrs[1:4]))
    assert lrs[4] == lrs[5] == {n: pytest.approx(0.01) for n in names}


# ------------------------------------------------------------------ multi-scale


def test_multiscale_sizes_vary_seeded_multiples():
    ms = MultiScaleSampler(320, 0.5, 1.5, seed=3)
    assert ms.sizes == list(range(160, 481, 32))
    sizes = [ms.size(e, s) for e in range(3) for s in range(20)]
    assert all(v % 32 == 0 and 160 <= v <= 480 for v in sizes)
    assert len(set(sizes)) > 3  # they vary
    assert sizes == [MultiScaleSampler(320, 0.5, 1.5, seed=3).size(e, s) for e in range(3) for s in range(20)]
    assert sizes != [MultiScaleSampler(320, 0.5, 1.5, seed=4).size(e, s) for e in range(3) for s in range(20)]
    with pytest.raises(ValueError):
        MultiScaleSampler(300)


# ------------------------------------------------------------------ mosaic and mixup


def _dataset(shapes, boxes):
    imgs = [np.full((h, w, 3), 10 * (i + 1), np.uint8) for i, (h, w) in enumerate(shapes)]

    def load(i):
        b = np.asarray(boxes[i], np.float64).reshape(-1, 4)
        return imgs[i], b, np.arange(len(b), dtype=np.int64) + 10 * i

    return load


box_st = st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.01, 1), st.floats(0.01, 1))


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.tuples(st.integers(8, 60), st.integers(8, 60)), min_size=1, max_size=5),
    rel=st.lists(st.lists(box_st, max_size=4), min_size=5, max_size=5),
    seed=st.integers(0, 2**16), epoch=st.integers(0, 3), mixup=st.booleans(), size=st.sampled_from([32, 48, 64]),
)
def test_mosaic_boxes_exact_property(shapes, rel, seed, epoch, mixup, size):
    boxes = []
    for (h, w), rs in zip(shapes, rel):
        bs = [[x * w, y * h, min(w, x * w + bw * w), min(h, y * h + bh * h)] for x, y, bw, bh in rs]
        boxes.append(bs)
    load = _dataset(shapes, boxes)
    mm = MosaicMixup(load, len(shapes), size, mixup_prob=1.0 if mixup else 0.0, seed=seed)
    res = mm(epoch, 0)
    assert res.image.shape == (size, size, 3) and res.image.dtype == np.uint8
    assert len(res.boxes) == len(res.labels) == len(res.origin)
    expected_count = 0
    for p_no, part in enumerate(res.parts):
        src = np.asarray(boxes[part.index], np.float64).reshape(-1, 4)
        t = src.copy()
        t[:, 0::2] = (src[:, 0::2] * part.sx + part.ox).clip(part.region[0], part.region[2])
        t[:, 1::2] = (src[:, 1::2] * part.sy + part.oy).clip(part.region[1], part.region[3])
        nonempty = (t[:, 2] > t[:, 0]) & (t[:, 3] > t[:, 1])
        expected_count += int(nonempty.sum())
        rows = res.origin[:, 0] == p_no
        # every output box of this part is its input box transformed and clipped, none empty ...
        assert np.array_equal(res.boxes[rows], t[res.origin[rows, 1]])
        assert np.array_equal(res.labels[rows], np.arange(len(src))[res.origin[rows, 1]] + 10 * part.index)
        # ... and exactly the non-empty ones are kept
        assert sorted(res.origin[rows, 1].tolist()) == np.nonzero(nonempty)[0].tolist()
        x1, y1, x2, y2 = part.region
        assert 0 <= x1 <= x2 <= size and 0 <= y1 <= y2 <= size
    assert len(res.boxes) == expected_count
    assert (res.boxes[:, 2] > res.boxes[:, 0]).all() and (res.boxes[:, 3] > res.boxes[:, 1]).all()
    assert (res.boxes >= 0).all() and (res.boxes <= size).all()
    assert res.mixed == mixup and len(res.parts) == 4 + (1 if mixup else 0)


def test_mosaic_deterministic_for_a_seed_and_pixels_placed():
    load = _dataset([(20, 30), (40, 20), (25, 25), (30, 30)], [[[1, 1, 10, 10]]] * 4)
    a = MosaicMixup(load, 4, 64, seed=7)(1, 2)
    b = MosaicMixup(load, 4, 64, seed=7)(1, 2)
    c = MosaicMixup(load, 4, 64, seed=8)(1, 2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert not (np.array_equal(a.image, c.image) and np.array_equal(a.boxes, c.boxes))
    for part in a.parts:  # each region shows its source image's (uniform) grey level
        x1, y1, x2, y2 = part.region
        if x2 > x1 and y2 > y1:
            assert (a.image[y1:y2, x1:x2] == 10 * (part.index + 1)).all()


def test_close_mosaic_returns_the_plain_image():
    load = _dataset([(20, 30), (40, 20)], [[[1, 2, 10, 12]], []])
    mm = MosaicMixup(load, 2, 64, mixup_prob=1.0, epochs=10, close_mosaic=2, seed=0)
    assert mm.active(7) and not mm.active(8) and not mm.active(9)
    res = mm(8, 0)
    assert res.image.shape == (20, 30, 3) and res.boxes.tolist() == [[1, 2, 10, 12]] and not res.mixed
    assert mm(7, 0).image.shape == (64, 64, 3)


def test_mixup_blends_two_images():
    load = _dataset([(16, 16), (16, 16)], [[[0, 0, 8, 8]], [[8, 8, 16, 16]]])
    mm = MosaicMixup(load, 2, 32, mosaic_prob=0.0, mixup_prob=1.0, seed=1)
    res = mm(0, 0)
    assert res.mixed and len(res.boxes) == 2
    other = res.parts[1].index
    want = np.rint(10 * 0.5 + 10 * (other + 1) * 0.5)
    assert (res.image == want).all()
    assert res.boxes[0].tolist() == [0, 0, 16, 16]


def test_dataset_loader_feeds_the_mosaic(tmp_path):
    from cvpipe.engine.mosaic import dataset_loader
    from cvpipe.formats import read_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path / "shapes"
    synthesize_voc(root, images=4, seed=1, size=(80, 60), object_size=(14, 30), objects_per_image=(1, 2))
    ds = read_dataset(root, "voc")
    load = dataset_loader(ds)
    image, boxes, labels = load(0)
    assert image.shape == (60, 80, 3) and boxes.shape == (len(labels), 4) and len(labels) >= 1
    res = MosaicMixup(load, len(ds.samples), 64, mixup_prob=0.5, seed=2)(0, 1)
    assert res.image.shape == (64, 64, 3) and len(res.boxes) == len(res.labels)
