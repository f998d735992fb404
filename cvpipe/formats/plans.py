"""Helpers for a Sharding's ``plan`` over a large layout: the listing done in a short-lived
forked child (its Python objects never count against the driver), and parts stored as
compressed listings (a few bytes an entry, not Python objects)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["in_forked_child", "pack_rows", "unpack_rows"]


def _default_signals() -> None:
    """In the child: the default SIGTERM action and SIGINT ignored (Ctrl-C reaches the driver,
    which ends the pool), not the driver's handlers."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def in_forked_child(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, computed in a forked child process where the OS can fork (only the
    pickled result comes back: the child's peak memory is its own), else in this process.
    Exceptions raised by ``fn`` are raised here."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return fn(*args)
    with multiprocessing.get_context("fork").Pool(1, initializer=_default_signals) as pool:
        result = pool.apply(fn, args)
        pool.close()  # let the child exit by itself (no SIGTERM from the pool's clean-up)
        pool.join()
    return result


def pack_rows(rows: Sequence[Sequence[str | None]]) -> bytes:
    """Rows of optional strings (file names: any character but NUL; surrogate escapes kept) as
    one zlib-compressed blob; :func:`unpack_rows` gives them back."""
    import zlib

    fields = [("+" + str(v)) if v is not None else "-" for row in rows for v in row]
    return zlib.compress("\0".join(fields).encode("utf-8", "surrogateescape"), 1)


def unpack_rows(blob: bytes, width: int) -> list[tuple[str | None, ...]]:
    """The rows :func:`pack_rows` packed, ``width`` values each."""
    import zlib

    text = zlib.decompress(blob).decode("utf-8", "surrogateescape")
    if not text:
        return []
    values = [None if f == "-" else f[1:] for f in text.split("\0")]
    return [tuple(values[k:k + width]) for k in range(0, len(values), width)]
