"""cvdet: shapes per size, assigner cases, DFL round trip, tiny overfit, eval coordinates, plugin."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402

from cvpipe.errors import ConfigError  # noqa: E402
from cvpipe.models.cvdet import CvdetDetector  # noqa: E402
from cvpipe.models.cvdet_settings import CvdetSettings  # noqa: E402
from cvpipe.models.tal import (  # noqa: E402
    TaskAlignedAssigner, anchor_points, boxes_to_ltrb, dfl_expectation, dfl_loss, ltrb_to_boxes,
)


@pytest.fixture()
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(size="n", num_classes=3, **kw):
    torch.manual_seed(0)
    return CvdetDetector(num_classes, size, CvdetSettings(image_size=64, **kw))


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("size", ["n", "s", "m"])
def test_raw_shapes_per_size(size, one_thread):
    m = _model(size, num_classes=3).eval()
    x = torch.zeros(2, 3, 64, 64)
    with torch.no_grad():
        raw = m.raw_forward(x)
    n = 8 * 8 + 4 * 4 + 2 * 2  # strides 8, 16, 32 on 64 px
    assert raw["logits"].shape == (2, n, 3)
    assert raw["reg"].shape == (2, n, 4 * 17)
    assert raw["boxes"].shape == (2, n, 4)
    assert raw["points"].shape == (n, 2) and raw["point_strides"].tolist()[:1] == [8.0]
    assert raw["point_strides"].tolist()[-1] == 32.0


def test_sizes_grow():
    counts = [sum(p.numel() for p in CvdetDetector(2, s, CvdetSettings(image_size=64)).parameters()) for s in "nsm"]
    assert counts[0] < counts[1] < counts[2]


# ------------------------------------------------------------------ DFL and geometry


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 15.99, allow_nan=False), min_size=4, max_size=4))
def test_dfl_encode_decode_round_trip(dist):
    reg_max = 16
    t = torch.tensor([dist], dtype=torch.float64)
    # the two-bin distribution DFL targets: weights (right - t, t - left) on bins left, right
    left = t.floor().long()
    wl = (left + 1).to(t.dtype) - t
    prob = torch.zeros(1, 4, reg_max + 1, dtype=torch.float64)
    prob.scatter_(2, left[..., None], wl[..., None])
    prob.scatter_add_(2, (left + 1)[..., None], (1 - wl)[..., None])
    logits = prob.clamp(min=1e-30).log().reshape(1, -1)
    assert torch.allclose(dfl_expectation(logits, reg_max), t, atol=1e-9)
    # that distribution is where the loss is smallest: any other one costs more
    assert dfl_loss(logits, t, reg_max) < dfl_loss(torch.zeros_like(logits), t, reg_max)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 60), st.floats(0, 60), st.floats(0.5, 40), st.floats(0.5, 40), st.sampled_from([8, 16, 32]))
def test_ltrb_boxes_round_trip(x1, y1, w, h, stride):
    box = torch.tensor([[x1, y1, x1 + w, y1 + h]], dtype=torch.float64)
    pt = torch.tensor([[x1 + w / 3, y1 + h / 2]], dtype=torch.float64)
    s = torch.tensor([float(stride)], dtype=torch.float64)
    ltrb = boxes_to_ltrb(pt, box, s)
    assert (ltrb >= 0).all()
    assert torch.allclose(ltrb_to_boxes(pt, ltrb, s), box, atol=1e-9)


def test_anchor_points_order():
    pts, strides = anchor_points([(2, 3), (1, 1)], [8, 16])
    assert pts.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12], [8, 8]]
    assert strides.tolist() == [8] * 6 + [16]


# ------------------------------------------------------------------ assigner


def _grid():
    """A 4x4 grid of stride-8 points on a 32 px image (centres 4, 12, 20, 28)."""
    pts, _ = anchor_points([(4, 4)], [8])
    return pts


def test_assigner_topk_inside_box_only():
    pts = _grid()
    n = len(pts)
    gt = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    scores = torch.full((n, 2), 0.5)
    pred = gt.repeat(n, 1) + 2.0  # every prediction the same, shifted
    pred[5] = gt[0]  # point (12, 12) predicts the box exactly
    a = TaskAlignedAssigner(topk=1)(scores, pred, pts, gt, torch.tensor([1]))
    assert a.fg.nonzero().flatten().tolist() == [5]
    a = TaskAlignedAssigner(topk=10)(scores, pred, pts, gt, torch.tensor([1]))
    # only the four points strictly inside the box, even with topk 10
    assert a.fg.nonzero().flatten().tolist() == [0, 1, 4, 5]
    assert a.boxes[a.fg].tolist() == [[0, 0, 16, 16]] * 4
    # class 1 targets; the best-aligned point's target is the box's best IoU (1.0)
    assert a.scores[:, 0].eq(0).all()
    assert a.scores[5, 1].item() == pytest.approx(1.0, abs=1e-6)
    assert (a.scores[[0, 1, 4], 1] < a.scores[5, 1]).all() and (a.scores[[0, 1, 4], 1] > 0).all()


def test_assigner_alignment_uses_scores_and_iou():
    pts = _grid()
    n = len(pts)
    gt = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    pred = gt.repeat(n, 1)  # equal IoU everywhere
    scores = torch.full((n, 1), 0.1)
    scores[4, 0] = 0.9  # point (4, 12) is the most confident
    a = TaskAlignedAssigner(topk=1)(scores, pred, pts, gt, torch.tensor([0]))
    assert a.fg.nonzero().flatten().tolist() == [4]


def test_assigner_conflict_goes_to_highest_iou():
    pts = _grid()
    n = len(pts)
    a_box = torch.tensor([0.0, 0.0, 16.0, 16.0])
    b_box = torch.tensor([8.0, 8.0, 24.0, 24.0])  # both contain point 5 at (12, 12)
    gt = torch.stack([a_box, b_box])
    pred = torch.zeros(n, 4)
    pred[:] = torch.tensor([30.0, 30.0, 31.0, 31.0])  # overlaps nothing
    pred[5] = torch.tensor([9.0, 9.0, 24.0, 24.0])  # overlaps b best
    scores = torch.full((n, 2), 0.5)
    a = TaskAlignedAssigner(topk=1)(scores, pred, pts, gt, torch.tensor([0, 1]))
    assert bool(a.fg[5]) and a.gt_index[5].item() == 1
    assert a.boxes[5].tolist() == b_box.tolist()
    assert a.scores[5, 0].item() == 0 and a.scores[5, 1].item() > 0


def test_assigner_no_boxes():
    pts = _grid()
    a = TaskAlignedAssigner()(torch.rand(16, 3), torch.rand(16, 4), pts, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    assert not a.fg.any() and a.scores.eq(0).all()


def test_assigner_small_box_with_no_point_inside_has_no_positive():
    pts = _grid()
    gt = torch.tensor([[5.0, 5.0, 7.0, 7.0]])  # between centres
    a = TaskAlignedAssigner(topk=5)(torch.rand(16, 1), torch.rand(16, 4) * 30, pts, gt, torch.tensor([0]))
    assert not a.fg.any()


# ------------------------------------------------------------------ training and eval


def test_tiny_overfit_loss_finite_and_decreasing(one_thread):
    m = _model("n", num_classes=2).train()
    torch.manual_seed(1)
    imgs = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 36.0]]), "labels": torch.tensor([0])},
               {"boxes": torch.tensor([[20.0, 10.0, 60.0, 50.0], [2.0, 30.0, 20.0, 62.0]]), "labels": torch.tensor([1, 0])}]
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    totals = []
    for _ in range(30):
        losses = m(imgs, targets)
        assert set(losses) == {"cls_loss", "box_loss", "dfl_loss"}
        total = sum(losses.values())
        assert torch.isfinite(total)
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    assert min(totals[-5:]) < 0.6 * totals[0]


def test_loss_without_boxes_is_finite(one_thread):
    m = _model().train()
    losses = m([torch.rand(3, 64, 64)], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["box_loss"].item() == 0 and losses["dfl_loss"].item() == 0
    sum(losses.values()).backward()


def test_eval_output_in_image_coordinates(one_thread):
    m = _model(num_classes=2).eval()
    n = 84
    logits = torch.full((1, n, 2), -10.0)
    logits[0, 7, 1] = 5.0
    boxes = torch.zeros(1, n, 4)
    boxes[0, 7] = torch.tensor([10.0, 20.0, 30.0, 40.0])  # resized (64 px) pixels
    boxes[0, 8] = torch.tensor([-5.0, 0.0, 70.0, 64.0])
    logits[0, 8, 0] = 4.0
    raw = {"logits": logits, "boxes": boxes}
    # input image 128 wide, 96 high: sx = 2, sy = 1.5
    (det,) = m.detect(raw, torch.tensor([[2.0, 1.5]]))
    assert det["labels"].tolist() == [1, 0]
    assert det["boxes"][0].tolist() == [20.0, 30.0, 60.0, 60.0]
    assert det["boxes"][1].tolist() == [0.0, 0.0, 128.0, 96.0]  # clipped to the image
    assert det["scores"][0].item() == pytest.approx(1 / (1 + math.exp(-5.0)))


def test_eval_forward_on_any_image_size(one_thread):
    m = _model().eval()
    with torch.no_grad():
        out = m([torch.rand(3, 50, 90), torch.rand(3, 64, 64)])
    assert len(out) == 2
    b = out[0]["boxes"]
    assert (b[:, 2] <= 90).all() and (b[:, 3] <= 50).all() and (b >= 0).all()
    assert out[0]["labels"].dtype == torch.int64


def test_postprocess_chain_from_the_registry(one_thread):
    m = _model(postprocess=[{"nms": {"iou": 0.5}}, {"topk": {"k": 2}}]).eval()
    with torch.no_grad():
        out = m([torch.rand(3, 64, 64)])
    assert len(out[0]["scores"]) <= 2


# ------------------------------------------------------------------ plugin


def test_registered_sizes_and_settings_errors():
    from cvpipe.plugins import get_registry

    reg = get_registry()
    assert {"cvdet-n", "cvdet-s", "cvdet-m"} <= set(reg.models.names())
    with pytest.raises(ConfigError) as err:
        reg.models.create("cvdet-n", {"image_size": 31, "reg_max": 0}, 2, where="model_params")
    text = str(err.value)
    assert "image_size" in text and "multiple of 32" in text and "reg_max" in text
    with pytest.raises(ConfigError, match="imgsz"):
        reg.models.create("cvdet-n", {"imgsz": 320}, 2)
    with pytest.raises(ConfigError, match="decoder"):
        reg.models.create("cvdet-n", {"postprocess": [{"decode_yolo": {"strides": [8], "anchors": [[10, 13]]}}]}, 2)
    with pytest.raises(ConfigError, match="backbone"):
        reg.models.create("cvdet-n", {"backbone": "resnet18"}, 2)


def test_factory_builds_and_loads_weights(tmp_path, one_thread):
    from cvpipe.plugins import get_registry

    reg = get_registry()
    m = reg.models.create("cvdet-n", {"image_size": 64}, 2)
    assert isinstance(m, CvdetDetector) and m.image_size == 64
    path = tmp_path / "w.pt"
    torch.save(m.state_dict(), path)
    m2 = reg.models.create("cvdet-n", {"image_size": 64, "weights": str(path)}, 2)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    bb = tmp_path / "bb.pt"
    torch.save(m.backbone.state_dict(), bb)
    m3 = reg.models.create("cvdet-n", {"image_size": 64, "weights_backbone": str(bb)}, 2)
    assert torch.equal(m3.backbone.stem[0].weight, m.backbone.stem[0].weight)
