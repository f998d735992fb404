"""Write a :class:`~cvpipe.data.Dataset` as KITTI 2D object labels.

Layout written: ``label_2/<stem>.txt`` and ``image_2/<name>`` in ``dst`` when no sample has a
split, else in ``dst/<split>/`` (samples without one in ``unassigned/``). Every line has the 15
values of the KITTI object format (16 with a score, for detections). Values read from KITTI
(``box_extra["kitti"]``) are written back as they were; for boxes from other formats cvpipe
writes what KITTI uses for "not known": ``truncated`` 1 or 0 from the flag, ``occluded`` from a
VOC/CVAT ``occluded`` (0/1) else 0, ``alpha`` -10, dimensions -1 -1 -1, location
-1000 -1000 -1000, ``rotation_y`` -10. Box corners with two decimals when exact (as KITTI
writes them), else the shortest decimal that reads back to the same float.

Boxes of category ``DontCare`` are written as such. Other difficult boxes and crowd boxes are
left out and counted unless ``keep_difficult`` / ``keep_crowd`` (KITTI has no such flags).
Category names must be single words (KITTI lines are separated by spaces).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cvpipe.errors import ConfigError, InputError

from .layout import DONTCARE, IMAGES_DIR, LABELS_DIR

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["write_kitti", "num_text"]


def num_text(v: float) -> str:
    """``v`` with two decimals when that is exact (KITTI's own style), else the shortest
    decimal that reads back to the same float."""
    v = float(v)
    two = f"{v:.2f}"
    return two if float(two) == v else repr(v)


def _line(name: str, box, kitti: dict | None, truncated: bool, occluded: Any, dontcare: bool) -> str:
    k = kitti if isinstance(kitti, dict) else {}
    if dontcare and not k:
        k = {"truncated": -1.0, "occluded": -1, "alpha": -10.0}
    trunc = k.get("truncated")
    if trunc is None or (float(trunc) > 0) != bool(truncated) and not dontcare:
        trunc = 1.0 if truncated else 0.0
    occ = k.get("occluded", occluded if occluded in (0, 1, 2, 3) else 0)
    dims = k.get("dimensions") or (-1.0, -1.0, -1.0)
    loc = k.get("location") or (-1000.0, -1000.0, -1000.0)
    vals = [trunc, None, k.get("alpha", -10.0), *box, *dims, *loc, k.get("rotation_y", -10.0)]
    parts = [name] + [str(int(occ)) if v is None else num_text(v) for v in vals]
    return " ".join(parts)


def write_kitti(
    dataset: "Dataset",
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    keep_difficult: bool = False,
    keep_crowd: bool = False,
) -> dict:
    """Write ``dataset`` into the folder ``dst`` in the KITTI layout (see the module docstring).

    Returns ``{"images", "boxes", "skipped": {"difficult": n, "crowd": m}, "dontcare": k}``.
    ``dst`` appears whole or not at all; image names are confined to ``dst``.
    """
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, place_file, safe_join, safe_relpath

    if images not in ("copy", "link", "none"):
        raise ConfigError("bad images mode", field="images", value=images, expected="copy, link or none")
    for c in dataset.categories:
        c = str(c)
        if not c or any(ch.isspace() for ch in c):
            raise InputError("category name unfit for KITTI", field="categories", value=c,
                             expected="a non-empty name without spaces (KITTI lines are space-separated)",
                             hint="rename it, e.g. with a remap step")
    any_split = any(s.split is not None for s in dataset.samples)
    groups: dict[str | None, list] = {}
    for s in dataset.samples:
        groups.setdefault((s.split if s.split is not None else "unassigned") if any_split else None, []).append(s)
    plan = []
    for split, samples in groups.items():
        base = ""
        if split is not None:
            base = safe_relpath(str(split), field="split")
            if "/" in base:
                raise InputError("split name with a folder", field="split", value=split, expected="a plain name")
            base += "/"
        seen: dict[str, str] = {}
        for s, name in zip(samples, image_names(samples)):
            rel = safe_relpath(name, file=str(dataset.image_path(s)), field="image")
            stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
            if stem in seen:
                raise InputError("two images would get the same label file", file=str(dataset.image_path(s)),
                                 value=f"{base}{LABELS_DIR}/{stem}.txt", expected="image names that differ by "
                                 "more than their extension", hint=f"also {seen[stem]}")
            seen[stem] = s.image
            plan.append((base, s, rel, stem))
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}, "dontcare": 0}
    with atomic_dir(Path(dst)) as tmp:
        for base, s, rel, stem in plan:
            lines = []
            for j in range(len(s)):
                name = str(dataset.categories[int(s.labels[j])])
                dc = name == DONTCARE
                if not dc and s.difficult[j] and not keep_difficult:
                    report["skipped"]["difficult"] += 1
                    continue
                if not dc and s.iscrowd[j] and not keep_crowd:
                    report["skipped"]["crowd"] += 1
                    continue
                bx = s.box_extra[j]
                line = _line(name, s.boxes[j].tolist(), bx.get("kitti"), bool(s.truncated[j]), bx.get("occluded"), dc)
                if s.scores is not None:
                    line += " " + num_text(s.scores[j])
                lines.append(line + "\n")
                report["dontcare"] += dc
            label = safe_join(tmp, f"{base}{LABELS_DIR}/{stem}.txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            with open(label, "w", encoding="utf-8", newline="\n") as fh:
                fh.write("".join(lines))
            if images != "none":
                src = dataset.image_path(s)
                if not src.is_file():
                    raise InputError("image file not found", file=str(src), expected="an existing image file",
                                     hint="point to the images with --images-dir, or use --images none")
                place_file(src, safe_join(tmp, f"{base}{IMAGES_DIR}/{rel}"), images)
            report["images"] += 1
            report["boxes"] += len(lines)
    return report
