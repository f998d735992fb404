"""Registration of the built-in detection models: cvpipe's compact detector and torchvision's
detectors by name (the factories and their settings live in :mod:`cvpipe.models`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..contract import ModelRegistrar


@hookimpl
def cvpipe_register_models(register: ModelRegistrar):
    from ..models.factories import TORCHVISION_MODELS, compact, torchvision_factory

    register.add_model("compact", compact, description="cvpipe's compact anchor-based one-stage detector (fast on CPU)")
    for name, (_family, description) in TORCHVISION_MODELS.items():
        register.add_model(name, torchvision_factory(name), description=description)
