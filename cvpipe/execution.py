"""Per-shard ``convert`` and ``validate`` through an executor (``--executor NAME``), streaming.

The work is cut into parts: those of a format whose :class:`~cvpipe.contract.Sharding` reads
(parquet shards, YOLO chunks of label files), otherwise chunks of :data:`CHUNK` samples of
the dataset the driver read. Each part is read and checked by a task on the executor
(:func:`check_part`); the driver merges the results as they come, in part order
(:class:`_Merger`: problems in the single-process order, images repeated across parts found
with a :class:`~cvpipe.data.keys.KeySet`, 24 bytes a kept image), and passes each part's valid
samples on without keeping them. An output format whose Sharding writes (parquet, COCO, YOLO) is
written while reading goes on: the valid samples re-cut into the writer's parts
(:func:`_write_tasks`, one part buffered), each written by a task into a temporary sibling of
``dst`` (:func:`write_part`), committed by the driver (manifest or JSON, then an atomic
rename) once every part was read and no problem refuses the conversion. Other outputs are
written by the driver with the format's writer, from all the valid samples.

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

from .data.keys import KeySet
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
    meta: dict = field(default_factory=dict)  # the part's Dataset.meta (a sharded read), merged by the driver


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
    meta = dict(ds.meta) if task.samples is None else {}
    return PartResult(task.index, list(valid.samples), read_problems, check_problems, skipped, images, boxes, meta)


def merge_part_meta(meta: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one part's ``Dataset.meta`` into ``meta`` (in place), as one read of the whole dataset
    would have it: ``notes`` counts added up, the finest ``coordinate_precision`` kept, any other
    key first-seen."""
    for key, value in part.items():
        if key == "notes":
            notes = dict(meta.get("notes") or {})
            for what, n in value.items():
                notes[what] = notes.get(what, 0) + n
            meta["notes"] = notes
        elif key == "coordinate_precision" and key in meta:
            meta[key] = {k: min(v, meta[key].get(k, v)) for k, v in value.items()} | {
                k: v for k, v in meta[key].items() if k not in value}
        else:
            meta.setdefault(key, value)


@dataclass(frozen=True)
class _WriteTask:
    fmt: str
    samples: list
    folder: str
    index: int
    images: str
    root: str | None
    options: dict = field(default_factory=dict)  # the writer's own options its write_part takes


def write_part(task: _WriteTask) -> dict[str, Any]:
    """Write one part of the output through the output format's Sharding (picklable task)."""
    spec = _formats_api().get_format(task.fmt, need="writer").obj
    return spec.sharding.write_part(task.samples, Path(task.folder), task.index, images=task.images,
                                    root=Path(task.root) if task.root else None, **task.options)


