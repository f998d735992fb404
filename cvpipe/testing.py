"""Test helpers for cvpipe and its plugins; also a pytest plugin (entry point ``pytest11``).

With cvpipe installed, pytest loads this module by itself, so a plugin's tests can use:

Fixtures
    ``cvpipe_registry``
        the registry of the built-ins and every installed plugin (entry points ``cvpipe``),
        built fresh and installed as cvpipe's process-wide registry for the test.
    ``cvpipe_plugin``
        a factory: ``cvpipe_plugin(obj, name="mine")`` registers the module or object ``obj``
        in-process next to the built-ins (installed plugins left out unless
        ``entry_points=True``), makes it the process-wide registry and returns that
        :class:`~cvpipe.registry.Registry`. Everything is reset after the test.
    ``cvpipe_dataset``
        a small in-memory :class:`~cvpipe.data.Dataset` (see :func:`make_dataset`): no images.
    ``cvpipe_dataset_on_disk``
        the same with its tiny PNG images written under ``tmp_path / "src"``.

Functions
    :func:`make_dataset`, :func:`write_images`, :func:`make_context` (a pipeline Context for
    running one step), :func:`plugin_registry` (what ``cvpipe_plugin`` does, as a context
    manager), :func:`assert_same_dataset` and :func:`check_format`, the conformance suite every format plugin (the built-in ``voc``,
    ``coco`` and ``yolo`` included) passes::

        from cvpipe.testing import check_format

        def test_conformance(tmp_path):
            check_format("labelme", workdir=tmp_path)

This module is imported by every pytest run in an environment where cvpipe is installed:
it stays cheap to import (numpy and OpenCV load inside the functions that use them).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pytest

from .errors import CvpipeError, PluginError

__all__ = [
    "make_dataset",
    "blank_png",
    "write_images",
    "assert_same_dataset",
    "check_format",
    "FORMAT_CHECKS",
    "plugin_registry",
    "make_context",
]

#: Built-in formats a format plugin is cross-checked against (those installed and registered).
BUILTIN_FORMATS: tuple[str, ...] = ("voc", "coco", "yolo")

#: Image file name with non-ASCII characters used by the synthetic datasets.
UNICODE_IMAGE = "chat_ünïcødé_图像.png"
#: Category name with non-ASCII characters used by the synthetic datasets.
UNICODE_CATEGORY = "oiseau_été"


# ---------------------------------------------------------------------------------------------
# Synthetic datasets
# ---------------------------------------------------------------------------------------------


def make_dataset(
    n_images: int = 4,
    *,
    categories: Sequence[str] = ("cat", "dog", UNICODE_CATEGORY),
    boxes_per_image: int = 3,
    empty_images: int = 1,
    unicode_names: bool = True,
    size: tuple[int, int] = (64, 48),
    split: str | None = "train",
    seed: int = 0,
    root: Path | None = None,
):
    """A small dataset with integer boxes strictly inside the images.

    ``n_images`` images of ``size`` = (width, height) (each a few pixels different so sizes
    travel for real), the last ``empty_images`` of them without boxes, the first named
    :data:`UNICODE_IMAGE` when ``unicode_names``; ``boxes_per_image`` boxes per other image,
    labels cycling through ``categories`` so every category is used. Boxes are absolute pixel
    xyxy with integer corners (every format stores them exactly), at least 2 px wide and high.
    Image paths are bare file names relative to ``root``; no image is written (see
    :func:`write_images`).
    """
    import numpy as np

    from .data import Dataset, Sample

    rng = np.random.default_rng(seed)
    samples = []
    label = 0
    for i in range(n_images):
        w, h = size[0] + 2 * i, size[1] + i
        name = UNICODE_IMAGE if (unicode_names and i == 0) else f"img_{i:03d}.png"
        n = 0 if i >= n_images - empty_images else boxes_per_image
        boxes, labels = [], []
        for _ in range(n):
            x1 = int(rng.integers(0, w - 3))
            y1 = int(rng.integers(0, h - 3))
            x2 = int(rng.integers(x1 + 2, w + 1))
            y2 = int(rng.integers(y1 + 2, h + 1))
            boxes.append([x1, y1, x2, y2])
            labels.append(label % len(categories))
            label += 1
        samples.append(Sample(image=name, width=w, height=h, boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
                              labels=np.array(labels, dtype=np.int64), id=Path(name).stem, split=split))
    return Dataset(categories=list(categories), samples=samples, root=Path(root) if root is not None else None)


def blank_png(path: Path, width: int, height: int) -> Path:
    """Write a valid grey PNG of ``width`` x ``height`` at ``path`` (tiny: the rows are zeros),
    with nothing but the standard library: for tests of header-only image size reading."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\x00" * ((width + 1) * height))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def write_images(dataset, root: Path):
    """Write a small PNG of the right size for every sample under ``root`` (a flat colour per
    image, with its boxes outlined); return ``dataset`` with ``root`` set to it."""
    import numpy as np

    from .draw import save_png

    root = Path(root)
    for k, s in enumerate(dataset.samples):
        img = np.full((s.height, s.width, 3), (40 + 30 * k) % 256, dtype=np.uint8)
        for x1, y1, x2, y2 in s.boxes.astype(int):
            img[y1:y2, x1:x2, k % 3] = 220
        save_png(root / s.image, img)
    return replace(dataset, root=root, meta=dict(dataset.meta))


