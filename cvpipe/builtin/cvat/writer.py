"""Write a :class:`~cvpipe.data.Dataset` as CVAT for images 1.1 (``annotations.xml`` + ``images/``).

What is written, so that CVAT imports it ("Upload annotations", format CVAT 1.1) and datumaro reads it:

* ``<version>1.1</version>``, ``<meta><task>`` with ``name``, ``size``, ``mode`` (annotation),
  ``overlap`` and ``labels``: one ``<label>`` per category in category order (a label read from
  CVAT is written back as it was, colour and attributes included). The ``<attributes>`` of a
  label declare every attribute its boxes carry (``difficult``/``truncated``/``iscrowd`` as
  checkboxes), as CVAT requires.
* ``<image id name width height [subset]>`` with ids 0..N-1 in sample order, ``subset`` = the
  split; the shapes kept from a CVAT source (``extra["cvat"]["shapes"]``) written back.
* ``<box label occluded xtl ytl xbr ybr z_order>``: coordinates with two decimals when that is
  exact (as CVAT writes them), else the shortest decimal that reads back to the same float;
  flags as ``<attribute>`` children (``true``) when set.

Scores (detections) are written as a ``score`` attribute of each box.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cvpipe.errors import InputError
from cvpipe.formats.images import check_images_mode, decimal_text, place_image, unique_names

from .layout import ANNOTATIONS_FILE, IMAGES_DIR, data_element

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["write_cvat", "coord_text"]

_FLAGS = ("difficult", "truncated", "iscrowd")


#: a coordinate as CVAT writes it (``58.00``) when two decimals are exact, else the shortest
#: decimal that reads back to the same float
coord_text = decimal_text


def _label_element(parent, name: str, stored: dict | None, attrs: dict[str, str]):
    from lxml import etree

    if stored is not None:
        el = data_element(parent, stored)
    else:
        el = etree.SubElement(parent, "label")
        etree.SubElement(el, "name").text = name
        etree.SubElement(el, "type").text = "rectangle"
    holder = el.find("attributes")
    if holder is None:
        holder = etree.SubElement(el, "attributes")
    have = {(a.findtext("name") or "").strip() for a in holder.iterfind("attribute")}
    for an, kind in attrs.items():
        if an in have:
            continue
        a = etree.SubElement(holder, "attribute")
        etree.SubElement(a, "name").text = an
        etree.SubElement(a, "mutable").text = "False"
        etree.SubElement(a, "input_type").text = kind
        etree.SubElement(a, "default_value").text = "false" if kind == "checkbox" else ""
        etree.SubElement(a, "values").text = "false\ntrue" if kind == "checkbox" else ""
    return el


def write_cvat(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
               keep_difficult: bool = True, task_name: str | None = None) -> dict:
    """Write ``dataset`` into the folder ``dst`` as ``annotations.xml`` and ``images/``.

    ``keep_difficult``: CVAT keeps the flag (a checkbox attribute), so difficult boxes are written
    unless this is False (then left out and counted). ``task_name`` defaults to the source task's
    name, else ``dst``'s folder name. ``dst`` appears whole or not at all; image names are
    confined to ``dst/images``.

    Returns ``{"images", "boxes", "skipped": {"difficult": n}, "shapes": n}``.
    """
    from lxml import etree

    from cvpipe.fsutil import atomic_dir, safe_join

    check_images_mode(images)
    samples = list(dataset.samples)
    names = [rel for _, rel, _ in unique_names(dataset, samples, known_key="cvat_name")]
    for c in dataset.categories:
        if not str(c).strip():
            raise InputError("empty category name", field="categories", value=c, expected="a label name")
    # attributes each label's boxes carry (CVAT refuses undeclared ones)
    used: dict[int, dict[str, str]] = {}
    for s in samples:
        for j in range(len(s)):
            d = used.setdefault(int(s.labels[j]), {})
            for f in _FLAGS:
                if getattr(s, f)[j]:
                    d.setdefault(f, "checkbox")
            for an in (s.box_extra[j].get("attributes") or {}):
                d.setdefault(str(an), "text")
    stored = dataset.meta.get("cvat_labels") if isinstance(dataset.meta.get("cvat_labels"), dict) else {}
    root = etree.Element("annotations")
    etree.SubElement(root, "version").text = "1.1"
    meta = etree.SubElement(root, "meta")
    task = etree.SubElement(meta, "task")
    etree.SubElement(task, "name").text = task_name or dataset.meta.get("cvat_task_name") or Path(dst).name
    etree.SubElement(task, "size").text = str(len(samples))
    etree.SubElement(task, "mode").text = "annotation"
    etree.SubElement(task, "overlap").text = "0"
    labels_el = etree.SubElement(task, "labels")
    for k, c in enumerate(dataset.categories):
        _label_element(labels_el, str(c), stored.get(c), used.get(k, {}))
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0}, "shapes": 0}
    with atomic_dir(Path(dst)) as tmp:
        for ident, (s, rel) in enumerate(zip(samples, names)):
            im = etree.SubElement(root, "image", {"id": str(ident), "name": rel, "width": str(s.width),
                                                  "height": str(s.height)})
            if s.split is not None:
                im.set("subset", str(s.split))
            for j in range(len(s)):
                if s.difficult[j] and not keep_difficult:
                    report["skipped"]["difficult"] += 1
                    continue
                bx = s.box_extra[j]
                x1, y1, x2, y2 = s.boxes[j].tolist()
                attrib = {"label": str(dataset.categories[int(s.labels[j])]),
                          "occluded": str(int(bool(bx.get("occluded", 0))))}
                for a, v in (bx.get("cvat_attrib") or {}).items():
                    if a not in attrib and a != "score":
                        attrib[str(a)] = str(v)
                attrib.update({"xtl": coord_text(x1), "ytl": coord_text(y1), "xbr": coord_text(x2),
                               "ybr": coord_text(y2), "z_order": str(int(bx.get("z_order", 0)))})
                if s.scores is not None:
                    attrib["score"] = repr(float(s.scores[j]))
                box = etree.SubElement(im, "box", attrib)
                for f in _FLAGS:
                    if getattr(s, f)[j]:
                        etree.SubElement(box, "attribute", {"name": f}).text = "true"
                for an, av in (bx.get("attributes") or {}).items():
                    etree.SubElement(box, "attribute", {"name": str(an)}).text = str(av)
                report["boxes"] += 1
            for shape in (s.extra.get("cvat") or {}).get("shapes") or []:
                data_element(im, shape)
                report["shapes"] += 1
            if images != "none":
                place_image(dataset.image_path(s), safe_join(tmp / IMAGES_DIR, rel), images)
            report["images"] += 1
        (tmp / ANNOTATIONS_FILE).write_bytes(
            etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="utf-8"))
    return report
