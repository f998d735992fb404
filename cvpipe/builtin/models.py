"""Built-in detection models: torchvision's detectors by name, and cvpipe's compact detector.

Every factory takes ``num_classes`` (object classes, no background) first, then keyword settings
validated from YAML. Weights only ever come from a local file: ``weights`` (a whole model: a
torchvision state dict, a cvpipe checkpoint, or a dict holding a ``state_dict``/``model``) or
``weights_backbone`` (the backbone's state dict, e.g. torchvision's ImageNet ``resnet50``). Tensors
whose shape does not fit (a classification head made for another class count) are left at their
fresh initialisation, which is how a head is replaced for a new class count. Nothing downloads:
torchvision is always called with ``weights=None, weights_backbone=None``.

torch and torchvision are imported inside the factories, so this module is cheap to import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl

__all__ = ["TORCHVISION_MODELS", "load_weights", "build_model"]

#: torchvision detector name -> (family, description)
TORCHVISION_MODELS: dict[str, tuple[str, str]] = {
    "fasterrcnn_resnet50_fpn": ("rcnn", "Faster R-CNN, ResNet-50 FPN (torchvision)"),
    "fasterrcnn_resnet50_fpn_v2": ("rcnn", "Faster R-CNN v2, ResNet-50 FPN (torchvision)"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("rcnn", "Faster R-CNN, MobileNetV3-Large FPN (torchvision)"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("rcnn", "Faster R-CNN, MobileNetV3-Large 320 FPN (torchvision)"),
    "retinanet_resnet50_fpn": ("dense", "RetinaNet, ResNet-50 FPN (torchvision)"),
    "retinanet_resnet50_fpn_v2": ("dense", "RetinaNet v2, ResNet-50 FPN (torchvision)"),
    "fcos_resnet50_fpn": ("dense", "FCOS, ResNet-50 FPN (torchvision)"),
    "ssd300_vgg16": ("ssd", "SSD300, VGG-16 (torchvision)"),
    "ssdlite320_mobilenet_v3_large": ("ssd", "SSDlite320, MobileNetV3-Large (torchvision)"),
}


def _module_class():
    import torch

    class TorchvisionDetector(torch.nn.Module):
        """A torchvision detector speaking cvpipe's 0-based labels: torchvision reserves class 0
        for the background, so labels are shifted by one going in and coming out."""

        param_prefix = "model."

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, images, targets=None):
            if targets is not None:
                targets = [dict(t, labels=t["labels"] + 1) for t in targets]
            out = self.model(images, targets)
            if self.training:
                return out
            return [dict(d, labels=d["labels"] - 1) for d in out]

    return TorchvisionDetector


def _wrap(model):
    global TorchvisionDetector
    try:
        cls = TorchvisionDetector  # type: ignore[name-defined]
    except NameError:
        cls = TorchvisionDetector = _module_class()  # type: ignore[misc]
    return cls(model)


def _check_positive(**values: Any) -> None:
    for name, v in values.items():
        if v is not None and v <= 0:
            raise ConfigError("must be positive", field=name, value=v, expected="a number > 0")


def _torchvision(name: str, num_classes: int, weights: Path | None, weights_backbone: Path | None, **kwargs: Any):
    import torchvision.models.detection as D

    if num_classes < 1:
        raise ConfigError("a detector needs at least one class", field="num_classes", value=num_classes)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    builder = getattr(D, name)
    # weights=None and weights_backbone=None: torchvision never downloads (random initialisation)
    model = _wrap(builder(weights=None, weights_backbone=None, num_classes=num_classes + 1, **kwargs))
    if weights_backbone is not None:
        load_weights(model.model.backbone, weights_backbone, what="backbone")
    if weights is not None:
        load_weights(model, weights, what="model")
    return model


def _make_rcnn(name: str):
    def factory(
        num_classes: int,
        *,
        weights: Path | None = None,
        weights_backbone: Path | None = None,
        trainable_backbone_layers: int | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        box_score_thresh: float | None = None,
        box_nms_thresh: float | None = None,
        box_detections_per_img: int | None = None,
    ):
        _check_positive(min_size=min_size, max_size=max_size, box_detections_per_img=box_detections_per_img)
        return _torchvision(name, num_classes, weights, weights_backbone,
                            trainable_backbone_layers=trainable_backbone_layers, min_size=min_size,
                            max_size=max_size, box_score_thresh=box_score_thresh,
                            box_nms_thresh=box_nms_thresh, box_detections_per_img=box_detections_per_img)

    return factory


def _make_dense(name: str):
    def factory(
        num_classes: int,
        *,
        weights: Path | None = None,
        weights_backbone: Path | None = None,
        trainable_backbone_layers: int | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        score_thresh: float | None = None,
        nms_thresh: float | None = None,
        detections_per_img: int | None = None,
        topk_candidates: int | None = None,
    ):
        _check_positive(min_size=min_size, max_size=max_size, detections_per_img=detections_per_img,
                        topk_candidates=topk_candidates)
        return _torchvision(name, num_classes, weights, weights_backbone,
                            trainable_backbone_layers=trainable_backbone_layers, min_size=min_size,
                            max_size=max_size, score_thresh=score_thresh, nms_thresh=nms_thresh,
                            detections_per_img=detections_per_img, topk_candidates=topk_candidates)

    return factory


def _make_ssd(name: str):
    def factory(
        num_classes: int,
        *,
        weights: Path | None = None,
        weights_backbone: Path | None = None,
        trainable_backbone_layers: int | None = None,
        score_thresh: float | None = None,
        nms_thresh: float | None = None,
        detections_per_img: int | None = None,
        topk_candidates: int | None = None,
    ):
        _check_positive(detections_per_img=detections_per_img, topk_candidates=topk_candidates)
        return _torchvision(name, num_classes, weights, weights_backbone,
                            trainable_backbone_layers=trainable_backbone_layers, score_thresh=score_thresh,
                            nms_thresh=nms_thresh, detections_per_img=detections_per_img,
                            topk_candidates=topk_candidates)

    return factory


_FAMILIES = {"rcnn": _make_rcnn, "dense": _make_dense, "ssd": _make_ssd}


def compact(
    num_classes: int,
    *,
    image_size: int = 256,
    width: int = 16,
    depth: int = 1,
    fpn_channels: int = 64,
    head_convs: int = 2,
    anchor_scale: float = 4.0,
    anchor_scales: list[float] = [1.0, 1.5],  # noqa: B006 - read-only default
    aspect_ratios: list[float] = [0.5, 1.0, 2.0],  # noqa: B006
    fg_iou: float = 0.5,
    bg_iou: float = 0.4,
    box_loss: str = "giou",
    box_loss_weight: float = 2.0,
    postprocess: list[Any] | None = None,
    score_thresh: float = 0.05,
    nms_iou: float = 0.5,
    pre_nms_top_k: int = 1000,
    max_det: int = 100,
    weights: Path | None = None,
    weights_backbone: Path | None = None,
):
    """cvpipe's compact anchor-based one-stage detector (CPU-friendly; see cvpipe.models.compact)."""
    if num_classes < 1:
        raise ConfigError("a detector needs at least one class", field="num_classes", value=num_classes)
    if image_size < 32 or image_size % 32:
        raise ConfigError("must be a multiple of 32, at least 32", field="image_size", value=image_size)
    if fpn_channels % 8:
        raise ConfigError("must be a multiple of 8", field="fpn_channels", value=fpn_channels)
    _check_positive(width=width, anchor_scale=anchor_scale, max_det=max_det, pre_nms_top_k=pre_nms_top_k)
    if depth < 0 or head_convs < 0:
        raise ConfigError("must be >= 0", field="depth" if depth < 0 else "head_convs", value=min(depth, head_convs))
    if not 0 < bg_iou <= fg_iou <= 1:
        raise ConfigError("need 0 < bg_iou <= fg_iou <= 1", field="fg_iou", value=(bg_iou, fg_iou))
    if box_loss not in ("iou", "giou", "diou", "ciou"):
        raise ConfigError("unknown box loss", field="box_loss", value=box_loss, expected="one of: iou, giou, diou, ciou")
    if not anchor_scales or not aspect_ratios or min(list(anchor_scales) + list(aspect_ratios)) <= 0:
        raise ConfigError("need at least one positive value in each", field="anchor_scales")
    if postprocess is not None:
        from .postprocess import build_postprocess

        build_postprocess(postprocess, where="postprocess")  # validate now, before anything runs
    from ..models.compact import CompactDetector

    model = CompactDetector(
        num_classes, image_size=image_size, width=width, depth=depth, fpn_channels=fpn_channels,
        head_convs=head_convs, anchor_scale=anchor_scale, anchor_scales=tuple(anchor_scales),
        aspect_ratios=tuple(aspect_ratios), fg_iou=fg_iou, bg_iou=bg_iou, box_loss=box_loss,
        box_loss_weight=box_loss_weight, postprocess=postprocess, score_thresh=score_thresh,
        nms_iou=nms_iou, pre_nms_top_k=pre_nms_top_k, max_det=max_det,
    )
    if weights_backbone is not None:
        load_weights(model.backbone, weights_backbone, what="backbone")
    if weights is not None:
        load_weights(model, weights, what="model")
    return model


