"""Where a YOLO dataset keeps things: Ultralytics ``data.yaml`` (split keys: image folders, image
lists or label folders; ``images/`` -> ``labels/``) or darknet ``obj.names``/``obj.data`` with image
lists; images looked up in ``images_dir``; and detection. ``data.yaml`` itself is parsed by the
toolkit (:mod:`cvpipe.formats.yolo_text`)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Sequence

from cvpipe.errors import Problem
from cvpipe.formats.yolo_text import data_yaml_names, load_data_yaml

__all__ = ["detect_yolo", "ultralytics_items", "darknet_items", "find_in", "rel_in_split", "list_images"]

_RESERVED_KEYS = {"path", "names", "nc", "download", "yaml_file", "kpt_shape", "flip_idx", "channels", "roboflow"}


def list_images(folder: Path) -> list[Path]:
    from cvpipe.formats.images import is_image

    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".") and is_image(Path(f))]
    return sorted(out)


def _labels_of(image: Path) -> Path:
    """Ultralytics' rule: the last ``/images/`` folder becomes ``/labels/``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def find_in(images_dir: Path, rel: str) -> Path:
    """An image in ``images_dir``: at ``rel``, else by file name, else by stem with any image
    extension; the first candidate when none exists (reported as missing later)."""
    from cvpipe.formats.images import IMAGE_EXTENSIONS

    cands = [images_dir / rel, images_dir / PurePosixPath(rel).name]
    stem = PurePosixPath(rel).stem
    for base in (images_dir / PurePosixPath(rel).parent, images_dir):
        for ext in IMAGE_EXTENSIONS:
            cands += [base / (stem + ext), base / (stem + ext.upper())]
    for c in cands:
        if c.is_file():
            return c
    return cands[0]


def ultralytics_items(yaml_path: Path, splits: Sequence[str] | None, images_dir: Path | None,
                       found: list[Problem]):
    """``(names, root, [(split, image_path, image_rel_to_root, label_path)])`` of a data.yaml."""
    data = load_data_yaml(yaml_path, found)
    if data is None:
        return None
    names = data_yaml_names(data, str(yaml_path), found)
    if names is None:
        return None
    root = yaml_path.parent
    if isinstance(data.get("path"), str) and data["path"]:
        p = Path(data["path"]).expanduser()
        p = p if p.is_absolute() else yaml_path.parent / p
        if p.is_dir():
            root = p
    keys = [k for k, v in data.items() if k not in _RESERVED_KEYS and isinstance(k, str)
            and (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)))]
    if splits:
        missing = [s for s in splits if s not in keys]
        for s in missing:
            found.append(Problem("split not in data.yaml", file=str(yaml_path), field=s, value=s,
                                 expected="one of: " + (", ".join(keys) or "(none)")))
        keys = [k for k in keys if k in splits]
    items = []
    seen: set[Path] = set()
    for split in keys:
        values = data[split] if isinstance(data[split], list) else [data[split]]
        for v in values:
            loc = root / v
            if loc.is_file() and loc.suffix == ".txt":
                for lineno, line in enumerate(loc.read_text(encoding="utf-8").splitlines(), 1):
                    line = line.strip()
                    if not line:
                        continue
                    img = loc.parent / line[2:] if line.startswith("./") else Path(line)
                    img = img if img.is_absolute() else root / img
                    items.append((split, img, _labels_of(img)))
            elif loc.is_dir():
                items += [(split, img, _labels_of(img)) for img in list_images(loc)]
            elif _labels_of(loc / "x.jpg").parent.is_dir():  # images absent: read the label files
                lab_dir = _labels_of(loc / "x.jpg").parent
                for dirpath, dirnames, filenames in os.walk(lab_dir):
                    dirnames.sort()
                    for f in sorted(filenames):
                        if f.endswith(".txt") and not f.startswith("."):
                            lab = Path(dirpath) / f
                            rel = lab.relative_to(lab_dir).with_suffix(".jpg")
                            items.append((split, loc / rel, lab))
            else:
                found.append(Problem("split folder not found", file=str(yaml_path), field=split, value=str(v),
                                     expected=f"a folder of images, or labels, below {root}"))
    out = []
    for split, img, lab in items:
        if img in seen:
            continue
        seen.add(img)
        out.append((split, img, lab))
    return names, root, out


def darknet_items(folder: Path, splits: Sequence[str] | None, found: list[Problem]):
    names_file = folder / "obj.names"
    names = [ln.strip() for ln in names_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    lists: dict[str, Path] = {}
    data_file = folder / "obj.data"
    if data_file.is_file():
        for line in data_file.read_text(encoding="utf-8").splitlines():
            key, sep, val = line.partition("=")
            key, val = key.strip(), val.strip()
            if sep and key in ("train", "valid", "test") and val:
                p = _strip_to_existing(folder, val)
                if p is not None:
                    lists[key] = p
    items = []
    if lists:
        for split, lst in lists.items():
            if splits and split not in splits:
                continue
            for line in lst.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if not line:
                    continue
                img = _strip_to_existing(folder, line, want_parent=True) or folder / line
                items.append((split, img, img.with_suffix(".txt")))
    else:  # no lists: every obj_<split>_data folder
        for d in sorted(folder.glob("obj_*_data")):
            split = d.name[4:-5]
            if splits and split not in splits:
                continue
            for lab in sorted(d.glob("*.txt")):
                imgs = [p for p in list_images(d) if p.stem == lab.stem]
                items.append((split, imgs[0] if imgs else lab.with_suffix(".jpg"), lab))
    return names, folder, items


def _strip_to_existing(root: Path, rel: str, want_parent: bool = False) -> Path | None:
    """``root / rel`` with leading folders of ``rel`` dropped until it (or, with
    ``want_parent``, its folder) exists below ``root``."""
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    for i in range(len(parts)):
        p = root.joinpath(*parts[i:])
        if p.exists() or (want_parent and p.parent.is_dir() and p.parent != root):
            return p
    return None


def rel_in_split(img: Path, root: Path, split: str) -> str:
    try:
        rel = img.relative_to(root).parts
    except ValueError:
        return img.name
    for i, part in enumerate(rel[:-1]):
        if part in (split, f"obj_{split}_data"):
            return "/".join(rel[i + 1:])
    return img.name


def detect_yolo(path: Path) -> bool:
    """A folder holding ``data.yaml``/``data.yml`` or ``obj.names``, or a YAML file with ``names``."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            return False
        try:
            return re.search(r"(?m)^names\s*:", path.read_text(encoding="utf-8", errors="replace")) is not None
        except OSError:
            return False
    return path.is_dir() and any((path / n).is_file() for n in ("data.yaml", "data.yml", "obj.names"))