def _box_rows(dataset, sample) -> list[tuple[str, tuple[float, float, float, float]]]:
    return sorted(
        (dataset.categories[int(lab)], tuple(float(v) for v in box))
        for box, lab in zip(sample.boxes, sample.labels)
    )


def _unpaired(expected_rows, actual_rows, atol: float) -> list:
    """Expected (category, box) rows with no actual row of the same category within ``atol``
    on every coordinate, pairing each actual row at most once (closest first). Sorting both
    lists and comparing position by position would pair nearly equal boxes wrongly."""
    import numpy as np

    free = list(actual_rows)
    missing = []
    for cat, box in expected_rows:
        cands = [(float(np.max(np.abs(np.subtract(box, b)))), i) for i, (c, b) in enumerate(free) if c == cat]
        best = min(cands, default=None)
        if best is None or best[0] > atol:
            missing.append((cat, box))
        else:
            free.pop(best[1])
    return missing


def assert_same_dataset(
    expected,
    actual,
    *,
    atol: float = 1e-3,
    match: str = "name",
    check_splits: bool = False,
    check_categories: bool = False,
) -> None:
    """Assert two datasets hold the same images, sizes and boxes.

    Images are paired by file name (``match="name"``, the default: formats lay images out in
    different folders) or by full relative path (``match="path"``). Boxes of the same category are
    paired within ``atol`` pixels on every coordinate, so category order and box order do not
    matter. ``check_categories`` also requires the same category list (same
    order); otherwise only the categories boxes use are compared. Raises AssertionError
    listing every difference.
    """

    def key(s) -> str:
        return Path(s.image).name if match == "name" else str(s.image).replace("\\", "/")

    diffs: list[str] = []
    exp = {key(s): s for s in expected.samples}
    act = {key(s): s for s in actual.samples}
    if len(exp) != len(expected.samples) or len(act) != len(actual.samples):
        diffs.append(f"image keys are not unique under match={match!r}")
    if set(exp) != set(act):
        diffs.append(f"images differ: missing {sorted(set(exp) - set(act))}, unexpected {sorted(set(act) - set(exp))}")
    if check_categories and list(expected.categories) != list(actual.categories):
        diffs.append(f"categories differ: {expected.categories} != {actual.categories}")
    used_e = {c for c, n in expected.class_counts().items() if n}
    used_a = {c for c, n in actual.class_counts().items() if n}
    if used_e != used_a:
        diffs.append(f"categories in use differ: {sorted(used_e)} != {sorted(used_a)}")
    for k in sorted(set(exp) & set(act)):
        e, a = exp[k], act[k]
        if (e.width, e.height) != (a.width, a.height):
            diffs.append(f"{k}: size {e.width}x{e.height} != {a.width}x{a.height}")
        if check_splits and e.split != a.split:
            diffs.append(f"{k}: split {e.split!r} != {a.split!r}")
        re_, ra = _box_rows(expected, e), _box_rows(actual, a)
        if sorted(c for c, _ in re_) != sorted(c for c, _ in ra):
            diffs.append(f"{k}: box categories {[c for c, _ in re_]} != {[c for c, _ in ra]}")
            continue
        unmatched = _unpaired(re_, ra, atol)
        if unmatched:
            diffs.append(f"{k}: boxes differ (atol {atol}): no match for {unmatched}\n"
                         f"    expected {[b for _, b in re_]}\n    got      {[b for _, b in ra]}")
    if diffs:
        raise AssertionError("datasets differ:\n  " + "\n  ".join(diffs))


