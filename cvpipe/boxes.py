"""Box formats and conversions, vectorised with numpy.

cvpipe keeps boxes as **absolute pixel xyxy** (``x_min, y_min, x_max, y_max``, float64) inside;
other formats exist only at the borders (files, models):

===========  ===============================  ==============================
name         columns                          used by
===========  ===============================  ==============================
``xyxy``     x_min, y_min, x_max, y_max       cvpipe, Pascal VOC, torchvision
``xywh``     x_min, y_min, width, height      COCO ``bbox``
``cxcywh``   x_center, y_center, width, height  YOLO (normalised)
===========  ===============================  ==============================

Every function takes an ``(N, 4)`` array (or anything ``np.asarray`` accepts, including an empty
list) and returns a new float64 ``(N, 4)`` array; inputs are never modified.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")

__all__ = [
    "BoxFormat",
    "FORMATS",
    "as_boxes",
    "convert",
    "normalize",
    "denormalize",
    "area",
    "clip",
    "flip_horizontal",
    "invalid_mask",
]


def as_boxes(boxes: object) -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array (an empty input gives shape ``(0, 4)``)."""
    arr = np.array(boxes, dtype=np.float64, copy=True)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


def convert(boxes: object, src: BoxFormat, dst: BoxFormat) -> np.ndarray:
    """Convert ``(N, 4)`` boxes from format ``src`` to ``dst`` (see the module table)."""
    for fmt in (src, dst):
        if fmt not in FORMATS:
            raise ValueError(f"unknown box format {fmt!r}; expected one of {', '.join(FORMATS)}")
    b = as_boxes(boxes)
    if src == dst:
        return b
    # to xyxy
    if src == "xywh":
        b[:, 2:] += b[:, :2]
    elif src == "cxcywh":
        half = b[:, 2:] / 2.0
        b[:, :2], b[:, 2:] = b[:, :2] - half, b[:, :2] + half
    # from xyxy
    if dst == "xywh":
        b[:, 2:] -= b[:, :2]
    elif dst == "cxcywh":
        wh = b[:, 2:] - b[:, :2]
        b[:, :2], b[:, 2:] = b[:, :2] + wh / 2.0, wh
    return b


def normalize(boxes: object, width: float, height: float) -> np.ndarray:
    """Divide x columns by ``width`` and y columns by ``height`` (any of the three formats)."""
    b = as_boxes(boxes)
    return b / np.array([width, height, width, height], dtype=np.float64)


def denormalize(boxes: object, width: float, height: float) -> np.ndarray:
    """Inverse of :func:`normalize`: multiply x columns by ``width``, y columns by ``height``."""
    b = as_boxes(boxes)
    return b * np.array([width, height, width, height], dtype=np.float64)


def area(boxes: object) -> np.ndarray:
    """``(N,)`` areas of xyxy boxes; inverted boxes have area 0."""
    b = as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def clip(boxes: object, width: float, height: float) -> np.ndarray:
    """Clip xyxy boxes to the image ``[0, width] x [0, height]``."""
    b = as_boxes(boxes)
    b[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    return b


def flip_horizontal(boxes: object, width: float) -> np.ndarray:
    """Mirror xyxy boxes about the vertical axis of an image ``width`` wide."""
    b = as_boxes(boxes)
    b[:, [0, 2]] = width - b[:, [2, 0]]
    return b


def invalid_mask(boxes: object, width: float | None = None, height: float | None = None) -> np.ndarray:
    """``(N,)`` bool: xyxy boxes that are non-finite, inverted or empty, or (when the image
    size is given) reach outside ``[0, width] x [0, height]``."""
    b = as_boxes(boxes)
    bad = ~np.isfinite(b).all(axis=1) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if width is not None and height is not None:
        bad |= (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)
    return bad
