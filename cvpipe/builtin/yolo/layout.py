"""Where a YOLO dataset keeps things: Ultralytics ``data.yaml`` (split keys: image folders, image
lists or label folders; ``images/`` -> ``labels/``), darknet ``obj.names`` (with ``obj.data``'s
image lists, CVAT's ``obj_<split>_data/`` folders, or the images below it), or a Roboflow-style
split-folder export (``train/images``, ``train/labels``, ``valid/...``, ``test/...``); images
looked up in ``images_dir``; and detection. ``data.yaml`` itself is parsed by the toolkit
(:mod:`cvpipe.formats.yolo_text`)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Sequence

from cvpipe.errors import Problem
from cvpipe.formats.yolo_text import STAND_IN_KEY, data_yaml_names, load_data_yaml

__all__ = ["detect_yolo", "ultralytics_items", "darknet_items", "split_folder_items", "split_folder_splits",
           "find_in", "rel_in_split", "list_images", "names_file", "read_names_file"]

_RESERVED_KEYS = {"path", "names", "nc", "download", "yaml_file", "kpt_shape", "flip_idx", "channels", "roboflow",
                  "task", STAND_IN_KEY}


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


#: notes (``Dataset.meta["notes"]``) of the layout rules that assumed something
NOTE_ROBOFLOW_PARENT = "data.yaml split path '../<split>/images' not found: read '<split>/images' (Roboflow export)"
NOTE_PATH_NOT_FOUND = "data.yaml 'path' not found: split paths taken relative to the YAML's folder"
NOTE_NAMES_FROM_IDS = "no class names (no data.yaml or names file): classes named class_0, class_1, ... by id"
#: the split folders of a Roboflow-style export (``<split>/images`` + ``<split>/labels``)
SPLIT_FOLDERS = ("train", "valid", "val", "test")
#: class-name files of layouts without data.yaml, in the order looked for
NAMES_FILES = ("obj.names", "classes.txt", "_darknet.labels", "classes.names")


def _note(notes: dict[str, int] | None, text: str, n: int = 1) -> None:
    if notes is not None:
        notes[text] = notes.get(text, 0) + n


def _resolve_root(yaml_path: Path, data: dict, notes: dict[str, int] | None) -> Path:
    """The dataset root of a data.yaml: its ``path`` (absolute, or relative to the YAML's folder),
    else the YAML's folder (noted when ``path`` is given but is not a folder)."""
    root = yaml_path.parent
    value = data.get("path")
    if isinstance(value, str) and value:
        p = Path(value).expanduser()
        p = p if p.is_absolute() else yaml_path.parent / p
        if p.is_dir():
            return p
        _note(notes, NOTE_PATH_NOT_FOUND)
    return root


def _resolve_split(root: Path, value: str, notes: dict[str, int] | None) -> Path:
    """A split path of a data.yaml as Ultralytics resolves it: ``root / value``; when that does
    not exist and ``value`` starts with ``../`` (Roboflow writes ``../train/images`` for a
    data.yaml inside the dataset folder), ``root / value[3:]`` if that exists (noted)."""
    loc = root / value
    if not loc.exists() and value.startswith("../"):
        alt = root / value[3:]
        if alt.exists():
            _note(notes, NOTE_ROBOFLOW_PARENT)
            return alt
    return loc


def _split_keys(data: dict) -> list[str]:
    return [k for k, v in data.items() if k not in _RESERVED_KEYS and isinstance(k, str)
            and (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)))]


def _items_at(split: str, loc: Path, root: Path, yaml_path: Path, value: str, found: list[Problem]) -> list:
    """``(split, image, label)`` of one split path: a ``.txt`` list of images, a folder of
    images, or (images absent) the label folder Ultralytics' rule gives."""
    items = []
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
        found.append(Problem("split folder not found", file=str(yaml_path), field=split, value=str(value),
                             expected=f"a folder of images, or labels, below {root}"))
    return items


def _unique(items: list) -> list:
    """``items`` without an image listed twice in one split (an image in two splits is kept
    in each: Ultralytics' VOC.yaml gives ``val`` and ``test`` one folder)."""
    seen: set = set()
    out = []
    for split, img, lab in items:
        if (split, img) in seen:
            continue
        seen.add((split, img))
        out.append((split, img, lab))
    return out