def make_context(tmp_path: Path, *, step_name: str = "step", pipeline: str = "test", hook: Any = None,
                 **objects: Any):
    """A :class:`cvpipe.pipeline.Context` for running one step in a test: run directory
    ``tmp_path / "run"``, base directory ``tmp_path``, quiet, holding ``objects`` (as earlier
    steps would have produced them: ``make_context(tmp_path, train=dataset)``)."""
    from .pipeline import Context

    ctx = Context(run_dir=Path(tmp_path) / "run", base_dir=Path(tmp_path), pipeline=pipeline, quiet=True, hook=hook)
    ctx.step_name = step_name
    for name, obj in objects.items():
        ctx[name] = obj
    return ctx


# ---------------------------------------------------------------------------------------------
# Registries with plugins
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def plugin_registry(*plugins: tuple[str, Any], builtins: bool = True, entry_points: bool = False):
    """Context manager: a registry with the built-ins (and installed plugins when
    ``entry_points``) plus the given ``(name, plugin)`` pairs registered in-process, installed
    as cvpipe's process-wide manager and registry while the block runs. A plugin that fails to
    load makes this raise :class:`PluginError` with its error, so tests see why."""
    from . import plugins as plugmod

    pm = plugmod.make_plugin_manager(builtins=builtins, entry_points=entry_points, extra=list(plugins))
    plugmod.reset(pm)
    try:
        registry = plugmod.get_registry()
        wanted = {name for name, _ in plugins}
        failed = [p for p in registry.plugins if p.error and p.name in wanted]
        if failed:
            raise PluginError("; ".join(f"plugin {p.name!r} was not loaded: {p.error}" for p in failed))
        yield registry
    finally:
        plugmod.reset()


@pytest.fixture
def cvpipe_registry():
    """The registry of the built-ins and every installed plugin, built fresh for this test and
    installed as the process-wide one (reset afterwards)."""
    from . import plugins as plugmod

    plugmod.reset()
    try:
        yield plugmod.get_registry()
    finally:
        plugmod.reset()


@pytest.fixture
def cvpipe_plugin():
    """Factory fixture: ``cvpipe_plugin(obj, name=None, *, entry_points=False) -> Registry``
    registers ``obj`` (a module or object with ``@cvpipe.hookimpl`` functions) in-process next
    to the built-ins and makes that the process-wide registry for the rest of the test."""
    stack = contextlib.ExitStack()

    def register(obj: Any, name: str | None = None, *, entry_points: bool = False):
        name = name or getattr(obj, "__name__", None) or type(obj).__name__
        stack.close()  # one in-process registry at a time
        return stack.enter_context(plugin_registry((name, obj), entry_points=entry_points))

    with stack:
        yield register


@pytest.fixture
def cvpipe_dataset():
    """A small in-memory dataset (see :func:`make_dataset`); its images are not on disk."""
    return make_dataset()


@pytest.fixture
def cvpipe_dataset_on_disk(tmp_path):
    """:func:`make_dataset` with its PNG images written under ``tmp_path / "src"``."""
    return write_images(make_dataset(), tmp_path / "src")


# ---------------------------------------------------------------------------------------------
# The format conformance suite
# ---------------------------------------------------------------------------------------------


def _expect(condition: Any, message: str) -> None:
    """``assert`` that survives ``python -O``: the suite must be able to fail."""
    if not condition:
        raise AssertionError(message)


class _Skip(Exception):
    """A check that does not apply to this format (e.g. round trips for a read-only format)."""


