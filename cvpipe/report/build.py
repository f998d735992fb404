"""The report page of a run folder: overview, the pipeline as run, then one section per step
with what it wrote (statistics, validation problems, training curves, metrics, pictures).

Known files get a dedicated view (``stats.json``, ``problems.json``, ``metrics.jsonl``,
``metrics.json``); any other JSON a step wrote (a plugin's analysis, say) is shown as tables,
any picture embedded with a title made from its file name. Output is deterministic: the same
run folder gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..pipeline.runner import step_summary
from .collect import PICTURE_SUFFIXES, RunRecord, StepRecord, read_json, read_jsonl, read_run
from .html import details, esc, kv_table, page, picture, pre, render_json, table

__all__ = ["render_report", "build_report", "write_report", "picture_title"]

#: The COCO summary numbers in pycocotools' order (the evaluate step's ``coco`` result).
_COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")

#: Titles of pictures cvpipe's steps write, by file stem.
_TITLES = {
    "stats": "Dataset statistics",
    "curves": "Training curves",
    "pr_curves": "Precision-recall curves",
    "confusion_matrix": "Confusion matrix",
    "samples": "Samples: ground truth dashed, predictions solid in class colours",
    "predictions": "Predictions",
    "preview": "Augmentation preview",
}
#: Pictures are shown in this order (by stem words), the others after them alphabetically.
_ORDER = ("stats", "curves", "pr", "f1", "confusion", "error", "tide", "threshold", "samples",
          "predictions", "gallery", "worst", "missed", "false")


def picture_title(rel: str) -> str:
    """A picture's title from its path in the step folder: a known name, else the file name in
    words (``gallery/worst_fp.png`` -> ``Gallery: worst fp``)."""
    p = Path(rel)
    stem = p.stem
    words = _TITLES.get(stem) or stem.replace("_", " ").replace("-", " ").strip().capitalize()
    if len(p.parts) > 1:
        return " / ".join(part.replace("_", " ").capitalize() for part in p.parts[:-1]) + ": " + words
    return words


def _picture_rank(rel: str) -> tuple[int, str]:
    """Sort key of a picture: its place in :data:`_ORDER` by file stem or folder, then its path."""
    low = rel.lower()
    names = [Path(low).stem] + list(Path(low).parts[:-1])
    for i, word in enumerate(_ORDER):
        if any(n == word or n.startswith(word + "_") or (len(word) > 3 and n.startswith(word)) for n in names):
            return i, low
    return len(_ORDER), low


def _fmt_seconds(s: Any) -> str:
    if not isinstance(s, (int, float)):
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _status(s: str) -> str:
    return f'<span class="status {esc(s)}">{esc(s)}</span>'


# ---------------------------------------------------------------------------------------------
# Views of known files
# ---------------------------------------------------------------------------------------------


def metrics_html(metrics: Any) -> str:
    """The evaluate step's metrics (``metrics.json``: ``{metric: result}``) as tables: COCO's
    twelve numbers, one per-class AP table with a column per metric, other metrics' numbers."""
    if not isinstance(metrics, Mapping):
        return render_json(metrics)
    parts = []
    coco = metrics.get("coco")
    if isinstance(coco, Mapping):
        rows = [[k, coco[k]] for k in _COCO_KEYS if k in coco]
        if rows:
            parts.append("<h4>COCO (pycocotools' definitions; -1: no ground truth in that range)</h4>"
                         + table(rows, ["metric", "value"]))
    cols = [m for m, r in metrics.items() if isinstance(r, Mapping) and isinstance(r.get("per_class"), Mapping)]
    if cols:
        names: list[str] = []
        for m in cols:
            names += [str(n) for n in metrics[m]["per_class"] if n not in names]
        rows = [[n] + [metrics[m]["per_class"].get(n) for m in cols] for n in names]
        rows.append(["mean"] + [metrics[m].get("mAP", metrics[m].get("AP")) for m in cols])
        heads = ["class"] + [f"{m} AP" if m != "coco" else "coco AP@[.5:.95]" for m in cols]
        parts.append("<h4>Per-class AP (&ndash;: no ground truth of that class)</h4>"
                     + table(rows, heads, total_last=True))
    for m, r in metrics.items():
        if m == "coco" or m in cols:
            if isinstance(r, Mapping):
                rest = {k: v for k, v in r.items() if k not in _COCO_KEYS and k not in ("per_class", "mAP")}
                if rest:
                    parts.append(f"<h4>{esc(m)}: more</h4>" + render_json(rest, depth=1))
            continue
        parts.append(f"<h4>{esc(m)}</h4>" + render_json(r, depth=1))
    return "".join(parts)


