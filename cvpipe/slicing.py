"""Slicing large images: tile geometry, boxes cut to tiles and mapped back, and sliced prediction.

Geometry (:func:`tile_windows`): along each axis of length ``L`` tiles of side ``size`` start
every ``step = max(1, floor(size * (1 - overlap)))`` pixels, the last one moved back to end at
``L`` exactly; an axis no longer than ``size`` has one window covering it. So every pixel is in
at least one window, every window lies inside the image, and neighbours overlap by at least
``overlap * size`` pixels. An image no larger than ``size`` either way is one window: itself.

Windows and boxes are absolute pixel xyxy (``x0, y0, x1, y1``, ends exclusive); a box inside a
tile is in the tile's pixels (the window's origin subtracted): :func:`boxes_in_window` cuts,
:func:`boxes_to_image` maps back (adds the origin; exact in float64).

Sliced prediction (:func:`predict_sliced`): every image's tiles (and the whole image unless
``full=False``) go through the model in batches of ``batch_size`` tiles taken across images (not
one tile at a time); each tile's detections are mapped to full-image pixels and every image's
detections merged by a registered postprocessor (``nms``, ``soft_nms`` or ``wbf``, built through
:func:`cvpipe.plugins.get_registry`).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .data import Dataset, Sample

__all__ = ["tile_windows", "axis_starts", "boxes_in_window", "boxes_to_image", "predict_sliced", "MERGES"]

#: ``--merge`` value -> registered postprocessor name.
MERGES = {"nms": "nms", "soft-nms": "soft_nms", "soft_nms": "soft_nms", "wbf": "wbf"}


def _check(size: int, overlap: float) -> None:
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"tile size must be a positive integer, got {size!r}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")


def axis_starts(length: int, size: int, overlap: float) -> list[int]:
    """Start offsets of the windows along an axis of ``length`` pixels (see the module docstring)."""
    _check(size, overlap)
    if length <= size:
        return [0]
    step = max(1, int(math.floor(size * (1.0 - overlap))))
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return starts


def tile_windows(width: int, height: int, size: int, overlap: float = 0.2) -> np.ndarray:
    """``(T, 4)`` int64 windows ``x0, y0, x1, y1`` covering a ``width`` x ``height`` image, row by
    row; each is ``min(size, width)`` x ``min(size, height)``."""
    xs, ys = axis_starts(int(width), size, overlap), axis_starts(int(height), size, overlap)
    tw, th = min(size, int(width)), min(size, int(height))
    return np.array([[x, y, x + tw, y + th] for y in ys for x in xs], dtype=np.int64).reshape(-1, 4)


def boxes_in_window(boxes: np.ndarray, window: Any, min_visibility: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``boxes`` ``(N, 4)`` xyxy to ``window``.

    Returns:
        ``(keep, clipped, visibility)``: indices of the boxes kept (a positive area inside the
        window and ``visibility >= min_visibility``), their boxes in the window's pixels, and
        every box's visibility (area inside the window / its area; 0 for empty boxes).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (float(v) for v in window)
    cut = np.stack([b[:, 0].clip(x0, x1), b[:, 1].clip(y0, y1), b[:, 2].clip(x0, x1), b[:, 3].clip(y0, y1)], 1)
    inside = (cut[:, 2] - cut[:, 0]).clip(min=0) * (cut[:, 3] - cut[:, 1]).clip(min=0)
    area = (b[:, 2] - b[:, 0]).clip(min=0) * (b[:, 3] - b[:, 1]).clip(min=0)
    vis = np.divide(inside, area, out=np.zeros_like(inside), where=area > 0)
    keep = np.flatnonzero((inside > 0) & (vis >= min_visibility))
    return keep, cut[keep] - np.array([x0, y0, x0, y0]), vis


def boxes_to_image(boxes: np.ndarray, window: Any) -> np.ndarray:
    """``boxes`` in a window's pixels -> the full image's pixels (the window's origin added)."""
    x0, y0 = float(window[0]), float(window[1])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4) + np.array([x0, y0, x0, y0])


# --------------------------------------------------------------------------------------------
# sliced prediction
# --------------------------------------------------------------------------------------------


