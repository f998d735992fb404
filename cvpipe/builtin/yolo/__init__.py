"""YOLO txt labels, the built-in plugin: registration here; the work split by role in :mod:`.layout`
(Ultralytics and darknet/CVAT layouts, detection), :mod:`.reader`, :mod:`.writer` (Ultralytics
layout) and :mod:`.predictions` (prediction files for ``cvpipe evaluate``).

Label lines are ``class x_center y_center width height`` normalised by the image size, 0-based
class ids in category order; a 6th value is a confidence (predictions, -> ``Sample.scores``);
a line ``class x1 y1 x2 y2 x3 y3 ...`` (three or more points) is a polygon, read as its enclosing
box (the polygon is kept, in absolute pixels, as ``box_extra["segmentation"] = [[x1, y1, ...]]``
like COCO's). An empty label file is an image without boxes, and so is an image without one.
Image sizes come from the image files' headers (:func:`cvpipe.formats.images.image_size`).

Layouts read (``path`` is the folder or its ``data.yaml``):

* Ultralytics: ``data.yaml`` (read with cvpipe's budgeted YAML loader) with ``path`` (the dataset root;
  relative to the YAML's folder, which is also used when ``path`` is absent or does not exist),
  split keys (``train``, ``val``, ``test``, ...; each a folder of images, a ``.txt`` list of
  images, or a list of those) and ``names`` (a list or an ``{id: name}`` map). Labels of
  ``.../images/<x>`` are at ``.../labels/<x>.txt``. A split whose image folder is absent is read
  from its label files (images then come from ``images_dir``).
* darknet/CVAT: ``obj.names``, ``obj.data`` (``train = data/train.txt``, ...), image lists with
  paths such as ``data/obj_train_data/x.jpg`` (leading folders that do not exist below the root
  are dropped), labels beside the listed images.

With ``images_dir`` each image is looked up there (by its path below the split folder, then by its
file name with any image extension); ``Dataset.root`` is then ``images_dir``.

Written layout (:func:`write_yolo`): ``images/<split>/<name>``, ``labels/<split>/<stem>.txt`` (an
empty file for an image without boxes) and ``data.yaml`` with the absolute ``path``, the split
keys, ``nc`` and ``names`` as an ``{id: name}`` map. Samples without a split go to ``train`` when
no sample has one, else to ``unassigned``. Difficult and crowd boxes are left out and counted
unless ``keep_difficult`` / ``keep_crowd``. Coordinates are written with ``decimals`` places.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar

from .layout import detect_yolo
from .predictions import read_yolo_detections, read_yolo_predictions
from .reader import read_yolo
from .sharding import SHARDING
from .writer import write_yolo

__all__ = ["read_yolo", "write_yolo", "detect_yolo", "read_yolo_predictions", "read_yolo_detections"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("yolo", reader=read_yolo, writer=write_yolo, detect=detect_yolo, read_predictions=read_yolo_detections, sharding=SHARDING,
             description="YOLO txt labels (Ultralytics data.yaml layout; darknet obj.names read)")
