"""Open Images V7 boxes CSV (with class descriptions), read and written (a built-in plugin).

Layout on disk (Open Images' own file names; CVAT's and datumaro's Open Images layout)::

    dataset/
      annotations/
        <split>-annotations-bbox.csv          ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,
                                              IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside
        <split>-images-with-rotation.csv      the split's images (those without boxes too)
        class-descriptions.csv                LabelName,DisplayName (MID -> name; header optional)
        bbox_labels_600_hierarchy.json        written (flat) for tools that need it; not read
      images/<split>/<ImageID>.jpg

The downloads' names (``oidv6-train-annotations-bbox.csv``, ``validation-annotations-bbox.csv``,
``oidv7-class-descriptions-boxable.csv``, ...) are read too, in ``annotations/`` or beside the
images. See :mod:`.reader` and :mod:`.writer`.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar

from .layout import detect_openimages
from .reader import read_openimages
from .writer import write_openimages

__all__ = ["read_openimages", "write_openimages", "detect_openimages"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("openimages", reader=read_openimages, writer=write_openimages, detect=detect_openimages,
             description="Open Images V7 boxes CSV + class descriptions (annotations/, images/<split>/)")
