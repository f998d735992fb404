"""Hardened XML for format authors: one lxml parser that resolves no entities, loads no DTD and
touches no network, and :func:`parse_xml_file` that refuses any file with a ``<!DOCTYPE`` or
``<!ENTITY`` declaration before parsing (that is where entity-expansion bombs and external
entities live; annotation formats never need one). Problems name the file and line (lxml
gives every element its ``sourceline``; why lxml: see bench/bench_convert_voc.py).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import Problem

__all__ = ["xml_parser", "read_bytes", "parse_xml_file", "REFUSED_DECLARATIONS"]

#: "<!DOCTYPE" and "<!ENTITY" in UTF-8/ASCII and in UTF-16 (LE, BE), refused before parsing.
REFUSED_DECLARATIONS = (
    b"<!DOCTYPE", b"<!ENTITY", b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E\x00",
    b"<\x00!\x00E\x00N\x00T\x00I\x00T\x00Y\x00", b"\x00<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E",
    b"\x00<\x00!\x00E\x00N\x00T\x00I\x00T\x00Y")

_parser: Any = None
_etree: Any = None  # lxml.etree, imported on first use


def xml_parser() -> Any:
    """The shared hardened ``lxml.etree.XMLParser`` (built on first use; build it before forking
    workers so each does not import lxml again). Comments, processing instructions and
    whitespace-only text are dropped (every value is stripped anyway; faster to parse)."""
    global _parser, _etree
    if _parser is None:
        from lxml import etree

        _etree = etree
        _parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                                  dtd_validation=False, remove_comments=True, remove_pis=True,
                                  remove_blank_text=True, collect_ids=False)
    return _parser


def read_bytes(path: str) -> bytes:
    """The bytes of the file at ``path``: one ``read`` call for a small annotation file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, 1 << 16)
        if len(data) < 1 << 16:
            return data
        chunks = [data]
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks)


def parse_xml_file(path: str, found: list[Problem], *, document: str = "annotation file") -> Any:
    """The root element of the XML file at ``path``, or None with a Problem appended to
    ``found``: unreadable, a DOCTYPE/ENTITY declaration (refused, never parsed), malformed (with
    its line and column). ``document`` names what the file should be (``VOC annotation``), for
    the messages."""
    parser = _parser or xml_parser()
    try:
        data = read_bytes(path)
    except OSError as exc:
        found.append(Problem("cannot read file", file=path, value=str(exc), expected="a readable XML file"))
        return None
    bang = b"!" in data  # one scan: annotation files rarely hold a "!" at all
    if bang and any(t in data for t in REFUSED_DECLARATIONS):
        found.append(Problem("XML with a DOCTYPE or ENTITY declaration refused", file=path,
                             expected=f"a {document} without DTD (entity expansion and external "
                                      "entities are not allowed)"))
        return None
    try:
        root = _etree.fromstring(data, parser)
    except _etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else getattr(exc, "lineno", None)
        msg = re.sub(r",? line \d+, column (\d+)$", r" (column \1)", str(exc.msg))  # the line is ours
        found.append(Problem(f"malformed XML: {msg}", file=path, line=line, expected=f"a well-formed {document}"))
        return None
    # a DOCTYPE in an encoding the byte check does not know (an ASCII-compatible file without
    # "!" cannot hold one)
    if (bang or not data.startswith(b"<")) and root.getroottree().docinfo.doctype:
        found.append(Problem("XML with a DOCTYPE declaration refused", file=path, expected=f"a {document} without DTD"))
        return None
    return root
