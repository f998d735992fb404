"""Where a CVAT for images dataset's files are, safe XML parsing, and format detection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cvpipe.errors import Problem

# The hardened lxml set-up (DOCTYPE/ENTITY refused before parsing, no network, no DTD) is the
# VOC plugin's for now; the lead re-points these two names to cvpipe.formats.xml after merge.
from cvpipe.builtin.voc import _REFUSED, _xml_parser  # noqa: E402

__all__ = ["ANNOTATIONS_FILE", "IMAGES_DIR", "detect_cvat", "find_xml", "parse_xml", "element_data",
           "data_element"]

#: The annotation file of a CVAT export.
ANNOTATIONS_FILE = "annotations.xml"
#: The folder of images beside it.
IMAGES_DIR = "images"
_ROOT = re.compile(rb"<annotations[\s>]")
_HEAD = 4096


def _looks_like_cvat(xml: Path) -> bool:
    try:
        with open(xml, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return False
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
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        found.append(Problem("no such file or directory", file=str(path),
                             expected="a CVAT annotations.xml or a folder holding one"))
        return None
    if (path / ANNOTATIONS_FILE).is_file():
        return path / ANNOTATIONS_FILE
    xmls = sorted(p for p in path.glob("*.xml") if p.is_file() and _looks_like_cvat(p))
    if len(xmls) == 1:
        return xmls[0]
    found.append(Problem("no CVAT annotation file" if not xmls else "several CVAT annotation files", file=str(path),
                         value=", ".join(p.name for p in xmls) or None,
                         expected=f"one {ANNOTATIONS_FILE} (CVAT for images 1.1)",
                         hint="name the XML file itself" if xmls else None))
    return None


def parse_xml(file: Path, found: list[Problem]):
    """The root element of ``file`` parsed with the hardened parser, or None (problem appended)."""
    _xml_parser()
    from lxml import etree

    try:
        data = file.read_bytes()
    except OSError as exc:
        found.append(Problem("cannot read file", file=str(file), value=str(exc), expected="a readable XML file"))
        return None
    if any(t in data for t in _REFUSED):
        found.append(Problem("XML with a DOCTYPE or ENTITY declaration refused", file=str(file),
                             expected="a CVAT annotation file without DTD (entity expansion and external "
                                      "entities are not allowed)"))
        return None
    try:
        root = etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else getattr(exc, "lineno", None)
        msg = re.sub(r",? line \d+, column (\d+)$", r" (column \1)", str(exc.msg))
        found.append(Problem(f"malformed XML: {msg}", file=str(file), line=line,
                             expected="a well-formed CVAT for images 1.1 file"))
        return None
    if root.getroottree().docinfo.doctype:
        found.append(Problem("XML with a DOCTYPE declaration refused", file=str(file),
                             expected="a CVAT annotation file without DTD"))
        return None
    return root


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
