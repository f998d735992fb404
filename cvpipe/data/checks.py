"""THE box and image checks: one rule and one tolerance for every reader, writer and converter.

A box is valid when its four xyxy coordinates are finite, ``x_min < x_max`` and
``y_min < y_max``, and it lies inside the image ``[0, width] x [0, height]`` within
:data:`OUTSIDE_TOLERANCE` of the image side (float formats, COCO xywh and YOLO normalised values,
land a hair past the border after arithmetic that is exact on paper). Each box gets its first
problem, in this order: ``finite``, ``inverted``, ``empty``, ``outside``; :data:`BOX_PROBLEMS`
words each one, the same way everywhere.

:func:`box_problem` checks one box in pure Python (streaming converters, per-object readers);
:func:`box_masks` checks ``(N, 4)`` arrays at once (:func:`cvpipe.formats.check_dataset`, the
COCO converter); :func:`invalid_mask` is the plain yes/no of the same rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "OUTSIDE_TOLERANCE",
    "BOX_PROBLEMS",
    "box_problem",
    "box_problem_text",
    "box_masks",
    "invalid_mask",
    "size_is_valid",
]

#: Relative tolerance (of the image side) for "box outside the image".
OUTSIDE_TOLERANCE = 1e-6

#: problem kind -> (message, what was expected); ``{w}``/``{h}`` stand for the image size.
BOX_PROBLEMS: dict[str, tuple[str, str]] = {
    "finite": ("box coordinate is not a finite number", "finite numbers"),
    "inverted": ("box is inverted", "x_min <= x_max and y_min <= y_max (xyxy)"),
    "empty": ("box has zero area", "x_min < x_max and y_min < y_max (xyxy)"),
    "outside": ("box is outside the image", "inside 0..{w} x 0..{h} (xyxy)"),
}


def box_problem(x1: float, y1: float, x2: float, y2: float, width: float | None = None,
                height: float | None = None) -> str | None:
    """The first problem of one absolute xyxy box (a key of :data:`BOX_PROBLEMS`), or None.
    The image test is made only when ``width`` and ``height`` are given."""
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return "finite"
    if x2 < x1 or y2 < y1:
        return "inverted"
    if x2 == x1 or y2 == y1:
        return "empty"
    if width is not None and height is not None:
        tx, ty = OUTSIDE_TOLERANCE * max(width, 1), OUTSIDE_TOLERANCE * max(height, 1)
        if x1 < -tx or y1 < -ty or x2 > width + tx or y2 > height + ty:
            return "outside"
    return None


def box_problem_text(kind: str, width: Any = None, height: Any = None) -> tuple[str, str]:
    """``(message, expected)`` for a problem ``kind`` of a box in an image ``width`` x ``height``."""
    message, expected = BOX_PROBLEMS[kind]
    return message, expected.format(w=width, h=height)


def box_masks(boxes: "np.ndarray", labels: "np.ndarray", widths: "np.ndarray", heights: "np.ndarray",
              num_categories: int) -> dict[str, "np.ndarray"]:
    """Masks ``(N,)`` of the problems of xyxy ``boxes`` ``(N, 4)`` with ``labels`` ``(N,)`` in
    images ``widths`` x ``heights`` ``(N,)``: ``bad`` (any), ``label`` (not in
    ``0..num_categories-1``) and, per :func:`box_problem`'s order, ``finite``, ``inverted``,
    ``empty`` (each box flagged under its first geometric problem; outside is the rest)."""
    import numpy as np

    b = boxes
    finite = np.isfinite(b).all(axis=1)
    with np.errstate(invalid="ignore"):
        inverted = finite & ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
        empty = finite & ~inverted & ((b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1]))
        tx, ty = OUTSIDE_TOLERANCE * np.maximum(widths, 1), OUTSIDE_TOLERANCE * np.maximum(heights, 1)
        outside = finite & ~inverted & ~empty & (
            (b[:, 0] < -tx) | (b[:, 1] < -ty) | (b[:, 2] > widths + tx) | (b[:, 3] > heights + ty))
    bad_label = (labels < 0) | (labels >= num_categories)
    bad = ~finite | inverted | empty | outside | bad_label
    return {"bad": bad, "label": bad_label, "finite": finite, "inverted": inverted, "empty": empty}


def invalid_mask(boxes: object, width: float | None = None, height: float | None = None) -> "np.ndarray":
    """``(N,)`` bool: the xyxy ``boxes`` ``(N, 4)`` that fail :func:`box_problem` (the image test
    only when ``width`` and ``height`` are given)."""
    import numpy as np

    from .boxes import as_boxes

    b = as_boxes(boxes)
    n = len(b)
    sized = width is not None and height is not None
    # without a size, an infinite image: its tolerance is infinite too, so nothing lies outside
    w = np.full(n, float(width) if sized else np.inf)
    h = np.full(n, float(height) if sized else np.inf)
    return box_masks(b, np.zeros(n, dtype=np.int64), w, h, 1)["bad"]


def size_is_valid(width: Any, height: Any) -> bool:
    """Whether an image size is usable: both sides positive."""
    return width > 0 and height > 0
