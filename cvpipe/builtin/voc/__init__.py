"""Pascal VOC XML, the built-in plugin: registration here, the work split by role in
:mod:`.layout` (where things are, detection), :mod:`.reader`, :mod:`.writer`, :mod:`.stream` (the
writer part by part, for ``convert --executor``) and :mod:`.to_yolo` (the streaming VOC -> YOLO
converter behind hook ``cvpipe_convert``).

Layout (``path`` given to :func:`read_voc`):

* a VOCdevkit year folder: ``Annotations/*.xml`` (sub-folders allowed), images in
  ``JPEGImages/``, optional split lists ``ImageSets/Main/<split>.txt`` (``#`` comment lines and
  blank lines skipped; an image a list names without an XML file is an image without objects,
  sized from its header and counted in the notes; an id two lists name is in both splits); the
  lower-case ``annotations/`` + ``images/`` of Kaggle datasets likewise;
* a plain folder of XML files, images beside them (or in ``images_dir``);
* a single XML file, its image beside it or in the devkit's ``../JPEGImages/``.

Schema: every field is kept for a lossless round trip. Per image ``Sample.extra`` holds
``folder``, ``source``, ``owner`` (dicts), ``segmented``, ``depth`` (ints) and ``voc_fields``
(any other element, as nested dicts/lists of stripped strings); per object ``box_extra`` holds
``pose``, ``occluded``, ``parts`` (person layout: ``[{"name": "head", "bndbox": [x1, y1, x2, y2],
...}]``, never mistaken for the object's own box) and ``voc_fields``. ``truncated`` and
``difficult`` (absent means 0) go to the Sample flags, ``<score>`` (detections) to
``Sample.scores``. Values may carry whitespace and be floats. Where each sample and object came
from (file, line, field) is recorded in ``Sample.origin`` / ``Sample.box_origins``.

Pixel convention: ``pixel_convention="raw"`` (default, like datumaro and globox) takes the numbers
as they are: ``<xmin>48</xmin>`` is x = 48.0 in cvpipe's absolute xyxy. ``"one_based"`` (like
supervision and Ultralytics' VOC script) subtracts 1 from all four coordinates on reading and adds
1 on writing. Either way a VOC -> VOC round trip returns the original numbers.

Categories: when every object name is one of Pascal VOC's twenty classes, the names present in
:data:`VOC_CLASSES` order; otherwise the names present sorted alphabetically; ``classes`` fixes the
order (a name it lacks is a problem).

Crowd boxes (from COCO) are written only on request, as ``<iscrowd>1</iscrowd>``, and read back.

Numbers written carry no float noise: a coordinate within the source's precision of an integer
(``Dataset.meta["coordinate_precision"]``, e.g. YOLO's last decimal; at most 0.01 px) is written
as that integer (``174``, not ``174.00015000000002``), any other as the shortest decimal that
reads back to it (:func:`cvpipe.formats.numbers.clean_number_text`). One image in two splits
with one annotation is written once and listed in both split lists.

Safety: XML is parsed by :func:`cvpipe.formats.xml.parse_xml_file` (no entities, no DTD, no
network; any ``<!DOCTYPE``/``<!ENTITY`` refused before parsing). File names from annotations go
through :func:`cvpipe.fsutil.safe_relpath`.

Fast path: :func:`convert_voc_to_yolo` streams VOC -> YOLO over a process pool without numpy,
giving the files, report and errors of the general conversion.
"""

from __future__ import annotations

from pathlib import Path

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar
from cvpipe.data.categories import VOC_CLASSES, voc_categories

from .layout import detect_voc
from .reader import read_voc
from .sharding import SHARDING
from .to_yolo import convert_voc_to_yolo
from .writer import annotation_xml, write_voc

__all__ = [
    "VOC_CLASSES",
    "read_voc",
    "write_voc",
    "annotation_xml",
    "detect_voc",
    "convert_voc_to_yolo",
    "voc_categories",
]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("voc", reader=read_voc, writer=write_voc, detect=detect_voc, sharding=SHARDING,
             description="Pascal VOC XML (VOCdevkit layout or a folder of XML files)")


@hookimpl
def cvpipe_convert(src, dst, src_format, dst_format, options):
    """VOC -> YOLO through the streaming converter (None for other pairs, or to decline)."""
    if (src_format, dst_format) != ("voc", "yolo"):
        return None
    from .to_yolo import stream_voc_to_yolo

    return stream_voc_to_yolo(Path(src), Path(dst), options)
