"""Registered formats: look one up by name (checking it reads or writes) or detect it on disk
(:func:`file_head`: the bytes a format's ``detect`` looks at)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, InputError
from ..registry import Entry, Family, call_plugin

__all__ = ["get_format", "detect_format", "file_head"]


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
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(fam.names()) or "(none registered)"
    if not matches:
        raise InputError("cannot tell the dataset format", file=str(path),
                         expected="a dataset in one of the registered formats: " + names,
                         hint="name it with --from FORMAT")
    raise InputError("the dataset format is ambiguous", file=str(path), value=", ".join(sorted(matches)),
                     expected="exactly one matching format", hint="name it with --from FORMAT")


def file_head(path: Path, size: int, *, line: bool = False) -> bytes:
    """The first ``size`` bytes of the file ``path`` (at most its first line when ``line``), what a
    format's ``detect`` looks at; ``b""`` when the file cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.readline(size) if line else fh.read(size)
    except OSError:
        return b""
