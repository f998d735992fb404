"""LabelMe JSON <-> :class:`cvpipe.data.Dataset`.

Layout
    A LabelMe dataset is a folder of ``*.json`` files, one per image (sub-folders searched too),
    or one such ``.json`` file. Each file is what the LabelMe tool saves::

        {"version": "5.4.1", "flags": {}, "imagePath": "dog.jpg", "imageData": null,
         "imageHeight": 375, "imageWidth": 500,
         "shapes": [{"label": "dog", "points": [[48, 240], [195, 371]], "shape_type": "rectangle",
                     "group_id": null, "description": "", "flags": {}}]}

Boxes
    Points are LabelMe's pixel coordinates, taken as they are (no 0/1-based shift: the numbers
    of the LabelMe and Pascal VOC files of one dataset are the same numbers). A ``rectangle``
    (two corners, in any order) becomes ``(min x, min y, max x, max y)``; a ``polygon`` (three
    points or more; a shape without ``shape_type`` is a polygon, as in LabelMe) becomes its
    enclosing box, and its points are kept in ``box_extra["points"]``: writing LabelMe again
    writes the polygon back unchanged as long as the box still encloses exactly those points
    (else the box, as a rectangle). Other shape types (``circle``, ``line``, ``point``,
    ``linestrip``, ``points``, ``mask``) are not boxes: they are kept in
    ``Sample.extra["labelme_shapes"]`` (so LabelMe -> LabelMe keeps them), counted in
    ``Dataset.meta["labelme_not_boxes"]`` and announced with a warning.
    Shape flags ``difficult``, ``truncated`` and ``iscrowd`` are the per-box flags; a numeric
    ``score`` on every box shape makes the sample a detection (``Sample.scores``);
    ``group_id``, ``description`` and the other flags travel in ``box_extra``.

Images
    ``imagePath`` is relative to the JSON file. The dataset root is the folder read (or the
    folder of the one file), widened to hold every image when an ``imagePath`` points outside it
    (``../images/x.jpg``); with ``images_dir`` the images are looked up there instead (by their
    ``imagePath``, else by file name). Image sizes are ``imageWidth``/``imageHeight``; when the
    file embeds the image (``imageData``, base64), its header must agree. Images found only
    embedded (no file at ``imagePath``) are written once into a temporary folder of the process
    (removed at exit; the dataset root when every image is embedded), so that every writer,
    check and step uses them like any image file; such samples are marked
    ``Sample.extra["labelme_embedded"]`` and the LabelMe writer embeds them again. LabelMe has
    no splits: samples are read with ``split=None`` and the writer puts every image in one folder.

Writing
    ``dst/<image name>.json`` beside ``dst/<image name>`` (copied, hard-linked or left out),
    ``imagePath`` the image's file name, ``imageData`` per ``image_data``: ``keep`` (default:
    embed only what was read embedded), ``embed`` (every image, from its file) or ``none``.
    Image names keep the sub-folders the samples do not all share (as the COCO writer does).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import warnings
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from cvpipe.data import Origin
from cvpipe.errors import ConfigError, InputError, Problem
from cvpipe.formats.lookup import file_head

__all__ = ["read_labelme", "write_labelme", "detect_labelme", "LABELME_VERSION", "BOX_SHAPES"]

#: The LabelMe file version written (the schema has been stable since LabelMe 4).
LABELME_VERSION = "5.4.1"
#: Shape types read as boxes.
BOX_SHAPES = ("rectangle", "polygon")
#: Shape flags that are cvpipe's per-box flags.
_FLAG_NAMES = ("difficult", "truncated", "iscrowd")
#: Shape keys handled explicitly; any other key of a shape travels in ``box_extra["labelme"]``.
_SHAPE_KEYS = {"label", "points", "shape_type", "group_id", "description", "flags", "score"}
#: Top-level keys handled explicitly; others travel in ``Sample.extra["labelme"]``.
_FILE_KEYS = {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"}
#: How much of ``imageData`` (base64 characters, a multiple of 4) is decoded to read the size.
_B64_HEAD = 4 * 1024
#: detect() reads at most this many bytes of a file.
_DETECT_BYTES = 1 << 16


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


def _looks_like_labelme_file(path: Path) -> bool:
    head = file_head(path, _DETECT_BYTES).lstrip()
    # LabelMe always writes imagePath and shapes (COCO files have neither); shapes may come
    # after a long imageData, beyond the bytes read
    whole = len(head) < _DETECT_BYTES - 64
    return head.startswith(b"{") and b'"imagePath"' in head and (b'"shapes"' in head or not whole)


def _json_files(path: Path) -> list[Path]:
    return sorted((p for p in path.rglob("*.json") if p.is_file() and not p.name.startswith(".")), key=str)


def detect_labelme(path: Path) -> bool:
    """A ``.json`` file that starts like a LabelMe file, or a folder whose first ``.json``
    files (top level, else one level down) do. Reads at most 64 KiB of three files."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".json" and _looks_like_labelme_file(path)
    if not path.is_dir():
        return False
    files = sorted(path.glob("*.json")) or sorted(path.glob("*/*.json"))
    files = [f for f in files if f.is_file() and not f.name.startswith(".")][:3]
    return bool(files) and all(_looks_like_labelme_file(f) for f in files)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _load(file: Path, found: list[Problem]) -> Any:
    """The parsed JSON of ``file`` (cvpipe's bounded reader and decoder: a regular file, no
    repeated keys), or None with a Problem appended to ``found``."""
    from cvpipe.errors import InputError
    from cvpipe.formats.files import MAX_JSON_BYTES, read_input_bytes
    from cvpipe.formats.json import DuplicateKeyError, decode

    try:
        return decode(read_input_bytes(str(file), limit=MAX_JSON_BYTES, expected="a readable LabelMe JSON file"))
    except InputError as exc:
        found.extend(exc.problems)
    except DuplicateKeyError as exc:
        found.append(Problem("duplicate key in a JSON object", file=str(file), field=exc.key, value=exc.key,
                             expected="each key once per object"))
    except RecursionError:
        found.append(Problem("JSON nested too deeply", file=str(file), expected="a LabelMe JSON file"))
    except UnicodeDecodeError as exc:
        found.append(Problem("file is not UTF-8 text", file=str(file), value=str(exc), expected="a LabelMe JSON file"))
    except json.JSONDecodeError as exc:
        found.append(Problem(f"malformed JSON: {exc.msg} (column {exc.colno})", file=str(file), line=exc.lineno,
                             expected="valid JSON"))
    return None


