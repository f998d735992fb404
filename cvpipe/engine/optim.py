"""Optimiser parameter groups without weight decay on norms and biases, and a learning-rate
warm-up in which the bias group starts high and comes down (as YOLOX-style recipes do).

Groups (named by their ``name`` key): ``decay`` (conv/linear weights, ``weight_decay``),
``no_decay`` (normalisation layers' weights, weight decay 0) and ``bias`` (every bias, weight
decay 0). Frozen parameters (``requires_grad`` False) are left out.
"""

from __future__ import annotations

from typing import Any, Iterable

from torch import nn

__all__ = ["param_groups", "warmup_factor", "apply_warmup", "NORM_TYPES"]

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
)


def param_groups(model: nn.Module, weight_decay: float, *, norm_types: Iterable[type[nn.Module]] = NORM_TYPES
                 ) -> list[dict[str, Any]]:
    """``[{"name": "decay", "params", "weight_decay"}, {"name": "no_decay", ...}, {"name": "bias", ...}]``
    for ``torch.optim`` (empty groups are dropped). Each parameter is in exactly one group."""
    norms = tuple(norm_types)
    decay, no_decay, bias = [], [], []
    seen: set[int] = set()
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if pname == "bias":
                bias.append(p)
            elif isinstance(module, norms) or p.ndim <= 1:
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [{"name": "decay", "params": decay, "weight_decay": weight_decay},
              {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
              {"name": "bias", "params": bias, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up fraction in [0, 1]: ``(step + 1) / warmup_steps``, 1 once warmed up."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def apply_warmup(optimizer: Any, step: int, warmup_steps: int, target_lrs: list[float],
                 warmup_bias_lr: float = 0.1) -> None:
    """Set every group's ``lr`` for optimiser ``step`` of a warm-up of ``warmup_steps``.

    ``target_lrs[i]`` is group ``i``'s learning rate after warm-up (what the schedule gives at
    this step). Groups rise linearly from 0 to it; the ``bias`` group falls linearly from
    ``warmup_bias_lr`` to it instead. After the warm-up every group gets its target.
    """
    f = warmup_factor(step, warmup_steps)
    for group, target in zip(optimizer.param_groups, target_lrs):
        if group.get("name") == "bias":
            group["lr"] = warmup_bias_lr + (target - warmup_bias_lr) * f
        else:
            group["lr"] = target * f
