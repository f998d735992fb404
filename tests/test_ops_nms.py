"""Hard NMS against torchvision; Soft-NMS against the Bodla et al. algorithm and ensemble-boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tvops = pytest.importorskip("torchvision.ops")

from cvpipe import ops  # noqa: E402


def detections(n: int, classes: int, seed: int, scale: float = 200.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * scale
    wh = torch.rand(n, 2, generator=g) * scale / 4 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.rand(n, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    return boxes, scores, labels


@pytest.mark.parametrize("n,classes", [(0, 1), (1, 1), (300, 1), (2000, 20), (6000, 80)])
@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
def test_class_aware_nms_keeps_exactly_torchvisions_indices(n, classes, iou):
    boxes, scores, labels = detections(n, classes, seed=n + classes)
    assert torch.equal(ops.nms(boxes, scores, labels, iou=iou), tvops.batched_nms(boxes, scores, labels, iou))


def test_class_agnostic_nms_is_torchvision_nms():
    boxes, scores, labels = detections(1500, 10, seed=3)
    assert torch.equal(ops.nms(boxes, scores, iou=0.45), tvops.nms(boxes, scores, 0.45))


def test_score_threshold_topk_and_max_det():
    boxes, scores, labels = detections(1000, 5, seed=4)
    keep = ops.nms(boxes, scores, labels, iou=0.5, score_threshold=0.3, pre_nms_topk=400, max_det=50)
    # reference: filter (score > 0.3), 400 best, batched NMS, first 50
    idx = torch.nonzero(scores > 0.3).squeeze(1)
    idx = idx[scores[idx].topk(400).indices]
    ref = idx[tvops.batched_nms(boxes[idx], scores[idx], labels[idx], 0.5)][:50]
    assert torch.equal(keep, ref)
    assert (scores[keep] > 0.3).all() and len(keep) == 50
    assert (scores[keep][:-1] >= scores[keep][1:]).all()


def test_nms_accepts_numpy_and_validates():
    boxes, scores, labels = detections(50, 3, seed=5)
    keep = ops.nms(boxes.numpy(), scores.numpy(), labels.numpy())
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64
    assert torch.equal(keep, tvops.batched_nms(boxes, scores, labels, 0.5))
    with pytest.raises(ValueError, match="iou"):
        ops.nms(boxes, scores, iou=1.5)
    with pytest.raises(ValueError, match="labels"):
        ops.nms(boxes, scores, labels[:10])


# ----------------------------------------------------------------------------------- Soft-NMS


def soft_nms_reference(boxes, scores, labels, method, sigma, iou_thr, thresh):
    """Bodla et al. (2017), Algorithm 1, one label at a time, written as plainly as possible."""
    boxes = boxes.double()
    out_idx, out_scores = [], []
    for lab in sorted(set(labels.tolist())):
        remaining = [i for i in range(len(boxes)) if labels[i] == lab]
        s = {i: float(scores[i]) for i in remaining}
        while remaining:
            m = max(remaining, key=lambda i: s[i])
            remaining.remove(m)
            out_idx.append(m)
            out_scores.append(s[m])
            for i in remaining:
                ov = float(tvops.box_iou(boxes[m : m + 1], boxes[i : i + 1]))
                if method == "gaussian":
                    s[i] *= math.exp(-(ov * ov) / sigma)
                elif ov > iou_thr:
                    s[i] *= 1 - ov
    keep = [(i, sc) for i, sc in zip(out_idx, out_scores) if sc > thresh]
    keep.sort(key=lambda t: -t[1])
    return [i for i, _ in keep], [sc for _, sc in keep]


@pytest.mark.parametrize("method", ["gaussian", "linear"])
@pytest.mark.parametrize("classes", [1, 4])
def test_soft_nms_matches_reference_algorithm(method, classes):
    boxes, scores, labels = detections(120, classes, seed=10 + classes, scale=60.0)
    keep, new_scores = ops.soft_nms(boxes.double(), scores.double(), labels, method=method, sigma=0.5, iou=0.3,
                                    score_threshold=0.01)
    ref_idx, ref_scores = soft_nms_reference(boxes, scores, labels, method, 0.5, 0.3, 0.01)
    assert keep.tolist() == ref_idx
    np.testing.assert_allclose(new_scores.numpy(), ref_scores, rtol=1e-9, atol=1e-12)
    assert len(ref_idx) < len(boxes)  # the threshold removed something


def test_soft_nms_class_agnostic_and_max_det():
    boxes, scores, labels = detections(80, 3, seed=12, scale=50.0)
    keep, sc = ops.soft_nms(boxes.double(), scores.double(), method="linear", iou=0.3, score_threshold=0.05, max_det=20)
    ref_idx, ref_scores = soft_nms_reference(boxes, scores, torch.zeros_like(labels), "linear", 0.5, 0.3, 0.05)
    assert keep.tolist() == ref_idx[:20]
    np.testing.assert_allclose(sc.numpy(), ref_scores[:20], rtol=1e-9)


def test_soft_nms_hard_edge_cases():
    keep, sc = ops.soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert keep.shape == (0,) and sc.shape == (0,)
    # identical boxes: the second loses score exp(-1/sigma)
    b = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    keep, sc = ops.soft_nms(b, torch.tensor([0.9, 0.8]), sigma=0.5)
    assert keep.tolist() == [0, 1]
    assert sc[1].item() == pytest.approx(0.8 * math.exp(-2.0))
    with pytest.raises(ValueError, match="sigma"):
        ops.soft_nms(b, torch.tensor([0.9, 0.8]), sigma=0.0)
    with pytest.raises(ValueError, match="method"):
        ops.soft_nms(b, torch.tensor([0.9, 0.8]), method="box")


@pytest.mark.parametrize("method,code", [("linear", 1), ("gaussian", 2)])
def test_soft_nms_matches_ensemble_boxes(method, code):
    eb = pytest.importorskip("ensemble_boxes")
    boxes, scores, labels = detections(300, 5, seed=20, scale=1.0)
    boxes = boxes.clamp(0, 1).double()
    rb, rs, rl = eb.soft_nms([boxes.numpy()], [scores.double().numpy()], [labels.numpy()], iou_thr=0.3, sigma=0.5,
                             thresh=0.01) if code == 2 else eb.nms_method(
        [boxes.numpy()], [scores.double().numpy()], [labels.numpy()], method=1, iou_thr=0.3, sigma=0.5, thresh=0.01)
    keep, sc = ops.soft_nms(boxes, scores.double(), labels, method=method, sigma=0.5, iou=0.3, score_threshold=0.01)
    assert len(keep) == len(rb)
    # ensemble-boxes returns the kept boxes with their *original* scores: compare the kept sets
    got = np.concatenate([boxes[keep].numpy(), scores.double()[keep].numpy()[:, None],
                          labels[keep].numpy()[:, None]], axis=1)
    ref = np.concatenate([rb, rs[:, None], rl[:, None]], axis=1)
    got = got[np.lexsort(got.T[::-1])]
    ref = ref[np.lexsort(ref.T[::-1])]
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9)


def test_soft_nms_table_and_on_the_fly_paths_agree(monkeypatch):
    import importlib

    nms_module = importlib.import_module("cvpipe.ops.nms")
    boxes, scores, labels = detections(400, 3, seed=30, scale=80.0)
    for method in ("gaussian", "linear"):
        monkeypatch.setattr(nms_module, "_SOFT_NMS_TABLE_LIMIT", 10**9)
        monkeypatch.setattr(nms_module, "_SOFT_NMS_TABLE_MAX_ROWS", 10**9)
        k1, s1 = ops.soft_nms(boxes, scores, labels, method=method)
        monkeypatch.setattr(nms_module, "_SOFT_NMS_TABLE_LIMIT", 0)
        k2, s2 = ops.soft_nms(boxes, scores, labels, method=method)
        assert torch.equal(k1, k2)
        torch.testing.assert_close(s1, s2)


def _nms_law_holds(boxes, scores, labels, keep, iou):
    kept = set(keep.tolist())
    ov = tvops.box_iou(boxes, boxes).nan_to_num(0.0)
    same = labels[:, None] == labels[None, :]
    k = keep
    # kept boxes of one label overlap each other by at most iou
    pair = ov[k][:, k] * same[k][:, k]
    pair.fill_diagonal_(0)
    assert (pair <= iou).all()
    # every dropped box overlaps a kept box of its label with a higher score by more than iou
    for i in range(len(boxes)):
        if i not in kept:
            assert ((ov[i, k] > iou) & same[i, k] & (scores[k] >= scores[i])).any()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 4), st.floats(0.1, 0.9), st.integers(0, 10_000))
def test_nms_law(n, classes, iou, seed):
    boxes, scores, labels = detections(n, classes, seed, scale=40.0)
    _nms_law_holds(boxes, scores, labels, ops.nms(boxes, scores, labels, iou=iou), iou)
    _nms_law_holds(boxes, scores, torch.zeros_like(labels), ops.nms(boxes, scores, iou=iou), iou)
