"""Weighted boxes fusion (Solovyev et al., 2019): merge the detections of several models.

Matches ``ensemble_boxes.weighted_boxes_fusion`` (the reference implementation, used by the
tests and the benchmark; not a runtime dependency). Written here because torchvision has no box
fusion: tensors (any device) or numpy in, tensors out; all labels are clustered at once (one
``(labels, boxes per label)`` grid, one Python step per box rank rather than one per box).
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from ._tensors import as_boxes, as_labels, as_scores, as_tensor, check_range, check_same_length
from .nms import _group_grid

__all__ = ["weighted_boxes_fusion"]

ConfType = Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"]


def weighted_boxes_fusion(
    boxes_list: Sequence[Any],
    scores_list: Sequence[Any],
    labels_list: Sequence[Any],
    weights: Sequence[float] | None = None,
    iou: float = 0.55,
    skip_box_threshold: float = 0.0,
    conf_type: ConfType = "avg",
    allows_overflow: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Fuse the boxes of several models into one set.

    Args:
        boxes_list: one ``(N_m, 4)`` xyxy array per model, normalised to [0, 1] (values outside
            are clipped, inverted corners swapped, zero-area boxes dropped, as ensemble-boxes does).
        scores_list: one ``(N_m,)`` array per model.
        labels_list: one ``(N_m,)`` integer array per model.
        weights: one weight per model (None: all 1); a box's confidence is ``score * weight``.
        iou: a box joins the best-matching cluster of its label when IoU with the cluster's
            fused box is > ``iou``; otherwise it starts a new cluster.
        skip_box_threshold: boxes with score < this are ignored.
        conf_type: fused confidence: ``"avg"`` (mean confidence, scaled by
            ``min(models, boxes in cluster) / sum(weights)``; ``allows_overflow`` drops the
            ``min``), ``"max"``, ``"box_and_model_avg"``, ``"absent_model_aware_avg"`` (see
            ensemble-boxes).

    Returns:
        ``(boxes (K, 4), scores (K,), labels (K,) int64)``, by decreasing score. Each fused box is
        the confidence-weighted mean of its cluster's boxes.
    """
    if conf_type not in ("avg", "max", "box_and_model_avg", "absent_model_aware_avg"):
        raise ValueError(f"conf_type must be one of avg, max, box_and_model_avg, absent_model_aware_avg, got {conf_type!r}")
    check_range("iou", iou, 0.0, 1.0)
    n_models = len(boxes_list)
    if not (len(scores_list) == len(labels_list) == n_models):
        raise ValueError(
            f"boxes_list, scores_list and labels_list must have one entry per model, got "
            f"{n_models}, {len(scores_list)} and {len(labels_list)}"
        )
    if weights is None:
        weights = [1.0] * n_models
    if len(weights) != n_models:
        raise ValueError(f"weights must have one entry per model ({n_models}), got {len(weights)}")

    bs, ss, ls, ms = [], [], [], []
    for m in range(n_models):
        b = as_boxes(boxes_list[m], f"boxes_list[{m}]").reshape(-1, 4)
        s = as_scores(scores_list[m], b, f"scores_list[{m}]").reshape(-1)
        lab = as_labels(labels_list[m], b.device, f"labels_list[{m}]")
        check_same_length(b.shape[0], **{f"scores_list[{m}]": s, f"labels_list[{m}]": lab})
        bs.append(b), ss.append(s), ls.append(lab)
        ms.append(torch.full((b.shape[0],), m, dtype=torch.int64, device=b.device))
    device = bs[0].device if bs else torch.device("cpu")
    dtype = torch.promote_types(bs[0].dtype, torch.float32) if bs else torch.float32
    boxes = torch.cat([b.to(device, dtype) for b in bs]) if bs else torch.zeros(0, 4, dtype=dtype)
    scores = torch.cat([s.to(device, dtype) for s in ss]) if ss else torch.zeros(0, dtype=dtype)
    labels = torch.cat([x.to(device) for x in ls]) if ls else torch.zeros(0, dtype=torch.int64)
    models = torch.cat([x.to(device) for x in ms]) if ms else torch.zeros(0, dtype=torch.int64)
    w = as_tensor(weights, dtype=dtype, device=device)

    # prefilter as ensemble-boxes does: skip low scores, swap inverted corners, clip to [0, 1],
    # drop zero-area boxes
    boxes = torch.stack(
        [torch.min(boxes[:, 0], boxes[:, 2]), torch.min(boxes[:, 1], boxes[:, 3]),
         torch.max(boxes[:, 0], boxes[:, 2]), torch.max(boxes[:, 1], boxes[:, 3])], dim=1
    ).clamp(0.0, 1.0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = (scores >= skip_box_threshold) & (area > 0)
    boxes, scores, labels, models = boxes[keep], scores[keep], labels[keep], models[keep]
    conf = scores * w[models]
    n = boxes.shape[0]
    if n == 0:
        return boxes.new_zeros(0, 4), scores.new_zeros(0), labels.new_zeros(0)

    # per label, boxes by decreasing confidence
    order = torch.argsort(conf, descending=True, stable=True)
    boxes, conf, labels, models = boxes[order], conf[order], labels[order], models[order]
    grid, valid = _group_grid(labels, n, device)  # (G, K)
    counts = valid.sum(1)
    by_size = torch.argsort(counts, descending=True, stable=True)  # live labels form a prefix
    grid, valid, counts = grid[by_size], valid[by_size], counts[by_size]
    gb = boxes[grid].detach().cpu().double().numpy()
    gc = conf[grid].detach().cpu().double().numpy()
    assign, fused = _cluster(gb, gc, counts.cpu().numpy(), iou)

    # cluster statistics from the assignments (box k of label g went to cluster assign[g, k])
    G, K = grid.shape
    ok = valid.cpu().numpy()
    gi, ki = np.nonzero(ok)
    ci = assign[gi, ki]
    flat = gi * K + ci
    gm = models[grid].cpu().numpy()
    wn = w.detach().cpu().double().numpy()
    count = np.bincount(flat, minlength=G * K).reshape(G, K)
    sum_conf = np.bincount(flat, weights=gc[gi, ki], minlength=G * K).reshape(G, K)
    sum_w = np.bincount(flat, weights=wn[gm[gi, ki]], minlength=G * K).reshape(G, K)
    max_conf = np.zeros(G * K)
    np.maximum.at(max_conf, flat, gc[gi, ki])
    max_conf = max_conf.reshape(G, K)
    member = np.zeros((G, K, n_models), dtype=bool)
    member[gi, ci, gm[gi, ki]] = True

    used = count > 0
    mean_conf = sum_conf / np.maximum(count, 1)
    w_total = wn.sum()
    if conf_type == "avg":
        factor = count if allows_overflow else np.minimum(count, n_models)
        out_scores = mean_conf * factor / w_total
    elif conf_type == "max":
        out_scores = max_conf / wn.max()
    else:
        w_present = (member * wn).sum(-1)
        if conf_type == "box_and_model_avg":
            out_scores = mean_conf * count / np.where(sum_w > 0, sum_w, 1) * w_present / w_total
        else:  # absent_model_aware_avg
            out_scores = mean_conf * count / (sum_w + (w_total - w_present))
    group_labels = labels[grid[:, 0]].cpu().numpy()
    out_boxes = torch.from_numpy(fused[used]).to(device=device, dtype=dtype)
    out_scores_t = torch.from_numpy(out_scores[used]).to(device=device, dtype=dtype)
    out_labels = torch.from_numpy(np.broadcast_to(group_labels[:, None], (G, K))[used].copy()).to(device)
    order = torch.argsort(out_scores_t, descending=True, stable=True)
    return out_boxes[order], out_scores_t[order], out_labels[order]


def _cluster(gb: np.ndarray, gc: np.ndarray, counts: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster each label's boxes in order of decreasing confidence, all labels at once.

    ``gb`` ``(G, K, 4)`` boxes and ``gc`` ``(G, K)`` confidences laid out by label, labels sorted
    by decreasing ``counts`` (so the labels that still have a k-th box are a prefix). A box joins
    the cluster whose current fused box (confidence-weighted mean of its members) it overlaps
    most, if that IoU is > ``iou``; otherwise it starts a new cluster (ensemble-boxes' rule).

    The loop is sequential by nature (each step reads the fused boxes the previous ones made) and
    made of many tiny array operations, where numpy's per-call cost is several times lower than
    torch's; so it runs in numpy on the CPU whatever the input device (measured in
    bench/bench_nms.py). Returns ``(assign (G, K) cluster index per box, fused (G, K, 4))``.
    """
    G, K = gc.shape
    fused = np.zeros((G, K, 4))
    fused_area = np.zeros((G, K))
    sum_cbox = np.zeros((G * K, 4))  # flat (label * K + cluster) views keep the indexing cheap
    sum_conf = np.zeros(G * K)
    fused_flat = fused.reshape(G * K, 4)
    area_flat = fused_area.reshape(G * K)
    n_clusters = np.zeros(G, dtype=np.int64)
    assign = np.full((G, K), -1, dtype=np.int64)
    box_area = (gb[..., 2] - gb[..., 0]) * (gb[..., 3] - gb[..., 1])
    live = (counts[None, :] > np.arange(K)[:, None]).sum(1)  # labels with more than k boxes
    rows = np.arange(G)
    slots = np.arange(K)
    for k in range(K):
        m = int(live[k])
        if m == 0:
            break
        r = rows[:m]
        box, c = gb[:m, k], gc[:m, k]
        ncl = n_clusters[:m]
        if k == 0:
            matched = np.zeros(m, dtype=bool)
            target = ncl.copy()
        else:
            fb = fused[:m, :k]
            iw = np.minimum(fb[..., 2], box[:, 2:3])
            iw -= np.maximum(fb[..., 0], box[:, 0:1])
            np.maximum(iw, 0.0, out=iw)
            ih = np.minimum(fb[..., 3], box[:, 3:4])
            ih -= np.maximum(fb[..., 1], box[:, 1:2])
            np.maximum(ih, 0.0, out=ih)
            iw *= ih  # intersection
            ious = iw / (fused_area[:m, :k] + box_area[:m, k, None] - iw)  # box area > 0
            ious[slots[:k] >= ncl[:, None]] = -1.0
            best_j = ious.argmax(1)
            matched = ious[r, best_j] > iou
            target = np.where(matched, best_j, ncl)
        ncl += ~matched
        assign[:m, k] = target
        flat = r * K + target
        sum_cbox[flat] += c[:, None] * box
        sum_conf[flat] += c
        total = sum_conf[flat]
        if total.min() > 0:
            new = sum_cbox[flat] / total[:, None]
        else:  # a cluster of zero confidence keeps its first box
            new = np.where((total > 0)[:, None], sum_cbox[flat] / np.where(total > 0, total, 1.0)[:, None],
                           np.where(matched[:, None], fused_flat[flat], box))
        fused_flat[flat] = new
        area_flat[flat] = (new[:, 2] - new[:, 0]) * (new[:, 3] - new[:, 1])
    return assign, fused
