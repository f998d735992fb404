"""A byte-level scanner for plain Pascal VOC annotations: the record the lxml path
(:func:`cvpipe.formats.xml.parse_xml_file` + the reader's quick extraction) gives for the plain,
valid file it nearly always is, in a few regular-expression passes and no tree.

It accepts only a strict subset of XML that it can judge completely from the bytes, and says
None ("not plain": the caller then runs the lxml path, which gives the record or the problems)
for everything else, never guessing:

* at most :data:`SCAN_MAX_BYTES` (a VOC file is a few KB; libxml2's own size limits are far
  above it), every byte printable ASCII or tab/newline/carriage return: no other encoding, no
  byte order mark, no control character (XML forbids them), no ``&`` (entity and character
  references), no ``<!`` (comments, CDATA, DOCTYPE/ENTITY declarations), no ``<?`` other than
  a plain ``<?xml version="1.0" [encoding="utf-8"|"ascii"] [standalone="yes|no"]?>`` at byte 0,
  no ``]]>`` (not allowed in character data);
* elements without attributes or namespace prefixes, names of at most 200 characters, nested
  at most :data:`MAX_DEPTH` deep, text only in elements without children (whitespace between
  elements), every end tag matching its start tag, nothing but whitespace after the root;
* carriage returns normalised as XML 1.0 section 2.11 does (``\\r\\n`` and ``\\r`` to ``\\n``)
  before values are read, so every value is the text libxml2 would give;
* the VOC reading is the quick extraction's, value by value: root ``<annotation>``; the first
  ``filename``/``size``/``name``/``bndbox``/coordinate wins, the last flag wins, values are
  stripped; anything the quick extraction declines (a problem, ``<part>``, ``<score>``, a size to
  take from the image, an unusual value, a name outside ``classes``) is declined here too.

So a file the scanner accepts is one lxml parses without error into the same record, and a file
it declines costs one more read: ``tests/test_voc_scan.py`` checks scanner == lxml path on
generated, mutated and hostile files.
"""

from __future__ import annotations

import math
import re

from cvpipe.data.checks import box_problem

from .reader import plain_name

__all__ = ["scan_voc", "SCAN_MAX_BYTES", "MAX_DEPTH"]

#: largest file the scanner reads (bigger ones go to lxml)
SCAN_MAX_BYTES = 1 << 20
#: deepest element nesting the scanner accepts (annotation > object > attributes > attribute > value: 5)
MAX_DEPTH = 7

