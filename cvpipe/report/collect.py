"""What a run folder holds, read for the report: the pipeline as run, every step's record and
the files each step wrote.

A run folder (written by ``cvpipe run``) has ``pipeline.yaml`` (the resolved pipeline),
``results.json`` (status, time and result of every step), ``steps/<index>_<name>.json`` (each
finished step's settings and result), a folder per step that wrote files (``train/``,
``evaluate/``, ...) and, after an evaluate step, ``metrics.json``. Files are discovered by name
and suffix, never by importing the code that wrote them, so a plugin's pictures and JSON show up
in the report like the built-ins'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["StepRecord", "RunRecord", "read_run", "read_json", "read_jsonl", "PICTURE_SUFFIXES"]

#: Files shown as pictures.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
#: Files shown as tables.
DATA_SUFFIXES = (".json", ".jsonl")
#: Pictures larger than this are left out (named in the report), so the page stays openable.
MAX_PICTURE_BYTES = 12 * 1024 * 1024
#: At most this many pictures per step (the rest are named).
MAX_PICTURES_PER_STEP = 40
#: JSON files larger than this (a detections file, a whole COCO dataset) are named, not shown.
MAX_DATA_BYTES = 2 * 1024 * 1024
#: At most this many JSON files per step.
MAX_DATA_FILES_PER_STEP = 20
#: How deep below a step folder files are looked for (``evaluate/gallery/x.png`` is depth 2).
MAX_DEPTH = 2


@dataclass
class StepRecord:
    """One step of the pipeline: its record in results.json / steps/*.json and its files.

    ``files`` are paths relative to the step folder (``run_dir / name``), sorted.
    """

    index: int
    name: str
    kind: str
    status: str
    seconds: float | None
    settings: dict[str, Any] | None
    result: dict[str, Any] | None
    folder: Path
    files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)


@dataclass
class RunRecord:
    """A whole run folder."""

    run_dir: Path
    pipeline: str
    status: str
    error: str | None
    seconds: float | None
    started: str | None
    pipeline_yaml: str | None
    steps: list[StepRecord]
    metrics: Any | None
    overrides: list[str] = field(default_factory=list)


def read_json(path: Path) -> Any:
    """The JSON in ``path``.

    Raises:
        InputError: the file cannot be read or is not JSON (with its line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", file=str(path)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno,
                         expected="a JSON document as cvpipe writes it") from exc


def read_jsonl(path: Path) -> list[Any]:
    """One JSON value per non-empty line of ``path`` (a trailing partial line, from a run that
    was killed while writing, is left out).

    Raises:
        InputError: the file cannot be read or a line before the last is not JSON.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", file=str(path)) from exc
    out = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(lines):
                break
            raise InputError(f"not valid JSON: {exc.msg}", file=str(path), line=i,
                             expected="one JSON object per line") from exc
    return out


def _step_files(folder: Path) -> tuple[list[str], list[str]]:
    """(shown, left out) files of a step folder, relative and sorted: pictures and JSON up to
    :data:`MAX_DEPTH` levels deep, hidden files (temporaries) excluded; too large or too many
    are left out (and named in the report)."""
    shown: list[str] = []
    left: list[str] = []
    if not folder.is_dir():
        return shown, left
    pictures = data = 0
    stack = [(folder, 1)]
    found: list[Path] = []
    while stack:
        d, depth = stack.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.name.startswith("."):
                continue
            if p.is_dir():
                if depth < MAX_DEPTH:
                    stack.append((p, depth + 1))
            elif p.suffix.lower() in PICTURE_SUFFIXES + DATA_SUFFIXES:
                found.append(p)
    for p in sorted(found, key=lambda q: (len(q.relative_to(folder).parts), str(q.relative_to(folder)))):
        rel = p.relative_to(folder).as_posix()
        try:
            size = p.stat().st_size
        except OSError:
            continue
        if p.suffix.lower() in PICTURE_SUFFIXES:
            if size > MAX_PICTURE_BYTES or pictures >= MAX_PICTURES_PER_STEP:
                left.append(rel)
                continue
            pictures += 1
        else:
            if size > MAX_DATA_BYTES or data >= MAX_DATA_FILES_PER_STEP:
                left.append(rel)
                continue
            data += 1
        shown.append(rel)
    return shown, left


def _is_run_dir(run_dir: Path) -> bool:
    return (run_dir / "pipeline.yaml").is_file() or (run_dir / "results.json").is_file() or (run_dir / "steps").is_dir()


def read_run(run_dir: Path) -> RunRecord:
    """Everything the report shows about the run folder ``run_dir``.

    Steps come from ``results.json`` (all of them, with their status, even skipped and failed
    ones) completed by ``steps/*.json`` (settings); when ``results.json`` is missing (a run
    killed hard) from ``steps/*.json`` alone.

    Raises:
        InputError: ``run_dir`` is not a run folder, or its results.json / steps/*.json are not
            JSON.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not _is_run_dir(run_dir):
        raise InputError("not a cvpipe run folder" if run_dir.is_dir() else "run folder not found",
                         file=str(run_dir),
                         expected="a folder `cvpipe run` wrote (pipeline.yaml, results.json, steps/)")
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").is_file() else {}
    if not isinstance(results, dict):
        raise InputError("results.json is not an object", file=str(run_dir / "results.json"),
                         expected="the JSON object `cvpipe run` writes")
    by_name: dict[str, dict[str, Any]] = {}
    steps_dir = run_dir / "steps"
    for path in sorted(steps_dir.glob("*.json")) if steps_dir.is_dir() else []:
        rec = read_json(path)
        if isinstance(rec, dict) and isinstance(rec.get("step"), str):
            by_name[rec["step"]] = rec
    listed = results.get("steps") if isinstance(results.get("steps"), dict) else {}
    names = list(listed) + [n for n in by_name if n not in listed]
    steps: list[StepRecord] = []
    for i, name in enumerate(names):
        entry = listed.get(name) if isinstance(listed.get(name), dict) else {}
        rec = by_name.get(name, {})
        folder = run_dir / name
        files, left = _step_files(folder)
        result = entry.get("result", rec.get("result"))
        steps.append(StepRecord(
            index=int(entry.get("index", i)) if isinstance(entry.get("index", i), int) else i,
            name=name,
            kind=str(entry.get("kind", rec.get("kind", "?"))),
            status=str(entry.get("status", "ok" if rec else "?")),
            seconds=entry.get("seconds", rec.get("seconds")),
            settings=rec.get("settings") if isinstance(rec.get("settings"), dict) else None,
            result=result if isinstance(result, dict) else None,
            folder=folder, files=files, skipped_files=left,
        ))
    yaml_path = run_dir / "pipeline.yaml"
    try:
        pipeline_yaml = yaml_path.read_text(encoding="utf-8") if yaml_path.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", file=str(yaml_path)) from exc
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else None
    return RunRecord(
        run_dir=run_dir,
        pipeline=str(results.get("pipeline") or run_dir.name),
        status=str(results.get("status") or ("unknown" if not steps else "incomplete")),
        error=results.get("error") if isinstance(results.get("error"), str) else None,
        seconds=results.get("seconds") if isinstance(results.get("seconds"), (int, float)) else None,
        started=results.get("started") if isinstance(results.get("started"), str) else None,
        pipeline_yaml=pipeline_yaml,
        steps=steps,
        metrics=metrics,
        overrides=[str(o) for o in results.get("overrides") or []],
    )
