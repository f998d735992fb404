"""cvdet: cvpipe's anchor-free one-stage detector, in three sizes (``cvdet-n``, ``-s``, ``-m``).

Architecture (strides relative to the resized input, ``image_size`` square):

* backbone: CSPDarknet-style (:class:`cvpipe.models.csp.CSPBackbone`, widths and depths scaled by
  the size's multipliers, :data:`cvpipe.models.cvdet_settings.SIZES`) or a timm model by name
  (:class:`cvpipe.models.timm_backbone.TimmBackbone`); features C3, C4, C5 at strides 8, 16, 32;
* neck: PAN (:class:`cvpipe.models.csp.PAN`), top-down then bottom-up;
* head: decoupled per level -- a 1x1 stem, then a classification branch (two 3x3 convs, ``C``
  sigmoid logits) and a box branch (two 3x3 convs, four distributions over the distance bins
  ``0 .. reg_max``, GFL) per anchor point (one point per feature-map cell, no anchor boxes).

Boxes are regressed as distances (left, top, right, bottom, in strides) from the cell centre,
each the expectation of its softmax distribution. Training: task-aligned assignment (TOOD) of
points to ground-truth boxes, classification by BCE (or quality focal loss) against the
normalised alignment, CIoU loss (:func:`cvpipe.ops.iou_loss`) and distribution focal loss on the
positives, each weighted by the positive's target score and normalised by their sum.

The model follows torchvision's detection protocol (see ``cvpipe_register_models``): a list of
float ``(3, H, W)`` images in [0, 1] of any size, stretched to ``image_size`` itself (boxes
scaled accordingly), normalised with ImageNet mean/std; losses in training mode, detections
(boxes xyxy in the input images' pixels, scores, 0-based labels) in eval mode. Decoded
candidates go through cvpipe's registered postprocessors (default: the registry's ``nms``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .csp import PAN, ConvBnAct, CSPBackbone
from .cvdet_settings import SIZES, CvdetSettings
from .stretch import SquareInputDetector, detections_to_images
from .tal import TaskAlignedAssigner, anchor_points, boxes_to_ltrb, dfl_expectation, dfl_loss, ltrb_to_boxes

__all__ = ["CvdetDetector", "DecoupledHead", "build_chain"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DecoupledHead(nn.Module):
    """Per-level decoupled head: 1x1 stem, then separate classification and box branches.

    Returns ``(B, N, C)`` class logits and ``(B, N, 4 * (reg_max + 1))`` distance logits, N the
    sum of ``H * W`` over levels, rows ordered level, y, x (the order of
    :func:`cvpipe.models.tal.anchor_points`).
    """

    def __init__(self, in_channels: Sequence[int], channels: int, num_classes: int, reg_max: int,
                 prior: float = 0.01) -> None:
        super().__init__()
        self.num_classes, self.reg_max = num_classes, reg_max
        self.stems = nn.ModuleList(ConvBnAct(c, channels, 1) for c in in_channels)
        self.cls_convs = nn.ModuleList(
            nn.Sequential(ConvBnAct(channels, channels, 3), ConvBnAct(channels, channels, 3)) for _ in in_channels)
        self.reg_convs = nn.ModuleList(
            nn.Sequential(ConvBnAct(channels, channels, 3), ConvBnAct(channels, channels, 3)) for _ in in_channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(channels, num_classes, 1) for _ in in_channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(channels, 4 * (reg_max + 1), 1) for _ in in_channels)
        for conv in self.cls_preds:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, -math.log((1 - prior) / prior))
        for conv in self.reg_preds:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, feats: list[Tensor]) -> tuple[Tensor, Tensor]:
        logits, regs = [], []
        for i, f in enumerate(feats):
            x = self.stems[i](f)
            c = self.cls_preds[i](self.cls_convs[i](x))
            r = self.reg_preds[i](self.reg_convs[i](x))
            logits.append(c.flatten(2).transpose(1, 2))
            regs.append(r.flatten(2).transpose(1, 2))
        return torch.cat(logits, 1), torch.cat(regs, 1)


def build_chain(spec: list[Any], where: str = "postprocess") -> list[tuple[str, Any]]:
    """The registered postprocessors of the YAML chain ``spec`` (``[{nms: {iou: 0.6}}, ...]``),
    built through the plugin registry; decoders are refused (cvdet decodes its own head).

    Raises:
        ConfigError: at ``postprocess[i]...`` for a malformed entry, an unknown postprocessor or
            setting, or a decoder.
    """
    from ..errors import ConfigError
    from ..plugins import get_registry

    family = get_registry().postprocessors
    if not isinstance(spec, (list, tuple)):
        raise ConfigError("wrong type", field=where, value=spec, expected="a list of postprocessors, e.g. [{nms: {iou: 0.5}}]")
    steps = []
    for i, entry in enumerate(spec):
        path = f"{where}[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError("wrong type", field=path, value=entry,
                              expected="a mapping with one key, the postprocessor's name (e.g. {nms: {iou: 0.5}})")
        (name, params), = entry.items()
        if params is not None and not isinstance(params, dict):
            raise ConfigError("wrong type", field=f"{path}.{name}", value=params, expected="a mapping of settings")
        step = family.create(str(name), params or {}, where=f"{path}.{name}")
        if getattr(step, "is_decoder", False):
            raise ConfigError("cvdet decodes its own head: no decoder in its chain", field=path, value=str(name),
                              expected="postprocessors of detections (nms, soft_nms, score_threshold, topk, ...)")
        steps.append((str(name), step))
    return steps


class CvdetDetector(SquareInputDetector):
    """cvpipe's anchor-free one-stage detector (see the module docstring).

    Args:
        num_classes: object classes (no background).
        size: ``n``, ``s`` or ``m`` (depth and width multipliers of the CSP backbone and neck).
        settings: the validated :class:`CvdetSettings` (defaults when None). ``weights`` and
            ``weights_backbone`` are not loaded here (the factory does it).
    """

    strides = (8, 16, 32)

    def __init__(self, num_classes: int, size: str = "n", settings: CvdetSettings | None = None) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        s = settings or CvdetSettings()
        self.settings, self.size, self.num_classes = s, size, num_classes
        self.image_size = s.image_size
        self.reg_max = s.reg_max
        depth, width = SIZES[size]
        if s.backbone.startswith("timm:"):
            from .timm_backbone import TimmBackbone

            self.backbone: nn.Module = TimmBackbone(s.backbone[len("timm:"):], self.strides)
        else:
            self.backbone = CSPBackbone(width, depth)
        in_ch = list(self.backbone.out_channels)
        self.neck = PAN(in_ch, depth)
        head_ch = s.head_channels or max(32, in_ch[0])
        self.head = DecoupledHead(self.neck.out_channels, head_ch, num_classes, s.reg_max)
        self.assigner = TaskAlignedAssigner(topk=s.topk, alpha=s.alpha, beta=s.beta)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.postprocess_spec = (s.postprocess if s.postprocess is not None
                                 else [{"nms": {"iou": s.nms_iou, "max_det": s.max_det}}])
        self._chain: list[tuple[str, Any]] | None = None  # built on first eval forward
        self._points: dict[tuple, tuple[Tensor, Tensor]] = {}

    # ------------------------------------------------------------------ input and raw output
    def points(self, sizes: Sequence[tuple[int, int]], device: torch.device) -> tuple[Tensor, Tensor]:
        """Anchor points ``(N, 2)`` and strides ``(N,)`` for feature maps of ``sizes`` (cached)."""
        key = (tuple(tuple(int(v) for v in sz) for sz in sizes), str(device))
        if key not in self._points:
            self._points[key] = anchor_points(key[0], self.strides, device=device)
        return self._points[key]

    def dense(self, x: Tensor) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
        """Backbone, neck and head on a normalised ``(B, 3, S, S)`` batch: ``(B, N, C)`` class
        logits, ``(B, N, 4 * (reg_max + 1))`` distance logits and the ``(h, w)`` of each level's
        feature map. All the tensor work, and
        nothing data-dependent: the part to hand to ``torch.compile``
        (``model.dense = torch.compile(model.dense)`` keeps the state dict's names)."""
        feats = self.neck(self.backbone(x))
        logits, reg = self.head(feats)
        return logits, reg, [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]

    def raw_forward(self, x: Tensor) -> dict[str, Tensor]:
        """Raw output for a normalised ``(B, 3, S, S)`` batch: ``logits`` ``(B, N, C)``, ``reg``
        ``(B, N, 4 * (reg_max + 1))``, ``points`` ``(N, 2)``, ``point_strides`` ``(N,)`` and the
        decoded ``boxes`` ``(B, N, 4)`` xyxy in resized pixels."""
        logits, reg, sizes = self.dense(x)
        pts, strides = self.points(sizes, x.device)
        boxes = ltrb_to_boxes(pts, dfl_expectation(reg, self.reg_max), strides)
        return {"logits": logits, "reg": reg, "points": pts, "point_strides": strides, "boxes": boxes}

    def detect(self, raw: dict[str, Tensor], scales: Tensor) -> list[dict[str, Tensor]]:
        """Candidates per image (every class score above ``score_thresh``, the best
        ``pre_nms_top_k``), then the postprocessor chain, then boxes mapped back to each input
        image and clipped to it."""
        from ..ops import select_candidates

        if self._chain is None:
            self._chain = build_chain(self.postprocess_spec)
        s = self.settings
        scores = raw["logits"].sigmoid()
        dets: list[dict[str, Any]] = []
        for i in range(scores.shape[0]):
            idx, sc, lab = select_candidates(scores[i], s.score_thresh, s.pre_nms_top_k, multi_label=True)
            dets.append({"boxes": raw["boxes"][i, idx], "scores": sc, "labels": lab})
        for _, step in self._chain:
            dets = step(dets)
        return detections_to_images(dets, scales, self.image_size)

    def loss(self, raw: dict[str, Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """``cls_loss`` (BCE or QFL against the normalised alignment, over all points),
        ``box_loss`` (CIoU) and ``dfl_loss`` on the positives; all divided by the sum of the
        target scores in the batch (at least 1), then weighted."""
        from ..ops import iou_loss

        s = self.settings
        logits, reg, boxes = raw["logits"], raw["reg"], raw["boxes"]
        pts, strides = raw["points"], raw["point_strides"]
        probs = logits.detach().sigmoid()
        t_scores, t_boxes, fg = [], [], []
        for i, t in enumerate(targets):
            a = self.assigner(probs[i], boxes[i].detach(), pts, t["boxes"], t["labels"])
            t_scores.append(a.scores)
            t_boxes.append(a.boxes)
            fg.append(a.fg)
        target = torch.stack(t_scores).to(logits.dtype)
        tbox = torch.stack(t_boxes)
        mask = torch.stack(fg)
        norm = target.sum().clamp(min=1.0)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if s.cls_loss == "qfl":
            bce = bce * (logits.sigmoid() - target).abs().pow(s.qfl_gamma)
        cls_loss = bce.sum() / norm
        if bool(mask.any()):
            w = target.sum(-1)[mask]
            box = (iou_loss(boxes[mask], tbox[mask], kind="ciou") * w).sum() / norm
            n_pts = pts.shape[0]
            point_idx = torch.arange(n_pts, device=pts.device).expand(mask.shape[0], n_pts)[mask]
            ltrb = boxes_to_ltrb(pts[point_idx], tbox[mask], strides[point_idx])
            dfl = (dfl_loss(reg[mask], ltrb, self.reg_max) * w).sum() / norm
        else:
            box = dfl = reg.sum() * 0.0
        return {"cls_loss": s.cls_weight * cls_loss, "box_loss": s.box_weight * box, "dfl_loss": s.dfl_weight * dfl}