def _b64(text: str) -> bytes:
    """Strict base64 decoding (ValueError on any character outside the alphabet)."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # Python >= 3.11: strict, in C
    except TypeError:  # pragma: no cover - Python 3.10
        return base64.b64decode(text, validate=True)


def _embedded_dir() -> Path:
    """A folder for images found only embedded in LabelMe files, removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cvpipe-labelme-images-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _image_header_size(data: bytes) -> tuple[int, int] | None:
    import imagesize

    try:
        w, h = imagesize.get(io.BytesIO(data))
    except Exception:  # imagesize raises various errors on foreign bytes
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None


class _Parsed:
    """One LabelMe file, parsed and checked."""

    __slots__ = ("file", "image", "width", "height", "boxes", "labels", "flags", "scores", "box_extra",
                 "box_origins", "other_shapes", "extra", "image_data_b64")

    def __init__(self, file: Path) -> None:
        self.file = file
        self.boxes: list[list[float]] = []
        self.labels: list[str] = []
        self.flags: list[tuple[bool, bool, bool]] = []
        self.scores: list[float | None] = []
        self.box_extra: list[dict[str, Any]] = []
        self.box_origins: list[Origin] = []
        self.other_shapes: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.image_data_b64: str | None = None


def _parse(data: Any, file: Path, found: list[Problem]) -> _Parsed | None:
    """Check one file's content; append a Problem per finding. None when the file is unusable;
    bad shapes are left out (each reported)."""
    f = str(file)
    if not isinstance(data, dict):
        found.append(Problem("not a LabelMe file", file=f, value=type(data).__name__,
                             expected="a JSON object with imagePath, imageWidth, imageHeight and shapes"))
        return None
    out = _Parsed(file)
    bad_image = False
    image_path = data.get("imagePath")
    if not isinstance(image_path, str) or not image_path.strip():
        found.append(Problem("missing or empty imagePath", file=f, field="imagePath", value=image_path,
                             expected="the image file name, relative to the JSON file"))
        bad_image = True
    else:
        out.image = image_path.replace("\\", "/")
    raw = data.get("imageData")
    head = b""
    if raw is not None:
        try:
            if not isinstance(raw, str):
                raise ValueError
            # the size is in the header: decode the first 4 KiB of base64 (EXIF thumbnails
            # can push a JPEG frame header further: then all of it); decoding all
            # of every image cost 3/4 of the reading time (bench/bench_labelme.py)
            head = _b64(raw[:_B64_HEAD])
            out.image_data_b64 = raw
        except (ValueError, binascii.Error):
            found.append(Problem("imageData is not base64", file=f, field="imageData",
                                 value=(raw[:40] + "...") if isinstance(raw, str) and len(raw) > 40 else raw,
                                 expected="the image file's bytes in base64, or null"))
            bad_image = True
    embedded = _image_header_size(head) if head else None
    if embedded is None and head and len(raw) > _B64_HEAD:
        try:
            embedded = _image_header_size(_b64(raw))
        except (ValueError, binascii.Error):
            found.append(Problem("imageData is not base64", file=f, field="imageData",
                                 expected="the image file's bytes in base64, or null"))
            bad_image = True
    if head and embedded is None and not bad_image:
        found.append(Problem("imageData holds no readable image", file=f, field="imageData",
                             expected="a JPEG, PNG, BMP, TIFF or WebP image in base64"))
        bad_image = True
    w, h = data.get("imageWidth"), data.get("imageHeight")
    if w is None and h is None and embedded is not None:
        w, h = embedded
    for key, v in (("imageWidth", w), ("imageHeight", h)):
        if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            found.append(Problem(f"bad {key}", file=f, field=key, value=v, expected="a positive integer"))
            bad_image = True
    if not bad_image:
        out.width, out.height = int(w), int(h)
        if embedded is not None and embedded != (out.width, out.height):
            found.append(Problem("image size differs from the embedded image", file=f, field="imageWidth",
                                 value=f"{out.width}x{out.height}", expected=f"{embedded[0]}x{embedded[1]} (imageData)"))
            bad_image = True
    shapes = data.get("shapes")
    if not isinstance(shapes, list):
        found.append(Problem("missing shapes list", file=f, field="shapes", value=type(shapes).__name__ if shapes is not None else None,
                             expected="a list of shapes ([] for an image without objects)"))
        return None
    if bad_image:
        return None
    for key in ("version", "flags"):
        if key in data:
            out.extra[f"labelme_{key}"] = data[key]
    other = {k: v for k, v in data.items() if k not in _FILE_KEYS}
    if other:
        out.extra["labelme"] = other
    for i, shape in enumerate(shapes):
        _parse_shape(shape, i, out, found)
    return out


