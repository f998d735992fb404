"""Built-in registration of cvpipe's anchor-free detectors ``cvdet-n``, ``cvdet-s``, ``cvdet-m``.

Each factory takes ``num_classes`` then the settings of
:class:`cvpipe.models.cvdet_settings.CvdetSettings` (its ``Settings`` attribute; the call
signature is made from that model, so YAML validation reads the one declaration). pydantic and
torch are imported on first use, not when the plugin registers.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl

__all__ = ["CvdetFactory"]


class CvdetFactory:
    """Factory of one cvdet size: ``factory(num_classes, **settings) -> CvdetDetector``."""

    def __init__(self, size: str) -> None:
        self.size = size
        self.__name__ = self.__qualname__ = f"cvdet_{size}"
        self.__doc__ = f"cvpipe's anchor-free detector, size {size} (CSP backbone, PAN, DFL + CIoU, TAL)."
        self._sig: Any = None

    def _signature(self) -> tuple[Any, dict[str, Any]]:
        if self._sig is None:
            from ..models.cvdet_settings import settings_signature

            self._sig = settings_signature()
        return self._sig

    @property
    def __signature__(self):  # read by inspect.signature
        return self._signature()[0]

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]  # read by typing.get_type_hints
        return self._signature()[1]

    @property
    def Settings(self):  # noqa: N802 - the settings-model attribute of cvpipe's factories
        from ..models.cvdet_settings import CvdetSettings

        return CvdetSettings

    def __call__(self, num_classes: int, **params: Any):
        from ..errors import ConfigError
        from ..models.cvdet import CvdetDetector, build_chain
        from ..models.cvdet_settings import build_cvdet_settings
        from ..models.weights import load_weights

        if num_classes < 1:
            raise ConfigError("a detector needs at least one class", field="num_classes", value=num_classes)
        settings = build_cvdet_settings(params)
        if settings.postprocess is not None:
            build_chain(settings.postprocess)  # validate now, before anything runs
        model = CvdetDetector(num_classes, self.size, settings)
        if settings.weights_backbone is not None:
            load_weights(model.backbone, settings.weights_backbone, what="backbone")
        if settings.weights is not None:
            load_weights(model, settings.weights, what="model")
        return model


@hookimpl
def cvpipe_register_models(register):
    for size, text in (("n", "nano"), ("s", "small"), ("m", "medium")):
        register.add_model(f"cvdet-{size}", CvdetFactory(size),
                            description=f"cvpipe's anchor-free detector, {text} (CSP-PAN, decoupled DFL head, TAL)")