#: the bytes a plain file may hold: printable ASCII, tab, newline, carriage return
_PLAIN_BYTES = bytes([9, 10, 13, *range(32, 127)])
_DECL = re.compile(rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(['\"])1\.0\1"
                   rb"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(['\"])(?:[Uu][Tt][Ff]-8|[Aa][Ss][Cc][Ii][Ii])\2)?"
                   rb"(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(['\"])(?:yes|no)\3)?[ \t\r\n]*\?>")
_S = rb"[ \t\n]*+"  # XML white space ("\r" is normalised away first)
_V = rb"[^<]*+"  # a text value
_NAME = rb"[A-Za-z_][A-Za-z0-9_.\-]{0,199}+"
#: root children the reading looks at, never accepted below the root's children, so the first
#: occurrence in the bytes is the first root child of that name and none holds another
_ROOT_TAGS = rb"(?!(?:object|filename|size)[ \t\n/>])"


def _element(depth: int) -> bytes:
    """An element at ``depth`` (1 = the root; below 2 not named like a root tag) with its whole
    subtree: empty, text, or children separated by white space, at most :data:`MAX_DEPTH` deep."""
    t = b"g%d" % depth
    end = rb"</(?P=" + t + rb")" + _S + rb">"
    alt = rb"/>|>" + _V + end
    if depth < MAX_DEPTH:
        alt += rb"|>(?:" + _S + _element(depth + 1) + rb")++" + _S + end
    return rb"<" + (_ROOT_TAGS if depth > 2 else b"") + rb"(?P<" + t + rb">" + _NAME + rb")" + _S + rb"(?:" + alt + rb")"


#: the whole document after the declaration: the subset described above
_DOCUMENT = re.compile(_S + rb"<annotation" + _S + rb">(?:" + _S + _element(2) + rb")*+" + _S + rb"</annotation" + _S
                       + rb">" + _S)
_FILENAME = re.compile(rb"<filename" + _S + rb"(?:/>|>(" + _V + rb")<)")
_SIZE = re.compile(rb"<size" + _S + rb"(/?)>")
_OBJECT = re.compile(rb"<object" + _S + rb"(/?)>")
# a child of a validated element, its tag (t), text (x: a leaf; None for children or "<x/>") and
# children (c) captured
_CHILD = re.compile(_S + rb"<(?P<t>" + _NAME + rb")" + _S + rb"(?:/>|>(?P<x>" + _V + rb")</(?P=t)" + _S + rb">|>(?P<c>(?:"
                    + _S + _element(4) + rb")++" + _S + rb")</(?P=t)" + _S + rb">)")
_BOX = (rb"<bndbox>" + _S + rb"<xmin>(" + _V + rb")</xmin>" + _S + rb"<ymin>(" + _V + rb")</ymin>" + _S + rb"<xmax>("
        + _V + rb")</xmax>" + _S + rb"<ymax>(" + _V + rb")</ymax>" + _S + rb"</bndbox>")
_PART = rb"<part>" + _S + rb"<name>" + _V + rb"</name>" + _S + _BOX + _S + rb"</part>"
_PART_BOXES = re.compile(_PART)
# the usual object (LabelImg's, VOC's): leaves, one box in xmin/ymin/xmax/ymax order, parts
_OBJ_PLAIN = re.compile(
    rb"(?:" + _S + rb"(?:<name>(?P<name>" + _V + rb")</name>|<pose>(?P<pose>" + _V + rb")</pose>|<truncated>(?P<truncated>" + _V
    + rb")</truncated>|<difficult>(?P<difficult>" + _V + rb")</difficult>|<occluded>(?P<occluded>" + _V
    + rb")</occluded>|<iscrowd>(?P<iscrowd>" + _V + rb")</iscrowd>|" + _BOX.replace(rb"(", rb"(?P<b%d>") % (0, 1, 2, 3)
    + rb"|" + _PART.replace(rb"(", rb"(?:") + rb"))*+" + _S)
_SIZE_PLAIN = re.compile(rb"(?:" + _S + rb"(?:<width>(?P<width>" + _V + rb")</width>|<height>(?P<height>" + _V
                         + rb")</height>|<depth>" + _V + rb"</depth>))*+" + _S)
_FLAGS = {b"1": True, b"0": False, b"true": True, b"false": False, b"1.0": True, b"0.0": False}
_COORDS = {b"xmin": 0, b"ymin": 1, b"xmax": 2, b"ymax": 3}
#: the flags, in the order of the record's
_FLAG_TAGS = (b"difficult", b"truncated", b"iscrowd", b"occluded")


def _flag(text: bytes | None) -> bool | None:
    v = _FLAGS.get(text)
    if v is None:
        v = _FLAGS.get((text or b"").strip().lower())
    return v


def _int(text: bytes | None) -> int | None:
    """A positive pixel count as the quick extraction reads it (``int()`` of ASCII text)."""
    if text is None or b"_" in text:
        return None
    try:
        v = int(text)
    except ValueError:
        return None
    return v if v > 0 else None


def _number(text: bytes | None) -> float | None:
    """A finite coordinate as the reader reads it (``float()`` of ASCII text without ``_``)."""
    if text is None or b"_" in text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _children(data: bytes, start: int, end: int) -> list[re.Match]:
    """The children of a validated element whose content is ``data[start:end]``."""
    out = []
    match = _CHILD.match
    m = match(data, start, end)
    while m is not None:
        out.append(m)
        m = match(data, m.end(), end)
    return out


def _size(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    """Width and height of a ``<size>`` whose content is ``data[start:end]`` (every width and
    height valid, the last one wins)."""
    m = _SIZE_PLAIN.fullmatch(data, start, end)
    if m is not None and data.count(b"<width>", start, end) <= 1 and data.count(b"<height>", start, end) <= 1:
        w, h = _int(m["width"]), _int(m["height"])
        return (w, h) if w and h else None
    w = h = 0
    for ch in _children(data, start, end):
        tag = ch["t"]
        if tag == b"width" or tag == b"height":
            v = _int(ch["x"])
            if v is None:
                return None
            if tag == b"width":
                w = v
            else:
                h = v
    return (w, h) if w and h else None


def _object(data: bytes, start: int, end: int, w: int, h: int, shift: float,
            classes: dict[str, int] | None) -> tuple | None:
    """The record tuple of an ``<object>`` whose content is ``data[start:end]``."""
    m = _OBJ_PLAIN.fullmatch(data, start, end)
    if m is not None:
        name_text, pose, truncated, difficult, occluded, crowd, *coords = m.groups()
        parts = data.count(b"<part>", start, end)
        # one of each leaf, one box: as many tags as that makes (else the child loop below
        # takes the first name and box and checks every flag)
        leaves = 6 - (name_text, pose, truncated, difficult, occluded, crowd).count(None)
        if data.count(b"<", start, end) != 2 * leaves + 10 + 14 * parts:
            m = None
        elif parts:
            boxes = _PART_BOXES.findall(data, start, end)
            if len(boxes) != parts or any(_number(v) is None for b in boxes for v in b):
                return None  # a part's box the reader refuses (it checks its numbers only)
    if m is not None:
        flags = [False, False, False]
        for k, text in enumerate((difficult, truncated, crowd, occluded)):
            if text is not None:
                v = _FLAGS.get(text)
                if v is None:
                    v = _FLAGS.get(text.strip().lower())
                    if v is None:
                        return None
                if k < 3:
                    flags[k] = v
    else:
        name_m = bnd = None
        flags = [False, False, False, False]
        for ch in _children(data, start, end):
            tag = ch["t"]
            if tag == b"name":
                if name_m is None:
                    name_m = ch
            elif tag == b"bndbox":
                if bnd is None:
                    bnd = ch
            elif tag in _FLAG_TAGS:
                v = _flag(ch["x"])
                if v is None:
                    return None
                flags[_FLAG_TAGS.index(tag)] = v
            elif tag == b"part" or tag == b"score":
                return None
        if name_m is None or bnd is None or bnd["c"] is None:
            return None
        name_text = name_m["x"]
        coords = [None, None, None, None]
        for ch in _children(data, bnd.start("c"), bnd.end("c")):
            k = _COORDS.get(ch["t"])
            if k is not None and coords[k] is None:
                coords[k] = ch["x"] if ch["x"] is not None else b""
    if name_text is None:
        return None
    oname = name_text.decode("ascii").strip()
    if not oname or (classes is not None and oname not in classes):
        return None
    x1, y1, x2, y2 = coords
    if x1 is None or y1 is None or x2 is None or y2 is None:
        return None
    try:
        box = [float(x1) - shift, float(y1) - shift, float(x2) - shift, float(y2) - shift]
    except ValueError:
        return None
    if (data.find(b"_", start, end) >= 0 and b"_" in x1 + y1 + x2 + y2) \
            or box_problem(box[0], box[1], box[2], box[3], w, h):  # box_problem: finite first
        return None
    return (oname, box, flags[0], flags[1], flags[2], None, None, None)


def scan_voc(data: bytes, shift: float = 0.0, classes: dict[str, int] | None = None) -> dict | None:
    """The quick record ``{"filename", "width", "height", "objects": [(name, [x1, y1, x2, y2],
    difficult, truncated, iscrowd, None, None, None)]}`` (absolute xyxy, minus ``shift``) of a
    plain VOC annotation's bytes, or None when the file is not plain or not simply valid (the
    lxml path decides then)."""
    if len(data) > SCAN_MAX_BYTES or data.translate(None, _PLAIN_BYTES) or b"&" in data or b"!" in data \
            or b"]" in data:
        return None  # (one-byte tests: "!" and "]" are rare; "<!" and "]]>" would be refused)
    pos = 0
    if b"?" in data:
        if data[:2] == b"<?":
            d = _DECL.match(data)
            if d is None:
                return None
            pos = d.end()
        if data.find(b"<?", pos) >= 0:
            return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if pos:
            pos = _DECL.match(data).end()
    if _DOCUMENT.fullmatch(data, pos) is None:
        return None
    m = _FILENAME.search(data, pos)
    if m is None or m[1] is None:
        return None
    name = m[1].decode("ascii").strip()
    if not name or not plain_name(name):
        return None
    m = _SIZE.search(data, pos)
    if m is None or m[1]:
        return None
    size = _size(data, m.end(), data.find(b"</size", m.end()))
    if size is None:
        return None
    w, h = size
    out = []
    for m in _OBJECT.finditer(data, pos):
        if m[1]:
            return None  # <object/>: no name
        obj = _object(data, m.end(), data.find(b"</object", m.end()), w, h, shift, classes)
        if obj is None:
            return None
        out.append(obj)
    return {"filename": name, "width": w, "height": h, "objects": out}
