"""Writing the Ultralytics layout: ``images/<split>/``, ``labels/<split>/<stem>.txt`` and
``data.yaml``, every byte from :mod:`cvpipe.formats.yolo_text`.

:func:`write_yolo` writes a whole dataset; its steps are small functions that the part-by-part
writer (:mod:`.stream`) shares: the dataset-wide decisions (:func:`pose_shape` over
:func:`keypoint_lengths`, :func:`has_obb`, the split folders and their image names), each
sample's label file and image (:func:`write_sample`) and data.yaml (:func:`finish`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from cvpipe.errors import InputError
from cvpipe.formats.images import place_image
from cvpipe.formats.yolo_text import (
    data_yaml_text,
    label_name,
    output_split,
    stand_in_notes,
    yolo_box_text,
    yolo_values_text,
)
from cvpipe.fsutil import safe_join

if TYPE_CHECKING:
    from cvpipe.data import Dataset

#: what the user can do about a missing image (the writer's own wording, kept)
_IMAGES_HINT = "use images='none' or point to the images with --images-dir"

__all__ = ["write_yolo", "LabelStyle", "write_sample", "split_folder", "safe_names", "same_label_file",
           "pose_shape", "keypoint_lengths", "has_obb", "check_decimals"]


@dataclass(frozen=True)
class LabelStyle:
    """How every label line of one output is written, decided over the whole dataset:
    ``kpt_shape`` (pose: keypoints after the box), ``obb`` (8 corner values instead of the box),
    ``decimals``, and whether difficult / crowd boxes are kept."""

    kpt_shape: list[int] | None = None
    obb: bool = False
    decimals: int = 6
    keep_difficult: bool = False
    keep_crowd: bool = False


def write_yolo(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
               keep_difficult: bool = False, keep_crowd: bool = False, decimals: int = 6) -> dict:
    """Write ``dataset`` in the Ultralytics layout (see the module docstring).

    Pose datasets (``Dataset.meta["yolo"]["kpt_shape"]``, or boxes with ``box_extra["keypoints"]``)
    get their keypoints after the box on each line and ``kpt_shape`` (``flip_idx``) in data.yaml;
    oriented boxes (``box_extra["obb"]``) are written as their 8 corner values (then every line of
    the dataset is). data.yaml always has ``train`` and ``val``
    (:func:`cvpipe.formats.yolo_text.stand_ins`).

    Returns ``{"images", "boxes", "skipped": {"difficult": k, "crowd": m}, "files"}`` and
    ``notes`` (``{what: n}``: ``train``/``val`` repeating another split, keypoints filled in, ...) when
    there are any. ``dst`` appears whole or not at all; names from the dataset are confined to
    ``dst``.
    """
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir

    check_decimals(decimals)
    any_split = any(s.split is not None for s in dataset.samples)
    groups: dict[str, list] = {}
    for s in dataset.samples:
        groups.setdefault(output_split(s.split, any_split), []).append(s)
    plan = []  # (split, sample, image name)
    for split, samples in groups.items():
        split = split_folder(split)
        seen: dict[str, str] = {}
        for s, name in safe_names(samples, image_names(samples), dataset.image_path):
            lab = label_name(name)
            if lab in seen:
                raise same_label_file(dataset.image_path(s), split, lab, seen[lab])
            seen[lab] = s.image
            plan.append((split, s, name))
    report = new_report()
    notes: dict[str, int] = {}
    kpt_shape, flip_idx = pose_shape(dataset.meta, keypoint_lengths(dataset.samples))
    style = LabelStyle(kpt_shape, kpt_shape is None and has_obb(dataset.samples), decimals, keep_difficult, keep_crowd)
    dst = Path(dst).absolute()
    with atomic_dir(dst) as tmp:
        make_split_folders(tmp, groups, images)
        for split, s, name in plan:
            write_sample(tmp, split, s, name, dataset.image_path(s), style, images, report, notes)
        finish(tmp, dst, list(groups), dataset.categories, kpt_shape, flip_idx, report)
    return with_notes(report, notes, list(groups), lambda split: len(groups[split]))


def check_decimals(decimals: int) -> None:
    """ConfigError unless ``decimals`` is 1..15."""
    from cvpipe.errors import ConfigError

    if not 1 <= decimals <= 15:
        raise ConfigError("decimals out of range", field="decimals", value=decimals, expected="1..15")


def split_folder(split: str) -> str:
    """A split's folder name, checked: safe and plain (InputError naming the split otherwise)."""
    from cvpipe.fsutil import safe_relpath

    split = safe_relpath(split, field="split")
    if "/" in split:
        raise InputError("split name with a folder", field="split", value=split, expected="a plain name")
    return split


