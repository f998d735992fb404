"""The fast VOC -> YOLO conversion (:func:`convert_voc_to_yolo`, re-exported by
:mod:`cvpipe.builtin.voc`).

Why a separate path: converting VOC2012 (17k small XML files) costs start-up, one XML parse and
one file creation per image, so this path imports no numpy, spreads the files over a process pool
(chunks taken from the split folders in turn), reads plain files with one-function extraction
(``voc._extract_quick``, the general reader for anything else), writes each label file as soon as
its XML is parsed with raw ``os`` calls (memory holds the list of file names, never the labels),
and shares with the generic path what decides every byte: the VOC parsing and checks
(``voc._parse_file``), the YOLO line arithmetic and ``data.yaml`` text (``yolo.yolo_box_text``,
``yolo.data_yaml_text``), split and file naming and the category order (``voc.voc_categories``).

Class ids before the order is known: label files are written with provisional tokens (the
canonical VOC id, or ``#<hex name>`` for another name); when the final order differs (a VOC class
absent, or other names) a second, cheap pass over the written label files rewrites the first
token. Corner cases the streaming path does not handle (a file name with folders, two images
with one label name, ``<score>`` detections) fall back to ``write_yolo(read_voc(...))``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

from cvpipe.errors import ConfigError, InputError, Problem

_CHUNK = 256
_JOB: dict = {}
#: a new file, written as bytes ("\n" line ends, like write_yolo's newline="\n", on every OS)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class _Fallback(Exception):
    """The streaming path cannot reproduce the generic output for this dataset."""


def _init(job: dict) -> None:
    _JOB.clear()
    _JOB.update(job)


def _write_new(path: str, text: str) -> None:
    fd = os.open(path, _CREATE, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _run_chunk(chunk: list[tuple[int, str, str]]):
    """Convert a chunk of ``(index, xml_path, out_split)``; returns counts, names seen, splits
    written and ``[(index, problems)]``, or None when the generic path is needed."""
    from cvpipe.builtin import voc
    from cvpipe.builtin.yolo import label_name

    j = _JOB
    tmp, image_root, shift, classes = j["tmp"], j["image_root"], j["shift"], j["classes"]
    tokens, decimals, images = j["tokens"], j["decimals"], j["images"]
    keep_difficult, keep_crowd = j["keep_difficult"], j["keep_crowd"]
    n_img = n_box = n_diff = n_crowd = n_files = 0
    names: set[str] = set()
    splits: set[str] = set()
    problems: list[tuple[int, list[Problem]]] = []
    # one %-format per line: the same digits as yolo.yolo_box_text's f-string (the same float
    # formatting) from the same arithmetic, in one call (tests check the bytes are identical)
    line_fmt = f"%s %.{decimals}f %.{decimals}f %.{decimals}f %.{decimals}f\n"
    parse = voc._parse_file
    for idx, xml, split in chunk:
        found: list[Problem] = []
        rec = parse(xml, image_root, shift, False, classes, found)
        if rec is not None:
            name = rec["filename"]
            if "/" in name:
                return None
            w, h = rec["width"], rec["height"]
            src = None
            if images != "none":  # the checks cvpipe.formats.check_dataset makes when images are copied
                from cvpipe.images import image_size

                src = image_root / name
                if not src.is_file():
                    found.append(Problem("image file not found", file=xml, field="filename", value=str(src),
                                         expected="an existing image file", hint="point to the images with --images-dir"))
                    rec = None
                else:
                    try:
                        size = image_size(src)
                    except InputError as exc:
                        found.extend(exc.problems)
                        rec = None
                    else:
                        if size != (w, h):
                            found.append(Problem("image size differs from the annotation", file=xml, field="size",
                                                 value=f"{w}x{h}", expected=f"{size[0]}x{size[1]} as in {src}"))
                            rec = None
        if found:
            problems.append((idx, found))
        if rec is None:
            continue
        lines = []
        for oname, (x1, y1, x2, y2), diff, _trunc, crowd, score, _ in rec["objects"]:
            if score is not None:
                return None
            names.add(oname)
            if diff and not keep_difficult:
                n_diff += 1
                continue
            if crowd and not keep_crowd:
                n_crowd += 1
                continue
            tok = tokens.get(oname) or "#" + oname.encode("utf-8").hex()
            lines.append(line_fmt % (tok, (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h, (x2 - x1) / w, (y2 - y1) / h))
        try:
            _write_new(f"{tmp}/labels/{split}/{label_name(name)}", "".join(lines))
        except FileExistsError:
            return None
        n_files += 1
        if src is not None:
            from cvpipe.fsutil import place_file

            place_file(src, Path(f"{tmp}/images/{split}/{name}"), images)
            n_files += 1
        splits.add(split)
        n_img += 1
        n_box += len(lines)
    return n_img, n_box, n_diff, n_crowd, n_files, names, splits, problems


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

    from cvpipe.builtin import voc

    voc._xml_parser()  # import lxml and build the parser once, before the workers fork

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers, initializer=_init, initargs=(job,)) as pool:
        for c, res in zip(chunks, pool.imap(func, chunks)):
            yield res
            if bar is not None:
                bar.update(len(c))


def convert_voc_to_yolo(
    src: Path,
    dst: Path,
    *,
    classes: Sequence[str] | None = None,
    keep_difficult: bool = False,
    keep_crowd: bool = False,
    images: Literal["copy", "link", "none"] = "none",
    splits: Sequence[str] | None = None,
    images_dir: Path | None = None,
    pixel_convention: Literal["raw", "one_based"] = "raw",
    decimals: int = 6,
    skip_invalid: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Convert a Pascal VOC dataset to the YOLO (Ultralytics) layout, streaming over a process
    pool. Gives byte-for-byte the files of ``write_yolo(read_voc(src, ...), dst, ...)`` (the
    ``convert`` command uses it for ``--from voc --to yolo``).

    Args:
        src: VOCdevkit folder, folder of XML files or one XML file (see :func:`read_voc`).
        dst: output folder; appears whole or not at all.
        classes: fix the class order (ids = positions); objects of other classes are problems.
            Default: the names present, in VOC's canonical order when all are VOC classes,
            else sorted.
        keep_difficult, keep_crowd: write difficult / crowd boxes (default: left out, counted).
        images: ``none`` (labels only; sizes come from the XML), ``copy`` or ``link``.
        splits, images_dir, pixel_convention: as for :func:`read_voc`.
        decimals: places of the normalised values.
        skip_invalid: skip bad files/objects and count them instead of raising.
        workers: processes (default: the CPUs this process may use, see :func:`default_workers`).
        progress: show a tqdm bar on stderr.

    Returns:
        ``{"images", "boxes", "skipped": {"difficult", "crowd", <invalid reasons>...}, "files",
        "categories", "problems"}`` (``problems``: how many problems were skipped, 0 unless
        ``skip_invalid``; each is counted in ``skipped`` under its reason).

    Raises:
        InputError: listing every problem (file, line, field) unless ``skip_invalid``.
    """
    from cvpipe.builtin import voc
    from cvpipe.builtin.yolo import data_yaml_text, output_split
    from cvpipe.fsutil import atomic_dir, safe_relpath

    if pixel_convention not in voc._SHIFT:
        raise ConfigError("unknown pixel convention", field="pixel_convention", value=pixel_convention,
                          expected="raw or one_based")
    if images not in ("copy", "link", "none"):
        raise ConfigError("unknown images mode", field="images", value=images, expected="copy, link or none")
    if not 1 <= decimals <= 15:
        raise ConfigError("decimals out of range", field="decimals", value=decimals, expected="1..15")
    found: list[Problem] = []
    entries, image_root = voc._layout(Path(src), splits, images_dir, found)
    any_split = any(e[1] is not None for e in entries)
    work = [(k, xml, output_split(split, any_split)) for k, (xml, split, _) in enumerate(entries)]
    split_dirs = list(dict.fromkeys(s for _, _, s in work))
    for s in split_dirs:
        if "/" in safe_relpath(s, field="split"):
            raise InputError("split name with a folder", field="split", value=s, expected="a plain name")
    class_index = {c: i for i, c in enumerate(classes)} if classes is not None else None
    provisional = list(classes) if classes is not None else list(voc.VOC_CLASSES)
    tokens = {c: str(i) for i, c in enumerate(provisional)}
    workers = max(1, int(workers or default_workers()))
    dst = Path(dst).absolute()
    report = {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}, "files": 0}
    names: set[str] = set()
    written: set[str] = set()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(work), desc="voc -> yolo", unit="file", leave=False)
    try:
        with atomic_dir(dst) as tmp:
            for s in split_dirs:
                os.makedirs(f"{tmp}/labels/{s}")
                if images != "none":
                    os.makedirs(f"{tmp}/images/{s}")
            job = {"tmp": str(tmp), "image_root": image_root, "shift": voc._SHIFT[pixel_convention],
                   "classes": class_index, "tokens": tokens, "decimals": decimals, "images": images,
                   "keep_difficult": keep_difficult, "keep_crowd": keep_crowd}
            chunks = _interleave(work, _CHUNK)
            per_file: list[tuple[int, list[Problem]]] = []
            for res in _pool_map(_run_chunk, chunks, job, workers, bar):
                if res is None:
                    raise _Fallback
                n_img, n_box, n_diff, n_crowd, n_files, nm, sp, fnd = res
                report["images"] += n_img
                report["boxes"] += n_box
                report["skipped"]["difficult"] += n_diff
                report["skipped"]["crowd"] += n_crowd
                report["files"] += n_files
                names |= nm
                written |= sp
                per_file += fnd
            found += [p for _, ps in sorted(per_file, key=lambda t: t[0]) for p in ps]  # file order, as read_voc
            if found and not skip_invalid:
                raise InputError.from_problems(found)
            categories = list(classes) if classes is not None else voc.voc_categories(names)
            remap = {tokens.get(n) or "#" + n.encode("utf-8").hex(): str(i) for i, n in enumerate(categories)}
            remap = {k: v for k, v in remap.items() if k != v}
            if remap:
                paths = [e.path for s in split_dirs for e in os.scandir(f"{tmp}/labels/{s}")]
                job["remap"] = remap
                for _ in _pool_map(_remap_chunk, [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)],
                                   job, workers, None):
                    pass
            for s in split_dirs:  # a split whose files were all invalid is not written (as write_yolo)
                if s not in written:
                    os.rmdir(f"{tmp}/labels/{s}")
                    if images != "none":
                        os.rmdir(f"{tmp}/images/{s}")
            with open(tmp / "data.yaml", "w", encoding="utf-8", newline="\n") as fh:
                fh.write(data_yaml_text(dst, [s for s in split_dirs if s in written], categories))
            report["files"] += 1
    except _Fallback:
        if bar is not None:
            bar.close()
        return _generic(src, dst, classes=classes, keep_difficult=keep_difficult, keep_crowd=keep_crowd,
                        images=images, splits=splits, images_dir=images_dir, pixel_convention=pixel_convention,
                        decimals=decimals, skip_invalid=skip_invalid)
    finally:
        if bar is not None:
            bar.close()
    return _finish(report, categories, found)


def _finish(report: dict, categories: list[str], found: list[Problem]) -> dict:
    from cvpipe.formats import problem_reason

    for p in found:
        key = problem_reason(p)
        report["skipped"][key] = report["skipped"].get(key, 0) + 1
    report["categories"] = categories
    report["problems"] = len(found)
    return report


def _generic(src, dst, *, classes, keep_difficult, keep_crowd, images, splits, images_dir, pixel_convention,
             decimals, skip_invalid) -> dict:
    """``write_yolo(read_voc(...))``: the reference the fast path reproduces, and its fallback."""
    from cvpipe.builtin.voc import read_voc
    from cvpipe.builtin.yolo import write_yolo

    found: list[Problem] = []
    ds = read_voc(Path(src), images_dir=images_dir, splits=list(splits) if splits else None,
                  problems=found if skip_invalid else None, pixel_convention=pixel_convention,
                  classes=list(classes) if classes is not None else None)
    report = write_yolo(ds, dst, images=images, keep_difficult=keep_difficult, keep_crowd=keep_crowd,
                        decimals=decimals)
    return _finish(report, ds.categories, found)
