"""The toolkit for format authors and the jobs every format shares.

Formats themselves are plugins registered through ``cvpipe_register_formats`` (see
:mod:`cvpipe.hookspecs`); this package finds, reads, checks, validates, converts and writes them,
and gives readers and writers what they share, split by job:

* :mod:`.lookup` -- :func:`get_format`, :func:`detect_format` (which registered format a path holds);
* :mod:`.io` -- :func:`read_dataset` / :func:`write_dataset` with the format's options checked
  against its signature, and the readers' problem contract :func:`raise_or_collect`;
* :mod:`.check` -- :func:`check_dataset`, the checks common to every format (image sizes, duplicate
  images and ids, missing images, boxes through :mod:`cvpipe.data.checks`), each problem placed at
  the :class:`~cvpipe.data.Origin` the reader recorded;
* :mod:`.validate` / :mod:`.convert` -- what ``cvpipe validate`` and ``cvpipe convert`` run
  (plugins' direct converters, hook ``cvpipe_convert``, first);
* :mod:`.xml` -- hardened XML parsing (no entities, no network, DOCTYPE refused);
* :mod:`.json` -- JSON loading with line numbers for problems;
* :mod:`.images` -- image sizes from headers, where a layout keeps its images, output names;
* :mod:`.yolo_text` -- YOLO label lines, label names, split folders and ``data.yaml``;
* category order lives in :mod:`cvpipe.data.categories` (re-exported here).
"""

from __future__ import annotations

from ..data.categories import order_categories, read_classes_file
from .check import check_dataset, problem_reason
from .convert import MAX_LISTED_PROBLEMS, conversion_report, convert_dataset, refuse_conversion
from .images import find_images_dir, image_names
from .io import bind_options, raise_or_collect, read_dataset, write_dataset
from .lookup import detect_format, get_format
from .validate import validate_dataset

__all__ = [
    "detect_format",
    "get_format",
    "read_dataset",
    "write_dataset",
    "bind_options",
    "raise_or_collect",
    "check_dataset",
    "problem_reason",
    "read_classes_file",
    "order_categories",
    "find_images_dir",
    "image_names",
    "validate_dataset",
    "convert_dataset",
    "refuse_conversion",
    "conversion_report",
    "MAX_LISTED_PROBLEMS",
]
