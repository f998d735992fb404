"""The cvpipe plugin contract.

A plugin is a Python module (or object) with functions marked ``@cvpipe.hookimpl`` whose names
are hooks below. Built-in plugins (``cvpipe/builtin/*``) use exactly the same hooks as third-party
ones, which ship a distribution with an entry point in the group ``cvpipe``::

    # pyproject.toml of the plugin distribution
    [project.entry-points.cvpipe]
    labelme = "cvpipe_labelme"

There are two kinds of hooks:

* **Registration hooks** (``cvpipe_register_*``) are called once per process, when the registry
  is first needed. Each receives a typed *registrar* (:mod:`cvpipe.contract`), ``register``, and
  calls its ``add_*`` method once per name it provides (``register.add_format(...)``); what the
  registered callables receive and return is documented on those methods and on the protocols
  :class:`~cvpipe.contract.Step`, :class:`~cvpipe.contract.Metric` and
  :class:`~cvpipe.contract.Postprocessor`. Calling the registrar itself (``register(name, ...)``)
  is the legacy form, kept working. Names are global per family: two plugins registering the
  same name is an error naming both.
  Registered *factories* declare their settings as keyword arguments with type hints and
  defaults; cvpipe validates user settings against that signature before anything runs
  (:func:`cvpipe.settings.bind`) and a factory raises :class:`cvpipe.errors.ConfigError` naming
  the parameter for values out of range.
* **Lifecycle hooks** (``cvpipe_on_*``) are called on every plugin that implements them, in
  order, while a pipeline runs (loggers, trackers, notifiers). Their return values are ignored.
  An implementation may accept any subset of the documented arguments (pluggy passes only the
  ones it names), so new arguments can be added without breaking plugins.

Modules implementing hooks must be cheap to import: import torch, albumentations and the like
inside the functions that use them.

The contract's version is :data:`cvpipe.HOOK_API_VERSION`; a plugin module may set
``CVPIPE_HOOK_API_VERSION`` to the version it was written for, and a plugin targeting another
major version is refused with a message naming it and both versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # the contract's types, named without importing anything at run time
    from pathlib import Path

    from .contract import (
        FormatRegistrar,
        MetricRegistrar,
        ModelRegistrar,
        PostprocessorRegistrar,
        ExecutorRegistrar,
        StepRegistrar,
        TransformRegistrar,
    )

hookspec = pluggy.HookspecMarker("cvpipe")
hookimpl = pluggy.HookimplMarker("cvpipe")

# --------------------------------------------------------------------------------------------
# Registration hooks
# --------------------------------------------------------------------------------------------


@hookspec
def cvpipe_register_formats(register: FormatRegistrar) -> None:
    """Register dataset formats: readers, writers, detection of a format on disk, and readers
    of detection files for ``cvpipe evaluate``.

    Call ``register.add_format(name, *, reader=None, writer=None, detect=None,
    read_predictions=None, description="")`` once per format; a format needs a reader, a writer
    or both. :meth:`cvpipe.contract.FormatRegistrar.add_format` documents what each callable
    receives and returns (boxes absolute pixel xyxy, problems as InputErrors naming the file).

    Args:
        register: the :class:`~cvpipe.contract.FormatRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_format`` instead of returning values.
    """


@hookspec
def cvpipe_register_transforms(register: TransformRegistrar) -> None:
    """Register box-aware image transforms usable by name in pipeline YAML.

    Call ``register.add_transform(name, factory, *, description="")``; ``factory(**params)``
    returns an albumentations transform receiving ``image`` (H, W, C uint8) and ``bboxes``
    (absolute pixel xyxy). :meth:`cvpipe.contract.TransformRegistrar.add_transform` documents
    the contract; the names cvpipe registers itself are listed by ``cvpipe plugins``.

    Args:
        register: the :class:`~cvpipe.contract.TransformRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_transform`` instead of returning values.
    """


@hookspec
def cvpipe_register_models(register: ModelRegistrar) -> None:
    """Register detection models, buildable by name from pipeline YAML.

    Call ``register.add_model(name, factory, *, description="")``; ``factory(num_classes,
    **params)`` returns a ``torch.nn.Module`` following torchvision's detection protocol, as
    :meth:`cvpipe.contract.ModelRegistrar.add_model` documents.

    Args:
        register: the :class:`~cvpipe.contract.ModelRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_model`` instead of returning values.
    """


@hookspec
def cvpipe_register_postprocessors(register: PostprocessorRegistrar) -> None:
    """Register postprocessors: decoders, NMS variants and box fusion, composable in YAML.

    Call ``register.add_postprocessor(name, factory, *, description="")``;
    ``factory(**params)`` returns a :class:`~cvpipe.contract.Postprocessor` (detections to
    detections) or a :class:`~cvpipe.contract.Decoder` (raw head outputs to detections), as
    :meth:`cvpipe.contract.PostprocessorRegistrar.add_postprocessor` documents.

    Args:
        register: the :class:`~cvpipe.contract.PostprocessorRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_postprocessor`` instead of returning values.
    """


@hookspec
def cvpipe_register_metrics(register: MetricRegistrar) -> None:
    """Register evaluation metrics.

    Call ``register.add_metric(name, factory, *, description="")``; ``factory(**params)``
    returns a :class:`~cvpipe.contract.Metric` (``compute(gt, dt) -> dict``), as
    :meth:`cvpipe.contract.MetricRegistrar.add_metric` documents.

    Args:
        register: the :class:`~cvpipe.contract.MetricRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_metric`` instead of returning values.
    """


@hookspec
def cvpipe_register_steps(register: StepRegistrar) -> None:
    """Register pipeline step kinds (``read``, ``convert``, ``train``, ...).

    Call ``register.add_step(name, factory, *, description="")``; ``factory(**settings)`` is
    called with the step's validated YAML settings and returns a :class:`~cvpipe.contract.Step`
    (``inputs``, ``outputs``, ``run(context) -> dict``), as
    :meth:`cvpipe.contract.StepRegistrar.add_step` documents. The step reads what earlier steps
    produced from ``context`` (see :mod:`cvpipe.pipeline`) and stores what it produces there.

    Args:
        register: the :class:`~cvpipe.contract.StepRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_step`` instead of returning values.
    """


@hookspec
def cvpipe_register_executors(register: ExecutorRegistrar) -> None:
    """Register executors: where ``convert``/``validate``/``evaluate``/``predict`` run their per-shard work
    (``--executor NAME [--address ADDR]``).

    Call ``register.add_executor(name, factory, *, description="")``; ``factory(address=None)``
    returns a :class:`~cvpipe.contract.Executor` (``map(fn, items)`` yielding results in
    order, ``close()``), as :meth:`cvpipe.contract.ExecutorRegistrar.add_executor` documents.

    Args:
        register: the :class:`~cvpipe.contract.ExecutorRegistrar` of the calling plugin.

    Returns:
        None. Implementations call ``register.add_executor`` instead of returning values.
    """


# Hooks answered by one plugin (``firstresult=True``) follow here, e.g. ``cvpipe_convert``.


# --------------------------------------------------------------------------------------------
# Direct conversion (one answer wanted: the first plugin that converts wins)
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def cvpipe_convert(src: Path, dst: Path, src_format: str, dst_format: str,
                   options: dict[str, Any]) -> dict[str, Any] | None:
    """Offer a direct (faster) conversion of one dataset from ``src_format`` to ``dst_format``.

    ``cvpipe convert`` (:func:`cvpipe.formats.convert_dataset`) asks this hook first, once the
    formats are known, the options checked and ``dst`` found free; the first implementation that
    returns a report wins. Returning None declines (without having written anything): the general
    path (read, :func:`cvpipe.formats.check_dataset`, order the categories, write) then runs.
    A direct converter must give what the general path gives: the same files, the same report,
    and for bad input the same :class:`cvpipe.errors.InputError` (build it with
    :func:`cvpipe.formats.refuse_conversion`); decline whenever it cannot guarantee that.
    Built-in formats use this hook like any plugin (VOC -> YOLO, COCO -> YOLO).

    Args:
        src: ``pathlib.Path`` of the input dataset (file or folder).
        dst: ``pathlib.Path`` of the output folder: absent or empty; write it whole or not at
            all (:func:`cvpipe.fsutil.atomic_dir`).
        src_format: registered name of the input format (detected or given with ``--from``).
        dst_format: registered name of the output format (``--to``).
        options: dict of the conversion's options; decline when a key you do not know is set
            to a value other than its default: ``classes`` (``list[str] | None``: the output
            class order; a class the data uses that it lacks is an InputError), ``classes_file``
            (``str | None``, where ``classes`` came from, for messages), ``keep_difficult``
            (bool), ``images`` (``"copy" | "link" | "none"``), ``splits`` (``list[str] | None``),
            ``images_dir`` (``Path | None``), ``skip_invalid`` (bool: leave bad items out and
            count them instead of refusing), ``progress`` (bool: a progress bar on stderr is
            welcome).

    Returns:
        None to decline, else the report of the general path: ``{"images", "boxes",
        "skipped": {reason: n}, "files", ..., "problems": n}`` (the caller adds ``source``,
        ``dst``, ``from`` and ``to``). Keys of its own are kept (e.g. which converter ran).
    """


# --------------------------------------------------------------------------------------------
# Lifecycle hooks
# --------------------------------------------------------------------------------------------


@hookspec
def cvpipe_on_pipeline_start(pipeline: str, run_dir: Path, config: dict[str, Any]) -> None:
    """Called once before the first step of a pipeline runs.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory (outputs, logs, checkpoints).
        config: the resolved pipeline as a plain dict (what ``--dry-run`` prints).

    Returns:
        None (ignored).
    """


@hookspec
def cvpipe_on_step_start(pipeline: str, run_dir: Path, step: str, kind: str, settings: dict[str, Any]) -> None:
    """Called before each step runs.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory.
        step: the step's name (its ``name`` setting, or ``<kind>`` / ``<kind>_<index>``).
        kind: the registered step kind (``read``, ``train``, ...).
        settings: the step's validated settings (a dict).

    Returns:
        None (ignored).
    """


@hookspec
def cvpipe_on_step_end(
    pipeline: str, run_dir: Path, step: str, kind: str, result: dict[str, Any], seconds: float
) -> None:
    """Called after each step finished successfully.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory.
        step: the step's name.
        kind: the registered step kind.
        result: the step's JSON-ready result dict.
        seconds: wall time the step took.

    Returns:
        None (ignored).
    """


@hookspec
def cvpipe_on_epoch_end(run_dir: Path, step: str, epoch: int, metrics: dict[str, float]) -> None:
    """Called by the training engine at the end of every epoch (on the logging process only
    when training is distributed).

    Args:
        run_dir: ``pathlib.Path`` of the run directory.
        step: the name of the training step.
        epoch: the epoch just finished, 1-based.
        metrics: ``dict[str, float]`` of that epoch's figures (``loss``, ``lr``, ``images_per_s``
            and, when validation ran, ``AP50``, ``AP`` ...).

    Returns:
        None (ignored).
    """


@hookspec
def cvpipe_on_pipeline_end(
    pipeline: str, run_dir: Path, results: dict[str, Any], error: BaseException | None
) -> None:
    """Called once when a pipeline ends, successfully or not.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory.
        results: ``dict`` of step name to result for the steps that finished.
        error: the exception that stopped the pipeline, or None on success.

    Returns:
        None (ignored).
    """
