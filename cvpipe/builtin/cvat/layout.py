"""Where a CVAT for images dataset's files are, safe XML parsing, and format detection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cvpipe.errors import Problem
from cvpipe.formats.lookup import file_head, find_dataset_file

from cvpipe.formats.xml import parse_xml_file

__all__ = ["ANNOTATIONS_FILE", "IMAGES_DIR", "detect_cvat", "find_xml", "parse_xml", "element_data",
           "data_element"]

#: The annotation file of a CVAT export.
ANNOTATIONS_FILE = "annotations.xml"
#: The folder of images beside it.
IMAGES_DIR = "images"
_ROOT = re.compile(rb"<annotations[\s>]")
_HEAD = 4096


def _looks_like_cvat(xml: Path) -> bool:
    head = file_head(xml, _HEAD)
    return _ROOT.search(head) is not None and (b"<version>" in head or b"<meta>" in head or b"<image " in head)


def detect_cvat(path: Path) -> bool:
    """An XML file whose root is ``<annotations>`` (CVAT's; VOC's is ``<annotation>``), or a
    folder holding such an ``annotations.xml``. Reads at most 4 KiB."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".xml" and _looks_like_cvat(path)
    return path.is_dir() and (path / ANNOTATIONS_FILE).is_file() and _looks_like_cvat(path / ANNOTATIONS_FILE)


def find_xml(path: Path, found: list[Problem]) -> Path | None:
    """The annotation file for ``path`` (the file itself, or ``annotations.xml`` in the folder, or
    the folder's only CVAT XML file); None with a problem appended when there is none."""
    return find_dataset_file(path, found, name=ANNOTATIONS_FILE, pattern="*.xml", accept=_looks_like_cvat,
                             kind="CVAT annotation file", kinds="CVAT annotation files",
                             wanted="a CVAT annotations.xml or a folder holding one",
                             expected=f"one {ANNOTATIONS_FILE} (CVAT for images 1.1)")


def parse_xml(file: Path, found: list[Problem]):
    """The root element of ``file`` parsed with the toolkit's hardened parser
    (:func:`cvpipe.formats.xml.parse_xml_file`), or None (problem appended)."""
    return parse_xml_file(str(file), found, document="CVAT annotation file", well_formed="CVAT for images 1.1 file")


def element_data(el) -> dict[str, Any]:
    """An element as plain data ``{"tag", "attrib", "text", "children"}`` (kept in extras for a
    lossless CVAT round trip of what cvpipe has no field for: polygons, points, tags, ...)."""
    out: dict[str, Any] = {"tag": el.tag, "attrib": dict(el.attrib)}
    text = (el.text or "").strip()
    if text:
        out["text"] = text
    kids = [element_data(c) for c in el if isinstance(c.tag, str)]
    if kids:
        out["children"] = kids
    return out


def data_element(parent, data: dict[str, Any]):
    """Rebuild an element from :func:`element_data` output under ``parent``."""
    from lxml import etree

    el = etree.SubElement(parent, str(data["tag"]), {str(k): str(v) for k, v in (data.get("attrib") or {}).items()})
    if data.get("text") is not None:
        el.text = str(data["text"])
    for c in data.get("children") or []:
        data_element(el, c)
    return el
