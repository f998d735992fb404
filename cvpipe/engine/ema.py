"""Exponential moving average of a model's weights (Polyak averaging, as in YOLOX / timm's
``ModelEmaV2``), with a warm-up of the decay so early, poor weights are forgotten quickly.

After ``n`` updates the decay is ``decay * (1 - exp(-n / tau))``: near 0 at the start, ``decay``
after a few ``tau``. Floating-point parameters and buffers are averaged; integer buffers (e.g.
BatchNorm's ``num_batches_tracked``) are copied. :meth:`ModelEMA.state_dict` holds everything
an exact resume needs (the averaged tensors and the update count).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module under DDP/DataParallel (``.module``) and ``torch.compile`` (``._orig_mod``)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        else:
            return model


class ModelEMA:
    """A moving-average copy of ``model`` (in eval mode, no gradients), on the model's device.

    Args:
        model: the model being trained (wrapped or not).
        decay: the decay once warmed up, in [0, 1).
        tau: warm-up length in updates (> 0).
        updates: updates already done (a resumed run restores it through :meth:`load_state_dict`).
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, tau: float = 2000.0, updates: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def current_decay(self) -> float:
        """The decay the next update uses."""
        return self.decay * (1.0 - math.exp(-(self.updates + 1) / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Average ``model``'s current weights in (call after each optimiser step)."""
        d = self.current_decay()
        self.updates += 1
        src = unwrap_model(model).state_dict()
        for name, ema in self.module.state_dict().items():
            cur = src[name].detach()
            if ema.dtype.is_floating_point:
                ema.mul_(d).add_(cur.to(ema.dtype), alpha=1.0 - d)
            else:
                ema.copy_(cur)

    def state_dict(self) -> dict[str, Any]:
        """``{"updates", "decay", "tau", "module"}`` (the averaged state dict)."""
        return {"updates": self.updates, "decay": self.decay, "tau": self.tau, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave (exact resume)."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay, self.tau = float(state["decay"]), float(state["tau"])
