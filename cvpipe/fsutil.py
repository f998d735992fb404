"""File-system helpers every writer shares: outputs appear whole or not at all, no path taken
from a dataset escapes the output directory, and one process at a time owns a directory.

Temporaries are hidden siblings named after the process that made them:
``.NAME.tmp-PID-XXXXXXXX`` (a file or folder being built) and ``.NAME.old-PID`` (the previous
``NAME`` during an ``overwrite`` swap). A kill can leave them behind; :func:`recover` (called by
:func:`atomic_dir` on its destination) and :func:`sweep_stale` (a whole folder, e.g. a run
directory being resumed) remove those of dead processes, and put a ``.old-PID`` back when the
kill came between the two renames of a swap (so ``NAME`` is never lost); :func:`atomic_open`
sweeps the folder it writes to once per process (:func:`sweep_once`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Iterator

from .errors import InputError

__all__ = ["safe_relpath", "safe_join", "atomic_dir", "atomic_open", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "place_file", "temp_prefix", "pid_alive", "recover", "sweep_once", "sweep_stale", "locked_dir", "LOCK_NAME"]

#: ``.NAME.tmp-PID-XXXX`` / ``.NAME.old-PID``: groups ``name``, ``kind`` (tmp/old), ``pid``.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(?:-[^/]*)?$")


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


def temp_prefix(name: str) -> str:
    """The prefix of a temporary sibling of ``name`` (for ``tempfile.mkdtemp``/``mkstemp``):
    ``.NAME.tmp-PID-``, so :func:`recover` and :func:`sweep_stale` find it after a kill."""
    return f".{name}.tmp-{os.getpid()}-"


def _remove(path: Path) -> None:
    """Remove a file, link or folder tree (whatever is there; nothing if absent)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry: Path) -> tuple[str, str, int] | None:
    """``(name, kind, pid)`` when ``entry`` is a temporary of a process that no longer runs."""
    m = _TEMP_RE.match(entry.name)
    if m is None:
        return None
    pid = int(m["pid"])
    if pid == os.getpid() or pid_alive(pid):
        return None
    return m["name"], m["kind"], pid


def recover(dst: Path) -> list[str]:
    """Clean up after a process killed while writing ``dst``: its ``.tmp-PID-*`` siblings are
    removed; a ``.old-PID`` is renamed back to ``dst`` when ``dst`` is missing (the kill came
    between the two renames of an overwrite) and removed otherwise. Only temporaries of dead
    PIDs are touched. Each action is reported with :func:`warnings.warn` and returned."""
    dst = Path(dst).absolute()
    if not dst.parent.is_dir():
        return []
    try:
        siblings = [p for p in dst.parent.glob(f".{glob_escape(dst.name)}.*-*")]
    except OSError:
        return []
    return _clean(dst.parent, [p for p in siblings if (_stale(p) or ("",))[0] == dst.name])


_swept: set[str] = set()  # folders whose stale temporaries this process has cleaned already


