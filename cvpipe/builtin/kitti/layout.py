"""Where a KITTI object dataset's files are, and format detection."""

from __future__ import annotations

from pathlib import Path

__all__ = ["LABELS_DIR", "IMAGES_DIR", "KITTI_CLASSES", "DONTCARE", "split_folders", "detect_kitti"]

LABELS_DIR = "label_2"
IMAGES_DIR = "image_2"
#: KITTI's object types in the development kit's order (categories present are read in it).
KITTI_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")
#: The type of regions to ignore (unlabelled objects, too far or too small).
DONTCARE = "DontCare"


def split_folders(path: Path) -> list[tuple[str | None, Path]]:
    """``(split, folder holding label_2/)`` pairs: ``path`` itself (split None) when it holds
    ``label_2/`` (or its parent when ``path`` is a ``label_2/``), else each sub-folder that does (split = its name), sorted by name."""
    path = Path(path)
    if (path / LABELS_DIR).is_dir():
        return [(None, path)]
    if path.name == LABELS_DIR and path.is_dir():  # the label folder itself was named
        return [(None, path.parent)]
    if not path.is_dir():
        return []
    return [(d.name, d) for d in sorted(path.iterdir())
            if d.is_dir() and not d.name.startswith(".") and (d / LABELS_DIR).is_dir()]


def detect_kitti(path: Path) -> bool:
    """A folder holding ``label_2/``, or whose sub-folders (``training/``) do."""
    return bool(split_folders(Path(path)))
