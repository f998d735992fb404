"""Writing the Ultralytics layout: ``images/<split>/``, ``labels/<split>/<stem>.txt`` and
``data.yaml``, every byte from :mod:`cvpipe.formats.yolo_text`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cvpipe.errors import InputError
from cvpipe.formats.yolo_text import data_yaml_text, label_name, output_split, yolo_box_text

if TYPE_CHECKING:
    from cvpipe.data import Dataset

#: what the user can do about a missing image (the writer's own wording, kept)
_IMAGES_HINT = "use images='none' or point to the images with --images-dir"

__all__ = ["write_yolo"]


def write_yolo(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
               keep_difficult: bool = False, keep_crowd: bool = False, decimals: int = 6) -> dict:
    """Write ``dataset`` in the Ultralytics layout (see the module docstring).

    Returns ``{"images", "boxes", "skipped": {"difficult": k, "crowd": m}, "files"}``. ``dst``
    appears whole or not at all; names from the dataset are confined to ``dst``.
    """
    from cvpipe.errors import ConfigError
    from cvpipe.formats import image_names
    from cvpipe.formats.images import place_image
    from cvpipe.fsutil import atomic_dir, safe_join, safe_relpath

    if not 1 <= decimals <= 15:
        raise ConfigError("decimals out of range", field="decimals", value=decimals, expected="1..15")
    any_split = any(s.split is not None for s in dataset.samples)
    groups: dict[str, list] = {}
    for s in dataset.samples:
        groups.setdefault(output_split(s.split, any_split), []).append(s)
    plan = []  # (split, sample, image name)
    for split, samples in groups.items():
        split = safe_relpath(split, field="split")
        if "/" in split:
            raise InputError("split name with a folder", field="split", value=split, expected="a plain name")
        seen: dict[str, str] = {}
        for s, name in zip(samples, image_names(samples)):
            name = safe_relpath(name, file=str(dataset.image_path(s)), field="image")
            lab = label_name(name)
            if lab in seen:
                raise InputError("two images would get the same label file", file=str(dataset.image_path(s)),
                                 value=f"labels/{split}/{lab}", expected="distinct image names per split",
                                 hint=f"also written for {seen[lab]}")
            seen[lab] = s.image
            plan.append((split, s, name))
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}, "files": 0}
    dst = Path(dst).absolute()
    with atomic_dir(dst) as tmp:
        for split in groups:
            (tmp / "labels" / split).mkdir(parents=True)
            if images != "none":
                (tmp / "images" / split).mkdir(parents=True)
        for split, s, name in plan:
            lines = []
            boxes = s.boxes.tolist()
            labels = s.labels.tolist()
            diff, crowd = s.difficult.tolist(), s.iscrowd.tolist()
            scores = None if s.scores is None else s.scores.tolist()
            for i, (x1, y1, x2, y2) in enumerate(boxes):
                if diff[i] and not keep_difficult:
                    report["skipped"]["difficult"] += 1
                    continue
                if crowd[i] and not keep_crowd:
                    report["skipped"]["crowd"] += 1
                    continue
                line = f"{labels[i]} {yolo_box_text(x1, y1, x2, y2, s.width, s.height, decimals)}"
                if scores is not None:
                    line += f" {scores[i]:.{decimals}f}"
                lines.append(line + "\n")
            lab = label_name(name)  # name passed safe_relpath above
            if "/" in lab:
                (tmp / "labels" / split / lab).parent.mkdir(parents=True, exist_ok=True)
            with open(f"{tmp}/labels/{split}/{lab}", "w", encoding="utf-8", newline="\n") as fh:
                fh.write("".join(lines))
            report["files"] += 1
            if images != "none":
                place_image(dataset.image_path(s), safe_join(tmp / "images" / split, name), images, hint=_IMAGES_HINT)
                report["files"] += 1
            report["images"] += 1
            report["boxes"] += len(lines)
        (tmp / "data.yaml").write_text(data_yaml_text(dst, list(groups), dataset.categories), encoding="utf-8")
        report["files"] += 1
    return report
