"""Anchor-point geometry, distribution regression (GFL) and task-aligned assignment (TOOD).

Written from the papers: Li et al., *Generalized Focal Loss* (2020) for the distribution focal
loss and the expectation decode; Feng et al., *TOOD: Task-aligned One-stage Object Detection*
(2021) for the assigner. Everything here is plain torch on tensors, independent of any model.

Conventions:

* anchor points ``(N, 2)`` are cell centres ``((x + 0.5) * stride, (y + 0.5) * stride)`` in
  input pixels, level by level, row-major within a level (y, then x); ``strides`` ``(N,)``;
* boxes are xyxy in input pixels;
* ``ltrb`` distances ``(..., 4)`` are (left, top, right, bottom) from the point to the box
  sides, **in units of the point's stride**, the unit the distribution bins ``0 .. reg_max`` use.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "anchor_points", "boxes_to_ltrb", "ltrb_to_boxes", "dfl_expectation", "dfl_loss",
    "TaskAlignedAssigner", "Assignment",
]


def anchor_points(sizes: Sequence[tuple[int, int]], strides: Sequence[int], *,
                  dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Cell-centre points ``(N, 2)`` (x, y pixels) and their ``(N,)`` strides for feature maps
    of ``sizes`` (one ``(h, w)`` per level, strides in the same order)."""
    pts, strd = [], []
    for (h, w), s in zip(sizes, strides):
        ys = (torch.arange(h, dtype=dtype, device=device) + 0.5) * s
        xs = (torch.arange(w, dtype=dtype, device=device) + 0.5) * s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        pts.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1))
        strd.append(torch.full((h * w,), float(s), dtype=dtype, device=device))
    return torch.cat(pts), torch.cat(strd)


def boxes_to_ltrb(points: Tensor, boxes: Tensor, strides: Tensor) -> Tensor:
    """Distances ``(N, 4)`` (stride units) from ``points`` ``(N, 2)`` to the sides of xyxy
    ``boxes`` ``(N, 4)``; negative where a point lies outside its box."""
    s = strides.unsqueeze(-1)
    lt = (points - boxes[..., :2]) / s
    rb = (boxes[..., 2:] - points) / s
    return torch.cat([lt, rb], -1)


def ltrb_to_boxes(points: Tensor, ltrb: Tensor, strides: Tensor) -> Tensor:
    """xyxy boxes ``(..., N, 4)`` from ``ltrb`` distances ``(..., N, 4)`` (stride units) around
    ``points`` ``(N, 2)`` with ``strides`` ``(N,)``: the inverse of :func:`boxes_to_ltrb`."""
    s = strides.unsqueeze(-1)
    return torch.cat([points - ltrb[..., :2] * s, points + ltrb[..., 2:] * s], -1)


def dfl_expectation(logits: Tensor, reg_max: int) -> Tensor:
    """Expected distance per side: logits ``(..., 4 * (reg_max + 1))`` (four distributions over
    the bins ``0, 1, ..., reg_max``, side-major) -> ``(..., 4)`` in ``[0, reg_max]``."""
    shape = logits.shape[:-1]
    prob = logits.reshape(*shape, 4, reg_max + 1).softmax(-1)
    bins = torch.arange(reg_max + 1, dtype=prob.dtype, device=prob.device)
    return prob @ bins


def dfl_loss(logits: Tensor, target: Tensor, reg_max: int) -> Tensor:
    """Distribution focal loss per box ``(N,)`` (mean over the four sides).

    ``logits`` ``(N, 4 * (reg_max + 1))``, ``target`` ``(N, 4)`` distances in stride units
    (clamped into ``[0, reg_max - 0.01]``): cross-entropy to the two bins around the target,
    weighted by linear interpolation, so its minimum puts the expectation on the target.
    """
    t = target.clamp(0, reg_max - 0.01)
    left = t.floor().long()
    right = left + 1
    wl = right.to(t.dtype) - t
    wr = 1 - wl
    lg = logits.reshape(-1, reg_max + 1)
    ce_l = F.cross_entropy(lg, left.reshape(-1), reduction="none").view_as(t)
    ce_r = F.cross_entropy(lg, right.reshape(-1), reduction="none").view_as(t)
    return (ce_l * wl + ce_r * wr).mean(-1)


class Assignment:
    """What :class:`TaskAlignedAssigner` gives one image with ``N`` points and ``C`` classes.

    Attributes:
        fg: ``(N,)`` bool, the positive points.
        gt_index: ``(N,)`` int64, the ground-truth box each positive point learns (0 elsewhere).
        boxes: ``(N, 4)`` xyxy target box of each point (zeros for negatives).
        scores: ``(N, C)`` classification targets: the normalised alignment at the assigned
            class of each positive, 0 elsewhere.
    """

    __slots__ = ("fg", "gt_index", "boxes", "scores")

    def __init__(self, fg: Tensor, gt_index: Tensor, boxes: Tensor, scores: Tensor) -> None:
        self.fg, self.gt_index, self.boxes, self.scores = fg, gt_index, boxes, scores


