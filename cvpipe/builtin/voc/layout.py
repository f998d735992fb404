"""Where a Pascal VOC dataset keeps things: ``Annotations/`` (sub-folders allowed), ``JPEGImages/``,
the split lists ``ImageSets/Main/<split>.txt``, or a plain folder of XML files; and detection.

Folder names: ``Annotations/`` or lower-case ``annotations/``, images in ``JPEGImages/`` or
``images/`` (the layout Kaggle datasets use: ``annotations/*.xml`` + ``images/*.png``). One XML file
given alone finds its images beside it or, when none of its name is there, in ``../JPEGImages/``
(or ``../images/``): the file is then the devkit's ``Annotations/<id>.xml``; the ``Annotations/``
folder given alone finds them there too.

Split lists: the first token of each line is an image id; blank lines and lines starting with
``#`` are skipped. With ``splits`` given, exactly the images those lists name, in list order.
Without, every annotation file (sorted by name), tagged with each split list naming it (``train``,
``val``, ``test``, then the others by name: an image two lists name is in both splits, one entry
per split); ``trainval`` is ignored when ``train`` and ``val`` are both present and otherwise tags
only the ids no other list names; per-class lists (``aeroplane_train.txt``) are never split
lists. An id a list names without an annotation file is an image without objects when the caller
asks for such ids (``bare``): :func:`voc_layout` then gives it as an entry with no XML path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from cvpipe.errors import Problem
from cvpipe.formats.lookup import file_head

__all__ = ["detect_voc", "voc_layout", "split_order", "ANNOTATION_DIRS", "IMAGE_DIRS", "find_image"]

#: the annotation folder of a devkit-like layout, in the order looked for
ANNOTATION_DIRS = ("Annotations", "annotations")
#: its image folder, in the order looked for
IMAGE_DIRS = ("JPEGImages", "images", "Images")


def _first_dir(parent: Path, names: Sequence[str]) -> Path | None:
    for n in names:
        if (parent / n).is_dir():
            return parent / n
    return None


def find_image(image_root: Path, stem: str) -> str | None:
    """The file name of the image ``stem`` (any image extension, either case) in ``image_root``,
    or None."""
    from cvpipe.formats.images import IMAGE_EXTENSIONS

    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            if (image_root / (stem + e)).is_file():
                return stem + e
    return None


def _lone_xml_image_root(xml: Path) -> Path:
    """Where the images of one XML file given alone are: beside it, or in the devkit's
    ``../JPEGImages`` (or ``../images``) when no image of its name is beside it."""
    here = xml.parent
    if find_image(here, xml.stem) is not None:
        return here
    up = _first_dir(here.parent, IMAGE_DIRS)
    if up is not None and up != here and find_image(up, xml.stem) is not None:
        return up
    return here


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
    """``(id, line)`` of a split list: the first token of each line, blank lines and ``#``
    comment lines skipped."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:  # a garbled id is reported as not found
        for lineno, line in enumerate(fh, 1):
            tok = line.split()
            if tok and not tok[0].startswith("#"):
                out.append((tok[0], lineno))
    return out


def split_order(names) -> list[str]:
    """``train``, ``val``, ``test`` first, then the other split names sorted."""
    first = [s for s in ("train", "val", "test") if s in names]
    return first + sorted(s for s in names if s not in first)


def voc_layout(path: Path, splits: Sequence[str] | None, images_dir: Path | None,
            found: list[Problem], *, bare: dict[str, tuple[str, int]] | None = None,
            ) -> tuple[list[tuple[str | None, str | None, str]], Path]:
    """The annotation files to read as ``(xml_path, split, id)`` and the folder images are in.

    ``bare``: when given (a dict to fill), an id a split list names without an annotation file
    whose image is in the image folder is an entry ``(None, split, id)`` and ``bare[id]`` is
    ``(list file, line)``; without it such ids are left out (with ``splits`` given: a problem, as
    for an id whose image is missing too)."""
    path = Path(path)
    if path.is_file():
        return [(str(path), None, path.stem)], Path(images_dir) if images_dir else _lone_xml_image_root(path)
    if not path.is_dir():
        found.append(Problem("no such file or directory", file=str(path),
                             expected="a VOCdevkit folder, a folder of XML files or an XML file"))
        return [], path
    ann = _first_dir(path, ANNOTATION_DIRS)
    if ann is None:
        if splits:
            found.append(Problem("split lists need a VOCdevkit layout", file=str(path), value=list(splits),
                                 expected="Annotations/ and ImageSets/Main/<split>.txt"))
        entries = [(p, None, i) for i, p in _scan_xml(path)]
        if images_dir:
            return entries, Path(images_dir)
        # the devkit's Annotations/ folder itself: its images are in ../JPEGImages (or ../images)
        sibling = _first_dir(path.parent, IMAGE_DIRS) if path.name in ANNOTATION_DIRS else None
        return entries, sibling or path
    image_root = Path(images_dir) if images_dir else (_first_dir(path, IMAGE_DIRS) or path / IMAGE_DIRS[0])
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
                if (split, ident) in seen:  # an id in two lists is in both splits
                    continue
                seen.add((split, ident))
                xml = ann / f"{ident}.xml"
                if not xml.is_file():
                    if bare is not None and find_image(image_root, ident) is not None:
                        bare[ident] = (str(lst), lineno)
                        entries.append((None, split, ident))
                        continue
                    found.append(Problem("annotation file not found", file=str(lst), line=lineno, value=ident,
                                         expected=f"{xml}" + (f" (or an image {ident}.* in {image_root}: an image "
                                                              "without objects)" if bare is not None else "")))
                    continue
                entries.append((str(xml), split, ident))
        return entries, image_root
    names = split_order(lists)
    if "train" in names and "val" in names and "trainval" in names:
        names.remove("trainval")
    splits_of: dict[str, list[str]] = {}
    listed_at: dict[str, tuple[str, int]] = {}
    # trainval (the union of train and val) tags only ids neither train nor val names
    for split in [n for n in names if n != "trainval"] + (["trainval"] if "trainval" in names else []):
        for ident, lineno in _read_list(lists[split]):
            got = splits_of.setdefault(ident, [])
            if split in got or (split == "trainval" and got):
                continue
            got.append(split)
            listed_at.setdefault(ident, (str(lists[split]), lineno))
    # an id two lists name (other than trainval) is an image in both splits: one entry per split
    entries = [(p, split, i) for i, p in _scan_xml(ann) for split in (splits_of.get(i) or [None])]
    if bare is not None:
        have = {i for _, _, i in entries}
        extra = [(None, split, i) for i in splits_of if i not in have and find_image(image_root, i) is not None
                 for split in splits_of[i]]
        if extra:
            for _, _, i in extra:
                bare[i] = listed_at[i]
            entries = sorted(entries + extra, key=lambda e: e[2])  # stable: an id's splits stay in list order
    return entries, image_root


def _looks_like_voc(xml: Path) -> bool:
    head = file_head(xml, 512)
    # "<annotation>" or "<annotation attr=...>"; CVAT's root "<annotations>" is not VOC's
    return re.search(rb"<annotation[\s>]", head) is not None


def detect_voc(path: Path) -> bool:
    """A VOCdevkit folder (``Annotations/`` or ``annotations/`` with XML), a folder of VOC XML
    files, or one."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".xml" and _looks_like_voc(path)
    if not path.is_dir():
        return False
    folder = _first_dir(path, ANNOTATION_DIRS) or path
    for p in folder.iterdir():
        if p.suffix.lower() == ".xml" and not p.name.startswith(".") and p.is_file():
            return _looks_like_voc(p)
    return False
