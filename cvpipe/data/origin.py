"""Where data came from: :class:`Origin` (file, line, field of a sample or a box) and the
:data:`Locator` a reader may leave to find lines lazily. No numpy: streaming readers use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Origin", "Locator"]

#: ``(file, field) -> line | None``: a reader's lazy way to find the line of a field (e.g. COCO's
#: ``annotations[17]``), asked only for the problems found.
Locator = Callable[[str | None, str | None], int | None]


@dataclass(frozen=True)
class Origin:
    """Where a sample or a box was read from, to name the place of a problem.

    Attributes:
        file: the annotation file (or folder) it came from, or None.
        line: 1-based line in ``file``, or None (unknown, or left to :attr:`Dataset.locate`).
        field: the field path inside ``file`` (``object[2].bndbox``, ``annotations[17]``), or None.
    """

    file: str | None = None
    line: int | None = None
    field: str | None = None
