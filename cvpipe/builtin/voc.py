"""Pascal VOC XML: reader, writer, detection, and the fast VOC -> YOLO conversion.

Layout (``path`` given to :func:`read_voc`):

* a VOCdevkit year folder: ``Annotations/*.xml`` (sub-folders allowed), images in
  ``JPEGImages/``, optional split lists ``ImageSets/Main/<split>.txt``;
* a plain folder of XML files, images beside them (or in ``images_dir``);
* a single XML file.

Splits: with ``splits`` given, exactly the images those lists name, in list order. Without, every
annotation file (sorted by name), each tagged with the first split list naming it (``train``,
``val``, ``test``, then the others by name); ``trainval`` is ignored when ``train`` and ``val`` are
both present, and per-class lists (``aeroplane_train.txt``) are never split lists.

Schema: every field is kept for a lossless round trip. Per image ``Sample.extra`` holds
``folder``, ``source``, ``owner`` (dicts), ``segmented``, ``depth`` (ints) and ``voc_fields``
(any other element, as nested dicts/lists of stripped strings); per object ``box_extra`` holds
``pose``, ``occluded``, ``parts`` (person layout: ``[{"name": "head", "bndbox": [x1, y1, x2, y2],
...}]``, never mistaken for the object's own box) and ``voc_fields``. ``truncated`` and
``difficult`` (absent means 0) go to the Sample flags, ``<score>`` (detections) to
``Sample.scores``. Values may carry whitespace and be floats. Keys starting with ``_`` (``_file``,
``_line``, ``_field``) only locate problems and are never written.

Pixel convention: ``pixel_convention="raw"`` (default, like datumaro and globox) takes the numbers
as they are: ``<xmin>48</xmin>`` is x = 48.0 in cvpipe's absolute xyxy. ``"one_based"`` (like
supervision and Ultralytics' VOC script) subtracts 1 from all four coordinates on reading and adds
1 on writing. Either way a VOC -> VOC round trip returns the original numbers.

Categories: when every object name is one of Pascal VOC's twenty classes, the names present in
:data:`VOC_CLASSES` order; otherwise the names present sorted alphabetically; ``classes`` fixes the
order (a name it lacks is a problem).

Crowd boxes (from COCO) are written only on request, as ``<iscrowd>1</iscrowd>``, and read back.

Safety: XML is parsed by lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False``, and any file with a ``<!DOCTYPE``/``<!ENTITY`` declaration is refused before
parsing (VOC files never have one; that is where entity-expansion bombs and external entities
live). File names from annotations go through :func:`cvpipe.fsutil.safe_relpath`.

Parser choice, measured on VOC2012-like files (CPU per file, this machine): lxml parse plus our
extraction ~18 us; ``xml.etree`` (expat building a tree) parses slower and ends up even or worse
(25-35 us); expat with Python handlers ~28 us. lxml also gives line numbers for every problem.

Fast path: :func:`convert_voc_to_yolo` streams VOC -> YOLO over a process pool without numpy,
giving byte-identical output to ``write_yolo(read_voc(...))``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from cvpipe import hookimpl
from cvpipe.errors import InputError, Problem

if TYPE_CHECKING:  # numpy-backed; imported where used so the fast path stays numpy-free
    from cvpipe.data import Dataset

__all__ = [
    "VOC_CLASSES",
    "read_voc",
    "write_voc",
    "detect_voc",
    "convert_voc_to_yolo",
    "voc_categories",
]

#: Pascal VOC's twenty classes in their canonical (devkit) order.
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)

PixelConvention = Literal["raw", "one_based"]
_SHIFT = {"raw": 0.0, "one_based": 1.0}
_COORDS = ("xmin", "ymin", "xmax", "ymax")
_IMAGE_TAGS = ("folder", "filename", "source", "owner", "size", "segmented")
_TRUE = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}
#: "<!DOCTYPE" and "<!ENTITY" in UTF-8/ASCII and in UTF-16 (LE, BE), refused before parsing.
_REFUSED = (b"<!DOCTYPE", b"<!ENTITY", b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E\x00",
            b"<\x00!\x00E\x00N\x00T\x00I\x00T\x00Y\x00", b"\x00<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E",
            b"\x00<\x00!\x00E\x00N\x00T\x00I\x00T\x00Y")


def voc_categories(names) -> list[str]:
    """The category order for the object ``names`` a dataset uses (see the module docstring)."""
    present = set(names)
    if present <= set(VOC_CLASSES):
        return [c for c in VOC_CLASSES if c in present]
    return sorted(present)


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


def _scan_xml(folder: Path) -> list[tuple[str, str]]:
    """``(id, path)`` of every ``*.xml`` under ``folder`` (recursive, hidden files skipped), sorted
    by id; the id is the path relative to ``folder`` without ``.xml``."""
    out: list[tuple[str, str]] = []
    stack = [("", str(folder))]
    while stack:
        prefix, d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
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


def _split_order(names) -> list[str]:
    first = [s for s in ("train", "val", "test") if s in names]
    return first + sorted(s for s in names if s not in first)


def _layout(path: Path, splits: Sequence[str] | None, images_dir: Path | None,
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
                                     value=split, expected="one of: " + (", ".join(_split_order(lists)) or "(none)")))
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
    names = _split_order(lists)
    if "train" in names and "val" in names and "trainval" in names:
        names.remove("trainval")
    split_of: dict[str, str] = {}
    for split in names:
        for ident, _ in _read_list(lists[split]):
            split_of.setdefault(ident, split)
    entries = [(p, split_of.get(i), i) for i, p in _scan_xml(ann)]
    return entries, image_root


# ---------------------------------------------------------------------------------------------
# Parsing one file (shared by read_voc and the fast path; pure Python, no numpy)
# ---------------------------------------------------------------------------------------------

_parser = None
etree: Any = None  # lxml.etree, imported on first use


def _xml_parser():
    global _parser, etree
    if _parser is None:
        from lxml import etree

        # remove_blank_text drops whitespace-only text nodes (every value is stripped anyway):
        # measured ~20% faster parsing of VOC files
        _parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                                  dtd_validation=False, remove_comments=True, remove_pis=True,
                                  remove_blank_text=True, collect_ids=False)
    return _parser


def _read_bytes(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, 1 << 16)  # VOC files are ~1 kB: one read, one syscall
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


def _plain_name(name: str) -> bool:
    """A bare file name that :func:`cvpipe.fsutil.safe_relpath` would return unchanged (checked
    without pathlib: this runs once per file on the fast path)."""
    return "/" not in name and "\\" not in name and ":" not in name and name not in (".", "..")


def _line(el) -> int | None:
    """``el``'s line (lxml elements know it; the standard library's do not)."""
    return getattr(el, "sourceline", None)


def _text(el) -> str:
    return (el.text or "").strip()


def _value(el) -> Any:
    """An element as plain data: stripped text for a leaf, else ``{tag: value}`` (a list for a
    repeated tag)."""
    return _text(el) if len(el) == 0 else _fields(el)


def _field(fld) -> str:
    """A field path given as a string or, built only when a problem needs it, a tuple of parts."""
    return fld if isinstance(fld, str) else ".".join(fld)


def _number(el, file: str, fld, found: list[Problem]) -> float | None:
    text = el.text
    try:
        v = float(text)  # float() itself ignores surrounding whitespace
    except (TypeError, ValueError):
        v = None
    if v is None or not math.isfinite(v) or "_" in text:
        found.append(Problem("not a number", file=file, line=_line(el), field=_field(fld), value=_text(el),
                             expected="a finite number"))
        return None
    return v


def _flag(el, file: str, fld, found: list[Problem]) -> bool | None:
    v = _TRUE.get(el.text)  # the common case, "0" or "1", without stripping
    if v is None:
        v = _TRUE.get(_text(el).lower())
        if v is None:
            found.append(Problem("not a flag", file=file, line=_line(el), field=_field(fld), value=_text(el),
                                 expected="0 or 1"))
    return v


def _size(el, file: str, found: list[Problem]) -> tuple[int | None, int | None, Any]:
    w = h = None
    depth: Any = None
    for ch in el:
        tag = ch.tag
        if tag in ("width", "height"):
            v = _number(ch, file, f"size.{tag}", found)
            if v is not None:
                if v != int(v) or v < 0:
                    found.append(Problem("not a pixel count", file=file, line=_line(ch), field=f"size.{tag}",
                                         value=_text(ch), expected="a non-negative integer"))
                elif tag == "width":
                    w = int(v)
                else:
                    h = int(v)
        elif tag == "depth":
            t = _text(ch)
            depth = int(t) if t.isdigit() else t
    return w or None, h or None, depth


_COORD_INDEX = {c: i for i, c in enumerate(_COORDS)}


def _bndbox(el, file: str, fld: str, shift: float, found: list[Problem]) -> list[float] | None:
    vals: list[Any] = [_COORDS, _COORDS, _COORDS, _COORDS]  # _COORDS marks "not seen"
    bad = False
    for ch in el:
        k = _COORD_INDEX.get(ch.tag)
        if k is not None and vals[k] is _COORDS:
            v = vals[k] = _number(ch, file, (fld, _COORDS[k]), found)
            bad = bad or v is None
    if _COORDS in vals:
        missing = _COORDS[vals.index(_COORDS)]
        found.append(Problem("missing coordinate", file=file, line=_line(el), field=f"{fld}.{missing}",
                             expected="xmin, ymin, xmax and ymax"))
        return None
    if bad:
        return None
    if shift:
        return [v - shift for v in vals]
    return vals


def _shown(b: list[float]) -> tuple:
    return tuple(int(v) if v == int(v) else v for v in b)


def _check_box(b: list[float], w: int | None, h: int | None, file: str, el, fld: str,
               found: list[Problem]) -> bool:
    """Geometry checks, worded and toleranced like :func:`cvpipe.formats.check_dataset`
    (``el``: the ``bndbox`` element, for the line number)."""
    x1, y1, x2, y2 = b
    if x2 < x1 or y2 < y1:
        found.append(Problem("box is inverted", file=file, line=_line(el), field=fld, value=_shown(b),
                             expected="x_min <= x_max and y_min <= y_max (xyxy)"))
        return False
    if x2 == x1 or y2 == y1:
        found.append(Problem("box has zero area", file=file, line=_line(el), field=fld, value=_shown(b),
                             expected="x_min < x_max and y_min < y_max (xyxy)"))
        return False
    if w is not None and h is not None:
        tx, ty = 1e-6 * w, 1e-6 * h  # cvpipe.formats.OUTSIDE_TOLERANCE
        if x1 < -tx or y1 < -ty or x2 > w + tx or y2 > h + ty:
            found.append(Problem("box is outside the image", file=file, line=_line(el), field=fld,
                                 value=_shown(b), expected=f"inside 0..{w} x 0..{h} (xyxy)"))
            return False
    return True


def _parse_file(xml_path: str, image_root: Path, shift: float, full: bool,
                classes: dict[str, int] | None, found: list[Problem]) -> dict | None:
    """Read one annotation file into a plain record (None when the whole file is unusable):
    ``filename``, ``width``, ``height``, ``objects`` = ``[(name, [x1, y1, x2, y2], difficult,
    truncated, iscrowd, score, box_extra)]`` (valid objects only; problems appended to
    ``found``) and, when ``full``, ``extra``."""
    parser = _parser or _xml_parser()
    file = xml_path
    try:
        data = _read_bytes(xml_path)
    except OSError as exc:
        found.append(Problem("cannot read file", file=file, value=str(exc), expected="a readable XML file"))
        return None
    bang = b"!" in data  # one scan: VOC files rarely hold a "!" at all
    if bang and any(t in data for t in _REFUSED):
        found.append(Problem("XML with a DOCTYPE or ENTITY declaration refused", file=file,
                             expected="a VOC annotation without DTD (entity expansion and external "
                                      "entities are not allowed)"))
        return None
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else getattr(exc, "lineno", None)
        msg = re.sub(r",? line \d+, column (\d+)$", r" (column \1)", str(exc.msg))  # the line is ours
        found.append(Problem(f"malformed XML: {msg}", file=file, line=line,
                             expected="a well-formed VOC annotation"))
        return None
    # a DOCTYPE in an encoding the byte check does not know (an ASCII-compatible file without
    # "!" cannot hold one)
    if (bang or not data.startswith(b"<")) and root.getroottree().docinfo.doctype:
        found.append(Problem("XML with a DOCTYPE declaration refused", file=file,
                             expected="a VOC annotation without DTD"))
        return None
    if not full:
        rec = _extract_quick(root, shift, classes)
        if rec is not None:
            return rec
    return _extract(root, file, image_root, shift, full, classes, found)


def _extract_quick(root, shift: float, classes: dict[str, int] | None) -> dict | None:
    """:func:`_extract`'s record (``full=False``) for the plain, valid annotation it nearly always
    is, in one function without per-value calls (the fast path spends most of its CPU here);
    None for anything else (a problem, parts, scores, a size to read from the image, an unusual
    value), which :func:`_extract` then handles. Same semantics: first ``filename``/``size``/
    ``name``/``bndbox``/coordinate wins, the last flag wins, whitespace ignored."""
    if root.tag != "annotation":
        return None
    filename = size = None
    objects = []
    for ch in root:
        tag = ch.tag
        if tag == "object":
            objects.append(ch)
        elif tag == "filename":
            if filename is None:
                filename = ch
        elif tag == "size" and size is None:
            size = ch
    if filename is None or size is None:
        return None
    name = (filename.text or "").strip()
    if not name or not _plain_name(name):
        return None
    w = h = 0
    for ch in size:
        tag = ch.tag
        if tag == "width" or tag == "height":
            try:
                v = int(ch.text)
            except (TypeError, ValueError):
                return None
            if v <= 0:
                return None
            if tag == "width":
                w = v
            else:
                h = v
    if not w or not h:
        return None
    tx, ty = 1e-6 * w, 1e-6 * h
    flags = _TRUE
    index = _COORD_INDEX
    isfinite = math.isfinite
    out = []
    for o in objects:
        name_el = bnd = None
        difficult = truncated = crowd = False
        for ch in o:
            tag = ch.tag
            if tag == "name":
                if name_el is None:
                    name_el = ch
            elif tag == "bndbox":
                if bnd is None:
                    bnd = ch
            elif tag == "difficult" or tag == "truncated" or tag == "iscrowd" or tag == "occluded":
                v = flags.get(ch.text)
                if v is None:
                    v = flags.get((ch.text or "").strip().lower())
                    if v is None:
                        return None
                if tag == "difficult":
                    difficult = v
                elif tag == "truncated":
                    truncated = v
                elif tag == "iscrowd":
                    crowd = v
            elif tag == "part" or tag == "score":
                return None
        if name_el is None or bnd is None:
            return None
        oname = (name_el.text or "").strip()
        if not oname or (classes is not None and oname not in classes):
            return None
        box = [None, None, None, None]
        for ch in bnd:
            k = index.get(ch.tag)
            if k is not None and box[k] is None:
                text = ch.text
                try:
                    v = float(text)
                except (TypeError, ValueError):
                    return None
                if not isfinite(v) or "_" in text:
                    return None
                box[k] = v - shift
        x1, y1, x2, y2 = box
        if x1 is None or y1 is None or x2 is None or y2 is None:
            return None
        if not (x1 < x2 and y1 < y2) or x1 < -tx or y1 < -ty or x2 > w + tx or y2 > h + ty:
            return None
        out.append((oname, box, difficult, truncated, crowd, None, None))
    return {"filename": name, "width": w, "height": h, "objects": out}


def _extract(root, file: str, image_root: Path, shift: float, full: bool, classes: dict[str, int] | None,
             found: list[Problem]) -> dict | None:
    """The record of a parsed annotation (lxml or standard-library elements)."""
    if root.tag != "annotation":
        found.append(Problem("not a VOC annotation", file=file, line=_line(root), field="root",
                             value=str(root.tag), expected="root element <annotation>"))
        return None
    n0 = len(found)
    top: dict[str, Any] = {}
    objects_el = []
    others = []
    for ch in root:
        tag = ch.tag
        if tag == "object":
            objects_el.append(ch)
        elif tag in _IMAGE_TAGS and tag not in top:
            top[tag] = ch
        else:
            others.append(ch)
    filename = None
    if "filename" in top:
        filename = _text(top["filename"]) or None
        if filename is not None and not _plain_name(filename):
            from cvpipe.fsutil import safe_relpath

            try:
                filename = safe_relpath(filename, file=file, field="filename")
            except InputError as exc:
                found.append(Problem(exc.problem.message, file=file, line=_line(top["filename"]),
                                     field="filename", value=filename, expected=exc.problem.expected))
                return None
    stem = os.path.splitext(os.path.basename(file))[0]
    if filename is None:
        filename = _guess_image(image_root, stem)
    w = h = None
    depth = None
    if "size" in top:
        w, h, depth = _size(top["size"], file, found)
    if len(found) > n0:
        return None
    if w is None or h is None:
        from cvpipe.images import image_size

        try:
            w, h = image_size(image_root / filename)
        except InputError:
            found.append(Problem("image size unknown", file=file, field="size",
                                 line=_line(top["size"] if "size" in top else root),
                                 expected=f"<size> with width and height, or a readable image {image_root / filename}"))
            return None
    objects = []
    for i, o in enumerate(objects_el):
        obj = _parse_object(o, i, file, w, h, shift, full, classes, found)
        if obj is not None:
            objects.append(obj)
    rec = {"filename": filename, "width": w, "height": h, "objects": objects}
    if full:
        extra: dict[str, Any] = {}
        for tag in ("folder", "source", "owner"):
            if tag in top:
                extra[tag] = _value(top[tag])
        if depth is not None:
            extra["depth"] = depth
        if "segmented" in top:
            t = _text(top["segmented"])
            extra["segmented"] = int(t) if t.isdigit() else t
        if others:
            extra["voc_fields"] = _fields(others)
        extra["_file"] = file
        rec["extra"] = extra
    return rec


class _Repeated(list):
    """Values of a tag that occurs more than once (a plain list value stays a value)."""


def _fields(elements) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for el in elements:
        v = _value(el)
        if el.tag in out:
            if not isinstance(out[el.tag], _Repeated):
                out[el.tag] = _Repeated([out[el.tag]])
            out[el.tag].append(v)
        else:
            out[el.tag] = v
    return {k: list(v) if isinstance(v, _Repeated) else v for k, v in out.items()}


def _parse_object(o, i: int, file: str, w: int, h: int, shift: float, full: bool,
                  classes: dict[str, int] | None, found: list[Problem]):
    fld = f"object[{i}]"
    n0 = len(found)
    name_el = bnd_el = None
    difficult = truncated = crowd = False
    score = None
    pose = occluded = None
    parts = []
    others = []
    for ch in o:
        tag = ch.tag
        if tag == "name" and name_el is None:
            name_el = ch
        elif tag == "bndbox" and bnd_el is None:
            bnd_el = ch
        elif tag == "difficult":
            difficult = _flag(ch, file, (fld, "difficult"), found)
        elif tag == "truncated":
            truncated = _flag(ch, file, (fld, "truncated"), found)
        elif tag == "iscrowd":
            crowd = _flag(ch, file, (fld, "iscrowd"), found)
        elif tag == "score":
            score = _number(ch, file, (fld, "score"), found)
        elif tag == "occluded":
            occ = _flag(ch, file, (fld, "occluded"), found)
            occluded = None if occ is None else int(occ)
        elif tag == "part":
            parts.append(ch)
        elif full and tag == "pose":
            pose = _text(ch)
        elif full:
            others.append(ch)
    name = _text(name_el) if name_el is not None else ""
    if not name:
        found.append(Problem("object has no name", file=file, line=_line(name_el if name_el is not None else o),
                             field=f"{fld}.name", expected="a class name"))
    elif classes is not None and name not in classes:
        found.append(Problem("unknown class", file=file, line=_line(name_el), field=f"{fld}.name", value=name,
                             expected="one of the given classes: " + ", ".join(classes)))
    if bnd_el is None:
        found.append(Problem("object has no bndbox", file=file, line=_line(o), field=f"{fld}.bndbox",
                             expected="<bndbox> with xmin, ymin, xmax, ymax"))
        return None
    box = _bndbox(bnd_el, file, f"{fld}.bndbox", shift, found)
    if len(found) > n0 or box is None:
        return None
    if not _check_box(box, w, h, file, bnd_el, f"{fld}.bndbox", found):
        return None
    plist = []
    for j, p in enumerate(parts):  # person layout: the part's box is its own, never the object's
        pd: dict[str, Any] = {}
        for ch in p:
            if ch.tag == "bndbox" and "bndbox" not in pd:
                pb = _bndbox(ch, file, f"{fld}.part[{j}].bndbox", shift, found)
                if pb is None:
                    return None
                pd["bndbox"] = pb
            elif not full:
                continue
            elif ch.tag not in pd:
                pd[ch.tag] = _value(ch)
            else:
                pd.setdefault("voc_fields", []).append({ch.tag: _value(ch)})
        plist.append(pd)
    extra: dict[str, Any] | None = None
    if full:
        extra = {}
        if pose is not None:
            extra["pose"] = pose
        if occluded is not None:
            extra["occluded"] = occluded
        if plist:
            extra["parts"] = plist
        if others:
            extra["voc_fields"] = _fields(others)
        extra["_line"] = _line(bnd_el)
        extra["_field"] = f"{fld}.bndbox"
    return (name, box, bool(difficult), bool(truncated), bool(crowd), score, extra)


def _guess_image(image_root: Path, stem: str) -> str:
    from cvpipe.images import IMAGE_EXTENSIONS

    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            if (image_root / (stem + e)).is_file():
                return stem + e
    return stem + ".jpg"


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------


def read_voc(
    path: Path,
    *,
    images_dir: Path | None = None,
    splits: list[str] | None = None,
    problems: list[Problem] | None = None,
    pixel_convention: PixelConvention = "raw",
    classes: list[str] | None = None,
) -> "Dataset":
    """Read a Pascal VOC dataset (layouts, schema, conventions: see the module docstring).

    Args:
        path: VOCdevkit year folder, folder of XML files, or one XML file.
        images_dir: where the images are (default ``JPEGImages/`` or beside the XML files).
        splits: split lists to read (``ImageSets/Main/<split>.txt``); None reads every file.
        problems: collect problems here and skip what is bad; None raises one InputError
            listing every problem.
        pixel_convention: ``raw`` (numbers as they are) or ``one_based`` (minus one on read).
        classes: fix the category order; objects of other classes are problems.

    Returns:
        A Dataset whose ``root`` is the image folder and whose ``Sample.image`` is the XML
        ``filename`` (``id``: the annotation's path below ``Annotations/`` without ``.xml``).
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect

    if pixel_convention not in _SHIFT:
        from cvpipe.errors import ConfigError

        raise ConfigError("unknown pixel convention", field="pixel_convention", value=pixel_convention,
                          expected="raw or one_based")
    found: list[Problem] = []
    entries, image_root = _layout(Path(path), splits, images_dir, found)
    class_index = {c: i for i, c in enumerate(classes)} if classes is not None else None
    shift = _SHIFT[pixel_convention]
    records = []
    for xml, split, ident in entries:
        rec = _parse_file(xml, image_root, shift, True, class_index, found)
        if rec is not None:
            records.append((rec, split, ident))
    names = {o[0] for rec, _, _ in records for o in rec["objects"]}
    categories = list(classes) if classes is not None else voc_categories(names)
    index = {c: i for i, c in enumerate(categories)}
    any_scores = any(o[5] is not None for rec, _, _ in records for o in rec["objects"])
    samples = []
    for rec, split, ident in records:
        objs = rec["objects"]
        if any_scores and any(o[5] is None for o in objs):
            o = next(o for o in objs if o[5] is None)
            found.append(Problem("object has no score", file=rec["extra"]["_file"], line=o[6]["_line"],
                                 field=o[6]["_field"].replace(".bndbox", ".score"),
                                 expected="<score> on every object of a detections file"))
            continue
        samples.append(Sample(
            image=rec["filename"], width=rec["width"], height=rec["height"],
            boxes=np.array([o[1] for o in objs], dtype=np.float64).reshape(-1, 4),
            labels=np.array([index[o[0]] for o in objs], dtype=np.int64),
            difficult=np.array([o[2] for o in objs], dtype=bool),
            truncated=np.array([o[3] for o in objs], dtype=bool),
            iscrowd=np.array([o[4] for o in objs], dtype=bool),
            scores=np.array([o[5] for o in objs], dtype=np.float64) if any_scores else None,
            box_extra=[o[6] for o in objs], extra=rec["extra"], id=ident, split=split,
        ))
    raise_or_collect(found, problems)
    return Dataset(categories, samples, root=image_root,
                   meta={"format": "voc", "pixel_convention": pixel_convention, "_file": str(path)})


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------


def _num_text(v: float) -> str:
    """Shortest text that reads back to ``v`` (``48`` for 48.0)."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _emit(parent, tag: str, value: Any) -> None:
    from lxml import etree

    if isinstance(value, list):
        for v in value:
            _emit(parent, tag, v)
        return
    el = etree.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            _emit(el, k, v)
    elif value is not None:
        el.text = str(value)


def _bndbox_el(parent, box, shift: float) -> None:
    from lxml import etree

    bb = etree.SubElement(parent, "bndbox")
    for tag, v in zip(_COORDS, box):
        v = float(v) + shift
        if shift:
            v = round(v, 9)  # undo the float noise of the -1/+1 shift (VOC numbers have few decimals)
        etree.SubElement(bb, tag).text = _num_text(v)


def annotation_xml(sample, categories: Sequence[str], filename: str, *, pixel_convention: PixelConvention = "raw",
                   keep: Sequence[int] | None = None) -> bytes:
    """One sample as VOC XML bytes (pretty printed, UTF-8); ``keep`` the box indices to write."""
    from lxml import etree

    from cvpipe.formats import is_private

    shift = _SHIFT[pixel_convention]
    ex = sample.extra
    root = etree.Element("annotation")
    if "folder" in ex:
        _emit(root, "folder", ex["folder"])
    etree.SubElement(root, "filename").text = filename
    for tag in ("source", "owner"):
        if tag in ex:
            _emit(root, tag, ex[tag])
    size = etree.SubElement(root, "size")
    etree.SubElement(size, "width").text = str(sample.width)
    etree.SubElement(size, "height").text = str(sample.height)
    if ex.get("depth") is not None:
        etree.SubElement(size, "depth").text = str(ex["depth"])
    etree.SubElement(root, "segmented").text = str(ex.get("segmented", 0))
    for k, v in (ex.get("voc_fields") or {}).items():
        if not is_private(k):
            _emit(root, k, v)
    idx = range(len(sample)) if keep is None else keep
    for i in idx:
        bx = sample.box_extra[i]
        obj = etree.SubElement(root, "object")
        etree.SubElement(obj, "name").text = categories[int(sample.labels[i])]
        if "pose" in bx:
            etree.SubElement(obj, "pose").text = str(bx["pose"])
        etree.SubElement(obj, "truncated").text = "1" if sample.truncated[i] else "0"
        if "occluded" in bx:
            etree.SubElement(obj, "occluded").text = str(bx["occluded"])
        etree.SubElement(obj, "difficult").text = "1" if sample.difficult[i] else "0"
        if sample.iscrowd[i]:
            etree.SubElement(obj, "iscrowd").text = "1"
        if sample.scores is not None:
            etree.SubElement(obj, "score").text = repr(float(sample.scores[i]))
        _bndbox_el(obj, sample.boxes[i].tolist(), shift)
        for part in bx.get("parts") or []:
            pe = etree.SubElement(obj, "part")
            for k, v in part.items():
                if k == "bndbox":
                    _bndbox_el(pe, v, shift)
                elif k == "voc_fields":
                    for item in v:
                        for kk, vv in item.items():
                            _emit(pe, kk, vv)
                elif not is_private(k):
                    _emit(pe, k, v)
        for k, v in (bx.get("voc_fields") or {}).items():
            if not is_private(k):
                _emit(obj, k, v)
    return etree.tostring(root, pretty_print=True, encoding="utf-8")


def write_voc(
    dataset: "Dataset",
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    pixel_convention: PixelConvention | None = None,
    keep_crowd: bool = False,
) -> dict:
    """Write ``dataset`` as a VOCdevkit folder: ``Annotations/<name>.xml``, ``JPEGImages/<name>``
    and ``ImageSets/Main/<split>.txt`` for the splits present. Every field read by
    :func:`read_voc` is written back (difficult objects included: VOC has the flag); scores are
    written as ``<score>``. Crowd boxes (from COCO) are left out and counted unless
    ``keep_crowd`` (then marked ``<iscrowd>1</iscrowd>``, which :func:`read_voc` reads back).

    ``pixel_convention`` None means the one the dataset was read with (``meta``), else ``raw``,
    so that VOC -> VOC gives back the original numbers.

    Returns ``{"images", "boxes", "skipped": {"crowd": n}, "files"}``. ``dst`` appears whole or
    not at all; image names are confined to ``dst``.
    """
    import numpy as np

    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, place_file, safe_join, safe_relpath

    if pixel_convention is None:
        pixel_convention = dataset.meta.get("pixel_convention", "raw") if dataset.meta.get("format") == "voc" else "raw"
    if pixel_convention not in _SHIFT:
        from cvpipe.errors import ConfigError

        raise ConfigError("unknown pixel convention", field="pixel_convention", value=pixel_convention,
                          expected="raw or one_based")
    groups: dict[Any, list[int]] = {}  # image names per split: drops a shared images/<split>/ folder
    for k, s in enumerate(dataset.samples):
        groups.setdefault(s.split, []).append(k)
    names = [""] * len(dataset)
    for idx in groups.values():
        for k, n in zip(idx, image_names([dataset.samples[k] for k in idx])):
            names[k] = safe_relpath(n, file=str(dataset.image_path(dataset.samples[k])), field="image")
    ids = [n.rsplit(".", 1)[0] if "." in n.rsplit("/", 1)[-1] else n for n in names]
    seen: dict[str, str] = {}
    for s, i in zip(dataset.samples, ids):
        if i in seen:
            raise InputError("two images would get the same annotation file", file=str(dataset.image_path(s)),
                             value=f"Annotations/{i}.xml", expected="distinct image names",
                             hint=f"also written for {seen[i]}")
        seen[i] = s.image
    report = {"images": 0, "boxes": 0, "skipped": {"crowd": 0}, "files": 0}
    lists: dict[str, list[str]] = {}
    with atomic_dir(Path(dst)) as tmp:
        (tmp / "Annotations").mkdir()
        (tmp / "JPEGImages").mkdir()
        for s, name, ident in zip(dataset.samples, names, ids):
            keep = np.arange(len(s)) if keep_crowd else np.flatnonzero(~s.iscrowd)
            report["skipped"]["crowd"] += len(s) - len(keep)
            xml = annotation_xml(s, dataset.categories, name, pixel_convention=pixel_convention, keep=keep.tolist())
            out = safe_join(tmp / "Annotations", ident + ".xml")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(xml)
            report["files"] += 1
            if images != "none":
                src = dataset.image_path(s)
                if not src.is_file():
                    raise InputError("image file not found", file=str(src), expected="an existing image file",
                                     hint="use images='none' or point to the images with --images-dir")
                place_file(src, safe_join(tmp / "JPEGImages", name), images)
                report["files"] += 1
            report["images"] += 1
            report["boxes"] += len(keep)
            if s.split is not None:
                lists.setdefault(s.split, []).append(ident)
        if lists:
            main = tmp / "ImageSets" / "Main"
            main.mkdir(parents=True)
            for split in _split_order(lists):
                safe_relpath(split, field="split")
                (main / f"{split}.txt").write_text("".join(i + "\n" for i in lists[split]), encoding="utf-8")
                report["files"] += 1
    return report


# ---------------------------------------------------------------------------------------------
# Detection and registration
# ---------------------------------------------------------------------------------------------


def _looks_like_voc(xml: Path) -> bool:
    try:
        with open(xml, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
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
        if p.suffix.lower() == ".xml" and not p.name.startswith("."):
            return _looks_like_voc(p)
    return False


@hookimpl
def cvpipe_register_formats(register):
    register("voc", reader=read_voc, writer=write_voc, detect=detect_voc,
             description="Pascal VOC XML (VOCdevkit layout or a folder of XML files)")


from cvpipe.builtin._voc2yolo import convert_voc_to_yolo  # noqa: E402  (re-exported public API)
