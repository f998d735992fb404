"""cvpipe.ops overlap measures against torchvision.ops, on random and degenerate boxes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tvops = pytest.importorskip("torchvision.ops")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cvpipe import ops  # noqa: E402

PAIRWISE_TV = {
    "iou": tvops.box_iou,
    "giou": tvops.generalized_box_iou,
    "diou": tvops.distance_box_iou,
    "ciou": tvops.complete_box_iou,
}
LOSS_TV = {
    "giou": tvops.generalized_box_iou_loss,
    "diou": tvops.distance_box_iou_loss,
    "ciou": tvops.complete_box_iou_loss,
}
LOWER = {"iou": 0.0, "giou": -1.0, "diou": -1.0, "ciou": -1.5}


def random_boxes(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 100
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 60 + 0.5
    return torch.cat([xy, xy + wh], dim=1)


# zero-area points, zero-width / zero-height lines, identical, nested, touching, disjoint boxes
DEGENERATE = torch.tensor(
    [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [5.0, 5.0, 5.0, 5.0],
        [2.0, 1.0, 2.0, 8.0],
        [1.0, 3.0, 9.0, 3.0],
        [0.0, 0.0, 10.0, 10.0],
        [0.0, 0.0, 10.0, 10.0],
        [2.0, 2.0, 4.0, 4.0],
        [10.0, 0.0, 20.0, 10.0],
        [50.0, 50.0, 60.0, 55.0],
    ],
    dtype=torch.float64,
)


@pytest.mark.parametrize("kind", ops.IOU_KINDS)
def test_pairwise_matches_torchvision_on_random_boxes(kind):
    a, b = random_boxes(40, 1), random_boxes(30, 2)
    got = ops.pairwise_iou(a, b, kind)
    assert got.shape == (40, 30)
    torch.testing.assert_close(got, PAIRWISE_TV[kind](a, b), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ops.IOU_KINDS)
def test_pairwise_on_degenerate_boxes_matches_torchvision_where_defined_and_is_never_nan(kind):
    got = ops.pairwise_iou(DEGENERATE, DEGENERATE, kind)
    ref = PAIRWISE_TV[kind](DEGENERATE, DEGENERATE)
    assert not torch.isnan(got).any()
    defined = ~torch.isnan(ref)
    assert (~defined).any(), "the degenerate set should include pairs torchvision leaves undefined"
    torch.testing.assert_close(got[defined], ref[defined], rtol=0, atol=1e-12)
    # undefined pairs get the element-wise (eps) value
    i, j = (~defined).nonzero(as_tuple=True)
    torch.testing.assert_close(got[i, j], ops.elementwise_iou(DEGENERATE[i], DEGENERATE[j], kind), rtol=0, atol=0)
    # identical positive-area boxes are 1; disjoint points are -1 for GIoU
    assert got[5, 6] == pytest.approx(1.0)
    if kind == "giou":
        assert got[0, 2] == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["giou", "diou", "ciou"])
def test_elementwise_is_one_minus_torchvision_loss(kind):
    a, b = random_boxes(200, 3), random_boxes(200, 4)
    b[:50] = a[:50]  # some identical pairs
    torch.testing.assert_close(ops.elementwise_iou(a, b, kind), 1 - LOSS_TV[kind](a, b), rtol=0, atol=1e-12)
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            ops.iou_loss(a, b, kind, reduction=reduction), LOSS_TV[kind](a, b, reduction=reduction), rtol=0, atol=1e-10
        )


def test_elementwise_iou_matches_box_iou_diagonal():
    a, b = random_boxes(100, 5), random_boxes(100, 6)
    torch.testing.assert_close(ops.elementwise_iou(a, b, "iou"), torch.diag(tvops.box_iou(a, b)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ops.IOU_KINDS)
def test_elementwise_degenerate_is_defined(kind):
    a = DEGENERATE
    b = DEGENERATE.flip(0)
    got = ops.elementwise_iou(a, b, kind)
    assert not torch.isnan(got).any()
    if kind in LOSS_TV:
        ref = 1 - LOSS_TV[kind](a, b)
        defined = ~torch.isnan(ref)
        torch.testing.assert_close(got[defined], ref[defined], rtol=0, atol=1e-12)


def test_ciou_gradient_is_finite_for_point_boxes():
    pred = torch.tensor([[3.0, 3.0, 3.0, 3.0], [0.0, 0.0, 4.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 2.0, 5.0]])
    loss = ops.iou_loss(pred, target, "ciou", reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_ciou_can_go_below_minus_one_as_torchvision_computes_it():
    # a flat box far from a thin one: DIoU near -1, aspect penalty near 0.5
    a = torch.tensor([[0.0, 0.0, 10.0, 0.001]], dtype=torch.float64)
    b = torch.tensor([[1000.0, 0.0, 1000.001, 10.0]], dtype=torch.float64)
    got = ops.pairwise_iou(a, b, "ciou")
    torch.testing.assert_close(got, tvops.complete_box_iou(a, b))
    assert -1.5 <= got.item() < -1.4


def test_numpy_in_tensor_out_and_empty_inputs():
    a = random_boxes(4, 7).numpy()
    out = ops.pairwise_iou(a, a.astype(np.float32), "giou")
    assert isinstance(out, torch.Tensor) and out.shape == (4, 4)
    assert ops.pairwise_iou(np.zeros((0, 4)), a).shape == (0, 4)
    assert ops.elementwise_iou(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    assert ops.iou_loss(np.zeros((0, 4)), np.zeros((0, 4)), reduction="mean").item() == 0.0
    ints = ops.pairwise_iou(torch.tensor([[0, 0, 2, 2]]), torch.tensor([[1, 1, 3, 3]]))
    assert ints.dtype == torch.float32 and ints.item() == pytest.approx(1 / 7)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="kind"):
        ops.pairwise_iou(random_boxes(2, 0), random_boxes(2, 1), kind="jaccard")
    with pytest.raises(ValueError, match="reduction"):
        ops.iou_loss(random_boxes(2, 0), random_boxes(2, 1), reduction="avg")
    with pytest.raises(ValueError, match="boxes1"):
        ops.pairwise_iou(torch.zeros(3, 5), random_boxes(2, 1))


# ---------------------------------------------------------------------------------- properties

coord = st.floats(0, 100, allow_nan=False, width=64)
size = st.one_of(st.just(0.0), st.floats(0, 50, allow_nan=False, width=64))
box = st.tuples(coord, coord, size, size).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])
box_sets = st.lists(box, min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(box_sets, box_sets)
def test_pairwise_properties(b1, b2):
    a = torch.tensor(b1, dtype=torch.float64)
    b = torch.tensor(b2, dtype=torch.float64)
    for kind in ops.IOU_KINDS:
        ab = ops.pairwise_iou(a, b, kind)
        ba = ops.pairwise_iou(b, a, kind)
        assert not torch.isnan(ab).any()
        torch.testing.assert_close(ab, ba.T, rtol=0, atol=1e-9)  # symmetric
        assert (ab >= LOWER[kind] - 1e-9).all() and (ab <= 1 + 1e-9).all()


@settings(max_examples=60, deadline=None)
@given(box_sets, box_sets)
def test_elementwise_properties(b1, b2):
    n = min(len(b1), len(b2))
    a = torch.tensor(b1[:n], dtype=torch.float64)
    b = torch.tensor(b2[:n], dtype=torch.float64)
    for kind in ops.IOU_KINDS:
        v = ops.elementwise_iou(a, b, kind)
        assert not torch.isnan(v).any()
        torch.testing.assert_close(v, ops.elementwise_iou(b, a, kind), rtol=0, atol=1e-9)
        assert (v >= LOWER[kind] - 1e-9).all() and (v <= 1 + 1e-9).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coord, coord, st.floats(1, 50), st.floats(1, 50)), min_size=1, max_size=8))
def test_identical_boxes_score_one(raw):
    a = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in raw], dtype=torch.float64)
    for kind in ops.IOU_KINDS:
        torch.testing.assert_close(torch.diag(ops.pairwise_iou(a, a, kind)), torch.ones(len(a), dtype=torch.float64))
        torch.testing.assert_close(ops.elementwise_iou(a, a, kind), torch.ones(len(a), dtype=torch.float64), atol=2e-7, rtol=0)  # eps = 1e-7, area >= 1
