"""A validated pipeline and its run: run directory, results, lifecycle hooks, printing."""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ConfigError, CvpipeError, JobError, Problem
from .context import Context

__all__ = ["Pipeline", "PlannedStep", "StepFailed", "find_latest_run"]


def _jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (Paths and numpy values converted; tuples and sets to lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return _jsonable(value.item())
        if isinstance(value, np.ndarray):
            return _jsonable(value.tolist())
    except ImportError:  # pragma: no cover
        pass
    return repr(value)




@dataclass
class PlannedStep:
    """A validated step, ready to run.

    Attributes:
        index: position in ``steps`` (0-based).
        name: unique step name (folder in the run dir, target of ``--set NAME.key=...``).
        kind: the registered step kind.
        settings: the resolved settings as written (after interpolation and overrides).
        bound: the validated, type-coerced settings the step was built with (JSON-ready).
        step: the step object (``run(ctx) -> dict``).
        inputs / outputs: setting name -> context name.
        skip: True when ``when``/``unless`` says the step does not run.
        line: the step's line in the YAML file.
    """

    index: int
    name: str
    kind: str
    settings: dict[str, Any]
    bound: dict[str, Any]
    step: Any
    inputs: dict[str, str]
    outputs: dict[str, str]
    skip: bool = False
    line: int | None = None


class StepFailed(CvpipeError):
    """A step raised while running. Names the step; the exit code is the original error's
    (a :class:`~cvpipe.errors.CvpipeError`'s own, e.g. 2 for bad input data) or 1."""

    exit_code = 1

    def __init__(self, step: PlannedStep, error: BaseException, problems: list[Problem] | None = None) -> None:
        self.step_name, self.kind, self.error = step.name, step.kind, error
        if isinstance(error, CvpipeError):
            self.problems = list(problems if problems is not None else error.problems)
            self.exit_code = error.exit_code
        else:  # not cvpipe's own error: a bug or failure in the plugin providing the step
            self.problems = [Problem(f"{type(error).__name__}: {error}",
                                     hint=f"raised by plugin {_step_plugin(step.kind)!r} (hook cvpipe_register_steps)")]
        Exception.__init__(self, str(self))

    def __str__(self) -> str:
        head = f"step {self.step_name!r} ({self.kind}) failed"
        if len(self.problems) == 1:
            return f"{head}: {self.problems[0]}"
        return f"{head}: {len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)

    def __reduce__(self):  # pragma: no cover - not sent across processes
        return (JobError.from_problems, (self.problems,))


def _step_plugin(kind: str) -> str:
    from ..plugins import get_registry

    try:
        return get_registry().steps.get(kind).plugin
    except CvpipeError:
        return "unknown"


@dataclass
class Pipeline:
    """A loaded and validated pipeline (see :func:`load_pipeline`).

    Attributes:
        name: the pipeline's name.
        path: the YAML file.
        base_dir: the YAML file's folder.
        config: the resolved pipeline (interpolated, overrides applied) as plain data.
        steps: the planned steps in order.
        run_dir: the run directory it will write (``${run_dir}`` was resolved to it).
        overrides: the ``--set`` strings applied.
    """

    name: str
    path: Path
    base_dir: Path
    config: dict[str, Any]
    steps: list[PlannedStep]
    run_dir: Path
    overrides: tuple[str, ...] = ()
    run_dir_given: bool = False

    # ---- describing ----------------------------------------------------------------------
    def resolved_yaml(self) -> str:
        """The resolved pipeline as YAML text."""
        return yaml.safe_dump(_jsonable(self.config), sort_keys=False, allow_unicode=True, width=100)

    def plan(self) -> list[dict[str, Any]]:
        """One dict per step: ``index``, ``name``, ``kind``, ``inputs``, ``outputs``, ``skip``."""
        return [{"index": s.index, "name": s.name, "kind": s.kind, "inputs": dict(s.inputs),
                 "outputs": dict(s.outputs), "skip": s.skip} for s in self.steps]

    def describe(self) -> str:
        """The plan as a table: step, kind, inputs -> outputs."""
        from ..console import format_table

        rows = []
        for s in self.steps:
            flow = f"{', '.join(dict.fromkeys(s.inputs.values())) or '-'} -> {', '.join(dict.fromkeys(s.outputs.values())) or '-'}"
            rows.append([s.index, s.name, s.kind, flow, "skipped (when/unless)" if s.skip else ""])
        return format_table(rows, ["#", "step", "kind", "inputs -> outputs", "note"])

    # ---- running -------------------------------------------------------------------------
    def run(self, out: Path | str | None = None, resume: bool = False, quiet: bool = False) -> dict[str, Any]:
        """Run the steps in order and return ``results.json``'s content.

        Args:
            out: the run directory (default ``runs/<name>/<timestamp>/`` under the current
                directory; with ``resume``, the latest run there).
            resume: re-run in an existing run directory with ``ctx.resume = True`` (a ``train``
                step continues from its checkpoint).
            quiet: print nothing but errors.

        Raises:
            ConfigError: bad run directory (nothing ran).
            StepFailed: a step raised (the steps before it are recorded in the run dir).
        """
        run_dir = self._choose_run_dir(out, resume)
        if run_dir != self.run_dir:
            # ${run_dir} may appear in settings: re-resolve against the directory actually used
            from .loader import _build

            other = _build(self.path, self.overrides, run_dir=run_dir, run_dir_given=True)
            return other._execute(run_dir, resume=resume, quiet=quiet)
        return self._execute(run_dir, resume=resume, quiet=quiet)

    def _choose_run_dir(self, out: Path | str | None, resume: bool) -> Path:
        """The run directory. Under torchrun (``WORLD_SIZE`` > 1) every process runs the whole
        pipeline in the same run directory: rank 0 owns it (logs, results, checkpoints) and each
        other rank works quietly in ``<run dir>/.rank<N>`` (its own copies of intermediate
        files; the training engine keeps it in step with rank 0)."""
        rank, world = _distributed()
        if out is not None:
            run_dir = Path(out).expanduser().absolute()
            if resume and not (run_dir / "pipeline.yaml").is_file():
                raise ConfigError("nothing to resume: not a run directory", field="--out", value=str(run_dir),
                                  expected="a folder an earlier `cvpipe run` wrote (with pipeline.yaml)")
        elif resume:
            latest = find_latest_run(self.name)
            if latest is None:
                raise ConfigError(f"nothing to resume: no earlier run of {self.name!r}", field="--resume",
                                  value=str(Path("runs") / self.name),
                                  expected="a run directory under runs/<pipeline>/", hint="give it with --out DIR")
            run_dir = latest
        elif world > 1:
            run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
            if run_id == "none":
                raise ConfigError("under torchrun every process must use the same run directory",
                                  field="--out", expected="--out DIR (or torchrun --rdzv-id ID)")
            run_dir = (_runs_root(self.name) / f"torchrun-{run_id}").absolute()
        else:
            run_dir = self.run_dir
            if not self.run_dir_given:
                run_dir = _fresh_run_dir(self.name) if run_dir.exists() else run_dir
        if rank > 0:
            return run_dir / f".rank{rank}"
        if not resume and run_dir.is_dir() and any(not p.name.startswith((".rank", ".cvpipe.lock")) for p in run_dir.iterdir()):
            raise ConfigError("the run directory exists and is not empty", field="--out", value=str(run_dir),
                              expected="a new or empty folder",
                              hint="add --resume to continue that run, or choose another --out")
        return run_dir

    def _execute(self, run_dir: Path, *, resume: bool, quiet: bool) -> dict[str, Any]:
        quiet = quiet or _distributed()[0] > 0  # one process talks to the user
        from ..fsutil import atomic_write_json, atomic_write_text
        from ..plugins import LifecycleHooks, get_plugin_manager

        hook = LifecycleHooks(get_plugin_manager())
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "steps").mkdir(exist_ok=True)
        atomic_write_text(run_dir / "pipeline.yaml", self.resolved_yaml())
        say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
        started = _dt.datetime.now().astimezone()
        results: dict[str, Any] = {
            "pipeline": self.name, "file": str(self.path), "run_dir": str(run_dir), "resume": resume,
            "overrides": list(self.overrides), "started": started.isoformat(timespec="seconds"),
            "status": "running", "error": None, "seconds": None, "steps": {},
        }
        finished: dict[str, Any] = {}
        t_start = time.perf_counter()
        error: BaseException | None = None
        with open(run_dir / "run.log", "a", encoding="utf-8") as log:
            ctx = Context(run_dir=run_dir, base_dir=self.base_dir, pipeline=self.name, quiet=quiet,
                          resume=resume, hook=hook, log_stream=log)
            ctx._log_only(("resuming" if resume else "starting") + f" pipeline {self.name!r} from {self.path}"
                    + (f" with --set {' '.join(self.overrides)}" if self.overrides else ""))
            say(f"{'resuming' if resume else 'running'} {self.name} ({len(self.steps)} steps) -> {run_dir}")
            try:
                _fire(hook.cvpipe_on_pipeline_start, pipeline=self.name, run_dir=run_dir,
                      config=_jsonable(self.config))
                for s in self.steps:
                    ctx.step_name = s.name
                    label = f"[{s.index + 1}/{len(self.steps)}] {s.name} ({s.kind})"
                    entry: dict[str, Any] = {"index": s.index, "kind": s.kind, "status": "skipped",
                                             "seconds": 0.0, "result": None}
                    results["steps"][s.name] = entry
                    if s.skip:
                        ctx._log_only("skipped (when/unless)")
                        say(f"{label} skipped (when/unless)")
                        continue
                    entry["status"] = "running"
                    _fire(hook.cvpipe_on_step_start, pipeline=self.name, run_dir=run_dir, step=s.name,
                          kind=s.kind, settings=dict(s.bound))
                    say(f"{label} ...")
                    ctx._log_only("start")
                    t0 = time.perf_counter()
                    try:
                        result = s.step.run(ctx)
                    except Exception as exc:  # noqa: BLE001 - every failure is reported naming the step
                        entry["status"], entry["seconds"] = "failed", round(time.perf_counter() - t0, 3)
                        raise _step_failure(s, exc, self) from exc
                    seconds = time.perf_counter() - t0
                    result = _jsonable(result if result is not None else {})
                    if not isinstance(result, dict):
                        result = {"result": result}
                    entry.update(status="ok", seconds=round(seconds, 3), result=result)
                    atomic_write_json(run_dir / "steps" / f"{s.index:02d}_{s.name}.json",
                                      {"step": s.name, "kind": s.kind, "seconds": round(seconds, 3),
                                       "settings": s.bound, "result": result})
                    finished[s.name] = result
                    summary = _summary(result)
                    ctx._log_only(f"done in {seconds:.2f}s" + (f": {summary}" if summary else ""))
                    say(f"{label} done in {_fmt_seconds(seconds)}" + (f": {summary}" if summary else ""))
                    _fire(hook.cvpipe_on_step_end, pipeline=self.name, run_dir=run_dir, step=s.name,
                          kind=s.kind, result=result, seconds=seconds)
            except BaseException as exc:
                error = exc
                ctx.step_name = ""
                ctx._log_only(f"failed: {exc}" if not isinstance(exc, KeyboardInterrupt) else "interrupted")
                raise
            finally:
                results["status"] = "ok" if error is None else ("interrupted" if isinstance(error, KeyboardInterrupt)
                                                                 else "failed")
                results["error"] = None if error is None else str(error) or type(error).__name__
                results["seconds"] = round(time.perf_counter() - t_start, 3)
                for entry_ in results["steps"].values():
                    if entry_["status"] == "running":  # stopped by Ctrl-C or a failing hook
                        entry_["status"] = results["status"]
                atomic_write_json(run_dir / "results.json", results)
                try:
                    _fire(hook.cvpipe_on_pipeline_end, pipeline=self.name, run_dir=run_dir, results=finished,
                          error=error)
                except CvpipeError as hook_exc:
                    if error is None:
                        raise
                    ctx._log_only(f"(while ending) {hook_exc}")
        if not quiet:
            self._print_table(results)
            for step, text in ctx.reports:
                print(f"\n{step}:\n{text}")
        return results

    def _print_table(self, results: dict[str, Any]) -> None:
        from ..console import format_table

        rows = [[s["index"], name, s["kind"], s["status"], _fmt_seconds(s["seconds"]),
                 _summary(s["result"] or {})] for name, s in results["steps"].items()]
        print(format_table(rows, ["#", "step", "kind", "status", "time", "summary"]))
        print(f"\n{self.name}: {results['status']} in {_fmt_seconds(results['seconds'])}; "
              f"results in {results['run_dir']}")


