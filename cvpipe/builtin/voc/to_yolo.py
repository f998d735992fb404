"""The streaming VOC -> YOLO converter (hook ``cvpipe_convert``; :func:`convert_voc_to_yolo`).

Why a separate path: converting VOC2012 (17k small XML files) costs start-up, one XML parse and
one file creation per image, so this path imports no numpy, spreads the files over a process pool
(chunks taken from the split folders in turn), reads plain files with one-function extraction
(the general reader for anything else), writes each label file as soon as its XML is parsed with
raw ``os`` calls (memory holds the list of file names, never the labels), and shares with the
general path what decides every byte and every problem: the VOC parsing and box checks
(:func:`.reader.parse_file`, :mod:`cvpipe.data.checks`), the image checks and their wording
(as :func:`cvpipe.formats.check_dataset`), the YOLO line arithmetic, label names, split folders and
``data.yaml`` text (:mod:`cvpipe.formats.yolo_text`), the category order
(:mod:`cvpipe.data.categories`), the refusal (:func:`cvpipe.formats.refuse_conversion`) and the
report (:func:`cvpipe.formats.conversion_report`).

Class ids before the order is known: label files are written with provisional tokens (the
canonical VOC id, or ``#<hex name>`` for another name); when the final order differs (a VOC class
absent, or other names) a second, cheap pass over the written label files rewrites the first
token. What the streaming path does not reproduce (a file name with folders, an image listed
twice, two images with one label name, ``<score>`` detections, an image a split list names
without an XML file) makes it decline (nothing written): the general path then runs.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from cvpipe.data.categories import VOC_CLASSES, unlisted_classes_error, voc_categories
from cvpipe.errors import ConfigError, Problem
from cvpipe.formats import conversion_report, problem_reason
from cvpipe.formats.yolo_text import data_yaml_text, label_name, output_split, stand_in_notes

from .layout import voc_layout
from .reader import parse_file

_CHUNK = 256
_JOB: dict = {}
#: a new file, written as bytes ("\n" line ends, like write_yolo's newline="\n", on every OS)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class _Fallback(Exception):
    """The streaming path cannot reproduce the generic output for this dataset."""


def _init(job: dict) -> None:
    _JOB.clear()
    _JOB.update(job)


def _init_worker(job: dict) -> None:
    """A pool worker's start: the job, and the default SIGTERM (the pool ends its workers with
    it; a handler inherited from the CLI would print a traceback from each worker)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _init(job)


