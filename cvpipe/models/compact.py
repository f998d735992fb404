"""cvpipe's compact anchor-based one-stage detector, small enough to train on a CPU in minutes.

Architecture (all strides relative to the resized input, ``image_size`` square):

* backbone: a plain conv-BN-ReLU CNN, five stride-2 stages, widths ``w, w, 2w, 4w, 8w``;
  features at strides 8, 16 and 32 (C3, C4, C5);
* FPN-lite: 1x1 laterals to ``fpn_channels``, top-down nearest upsampling + add, one 3x3 conv per level;
* head: shared across levels, ``head_convs`` conv-GN-ReLU layers then a classification conv
  (``A * num_classes`` sigmoid logits, focal loss) and a box conv (``A * 4`` deltas) where ``A`` is
  ``len(anchor_scales) * len(aspect_ratios)`` anchors per position.

The model follows torchvision's detection protocol (see ``cvpipe_register_models``): it takes a list
of float ``(3, H, W)`` images in [0, 1] of any size, resizes them to ``image_size`` itself
(stretching, boxes scaled accordingly), normalises with ``mean``/``std``, and returns losses in
training mode or detections in the input images' pixel coordinates (xyxy) in eval mode.

Raw head output is decoded by cvpipe's own postprocessors (``decode_anchors`` then ``nms``, built
with :func:`cvpipe.postprocess.build_postprocess`), so the postprocessor plugins run end to
end; the box loss is an IoU-family loss from :mod:`cvpipe.ops`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .settings import CompactSettings
from .stretch import SquareInputDetector, detections_to_images

__all__ = ["CompactDetector"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Backbone(nn.Module):
    """Five stride-2 stages; returns C3, C4, C5 (strides 8, 16, 32)."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        w = width
        chans = [w, w, 2 * w, 4 * w, 8 * w]
        stages, cin = [], 3
        for i, c in enumerate(chans):
            layers = [_conv_bn(cin, c, 2)] + [_conv_bn(c, c) for _ in range(depth if i > 0 else 0)]
            stages.append(nn.Sequential(*layers))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.out_channels = chans[2:]

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 2:
                feats.append(x)
        return feats


class FPNLite(nn.Module):
    """Top-down feature pyramid: lateral 1x1 convs, nearest upsampling + add, 3x3 output convs."""

    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(_conv_bn(channels, channels) for _ in in_channels)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 2, -1, -1):
            lat[i] = lat[i] + F.interpolate(lat[i + 1], size=lat[i].shape[-2:], mode="nearest")
        return [conv(x) for conv, x in zip(self.output, lat)]


