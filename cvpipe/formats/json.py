"""JSON for format authors: loading with problems that name the file and line, and the line of
an element found lazily (only when a problem needs it, never on the happy path).

* :func:`load_json` -- a file parsed, or a Problem (file, line, column) for malformed JSON, a
  repeated key, nesting too deep, a bare ``null``, a FIFO or device;
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

__all__ = ["decode", "decode_typed", "load_json", "load_json_bytes", "read_json_bytes", "DuplicateKeyError", "DUPLICATE_SCAN_LIMIT", "element_lines", "LineFinder", "add_lines", "gc_paused", "LINE_SCAN_LIMIT"]


#: JSON files up to this size are parsed by the standard library with a check for repeated keys
#: in an object (``{"width": 64, "width": 65}``: which one counts depends on the parser); larger
#: ones by msgspec alone (faster; a repeated key keeps its last value)
DUPLICATE_SCAN_LIMIT = 32 << 20


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise DuplicateKeyError(k)
            seen.add(k)
    return d


def decode(data: bytes) -> Any:
    """Parse JSON bytes. Up to :data:`DUPLICATE_SCAN_LIMIT`, with ``json`` and a check for
    repeated keys (:class:`DuplicateKeyError`); larger, with msgspec (faster on COCO-sized
    files; see bench/bench_convert_coco.py), and what msgspec refuses by ``json``: its result is
    used when it accepts the text (``NaN`` literals), else its error gives the line and column.
    Nesting deeper than the parsers' recursion limit raises ``RecursionError``."""
    if len(data) <= DUPLICATE_SCAN_LIMIT:
        return json.loads(data, object_pairs_hook=_pairs)
    import msgspec

    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def decode_typed(data: bytes, type_: Any, keys: tuple[str, ...] = ()) -> Any:
    """``data`` decoded by msgspec straight into ``type_`` (e.g. ``list[SomeStruct]``: no
    intermediate dicts), or None when msgspec refuses it (wrong types, a missing field, ``NaN``,
    malformed JSON: the caller then takes the general path, which names each problem).

    ``keys``: field names each element must hold exactly once -- msgspec keeps the last of a
    repeated key, which the general path refuses for files up to :data:`DUPLICATE_SCAN_LIMIT`,
    so for such files the typed result is only used when each key occurs as often as there are
    elements (a string value that equals a key name merely sends the file to the general path);
    larger files are decoded by msgspec on the general path too, so they are not scanned."""
    import msgspec

    try:
        out = msgspec.json.decode(data, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if keys and isinstance(out, list) and len(data) <= DUPLICATE_SCAN_LIMIT:
        n = len(out)
        if any(data.count(b'"' + k.encode() + b'"') != n for k in keys):
            return None
    return out


def read_json_bytes(path: Path, problems: list[Problem] | None = None) -> bytes | None:
    """The bytes of the JSON file at ``path`` (see :func:`load_json`), or None with the Problem
    appended to ``problems`` (raised as InputError without a list)."""
    from .files import MAX_JSON_BYTES, read_input_bytes

    try:
        return read_input_bytes(str(path), limit=MAX_JSON_BYTES, expected="a readable JSON file")
    except InputError as exc:
        if problems is None:
            raise InputError.from_problems([exc.problem]) from None
        problems.append(exc.problem)
        return None


def load_json(path: Path, problems: list[Problem] | None = None, *, expected: str = "a JSON object or list") -> Any:
    """Parse the JSON file at ``path`` (a regular file within
    :data:`~cvpipe.formats.files.MAX_JSON_BYTES`). A missing or non-regular file, malformed
    JSON, a repeated key, nesting too deep or a document that is just ``null`` becomes a
    Problem with the file (and line when known), appended to ``problems`` and None returned, or
    raised as InputError. ``expected`` words what the document should be."""
    data = read_json_bytes(Path(path), problems)
    return None if data is None else load_json_bytes(data, path, problems, expected=expected)


def load_json_bytes(data: bytes, path: Path, problems: list[Problem] | None = None, *,
                    expected: str = "a JSON object or list") -> Any:
    """:func:`load_json` on the bytes ``data`` already read from ``path``."""
    path = Path(path)
    try:
        doc = decode(data)
    except DuplicateKeyError as exc:
        p = Problem("duplicate key in a JSON object", file=str(path), field=exc.key, value=exc.key,
                    expected="each key once per object")
    except RecursionError:
        p = Problem("JSON nested too deeply", file=str(path), expected=f"{expected}, nested a few levels")
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        p = Problem(f"malformed JSON: {msg}" + (f" (column {col})" if col else ""), file=str(path), line=line,
                    expected="valid JSON")
    else:
        if doc is not None:
            return doc
        p = Problem("the JSON document is null", file=str(path), value=None, expected=expected)
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
