"""The :class:`Context` a running step sees (the step contract in :mod:`cvpipe.pipeline`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Iterator, TextIO

from ..errors import JobError

__all__ = ["Context"]


class Context:
    """What a running step sees.

    Attributes:
        run_dir: the run directory (``runs/<pipeline>/<timestamp>/`` or ``--out``).
        base_dir: the pipeline YAML's folder (Path-typed settings are already resolved against it).
        pipeline: the pipeline's name.
        step_name: the name of the step running now.
        quiet: True when the user asked for no progress output.
        resume: True when re-running in an existing run dir (``cvpipe run --resume``): a step
            that keeps checkpoints (``train``) continues from them.
        hook: the lifecycle hooks (``ctx.hook.cvpipe_on_epoch_end(...)``), a
            :class:`~cvpipe.plugins.LifecycleHooks`: a failing plugin is named in the error.
        reports: ``(step, text)`` results for people, given with :meth:`report`.

    Produced objects are stored and read with dict access: ``ctx["voc"] = dataset``,
    ``ctx["voc"]``, ``"voc" in ctx``.
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        base_dir: Path,
        pipeline: str,
        quiet: bool = False,
        resume: bool = False,
        hook: Any = None,
        log_stream: TextIO | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.base_dir = Path(base_dir)
        self.pipeline = pipeline
        self.quiet = quiet
        self.resume = resume
        if hook is None:
            from ..plugins import LifecycleHooks, get_plugin_manager

            hook = LifecycleHooks(get_plugin_manager())
        self.hook = hook
        self.step_name = ""
        self._log_stream = log_stream
        self._objects: dict[str, Any] = {}
        self.reports: list[tuple[str, str]] = []

    @property
    def step_dir(self) -> Path:
        """``run_dir / step_name``, created on first access: where the running step writes files."""
        path = self.run_dir / (self.step_name or "pipeline")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, msg: str) -> None:
        """Write ``msg`` to the run log (``run.log``) and, unless quiet, to stderr."""
        self._log_only(msg)
        if not self.quiet:
            for line in str(msg).splitlines() or [""]:
                print(f"    {line}", file=sys.stderr)

    def report(self, text: str) -> None:
        """A result for people (a metrics table, ...): written to the run log now and printed on
        stdout when the pipeline ends, after the step table, so a run ends with what it found."""
        self._log_only(text)
        self.reports.append((self.step_name, str(text)))

    def _log_only(self, msg: str) -> None:
        """Write ``msg`` to the run log only (the runner's own records)."""
        if self._log_stream is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            for line in str(msg).splitlines() or [""]:
                self._log_stream.write(f"{stamp} [{self.step_name or self.pipeline}] {line}\n")
            self._log_stream.flush()

    # ---- produced objects ------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        try:
            return self._objects[name]
        except KeyError:
            have = ", ".join(self._objects) or "(nothing yet)"
            raise JobError(
                f"step {self.step_name!r} needs {name!r}, which no earlier step produced",
                expected=f"one of: {have}",
            ) from None

    def __setitem__(self, name: str, value: Any) -> None:
        self._objects[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, name: str, default: Any = None) -> Any:
        return self._objects.get(name, default)

    def keys(self) -> list[str]:
        return list(self._objects)
