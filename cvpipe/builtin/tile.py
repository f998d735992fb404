"""The built-in ``tile`` pipeline step: cut a dataset's large images into overlapping tiles.

Registration only; the work is :func:`cvpipe.tiling.tile_dataset` (geometry in
:mod:`cvpipe.slicing`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..hookspecs import hookimpl

__all__ = ["TileStep"]


class TileStep:
    """Cut images larger than ``size`` into overlapping tiles, boxes cut to each tile."""

    def __init__(
        self,
        *,
        path: Path,
        size: int = 640,
        overlap: float = 0.2,
        min_visibility: float = 0.3,
        images: Literal["copy", "link"] = "link",
        dataset: str = "dataset",
        output: str | None = None,
    ) -> None:
        """
        Args:
            path: the folder the tile images are written into (whole or not at all); the tiled
                dataset's root (write it in a format with a later ``write`` step).
            size: tile side in pixels; images no larger than this either way are kept whole.
            overlap: fraction of ``size`` neighbouring tiles share, in [0, 1).
            min_visibility: a box cut by a tile is kept when at least this fraction of its area
                is inside the tile (and flagged truncated), dropped otherwise.
            images: how images kept whole are put into ``path``: ``copy`` or hard-``link``.
            dataset: the context name of the dataset to tile.
            output: where to store the tiled dataset (default: replace ``dataset``).
        """
        from ..tiling import check_tile_settings  # numpy stays unimported until a tile step is built

        check_tile_settings(size, overlap, min_visibility)
        self.path, self.size, self.overlap, self.min_visibility = path, size, overlap, min_visibility
        self.images, self.dataset, self.output = images, dataset, output or dataset
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..data import Dataset
        from ..errors import JobError
        from ..tiling import tile_dataset

        ds = ctx[self.dataset]
        if not isinstance(ds, Dataset):
            raise JobError(f"{self.dataset!r} is not a dataset", value=type(ds).__name__,
                           expected="a Dataset (from read, ...)")
        tiled, counts = tile_dataset(ds, Path(self.path), size=self.size, overlap=self.overlap,
                                     min_visibility=self.min_visibility, images=self.images)
        ctx[self.output] = tiled
        summary = (f"{counts['images']} images -> {counts['tiles']} ({counts['tiled']} tiled, "
                   f"{counts['kept_whole']} kept whole); boxes {counts['boxes']} -> {counts['boxes_out']} "
                   f"({counts['clipped']} clipped, {counts['dropped']} dropped) -> {self.path}")
        return {"summary": summary, "path": str(self.path), **counts}


@hookimpl
def cvpipe_register_steps(register):
    register("tile", TileStep)
