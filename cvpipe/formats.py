"""The shared formats layer: find, read, check and write datasets in any registered format.

Used by the CLI (``convert``, ``validate``), pipeline steps and evaluation; formats themselves are
plugins registered through ``cvpipe_register_formats`` (see :mod:`cvpipe.hookspecs`).

* :func:`detect_format` -- which registered format a path holds;
* :func:`read_dataset` / :func:`write_dataset` -- look the format up and call its reader/writer
  with options validated against the reader's/writer's signature (:func:`cvpipe.params.bind`);
* :func:`check_dataset` -- the checks common to every format (missing images, image size differing
  from the annotation, bad boxes, labels out of range, duplicate images/ids), reporting each
  problem and returning the valid part;
* category order (:func:`read_classes_file`, :func:`order_categories`) and image lookup
  (:func:`find_images_dir`, :func:`image_names`) shared by readers and writers;
* :func:`validate_dataset` and :func:`convert_dataset` -- what ``cvpipe validate`` and
  ``cvpipe convert`` run (read everything, check, refuse or skip-and-count, write atomically;
  direct converters in :data:`FAST_CONVERTERS` for VOC/COCO -> YOLO give the same bytes faster).

Problem locations: readers may record where a sample or box came from in *private* keys (names
starting with ``_``) that writers never write: ``Sample.extra["_file"]`` (the annotation file),
``Sample.extra["_line"]``, ``box_extra[i]["_line"]`` and ``box_extra[i]["_field"]`` (a field path
such as ``annotations[17].bbox``). :func:`check_dataset` uses them to name the place of a problem;
a reader may also leave ``Dataset.meta["_locate"]``, a callable ``(file, field) -> line | None``
asked only for problems found (COCO uses it to give JSON problems their line).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

from .errors import ConfigError, InputError, Problem
from .registry import call_plugin

__all__ = [
    "detect_format",
    "format_names",
    "get_format",
    "read_dataset",
    "write_dataset",
    "check_dataset",
    "problem_reason",
    "raise_or_collect",
    "read_classes_file",
    "order_categories",
    "voc_class_names",
    "find_images_dir",
    "image_names",
    "is_private",
    "public",
    "bind_options",
    "validate_dataset",
    "convert_dataset",
    "FAST_CONVERTERS",
]

#: Relative tolerance (of the image side) for "box outside the image": float formats (COCO xywh,
#: YOLO normalised) land a hair past the border after arithmetic that is exact on paper.
OUTSIDE_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------------
# Registry look-ups
# ---------------------------------------------------------------------------------------------


def _formats():
    from .plugins import get_registry

    return get_registry().formats


def format_names() -> list[str]:
    """Registered format names, sorted."""
    return _formats().names()


def get_format(name: str, *, need: str | None = None, field: str | None = None):
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


def read_dataset(
    path: Path,
    fmt: str | None = None,
    *,
    images_dir: Path | None = None,
    splits: Sequence[str] | None = None,
    problems: list[Problem] | None = None,
    **options: Any,
):
    """Read the dataset at ``path`` in format ``fmt`` (detected when None).

    ``options`` are the format's own reader options, checked against the reader's signature
    (an unknown option is a :class:`~cvpipe.errors.ConfigError` with a suggestion). With
    ``problems`` given, bad items are reported there and skipped; without, the reader raises one
    :class:`~cvpipe.errors.InputError` listing every problem.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    entry = get_format(fmt, need="reader", field="--from")
    reader = entry.obj.reader
    bound = bind_options(reader, options, where=f"{fmt} reader", skip=1)
    kwargs: dict[str, Any] = dict(bound)
    if images_dir is not None:
        kwargs["images_dir"] = Path(images_dir)
    if splits:
        kwargs["splits"] = list(splits)
    if problems is not None:
        if not _accepts(reader, "problems"):  # a reader without the option: all or nothing
            try:
                return call_plugin(entry, reader, path, **kwargs)
            except InputError as exc:
                problems.extend(exc.problems)
                from .data import Dataset

                return Dataset([])
        kwargs["problems"] = problems
    return call_plugin(entry, reader, path, **kwargs)


def write_dataset(dataset, dst: Path, fmt: str, **options: Any) -> dict:
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
    from .params import bind

    return bind(func, options, where=where, skip=skip)


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------


