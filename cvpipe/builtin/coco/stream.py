"""Writing COCO part by part: the COCO format's :class:`cvpipe.contract.Sharding` (write side),
so that ``convert --executor`` writes ``annotations/instances_<split>.json`` in bounded memory.

A COCO file depends on its whole split: image ids are kept only when all of them are distinct
integers (else 1..N, the sample's own id kept as ``source_id``), annotation ids likewise, output names drop the folders all of the split's
images share, and two images may not get one name. So :meth:`CocoStreamSharding.write_part`
only stages each part (its samples pickled into the temporary folder with
:mod:`cvpipe.formats.staging`, plus what the split-wide rules need: shared folders, whether
every id is an id); :meth:`~CocoStreamSharding.commit` then checks distinctness over the
staged parts (:class:`cvpipe.formats.staging.DistinctNames`: hashes, not the values) and
writes each split's JSON entry by entry, each part through the writer's own
:func:`.writer.to_coco_dict`, with the split-wide decisions fixed beforehand. The bytes are
:func:`.writer.write_coco`'s (compact JSON, the default ``indent=None``).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ...errors import InputError
from ...formats.staging import DistinctNames, common_folders, stage_part, staged_samples
from .layout import DEFAULT_SPLIT

__all__ = ["CocoStreamSharding", "SHARDING"]

#: where parts are staged inside the temporary output folder (removed by commit)
STAGE = ".cvpipe-coco-parts"
#: samples per staged part
ROWS_PER_PART = 10_000


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CocoStreamSharding:
    """Write-only Sharding of ``coco``: stage parts, then write each split's JSON in commit."""

    rows_per_part = ROWS_PER_PART
    plan = None
    read_part = None

    def write_part(self, samples: Sequence, folder: Path, index: int, *, images: str = "copy",
                   root: Path | None = None, keep_difficult: bool = False) -> dict[str, Any]:
        """Stage part ``index``; return what the split-wide rules need of it, per split."""
        from ...formats.images import shared_folders
        if images not in ("copy", "link", "none"):
            raise InputError("bad images mode", field="images", value=images, expected="copy, link or none")
        file = stage_part(Path(folder) / STAGE, index, samples)
        splits: dict[str, dict[str, Any]] = {}
        for s in samples:
            sp = splits.setdefault(s.split or DEFAULT_SPLIT, {"images": 0, "folders": None, "ids": True, "ann_ids": True})
            sp["images"] += 1
            sp["folders"] = shared_folders([str(s.image)], sp["folders"])
            sp["ids"] = sp["ids"] and _is_int(s.id)
            sp["ann_ids"] = sp["ann_ids"] and all(_is_int(ex.get("id")) for ex in s.box_extra)
        return {"file": file, "splits": splits, "images": images, "root": str(root) if root is not None else None,
                "keep_difficult": keep_difficult}

    def commit(self, folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str],
               meta: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``annotations/instances_<split>.json`` (and place the images) from the staged
        parts; remove the stage. Returns :func:`.writer.write_coco`'s report."""
        from ...data import Dataset

        folder = Path(folder)
        stage = folder / STAGE
        order: list[str] = []
        rules: dict[str, dict[str, Any]] = {}
        for r in records:
            for split, sp in r["splits"].items():
                if split not in rules:
                    order.append(split)
                    rules[split] = {"images": 0, "folders": None, "ids": True, "ann_ids": True}
                g = rules[split]
                g["images"] += sp["images"]
                g["folders"] = common_folders(g["folders"], sp["folders"])
                g["ids"] = g["ids"] and sp["ids"]
                g["ann_ids"] = g["ann_ids"] and sp["ann_ids"]
        opts = records[0] if records else {"images": "none", "root": None, "keep_difficult": False}
        root = Path(opts["root"]) if opts["root"] else None
        template = Dataset(list(categories), [], root=root, meta=dict(meta))
        report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {}, "splits": {}}
        skipped: Counter = Counter()
        (folder / "annotations").mkdir()
        from ...fsutil import safe_relpath

        for split in order:
            safe_relpath(split, field="split")
            g = rules[split]
            self._check_split(stage, records, split, g, template)
            boxes = self._write_split(stage, records, split, g, template, folder, opts, skipped)
            report["splits"][split] = {"images": g["images"], "boxes": boxes}
            report["images"] += g["images"]
            report["boxes"] += boxes
        shutil.rmtree(stage, ignore_errors=True)
        report["skipped"] = dict(skipped)
        return report

    @staticmethod
    def _samples(stage: Path, records: Sequence[dict[str, Any]], split: str) -> Iterator[list]:
        """The staged samples of ``split``, one part (list) at a time."""
        return staged_samples(stage, (r["file"] for r in records if split in r["splits"]),
                              lambda s: (s.split or DEFAULT_SPLIT) == split)

    def _names(self, part: list, g: dict[str, Any], template) -> list[tuple[Any, str]]:
        """``(sample, safe output name)`` of a part, names cut at the split's shared folders."""
        from ...formats.images import output_names
        from ...fsutil import safe_relpath

        names = output_names([str(s.image) for s in part], [s.extra.get("file_name") for s in part],
                             cut=len(g["folders"] or ()))
        return [(s, safe_relpath(n, file=str(s.origin.file if s.origin is not None and s.origin.file
                                              else template.image_path(s)), field="file_name"))
                for s, n in zip(part, names)]

    def _check_split(self, stage: Path, records, split: str, g: dict[str, Any], template) -> None:
        """Two images with one output name: write_coco's InputError; ids and annotation ids:
        whether they are distinct (decides, as write_coco does, whether they are kept)."""
        names, ids, ann_ids = DistinctNames(), DistinctNames(), DistinctNames()
        for part in self._samples(stage, records, split):
            pairs = self._names(part, g, template)
            before = names.count
            hit = names.add([rel for _, rel in pairs])
            if hit is not None:  # the first repeated name, as write_coco finds it
                k, ordinal = hit
                s, rel = pairs[k]
                first = (str(template.image_path(pairs[ordinal - before][0])) if ordinal >= before
                         else self._first_named(stage, records, split, g, template, rel))
                raise InputError("two images would get the same output name", file=str(template.image_path(s)),
                                 value=rel, expected="distinct image names per split", hint=f"also {first}")
            if g["ids"]:
                g["ids"] = ids.add([repr(s.id) for s in part]) is None
            if g["ann_ids"]:
                g["ann_ids"] = ann_ids.add([repr(ex.get("id")) for s in part for ex in s.box_extra]) is None

    def _first_named(self, stage: Path, records, split: str, g, template, rel: str) -> str:
        for part in self._samples(stage, records, split):
            for s, name in self._names(part, g, template):
                if name == rel:
                    return str(template.image_path(s))
        return rel

    def _write_split(self, stage: Path, records, split: str, g: dict[str, Any], template, folder: Path,
                     opts: dict[str, Any], skipped: Counter) -> int:
        """Write ``instances_<split>.json``: each part through :func:`.writer.to_coco_dict`
        with ids renumbered split-wide where they are not kept; returns the annotations written."""
        from dataclasses import replace

        from ...formats.images import place_image
        from ...fsutil import safe_join
        from .writer import to_coco_dict

        keep_difficult, keep_crowd = bool(opts.get("keep_difficult")), True
        ann_dir = folder / "annotations"
        img_tmp, ann_tmp = ann_dir / f".{split}.images", ann_dir / f".{split}.annotations"
        next_img = next_ann = 1
        n_boxes = 0
        head = None
        with open(img_tmp, "w", encoding="utf-8") as fi, open(ann_tmp, "w", encoding="utf-8") as fa:
            first_img = first_ann = True
            for part in self._samples(stage, records, split):
                pairs = self._names(part, g, template)
                fixed, source_ids = [], []
                left_out = 0
                for s, _ in pairs:
                    source_ids.append(None if g["ids"] else s.id)
                    if not g["ids"]:
                        s = replace(s, id=next_img)
                        next_img += 1
                    if not g["ann_ids"]:
                        extras = []
                        for j, ex in enumerate(s.box_extra):
                            ex = dict(ex)
                            if (s.difficult[j] and not keep_difficult) or (s.iscrowd[j] and not keep_crowd):
                                left_out -= 1
                                ex["id"] = left_out  # not written: any distinct integer
                            else:
                                ex["id"] = next_ann
                                next_ann += 1
                            extras.append(ex)
                        s = replace(s, box_extra=extras)
                    fixed.append(s)
                sub = replace(template, samples=fixed)
                coco = to_coco_dict(sub, keep_difficult=keep_difficult, keep_crowd=keep_crowd,
                                    file_names=[rel for _, rel in pairs], skipped=skipped)
                for entry, source in zip(coco["images"], source_ids):
                    if source is not None:  # renumbered split-wide: the sample's own id kept (as write_coco)
                        entry = _with_source_id(entry, source)
                    fi.write(("" if first_img else ",") + _dump(entry))
                    first_img = False
                for entry in coco["annotations"]:
                    fa.write(("" if first_ann else ",") + _dump(entry))
                    first_ann = False
                n_boxes += len(coco["annotations"])
                if head is None:
                    head = coco
                if opts["images"] != "none":
                    for s, rel in pairs:
                        place_image(template.image_path(s), safe_join(folder / "images" / split, rel), opts["images"])
        if head is None:
            head = to_coco_dict(template, keep_difficult=keep_difficult, keep_crowd=keep_crowd, file_names=[])
        marks = {"images": "\x00cvpipe-images\x00", "annotations": "\x00cvpipe-annotations\x00"}
        skeleton = {k: (marks[k] if k in marks else v) for k, v in head.items()}
        text = _dump(skeleton)
        with open(ann_dir / f"instances_{split}.json", "w", encoding="utf-8") as out:
            rest = text
            for key, tmp in (("images", img_tmp), ("annotations", ann_tmp)):
                mark = _dump(marks[key])
                before, rest = rest.split(mark, 1)
                out.write(before + "[")
                with open(tmp, encoding="utf-8") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                out.write("]")
            out.write(rest + "\n")
        img_tmp.unlink()
        ann_tmp.unlink()
        return n_boxes


def _is_int(v: Any) -> bool:
    """Whether ``v`` is an id :func:`.writer.to_coco_dict` keeps (an integer, not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _with_source_id(entry: dict[str, Any], source: Any) -> dict[str, Any]:
    """An image record with ``source_id`` where :func:`.writer.to_coco_dict` puts it (after the
    size, before the source's own keys)."""
    from .writer import SOURCE_ID_KEY

    out = {k: entry[k] for k in ("id", "file_name", "width", "height")}
    out[SOURCE_ID_KEY] = source
    out.update((k, v) for k, v in entry.items() if k not in out)
    return out


SHARDING = CocoStreamSharding()
