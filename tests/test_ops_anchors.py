"""Anchor generation against torchvision's AnchorGenerator; box coding round trips."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torchvision.models.detection._utils import BoxCoder  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.image_list import ImageList  # noqa: E402

from cvpipe import ops  # noqa: E402


def test_anchor_grid_matches_torchvision_anchor_generator():
    sizes = ((32, 40), (64,), (128,))
    ratios = ((0.5, 1.0, 2.0),) * 3
    feats = [torch.zeros(1, 8, 8, 12), torch.zeros(1, 8, 4, 6), torch.zeros(1, 8, 2, 3)]
    images = ImageList(torch.zeros(1, 3, 64, 96), [(64, 96)])
    ref = AnchorGenerator(sizes, ratios)(images, feats)[0]
    got = ops.anchor_grid([(8, 12), (4, 6), (2, 3)], [8, 16, 32], sizes, [0.5, 1.0, 2.0])
    assert torch.equal(got, ref)
    assert ops.num_anchors_per_location(sizes, [0.5, 1.0, 2.0]) == [6, 3, 3]
    per_level = ops.anchor_grid([(8, 12), (4, 6), (2, 3)], [8, 16, 32], sizes, ratios, concat=False)
    assert [len(a) for a in per_level] == [8 * 12 * 6, 4 * 6 * 3, 2 * 3 * 3]


def test_anchor_grid_by_hand():
    # one level, 1x2 grid, stride 8, size 32, ratios 1 and 4 (h = 2 w)
    a = ops.anchor_grid([(1, 2)], [8], [[32]], [1.0, 4.0])
    expected = torch.tensor([
        [-16.0, -16.0, 16.0, 16.0], [-8.0, -32.0, 8.0, 32.0],  # (y=0, x=0): ratio 1, ratio 4
        [-8.0, -16.0, 24.0, 16.0], [0.0, -32.0, 16.0, 32.0],  # (y=0, x=1)
    ])
    assert torch.equal(a, expected)
    centred = ops.anchor_grid([(1, 2)], [(8, 8)], [[32]], [1.0, 4.0], offset=0.5)
    assert torch.equal(centred, expected + 4)


def test_encode_matches_formula_and_torchvision_box_coder():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    gt = torch.tensor([[2.0, 4.0, 22.0, 24.0]])
    d = ops.encode_boxes(gt, anchors, weights=(10.0, 10.0, 5.0, 5.0))
    expected = torch.tensor([[10 * (12 - 5) / 10, 10 * (14 - 10) / 20, 5 * math.log(20 / 10), 5 * math.log(20 / 20)]])
    torch.testing.assert_close(d, expected)
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    torch.testing.assert_close(d, coder.encode_single(gt, anchors))


boxes_st = st.lists(
    st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 300), st.floats(1, 300)), min_size=1, max_size=20
)


@settings(max_examples=50, deadline=None)
@given(boxes_st, boxes_st, st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0), (0.5, 2.0, 1.0, 3.0)]))
def test_encode_decode_round_trip_is_identity(gt_raw, anchor_raw, weights):
    n = min(len(gt_raw), len(anchor_raw))
    gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in gt_raw[:n]], dtype=torch.float64)
    anchors = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in anchor_raw[:n]], dtype=torch.float64)
    ratios = (gt[:, 2:] - gt[:, :2]) / (anchors[:, 2:] - anchors[:, :2])
    # decoding clamps log size ratios at log(1000 / 16) (torchvision's bbox_xform_clip), so the
    # round trip is the identity for boxes up to 62.5 times their anchor's width / height
    assume(bool((ratios < 60).all()))
    deltas = ops.encode_boxes(gt, anchors, weights)
    torch.testing.assert_close(ops.decode_boxes(deltas, anchors, weights), gt, rtol=1e-9, atol=1e-7)


def test_decode_is_batched_and_clamps_like_torchvision():
    anchors = ops.anchor_grid([(3, 4)], [16], [[32]], [0.5, 1.0, 2.0])
    g = torch.Generator().manual_seed(0)
    deltas = torch.randn(2, len(anchors), 4, generator=g) * 3  # some dw/dh beyond the clamp
    got = ops.decode_boxes(deltas, anchors, (10.0, 10.0, 5.0, 5.0))
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    assert got.shape == deltas.shape
    for b in range(2):
        torch.testing.assert_close(got[b], coder.decode_single(deltas[b], anchors))


def test_anchor_and_coder_arguments_are_checked():
    with pytest.raises(ValueError, match="one entry per level"):
        ops.anchor_grid([(2, 2)], [8, 16], [[32]])
    with pytest.raises(ValueError, match="weights"):
        ops.encode_boxes(torch.zeros(1, 4), torch.ones(1, 4), weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="anchors"):
        ops.decode_boxes(torch.zeros(2, 3, 4), torch.ones(2, 4))
