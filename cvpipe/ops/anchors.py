"""Anchors for feature-map pyramids, and box-delta encoding/decoding (Faster R-CNN / SSD style).

Built on torchvision: :func:`anchor_grid` uses ``torchvision.models.detection.AnchorGenerator``'s
cell anchors and grid placement, :func:`encode_boxes` / :func:`decode_boxes` its ``BoxCoder``.

Anchor order (what a head's outputs must follow): level by level; within a level row-major over
the feature map (y, then x); within a location the cell anchors, sizes varying fastest within
each aspect ratio (torchvision's order: ``aspect_ratios`` outer, ``sizes`` inner). So a level
of size ``(H, W)`` with ``A = len(sizes) * len(aspect_ratios)`` anchors per location contributes
``H * W * A`` consecutive anchors, and anchor ``(y, x, a)`` is number ``(y * W + x) * A + a``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor

from ._tensors import as_boxes, as_tensor

__all__ = ["anchor_grid", "num_anchors_per_location", "encode_boxes", "decode_boxes", "DEFAULT_BBOX_XFORM_CLIP"]

#: Largest ``dw``/``dh`` :func:`decode_boxes` exponentiates (torchvision's value: ``log(1000/16)``).
DEFAULT_BBOX_XFORM_CLIP = math.log(1000.0 / 16)

Size2 = int | Sequence[int]


def _pair(v: Size2, name: str) -> tuple[int, int]:
    if isinstance(v, (int, float)):
        return int(v), int(v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an integer or (height, width), got {v!r}")
    return int(v[0]), int(v[1])


def num_anchors_per_location(sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[Sequence[float]] | Sequence[float]) -> list[int]:
    """Anchors per feature-map location for each level: ``len(sizes[l]) * len(ratios[l])``."""
    ratios = _per_level_ratios(aspect_ratios, len(sizes))
    return [len(s) * len(r) for s, r in zip(sizes, ratios)]


def _per_level_ratios(aspect_ratios: Any, levels: int) -> list[list[float]]:
    if len(aspect_ratios) and isinstance(aspect_ratios[0], (int, float)):
        return [list(aspect_ratios)] * levels
    if len(aspect_ratios) != levels:
        raise ValueError(f"aspect_ratios must be one list for all levels or one per level ({levels}), got {len(aspect_ratios)}")
    return [list(r) for r in aspect_ratios]


def anchor_grid(
    feature_sizes: Sequence[Size2],
    strides: Sequence[Size2],
    sizes: Sequence[Sequence[float]],
    aspect_ratios: Sequence[Sequence[float]] | Sequence[float] = (0.5, 1.0, 2.0),
    offset: float = 0.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    concat: bool = True,
) -> Tensor | list[Tensor]:
    """Anchors (xyxy, input-image pixels) for every location of every pyramid level.

    Args:
        feature_sizes: ``(H, W)`` of each level's feature map.
        strides: each level's stride in input pixels (an integer or ``(sy, sx)``).
        sizes: anchor sizes (sqrt of area, pixels) per level, e.g. ``[[32], [64], [128]]``.
        aspect_ratios: height / width ratios, one list for all levels or one list per level.
        offset: anchor centre within a cell, in strides: 0.0 puts it on the cell's top-left
            corner as torchvision does, 0.5 at the cell centre.
        concat: one ``(sum(H*W*A), 4)`` tensor (default) or a list of ``(H*W*A, 4)`` per level.

    Cell anchors are torchvision's ``AnchorGenerator.generate_anchors``: width
    ``size / sqrt(ratio)``, height ``size * sqrt(ratio)``, corners rounded to whole pixels.
    """
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    levels = len(feature_sizes)
    if not (len(strides) == len(sizes) == levels):
        raise ValueError(
            f"feature_sizes, strides and sizes need one entry per level, got {levels}, {len(strides)} and {len(sizes)}"
        )
    ratios = _per_level_ratios(aspect_ratios, levels)
    gen = AnchorGenerator(tuple(tuple(s) for s in sizes), tuple(tuple(r) for r in ratios))
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen.set_cell_anchors(dtype, device)
    grid_sizes = [list(_pair(f, "feature_sizes")) for f in feature_sizes]
    stride_pairs = [_pair(s, "strides") for s in strides]
    stride_t = [[torch.tensor(sy, device=device), torch.tensor(sx, device=device)] for sy, sx in stride_pairs]
    per_level = gen.grid_anchors(grid_sizes, stride_t)
    out = []
    for anchors, (sy, sx) in zip(per_level, stride_pairs):
        anchors = anchors.to(dtype)
        if offset:
            anchors = anchors + anchors.new_tensor([offset * sx, offset * sy, offset * sx, offset * sy])
        out.append(anchors)
    return torch.cat(out) if concat else out


def _coder(weights: Sequence[float], clip: float):
    from torchvision.models.detection._utils import BoxCoder

    if len(weights) != 4:
        raise ValueError(f"weights must be 4 numbers (wx, wy, ww, wh), got {weights!r}")
    return BoxCoder(tuple(float(w) for w in weights), bbox_xform_clip=clip)


def encode_boxes(
    boxes: Any, anchors: Any, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> Tensor:
    """Regression targets ``(dx, dy, dw, dh)`` of ``boxes`` relative to ``anchors`` (both
    ``(N, 4)`` xyxy): ``dx = wx * (cx - cx_a) / w_a``, ``dw = ww * log(w / w_a)`` (torchvision's
    ``BoxCoder.encode_single``). Faster R-CNN's box head uses weights (10, 10, 5, 5), its RPN and
    RetinaNet (1, 1, 1, 1). Returns ``(N, 4)``."""
    b = as_boxes(boxes)
    a = as_boxes(anchors, "anchors", device=b.device).to(b.dtype)
    if b.shape != a.shape or b.dim() != 2:
        raise ValueError(f"boxes and anchors must both be (N, 4), got {tuple(b.shape)} and {tuple(a.shape)}")
    return _coder(weights, DEFAULT_BBOX_XFORM_CLIP).encode_single(b, a)


def decode_boxes(
    deltas: Any,
    anchors: Any,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    clip: float = DEFAULT_BBOX_XFORM_CLIP,
) -> Tensor:
    """Boxes (xyxy) from ``deltas`` ``(..., N, 4)`` relative to ``anchors`` ``(N, 4)``; the
    inverse of :func:`encode_boxes` (torchvision's ``BoxCoder.decode_single``; ``dw``/``dh`` are
    clamped at ``clip`` before ``exp``). Returns the shape of ``deltas``."""
    d = as_tensor(deltas)
    if not d.is_floating_point():
        d = d.float()
    a = as_boxes(anchors, "anchors", device=d.device).to(d.dtype)
    if d.shape[-1] != 4 or d.shape[-2:] != a.shape:
        raise ValueError(f"deltas must be (..., N, 4) with anchors (N, 4), got {tuple(d.shape)} and {tuple(a.shape)}")
    lead = d.shape[:-2]
    flat_a = a.expand(*lead, *a.shape).reshape(-1, 4) if lead else a
    out = _coder(weights, clip).decode_single(d.reshape(-1, 4), flat_a)
    return out.reshape(d.shape)
