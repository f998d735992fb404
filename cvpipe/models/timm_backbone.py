"""timm backbones by name, as feature pyramids for a detector neck.

``timm`` (Apache-2.0) is an optional extra (``pip install cvpipe[timm]``); it is imported only
when such a backbone is built. Models are created at random initialisation
(``pretrained=False``: nothing downloads); weights come from a local file loaded by the caller.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from ..errors import ConfigError, closest

__all__ = ["TIMM_PREFIX", "TimmBackbone", "import_timm"]

#: a ``backbone`` setting starting with this names a timm model (``timm:resnet18``)
TIMM_PREFIX = "timm:"


def import_timm():
    """The ``timm`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import timm
    except ImportError:
        raise ConfigError("timm backbones need the optional package timm", field="backbone",
                          expected="timm installed: pip install cvpipe[timm]") from None
    return timm


class TimmBackbone(nn.Module):
    """A timm model with ``features_only=True``, returning its feature maps at ``strides``
    (default 8, 16, 32) as a list of ``(B, C_i, H / s_i, W / s_i)`` tensors; :attr:`out_channels`
    are their channel counts.

    Raises:
        ConfigError: timm is not installed, the name is unknown to timm, or the model has no
            feature map at one of the strides.
    """

    def __init__(self, name: str, strides: Sequence[int] = (8, 16, 32)) -> None:
        super().__init__()
        timm = import_timm()
        field = "backbone"
        if name not in timm.list_models():
            guess = closest(name, timm.list_models())
            raise ConfigError("unknown timm model", field=field, value=TIMM_PREFIX + name,
                              expected="a name from timm.list_models()",
                              hint=f"did you mean {TIMM_PREFIX}{guess}?" if guess else None)
        probe = timm.create_model(name, pretrained=False, features_only=True)
        reductions = list(probe.feature_info.reduction())
        missing = [s for s in strides if s not in reductions]
        if missing:
            raise ConfigError("the timm model has no feature map at these strides", field=field,
                              value=TIMM_PREFIX + name, expected=f"features at strides {list(strides)}; "
                              f"this model has {reductions}")
        indices = tuple(reductions.index(s) for s in strides)
        self.body = timm.create_model(name, pretrained=False, features_only=True, out_indices=indices)
        self.out_channels = list(self.body.feature_info.channels())
        self.strides = tuple(strides)
        self.name = name

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x))
