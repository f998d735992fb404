"""YAML pipelines: load -> validate (YAML path + line for every problem) -> run steps in order.

A pipeline file::

    name: voc_to_yolo                 # optional; default: the file's stem
    vars:                             # optional; used as ${vars.NAME}
      voc_root: null
    steps:                            # ordered; each item is {kind: {settings}}
      - read: {format: voc, path: "${vars.voc_root}", output: voc}
      - write: {dataset: voc, format: yolo, path: "${run_dir}/yolo"}

Every step's settings are checked against its registered factory (:func:`cvpipe.settings.bind`)
and the whole file is validated before anything runs; all problems are reported at once with
their YAML path and line (:class:`~cvpipe.errors.ConfigError`, exit code 2).

Runner-level step settings (taken out before the step's own settings are checked):

* ``name``: the step's name (default: its kind, or ``<kind>_<index>`` when a kind repeats); it
  names the step's folder in the run directory and is what ``--set NAME.key=value`` addresses.
* ``when`` / ``unless``: run the step only when the value is true / false (null, false, ``""``,
  0 and empty lists count as false). Typically ``unless: ${vars.voc_root}``.

Interpolation (strings anywhere in the file, ``vars`` included):

* ``${vars.NAME}`` (``${vars.NAME.key}`` reaches into a mapping), ``${env:NAME}``, ``${run_dir}``
  (the absolute run directory); ``${REF:-DEFAULT}`` uses DEFAULT (itself interpolated) when REF
  is undefined, null or empty; ``$${`` writes a literal ``${``.
* A string that is exactly one ``${...}`` takes the referenced value with its type; inside a
  longer string the value's text is substituted. Environment values are read as YAML scalars
  when they are the whole value (``EPOCHS=3`` gives the integer 3).

Overrides (``--set KEY=VALUE``, VALUE read as YAML: a scalar, or a flow list/mapping):
``steps.2.epochs`` (0-based step index, optionally followed by the kind), ``train.epochs`` (by
step name), ``vars.voc_root``, ``name``. They are applied before interpolation and validated
like the file; a problem in one names the ``--set`` it came from.

Relative paths: in Path-typed settings, a relative path written in the YAML file resolves
against the YAML file's folder; a relative path that comes from outside the file (a ``--set``
value or an ``${env:...}`` value, directly or through a var, as long as the string starts with it)
resolves against the current directory, as on any command line.

A run writes ``runs/<pipeline>/<timestamp>/`` (relative to the current directory; ``out`` /
``--out`` to choose): ``pipeline.yaml`` (the resolved pipeline), ``run.log``,
``steps/<index>_<name>.json`` (each step's result) and ``results.json`` (everything). Steps
write their files into ``<run dir>/<step name>/`` (:attr:`Context.step_dir`). ``resume`` /
``--resume`` re-runs the pipeline in an existing run directory (``--out``, or the latest under
``runs/<pipeline>/``) with ``ctx.resume = True``. The lifecycle hooks (``cvpipe_on_pipeline_start``,
``cvpipe_on_step_start``, ``cvpipe_on_step_end``, ``cvpipe_on_pipeline_end``) fire through the
plugin manager. A step that raises stops the run with :class:`StepFailed` naming it (exit code
1, or 2 when it was bad input data or a bad setting found while running).

Python API::

    pipe = load_pipeline("pipelines/voc_to_yolo.yaml", ["vars.voc_root=/data/VOC2007"])
    print(pipe.describe())            # the plan
    results = pipe.run(out="runs/x")  # == results.json

Modules: :mod:`.source` (YAML with lines), :mod:`.resolve` (interpolation, overrides),
:mod:`.loader` (validation), :mod:`.rundir` (run directories), :mod:`.runner` (runs),
:mod:`.context`.
"""

from __future__ import annotations

from .context import Context
from .loader import RUNNER_KEYS, TOP_LEVEL_KEYS, load_pipeline
from .rundir import choose_run_dir, find_latest_run
from .runner import Pipeline, PlannedStep, StepFailed
from .source import dotted, load_yaml_with_lines

__all__ = [
    "Context", "Pipeline", "PlannedStep", "StepFailed", "load_pipeline", "find_latest_run", "choose_run_dir",
    "load_yaml_with_lines", "dotted", "TOP_LEVEL_KEYS", "RUNNER_KEYS",
]
