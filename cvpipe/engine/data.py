"""Feeding a :class:`cvpipe.data.Dataset` to a detection model.

* :class:`DetectionData` — a torch ``Dataset``: reads an image (RGB), applies the box-aware
  training transforms (albumentations, from :func:`cvpipe.builtin.augment.build_transforms`),
  resizes to the model's input size when it has one, and returns a ``(3, H, W)`` uint8 tensor
  with a target dict (``boxes`` ``(N, 4)`` float32 absolute xyxy in the returned image's pixels,
  ``labels`` ``(N,)`` int64, ``index``, ``scale`` = (sx, sy) mapping returned pixels back to the
  original image). With :attr:`DetectionData.mosaic` set, an epoch's image is the
  :class:`cvpipe.engine.mosaic.MosaicMixup` of its index (partners from the same dataset) before
  the transforms.
* :func:`collate` — batches of variable box counts: a list of images, a list of targets.
* :class:`EpochSampler` — the indices of one epoch: shuffled or class-balanced, split across
  distributed processes, a pure function of ``(seed, epoch)``.

Augmentation randomness is seeded per ``(seed, epoch, image index)``, so a run gives the same
batches whatever the number of worker processes, and a resumed run continues exactly.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..data import Dataset

__all__ = ["DetectionData", "collate", "EpochSampler", "class_balanced_weights", "make_loader"]


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class DetectionData(torch.utils.data.Dataset):
    """A cvpipe dataset as a torch dataset of ``(image uint8 (3, H, W), target dict)``.

    Args:
        dataset: the images and boxes.
        transform: a :class:`cvpipe.builtin.augment.Augmenter` (numpy output, no ``to_tensor``:
            models normalise [0, 1] images themselves), re-seeded for every image; or None.
        input_size: side of the square the image is resized to at the end (stretching), or None
            to keep the transformed size.
        seed: base seed of the augmentation randomness.
        keep_difficult: keep boxes flagged ``difficult`` as training targets.
    """

    def __init__(
        self,
        dataset: Dataset,
        transform: Any = None,
        *,
        input_size: int | None = None,
        seed: int = 0,
        keep_difficult: bool = False,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.input_size = input_size
        self.seed = seed
        self.keep_difficult = keep_difficult
        self.epoch = 0
        #: a :class:`cvpipe.engine.mosaic.MosaicMixup` over :meth:`load` (set by the trainer), or None
        self.mosaic: Any = None

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain integer keys (in this process only)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
        """``key`` is an index, or ``(epoch, index)`` as :class:`EpochSampler` yields them (worker
        processes outlive epochs, so the epoch travels with the index)."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if self.mosaic is not None and self.mosaic.active(epoch):
            import dataclasses

            res = self.mosaic(epoch, index)
            h, w = res.image.shape[:2]
            sample = dataclasses.replace(self.dataset.samples[index], width=w, height=h, boxes=res.boxes,
                                         labels=res.labels, difficult=None, truncated=None, iscrowd=None,
                                         scores=None, box_extra=None, box_origins=None)
            image = res.image
        else:
            image, sample = self._read(index)
        if self.transform is not None:
            self.transform.set_seed(_seed_for(self.seed, epoch, index))
            image, sample = self.transform(image, sample)
        boxes, labels = sample.boxes, sample.labels
        image, boxes, scale = resize_to(image, boxes, self.input_size)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        target = {
            "boxes": torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "index": index,
            "scale": scale,
        }
        return tensor, target

    def _read(self, index: int) -> tuple[np.ndarray, Any]:
        """The RGB image of sample ``index`` and the sample, crowd boxes (and ``difficult`` ones
        unless kept) left out."""
        from ..draw import read_image

        sample = self.dataset.samples[index]
        image = read_image(self.dataset.image_path(sample))
        drop = sample.iscrowd if self.keep_difficult else sample.iscrowd | sample.difficult
        if drop.any():
            sample = sample.select(~drop)
        return image, sample

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(image (H, W, 3) uint8, boxes (N, 4) float64 xyxy, labels (N,) int64)`` of sample
        ``index`` before augmentation: the loader :class:`cvpipe.engine.mosaic.MosaicMixup` draws from."""
        image, sample = self._read(index)
        return image, np.asarray(sample.boxes, np.float64).reshape(-1, 4), np.asarray(sample.labels, np.int64)


def resize_to(image: np.ndarray, boxes: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """``image`` resized (stretched) to ``size`` x ``size`` with ``boxes`` scaled alike, and the
    factors ``(sx, sy)`` that map the new pixels back to the old. ``size`` None: unchanged."""
    if size is None:
        return image, boxes, (1.0, 1.0)
    import cv2

    h, w = image.shape[:2]
    if (h, w) != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    sx, sy = w / size, h / size
    return image, boxes / np.array([sx, sy, sx, sy]), (sx, sy)


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """``[(image, target), ...]`` -> ``([images], [targets])``: images may differ in size and
    targets in box count, so nothing is stacked."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def class_balanced_weights(dataset: Dataset) -> np.ndarray:
    """Sampling weight per image for class-balanced sampling: the largest ``1 / sqrt(f_c)`` over
    the classes ``c`` in the image, ``f_c`` being the fraction of images containing ``c``
    (the repeat-factor rule of LVIS, without its threshold); images without boxes weigh as the
    most frequent class."""
    n = max(1, len(dataset.samples))
    present = [np.unique(s.labels) for s in dataset.samples]
    freq = np.zeros(len(dataset.categories))
    for labels in present:
        freq[labels] += 1
    freq = np.maximum(freq / n, 1e-12)
    inv = 1.0 / np.sqrt(freq)
    floor = float(inv[freq > 1e-12].min()) if (freq > 1e-12).any() else 1.0
    return np.array([inv[labels].max() if len(labels) else floor for labels in present])


class EpochSampler(torch.utils.data.Sampler):
    """The ``(epoch, index)`` keys of one epoch, the same in every process for the same ``(seed, epoch)``.

    Shuffled (a permutation) or, with ``weights``, drawn with replacement in proportion to them
    (class-balanced sampling). With ``world_size`` processes the list is padded to a multiple of
    it and process ``rank`` takes every ``world_size``-th index, as ``DistributedSampler`` does;
    one class covers all four cases, so balanced sampling also works distributed.
    """

    def __init__(
        self,
        size: int,
        *,
        shuffle: bool = True,
        weights: np.ndarray | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
        g = torch.Generator().manual_seed(_seed_for(self.seed, self.epoch, 0x5A))
        if self.weights is not None:
            idx = torch.multinomial(self.weights, self.size, replacement=True, generator=g).tolist()
        elif self.shuffle:
            idx = torch.randperm(self.size, generator=g).tolist()
        else:
            idx = list(range(self.size))
        total = math.ceil(len(idx) / self.world_size) * self.world_size
        idx += idx[: total - len(idx)]
        return idx[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)


def make_loader(
    data: DetectionData,
    *,
    batch_size: int,
    workers: int,
    sampler: torch.utils.data.Sampler | None = None,
    drop_last: bool = False,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over ``data`` with :func:`collate`; worker processes stay alive across
    epochs (``persistent_workers``) so each epoch does not pay their start-up again."""
    return torch.utils.data.DataLoader(
        data,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
