"""The settings of cvpipe's models, declared once (no torch import here): the compact detector's
(:class:`CompactSettings`) and those of torchvision's detector families. The factories
(:mod:`cvpipe.models.factories`), YAML validation and the docs all read these classes.

Weights only ever come from a local file: ``weights`` (a whole model) or ``weights_backbone``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ..errors import ConfigError
from ..settings import Settings

__all__ = ["WeightsSettings", "CompactSettings", "RcnnSettings", "DenseSettings", "SsdSettings"]


class WeightsSettings(Settings):
    """Local weight files (nothing downloads)."""

    weights: Path | None = Field(None, description="a whole model's weights: a state dict, a cvpipe checkpoint, "
                                 "or a dict holding a ``state_dict``/``model`` (tensors of another shape are left "
                                 "at their initialisation)")
    weights_backbone: Path | None = Field(None, description="the backbone's state dict (e.g. an ImageNet "
                                          "classifier's)")


class CompactSettings(Settings):
    """cvpipe's compact anchor-based one-stage detector (see :mod:`cvpipe.models.compact`)."""

    image_size: int = Field(256, ge=32, multiple_of=32, description="side of the square the input is resized to")
    width: int = Field(16, gt=0, description="backbone base width (channels of the first stage)")
    depth: int = Field(1, ge=0, description="extra 3x3 convs per backbone stage")
    fpn_channels: int = Field(64, ge=8, multiple_of=8, description="channels of the pyramid and head")
    head_convs: int = Field(2, ge=0, description="conv layers in each head tower")
    anchor_scale: float = Field(4.0, gt=0, description="anchor side at a level = ``anchor_scale * stride * s`` for "
                                "each ``s`` in ``anchor_scales``")
    anchor_scales: list[float] = Field([1.0, 1.5], min_length=1, description="anchor sizes per position, "
                                       "relative (see ``anchor_scale``)")
    aspect_ratios: list[float] = Field([0.5, 1.0, 2.0], min_length=1, description="anchor shapes per position "
                                       "(ratio = height / width)")
    fg_iou: float = Field(0.5, description="IoU with a ground-truth box above which an anchor is positive (each "
                          "box also keeps its best anchor)")
    bg_iou: float = Field(0.4, description="IoU below which an anchor is negative (in between: ignored)")
    box_loss: Literal["iou", "giou", "diou", "ciou"] = Field("giou", description="IoU-family loss on decoded boxes")
    box_loss_weight: float = Field(2.0, description="weight of the box loss against the focal classification loss")
    postprocess: list[Any] | None = Field(None, description="the postprocessor chain run after the "
                                          "``decode_anchors`` decoder in eval mode (a YAML list, see "
                                          ":func:`cvpipe.postprocess.build_postprocess`); null: class-wise "
                                          "``nms`` with ``nms_iou`` and ``max_det``")
    score_thresh: float = Field(0.05, description="the decoder's score threshold per candidate")
    nms_iou: float = Field(0.5, description="IoU threshold of the default ``nms``")
    pre_nms_top_k: int = Field(1000, gt=0, description="candidates kept per image before NMS")
    max_det: int = Field(100, gt=0, description="detections kept per image by the default ``nms``")
    weights: Path | None = WeightsSettings.model_fields["weights"]
    weights_backbone: Path | None = WeightsSettings.model_fields["weights_backbone"]

    @model_validator(mode="after")
    def _consistent(self) -> "CompactSettings":
        if not 0 < self.bg_iou <= self.fg_iou <= 1:
            raise ConfigError("need 0 < bg_iou <= fg_iou <= 1", field="fg_iou", value=(self.bg_iou, self.fg_iou))
        if min(list(self.anchor_scales) + list(self.aspect_ratios)) <= 0:
            raise ConfigError("need positive values", field="anchor_scales",
                              value=(self.anchor_scales, self.aspect_ratios))
        if self.postprocess is not None:
            from ..postprocess import build_postprocess

            build_postprocess(self.postprocess, where="postprocess")  # validate now, before anything runs
        return self


class _TorchvisionSettings(WeightsSettings):
    trainable_backbone_layers: int | None = Field(None, ge=0, description="backbone stages to train (null: "
                                                  "torchvision's default)")


class _Resize(Settings):
    min_size: int | None = Field(None, gt=0, description="shorter image side torchvision resizes to")
    max_size: int | None = Field(None, gt=0, description="upper bound of the longer side")


class _DenseOutput(Settings):
    score_thresh: float | None = Field(None, description="score threshold of the detections")
    nms_thresh: float | None = Field(None, description="IoU threshold of the NMS")
    detections_per_img: int | None = Field(None, gt=0, description="detections kept per image")
    topk_candidates: int | None = Field(None, gt=0, description="candidates kept per level before NMS")


class _RcnnOutput(Settings):
    box_score_thresh: float | None = Field(None, description="score threshold of the detections")
    box_nms_thresh: float | None = Field(None, description="IoU threshold of the NMS")
    box_detections_per_img: int | None = Field(None, gt=0, description="detections kept per image")


class RcnnSettings(_RcnnOutput, _Resize, _TorchvisionSettings):
    """torchvision's Faster R-CNN family."""


class DenseSettings(_DenseOutput, _Resize, _TorchvisionSettings):
    """torchvision's RetinaNet and FCOS."""


class SsdSettings(_DenseOutput, _TorchvisionSettings):
    """torchvision's SSD and SSDlite (fixed input size)."""
