"""The curation steps: ``filter``, ``remap``, ``split`` and ``merge`` (the algorithms are
plain functions of :mod:`cvpipe.curation`)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any, Literal

from ...errors import ConfigError, Problem
from ...settings import Lazy
from ._common import dataset_in, describe

__all__ = ["FilterStep", "RemapStep", "SplitStep", "MergeStep"]

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@functools.cache
def filter_step_settings() -> type:
    """The ``filter`` step's settings: :class:`cvpipe.curation.FilterSettings` after the context
    names."""
    from pydantic import Field

    from ...curation import FilterSettings
    from ...settings import Settings

    class _Flow(Settings):
        dataset: str = Field("dataset", description="context name of the dataset to filter")
        output: str | None = Field(None, description="context name of the result (default: replace ``dataset``)")

    class FilterStepSettings(FilterSettings, _Flow):
        pass

    FilterStepSettings.__module__ = __name__
    return FilterStepSettings


class FilterStep:
    """Keep or drop classes, boxes by size, difficult or crowd boxes, and empty images
    (settings: :func:`filter_step_settings`)."""

    Settings = Lazy(f"{__name__}:filter_step_settings")

    def __init__(self, **settings: Any) -> None:
        from ...curation import FilterSettings
        from ...settings import build_settings

        s = build_settings(self.Settings.resolve(), settings)
        self.filter = FilterSettings.model_construct(**{k: getattr(s, k) for k in FilterSettings.model_fields})
        self.dataset, self.output = s.dataset, s.output or s.dataset
        self.inputs = {"dataset": self.dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ...curation import filter_boxes

        ds = dataset_in(ctx, self.dataset)
        out, removed, empty_dropped = filter_boxes(ds, self.filter)
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
