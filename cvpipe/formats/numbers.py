"""Numbers as annotation text writes them, parsed strictly: ASCII decimal only.

Python's ``int()`` and ``float()`` accept more than any annotation tool writes -- ``+1``,
``0_0``, ``1_000.5``, Arabic-Indic digits (``\u0661``), ``nan``, ``infinity``, surrounding
whitespace -- so a reader built on them accepts garbage silently. Readers of text formats
(YOLO labels and predictions, VOC XML values) parse through these functions instead.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_index", "parse_decimal", "clean_number_text", "INDEX_TEXT", "DECIMAL_TEXT"]

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


def clean_number_text(v: float, tolerance: float = 0.0) -> str:
    """``v`` as text without float noise (``174.00015000000002`` -> ``174.00015``).

    An integer (``174``) when ``v`` is within ``tolerance`` (the source format's precision, in
    the unit of ``v``; 0 when unknown) or within float noise of one; otherwise the shortest
    decimal that reads back to ``v`` up to float noise. Float noise: 64 units in the last place of
    ``v`` (what a few additions and multiplications of values exact on paper leave), and for the
    integer test at least 1e-9 (``5.5e-17`` is 0). ``-0`` is written ``0``.
    """
    v = float(v)
    if not abs(v) < 1e15:
        return repr(v)
    noise = 64 * math.ulp(v)
    r = round(v)
    if abs(v - r) <= max(tolerance, noise, 1e-9):
        return str(int(r))
    for k in range(1, 18):
        t = f"{v:.{k}f}"
        if abs(float(t) - v) <= noise:
            return t
    return repr(v)
