"""The model factories cvpipe ships: torchvision's detectors by name and cvpipe's compact
detector. Each takes ``num_classes`` (object classes, no background) first, then the keyword
settings its ``Settings`` model declares (:mod:`cvpipe.models.settings`), validated before the
call. Nothing downloads: torchvision is always called with ``weights=None, weights_backbone=None``
and weights only come from local files (:func:`cvpipe.models.weights.load_weights`).

torch and torchvision are imported inside the factories, so this module is cheap to import.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from ..settings import Lazy, build_settings

__all__ = ["TORCHVISION_MODELS", "compact", "torchvision_factory"]

#: torchvision detector name -> (settings family, description)
TORCHVISION_MODELS: dict[str, tuple[str, str]] = {
    "fasterrcnn_resnet50_fpn": ("Rcnn", "Faster R-CNN, ResNet-50 FPN (torchvision)"),
    "fasterrcnn_resnet50_fpn_v2": ("Rcnn", "Faster R-CNN v2, ResNet-50 FPN (torchvision)"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("Rcnn", "Faster R-CNN, MobileNetV3-Large FPN (torchvision)"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("Rcnn", "Faster R-CNN, MobileNetV3-Large 320 FPN (torchvision)"),
    "retinanet_resnet50_fpn": ("Dense", "RetinaNet, ResNet-50 FPN (torchvision)"),
    "retinanet_resnet50_fpn_v2": ("Dense", "RetinaNet v2, ResNet-50 FPN (torchvision)"),
    "fcos_resnet50_fpn": ("Dense", "FCOS, ResNet-50 FPN (torchvision)"),
    "ssd300_vgg16": ("Ssd", "SSD300, VGG-16 (torchvision)"),
    "ssdlite320_mobilenet_v3_large": ("Ssd", "SSDlite320, MobileNetV3-Large (torchvision)"),
}

_SETTINGS = "cvpipe.models.settings"


def _check_classes(num_classes: int) -> None:
    if num_classes < 1:
        raise ConfigError("a detector needs at least one class", field="num_classes", value=num_classes)


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


def torchvision_factory(name: str) -> Callable[..., Any]:
    """The factory of torchvision detector ``name`` (a key of :data:`TORCHVISION_MODELS`), its
    settings those of its family (``RcnnSettings``, ``DenseSettings`` or ``SsdSettings``)."""
    family, description = TORCHVISION_MODELS[name]

    def factory(num_classes: int, **settings: Any):
        import torchvision.models.detection as D

        from .weights import load_weights

        _check_classes(num_classes)
        s = build_settings(factory.Settings.resolve(), settings)  # type: ignore[attr-defined]
        kwargs = {k: v for k, v in s.model_dump(exclude={"weights", "weights_backbone"}).items() if v is not None}
        # weights=None and weights_backbone=None: torchvision never downloads (random initialisation)
        model = _wrap(getattr(D, name)(weights=None, weights_backbone=None, num_classes=num_classes + 1, **kwargs))
        if s.weights_backbone is not None:
            load_weights(model.model.backbone, s.weights_backbone, what="backbone")
        if s.weights is not None:
            load_weights(model, s.weights, what="model")
        return model

    factory.Settings = Lazy(f"{_SETTINGS}:{family}Settings")  # type: ignore[attr-defined]
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"{description}; weights only from local files."
    return factory


def compact(num_classes: int, **settings: Any):
    """cvpipe's compact anchor-based one-stage detector (CPU-friendly; see cvpipe.models.compact)."""
    from .compact import CompactDetector
    from .weights import load_weights

    _check_classes(num_classes)
    s = build_settings(compact.Settings.resolve(), settings)  # type: ignore[attr-defined]
    model = CompactDetector(num_classes, s)
    if s.weights_backbone is not None:
        load_weights(model.backbone, s.weights_backbone, what="backbone")
    if s.weights is not None:
        load_weights(model, s.weights, what="model")
    return model


compact.Settings = Lazy(f"{_SETTINGS}:CompactSettings")  # type: ignore[attr-defined]
