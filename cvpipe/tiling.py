"""Cutting a dataset into tiles (the ``tile`` step and ``cvpipe tile``).

Each image larger than ``size`` on some side is cut into the windows of
:func:`cvpipe.slicing.tile_windows`; each tile becomes an image of its own, named
``<folder>/<stem>__x<x0>_y<y0>.png`` (lossless), with the boxes that overlap it cut to it (COCO ids, areas and segmentations of the source are
not carried into tiles; the writer renumbers and recomputes): a
box is kept when at least ``min_visibility`` of its area is inside the tile (clipped boxes are
flagged ``truncated``), dropped otherwise. Images no larger than ``size`` either way are kept
whole (their file copied or linked unchanged).

Boxes are absolute pixel xyxy throughout; per-box flags, scores and ``box_extra`` follow their
box. The images are written into a folder whole or not at all (:func:`cvpipe.fsutil.atomic_dir`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .data import Dataset, Sample
from .errors import ConfigError, Problem
from .slicing import boxes_in_window, tile_windows

__all__ = ["tile_dataset", "tile_sample", "check_tile_settings"]


def check_tile_settings(size: int, overlap: float, min_visibility: float, *, prefix: str = "") -> None:
    """ConfigError listing every out-of-range tiling setting (``prefix``: ``--`` for options)."""
    problems = []
    if size < 1:
        problems.append(Problem("out of range", field=f"{prefix}size", value=size, expected="an integer >= 1"))
    if not 0.0 <= overlap < 1.0:
        problems.append(Problem("out of range", field=f"{prefix}overlap", value=overlap, expected="a number in [0, 1)"))
    if not 0.0 <= min_visibility <= 1.0:
        problems.append(Problem("out of range", field=f"{prefix}min{'-' if prefix else '_'}visibility",
                                value=min_visibility, expected="a number in [0, 1]"))
    if problems:
        raise ConfigError.from_problems(problems)



def tile_sample(sample: Sample, window: np.ndarray, min_visibility: float) -> tuple[Sample, dict[str, int]]:
    """The part of ``sample`` inside ``window`` as a new sample (image path not yet set, boxes in
    the tile's pixels) and counts ``{kept, clipped, dropped}`` of the boxes touching the tile."""
    keep, cut, vis = boxes_in_window(sample.boxes, window, min_visibility)
    x0, y0, x1, y1 = (int(v) for v in window)
    touching = int(((vis > 0)).sum())
    part = sample.select(keep)
    clipped = vis[keep] < 1.0
    # geometry a format stored for the whole image (COCO's id, bbox, area, segmentation) no
    # longer holds in the tile: the writer recomputes or renumbers it
    extras = [{k: v for k, v in ex.items() if k not in _IMAGE_GEOMETRY} for ex in part.box_extra]
    part = dataclasses.replace(part, boxes=cut, width=x1 - x0, height=y1 - y0, box_extra=extras,
                               truncated=part.truncated | clipped,
                               extra={**part.extra, "tile": {"source": sample.image, "x": x0, "y": y0}})
    return part, {"kept": len(keep), "clipped": int(clipped.sum()), "dropped": touching - len(keep)}


_IMAGE_GEOMETRY = ("id", "bbox", "area", "segmentation")


def _tile_name(image: str, x: int, y: int) -> str:
    p = PurePosixPath(image)
    return str(p.with_name(f"{p.stem}__x{x}_y{y}.png"))


def tile_dataset(dataset: Dataset, dst: Path, *, size: int = 640, overlap: float = 0.2, min_visibility: float = 0.3,
                 images: str = "link") -> tuple[Dataset, dict[str, Any]]:
    """Tile ``dataset`` (see the module docstring), writing the tile images into the folder
    ``dst`` (whole or not at all; images kept whole are ``copy``-ed or hard-``link``-ed).

    Returns:
        ``(tiled dataset rooted at dst, report)``; the report counts ``images`` (source),
        ``tiled`` (images cut), ``kept_whole``, ``tiles`` (output images), ``boxes`` (source),
        ``boxes_out``, ``clipped`` and ``dropped`` (boxes below ``min_visibility`` in a tile).
    """
    import cv2

    from .draw import read_image
    from .fsutil import atomic_dir, place_file, safe_join

    if not 0.0 <= min_visibility <= 1.0:
        raise ValueError(f"min_visibility must be in [0, 1], got {min_visibility!r}")
    tile_windows(1, 1, size, overlap)  # checks size and overlap before any work
    out: list[Sample] = []
    counts = {"images": len(dataset), "tiled": 0, "kept_whole": 0, "tiles": 0, "boxes": dataset.num_boxes,
              "boxes_out": 0, "clipped": 0, "dropped": 0}
    with atomic_dir(Path(dst)) as tmp:
        for s in dataset.samples:
            if s.width <= size and s.height <= size:
                place_file(dataset.image_path(s), safe_join(tmp, s.image), images)
                out.append(s)
                counts["kept_whole"] += 1
                counts["tiles"] += 1
                counts["boxes_out"] += len(s)
                continue
            image = read_image(dataset.image_path(s))
            if image.shape[:2] != (s.height, s.width):
                from .errors import InputError

                raise InputError("image size differs from the annotation", file=str(dataset.image_path(s)),
                                 value=f"{image.shape[1]}x{image.shape[0]}", expected=f"{s.width}x{s.height}")
            counts["tiled"] += 1
            for win in tile_windows(s.width, s.height, size, overlap):
                part, c = tile_sample(s, win, min_visibility)
                name = _tile_name(s.image, int(win[0]), int(win[1]))
                crop = image[win[1]:win[3], win[0]:win[2]]
                path = safe_join(tmp, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR)):
                    raise OSError(f"cannot write {path}")
                # id None: each writer numbers tiles its own way (COCO: sequential integers)
                out.append(dataclasses.replace(part, image=name, id=None))
                counts["tiles"] += 1
                counts["boxes_out"] += c["kept"]
                counts["clipped"] += c["clipped"]
                counts["dropped"] += c["dropped"]
    meta = {k: v for k, v in dataset.meta.items() if not (isinstance(k, str) and k.startswith("_"))}
    return Dataset(list(dataset.categories), out, root=Path(dst).absolute(), meta=meta), counts
