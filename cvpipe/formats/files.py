"""Reading an input file whole, within bounds: only a regular file (a FIFO, a device such as
``/dev/zero``, a socket or a folder is refused by ``stat`` before it is opened, so a read can
never block or run forever) and at most ``limit`` bytes (refused by its size before reading).
Every reader of annotation files (XML, JSON) goes through :func:`read_input_bytes`."""

from __future__ import annotations

import os
import stat

from ..errors import InputError, Problem

__all__ = ["read_input_bytes", "input_problem", "MAX_XML_BYTES", "MAX_JSON_BYTES"]

#: largest XML annotation file read (a VOC annotation is a few KB; a CVAT file a few MB)
MAX_XML_BYTES = 64 << 20
#: largest JSON file read (COCO's largest official file, instances_train2017, is 450 MB)
MAX_JSON_BYTES = 4 << 30


def input_problem(path: str, limit: int, expected: str) -> Problem | None:
    """The :class:`Problem` of the file at ``path`` as an input (None when it is a readable
    regular file of at most ``limit`` bytes): missing, a folder, a FIFO or device, too large."""
    return _stat_input(path, limit, expected)[0]


def _stat_input(path: str, limit: int, expected: str) -> tuple[Problem | None, int]:
    """:func:`input_problem` and the file's size."""
    try:
        st = os.stat(path)  # follows symlinks: a loop gives ELOOP here
    except OSError as exc:
        return Problem("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected), 0
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        return Problem("not a regular file", file=path, value=kind, expected=expected), 0
    if st.st_size > limit:
        return Problem("file too large", file=path, value=f"{st.st_size} bytes",
                       expected=f"at most {limit} bytes ({expected})"), st.st_size
    return None, st.st_size


def read_input_bytes(path: str, *, limit: int, expected: str) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``; a file that grows while
    read is cut at ``limit + 1`` bytes and refused).

    Raises:
        InputError: naming the file -- unreadable, not a regular file, larger than ``limit``.
    """
    path = str(path)
    p, size = _stat_input(path, limit, expected)
    if p is not None:
        raise InputError.from_problems([p])
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected) from None
    try:
        # reads of at least the size the stat gave (plus one byte): a small file in one call;
        # a read returning less than asked is the end of a regular file. A file swapped for a
        # FIFO after the stat is open non-blocking (it reads as empty); a device stops at the limit
        chunks, total = [], 0
        while True:
            want = min(max(size + 1 - total, 1 << 16), 1 << 30, limit + 1 - total)
            b = os.read(fd, want)
            if b:
                chunks.append(b)
                total += len(b)
            if total > limit:
                raise InputError("file too large", file=path, value=f"more than {limit} bytes",
                                 expected=f"at most {limit} bytes ({expected})")
            if len(b) < want:
                break
    except OSError as exc:
        raise InputError("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected) from None
    finally:
        os.close(fd)
    return b"".join(chunks)