def stats_html(stats: Any) -> str:
    """The stats step's ``stats.json``: totals, per-class counts, box sizes."""
    if not isinstance(stats, Mapping):
        return render_json(stats)
    parts = []
    totals = {k: stats[k] for k in ("images", "boxes", "empty_images") if k in stats}
    if totals:
        parts.append(kv_table(totals))
    per_class = stats.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        rows = [[c, v.get("images"), v.get("boxes")] for c, v in per_class.items() if isinstance(v, Mapping)]
        parts.append("<h4>Per class</h4>" + table(rows, ["class", "images", "boxes"]))
    rest = {k: v for k, v in stats.items() if k not in totals and k != "per_class"}
    if rest:
        parts.append(details("All statistics", render_json(rest, depth=1)))
    return "".join(parts)


def problems_html(problems: Any) -> str:
    """A ``problems.json`` (a list of problem records) as a table."""
    if not isinstance(problems, list):
        return render_json(problems)
    if not problems:
        return '<p class="note">No problems found.</p>'
    cols = ["message", "file", "line", "field", "value", "expected"]
    for p in problems:
        if isinstance(p, Mapping):
            cols += [k for k in p if k not in cols]
    rows = [[p.get(c) for c in cols] if isinstance(p, Mapping) else [p] + [None] * (len(cols) - 1) for p in problems]
    return f"<p>{len(problems)} problems.</p>" + table(rows, cols, limit=300)


def epochs_html(epochs: list[Any]) -> str:
    """A training log (``metrics.jsonl``: one object per epoch) as a table."""
    rows = [e for e in epochs if isinstance(e, Mapping)]
    if not rows:
        return '<p class="note">No epochs logged.</p>'
    cols: list[str] = []
    for e in rows:
        cols += [k for k in e if k not in cols]
    return table(([e.get(c) for c in cols] for e in rows), cols, limit=1000)


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _file_block(step: StepRecord, rel: str) -> str:
    path = step.folder / rel
    name = Path(rel).name
    try:
        if path.suffix.lower() in PICTURE_SUFFIXES:
            return f"<h3>{esc(picture_title(rel))}</h3>" + picture(path.read_bytes(), picture_title(rel), rel)
        if path.suffix.lower() == ".jsonl":
            data = read_jsonl(path)
            if name == "metrics.jsonl":
                return "<h3>Training log (per epoch)</h3>" + epochs_html(data)
            return f"<h3>{esc(rel)}</h3>" + render_json(data)
        data = read_json(path)
    except InputError as exc:
        return f'<p class="error">{esc(exc)}</p>'
    except OSError as exc:
        return f'<p class="error">{esc(rel)}: cannot read: {esc(exc)}</p>'
    if name == "stats.json":
        return "<h3>Dataset statistics</h3>" + stats_html(data)
    if name == "problems.json":
        return "<h3>Validation problems</h3>" + problems_html(data)
    if name == "metrics.json":
        return "<h3>Metrics</h3>" + metrics_html(data)
    return f"<h3>{esc(picture_title(rel))} <span class=\"note\">({esc(rel)})</span></h3>" + render_json(data)


def _step_section(step: StepRecord, anchor: str) -> str:
    head = (f'<section id="{esc(anchor)}"><h2>{step.index + 1}. {esc(step.name)} '
            f'<span class="note">({esc(step.kind)})</span> {_status(step.status)}</h2>')
    body = []
    summary = step_summary(step.result)
    line = f"{_fmt_seconds(step.seconds)}" + (f" &middot; {esc(summary)}" if summary else "")
    body.append(f"<p>{line}</p>")
    data_files = [f for f in step.files if Path(f).suffix.lower() not in PICTURE_SUFFIXES]
    pictures = sorted((f for f in step.files if Path(f).suffix.lower() in PICTURE_SUFFIXES), key=_picture_rank)
    # tables first where a picture shows the same thing (the log before the curves is noise)
    order = {"stats.json": 0, "problems.json": 1, "metrics.json": 2}
    for rel in sorted(data_files, key=lambda f: (order.get(f, 9), f)):
        if rel == "metrics.jsonl":
            continue
        body.append(_file_block(step, rel))
    for rel in pictures:
        body.append(_file_block(step, rel))
    if "metrics.jsonl" in data_files:
        body.append(details("Training log (per epoch)", _file_block(step, "metrics.jsonl")))
    if step.skipped_files:
        body.append(f'<p class="note">Not embedded (too large or too many): {esc(", ".join(step.skipped_files))}</p>')
    if step.settings:
        body.append(details("Settings", render_json(step.settings, depth=1)))
    if step.result:
        rest = {k: v for k, v in step.result.items() if k != "summary"}
        if rest:
            body.append(details("Result", render_json(rest, depth=1)))
    return head + "".join(body) + "</section>"


