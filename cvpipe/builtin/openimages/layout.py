"""Where an Open Images dataset's files are, and format detection."""

from __future__ import annotations

import re
from pathlib import Path

from cvpipe.formats.lookup import file_head

__all__ = ["BOX_COLUMNS", "IMAGE_COLUMNS", "ANNOTATIONS_DIR", "IMAGES_DIR", "DESCRIPTIONS_FILE", "HIERARCHY_FILE",
           "ROOT_MID", "detect_openimages", "annotation_folder", "box_files", "image_list_files",
           "descriptions_file", "split_of", "dataset_base"]

#: The columns of a boxes file, in Open Images' order (downloads may add XClick* columns).
BOX_COLUMNS = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
               "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
#: The columns of an image list (``*-images-with-rotation.csv``).
IMAGE_COLUMNS = ("ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License", "AuthorProfileURL", "Author",
                 "Title", "OriginalSize", "OriginalMD5", "Thumbnail300KURL", "Rotation")
ANNOTATIONS_DIR = "annotations"
IMAGES_DIR = "images"
DESCRIPTIONS_FILE = "class-descriptions.csv"
HIERARCHY_FILE = "bbox_labels_600_hierarchy.json"
#: Open Images' root class ("Entity") of the hierarchy.
ROOT_MID = "/m/0bl9f"
_BOX_SUFFIX = "-annotations-bbox.csv"
_VERSION = re.compile(r"^oidv\d+-")


def _looks_like_boxes(path: Path) -> bool:
    head = file_head(path, 4096, line=True)
    return b"ImageID" in head and b"LabelName" in head and b"XMin" in head


def annotation_folder(path: Path) -> Path | None:
    """The folder holding the boxes files: ``path/annotations`` or ``path``; None if neither."""
    path = Path(path)
    for folder in (path / ANNOTATIONS_DIR, path):
        if folder.is_dir() and any(folder.glob("*" + _BOX_SUFFIX)):
            return folder
    return None


def box_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*" + _BOX_SUFFIX) if p.is_file() and not p.name.startswith("."))


def image_list_files(folder: Path) -> list[Path]:
    """``<split>-images-with-rotation.csv``, ``<split>-images-boxable-with-rotation.csv``,
    ``image_ids_and_rotation.csv`` (the split then from its ``Subset`` column)."""
    found = set(Path(folder).glob("*images*with-rotation.csv")) | set(Path(folder).glob("*image_ids_and_rotation.csv"))
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def descriptions_file(folders) -> Path | None:
    """The class descriptions: a ``*class-descriptions-boxable.csv`` first, then
    ``class-descriptions.csv``, then any ``*class-descriptions*.csv``."""
    for pattern in ("*class-descriptions-boxable.csv", DESCRIPTIONS_FILE, "*class-descriptions*.csv"):
        for folder in folders:
            hits = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
            if hits:
                return hits[0]
    return None


def split_of(name: str) -> str | None:
    """The split a file name says: ``oidv6-train-annotations-bbox.csv`` -> ``train``,
    ``validation-images-with-rotation.csv`` -> ``validation``; None for ``image_ids_and_rotation.csv``."""
    for suffix in (_BOX_SUFFIX, "-images-boxable-with-rotation.csv", "-images-with-labels-with-rotation.csv",
                   "-images-with-rotation.csv", "-image_ids_and_rotation.csv"):
        if name.endswith(suffix):
            return _VERSION.sub("", name[: -len(suffix)]) or None
    return None


def dataset_base(annotations: Path) -> Path:
    return annotations.parent if annotations.name == ANNOTATIONS_DIR else annotations


def detect_openimages(path: Path) -> bool:
    """A boxes CSV (header with ``ImageID``, ``LabelName``, ``XMin``), or a folder holding
    ``*-annotations-bbox.csv`` files (in it or in ``annotations/``)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".csv" and _looks_like_boxes(path)
    folder = annotation_folder(path) if path.is_dir() else None
    return folder is not None and any(_looks_like_boxes(p) for p in box_files(folder)[:1])