class _Run:
    """State shared by the checks of one :func:`check_format` call."""

    def __init__(self, name: str, registry, workdir: Path, against: Sequence[str]) -> None:
        self.name = name
        self.registry = registry
        self.workdir = workdir
        self.spec = registry.formats.get(name).obj
        self.against = [
            a for a in against
            if a != name and a in registry.formats
            and registry.formats.get(a).obj.reader is not None and registry.formats.get(a).obj.writer is not None
        ]
        self.source = write_images(make_dataset(), workdir / "source-images")
        self._n = 0

    def path(self, label: str) -> Path:
        self._n += 1
        return self.workdir / f"{self._n:02d}-{label}"

    def need(self, *parts: str) -> None:
        for part in parts:
            if getattr(self.spec, part) is None:
                raise _Skip(f"format {self.name!r} has no {part}")

    def write(self, fmt: str, dataset, dst: Path, **options: Any) -> dict:
        spec = self.registry.formats.get(fmt).obj
        options.setdefault("images", "copy")
        report = spec.writer(dataset, dst, **options)
        return report

    def read(self, fmt: str, path: Path, **options: Any):
        return self.registry.formats.get(fmt).obj.reader(path, **options)

    def round_trip(self, fmt: str, dataset, label: str):
        dst = self.path(f"{label}-{fmt}")
        self.write(fmt, dataset, dst)
        return self.read(fmt, dst)


def _check_registered(run: _Run) -> str:
    spec = run.spec
    _expect(spec.reader is not None or spec.writer is not None, "registers neither a reader nor a writer")
    for part in ("reader", "writer", "detect"):
        fn = getattr(spec, part)
        _expect(fn is None or callable(fn), f"{part} is not callable")
    return "reader" * (spec.reader is not None) + "+writer" * (spec.writer is not None)


def _check_round_trip(run: _Run) -> str:
    run.need("reader", "writer")
    back = run.round_trip(run.name, run.source, "round-trip")
    assert_same_dataset(run.source, back)
    return f"{len(back)} images, {back.num_boxes} boxes"


def _check_empty_images(run: _Run) -> str:
    run.need("reader", "writer")
    ds = write_images(make_dataset(3, empty_images=3, unicode_names=False), run.path("empty-src"))
    back = run.round_trip(run.name, ds, "empty")
    assert_same_dataset(ds, back)
    _expect(back.num_boxes == 0, f"{back.num_boxes} boxes appeared in a dataset without boxes")
    return "3 images without boxes kept"


def _check_unicode_names(run: _Run) -> str:
    run.need("reader", "writer")
    ds = make_dataset(2, categories=(UNICODE_CATEGORY, "日本語"), empty_images=0, unicode_names=True)
    ds = replace(ds, samples=[replace(s, image=f"ünï_{k}_图像.png", id=f"ünï_{k}_图像") for k, s in enumerate(ds.samples)])
    ds = write_images(ds, run.path("unicode-src"))
    back = run.round_trip(run.name, ds, "unicode")
    assert_same_dataset(ds, back)
    return "non-ASCII image and category names kept"


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob("*") if p.is_file() and _is_image(p)]


def _check_writer_contract(run: _Run) -> str:
    run.need("writer")
    dst = run.path("images-none")
    report = run.write(run.name, run.source, dst, images="none")
    _expect(isinstance(report, dict), f"writer returned {type(report).__name__}, expected a report dict")
    missing = [k for k in ("images", "boxes", "skipped") if k not in report]
    _expect(not missing, f"writer report lacks {missing}: {report}")
    _expect(report["images"] == len(run.source), f"report says {report['images']} images, wrote {len(run.source)}")
    _expect(report["boxes"] == run.source.num_boxes, f"report says {report['boxes']} boxes, wrote {run.source.num_boxes}")
    _expect(dst.exists(), "writer did not create dst")
    _expect(not _image_files(dst), f"images='none' wrote images: {_image_files(dst)}")
    leftovers = [p.name for p in dst.parent.iterdir() if p.name.startswith(f".{dst.name}")]
    _expect(not leftovers, f"temporary files left beside dst: {leftovers}")
    linked = run.path("images-link")
    run.write(run.name, run.source, linked, images="link")
    n = len(_image_files(linked))
    _expect(n == len(run.source), f"images='link' left {n} image files, expected {len(run.source)}")
    return "report keys, images none/link, no temporary leftovers"


