"""Write a :class:`~cvpipe.data.Dataset` as a Label Studio JSON export (``rectanglelabels``).

Written into ``dst``: ``tasks.json`` (importable in Label Studio, and read by
label-studio-converter), ``images/<name>`` and ``labeling_config.xml`` (the labelling interface
the tasks fit: an ``Image`` named ``image`` and ``RectangleLabels`` named ``label`` with every
category, Label Studio's object-detection template). Each task is ``{"id", "data": {"image":
"/data/local-files/?d=images/<name>", ...}, "annotations": [{"result": [...]}]}``; ground truth
goes to ``annotations``, detections (a dataset with scores) to ``predictions`` with a ``score``
per result. A result holds ``original_width``/``original_height`` and ``value`` ``{x, y, width,
height, rotation: 0, rectanglelabels: [name]}`` in percent of the image size. Results kept from a
Label Studio source (their ids, ``from_name``/``to_name``, non-rectangle results, other ``data``
fields) are written back.

Difficult and crowd boxes are left out and counted unless ``keep_difficult`` / ``keep_crowd``
(Label Studio has no such flags).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from cvpipe.formats.images import check_images_mode, place_image, unique_names

from .layout import IMAGES_DIR, LOCAL_FILES, TASKS_FILE

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["write_label_studio", "labeling_config"]

CONFIG_FILE = "labeling_config.xml"


def labeling_config(categories, from_name: str = "label", to_name: str = "image") -> bytes:
    """The labelling configuration (XML) for rectangles of ``categories`` on ``$image``."""
    from lxml import etree

    view = etree.Element("View")
    etree.SubElement(view, "Image", {"name": to_name, "value": "$image"})
    rl = etree.SubElement(view, "RectangleLabels", {"name": from_name, "toName": to_name})
    for c in categories:
        etree.SubElement(rl, "Label", {"value": str(c)})
    return etree.tostring(view, pretty_print=True, encoding="utf-8")


def write_label_studio(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
                       keep_difficult: bool = False, keep_crowd: bool = False,
                       url_prefix: str = LOCAL_FILES + IMAGES_DIR + "/", indent: int | None = 2) -> dict:
    """Write ``dataset`` into the folder ``dst`` (see the module docstring).

    ``url_prefix`` + the URL-quoted image name is each task's ``data.image`` (default: served by a
    Label Studio local storage whose root is ``dst``). ``dst`` appears whole or not at all.

    Returns ``{"images", "boxes", "skipped": {"difficult": n, "crowd": m}}``.
    """
    from cvpipe.fsutil import atomic_dir, safe_join

    check_images_mode(images)
    samples = list(dataset.samples)
    rels = [rel for _, rel, _ in unique_names(dataset, samples)]
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}}
    tasks = []
    for t, (s, rel) in enumerate(zip(samples, rels)):
        kept = (s.extra.get("label_studio") or {}) if isinstance(s.extra.get("label_studio"), dict) else {}
        data = dict(kept.get("data") or {}) if isinstance(kept.get("data"), dict) else {}
        data["image"] = url_prefix + quote(rel, safe="/")
        result = []
        for j in range(len(s)):
            if s.difficult[j] and not keep_difficult:
                report["skipped"]["difficult"] += 1
                continue
            if s.iscrowd[j] and not keep_crowd:
                report["skipped"]["crowd"] += 1
                continue
            x1, y1, x2, y2 = (float(v) for v in s.boxes[j])
            ls = s.box_extra[j].get("label_studio") if isinstance(s.box_extra[j].get("label_studio"), dict) else {}
            r: dict[str, Any] = {
                "id": str(ls.get("id") or f"t{t + 1}b{j + 1}"), "type": "rectanglelabels",
                "from_name": ls.get("from_name", "label"), "to_name": ls.get("to_name", "image"),
                "original_width": s.width, "original_height": s.height, "image_rotation": 0,
                # multiplied before dividing: 101 px of 500 is 20.2%, not 20.200000000000003%
                "value": {"x": x1 * 100.0 / s.width, "y": y1 * 100.0 / s.height,
                          "width": (x2 - x1) * 100.0 / s.width, "height": (y2 - y1) * 100.0 / s.height,
                          "rotation": 0, "rectanglelabels": [str(dataset.categories[int(s.labels[j])])]},
            }
            for k in ("origin", "meta", "parentID"):
                if k in ls:
                    r[k] = ls[k]
            if s.scores is not None:
                r["score"] = float(s.scores[j])
            result.append(r)
        report["boxes"] += len(result)
        result += list(kept.get("other_results") or [])
        task: dict[str, Any] = {"id": s.id if isinstance(s.id, int) and not isinstance(s.id, bool) else t + 1,
                                "data": data}
        if s.scores is not None:
            scored = [r["score"] for r in result if "score" in r]
            task["predictions"] = [{"model_version": "cvpipe", "result": result,
                                    "score": sum(scored) / len(scored) if scored else 0.0}]
        else:
            task["annotations"] = [{"result": result, "was_cancelled": False, "ground_truth": False}]
        tasks.append(task)
    used_ids = [t["id"] for t in tasks]
    if len(set(used_ids)) != len(used_ids):  # ids must be unique in one export
        for t, task in enumerate(tasks):
            task["id"] = t + 1
    with atomic_dir(Path(dst)) as tmp:
        for s, rel in zip(samples, rels):
            if images != "none":
                place_image(dataset.image_path(s), safe_join(tmp / IMAGES_DIR, rel), images)
            report["images"] += 1
        (tmp / TASKS_FILE).write_text(json.dumps(tasks, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / CONFIG_FILE).write_bytes(labeling_config(dataset.categories))
    return report
