"""COCO, the built-in plugin: instances JSON (ground truth) and the results form (detections).
Registration here; the work split by role in :mod:`.layout`, :mod:`.reader`, :mod:`.writer`,
:mod:`.results` (detections) and :mod:`.to_yolo` (the direct COCO -> YOLO converter).

On disk (what the reader accepts and the writer produces)::

    DST/annotations/instances_<split>.json
    DST/images/<split>/<file_name>            # file_name may contain sub-folders

The reader also takes a single JSON file, or a folder holding ``instances_*.json`` directly.
Images are looked up under ``images/<split>/``, ``<split>/``, ``images/`` (beside the
``annotations`` folder) or the JSON file's folder, the first that holds them; ``images_dir``
overrides (the folder itself, or its ``<split>/`` sub-folder when that is where they are).

Boxes: COCO ``bbox`` is float ``[x, y, w, h]`` in pixels; cvpipe's xyxy is
``x1 = x, y1 = y, x2 = x + w, y2 = y + h`` (no pixel shift). The original ``bbox`` list is kept in
``box_extra["bbox"]`` and written back unchanged while the box still equals it, so COCO -> COCO
is exact to the last bit; other paths are exact to float precision.

Lossless round trips: categories keep their (arbitrary, non-contiguous) ids and supercategories
(``Dataset.meta["coco"]["categories"]``); every other image key (``license``, ``coco_url``, ...)
goes to ``Sample.extra`` and every other annotation key (``id``, ``area``, ``segmentation``,
``attributes``, ...) to ``box_extra``; ``info``, ``licenses`` and unknown top-level keys go to
``Dataset.meta["coco"]``. Category order in the Dataset is by category id (as pycocotools'
``getCatIds``).

Splits: ``instances_<split>.json`` is split ``<split>``; another file name gives no split, and
the writer puts samples without a split in ``instances_default.json``. COCO has no difficult
flag: difficult boxes are left out unless ``keep_difficult`` (then written with
``attributes.difficult: true``, which the reader reads back); crowd boxes are kept (``iscrowd``).

COCO -> YOLO: :func:`convert_coco_to_yolo` writes the same bytes as the general path without
building a Dataset (typed msgspec decoding that skips segmentations, vectorised checks); it
declines (returns None) on anything irregular, so the general path names the problems.

Problems name the file and the JSON path (``annotations[17].bbox``), plus the line of the
offending object when the file is pretty-printed (found by a scan run only when there is a
problem). Malformed JSON is reported with its line and column.

Detections: :func:`read_coco_results` reads the results form (``[{image_id, category_id, bbox,
score}]``) against a reference ground-truth dataset; :func:`to_coco_dict` and
:func:`to_coco_results` build the in-memory dicts pycocotools takes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ... import hookimpl
from ...contract import FormatRegistrar
from .layout import DEFAULT_SPLIT, detect
from .reader import read_coco
from .results import read_coco_predictions, read_coco_results, to_coco_results
from .to_yolo import convert_coco_to_yolo
from .writer import to_coco_dict, write_coco

__all__ = ["detect", "read_coco", "write_coco", "read_coco_results", "read_coco_predictions", "to_coco_dict",
           "to_coco_results", "convert_coco_to_yolo", "DEFAULT_SPLIT"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    from .stream import SHARDING

    register.add_format("coco", reader=read_coco, writer=write_coco, detect=detect, read_predictions=read_coco_predictions,
             sharding=SHARDING, description="COCO instances JSON (annotations/instances_<split>.json, images/<split>/)")


#: the options of hook ``cvpipe_convert`` the COCO -> YOLO converter takes (others: decline)
_DIRECT_OPTIONS = {"classes", "classes_file", "keep_difficult", "images", "splits", "images_dir", "skip_invalid",
                   "progress"}


@hookimpl
def cvpipe_convert(src, dst, src_format, dst_format, options):
    """COCO -> YOLO without building a Dataset (None for other pairs, or to decline). The
    converter runs on plainly valid input only, so ``skip_invalid`` changes nothing."""
    if (src_format, dst_format) != ("coco", "yolo"):
        return None
    if any(k not in _DIRECT_OPTIONS and v not in (None, False) for k, v in options.items()):
        return None
    from ...formats import conversion_report

    written = convert_coco_to_yolo(Path(src), Path(dst), classes=options.get("classes"),
                                   keep_difficult=bool(options.get("keep_difficult")),
                                   images=options.get("images", "copy"), splits=options.get("splits"),
                                   images_dir=options.get("images_dir"))
    return None if written is None else conversion_report(written, Counter(), 0)
