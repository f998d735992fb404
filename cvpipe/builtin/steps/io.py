"""The ``read``, ``write`` (alias ``convert``) and ``validate`` steps: datasets in and out of
files, through the registered formats."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

from ...errors import ConfigError, InputError, Problem
from ._common import dataset_in, describe, splits_count

__all__ = ["ReadStep", "WriteStep", "ValidateStep"]


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
        from ...formats import bind_options, get_format

        self.path, self.format, self.images_dir = path, format, images_dir
        self.splits, self.output, self.on_problem = splits, output, on_problem
        self.options = dict(options or {})
        if format is not None:
            reader = get_format(format, need="reader", field="format").obj.reader
            self.options = bind_options(reader, self.options, where="options", skip=1)
        self.inputs: dict[str, str] = {}
        self.outputs = {"output": output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ...fsutil import atomic_write_json
        from ...formats import detect_format, read_dataset

        fmt = self.format or detect_format(self.path)
        problems: list[Problem] | None = [] if self.on_problem == "skip" else None
        ds = read_dataset(self.path, fmt, images_dir=self.images_dir, splits=self.splits, problems=problems,
                          **self.options)
        ctx[self.output] = ds
        result: dict[str, Any] = {
            "summary": f"{fmt}: {describe(ds)}", "format": fmt, "path": str(self.path),
            "images": len(ds), "boxes": ds.num_boxes, "categories": list(ds.categories),
            "splits": splits_count(ds),
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
        executor: str | None = None,
        address: str | None = None,
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
            executor: write part by part on this executor (``local``, or a plugin's: ``ray``) when
                the format is written in shards (``parquet``) and no ``options`` are given; other
                formats are written here (:func:`cvpipe.execution.executor_settings`).
            address: cluster address for ``executor``.
        """
        from ...execution import check_executor_settings
        from ...formats import bind_options, get_format

        check_executor_settings(executor, address)
        self.executor, self.address = executor, address

        self.path, self.format, self.dataset, self.images = path, format, dataset, images
        opts = dict(options or {})
        if keep_difficult is not None:
            opts["keep_difficult"] = keep_difficult
        writer = get_format(format, need="writer", field="format").obj.writer
        self.options = bind_options(writer, opts, where="options", skip=2)
        self.inputs = {"dataset": dataset}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ...formats import write_dataset

        ds = dataset_in(ctx, self.dataset)
        report = None
        if self.executor is not None and not self.options:
            from ...execution import open_executor, write_sharded

            with open_executor(self.executor, self.address, field="executor") as ex:
                report = write_sharded(ds, self.path, self.format, executor=ex, images=self.images)
        if report is None:
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
        executor: str | None = None,
        address: str | None = None,
    ) -> None:
        """
        Args:
            dataset: the context name of the dataset to check.
            output: where to store the valid part (default: replace ``dataset``) when the run goes on.
            fail: problems stop the run (exit code 2, each problem listed); false: they are
                reported, written to ``problems.json`` and the bad boxes/images left out.
            check_images: check each image file exists and its header size matches.
            show: how many problems to print (all are in ``problems.json``).
            executor: check per chunk of images on this executor (``local``, or a plugin's:
                ``ray``); null: in this process (:func:`cvpipe.execution.executor_settings`).
            address: cluster address for ``executor``.
        """
        from ...execution import check_executor_settings

        check_executor_settings(executor, address)
        self.executor, self.address = executor, address
        if show < 0:
            raise ConfigError("must not be negative", field="show", value=show, expected=">= 0")
        self.dataset, self.output, self.fail = dataset, output or dataset, fail
        self.check_images, self.show = check_images, show
        self.inputs = {"dataset": dataset}
        self.outputs = {"output": self.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ...fsutil import atomic_write_json
        from ...formats import check_dataset

        ds = dataset_in(ctx, self.dataset)
        problems: list[Problem] = []
        skipped: Counter = Counter()
        if self.executor is not None:
            from ...execution import check_sharded, open_executor

            with open_executor(self.executor, self.address, field="executor") as ex:
                valid, problems, skipped = check_sharded(ds, executor=ex, check_images=self.check_images)
        else:
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
            "summary": f"{len(problems)} problems" + (f"; kept {describe(valid)}" if problems else f" in {describe(ds)}"),
            "images": len(ds), "boxes": ds.num_boxes, "problems": len(problems),
            "valid_images": len(valid), "valid_boxes": valid.num_boxes, "skipped": dict(skipped),
        }
