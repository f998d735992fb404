"""Where a COCO dataset keeps things: ``annotations/instances_<split>.json`` (or a JSON file, or
a folder holding ``instances_*.json``), images under ``images/<split>/``, ``<split>/``,
``images/`` or beside the JSON; and detection."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["detect", "json_files", "dataset_base", "image_candidates", "DEFAULT_SPLIT"]

_INSTANCES = re.compile(r"^instances_(.+)\.json$")
#: the split name used for a dataset without splits
DEFAULT_SPLIT = "default"
#: the annotation file of each split folder of a Roboflow COCO export (``train/_annotations.coco.json``)
ROBOFLOW_FILE = "_annotations.coco.json"

def json_files(path: Path) -> list[tuple[Path, str | None]]:
    """``(json file, split)`` pairs for a COCO path (a file or a folder): ``instances_<split>.json``
    in ``annotations/`` or the folder itself, else a Roboflow split folder's
    ``_annotations.coco.json`` (no split of its own: :mod:`cvpipe.formats.split_folders` gives
    it its folder's)."""
    path = Path(path)
    if path.is_file():
        m = _INSTANCES.match(path.name)
        return [(path, m.group(1) if m else None)]
    for folder in (path / "annotations", path):
        found = sorted(f for f in folder.glob("instances_*.json") if f.is_file()) if folder.is_dir() else []
        if found:
            return [(f, _INSTANCES.match(f.name).group(1)) for f in found]
    if (path / ROBOFLOW_FILE).is_file():  # a Roboflow export's split folder: images beside it
        return [(path / ROBOFLOW_FILE, None)]
    return []


def detect(path: Path) -> bool:
    """A ``.json`` file whose first bytes look like a COCO instances object, or a folder with
    ``annotations/instances_*.json`` (or ``instances_*.json``, or Roboflow's ``_annotations.coco.json``)."""
    path = Path(path)
    if path.is_dir():
        return bool(json_files(path))
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    head = head.lstrip()
    return head.startswith(b"{") and any(k in head for k in (b'"images"', b'"annotations"', b'"categories"'))


def dataset_base(json_file: Path) -> Path:
    """The dataset folder of ``json_file`` (above ``annotations/``)."""
    parent = json_file.parent
    return parent.parent if parent.name == "annotations" else parent


def image_candidates(json_file: Path, split: str | None) -> list[Path]:
    """The folders images of ``json_file``'s ``split`` may be in, most specific first."""
    base = dataset_base(json_file)
    out = []
    if split:
        out += [base / "images" / split, base / split]
    out += [base / "images", base]
    if json_file.parent != base:
        out.append(json_file.parent)
    return out
