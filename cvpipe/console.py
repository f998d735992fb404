"""Output for people (aligned tables) and machines (JSON), shared by every command."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO

__all__ = ["format_table", "print_table", "print_json"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def format_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as a plain-text table with a header rule; numbers right-aligned, floats to 4 places."""
    rows = [[_cell(v) for v in r] for r in rows]
    raw = list(rows)
    widths = [len(h) for h in headers]
    for r in raw:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))

    def is_num(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if is_num(c) else c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in raw]
    return "\n".join(out)


def print_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], file: TextIO | None = None) -> None:
    print(format_table(rows, headers), file=file or sys.stdout)


def print_json(data: Any, file: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), file=file or sys.stdout)
