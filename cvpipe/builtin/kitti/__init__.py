"""KITTI 2D object labels, read and written (a built-in format plugin).

Layout on disk (the KITTI object benchmark's, one folder per split)::

    dataset/
      training/                 a split folder (any name; a dataset may also be just one)
        image_2/000000.png      the images
        label_2/000000.txt      one line per object:
                                type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry [score]

See :mod:`.reader` and :mod:`.writer` for the rules.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar

from .layout import detect_kitti
from .reader import read_kitti
from .writer import write_kitti

__all__ = ["read_kitti", "write_kitti", "detect_kitti"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("kitti", reader=read_kitti, writer=write_kitti, detect=detect_kitti,
             description="KITTI 2D object labels (label_2/*.txt, image_2/)")
