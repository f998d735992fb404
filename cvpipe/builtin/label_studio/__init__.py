"""Label Studio JSON export (``rectanglelabels``), read and written (a built-in format plugin).

Layout on disk::

    dataset/
      tasks.json           the JSON export: [{"data": {"image": ...}, "annotations": [{"result": [...]}]}]
      images/              the image files (written as /data/local-files/?d=images/<name>)

``read_label_studio`` also takes the JSON file itself (Label Studio names it
``project-<id>-at-<date>.json``). See :mod:`.reader` and :mod:`.writer`.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar

from .layout import detect_label_studio
from .reader import read_label_studio
from .writer import write_label_studio

__all__ = ["read_label_studio", "write_label_studio", "detect_label_studio"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("label_studio", reader=read_label_studio, writer=write_label_studio, detect=detect_label_studio,
             description="Label Studio JSON export, rectanglelabels (tasks.json, images/)")