class TaskAlignedAssigner:
    """TOOD's task-aligned label assignment for one image.

    For every ground-truth box ``g`` and point ``i`` the alignment metric is
    ``t = s ** alpha * u ** beta``, with ``s`` the predicted score of ``g``'s class at ``i`` and
    ``u`` the IoU of ``i``'s predicted box with ``g``. Candidates of ``g`` are the points whose
    centre lies strictly inside ``g``; the ``topk`` candidates with the largest ``t`` become its
    positives. A point chosen by several boxes keeps the one its predicted box overlaps most.
    The classification target of a positive is ``t`` normalised per box: ``t / max t * max u``
    over that box's positives (so the best-aligned point's target is the box's best IoU).

    Args:
        topk: positives per ground-truth box at most.
        alpha, beta: exponents of score and IoU in the alignment metric.
        eps: added to the maximum before normalising.
    """

    def __init__(self, topk: int = 10, alpha: float = 1.0, beta: float = 6.0, eps: float = 1e-9) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps

    @torch.no_grad()
    def __call__(self, scores: Tensor, pred_boxes: Tensor, points: Tensor, gt_boxes: Tensor,
                 gt_labels: Tensor) -> Assignment:
        """Assign one image.

        Args:
            scores: ``(N, C)`` predicted class probabilities (after the sigmoid).
            pred_boxes: ``(N, 4)`` predicted xyxy boxes.
            points: ``(N, 2)`` anchor points (x, y).
            gt_boxes: ``(G, 4)`` xyxy ground-truth boxes; ``gt_labels`` ``(G,)`` int64.
        """
        from torchvision.ops import box_iou

        n, c = scores.shape
        dev = scores.device
        g = gt_boxes.shape[0]
        if g == 0:
            return Assignment(torch.zeros(n, dtype=torch.bool, device=dev), torch.zeros(n, dtype=torch.int64, device=dev),
                              scores.new_zeros(n, 4), scores.new_zeros(n, c))
        iou = box_iou(gt_boxes.to(pred_boxes.dtype), pred_boxes).clamp(min=0)  # (G, N)
        s = scores.t()[gt_labels]  # (G, N): score of each box's class
        align = s.pow(self.alpha) * iou.pow(self.beta)
        x, y = points[:, 0], points[:, 1]
        inside = ((x[None] > gt_boxes[:, 0:1]) & (x[None] < gt_boxes[:, 2:3])
                  & (y[None] > gt_boxes[:, 1:2]) & (y[None] < gt_boxes[:, 3:4]))  # (G, N)
        metric = torch.where(inside, align, torch.full_like(align, -1.0))
        k = min(self.topk, n)
        top = metric.topk(k, dim=1).indices  # (G, k)
        chosen = torch.zeros_like(inside)
        chosen.scatter_(1, top, True)
        chosen &= inside  # fewer than k candidates inside a small box: only those
        # conflicts: a point chosen by several boxes keeps the one its prediction overlaps most
        multi = chosen.sum(0) > 1
        if bool(multi.any()):
            best = torch.where(chosen, iou, torch.full_like(iou, -1.0)).argmax(0)  # (N,)
            keep_one = torch.zeros_like(chosen)
            keep_one[best, torch.arange(n, device=dev)] = True
            chosen = torch.where(multi[None], chosen & keep_one, chosen)
        fg = chosen.any(0)
        gt_index = chosen.to(torch.int64).argmax(0)
        # normalised alignment: per box, t / max t * max u over its positives
        t = torch.where(chosen, align, torch.zeros_like(align))
        u = torch.where(chosen, iou, torch.zeros_like(iou))
        norm = t / (t.amax(1, keepdim=True) + self.eps) * u.amax(1, keepdim=True)  # (G, N)
        target = norm.amax(0)  # (N,): the positives' own box (one non-zero per column)
        out_scores = scores.new_zeros(n, c)
        idx = fg.nonzero().squeeze(1)
        out_scores[idx, gt_labels[gt_index[idx]]] = target[idx].to(scores.dtype)
        out_boxes = scores.new_zeros(n, 4)
        out_boxes[idx] = gt_boxes[gt_index[idx]].to(scores.dtype)
        gt_index = torch.where(fg, gt_index, torch.zeros_like(gt_index))
        return Assignment(fg, gt_index, out_boxes, out_scores)
