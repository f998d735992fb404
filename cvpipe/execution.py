"""Per-shard ``convert`` and ``validate`` through an executor (``--executor NAME``).

The work is cut into parts: the shards of a format that registers a
:class:`~cvpipe.contract.Sharding` (``parquet``), otherwise chunks of :data:`CHUNK` samples of
the dataset the driver read. Each part is read and checked by a task on the executor
(:func:`check_part`); the driver merges the problems in part order (the same ``file:line``
report as the single-process path), refuses or skips exactly as :func:`cvpipe.formats.convert_dataset`
does, and writes. An output format with a Sharding is written part by part by tasks into a
temporary sibling of ``dst`` (:func:`write_part`) and the driver commits it (manifest, then an
atomic rename); other outputs are written by the driver with the format's writer.

The answer is the single-process one, byte for byte, with one documented difference: an
image listed in two parts is reported after the other problems (the driver finds it when
merging), not at its place in the input order.
"""

from __future__ import annotations

import functools
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import ConfigError, InputError, Problem

__all__ = ["CHUNK", "get_executor", "executor_names", "open_executor", "map_with_state",
           "check_sharded", "write_sharded", "executor_settings", "check_executor_settings", "PartResult",
           "check_part", "write_part", "validate_sharded", "convert_sharded"]

#: samples per task when the input format has no shards of its own
CHUNK = 2000


def _formats_api():
    """The formats layer functions this module uses (one place to re-point after refactors)."""
    from . import formats

    return formats


def executor_names() -> list[str]:
    """Registered executor names, sorted."""
    from .plugins import get_registry

    return get_registry().executors.names()


def get_executor(name: str, address: str | None = None):
    """Create the executor ``name`` (UnknownNameError listing the registered ones); a foreign
    exception from its factory is a PluginError naming the plugin."""
    from .plugins import get_registry

    family = get_registry().executors
    entry = family.get(name, field="--executor")
    return family.call(entry, address=address)


@contextmanager
def open_executor(name: str | None, address: str | None = None, *,
                  field: str = "--executor") -> Iterator[Any]:
    """``with open_executor(name, address) as ex``: the executor ``name`` (``local`` when only
    ``address`` is given), closed when the block ends; None when both are None (the caller's
    single-process path). ``field`` names the setting in errors (``--executor``, ``executor``)."""
    if name is None and address is None:
        yield None
        return
    from .plugins import get_registry

    family = get_registry().executors
    entry = family.get(name or "local", field=field)
    ex = family.call(entry, address=address)
    try:
        yield ex
    finally:
        ex.close()


#: the per-process state of :func:`map_with_state` (the last setup's), by setup
_STATE: dict[Any, Any] = {}


@dataclass(frozen=True)
class _WithState:
    """``item -> fn(setup(), item)`` with ``setup()`` run once per process (cached by ``setup``,
    which is hashable and picklable)."""

    setup: Callable[[], Any]
    fn: Callable[[Any, Any], Any]

    def __call__(self, item: Any) -> Any:
        if self.setup not in _STATE:
            _STATE.clear()  # one model at a time per process
            _STATE[self.setup] = self.setup()
        return self.fn(_STATE[self.setup], item)


def map_with_state(executor: Any, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], items: Iterable[Any],
                   *, num_gpus: float = 0.0, num_cpus: float = 1.0) -> Iterator[Any]:
    """Yield ``fn(state, item)`` for each of ``items``, in order, where ``state = setup()`` is
    built once per worker (a model), not once per item.

    An executor that has workers holding state offers ``map_with_state(setup, fn, items, *,
    num_gpus, num_cpus)`` itself (Ray: an actor pool, ``num_gpus``/``num_cpus`` per actor); for the others, ``map``
    runs a task that builds the state once per process and keeps it. ``setup`` is a hashable,
    picklable callable, ``fn`` a module-level function."""
    native = getattr(executor, "map_with_state", None)
    if callable(native):
        return native(setup, fn, items, num_gpus=num_gpus, num_cpus=num_cpus)
    return executor.map(_WithState(setup, fn), items)


