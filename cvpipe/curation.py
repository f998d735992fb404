"""Dataset curation, as plain functions: relabel and remap classes, filter boxes, split
(random or stratified, exact sizes), merge. The ``filter``, ``remap``, ``split`` and ``merge``
steps call these. Datasets are :class:`cvpipe.data.Dataset` (boxes absolute pixel xyxy, labels
0-based positions in ``categories``); every function returns a new dataset.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

import numpy as np

from pydantic import Field, ValidationInfo, field_validator

from .data import Dataset
from .errors import ConfigError, Problem, closest
from .settings import Settings, problem

_NOT_NEGATIVE = {"message": "must not be negative", "expected": ">= 0"}

__all__ = [
    "relabel", "check_names", "FilterSettings", "filter_boxes", "remap_classes", "split_sizes", "controlled_rounding",
    "split_indices", "rarest_class_strata", "split_dataset", "merge_datasets",
]


def relabel(ds: Dataset, new_categories: list[str], old_to_new: np.ndarray) -> Dataset:
    """``ds`` with labels mapped through ``old_to_new`` (-1 drops the box) onto ``new_categories``."""
    samples = []
    for s in ds.samples:
        if len(s) == 0:
            samples.append(s)
            continue
        new = old_to_new[s.labels]
        keep = new >= 0
        t = s if keep.all() else s.select(keep)
        samples.append(dataclasses.replace(t, labels=new[keep].astype(np.int64)))
    return dataclasses.replace(ds, categories=list(new_categories), samples=samples, meta=dict(ds.meta))


def check_names(given: list[str], categories: list[str], field: str, *, keyed: bool = False) -> None:
    """ConfigError for each name of ``given`` that is not a category, with a did-you-mean, at
    ``field[i]`` (``field.<name>`` when the names are the keys of a mapping, ``keyed``)."""
    problems = []
    for i, name in enumerate(given):
        if name not in categories:
            match = closest(name, categories)
            where = f"{field}.{name}" if keyed else f"{field}[{i}]"
            problems.append(Problem("not a category of the dataset", field=where, value=name,
                                    expected="one of: " + ", ".join(categories),
                                    hint=f"did you mean {match!r}?" if match else None))
    if problems:
        raise ConfigError.from_problems(problems)


class FilterSettings(Settings):
    """What :func:`filter_boxes` keeps: the one declaration the ``filter`` step reads."""

    keep: list[str] | None = Field(None, description="keep only boxes of these classes")
    drop: list[str] | None = Field(None, description="remove boxes of these classes")
    min_size: float = Field(0.0, ge=0, json_schema_extra=_NOT_NEGATIVE,
                            description="keep boxes whose width and height are both >= this (pixels)")
    max_size: float | None = Field(None, ge=0, json_schema_extra=_NOT_NEGATIVE,
                                   description="and both <= this (pixels; null: no limit)")
    min_area: float = Field(0.0, ge=0, json_schema_extra=_NOT_NEGATIVE,
                            description="keep boxes with width * height >= this (pixels)")
    drop_difficult: bool = Field(False, description="remove boxes flagged difficult")
    drop_crowd: bool = Field(False, description="remove boxes flagged crowd")
    drop_empty: bool = Field(False, description="remove images left without boxes")
    prune_categories: bool = Field(True, description="remove the kept-out classes from the category list "
                                   "(labels renumbered)")

    @field_validator("drop")
    @classmethod
    def _keep_or_drop(cls, drop: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if drop is not None and info.data.get("keep") is not None:
            raise problem("give keep or drop, not both", "either keep (a list of classes) or drop")
        return drop

    @field_validator("max_size")
    @classmethod
    def _max_above_min(cls, max_size: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min_size", 0.0)
        if max_size is not None and low is not None and max_size < low:
            raise problem("max_size is below min_size", f">= min_size ({low})")
        return max_size


def filter_boxes(ds: Dataset, settings: FilterSettings) -> tuple[Dataset, dict[str, int], int]:
    """``ds`` keeping only the boxes of the classes in ``keep`` (or not in ``drop``) whose width
    and height (absolute pixels) are both >= ``min_size`` (and <= ``max_size``) and whose area is
    >= ``min_area``, without the ``difficult`` / crowd boxes when asked, and without the images
    left empty with ``drop_empty`` (see :class:`FilterSettings`). With ``prune_categories`` the
    kept-out classes leave the category list (labels renumbered).

    Returns:
        ``(dataset, removed boxes per reason, images dropped empty)``; each box is counted once,
        under the first reason that removes it (class, difficult, crowd, too small, too large).

    Raises:
        ConfigError: a name in ``keep``/``drop`` that is not a category (at ``keep[i]``/``drop[i]``).
    """
    keep, drop, min_size, max_size, min_area = (settings.keep, settings.drop, settings.min_size, settings.max_size,
                                                settings.min_area)
    drop_difficult, drop_crowd, drop_empty = settings.drop_difficult, settings.drop_crowd, settings.drop_empty
    cats = list(ds.categories)
    if keep is not None:
        check_names(keep, cats, "keep")
        class_ok = np.array([c in set(keep) for c in cats], dtype=bool)
    elif drop is not None:
        check_names(drop, cats, "drop")
        class_ok = np.array([c not in set(drop) for c in cats], dtype=bool)
    else:
        class_ok = np.ones(len(cats), dtype=bool)
    removed: Counter = Counter()
    samples = []
    empty_dropped = 0
    for s in ds.samples:
        n = len(s)
        if n:
            w = s.boxes[:, 2] - s.boxes[:, 0]
            h = s.boxes[:, 3] - s.boxes[:, 1]
            reasons = [
                ("class", ~class_ok[np.clip(s.labels, 0, max(len(cats) - 1, 0))] if cats else np.zeros(n, bool)),
                ("difficult", s.difficult if drop_difficult else np.zeros(n, bool)),
                ("crowd", s.iscrowd if drop_crowd else np.zeros(n, bool)),
                ("too small", (np.minimum(w, h) < min_size) | (w * h < min_area)),
                ("too large", (np.maximum(w, h) > max_size) if max_size is not None else np.zeros(n, bool)),
            ]
            gone = np.zeros(n, bool)
            for reason, mask in reasons:
                newly = mask & ~gone
                if newly.any():
                    removed[reason] += int(newly.sum())
                gone |= mask
            if gone.any():
                s = s.select(~gone)
        if drop_empty and len(s) == 0:
            empty_dropped += 1
            continue
        samples.append(s)
    out = ds.subset(samples)
    if settings.prune_categories and not class_ok.all():
        new_cats = [c for c, ok in zip(cats, class_ok) if ok]
        mapping = np.cumsum(class_ok) - 1
        mapping[~class_ok] = -1
        out = relabel(out, new_cats, mapping)
    return out, dict(removed), empty_dropped


def remap_classes(ds: Dataset, mapping: dict[str, str | None], unmapped: str = "keep") -> tuple[Dataset, list[str | None]]:
    """``ds`` with classes renamed or merged by ``mapping`` (old name -> new name; several olds
    to one new merges them; None drops the class and its boxes); classes not in ``mapping`` are
    kept (``unmapped="keep"``) or dropped (``"drop"``). New categories in first-seen order.

    Returns:
        ``(dataset, the new name of each old category or None)``.

    Raises:
        ConfigError: a key of ``mapping`` that is not a category (at ``mapping.<name>``).
    """
    cats = list(ds.categories)
    check_names(list(mapping), cats, "mapping", keyed=True)
    new_cats: list[str] = []
    target: list[str | None] = []
    for c in cats:
        new = mapping[c] if c in mapping else (c if unmapped == "keep" else None)
        target.append(new)
        if new is not None and new not in new_cats:
            new_cats.append(new)
    index = {c: i for i, c in enumerate(new_cats)}
    old_to_new = np.array([index[t] if t is not None else -1 for t in target], dtype=np.int64)
    return relabel(ds, new_cats, old_to_new), target


def split_sizes(n: int, fractions: list[float]) -> list[int]:
    """Images per split: floors of ``n * fraction``, leftovers to the largest remainders
    (earlier splits first on ties); sums to ``n``."""
    raw = np.asarray(fractions, dtype=np.float64) * n
    sizes = np.floor(raw + 1e-9).astype(np.int64)
    for j in np.argsort(-(raw - sizes), kind="stable")[: n - int(sizes.sum())]:
        sizes[j] += 1
    return [int(v) for v in sizes]


def controlled_rounding(target: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """Round the non-negative ``(S, K)`` matrix ``target`` to integers so that every cell is its
    floor or its ceiling while row sums equal ``rows`` and column sums equal ``cols`` (integers
    that ``target``'s rows and columns sum to).

    Such a rounding always exists (controlled rounding, Bacharach 1966: the fractional parts
    form a feasible flow, so an integral one exists). Found here by hand because no library we
    depend on does it: cells with the largest fractional parts are rounded up first (ties in a
    random order from ``rng``), then augmenting paths settle the rest (a bipartite b-matching;
    the matrices are tiny: strata x splits).
    """
    base = np.floor(target + 1e-9).astype(np.int64)
    frac = target - base
    allowed = frac > 1e-9
    need_row = np.asarray(rows, dtype=np.int64) - base.sum(axis=1)
    need_col = np.asarray(cols, dtype=np.int64) - base.sum(axis=0)
    up = np.zeros_like(base)
    cells = np.argwhere(allowed)
    order = np.lexsort((rng.permutation(len(cells)), -frac[allowed]))
    for s, j in cells[order]:
        if need_row[s] > 0 and need_col[j] > 0:
            up[s, j] = 1
            need_row[s] -= 1
            need_col[j] -= 1
    n_rows, n_cols = target.shape
    for s0 in range(n_rows):
        while need_row[s0] > 0:
            via_row: dict[int, int] = {}  # split -> the stratum that reached it
            via_col: dict[int, int | None] = {s0: None}  # stratum -> the split it gives up
            queue, end = [s0], None
            while queue and end is None:
                s = queue.pop(0)
                for j in range(n_cols):
                    if allowed[s, j] and not up[s, j] and j not in via_row:
                        via_row[j] = s
                        if need_col[j] > 0:
                            end = j
                            break
                        for s2 in range(n_rows):
                            if up[s2, j] and s2 not in via_col:
                                via_col[s2] = j
                                queue.append(s2)
            if end is None:  # pragma: no cover - impossible for consistent inputs
                raise ValueError("no controlled rounding: row and column sums do not match the matrix")
            j = end
            while True:
                s = via_row[j]
                up[s, j] = 1
                back = via_col[s]
                if back is None:
                    break
                up[s, back] = 0
                j = back
            need_row[s0] -= 1
            need_col[end] -= 1
    return base + up


def split_indices(
    strata: np.ndarray | None, n: int, fractions: list[float], seed: int
) -> list[np.ndarray]:
    """Indices (sorted) of each split for ``n`` items.

    ``strata`` None: a seeded random permutation cut at the split sizes. Otherwise stratified
    like scikit-learn's ``StratifiedShuffleSplit``, generalised to any number of splits: split
    sizes are exact (largest remainders), each stratum's count in each split is the floor or
    the ceiling of its proportional share (:func:`controlled_rounding`), and the members of each
    stratum are dealt to the splits in a seeded random order. The same seed gives the same split.
    """
    rng = np.random.default_rng(seed)
    sizes = split_sizes(n, fractions)
    if strata is None:
        order = rng.permutation(n)
        bounds = np.cumsum([0] + sizes)
        return [np.sort(order[bounds[k]:bounds[k + 1]]) for k in range(len(sizes))]
    strata = np.asarray(strata)
    values, codes = np.unique(strata, return_inverse=True)
    members = [rng.permutation(np.flatnonzero(codes == c)) for c in range(len(values))]
    counts = np.array([len(m) for m in members], dtype=np.int64)
    target = counts[:, None] * (np.asarray(sizes, dtype=np.float64)[None, :] / max(n, 1))
    alloc = controlled_rounding(target, counts, np.asarray(sizes), rng)
    bounds = np.concatenate([np.zeros((len(values), 1), np.int64), np.cumsum(alloc, axis=1)], axis=1)
    out = []
    for k in range(len(sizes)):
        idx = [members[c][bounds[c, k]:bounds[c, k + 1]] for c in range(len(values))]
        out.append(np.sort(np.concatenate(idx)).astype(np.int64) if idx else np.zeros(0, np.int64))
    return out


def rarest_class_strata(ds: Dataset) -> np.ndarray:
    """Each image's stratum for a stratified split: its rarest class (the one present in the
    fewest images of the dataset; ties to the lower label), ``-1`` for an image without boxes.
    A multi-label image is thereby stratified on the class that is hardest to balance."""
    ncat = len(ds.categories)
    present = [np.unique(s.labels) for s in ds.samples]
    freq = np.zeros(max(ncat, 1), dtype=np.int64)
    for labels in present:
        freq[labels[(labels >= 0) & (labels < ncat)]] += 1
    out = np.full(len(ds.samples), -1, dtype=np.int64)
    for i, labels in enumerate(present):
        labels = labels[(labels >= 0) & (labels < ncat)]
        if len(labels):
            out[i] = labels[np.lexsort((labels, freq[labels]))[0]]
    return out


def split_dataset(ds: Dataset, fractions: dict[str, float], method: str = "stratified", seed: int = 0) -> Dataset:
    """``ds`` with every ``Sample.split`` set: split name -> fraction of the images (summing to
    1), ``method`` ``random`` or ``stratified`` (on each image's rarest class,
    :func:`rarest_class_strata`), the same ``seed`` giving the same split (:func:`split_indices`)."""
    names = list(fractions)
    strata = rarest_class_strata(ds) if method == "stratified" else None
    parts = split_indices(strata, len(ds), [fractions[k] for k in names], seed)
    split_of: dict[int, str] = {}
    for name, idx in zip(names, parts):
        for i in idx:
            split_of[int(i)] = name
    return ds.subset([dataclasses.replace(s, split=split_of[i]) for i, s in enumerate(ds.samples)])


def merge_datasets(parts: list[Dataset], names: list[str]) -> tuple[Dataset, int]:
    """One dataset holding the samples of ``parts`` (called ``names``, recorded in its meta):
    categories the union of names in order, labels mapped onto it, image paths relative to the
    common root (absolute when the parts have no common root).

    Returns:
        ``(merged, number of images that appear in more than one part)``.
    """
    categories: list[str] = []
    for ds in parts:
        categories += [c for c in ds.categories if c not in categories]
    index = {c: i for i, c in enumerate(categories)}
    roots = [None if ds.root is None else Path(ds.root).absolute() for ds in parts]
    if all(r == roots[0] for r in roots):
        root = roots[0]
    elif all(r is not None for r in roots):
        root = Path(os.path.commonpath([str(r) for r in roots]))
    else:
        root = None
    samples = []
    for ds, r in zip(parts, roots):
        mapping = np.array([index[c] for c in ds.categories] or [0], dtype=np.int64)
        for s in ds.samples:
            image = s.image
            if r != root and not Path(image).is_absolute():
                full = r / image  # type: ignore[operator]
                image = full.relative_to(root).as_posix() if root is not None else str(full)
            labels = mapping[s.labels] if len(s) else s.labels
            samples.append(dataclasses.replace(s, image=image, labels=labels))
    seen = Counter(s.image for s in samples)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    return Dataset(categories, samples, root=root, meta={"merged_from": list(names)}), duplicates
