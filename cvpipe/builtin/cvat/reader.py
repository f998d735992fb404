"""Read CVAT for images 1.1 XML into a :class:`~cvpipe.data.Dataset` (absolute pixel xyxy).

Read:

* categories: ``meta/task/labels/label/name`` or ``meta/project/labels/label/name`` in file order
  (skeleton sub-labels, which carry a ``<parent>``, are not categories); a file without declared
  labels gets the box labels sorted. A box whose label is not declared is a problem (CVAT itself
  never writes one).
* ``<image id name width height [subset]>``: ``Sample.id`` = ``id`` (an integer), ``image`` =
  ``name`` (also in ``extra["cvat_name"]``: the writer keeps it), ``split`` = ``subset``; other
  attributes in ``extra["cvat"]["attrib"]``.
* ``<box label xtl ytl xbr ybr occluded z_order source>``: the box; ``occluded`` (0/1) and
  ``z_order`` (int) to ``box_extra``, ``source`` and other XML attributes to
  ``box_extra["cvat_attrib"]``, ``<attribute name=...>`` children to ``box_extra["attributes"]``
  except ``difficult``/``truncated``/``iscrowd`` with a boolean value, which are cvpipe's flags.
  A box with ``rotation`` other than 0 is a problem (cvpipe boxes are axis-aligned).
* every other shape (``polygon``, ``polyline``, ``points``, ``ellipse``, ``mask``, ``cuboid``,
  ``skeleton``, ``tag``) is kept, not dropped: ``extra["cvat"]["shapes"]`` holds them (written
  back by the CVAT writer), and ``Dataset.meta["cvat_shapes"]`` counts them per kind.
* ``<track>`` elements (CVAT for video) are a problem: export the task "for images".

Images are in ``images/`` beside the XML (CVAT's export), else beside it, or in ``images_dir``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvpipe.errors import Problem

from .layout import IMAGES_DIR, element_data, find_xml, parse_xml

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_cvat", "SHAPES"]

#: Shapes kept in ``extra["cvat"]["shapes"]`` (everything CVAT for images has besides boxes).
SHAPES = ("polygon", "polyline", "points", "ellipse", "mask", "cuboid", "skeleton", "tag")
_FLAGS = ("difficult", "truncated", "iscrowd")
_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_BOX_KNOWN = {"label", "xtl", "ytl", "xbr", "ybr", "occluded", "z_order", "rotation"}


def _labels(meta, file: str, found: list[Problem]) -> tuple[list[str], dict[str, dict]]:
    """Declared label names in order, and each label's element as data (for round trips)."""
    names: list[str] = []
    elems: dict[str, dict] = {}
    if meta is None:
        return names, elems
    for holder in ("task", "project"):
        for labels in meta.iterfind(f"{holder}/labels"):
            for lab in labels.iterfind("label"):
                if lab.find("parent") is not None and (lab.findtext("parent") or "").strip():
                    continue  # a skeleton's point label
                name = (lab.findtext("name") or "").strip()
                if not name:
                    found.append(Problem("label without a name", file=file, line=lab.sourceline,
                                         field=f"meta/{holder}/labels/label", expected="<name>...</name>"))
                    continue
                if name not in elems:
                    names.append(name)
                    elems[name] = element_data(lab)
        if names:
            break
    return names, elems


def _number(el, attr: str, file: str, field: str, found: list[Problem]) -> float | None:
    raw = el.get(attr)
    try:
        v = float(raw)
    except (TypeError, ValueError):
        found.append(Problem("missing value" if raw is None else "not a number", file=file, line=el.sourceline,
                             field=f"{field}.{attr}", value=raw, expected="a number"))
        return None
    if not math.isfinite(v):
        found.append(Problem("not a finite number", file=file, line=el.sourceline, field=f"{field}.{attr}",
                             value=raw, expected="a finite number"))
        return None
    return v


def _int(el, attr: str, file: str, field: str, found: list[Problem]) -> int | None:
    v = _number(el, attr, file, field, found)
    if v is not None and v != int(v):
        found.append(Problem("not an integer", file=file, line=el.sourceline, field=f"{field}.{attr}",
                             value=el.get(attr), expected="an integer"))
        return None
    return None if v is None else int(v)


