"""Head decoding: YOLO grid against hand-computed values, anchor heads against the box coder."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from torchvision.models.detection._utils import BoxCoder  # noqa: E402

from cvpipe import ops  # noqa: E402

LN3 = math.log(3.0)  # sigmoid(ln 3) = 0.75


def yolo_2x2():
    """One level, 2x2 grid, stride 8, one anchor (10 x 20), two classes."""
    raw = torch.zeros(1, 1 * (5 + 2), 2, 2)  # all logits 0 -> sigmoid 0.5
    raw[0, 0, 1, 1] = LN3  # tx at cell (y=1, x=1)
    raw[0, 2, 1, 1] = LN3  # tw at cell (1, 1)
    raw[0, 3, 0, 1] = -LN3  # th at cell (y=0, x=1): sigmoid 0.25
    raw[0, 6, 1, 0] = LN3  # class 1 at cell (y=1, x=0)
    raw[0, 4, 0, 0] = LN3  # objectness at cell (0, 0)
    return raw


def test_yolo_level_by_hand_on_2x2_grid():
    boxes, obj, cls = ops.yolo_level_boxes(yolo_2x2(), [[10.0, 20.0]], stride=8)
    # cx = (2 s(tx) - 0.5 + x) * 8, w = (2 s(tw))^2 * 10, h = (2 s(th))^2 * 20
    # cell (0,0): s = .5 everywhere -> cx = cy = 4, w = 10, h = 20
    # cell (0,1): cx = 12, cy = 4, w = 10, h = (2 * .25)^2 * 20 = 5
    # cell (1,0): cx = 4, cy = 12, w = 10, h = 20
    # cell (1,1): cx = (1.5 - .5 + 1) * 8 = 16, cy = 12, w = 1.5^2 * 10 = 22.5, h = 20
    expected = torch.tensor([
        [4 - 5, 4 - 10, 4 + 5, 4 + 10],
        [12 - 5, 4 - 2.5, 12 + 5, 4 + 2.5],
        [4 - 5, 12 - 10, 4 + 5, 12 + 10],
        [16 - 11.25, 12 - 10, 16 + 11.25, 12 + 10],
    ])
    torch.testing.assert_close(boxes[0], expected)
    torch.testing.assert_close(obj[0], torch.tensor([0.75, 0.5, 0.5, 0.5]))
    torch.testing.assert_close(cls[0], torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.75], [0.5, 0.5]]))


def test_decode_yolo_scores_and_labels_on_2x2_grid():
    raw = yolo_2x2()
    # best class per box: scores obj * max cls = .375, .25, .375, .25; ties broken to class 0
    dets = ops.decode_yolo([raw], [[[10.0, 20.0]]], [8], score_threshold=0.3)
    assert len(dets) == 1
    torch.testing.assert_close(dets[0]["scores"], torch.tensor([0.375, 0.375]))
    assert sorted(dets[0]["labels"].tolist()) == [0, 1]
    # multi-label: every (box, class) pair above 0.2: 4 boxes x 2 classes, all >= .25
    multi = ops.decode_yolo([raw], [[[10.0, 20.0]]], [8], score_threshold=0.2, multi_label=True)[0]
    assert len(multi["scores"]) == 8
    clipped = ops.decode_yolo([raw], [[[10.0, 20.0]]], [8], score_threshold=0.3, image_sizes=[(16, 16)])[0]
    assert clipped["boxes"].min() >= 0 and clipped["boxes"].max() <= 16


def test_decode_yolo_two_anchors_two_levels_order():
    g = torch.Generator().manual_seed(0)
    lv1 = torch.randn(2, 2 * 7, 4, 4, generator=g)
    lv2 = torch.randn(2, 2 * 7, 2, 2, generator=g)
    anchors = [[[10, 13], [16, 30]], [[30, 61], [62, 45]]]
    dets = ops.decode_yolo([lv1, lv2], anchors, [8, 16], score_threshold=0.0, max_candidates=None, multi_label=True)
    assert len(dets) == 2 and len(dets[0]["scores"]) == (2 * 16 + 2 * 4) * 2
    # anchor 1, cell (y=2, x=3) of level 1 is row 1*16 + 2*4 + 3 of the level
    b, _, _ = ops.yolo_level_boxes(lv1, anchors[0], 8)
    p = lv1[0, 7:14, 2, 3].sigmoid()
    cx, cy = (2 * p[0] - 0.5 + 3) * 8, (2 * p[1] - 0.5 + 2) * 8
    w, h = (2 * p[2]) ** 2 * 16, (2 * p[3]) ** 2 * 30
    torch.testing.assert_close(b[0, 16 + 2 * 4 + 3], torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))


def test_flatten_levels_follows_anchor_grid_order():
    a, k, h, w = 3, 5, 2, 4
    # value = a * 1000 + k * 100 + y * 10 + x
    lv = torch.zeros(1, a * k, h, w)
    for ai in range(a):
        for ki in range(k):
            for y in range(h):
                for x in range(w):
                    lv[0, ai * k + ki, y, x] = ai * 1000 + ki * 100 + y * 10 + x
    flat = ops.flatten_levels([lv, lv[..., :1, :2]], a)
    assert flat.shape == (1, h * w * a + 1 * 2 * a, k)
    for y in range(h):
        for x in range(w):
            for ai in range(a):
                row = (y * w + x) * a + ai
                assert flat[0, row, 0].item() == ai * 1000 + y * 10 + x
                assert flat[0, row, 4].item() == ai * 1000 + 400 + y * 10 + x


def test_decode_anchor_outputs_matches_box_coder_and_sigmoid_topk():
    g = torch.Generator().manual_seed(1)
    anchors = ops.anchor_grid([(4, 4), (2, 2)], [8, 16], [[32], [64]], [0.5, 1.0, 2.0])
    n, c = len(anchors), 3
    deltas = torch.randn(2, n, 4, generator=g) * 0.2
    logits = torch.randn(2, n, c, generator=g) * 2
    dets = ops.decode_anchor_outputs(deltas, logits, anchors, weights=(1, 1, 1, 1), score_threshold=0.3,
                                     pre_nms_topk=25)
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    for i in range(2):
        probs = logits[i].sigmoid().reshape(-1)
        ref_scores, flat = probs.topk(25)
        torch.testing.assert_close(dets[i]["scores"], ref_scores)
        assert torch.equal(dets[i]["labels"], flat % c)
        torch.testing.assert_close(dets[i]["boxes"], coder.decode_single(deltas[i], anchors)[flat // c])


def test_decode_anchor_outputs_softmax_drops_background():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 25.0, 15.0]])
    logits = torch.tensor([[[5.0, 0.0, 0.0], [0.0, 0.0, 4.0]]])  # anchor 0 background, anchor 1 class 1
    dets = ops.decode_anchor_outputs(torch.zeros(1, 2, 4), logits, anchors, activation="softmax", score_threshold=0.5)
    assert dets[0]["labels"].tolist() == [1]
    torch.testing.assert_close(dets[0]["boxes"], anchors[1:])
    torch.testing.assert_close(dets[0]["scores"], torch.softmax(logits[0, 1], 0)[2:])


def test_decode_shapes_are_checked():
    with pytest.raises(ValueError, match="deltas"):
        ops.decode_anchor_outputs(torch.zeros(1, 5, 4), torch.zeros(1, 4, 2), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="YOLO level"):
        ops.yolo_level_boxes(torch.zeros(1, 8, 2, 2), [[1, 1], [2, 2], [3, 3]], 8)
