"""The data model every format speaks, and what works on it without any file format.

* :mod:`cvpipe.data.model`: :class:`Dataset`, :class:`Sample` and :class:`Origin` (where a sample
  or a box came from, kept beside the data);
* :mod:`cvpipe.data.boxes`: box formats and their conversions (one function per conversion);
* :mod:`cvpipe.data.checks`: THE box and image-size checks (one tolerance for every format);
* :mod:`cvpipe.data.categories`: category order (classes files, Pascal VOC's canonical order).

``from cvpipe.data import Dataset, Sample, Origin`` works; the model (numpy) is imported on first
use so that ``checks`` and ``categories`` stay light for the streaming converters.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Dataset", "Sample", "Origin"]


def __getattr__(name: str) -> Any:
    if name in ("Origin", "Locator"):
        from . import origin as module
    elif name in ("Dataset", "Sample"):
        from . import model as module
    else:
        raise AttributeError(f"module 'cvpipe.data' has no attribute {name!r}")
    value = globals()[name] = getattr(module, name)  # bound here: later imports skip this hook
    return value