def _check_unsafe_paths(run: _Run) -> str:
    run.need("writer")
    sample = run.source.samples[1]
    outside = run.workdir / "escaped.png"
    shutil.copyfile(run.source.image_path(sample), outside)
    bad = replace(run.source, samples=run.source.samples + [replace(sample, image="../escaped.png", id="escaped")])
    dst = run.path("unsafe") / "out"
    before = set(p.name for p in run.workdir.iterdir())
    try:
        run.write(run.name, bad, dst)
    except CvpipeError as exc:
        _expect(not isinstance(exc, PluginError), f"raised PluginError instead of an input error: {exc}")
    else:
        raise AssertionError("writing an image named '../escaped.png' was accepted; expected an InputError")
    _expect(not dst.exists(), "dst exists after a refused write (outputs appear whole or not at all)")
    after = set(p.name for p in run.workdir.iterdir())
    _expect(after - before <= {dst.parent.name}, f"files appeared outside dst: {sorted(after - before)}")
    return "'../' image names refused, nothing written"


def _check_detect(run: _Run) -> str:
    if run.spec.detect is None or run.spec.reader is None:
        raise _Skip(f"format {run.name!r} has no detect (or no reader)")
    empty = run.path("detect-empty")
    empty.mkdir()
    _expect(not run.spec.detect(empty), "detect() claims an empty folder")
    _expect(not run.spec.detect(run.workdir / "no-such-path"), "detect() claims a missing path")
    if run.spec.writer is not None:
        own = run.path("detect-own")
        run.write(run.name, run.source, own)
        _expect(run.spec.detect(own), "detect() does not recognise the format's own output")
    for other in run.against:
        out = run.path(f"detect-{other}")
        run.write(other, run.source, out)
        _expect(not run.spec.detect(out), f"detect() claims a {other!r} dataset")
        if run.spec.writer is not None:
            other_detect = run.registry.formats.get(other).obj.detect
            if other_detect is not None:
                _expect(not other_detect(own), f"{other!r} detect() claims this format's output")
    return f"own output recognised; empty, missing and {', '.join(run.against) or 'no other'} outputs not"


def _check_cross(run: _Run) -> str:
    run.need("reader", "writer")
    if not run.against:
        raise _Skip("no built-in format with reader and writer is registered")
    for other in run.against:
        # ours -> other
        mine = run.round_trip(run.name, run.source, f"to-{other}")
        dst = run.path(f"via-{run.name}-{other}")
        run.write(other, mine, dst)
        assert_same_dataset(run.source, run.read(other, dst))
        # other -> ours
        theirs = run.round_trip(other, run.source, f"from-{other}")
        dst = run.path(f"via-{other}-{run.name}")
        run.write(run.name, theirs, dst)
        assert_same_dataset(run.source, run.read(run.name, dst))
    return "round trips through " + ", ".join(run.against)


_GARBAGE = "\x00{<not [valid] in any format>\n"


