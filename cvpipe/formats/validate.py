"""What ``cvpipe validate`` runs: read everything, check everything, raise nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import Problem
from .check import check_dataset, dataset_folders
from .io import read_dataset
from .lookup import detect_format

__all__ = ["validate_dataset"]


def validate_dataset(
    src: Path,
    fmt: str | None = None,
    *,
    images_dir: Path | None = None,
    splits: Sequence[str] | None = None,
    check_images: bool = True,
    progress: bool = False,
    follow_symlinks: bool = False,
) -> dict[str, Any]:
    """Read ``src`` completely and run every check; nothing is raised for bad data.

    Returns ``{"source", "format", "images", "boxes", "categories", "problems": [Problem],
    "ok": bool}`` (``images``/``boxes`` count what was readable), and ``notes`` (``{what the
    reader assumed or changed: n}``) when there are any. The checks are the ones
    :func:`~cvpipe.formats.convert_dataset` refuses on (``follow_symlinks`` as there).
    """
    src = Path(src)
    fmt = fmt or detect_format(src)
    problems: list[Problem] = []
    dataset = read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=problems)
    check_dataset(dataset, problems, check_images=check_images, progress=progress, follow_symlinks=follow_symlinks,
                  inside=dataset_folders(src, images_dir))
    result = {
        "source": str(src), "format": fmt, "images": len(dataset), "boxes": dataset.num_boxes,
        "categories": len(dataset.categories), "problems": problems, "ok": not problems,
    }
    if dataset.meta.get("notes"):  # what the reader assumed or changed (not problems)
        result["notes"] = dict(dataset.meta["notes"])
    return result
