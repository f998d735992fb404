"""TensorBoard logger: a lifecycle-hook plugin writing each epoch's figures as scalars.

Enable it for a training step in the pipeline YAML::

    - train:
        loggers: [tensorboard]

Events go to ``RUN_DIR/tensorboard/<step>/`` (``tensorboard --logdir RUN_DIR/tensorboard``); every
number of the epoch's metrics (``loss``, ``cls_loss``, ``lr``, ``images_per_s``, ``AP50``, ...) is a
scalar tagged ``<step>/<name>`` at step = epoch. It only listens to the hooks
(``cvpipe_on_step_start`` sees the step's ``loggers`` setting, ``cvpipe_on_epoch_end`` writes,
``cvpipe_on_step_end`` closes), so under DDP only rank 0, which alone fires
``cvpipe_on_epoch_end``, writes. tensorboard is not a cvpipe dependency: when it is not
installed, a step asking for it prints one warning saying so and trains without it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from ..hookspecs import hookimpl

NAME = "tensorboard"

#: (run_dir, step) -> open writer (None until the first epoch ends)
_active: dict[tuple[str, str], Any] = {}


def available() -> bool:
    """Whether the tensorboard package is installed (checked without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


def _make_writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


#: how writers are made (tests substitute a recorder)
writer_factory: Callable[[Path], Any] = _make_writer


@hookimpl
def cvpipe_on_step_start(run_dir, step, kind, settings):
    loggers = (settings or {}).get("loggers") or []
    if NAME not in loggers:
        return
    if not available():
        print(f"warning: step {step!r}: the tensorboard logger needs the 'tensorboard' package, which is not "
              "installed (pip install tensorboard); training goes on without it (figures are in metrics.csv)",
              file=sys.stderr)
        return
    _active[(str(run_dir), step)] = None


@hookimpl
def cvpipe_on_epoch_end(run_dir, step, epoch, metrics):
    key = (str(run_dir), step)
    if key not in _active:
        return
    writer = _active[key]
    if writer is None:
        writer = _active[key] = writer_factory(Path(run_dir) / "tensorboard" / step)
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name != "epoch":
            writer.add_scalar(f"{step}/{name}", float(value), int(epoch))
    writer.flush()


def _close(key: tuple[str, str]) -> None:
    writer = _active.pop(key, None)
    if writer is not None:
        writer.close()


@hookimpl
def cvpipe_on_step_end(run_dir, step):
    _close((str(run_dir), step))


@hookimpl
def cvpipe_on_pipeline_end(run_dir):
    for key in [k for k in _active if k[0] == str(run_dir)]:
        _close(key)
