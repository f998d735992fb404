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

from cvpipe.errors import InputError
from cvpipe.formats.images import check_images_mode, decimal_text, place_image, split_groups, unique_names

from .layout import DONTCARE, IMAGES_DIR, LABELS_DIR

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["write_kitti", "num_text"]


#: ``v`` with two decimals when that is exact (KITTI's own style), else the shortest decimal
#: that reads back to the same float
num_text = decimal_text


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


def write_kitti(dataset: "Dataset", dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
                keep_difficult: bool = False, keep_crowd: bool = False) -> dict:
    """Write ``dataset`` into the folder ``dst`` in the KITTI layout (see the module docstring).

    Returns ``{"images", "boxes", "skipped": {"difficult": n, "crowd": m}, "dontcare": k}``.
    ``dst`` appears whole or not at all; image names are confined to ``dst``.
    """
    from cvpipe.fsutil import atomic_dir, safe_join

    check_images_mode(images)
    for c in dataset.categories:
        c = str(c)
        if not c or any(ch.isspace() for ch in c):
            raise InputError("category name unfit for KITTI", field="categories", value=c,
                             expected="a non-empty name without spaces (KITTI lines are space-separated)",
                             hint="rename it, e.g. with a remap step")
    plan = []
    for split, samples in split_groups(dataset.samples, no_split=None).items():
        base = "" if split is None else split + "/"
        for s, rel, stem in unique_names(
                dataset, samples, key=lambda rel: rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel,
                what="label file", value=lambda stem: f"{base}{LABELS_DIR}/{stem}.txt",
                expected="image names that differ by more than their extension"):
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
                place_image(dataset.image_path(s), safe_join(tmp, f"{base}{IMAGES_DIR}/{rel}"), images)
            report["images"] += 1
            report["boxes"] += len(lines)
    return report
