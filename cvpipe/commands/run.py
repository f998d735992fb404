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
    from ..fsutil import locked_dir
    from ..pipeline import choose_run_dir, load_pipeline
    from ..pipeline.rundir import distributed

    # one process at a time per run directory (other ranks under torchrun work in rank 0's):
    # a given --out is locked before the pipeline is loaded, so a second run is told who holds it
    owner = distributed()[0] == 0 and not dry_run
    early = Path(out) if owner and out is not None else None
    with locked_dir(early, what="run directory", field="--out"):
        # the run directory is chosen first (--dry-run shows where a run would go, the run
        # resumed included), then the pipeline is loaded and checked once, with ${run_dir} resolved
        pipe = load_pipeline(pipeline, overrides,
                             run_dir=lambda name: choose_run_dir(name, out, resume, check=not dry_run))
        if dry_run:
            click.echo("# resolved pipeline")
            click.echo(pipe.resolved_yaml().rstrip())
            click.echo("\n# plan")
            click.echo(pipe.describe())
            click.echo(f"\n# run directory: {pipe.run_dir}{' (resume)' if resume else ''}; nothing was run (--dry-run)")
            return
        with locked_dir(pipe.run_dir if owner and early is None else None, what="run directory", field="--out"):
            results = pipe.run(resume=resume, quiet=quiet or as_json)
    if as_json:
        print_json(results)
