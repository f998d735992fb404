"""Staging for writers that write part by part (a format's Sharding ``write_part``/``commit``)
but whose files depend on a whole split: each part's samples are pickled into a stage folder
inside the temporary output folder (:func:`stage_part`), ``commit`` decides the split-wide
rules from the parts' small records and reads the staged parts back one at a time
(:func:`staged_samples`). What a split's image names share is summed up per part
(:func:`split_summary`) and merged (:func:`merge_summaries`); output names that must be distinct over a split are checked in bounded
memory with :class:`DistinctNames`."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

__all__ = ["stage_part", "staged_samples", "split_summary", "merge_summaries", "common_folders", "DistinctNames"]


def stage_part(stage: Path, index: int, samples: Sequence[Any]) -> str:
    """Pickle part ``index``'s samples into the folder ``stage`` (made when absent); returns the
    staged file's name (for the part's record)."""
    stage = Path(stage)
    stage.mkdir(exist_ok=True)
    file = f"{index:05d}.pkl"
    with open(stage / file, "wb") as fh:
        pickle.dump(list(samples), fh, protocol=5)
    return file


def staged_samples(stage: Path, files: Iterable[str], keep: Callable[[Any], bool] | None = None) -> Iterator[list]:
    """The samples staged in ``files`` (inside ``stage``), one part (a list) at a time, in the
    order of ``files``; with ``keep``, only the samples it accepts (one split's)."""
    for file in files:
        with open(Path(stage) / file, "rb") as fh:
            part = pickle.load(fh)
        yield part if keep is None else [s for s in part if keep(s)]


def split_summary(samples: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """Per split of ``samples`` (``Sample.split``, None included; first-seen order) what the
    split-wide names need: ``{"images": n, "folders": the folders its image paths share}``."""
    from .images import shared_folders

    out: dict[Any, dict[str, Any]] = {}
    for s in samples:
        sp = out.setdefault(s.split, {"images": 0, "folders": None})
        sp["images"] += 1
        sp["folders"] = shared_folders([str(s.image)], sp["folders"])
    return out


def merge_summaries(summaries: Iterable[Mapping[Any, Mapping[str, Any]]],
                    key: Callable[[Any], Any] = lambda split: split) -> dict[Any, dict[str, Any]]:
    """:func:`split_summary` of the parts merged, as one call over all their samples would give
    it (first-seen order, images added up, shared folders in common); ``key`` maps a split to
    the group it counts in (e.g. YOLO's output folder of samples without a split)."""
    out: dict[Any, dict[str, Any]] = {}
    for summary in summaries:
        for split, sp in summary.items():
            g = out.setdefault(key(split), {"images": 0, "folders": None})
            g["images"] += sp["images"]
            g["folders"] = common_folders(g["folders"], sp["folders"])
    return out


def common_folders(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The leading folders ``a`` and ``b`` share (:func:`cvpipe.formats.images.shared_folders`
    of two parts merged; None stands for no paths yet)."""
    if a is None:
        return b
    if b is None:
        return a
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class DistinctNames:
    """The names given so far in one split, part by part, as a :class:`~cvpipe.data.keys.KeySet`
    (24 bytes a name): :meth:`add` finds the first name of a part that an earlier one had."""

    def __init__(self) -> None:
        from ..data.keys import KeySet

        self.keys = KeySet()
        self.count = 0  # names added so far (the ordinal of the next one)

    def add(self, names: Sequence[str]) -> tuple[int, int] | None:
        """Add one part's ``names``; None when all are new, else ``(k, ordinal)``: the position
        in ``names`` of the first one already given and the ordinal (over the split) of its
        first holder (nothing is added then)."""
        import numpy as np

        h1, h2 = self.keys.hashes(list(names))
        hit = self.keys.find(h1, h2).tolist()
        here: dict[str, int] = {}
        for k, name in enumerate(names):
            if hit[k] >= 0:
                return k, hit[k]
            if name in here:
                return k, self.count + here[name]
            here[name] = k
        self.keys.add(h1, h2, np.arange(self.count, self.count + len(names)))
        self.count += len(names)
        return None