def _parse_shape(shape: Any, i: int, out: _Parsed, found: list[Problem]) -> None:
    f, where = str(out.file), f"shapes[{i}]"
    if not isinstance(shape, dict):
        found.append(Problem("shape is not an object", file=f, field=where, value=shape, expected="a JSON object"))
        return
    kind = shape.get("shape_type") or "polygon"  # LabelMe's own default
    if not isinstance(kind, str):
        found.append(Problem("bad shape_type", file=f, field=f"{where}.shape_type", value=kind,
                             expected="a shape type name (rectangle, polygon, ...)"))
        return
    if kind not in BOX_SHAPES:
        out.other_shapes.append(shape)
        return
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        found.append(Problem("missing or empty label", file=f, field=f"{where}.label", value=label,
                             expected="a class name"))
        return
    points = shape.get("points")
    ok = isinstance(points, list) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_num(v) for v in p) for p in points)
    if not ok:
        found.append(Problem("bad points", file=f, field=f"{where}.points", value=points,
                             expected="a list of [x, y] pairs of finite numbers"))
        return
    if kind == "rectangle" and len(points) != 2:
        found.append(Problem("a rectangle needs two points", file=f, field=f"{where}.points", value=points,
                             expected="[[x1, y1], [x2, y2]]"))
        return
    if kind == "polygon" and len(points) < 3:
        found.append(Problem("a polygon needs at least three points", file=f, field=f"{where}.points",
                             value=points, expected="[[x, y], [x, y], [x, y], ...]"))
        return
    flags = shape.get("flags") or {}
    if not isinstance(flags, dict):
        found.append(Problem("bad flags", file=f, field=f"{where}.flags", value=flags,
                             expected="an object of name: true|false"))
        return
    score = shape.get("score")
    if score is not None and not _is_num(score):
        found.append(Problem("bad score", file=f, field=f"{where}.score", value=score, expected="a number"))
        return
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    out.boxes.append([min(xs), min(ys), max(xs), max(ys)])
    out.labels.append(label)
    out.flags.append(tuple(bool(flags.get(k, False)) for k in _FLAG_NAMES))  # type: ignore[arg-type]
    out.scores.append(None if score is None else float(score))
    out.box_origins.append(Origin(f, None, where))
    ex: dict[str, Any] = {"shape_type": kind}
    if kind == "polygon":
        ex["points"] = [[p[0], p[1]] for p in points]
    for key in ("group_id", "description"):
        if shape.get(key) not in (None, ""):
            ex[key] = shape[key]
    rest = {k: v for k, v in flags.items() if k not in _FLAG_NAMES}
    if rest:
        ex["flags"] = rest
    other = {k: v for k, v in shape.items() if k not in _SHAPE_KEYS}
    if other:
        ex["labelme"] = other
    out.box_extra.append(ex)


