"""JSON-ready data: :func:`jsonable`, the one conversion of results, reports and settings before
they are written as JSON or YAML."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: mappings (keys as text), lists (from tuples and sets too),
    strings, finite numbers, booleans and null. Paths become text, non-finite floats their text
    (``"nan"``), dates ISO 8601, numpy scalars and arrays Python values and lists,
    :class:`~cvpipe.errors.Problem` records their dicts, anything else its ``repr``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    from .errors import Problem

    if isinstance(value, Problem):
        return value.to_dict()
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return jsonable(value.item())
        if isinstance(value, np.ndarray):
            return jsonable(value.tolist())
    except ImportError:  # pragma: no cover
        pass
    return repr(value)
