"""Where a Pascal VOC dataset keeps things: ``Annotations/`` (sub-folders allowed), ``JPEGImages/``,
the split lists ``ImageSets/Main/<split>.txt``, or a plain folder of XML files; and detection.

Splits: with ``splits`` given, exactly the images those lists name, in list order. Without, every
annotation file (sorted by name), each tagged with the first split list naming it (``train``,
``val``, ``test``, then the others by name); ``trainval`` is ignored when ``train`` and ``val`` are
both present, and per-class lists (``aeroplane_train.txt``) are never split lists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from cvpipe.errors import Problem
from cvpipe.formats.lookup import file_head

__all__ = ["detect_voc", "voc_layout", "split_order"]


def _scan_xml(folder: Path) -> list[tuple[str, str]]:
    """``(id, path)`` of every ``*.xml`` under ``folder`` (recursive, hidden files skipped), sorted
    by id; the id is the path relative to ``folder`` without ``.xml``."""
    out: list[tuple[str, str]] = []
    stack = [("", str(folder))]
    st = os.stat(folder)
    seen = {(st.st_dev, st.st_ino)}  # a symlinked folder leading back up is entered once
    while stack:
        prefix, d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    st = e.stat()
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                    stack.append((prefix + e.name + "/", e.path))
                elif e.name[-4:].lower() == ".xml":
                    out.append((prefix + e.name[:-4], e.path))
    out.sort()
    return out


def _split_lists(main: Path) -> dict[str, Path]:
    """Split name -> list file in ``ImageSets/Main`` (per-class lists left out)."""
    if not main.is_dir():
        return {}
    stems = {p.stem: p for p in main.glob("*.txt") if not p.name.startswith(".")}
    out = {}
    for stem, p in stems.items():
        head, sep, tail = stem.rpartition("_")
        if sep and tail in stems:  # aeroplane_train.txt next to train.txt
            continue
        out[stem] = p
    return out


def _read_list(path: Path) -> list[tuple[str, int]]:
    """``(id, line)`` of a split list (first token of each non-empty line)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:  # a garbled id is reported as not found
        for lineno, line in enumerate(fh, 1):
            tok = line.split()
            if tok:
                out.append((tok[0], lineno))
    return out


def split_order(names) -> list[str]:
    """``train``, ``val``, ``test`` first, then the other split names sorted."""
    first = [s for s in ("train", "val", "test") if s in names]
    return first + sorted(s for s in names if s not in first)


def voc_layout(path: Path, splits: Sequence[str] | None, images_dir: Path | None,
            found: list[Problem]) -> tuple[list[tuple[str, str | None, str]], Path]:
    """The annotation files to read as ``(xml_path, split, id)`` and the folder images are in."""
    path = Path(path)
    if path.is_file():
        return [(str(path), None, path.stem)], Path(images_dir) if images_dir else path.parent
    if not path.is_dir():
        found.append(Problem("no such file or directory", file=str(path),
                             expected="a VOCdevkit folder, a folder of XML files or an XML file"))
        return [], path
    ann = path / "Annotations"
    if not ann.is_dir():
        if splits:
            found.append(Problem("split lists need a VOCdevkit layout", file=str(path), value=list(splits),
                                 expected="Annotations/ and ImageSets/Main/<split>.txt"))
        entries = [(p, None, i) for i, p in _scan_xml(path)]
        return entries, Path(images_dir) if images_dir else path
    image_root = Path(images_dir) if images_dir else path / "JPEGImages"
    lists = _split_lists(path / "ImageSets" / "Main")
    if splits:
        entries, seen = [], set()
        for split in splits:
            lst = lists.get(split)
            if lst is None:
                found.append(Problem("split list not found", file=str(path / "ImageSets" / "Main" / f"{split}.txt"),
                                     value=split, expected="one of: " + (", ".join(split_order(lists)) or "(none)")))
                continue
            for ident, lineno in _read_list(lst):
                if ident in seen:
                    continue
                seen.add(ident)
                xml = ann / f"{ident}.xml"
                if not xml.is_file():
                    found.append(Problem("annotation file not found", file=str(lst), line=lineno, value=ident,
                                         expected=f"{xml}"))
                    continue
                entries.append((str(xml), split, ident))
        return entries, image_root
    names = split_order(lists)
    if "train" in names and "val" in names and "trainval" in names:
        names.remove("trainval")
    split_of: dict[str, str] = {}
    for split in names:
        for ident, _ in _read_list(lists[split]):
            split_of.setdefault(ident, split)
    entries = [(p, split_of.get(i), i) for i, p in _scan_xml(ann)]
    return entries, image_root


def _looks_like_voc(xml: Path) -> bool:
    head = file_head(xml, 512)
    # "<annotation>" or "<annotation attr=...>"; CVAT's root "<annotations>" is not VOC's
    return re.search(rb"<annotation[\s>]", head) is not None


def detect_voc(path: Path) -> bool:
    """A VOCdevkit folder (``Annotations/`` with XML), a folder of VOC XML files, or one."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".xml" and _looks_like_voc(path)
    if not path.is_dir():
        return False
    folder = path / "Annotations" if (path / "Annotations").is_dir() else path
    for p in folder.iterdir():
        if p.suffix.lower() == ".xml" and not p.name.startswith(".") and p.is_file():
            return _looks_like_voc(p)
    return False