def _check_tasks(src: Path, fmt: str, *, images_dir: Path | None, splits: Sequence[str] | None,
                 check_images: bool, driver_problems: list[Problem],
                 follow_symlinks: bool = False) -> tuple[dict, Iterator[_CheckTask]]:
    """The header (categories, meta, root) and the check tasks of ``src``."""
    from .formats.check import dataset_folders

    fm = _formats_api()
    inside = tuple(str(p) for p in dataset_folders(src, images_dir))
    spec = fm.get_format(fmt, need="reader", field="--from").obj
    splits = list(splits) if splits else None
    from .formats.io import accepts, split_folder_layout

    # a split-folder export (train/ valid/ test/) is read whole: a sharding plans one layout
    if spec.sharding is not None and spec.sharding.plan is not None and not split_folder_layout(src, fmt):

        more = {"images_dir": images_dir} if accepts(spec.sharding.plan, "images_dir") else {}
        plan = spec.sharding.plan(src, splits=splits, **more)
        root = str(images_dir) if images_dir is not None else plan.get("root")
        header = {"categories": plan["categories"], "meta": plan.get("meta") or {}, "root": root}
        parts = plan["parts"] if isinstance(plan["parts"], list) else list(plan["parts"])

        def task(i: int) -> _CheckTask:
            return _CheckTask(i, str(src), fmt, parts[i], None, header["categories"], root, header["meta"],
                              str(images_dir) if images_dir else None, splits, check_images, True,
                              follow_symlinks=follow_symlinks, inside=inside)

        header["task"] = task
        return header, (task(i) for i in range(len(parts)))
    ds = fm.read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=driver_problems)
    root = str(ds.root) if ds.root is not None else None
    header = {"categories": list(ds.categories), "meta": dict(ds.meta), "root": root, "locate": ds.locate,
              "origin": ds.origin}
    meta = dict(ds.meta)
    n = max(1, -(-len(ds.samples) // CHUNK))

    def task(i: int) -> _CheckTask:
        return _CheckTask(i, str(src), fmt, None, ds.samples[i * CHUNK:(i + 1) * CHUNK], header["categories"], root,
                          meta, None, splits, check_images, True, ds.origin, follow_symlinks, inside)

    header["task"] = task
    return header, (task(i) for i in range(n))


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


def _sample_file(s: Any) -> str:
    o = s.origin
    return str((o.file if o is not None else None) or s.image)


class _Merger:
    """Merges part results in part order, streaming: :meth:`parts` yields each part's valid
    samples (images listed in an earlier part left out and reported) and forgets them; the
    problems (reader's first, then the checks', then the cross-part duplicates, as in one
    process) and the skipped counts accumulate. The driver keeps 24 bytes per kept image
    (:class:`KeySet`), never the samples."""

    def __init__(self, results: Iterator[PartResult], read_problems: list[Problem], rerun: Any = None) -> None:
        self.results = results
        self.read_problems = read_problems
        self.check_problems: list[Problem] = []
        self.skipped: Counter = Counter()
        self.images = self.boxes = 0
        self.meta: dict[str, Any] = {}  # the parts' Dataset.meta merged (merge_part_meta)
        self.kept = 0
        self._paths, self._ids = KeySet(), KeySet()
        self._starts: list[int] = []  # ordinal of each part's first kept sample
        self._dups: list[tuple[Problem, int]] = []  # (problem without hint, ordinal of the first one)
        self._left_out: dict[int, set[int]] = {}  # part -> positions of its valid samples left out
        self._rerun = rerun  # part index -> PartResult again (to name the file of a first occurrence)

    @property
    def has_problems(self) -> bool:
        return bool(self.read_problems or self.check_problems or self._dups)

    def parts(self) -> Iterator[list]:
        """Each part's valid samples, in order."""
        import numpy as np

        for r in self.results:
            self.read_problems.extend(r.read_problems)
            self.check_problems.extend(r.check_problems)
            self.skipped.update(r.skipped)
            self.images += r.images
            self.boxes += r.boxes
            merge_part_meta(self.meta, r.meta)
            self._starts.append(self.kept)
            samples = r.samples
            if not samples:
                yield []
                continue
            p1, p2 = KeySet.hashes([repr((s.split, s.image)) for s in samples])  # one image in two splits is two samples
            with_id = [k for k, s in enumerate(samples) if s.id is not None]
            i1, i2 = KeySet.hashes([repr((samples[k].split, samples[k].id)) for k in with_id])
            by_path = self._paths.find(p1, p2)
            by_id = np.full(len(samples), -1, dtype=np.int64)
            by_id[with_id] = self._ids.find(i1, i2)
            keep = []
            for k, s in enumerate(samples):
                where = {"file": _sample_file(s), "line": s.origin.line if s.origin is not None else None}
                if by_path[k] >= 0:
                    dup = Problem("duplicate image", field="image", value=s.image, expected="each image listed once",
                                  **where)
                    self._dups.append((dup, int(by_path[k])))
                elif by_id[k] >= 0:
                    dup = Problem("duplicate image id", field="id", value=s.id, expected="unique image ids", **where)
                    self._dups.append((dup, int(by_id[k])))
                else:
                    keep.append(k)
                    continue
                self._left_out.setdefault(len(self._starts) - 1, set()).add(k)
                self.skipped[_formats_api().problem_reason(dup) + " (whole image)"] += len(s)
            refs = np.arange(self.kept, self.kept + len(keep), dtype=np.int64)
            kept_ids = [j for j, k in enumerate(keep) if samples[k].id is not None]
            pos = {k: j for j, k in enumerate(with_id)}
            self._paths.add(p1[keep], p2[keep], refs)
            if kept_ids:
                idx = [pos[keep[j]] for j in kept_ids]
                self._ids.add(i1[idx], i2[idx], refs[kept_ids])
            self.kept += len(keep)
            yield [samples[k] for k in keep]

    def drain(self) -> None:
        """Merge the remaining parts (their samples dropped)."""
        for _ in self.parts():
            pass

    def _dup_problems(self) -> list[Problem]:
        """The duplicates, each with the file of the sample it repeats (the parts holding
        those are read again: duplicates are rare, remembering every file is not)."""
        import bisect
        from dataclasses import replace

        if not self._dups:
            return []
        wanted: dict[int, list[int]] = {}
        for _, ref in self._dups:
            part = bisect.bisect_right(self._starts, ref) - 1
            while part + 1 < len(self._starts) and self._starts[part + 1] == self._starts[part]:
                part += 1  # parts that kept nothing share the next one's start
            wanted.setdefault(part, []).append(ref)
        files: dict[int, str] = {}
        for part in sorted(wanted):
            left_out = self._left_out.get(part, set())
            valid = self._rerun(part).samples if self._rerun is not None else []
            kept = [s for k, s in enumerate(valid) if k not in left_out]
            for ref in wanted[part]:
                k = ref - self._starts[part]
                files[ref] = _sample_file(kept[k]) if 0 <= k < len(kept) else "an earlier part"
        out = []
        for dup, ref in self._dups:
            verb = "also in" if dup.message == "duplicate image" else "also used by"
            out.append(replace(dup, hint=f"{verb} {files[ref]}"))
        return out

    def problems(self) -> list[Problem]:
        """Every problem, in the single-process order (after the parts are merged)."""
        return self.read_problems + self.check_problems + self._dup_problems()


def _rerun(header: dict) -> Any:
    """Part index -> that part read and checked again, in this process (see :class:`_Merger`)."""
    task = header.get("task")
    return (lambda i: check_part(task(i))) if task is not None else None


class _CategoryOrder:
    """:func:`cvpipe.formats.order_categories` applied part by part: the target order is fixed
    by the categories (and ``classes``) alone; a used category ``classes`` lacks is collected
    over all parts and reported by :meth:`check`, after the problems (as in one process)."""

    def __init__(self, categories: Sequence[str], classes: Sequence[str] | None, classes_file: Path | None) -> None:
        from .data import Dataset

        fm = _formats_api()
        self.source = list(categories)
        self.classes_file = str(classes_file) if classes_file else None
        empty = Dataset(self.source, [])
        self.categories = list(fm.order_categories(empty, classes, classes_file=self.classes_file).categories)
        self.classes = classes
        self.unlisted: set[int] = set()
        self._missing = [i for i, c in enumerate(self.source) if c not in self.categories]
        index = {c: i for i, c in enumerate(self.categories)}
        import numpy as np

        self._remap = np.array([index.get(c, -1) for c in self.source] + [-1], dtype=np.int64)

    def apply(self, samples: list) -> list:
        """``samples`` with labels remapped to :attr:`categories` (the same list when the order
        does not change); the remapping is :func:`order_categories`'."""
        if self.categories == self.source:
            return samples
        from dataclasses import replace

        import numpy as np

        if self._missing and self.classes is not None:
            for s in samples:
                if len(s.labels):
                    self.unlisted.update(np.intersect1d(s.labels, self._missing).tolist())
        n = len(self.source)
        return [replace(s, labels=self._remap[np.where((s.labels >= 0) & (s.labels < n), s.labels, n)])
                if len(s.labels) else replace(s) for s in samples]

    def check(self) -> None:
        """Raise what :func:`order_categories` raises for a used category ``classes`` lacks."""
        if self.unlisted:
            from .data.categories import unlisted_classes_error

            raise unlisted_classes_error([c for i, c in enumerate(self.source) if i in self.unlisted],
                                         self.classes_file)


def _write_tasks(merger: _Merger, order: _CategoryOrder, fmt: str, step: int, folder: str, images: str,
                 root: Path | None, *, stop: bool, options: dict | None = None) -> Iterator[_WriteTask]:
    """The write tasks of the merged stream: ``step`` samples each (the parts the output
    format would write in one process), at most one task's samples buffered here. With
    ``stop``, no task after the first problem (the output will be refused; the parts are still
    all read, to report every problem)."""
    from dataclasses import replace

    buf: list = []
    index = 0

    def task(chunk: list) -> _WriteTask:
        return _WriteTask(fmt, [replace(s, extra=dict(s.extra)) for s in chunk], folder, index, images,
                          str(root) if root is not None else None, dict(options or {}))

    for part in merger.parts():
        if stop and merger.has_problems:
            return
        buf.extend(order.apply(part))
        while len(buf) >= step:
            yield task(buf[:step])
            buf = buf[step:]
            index += 1
    if stop and merger.has_problems:
        return
    if buf or index == 0:
        yield task(buf)


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
    merger = _Merger(executor.map(check_part, tasks), read_problems, _rerun(header))
    merger.meta = dict(header["meta"])
    merger.drain()
    n_read = len(merger.read_problems)
    problems = merger.problems()
    images, boxes = merger.images, merger.boxes
    problems = problems[:n_read] + _locate(problems[n_read:], header.get("locate"))
    result = {"source": str(src), "format": fmt, "images": images, "boxes": boxes,
              "categories": len(header["categories"]), "problems": problems, "ok": not problems}
    if merger.meta.get("notes"):  # what the reader assumed or changed (as validate_dataset)
        result["notes"] = dict(merger.meta["notes"])
    return result


def convert_sharded(src: Path, dst: Path, to: str, *, executor, from_format: str | None = None,
                    keep_difficult: bool = False, images: str = "copy", classes_file: Path | None = None,
                    classes: Sequence[str] | None = None, splits: Sequence[str] | None = None, images_dir: Path | None = None,
                    skip_invalid: bool = False, overwrite: bool = False,
                    follow_symlinks: bool = False) -> dict[str, Any]:
    """:func:`cvpipe.formats.convert_dataset` with reading and checking per part on
    ``executor`` and, for an output format with a Sharding, writing per part too (into a
    temporary sibling of ``dst``, committed by the driver). Same refusals, same report."""
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
    merger = _Merger(executor.map(check_part, tasks), read_problems, _rerun(header))
    merger.meta = dict(header["meta"])
    root = Path(header["root"]) if header["root"] else None

    def refuse_or_count() -> tuple[list[Problem], Counter]:
        n_read = len(merger.read_problems)
        problems = merger.problems()
        problems = problems[:n_read] + _locate(problems[n_read:], header.get("locate"))
        reasons: Counter = Counter(fm.problem_reason(p) for p in problems[:n_read])
        reasons.update(merger.skipped)
        if problems and not skip_invalid:
            raise fm.refuse_conversion(problems, src, dst)
        return problems, reasons

    if out.sharding is not None and out.sharding.write_part is not None:
        from .formats.io import accepts

        order = _CategoryOrder(header["categories"], classes, classes_file)
        step = out.sharding.rows_per_part
        own = {"keep_difficult": keep_difficult} if accepts(out.sharding.write_part, "keep_difficult") else {}
        with atomic_dir(dst) as tmp:
            records = list(executor.map(write_part, _write_tasks(merger, order, to, step, str(tmp), images, root,
                                                                 stop=not skip_invalid, options=own)))
            merger.drain()
            problems, reasons = refuse_or_count()
            order.check()
            report = dict(out.sharding.commit(tmp, records, order.categories, dict(merger.meta),
                                              **_commit_options(out.sharding.commit, dst)))
    else:
        from .formats.io import accepts

        samples = [s for part in merger.parts() for s in part]
        problems, reasons = refuse_or_count()
        dataset = Dataset(header["categories"], samples, root=root, meta=dict(merger.meta),
                          origin=header.get("origin"))
        dataset = fm.order_categories(dataset, classes, classes_file=str(classes_file) if classes_file else None)
        options: dict[str, Any] = {"images": images, "keep_difficult": keep_difficult}
        report = dict(fm.write_dataset(dataset, dst, to, **{k: v for k, v in options.items()
                                                           if accepts(out.writer, k)}))
    report = fm.conversion_report(report, reasons, len(problems))
    from .formats.convert import merge_notes

    notes = merge_notes(merger.meta.get("notes"), report.get("notes"))
    if notes:  # what the reader assumed or changed, then what the writer did (as convert_dataset)
        report["notes"] = notes
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

    def task(i: int) -> _CheckTask:
        return _CheckTask(i, "", "", None, samples[i * CHUNK:(i + 1) * CHUNK], list(dataset.categories), root,
                          dict(dataset.meta), None, None, check_images, True, dataset.origin)

    merger = _Merger(executor.map(check_part, (task(i) for i in range(n))), [], lambda i: check_part(task(i)))
    valid = [s for part in merger.parts() for s in part]
    return replace(dataset, samples=valid), _locate(merger.problems(), dataset.locate), merger.skipped


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
        return dict(out.sharding.commit(tmp, records, dataset.categories, dataset.meta,
                                        **_commit_options(out.sharding.commit, Path(dst))))


def _commit_options(commit: Callable[..., Any], dst: Path) -> dict[str, Any]:
    """``{"dst": dst}`` for a Sharding ``commit`` that takes the final destination (a writer
    whose files name it: YOLO's data.yaml), else ``{}``."""
    from .formats.io import accepts

    return {"dst": dst} if accepts(commit, "dst") else {}


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
