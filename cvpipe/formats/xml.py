"""Hardened XML for format authors: one lxml parser that resolves no entities, loads no DTD and
touches no network, and :func:`parse_xml_file`, which judges the DECODED document before libxml2
sees it:

* only a regular file of at most :data:`~cvpipe.formats.files.MAX_XML_BYTES` is read (a FIFO or
  ``/dev/zero`` is refused by ``stat``, never opened), so the parse is bounded in bytes and time;
* the encoding is found as XML 1.0 appendix F does (byte order mark, first four bytes, the
  declaration) and must be one VOC files are written in (:data:`ALLOWED_ENCODINGS`: UTF-8/16/32,
  Latin-1, ASCII); UTF-7, EBCDIC and the rest are refused, since in them ``<!DOCTYPE`` is not
  those bytes;
* any markup declaration (``<!DOCTYPE``, ``<!ENTITY``, ``<!ELEMENT``, ...: everything ``<!`` other
  than a comment or CDATA) in the decoded text is refused, never parsed: that is where
  entity-expansion bombs and external entities live, and annotation formats never need one;
* UTF-16/32 documents are handed to libxml2 re-encoded as UTF-8, so it parses exactly the text
  that was checked; after parsing, a tree whose ``docinfo`` shows any internal or external
  subset is refused too.

Problems name the file and line (lxml gives every element its ``sourceline``; why lxml: see
bench/bench_convert_voc.py).
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from ..errors import InputError, Problem
from .files import MAX_XML_BYTES, read_input_bytes

__all__ = ["xml_parser", "read_bytes", "parse_xml_file", "sniff_encoding", "ALLOWED_ENCODINGS"]

#: the encodings accepted (Python codec names, as :func:`codecs.lookup` gives them)
ALLOWED_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
                               "iso8859-1", "ascii"})

# XML 1.0 appendix F: (first bytes, the codec they mean, the codec family a declaration may name)
_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\xef\xbb\xbf", "utf-8-sig"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_NO_BOM = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00<\x00?", "utf-16-be"),
           (b"<\x00?\x00", "utf-16-le"), (b"\x4c\x6f\xa7\x94", "EBCDIC"), (b"\x00\x00<\x00", "UCS-4 2143"),
           (b"\x00<\x00\x00", "UCS-4 3412"))
#: codecs libxml2 could detect from the first bytes that are not allowed
_REFUSED_START = ("EBCDIC", "UCS-4 2143", "UCS-4 3412")
_DECLARATION = re.compile(r"<\?xml([^>]*?)\?>")
_ENCODING = re.compile(r"""\sencoding\s*=\s*(["'])([^"']*)\1""")
#: "<!" not opening a comment or a CDATA section: a markup declaration (DTD), refused
_MARKUP_DECL = re.compile(r"<!(?!--|\[CDATA\[)")
_MARKUP_DECL_BYTES = re.compile(rb"<!(?!--|\[CDATA\[)")


def sniff_encoding(data: bytes) -> tuple[str, str | None]:
    """``(codec, declared)`` of an XML document: the codec its first bytes imply (``utf-8`` for
    an ASCII-compatible start) and the name its declaration gives, if any (raw text). An
    ASCII-compatible document's codec is the declared one when there is a declaration."""
    if data[:1] == b"<" and data[1:2] not in (b"\x00", b"?"):
        return "utf-8", None  # "<annotation>": no declaration, no byte order mark (the common case)
    for bom, codec in _BOMS:
        if data.startswith(bom):
            break
    else:
        codec = next((c for start, c in _NO_BOM if data.startswith(start)), "utf-8")
    if codec in _REFUSED_START:
        return codec, None
    head = data[:1024].decode(codec if codec != "utf-8" else "latin-1", "replace").lstrip("\ufeff")
    declared = None
    if head.startswith("<?xml"):
        m = _DECLARATION.match(head)
        decl = m.group(1) if m else head[5:]
        e = _ENCODING.search(decl)
        if e:
            declared = e.group(2)
        elif "encoding" in decl:
            declared = decl  # a declaration libxml2 might read otherwise: refused as unknown
    return codec, declared


def _encoding_problem(path: str, data: bytes, codec: str, declared: str | None, document: str) -> tuple[str, Problem | None]:
    """The codec to decode with, or a Problem: an encoding outside :data:`ALLOWED_ENCODINGS`, or
    a declaration contradicting the first bytes."""
    expected = f"a {document} in UTF-8, UTF-16, UTF-32, Latin-1 or ASCII"
    if codec in _REFUSED_START:
        return codec, Problem("XML encoding not allowed", file=path, line=1, value=codec, expected=expected)
    if codec == "utf-8" and data[:1] not in (b"<", b" ", b"\t", b"\n", b"\r"):
        # not XML in any encoding allowed (and nothing libxml2 should guess an encoding for)
        return codec, Problem("not an XML document", file=path, line=1, value=data[:8],
                              expected=f"a {document} starting with '<' (or a byte order mark)")
    if declared is None:
        return codec, None
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        name = None
    if name not in ALLOWED_ENCODINGS:
        return codec, Problem("XML encoding not allowed", file=path, line=1, field="encoding", value=declared,
                              expected=expected)
    if codec.startswith(("utf-16", "utf-32")):
        family = codec[:6]
        if not name.startswith(family):
            return codec, Problem("XML encoding declaration contradicts the byte order mark", file=path, line=1,
                                  field="encoding", value=declared, expected=f"{family.upper()} ({document})")
        return codec, None
    if name.startswith(("utf-16", "utf-32")):
        return codec, Problem("XML encoding declaration contradicts the file's bytes", file=path, line=1,
                              field="encoding", value=declared, expected=f"{name.upper()} with a byte order mark")
    return (codec if codec == "utf-8-sig" else name), None


def _declaration_problem(path: str, line: int, document: str) -> Problem:
    return Problem("XML with a DOCTYPE or ENTITY declaration refused", file=path, line=line,
                   expected=f"a {document} without DTD (entity expansion and external entities are not allowed)")


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
    """The bytes of the XML file at ``path`` (:func:`~cvpipe.formats.files.read_input_bytes`:
    a regular file of at most :data:`~cvpipe.formats.files.MAX_XML_BYTES`). Raises InputError."""
    return read_input_bytes(path, limit=MAX_XML_BYTES, expected="a readable XML file")


def parse_xml_file(path: str, found: list[Problem], *, document: str = "annotation file",
                   well_formed: str | None = None) -> Any:
    """The root element of the XML file at ``path``, or None with a Problem appended to
    ``found``: unreadable or not a regular file or too large, an encoding not allowed, bytes not
    valid in its encoding, a markup declaration (DOCTYPE/ENTITY: refused, never parsed),
    malformed (with its line and column). ``document`` names what the file should be
    (``VOC annotation``), for the messages; ``well_formed`` (default ``document``) what a
    well-formed one is."""
    parser = _parser or xml_parser()
    try:
        data = read_bytes(path)
    except InputError as exc:
        found.extend(exc.problems)
        return None
    codec, declared = sniff_encoding(data)
    codec, problem = _encoding_problem(path, data, codec, declared, document)
    if problem is not None:
        found.append(problem)
        return None
    if codec in ("utf-8", "ascii", "iso8859-1", "utf-8-sig"):
        # ASCII-compatible: "<!" is those two bytes in the decoded text and libxml2 decodes the
        # same declaration; invalid bytes are libxml2's "malformed" error
        if b"<!" in data:
            m = _MARKUP_DECL_BYTES.search(data)
            if m:
                found.append(_declaration_problem(path, data.count(b"\n", 0, m.start()) + 1, document))
                return None
    else:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            line = data[:exc.start].decode(codec, "replace").count("\n") + 1
            found.append(Problem(f"XML not valid {codec.upper()}: {exc.reason}", file=path, line=line,
                                 expected=f"a {document} in the encoding it declares"))
            return None
        text = text.lstrip("\ufeff")
        m = _MARKUP_DECL.search(text)
        if m:
            found.append(_declaration_problem(path, text.count("\n", 0, m.start()) + 1, document))
            return None
        # libxml2 parses exactly the checked text: UTF-8, its declaration saying so
        d = _DECLARATION.match(text)
        if d:
            decl = _ENCODING.sub(' encoding="UTF-8"', d.group(1))
            text = f"<?xml{decl}?>" + text[d.end():]
        data = text.encode("utf-8")
    try:
        root = _etree.fromstring(data, parser)
    except _etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else getattr(exc, "lineno", None)
        msg = re.sub(r",? line \d+, column (\d+)$", r" (column \1)", str(exc.msg))  # the line is ours
        found.append(Problem(f"malformed XML: {msg}", file=path, line=line, expected=f"a well-formed {well_formed or document}"))
        return None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None or info.system_url:
        found.append(_declaration_problem(path, 1, document))
        return None
    return root