class Head(nn.Module):
    """Shared classification and box-regression towers."""

    def __init__(self, channels: int, num_anchors: int, num_classes: int, convs: int, prior: float = 0.01) -> None:
        super().__init__()

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(convs):
                layers += [nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.GroupNorm(8, channels), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        self.cls_tower, self.box_tower = tower(), tower()
        self.cls = nn.Conv2d(channels, num_anchors * num_classes, 3, 1, 1)
        self.box = nn.Conv2d(channels, num_anchors * 4, 3, 1, 1)
        self.num_classes, self.num_anchors = num_classes, num_anchors
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.constant_(self.cls.bias, -math.log((1 - prior) / prior))
        nn.init.normal_(self.box.weight, std=0.01)
        nn.init.zeros_(self.box.bias)

    def forward(self, feats: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``(B, N, num_classes)`` logits and ``(B, N, 4)`` deltas, N = sum over levels of H*W*A,
        ordered level, y, x, anchor (the order of :meth:`CompactDetector.anchors`)."""
        logits, deltas = [], []
        for f in feats:
            b, _, h, w = f.shape
            c = self.cls(self.cls_tower(f)).view(b, self.num_anchors, self.num_classes, h, w)
            d = self.box(self.box_tower(f)).view(b, self.num_anchors, 4, h, w)
            logits.append(c.permute(0, 3, 4, 1, 2).reshape(b, -1, self.num_classes))
            deltas.append(d.permute(0, 3, 4, 1, 2).reshape(b, -1, 4))
        return torch.cat(logits, 1), torch.cat(deltas, 1)


class CompactDetector(SquareInputDetector):
    """cvpipe's compact anchor-based one-stage detector (see the module docstring).

    Args:
        num_classes: object classes (no background).
        settings: the detector's settings (:class:`cvpipe.models.settings.CompactSettings`, where
            each is declared and described); or give its fields as keyword ``values``.
        focal_alpha, focal_gamma: focal-loss parameters.
        mean, std: per-channel normalisation of [0, 1] input images.
    """

    def __init__(
        self,
        num_classes: int,
        settings: CompactSettings | None = None,
        *,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        **values: Any,
    ) -> None:
        if settings is None:
            from ..settings import build_settings

            settings = build_settings(CompactSettings, values)
        elif values:
            raise TypeError("give settings or keyword values, not both")
        s = settings
        image_size, width, depth, fpn_channels, head_convs = s.image_size, s.width, s.depth, s.fpn_channels, s.head_convs
        anchor_scale, anchor_scales, aspect_ratios = s.anchor_scale, s.anchor_scales, s.aspect_ratios
        fg_iou, bg_iou, box_loss, box_loss_weight = s.fg_iou, s.bg_iou, s.box_loss, s.box_loss_weight
        postprocess, score_thresh, nms_iou, pre_nms_top_k, max_det = (s.postprocess, s.score_thresh, s.nms_iou,
                                                                      s.pre_nms_top_k, s.max_det)
        super().__init__()
        self.num_classes = num_classes
        self.image_size = image_size
        self.strides = [8, 16, 32]
        # anchor sizes (sqrt of area, pixels) per level; ratios are height / width
        self.anchor_sizes = [[anchor_scale * s * stride for s in anchor_scales] for stride in self.strides]
        self.aspect_ratios = [float(r) for r in aspect_ratios]
        self.num_anchors = len(anchor_scales) * len(aspect_ratios)
        self.fg_iou, self.bg_iou = fg_iou, bg_iou
        self.box_loss_kind, self.box_loss_weight = box_loss, box_loss_weight
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.backbone = Backbone(width, depth)
        self.fpn = FPNLite(self.backbone.out_channels, fpn_channels)
        self.head = Head(fpn_channels, self.num_anchors, num_classes, head_convs)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        if postprocess is None:
            postprocess = [{"nms": {"iou": nms_iou, "max_det": max_det}}]
        # the decoder is fixed by the head's geometry; what follows it is the user's chain
        decoder = {"decode_anchors": {
            "strides": self.strides, "sizes": self.anchor_sizes, "aspect_ratios": self.aspect_ratios,
            "score_threshold": score_thresh, "pre_nms_topk": pre_nms_top_k, "offset": 0.5,
        }}
        self.postprocess_spec = [decoder, *postprocess]
        self._postprocess = None  # built on first eval forward
        self._anchor_cache: dict[tuple[int, int, str], Tensor] = {}

    # ------------------------------------------------------------------ anchors and input
    def anchors(self, sizes: Sequence[tuple[int, int]], device: torch.device) -> Tensor:
        """``(N, 4)`` xyxy anchors in resized-image pixels for feature maps of ``sizes`` (one
        ``(h, w)`` per stride), in :func:`cvpipe.ops.anchor_grid` order (level, y, x, anchor),
        centred in their cells; the same geometry the ``decode_anchors`` postprocessor is given."""
        from ..ops import anchor_grid

        key = (tuple(tuple(int(v) for v in s) for s in sizes), str(device))
        cached = self._anchor_cache.get(key)  # type: ignore[arg-type]
        if cached is None:
            cached = anchor_grid(list(key[0]), self.strides, self.anchor_sizes, self.aspect_ratios,
                                 offset=0.5, device=device)
            self._anchor_cache[key] = cached  # type: ignore[index]
        return cached

    def raw_forward(self, x: Tensor) -> dict[str, Tensor]:
        """Raw head output for a normalised ``(B, 3, S, S)`` batch: ``logits`` ``(B, N, C)``,
        ``deltas`` ``(B, N, 4)`` and ``anchors`` ``(N, 4)`` xyxy."""
        feats = self.fpn(self.backbone(x))
        logits, deltas = self.head(feats)
        anchors = self.anchors([tuple(f.shape[-2:]) for f in feats], x.device)
        return {"logits": logits, "deltas": deltas, "anchors": anchors}

    def detect(self, raw: dict[str, Tensor], scales: Tensor) -> list[dict[str, Tensor]]:
        """Run the postprocess chain on the raw output; boxes mapped back to each input image."""
        if self._postprocess is None:
            from ..postprocess import build_postprocess

            self._postprocess = build_postprocess(self.postprocess_spec, where="postprocess")
        dets = self._postprocess(raw)
        return detections_to_images(dets, scales, self.image_size)

    def loss(self, raw: dict[str, Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Focal classification loss and IoU-family box loss, both normalised by the number of
        positive anchors in the batch."""
        from torchvision.ops import box_iou, sigmoid_focal_loss

        from ..ops import decode_boxes, iou_loss

        logits, deltas, anchors = raw["logits"], raw["deltas"], raw["anchors"]
        b, n, c = logits.shape
        cls_target = torch.zeros_like(logits)
        valid = torch.ones(b, n, dtype=torch.bool, device=logits.device)
        pos_pred, pos_gt = [], []
        for i, t in enumerate(targets):
            gt, labels = t["boxes"], t["labels"]
            if len(gt) == 0:
                continue
            iou = box_iou(gt, anchors)  # (G, N)
            best_iou, best_gt = iou.max(0)
            pos = best_iou >= self.fg_iou
            # every box keeps the anchors that overlap it best (low-quality matches)
            top = iou.max(1, keepdim=True).values
            extra = ((iou == top) & (top > 0)).nonzero()
            pos[extra[:, 1]] = True
            best_gt[extra[:, 1]] = extra[:, 0]
            valid[i] = pos | (best_iou < self.bg_iou)
            idx = pos.nonzero().squeeze(1)
            cls_target[i, idx, labels[best_gt[idx]]] = 1.0
            pos_pred.append(decode_boxes(deltas[i, idx], anchors[idx]))
            pos_gt.append(gt[best_gt[idx]])
        num_pos = max(1.0, float(sum(len(p) for p in pos_pred)))
        cls_loss = sigmoid_focal_loss(
            logits[valid], cls_target[valid], alpha=self.focal_alpha, gamma=self.focal_gamma, reduction="sum"
        ) / num_pos
        if pos_pred:
            pred, gt = torch.cat(pos_pred), torch.cat(pos_gt)
            box_loss = iou_loss(pred, gt, kind=self.box_loss_kind, reduction="sum") / num_pos
        else:
            box_loss = deltas.sum() * 0.0
        return {"cls_loss": cls_loss, "box_loss": self.box_loss_weight * box_loss}
