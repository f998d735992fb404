"""Non-maximum suppression: hard NMS (torchvision) and Soft-NMS (linear and Gaussian).

Both take ``boxes`` ``(N, 4)`` xyxy, ``scores`` ``(N,)`` and optional ``labels`` ``(N,)``
(given: boxes of different labels never suppress each other; None: class-agnostic), as tensors
or numpy arrays, and return int64 tensors of indices into the inputs, ordered by decreasing
(rescored) score. A box is kept only when its score is strictly greater than
``score_threshold`` (torchvision detectors' ``box_score_thresh`` convention).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
import torchvision.ops as tvops
from torch import Tensor

from ._tensors import as_boxes, as_labels, as_scores, check_range, check_same_length

__all__ = ["nms", "soft_nms"]

# Soft-NMS tabulates decay factors per label when labels x K stays below _MAX_ROWS and
# labels x K x K below _LIMIT entries (K = most boxes of one label); otherwise each step
# computes its IoU row on the fly (measured faster then: bench/bench_nms.py).
_SOFT_NMS_TABLE_LIMIT = 4_000_000
_SOFT_NMS_TABLE_MAX_ROWS = 1024


def _inputs(boxes: Any, scores: Any, labels: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    b = as_boxes(boxes)
    if b.dim() != 2:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(b.shape)}")
    s = as_scores(scores, b)
    lab = None if labels is None else as_labels(labels, b.device)
    check_same_length(b.shape[0], scores=s, **({} if lab is None else {"labels": lab}))
    return b, s, lab


def nms(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    iou: float = 0.5,
    score_threshold: float = 0.0,
    max_det: int | None = None,
    pre_nms_topk: int | None = None,
) -> Tensor:
    """Hard NMS: ``torchvision.ops.batched_nms`` (labels given) or ``torchvision.ops.nms``.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        labels: ``(N,)`` integer class ids, or None for class-agnostic NMS.
        iou: boxes overlapping a kept box with IoU > ``iou`` are suppressed, in [0, 1].
        score_threshold: boxes with score <= this are dropped first.
        max_det: keep at most this many (the highest-scoring) after NMS; None keeps all.
        pre_nms_topk: before NMS, keep only the this many highest-scoring boxes; None keeps all.

    Returns:
        ``(K,)`` int64 indices into ``boxes``, by decreasing score.
    """
    check_range("iou", iou, 0.0, 1.0)
    if max_det is not None:
        check_range("max_det", max_det, 0)
    if pre_nms_topk is not None:
        check_range("pre_nms_topk", pre_nms_topk, 0)
    b, s, lab = _inputs(boxes, scores, labels)
    passing = s > score_threshold
    idx = None
    if not bool(passing.all()):  # (usually all pass: skip the gathers then)
        idx = torch.nonzero(passing).squeeze(1)
        b, s = b[idx], s[idx]
        lab = None if lab is None else lab[idx]
    if pre_nms_topk is not None and s.numel() > pre_nms_topk:
        top = s.topk(pre_nms_topk).indices
        b, s = b[top], s[top]
        lab = None if lab is None else lab[top]
        idx = top if idx is None else idx[top]
    keep = tvops.nms(b, s, iou) if lab is None else tvops.batched_nms(b, s, lab, iou)
    if max_det is not None:
        keep = keep[:max_det]
    return keep if idx is None else idx[keep]


def soft_nms(
    boxes: Any,
    scores: Any,
    labels: Any = None,
    method: Literal["gaussian", "linear"] = "gaussian",
    sigma: float = 0.5,
    iou: float = 0.3,
    score_threshold: float = 0.001,
    max_det: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Soft-NMS (Bodla et al., 2017): instead of removing overlapping boxes, lower their scores.

    Repeatedly takes the highest-scoring remaining box and multiplies the score of every other
    remaining box (of the same label, when labels are given) by ``exp(-IoU**2 / sigma)``
    (``"gaussian"``) or by ``1 - IoU`` where ``IoU > iou`` (``"linear"``). Boxes whose final
    score is <= ``score_threshold`` are dropped (as ``ensemble_boxes.soft_nms`` does; since
    scores only decrease, a box picked below the threshold can only lower boxes that end below
    it too, so the loop stops there).

    Written here because torchvision has no Soft-NMS. All labels are processed at once: boxes are
    laid out as a ``(labels, max boxes per label)`` grid and each step picks one box per label,
    so the Python loop runs ``max boxes per label`` times, not ``N`` times.

    Returns:
        ``(keep, new_scores)``: ``(K,)`` int64 indices into ``boxes`` and their ``(K,)`` rescored
        scores, by decreasing rescored score.
    """
    if method not in ("gaussian", "linear"):
        raise ValueError(f"method must be 'gaussian' or 'linear', got {method!r}")
    check_range("sigma", sigma, 0.0, lo_open=True)
    check_range("iou", iou, 0.0, 1.0)
    if max_det is not None:
        check_range("max_det", max_det, 0)
    b, s, lab = _inputs(boxes, scores, labels)
    n = b.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=b.device), s.new_zeros(0)

    grid_idx, valid = _group_grid(lab, n, b.device)  # (G, K), (G, K)
    G, K = grid_idx.shape
    gb = b[grid_idx]  # (G, K, 4); padding slots hold box 0 and are never valid
    gs = torch.where(valid & (s[grid_idx] > score_threshold), s[grid_idx], -math.inf)  # dead: -inf
    # the decay factor depends only on the pair's IoU: tabulate it per label when that is cheap
    # (few boxes per label: the table costs G*K*K, the steps K times a fixed per-step overhead)
    table = None
    if G * K <= _SOFT_NMS_TABLE_MAX_ROWS and G * K * K <= _SOFT_NMS_TABLE_LIMIT:
        table = _decay(tvops.box_iou(gb, gb).nan_to_num(0.0).detach().cpu().numpy(), method, sigma, iou)
    js, ss = _soft_nms_steps(gb.detach().cpu().numpy(), gs.detach().cpu().numpy(), table, method, sigma, iou,
                             score_threshold)
    picked_idx, picked_scores = [], []
    if js.size:
        ok = torch.from_numpy(js >= 0).to(b.device)
        jt = torch.from_numpy(js.clip(min=0)).to(b.device)
        picked_idx = [grid_idx.gather(1, jt)[ok]]
        picked_scores = [torch.from_numpy(ss).to(device=b.device, dtype=s.dtype)[ok]]
    if not picked_idx:
        return torch.zeros(0, dtype=torch.int64, device=b.device), s.new_zeros(0)
    keep = torch.cat(picked_idx)
    new_scores = torch.cat(picked_scores)
    order = torch.argsort(new_scores, descending=True, stable=True)
    keep, new_scores = keep[order], new_scores[order]
    if max_det is not None:
        keep, new_scores = keep[:max_det], new_scores[:max_det]
    return keep, new_scores


