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
list) and returns a new float64 ``(N, 4)`` array; inputs are never modified. Validity (finite,
not inverted, inside the image) is :mod:`cvpipe.data.checks`'s job.
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
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "cxcywh_to_xyxy",
    "xyxy_to_cxcywh",
    "convert",
    "normalize",
    "denormalize",
    "area",
    "clip",
    "flip_horizontal",
]


def as_boxes(boxes: object) -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array (an empty input gives shape ``(0, 4)``)."""
    arr = np.array(boxes, dtype=np.float64, copy=True)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


def xywh_to_xyxy(boxes: object) -> np.ndarray:
    """``(N, 4)`` ``x, y, w, h`` (COCO ``bbox``) -> ``(N, 4)`` ``x1, y1, x2, y2``:
    ``x2 = x + w``, ``y2 = y + h``."""
    b = as_boxes(boxes)
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes: object) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``(N, 4)`` ``x, y, w, h``: ``w = x2 - x1``, ``h = y2 - y1``."""
    b = as_boxes(boxes)
    b[:, 2:] -= b[:, :2]
    return b


def cxcywh_to_xyxy(boxes: object) -> np.ndarray:
    """``(N, 4)`` ``cx, cy, w, h`` (YOLO, before normalising) -> ``(N, 4)`` ``x1, y1, x2, y2``:
    ``x1 = cx - w / 2``, ``x2 = cx + w / 2`` (likewise for y)."""
    b = as_boxes(boxes)
    half = b[:, 2:] / 2.0
    b[:, :2], b[:, 2:] = b[:, :2] - half, b[:, :2] + half
    return b


def xyxy_to_cxcywh(boxes: object) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``(N, 4)`` ``cx, cy, w, h``: ``cx = (x1 + x2) / 2``,
    ``w = x2 - x1`` (likewise for y)."""
    b = as_boxes(boxes)
    wh = b[:, 2:] - b[:, :2]
    b[:, :2], b[:, 2:] = (b[:, :2] + b[:, 2:]) / 2.0, wh
    return b


_TO_XYXY = {"xyxy": as_boxes, "xywh": xywh_to_xyxy, "cxcywh": cxcywh_to_xyxy}
_FROM_XYXY = {"xyxy": as_boxes, "xywh": xyxy_to_xywh, "cxcywh": xyxy_to_cxcywh}


def convert(boxes: object, src: BoxFormat, dst: BoxFormat) -> np.ndarray:
    """Convert ``(N, 4)`` boxes from format ``src`` to ``dst`` (see the module table), through
    xyxy with the explicit functions above."""
    for fmt in (src, dst):
        if fmt not in FORMATS:
            raise ValueError(f"unknown box format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if src == dst:
        return as_boxes(boxes)
    return _FROM_XYXY[dst](_TO_XYXY[src](boxes))


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
