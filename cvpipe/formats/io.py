"""Read and write a dataset in a registered format, with the format's own options checked
against its reader's/writer's signature; the readers' problem contract (:func:`raise_or_collect`)
and their text label files (:func:`label_lines`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import InputError, Problem
from ..registry import call_plugin
from .lookup import detect_format, get_format

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["read_dataset", "write_dataset", "bind_options", "raise_or_collect", "accepts", "label_lines",
           "split_folder_layout"]


def read_dataset(
    path: Path,
    fmt: str | None = None,
    *,
    images_dir: Path | None = None,
    splits: Sequence[str] | None = None,
    problems: list[Problem] | None = None,
    **options: Any,
) -> "Dataset":
    """Read the dataset at ``path`` in format ``fmt`` (detected when None).

    ``options`` are the format's own reader options, checked against the reader's signature
    (an unknown option is a :class:`~cvpipe.errors.ConfigError` with a suggestion). With
    ``problems`` given, bad items are reported there and skipped; without, the reader raises one
    :class:`~cvpipe.errors.InputError` listing every problem. A folder holding one dataset per
    split folder (Roboflow's ``train/``, ``valid/``, ``test/``; :mod:`.split_folders`) is read
    folder by folder and merged, each sample's split its folder's (``valid`` is ``val``).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    entry = get_format(fmt, need="reader", field="--from")
    reader = entry.obj.reader
    bound = bind_options(reader, options, where=f"{fmt} reader", skip=1)
    parts = split_folder_layout(path, fmt)
    if parts:  # one folder per split (Roboflow's train/ valid/ test/)
        from .split_folders import read_split_folders

        def detect_one(p: Path) -> bool:
            return bool(call_plugin(entry, entry.obj.detect, p))

        def read_one(folder: Path, *, images_dir: Path | None = None,
                     problems: list[Problem] | None = None) -> "Dataset":
            return _read_one(entry, folder, bound, images_dir, None, problems)

        return read_split_folders(path, parts, read_one, detect_one, images_dir=images_dir, splits=splits,
                                  problems=problems)
    return _read_one(entry, path, bound, images_dir, splits, problems)


def split_folder_layout(path: Path, fmt: str) -> list[tuple[str, Path]]:
    """``(split, folder)`` when ``path`` is a dataset of format ``fmt`` kept as one folder per
    split (:mod:`cvpipe.formats.split_folders`), else ``[]``. Direct converters are not asked
    for such a dataset: they read one layout."""
    path = Path(path)
    entry = get_format(fmt, need="reader", field="--from")
    detect = entry.obj.detect
    if detect is None or not path.is_dir():
        return []
    from .split_folders import split_folder_parts

    return split_folder_parts(path, lambda p: bool(call_plugin(entry, detect, p)))


def _read_one(entry, path: Path, bound: dict[str, Any], images_dir: Path | None, splits: Sequence[str] | None,
              problems: list[Problem] | None) -> "Dataset":
    """The format's reader on ``path`` with its bound options (see :func:`read_dataset`)."""
    reader = entry.obj.reader
    kwargs: dict[str, Any] = dict(bound)
    if images_dir is not None:
        kwargs["images_dir"] = Path(images_dir)
    if splits:
        kwargs["splits"] = list(splits)
    if problems is not None:
        if not accepts(reader, "problems"):  # a reader without the option: all or nothing
            try:
                return _call_reader(entry, reader, path, kwargs)
            except InputError as exc:
                problems.extend(exc.problems)
                from ..data import Dataset

                return Dataset([])
        kwargs["problems"] = problems
    return _call_reader(entry, reader, path, kwargs)


def _call_reader(entry, reader, path: Path, kwargs: dict[str, Any]) -> "Dataset":
    """The reader called through :func:`call_plugin`; an ``OSError`` it meets on the input (a
    folder it may not list, a symlink loop, a file vanished) is the input's problem -- an
    :class:`InputError` naming the file (exit 2), not a plugin failure."""
    from ..errors import PluginError

    try:
        return call_plugin(entry, reader, path, **kwargs)
    except PluginError as exc:
        cause = exc.__cause__
        if not isinstance(cause, OSError):
            raise
        raise InputError("cannot read", file=str(cause.filename if cause.filename is not None else path),
                         value=cause.strerror or str(cause), expected="a readable file or folder") from cause


def write_dataset(dataset: "Dataset", dst: Path, fmt: str, **options: Any) -> dict:
    """Write ``dataset`` into ``dst`` in format ``fmt``; returns the writer's report
    (``images``, ``boxes``, ``skipped``: ``{reason: n}``, ...). Options are checked against the
    writer's signature."""
    entry = get_format(fmt, need="writer", field="--to")
    writer = entry.obj.writer
    bound = bind_options(writer, options, where=f"{fmt} writer", skip=2)
    return call_plugin(entry, writer, dataset, Path(dst), **bound)


def bind_options(func, options: dict[str, Any], *, where: str, skip: int) -> dict[str, Any]:
    """:func:`cvpipe.params.bind` for a reader (``skip=1``: the path) or a writer (``skip=2``:
    the dataset and ``dst``), whose leading positionals cvpipe supplies."""
    from ..settings import bind

    return bind(func, options, where=where, skip=skip)


def raise_or_collect(found: list[Problem], problems: list[Problem] | None) -> None:
    """The readers' contract: append ``found`` to ``problems`` when a list is given, else raise
    one :class:`InputError` listing them all (nothing happens when ``found`` is empty)."""
    if not found:
        return
    if problems is not None:
        problems.extend(found)
        return
    raise InputError.from_problems(found)


def accepts(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` takes a keyword argument ``name`` (by name or through ``**kwargs``)."""
    params = inspect.signature(func).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def label_lines(path: Path, found: list[Problem], *, missing_ok: bool = False) -> list[tuple[int, str, list[str]]]:
    """The non-blank lines of the UTF-8 text file ``path`` as ``(line number, line, its
    whitespace-separated values)``; an unreadable file gives ``[]`` with a Problem appended to
    ``found`` (a missing one gives ``[]`` quietly when ``missing_ok``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return []
        found.append(Problem("cannot read label file", file=str(path), value=str(exc), expected="a UTF-8 text file"))
        return []
    return [(n, line, tok) for n, line in enumerate(text.splitlines(), 1) if (tok := line.split())]
