"""Writing Pascal VOC part by part: the VOC format's :class:`cvpipe.contract.Sharding` (write
side), so that ``convert --executor`` writes a VOCdevkit folder while the driver holds one part
at a time.

The folder depends on the whole dataset: an image's name drops the folders all images of its
split share, two images may not get one annotation file unless they are one image (and one
annotation) in two splits (then written once, listed in both split lists), and the split lists
name every image. So :meth:`VocStreamSharding.write_part` only stages each part (its samples
pickled into the temporary folder, :mod:`cvpipe.formats.staging`) and returns what the names
need of it (the folders each split's images share). :meth:`~VocStreamSharding.commit` merges
those, checks the names over the staged parts in :func:`.writer.write_voc`'s order (unsafe names
first, split by split; then repeated annotation ids in sample order, with a
:class:`~cvpipe.data.keys.KeySet`, fetching the first holder of a repeated id from its staged
part), then writes each part through the writer's own :func:`.writer.write_annotation`, the
split lists streamed into the stage and moved into ``ImageSets/Main`` by
:func:`.writer.write_lists`: :func:`.writer.write_voc`'s files, bytes, report and refusals.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from cvpipe.formats.staging import merge_summaries, split_summary, stage_part, staged_samples

from .writer import (
    annotation_id,
    check_repeat,
    make_folders,
    new_report,
    resolve_convention,
    with_notes,
    write_annotation,
    write_lists,
)

__all__ = ["VocStreamSharding"]

#: where parts are staged inside the temporary output folder (removed by commit)
STAGE = ".cvpipe-voc-parts"
#: samples per staged part
ROWS_PER_PART = 2000


class VocStreamSharding:
    """Write-only Sharding of ``voc``: stage parts, then write the folder in commit."""

    rows_per_part = ROWS_PER_PART
    plan = None
    read_part = None

    def write_part(self, samples: Sequence, folder: Path, index: int, *, images: str = "copy",
                   root: Path | None = None, pixel_convention: str | None = None,
                   keep_crowd: bool = False) -> dict[str, Any]:
        """Stage part ``index``; return its record: per split (None for samples without one) its
        images and the folders they share (:func:`cvpipe.formats.staging.split_summary`), and the
        writer's options."""
        from cvpipe.formats.images import check_images_mode

        check_images_mode(images)
        return {"file": stage_part(Path(folder) / STAGE, index, samples), "splits": split_summary(samples),
                "images": images, "root": str(root) if root is not None else None,
                "options": {"pixel_convention": pixel_convention, "keep_crowd": keep_crowd}}

    def commit(self, folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str],
               meta: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``Annotations/``, ``JPEGImages/`` and ``ImageSets/Main/`` into ``folder`` from
        the staged parts; remove the stage. Returns :func:`.writer.write_voc`'s report."""
        from cvpipe.data import Dataset

        folder = Path(folder)
        opts = records[0] if records else {"images": "none", "root": None, "options": {}}
        template = Dataset(list(categories), [], root=Path(opts["root"]) if opts["root"] else None, meta=dict(meta))
        convention = resolve_convention(template.meta, opts["options"].get("pixel_convention"))
        keep_crowd = bool(opts["options"].get("keep_crowd"))
        names = _Names(folder / STAGE, records, template)
        names.check_safe()
        shared = names.repeats()
        report = new_report()
        lists: dict[Any, Any] = {}  # split -> (its list file in the stage, open handle)
        make_folders(folder)
        try:
            for start, part in names.parts():
                for k, (s, name) in enumerate(names.named(part)):
                    ident = annotation_id(name)
                    if start + k in shared:
                        _listed(lists, names.stage, s.split, ident)
                        continue
                    write_annotation(folder, template, s, name, ident, convention, opts["images"], keep_crowd, report)
                    if s.split is not None:
                        _listed(lists, names.stage, s.split, ident)
        finally:
            for _, fh in lists.values():
                fh.close()
        write_lists(folder, list(lists), lambda path, split: os.replace(lists[split][0], path), report)
        shutil.rmtree(names.stage, ignore_errors=True)
        return with_notes(report, len(shared))