def _rel_image(json_file: Path, image: str, images_dir: Path | None) -> tuple[Path, str]:
    """``(where the image file is, its name relative to images_dir)`` for an ``imagePath``
    (the name is only meaningful with ``images_dir``)."""
    pure = PurePosixPath(image)
    if images_dir is not None:
        if not pure.is_absolute() and ".." not in pure.parts and (images_dir / image).is_file():
            return images_dir / image, image
        return images_dir / pure.name, pure.name
    target = Path(os.path.normpath(json_file.parent / image)) if not pure.is_absolute() else Path(image)
    return target, ""


def read_labelme(
    path: Path,
    *,
    images_dir: Path | None = None,
    splits: list[str] | None = None,
    problems: list[Problem] | None = None,
):
    """Read the LabelMe file or folder at ``path`` (see the module docs).

    Returns a :class:`~cvpipe.data.Dataset` (boxes absolute pixel xyxy, categories in order of
    first appearance, files read in sorted path order, ``Sample.id`` the JSON file's stem).
    Problems (malformed JSON with its line, missing or bad fields, bad shapes, a size that
    differs from the embedded image) are appended to ``problems`` and the bad file or shape left
    out, or, without ``problems``, raised together as one :class:`~cvpipe.errors.InputError`.
    LabelMe has no splits: asking for some is a :class:`~cvpipe.errors.ConfigError`.
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect

    path = Path(path)
    if splits:
        raise ConfigError("the LabelMe format has no splits", field="splits", value=list(splits),
                          expected="no --split for LabelMe input")
    found: list[Problem] = []
    if path.is_dir():
        files = _json_files(path)
        base = path
    elif path.is_file():
        files, base = [path], path.parent
    else:
        files, base = [], path
    if not files:
        raise_or_collect([Problem("no LabelMe JSON files found" if path.exists() else "no such file or directory",
                                  file=str(path), expected="a LabelMe .json file or a folder of them")], problems)
        return Dataset([])
    parsed: list[_Parsed] = []
    for file in files:
        data = _load(file, found)
        if data is not None:
            p = _parse(data, file, found)
            if p is not None:
                parsed.append(p)

    images_dir = Path(images_dir) if images_dir is not None else None
    located = [_rel_image(p.file, p.image, images_dir) for p in parsed]
    if images_dir is not None:
        root = images_dir
        names = [name for _, name in located]
    else:
        # root: the folder read, widened to the common parent of every image it points at
        root = Path(os.path.commonpath([str(base.absolute())] + [str(t.absolute()) for t, _ in located]))
        if root.is_file():
            root = root.parent
        names = [t.absolute().relative_to(root).as_posix() for t, _ in located]

    # images found only embedded (imageData) are written once into a folder of this process
    # (removed at exit), so that every writer, check and step uses them like any image file
    embedded = [i for i, (p, (t, _)) in enumerate(zip(parsed, located)) if p.image_data_b64 and not t.is_file()]
    if embedded:
        folder = _embedded_dir()
        for i in embedded:
            out = folder / names[i]
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                out.write_bytes(_b64(parsed[i].image_data_b64))
            except ValueError:
                found.append(Problem("imageData is not base64", file=str(parsed[i].file), field="imageData",
                                     expected="the image file's bytes in base64, or null"))
        if len(embedded) == len(parsed):
            root = folder
        else:
            for i in embedded:
                names[i] = (folder / names[i]).as_posix()
    embedded_set = set(embedded)

    categories: dict[str, int] = {}
    samples = []
    not_boxes: Counter = Counter()
    for k, (p, name) in enumerate(zip(parsed, names)):
        labels = [categories.setdefault(lab, len(categories)) for lab in p.labels]
        n = len(p.boxes)
        flags = np.array(p.flags, dtype=bool).reshape(n, 3)
        scores = None
        if n and all(s is not None for s in p.scores):
            scores = np.array(p.scores, dtype=np.float64)
        extra = dict(p.extra)
        if p.other_shapes:
            extra["labelme_shapes"] = p.other_shapes
            not_boxes.update(s.get("shape_type") or "?" for s in p.other_shapes)
        if k in embedded_set:
            extra["labelme_embedded"] = True
        samples.append(Sample(
            image=name, width=p.width, height=p.height,
            boxes=np.array(p.boxes, dtype=np.float64).reshape(n, 4), labels=np.array(labels, dtype=np.int64),
            difficult=flags[:, 0], truncated=flags[:, 1], iscrowd=flags[:, 2], scores=scores,
            box_extra=p.box_extra, extra=extra, id=p.file.stem, split=None,
            origin=Origin(str(p.file)), box_origins=p.box_origins,
        ))
    raise_or_collect(found, problems)
    meta: dict[str, Any] = {}
    if not_boxes:
        meta["labelme_not_boxes"] = dict(not_boxes)
        warnings.warn(
            f"{sum(not_boxes.values())} LabelMe shapes in {path} are not boxes and were not read as boxes ("
            + ", ".join(f"{k}: {v}" for k, v in sorted(not_boxes.items()))
            + "); only LabelMe output keeps them", stacklevel=2)
    return Dataset(categories=list(categories), samples=samples, root=root, meta=meta, origin=Origin(str(path)))


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _num(v: float) -> int | float:
    """Integral floats as ints (LabelMe files from the tool hold ints or floats)."""
    return int(v) if float(v).is_integer() else float(v)


def _shape(dataset, sample, j: int) -> dict[str, Any]:
    ex = sample.box_extra[j] or {}
    x1, y1, x2, y2 = (float(v) for v in sample.boxes[j])
    kind, points = "rectangle", [[_num(x1), _num(y1)], [_num(x2), _num(y2)]]
    poly = ex.get("points")
    if ex.get("shape_type") == "polygon" and isinstance(poly, list) and len(poly) >= 3:
        xs, ys = [float(p[0]) for p in poly], [float(p[1]) for p in poly]
        if [min(xs), min(ys), max(xs), max(ys)] == [x1, y1, x2, y2]:  # the polygon still is this box
            kind, points = "polygon", poly
    flags = dict(ex.get("flags") or {})
    for name in _FLAG_NAMES:
        if getattr(sample, name)[j]:
            flags[name] = True
    shape: dict[str, Any] = {
        "label": dataset.categories[int(sample.labels[j])],
        "points": points,
        "group_id": ex.get("group_id"),
        "description": ex.get("description", ""),
        "shape_type": kind,
        "flags": flags,
    }
    if sample.scores is not None:
        shape["score"] = float(sample.scores[j])
    shape.update(ex.get("labelme") or {})
    return shape


def write_labelme(dataset, dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
                  keep_difficult: bool = True, image_data: Literal["keep", "embed", "none"] = "keep",
                  indent: int | None = 2) -> dict:
    """Write ``dataset`` as LabelMe files into the folder ``dst`` (see the module docs).

    ``images``: copy the image files beside the JSON files, hard-``link`` them (copy across
    devices) or ``none``. ``keep_difficult``: LabelMe keeps the flag (a shape flag), so
    difficult boxes are written unless this is False (then counted as skipped).
    ``image_data``: ``keep`` (embed the images the dataset was read embedded), ``embed`` every
    image, or ``none``. ``dst`` appears whole or not at all.

    Returns:
        ``{"images", "boxes", "skipped": {reason: n}, "embedded": n}``.
    """
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, place_file, safe_join, safe_relpath

    if images not in ("copy", "link", "none"):
        raise ConfigError("bad images mode", field="images", value=images, expected="copy, link or none")
    if image_data not in ("keep", "embed", "none"):
        raise ConfigError("bad image_data mode", field="image_data", value=image_data, expected="keep, embed or none")
    samples = list(dataset.samples)
    names = image_names(samples)
    rels, seen = [], {}
    for s, name in zip(samples, names):
        src = str(s.origin.file if s.origin is not None and s.origin.file else dataset.image_path(s))
        rel = safe_relpath(name, file=src, field="image")
        key = str(PurePosixPath(rel).with_suffix(".json"))
        if key in seen:
            raise InputError("two images would get the same LabelMe file", file=src, value=key,
                             expected="image names that differ by more than their extension",
                             hint=f"also {seen[key]}")
        seen[key] = src
        rels.append(rel)

    skipped: Counter = Counter()
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {}, "embedded": 0}
    with atomic_dir(Path(dst)) as tmp:
        for s, rel in zip(samples, rels):
            src = dataset.image_path(s)
            if (images != "none" or image_data == "embed") and not src.is_file():
                raise InputError("image file not found", file=str(src), expected="an existing image file",
                                 hint="point to the images with --images-dir, or use --images none")
            if images != "none":
                place_file(src, safe_join(tmp, rel), images)
            data: bytes | None = None
            if image_data == "embed" or (image_data == "keep" and s.extra.get("labelme_embedded") and src.is_file()):
                data = src.read_bytes()
            shapes = []
            written = 0
            for j in range(len(s)):
                if s.difficult[j] and not keep_difficult:
                    skipped["difficult"] += 1
                    continue
                shapes.append(_shape(dataset, s, j))
                written += 1
            shapes.extend(s.extra.get("labelme_shapes") or [])
            doc: dict[str, Any] = {
                "version": s.extra.get("labelme_version", LABELME_VERSION),
                "flags": s.extra.get("labelme_flags", {}),
                "shapes": shapes,
                "imagePath": PurePosixPath(rel).name,
                "imageData": base64.b64encode(data).decode("ascii") if data is not None else None,
                "imageHeight": int(s.height),
                "imageWidth": int(s.width),
            }
            doc.update(s.extra.get("labelme") or {})
            out_json = safe_join(tmp, str(PurePosixPath(rel).with_suffix(".json")))
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(doc, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
            report["images"] += 1
            report["boxes"] += written
            report["embedded"] += data is not None
    report["skipped"] = dict(skipped)
    return report
