"""The types the plugin contract speaks: one registrar per hook family, and the protocols of the
objects plugins provide.

Each registration hook ``cvpipe_register_<family>(register)`` of :mod:`cvpipe.hookspecs`
receives one registrar of the class below whose :attr:`Registrar.family` is ``<family>``::

    @cvpipe.hookimpl
    def cvpipe_register_formats(register: FormatRegistrar) -> None:
        register.add_format("toy", reader=read_toy, writer=write_toy, detect=detect_toy)

:data:`REGISTRARS` lists the registrar classes once; the hook families (:data:`FAMILIES`), the
registry's families, ``cvpipe plugins`` and the skeletons are derived from it.

Registrars are also callable with the signature of cvpipe's first contract, the *legacy form*
(``register("toy", reader=...)``, ``register("nms", NMS, description=...)``), so plugins written
for it keep working; new code calls the typed ``add_*`` methods.

Nothing heavy is imported here: the data model is named under ``TYPE_CHECKING`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from .errors import PluginError

if TYPE_CHECKING:
    from .data import Dataset
    from .errors import Problem

__all__ = [
    "Reader",
    "Writer",
    "Detect",
    "PredictionsReader",
    "Factory",
    "Step",
    "Metric",
    "Postprocessor",
    "Decoder",
    "Executor",
    "Sharding",
    "FormatSpec",
    "Entry",
    "Registrar",
    "FormatRegistrar",
    "TransformRegistrar",
    "ModelRegistrar",
    "PostprocessorRegistrar",
    "MetricRegistrar",
    "StepRegistrar",
    "ExecutorRegistrar",
    "REGISTRARS",
    "FAMILIES",
    "registrar_class",
]

# --------------------------------------------------------------------------------------------
# Callables a format provides
# --------------------------------------------------------------------------------------------

#: ``reader(path, *, images_dir=None, splits=None, [problems=None,] **own_options) -> Dataset``;
#: see :meth:`FormatRegistrar.add_format`.
Reader = Callable[..., "Dataset"]
#: ``writer(dataset, dst, *, images="copy", **own_options) -> dict`` (the JSON-ready report).
Writer = Callable[..., "dict[str, Any]"]
#: ``detect(path) -> bool``: cheaply, does ``path`` hold this format?
Detect = Callable[[Path], bool]
#: ``read_predictions(path, reference, *, problems=None) -> Dataset`` of detections.
PredictionsReader = Callable[..., "Dataset"]
#: ``factory(**settings) -> object``: the settings are keyword arguments with type hints and
#: defaults, validated by :func:`cvpipe.settings.bind` before the call.
Factory = Callable[..., Any]

# --------------------------------------------------------------------------------------------
# Protocols of the objects factories return
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Step(Protocol):
    """A pipeline step, as a step factory returns it.

    ``inputs`` and ``outputs`` map a setting name to the context name the step reads /
    produces (``{"dataset": "train"}``); the runner checks, before anything runs, that every
    input is produced by an earlier step. ``run(context)`` does the work: it reads its inputs
    from ``context`` (a :class:`cvpipe.pipeline.Context`, a mapping of names to objects), stores
    its outputs there, and returns its JSON-ready result (recorded in the run directory and
    passed to ``cvpipe_on_step_end``). Bad input raises :class:`cvpipe.errors.InputError`,
    a failed job :class:`cvpipe.errors.JobError`.
    """

    inputs: Mapping[str, str]
    outputs: Mapping[str, str]

    def run(self, context: Any) -> dict[str, Any]:
        """Run the step on ``context``; return its JSON-ready result."""
        ...


@runtime_checkable
class Metric(Protocol):
    """An evaluation metric, as a metric factory returns it.

    ``compute(gt, dt)`` compares detections ``dt`` (a Dataset whose samples carry ``scores``,
    matched to ``gt``'s samples by image path; boxes absolute pixel xyxy, labels 0-based
    indices into the shared categories) with the ground truth ``gt`` and returns JSON-ready
    summary numbers: ``{"AP": ..., "AP50": ...}`` or ``{"mAP": ..., "per_class": {...}}``.
    """

    def compute(self, gt: "Dataset", dt: "Dataset") -> dict[str, Any]:
        """Score ``dt`` against ``gt``; return JSON-ready summary numbers."""
        ...


@runtime_checkable
class Postprocessor(Protocol):
    """A postprocessor, as a postprocessor factory returns it: a callable on detections.

    Detections are a list with one dict per image: ``boxes`` ``(N, 4)`` float tensor in absolute
    pixel xyxy, ``scores`` ``(N,)`` float, ``labels`` ``(N,)`` int64 (torchvision's detector
    output); the callable returns detections of the same form, on the same device. A
    :class:`Decoder` is the one kind that takes raw head outputs instead.
    """

    def __call__(self, detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Map detections (one dict per image) to detections."""
        ...


