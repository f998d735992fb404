"""Built-in pipeline steps for datasets: read, write (alias convert), validate, filter, remap,
split, merge and stats.

Every step follows the step contract (:mod:`cvpipe.pipeline`): a cheap constructor taking typed
keyword settings (validated before anything runs), ``inputs``/``outputs`` naming the context
objects it reads and produces, and ``run(ctx) -> dict`` returning a JSON-ready result.
Datasets travel between steps as :class:`cvpipe.data.Dataset` (boxes absolute pixel xyxy).
Steps that transform a dataset read ``dataset`` (default ``"dataset"``) and store the result
under ``output`` (default: the same name, replacing it).

Import cost: numpy and matplotlib are imported inside the functions that use them.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError, InputError, JobError, Problem, closest
from ..hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..data import Dataset

__all__ = [
    "ReadStep", "WriteStep", "ValidateStep", "FilterStep", "RemapStep", "SplitStep", "MergeStep", "StatsStep",
    "split_indices", "controlled_rounding", "rarest_class_strata", "dataset_stats",
]

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _dataset(ctx: Any, name: str) -> "Dataset":
    """The Dataset stored under ``name``; JobError when it is something else."""
    from ..data import Dataset

    obj = ctx[name]
    if not isinstance(obj, Dataset):
        raise JobError(f"{name!r} is not a dataset", value=type(obj).__name__, expected="a Dataset (from read, ...)")
    return obj


def _splits_count(ds: "Dataset") -> dict[str, int]:
    return dict(Counter(s.split for s in ds.samples if s.split is not None))


def _describe(ds: "Dataset") -> str:
    splits = _splits_count(ds)
    text = f"{len(ds)} images, {ds.num_boxes} boxes, {len(ds.categories)} classes"
    if splits:
        text += " (" + ", ".join(f"{k} {v}" for k, v in splits.items()) + ")"
    return text


def _relabel(ds: "Dataset", new_categories: list[str], old_to_new: "np.ndarray") -> "Dataset":
    """``ds`` with labels mapped through ``old_to_new`` (-1 drops the box) onto ``new_categories``."""
    import dataclasses

    import numpy as np

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


def _check_names(given: list[str], categories: list[str], field: str) -> None:
    """ConfigError for each name of ``given`` that is not a category (raised at run time, when
    the dataset is known; the runner adds the step's YAML path and line)."""
    problems = []
    for i, name in enumerate(given):
        if name not in categories:
            match = closest(name, categories)
            problems.append(Problem("not a category of the dataset", field=f"{field}[{i}]", value=name,
                                    expected="one of: " + ", ".join(categories),
                                    hint=f"did you mean {match!r}?" if match else None))
    if problems:
        raise ConfigError.from_problems(problems)


# =============================================================================================
# read / write / validate
# =============================================================================================


class ReadStep:
    """Read a dataset in any registered format (``format`` null: detected)."""

    def __init__(
        self,
        *,
        path: Path,
        format: str | None = None,
        images_dir: Path | None = None,
        splits: list[str] | None = None,
        output: str = "dataset",
        options: dict[str, Any] | None = None,
        on_problem: Literal["fail", "skip"] = "fail",
    ) -> None:
        """
        Args:
            path: the dataset (file or folder, as the format expects).
            format: a registered format name; null detects it from ``path``.
            images_dir: where the images are, overriding the format's layout.
            splits: the splits to read (VOC ``ImageSets/Main`` lists, COCO files...); null: all.
            output: the context name of the dataset read.
            options: the format reader's own options (checked against its signature).
            on_problem: ``fail`` stops at bad annotations (one error listing all of them);
                ``skip`` leaves bad items out, counts them and writes ``problems.json``.
        """
        from ..formats import bind_options, get_format

        self.path, self.format, self.images_dir = path, format, images_dir
        self.splits, self.output, self.on_problem = splits, output, on_problem
        self.options = dict(options or {})
        if format is not None:
            reader = get_format(format, need="reader", field="format").obj.reader
            self.options = bind_options(reader, self.options, where="options", skip=1)
        self.inputs: dict[str, str] = {}
        self.outputs = {"output": output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..fsutil import atomic_write_json
        from ..formats import detect_format, read_dataset

        fmt = self.format or detect_format(self.path)
        problems: list[Problem] | None = [] if self.on_problem == "skip" else None
        ds = read_dataset(self.path, fmt, images_dir=self.images_dir, splits=self.splits, problems=problems,
                          **self.options)
        ctx[self.output] = ds
        result: dict[str, Any] = {
            "summary": f"{fmt}: {_describe(ds)}", "format": fmt, "path": str(self.path),
            "images": len(ds), "boxes": ds.num_boxes, "categories": list(ds.categories),
            "splits": _splits_count(ds),
        }
        if problems is not None:
            result["problems"] = len(problems)
            if problems:
                atomic_write_json(ctx.step_dir / "problems.json", [p.to_dict() for p in problems])
                ctx.log(f"skipped {len(problems)} bad items (see {ctx.step_dir / 'problems.json'}); first: "
                        f"{problems[0]}")
                result["summary"] += f"; {len(problems)} problems skipped"
        return result


class WriteStep:
    """Write a dataset in any registered format (``convert`` is the same step)."""

    def __init__(
        self,
        *,
        path: Path,
        format: str,
        dataset: str = "dataset",
        images: Literal["copy", "link", "none"] = "copy",
        keep_difficult: bool | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            path: the output folder (or file, as the format writes); written whole or not at all.
            format: a registered format with a writer.
            dataset: the context name of the dataset to write.
            images: ``copy`` the image files, hard-``link`` them, or write annotations only.
            keep_difficult: for formats without a difficult flag (YOLO, COCO): keep such boxes
                (null: the writer's default).
            options: the writer's own options (checked against its signature).
        """
        from ..formats import bind_options, get_format

        self.path, self.format, self.dataset, self.images = path, format, dataset, images
        opts = dict(options or {})
        if keep_difficult is not None:
            opts["keep_difficult"] = keep_difficult
        writer = get_format(format, need="writer", field="format").obj.writer
        self.options = bind_options(writer, opts, where="options", skip=2)
        self.inputs = {"dataset": dataset}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..formats import write_dataset

        ds = _dataset(ctx, self.dataset)
        report = dict(write_dataset(ds, self.path, self.format, images=self.images, **self.options) or {})
        skipped = {k: v for k, v in (report.get("skipped") or {}).items() if v}
        summary = f"{self.format}: {report.get('images', len(ds))} images, {report.get('boxes', '?')} boxes -> {self.path}"
        if skipped:
            summary += "; skipped " + ", ".join(f"{k} {v}" for k, v in skipped.items())
        return {"summary": summary, "format": self.format, "path": str(self.path), **report}


class ValidateStep:
    """Check a dataset (image files and sizes, boxes, labels, duplicates) and report every problem."""

    def __init__(
        self,
        *,
        dataset: str = "dataset",
        output: str | None = None,
        fail: bool = True,
        check_images: bool = True,
        show: int = 10,
    ) -> None:
        """
        Args:
            dataset: the context name of the dataset to check.
            output: where to store the valid part (default: replace ``dataset``) when the run goes on.
            fail: problems stop the run (exit code 2, each problem listed); false: they are
                reported, written to ``problems.json`` and the bad boxes/images left out.
            check_images: check each image file exists and its header size matches.
            show: how many problems to print (all are in ``problems.json``).
        """
        if show < 0:
            raise ConfigError("must not be negative", field="show", value=show, expected=">= 0")
        self.dataset, self.output, self.fail = dataset, output or dataset, fail
        self.check_images, self.show = check_images, show
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..fsutil import atomic_write_json
        from ..formats import check_dataset

        ds = _dataset(ctx, self.dataset)
        problems: list[Problem] = []
        skipped: Counter = Counter()
        valid = check_dataset(ds, problems, check_images=self.check_images, skipped=skipped,
                              progress=not ctx.quiet)
        atomic_write_json(ctx.step_dir / "problems.json", [p.to_dict() for p in problems])
        for p in problems[: self.show]:
            ctx.log(str(p))
        if len(problems) > self.show:
            ctx.log(f"... and {len(problems) - self.show} more in {ctx.step_dir / 'problems.json'}")
        if problems and self.fail:
            raise InputError.from_problems(problems)
        ctx[self.output] = valid
        return {
            "summary": f"{len(problems)} problems" + (f"; kept {_describe(valid)}" if problems else f" in {_describe(ds)}"),
            "images": len(ds), "boxes": ds.num_boxes, "problems": len(problems),
            "valid_images": len(valid), "valid_boxes": valid.num_boxes, "skipped": dict(skipped),
        }


# =============================================================================================
# filter / remap
# =============================================================================================


class FilterStep:
    """Keep or drop classes, boxes by size, difficult or crowd boxes, and empty images."""

    def __init__(
        self,
        *,
        dataset: str = "dataset",
        output: str | None = None,
        keep: list[str] | None = None,
        drop: list[str] | None = None,
        min_size: float = 0.0,
        max_size: float | None = None,
        min_area: float = 0.0,
        drop_difficult: bool = False,
        drop_crowd: bool = False,
        drop_empty: bool = False,
        prune_categories: bool = True,
    ) -> None:
        """
        Args:
            keep: keep only boxes of these classes.  drop: remove boxes of these classes.
            min_size / max_size: keep boxes whose width and height are both >= min_size
                (and <= max_size), in pixels.
            min_area: keep boxes with width * height >= min_area (pixels).
            drop_difficult / drop_crowd: remove boxes flagged difficult / crowd.
            drop_empty: remove images left without boxes.
            prune_categories: remove the kept-out classes from the category list (labels renumbered).
        """
        problems = []
        if keep is not None and drop is not None:
            problems.append(Problem("give keep or drop, not both", field="drop", value=drop,
                                    expected="either keep (a list of classes) or drop"))
        for name, v in (("min_size", min_size), ("min_area", min_area), ("max_size", max_size)):
            if v is not None and v < 0:
                problems.append(Problem("must not be negative", field=name, value=v, expected=">= 0"))
        if max_size is not None and max_size < min_size:
            problems.append(Problem("max_size is below min_size", field="max_size", value=max_size,
                                    expected=f">= min_size ({min_size})"))
        if problems:
            raise ConfigError.from_problems(problems)
        self.dataset, self.output = dataset, output or dataset
        self.keep, self.drop = keep, drop
        self.min_size, self.max_size, self.min_area = min_size, max_size, min_area
        self.drop_difficult, self.drop_crowd, self.drop_empty = drop_difficult, drop_crowd, drop_empty
        self.prune_categories = prune_categories
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        import numpy as np

        ds = _dataset(ctx, self.dataset)
        cats = list(ds.categories)
        if self.keep is not None:
            _check_names(self.keep, cats, "keep")
            class_ok = np.array([c in set(self.keep) for c in cats], dtype=bool)
        elif self.drop is not None:
            _check_names(self.drop, cats, "drop")
            class_ok = np.array([c not in set(self.drop) for c in cats], dtype=bool)
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
                # each box is counted once, under the first reason that removes it
                reasons = [
                    ("class", ~class_ok[np.clip(s.labels, 0, max(len(cats) - 1, 0))] if cats else np.zeros(n, bool)),
                    ("difficult", s.difficult if self.drop_difficult else np.zeros(n, bool)),
                    ("crowd", s.iscrowd if self.drop_crowd else np.zeros(n, bool)),
                    ("too small", (np.minimum(w, h) < self.min_size) | (w * h < self.min_area)),
                    ("too large", (np.maximum(w, h) > self.max_size) if self.max_size is not None
                     else np.zeros(n, bool)),
                ]
                gone = np.zeros(n, bool)
                for reason, mask in reasons:
                    newly = mask & ~gone
                    if newly.any():
                        removed[reason] += int(newly.sum())
                    gone |= mask
                if gone.any():
                    s = s.select(~gone)
            if self.drop_empty and len(s) == 0:
                empty_dropped += 1
                continue
            samples.append(s)
        out = ds.subset(samples)
        if self.prune_categories and not class_ok.all():
            new_cats = [c for c, ok in zip(cats, class_ok) if ok]
            mapping = np.cumsum(class_ok) - 1
            mapping[~class_ok] = -1
            out = _relabel(out, new_cats, mapping)
        ctx[self.output] = out
        return {
            "summary": f"kept {len(out)}/{len(ds)} images, {out.num_boxes}/{ds.num_boxes} boxes",
            "images_in": len(ds), "images_out": len(out), "boxes_in": ds.num_boxes, "boxes_out": out.num_boxes,
            "removed_boxes": dict(removed), "removed_empty_images": empty_dropped,
            "categories": list(out.categories),
        }


class RemapStep:
    """Rename or merge classes (``mapping: {old: new}``; ``old: null`` drops that class)."""

    def __init__(
        self,
        *,
        mapping: dict[str, str | None],
        dataset: str = "dataset",
        output: str | None = None,
        unmapped: Literal["keep", "drop"] = "keep",
    ) -> None:
        """
        Args:
            mapping: old class name -> new name (several olds to one new merges them; null drops).
            unmapped: classes not in ``mapping`` are kept as they are, or dropped.
        """
        if not mapping:
            raise ConfigError("empty mapping", field="mapping", expected="old: new pairs")
        self.mapping, self.unmapped = dict(mapping), unmapped
        self.dataset, self.output = dataset, output or dataset
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        import numpy as np

        ds = _dataset(ctx, self.dataset)
        cats = list(ds.categories)
        problems = []
        for old in self.mapping:
            if old not in cats:
                match = closest(old, cats)
                problems.append(Problem("not a category of the dataset", field=f"mapping.{old}", value=old,
                                        expected="one of: " + ", ".join(cats),
                                        hint=f"did you mean {match!r}?" if match else None))
        if problems:
            raise ConfigError.from_problems(problems)
        new_cats: list[str] = []
        target: list[str | None] = []
        for c in cats:
            new = self.mapping[c] if c in self.mapping else (c if self.unmapped == "keep" else None)
            target.append(new)
            if new is not None and new not in new_cats:
                new_cats.append(new)
        index = {c: i for i, c in enumerate(new_cats)}
        old_to_new = np.array([index[t] if t is not None else -1 for t in target], dtype=np.int64)
        out = _relabel(ds, new_cats, old_to_new)
        ctx[self.output] = out
        dropped = ds.num_boxes - out.num_boxes
        return {
            "summary": f"{len(cats)} -> {len(new_cats)} classes" + (f", {dropped} boxes dropped" if dropped else ""),
            "categories": new_cats, "mapping": {c: t for c, t in zip(cats, target)},
            "boxes_in": ds.num_boxes, "boxes_out": out.num_boxes, "per_class": out.class_counts(),
        }


# =============================================================================================
# split
# =============================================================================================


def _split_sizes(n: int, fractions: list[float]) -> list[int]:
    """Images per split: floors of ``n * fraction``, leftovers to the largest remainders
    (earlier splits first on ties); sums to ``n``."""
    import numpy as np

    raw = np.asarray(fractions, dtype=np.float64) * n
    sizes = np.floor(raw + 1e-9).astype(np.int64)
    for j in np.argsort(-(raw - sizes), kind="stable")[: n - int(sizes.sum())]:
        sizes[j] += 1
    return [int(v) for v in sizes]


def controlled_rounding(target: "np.ndarray", rows: "np.ndarray", cols: "np.ndarray",
                        rng: "np.random.Generator") -> "np.ndarray":
    """Round the non-negative ``(S, K)`` matrix ``target`` to integers so that every cell is its
    floor or its ceiling while row sums equal ``rows`` and column sums equal ``cols`` (integers
    that ``target``'s rows and columns sum to).

    Such a rounding always exists (controlled rounding, Bacharach 1966: the fractional parts
    form a feasible flow, so an integral one exists). Found here by hand because no library we
    depend on does it: cells with the largest fractional parts are rounded up first (ties in a
    random order from ``rng``), then augmenting paths settle the rest (a bipartite b-matching;
    the matrices are tiny: strata x splits).
    """
    import numpy as np

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
    strata: "np.ndarray | None", n: int, fractions: list[float], seed: int
) -> list["np.ndarray"]:
    """Indices (sorted) of each split for ``n`` items.

    ``strata`` None: a seeded random permutation cut at the split sizes. Otherwise stratified
    like scikit-learn's ``StratifiedShuffleSplit``, generalised to any number of splits: split
    sizes are exact (largest remainders), each stratum's count in each split is the floor or
    the ceiling of its proportional share (:func:`controlled_rounding`), and the members of each
    stratum are dealt to the splits in a seeded random order. The same seed gives the same split.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = _split_sizes(n, fractions)
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


def rarest_class_strata(ds: "Dataset") -> "np.ndarray":
    """Each image's stratum for a stratified split: its rarest class (the one present in the
    fewest images of the dataset; ties to the lower label), ``-1`` for an image without boxes.
    A multi-label image is thereby stratified on the class that is hardest to balance."""
    import numpy as np

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


class SplitStep:
    """Split a dataset into train/val/test (random or stratified on each image's rarest class), seeded."""

    def __init__(
        self,
        *,
        fractions: dict[str, float] | None = None,
        method: Literal["random", "stratified"] = "stratified",
        seed: int = 0,
        dataset: str = "dataset",
        output: str | None = None,
        prefix: str | None = None,
    ) -> None:
        """
        Args:
            fractions: split name -> fraction of the images, summing to 1
                (default ``{train: 0.8, val: 0.2}``).
            method: ``random``, or ``stratified`` (each split gets each class's images in
                proportion, stratifying multi-label images on their rarest class).
            seed: the same seed gives the same split.
            output: context name of the whole dataset with ``Sample.split`` set (default:
                replace ``dataset``).
            prefix: each split is also stored as ``<prefix>_<split>`` (default: ``dataset``'s name).
        """
        fractions = dict(fractions if fractions is not None else {"train": 0.8, "val": 0.2})
        problems = []
        if not fractions:
            problems.append(Problem("no splits", field="fractions", expected="split: fraction pairs"))
        for k, v in fractions.items():
            if not _SPLIT_NAME.match(str(k)):
                problems.append(Problem("bad split name", field=f"fractions.{k}", value=k,
                                        expected="letters, digits, '_', '-', '.'"))
            if not 0 < v <= 1:
                problems.append(Problem("fraction out of range", field=f"fractions.{k}", value=v,
                                        expected="a number in (0, 1]"))
        total = sum(fractions.values())
        if fractions and abs(total - 1) > 1e-6:
            problems.append(Problem("fractions must sum to 1", field="fractions", value=round(total, 9),
                                    expected="fractions summing to 1"))
        if problems:
            raise ConfigError.from_problems(problems)
        self.fractions, self.method, self.seed = fractions, method, seed
        self.dataset, self.output = dataset, output or dataset
        self.prefix = prefix or dataset
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output, **{f"fractions.{k}": f"{self.prefix}_{k}" for k in fractions}}

    def run(self, ctx: Any) -> dict[str, Any]:
        import dataclasses

        ds = _dataset(ctx, self.dataset)
        names = list(self.fractions)
        strata = rarest_class_strata(ds) if self.method == "stratified" else None
        parts = split_indices(strata, len(ds), [self.fractions[k] for k in names], self.seed)
        split_of: dict[int, str] = {}
        for name, idx in zip(names, parts):
            for i in idx:
                split_of[int(i)] = name
        samples = [dataclasses.replace(s, split=split_of[i]) for i, s in enumerate(ds.samples)]
        whole = ds.subset(samples)
        ctx[self.output] = whole
        result: dict[str, Any] = {"method": self.method, "seed": self.seed, "splits": {}}
        for name in names:
            part = whole.split(name)
            ctx[f"{self.prefix}_{name}"] = part
            result["splits"][name] = {"images": len(part), "boxes": part.num_boxes, "per_class": part.class_counts()}
        result["summary"] = f"{self.method}: " + ", ".join(f"{k} {v['images']}" for k, v in result["splits"].items())
        return result


# =============================================================================================
# merge
# =============================================================================================


class MergeStep:
    """Merge several datasets into one; the category list is the union of names, in order."""

    def __init__(self, *, datasets: list[str], output: str = "dataset") -> None:
        """
        Args:
            datasets: context names of the datasets to merge (two or more).
            output: context name of the merged dataset.
        """
        if len(datasets) < 2:
            raise ConfigError("merge needs two or more datasets", field="datasets", value=datasets,
                              expected="a list of two or more dataset names")
        dup = [d for d, n in Counter(datasets).items() if n > 1]
        if dup:
            raise ConfigError("dataset listed twice", field="datasets", value=dup, expected="distinct names")
        self.datasets, self.output = list(datasets), output
        self.inputs = {f"datasets[{i}]": d for i, d in enumerate(datasets)}
        self.outputs = {"output": output}

    def run(self, ctx: Any) -> dict[str, Any]:
        import dataclasses
        import os

        import numpy as np

        from ..data import Dataset

        parts = [_dataset(ctx, d) for d in self.datasets]
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
        if duplicates:
            ctx.log(f"warning: {duplicates} images appear in more than one of the merged datasets")
        merged = Dataset(categories, samples, root=root, meta={"merged_from": list(self.datasets)})
        ctx[self.output] = merged
        return {"summary": _describe(merged), "images": len(merged), "boxes": merged.num_boxes,
                "categories": categories, "duplicate_images": duplicates,
                "from": {d: len(ds) for d, ds in zip(self.datasets, parts)}}


# =============================================================================================
# stats
# =============================================================================================


def dataset_stats(ds: "Dataset", bins: int = 20) -> dict[str, Any]:
    """JSON-ready statistics of ``ds``: images, boxes, per class (boxes and images), per split,
    boxes per image, flags, and histograms of box size (sqrt of area, pixels) and aspect
    ratio (log2 of width / height)."""
    import numpy as np

    ncat = len(ds.categories)
    all_boxes = [s.boxes for s in ds.samples if len(s)]
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    per_image = np.array([len(s) for s in ds.samples], dtype=np.int64)
    img_with = np.zeros(ncat, dtype=np.int64)
    for s in ds.samples:
        lab = np.unique(s.labels)
        img_with[lab[(lab >= 0) & (lab < ncat)]] += 1
    box_counts = ds.class_counts()
    size = np.sqrt(w * h)
    ok = (w > 0) & (h > 0)
    aspect = np.log2(w[ok] / h[ok])
    hi = float(size.max()) if len(size) else 1.0
    size_hist, size_edges = np.histogram(size, bins=bins, range=(0.0, max(hi, 1.0)))
    asp_hist, asp_edges = np.histogram(np.clip(aspect, -4, 4), bins=bins, range=(-4.0, 4.0))

    def summary(v: np.ndarray) -> dict[str, float] | None:
        if not len(v):
            return None
        return {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())}

    return {
        "images": len(ds),
        "boxes": int(len(boxes)),
        "categories": list(ds.categories),
        "empty_images": int((per_image == 0).sum()),
        "boxes_per_image": {"mean": float(per_image.mean()) if len(per_image) else 0.0,
                            "max": int(per_image.max()) if len(per_image) else 0},
        "per_class": {c: {"boxes": box_counts[c], "images": int(img_with[k])} for k, c in enumerate(ds.categories)},
        "splits": {k: len(ds.split(k)) for k in ds.splits},
        "flags": {f: int(sum(int(getattr(s, f).sum()) for s in ds.samples)) for f in ("difficult", "truncated", "iscrowd")},
        "box_size": {"unit": "sqrt(width*height) pixels", "summary": summary(size),
                     "edges": size_edges.tolist(), "counts": size_hist.tolist()},
        "aspect": {"unit": "log2(width/height), clipped to [-4, 4]", "summary": summary(aspect),
                   "edges": asp_edges.tolist(), "counts": asp_hist.tolist()},
    }


def stats_chart(stats: dict[str, Any], path: Path, title: str = "") -> Path:
    """A PNG with three panels: boxes per class, box size histogram, aspect-ratio histogram.
    Written atomically. matplotlib is imported here (Agg canvas, no GUI, no pyplot state)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..fsutil import atomic_write_bytes
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    names = list(stats["per_class"])
    counts = [stats["per_class"][c]["boxes"] for c in names]
    ax1.barh(range(len(names)), counts, color="#4C72B0")
    ax1.set_yticks(range(len(names)), names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("boxes")
    ax1.set_title("boxes per class")
    for ax, key, label in ((ax2, "box_size", "sqrt(area) [px]"), (ax3, "aspect", "log2(width / height)")):
        edges, cnt = stats[key]["edges"], stats[key]["counts"]
        ax.bar(edges[:-1], cnt, width=[b - a for a, b in zip(edges[:-1], edges[1:])], align="edge",
               color="#55A868", edgecolor="white")
        ax.set_xlabel(label)
        ax.set_ylabel("boxes")
    ax2.set_title("box size")
    ax3.set_title("aspect ratio")
    fig.suptitle(title or f"{stats['images']} images, {stats['boxes']} boxes")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


class StatsStep:
    """Dataset statistics (per class, box size and aspect histograms) as stats.json and a PNG chart."""

    def __init__(self, *, dataset: str = "dataset", bins: int = 20, chart: bool = True, table: bool = True) -> None:
        """
        Args:
            dataset: the context name of the dataset.
            bins: histogram bins (2-200).
            chart: write ``stats.png`` (matplotlib).
            table: print the per-class table.
        """
        if not 2 <= bins <= 200:
            raise ConfigError("out of range", field="bins", value=bins, expected="2 to 200")
        self.dataset, self.bins, self.chart, self.table = dataset, bins, chart, table
        self.inputs = {"dataset": dataset}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..console import format_table
        from ..fsutil import atomic_write_json

        ds = _dataset(ctx, self.dataset)
        stats = dataset_stats(ds, self.bins)
        out_dir = ctx.step_dir
        atomic_write_json(out_dir / "stats.json", stats)
        files = {"json": str(out_dir / "stats.json")}
        if self.chart:
            files["chart"] = str(stats_chart(stats, out_dir / "stats.png", title=f"{self.dataset}: {_describe(ds)}"))
        if self.table:
            rows = [[c, v["images"], v["boxes"]] for c, v in stats["per_class"].items()]
            rows.append(["(all)", stats["images"], stats["boxes"]])
            ctx.log(format_table(rows, ["class", "images", "boxes"]))
        size = stats["box_size"]["summary"]
        summary = _describe(ds) + (f"; median box {size['median']:.0f}px" if size else "")
        return {"summary": summary, "files": files, **{k: stats[k] for k in
                ("images", "boxes", "empty_images", "per_class", "splits", "flags", "boxes_per_image")},
                "box_size": size, "aspect": stats["aspect"]["summary"]}


@hookimpl
def cvpipe_register_steps(register):
    register("read", ReadStep)
    register("write", WriteStep)
    register("convert", WriteStep, description="Write a dataset in any registered format (alias of write).")
    register("validate", ValidateStep)
    register("filter", FilterStep)
    register("remap", RemapStep)
    register("split", SplitStep)
    register("merge", MergeStep)
    register("stats", StatsStep)
