"""Weighted boxes fusion (Solovyev et al., 2019): merge the detections of several models.

Matches ``ensemble_boxes.weighted_boxes_fusion`` (the reference implementation, used by the
tests and the benchmark; not a runtime dependency). Written here because torchvision has no box
fusion, and so that it runs on tensors on any device: all labels are clustered at once (one
``(labels, boxes per label)`` grid, one Python step per box rank rather than per box).
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import torch
import torchvision.ops as tvops
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
    G, K = grid.shape
    gb, gc, gm = boxes[grid], conf[grid], models[grid]

    # cluster state, per label: up to K clusters each
    fused = boxes.new_zeros(G, K, 4)
    sum_cbox = boxes.new_zeros(G, K, 4)  # sum of conf * box
    sum_conf = boxes.new_zeros(G, K)
    max_conf = boxes.new_zeros(G, K)
    count = boxes.new_zeros(G, K)
    sum_w = boxes.new_zeros(G, K)
    member = torch.zeros(G, K, n_models, dtype=torch.bool, device=device)
    n_clusters = torch.zeros(G, dtype=torch.int64, device=device)
    slots = torch.arange(K, device=device)
    for k in range(K):
        g = valid[:, k].nonzero().squeeze(1)
        if g.numel() == 0:
            break
        box, c, m = gb[g, k], gc[g, k], gm[g, k]
        ious = tvops.box_iou(box[:, None, :], fused[g]).squeeze(1)  # (n, K)
        ious = ious.masked_fill(slots[None, :] >= n_clusters[g][:, None], -1.0).nan_to_num(-1.0)
        best, best_j = ious.max(dim=1)
        matched = best > iou
        target = torch.where(matched, best_j, n_clusters[g])
        n_clusters[g] += (~matched).long()
        sum_cbox[g, target] += c[:, None] * box
        sum_conf[g, target] += c
        max_conf[g, target] = torch.maximum(max_conf[g, target], c)
        count[g, target] += 1
        sum_w[g, target] += w[m]
        member[g, target, m] = True
        # a new cluster's fused box is the box itself (also when its confidence is 0)
        fused[g, target] = torch.where(
            (matched & (sum_conf[g, target] > 0))[:, None],
            sum_cbox[g, target] / sum_conf[g, target].clamp(min=torch.finfo(dtype).tiny)[:, None],
            torch.where(matched[:, None], fused[g, target], box),
        )

    used = slots[None, :] < n_clusters[:, None]  # (G, K)
    mean_conf = sum_conf / count.clamp(min=1)
    w_total = w.sum()
    if conf_type == "avg":
        factor = count if allows_overflow else count.clamp(max=n_models)
        out_scores = mean_conf * factor / w_total
    elif conf_type == "max":
        out_scores = max_conf / w.max()
    else:
        w_present = (member.to(dtype) * w).sum(-1)
        if conf_type == "box_and_model_avg":
            out_scores = mean_conf * count / sum_w.clamp(min=torch.finfo(dtype).tiny) * w_present / w_total
        else:  # absent_model_aware_avg
            out_scores = mean_conf * count / (sum_w + (w_total - w_present))
    label_of_group = labels[grid[:, 0]]
    out_boxes = fused[used]
    out_scores = out_scores[used]
    out_labels = label_of_group[:, None].expand(G, K)[used]
    order = torch.argsort(out_scores, descending=True, stable=True)
    return out_boxes[order], out_scores[order], out_labels[order]