def read_cvat(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
              problems: list[Problem] | None = None) -> "Dataset":
    """Read a CVAT for images 1.1 file (rules: the module docstring).

    Args:
        path: ``annotations.xml``, or the folder holding it.
        images_dir: where the images are (default ``images/`` beside the XML, else its folder).
        splits: read only images whose ``subset`` is one of these.
        problems: collect problems here and skip what is bad; None raises one InputError
            listing every problem.
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect

    found: list[Problem] = []
    xml = find_xml(Path(path), found)
    root = parse_xml(xml, found) if xml is not None else None
    if root is not None and root.tag != "annotations":
        found.append(Problem("not a CVAT annotation file", file=str(xml), line=root.sourceline, field=root.tag,
                             expected="an <annotations> root (CVAT for images 1.1)"))
        root = None
    if root is None:
        raise_or_collect(found, problems)
        return Dataset([], root=Path(images_dir) if images_dir else None, meta={"format": "cvat"})
    file = str(xml)
    version = (root.findtext("version") or "").strip()
    if version and not version.startswith("1."):
        found.append(Problem("unsupported CVAT XML version", file=file, line=root.find("version").sourceline,
                             field="version", value=version, expected="1.1 (or 1.0)"))
    meta = root.find("meta")
    declared, label_elems = _labels(meta, file, found)
    names = list(declared)
    index = {n: i for i, n in enumerate(names)}
    rows = []  # (image el, sample fields, boxes)
    shape_counts: Counter = Counter()
    for tr in root.iterfind("track"):
        found.append(Problem("CVAT for video track", file=file, line=tr.sourceline, field="track",
                             value=tr.get("label"), expected="<image> elements (CVAT for images 1.1)",
                             hint="export the task as 'CVAT for images 1.1'"))
    for k, im in enumerate(root.iterfind("image")):
        fld = f"image[{k}]"
        name = im.get("name")
        if not name:
            found.append(Problem("image without a name", file=file, line=im.sourceline, field=f"{fld}.name",
                                 expected="a file name"))
            continue
        subset = im.get("subset")
        if splits and subset not in splits:
            continue
        w = _int(im, "width", file, fld, found)
        h = _int(im, "height", file, fld, found)
        ident: Any = im.get("id")
        if ident is not None:
            try:
                ident = int(ident)
            except ValueError:
                pass
        if w is None or h is None:
            continue
        boxes, labels, extras = [], [], []
        flags = {f: [] for f in _FLAGS}
        shapes = []
        for j, el in enumerate(c for c in im if isinstance(c.tag, str)):
            efld = f"{fld}.{el.tag}[{j}]"
            if el.tag != "box":
                shapes.append(element_data(el))
                shape_counts[el.tag] += 1
                continue
            lab = el.get("label")
            if lab is None or lab == "":
                found.append(Problem("box without a label", file=file, line=el.sourceline, field=f"{efld}.label",
                                     expected="a label name"))
                continue
            coords = [_number(el, a, file, efld, found) for a in ("xtl", "ytl", "xbr", "ybr")]
            if any(c is None for c in coords):
                continue
            rot = el.get("rotation")
            if rot is not None:
                r = _number(el, "rotation", file, efld, found)
                if r is None:
                    continue
                if r % 360.0 != 0.0:
                    found.append(Problem("rotated box", file=file, line=el.sourceline, field=f"{efld}.rotation",
                                         value=rot, expected="rotation 0 (cvpipe boxes are axis-aligned)"))
                    continue
            if lab not in index:
                if declared:
                    found.append(Problem("label not declared in meta", file=file, line=el.sourceline,
                                         field=f"{efld}.label", value=lab,
                                         expected="one of: " + ", ".join(declared)))
                    continue
                index[lab] = len(names)
                names.append(lab)
            ex: dict[str, Any] = {}
            occ = el.get("occluded")
            if occ is not None:
                if occ.strip().lower() not in _BOOL:
                    found.append(Problem("not a boolean", file=file, line=el.sourceline, field=f"{efld}.occluded",
                                         value=occ, expected="0 or 1"))
                    continue
                ex["occluded"] = int(_BOOL[occ.strip().lower()])
            if el.get("z_order") is not None:
                z = _int(el, "z_order", file, efld, found)
                if z is None:
                    continue
                ex["z_order"] = z
            other = {a: v for a, v in el.attrib.items() if a not in _BOX_KNOWN}
            if other:
                ex["cvat_attrib"] = other
            attrs: dict[str, str] = {}
            f_vals = {f: False for f in _FLAGS}
            for a in el.iterfind("attribute"):
                an, av = a.get("name"), (a.text or "").strip()
                if an in _FLAGS and av.lower() in _BOOL:
                    f_vals[an] = _BOOL[av.lower()]
                elif an is not None:
                    attrs[an] = av
            if attrs:
                ex["attributes"] = attrs
            boxes.append(coords)
            labels.append(index[lab])
            extras.append(ex)
            for f in _FLAGS:
                flags[f].append(f_vals[f])
        cv: dict[str, Any] = {}
        extra: dict[str, Any] = {"cvat_name": name}  # written back as it is (sub-folders kept)
        attrib = {a: v for a, v in im.attrib.items() if a not in ("id", "name", "width", "height", "subset")}
        if attrib:
            cv["attrib"] = attrib
        if shapes:
            cv["shapes"] = shapes
        rows.append(Sample(image=name, width=w, height=h, boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
                           labels=np.array(labels, dtype=np.int64), difficult=flags["difficult"] or None,
                           truncated=flags["truncated"] or None, iscrowd=flags["iscrowd"] or None,
                           box_extra=extras, extra={**extra, "cvat": cv} if cv else extra, id=ident, split=subset))
    if not declared:  # no labels in meta: the box labels, sorted
        order = sorted(names)
        remap = np.array([order.index(n) for n in names] + [0], dtype=np.int64)
        for s in rows:
            s.labels = remap[s.labels] if len(s.labels) else s.labels
        names = order
    raise_or_collect(found, problems)
    if images_dir is not None:
        img_root = Path(images_dir)
    else:
        img_root = xml.parent / IMAGES_DIR if (xml.parent / IMAGES_DIR).is_dir() else xml.parent
    ds_meta: dict[str, Any] = {"format": "cvat", "cvat_labels": label_elems}
    task_name = meta.findtext("task/name") if meta is not None else None
    if task_name:
        ds_meta["cvat_task_name"] = task_name.strip()
    if shape_counts:
        ds_meta["cvat_shapes"] = dict(shape_counts)
    return Dataset(names, rows, root=img_root, meta=ds_meta)