# ---------------------------------------------------------------------------------- weights
_SOURCE_STRIP = ("", "module.", "model.", "backbone.", "features.", "body.", "module.model.")
_TARGET_PREFIX = ("", "model.", "body.", "backbone.body.", "model.backbone.body.", "backbone.")


def _state_dict_from(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(obj, dict) and obj.get("format") == "cvpipe-checkpoint":
        obj = obj.get("model", {}).get("state_dict")
    elif isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("no state dict in the weights file", file=str(path),
                         expected="a state dict (name -> tensor), a cvpipe checkpoint, or a dict with 'state_dict'")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_weights(module, path: Path, *, what: str = "model") -> dict[str, int]:
    """Load the tensors of the local file ``path`` into ``module`` (``weights_only=True``).

    Parameter names are matched after removing a common prefix on either side (``module.``
    from DDP, ``model.``, ``features.``/``body.`` of backbones); the prefix pairing that fits most
    tensors wins. Tensors whose shape differs (a head for another class count) are skipped.

    Returns:
        ``{"loaded": n, "skipped_shape": n, "missing": n}``.

    Raises:
        InputError: naming the file, when it cannot be read or no tensor fits ``module``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} weights file not found", file=str(path), expected="a local .pt/.pth file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError("cannot read weights: corrupt, or not a weights-only torch file", file=str(path),
                         value=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]) from None
    src = _state_dict_from(raw, path)
    dst = module.state_dict()
    best: tuple[int, dict[str, Any], int] = (-1, {}, 0)
    for strip in _SOURCE_STRIP:
        for prefix in _TARGET_PREFIX:
            fit, wrong = {}, 0
            for k, v in src.items():
                if strip and not k.startswith(strip):
                    continue
                name = prefix + k[len(strip):]
                if name in dst:
                    if dst[name].shape == v.shape:
                        fit[name] = v
                    else:
                        wrong += 1
            if len(fit) > best[0]:
                best = (len(fit), fit, wrong)
    n, fit, wrong = best
    if n <= 0:
        raise InputError(f"no tensor in the file fits the {what}", file=str(path),
                         expected=f"weights of this {what} (matching parameter names and shapes)")
    module.load_state_dict(fit, strict=False)
    return {"loaded": n, "skipped_shape": wrong, "missing": len(dst) - n}


def build_model(name: str, num_classes: int, params: dict[str, Any] | None = None, *, where: str = "model",
                file: str | None = None, lines: dict[str, int] | None = None, base_dir: Path | None = None):
    """The registered model ``name`` built for ``num_classes`` with validated ``params``."""
    from ..plugins import get_registry

    return get_registry().models.create(name, params or {}, num_classes, where=where, file=file, lines=lines,
                                        base_dir=base_dir)


@hookimpl
def cvpipe_register_models(register):
    register("compact", compact, description="cvpipe's compact anchor-based one-stage detector (fast on CPU)")
    for name, (family, description) in TORCHVISION_MODELS.items():
        factory = _FAMILIES[family](name)
        factory.__name__ = name
        factory.__qualname__ = name
        factory.__doc__ = f"{description}; weights only from local files."
        register(name, factory, description=description)