def _fire(hook_caller: Any, **kwargs: Any) -> None:
    """Call a lifecycle hook (a :class:`~cvpipe.plugins.LifecycleHooks` attribute, which turns a
    plugin's exception into a PluginError naming the plugin and the hook)."""
    hook_caller(**kwargs)


def _step_failure(step: PlannedStep, exc: BaseException, pipeline: Pipeline) -> StepFailed:
    """A StepFailed for ``exc``; a ConfigError raised while running gets the step's YAML path."""
    if isinstance(exc, ConfigError) and not isinstance(exc, StepFailed):
        src = getattr(pipeline, "_source", None)
        if src is not None:
            where = f"steps[{step.index}].{step.kind}"
            placed = [p if (p.field or "").startswith(("steps[", "vars.")) or p.file not in (None, src.file)
                      else src.place(p, where) for p in exc.problems]
            return StepFailed(step, exc, placed)
    return StepFailed(step, exc)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    m, s = divmod(seconds, 60)
    return f"{int(m)}m{s:04.1f}s" if m < 60 else f"{int(m // 60)}h{int(m % 60):02d}m"


def _summary(result: Mapping[str, Any], limit: int = 6) -> str:
    """One line for people: ``result["summary"]`` if the step gave one, else its first scalars."""
    if not isinstance(result, Mapping):
        return ""
    if isinstance(result.get("summary"), str):
        return result["summary"]
    parts = []
    for k, v in result.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, int) or (isinstance(v, str) and len(v) <= 40 and "\n" not in v):
            parts.append(f"{k}={v}")
        if len(parts) >= limit:
            break
    return " ".join(parts)


# ============================================================================================
# Run directories
# ============================================================================================


def _runs_root(name: str) -> Path:
    return Path.cwd() / "runs" / name


def _distributed() -> tuple[int, int]:
    """``(rank, world size)`` from the environment torchrun sets (``(0, 1)`` otherwise)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _fresh_run_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = _runs_root(name)
    candidate = root / stamp
    n = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{n}"
        n += 1
    return candidate


def find_latest_run(name: str, root: Path | None = None) -> Path | None:
    """The newest run directory of pipeline ``name`` (under ``runs/<name>/`` in the current
    directory, or ``root``): the one most recently started, by its ``pipeline.yaml``'s time."""
    base = Path(root) if root is not None else _runs_root(name)
    if not base.is_dir():
        return None
    runs = [d for d in base.iterdir() if d.is_dir() and (d / "pipeline.yaml").is_file()]
    if not runs:
        return None
    return max(runs, key=lambda d: (d.name, (d / "pipeline.yaml").stat().st_mtime)).absolute()