def build_merge(merge: str, *, iou: float, max_det: int | None) -> Any:
    """The registered postprocessor merging one image's detections from all its tiles."""
    from .plugins import get_registry

    name = MERGES.get(merge)
    if name is None:
        raise ValueError(f"merge must be one of {sorted(MERGES)}, got {merge!r}")
    params: dict[str, Any] = {"iou": iou}
    if name in ("nms", "soft_nms") and max_det is not None:
        params["max_det"] = max_det
    return get_registry().postprocessors.create(name, params, where="--merge")


def _crops(dataset: Dataset, size: int, overlap: float, full: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(image index, window, crop (h, w, 3) uint8)`` for every tile of every image, image by
    image; the whole image comes first (window = the image) when ``full``."""
    from .draw import read_image

    for i, s in enumerate(dataset.samples):
        image = read_image(dataset.image_path(s))
        h, w = image.shape[:2]
        windows = tile_windows(w, h, size, overlap)
        if full and not (len(windows) == 1 and tuple(windows[0]) == (0, 0, w, h)):
            yield i, np.array([0, 0, w, h]), image
        for win in windows:
            yield i, win, image[win[1]:win[3], win[0]:win[2]]


def predict_sliced(
    bundle: Any,
    dataset: Dataset,
    *,
    size: int,
    overlap: float = 0.2,
    merge: str = "nms",
    iou: float = 0.5,
    full: bool = True,
    batch_size: int = 8,
    max_det: int | None = 300,
    device: Any = None,
    progress: bool = False,
) -> Dataset:
    """Detections on ``dataset``'s images from ``size``-square tiles (``overlap`` between
    neighbours) plus the whole image when ``full``, merged per image by ``merge`` (``nms``,
    ``soft-nms`` or ``wbf``, with ``iou``; at most ``max_det`` kept by nms/soft-nms).

    Tiles are resized to the bundle's input size (if it has one) and go through the model
    ``batch_size`` at a time, taken across images. Returns a detections Dataset like
    :func:`cvpipe.engine.predict.predict_dataset`'s: boxes absolute xyxy in full-image pixels.
    """
    import torch

    from .engine.data import resize_to

    _check(size, overlap)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    merger = build_merge(merge, iou=iou, max_det=max_det)
    model = bundle.model
    dev = torch.device(device) if device is not None else next(iter(model.parameters())).device
    per_image: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in dataset.samples]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset), desc="predict (sliced)", unit="img", leave=False, dynamic_ncols=True)
    pending: list[tuple[int, np.ndarray, tuple[float, float], Any]] = []

    def flush() -> None:
        with torch.inference_mode():
            dets = model([p[3].to(dev, non_blocking=True).float().div_(255) for p in pending])
        for (i, win, (sx, sy), _), det in zip(pending, dets):
            boxes = det["boxes"].float().cpu().numpy().astype(np.float64) * np.array([sx, sy, sx, sy])
            per_image[i].append((boxes_to_image(boxes, win), det["scores"].float().cpu().numpy().astype(np.float64),
                                 det["labels"].cpu().numpy().astype(np.int64)))
        pending.clear()

    was_training = getattr(model, "training", False)
    model.eval()
    try:
        last = -1
        for i, win, crop in _crops(dataset, size, overlap, full):
            if bar is not None and i != last and last >= 0:
                bar.update(1)
            last = i
            img, _, scale = resize_to(crop, np.zeros((0, 4)), bundle.input_size)
            pending.append((i, win, scale, torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
        if bar is not None and last >= 0:
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    samples = []
    for s, parts in zip(dataset.samples, per_image):
        boxes = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 4))
        scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        labels = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        merged = merger([{"boxes": torch.from_numpy(boxes), "scores": torch.from_numpy(scores),
                          "labels": torch.from_numpy(labels)}])[0]
        b = merged["boxes"].cpu().numpy().astype(np.float64).reshape(-1, 4)
        b[:, 0::2] = b[:, 0::2].clip(0, s.width)
        b[:, 1::2] = b[:, 1::2].clip(0, s.height)
        samples.append(Sample(image=s.image, width=s.width, height=s.height, boxes=b,
                              labels=merged["labels"].cpu().numpy().astype(np.int64),
                              scores=merged["scores"].cpu().numpy().astype(np.float64), id=s.id, split=s.split))
    return Dataset(list(bundle.categories), samples, root=dataset.root,
                   meta={"detections": True, "model": bundle.name, "sliced": {"size": size, "overlap": overlap,
                                                                             "merge": merge, "full": full}})
