"""Multi-scale training: an input size per batch, seeded, a multiple of the network stride."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MultiScaleSampler"]


class MultiScaleSampler:
    """Input sizes for multi-scale training: ``size(epoch, step)`` is a multiple of ``stride``
    between ``base * low`` and ``base * high`` (rounded inwards to multiples, at least one
    stride), drawn uniformly among them, a pure function of ``(seed, epoch, step)`` -- a resumed
    run draws the same sizes, whatever the number of workers.

    Args:
        base: the nominal input size (a multiple of ``stride``).
        low, high: range factors, ``0 < low <= 1 <= high``.
        stride: the largest network stride (32).
        seed: the run's seed.
    """

    def __init__(self, base: int, low: float = 0.5, high: float = 1.5, stride: int = 32, seed: int = 0) -> None:
        if stride <= 0 or base <= 0 or base % stride:
            raise ValueError(f"base must be a positive multiple of stride {stride}, got {base}")
        if not 0 < low <= 1 <= high:
            raise ValueError(f"need 0 < low <= 1 <= high, got low={low}, high={high}")
        lo = max(stride, math.ceil(base * low / stride - 1e-9) * stride)
        hi = max(lo, math.floor(base * high / stride + 1e-9) * stride)
        self.sizes = list(range(lo, hi + 1, stride))
        self.base, self.stride, self.seed = base, stride, seed

    def size(self, epoch: int, step: int) -> int:
        """The input size of batch ``step`` of ``epoch``."""
        seq = np.random.SeedSequence([self.seed & 0xFFFFFFFF, 0x6D53, epoch & 0xFFFFFFFF, step & 0xFFFFFFFF])
        rng = np.random.default_rng(seq)
        return int(self.sizes[int(rng.integers(len(self.sizes)))])
