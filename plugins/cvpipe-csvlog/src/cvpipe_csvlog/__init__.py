"""cvpipe-csvlog: every pipeline, step and epoch event of a cvpipe run as rows of a CSV file.

Installed, it implements cvpipe's lifecycle hooks (no registration hook, so no registrar of
:mod:`cvpipe.contract`; each takes only the arguments it uses, typed as the specs type them) and
appends to ``<run_dir>/events.csv`` (long format, one value per row, so any metric fits)::

    time,event,pipeline,step,kind,epoch,seconds,metric,value,note
    2026-11-21T23:50:01.123+00:00,pipeline_start,voc_detect,,,,,,,
    2026-11-21T23:50:01.130+00:00,step_start,voc_detect,read,read,,,,,
    2026-11-21T23:50:01.402+00:00,step_end,voc_detect,read,read,,0.272,images,40,
    2026-11-21T23:51:10.010+00:00,epoch_end,voc_detect,train,,1,,loss,1.234,
    2026-11-21T23:52:00.000+00:00,pipeline_end,voc_detect,,,,,,,ok

``step_end`` rows carry the step's numeric results (nested dicts flattened with dots, e.g.
``per_class.cat``; one row with an empty metric when there are none); ``epoch_end`` rows one
metric each; ``pipeline_end`` notes ``ok`` or ``failed: <error>``. A resumed run appends to the
same file. Each event opens, appends and closes the file, so the log survives a crash.
Set ``CVPIPE_CSVLOG_FILE`` to another file name (relative to the run directory).
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any, Iterator

from cvpipe import hookimpl

__version__ = "0.1.0"
CVPIPE_HOOK_API_VERSION = 1

#: The CSV columns, in order.
COLUMNS = ("time", "event", "pipeline", "step", "kind", "epoch", "seconds", "metric", "value", "note")
#: Default file name inside the run directory.
DEFAULT_FILE = "events.csv"

_pipelines: dict[str, str] = {}  # run_dir -> pipeline name (epoch_end is not told the pipeline)


def log_path(run_dir: Path) -> Path:
    """Where the events of the run in ``run_dir`` go."""
    return Path(run_dir) / os.environ.get("CVPIPE_CSVLOG_FILE", DEFAULT_FILE)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _append(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    path = log_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        stamp = _now()
        for row in rows:
            w.writerow({"time": stamp, **{k: _cell(v) for k, v in row.items()}})


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return "" if value is None else value


def numbers(data: Any, prefix: str = "") -> Iterator[tuple[str, float | int]]:
    """``(dotted key, number)`` for every int/float in ``data`` (nested dicts flattened; lists
    and strings skipped; bools are not numbers here)."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from numbers(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and prefix:
        yield prefix, data


def _pipeline(run_dir: Path) -> str:
    return _pipelines.get(str(run_dir), "")


@hookimpl
def cvpipe_on_pipeline_start(pipeline: str, run_dir: Path) -> None:
    _pipelines[str(run_dir)] = pipeline
    _append(run_dir, [{"event": "pipeline_start", "pipeline": pipeline}])


@hookimpl
def cvpipe_on_step_start(pipeline: str, run_dir: Path, step: str, kind: str) -> None:
    _append(run_dir, [{"event": "step_start", "pipeline": pipeline, "step": step, "kind": kind}])


@hookimpl
def cvpipe_on_step_end(pipeline: str, run_dir: Path, step: str, kind: str, result: dict[str, Any],
                       seconds: float) -> None:
    base = {"event": "step_end", "pipeline": pipeline, "step": step, "kind": kind, "seconds": round(float(seconds), 6)}
    rows = [{**base, "metric": k, "value": v} for k, v in numbers(result)]
    _append(run_dir, rows or [base])


@hookimpl
def cvpipe_on_epoch_end(run_dir: Path, step: str, epoch: int, metrics: dict[str, float]) -> None:
    base = {"event": "epoch_end", "pipeline": _pipeline(run_dir), "step": step, "epoch": epoch}
    rows = [{**base, "metric": k, "value": v} for k, v in numbers(metrics)]
    _append(run_dir, rows or [base])


@hookimpl
def cvpipe_on_pipeline_end(pipeline: str, run_dir: Path, error: BaseException | None) -> None:
    note = "ok" if error is None else f"failed: {type(error).__name__}: {error}"
    _append(run_dir, [{"event": "pipeline_end", "pipeline": pipeline, "note": note}])
    _pipelines.pop(str(run_dir), None)