@runtime_checkable
class Decoder(Protocol):
    """A postprocessor that turns raw model head outputs (batched tensors) into detections.
    It sets ``is_decoder = True`` so that a chain of postprocessors can check it comes first."""

    is_decoder: bool

    def __call__(self, *outputs: Any) -> list[dict[str, Any]]:
        """Decode head outputs into detections (one dict per image)."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Where per-shard work runs, as an executor factory returns it (``--executor NAME``).

    ``map(fn, items)`` calls ``fn(item)`` for every item, anywhere (this process, other
    processes, other machines), and yields the results **in the order of** ``items``, as they
    are ready (streaming: a driver never needs every result at once). ``fn`` is a module-level
    function and items and results are picklable; ``fn`` may write files only into folders the
    driver gave it (a temporary sibling of the output the driver commits). ``close()`` releases
    what the executor holds (a cluster connection); it is called once, when the command ends.

    Optional: ``map_with_state(setup, fn, items, *, num_gpus, num_cpus)`` yielding
    ``fn(setup(), item)`` in order with ``setup()`` built once per worker (``predict``'s model;
    Ray: an actor pool). Without it cvpipe builds the state once per process through ``map``
    (:func:`cvpipe.execution.map_with_state`).
    """

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each of ``items``, in order."""
        ...

    def close(self) -> None:
        """Release the executor's resources."""
        ...


@runtime_checkable
class Sharding(Protocol):
    """A format's dataset as independent parts, for executors (``add_format(sharding=...)``).

    * ``plan(path, *, splits=None) -> dict``: cheaply (no full read), ``{"categories": [...],
      "meta": {...}, "parts": [...]}`` where each part is a small picklable description of
      one independently readable piece (a shard file);
    * ``read_part(path, part, *, images_dir=None, splits=None, problems=None) -> Dataset``:
      the samples of one part (problems as readers handle them);
    * ``rows_per_part``: how many samples the writer puts in one part;
    * ``write_part(samples, folder, index, *, images="copy", root=None) -> dict``: write one
      part (samples ``index * rows_per_part ...``) into the temporary ``folder``, return a
      picklable record of it;
    * ``commit(folder, records, categories, meta) -> dict``: finish ``folder`` (a manifest)
      from the records in part order; returns the writer's report (``images``, ``boxes``,
      ``skipped``). The driver then moves ``folder`` into place. A ``commit`` that takes a
      keyword ``dst`` gets that final path (for a writer whose files name it: YOLO's data.yaml).

    ``write_part`` and ``commit`` are both None for a format whose parts can only be read
    (its writer needs the whole dataset), ``plan`` and ``read_part`` both None for one whose
    parts can only be written; ``plan`` may take ``images_dir`` too, ``write_part`` the
    writer's own options (``keep_difficult``). ``parts`` may be any iterable: the driver walks
    it once, in order.
    """

    rows_per_part: int

    def plan(self, path: Path, *, splits: Sequence[str] | None = None) -> dict[str, Any]: ...

    def read_part(self, path: Path, part: Any, **options: Any) -> "Dataset": ...

    def write_part(self, samples: Sequence[Any], folder: Path, index: int, **options: Any) -> dict[str, Any]: ...

    def commit(self, folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str],
               meta: Mapping[str, Any]) -> dict[str, Any]: ...


# --------------------------------------------------------------------------------------------
# What registration produces
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatSpec:
    """What a format plugin registered: see :meth:`FormatRegistrar.add_format`."""

    name: str
    reader: Reader | None = None
    writer: Writer | None = None
    detect: Detect | None = None
    description: str = ""
    read_predictions: PredictionsReader | None = None
    sharding: Sharding | None = None


@dataclass(frozen=True)
class Entry:
    """One registered name: the object (factory or :class:`FormatSpec`) and its plugin."""

    family: str
    name: str
    obj: Any
    plugin: str
    description: str = ""

    @property
    def hook(self) -> str:
        """The registration hook this name came through (``cvpipe_register_formats``, ...)."""
        return registrar_class(self.family).hook

    @property
    def kind(self) -> str:
        """The singular of the family (``format``, ``step``, ...), as messages name it."""
        return registrar_class(self.family).kind


