"""Raw detection-head outputs -> scored xyxy detections (before NMS).

Two head families:

* **Anchor-based** (RetinaNet / SSD / cvpipe's compact detector): per-anchor box deltas and class
  logits. :func:`flatten_levels` turns per-level maps ``(B, A*K, H, W)`` into ``(B, H*W*A, K)``
  in :func:`cvpipe.ops.anchor_grid`'s order; :func:`decode_anchor_outputs` decodes deltas
  ``(B, N, 4)`` against anchors ``(N, 4)`` and scores logits ``(B, N, C)``.
* **YOLO grid** (YOLOv3/v5 style): :func:`decode_yolo` decodes per-level maps
  ``(B, A*(5+C), H, W)`` with sigmoid offsets and anchor-scaled sizes as YOLOv5 does.

Detections are a list with one dict per image: ``boxes`` ``(K, 4)`` xyxy in input-image pixels,
``scores`` ``(K,)``, ``labels`` ``(K,)`` int64 (0-based object classes), by decreasing score.
A candidate is kept when its score is strictly greater than ``score_threshold``.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import torch
from torch import Tensor

from ._tensors import as_tensor
from .anchors import DEFAULT_BBOX_XFORM_CLIP, decode_boxes

__all__ = ["flatten_levels", "decode_anchor_outputs", "yolo_level_boxes", "decode_yolo", "select_candidates"]

Detections = list[dict[str, Tensor]]


def flatten_levels(levels: Sequence[Any], num_anchors: int | Sequence[int]) -> Tensor:
    """Per-level head maps ``(B, A*K, H, W)`` -> ``(B, sum(H*W*A), K)``.

    Channel ``a * K + k`` of a level holds value ``k`` of anchor ``a`` (torchvision's RetinaNet
    layout). Rows come out in :func:`cvpipe.ops.anchor_grid` order: level, y, x, anchor.
    """
    out = []
    for i, lv in enumerate(levels):
        t = as_tensor(lv)
        a = num_anchors if isinstance(num_anchors, int) else num_anchors[i]
        if t.dim() != 4 or t.shape[1] % a:
            raise ValueError(f"level {i} must be (B, A*K, H, W) with A={a}, got {tuple(t.shape)}")
        b, c, h, w = t.shape
        out.append(t.view(b, a, c // a, h, w).permute(0, 3, 4, 1, 2).reshape(b, h * w * a, c // a))
    return torch.cat(out, dim=1)


def select_candidates(
    scores: Tensor, score_threshold: float, topk: int | None, multi_label: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Pick scored candidates from one image's class scores ``(N, C)``.

    ``multi_label``: every (box, class) pair above the threshold is a candidate (RetinaNet);
    otherwise each box keeps its best class only. Then at most ``topk`` by score.
    Returns ``(box_index, score, label)``, by decreasing score.
    """
    if multi_label:
        flat = scores.reshape(-1)
        idx = torch.nonzero(flat > score_threshold).squeeze(1)
        sc = flat[idx]
        box_idx, labels = idx // scores.shape[1], idx % scores.shape[1]
    else:
        best, labels = scores.max(dim=1) if scores.shape[1] else (scores.new_zeros(scores.shape[0]), scores.new_zeros(scores.shape[0], dtype=torch.int64))
        box_idx = torch.nonzero(best > score_threshold).squeeze(1)
        sc, labels = best[box_idx], labels[box_idx]
    k = sc.numel() if topk is None else min(topk, sc.numel())
    sc, order = sc.topk(k)
    return box_idx[order], sc, labels[order]


def _clip(boxes: Tensor, size: Sequence[int] | None) -> Tensor:
    if size is None:
        return boxes
    h, w = int(size[0]), int(size[1])
    return torch.stack(
        [boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)], dim=1
    )


def decode_anchor_outputs(
    deltas: Any,
    logits: Any,
    anchors: Any,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    activation: Literal["sigmoid", "softmax"] = "sigmoid",
    score_threshold: float = 0.05,
    pre_nms_topk: int | None = 1000,
    image_sizes: Sequence[Sequence[int]] | None = None,
    bbox_xform_clip: float = DEFAULT_BBOX_XFORM_CLIP,
) -> Detections:
    """Decode an anchor-based head.

    Args:
        deltas: ``(B, N, 4)`` box deltas (see :func:`cvpipe.ops.encode_boxes`).
        logits: ``(B, N, C)`` class logits; with ``activation="softmax"`` ``(B, N, C+1)`` whose
            column 0 is background (SSD), which is dropped so labels stay 0-based.
        anchors: ``(N, 4)`` xyxy (:func:`cvpipe.ops.anchor_grid`).
        weights: the box coder's (wx, wy, ww, wh).
        activation: ``"sigmoid"`` (one score per class, every box-class pair a candidate:
            RetinaNet, focal loss) or ``"softmax"``.
        score_threshold: candidates must score above this.
        pre_nms_topk: keep at most this many candidates per image (None: all).
        image_sizes: ``(H, W)`` per image to clip boxes to, or None.

    Returns:
        Detections, one dict per image (boxes decoded only for the selected candidates).
    """
    d = as_tensor(deltas)
    lg = as_tensor(logits, device=d.device)
    a = as_tensor(anchors, device=d.device)
    if d.dim() != 3 or d.shape[-1] != 4 or lg.dim() != 3 or lg.shape[:2] != d.shape[:2] or a.shape != d.shape[1:]:
        raise ValueError(
            f"expected deltas (B, N, 4), logits (B, N, C) and anchors (N, 4), got "
            f"{tuple(d.shape)}, {tuple(lg.shape)} and {tuple(a.shape)}"
        )
    if image_sizes is not None and len(image_sizes) != d.shape[0]:
        raise ValueError(f"image_sizes has {len(image_sizes)} entries for a batch of {d.shape[0]}")
    if activation == "sigmoid":
        probs = torch.sigmoid(lg)
    elif activation == "softmax":
        probs = torch.softmax(lg, dim=-1)[..., 1:]
    else:
        raise ValueError(f"activation must be 'sigmoid' or 'softmax', got {activation!r}")
    out: Detections = []
    for i in range(d.shape[0]):
        box_idx, sc, labels = select_candidates(probs[i], score_threshold, pre_nms_topk, multi_label=True)
        boxes = decode_boxes(d[i, box_idx], a[box_idx], weights, clip=bbox_xform_clip)
        boxes = _clip(boxes, None if image_sizes is None else image_sizes[i])
        out.append({"boxes": boxes, "scores": sc, "labels": labels})
    return out


