"""File-system helpers every writer shares: outputs appear whole or not at all, and no path
taken from a dataset escapes the output directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Iterator

from .errors import InputError

__all__ = ["safe_relpath", "safe_join", "atomic_dir", "atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "place_file"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool) -> None:
    """Give a file or folder made by ``mkstemp``/``mkdtemp`` (private: 0600/0700) the mode a
    plain ``open``/``mkdir`` would have given it under the user's umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def safe_relpath(name: str, *, file: str | None = None, field: str | None = None) -> str:
    """``name`` as a clean relative posix path, or :class:`InputError` if it is absolute, has
    a drive, or a ``..`` segment (it would let a dataset write outside the output folder)."""
    text = str(name).replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or PureWindowsPath(str(name)).drive or ".." in pure.parts:
        raise InputError(
            "unsafe path: it would leave the output directory",
            file=file, field=field, value=name, expected="a relative path without '..' segments",
        )
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise InputError("empty path", file=file, field=field, value=name, expected="a file name")
    return "/".join(parts)


def safe_join(root: Path, name: str, *, file: str | None = None, field: str | None = None) -> Path:
    """``root / name`` after :func:`safe_relpath`; guaranteed to lie inside ``root``."""
    return Path(root) / safe_relpath(name, file=file, field=field)


@contextlib.contextmanager
def atomic_dir(dst: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory in a temporary sibling of ``dst`` and move it into place on success.

    On any exception (Ctrl-C included) the temporary folder is removed and ``dst`` is left as it
    was. With ``overwrite`` an existing ``dst`` is replaced only once the new one is complete.
    """
    dst = Path(dst).absolute()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tmp-", dir=dst.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if dst.exists():
            if not overwrite:
                raise FileExistsError(f"{dst} exists")
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file handle on a temporary sibling of ``path``, renamed over ``path`` when the
    block ends without an exception (removed otherwise): readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        _publish_mode(Path(tmp), directory=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (UTF-8, non-ASCII kept) atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def place_file(src: Path, dst: Path, mode: str) -> None:
    """Put a copy of ``src`` at ``dst``: ``mode`` ``copy``, or ``link`` (a hard link, falling
    back to a copy across devices or where links are not allowed). A symlinked ``src`` is
    resolved first: the output gets the file itself, never a link (``os.link`` on a symlink
    would hard-link the symlink, dangling or pointing outside the output)."""
    src = Path(os.path.realpath(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
