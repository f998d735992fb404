"""Reading Pascal VOC XML: one annotation file into a plain record (shared by :func:`read_voc` and
the streaming converter, pure Python, no numpy), and :func:`read_voc` building the Dataset.

Schema, conventions and categories: see :mod:`cvpipe.builtin.voc`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from cvpipe.data.categories import voc_categories
from cvpipe.data.checks import box_problem, box_problem_text
from cvpipe.data.origin import Origin
from cvpipe.errors import InputError, Problem
from cvpipe.formats.xml import parse_xml_file

from .layout import find_image, voc_layout

if TYPE_CHECKING:  # numpy-backed; imported where used so the streaming path stays numpy-free
    from cvpipe.data import Dataset

__all__ = ["read_voc", "PixelConvention", "SHIFT", "COORDS", "parse_file", "plain_name", "NOTE_LISTED_WITHOUT_XML"]

PixelConvention = Literal["raw", "one_based"]
#: what the pixel convention adds to the file's numbers on reading (subtracts on writing)
SHIFT = {"raw": 0.0, "one_based": 1.0}
COORDS = ("xmin", "ymin", "xmax", "ymax")
_IMAGE_TAGS = ("folder", "filename", "source", "owner", "size", "segmented")
_TRUE = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}


def plain_name(name: str) -> bool:
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
    if v is None or not math.isfinite(v) or "_" in text or not text.isascii():  # "1_0", Arabic-Indic digits
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


_COORD_INDEX = {c: i for i, c in enumerate(COORDS)}


def _bndbox(el, file: str, fld: str, shift: float, found: list[Problem]) -> list[float] | None:
    vals: list[Any] = [COORDS, COORDS, COORDS, COORDS]  # COORDS marks "not seen"
    bad = False
    for ch in el:
        k = _COORD_INDEX.get(ch.tag)
        if k is not None and vals[k] is COORDS:
            v = vals[k] = _number(ch, file, (fld, COORDS[k]), found)
            bad = bad or v is None
    if COORDS in vals:
        missing = COORDS[vals.index(COORDS)]
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
    """The one box check (:mod:`cvpipe.data.checks`); a problem is placed at the ``bndbox``
    element ``el`` (its line) and field ``fld``."""
    kind = box_problem(b[0], b[1], b[2], b[3], w, h)
    if kind is None:
        return True
    message, expected = box_problem_text(kind, w, h)
    found.append(Problem(message, file=file, line=_line(el), field=fld, value=_shown(b), expected=expected))
    return False


def parse_file(xml_path: str, image_root: Path, shift: float, full: bool,
                classes: dict[str, int] | None, found: list[Problem]) -> dict | None:
    """Read one annotation file into a plain record (None when the whole file is unusable):
    ``filename``, ``width``, ``height``, ``objects`` = ``[(name, [x1, y1, x2, y2], difficult,
    truncated, iscrowd, score, box_extra)]`` (valid objects only; problems appended to
    ``found``) and, when ``full``, ``extra``."""
    file = xml_path
    root = parse_xml_file(xml_path, found, document="VOC annotation")
    if root is None:
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
    if not name or not plain_name(name):
        return None
    w = h = 0
    for ch in size:
        tag = ch.tag
        if tag == "width" or tag == "height":
            text = ch.text
            try:
                v = int(text)
            except (TypeError, ValueError):
                return None
            if v <= 0 or "_" in text or not text.isascii():
                return None
            if tag == "width":
                w = v
            else:
                h = v
    if not w or not h:
        return None
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
                if not isfinite(v) or "_" in text or not text.isascii():
                    return None
                box[k] = v - shift
        x1, y1, x2, y2 = box
        if x1 is None or y1 is None or x2 is None or y2 is None or box_problem(x1, y1, x2, y2, w, h):
            return None
        out.append((oname, box, difficult, truncated, crowd, None, None, None))
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
        if filename is not None and not plain_name(filename):
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
        from cvpipe.formats.images import image_size

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
        rec["extra"] = extra
        rec["origin"] = Origin(file)
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
    origin = Origin(file, _line(bnd_el), f"{fld}.bndbox") if full else None
    return (name, box, bool(difficult), bool(truncated), bool(crowd), score, extra, origin)


def _guess_image(image_root: Path, stem: str) -> str:
    return find_image(image_root, stem) or stem + ".jpg"


#: the note (``Dataset.meta["notes"]``) counting the images a split list names without an XML file
NOTE_LISTED_WITHOUT_XML = "images listed in a split without an annotation file (read as images without objects)"


def _bare_record(ident: str, image_root: Path, listed_at: tuple[str, int], found: list[Problem]) -> dict | None:
    """The record of an image a split list names without an annotation file: no objects, the
    size from the image header (None with a problem when the header cannot be read)."""
    from cvpipe.formats.images import image_size

    filename = _guess_image(image_root, ident)
    file, line = listed_at
    try:
        w, h = image_size(image_root / filename)
    except InputError:
        found.append(Problem("image size unknown", file=file, line=line, value=ident,
                             expected=f"a readable image {image_root / filename} (listed without an annotation file)"))
        return None
    return {"filename": filename, "width": w, "height": h, "objects": [], "extra": {},
            "origin": Origin(file, line, "id")}


def read_records(entries: Sequence[tuple[str | None, str | None, str]], bare: dict[str, tuple[str, int]],
                 image_root: Path, shift: float, class_index: dict[str, int] | None,
                 found: list[Problem]) -> tuple[list[tuple[dict, str | None, str]], int]:
    """``(record, split, id)`` for each readable entry of :func:`.layout.voc_layout` (an entry
    without an XML file is an image without objects, see :func:`_bare_record`), and how many
    of those bare images there were. Problems are appended to ``found``."""
    records = []
    n_bare = 0
    for xml, split, ident in entries:
        if xml is None:
            rec = _bare_record(ident, image_root, bare[ident], found)
            n_bare += rec is not None
        else:
            rec = parse_file(xml, image_root, shift, True, class_index, found)
        if rec is not None:
            records.append((rec, split, ident))
    return records, n_bare


def records_to_samples(records: Sequence[tuple[dict, str | None, str]], categories: Sequence[str], any_scores: bool,
                       found: list[Problem]) -> list:
    """The Samples of ``records`` (labels index ``categories``; boxes absolute xyxy float64).
    With ``any_scores`` (a detections dataset: some object has a ``<score>``), an image with an
    object without one is a problem and left out."""
    import numpy as np

    from cvpipe.data import Sample

    index = {c: i for i, c in enumerate(categories)}
    samples = []
    for rec, split, ident in records:
        objs = rec["objects"]
        if any_scores and any(o[5] is None for o in objs):
            o = next(o for o in objs if o[5] is None)
            found.append(Problem("object has no score", file=rec["origin"].file, line=o[7].line,
                                 field=o[7].field.replace(".bndbox", ".score"),
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
            origin=rec["origin"], box_origins=[o[7] for o in objs],
        ))
    return samples


def reader_meta(pixel_convention: str, n_bare: int) -> dict[str, Any]:
    """``Dataset.meta`` of a VOC read (format, pixel convention, the bare-image note)."""
    meta: dict[str, Any] = {"format": "voc", "pixel_convention": pixel_convention}
    if n_bare:
        meta["notes"] = {NOTE_LISTED_WITHOUT_XML: n_bare}
    return meta


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
    from cvpipe.data import Dataset
    from cvpipe.formats import raise_or_collect

    if pixel_convention not in SHIFT:
        from cvpipe.errors import ConfigError

        raise ConfigError("unknown pixel convention", field="pixel_convention", value=pixel_convention,
                          expected="raw or one_based")
    found: list[Problem] = []
    bare: dict[str, tuple[str, int]] = {}
    entries, image_root = voc_layout(Path(path), splits, images_dir, found, bare=bare)
    class_index = {c: i for i, c in enumerate(classes)} if classes is not None else None
    records, n_bare = read_records(entries, bare, image_root, SHIFT[pixel_convention], class_index, found)
    names = {o[0] for rec, _, _ in records for o in rec["objects"]}
    categories = list(classes) if classes is not None else voc_categories(names)
    any_scores = any(o[5] is not None for rec, _, _ in records for o in rec["objects"])
    samples = records_to_samples(records, categories, any_scores, found)
    raise_or_collect(found, problems)
    meta = reader_meta(pixel_convention, n_bare)
    return Dataset(categories, samples, root=image_root, meta=meta, origin=Origin(str(path)))