def safe_names(samples: Sequence, names: Sequence[str], image_path: Callable[[Any], Path]) -> Iterator[tuple[Any, str]]:
    """``(sample, name)`` with each output image name made safe, one at a time (the first unsafe
    name raises when it is reached, after the samples before it)."""
    from cvpipe.fsutil import safe_relpath

    for s, name in zip(samples, names):
        yield s, safe_relpath(name, file=str(image_path(s)), field="image")


def same_label_file(image: Path, split: str, label: str, other: str) -> InputError:
    """The refusal of two images of ``split`` that would get one label file ``label``."""
    return InputError("two images would get the same label file", file=str(image), value=f"labels/{split}/{label}",
                      expected="distinct image names per split", hint=f"also written for {other}")


def new_report() -> dict[str, Any]:
    """The writer's report before anything is written."""
    return {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}, "files": 0}


def make_split_folders(tmp: Path, splits: Iterable[str], images: str) -> None:
    """``labels/<split>/`` (and ``images/<split>/`` unless ``images`` is ``none``) in ``tmp``."""
    for split in splits:
        (tmp / "labels" / split).mkdir(parents=True)
        if images != "none":
            (tmp / "images" / split).mkdir(parents=True)


def write_sample(tmp: Path, split: str, s, name: str, image: Path, style: LabelStyle, images: str,
                 report: dict[str, Any], notes: dict[str, int]) -> None:
    """Write one sample's label file ``labels/<split>/<stem>.txt`` (an empty one for an image
    without boxes) in ``style``, place its image file ``image`` as ``images/<split>/<name>``
    (``images``: copy, link or none; ``name`` already safe), and count it in ``report``
    (``notes``: keypoints filled in, oriented boxes written as boxes)."""
    kpt_shape, decimals = style.kpt_shape, style.decimals
    lines = []
    boxes = s.boxes.tolist()
    labels = s.labels.tolist()
    diff, crowd = s.difficult.tolist(), s.iscrowd.tolist()
    scores = None if s.scores is None else s.scores.tolist()
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if diff[i] and not style.keep_difficult:
            report["skipped"]["difficult"] += 1
            continue
        if crowd[i] and not style.keep_crowd:
            report["skipped"]["crowd"] += 1
            continue
        if kpt_shape is not None:
            line = f"{labels[i]} {yolo_box_text(x1, y1, x2, y2, s.width, s.height, decimals)}"
            line += " " + _keypoints_text(s.box_extra[i], kpt_shape, s.width, s.height, decimals, notes)
        elif style.obb:
            line = f"{labels[i]} {_corners_text(s.box_extra[i], (x1, y1, x2, y2), s.width, s.height, decimals, notes)}"
        else:
            line = f"{labels[i]} {yolo_box_text(x1, y1, x2, y2, s.width, s.height, decimals)}"
        if scores is not None:
            line += f" {scores[i]:.{decimals}f}"
        lines.append(line + "\n")
    lab = label_name(name)  # name passed safe_relpath
    if "/" in lab:
        (tmp / "labels" / split / lab).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{tmp}/labels/{split}/{lab}", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(lines))
    report["files"] += 1
    if images != "none":
        place_image(image, safe_join(tmp / "images" / split, name), images, hint=_IMAGES_HINT)
        report["files"] += 1
    report["images"] += 1
    report["boxes"] += len(lines)


def finish(tmp: Path, dst: Path, splits: Sequence[str], categories: Sequence[str], kpt_shape: list[int] | None,
           flip_idx: list[int] | None, report: dict[str, Any]) -> None:
    """Write ``data.yaml`` (naming ``dst``, the final folder) into ``tmp``."""
    (tmp / "data.yaml").write_text(data_yaml_text(dst, list(splits), categories, kpt_shape=kpt_shape,
                                                  flip_idx=flip_idx), encoding="utf-8")
    report["files"] += 1


