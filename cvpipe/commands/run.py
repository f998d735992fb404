"""``cvpipe run PIPELINE.yaml``: validate a pipeline whole, then run its steps in order."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=str))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a value: steps.2.epochs=3 (0-based index), train.epochs=3 (step name), "
                   "vars.voc_root=PATH. VALUE is read as YAML (3, true, null, text). Repeatable.")
@click.option("--dry-run", is_flag=True, help="Validate, print the resolved pipeline and the plan; run nothing.")
@click.option("--out", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Run directory (default: runs/<pipeline>/<timestamp>/ under the current directory).")
@click.option("--resume", is_flag=True,
              help="Re-run in an existing run directory (--out, or the latest under runs/<pipeline>/); "
                   "a train step continues from its checkpoint.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout at the end.")
def run(pipeline: str, overrides: tuple[str, ...], dry_run: bool, out: str | None, resume: bool,
        quiet: bool, as_json: bool) -> None:
    """Run the pipeline in PIPELINE (a YAML file).

    The whole file is checked first (every problem with its YAML path and line; exit code 2,
    nothing runs). Relative paths in the file resolve against the file's folder; relative paths
    given with --set (or ${env:...}) against the current directory. Each run writes
    pipeline.yaml (resolved), run.log, steps/<index>_<name>.json and results.json into its run
    directory. Exit code 1 when a step fails (2 when it failed on bad input data or a bad
    setting), naming the step.
    """
    from ..console import print_json
    from ..pipeline import find_latest_run, load_pipeline

    pipe = load_pipeline(pipeline, overrides, run_dir=out)
    if dry_run and resume and out is None:
        latest = find_latest_run(pipe.name)
        if latest is not None:  # show ${run_dir} as the run that would be resumed
            pipe = load_pipeline(pipeline, overrides, run_dir=latest)
    if dry_run:
        click.echo("# resolved pipeline")
        click.echo(pipe.resolved_yaml().rstrip())
        click.echo("\n# plan")
        click.echo(pipe.describe())
        click.echo(f"\n# run directory: {pipe.run_dir}{' (resume)' if resume else ''}; nothing was run (--dry-run)")
        return
    from ..fsutil import locked_dir

    # one process at a time per run directory (another rank under torchrun shares rank 0's)
    with locked_dir(_lock_target(out, resume, pipe.name), what="run directory", field="--out"):
        results = pipe.run(out=out, resume=resume, quiet=quiet or as_json)
    if as_json:
        print_json(results)


def _lock_target(out: str | None, resume: bool, name: str) -> Path | None:
    """The run directory to lock: ``--out``, or the run ``--resume`` continues; ``None`` for a
    fresh timestamped one or on a torchrun rank other than 0."""
    import os

    from ..pipeline import find_latest_run

    if int(os.environ.get("RANK", "0")) > 0:
        return None
    if out is not None:
        return Path(out).expanduser()
    return find_latest_run(name) if resume else None
