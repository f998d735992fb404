"""CVAT for images 1.1 XML, read and written (a built-in format plugin).

Layout on disk (what CVAT's "CVAT for images 1.1" export holds)::

    dataset/
      annotations.xml      <annotations><version>1.1</version><meta>...</meta><image .../>...
      images/              the image files (optional: --images-dir points elsewhere)

``read_cvat`` also takes the XML file itself. See :mod:`.reader` and :mod:`.writer` for the
schema kept and written.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar

from .layout import detect_cvat
from .reader import read_cvat
from .writer import write_cvat

__all__ = ["read_cvat", "write_cvat", "detect_cvat"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format("cvat", reader=read_cvat, writer=write_cvat, detect=detect_cvat,
             description="CVAT for images 1.1 XML (annotations.xml, images/)")
