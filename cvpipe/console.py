"""Output for people (aligned tables, problem lists summarised per kind) and machines (JSON),
shared by every command."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO

__all__ = ["format_table", "print_table", "print_json", "problem_lines", "error_lines", "MAX_PER_KIND"]

#: at most this many problems of one kind (one message) are listed; the rest are counted
MAX_PER_KIND = 20


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


def problem_lines(problems: Sequence[Any], *, per_kind: int = MAX_PER_KIND, more: str | None = None) -> list[str]:
    """``problems`` (:class:`cvpipe.errors.Problem`) as lines for people, in their order, a flood
    summarised: at most ``per_kind`` lines per kind of problem (its message), the first one
    beyond them replaced by ``... and 1,149 more like this`` (then ``more``, e.g. ``(all in
    --json)``), and when any kind was cut, a final count per kind (``1,169 box is inverted``,
    most frequent first). Without a flood the lines are ``str(problem)`` each, nothing added."""
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.message] = counts.get(p.message, 0) + 1
    shown: dict[str, int] = {}
    out: list[str] = []
    for p in problems:
        k = shown.get(p.message, 0)
        shown[p.message] = k + 1
        if k < per_kind:
            out.append(str(p))
        elif k == per_kind:
            out.append(f"... and {counts[p.message] - per_kind:,} more like this" + (f" {more}" if more else ""))
    if any(n > per_kind for n in counts.values()):
        width = len(f"{max(counts.values()):,}")
        out.append(f"{len(problems):,} problems by kind:")
        out += [f"  {n:>{width},}  {m}" for m, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return out


def error_lines(error: Any) -> list[str]:
    """The lines a :class:`cvpipe.errors.CvpipeError` is printed as: ``str(error)`` (its one
    problem, or ``N problems:`` and each indented), a flood summarised by :func:`problem_lines`
    (with the error's ``more_hint``, when it has one, after each ``... more like this``, and its
    ``head``, when it has one, before ``N problems:``)."""
    problems = list(error.problems)
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.message] = counts.get(p.message, 0) + 1
    if not counts or max(counts.values()) <= MAX_PER_KIND:  # no flood: as the error words itself
        return str(error).splitlines() or [""]
    lines = problem_lines(problems, more=getattr(error, "more_hint", None))
    head = getattr(error, "head", None)  # e.g. "step 'load' (read) failed"
    first = f"{head}: {len(problems)} problems:" if head else f"{len(problems)} problems:"
    return f"{first}\n{chr(10).join(f'  {line}' for line in lines)}".splitlines()
