"""Argument handling shared by :mod:`cvpipe.ops`: numpy or torch in, torch out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


_FLOATS = (torch.float32, torch.float64)


def as_tensor(x: Any, *, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
    """``x`` (tensor, numpy array or nested sequence) as a tensor, without copying when possible."""
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        t = torch.as_tensor(x)
    if (dtype is not None and t.dtype != dtype) or (device is not None and t.device != device):
        t = t.to(dtype=dtype or t.dtype, device=device or t.device)
    return t


def as_boxes(x: Any, name: str = "boxes", device: torch.device | None = None) -> Tensor:
    """``x`` as a floating tensor of shape ``(..., 4)`` (integers become float32)."""
    if type(x) is Tensor and x.dtype in _FLOATS and x.shape[-1:] == (4,) and (device is None or x.device == device):
        return x  # the common case, kept cheap: NMS on small inputs is dominated by call overhead
    t = as_tensor(x, device=device)
    if t.numel() == 0 and t.dim() < 2:
        t = t.reshape(0, 4)
    if t.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4) (xyxy), got {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t


def as_scores(x: Any, like: Tensor, name: str = "scores") -> Tensor:
    """``x`` as a 1-D tensor of ``like``'s floating dtype and device."""
    t = as_tensor(x, dtype=like.dtype, device=like.device)
    return t.reshape(-1) if t.dim() == 0 or t.numel() == 0 else t


def as_labels(x: Any, device: torch.device, name: str = "labels") -> Tensor:
    """``x`` as an int64 tensor on ``device``."""
    return as_tensor(x, dtype=torch.int64, device=device).reshape(-1)


def check_same_length(n: int, **tensors: Tensor) -> None:
    for name, t in tensors.items():
        if t.shape[0] != n:
            raise ValueError(f"{name} has {t.shape[0]} entries but boxes has {n}")


def check_range(name: str, value: float, lo: float | None = None, hi: float | None = None,
                *, lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise ValueError naming ``name`` when ``value`` lies outside [lo, hi] (open ends if told)."""
    bad = (lo is not None and (value <= lo if lo_open else value < lo)) or (
        hi is not None and (value >= hi if hi_open else value > hi)
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"{name} must be in {left}{lo_s}, {hi_s}{right}, got {value!r}")