def ultralytics_items(yaml_path: Path, splits: Sequence[str] | None, images_dir: Path | None,
                       found: list[Problem], notes: dict[str, int] | None = None, info: dict | None = None):
    """``(names, root, [(split, image_path, label_path)])`` of a data.yaml, paths resolved as
    Ultralytics resolves them (:func:`_resolve_root`, :func:`_resolve_split`); ``notes`` counts
    what was assumed; ``info`` (a dict to fill) gets the pose/OBB keys: ``kpt_shape``,
    ``flip_idx``, ``task``."""
    data = load_data_yaml(yaml_path, found)
    if data is None:
        return None
    names = data_yaml_names(data, str(yaml_path), found, notes)
    if names is None:
        return None
    if info is not None:
        for k in ("kpt_shape", "flip_idx", "task"):
            if k in data:
                info[k] = data[k]
    root = _resolve_root(yaml_path, data, notes)
    keys = _split_keys(data)
    if splits:
        missing = [s for s in splits if s not in keys]
        for s in missing:
            found.append(Problem("split not in data.yaml", file=str(yaml_path), field=s, value=s,
                                 expected="one of: " + (", ".join(keys) or "(none)")))
        keys = [k for k in keys if k in splits]
    alias = data.get(STAND_IN_KEY)
    for key, src in (alias.items() if isinstance(alias, dict) else ()):
        if key in keys and isinstance(src, str) and src != key and src in keys and data.get(src) == data[key]:
            keys.remove(key)  # cvpipe wrote this key as another split's images: read them once, as that split
    items = []
    for split in keys:
        values = data[split] if isinstance(data[split], list) else [data[split]]
        for v in values:
            items += _items_at(split, _resolve_split(root, v, notes), root, yaml_path, v, found)
    return names, root, _unique(items)


def split_folder_splits(folder: Path) -> list[str]:
    """The split folders of a Roboflow-style YOLO export below ``folder``: ``train``, ``valid``,
    ``val``, ``test`` (in that order) holding ``images/`` and ``labels/``."""
    return [s for s in SPLIT_FOLDERS if (folder / s / "images").is_dir() and (folder / s / "labels").is_dir()]


def names_file(folder: Path) -> Path | None:
    """The class-names file of a layout without data.yaml (:data:`NAMES_FILES`, in ``folder``
    or, for a split-folder export, in its first split folder that has one)."""
    for d in (folder, *(folder / s for s in SPLIT_FOLDERS)):
        for n in NAMES_FILES:
            if (d / n).is_file():
                return d / n
    return None


def read_names_file(path: Path) -> list[str]:
    """One class name per non-blank line."""
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def split_folder_items(folder: Path, splits: Sequence[str] | None, found: list[Problem]):
    """``(names or None, folder, items)`` of a Roboflow-style split-folder export without
    data.yaml (``<split>/images/``, ``<split>/labels/``); names from a names file, else None
    (the reader then names the classes by id)."""
    present = split_folder_splits(folder)
    if splits:
        for s in splits:
            if s not in present:
                found.append(Problem("split folder not found", file=str(folder / s), value=s,
                                     expected="one of: " + (", ".join(present) or "(none)")))
        present = [s for s in present if s in splits]
    items = []
    for split in present:
        items += [(split, img, _labels_of(img)) for img in list_images(folder / split / "images")]
    nf = names_file(folder)
    return (read_names_file(nf) if nf is not None else None), folder, items


def darknet_items(folder: Path, splits: Sequence[str] | None, found: list[Problem]):
    """``(names, folder, items)`` of a darknet layout: ``obj.names`` and ``obj.data``'s image
    lists; without lists, CVAT's ``obj_<split>_data/`` folders; without those, every image below
    ``folder`` with its labels beside it or in ``labels/`` (Ultralytics' rule)."""
    names_path = folder / "obj.names"
    names = read_names_file(names_path)
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
    elif any(folder.glob("obj_*_data")):  # no lists: every obj_<split>_data folder (CVAT)
        for d in sorted(folder.glob("obj_*_data")):
            split = d.name[4:-5]
            if splits and split not in splits:
                continue
            for lab in sorted(d.glob("*.txt")):
                imgs = [p for p in list_images(d) if p.stem == lab.stem]
                items.append((split, imgs[0] if imgs else lab.with_suffix(".jpg"), lab))
    else:  # obj.names alone: the images below the folder, labels beside them or in labels/
        if splits:
            found.append(Problem("split lists need obj.data", file=str(names_path), value=list(splits),
                                 expected="obj.data with train = ..., valid = ... (or no --split)"))
        for img in list_images(folder):
            beside = img.with_suffix(".txt")
            items.append((None, img, beside if beside.is_file() else _labels_of(img)))
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
    """A folder holding ``data.yaml``/``data.yml`` or ``obj.names``, a Roboflow-style split-folder
    export (``train/images`` + ``train/labels``, ``valid/...``, ``test/...``), or a YAML file with
    ``names`` (or ``nc``)."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            return False
        try:
            return re.search(r"(?m)^(names|nc)\s*:", path.read_text(encoding="utf-8", errors="replace")) is not None
        except OSError:
            return False
    if not path.is_dir():
        return False
    return any((path / n).is_file() for n in ("data.yaml", "data.yml", "obj.names")) or bool(split_folder_splits(path))