def sweep_once(folder: Path) -> None:
    """Clean the stale temporaries directly in ``folder`` (as :func:`recover` does for each
    name), the first time this process writes there: every :func:`atomic_open` calls it, so a
    killed writer's ``.NAME.tmp-PID-*`` goes with the next write into the same folder, at the
    cost of one directory listing per folder and process."""
    key = os.path.abspath(folder)
    if key in _swept:
        return
    _swept.add(key)
    try:
        names = [n for n in os.listdir(key) if _TEMP_RE.match(n)]
    except OSError:
        return
    stale = [Path(key) / n for n in names if _stale(Path(key) / n) is not None]
    if stale:
        _clean(Path(key), stale)


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards escaped (``[`` ``*`` ``?``)."""
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def sweep_stale(root: Path) -> list[str]:
    """:func:`recover` every temporary of a dead process anywhere under ``root`` (a run
    directory being resumed, say). Returns what was done (also reported as warnings)."""
    root = Path(root)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if _stale(Path(dirpath) / name) is not None:
                found.append(Path(dirpath) / name)
        dirnames[:] = [d for d in dirnames if _TEMP_RE.match(d) is None]  # not into a temporary
    done: list[str] = []
    for parent in sorted({p.parent for p in found}):
        done += _clean(parent, [p for p in found if p.parent == parent])
    return done


def _clean(parent: Path, entries: list[Path]) -> list[str]:
    done: list[str] = []
    # the .old-PID of a swap first: if its dst is missing it is restored, not removed
    for entry in sorted(entries, key=lambda p: (_stale(p) or ("", "tmp", 0))[1] != "old"):
        info = _stale(entry)
        if info is None or not os.path.lexists(entry):
            continue
        name, kind, pid = info
        dst = parent / name
        if kind == "old" and not os.path.lexists(dst):
            os.replace(entry, dst)
            msg = (f"restored {dst} from {entry.name}: process {pid} was killed while replacing it "
                   "(the previous version is back)")
        else:
            _remove(entry)
            what = "the previous version" if kind == "old" else "an unfinished temporary"
            msg = f"removed {entry}: {what} of {dst.name} left by process {pid}, which no longer runs"
        warnings.warn(msg, stacklevel=3)
        done.append(msg)
    return done


@contextlib.contextmanager
def atomic_dir(dst: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory in a temporary sibling of ``dst`` and move it into place on success.

    On any exception (Ctrl-C included) the temporary folder is removed and ``dst`` is left as it
    was. With ``overwrite`` an existing ``dst`` is replaced only once the new one is complete.
    """
    dst = Path(dst).absolute()
    dst.parent.mkdir(parents=True, exist_ok=True)
    recover(dst)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(dst.name), dir=dst.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if dst.exists():
            if not overwrite:
                raise FileExistsError(f"{dst} exists")
            # a kill between these two renames leaves no dst but .dst.old-PID: recover() puts it back
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
            try:
                os.replace(tmp, dst)
            except BaseException:  # Ctrl-C/SIGTERM right here: the previous version goes back
                os.replace(old, dst)
                raise
            try:
                _remove(old)
            except BaseException:  # the new one is in place: finish the clean-up, then stop
                _remove(old)
                raise
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
    sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), dir=path.parent)
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
    back to a copy across devices or where links are not allowed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


#: The lock file :func:`locked_dir` keeps in the directory it locks (removed on exit).
LOCK_NAME = ".cvpipe.lock"


def _lock_owner(fd: int) -> int | None:
    """The pid written in a lock file (``None`` when empty or unreadable)."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def locked_dir(path: Path | None, *, what: str = "directory", field: str | None = None,
               hint: str | None = None) -> Iterator[Path | None]:
    """Hold an exclusive lock on the directory ``path`` (created if missing) for the block.

    The lock is an ``fcntl.flock`` on ``path/.cvpipe.lock``, which holds the owner's pid; the
    kernel releases it when the owner dies, so a lock file found with a pid that no longer holds
    it is stale: a warning says so and this process takes over. On entry, temporaries of dead
    processes under ``path`` are swept (:func:`sweep_stale`). On exit the lock file is removed
    (and ``path`` too if this call created it and it is still empty). ``path=None``: no lock.

    Raises:
        InputError: another live process holds the lock (naming its pid), exit code 2.
    """
    if path is None:
        yield None
        return
    import fcntl

    path = Path(path).absolute()
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_NAME
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                os.close(fd)
                raise
            owner = _lock_owner(fd)
            for _ in range(20):  # the owner writes its pid right after locking
                if owner is not None:
                    break
                import time

                time.sleep(0.05)
                owner = _lock_owner(fd)
            os.close(fd)
            who = f"pid {owner}" if owner is not None else "pid unknown"
            raise InputError(f"the {what} is in use by another cvpipe process ({who})", file=str(path),
                             field=field, expected=f"a {what} no other process is using",
                             hint=hint or f"wait for process {owner or '?'} to finish, or use another {what}") from None
        try:  # the file locked may have been unlinked by its previous owner meanwhile: retry
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = _lock_owner(fd)
        if previous is not None and previous != os.getpid():
            warnings.warn(f"{lock}: stale lock of process {previous}, which was killed or crashed "
                          f"(it no longer holds the lock); taking over the {what}", stacklevel=3)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        sweep_stale(path)
        yield path
    finally:
        lock.unlink(missing_ok=True)  # still holding the lock: nobody else can have it
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()