def _headline(metrics: Any) -> dict[str, Any]:
    """The few numbers shown as cards at the top: COCO AP / AP50, each VOC-style mAP."""
    out: dict[str, Any] = {}
    if not isinstance(metrics, Mapping):
        return out
    for m, r in metrics.items():
        if not isinstance(r, Mapping):
            continue
        if m == "coco":
            for k in ("AP", "AP50", "AP75"):
                if isinstance(r.get(k), (int, float)):
                    out[f"COCO {k}"] = r[k]
        elif isinstance(r.get("mAP"), (int, float)):
            out[f"{m} mAP"] = r["mAP"]
    return out


def render_report(run: RunRecord) -> str:
    """The report page of ``run`` (see :func:`read_run`) as one HTML document."""
    title = f"cvpipe report: {run.pipeline}"
    meta = [f"status {run.status}", f"time {_fmt_seconds(run.seconds)}"]
    if run.started:
        meta.append(f"started {run.started}")
    meta.append(f"folder {run.run_dir}")
    header = f"<h1>{esc(title)}</h1><div class=\"meta\">{' &middot; '.join(esc(m) for m in meta)}</div>"
    nav = [("overview", "Overview"), ("pipeline", "Pipeline")]
    sections = []

    ov = ['<section id="overview"><h2>Overview</h2>']
    if run.error:
        ov.append(f'<p class="error">The run {esc(run.status)}: {esc(run.error)}</p>')
    cards = _headline(run.metrics)
    if cards:
        ov.append('<div class="cards">' + "".join(
            f'<div class="card"><div class="v">{esc(f"{v:.4f}")}</div><div class="k">{esc(k)}</div></div>'
            for k, v in cards.items()) + "</div>")
    rows = [[s.index + 1, s.name, s.kind, s.status, _fmt_seconds(s.seconds),
             step_summary(s.result)] for s in run.steps]
    ov.append(table(rows, ["#", "step", "kind", "status", "time", "summary"]) if rows
              else '<p class="note">No step has run.</p>')
    if run.metrics is not None:
        ov.append("<h3>Final metrics (metrics.json)</h3>" + metrics_html(run.metrics))
    ov.append("</section>")
    sections.append("".join(ov))

    pipe = ['<section id="pipeline"><h2>Pipeline as run</h2>']
    if run.overrides:
        pipe.append(f"<p>Overrides: <code>{esc(' '.join(run.overrides))}</code></p>")
    pipe.append(pre(run.pipeline_yaml) if run.pipeline_yaml is not None
                else '<p class="note">pipeline.yaml is missing.</p>')
    pipe.append("</section>")
    sections.append("".join(pipe))

    for s in run.steps:
        anchor = f"step-{s.index + 1}"
        nav.append((anchor, s.name))
        sections.append(_step_section(s, anchor))
    return page(title, header, nav, "\n".join(sections))


def build_report(run_dir: Path) -> str:
    """The HTML report of the run folder ``run_dir``.

    Raises:
        InputError: ``run_dir`` is not a run folder or its records are unreadable.
    """
    return render_report(read_run(Path(run_dir)))


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Write the report of ``run_dir`` to ``output`` (default ``run_dir/report.html``),
    atomically: a reader sees the old file or the whole new one. Returns the path written."""
    from ..fsutil import atomic_write_text

    run_dir = Path(run_dir)
    out = Path(output) if output is not None else run_dir / "report.html"
    atomic_write_text(out, build_report(run_dir))
    return out
