"""The checks common to every format (:func:`check_dataset`): image sizes, duplicate images and
ids, image files, and the boxes (:mod:`cvpipe.data.checks`), each problem placed with the
origins the reader recorded (:class:`cvpipe.data.Origin`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..data.checks import box_masks, box_problem_text, size_is_valid
from ..errors import InputError, Problem
from .json import add_lines

if TYPE_CHECKING:
    from ..data import Dataset, Sample

__all__ = ["check_dataset", "problem_reason", "image_file_problems"]


def problem_reason(problem: Problem) -> str:
    """A short key grouping problems of one kind (``invalid: box is inverted``), for the
    ``skipped`` counts of a report."""
    return f"invalid: {problem.message}"


def check_dataset(
    dataset: "Dataset",
    problems: list[Problem],
    *,
    check_images: bool = True,
    require_images: bool = True,
    skipped: Counter | None = None,
    progress: bool = False,
) -> "Dataset":
    """Run the checks every format shares; append a :class:`Problem` per finding to ``problems``
    and return the valid part of ``dataset`` (bad boxes and bad images left out).

    Checks: image width/height positive; duplicate image paths and duplicate image ids (per
    split); with ``check_images``, the image file exists (a problem only with
    ``require_images``) and its header size equals the annotated size; every box valid by
    :mod:`cvpipe.data.checks` (finite, not inverted, not empty, inside the image); labels within
    ``categories``. ``skipped`` (a Counter), when given, counts the boxes left out by reason.
    Problems are placed with the samples' and boxes' origins; a problem with a field but no line
    is given the line :attr:`Dataset.locate <cvpipe.data.Dataset.locate>` finds.
    """
    skipped = skipped if skipped is not None else Counter()
    first = len(problems)
    valid = _check(dataset, problems, check_images, require_images, skipped, progress)
    if dataset.locate is not None and len(problems) > first:
        add_lines(problems, first, dataset.locate)
    return valid


def image_file_problems(path: Path, width: int, height: int, *, file: str, line: int | None = None,
                        field: str | None = None, require: bool = True) -> list[Problem]:
    """The problems of the image file at ``path`` annotated as ``width`` x ``height``: missing
    (only with ``require``), unreadable header, or a size differing from the annotation; placed
    at ``file``/``line`` and ``field`` (default ``image`` / ``size``). Direct converters that
    check images call it too, so that both paths word and place problems alike."""
    from .images import image_size

    if not path.is_file():
        if not require:
            return []
        return [Problem("image file not found", file=file, line=line, field=field or "image", value=str(path),
                        expected="an existing image file", hint="point to the images with --images-dir")]
    try:
        size = image_size(path)
    except InputError as exc:
        return list(exc.problems)
    if size != (width, height):
        return [Problem("image size differs from the annotation", file=file, line=line, field=field or "size",
                        value=f"{width}x{height}", expected=f"{size[0]}x{size[1]} as in {path}")]
    return []


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
           skipped: Counter, progress: bool) -> "Dataset":
    import numpy as np

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
        if not size_is_valid(s.width, s.height):
            img_problems.append(Problem("image size is not positive", **_sample_where(dataset, s, "size"),
                                        value=(s.width, s.height), expected="width > 0 and height > 0"))
        key = s.image
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
                                                field=o.field if o is not None else None, require=require_images)
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
