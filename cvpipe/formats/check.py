"""The checks common to every format (:func:`check_dataset`): image sizes, duplicate images and
ids, image files, and the boxes (:mod:`cvpipe.data.checks`), each problem placed with the
origins the reader recorded (:class:`cvpipe.data.Origin`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..data.checks import box_masks, box_problem_text, size_is_valid, size_problem, text_problem
from ..errors import InputError, Problem
from .json import add_lines

if TYPE_CHECKING:
    from ..data import Dataset, Sample

__all__ = ["check_dataset", "check_detections", "problem_reason", "image_file_problems", "dataset_folders"]


def problem_reason(problem: Problem) -> str:
    """A short key grouping problems of one kind (``invalid: box is inverted``), for the
    ``skipped`` counts of a report."""
    return f"invalid: {problem.message}"


def dataset_folders(src: Path, images_dir: Path | None = None) -> list[Path]:
    """The folders a dataset read from ``src`` (a folder, or a file: its folder) consists of,
    with ``images_dir`` when given: where its image symlinks may lead (``check_dataset``'s
    ``inside``)."""
    src = Path(src)
    return [src if src.is_dir() else src.parent] + ([Path(images_dir)] if images_dir is not None else [])


def check_dataset(
    dataset: "Dataset",
    problems: list[Problem],
    *,
    check_images: bool = True,
    require_images: bool = True,
    skipped: Counter | None = None,
    progress: bool = False,
    follow_symlinks: bool = False,
    inside: Sequence[Path] = (),
) -> "Dataset":
    """Run the checks every format shares; append a :class:`Problem` per finding to ``problems``
    and return the valid part of ``dataset`` (bad boxes and bad images left out).

    Checks: image width/height positive; duplicate image paths and duplicate image ids (per
    split); with ``check_images``, the image file exists (a problem only with
    ``require_images``) and its header size equals the annotated size; every box valid by
    :mod:`cvpipe.data.checks` (finite, not inverted, not empty, inside the image); labels within
    ``categories``; unless ``follow_symlinks``, an image file that is a symlink resolving outside
    the dataset (its ``root`` and the folders ``inside``: what was read, ``--images-dir``) is a
    problem (:func:`~cvpipe.formats.images.symlink_escape`); so are names a writer would refuse
    or fail on (:func:`_name_problems`).
    ``skipped`` (a Counter), when given, counts the boxes left out by reason.
    Problems are placed with the samples' and boxes' origins; a problem with a field but no line
    is given the line :attr:`Dataset.locate <cvpipe.data.Dataset.locate>` finds.
    """
    skipped = skipped if skipped is not None else Counter()
    first = len(problems)
    valid = _check(dataset, problems, check_images, require_images, skipped, progress,
                   None if follow_symlinks else [dataset.root, *inside])
    if dataset.locate is not None and len(problems) > first:
        add_lines(problems, first, dataset.locate)
    return valid


def image_file_problems(path: Path, width: int, height: int, *, file: str, line: int | None = None,
                        field: str | None = None, require: bool = True,
                        confine: Sequence[Path | None] | None = None) -> list[Problem]:
    """The problems of the image file at ``path`` annotated as ``width`` x ``height``: missing
    (only with ``require``), unreadable header, or a size differing from the annotation; placed
    at ``file``/``line`` and ``field`` (default ``image`` / ``size``); with ``confine`` (the
    dataset's folders), a symlink resolving outside them (:func:`~cvpipe.formats.images.symlink_escape`);
    a truncated JPEG or PNG (:func:`~cvpipe.formats.images.image_truncated`). Direct converters
    that check images call it too, so that both paths word and place problems alike."""
    from .images import image_size, image_truncated, symlink_escape

    if not path.is_file():
        if not require:
            return []
        return [Problem("image file not found", file=file, line=line, field=field or "image", value=str(path),
                        expected="an existing image file", hint="point to the images with --images-dir")]
    if confine is not None:
        target = symlink_escape(path, confine)
        if target is not None:
            return [Problem("image is a symlink to a file outside the dataset", file=file, line=line,
                            field=field or "image", value=f"{path} -> {target}",
                            expected="an image file inside " + " or ".join(dict.fromkeys(str(c) for c in confine if c is not None)),
                            hint="follow such links with --follow-symlinks")]
    try:
        size = image_size(path)
    except InputError as exc:
        return list(exc.problems)
    if size != (width, height):
        return [Problem("image size differs from the annotation", file=file, line=line, field=field or "size",
                        value=f"{width}x{height}", expected=f"{size[0]}x{size[1]} as in {path}")]
    if image_truncated(path):
        return [Problem("image file is truncated", file=file, line=line, field=field or "image", value=str(path),
                        expected="a complete image file (a JPEG ending with its end-of-image marker, "
                                 "a PNG with its IEND chunk)")]
    return []


def check_detections(dataset: "Dataset") -> list[Problem]:
    """The problems of detections (``Sample.scores`` set): each box must be finite and not
    inverted, i.e. no negative size (:mod:`cvpipe.data.checks`; a zero-area box, or one partly
    outside the image, is allowed: detectors emit them and every engine scores them alike),
    each score a finite number. Evaluation engines disagree on anything else, so
    ``cvpipe evaluate`` refuses it."""
    import numpy as np

    from ..data.checks import box_masks

    found: list[Problem] = []
    nonempty = [s for s in dataset.samples if len(s)]
    if not nonempty:
        return found
    # one vectorised pass over every box; the per-sample pass below only when it finds something
    b = np.concatenate([s.boxes for s in nonempty])
    sc = np.concatenate([s.scores if s.scores is not None else np.zeros(len(s)) for s in nonempty])
    with np.errstate(invalid="ignore"):
        if np.isfinite(b).all() and np.isfinite(sc).all() and not ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
            return found
    for s in nonempty:
        n = len(s)
        m = box_masks(s.boxes, np.zeros(n, dtype=np.int64), np.full(n, np.inf), np.full(n, np.inf), 1)
        scores = s.scores if s.scores is not None else np.zeros(n)
        bad_score = ~np.isfinite(scores)
        for i in np.flatnonzero(~m["finite"] | m["inverted"] | bad_score).tolist():
            if bad_score[i]:
                found.append(Problem("score is not a finite number", **_box_where(dataset, s, i, ".score"),
                                     value=float(scores[i]), expected="a finite confidence"))
                continue
            kind = "finite" if not m["finite"][i] else "inverted"
            message, expected = box_problem_text(kind)
            found.append(Problem(message, **_box_where(dataset, s, i), value=tuple(float(v) for v in s.boxes[i]),
                                 expected=expected))
    if found and dataset.locate is not None:
        for j, p in enumerate(found):
            if p.line is None and p.field:
                line = dataset.locate(p.file, p.field)
                if line:
                    found[j] = replace(p, line=line)
    return found


def _sample_where(dataset: "Dataset", s: "Sample", field: str) -> dict[str, Any]:
    """``file``, ``line``, ``field`` of a problem of sample ``s`` (``field``: the default)."""
    o = s.origin
    return {"file": _sample_file(dataset, s), "line": o.line if o is not None else None,
            "field": (o.field if o is not None else None) or field}


def _sample_file(dataset: "Dataset", s: "Sample") -> str:
    o, d = s.origin, dataset.origin
    return str((o.file if o is not None else None) or (d.file if d is not None else None) or dataset.image_path(s))


def _box_where(dataset: "Dataset", s: "Sample", i: int, suffix: str = "") -> dict[str, Any]:
    bo = s.box_origin(i)
    field = f"{bo.field}{suffix}" if bo is not None and bo.field else f"{s.image}: box[{i}]{suffix}"
    line = bo.line if bo is not None and bo.line is not None else (s.origin.line if s.origin is not None else None)
    return {"file": _sample_file(dataset, s), "line": line, "field": field}


def _check(dataset: "Dataset", problems: list[Problem], check_images: bool, require_images: bool,
           skipped: Counter, progress: bool, confine: list | None) -> "Dataset":
    import numpy as np

    ncat = len(dataset.categories)
    seen_paths: dict[tuple[Any, str], str] = {}
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
    names = _name_problems(dataset, problems)
    for s in samples:
        file = _sample_file(dataset, s)
        img_problems: list[Problem] = []
        bad_size = size_problem(s.width, s.height)
        if bad_size is not None:
            img_problems.append(Problem(bad_size[0], **_sample_where(dataset, s, "size"),
                                        value=(s.width, s.height), expected=bad_size[1]))
        name_problem = names.get(id(s))
        if name_problem is not None:
            img_problems.append(name_problem)
        key = (s.split, s.image)  # an image may be in two splits (two samples), once in each
        if key in seen_paths:
            img_problems.append(Problem("duplicate image", **_sample_where(dataset, s, "image"), value=s.image,
                                        expected="each image listed once", hint=f"also in {seen_paths[key]}"))
        if s.id is not None:
            idkey = (s.split, s.id)
            if idkey in seen_ids:
                img_problems.append(Problem("duplicate image id", **_sample_where(dataset, s, "id"), value=s.id,
                                            expected="unique image ids", hint=f"also used by {seen_ids[idkey]}"))
        if check_images and not img_problems:
            o = s.origin
            img_problems += image_file_problems(dataset.image_path(s), s.width, s.height, file=file,
                                                line=o.line if o is not None else None,
                                                field=o.field if o is not None else None, require=require_images,
                                                confine=confine)
        if img_problems:
            problems.extend(img_problems)
            skipped[problem_reason(img_problems[0]) + " (whole image)"] += len(s)
            if len(s) and size_is_valid(s.width, s.height) and not any(
                    p.message.startswith("duplicate") for p in img_problems):
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
        bad = box_masks(b, labels, w, h, ncat)["bad"]
        if bad.any():
            owner = np.repeat(np.array(withboxes), lens)
            for i in np.unique(owner[bad]).tolist():
                kept[i] = _check_boxes(dataset, kept[i], ncat, problems, skipped)
    return dataset.subset(kept)


def _name_problems(dataset: "Dataset", problems: list[Problem]) -> dict[int, Problem]:
    """The names a writer would refuse or fail on, judged here so that ``validate`` and
    ``convert`` judge alike: category names and split names (appended to ``problems``; a split
    must be one folder name), and per sample (``{id(sample): Problem}``) an image path that is
    not valid Unicode or whose output name (:func:`~cvpipe.formats.images.image_names` per split,
    as the writers compute it) would leave the output folder."""
    from ..fsutil import safe_relpath
    from .images import image_names

    d = dataset.origin.file if dataset.origin is not None else None
    for k, c in enumerate(dataset.categories):
        why = text_problem(c) if isinstance(c, str) else "not a string"
        if why is not None:
            problems.append(Problem(f"bad category name: {why}", file=d, field=f"categories[{k}]", value=c,
                                    expected="UTF-8 text"))
    by_split: dict[Any, list] = {}
    for s in dataset.samples:
        by_split.setdefault(s.split, []).append(s)
    out: dict[int, Problem] = {}
    for split, group in by_split.items():
        if split is not None:
            why = text_problem(split) if isinstance(split, str) else "not a string"
            if why is None and (not split or split in (".", "..") or "/" in split or "\\" in split):
                why = "not a folder name"
            if why is not None:
                problems.append(Problem(f"bad split name: {why}", **_sample_where(dataset, group[0], "split"),
                                        value=split, expected="one folder name (no '/', not '.' or '..')"))
        for s in group:
            why = text_problem(s.image)
            if why is not None:
                out[id(s)] = Problem(f"bad image name: {why}", **_sample_where(dataset, s, "image"), value=s.image,
                                     expected="a UTF-8 file name (rename the file)")
        for s, name in zip(group, image_names(group)):
            if name and name[0] != "/" and ".." not in name and ":" not in name and "\\" not in name \
                    and name.strip("./"):
                continue  # nothing safe_relpath could refuse (the common case, without its cost)
            if id(s) not in out:
                try:
                    safe_relpath(name)
                except InputError as exc:
                    out[id(s)] = Problem(exc.problem.message, **_sample_where(dataset, s, "image"), value=name,
                                         expected=exc.problem.expected)
    return out


def _check_boxes(dataset: "Dataset", s: "Sample", ncat: int, problems: list[Problem], skipped: Counter) -> "Sample":
    """Report each bad box of sample ``s``; return ``s`` without them."""
    import math

    import numpy as np

    b = s.boxes
    m = box_masks(b, s.labels, np.full(len(s), float(s.width)), np.full(len(s), float(s.height)), ncat)
    for i in np.flatnonzero(m["bad"]):
        box = tuple(float(v) for v in b[i])
        shown = tuple(int(v) if math.isfinite(v) and v == int(v) else v for v in box)
        if m["label"][i]:
            p = Problem("label out of range", **_box_where(dataset, s, i, ".label"), value=int(s.labels[i]),
                        expected=f"0..{ncat - 1} (one of {ncat} categories)")
        else:
            kind = ("finite" if not m["finite"][i] else "inverted" if m["inverted"][i]
                    else "empty" if m["empty"][i] else "outside")
            message, expected = box_problem_text(kind, s.width, s.height)
            p = Problem(message, **_box_where(dataset, s, i), value=shown, expected=expected)
        problems.append(p)
        skipped[problem_reason(p)] += 1
    return s.select(~m["bad"])
