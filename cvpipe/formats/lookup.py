"""Registered formats: look one up by name (checking it reads or writes) or detect it on disk
(:func:`file_head`: the bytes a format's ``detect`` looks at), find a layout's annotation file
(:func:`find_dataset_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ConfigError, InputError, Problem
from ..registry import Entry, Family, call_plugin

__all__ = ["get_format", "detect_format", "file_head", "find_dataset_file"]


def _formats() -> Family:
    from ..plugins import get_registry

    return get_registry().formats


def get_format(name: str, *, need: str | None = None, field: str | None = None) -> Entry:
    """The :class:`~cvpipe.registry.Entry` of format ``name`` (its ``obj`` is the FormatSpec).

    ``need`` ("reader" or "writer") checks the format provides that half.
    Raises :class:`~cvpipe.errors.UnknownNameError` listing the registered names.
    """
    fam = _formats()
    entry = fam.get(name, field=field)
    if need and getattr(entry.obj, need) is None:
        able = [e.name for e in fam if getattr(e.obj, need) is not None]
        raise ConfigError(
            f"format {name!r} has no {need}", field=field,
            expected="a format with a " + need + ": " + (", ".join(sorted(able)) or "(none)"),
        )
    return entry


def detect_format(path: Path) -> str:
    """The one registered format whose ``detect`` accepts ``path``.

    Raises:
        InputError: ``path`` does not exist, or no format or several formats match (the message
            lists the registered formats and suggests ``--from``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", file=str(path), expected="a dataset file or folder")
    fam = _formats()
    matches = []
    for entry in fam:
        if entry.obj.detect is None or entry.obj.reader is None:
            continue
        try:
            ok = bool(call_plugin(entry, entry.obj.detect, path))
        except Exception:  # a detector that trips over a foreign layout simply does not match
            ok = False
        if ok:
            matches.append(entry.name)
    if not matches and path.is_dir():  # one folder per split (Roboflow's train/ valid/ test/)
        return _detect_split_folders(path, fam)
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(fam.names()) or "(none registered)"
    if not matches:
        raise InputError("cannot tell the dataset format", file=str(path),
                         expected="a dataset in one of the registered formats: " + names,
                         hint="name it with --from FORMAT")
    raise InputError("the dataset format is ambiguous", file=str(path), value=", ".join(sorted(matches)),
                     expected="exactly one matching format", hint="name it with --from FORMAT")


def _detect_split_folders(path: Path, fam: Family) -> str:
    """The one format the split folders of ``path`` (:mod:`.split_folders`) hold; InputError
    when there are none, they match no format, or they match different formats."""
    from .split_folders import split_folders

    names = ", ".join(fam.names()) or "(none registered)"
    found: dict[str, list[str]] = {}
    for _, folder in split_folders(path):
        for entry in fam:
            if entry.obj.detect is None or entry.obj.reader is None:
                continue
            try:
                ok = bool(call_plugin(entry, entry.obj.detect, folder))
            except Exception:
                ok = False
            if ok:
                found.setdefault(entry.name, []).append(folder.name)
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise InputError("cannot tell the dataset format", file=str(path),
                         expected="a dataset in one of the registered formats: " + names,
                         hint="name it with --from FORMAT")
    raise InputError("the split folders hold different formats", file=str(path),
                     value="; ".join(f"{', '.join(v)}: {k}" for k, v in sorted(found.items())),
                     expected="one format in every split folder", hint="name it with --from FORMAT")


def file_head(path: Path, size: int, *, line: bool = False) -> bytes:
    """The first ``size`` bytes of the file ``path`` (at most its first line when ``line``), what a
    format's ``detect`` looks at; ``b""`` when the file cannot be read or is not a regular file
    (a FIFO or a device is never opened: it could block or never end)."""
    if not Path(path).is_file():
        return b""
    try:
        with open(path, "rb") as fh:
            return fh.readline(size) if line else fh.read(size)
    except OSError:
        return b""


def find_dataset_file(path: Path, found: list[Problem], *, name: str, pattern: str, accept: Callable[[Path], bool],
                      kind: str, kinds: str, wanted: str, expected: str) -> Path | None:
    """The annotation file ``path`` means: the file itself, ``name`` in the folder, or the folder's
    only file matching ``pattern`` (``*.xml``) that ``accept`` takes; None with a problem appended
    to ``found`` when there is none (``wanted``: what ``path`` should be; ``kind``/``kinds``: one
    or several such files, as problems name them; ``expected``: what the folder should hold)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        found.append(Problem("no such file or directory", file=str(path), expected=wanted))
        return None
    if (path / name).is_file():
        return path / name
    files = sorted(p for p in path.glob(pattern) if p.is_file() and accept(p))
    if len(files) == 1:
        return files[0]
    found.append(Problem(f"no {kind}" if not files else f"several {kinds}", file=str(path),
                         value=", ".join(p.name for p in files) or None, expected=expected,
                         hint=f"name the {pattern.rsplit('.', 1)[-1].upper()} file itself" if files else None))
    return None
