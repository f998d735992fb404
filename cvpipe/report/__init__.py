"""The run report: one self-contained HTML file describing a run folder.

``cvpipe report RUN_DIR -o report.html`` and the built-in ``report`` lifecycle plugin (which
writes ``RUN_DIR/report.html`` at the end of every ``cvpipe run``) both call
:func:`write_report`. The page embeds every picture as a data: URI and its style sheet inline;
it loads nothing (its Content-Security-Policy forbids it), so it opens from disk, offline.

* :mod:`.collect`: what a run folder holds (records, step files), read without importing the
  code that wrote them.
* :mod:`.html`: escaping, tables, embedded pictures, the page shell.
* :mod:`.build`: the sections (overview, pipeline, one per step).
"""

from __future__ import annotations

from .build import build_report, render_report, write_report
from .collect import RunRecord, StepRecord, read_run

__all__ = ["build_report", "render_report", "write_report", "read_run", "RunRecord", "StepRecord"]
