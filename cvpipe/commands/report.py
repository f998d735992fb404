"""``cvpipe report``: the HTML report of a run folder (what ``cvpipe run`` writes at its end)."""

from __future__ import annotations

from pathlib import Path

import click

_PATH = click.Path(path_type=Path)


@click.command()
@click.argument("run_dir", type=_PATH)
@click.option("-o", "--output", type=_PATH, metavar="FILE",
              help="Where to write the report (default: RUN_DIR/report.html).")
def report(run_dir: Path, output: Path | None) -> None:
    """Write the HTML report of the run folder RUN_DIR.

    One self-contained file (pictures embedded, no scripts, loads nothing), to open from disk:
    the pipeline as run, each step's record, dataset statistics and validation problems, the
    training log and curves, the metrics tables, precision-recall curves, confusion matrix,
    samples and any other picture or JSON the steps wrote.
    """
    from ..report import read_run, render_report
    from ..fsutil import atomic_write_text

    run = read_run(run_dir)
    out = output if output is not None else run_dir / "report.html"
    text = render_report(run)
    atomic_write_text(out, text)
    pictures = text.count("<img ")
    click.echo(f"report of {run.pipeline} ({run.status}, {len(run.steps)} steps, {pictures} pictures, "
               f"{len(text.encode('utf-8')) / 1024:.0f} KiB) written to {out}")
