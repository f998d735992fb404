"""Run directories: where a pipeline run writes (``runs/<pipeline>/<timestamp>/`` by default),
the latest run to resume, and the rules under torchrun. Chosen once, before the pipeline's
``${run_dir}`` is resolved (:func:`choose_run_dir`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import ConfigError
from ..fsutil import LOCK_NAME

__all__ = ["choose_run_dir", "fresh_run_dir", "find_latest_run", "runs_root", "distributed"]


def runs_root(name: str) -> Path:
    """``runs/<name>`` under the current directory."""
    return Path.cwd() / "runs" / name


def distributed() -> tuple[int, int]:
    """``(rank, world size)`` from the environment torchrun sets (``(0, 1)`` otherwise)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def fresh_run_dir(name: str) -> Path:
    """A new ``runs/<name>/<timestamp>[-N]`` (not created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = runs_root(name)
    candidate = root / stamp
    n = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{n}"
        n += 1
    return candidate


def find_latest_run(name: str, root: Path | None = None) -> Path | None:
    """The newest run directory of pipeline ``name`` (under ``runs/<name>/`` in the current
    directory, or ``root``): the one most recently started, by its ``pipeline.yaml``'s time."""
    base = Path(root) if root is not None else runs_root(name)
    if not base.is_dir():
        return None
    runs = [d for d in base.iterdir() if d.is_dir() and (d / "pipeline.yaml").is_file()]
    if not runs:
        return None
    return max(runs, key=lambda d: (d.name, (d / "pipeline.yaml").stat().st_mtime)).absolute()


def choose_run_dir(name: str, out: Path | str | None = None, resume: bool = False, *,
                   planned: Path | None = None, check: bool = True) -> Path:
    """The run directory of pipeline ``name``.

    Args:
        name: the pipeline's name (``runs/<name>/``).
        out: the directory asked for (``--out``), or None.
        resume: continue an existing run (``out``, else the latest under ``runs/<name>/``).
        planned: the directory to use when neither ``out`` nor ``resume`` says otherwise and it
            does not exist yet (default: a fresh ``runs/<name>/<timestamp>``).
        check: refuse a non-empty directory without ``resume`` and a missing one with it (off
            for ``--dry-run``, which shows where a run would go).

    Under torchrun (``WORLD_SIZE`` > 1) every process runs the whole pipeline in the same run
    directory: rank 0 owns it (logs, results, checkpoints) and each other rank works quietly in
    ``<run dir>/.rank<N>`` (its own copies of intermediate files).

    Raises:
        ConfigError: nothing to resume, a non-empty directory without ``resume``, or torchrun
            without a shared directory.
    """
    rank, world = distributed()
    if out is not None:
        run_dir = Path(out).expanduser().absolute()
        if check and resume and not (run_dir / "pipeline.yaml").is_file():
            raise ConfigError("nothing to resume: not a run directory", field="--out", value=str(run_dir),
                              expected="a folder an earlier `cvpipe run` wrote (with pipeline.yaml)")
    elif resume and (find_latest_run(name) is not None or check):
        latest = find_latest_run(name)
        if latest is None:
            raise ConfigError(f"nothing to resume: no earlier run of {name!r}", field="--resume",
                              value=str(Path("runs") / name),
                              expected="a run directory under runs/<pipeline>/", hint="give it with --out DIR")
        run_dir = latest
    elif world > 1:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id == "none":
            raise ConfigError("under torchrun every process must use the same run directory",
                              field="--out", expected="--out DIR (or torchrun --rdzv-id ID)")
        run_dir = (runs_root(name) / f"torchrun-{run_id}").absolute()
    else:
        run_dir = planned if planned is not None and not planned.exists() else fresh_run_dir(name)
    if rank > 0:
        return run_dir / f".rank{rank}"
    if check and not resume and run_dir.is_dir() and any(not p.name.startswith((".rank", LOCK_NAME)) for p in run_dir.iterdir()):
        raise ConfigError("the run directory exists and is not empty", field="--out", value=str(run_dir),
                          expected="a new or empty folder",
                          hint="add --resume to continue that run, or choose another --out")
    return run_dir
