"""Numbers as annotation text writes them, parsed strictly: ASCII decimal only.

Python's ``int()`` and ``float()`` accept more than any annotation tool writes -- ``+1``,
``0_0``, ``1_000.5``, Arabic-Indic digits (``\u0661``), ``nan``, ``infinity``, surrounding
whitespace -- so a reader built on them accepts garbage silently. Readers of text formats
(YOLO labels and predictions, VOC XML values) parse through these functions instead.
"""

from __future__ import annotations

import re

__all__ = ["parse_index", "parse_decimal", "INDEX_TEXT", "DECIMAL_TEXT"]

#: a class id: ASCII digits, no sign, no separators
INDEX_TEXT = "ASCII digits 0-9 (a class id such as 0 or 12)"
#: a coordinate or score: an optional minus, ASCII digits with one optional point, an optional exponent
DECIMAL_TEXT = "a decimal number such as 0.5, 12 or 1e-3 (ASCII digits)"

_INDEX = re.compile(r"[0-9]+\Z")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")


def parse_index(text: str) -> int | None:
    """The non-negative integer ``text`` spells in ASCII digits (``"12"`` -> 12), else None
    (``"+1"``, ``"-0"``, ``"0_0"``, ``"1.0"``, ``"\u0661"``, ``" 1"``)."""
    return int(text) if _INDEX.match(text) else None


def parse_decimal(text: str) -> float | None:
    """The finite float ``text`` spells as an ASCII decimal (``"0.5"``, ``"-3"``, ``"1e-3"``,
    surrounding whitespace allowed), else None (``"1_0"``, ``"nan"``, ``"inf"``, ``"0x1"``,
    non-ASCII digits, or a value overflowing to infinity such as ``"1e999"``)."""
    t = text.strip()
    if not _DECIMAL.match(t):
        return None
    v = float(t)
    return v if v not in (float("inf"), float("-inf")) else None
