"""Early stopping on a validation metric, with the best epoch remembered (keep-best)."""

from __future__ import annotations

import math
from typing import Any, Literal

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when the metric has not improved for ``patience`` consecutive evaluations.

    Call :meth:`step` after each evaluation; it returns True when the value is a new best (the
    caller then saves ``best.pt``). :attr:`should_stop` turns True once ``patience`` evaluations
    in a row brought no improvement of more than ``min_delta``. ``patience`` 0 never stops.

    Args:
        patience: evaluations without improvement tolerated (>= 0; 0 disables stopping).
        mode: ``max`` (AP: larger is better) or ``min`` (a loss).
        min_delta: the improvement needed to count (>= 0).
    """

    def __init__(self, patience: int, mode: Literal["max", "min"] = "max", min_delta: float = 0.0) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience, self.mode, self.min_delta = patience, mode, min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, epoch: int, value: float) -> bool:
        """Record ``value`` of ``epoch``; True when it is the best so far. A NaN never improves."""
        value = float(value)
        if not math.isnan(value) and self._better(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        """``patience`` evaluations in a row without improvement (never when patience is 0)."""
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"patience": self.patience, "mode": self.mode, "min_delta": self.min_delta, "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counter and the best value (exact resume); the settings stay this run's."""
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
