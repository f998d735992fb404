"""A validated pipeline and its run: run directory, results, lifecycle hooks, printing."""

from __future__ import annotations

import datetime as _dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from ..errors import ConfigError, CvpipeError, JobError, Problem
from ..jsondata import jsonable
from .context import Context
from .rundir import choose_run_dir, distributed

__all__ = ["Pipeline", "PlannedStep", "StepFailed", "step_summary"]


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

    @property
    def head(self) -> str:
        """What failed: ``step 'NAME' (KIND) failed``."""
        return f"step {self.step_name!r} ({self.kind}) failed"

    def __str__(self) -> str:
        head = self.head
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
        run_dir_given: ``run_dir`` was asked for (not a default).
        chosen: ``run_dir`` was chosen for running (checked, :func:`~.rundir.choose_run_dir`).
        reload: loads the same file for another run directory (set by the loader).
    """

    name: str
    path: Path
    base_dir: Path
    config: dict[str, Any]
    steps: list[PlannedStep]
    run_dir: Path
    overrides: tuple[str, ...] = ()
    run_dir_given: bool = False
    chosen: bool = False
    reload: Callable[[Path], "Pipeline"] | None = field(default=None, repr=False, compare=False)

    # ---- describing ----------------------------------------------------------------------
    def resolved_yaml(self) -> str:
        """The resolved pipeline as YAML text."""
        return yaml.safe_dump(jsonable(self.config), sort_keys=False, allow_unicode=True, width=100)

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
            out: the run directory (default: the one the pipeline was loaded for, see
                :func:`~cvpipe.pipeline.load_pipeline`; else ``runs/<name>/<timestamp>/`` under
                the current directory; with ``resume``, the latest run there).
            resume: re-run in an existing run directory with ``ctx.resume = True`` (a ``train``
                step continues from its checkpoint).
            quiet: print nothing but errors.

        A pipeline loaded with its run directory chosen (as ``cvpipe run`` does) runs there; one
        run elsewhere is loaded again first, so that ``${run_dir}`` names the directory used.

        Raises:
            ConfigError: bad run directory (nothing ran).
            StepFailed: a step raised (the steps before it are recorded in the run dir).
        """
        if self.chosen and out is None:
            return self._execute(self.run_dir, resume=resume, quiet=quiet)
        if out is None and self.run_dir_given and not resume:
            out = self.run_dir
        run_dir = choose_run_dir(self.name, out, resume, planned=self.run_dir)
        if run_dir != self.run_dir:
            if self.reload is None:
                raise ConfigError("this pipeline cannot be loaded again for another run directory", field="--out",
                                  value=str(run_dir), expected=str(self.run_dir))
            return self.reload(run_dir)._execute(run_dir, resume=resume, quiet=quiet)
        return self._execute(run_dir, resume=resume, quiet=quiet)

    def _execute(self, run_dir: Path, *, resume: bool, quiet: bool) -> dict[str, Any]:
        quiet = quiet or distributed()[0] > 0  # one process talks to the user
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
                      config=jsonable(self.config))
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
                    result = jsonable(result if result is not None else {})
                    if not isinstance(result, dict):
                        result = {"result": result}
                    entry.update(status="ok", seconds=round(seconds, 3), result=result)
                    atomic_write_json(run_dir / "steps" / f"{s.index:02d}_{s.name}.json",
                                      {"step": s.name, "kind": s.kind, "seconds": round(seconds, 3),
                                       "settings": s.bound, "result": result})
                    finished[s.name] = result
                    summary = step_summary(result)
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
                 step_summary(s["result"] or {})] for name, s in results["steps"].items()]
        print(format_table(rows, ["#", "step", "kind", "status", "time", "summary"]))
        print(f"\n{self.name}: {results['status']} in {_fmt_seconds(results['seconds'])}; "
              f"results in {results['run_dir']}")


def _fire(hook_caller: Any, **kwargs: Any) -> None:
    """Call a lifecycle hook (a :class:`~cvpipe.plugins.LifecycleHooks` attribute, which turns a
    plugin's exception into a PluginError naming the plugin and the hook)."""
    hook_caller(**kwargs)


def _step_failure(step: PlannedStep, exc: BaseException, pipeline: Pipeline) -> StepFailed:
    """A StepFailed for ``exc``; a ConfigError raised while running gets the step's YAML path;
    hints name step settings, not CLI flags (:mod:`.hints`)."""
    problems = None
    if isinstance(exc, ConfigError) and not isinstance(exc, StepFailed):
        src = getattr(pipeline, "_source", None)
        if src is not None:
            where = f"steps[{step.index}].{step.kind}"
            problems = [p if (p.field or "").startswith(("steps[", "vars.")) or p.file not in (None, src.file)
                        else src.place(p, where) for p in exc.problems]
    if isinstance(exc, CvpipeError) and not isinstance(exc, StepFailed):
        problems = _setting_hints(step, problems if problems is not None else exc.problems, pipeline)
    return StepFailed(step, exc, problems)


def _setting_hints(step: PlannedStep, problems: list[Problem], pipeline: Pipeline) -> list[Problem]:
    """``problems`` with CLI flags in their hints named as settings of ``step`` (or of the
    nearest earlier step that has the setting, then later ones)."""
    from .hints import hints_for_step, step_setting_names

    steps = list(getattr(pipeline, "steps", []) or [])
    before = [s for s in steps if s.index < step.index][::-1]
    after = [s for s in steps if s.index > step.index]
    others = [(s.name, step_setting_names(s.step, s.bound)) for s in before + after if s.step is not None]
    return hints_for_step(problems, step_setting_names(step.step, step.bound), others)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    m, s = divmod(seconds, 60)
    return f"{int(m)}m{s:04.1f}s" if m < 60 else f"{int(m // 60)}h{int(m % 60):02d}m"


def step_summary(result: Mapping[str, Any] | None, limit: int = 6) -> str:
    """One line for people (the run's table, the report): ``result["summary"]`` if the step gave
    one, else its first scalar results as ``name=value``."""
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
