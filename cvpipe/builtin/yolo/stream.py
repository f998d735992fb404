"""Writing YOLO part by part (the write side of :class:`.sharding.YoloSharding`), so that
``convert --executor`` writes the Ultralytics layout while the driver holds one part at a time.

The layout depends on the whole dataset: whether any sample has a split (else ``train``),
the split folders and their order, the image names of a split (the folders all its images share
are dropped), two images of a split never getting one label file, a pose dataset's
``kpt_shape``, oriented boxes (every line 8 corners once one box has them) and data.yaml's
stand-in splits. So :func:`write_part` only stages each part (its samples pickled into the
temporary folder, :mod:`cvpipe.formats.staging`) and returns what those decisions need of it
(per split: images and shared folders; keypoint lengths; any oriented box). :func:`commit`
merges the records, checks every split's names over the staged parts (in bounded memory), then
writes each split part by part through the writer's own :func:`.writer.write_sample` and
:func:`.writer.finish`: the files, bytes, report and refusals of :func:`.writer.write_yolo`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from cvpipe.errors import InputError
from cvpipe.formats.staging import DistinctNames, merge_summaries, split_summary, stage_part, staged_samples
from cvpipe.formats.yolo_text import label_name, output_split

from .writer import (
    LabelStyle,
    check_decimals,
    finish,
    has_obb,
    keypoint_lengths,
    make_split_folders,
    new_report,
    pose_shape,
    safe_names,
    same_label_file,
    split_folder,
    with_notes,
    write_sample,
)

__all__ = ["write_part", "commit", "STAGE"]

#: where parts are staged inside the temporary output folder (removed by commit)
STAGE = ".cvpipe-yolo-parts"


def write_part(samples: Sequence, folder: Path, index: int, *, images: str = "copy", root: Path | None = None,
               keep_difficult: bool = False, keep_crowd: bool = False, decimals: int = 6) -> dict[str, Any]:
    """Stage part ``index`` in ``folder``; return its record: per split as the samples give it
    (None included) its images and the folders they share
    (:func:`cvpipe.formats.staging.split_summary`), the keypoint lengths, whether a box is
    oriented, and the writer's options."""
    from cvpipe.formats.images import check_images_mode

    check_images_mode(images)
    check_decimals(decimals)
    return {"file": stage_part(Path(folder) / STAGE, index, samples), "splits": split_summary(samples),
            "keypoints": keypoint_lengths(samples), "obb": has_obb(samples), "images": images,
            "root": str(root) if root is not None else None,
            "options": {"keep_difficult": keep_difficult, "keep_crowd": keep_crowd, "decimals": decimals}}


class _Plan:
    """The dataset-wide decisions merged from the part records: ``any_split``, the output split
    folders in first-seen order with their images and shared folders, and which staged files
    hold each split."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.any_split = any(split is not None for r in records for split in r["splits"])
        self.groups = merge_summaries((r["splits"] for r in records), lambda split: output_split(split, self.any_split))
        self.files = {split: [r["file"] for r in records
                              if any(output_split(sp, self.any_split) == split for sp in r["splits"])]
                      for split in self.groups}

    def parts(self, stage: Path, split: str) -> Iterator[list]:
        """The staged samples of output split ``split``, one part at a time."""
        return staged_samples(stage, self.files[split], self.keep(split))

    def keep(self, split: str) -> Callable[[Any], bool]:
        """Whether a sample goes to output split ``split``."""
        return lambda s: output_split(s.split, self.any_split) == split

    def names(self, part: list, split: str, image_path: Callable[[Any], Path]) -> Iterator[tuple[Any, str]]:
        """``(sample, safe image name)`` of a part of ``split``, names cut at the split's shared
        folders (:func:`cvpipe.formats.images.output_names`, as :func:`cvpipe.formats.image_names`
        cuts a whole split)."""
        from cvpipe.formats.images import output_names

        names = output_names([str(s.image) for s in part], [s.extra.get("file_name") for s in part],
                             cut=len(self.groups[split]["folders"] or ()))
        return safe_names(part, names, image_path)


def commit(folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str], meta: Mapping[str, Any], *,
           dst: Path) -> dict[str, Any]:
    """Write the Ultralytics layout into ``folder`` (the temporary folder that becomes ``dst``,
    which data.yaml names) from the staged parts, and remove the stage. Returns
    :func:`.writer.write_yolo`'s report."""
    from cvpipe.data import Dataset

    folder = Path(folder)
    stage = folder / STAGE
    opts = records[0] if records else {"images": "none", "root": None, "options": {}}
    options = {"keep_difficult": False, "keep_crowd": False, "decimals": 6, **opts["options"]}
    check_decimals(options["decimals"])
    plan = _Plan(records)
    template = Dataset(list(categories), [], root=Path(opts["root"]) if opts["root"] else None, meta=dict(meta))
    for split in plan.groups:
        _check_split(stage, plan, split, template.image_path)
    kpt_shape, flip_idx = pose_shape(template.meta, set().union(*(r["keypoints"] for r in records)))
    style = LabelStyle(kpt_shape, kpt_shape is None and any(r["obb"] for r in records), options["decimals"],
                       bool(options["keep_difficult"]), bool(options["keep_crowd"]))
    images = opts["images"]
    report = new_report()
    notes: dict[str, int] = {}
    make_split_folders(folder, plan.groups, images)
    for split in plan.groups:
        name = split_folder(split)
        for part in plan.parts(stage, split):
            for s, image_name in plan.names(part, split, template.image_path):
                write_sample(folder, name, s, image_name, template.image_path(s), style, images, report, notes)
    shutil.rmtree(stage, ignore_errors=True)
    finish(folder, Path(dst).absolute(), list(plan.groups), template.categories, kpt_shape, flip_idx, report)
    return with_notes(report, notes, list(plan.groups), lambda split: plan.groups[split]["images"])


def _check_split(stage: Path, plan: _Plan, split: str, image_path: Callable[[Any], Path]) -> None:
    """:func:`.writer.write_yolo`'s refusals for one split, in its order: the split's folder
    name, then per image its name's safety and a label file another image of the split gets."""
    name = split_folder(split)
    seen = DistinctNames()
    for part in plan.parts(stage, split):
        pairs: list[tuple[Any, str]] = []
        unsafe: InputError | None = None
        try:
            for pair in plan.names(part, split, image_path):
                pairs.append(pair)
        except InputError as exc:  # raised after a repeat among the names before it
            unsafe = exc
        before = seen.count
        hit = seen.add([label_name(n) for _, n in pairs])
        if hit is not None:
            k, first = hit
            other = (pairs[first - before][0] if first >= before else _nth(stage, plan, split, first)).image
            raise same_label_file(image_path(pairs[k][0]), name, label_name(pairs[k][1]), other)
        if unsafe is not None:
            raise unsafe


def _nth(stage: Path, plan: _Plan, split: str, ordinal: int) -> Any:
    """The ``ordinal``-th staged sample of ``split`` (the first holder of a repeated name)."""
    n = 0
    for part in plan.parts(stage, split):
        if ordinal < n + len(part):
            return part[ordinal - n]
        n += len(part)
    raise IndexError(ordinal)
