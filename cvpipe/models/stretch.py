"""The stretch-to-a-square input convention shared by cvpipe's own detectors (``compact``,
``cvdet``): images resized to ``size`` x ``size``, targets mapped into that square, detections
mapped back to each input image. Boxes are absolute pixel xyxy throughout."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SquareInputDetector", "stretch_batch", "targets_to_square", "detections_to_images"]


def stretch_batch(images: Sequence[Tensor] | Tensor, size: int, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """``images`` (``(3, H, W)`` floats in [0, 1], or an already stacked ``(B, 3, H, W)``) resized
    to ``size`` square, stacked and normalised with ``mean``/``std``; and the ``(B, 2)`` factors
    ``(sx, sy)`` mapping square pixels back to each input image's."""
    batch, scales = [], []
    for img in images:
        h, w = img.shape[-2:]
        if (h, w) != (size, size):
            img = F.interpolate(img[None], size=(size, size), mode="bilinear", align_corners=False)[0]
        batch.append(img)
        scales.append((w / size, h / size))
    x = torch.stack(batch) if not isinstance(images, Tensor) or images.shape[-2:] != (size, size) else images
    x = (x - mean) / std
    return x, torch.tensor(scales, dtype=torch.float32, device=x.device)


def targets_to_square(targets: Sequence[dict[str, Tensor]], scales: Tensor, device: Any) -> list[dict[str, Tensor]]:
    """Training targets (``boxes`` ``(N, 4)`` xyxy in input pixels, ``labels`` ``(N,)``) mapped into
    the square by the factors of :func:`stretch_batch`."""
    out = []
    for t, (sx, sy) in zip(targets, scales.tolist()):
        f = torch.tensor([sx, sy, sx, sy], dtype=torch.float32, device=device)
        out.append({"boxes": t["boxes"].to(device, torch.float32).reshape(-1, 4) / f,
                    "labels": t["labels"].to(device, torch.int64).reshape(-1)})
    return out


def detections_to_images(dets: Sequence[dict[str, Tensor]], scales: Tensor, size: int) -> list[dict[str, Tensor]]:
    """Detections in square pixels mapped back to each input image (boxes clamped to it)."""
    out = []
    for d, (sx, sy) in zip(dets, scales.tolist()):
        f = torch.tensor([sx, sy, sx, sy], dtype=d["boxes"].dtype, device=d["boxes"].device)
        boxes = d["boxes"] * f
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, size * sx)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, size * sy)
        out.append({"boxes": boxes, "scores": d["scores"], "labels": d["labels"]})
    return out


class SquareInputDetector(nn.Module):
    """The torchvision detection protocol on the stretch-to-a-square convention: a subclass sets
    ``image_size``, the ``mean``/``std`` buffers (``(1, 3, 1, 1)``) and implements
    ``raw_forward(x) -> dict`` on the normalised ``(B, 3, S, S)`` batch, ``loss(raw, targets) ->
    dict[str, Tensor]`` (targets in square pixels) and ``detect(raw, scales) -> list[dict]``
    (detections mapped back with :func:`detections_to_images`)."""

    image_size: int

    def _prepare(self, images: Sequence[Tensor] | Tensor) -> tuple[Tensor, Tensor]:
        """:func:`stretch_batch` with this model's size and normalisation."""
        return stretch_batch(images, self.image_size, self.mean, self.std)

    def forward(self, images: Sequence[Tensor], targets: list[dict[str, Tensor]] | None = None):
        """Losses in training mode (``targets`` required), detections in input pixels otherwise."""
        x, scales = self._prepare(images)
        raw = self.raw_forward(x)
        if self.training:
            if targets is None:
                raise ValueError("targets are required in training mode")
            return self.loss(raw, targets_to_square(targets, scales, x.device))
        return self.detect(raw, scales)
