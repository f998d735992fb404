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
    try:
        st = os.stat(path)  # follows symlinks: a loop gives ELOOP here
    except OSError as exc:
        return Problem("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        return Problem("not a regular file", file=path, value=kind, expected=expected)
    if st.st_size > limit:
        return Problem("file too large", file=path, value=f"{st.st_size} bytes",
                       expected=f"at most {limit} bytes ({expected})")
    return None


def read_input_bytes(path: str, *, limit: int, expected: str) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``; a file that grows while
    read is cut at ``limit + 1`` bytes and refused).

    Raises:
        InputError: naming the file -- unreadable, not a regular file, larger than ``limit``.
    """
    path = str(path)
    p = input_problem(path, limit, expected)
    if p is not None:
        raise InputError.from_problems([p])
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO/device after the stat
            raise InputError("not a regular file", file=path, expected=expected)
        chunks, total = [], 0
        while True:
            b = os.read(fd, min(1 << 20, limit + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > limit:
                raise InputError("file too large", file=path, value=f"more than {limit} bytes",
                                 expected=f"at most {limit} bytes ({expected})")
    except OSError as exc:
        raise InputError("cannot read file", file=path, value=exc.strerror or str(exc), expected=expected) from None
    finally:
        os.close(fd)
    return b"".join(chunks)
