"""The VOC format's :class:`cvpipe.contract.Sharding` (read side): a dataset cut into chunks
of annotation files, so that ``convert``/``validate --executor`` read them part by part in
bounded memory.

VOC's category list is the set of object names found in every annotation file (in
:data:`cvpipe.data.categories.VOC_CLASSES` order when all are VOC classes, else sorted), and a
detections dataset is one where any object has a ``<score>``: both are dataset-wide. So the
plan, in a short-lived forked child (:func:`cvpipe.formats.plans.in_forked_child`), lists the
layout once (:func:`.layout.voc_layout`, the reader's rules) and reads every annotation file
once for those two facts; each part is then a compressed listing of up to
:data:`PART_FILES` entries that :meth:`VocSharding.read_part` reads with the reader's own code
(:func:`.reader.read_records`, :func:`.reader.records_to_samples`): a part's samples and
problems are the single-process ones. Each file is therefore parsed twice (once in the plan).

Differences from one read: layout problems travel in part 0, and within the report each part's
file problems come before its "object has no score" problems (one read lists all file problems
first). The default pixel convention (``raw``) is used, as by every executor path.

Writing in parts is :class:`.stream.VocStreamSharding`'s (parts staged, the folder written in
``commit``), which this class extends with the read side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from cvpipe.errors import Problem

from .stream import VocStreamSharding

__all__ = ["VocSharding", "SHARDING", "PART_FILES"]

#: annotation files per part
PART_FILES = 2000


def _plan(path: Path, splits: Sequence[str] | None, images_dir: Path | None, size: int) -> dict[str, Any]:
    """:meth:`VocSharding.plan`'s work: list the layout, read every file for the category
    names and whether any object has a score, pack the entries in parts of ``size``."""
    from cvpipe.data.categories import voc_categories
    from cvpipe.formats.plans import pack_rows

    from .layout import voc_layout
    from .reader import SHIFT, parse_file

    found: list[Problem] = []
    bare: dict[str, tuple[str, int]] = {}
    entries, image_root = voc_layout(Path(path), list(splits) if splits else None, images_dir, found, bare=bare)
    names: set[str] = set()
    any_scores = False
    for xml, _, _ in entries:
        rec = parse_file(xml, image_root, SHIFT["raw"], False, None, []) if xml is not None else None  # same objects as full
        for o in rec["objects"] if rec is not None else ():
            names.add(o[0])
            any_scores = any_scores or o[5] is not None
    categories = voc_categories(names)
    parts = []
    for k in range(0, max(len(entries), 1), size):
        chunk = entries[k:k + size]
        parts.append({"entries": pack_rows(chunk), "bare": {ident: bare[ident] for xml, _, ident in chunk
                                                            if xml is None and ident in bare},
                      "image_root": str(image_root), "categories": categories, "any_scores": any_scores,
                      "problems": found if k == 0 else []})
    return {"categories": categories, "meta": {"format": "voc", "pixel_convention": "raw"}, "parts": parts,
            "root": str(image_root)}


class VocSharding(VocStreamSharding):
    """Read side: parts are ``{"entries", "bare", "image_root", "categories", "any_scores", "problems"}``:
    a packed chunk of :func:`.layout.voc_layout` entries, the split-list lines of its bare
    images, the image folder, the dataset-wide categories and score flag, and the layout
    problems (part 0 only). Write side: :class:`.stream.VocStreamSharding`."""

    def plan(self, path: Path, *, splits: Sequence[str] | None = None,
             images_dir: Path | None = None) -> dict[str, Any]:
        """Categories, meta and the parts of the VOC dataset at ``path``, computed in a
        short-lived child where the OS can fork (the listing never counts against the driver)."""
        from cvpipe.formats.plans import in_forked_child

        return in_forked_child(_plan, Path(path), splits, images_dir, PART_FILES)

    def read_part(self, path: Path, part: dict[str, Any], *, images_dir: Path | None = None,
                  splits: Sequence[str] | None = None, problems: list[Problem] | None = None):
        """The samples of one part as a Dataset (problems as :func:`.reader.read_voc` handles
        them: appended to ``problems``, or raised as one InputError when it is None)."""
        from cvpipe.data import Dataset
        from cvpipe.data.origin import Origin
        from cvpipe.formats import raise_or_collect
        from cvpipe.formats.plans import unpack_rows

        from .reader import SHIFT, read_records, reader_meta, records_to_samples

        found: list[Problem] = list(part["problems"])
        image_root = Path(part["image_root"])
        records, n_bare = read_records(unpack_rows(part["entries"], 3), part["bare"], image_root, SHIFT["raw"],
                                       None, found)
        samples = records_to_samples(records, part["categories"], part["any_scores"], found)
        raise_or_collect(found, problems)
        return Dataset(list(part["categories"]), samples, root=image_root, meta=reader_meta("raw", n_bare),
                       origin=Origin(str(path)))


SHARDING = VocSharding()
