"""The settings of cvpipe's ``cvdet`` detectors, declared once (no torch import here).

:class:`CvdetSettings` is the one declaration of names, types, defaults, ranges and
descriptions; the factories (:mod:`cvpipe.models.cvdet`'s :func:`~cvpipe.models.cvdet.build_cvdet`
via the built-in plugin, whose ``Settings`` attribute it is), YAML validation (:func:`cvpipe.settings.bind`) and
the docs read it; :func:`settings_signature` gives the factories a matching call signature.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, Field, model_validator

from ..settings import Settings

__all__ = ["SIZES", "CvdetSettings", "build_cvdet_settings", "settings_signature"]

#: size -> (depth multiplier, width multiplier), YOLOX's scaling of CSPDarknet
SIZES: dict[str, tuple[float, float]] = {"n": (0.33, 0.25), "s": (0.33, 0.50), "m": (0.67, 0.75)}


class CvdetSettings(Settings):
    """cvpipe's anchor-free one-stage detector (see :mod:`cvpipe.models.cvdet`)."""

    image_size: int = Field(320, ge=32, multiple_of=32, description="side of the square the input is resized to "
                            "(stretched)")
    backbone: str = Field("cspdarknet", description="``cspdarknet`` (cvdet's own, scaled by the size) or "
                          "``timm:NAME`` (a timm model with features at strides 8/16/32; needs cvpipe[timm])")
    head_channels: int | None = Field(None, ge=8, multiple_of=8, description="channels of the head branches "
                                      "(null: the neck's stride-8 width, at least 32)")
    reg_max: int = Field(16, ge=1, le=64, description="largest distance bin of the box distributions "
                         "(in strides; bins 0..reg_max)")
    topk: int = Field(10, ge=1, description="positives per ground-truth box (task-aligned assigner)")
    alpha: float = Field(1.0, ge=0, description="exponent of the class score in the alignment metric")
    beta: float = Field(6.0, ge=0, description="exponent of the IoU in the alignment metric")
    cls_loss: Literal["bce", "qfl"] = Field("bce", description="classification loss against the normalised "
                                            "alignment: binary cross-entropy or quality focal loss")
    qfl_gamma: float = Field(2.0, ge=0, description="modulating exponent of the quality focal loss")
    cls_weight: float = Field(1.0, ge=0, description="weight of the classification loss")
    box_weight: float = Field(2.5, ge=0, description="weight of the CIoU box loss")
    dfl_weight: float = Field(0.5, ge=0, description="weight of the distribution focal loss")
    postprocess: list[Any] | None = Field(None, description="the postprocessor chain run on the decoded "
                                          "detections in eval mode (a YAML list of registered postprocessors); "
                                          "null: class-wise ``nms`` with ``nms_iou`` and ``max_det``")
    score_thresh: float = Field(0.001, ge=0, le=1, description="candidates scoring at most this are dropped "
                                "before the chain")
    pre_nms_top_k: int = Field(1000, gt=0, description="candidates kept per image before the chain")
    nms_iou: float = Field(0.6, gt=0, le=1, description="IoU threshold of the default ``nms``")
    max_det: int = Field(300, gt=0, description="detections kept per image by the default ``nms``")
    weights: Path | None = Field(None, description="a whole model's weights (local file: a state dict, a cvpipe "
                                 "checkpoint, or a dict holding a ``state_dict``/``model``)")
    weights_backbone: Path | None = Field(None, description="the backbone's state dict (local file), e.g. a timm "
                                          "or cvdet backbone's")

    @model_validator(mode="after")
    def _backbone_name(self) -> "CvdetSettings":
        if self.backbone != "cspdarknet" and not (self.backbone.startswith("timm:") and len(self.backbone) > 5):
            raise ValueError(f"backbone must be 'cspdarknet' or 'timm:NAME', got {self.backbone!r}")
        return self


def build_cvdet_settings(values: Mapping[str, Any]) -> CvdetSettings:
    """:class:`CvdetSettings` from keyword values (:func:`cvpipe.settings.build_settings`: every
    problem at once as one :class:`~cvpipe.errors.ConfigError` naming the setting, its value and
    what is accepted)."""
    from ..settings import build_settings

    return build_settings(CvdetSettings, dict(values))


def settings_signature(model: type[BaseModel] = CvdetSettings) -> tuple[inspect.Signature, dict[str, Any]]:
    """A factory signature ``(num_classes: int, *, <fields>)`` and its annotations, made from the
    settings model's fields, so signature-based validation reads the one declaration."""
    params = [inspect.Parameter("num_classes", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)]
    ann: dict[str, Any] = {"num_classes": int}
    for name, f in model.model_fields.items():
        default = inspect.Parameter.empty if f.is_required() else f.default
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=f.annotation))
        ann[name] = f.annotation
    return inspect.Signature(params), ann
