"""The in-memory dataset model: what every reader produces and every writer consumes.

Conventions (one for the whole code base; formats convert at their borders):

* boxes are **absolute pixel xyxy**, float64, shape ``(N, 4)`` (see :mod:`cvpipe.data.boxes`);
* labels are 0-based indices into :attr:`Dataset.categories`, int64, shape ``(N,)``;
* per-box flags (``difficult``, ``truncated``, ``iscrowd``) are bool arrays of shape ``(N,)``;
  ``scores`` (float64 ``(N,)``) is present for detections and ``None`` for ground truth;
* whatever a format knows that the model has no field for travels in ``extra`` dicts (per image
  and per box) so that a round trip through the same format is lossless;
* where a sample or a box came from (file, line, field) is an :class:`Origin` kept beside the data
  (``Sample.origin``, ``Sample.box_origins``, ``Dataset.origin``), never in ``extra``: writers
  write ``extra`` and never see origins; checks use origins to name the place of a problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .origin import Locator, Origin

__all__ = ["Origin", "Sample", "Dataset", "Locator"]

_FLAGS = ("difficult", "truncated", "iscrowd")


def _flags(value: Any, n: int, name: str) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    if type(value) is np.ndarray and value.dtype == np.bool_ and value.shape == (n,):
        return value  # what np.asarray(...).reshape(-1) would give back: the same array
    arr = np.asarray(value, dtype=bool).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


@dataclass(eq=False)
class Sample:
    """One image and its boxes.

    Attributes:
        image: the image's path relative to :attr:`Dataset.root`, with ``/`` separators
            (may contain sub-folders; absolute only for a dataset without a root).
        width, height: image size in pixels.
        boxes: ``(N, 4)`` float64, absolute pixel xyxy.
        labels: ``(N,)`` int64, indices into :attr:`Dataset.categories`.
        difficult, truncated, iscrowd: ``(N,)`` bool per-box flags (default all False).
        scores: ``(N,)`` float64 confidences for detections; ``None`` for ground truth.
        box_extra: ``N`` dicts of format-specific per-box fields (VOC ``pose``, ``occluded``,
            ``parts``; COCO ``id``, ``segmentation``, ``area``, ...).
        extra: format-specific per-image fields (VOC ``folder``, ``source``, ``segmented``; COCO
            ``id``, ``license``, ...).
        id: the image's id in its source format (COCO image id, VOC/YOLO file stem), or None.
        split: the split this image belongs to (``train``, ``val``, ...), or None.
        origin: where the image's annotation was read from, or None.
        box_origins: ``N`` :class:`Origin` (or None) aligned with the boxes, or None (unknown).
    """

    image: str
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    difficult: np.ndarray | None = None
    truncated: np.ndarray | None = None
    iscrowd: np.ndarray | None = None
    scores: np.ndarray | None = None
    box_extra: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    id: int | str | None = None
    split: str | None = None
    origin: Origin | None = None
    box_origins: list[Origin | None] | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        self.boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"{self.image}: boxes must have shape (N, 4), got {self.boxes.shape}")
        n = len(self.boxes)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.labels.shape != (n,):
            raise ValueError(f"{self.image}: labels must have shape ({n},), got {self.labels.shape}")
        for name in _FLAGS:
            setattr(self, name, _flags(getattr(self, name), n, name))
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
            if self.scores.shape != (n,):
                raise ValueError(f"{self.image}: scores must have shape ({n},), got {self.scores.shape}")
        if self.box_extra is None:
            self.box_extra = [{} for _ in range(n)]
        elif len(self.box_extra) != n:
            raise ValueError(f"{self.image}: box_extra must have {n} entries, got {len(self.box_extra)}")
        if self.box_origins is not None and len(self.box_origins) != n:
            raise ValueError(f"{self.image}: box_origins must have {n} entries, got {len(self.box_origins)}")
        self.width, self.height = int(self.width), int(self.height)

    def __len__(self) -> int:
        """Number of boxes."""
        return len(self.boxes)

    @property
    def stem(self) -> str:
        """The image file name without folder and extension."""
        return Path(self.image).stem

    def select(self, keep: np.ndarray | Sequence[int] | Sequence[bool]) -> "Sample":
        """A copy holding only the boxes picked by ``keep`` (a bool mask or indices), with
        labels, flags, scores and ``box_extra`` kept aligned."""
        idx = np.asarray(keep)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return replace(
            self,
            boxes=self.boxes[idx],
            labels=self.labels[idx],
            difficult=self.difficult[idx],
            truncated=self.truncated[idx],
            iscrowd=self.iscrowd[idx],
            scores=None if self.scores is None else self.scores[idx],
            box_extra=[self.box_extra[i] for i in idx],
            extra=dict(self.extra),
            box_origins=None if self.box_origins is None else [self.box_origins[i] for i in idx],
        )

    def box_origin(self, i: int) -> Origin | None:
        """Where box ``i`` came from (None when unknown)."""
        return self.box_origins[i] if self.box_origins is not None else None


@dataclass(eq=False)
class Dataset:
    """Images with boxes, and the ordered category list their labels index.

    Attributes:
        categories: class names; a label ``k`` means ``categories[k]``.
        samples: the images.
        root: folder that :attr:`Sample.image` paths are relative to (None if absolute).
        meta: format-specific dataset fields kept for lossless round trips (COCO ``info``,
            ``licenses``, original category ids and supercategories, ...).
        origin: what was read (the file or folder), for problems of samples without their own.
        locate: a :data:`Locator` the reader leaves to find the line of a problem's field
            lazily (COCO JSON), or None.
    """

    categories: list[str]
    samples: list[Sample] = field(default_factory=list)
    root: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = None
    locate: Locator | None = None

    def __post_init__(self) -> None:
        self.categories = list(self.categories)
        if len(set(self.categories)) != len(self.categories):
            dup = [c for c, k in Counter(self.categories).items() if k > 1]
            raise ValueError(f"duplicate category names: {dup}")
        if self.root is not None:
            self.root = Path(self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def num_boxes(self) -> int:
        return sum(len(s) for s in self.samples)

    @property
    def splits(self) -> list[str]:
        """The split names present, in first-seen order."""
        return list(dict.fromkeys(s.split for s in self.samples if s.split is not None))

    def image_path(self, sample: Sample) -> Path:
        """Where ``sample``'s image file is on disk."""
        p = Path(sample.image)
        return p if self.root is None or p.is_absolute() else self.root / p

    def class_counts(self) -> dict[str, int]:
        """Boxes per category name, every category listed (zero included)."""
        counts = np.zeros(len(self.categories), dtype=np.int64)
        for s in self.samples:
            counts += np.bincount(s.labels, minlength=len(self.categories))[: len(self.categories)]
        return {c: int(n) for c, n in zip(self.categories, counts)}

    def subset(self, samples: Iterable[Sample]) -> "Dataset":
        """A dataset with the same categories, root and meta and the given samples."""
        return replace(self, samples=list(samples), meta=dict(self.meta))

    def split(self, name: str) -> "Dataset":
        """The samples of one split."""
        return self.subset(s for s in self.samples if s.split == name)