def yolo_level_boxes(raw: Any, anchors: Any, stride: float) -> tuple[Tensor, Tensor, Tensor]:
    """Decode one YOLO level as YOLOv5 does.

    Args:
        raw: ``(B, A*(5+C), H, W)``; channel ``a*(5+C) + k`` holds value ``k`` of anchor ``a``:
            ``tx, ty, tw, th, objectness, class_1..class_C`` (logits).
        anchors: ``(A, 2)`` anchor (width, height) in input pixels, e.g. ``[[10, 13], [16, 30],
            [33, 23]]`` for YOLOv5's stride-8 level.
        stride: input pixels per cell.

    Returns:
        ``(boxes (B, A*H*W, 4) xyxy pixels, objectness (B, A*H*W), class_probs (B, A*H*W, C))``,
        rows ordered anchor, y, x (YOLOv5's). With ``s = sigmoid``:
        ``cx = (2 s(tx) - 0.5 + x) * stride``, ``w = (2 s(tw))**2 * anchor_w`` (same for y, h).
    """
    t = as_tensor(raw)
    if not t.is_floating_point():
        t = t.float()
    anc = as_tensor(anchors, dtype=t.dtype, device=t.device).reshape(-1, 2)
    a = anc.shape[0]
    if t.dim() != 4 or t.shape[1] % a or t.shape[1] // a < 5:
        raise ValueError(f"YOLO level must be (B, A*(5+C), H, W) with A={a}, got {tuple(t.shape)}")
    b, c, h, w = t.shape
    p = t.view(b, a, c // a, h, w).permute(0, 1, 3, 4, 2).sigmoid()  # (B, A, H, W, 5+C)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=t.device, dtype=t.dtype), torch.arange(w, device=t.device, dtype=t.dtype), indexing="ij"
    )
    cx = (p[..., 0] * 2 - 0.5 + gx) * stride
    cy = (p[..., 1] * 2 - 0.5 + gy) * stride
    bw = (p[..., 2] * 2) ** 2 * anc[:, 0].view(1, a, 1, 1)
    bh = (p[..., 3] * 2) ** 2 * anc[:, 1].view(1, a, 1, 1)
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
    return boxes.reshape(b, -1, 4), p[..., 4].reshape(b, -1), p[..., 5:].reshape(b, a * h * w, -1)


def decode_yolo(
    levels: Sequence[Any],
    anchors: Sequence[Any],
    strides: Sequence[float],
    score_threshold: float = 0.001,
    multi_label: bool = False,
    max_candidates: int | None = 30000,
    image_sizes: Sequence[Sequence[int]] | None = None,
) -> Detections:
    """Decode YOLOv5-style head outputs of all levels into detections.

    Args:
        levels: per level ``(B, A*(5+C), H, W)`` raw logits (see :func:`yolo_level_boxes`).
        anchors: per level ``(A, 2)`` anchor (width, height) in input pixels.
        strides: per level stride in input pixels.
        score_threshold: a candidate's score is ``objectness * class probability``; kept when
            above this.
        multi_label: every class above the threshold is a candidate (YOLOv5 validation);
            otherwise each box keeps its best class (YOLOv5 detection).
        max_candidates: keep at most this many per image (None: all).
        image_sizes: ``(H, W)`` per image to clip boxes to, or None.
    """
    if not (len(levels) == len(anchors) == len(strides)):
        raise ValueError(
            f"levels, anchors and strides need one entry per level, got {len(levels)}, {len(anchors)} and {len(strides)}"
        )
    parts = [yolo_level_boxes(lv, anc, st) for lv, anc, st in zip(levels, anchors, strides)]
    boxes = torch.cat([p[0] for p in parts], dim=1)
    scores = torch.cat([p[1][..., None] * p[2] for p in parts], dim=1)  # (B, N, C)
    if image_sizes is not None and len(image_sizes) != boxes.shape[0]:
        raise ValueError(f"image_sizes has {len(image_sizes)} entries for a batch of {boxes.shape[0]}")
    out: Detections = []
    for i in range(boxes.shape[0]):
        box_idx, sc, labels = select_candidates(scores[i], score_threshold, max_candidates, multi_label)
        out.append({
            "boxes": _clip(boxes[i, box_idx], None if image_sizes is None else image_sizes[i]),
            "scores": sc,
            "labels": labels,
        })
    return out