def _decay(ov: np.ndarray, method: str, sigma: float, iou: float) -> np.ndarray:
    if method == "gaussian":
        return np.exp(-(ov * ov) / sigma)
    return np.where(ov > iou, 1 - ov, 1.0).astype(ov.dtype)


def _soft_nms_steps(gb: np.ndarray, gs: np.ndarray, table: np.ndarray | None, method: str, sigma: float,
                    iou: float, score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The Soft-NMS loop over a ``(G, K)`` label grid: each step picks every label's best box and
    decays the rest of its label. ``gs`` holds scores, -inf for dead or padding slots.

    The loop is sequential and made of tiny array operations, where numpy's per-call cost is
    several times below torch's, so it runs in numpy on the CPU whatever the input device.
    Returns ``(picked slot (G, steps), -1 once a label is done; picked score (G, steps))``.
    """
    G, K = gs.shape
    rows = np.arange(G)
    x1, y1, x2, y2 = (np.ascontiguousarray(gb[..., i]) for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    picked_j, picked_s = [], []
    for _ in range(K):
        j = gs.argmax(1)
        best = gs[rows, j]
        live = best > score_threshold
        if not live.any():
            break
        picked_j.append(np.where(live, j, -1))
        picked_s.append(best)
        gs[rows, j] = -np.inf
        if table is not None:
            w = table[rows, j]
        else:
            # IoU of each label's pick with its label's boxes, as torchvision's box_iou computes
            # it (0 where the union is empty), with the areas computed once
            px1, py1, px2, py2 = (c[rows, j][:, None] for c in (x1, y1, x2, y2))
            inter = (np.minimum(x2, px2) - np.maximum(x1, px1)).clip(min=0) * (
                np.minimum(y2, py2) - np.maximum(y1, py1)).clip(min=0)
            union = area + area[rows, j][:, None] - inter
            w = _decay(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), method, sigma, iou)
        alive = gs > score_threshold  # finished labels hold only -inf and stay so
        np.multiply(gs, w, out=gs, where=alive)
        gs[~(gs > score_threshold)] = -np.inf
    if not picked_j:
        return np.zeros((G, 0), dtype=np.int64), np.zeros((G, 0), dtype=gs.dtype)
    return np.stack(picked_j, 1), np.stack(picked_s, 1)


def _group_grid(labels: Tensor | None, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Lay ``n`` boxes out by label: ``(G, K)`` indices (0 in padding) and a validity mask,
    G = number of distinct labels, K = most boxes of one label; input order kept within a row."""
    if labels is None:
        return torch.arange(n, device=device)[None, :], torch.ones(1, n, dtype=torch.bool, device=device)
    _, inv = torch.unique(labels, return_inverse=True)
    counts = torch.bincount(inv)
    order = torch.argsort(inv, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(n, device=device) - starts[inv[order]]
    grid = torch.zeros((counts.numel(), int(counts.max())), dtype=torch.int64, device=device)
    valid = torch.zeros_like(grid, dtype=torch.bool)
    grid[inv[order], pos] = order
    valid[inv[order], pos] = True
    return grid, valid
