"""The ``train`` and ``predict`` pipeline steps.

``train`` reads a training dataset (and optionally a validation dataset) from the context, trains
a registered model with :func:`cvpipe.engine.train.fit` and stores a
:class:`cvpipe.engine.predict.ModelBundle` under ``output`` (default ``model``): the model with
the best validation weights (the last weights without validation), its name and settings, the
categories and the checkpoint it came from. Its folder in the run directory holds
``metrics.csv``, ``metrics.jsonl``, ``last.pt`` and ``best.pt``; ``cvpipe run --resume``
continues from ``last.pt``.

``predict`` runs a trained model on a dataset and stores the detections (a Dataset whose samples
have scores) for the ``evaluate`` step; it can also write them in a format and draw pictures.

torch is imported only when a step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import functools

from ..errors import ConfigError, JobError, Problem
from ..hookspecs import hookimpl
from ..settings import Lazy

if TYPE_CHECKING:
    from ..contract import StepRegistrar

__all__ = ["TrainStep", "PredictStep"]


def _dataset(ctx: Any, name: str):
    from ..data import Dataset

    obj = ctx[name]
    if not isinstance(obj, Dataset):
        raise JobError(f"{name!r} is not a dataset", value=type(obj).__name__, expected="a Dataset (from read, ...)")
    return obj


def _onto_categories(ds, categories: list[str]):
    """``ds`` relabelled onto ``categories`` (same names, another order or a subset), so a
    validation set read separately matches the training set's class indices."""
    import dataclasses

    import numpy as np

    missing = [c for c in ds.categories if c not in categories]
    if missing:
        raise JobError("the validation set has classes the training set lacks", value=missing,
                       expected="classes among: " + ", ".join(categories))
    lut = np.array([categories.index(c) for c in ds.categories], dtype=np.int64)
    samples = [dataclasses.replace(s, labels=lut[s.labels]) if len(s) else s for s in ds.samples]
    return dataclasses.replace(ds, categories=list(categories), samples=samples, meta=dict(ds.meta))


@functools.cache
def train_step_settings() -> type:
    """The ``train`` step's settings: :class:`cvpipe.engine.train.TrainSettings` (declared once,
    there) plus what only the step knows: the context names it reads and writes, the
    augmentations and the loggers."""
    from pydantic import Field

    from ..engine.train import TrainSettings
    from ..settings import Settings

    class _Flow(Settings):
        dataset: str = Field("train", description="context name of the training dataset")
        val: str | None = Field(None, description="context name of the validation dataset (null: no validation; "
                                "``best.pt`` is then the last epoch's weights)")
        output: str = Field("model", description="context name the trained model (a ModelBundle) is stored under")

    class TrainStepSettings(TrainSettings, _Flow):
        transforms: list[Any] | None = Field(None, description="training augmentations, a list of albumentations "
                                             "transforms by name")
        loggers: list[str] | None = Field(None, description="lifecycle loggers to enable for this step, e.g. "
                                          "``[tensorboard]``")

    TrainStepSettings.__module__ = __name__
    return TrainStepSettings


