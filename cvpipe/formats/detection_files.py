"""Writing detections the way detection tools read them (``cvpipe predict --format``), the one
function every predict path writes through (:func:`write_detections`):

* ``yolo`` -- Ultralytics' ``predict`` layout (``save_txt`` with ``save_conf``)::

      DST/labels/<image stem>.txt    class cx cy w h conf   (relative, 6 decimals; no file: no detections)
      DST/classes.txt                the class names, one per line, in class-id order

  no ``data.yaml`` (there are no images to point it at); ``cvpipe evaluate --dt DST`` reads it back
  (a ``labels/`` folder is read in this layout, ``classes.txt`` naming the ids).
* ``coco`` -- a results list, what pycocotools' ``loadRes``, faster-coco-eval and
  ``cvpipe evaluate`` take::

      DST/results.json   [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]

  ``image_id`` follows Ultralytics' rule: the image's file stem, as an integer when it is all
  digits (COCO names its images by their zero-padded ids: ``000000397133.jpg`` is image 397133);
  ``category_id`` is 1..N in the model's class order (as cvpipe's COCO writer numbers the
  categories of a non-COCO dataset).
* any other format with a writer (``voc``: XML with ``<score>``, a plugin's) -- the format's
  writer with ``images="none"``.

Each is written whole or not at all (built in a temporary sibling of ``DST``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["write_detections", "coco_image_id", "CLASSES_FILE"]

#: the class-name file beside YOLO detection files (as LabelImg writes it beside label files)
CLASSES_FILE = "classes.txt"


def coco_image_id(stem: str) -> int | str:
    """The COCO ``image_id`` of an image with file stem ``stem``: an integer when the stem is all
    ASCII digits (``000000397133`` -> 397133), else the stem."""
    return int(stem) if stem.isascii() and stem.isdigit() else stem


def _unique_stems(dets: "Dataset") -> list[str]:
    """The images' file stems; InputError when two images share one (their files would collide)."""
    seen: dict[str, str] = {}
    for s in dets.samples:
        stem = Path(s.image).stem
        if stem in seen:
            raise InputError("two images have the same file stem", file=s.image, value=stem,
                             expected="unique image names (detections are named by stem)", hint=f"also {seen[stem]}")
        seen[stem] = s.image
    return list(seen)


def write_detections(dets: "Dataset", dst: Path, fmt: str) -> dict[str, Any]:
    """Write the detections ``dets`` (``Sample.scores`` set) into the folder ``dst`` in ``fmt``
    (layouts: see the module docstring); returns ``{"images", "boxes", "files", "format"}``
    (plus the writer's report for formats written by their writer)."""
    from ..fsutil import atomic_dir, safe_relpath
    from .io import write_dataset

    dst = Path(dst)
    if fmt not in ("yolo", "coco"):
        report = write_dataset(dets, dst, fmt, images="none")
        return {"images": len(dets), "boxes": dets.num_boxes, "format": fmt, "writer": report}
    stems = _unique_stems(dets)
    for stem in stems:
        safe_relpath(stem, field="image")
    files = 0
    with atomic_dir(dst) as tmp:
        if fmt == "yolo":
            from .yolo_text import yolo_box_text

            (tmp / "labels").mkdir()
            for s, stem in zip(dets.samples, stems):
                if not len(s):
                    continue
                lines = [f"{int(lab)} {yolo_box_text(*box, s.width, s.height, 6)} {score:.6f}"
                         for box, lab, score in zip(s.boxes.tolist(), s.labels, s.scores)]
                (tmp / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                files += 1
            (tmp / CLASSES_FILE).write_text("".join(f"{c}\n" for c in dets.categories), encoding="utf-8")
        else:
            results = []
            for s, stem in zip(dets.samples, stems):
                iid = coco_image_id(stem)
                for (x1, y1, x2, y2), lab, score in zip(s.boxes.tolist(), s.labels, s.scores):
                    results.append({"image_id": iid, "category_id": int(lab) + 1,
                                    "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
            (tmp / "results.json").write_text(json.dumps(results), encoding="utf-8")
            files = 1
    return {"images": len(dets), "boxes": dets.num_boxes, "files": files, "format": fmt}