def raise_or_collect(found: list[Problem], problems: list[Problem] | None) -> None:
    """The readers' contract: append ``found`` to ``problems`` when a list is given, else raise
    one :class:`InputError` listing them all (nothing happens when ``found`` is empty)."""
    if not found:
        return
    if problems is not None:
        problems.extend(found)
        return
    raise InputError.from_problems(found)


def problem_reason(problem: Problem) -> str:
    """A short key grouping problems of one kind (``invalid: box is inverted``), for the
    ``skipped`` counts of a report."""
    return f"invalid: {problem.message}"


def is_private(key: str) -> bool:
    """Keys starting with ``_`` in ``extra``/``box_extra``/``meta`` are cvpipe-internal
    (problem locations) and never written to files."""
    return isinstance(key, str) and key.startswith("_")


def public(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without private keys."""
    return {k: v for k, v in d.items() if not is_private(k)}


def _sample_file(dataset, sample) -> str:
    return str(sample.extra.get("_file") or dataset.meta.get("_file") or dataset.image_path(sample))


def _box_where(dataset, sample, i: int, suffix: str = "") -> dict[str, Any]:
    ex = sample.box_extra[i] if sample.box_extra else {}
    field = ex.get("_field")
    field = f"{field}{suffix}" if field else f"{sample.image}: box[{i}]{suffix}"
    line = ex.get("_line", sample.extra.get("_line"))
    return {"file": _sample_file(dataset, sample), "line": line, "field": field}


# ---------------------------------------------------------------------------------------------
# Common checks
# ---------------------------------------------------------------------------------------------


def check_dataset(
    dataset,
    problems: list[Problem],
    *,
    check_images: bool = True,
    require_images: bool = True,
    skipped: Counter | None = None,
    progress: bool = False,
):
    """Run the checks every format shares; append a :class:`Problem` per finding to ``problems``
    and return the valid part of ``dataset`` (bad boxes and bad images left out).

    Checks: image width/height positive; duplicate image paths and duplicate image ids (per
    split); with ``check_images``, the image file exists (a problem only with
    ``require_images``) and its header size equals the annotated size; every box finite, not
    inverted, not empty and inside the image (within :data:`OUTSIDE_TOLERANCE`); labels within
    ``categories``. ``skipped`` (a Counter), when given, counts the boxes left out by reason.
    """
    skipped = skipped if skipped is not None else Counter()
    first = len(problems)
    valid = _check(dataset, problems, check_images, require_images, skipped, progress)
    locate = dataset.meta.get("_locate")  # a reader's way to place a problem on a line
    if callable(locate) and len(problems) > first:
        from dataclasses import replace

        for j in range(first, len(problems)):
            p = problems[j]
            if p.line is None and p.field:
                line = locate(p.file, p.field)
                if line:
                    problems[j] = replace(p, line=line)
    return valid


def _check(dataset, problems: list[Problem], check_images: bool, require_images: bool, skipped: Counter,
           progress: bool):
    import numpy as np

    from .images import image_size

    ncat = len(dataset.categories)
    seen_paths: dict[str, str] = {}
    seen_ids: dict[tuple[Any, Any], str] = {}
    kept = []
    samples: Iterable = dataset.samples
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, desc="checking", unit="img", leave=False)
    if check_images and require_images and len(dataset.samples) > 1 and not any(
            dataset.image_path(s).is_file() for s in dataset.samples):
        # not one image where the layout says: one problem, not one per image
        first = dataset.samples[0]
        problems.append(Problem(
            f"no image files found ({len(dataset.samples)} images listed)", file=_sample_file(dataset, first),
            value=str(dataset.image_path(first).parent), expected="the images in the dataset's layout",
            hint="point to the images with --images-dir"))
        skipped[problem_reason(problems[-1]) + " (whole image)"] += dataset.num_boxes
        return dataset.subset([])
    for s in samples:
        file = _sample_file(dataset, s)
        img_problems: list[Problem] = []
        if s.width <= 0 or s.height <= 0:
            img_problems.append(Problem("image size is not positive", file=file, line=s.extra.get("_line"),
                                        field=s.extra.get("_field", "size"), value=(s.width, s.height),
                                        expected="width > 0 and height > 0"))
        key = s.image
        if key in seen_paths:
            img_problems.append(Problem("duplicate image", file=file, line=s.extra.get("_line"),
                                        field=s.extra.get("_field", "image"), value=s.image,
                                        expected="each image listed once", hint=f"also in {seen_paths[key]}"))
        if s.id is not None:
            idkey = (s.split, s.id)
            if idkey in seen_ids:
                img_problems.append(Problem("duplicate image id", file=file, line=s.extra.get("_line"),
                                            field=s.extra.get("_field", "id"), value=s.id,
                                            expected="unique image ids", hint=f"also used by {seen_ids[idkey]}"))
        if check_images and not img_problems:
            path = dataset.image_path(s)
            if not path.is_file():
                if require_images:
                    img_problems.append(Problem("image file not found", file=file, line=s.extra.get("_line"),
                                                field=s.extra.get("_field", "image"), value=str(path),
                                                expected="an existing image file",
                                                hint="point to the images with --images-dir"))
            else:
                try:
                    size = image_size(path)
                except InputError as exc:
                    img_problems.extend(exc.problems)
                else:
                    if size != (s.width, s.height):
                        img_problems.append(Problem(
                            "image size differs from the annotation", file=file, line=s.extra.get("_line"),
                            field=s.extra.get("_field", "size"), value=f"{s.width}x{s.height}",
                            expected=f"{size[0]}x{size[1]} as in {path}"))
        if img_problems:
            problems.extend(img_problems)
            skipped[problem_reason(img_problems[0]) + " (whole image)"] += len(s)
            if len(s) and s.width > 0 and s.height > 0 and not any(p.message.startswith("duplicate") for p in img_problems):
                _check_boxes(dataset, s, ncat, problems, Counter())  # report its boxes' problems too
            continue
        seen_paths[key] = file
        if s.id is not None:
            seen_ids[(s.split, s.id)] = file
        kept.append(s)
    # boxes: one vectorised pass over all of them; the samples holding a bad box are then
    # checked one by one to name each problem
    withboxes = [i for i, s in enumerate(kept) if len(s)]
    if withboxes:
        lens = [len(kept[i]) for i in withboxes]
        b = np.concatenate([kept[i].boxes for i in withboxes])
        labels = np.concatenate([kept[i].labels for i in withboxes])
        w = np.repeat(np.array([kept[i].width for i in withboxes], dtype=np.float64), lens)
        h = np.repeat(np.array([kept[i].height for i in withboxes], dtype=np.float64), lens)
        bad = _bad_boxes(b, labels, w, h, ncat)["bad"]
        if bad.any():
            owner = np.repeat(np.array(withboxes), lens)
            for i in np.unique(owner[bad]).tolist():
                kept[i] = _check_boxes(dataset, kept[i], ncat, problems, skipped)
    return dataset.subset(kept)


def _bad_boxes(b, labels, w, h, ncat: int) -> dict:
    """Masks of box problems for xyxy boxes ``b`` ``(N, 4)`` in images ``w`` x ``h`` ``(N,)``,
    each box counted under its first problem: label, finite, inverted, empty, outside."""
    import numpy as np

    finite = np.isfinite(b).all(axis=1)
    with np.errstate(invalid="ignore"):
        inverted = finite & ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
        empty = finite & ~inverted & ((b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1]))
        tx, ty = OUTSIDE_TOLERANCE * np.maximum(w, 1), OUTSIDE_TOLERANCE * np.maximum(h, 1)
        outside = finite & ~inverted & ~empty & (
            (b[:, 0] < -tx) | (b[:, 1] < -ty) | (b[:, 2] > w + tx) | (b[:, 3] > h + ty))
    bad_label = (labels < 0) | (labels >= ncat)
    bad = ~finite | inverted | empty | outside | bad_label
    return {"bad": bad, "label": bad_label, "finite": finite, "inverted": inverted, "empty": empty}


def _check_boxes(dataset, s, ncat: int, problems: list[Problem], skipped: Counter):
    """Report each bad box of sample ``s``; return ``s`` without them."""
    import numpy as np

    b = s.boxes
    m = _bad_boxes(b, s.labels, np.full(len(s), float(s.width)), np.full(len(s), float(s.height)), ncat)
    for i in np.flatnonzero(m["bad"]):
        box = tuple(float(v) for v in b[i])
        shown = tuple(int(v) if math.isfinite(v) and v == int(v) else v for v in box)
        if m["label"][i]:
            p = Problem("label out of range", **_box_where(dataset, s, i, ".label"), value=int(s.labels[i]),
                        expected=f"0..{ncat - 1} (one of {ncat} categories)")
        elif not m["finite"][i]:
            p = Problem("box coordinate is not a finite number", **_box_where(dataset, s, i),
                        value=shown, expected="finite numbers")
        elif m["inverted"][i]:
            p = Problem("box is inverted", **_box_where(dataset, s, i), value=shown,
                        expected="x_min <= x_max and y_min <= y_max (xyxy)")
        elif m["empty"][i]:
            p = Problem("box has zero area", **_box_where(dataset, s, i), value=shown,
                        expected="x_min < x_max and y_min < y_max (xyxy)")
        else:
            p = Problem("box is outside the image", **_box_where(dataset, s, i), value=shown,
                        expected=f"inside 0..{s.width} x 0..{s.height} (xyxy)")
        problems.append(p)
        skipped[problem_reason(p)] += 1
    return s.select(~m["bad"])


# ---------------------------------------------------------------------------------------------
# Category order
# ---------------------------------------------------------------------------------------------


def read_classes_file(path: Path) -> list[str]:
    """Class names from a text file, one per line in id order (blank lines and ``#`` comments
    ignored). Raises InputError naming the file and line for an empty file or a repeated name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("cannot read the classes file", file=str(path), value=str(exc),
                         expected="a text file with one class name per line") from None
    names: list[str] = []
    where: dict[str, int] = {}
    found: list[Problem] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        name = raw.split("#", 1)[0].strip()
        if not name:
            continue
        if name in where:
            found.append(Problem("class listed twice", file=str(path), line=lineno, value=name,
                                 expected="each class once", hint=f"first on line {where[name]}"))
            continue
        where[name] = lineno
        names.append(name)
    if not names and not found:
        found.append(Problem("no class names", file=str(path), expected="one class name per line"))
    if found:
        raise InputError.from_problems(found)
    return names


def voc_class_names() -> tuple[str, ...]:
    """Pascal VOC's twenty class names in their canonical order (owned by the VOC plugin)."""
    from .builtin import voc

    return tuple(voc.VOC_CLASSES)


def order_categories(dataset, classes: Sequence[str] | None = None, *, classes_file: str | None = None):
    """``dataset`` with its categories in the order writers should use, labels remapped.

    * ``classes`` given (``--classes FILE``): exactly that order. Classes it lists that the data
      lacks are kept (empty); a category the data uses that ``classes`` lacks is an InputError
      naming ``classes_file``.
    * otherwise, when every category is one of Pascal VOC's twenty: VOC's canonical order
      (only the categories present).
    * otherwise the dataset's own order.

    Returns ``dataset`` itself when nothing changes.
    """
    import numpy as np

    cats = list(dataset.categories)
    if classes is not None:
        target = list(classes)
        missing = [c for c in cats if c not in target]
        if missing:
            used = dataset.class_counts()
            really = [c for c in missing if used.get(c, 0) > 0]
            if really:
                raise InputError("the data uses classes the classes file does not list",
                                 file=classes_file, value=", ".join(really),
                                 expected="every class of the data listed",
                                 hint="add them to the classes file")
    else:
        try:
            canonical = voc_class_names()
        except Exception:  # the VOC plugin is not importable: keep the data's order
            canonical = ()
        if canonical and cats and set(cats) <= set(canonical):
            target = [c for c in canonical if c in set(cats)]
        else:
            return dataset
    if target == cats:
        return dataset
    index = {c: i for i, c in enumerate(target)}
    remap = np.array([index.get(c, -1) for c in cats] + [-1], dtype=np.int64)
    from dataclasses import replace

    samples = []
    for s in dataset.samples:
        labels = s.labels
        if len(labels):
            labels = remap[np.where((labels >= 0) & (labels < len(cats)), labels, len(cats))]
        samples.append(replace(s, labels=labels))
    meta = dict(dataset.meta)
    return replace(dataset, categories=target, samples=samples, meta=meta)


# ---------------------------------------------------------------------------------------------
# Images on disk
# ---------------------------------------------------------------------------------------------


def find_images_dir(candidates: Sequence[Path], probe: str | None) -> Path | None:
    """The first folder of ``candidates`` that holds the image ``probe`` (a relative file name);
    when none does (or ``probe`` is None), the first that exists; None if none exists."""
    existing = [Path(c) for c in candidates if Path(c).is_dir()]
    if probe:
        for c in existing:
            if (c / probe).is_file():
                return c
    return existing[0] if existing else None


def image_names(samples: Sequence, *, known_key: str = "file_name") -> list[str]:
    """The name each sample's image should have inside an output split folder.

    A sample whose ``extra[known_key]`` (e.g. COCO ``file_name``) is a suffix of its path keeps
    that name (sub-folders included); otherwise the folders every sample of the group shares
    (``JPEGImages/``, ``images/train/``) are dropped and the rest kept. Names are not yet checked
    for safety: pass them through :func:`cvpipe.fsutil.safe_relpath`.
    """
    paths = [PurePosixPath(str(s.image).replace("\\", "/")) for s in samples]
    common: tuple[str, ...] | None = None
    for p in paths:
        parts = p.parts[:-1]
        if common is None:
            common = parts
        else:
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
    cut = len(common or ())
    out = []
    for s, p in zip(samples, paths):
        known = s.extra.get(known_key)
        if isinstance(known, str) and known and (str(p) == known or str(p).endswith("/" + known.lstrip("/"))):
            out.append(known)
        elif p.is_absolute():
            out.append(p.name)
        else:
            out.append("/".join(p.parts[cut:]))
    return out


# ---------------------------------------------------------------------------------------------
# Convert and validate (what `cvpipe convert` / `cvpipe validate` run)
# ---------------------------------------------------------------------------------------------

#: at most this many problems are listed when convert refuses its input (validate lists all)
MAX_LISTED_PROBLEMS = 50


def _accepts(func, name: str) -> bool:
    import inspect

    params = inspect.signature(func).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def validate_dataset(
    src: Path,
    fmt: str | None = None,
    *,
    images_dir: Path | None = None,
    splits: Sequence[str] | None = None,
    check_images: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Read ``src`` completely and run every check; nothing is raised for bad data.

    Returns ``{"source", "format", "images", "boxes", "categories", "problems": [Problem],
    "ok": bool}`` (``images``/``boxes`` count what was readable).
    """
    src = Path(src)
    fmt = fmt or detect_format(src)
    problems: list[Problem] = []
    dataset = read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=problems)
    check_dataset(dataset, problems, check_images=check_images, progress=progress)
    return {
        "source": str(src), "format": fmt, "images": len(dataset), "boxes": dataset.num_boxes,
        "categories": len(dataset.categories), "problems": problems, "ok": not problems,
    }


def _same_or_inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def convert_dataset(
    src: Path,
    dst: Path,
    to: str,
    *,
    from_format: str | None = None,
    keep_difficult: bool = False,
    images: str = "copy",
    classes_file: Path | None = None,
    splits: Sequence[str] | None = None,
    images_dir: Path | None = None,
    skip_invalid: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Convert the dataset at ``src`` into format ``to`` at ``dst``.

    ``dst`` must not exist or be empty, unless ``overwrite`` (then it is replaced as a whole,
    once the new output is complete).

    The input is read completely and checked like :func:`validate_dataset` (image files are
    checked only when they are copied or linked); any problem refuses the conversion with an
    InputError listing them (``dst`` untouched) unless ``skip_invalid``, which leaves the bad
    items out and counts them. Categories are ordered by :func:`order_categories`. VOC -> YOLO
    takes the VOC plugin's streaming converter when the options allow it.

    Returns the writer's report plus ``source``, ``from``, ``to`` and ``skipped`` merged:
    ``{"images", "boxes", "skipped": {reason: n}, ...}``.
    """
    src, dst = Path(src), Path(dst)
    if images not in ("copy", "link", "none"):
        raise ConfigError("bad --images", field="--images", value=images, expected="copy, link or none")
    fmt = from_format or detect_format(src)
    get_format(fmt, need="reader", field="--from")
    writer_entry = get_format(to, need="writer", field="--to")
    if src.exists() and (_same_or_inside(dst, src) or _same_or_inside(src, dst)):
        raise ConfigError("the output folder overlaps the input", field="DST", value=str(dst),
                          expected="a folder outside SRC that does not contain it")
    from .fsutil import recover

    recover(dst)  # an earlier run killed mid-swap: its DST is put back before DST is judged
    if dst.exists() and not overwrite and (not dst.is_dir() or any(dst.iterdir())):
        raise ConfigError("the output exists and is not empty", field="DST", value=str(dst),
                          expected="a new or empty folder", hint="replace it with --overwrite")
    classes = read_classes_file(classes_file) if classes_file is not None else None

    fast = _fast_converter(fmt, to, images_dir=images_dir, skip_invalid=skip_invalid)
    if fast is not None:
        kwargs: dict[str, Any] = {"classes": classes, "keep_difficult": keep_difficult, "images": images,
                                  "splits": list(splits) if splits else None, "progress": progress,
                                  "images_dir": images_dir, "skip_invalid": skip_invalid}
        kwargs = {k: v for k, v in kwargs.items() if _accepts(fast, k)}
        report = fast(src, dst, **kwargs)
        if report is not None:  # None: the fast path declined (nothing written); go the general way
            report = dict(report)
            report.setdefault("skipped", {})
            report.update({"source": str(src), "dst": str(dst), "from": fmt, "to": to})
            return report

    problems: list[Problem] = []
    dataset = read_dataset(src, fmt, images_dir=images_dir, splits=splits, problems=problems)
    skipped: Counter = Counter()
    for p in problems:
        skipped[problem_reason(p)] += 1
    dataset = check_dataset(dataset, problems, check_images=images != "none", skipped=skipped, progress=progress)
    if problems and not skip_invalid:
        listed = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > len(listed):
            listed.append(Problem(f"... and {len(problems) - len(listed)} more problems",
                                  hint=f"list them all with: cvpipe validate {src}"))
        listed.append(Problem("nothing was written", file=str(dst),
                              hint="fix the input, or leave the bad items out with --skip-invalid"))
        raise InputError.from_problems(listed)
    dataset = order_categories(dataset, classes, classes_file=str(classes_file) if classes_file else None)
    options: dict[str, Any] = {"images": images, "keep_difficult": keep_difficult}
    if progress and _accepts(writer_entry.obj.writer, "progress"):
        options["progress"] = True
    report = dict(write_dataset(dataset, dst, to, **{k: v for k, v in options.items()
                                                     if _accepts(writer_entry.obj.writer, k)}))
    merged = Counter(skipped)
    merged.update(report.get("skipped") or {})
    report["skipped"] = dict(merged)
    report.update({"source": str(src), "dst": str(dst), "from": fmt, "to": to, "problems": len(problems)})
    return report


#: Direct converters of the built-in formats: (from, to) -> (module, function). They write
#: exactly what the general path (read, check, order categories, write) writes, only faster;
#: a converter may return None to decline (then the general path runs).
FAST_CONVERTERS: dict[tuple[str, str], tuple[str, str]] = {
    ("voc", "yolo"): ("cvpipe.builtin.voc", "convert_voc_to_yolo"),
    ("coco", "yolo"): ("cvpipe.builtin.coco", "convert_coco_to_yolo"),
}


def _fast_converter(fmt: str, to: str, *, images_dir: Path | None, skip_invalid: bool):
    """The built-in direct converter for ``fmt -> to`` when both formats are the built-in ones
    and the options need nothing it lacks; else None (the general path)."""
    import importlib

    if (fmt, to) not in FAST_CONVERTERS:
        return None
    reg = _formats()
    if not all(reg.get(f).plugin.startswith("cvpipe.builtin") for f in (fmt, to)):
        return None
    modname, attr = FAST_CONVERTERS[(fmt, to)]
    try:
        func = getattr(importlib.import_module(modname), attr, None)
    except ImportError:
        return None
    if func is None:
        return None
    if images_dir is not None and not _accepts(func, "images_dir"):
        return None
    if skip_invalid and not _accepts(func, "skip_invalid"):
        return None
    return func
