"""YOLO txt labels, the built-in plugin: registration here; the work split by role in :mod:`.layout`
(Ultralytics, darknet/CVAT and split-folder layouts, detection), :mod:`.reader`, :mod:`.writer`
(Ultralytics layout) and :mod:`.predictions` (prediction files for ``cvpipe evaluate``).

Label lines are ``class x_center y_center width height`` normalised by the image size, 0-based
class ids in category order; a 6th value is a confidence (predictions, -> ``Sample.scores``);
a line ``class x1 y1 x2 y2 x3 y3 ...`` (three or more points) is a polygon, read as its enclosing
box (the polygon is kept, in absolute pixels, as ``box_extra["segmentation"] = [[x1, y1, ...]]``
like COCO's). When every polygon of a dataset has 4 points (``class x1 y1 ... x4 y4``, Ultralytics'
OBB format, DOTA) they are oriented boxes: ``box_extra["obb"] = [x1, y1, ..., x4, y4]`` (absolute),
the box their enclosing box (counted in the notes; ``task: obb``/``segment`` in data.yaml decides
instead). A pose dataset (``kpt_shape: [k, d]`` in data.yaml) has ``5 + k*d`` values per line: the
box, then ``k`` keypoints ``x y`` (``d = 2``) or ``x y visibility`` (``d = 3``), kept as
``box_extra["keypoints"] = [x1, y1, (v1,) ...]`` (absolute x and y, visibilities as read). An empty
label file is an image without boxes, and so is an image without one. Image sizes come from the
image files' headers (:func:`cvpipe.formats.images.image_size`).

Tolerances (as Ultralytics'): a normalised value or box edge up to 1% outside [0, 1] is clipped
to the image and counted (``Dataset.meta["notes"]``); farther is a problem.

Layouts read (``path`` is the folder or its ``data.yaml``):

* Ultralytics: ``data.yaml`` (read with cvpipe's budgeted YAML loader) with ``path`` (the dataset
  root: absolute, or relative to the YAML's folder; the YAML's folder when absent, or -- noted --
  when it does not exist), split keys (``train``, ``val``, ``test``, ...; each a folder of images,
  a ``.txt`` list of images, or a list of those; relative to the root; ``../x`` that does not exist
  is read as ``x`` when that exists, as Ultralytics does for Roboflow's ``../train/images``,
  noted), and ``names`` (a list or an ``{id: name}`` map) or ``nc`` alone (names ``class_0``...,
  noted; ``nc`` disagreeing with ``names`` is a problem). Labels of ``.../images/<x>`` are at
  ``.../labels/<x>.txt``. Two split keys naming one folder (Ultralytics' VOC.yaml: ``val`` and
  ``test``) put each of its images in both splits (one sample per split). A split whose image
  folder is absent is read from its label files (images then come from ``images_dir``).
* darknet/CVAT: ``obj.names``, ``obj.data`` (``train = data/train.txt``, ...), image lists with
  paths such as ``data/obj_train_data/x.jpg`` (leading folders that do not exist below the root
  are dropped), labels beside the listed images; without ``obj.data``, CVAT's
  ``obj_<split>_data/`` folders, else every image below the folder with its labels beside it or
  in ``labels/``.
* Roboflow-style split folders without data.yaml: ``train/images`` + ``train/labels``,
  ``valid/...``, ``test/...``; names from ``obj.names``/``classes.txt``/``_darknet.labels``, else
  ``class_<id>`` (noted).

With ``images_dir`` each image is looked up there (by its path below the split folder, then by its
file name with any image extension); ``Dataset.root`` is then ``images_dir``.

Written layout (:func:`write_yolo`): ``images/<split>/<name>``, ``labels/<split>/<stem>.txt`` (an
empty file for an image without boxes) and ``data.yaml`` with the absolute ``path``, the split
keys, always ``train`` and ``val`` (Ultralytics refuses a data.yaml without either: another split's
images stand in, named in ``split_stand_ins`` and in the report's notes, and cvpipe reads them back
once), ``nc``, ``names`` as an ``{id: name}`` map, and ``kpt_shape`` for pose datasets. Keypoints
and oriented boxes are written back from ``box_extra``. Samples without a split go to ``train``
when no sample has one, else to ``unassigned``. Difficult and crowd boxes are left out and counted
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