# --------------------------------------------------------------------------------------------
# Registrars
# --------------------------------------------------------------------------------------------


class _HookName:
    """``Registrar.hook``: the hook's name, read on the class or an instance alike."""

    def __get__(self, obj: object, owner: type[Registrar]) -> str:
        return f"cvpipe_register_{owner.family}"


class Registrar:
    """Base of the registrars: collects one plugin's names of one family.

    ``add`` receives each :class:`Entry` (the plugin manager stages them per plugin, then
    merges them, reporting names taken twice). Registration checks what is cheap to check
    (a non-empty ``str`` name, callables, a ``str`` description) and raises
    :class:`cvpipe.errors.PluginError` naming the plugin.
    """

    #: The hook family (``formats``, ...): the hook is ``cvpipe_register_<family>``.
    family: ClassVar[str]
    #: The singular, as messages name one entry (``format``, ...).
    kind: ClassVar[str]

    #: The name of the typed method (``add_format``, ...).
    method: ClassVar[str]
    #: The registration hook (``cvpipe_register_formats``, ...).
    hook = _HookName()

    def __init__(self, plugin: str, add: Callable[[Entry], None]) -> None:
        self.plugin = plugin
        self._add = add

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of plugin {self.plugin!r}>"

    def _fail(self, name: object, message: str) -> PluginError:
        return PluginError(f"plugin {self.plugin!r}: {self.kind} {name!r}: {message} (hook {self.hook})")

    def _check_name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"plugin {self.plugin!r} registered a {self.kind} with a bad name {name!r} "
                              f"(hook {self.hook})", expected="a non-empty string")
        return name

    def _check_callable(self, name: str, what: str, obj: object, *, optional: bool = False) -> None:
        if obj is None and optional:
            return
        if not callable(obj):
            raise self._fail(name, f"{what} is not callable (got {type(obj).__name__} {obj!r:.60})")

    def _check_description(self, name: str, description: object) -> str:
        if not isinstance(description, str):
            raise self._fail(name, f"description is not a string (got {type(description).__name__})")
        return description

    def _add_factory(self, name: str, factory: Factory, description: str) -> None:
        name = self._check_name(name)
        self._check_callable(name, "factory", factory)
        description = self._check_description(name, description)
        doc = description or (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
        self._add(Entry(self.family, name, factory, self.plugin, doc))

    def __call__(self, name: str, factory: Factory, *, description: str = "") -> None:
        """The legacy form: ``register(name, factory, *, description="")``, the same as the
        typed ``add_*`` method of this family."""
        self._add_factory(name, factory, description)


class FormatRegistrar(Registrar):
    """Registrar of ``cvpipe_register_formats``: dataset formats."""

    family = "formats"
    kind = "format"
    method = "add_format"

    def add_format(
        self,
        name: str,
        *,
        reader: Reader | None = None,
        writer: Writer | None = None,
        detect: Detect | None = None,
        read_predictions: PredictionsReader | None = None,
        sharding: Sharding | None = None,
        description: str = "",
    ) -> None:
        """Register the dataset format ``name`` (``--from``/``--to`` on the command line). It
        needs a reader, a writer or both; each given callable must be callable.

        * ``reader(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
          problems: list[Problem] | None = None, **own) -> Dataset`` reads the dataset at
          ``path`` (a file or folder, as the format's docs say). ``images_dir`` overrides where
          image files are, ``splits`` selects splits (None reads all); further keyword-only
          options are the format's own, validated against the reader's signature. Boxes come
          back as absolute pixel xyxy (``(N, 4)`` float), labels as 0-based indices into
          ``Dataset.categories``. Problems raise :class:`cvpipe.errors.InputError` naming the
          file and line. A reader accepting ``problems``, given a list, appends every problem
          there, skips the bad items and returns the rest (``validate`` and ``convert
          --skip-invalid`` use it); given None it raises one InputError listing them all.
          Checks common to all formats (missing images, sizes, bad boxes, duplicates) are run by
          cvpipe after reading (:func:`cvpipe.formats.check_dataset`); the reader tells them where
          each sample and box came from with ``Sample.origin`` / ``Sample.box_origins``
          (:class:`cvpipe.data.Origin`: file, line, field), kept beside the data, never in
          ``extra`` (writers never see them).
        * ``writer(dataset: Dataset, dst: Path, *, images: "copy" | "link" | "none" = "copy",
          **own) -> dict`` writes ``dataset`` into the folder or file ``dst`` and returns a
          JSON-ready report: at least ``images`` and ``boxes`` written and ``skipped``
          (``{reason: count}``). Writers never write outside ``dst`` and leave ``dst`` whole or
          untouched (write to a temporary sibling, then rename: :mod:`cvpipe.fsutil`).
        * ``detect(path: Path) -> bool`` tells, cheaply (no full parse), whether ``path`` holds
          this format; used when the user gives no ``--from``. It never raises for a path of
          another format.
        * ``read_predictions(path: Path, reference: Dataset, *, problems: list[Problem] | None =
          None) -> Dataset`` reads detections in this format for ``cvpipe evaluate``: samples
          with ``scores`` (``(N,)`` float), matched to ``reference``'s images (by image path or
          the format's image ids) and labelled with ``reference``'s categories; problems are
          handled as the reader's are.

        ``description`` is the one-line summary ``cvpipe plugins`` shows. ``sharding``, optional,
        is a :class:`Sharding`: the format's datasets as independent parts, so that ``--executor``
        reads, checks and writes them part by part.

        Raises:
            PluginError: naming the plugin, for a bad name, a non-callable, or neither reader
                nor writer.
        """
        name = self._check_name(name)
        if reader is None and writer is None:
            raise self._fail(name, "neither reader nor writer given")
        for what, fn in (("reader", reader), ("writer", writer), ("detect", detect),
                         ("read_predictions", read_predictions)):
            self._check_callable(name, what, fn, optional=True)
        description = self._check_description(name, description)
        if sharding is not None:
            missing = []
            sides = 0
            for pair in (("plan", "read_part"), ("write_part", "commit")):
                given = [getattr(sharding, m, None) for m in pair]
                if all(callable(f) for f in given):
                    sides += 1
                elif not all(f is None for f in given):
                    missing.append(" and ".join(pair) + " (both, or both None)")
            if not sides and not missing:
                missing.append("plan and read_part, or write_part and commit")
            if missing:
                raise self._fail(name, f"sharding lacks {', '.join(missing)}")
        spec = FormatSpec(name, reader, writer, detect, description, read_predictions, sharding)
        self._add(Entry(self.family, name, spec, self.plugin, description))

    def __call__(  # type: ignore[override]
        self,
        name: str,
        *,
        reader: Reader | None = None,
        writer: Writer | None = None,
        detect: Detect | None = None,
        read_predictions: PredictionsReader | None = None,
        description: str = "",
    ) -> None:
        """The legacy form: ``register(name, *, reader=, writer=, detect=, read_predictions=,
        description=)``, the same as :meth:`add_format`."""
        self.add_format(name, reader=reader, writer=writer, detect=detect,
                        read_predictions=read_predictions, description=description)


class TransformRegistrar(Registrar):
    """Registrar of ``cvpipe_register_transforms``: box-aware image transforms."""

    family = "transforms"
    kind = "transform"
    method = "add_transform"

    def add_transform(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the transform ``name``, usable in a pipeline's ``transforms`` list.

        ``factory(**params)`` returns an albumentations transform (``BasicTransform`` or a
        composition such as ``OneOf``), so it composes with every albumentations transform. It
        receives ``image`` (``(H, W, C)`` uint8 numpy), ``bboxes`` (absolute pixel xyxy, the
        ``pascal_voc`` format) and the per-box label fields. Every albumentations transform is
        registered by cvpipe under its own class name, as are the compositions ``OneOf``,
        ``SomeOf``, ``Sequential`` and ``RandomOrder``: plugin names must not clash with them.
        A factory raises :class:`cvpipe.errors.ConfigError` with ``field`` naming the parameter
        (``"p"``); cvpipe prefixes the list position and name (``transforms[2].MyBlur.p``).
        ``description`` defaults to the first line of the factory's docstring.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


class ModelRegistrar(Registrar):
    """Registrar of ``cvpipe_register_models``: detection models."""

    family = "models"
    kind = "model"
    method = "add_model"

    def add_model(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the model ``name``, buildable from pipeline YAML.

        ``factory(num_classes: int, **params)`` returns a ``torch.nn.Module`` following
        torchvision's detection protocol. In training mode ``model(images, targets) ->
        dict[str, Tensor]`` of losses, where ``images`` is a list of float ``(3, H, W)`` tensors
        and each target holds ``boxes`` ``(N, 4)`` absolute xyxy float and ``labels`` ``(N,)``
        int64 (0-based class indices; a model reserving 0 for background shifts them itself).
        In eval mode ``model(images) -> list[dict]`` with ``boxes`` (xyxy), ``scores`` and
        ``labels`` per image, in the input images' pixel coordinates. ``num_classes`` counts
        object classes only (no background). Weights load only from local files. A model with
        an integer attribute ``image_size`` has its images resized (stretched) to that square by
        the engine's loaders before the call, boxes mapped back after.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


class PostprocessorRegistrar(Registrar):
    """Registrar of ``cvpipe_register_postprocessors``: decoders, NMS variants, box fusion."""

    family = "postprocessors"
    kind = "postprocessor"
    method = "add_postprocessor"

    def add_postprocessor(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the postprocessor ``name``, composable in a pipeline's ``postprocess`` list.

        ``factory(**params)`` returns a :class:`Postprocessor`: a callable mapping detections
        (one dict per image: ``boxes`` ``(N, 4)`` float xyxy, ``scores`` ``(N,)``, ``labels``
        ``(N,)`` int64, as torchvision detectors return them) to detections, on any device; or
        a :class:`Decoder`, turning raw model head outputs into detections, which sets
        ``is_decoder = True`` so that a chain can check it comes first.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


class MetricRegistrar(Registrar):
    """Registrar of ``cvpipe_register_metrics``: evaluation metrics."""

    family = "metrics"
    kind = "metric"
    method = "add_metric"

    def add_metric(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the metric ``name`` (``cvpipe evaluate --metric NAME``, the ``evaluate``
        step). ``factory(**params)`` returns a :class:`Metric`: ``compute(gt, dt) -> dict``
        where ``dt`` holds detections (samples with ``scores``) matched to ``gt`` by image path
        and the result is JSON-ready summary numbers.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


class StepRegistrar(Registrar):
    """Registrar of ``cvpipe_register_steps``: pipeline step kinds."""

    family = "steps"
    kind = "step"
    method = "add_step"

    def add_step(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the step kind ``name`` (``read``, ``convert``, ``train``, ...).

        ``factory(**settings)`` is called with the step's validated YAML settings and returns a
        :class:`Step`. The factory must be cheap (no I/O, no work: every step of a pipeline is
        built when the file is validated, before anything runs) and raises
        :class:`cvpipe.errors.ConfigError` for bad values with ``field`` relative to the step's
        settings (the runner adds the YAML path and line). Runner-level settings ``name``,
        ``when`` and ``unless`` never reach the factory.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


class ExecutorRegistrar(Registrar):
    """Registrar of ``cvpipe_register_executors``: where per-shard work runs."""

    family = "executors"
    kind = "executor"
    method = "add_executor"

    def add_executor(self, name: str, factory: Factory, *, description: str = "") -> None:
        """Register the executor ``name`` (``cvpipe convert|validate|evaluate|predict --executor NAME``).

        ``factory(address: str | None = None, **settings)`` returns an :class:`Executor`
        (``map(fn, items)`` yielding results in order, ``close()``); ``address`` is the
        user's ``--address`` (a cluster to join), None for the executor's default. cvpipe's
        built-in ``local`` runs everything in this process.

        Raises:
            PluginError: naming the plugin, for a bad name or a factory that is not callable.
        """
        self._add_factory(name, factory, description)


#: The registrar classes, one per hook family, in the order tables list the families. This is
#: the one list of families: everything else derives from it.
REGISTRARS: tuple[type[Registrar], ...] = (
    FormatRegistrar,
    TransformRegistrar,
    ModelRegistrar,
    PostprocessorRegistrar,
    MetricRegistrar,
    StepRegistrar,
    ExecutorRegistrar,
)

#: Hook families, in the order tables list them; each has a ``cvpipe_register_<family>`` hook.
FAMILIES: tuple[str, ...] = tuple(r.family for r in REGISTRARS)

_BY_FAMILY: dict[str, type[Registrar]] = {r.family: r for r in REGISTRARS}


def registrar_class(family: str) -> type[Registrar]:
    """The registrar class of ``family``; KeyError for an unknown family."""
    return _BY_FAMILY[family]
