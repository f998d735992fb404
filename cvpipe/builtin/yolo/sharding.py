"""The YOLO format's :class:`cvpipe.contract.Sharding`: a dataset cut into chunks
of label files, so that ``convert``/``validate --executor`` read them part by part in bounded
memory.

The plan lists the layout once (:func:`.reader.layout_items`, the reader's own rules) and
stores each chunk as a compressed text listing (a few bytes per image, not Python path
objects); :meth:`YoloSharding.read_part` reads one chunk with the reader's per-file code
(:func:`.reader.read_items`), so a part's samples and problems are the single-process ones.
Layout problems (a missing split folder) travel in part 0.

Differences from the single-process reader: whether labels carry a confidence (a 6th value, a
predictions dataset) and whether 4-point polygons are oriented boxes are decided per part, not
over the whole dataset (the notes of the parts are added up by the driver).

Writing part by part (:meth:`YoloSharding.write_part`, :meth:`YoloSharding.commit`) is
:mod:`.stream`'s: parts of ``rows_per_part`` samples are staged, and the layout, which depends on
the whole dataset, is written in commit with the decisions :func:`.writer.write_yolo` makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from cvpipe.errors import Problem

__all__ = ["YoloSharding", "SHARDING", "PART_IMAGES"]

#: images (label files) per part
PART_IMAGES = 2000


def _pack(items: Sequence[tuple[str, Path, Path]]) -> bytes:
    """``(split, image, label)`` items as one compressed listing."""
    from cvpipe.formats.plans import pack_rows

    return pack_rows([(split, str(img), str(lab)) for split, img, lab in items])


def _unpack(blob: bytes) -> list[tuple[str, Path, Path]]:
    from cvpipe.formats.plans import unpack_rows

    return [(split, Path(img), Path(lab)) for split, img, lab in unpack_rows(blob, 3)]


def _class_names_from_ids(items: Sequence[tuple[str, Path, Path]]) -> list[str]:
    """``class_0 .. class_<largest id>`` over the label files of ``items`` (a dataset whose
    classes nothing names; the reader's rule, :func:`.reader.unnamed_classes`)."""
    top = -1
    for _, _, lab in items:
        try:
            text = lab.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            tok = line.split(None, 1)[0] if line.strip() else ""
            if tok.isascii() and tok.isdigit():
                top = max(top, int(tok))
    return [f"class_{i}" for i in range(top + 1)]


def _plan(path: Path, splits: Sequence[str] | None, images_dir: Path | None, size: int) -> dict[str, Any]:
    """:meth:`YoloSharding.plan`'s work: list the layout, pack it in parts of ``size`` items."""
    from .reader import layout_items

    found: list[Problem] = []
    info: dict[str, Any] = {}
    notes: dict[str, int] = {}
    got = layout_items(path, list(splits) if splits else None, images_dir, found, notes, info)
    names, ds_root, items = got if got is not None else ([], path, [])
    if names is None:
        from .layout import NOTE_NAMES_FROM_IDS

        names = _class_names_from_ids(items)
        notes[NOTE_NAMES_FROM_IDS] = len(names)
    root = Path(images_dir) if images_dir else ds_root
    keys = {k: info[k] for k in ("kpt", "task", "flip_idx") if info.get(k) is not None}
    parts = []
    for k in range(0, max(len(items), 1), size):
        parts.append({"names": list(names), "root": str(ds_root), "problems": found if k == 0 else [],
                      "items": _pack(items[k:k + size]), "info": keys})
    meta: dict[str, Any] = {"format": "yolo"}
    if notes:
        meta["notes"] = notes
    if keys.get("kpt") is not None:
        meta["yolo"] = {"kpt_shape": list(keys["kpt"])}
        if isinstance(keys.get("flip_idx"), list):
            meta["yolo"]["flip_idx"] = list(keys["flip_idx"])
    return {"categories": list(names), "meta": meta, "parts": parts, "root": str(root)}


class YoloSharding:
    """Parts are ``{"names", "root", "problems", "items"}``: the category names, the layout
    root, layout problems (part 0 only) and a packed chunk of ``PART_IMAGES`` items. Written
    parts are ``rows_per_part`` samples, staged (:mod:`.stream`)."""

    rows_per_part = PART_IMAGES

    def write_part(self, samples: Sequence, folder: Path, index: int, *, images: str = "copy",
                   root: Path | None = None, keep_difficult: bool = False, keep_crowd: bool = False,
                   decimals: int = 6) -> dict[str, Any]:
        """Stage part ``index`` of the output in the temporary ``folder``; its record
        (:func:`.stream.write_part`; the options are :func:`.writer.write_yolo`'s)."""
        from .stream import write_part

        return write_part(samples, folder, index, images=images, root=root, keep_difficult=keep_difficult,
                          keep_crowd=keep_crowd, decimals=decimals)

    def commit(self, folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str],
               meta: Mapping[str, Any], *, dst: Path) -> dict[str, Any]:
        """Write the layout from the staged parts into ``folder`` (which becomes ``dst``);
        :func:`.writer.write_yolo`'s report (:func:`.stream.commit`)."""
        from .stream import commit

        return commit(folder, records, categories, meta, dst=dst)

    def plan(self, path: Path, *, splits: Sequence[str] | None = None,
             images_dir: Path | None = None) -> dict[str, Any]:
        """Categories, meta and the parts of the YOLO dataset at ``path`` (one listing of the
        layout, no label file read). Where the OS can fork, the listing runs in a short-lived
        child process: its path objects (about 0.7 kB an image) never count against the
        driver, which receives only the packed parts."""
        from cvpipe.formats.plans import in_forked_child

        return in_forked_child(_plan, Path(path), splits, images_dir, PART_IMAGES)

    def read_part(self, path: Path, part: dict[str, Any], *, images_dir: Path | None = None,
                  splits: Sequence[str] | None = None, problems: list[Problem] | None = None):
        """The samples of one part as a Dataset (problems as :func:`.reader.read_yolo` handles
        them: appended to ``problems``, or raised as one InputError when it is None)."""
        from cvpipe.data import Dataset
        from cvpipe.data.origin import Origin
        from cvpipe.formats import raise_or_collect

        from .reader import LabelStats, finish_samples, read_items

        found: list[Problem] = list(part["problems"])
        ds_root = Path(part["root"])
        root = Path(images_dir) if images_dir else ds_root
        info = dict(part.get("info") or {})
        stats = LabelStats()
        samples = read_items(_unpack(part["items"]), len(part["names"]), root, ds_root,
                             Path(images_dir) if images_dir else None, found, kpt_shape=info.get("kpt"), stats=stats)
        meta: dict[str, Any] = {"format": "yolo"}
        finish_samples(samples, info, stats, {}, meta)  # oriented boxes decided per part
        raise_or_collect(found, problems)
        return Dataset(part["names"], samples, root=root, meta=meta, origin=Origin(str(path)))


SHARDING = YoloSharding()
