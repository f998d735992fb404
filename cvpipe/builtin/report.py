"""Built-in report plugin: every ``cvpipe run`` ends by writing ``RUN_DIR/report.html``.

It only implements ``cvpipe_on_pipeline_end`` (the runner knows nothing about reports; a
third-party plugin could do the same). The report is written after failed runs too, showing
the steps that finished and the error. A report that cannot be written (disk full, an
unreadable record) is a warning on stderr, never the run's failure: everything the report
shows is in the run folder anyway, and ``cvpipe report RUN_DIR`` writes it again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import CvpipeError
from ..hookspecs import hookimpl

#: The report's file name in the run folder.
REPORT_NAME = "report.html"


@hookimpl
def cvpipe_on_pipeline_end(run_dir) -> None:
    from ..report import write_report

    run_dir = Path(run_dir)
    if run_dir.name.startswith(".rank"):  # a non-logging DDP process: rank 0 writes the report
        return
    try:
        write_report(run_dir, run_dir / REPORT_NAME)
    except (OSError, CvpipeError) as exc:
        print(f"warning: {run_dir / REPORT_NAME} not written: {exc}", file=sys.stderr)