class TrainStep:
    """Train a detection model (see :mod:`cvpipe.engine.train`).

    Its settings are declared once, in :class:`cvpipe.engine.train.TrainSettings` (and
    :func:`train_step_settings`); :func:`cvpipe.settings.settings_doc` lists them.
    """

    Settings = Lazy(f"{__name__}:train_step_settings")

    def __init__(self, **settings: Any) -> None:
        from ..engine.train import TrainSettings
        from ..errors import closest
        from ..plugins import get_registry
        from ..settings import bind, build_settings, place

        s = build_settings(self.Settings.resolve(), settings)
        reg = get_registry()
        entry = reg.models.get(s.model, field="model")
        try:
            model_params = bind(entry.obj, s.model_params, where="model_params", skip=1)
        except ConfigError as exc:
            raise ConfigError.from_problems(place(exc.problems, "model_params")) from None
        self.augmenter = None
        if s.transforms:
            from .augment import build_transforms

            self.augmenter = build_transforms(s.transforms, where="transforms")
        problems: list[Problem] = []
        for i, name in enumerate(s.loggers or []):
            near = closest(name, ["tensorboard"])  # names are open to plugins; catch typos of ours
            if near and near != name:
                problems.append(Problem("unknown logger", field=f"loggers[{i}]", value=name,
                                        hint=f"did you mean {near!r}?"))
        if problems:
            raise ConfigError.from_problems(problems)
        reg.metrics.get(s.val_metric, field="val_metric")
        engine = {k: getattr(s, k) for k in TrainSettings.model_fields}
        self.config = TrainSettings.model_construct(**dict(engine, model_params=model_params))
        self.model_params = model_params
        self.loggers = list(s.loggers or [])
        self.dataset, self.val, self.output = s.dataset, s.val, s.output
        self.inputs = {"dataset": s.dataset, **({"val": s.val} if s.val else {})}
        self.outputs = {"output": s.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..engine.train import fit

        train = _dataset(ctx, self.dataset)
        val = _dataset(ctx, self.val) if self.val else None
        if val is not None and list(val.categories) != list(train.categories):
            val = _onto_categories(val, list(train.categories))

        def on_epoch_end(epoch: int, metrics: dict[str, Any]) -> None:
            ctx.hook.cvpipe_on_epoch_end(run_dir=ctx.run_dir, step=ctx.step_name, epoch=epoch, metrics=dict(metrics))

        ctx.log(f"training {self.config.model} on {len(train)} images"
                + (f", validating on {len(val)}" if val is not None else "") + f" for {self.config.epochs} epochs")
        from ..settings import resolve_path

        params = {k: (resolve_path(v, ctx.base_dir) if isinstance(v, Path) else v)
                  for k, v in self.config.model_params.items()}  # weights files: relative to the YAML
        config = self.config.model_copy(update={"model_params": params})
        res = fit(train, val, config, out_dir=ctx.step_dir, transform=self.augmenter, resume=ctx.resume,
                  on_epoch_end=on_epoch_end, log=ctx.log, progress=not ctx.quiet)
        ctx[self.output] = res.bundle
        last = res.history[-1] if res.history else {}
        rates = [h["images_per_s"] for h in res.history if "images_per_s" in h]
        cfg = self.config
        summary = f"{cfg.model}, {len(res.history)} epochs"
        if res.best is not None:
            summary += f", best {cfg.monitor} {res.best:.4f} at epoch {res.best_epoch}"
        if res.stopped_early:
            summary += f", stopped early (no better {cfg.monitor} in {cfg.patience} validations)"
        return {
            "summary": summary,
            "model": cfg.model,
            "epochs": len(res.history),
            "epochs_run": res.epochs_run,
            "stopped_early": res.stopped_early,
            "best": None if res.best is None else {cfg.monitor: res.best, "epoch": res.best_epoch},
            "last": last,
            "images_per_s": sum(rates) / len(rates) if rates else None,
            "checkpoint": None if res.checkpoint is None else str(res.checkpoint),
            "loggers": self.loggers,
        }


@functools.cache
def predict_step_settings() -> type:
    """The ``predict`` step's settings (``device`` is the one of
    :class:`cvpipe.engine.train.TrainSettings`)."""
    from pydantic import Field

    from ..engine.train import TrainSettings
    from ..execution import executor_settings

    class PredictStepSettings(executor_settings()):  # + executor, address
        dataset: str = Field(description="context name of the images to predict (a Dataset; its boxes are ignored)")
        model: str = Field("model", description="context name of the trained model (what ``train`` stored)")
        output: str = Field("detections", description="context name the detections are stored under")
        batch_size: int = Field(16, ge=1, description="images per batch")
        workers: int = Field(0, ge=0, description="data-loading worker processes")
        score_threshold: float = Field(0.0, ge=0, lt=1, description="drop detections scoring at or below this")
        format: str | None = Field(None, description="also write the detections in this format (``coco``: a "
                                   "results list, ``yolo``: ``labels/`` + ``classes.txt``, ``voc``) into the step "
                                   "folder's ``detections/``, as ``cvpipe predict --format`` writes them")
        draw: int = Field(0, ge=0, description="write this many images with their detections drawn "
                          "(``predictions.png``)")
        device: str = TrainSettings.model_fields["device"]

    PredictStepSettings.__module__ = __name__
    return PredictStepSettings


class PredictStep:
    """Run a trained model on a dataset; store (and optionally write and draw) the detections.
    Settings: :func:`predict_step_settings`."""

    Settings = Lazy(f"{__name__}:predict_step_settings")

    def __init__(self, **settings: Any) -> None:
        from ..settings import build_settings

        s = build_settings(self.Settings.resolve(), settings)
        if s.format is not None:
            from ..formats import get_format

            get_format(s.format, need="writer", field="format")
        self.dataset, self.model, self.output = s.dataset, s.model, s.output
        self.batch_size, self.workers, self.score_threshold = s.batch_size, s.workers, s.score_threshold
        self.format, self.draw, self.device = s.format, s.draw, s.device
        from ..execution import check_executor_settings

        check_executor_settings(s.executor, s.address)
        self.executor, self.address = s.executor, s.address
        self.inputs = {"dataset": s.dataset, "model": s.model}
        self.outputs = {"output": s.output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..engine.distributed import resolve_device
        from ..engine.predict import ModelBundle, filter_scores, predict_dataset

        ds = _dataset(ctx, self.dataset)
        bundle = ctx[self.model]
        if not isinstance(bundle, ModelBundle):
            raise JobError(f"{self.model!r} is not a trained model", value=type(bundle).__name__,
                           expected="what the train step stores")
        dev = resolve_device(self.device)
        bundle.model.to(dev)
        from ..engine.distributed import cpu_threads, using_threads

        if self.executor is not None:  # shard by shard, the bundle pickled to each worker
            from ..engine.predict_sharded import ModelSource, predict_sharded
            from ..execution import open_executor

            with open_executor(self.executor, self.address, field="executor") as ex:
                dets = predict_sharded(ModelSource(bundle=bundle, device=str(dev)), ds, executor=ex,
                                       categories=list(bundle.categories), name=bundle.name,
                                       batch_size=self.batch_size, device=str(dev))
        else:
            with using_threads(cpu_threads(self.workers)):
                dets = predict_dataset(bundle, ds, batch_size=self.batch_size, workers=self.workers, device=dev,
                                       progress=not ctx.quiet)
        if self.score_threshold > 0:
            dets = filter_scores(dets, self.score_threshold)
        ctx[self.output] = dets
        result: dict[str, Any] = {
            "summary": f"{dets.num_boxes} detections on {len(dets)} images",
            "images": len(dets), "detections": dets.num_boxes,
        }
        if self.format is not None:
            from ..formats.detection_files import write_detections  # the layout cvpipe predict writes

            out = ctx.step_dir / "detections"
            write_detections(dets, out, self.format)
            result["written"] = str(out)
        if self.draw:
            from ..draw import draw_detections

            result["pictures"] = str(draw_detections(dets, ctx.step_dir / "predictions.png", limit=self.draw))
        return result


@hookimpl
def cvpipe_register_steps(register: StepRegistrar):
    register.add_step("train", TrainStep, description="train a detection model (checkpoints, resume, validation)")
    register.add_step("predict", PredictStep, description="run a trained model on a dataset: detections")
