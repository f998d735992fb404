"""Weighted boxes fusion against ensemble_boxes.weighted_boxes_fusion (the reference)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
eb = pytest.importorskip("ensemble_boxes")

from cvpipe import ops  # noqa: E402

# ensemble-boxes warns about every box it swaps or clips (our jittered boxes include some)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def model_outputs(models: int, n: int, classes: int, seed: int):
    """Several models' detections of the same objects: jittered copies plus noise boxes."""
    rng = np.random.default_rng(seed)
    objects = rng.uniform(0, 0.8, (n, 2))
    objects = np.concatenate([objects, objects + rng.uniform(0.02, 0.2, (n, 2))], axis=1)
    obj_labels = rng.integers(0, classes, n)
    boxes, scores, labels = [], [], []
    for _ in range(models):
        keep = rng.random(n) < 0.85
        b = objects[keep] + rng.normal(0, 0.01, (keep.sum(), 4))
        noise = rng.uniform(0, 0.9, (n // 5, 2))
        noise = np.concatenate([noise, noise + rng.uniform(0.01, 0.1, (n // 5, 2))], axis=1)
        boxes.append(np.clip(np.concatenate([b, noise]), 0, 1))
        scores.append(rng.uniform(0.05, 1.0, len(boxes[-1])))
        labels.append(np.concatenate([obj_labels[keep], rng.integers(0, classes, n // 5)]))
    return boxes, scores, labels


def assert_same_fusion(got, ref, atol=1e-6):
    gb, gs, gl = (t.numpy() for t in got)
    rb, rs, rl = ref
    assert len(gb) == len(rb)
    a = np.concatenate([gl[:, None].astype(float), gs[:, None], gb], axis=1)
    r = np.concatenate([rl[:, None].astype(float), rs[:, None], rb], axis=1)
    a = a[np.lexsort(np.round(a, 5).T[::-1])]
    r = r[np.lexsort(np.round(r, 5).T[::-1])]
    np.testing.assert_allclose(a, r, rtol=0, atol=atol)


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
@pytest.mark.parametrize("weights", [None, [2.0, 1.0, 1.0]])
def test_wbf_matches_ensemble_boxes(conf_type, weights):
    boxes, scores, labels = model_outputs(3, 150, 4, seed=1)
    ref = eb.weighted_boxes_fusion(boxes, scores, labels, weights=weights, iou_thr=0.55, skip_box_thr=0.1,
                                   conf_type=conf_type)
    got = ops.weighted_boxes_fusion(boxes, scores, labels, weights=weights, iou=0.55, skip_box_threshold=0.1,
                                    conf_type=conf_type)
    assert_same_fusion(got, ref)
    assert len(ref[0]) < sum(len(b) for b in boxes)  # something was fused


def test_wbf_allows_overflow_and_other_thresholds():
    boxes, scores, labels = model_outputs(2, 100, 2, seed=2)
    for iou in (0.3, 0.7):
        ref = eb.weighted_boxes_fusion(boxes, scores, labels, iou_thr=iou, allows_overflow=True)
        got = ops.weighted_boxes_fusion(boxes, scores, labels, iou=iou, allows_overflow=True)
        assert_same_fusion(got, ref)


def test_wbf_prefilters_like_ensemble_boxes():
    # inverted corners, values outside [0, 1], a zero-area box
    boxes = [np.array([[0.5, 0.5, 0.1, 0.1], [-0.2, 0.0, 0.4, 1.3], [0.3, 0.3, 0.3, 0.6]])]
    scores, labels = [np.array([0.9, 0.8, 0.7])], [np.array([0, 0, 0])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = eb.weighted_boxes_fusion(boxes, scores, labels)
    assert_same_fusion(ops.weighted_boxes_fusion(boxes, scores, labels), ref)


def test_wbf_single_model_cluster_values_by_hand():
    # two overlapping boxes of one label fuse into their score-weighted mean
    boxes = [torch.tensor([[0.0, 0.0, 0.4, 0.4], [0.02, 0.0, 0.42, 0.4]])]
    scores = [torch.tensor([0.75, 0.25])]
    labels = [torch.tensor([3, 3])]
    b, s, lab = ops.weighted_boxes_fusion(boxes, scores, labels, iou=0.5)
    torch.testing.assert_close(b, torch.tensor([[0.005, 0.0, 0.405, 0.4]]))
    torch.testing.assert_close(s, torch.tensor([0.5]))  # mean 0.5 * min(1 model, 2 boxes) / 1
    assert lab.tolist() == [3] and lab.dtype == torch.int64


def test_wbf_empty_and_validation():
    b, s, lab = ops.weighted_boxes_fusion([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)])
    assert b.shape == (0, 4) and s.shape == (0,) and lab.shape == (0,)
    with pytest.raises(ValueError, match="weights"):
        ops.weighted_boxes_fusion([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], weights=[1, 2])
    with pytest.raises(ValueError, match="conf_type"):
        ops.weighted_boxes_fusion([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], conf_type="mean")
    with pytest.raises(ValueError, match="iou"):
        ops.weighted_boxes_fusion([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], iou=2)
