"""``cvpipe convert`` and ``cvpipe validate``: dataset formats from the command line.

Thin wrappers over :func:`cvpipe.formats.convert_dataset` and
:func:`cvpipe.formats.validate_dataset`; no torch/torchvision/albumentations on this path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..console import format_table
from ..errors import InputError

_PATH = click.Path(path_type=Path)


@click.command()
@click.argument("src", type=_PATH)
@click.argument("dst", type=_PATH)
@click.option("--to", "to", required=True, metavar="FORMAT", help="Output format: yolo, coco, voc or any registered one.")
@click.option("--from", "from_format", metavar="FORMAT", help="Input format (detected when omitted).")
@click.option("--keep-difficult", is_flag=True, help="Keep difficult objects (left out of YOLO and COCO output by default).")
@click.option("--images", type=click.Choice(["copy", "link", "none"]), default="copy", show_default=True,
              help="Copy image files, hard-link them (copy across devices) or leave them out.")
@click.option("--classes", "classes_file", type=_PATH, metavar="FILE",
              help="Text file with one class name per line: fixes the class order (YOLO ids).")
@click.option("--split", "splits", multiple=True, metavar="NAME", help="Convert only this split (repeatable).")
@click.option("--images-dir", type=_PATH, metavar="DIR", help="Where the image files are (overrides the layout).")
@click.option("--skip-invalid", is_flag=True, help="Leave out invalid images and boxes (counted) instead of refusing.")
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists and is not empty.")
@click.option("--follow-symlinks", is_flag=True,
              help="Accept images that are symlinks to files outside the dataset (copied or linked as those files).")
@click.option("--json", "json_out", type=_PATH, metavar="OUT", help="Also write the report as JSON to OUT.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--executor", metavar="NAME", help="Run per-shard work on this executor (local, or a plugin's: ray).")
@click.option("--address", metavar="ADDR", help="Cluster address for --executor (e.g. 127.0.0.1:6379).")
def convert(src: Path, dst: Path, to: str, from_format: str | None, keep_difficult: bool, images: str,
            classes_file: Path | None, splits: tuple[str, ...], images_dir: Path | None, skip_invalid: bool,
            overwrite: bool, follow_symlinks: bool, json_out: Path | None, quiet: bool,
            executor: str | None = None, address: str | None = None) -> None:
    """Convert the dataset at SRC into format --to at DST.

    The input is checked like `cvpipe validate` first (image files only when they are copied or
    linked); any problem stops the conversion (exit 2, DST untouched) unless --skip-invalid.
    DST appears whole or not at all; an existing non-empty DST is replaced only with --overwrite. Ends with a summary: images and boxes written, boxes
    skipped by reason.
    """
    from ..formats import convert_dataset
    from ..fsutil import atomic_write_json
    from ..jsondata import jsonable

    options = dict(from_format=from_format, keep_difficult=keep_difficult, images=images, classes_file=classes_file,
                   splits=splits or None, images_dir=images_dir, skip_invalid=skip_invalid, overwrite=overwrite,
                   follow_symlinks=follow_symlinks)
    if executor is not None or address is not None:
        from ..execution import convert_sharded, get_executor

        ex = get_executor(executor or "local", address)
        try:
            report = convert_sharded(src, dst, to, executor=ex, **options)
        finally:
            ex.close()
    else:
        report = convert_dataset(src, dst, to, progress=not quiet and sys.stderr.isatty(), **options)
    click.echo(summary_table(report))
    if json_out is not None:
        atomic_write_json(json_out, jsonable(report))


def summary_table(report: dict) -> str:
    """The end-of-conversion summary: images, boxes written, boxes skipped by reason, then the
    notes (what the reader assumed or changed, what the writer did)."""
    rows = [["images written", report.get("images", 0)], ["boxes written", report.get("boxes", 0)]]
    skipped = {k: v for k, v in (report.get("skipped") or {}).items() if v}
    for reason, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
        rows.append([f"skipped: {reason}", n])
    if not skipped:
        rows.append(["skipped", 0])
    title = f"{report.get('source', '')} ({report.get('from', '?')}) -> {report.get('dst', '')} ({report.get('to', '?')})"
    notes = "".join(f"\nnote: {what}: {n}" for what, n in (report.get("notes") or {}).items())
    return title.strip() + "\n" + format_table(rows, ["", "count"]) + notes  # assumptions/changes, never silent


@click.command()
@click.argument("src", type=_PATH)
@click.option("--from", "from_format", metavar="FORMAT", help="Input format (detected when omitted).")
@click.option("--images-dir", type=_PATH, metavar="DIR", help="Where the image files are (overrides the layout).")
@click.option("--split", "splits", multiple=True, metavar="NAME", help="Check only this split (repeatable).")
@click.option("--no-images", is_flag=True, help="Do not look at image files (annotation checks only).")
@click.option("--follow-symlinks", is_flag=True, help="Accept images that are symlinks to files outside the dataset.")
@click.option("--json", "json_out", type=_PATH, metavar="OUT", help="Also write the problems as JSON to OUT ('-': stdout).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--executor", metavar="NAME", help="Read and check per shard on this executor (local, or a plugin's: ray).")
@click.option("--address", metavar="ADDR", help="Cluster address for --executor (e.g. 127.0.0.1:6379).")
def validate(src: Path, from_format: str | None, images_dir: Path | None,
             splits: tuple[str, ...], no_images: bool, follow_symlinks: bool, json_out: Path | None,
             quiet: bool, executor: str | None = None, address: str | None = None) -> None:
    """Read the dataset at SRC and report every problem (file:line: field: message).

    Exit 0 when clean, 2 when anything is wrong.
    """
    from ..console import print_json
    from ..formats import validate_dataset
    from ..fsutil import atomic_write_json

    if executor is not None or address is not None:
        from ..execution import get_executor, validate_sharded

        ex = get_executor(executor or "local", address)
        try:
            result = validate_sharded(src, from_format, executor=ex, images_dir=images_dir, splits=splits or None,
                                      check_images=not no_images, follow_symlinks=follow_symlinks)
        finally:
            ex.close()
    else:
        result = validate_dataset(src, from_format, images_dir=images_dir, splits=splits or None,
                                  check_images=not no_images, progress=not quiet and sys.stderr.isatty(),
                                  follow_symlinks=follow_symlinks)
    problems = result["problems"]
    machine = dict(result, problems=[p.to_dict() for p in problems])
    to_stdout = json_out is not None and str(json_out) == "-"
    if to_stdout:
        print_json(machine)
    else:
        from ..console import problem_lines

        for line in problem_lines(problems, more="(all in --json)" if json_out is not None else "(all with --json FILE)"):
            click.echo(line)
        for what, n in (result.get("notes") or {}).items():
            click.echo(f"note: {what}: {n}")
        state = "ok" if not problems else f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"{state}: {result['source']} ({result['format']}): {result['images']} images, "
                   f"{result['boxes']} boxes, {result['categories']} categories")
        if json_out is not None:
            atomic_write_json(json_out, machine)
    if problems:
        # an InputError makes the CLI exit with 2 (click's ctx.exit code is lost in main())
        raise InputError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", file=str(src))