def _listed(lists: dict[Any, Any], stage: Path, split: Any, ident: str) -> None:
    """Append ``ident`` to ``split``'s list file (made in the stage on first use)."""
    if split not in lists:
        path = stage / f"list-{len(lists)}.txt"
        lists[split] = (path, open(path, "w", encoding="utf-8"))
    lists[split][1].write(ident + "\n")


class _Names:
    """The image names of the staged parts: each split's shared folders merged from the
    records, the staged parts walked in order or by split."""

    def __init__(self, stage: Path, records: Sequence[dict[str, Any]], template) -> None:
        self.stage, self.records, self.template = stage, records, template
        self.folders = {split: g["folders"] for split, g in merge_summaries(r["splits"] for r in records).items()}
        self.starts: list[int] = []  # ordinal (over the dataset) of each part's first sample
        n = 0
        for r in records:
            self.starts.append(n)
            n += sum(g["images"] for g in r["splits"].values())

    def parts(self) -> Iterator[tuple[int, list]]:
        """``(ordinal of its first sample, samples)`` of every staged part, in order."""
        return zip(self.starts, staged_samples(self.stage, [r["file"] for r in self.records]))

    def named(self, part: list) -> Iterator[tuple[Any, str]]:
        """``(sample, safe image name)``: names cut at the folders their split shares (as
        :func:`cvpipe.formats.image_names` cuts a whole split)."""
        from cvpipe.formats.images import output_names
        from cvpipe.fsutil import safe_relpath

        for s in part:
            name = output_names([str(s.image)], [s.extra.get("file_name")], cut=len(self.folders[s.split] or ()))[0]
            yield s, safe_relpath(name, file=str(self.template.image_path(s)), field="image")

    def check_safe(self) -> None:
        """Raise the first unsafe image name, split by split in first-seen order (the order
        :func:`.writer.write_voc` names them in)."""
        for split in self.folders:
            files = [r["file"] for r in self.records if split in r["splits"]]
            for part in staged_samples(self.stage, files, lambda s: s.split == split):
                for _ in self.named(part):
                    pass

    def repeats(self) -> set[int]:
        """Ordinals of the samples that are an image already written for another split (listed
        only); the InputError of :func:`.writer.check_repeat` for the first other repeat."""
        import numpy as np

        from cvpipe.data.keys import KeySet

        keys, shared = KeySet(), set()
        for start, part in self.parts():
            ids = [annotation_id(name) for _, name in self.named(part)]
            h1, h2 = keys.hashes(ids)
            hit = keys.find(h1, h2).tolist()
            here: dict[str, int] = {}
            firsts: list[tuple[int, int]] = []  # (position in part, ordinal of the id's first holder)
            for k, ident in enumerate(ids):
                first = hit[k] if hit[k] >= 0 else here.get(ident, -1)
                if first >= 0:
                    firsts.append((k, first))
                else:
                    here[ident] = start + k
            holders = self._samples({o for _, o in firsts if o < start})
            for k, o in firsts:
                first = part[o - start] if o >= start else holders[o]
                check_repeat(self.template, first, part[k], ids[k])
                shared.add(start + k)
            new = list(here.values())
            keys.add(h1[[o - start for o in new]], h2[[o - start for o in new]], np.array(new, dtype=np.int64))
        return shared

    def _samples(self, ordinals: set[int]) -> dict[int, Any]:
        """The staged samples at ``ordinals`` (earlier parts), each part read once."""
        import bisect

        out: dict[int, Any] = {}
        wanted: dict[int, list[int]] = {}
        for o in ordinals:  # parts without samples share the next one's start: bisect_right skips them
            wanted.setdefault(bisect.bisect_right(self.starts, o) - 1, []).append(o)
        for index in sorted(wanted):
            part = next(staged_samples(self.stage, [self.records[index]["file"]]))
            for o in wanted[index]:
                out[o] = part[o - self.starts[index]]
        return out

