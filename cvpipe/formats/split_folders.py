"""Split-folder exports: one dataset kept as one folder per split, each folder a dataset of the
same format on its own -- Roboflow's exports (``train/``, ``valid/``, ``test/``, each with its
``_annotations.coco.json`` and images, or its VOC XML files beside the images)::

    export/
      train/_annotations.coco.json   train/a.jpg ...
      valid/_annotations.coco.json   valid/b.jpg ...
      test/_annotations.coco.json    test/c.jpg ...

Which folders are splits: the sub-folders named (case-insensitively) ``train``/``training``,
``valid``/``val``/``validation``, ``test``/``testing`` (:data:`SPLIT_FOLDERS`). Folder names
map to cvpipe's split names: ``valid`` and ``validation`` are split ``val`` (the name VOC's
split lists, COCO's ``instances_val`` and YOLO's ``data.yaml`` use), ``training`` is ``train``,
``testing`` is ``test``; ``--split valid`` and ``--split val`` both pick ``valid/``.

The layout applies only where the format's own ``detect`` refuses the top folder and accepts
at least one split folder (a format that reads split folders itself -- YOLO's ``data.yaml``,
KITTI's ``training/`` -- keeps doing so). Each split folder is read by the format's reader
(:func:`read_split_folders`), every sample tagged with its folder's split, and the parts merged:
categories the union in first-seen order, image paths relative to the top folder
(``valid/b.jpg``), the readers' ``meta`` merged (:func:`merge_meta`). A split folder the format
does not recognise is a problem, never silently dropped.

This module only knows folders; :mod:`.lookup` (detection) and :mod:`.io` (reading) call it with
the format's ``detect`` and reader.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import Problem

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["SPLIT_FOLDERS", "split_folders", "split_folder_parts", "read_split_folders", "merge_meta",
           "split_of_folder"]

#: folder name (lower case) -> cvpipe split name
SPLIT_FOLDERS = {
    "train": "train", "training": "train",
    "valid": "val", "val": "val", "validation": "val",
    "test": "test", "testing": "test",
}
_ORDER = {"train": 0, "val": 1, "test": 2}


def split_of_folder(name: str) -> str | None:
    """The split a folder called ``name`` holds (``valid`` -> ``val``), or None."""
    return SPLIT_FOLDERS.get(name.lower())


def split_folders(path: Path) -> list[tuple[str, Path]]:
    """``(split, folder)`` of the sub-folders of ``path`` named as splits, in train, val, test
    order (then by folder name); ``[]`` when ``path`` is not a folder or has none."""
    path = Path(path)
    try:
        entries = [e for e in os.scandir(path) if not e.name.startswith(".")]
    except OSError:
        return []
    out = []
    for e in entries:
        split = split_of_folder(e.name)
        if split is not None and e.is_dir():
            out.append((split, Path(e.path)))
    out.sort(key=lambda sf: (_ORDER[sf[0]], sf[1].name))
    return out


def split_folder_parts(path: Path, detect: Callable[[Path], bool]) -> list[tuple[str, Path]]:
    """The split folders of ``path`` as one dataset of the format whose ``detect`` is given:
    every split folder when ``detect`` refuses ``path`` itself and accepts at least one of them,
    else ``[]`` (the format reads ``path`` as it is). A ``detect`` that raises does not match."""
    parts = split_folders(path)
    if not parts or _matches(detect, Path(path)):
        return []
    return parts if any(_matches(detect, folder) for _, folder in parts) else []


def _matches(detect: Callable[[Path], bool], path: Path) -> bool:
    try:
        return bool(detect(path))
    except Exception:  # a detector tripping over a foreign layout simply does not match
        return False


def _wanted(parts: list[tuple[str, Path]], splits: Sequence[str] | None, path: Path,
            found: list[Problem]) -> list[tuple[str, Path]]:
    """The parts ``splits`` picks (by split name or folder name), a problem per unknown one."""
    if not splits:
        return parts
    keep = []
    for want in splits:
        hit = [(s, f) for s, f in parts if want in (s, f.name)]
        if not hit:
            found.append(Problem("split not found", file=str(path), value=want,
                                 expected="one of: " + ", ".join(dict.fromkeys(s for s, _ in parts))))
        keep += [h for h in hit if h not in keep]
    return keep


def read_split_folders(path: Path, parts: list[tuple[str, Path]], read: Callable[..., "Dataset"],
                       detect: Callable[[Path], bool], *, images_dir: Path | None = None,
                       splits: Sequence[str] | None = None, problems: list[Problem] | None = None) -> "Dataset":
    """Read the split folders ``parts`` of ``path`` (from :func:`split_folder_parts`) with
    ``read(folder, images_dir=..., problems=...)`` (the format's reader, bound to its options) and
    merge them into one Dataset rooted at ``path``, each sample's ``split`` its folder's.

    ``splits`` picks folders by split or folder name (``val`` or ``valid``); ``images_dir``, when
    given, is searched per split as ``images_dir/<folder name>`` if that folder exists, else as
    it is. A split folder ``detect`` refuses is a problem. Problems go to ``problems`` (bad items
    skipped) or are raised together as one InputError.
    """
    from dataclasses import replace

    from ..data import Dataset
    from ..data.origin import Origin
    from ..errors import InputError

    path = Path(path)
    found: list[Problem] = []
    parts = _wanted(parts, splits, path, found)
    datasets: list[tuple[str, Dataset]] = []
    for split, folder in parts:
        if not _matches(detect, folder):
            found.append(Problem("split folder does not hold the dataset's format", file=str(folder),
                                 value=folder.name, expected="the same format as the other split folders"))
            continue
        kwargs: dict[str, Any] = {}
        if images_dir is not None:
            own = Path(images_dir) / folder.name
            kwargs["images_dir"] = own if own.is_dir() else Path(images_dir)
        if problems is not None:
            datasets.append((split, read(folder, problems=found, **kwargs)))
        else:
            try:
                datasets.append((split, read(folder, **kwargs)))
            except InputError as exc:
                found.extend(exc.problems)
    categories: list[str] = []
    for _, ds in datasets:
        categories += [c for c in ds.categories if c not in categories]
    index = {c: i for i, c in enumerate(categories)}
    top = path.absolute()
    samples = []
    for split, ds in datasets:
        import numpy as np

        mapping = np.array([index[c] for c in ds.categories] or [0], dtype=np.int64)
        root = Path(ds.root).absolute() if ds.root is not None else None
        for s in ds.samples:
            samples.append(replace(s, image=_relative(s.image, root, top), split=split,
                                   labels=mapping[s.labels] if len(s) else s.labels))
    if found and problems is None:
        raise InputError.from_problems(found)
    if problems is not None:
        problems.extend(found)
    meta = merge_meta([ds.meta for _, ds in datasets])
    meta["split_folders"] = {f.name: s for s, f in parts}
    locators = [ds.locate for _, ds in datasets if ds.locate is not None]
    return Dataset(categories, samples, root=path, meta=meta, origin=Origin(str(path)),
                   locate=_chain(locators) if locators else None)


def _relative(image: str, root: Path | None, top: Path) -> str:
    """``image`` (relative to ``root``) as a path relative to ``top`` when it is inside it,
    else absolute."""
    if root is None or Path(image).is_absolute():
        return image
    full = root / image
    try:
        return full.relative_to(top).as_posix()
    except ValueError:
        return str(full)


def _chain(locators: list) -> Callable[[str | None, str | None], int | None]:
    """A Locator asking each part's locator in turn (each knows only its own files)."""
    def locate(file: str | None, field: str | None) -> int | None:
        for loc in locators:
            line = loc(file, field)
            if line is not None:
                return line
        return None
    return locate


def merge_meta(metas: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts' ``Dataset.meta`` as one: the readers' ``notes`` (``{what was assumed or
    changed: how many}``) added up, other mappings merged key by key, lists joined without
    repeating equal items (COCO's categories, once per split file, appear once), any other value
    the first part's."""
    out: dict[str, Any] = {}
    notes: dict[str, int] = {}
    for m in metas:
        for k, v in (m.get("notes") or {}).items() if isinstance(m.get("notes"), dict) else ():
            notes[k] = notes.get(k, 0) + (v if isinstance(v, int) and not isinstance(v, bool) else 0)
        out = _merge_value(out, {k: v for k, v in m.items() if k != "notes"})
    if notes:
        out["notes"] = notes
    return out


def _merge_value(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge_value(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    return a