def with_notes(report: dict[str, Any], notes: dict[str, int], splits: Sequence[str],
               images: Callable[[str], int]) -> dict[str, Any]:
    """``report`` with its ``notes`` (the lines' notes, then data.yaml's stand-in splits:
    ``images(split)`` counts a split's images) when there are any."""
    notes.update(stand_in_notes(list(splits), images))
    if notes:
        report["notes"] = notes
    return report


#: the writer's notes
NOTE_OBB_AS_BOX = "oriented boxes whose box changed since reading: written as their axis-aligned corners"
NOTE_NO_KEYPOINTS = "boxes without keypoints in a pose dataset: keypoints written as 0 (not labelled)"


def pose_shape(meta: Mapping[str, Any], lengths: set[int]) -> tuple[list[int] | None, list[int] | None]:
    """``(kpt_shape, flip_idx)`` of a pose dataset (read from a data.yaml with ``kpt_shape``:
    ``meta["yolo"]``, or boxes carrying ``keypoints`` in threes: ``lengths``, the keypoint list
    lengths over all boxes, :func:`keypoint_lengths`), else ``(None, None)``."""
    yolo = meta.get("yolo") if isinstance(meta.get("yolo"), dict) else {}
    shape = yolo.get("kpt_shape")
    if isinstance(shape, list) and len(shape) == 2:
        flip = yolo.get("flip_idx")
        return [int(shape[0]), int(shape[1])], (list(flip) if isinstance(flip, list) else None)
    if len(lengths) == 1 and next(iter(lengths)) % 3 == 0 and next(iter(lengths)):
        return [next(iter(lengths)) // 3, 3], None
    return None, None


def keypoint_lengths(samples: Iterable) -> set[int]:
    """The lengths of the boxes' ``box_extra["keypoints"]`` lists (a union over parts is the
    whole dataset's)."""
    return {len(ex["keypoints"]) for s in samples for ex in s.box_extra if isinstance(ex.get("keypoints"), list)}


def has_obb(samples: Iterable) -> bool:
    """Whether a box has ``box_extra["obb"]`` (then every line is written as 8 corner values,
    unless the dataset is a pose one)."""
    return any("obb" in ex for s in samples for ex in s.box_extra)


def _keypoints_text(extra: dict, kpt_shape: list[int], width: int, height: int, decimals: int,
                    notes: dict[str, int]) -> str:
    """A box's keypoints (``box_extra["keypoints"]``: x, y in absolute pixels, visibilities as
    read) as normalised label values; zeros (not labelled) for a box without them (noted)."""
    k, d = kpt_shape
    kp = extra.get("keypoints")
    if not isinstance(kp, list) or len(kp) != k * d:
        notes[NOTE_NO_KEYPOINTS] = notes.get(NOTE_NO_KEYPOINTS, 0) + 1
        kp = [0.0] * (k * d)
    vals = [v / width if j % d == 0 else v / height if j % d == 1 else v for j, v in enumerate(kp)]
    return yolo_values_text(vals, decimals)


def _corners_text(extra: dict, box: tuple[float, float, float, float], width: int, height: int, decimals: int,
                  notes: dict[str, int]) -> str:
    """An oriented box's 4 corners (``box_extra["obb"]``, absolute pixels) as normalised label
    values, when they still enclose the box (else, noted, the box's own corners)."""
    x1, y1, x2, y2 = box
    c = extra.get("obb")
    if isinstance(c, list) and len(c) == 8:
        xs, ys = c[0::2], c[1::2]
        tx, ty = 1e-6 * max(width, 1), 1e-6 * max(height, 1)
        if (abs(min(xs) - x1) <= tx and abs(max(xs) - x2) <= tx and abs(min(ys) - y1) <= ty
                and abs(max(ys) - y2) <= ty):
            return yolo_values_text([v / width if j % 2 == 0 else v / height for j, v in enumerate(c)], decimals)
        notes[NOTE_OBB_AS_BOX] = notes.get(NOTE_OBB_AS_BOX, 0) + 1
    corners = [x1, y1, x2, y1, x2, y2, x1, y2]
    return yolo_values_text([v / width if j % 2 == 0 else v / height for j, v in enumerate(corners)], decimals)
