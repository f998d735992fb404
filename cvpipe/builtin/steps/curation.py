"""The curation steps: ``filter``, ``remap``, ``split`` and ``merge`` (the algorithms are
plain functions of :mod:`cvpipe.curation`)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Literal

from ...errors import ConfigError, Problem
from ._common import dataset_in, describe

__all__ = ["FilterStep", "RemapStep", "SplitStep", "MergeStep"]

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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
        from ...curation import filter_boxes

        ds = dataset_in(ctx, self.dataset)
        out, removed, empty_dropped = filter_boxes(
            ds, keep=self.keep, drop=self.drop, min_size=self.min_size, max_size=self.max_size,
            min_area=self.min_area, drop_difficult=self.drop_difficult, drop_crowd=self.drop_crowd,
            drop_empty=self.drop_empty, prune_categories=self.prune_categories)
        ctx[self.output] = out
        return {
            "summary": f"kept {len(out)}/{len(ds)} images, {out.num_boxes}/{ds.num_boxes} boxes",
            "images_in": len(ds), "images_out": len(out), "boxes_in": ds.num_boxes, "boxes_out": out.num_boxes,
            "removed_boxes": removed, "removed_empty_images": empty_dropped,
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
        from ...curation import remap_classes

        ds = dataset_in(ctx, self.dataset)
        out, target = remap_classes(ds, self.mapping, self.unmapped)
        ctx[self.output] = out
        cats, new_cats = list(ds.categories), list(out.categories)
        dropped = ds.num_boxes - out.num_boxes
        return {
            "summary": f"{len(cats)} -> {len(new_cats)} classes" + (f", {dropped} boxes dropped" if dropped else ""),
            "categories": new_cats, "mapping": {c: t for c, t in zip(cats, target)},
            "boxes_in": ds.num_boxes, "boxes_out": out.num_boxes, "per_class": out.class_counts(),
        }


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
        from ...curation import split_dataset

        ds = dataset_in(ctx, self.dataset)
        whole = split_dataset(ds, self.fractions, self.method, self.seed)
        ctx[self.output] = whole
        result: dict[str, Any] = {"method": self.method, "seed": self.seed, "splits": {}}
        for name in self.fractions:
            part = whole.split(name)
            ctx[f"{self.prefix}_{name}"] = part
            result["splits"][name] = {"images": len(part), "boxes": part.num_boxes, "per_class": part.class_counts()}
        result["summary"] = f"{self.method}: " + ", ".join(f"{k} {v['images']}" for k, v in result["splits"].items())
        return result


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
        from ...curation import merge_datasets

        parts = [dataset_in(ctx, d) for d in self.datasets]
        merged, duplicates = merge_datasets(parts, self.datasets)
        if duplicates:
            ctx.log(f"warning: {duplicates} images appear in more than one of the merged datasets")
        ctx[self.output] = merged
        return {"summary": describe(merged), "images": len(merged), "boxes": merged.num_boxes,
                "categories": list(merged.categories), "duplicate_images": duplicates,
                "from": {d: len(ds) for d, ds in zip(self.datasets, parts)}}
