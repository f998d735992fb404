"""Building a registered model by name: :func:`build_model` (the engine and ``cvpipe predict``
use it; models are looked up in the registry, so a plugin's model builds like a built-in one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_model"]


def build_model(name: str, num_classes: int, params: dict[str, Any] | None = None, *, where: str = "model",
                file: str | None = None, lines: dict[str, int] | None = None, base_dir: Path | None = None):
    """The registered model ``name`` built for ``num_classes`` with validated ``params``."""
    from ..plugins import get_registry

    return get_registry().models.create(name, params or {}, num_classes, where=where, file=file, lines=lines,
                                        base_dir=base_dir)
