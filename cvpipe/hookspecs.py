"""The cvpipe plugin contract.

A plugin is a Python module (or object) with functions marked ``@cvpipe.hookimpl`` whose names
are hooks below. Built-in plugins (``cvpipe/builtin/*``) use exactly the same hooks as third-party
ones, which ship a distribution with an entry point in the group ``cvpipe``::

    # pyproject.toml of the plugin distribution
    [project.entry-points.cvpipe]
    labelme = "cvpipe_labelme"

There are two kinds of hooks:

* **Registration hooks** (``cvpipe_register_*``) are called once per process, when the registry
  is first needed. Each receives a ``register`` function and calls it once per name it provides.
  Names are global per family: two plugins registering the same name is an error naming both.
  Registered *factories* declare their settings as keyword arguments with type hints and
  defaults; cvpipe validates user settings against that signature before anything runs
  (:func:`cvpipe.params.bind`) and a factory raises :class:`cvpipe.errors.ConfigError` naming
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

import pluggy

hookspec = pluggy.HookspecMarker("cvpipe")
hookimpl = pluggy.HookimplMarker("cvpipe")

# --------------------------------------------------------------------------------------------
# Registration hooks
# --------------------------------------------------------------------------------------------


@hookspec
def cvpipe_register_formats(register):
    """Register dataset formats (readers, writers and detection of a format on disk).

    Call ``register(name, *, reader=None, writer=None, detect=None, description="",
    read_predictions=None)`` once per format. A format needs a reader, a writer or both:

    * ``reader(path: Path, **options) -> cvpipe.data.Dataset`` reads the dataset at ``path``
      (a file or folder, see the format's docs). Options every reader accepts:
      ``images_dir: Path | None`` (where image files are, overriding the format's layout) and
      ``splits: list[str] | None`` (the splits to read; None reads all). Further keyword-only
      options are the format's own and are validated against the reader's signature. Boxes come
      back as absolute pixel xyxy; problems raise :class:`cvpipe.errors.InputError` naming the
      file and line. A reader may also accept ``problems: list[Problem] | None``: given a list,
      it appends every problem there, skips the bad items and returns the rest (``validate``
      and ``convert --skip-invalid`` use it); None raises one InputError listing them all.
      Checks common to all formats (missing images, sizes, bad boxes, duplicates) are run by
      :func:`cvpipe.formats.check_dataset`; the reader tells it where each sample and box came
      from with ``Sample.origin`` / ``Sample.box_origins`` (:class:`cvpipe.data.Origin`: file,
      line, field), kept beside the data (writers never see them).
    * ``writer(dataset: Dataset, dst: Path, **options) -> dict`` writes ``dataset`` into the
      folder or file ``dst`` and returns a JSON-ready report (at least ``images`` and ``boxes``
      written and ``skipped``: ``{reason: count}``). Option every writer accepts:
      ``images: "copy" | "link" | "none"``. Writers never write outside ``dst`` and leave
      ``dst`` whole or untouched (write to a temporary sibling, then rename).
    * ``detect(path: Path) -> bool`` tells, cheaply, whether ``path`` holds this format; used
      when the user gives no ``--from``.
    * ``read_predictions(path: Path, reference: Dataset, *, problems=None) -> Dataset``
      (optional) reads detections in this format for ``cvpipe evaluate --dt``: boxes with
      ``scores``, matched to the ground truth ``reference``'s images and categories. Without it,
      ``evaluate`` reads detections with ``reader`` (every box must then carry a score).

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


@hookspec
def cvpipe_register_transforms(register):
    """Register box-aware image transforms usable by name in pipeline YAML.

    Call ``register(name, factory, *, description="")``. ``factory(**params)`` returns an
    albumentations transform (``albumentations.BasicTransform`` or a composition such as
    ``OneOf``), so it composes with every albumentations transform and receives
    ``image`` (H, W, C uint8 numpy), ``bboxes`` (absolute pixel xyxy, the ``pascal_voc`` format)
    and the per-box label fields. Every albumentations transform is registered by cvpipe under its
    own class name (except the few needing inputs a box pipeline lacks, listed with the reason in
    ``cvpipe.builtin.augment.NOT_REGISTERED``), as are the compositions ``OneOf``, ``SomeOf``,
    ``Sequential`` and ``RandomOrder``; plugin names must not clash with them. A factory raising
    :class:`cvpipe.errors.ConfigError` names the parameter in ``field`` (``"p"``); cvpipe
    prefixes the list position and name (``transforms[2].MyBlur.p``).

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


@hookspec
def cvpipe_register_models(register):
    """Register detection models, buildable by name from pipeline YAML.

    Call ``register(name, factory, *, description="")``. ``factory(num_classes: int, **params)``
    returns a ``torch.nn.Module`` following torchvision's detection protocol: in training mode
    ``model(images, targets) -> dict[str, Tensor]`` of losses, where ``images`` is a list of
    float ``(3, H, W)`` tensors and each target holds ``boxes`` ``(N, 4)`` absolute xyxy float
    and ``labels`` ``(N,)`` int64 (0-based class indices; a model that reserves 0 for background
    shifts them itself); in eval mode ``model(images) -> list[dict]`` with ``boxes`` (xyxy),
    ``scores`` and ``labels`` per image, in the input images' pixel coordinates. ``num_classes``
    counts object classes only (no background). Weights load only from local files. A model
    with an integer attribute ``image_size`` has its images resized (stretched) to that square by
    the engine's loaders before the call, boxes mapped back after (it still accepts any size).

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


@hookspec
def cvpipe_register_postprocessors(register):
    """Register postprocessors: decoders, NMS variants and box fusion, composable in YAML.

    Call ``register(name, factory, *, description="")``. ``factory(**params)`` returns a
    callable. A *decoder* turns raw model head outputs (batched tensors) into detections; every
    other postprocessor maps detections to detections. Detections are a list with one dict per
    image: ``boxes`` ``(N, 4)`` float xyxy, ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64, as
    torchvision detectors return them. Postprocessors work on any device. A decoder's callable
    sets ``is_decoder = True``, so that chains (``cvpipe.builtin.postprocess.build_postprocess``)
    can check it comes first.

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


@hookspec
def cvpipe_register_metrics(register):
    """Register evaluation metrics.

    Call ``register(name, factory, *, description="")``. ``factory(**params)`` returns an object
    with ``compute(gt: Dataset, dt: Dataset) -> dict`` where ``dt`` holds detections (samples
    with ``scores``) matched to ``gt`` by image path, and the result is JSON-ready: summary
    numbers (``{"AP": ..., "AP50": ...}`` or ``{"mAP": ..., "per_class": {...}}``).

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


@hookspec
def cvpipe_register_steps(register):
    """Register pipeline step kinds (``read``, ``convert``, ``train``, ...).

    Call ``register(name, factory, *, description="")``. ``factory(**settings)`` is called with
    the step's validated YAML settings and returns a step object with
    ``run(context) -> dict``; the returned dict is the step's JSON-ready result, recorded in the
    run directory. The step reads what earlier steps produced from ``context`` (see
    :mod:`cvpipe.pipeline`) and stores what it produces there under the names its settings give.

    The factory must be cheap (no I/O, no work: every step of a pipeline is built when the file is
    validated, before anything runs) and raises :class:`cvpipe.errors.ConfigError` for bad values
    with ``field`` relative to the step's settings (the runner adds the YAML path and line). The
    step object declares ``inputs`` and ``outputs``: ``dict[str, str]`` of setting name -> context
    name it reads / produces; the runner checks every input is produced by an earlier step.
    Runner-level settings ``name``, ``when`` and ``unless`` never reach the factory.

    Args:
        register: the registration function described above.

    Returns:
        None. Implementations call ``register`` instead of returning values.
    """


# --------------------------------------------------------------------------------------------
# Direct conversion (one answer wanted: the first plugin that converts wins)
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def cvpipe_convert(src, dst, src_format, dst_format, options):
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
def cvpipe_on_pipeline_start(pipeline, run_dir, config):
    """Called once before the first step of a pipeline runs.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory (outputs, logs, checkpoints).
        config: the resolved pipeline as a plain dict (what ``--dry-run`` prints).

    Returns:
        None (ignored).
    """


@hookspec
def cvpipe_on_step_start(pipeline, run_dir, step, kind, settings):
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
def cvpipe_on_step_end(pipeline, run_dir, step, kind, result, seconds):
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
def cvpipe_on_epoch_end(run_dir, step, epoch, metrics):
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
def cvpipe_on_pipeline_end(pipeline, run_dir, results, error):
    """Called once when a pipeline ends, successfully or not.

    Args:
        pipeline: the pipeline's name.
        run_dir: ``pathlib.Path`` of the run directory.
        results: ``dict`` of step name to result for the steps that finished.
        error: the exception that stopped the pipeline, or None on success.

    Returns:
        None (ignored).
    """