def _write_new(path: str, text: str) -> None:
    fd = os.open(path, _CREATE, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


@dataclass
class _Tally:
    """What a chunk of files (or the whole run) read and wrote: counts, the object names of the
    parsed files and of the files written, ``(index, filename)`` of the parsed files,
    ``(index, problems)`` of reading, ``(index, problems, boxes)`` of the image checks, and the
    ``(split folder, had a split)`` of the files written."""

    images: int = 0
    boxes: int = 0
    difficult: int = 0
    crowd: int = 0
    files: int = 0
    images_found: int = 0
    names_read: set[str] = field(default_factory=set)
    names_kept: set[str] = field(default_factory=set)
    parsed: list[tuple[int, str]] = field(default_factory=list)
    read_problems: list[tuple[int, list[Problem]]] = field(default_factory=list)
    image_problems: list[tuple[int, list[Problem], int]] = field(default_factory=list)
    kept_splits: set[tuple[str, bool]] = field(default_factory=set)

    def add(self, other: "_Tally") -> None:
        for name in ("images", "boxes", "difficult", "crowd", "files", "images_found"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.names_read |= other.names_read
        self.names_kept |= other.names_kept
        self.parsed += other.parsed
        self.read_problems += other.read_problems
        self.image_problems += other.image_problems
        self.kept_splits |= other.kept_splits


def _run_chunk(chunk: list[tuple[int, str, str, bool]]) -> _Tally | None:
    """Convert a chunk of ``(index, xml_path, out_split, has_split)``; None when the general path
    is needed. Images are checked (when copied) by :func:`cvpipe.formats.check.image_file_problems`,
    as :func:`cvpipe.formats.check_dataset` checks them."""
    from cvpipe.data.checks import MAX_IMAGE_SIDE, size_is_valid
    from cvpipe.errors import InputError
    from cvpipe.formats.check import image_file_problems
    from cvpipe.formats.xml import read_bytes

    from .scan import scan_voc

    j = _JOB
    tmp, image_root, shift = j["tmp"], j["image_root"], j["shift"]
    tokens, decimals, images = j["tokens"], j["decimals"], j["images"]
    keep_difficult = j["keep_difficult"]
    t = _Tally()
    # one %-format per line: the same digits as yolo_box_text's f-string (the same float
    # formatting) from the same arithmetic, in one call (tests check the bytes are identical)
    line_fmt = f"%s %.{decimals}f %.{decimals}f %.{decimals}f %.{decimals}f\n"
    parse = parse_file
    for idx, xml, split, has_split in chunk:
        # the plain file it nearly always is: the scanner's record (the one the lxml path
        # gives); anything else, or a file that cannot be read, goes the reader's way
        try:
            rec = scan_voc(read_bytes(xml), shift)
        except InputError:
            rec = None
        if rec is None:
            found: list[Problem] = []
            rec = parse(xml, image_root, shift, False, None, found)
            if found:
                t.read_problems.append((idx, found))
            if rec is None:
                continue
        name = rec["filename"]
        if "/" in name:
            return None
        objects = rec["objects"]
        for o in objects:
            if o[5] is not None:  # a <score>: detections, which the general reader checks as a whole
                return None
            t.names_read.add(o[0])
        t.parsed.append((idx, name))
        w, h = rec["width"], rec["height"]
        if not (type(w) is int and type(h) is int and 0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE) \
                and not size_is_valid(w, h):  # (the common case without the call)
            return None  # the general path names it (image size too large)
        src = None
        if images != "none":
            src = image_root / name
            t.images_found += src.is_file()
            img_found = image_file_problems(src, w, h, file=xml, confine=j["confine"])
            if img_found:
                t.image_problems.append((idx, img_found, len(objects)))
                continue
        lines = []
        for oname, (x1, y1, x2, y2), diff, _trunc, crowd, _score, _extra, _origin in objects:
            t.names_kept.add(oname)
            if diff and not keep_difficult:
                t.difficult += 1
                continue
            if crowd:  # crowd boxes (from COCO) are left out, as write_yolo does by default
                t.crowd += 1
                continue
            tok = tokens.get(oname) or "#" + oname.encode("utf-8").hex()
            lines.append(line_fmt % (tok, (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h, (x2 - x1) / w, (y2 - y1) / h))
        try:
            _write_new(f"{tmp}/labels/{split}/{label_name(name)}", "".join(lines))
        except FileExistsError:
            return None
        t.files += 1
        if src is not None:
            from cvpipe.fsutil import place_file

            place_file(src, Path(f"{tmp}/images/{split}/{name}"), images)
            t.files += 1
        t.kept_splits.add((split, has_split))
        t.images += 1
        t.boxes += len(lines)
    return t


def _interleave(work: list[tuple[int, str, str]], size: int) -> list[list[tuple[int, str, str]]]:
    """Chunks of ``size`` files of one split each, taken from the splits in turn: two workers
    then mostly create files in different folders, which the file system does in parallel
    (creating files in one folder is serialised by the folder's lock)."""
    by_split: dict[str, list] = {}
    for item in work:
        by_split.setdefault(item[2], []).append(item)
    queues = [[items[i:i + size] for i in range(0, len(items), size)] for items in by_split.values()]
    out = []
    for k in range(max((len(q) for q in queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


def _remap_chunk(paths: list[str]) -> int:
    """Rewrite the first token of every line of the label files ``paths`` through the job's
    ``remap``; returns how many files changed."""
    remap = _JOB["remap"]
    changed = 0
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        if not text:
            continue
        out = []
        for line in text.splitlines(keepends=True):
            tok, sep, rest = line.partition(" ")
            out.append(remap.get(tok, tok) + sep + rest)
        new = "".join(out)
        if new != text:
            with open(p, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(new)
            changed += 1
    return changed


def default_workers() -> int:
    """The CPUs this process may run on (``sched_getaffinity``, so ``taskset`` and container
    CPU sets are respected), or ``os.cpu_count()`` where that is not available.

    The load average is deliberately not consulted: it lags by a minute, so a run right after
    other work (a benchmark's previous round, a build) would fall back to one process on CPUs
    that are in fact free. Pass ``workers=1`` on a machine you know to be busy.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _pool_map(func, chunks: list, job: dict, workers: int, bar):
    """``func`` over ``chunks`` in a process pool (in-process for one worker or few chunks),
    yielding results in order and advancing ``bar`` by each chunk's length."""
    if workers <= 1 or len(chunks) <= 2:
        _init(job)
        for c in chunks:
            yield func(c)
            if bar is not None:
                bar.update(len(c))
        return
    import multiprocessing as mp

    # lxml is not imported here: the workers' scanner reads plain files without it, and a
    # worker imports it at its first other file
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
        for c, res in zip(chunks, pool.imap(func, chunks)):
            yield res
            if bar is not None:
                bar.update(len(c))


def convert_voc_to_yolo(
    src: Path,
    dst: Path,
    *,
    classes: Sequence[str] | None = None,
    classes_file: str | None = None,
    keep_difficult: bool = False,
    images: Literal["copy", "link", "none"] = "none",
    splits: Sequence[str] | None = None,
    images_dir: Path | None = None,
    skip_invalid: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Convert a Pascal VOC dataset to the YOLO (Ultralytics) layout: what
    ``cvpipe convert SRC DST --from voc --to yolo`` does (:func:`cvpipe.formats.convert_dataset`),
    through the streaming converter (:func:`stream_voc_to_yolo`) when it can, else the general
    path. Same arguments as ``convert_dataset``, plus ``workers`` (processes; default: the CPUs
    this process may use, see :func:`default_workers`).

    Returns:
        ``{"images", "boxes", "skipped": {reason: n}, "files", "problems"}``.

    Raises:
        InputError: :func:`cvpipe.formats.refuse_conversion` listing the problems unless
            ``skip_invalid``.
    """
    options = {"classes": list(classes) if classes is not None else None, "classes_file": classes_file,
               "keep_difficult": keep_difficult, "images": images, "splits": list(splits) if splits else None,
               "images_dir": images_dir, "skip_invalid": skip_invalid, "progress": progress}
    report = stream_voc_to_yolo(Path(src), Path(dst), options, workers=workers)
    if report is None:
        from cvpipe.formats import convert_dataset

        report = convert_dataset(src, dst, "yolo", from_format="voc", direct=False, **options)
        for key in ("source", "dst", "from", "to"):
            report.pop(key, None)
    return report


#: the options :func:`stream_voc_to_yolo` understands, with their defaults
OPTIONS = {"classes": None, "classes_file": None, "keep_difficult": False, "images": "copy", "splits": None,
           "images_dir": None, "skip_invalid": False, "progress": False, "follow_symlinks": False}


def stream_voc_to_yolo(src: Path, dst: Path, options: dict, *, workers: int | None = None) -> dict | None:
    """The streaming VOC -> YOLO converter behind the ``cvpipe_convert`` hook: the files, report
    and errors of the general path (read, check, order categories, ``write_yolo``), or None
    (nothing written) for what it does not reproduce: an option it does not know, a ``<score>``,
    a file name with folders, an image listed twice, two images with one label name.

    ``options``: see :data:`OPTIONS` (the hook's options). Returns the report with ``problems``.
    """
    from cvpipe.formats import refuse_conversion
    from cvpipe.fsutil import atomic_dir, safe_relpath

    if any(k not in OPTIONS and v not in (None, False) for k, v in options.items()):
        return None  # an option of a newer cvpipe: the general path knows it
    opt = {**OPTIONS, **options}
    images, classes, skip_invalid = opt["images"], opt["classes"], opt["skip_invalid"]
    if images not in ("copy", "link", "none"):
        raise ConfigError("unknown images mode", field="images", value=images, expected="copy, link or none")
    found: list[Problem] = []
    bare: dict = {}
    entries, image_root = voc_layout(Path(src), opt["splits"], opt["images_dir"], found, bare=bare)
    if bare:
        return None  # images listed without an XML file: the general path reads and counts them
    any_split = any(e[1] is not None for e in entries)
    work = [(k, xml, output_split(split, any_split), split is not None)
            for k, (xml, split, _) in enumerate(entries)]
    split_dirs = list(dict.fromkeys(w[2] for w in work))
    for s in split_dirs:
        if "/" in safe_relpath(s, field="split"):
            return None  # write_yolo's error, from the general path
    provisional = list(classes) if classes is not None else list(VOC_CLASSES)
    tokens = {c: str(i) for i, c in enumerate(provisional)}
    workers = max(1, int(workers or default_workers()))
    out = Path(dst).absolute()  # data.yaml names it absolute; messages name dst as given
    t = _Tally()
    bar = None
    if opt["progress"]:
        from tqdm import tqdm

        bar = tqdm(total=len(work), desc="voc -> yolo", unit="file", leave=False)
    try:
        with atomic_dir(out) as tmp:
            for s in split_dirs:
                os.makedirs(f"{tmp}/labels/{s}")
                if images != "none":
                    os.makedirs(f"{tmp}/images/{s}")
            from cvpipe.formats.check import dataset_folders

            confine = None if opt["follow_symlinks"] else [image_root, *dataset_folders(Path(src), opt["images_dir"])]
            job = {"confine": confine, "tmp": str(tmp), "image_root": image_root, "shift": 0.0, "tokens": tokens, "decimals": 6,
                   "images": images, "keep_difficult": opt["keep_difficult"]}
            for res in _pool_map(_run_chunk, _interleave(work, _CHUNK), job, workers, bar):
                if res is None:
                    raise _Fallback
                t.add(res)
            parsed = sorted(t.parsed)
            if len({name for _, name in parsed}) != len(parsed):
                raise _Fallback  # an image listed twice: check_dataset names it
            if any_split and t.kept_splits and not any(has for _, has in t.kept_splits):
                raise _Fallback  # the files with a split were all left out: write_yolo says "train"
            skipped: Counter = Counter()
            for _, ps in sorted(t.read_problems, key=lambda r: r[0]):  # file order, as read_voc
                found += ps
            for p in found:
                skipped[problem_reason(p)] += 1
            image_problems = sorted(t.image_problems, key=lambda r: r[0])
            if images != "none" and len(parsed) > 1 and t.images_found == 0:
                # not one image where the layout says: one problem, as check_dataset gives
                first = next(xml for k, xml, _, _ in work if k == parsed[0][0])
                p = Problem(f"no image files found ({len(parsed)} images listed)", file=first,
                            value=str((image_root / parsed[0][1]).parent), expected="the images in the dataset's layout",
                            hint="point to the images with --images-dir")
                found.append(p)
                skipped[problem_reason(p) + " (whole image)"] += sum(n for _, _, n in image_problems)
            else:
                for _, ps, n in image_problems:
                    found += ps
                    skipped[problem_reason(ps[0]) + " (whole image)"] += n
            if found and not skip_invalid:
                raise refuse_conversion(found, src, dst)
            categories = voc_categories(t.names_read)
            if classes is not None:
                really = [c for c in categories if c not in classes and c in t.names_kept]
                if really:
                    raise unlisted_classes_error(really, opt["classes_file"])
                categories = list(classes)
            _rewrite_ids(tmp, split_dirs, tokens, categories, job, workers)
            out_splits = []
            for s in split_dirs:  # a split whose files were all left out is not written (as write_yolo)
                if any(s == k for k, _ in t.kept_splits):
                    out_splits.append(s)
                else:
                    os.rmdir(f"{tmp}/labels/{s}")
                    if images != "none":
                        os.rmdir(f"{tmp}/images/{s}")
            with open(tmp / "data.yaml", "w", encoding="utf-8", newline="\n") as fh:
                fh.write(data_yaml_text(out, out_splits, categories))
            # data.yaml's train/val standing in for absent splits: write_yolo's notes
            notes = stand_in_notes(out_splits, lambda split: len(os.listdir(f"{tmp}/labels/{split}")))
    except _Fallback:
        return None
    finally:
        if bar is not None:
            bar.close()
    written = {"images": t.images, "boxes": t.boxes, "skipped": {"difficult": t.difficult, "crowd": t.crowd},
               "files": t.files + 1}  # + data.yaml
    if notes:
        written["notes"] = notes
    return conversion_report(written, skipped, len(found))


def _rewrite_ids(tmp: Path, split_dirs: list[str], tokens: dict[str, str], categories: list[str], job: dict,
                 workers: int) -> None:
    """Replace the provisional class tokens of the written label files by the final ids."""
    remap = {tokens.get(n) or "#" + n.encode("utf-8").hex(): str(i) for i, n in enumerate(categories)}
    remap = {k: v for k, v in remap.items() if k != v}
    if not remap:
        return
    paths = [e.path for s in split_dirs for e in os.scandir(f"{tmp}/labels/{s}")]
    job["remap"] = remap
    for _ in _pool_map(_remap_chunk, [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)], job, workers, None):
        pass
