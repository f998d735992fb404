"""Box-aware mosaic (4 images) and mixup (2 images), drawing the extra images from the dataset.

:class:`MosaicMixup` wraps a loader ``load(index) -> (image, boxes, labels)`` (``image``
``(H, W, 3)`` uint8, ``boxes`` ``(N, 4)`` float absolute xyxy, ``labels`` ``(N,)`` int64) and
returns ``size`` x ``size`` training images. Every random choice (the three partner images,
the mosaic centre, each part's scale, whether and with what to mix up) comes from a generator
seeded by ``(seed, epoch, index)``: the same call gives the same image in any process, and a
resumed run continues exactly (no generator state to checkpoint).

Mosaic: a centre ``(cx, cy)`` is drawn in the middle half of the canvas; the image of ``index``
and three others are each rescaled (factor drawn in ``scale``, relative to fitting the longer
side into ``size``) and placed with one corner on the centre: top-left, top-right, bottom-left,
bottom-right. A part shows only inside its quadrant. Boxes follow exactly: ``x * sx + ox``,
``y * sy + oy`` (``sx = w' / w`` of the integer resize, ``ox`` the integer offset), then clipped
to the visible region of their part; a box left with zero width or height is dropped.

Mixup: with probability ``mixup_prob`` the result is blended with the image of another index
stretched to the canvas (boxes scaled by ``size / w``, ``size / h``), weight ``mixup_ratio``
for the first; the boxes of both are kept.

``close_mosaic``: neither is applied in the last ``close_mosaic`` of ``epochs`` epochs (the
plain image comes back, unchanged), as recipes finish on undistorted images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["MosaicMixup", "MosaicPart", "MosaicResult", "dataset_loader"]

Loader = Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def dataset_loader(dataset: Any, *, keep_difficult: bool = False) -> Loader:
    """A :class:`MosaicMixup` loader over a :class:`cvpipe.data.Dataset`: the RGB image of
    sample ``index`` with its boxes and labels, crowd boxes (and ``difficult`` ones unless
    ``keep_difficult``) left out, as :class:`cvpipe.engine.data.DetectionData` leaves them out."""

    def load(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from ..draw import read_image

        sample = dataset.samples[index]
        image = read_image(dataset.image_path(sample))
        drop = sample.iscrowd if keep_difficult else sample.iscrowd | sample.difficult
        if drop.any():
            sample = sample.select(~drop)
        return image, np.asarray(sample.boxes, np.float64).reshape(-1, 4), np.asarray(sample.labels, np.int64)

    return load


def _rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, 0x4D05, epoch & 0xFFFFFFFF,
                                                         index & 0xFFFFFFFF]))


@dataclass
class MosaicPart:
    """Where one source image went: its ``index``, the box transform ``x * sx + ox``,
    ``y * sy + oy`` and the ``region`` ``(x1, y1, x2, y2)`` of the canvas it shows in."""

    index: int
    sx: float
    sy: float
    ox: int
    oy: int
    region: tuple[int, int, int, int]


@dataclass
class MosaicResult:
    """A composed training image.

    Attributes:
        image: ``(size, size, 3)`` uint8 (or the plain image when nothing was applied).
        boxes: ``(K, 4)`` float64 absolute xyxy; ``labels`` ``(K,)`` int64.
        parts: the sources, in order; ``origin`` ``(K, 2)`` int64: for each box, the part it
            came from and its row in that part's boxes.
        mixed: whether mixup was applied.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    parts: list[MosaicPart] = field(default_factory=list)
    origin: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    mixed: bool = False


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    if image.shape[1] == w and image.shape[0] == h:
        return image
    import cv2

    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def _place(boxes: np.ndarray, part: MosaicPart) -> tuple[np.ndarray, np.ndarray]:
    """Boxes moved by ``part``'s transform and clipped to its region; and the kept rows."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0::2] = b[:, 0::2] * part.sx + part.ox
    out[:, 1::2] = b[:, 1::2] * part.sy + part.oy
    x1, y1, x2, y2 = part.region
    out[:, 0::2] = out[:, 0::2].clip(x1, x2)
    out[:, 1::2] = out[:, 1::2].clip(y1, y2)
    keep = np.nonzero((out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1]))[0]
    return out[keep], keep


class MosaicMixup:
    """Mosaic of 4 and mixup of 2 over a dataset of ``n`` images (see the module docstring).

    Args:
        load: ``load(index) -> (image (H, W, 3) uint8, boxes (N, 4) xyxy, labels (N,))``.
        n: number of images ``load`` accepts (indices ``0 .. n-1``).
        size: side of the output canvas.
        mosaic_prob: probability of a mosaic (else the image of ``index`` stretched to the canvas).
        mixup_prob: probability of mixing the result with another image.
        mixup_ratio: weight of the first image in a mixup, in (0, 1).
        scale: range of each part's rescale factor (1: its longer side equals ``size``).
        fill: grey level of the canvas where no part shows.
        epochs, close_mosaic: no mosaic or mixup in the last ``close_mosaic`` of ``epochs``.
        seed: base seed.
    """

    def __init__(self, load: Loader, n: int, size: int, *, mosaic_prob: float = 1.0, mixup_prob: float = 0.0,
                 mixup_ratio: float = 0.5, scale: tuple[float, float] = (0.5, 1.0), fill: int = 114,
                 epochs: int | None = None, close_mosaic: int = 0, seed: int = 0) -> None:
        if n < 1:
            raise ValueError("a mosaic needs at least one image")
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        for name, p in (("mosaic_prob", mosaic_prob), ("mixup_prob", mixup_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if not 0.0 < mixup_ratio < 1.0:
            raise ValueError(f"mixup_ratio must be in (0, 1), got {mixup_ratio}")
        if not 0.0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be 0 < low <= high, got {scale}")
        if close_mosaic < 0:
            raise ValueError(f"close_mosaic must be >= 0, got {close_mosaic}")
        self.load, self.n, self.size = load, n, size
        self.mosaic_prob, self.mixup_prob, self.mixup_ratio = mosaic_prob, mixup_prob, mixup_ratio
        self.scale, self.fill = (float(scale[0]), float(scale[1])), fill
        self.epochs, self.close_mosaic, self.seed = epochs, close_mosaic, seed

    def active(self, epoch: int) -> bool:
        """Whether mosaic/mixup apply in ``epoch`` (0-based): not in the last ``close_mosaic``."""
        if self.epochs is None or self.close_mosaic == 0:
            return True
        return epoch < self.epochs - self.close_mosaic

    def __call__(self, epoch: int, index: int) -> MosaicResult:
        """The training image of ``index`` in ``epoch``."""
        if not self.active(epoch):
            image, boxes, labels = self.load(index)
            b = np.asarray(boxes, np.float64).reshape(-1, 4)
            part = MosaicPart(index, 1.0, 1.0, 0, 0, (0, 0, image.shape[1], image.shape[0]))
            return MosaicResult(image, b, np.asarray(labels, np.int64).reshape(-1), [part],
                                np.stack([np.zeros(len(b), np.int64), np.arange(len(b))], 1))
        rng = _rng(self.seed, epoch, index)
        if rng.random() < self.mosaic_prob:
            res = self._mosaic(index, rng)
        else:
            res = self._stretched(index, part_no=0)
        if rng.random() < self.mixup_prob:
            other = self._stretched(int(rng.integers(self.n)), part_no=len(res.parts))
            r = self.mixup_ratio
            blend = res.image.astype(np.float32) * r + other.image.astype(np.float32) * (1 - r)
            res = MosaicResult(np.clip(np.rint(blend), 0, 255).astype(np.uint8),
                               np.concatenate([res.boxes, other.boxes]), np.concatenate([res.labels, other.labels]),
                               res.parts + other.parts, np.concatenate([res.origin, other.origin]), True)
        return res

    def _stretched(self, index: int, part_no: int) -> MosaicResult:
        """The image of ``index`` stretched to the canvas."""
        image, boxes, labels = self.load(index)
        h, w = image.shape[:2]
        s = self.size
        part = MosaicPart(index, s / w, s / h, 0, 0, (0, 0, s, s))
        placed, keep = _place(boxes, part)
        lab = np.asarray(labels, np.int64).reshape(-1)[keep]
        origin = np.stack([np.full(len(keep), part_no, np.int64), keep.astype(np.int64)], 1)
        return MosaicResult(_resize(image, s, s), placed, lab, [part], origin)

    def _mosaic(self, index: int, rng: np.random.Generator) -> MosaicResult:
        s = self.size
        indices = [index] + [int(i) for i in rng.integers(self.n, size=3)]
        cx = int(rng.integers(s // 4, s - s // 4 + 1))
        cy = int(rng.integers(s // 4, s - s // 4 + 1))
        canvas = np.full((s, s, 3), self.fill, np.uint8)
        boxes, labels, origin, parts = [], [], [], []
        for k, idx in enumerate(indices):
            image, b, lab = self.load(idx)
            h, w = image.shape[:2]
            r = float(rng.uniform(*self.scale)) * s / max(h, w)
            nw, nh = max(1, int(round(w * r))), max(1, int(round(h * r)))
            image = _resize(image, nw, nh)
            # corner k on the centre: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
            ox = cx - nw if k in (0, 2) else cx
            oy = cy - nh if k in (0, 1) else cy
            qx1, qx2 = (0, cx) if k in (0, 2) else (cx, s)
            qy1, qy2 = (0, cy) if k in (0, 1) else (cy, s)
            x1, y1 = max(qx1, ox), max(qy1, oy)
            x2, y2 = min(qx2, ox + nw), min(qy2, oy + nh)
            part = MosaicPart(idx, nw / w, nh / h, ox, oy, (x1, y1, max(x1, x2), max(y1, y2)))
            parts.append(part)
            if x2 > x1 and y2 > y1:
                canvas[y1:y2, x1:x2] = image[y1 - oy:y2 - oy, x1 - ox:x2 - ox]
            placed, keep = _place(b, part)
            boxes.append(placed)
            labels.append(np.asarray(lab, np.int64).reshape(-1)[keep])
            origin.append(np.stack([np.full(len(keep), k, np.int64), keep.astype(np.int64)], 1))
        return MosaicResult(canvas, np.concatenate(boxes).reshape(-1, 4), np.concatenate(labels),
                            parts, np.concatenate(origin).reshape(-1, 2))
