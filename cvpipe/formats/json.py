"""JSON for format authors: loading with problems that name the file and line, and the line of
an element found lazily (only when a problem needs it, never on the happy path).

* :func:`load_json` -- a file parsed, or a Problem (file, line, column) for malformed JSON;
* :func:`element_lines` / :class:`LineFinder` -- the line where ``annotations[17]`` starts, for
  a :class:`~cvpipe.data.Dataset`'s ``locate``; :func:`add_lines` fills problems' lines;
* :func:`gc_paused` -- the cyclic garbage collector paused while many small containers are built.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, Problem

__all__ = ["decode", "load_json", "element_lines", "LineFinder", "add_lines", "gc_paused", "LINE_SCAN_LIMIT"]


def decode(data: bytes) -> Any:
    """Parse JSON bytes with msgspec (faster than the standard library on COCO-sized files; see
    bench/bench_convert_coco.py). What msgspec refuses is parsed by ``json``: its result is used
    when it accepts the text (``NaN`` literals), else its error gives the line and column."""
    import msgspec

    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def load_json(path: Path, problems: list[Problem] | None = None) -> Any:
    """Parse the JSON file at ``path``. A missing file or malformed JSON becomes a Problem with
    the file and line (appended to ``problems`` and None returned, or raised as InputError)."""
    path = Path(path)
    try:
        return decode(path.read_bytes())
    except OSError as exc:
        p = Problem("cannot read file", file=str(path), value=exc.strerror or str(exc), expected="a readable JSON file")
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        p = Problem(f"malformed JSON: {msg}" + (f" (column {col})" if col else ""), file=str(path), line=line,
                    expected="valid JSON")
    if problems is None:
        raise InputError.from_problems([p])
    problems.append(p)
    return None


# Line numbers, found only when there is a problem to place (never on the happy path)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_FIELD = re.compile(r"^(\w*)\[(\d+)\]")
#: files larger than this are not scanned for line numbers (problems keep their JSON path)
LINE_SCAN_LIMIT = 100_000_000


def element_lines(raw: bytes) -> dict[str, list[int]]:
    """The 1-based line where each object element of each top-level array starts
    (``{"annotations": [line of annotations[0], ...], ...}``); empty for a file on one line."""
    if raw.count(b"\n", 0, 1 << 20) < 2 and raw.count(b"\n") < 2:
        return {}
    offsets: dict[str, list[int]] = {}
    # elements are the objects opening at depth ``inside``: 2 in a top-level object's arrays,
    # 1 in a top-level list (the results form, key "")
    depth, key, current, inside = 0, b'""', None, 0
    for m in _TOKEN.finditer(raw):
        c = raw[m.start()]
        if c == 0x22:  # a string: at depth 1 it may be the key of the array that follows
            if depth == 1:
                key = m.group()
        elif c in (0x5B, 0x7B):  # [ {
            if c == 0x5B and (depth == 0 or (depth == 1 and inside != 1)):
                current = offsets.setdefault(key[1:-1].decode("utf-8", "replace") if depth else "", [])
                inside = depth + 1
            elif c == 0x7B and depth == inside and current is not None:
                current.append(m.start())
            depth += 1
        else:
            depth -= 1
            if depth < inside:
                current, inside = None, 0
    out: dict[str, list[int]] = {}
    for name, offs in offsets.items():
        lines, line, prev = [], 1, 0
        for off in offs:
            line += raw.count(b"\n", prev, off)
            prev = off
            lines.append(line)
        out[name] = lines
    return out


class LineFinder:
    """``finder(file, field) -> line | None`` for fields such as ``annotations[17].bbox`` of the
    COCO files read; each file is scanned once, at the first question."""

    def __init__(self, files: list[str]) -> None:
        self.files = set(files)
        self.cache: dict[str, dict[str, list[int]]] = {}

    def __call__(self, file: str | None, field: str | None) -> int | None:
        if file not in self.files or not field:
            return None
        m = _FIELD.match(field)
        if not m:
            return None
        if file not in self.cache:
            try:
                path = Path(file)
                self.cache[file] = element_lines(path.read_bytes()) if path.stat().st_size <= LINE_SCAN_LIMIT else {}
            except OSError:
                self.cache[file] = {}
        lines = self.cache[file].get(m.group(1), [])
        k = int(m.group(2))
        return lines[k] if k < len(lines) else None


def add_lines(problems: list[Problem], start: int, finder) -> None:
    """Give ``problems[start:]`` without a line the line ``finder(file, field)`` knows."""
    from dataclasses import replace

    for j in range(start, len(problems)):
        p = problems[j]
        if p.line is None and p.field:
            line = finder(p.file, p.field)
            if line:
                problems[j] = replace(p, line=line)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (restoring its previous state).

    Reading JSON and evaluating build hundreds of thousands of small dicts and lists; each
    automatic collection walks the whole, growing heap. Those containers hold no reference
    cycles, so nothing is lost by collecting later.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
