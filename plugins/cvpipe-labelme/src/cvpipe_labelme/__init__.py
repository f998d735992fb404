"""cvpipe-labelme: LabelMe JSON annotations as a cvpipe dataset format named ``labelme``.

Installed, it is found through its entry point (group ``cvpipe``) and ``cvpipe convert`` reads
and writes ``labelme``::

    cvpipe convert labelme_dir/ out/ --to voc
    cvpipe convert voc2012/ out/ --to labelme

See :mod:`cvpipe_labelme.labelme` for the layout, the conventions and the options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cvpipe import hookimpl

from .labelme import detect_labelme, read_labelme, write_labelme

if TYPE_CHECKING:
    from cvpipe.contract import FormatRegistrar

__version__ = "0.1.0"

#: The cvpipe hook API this plugin was written for (cvpipe refuses it if that does not match).
CVPIPE_HOOK_API_VERSION = 1

__all__ = ["read_labelme", "write_labelme", "detect_labelme", "cvpipe_register_formats"]


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar):
    register.add_format(
        "labelme",
        reader=read_labelme,
        writer=write_labelme,
        detect=detect_labelme,
        description="LabelMe JSON, one file per image (rectangles and polygons; polygons become boxes)",
    )