def _check_bad_input(run: _Run) -> str:
    run.need("reader")
    try:
        run.read(run.name, run.workdir / "no-such-dataset")
    except CvpipeError as exc:
        _expect(not isinstance(exc, PluginError), f"a missing path raised PluginError: {exc}")
    else:
        raise AssertionError("reading a missing path returned instead of raising an InputError")
    if run.spec.writer is None:
        return "missing path refused"
    good = run.path("bad-src")
    run.write(run.name, run.source, good)
    if good.is_dir():
        files = sorted(p.relative_to(good) for p in good.rglob("*") if p.is_file() and not _is_image(p))
    else:
        files = [None]  # the format writes one file
    _expect(files, "the writer wrote no annotation files")
    checked = 0
    for rel in files[:8]:
        copy = run.path("bad")
        if rel is None:
            copy.mkdir()
            copy = target = copy / good.name
            shutil.copyfile(good, copy)
        else:
            shutil.copytree(good, copy)
            target = copy / rel
        target.write_text(_GARBAGE, encoding="utf-8")
        rel = rel or good.name
        for problems in (None, []):
            kwargs = {} if problems is None else {"problems": problems}
            try:
                back = run.read(run.name, copy, **kwargs)
            except CvpipeError as exc:
                _expect(not isinstance(exc, PluginError), f"corrupt {rel}: raised PluginError: {exc}")
                _expect(all(p.file for p in exc.problems), f"corrupt {rel}: a problem names no file: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the check
                raise AssertionError(f"corrupt {rel}: raised {type(exc).__name__} instead of an InputError:\n"
                                     + traceback.format_exc()) from exc
            if problems:  # lenient read: the problem was reported, the bad part left out
                _expect(all(p.file for p in problems), f"corrupt {rel}: a problem names no file: {problems}")
                continue
            try:  # silently accepted: only fine if the file did not matter
                assert_same_dataset(run.source, back)
            except AssertionError as exc:
                raise AssertionError(f"corrupt {rel} was read without an error into different data: {exc}") from None
        checked += 1
    return f"missing path refused; {checked} corrupted files refused with cvpipe errors (or unused)"


def _is_image(p: Path) -> bool:
    from .formats.images import is_image

    return is_image(p)


#: The conformance checks, in the order :func:`check_format` runs them.
FORMAT_CHECKS: dict[str, Callable[[_Run], str]] = {
    "registered": _check_registered,
    "round_trip": _check_round_trip,
    "empty_images": _check_empty_images,
    "unicode_names": _check_unicode_names,
    "writer_contract": _check_writer_contract,
    "unsafe_paths": _check_unsafe_paths,
    "detect": _check_detect,
    "cross_formats": _check_cross,
    "bad_input": _check_bad_input,
}


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cvpipe-check-format-") as tmp:
        yield Path(tmp)


def check_format(
    name: str,
    *,
    workdir: Path | None = None,
    against: Iterable[str] = BUILTIN_FORMATS,
    only: Iterable[str] | None = None,
    registry=None,
) -> dict[str, str]:
    """Run the format conformance suite on the registered format ``name``.

    Checks (see :data:`FORMAT_CHECKS`): the registration is sane; write -> read round trips
    return the same images, sizes, categories and boxes (a dataset with an empty image, one of
    images without boxes only, and non-ASCII image and category names); the writer's report and
    ``images="none"|"link"``; a writer refuses image names escaping ``dst`` (``../x.png``) and
    writes nothing; ``detect`` recognises the format's own output and not an empty folder, a
    missing path or the built-in formats' outputs (nor do they claim ours); round trips through
    each built-in format in ``against`` (ours -> theirs and theirs -> ours); and bad input
    (a missing path, each written file replaced by garbage) raises a cvpipe error naming the
    file -- never another exception, never silently different data.

    Readers and writers are called directly (not through the registry's error wrapper), so a
    foreign exception shows up as itself. Checks that do not apply (a read-only format's round
    trips) are skipped. Files go under ``workdir`` (a temporary folder when None).

    Returns:
        ``{check: "ok: what was verified" | "skipped: why"}``.

    Raises:
        AssertionError: listing every failing check with its reason.
    """
    from .plugins import get_registry

    registry = registry or get_registry()
    registry.formats.get(name)  # UnknownNameError listing the formats when not registered
    selected = list(FORMAT_CHECKS) if only is None else list(only)
    unknown = [c for c in selected if c not in FORMAT_CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {list(FORMAT_CHECKS)}")
    results: dict[str, str] = {}
    failures: list[str] = []
    with _workdir(workdir) as wd:
        run = _Run(name, registry, wd, list(against))
        for check in selected:
            try:
                results[check] = "ok: " + FORMAT_CHECKS[check](run)
            except _Skip as exc:
                results[check] = f"skipped: {exc}"
            except AssertionError as exc:
                results[check] = f"FAILED: {exc}"
                failures.append(f"[{check}] {exc}")
            except Exception as exc:  # noqa: BLE001 - report every check, not only the first
                results[check] = f"FAILED: {type(exc).__name__}: {exc}"
                failures.append(f"[{check}] raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    if failures:
        raise AssertionError(f"format {name!r} fails {len(failures)} conformance check(s):\n" + "\n".join(failures))
    return results