@dataclass
class PartResult:
    """What one read-and-check task returns: the valid samples, the reader's problems and the
    common checks' problems (each in input order), the skipped-box counts, and the image keys
    (path, (split, id)) of the part's valid samples for the cross-part duplicate check."""

    index: int
    samples: list = field(default_factory=list)
    read_problems: list[Problem] = field(default_factory=list)
    check_problems: list[Problem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    images: int = 0
    boxes: int = 0


@dataclass(frozen=True)
class _CheckTask:
    index: int
    src: str
    fmt: str
    part: Any  # a Sharding part, or None with samples given
    samples: list | None
    categories: list[str]
    root: str | None
    meta: dict
    images_dir: str | None
    splits: list[str] | None
    check_images: bool
    require_images: bool
    origin: Any = None  # the Dataset's Origin (what was read), for samples without their own
    follow_symlinks: bool = False
    inside: tuple[str, ...] = ()  # the dataset's folders: image symlinks may resolve inside them


def check_part(task: _CheckTask) -> PartResult:
    """Read one part (a shard through the format's Sharding, or the given samples) and run the
    common checks on it. Module-level, picklable: executors run it anywhere."""
    from .data import Dataset

    fm = _formats_api()
    read_problems: list[Problem] = []
    if task.samples is None:
        spec = fm.get_format(task.fmt, need="reader").obj
        ds = spec.sharding.read_part(Path(task.src), task.part,
                                     images_dir=Path(task.images_dir) if task.images_dir else None,
                                     splits=task.splits, problems=read_problems)
    else:
        ds = Dataset(task.categories, task.samples, root=Path(task.root) if task.root else None, meta=dict(task.meta),
                     origin=task.origin)
    images, boxes = len(ds), ds.num_boxes
    check_problems: list[Problem] = []
    skipped: Counter = Counter()
    valid = fm.check_dataset(ds, check_problems, check_images=task.check_images,
                             require_images=task.require_images, skipped=skipped,
                             follow_symlinks=task.follow_symlinks, inside=[Path(p) for p in task.inside])
    return PartResult(task.index, list(valid.samples), read_problems, check_problems, skipped, images, boxes)


@dataclass(frozen=True)
class _WriteTask:
    fmt: str
    samples: list
    folder: str
    index: int
    images: str
    root: str | None


def write_part(task: _WriteTask) -> dict[str, Any]:
    """Write one part of the output through the output format's Sharding (picklable task)."""
    spec = _formats_api().get_format(task.fmt, need="writer").obj
    return spec.sharding.write_part(task.samples, Path(task.folder), task.index, images=task.images,
                                    root=Path(task.root) if task.root else None)


def _check_tasks(src: Path, fmt: str, *, images_dir: Path | None, splits: Sequence[str] | None,
                 check_images: bool, driver_problems: list[Problem],
                 follow_symlinks: bool = False) -> tuple[dict, Iterator[_CheckTask]]:
    """The header (categories, meta, root) and the check tasks of ``src``."""
    from .formats.check import dataset_folders

    fm = _formats_api()
    inside = tuple(str(p) for p in dataset_folders(src, images_dir))
    spec = fm.get_format(fmt, need="reader", field="--from").obj
    splits = list(splits) if splits else None
    if spec.sharding is not None:
        plan = spec.sharding.plan(src, splits=splits)
        root = str(images_dir) if images_dir is not None else plan.get("root")
        header = {"categories": plan["categories"], "meta": plan.get("meta") or {}, "root": root}
        tasks = (_CheckTask(i, str(src), fmt, part, None, header["categories"], root, header["meta"],
                            str(images_dir) if images_dir else None, splits, check_images, True,
                            follow_symlinks=follow_symlinks, inside=inside)
                 for i, part in enumerate(plan["parts"]))
        return header, tasks
    ds = fm.read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=driver_problems)
    root = str(ds.root) if ds.root is not None else None
    header = {"categories": list(ds.categories), "meta": dict(ds.meta), "root": root, "locate": ds.locate,
              "origin": ds.origin}
    meta = dict(ds.meta)
    n = max(1, -(-len(ds.samples) // CHUNK))
    tasks = (_CheckTask(i, str(src), fmt, None, ds.samples[i * CHUNK:(i + 1) * CHUNK], header["categories"], root,
                        meta, None, splits, check_images, True, ds.origin, follow_symlinks, inside)
             for i in range(n))
    return header, tasks


def _locate(problems: list[Problem], locate: Any) -> list[Problem]:
    """Give problems without a line the line the reader's ``Dataset.locate(file, field)`` finds
    (as :func:`cvpipe.formats.check_dataset` does in one process; the callable stays on the driver)."""
    if not callable(locate):
        return problems
    from dataclasses import replace

    out = []
    for p in problems:
        line = locate(p.file, p.field) if p.line is None and p.field else None
        out.append(replace(p, line=line) if line else p)
    return out


def _merge(results: Iterator[PartResult], read_problems: list[Problem]) -> tuple[list, list[Problem], Counter, int, int]:
    """Merge part results in order: valid samples, problems (reader's first, then the checks'),
    skipped counts; images listed in two parts are reported (and left out) here."""
    samples: list = []
    check_problems: list[Problem] = []
    skipped: Counter = Counter()
    images = boxes = 0
    seen: dict[str, str] = {}
    seen_ids: dict[tuple, str] = {}
    dups: list[Problem] = []
    for r in results:
        read_problems.extend(r.read_problems)
        check_problems.extend(r.check_problems)
        skipped.update(r.skipped)
        images += r.images
        boxes += r.boxes
        for s in r.samples:
            o = s.origin
            file = str((o.file if o is not None else None) or s.image)
            where = {"file": file, "line": o.line if o is not None else None}
            if s.image in seen:
                dups.append(Problem("duplicate image", field="image", value=s.image, expected="each image listed once",
                                    hint=f"also in {seen[s.image]}", **where))
            elif s.id is not None and (s.split, s.id) in seen_ids:
                dups.append(Problem("duplicate image id", field="id", value=s.id, expected="unique image ids",
                                    hint=f"also used by {seen_ids[(s.split, s.id)]}", **where))
            else:
                seen[s.image] = file
                if s.id is not None:
                    seen_ids[(s.split, s.id)] = file
                samples.append(s)
                continue
            skipped[_formats_api().problem_reason(dups[-1]) + " (whole image)"] += len(s)
    return samples, read_problems + check_problems + dups, skipped, images, boxes


def validate_sharded(src: Path, fmt: str | None = None, *, executor, images_dir: Path | None = None,
                     splits: Sequence[str] | None = None, check_images: bool = True,
                     follow_symlinks: bool = False) -> dict[str, Any]:
    """:func:`cvpipe.formats.validate_dataset` with the reading and checking of each part run
    on ``executor``; the same result dict."""
    fm = _formats_api()
    src = Path(src)
    fmt = fmt or fm.detect_format(src)
    read_problems: list[Problem] = []
    header, tasks = _check_tasks(src, fmt, images_dir=images_dir, splits=splits, check_images=check_images,
                                 driver_problems=read_problems, follow_symlinks=follow_symlinks)
    _, problems, _, images, boxes = _merge(executor.map(check_part, tasks), read_problems)
    problems = problems[:len(read_problems)] + _locate(problems[len(read_problems):], header.get("locate"))
    return {"source": str(src), "format": fmt, "images": images, "boxes": boxes,
            "categories": len(header["categories"]), "problems": problems, "ok": not problems}


def convert_sharded(src: Path, dst: Path, to: str, *, executor, from_format: str | None = None,
                    keep_difficult: bool = False, images: str = "copy", classes_file: Path | None = None,
                    classes: Sequence[str] | None = None, splits: Sequence[str] | None = None, images_dir: Path | None = None,
                    skip_invalid: bool = False, overwrite: bool = False,
                    follow_symlinks: bool = False) -> dict[str, Any]:
    """:func:`cvpipe.formats.convert_dataset` with reading and checking per part on
    ``executor`` and, for an output format with a Sharding, writing per part too (into a
    temporary sibling of ``dst``, committed by the driver). Same refusals, same report."""
    from dataclasses import replace

    from .data import Dataset
    from .fsutil import atomic_dir

    fm = _formats_api()
    src, dst = Path(src), Path(dst)
    if images not in ("copy", "link", "none"):
        raise ConfigError("bad --images", field="--images", value=images, expected="copy, link or none")
    fmt = from_format or fm.detect_format(src)
    fm.get_format(fmt, need="reader", field="--from")
    out = fm.get_format(to, need="writer", field="--to").obj
    from .formats.convert import check_destination

    check_destination(src, dst, overwrite=overwrite)
    if classes is not None and classes_file is not None:
        raise ConfigError("both classes and a classes file given", field="classes", expected="one of them")
    if classes_file is not None:
        classes = fm.read_classes_file(classes_file)
    classes = list(classes) if classes is not None else None
    read_problems: list[Problem] = []
    header, tasks = _check_tasks(src, fmt, images_dir=images_dir, splits=splits, check_images=images != "none",
                                 driver_problems=read_problems, follow_symlinks=follow_symlinks)
    samples, problems, skipped, _, _ = _merge(executor.map(check_part, tasks), read_problems)
    n_read = len(read_problems)
    problems = problems[:n_read] + _locate(problems[n_read:], header.get("locate"))
    reasons: Counter = Counter(fm.problem_reason(p) for p in problems[:n_read])
    reasons.update(skipped)
    if problems and not skip_invalid:
        raise fm.refuse_conversion(problems, src, dst)
    root = Path(header["root"]) if header["root"] else None
    dataset = Dataset(header["categories"], samples, root=root, meta=dict(header["meta"]), origin=header.get("origin"))
    dataset = fm.order_categories(dataset, classes, classes_file=str(classes_file) if classes_file else None)
    if out.sharding is not None:
        step = out.sharding.rows_per_part
        with atomic_dir(dst) as tmp:
            parts = [dataset.samples[i:i + step] for i in range(0, len(dataset.samples), step)] or [[]]
            records = list(executor.map(write_part, (
                _WriteTask(to, [replace(s, extra=dict(s.extra)) for s in chunk], str(tmp), i, images,
                           str(dataset.root) if dataset.root is not None else None)
                for i, chunk in enumerate(parts))))
            report = dict(out.sharding.commit(tmp, records, dataset.categories, dataset.meta))
    else:
        from .formats.io import accepts

        options: dict[str, Any] = {"images": images, "keep_difficult": keep_difficult}
        report = dict(fm.write_dataset(dataset, dst, to, **{k: v for k, v in options.items()
                                                           if accepts(out.writer, k)}))
    report = fm.conversion_report(report, reasons, len(problems))
    problems_n = report.pop("problems")
    report.update({"source": str(src), "dst": str(dst), "from": fmt, "to": to})
    report["problems"] = problems_n
    return report


def check_sharded(dataset, *, executor, check_images: bool = True) -> tuple[Any, list[Problem], Counter]:
    """:func:`cvpipe.formats.check_dataset` of an in-memory ``dataset`` with the checks run per
    chunk of :data:`CHUNK` samples on ``executor`` (the ``validate`` step's ``executor:``):
    ``(valid dataset, problems, skipped)``, the single-process answer (an image listed in two
    chunks is reported after the other problems)."""
    from dataclasses import replace

    samples = dataset.samples
    n = max(1, -(-len(samples) // CHUNK))
    root = str(dataset.root) if dataset.root is not None else None
    tasks = (_CheckTask(i, "", "", None, samples[i * CHUNK:(i + 1) * CHUNK], list(dataset.categories), root,
                        dict(dataset.meta), None, None, check_images, True, dataset.origin)
             for i in range(n))
    valid, problems, skipped, _, _ = _merge(executor.map(check_part, tasks), [])
    return replace(dataset, samples=valid), _locate(problems, dataset.locate), skipped


def write_sharded(dataset, dst: Path, to: str, *, executor, images: str = "copy") -> dict[str, Any] | None:
    """Write ``dataset`` as format ``to`` part by part on ``executor`` (tasks write into a
    temporary sibling of ``dst``, the driver commits it: whole or nothing), for an output
    format with a :class:`~cvpipe.contract.Sharding`; None (nothing done) for other formats,
    which the caller writes with their writer. Returns the writer's report."""
    from dataclasses import replace

    from .fsutil import atomic_dir

    out = _formats_api().get_format(to, need="writer", field="format").obj
    if out.sharding is None:
        return None
    step = out.sharding.rows_per_part
    root = str(dataset.root) if dataset.root is not None else None
    with atomic_dir(Path(dst)) as tmp:
        parts = [dataset.samples[i:i + step] for i in range(0, len(dataset.samples), step)] or [[]]
        records = list(executor.map(write_part, (
            _WriteTask(to, [replace(s, extra=dict(s.extra)) for s in chunk], str(tmp), i, images, root)
            for i, chunk in enumerate(parts))))
        return dict(out.sharding.commit(tmp, records, dataset.categories, dataset.meta))


@functools.cache
def executor_settings() -> type:
    """The ``executor:`` and ``address:`` settings of the steps that run per shard (``convert``,
    ``validate``, ``evaluate``, ``predict``): the one declaration, a :class:`~cvpipe.settings.Settings`
    model that settings models subclass; steps with a plain signature take the same two
    fields and check them with :func:`check_executor_settings`."""
    from pydantic import Field

    from .settings import Settings

    class ExecutorSettings(Settings):
        executor: str | None = Field(None, description=EXECUTOR_HELP)
        address: str | None = Field(None, description=ADDRESS_HELP)

    ExecutorSettings.__module__ = __name__
    return ExecutorSettings


#: descriptions of the two settings (also the signature steps' docstrings say this)
EXECUTOR_HELP = ("run the step's per-shard work on this executor (``local``, or a plugin's: ``ray``); "
                 "null: in this process, as before")
ADDRESS_HELP = "cluster address for ``executor`` (e.g. ``127.0.0.1:6379``); null: the executor's default"


def check_executor_settings(executor: str | None, address: str | None) -> None:
    """ConfigError (YAML field ``executor``/``address``) unless ``executor`` is registered (or
    null) and ``address`` comes with an executor."""
    settings = executor_settings()(executor=executor, address=address)
    if settings.executor is not None:
        from .plugins import get_registry

        get_registry().executors.get(settings.executor, field="executor")
    elif settings.address is not None:
        raise ConfigError("an address without an executor", field="address", value=address,
                          expected="executor: NAME beside it (e.g. ray)")
