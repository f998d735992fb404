"""The IoU family (IoU, GIoU, DIoU, CIoU) for xyxy boxes: pairwise, element-wise and as losses.

Boxes are ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``, in any unit (pixels or
normalised). Inputs may be tensors or numpy arrays; results are always tensors (on the boxes'
device; integer boxes are computed in float32).

* :func:`pairwise_iou` ``(N, 4) x (M, 4) -> (N, M)`` is torchvision's ``box_iou``,
  ``generalized_box_iou``, ``distance_box_iou`` and ``complete_box_iou``. Those return NaN for
  pairs with nothing to divide by (two zero-area boxes, a CIoU box of zero width *and* height);
  such entries are replaced by the element-wise value below, so the result is never NaN.
* :func:`elementwise_iou` ``(N, 4) x (N, 4) -> (N,)`` (any broadcastable ``(..., 4)``) is
  ``1 - loss`` with torchvision's ``*_box_iou_loss`` conventions: ``eps`` (1e-7) is added to
  every denominator, so degenerate boxes give defined values (IoU 0 when the union is empty) and
  gradients. For boxes whose areas are far above ``eps`` both forms agree to float precision.
* :func:`iou_loss` is ``1 - elementwise_iou`` with torchvision's reductions.

Ranges: IoU in [0, 1]; GIoU and DIoU in [-1, 1]; CIoU in [-1.5, 1] (CIoU subtracts up to
``v**2 / (1 + v) <= 0.5`` from a DIoU that can approach -1, e.g. a flat box far from a thin one,
so the [-1, 1] sometimes quoted for it does not hold). All are 1 for identical boxes of
positive area.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import torch
import torchvision.ops as tvops
from torch import Tensor

from ._tensors import as_boxes

__all__ = ["IOU_KINDS", "pairwise_iou", "elementwise_iou", "iou_loss"]

IouKind = Literal["iou", "giou", "diou", "ciou"]
IOU_KINDS: tuple[str, ...] = ("iou", "giou", "diou", "ciou")
Reduction = Literal["none", "mean", "sum"]

_PAIRWISE: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "iou": tvops.box_iou,
    "giou": tvops.generalized_box_iou,
    "diou": tvops.distance_box_iou,
    "ciou": tvops.complete_box_iou,
}


def _check_kind(kind: str) -> None:
    if kind not in IOU_KINDS:
        raise ValueError(f"kind must be one of {', '.join(IOU_KINDS)}, got {kind!r}")


def _pair(boxes1: Any, boxes2: Any) -> tuple[Tensor, Tensor]:
    b1 = as_boxes(boxes1, "boxes1")
    b2 = as_boxes(boxes2, "boxes2", device=b1.device)
    dtype = torch.promote_types(b1.dtype, b2.dtype)
    return b1.to(dtype), b2.to(dtype)


def pairwise_iou(boxes1: Any, boxes2: Any, kind: IouKind = "iou") -> Tensor:
    """Overlap of every box in ``boxes1`` ``(N, 4)`` with every box in ``boxes2`` ``(M, 4)``.

    Returns an ``(N, M)`` tensor (torchvision's pairwise functions; NaN entries from degenerate
    pairs replaced by :func:`elementwise_iou` of that pair, see the module docstring).
    """
    _check_kind(kind)
    b1, b2 = _pair(boxes1, boxes2)
    if b1.dim() != 2 or b2.dim() != 2:
        raise ValueError(f"pairwise_iou takes (N, 4) and (M, 4) boxes, got {tuple(b1.shape)} and {tuple(b2.shape)}")
    if b1.shape[0] == 0 or b2.shape[0] == 0:
        return b1.new_zeros((b1.shape[0], b2.shape[0]))
    out = _PAIRWISE[kind](b1, b2)
    bad = torch.isnan(out)
    if bool(bad.any()):
        i, j = bad.nonzero(as_tuple=True)
        out = out.index_put((i, j), elementwise_iou(b1[i], b2[j], kind))
    return out


def elementwise_iou(boxes1: Any, boxes2: Any, kind: IouKind = "iou", eps: float = 1e-7) -> Tensor:
    """Overlap of ``boxes1[i]`` with ``boxes2[i]``: shapes ``(..., 4)`` broadcast to ``(...)``.

    Follows torchvision's ``*_box_iou_loss`` functions (``eps`` added to denominators); never NaN
    for finite boxes.
    """
    return 1 - iou_loss(boxes1, boxes2, kind=kind, reduction="none", eps=eps)


def iou_loss(pred: Any, target: Any, kind: IouKind = "giou", reduction: Reduction = "none",
             eps: float = 1e-7) -> Tensor:
    """``1 - overlap`` of ``pred[i]`` and ``target[i]`` (``(..., 4)`` each), reduced like
    torchvision: ``"none"`` keeps shape ``(...)``, ``"mean"`` (0 for empty input), ``"sum"``.

    GIoU and DIoU are torchvision's ``generalized_box_iou_loss`` / ``distance_box_iou_loss``.
    Plain IoU and CIoU are written here: torchvision has no plain IoU loss, and its
    ``complete_box_iou_loss`` is NaN (value and gradient) for a box of zero width and height
    (``atan(0 / 0)``); here such a box counts as aspect ratio 0, and a zero-height box as
    ``atan(inf) = pi / 2`` exactly as torchvision computes it.
    """
    _check_kind(kind)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be one of none, mean, sum, got {reduction!r}")
    b1, b2 = torch.broadcast_tensors(*_pair(pred, target))
    if kind == "giou":
        loss = tvops.generalized_box_iou_loss(b1, b2, reduction="none", eps=eps)
    elif kind == "diou":
        loss = tvops.distance_box_iou_loss(b1, b2, reduction="none", eps=eps)
    elif kind == "iou":
        loss = 1 - _iou_eps(b1, b2, eps)
    else:
        loss = 1 - _ciou_eps(b1, b2, eps)
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def _iou_eps(b1: Tensor, b2: Tensor, eps: float) -> Tensor:
    """Element-wise IoU as torchvision's losses compute it: inter / (union + eps)."""
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    iw = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp(min=0)
    ih = (torch.min(y2, y2g) - torch.max(y1, y1g)).clamp(min=0)
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter / (union + eps)


def _aspect_angle(w: Tensor, h: Tensor) -> Tensor:
    # atan(w / h) with h = 0 giving atan(inf) = pi/2 (w > 0) or atan(0) = 0 (w = 0), and no NaN
    # gradient: the denominator is clamped to the smallest positive normal number.
    tiny = torch.finfo(h.dtype).tiny
    return torch.atan(w / h.clamp(min=tiny))


def _ciou_eps(b1: Tensor, b2: Tensor, eps: float) -> Tensor:
    """Element-wise CIoU with torchvision's formula (``complete_box_iou_loss``), NaN-free."""
    diou = 1 - tvops.distance_box_iou_loss(b1, b2, reduction="none", eps=eps)
    iou = _iou_eps(b1, b2, eps)
    w1, h1 = b1[..., 2] - b1[..., 0], b1[..., 3] - b1[..., 1]
    w2, h2 = b2[..., 2] - b2[..., 0], b2[..., 3] - b2[..., 1]
    v = (4 / (math.pi**2)) * torch.pow(_aspect_angle(w2, h2) - _aspect_angle(w1, h1), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v
