"""What the dataset steps share: the dataset in the context, a one-line description."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from ...errors import JobError

if TYPE_CHECKING:  # pragma: no cover
    from ...data import Dataset


def dataset_in(ctx: Any, name: str) -> "Dataset":
    """The Dataset stored under ``name``; JobError when it is something else."""
    from ...data import Dataset

    obj = ctx[name]
    if not isinstance(obj, Dataset):
        raise JobError(f"{name!r} is not a dataset", value=type(obj).__name__, expected="a Dataset (from read, ...)")
    return obj


def splits_count(ds: "Dataset") -> dict[str, int]:
    return dict(Counter(s.split for s in ds.samples if s.split is not None))


def describe(ds: "Dataset") -> str:
    splits = splits_count(ds)
    text = f"{len(ds)} images, {ds.num_boxes} boxes, {len(ds.categories)} classes"
    if splits:
        text += " (" + ", ".join(f"{k} {v}" for k, v in splits.items()) + ")"
    return text
