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
from typing import Any, Literal

from ..errors import ConfigError, JobError, Problem
from ..hookspecs import hookimpl

__all__ = ["TrainStep", "PredictStep"]


def _dataset(ctx: Any, name: str):
    from ..data import Dataset

    obj = ctx[name]
    if not isinstance(obj, Dataset):
        raise JobError(f"{name!r} is not a dataset", value=type(obj).__name__, expected="a Dataset (from read, ...)")
    return obj


def _check_device(device: str) -> None:
    import re

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise ConfigError("unknown device", field="device", value=device, expected="auto, cpu, cuda, cuda:N or mps")


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


class TrainStep:
    """Train a detection model (see :mod:`cvpipe.engine.train`)."""

    def __init__(
        self,
        *,
        dataset: str = "train",
        val: str | None = None,
        output: str = "model",
        model: str = "compact",
        model_params: dict[str, Any] | None = None,
        transforms: list[Any] | None = None,
        epochs: int = 10,
        batch_size: int = 16,
        workers: int = 1,
        optimizer: Literal["adamw", "sgd"] = "adamw",
        lr: float = 0.002,
        momentum: float = 0.9,
        weight_decay: float = 0.0001,
        warmup_epochs: float = 1.0,
        schedule: Literal["cosine", "step", "constant"] = "cosine",
        milestones: list[int] | None = None,
        gamma: float = 0.1,
        min_lr_ratio: float = 0.05,
        grad_clip: float | None = 10.0,
        amp: bool = True,
        seed: int = 0,
        device: str = "auto",
        freeze: list[str] | None = None,
        lr_groups: dict[str, float] | None = None,
        class_balanced: bool = False,
        keep_difficult: bool = False,
        val_every: int = 1,
        val_metric: str = "coco",
        monitor: str = "AP50",
        val_batch_size: int = 16,
        threads: int | None = None,
        curves: bool = True,
        loggers: list[str] | None = None,
    ) -> None:
        """
        Args:
            dataset: context name of the training dataset.
            val: context name of the validation dataset (null: no validation; ``best.pt`` is then
                the last epoch's weights).
            output: context name the trained model (a ModelBundle) is stored under.
            model: a registered model name (``compact``, ``fasterrcnn_resnet50_fpn``, ...).
            model_params: the model's settings (``image_size``, ``weights: file.pt``, ...).
            transforms: training augmentations, a list of albumentations transforms by name.
            epochs: epochs to train (with ``--resume``, a larger value extends a finished run).
            batch_size: images per iteration and process.
            workers: data-loading worker processes (0: load in the training process).
            optimizer, lr, momentum, weight_decay: the optimiser (no decay on biases and norms).
            warmup_epochs: linear learning-rate warm-up, in epochs (fractions allowed).
            schedule: after warm-up, ``cosine`` (down to ``min_lr_ratio * lr``), ``step``
                (times ``gamma`` at each epoch in ``milestones``) or ``constant``.
            grad_clip: clip the gradient norm at this value (null: no clipping).
            amp: mixed precision (CUDA only; ignored on CPU).
            seed: seeds initialisation, batch order and augmentation (reproducible on CPU).
            device: ``auto`` (CUDA if available), ``cpu``, ``cuda`` or ``cuda:N``.
            freeze: parameter-name prefixes to freeze, e.g. ``[backbone]``.
            lr_groups: parameter-name prefix -> learning rate, e.g. ``{backbone: 0.0002}``.
            class_balanced: sample images by the rarity of their classes (with replacement).
            keep_difficult: train on boxes flagged ``difficult`` too.
            val_every: validate every this many epochs (and after the last).
            val_metric, monitor: the metric validation runs and the figure of it that picks
                ``best.pt`` (higher is better), e.g. ``coco``/``AP50`` or ``voc07``/``mAP``.
            threads: torch's intra-op CPU threads (null: the cores the loader workers leave).
            curves: write ``curves.png`` (losses, learning rate, validation per epoch) at the end.
            loggers: lifecycle loggers to enable for this step, e.g. ``[tensorboard]``.
        """
        from ..plugins import get_registry
        from ..params import bind

        reg = get_registry()
        entry = reg.models.get(model, field="model")
        self.model_params = bind(entry.obj, model_params or {}, where="model_params", skip=1)
        self.augmenter = None
        if transforms:
            from .augment import build_transforms

            self.augmenter = build_transforms(transforms, where="transforms")
        problems: list[Problem] = []

        def need(ok: bool, field: str, value: Any, expected: str) -> None:
            if not ok:
                problems.append(Problem("out of range", field=field, value=value, expected=expected))

        need(epochs >= 1, "epochs", epochs, "an integer >= 1")
        need(batch_size >= 1, "batch_size", batch_size, "an integer >= 1")
        need(val_batch_size >= 1, "val_batch_size", val_batch_size, "an integer >= 1")
        need(workers >= 0, "workers", workers, "an integer >= 0")
        need(lr > 0, "lr", lr, "a number > 0")
        need(0 <= momentum < 1, "momentum", momentum, "a number in [0, 1)")
        need(weight_decay >= 0, "weight_decay", weight_decay, "a number >= 0")
        need(warmup_epochs >= 0, "warmup_epochs", warmup_epochs, "a number >= 0")
        need(0 < gamma <= 1, "gamma", gamma, "a number in (0, 1]")
        need(0 <= min_lr_ratio <= 1, "min_lr_ratio", min_lr_ratio, "a number in [0, 1]")
        need(grad_clip is None or grad_clip > 0, "grad_clip", grad_clip, "a number > 0, or null")
        need(val_every >= 1, "val_every", val_every, "an integer >= 1")
        need(threads is None or threads >= 1, "threads", threads, "an integer >= 1, or null")
        for k, v in (lr_groups or {}).items():
            need(v > 0, f"lr_groups.{k}", v, "a learning rate > 0")
        for i, m in enumerate(milestones or []):
            need(m >= 1, f"milestones[{i}]", m, "an epoch number >= 1")
        from ..errors import closest

        for i, name in enumerate(loggers or []):
            near = closest(name, ["tensorboard"])  # names are open to plugins; catch typos of ours
            if near and near != name:
                problems.append(Problem("unknown logger", field=f"loggers[{i}]", value=name,
                                        hint=f"did you mean {near!r}?"))
        if problems:
            raise ConfigError.from_problems(problems)
        _check_device(device)
        reg.metrics.get(val_metric, field="val_metric")
        from ..engine.train import TrainConfig

        self.config = TrainConfig(
            model=model, model_params=self.model_params, epochs=epochs, batch_size=batch_size, workers=workers,
            optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
            schedule=schedule, milestones=list(milestones or []), gamma=gamma, min_lr_ratio=min_lr_ratio,
            grad_clip=grad_clip, amp=amp, seed=seed, device=device, freeze=list(freeze or []),
            lr_groups=dict(lr_groups or {}), class_balanced=class_balanced, keep_difficult=keep_difficult,
            val_every=val_every, val_metric=val_metric, monitor=monitor, val_batch_size=val_batch_size,
            threads=threads, curves=curves,
        )
        self.loggers = list(loggers or [])
        self.dataset, self.val, self.output = dataset, val, output
        self.inputs = {"dataset": dataset, **({"val": val} if val else {})}
        self.outputs = {"output": output}

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
        import dataclasses

        params = {k: (ctx.base_dir / v if isinstance(v, Path) and not v.is_absolute() else v)
                  for k, v in self.config.model_params.items()}  # weights files: relative to the YAML
        config = dataclasses.replace(self.config, model_params=params)
        res = fit(train, val, config, out_dir=ctx.step_dir, transform=self.augmenter, resume=ctx.resume,
                  on_epoch_end=on_epoch_end, log=ctx.log, progress=not ctx.quiet)
        ctx[self.output] = res.bundle
        last = res.history[-1] if res.history else {}
        rates = [h["images_per_s"] for h in res.history if "images_per_s" in h]
        cfg = self.config
        summary = f"{cfg.model}, {len(res.history)} epochs"
        if res.best is not None:
            summary += f", best {cfg.monitor} {res.best:.4f} at epoch {res.best_epoch}"
        return {
            "summary": summary,
            "model": cfg.model,
            "epochs": len(res.history),
            "epochs_run": res.epochs_run,
            "best": None if res.best is None else {cfg.monitor: res.best, "epoch": res.best_epoch},
            "last": last,
            "images_per_s": sum(rates) / len(rates) if rates else None,
            "checkpoint": None if res.checkpoint is None else str(res.checkpoint),
            "loggers": self.loggers,
        }


class PredictStep:
    """Run a trained model on a dataset; store (and optionally write and draw) the detections."""

    def __init__(
        self,
        *,
        dataset: str,
        model: str = "model",
        output: str = "detections",
        batch_size: int = 16,
        workers: int = 0,
        score_threshold: float = 0.0,
        format: str | None = None,
        draw: int = 0,
        device: str = "auto",
    ) -> None:
        """
        Args:
            dataset: context name of the images to predict (a Dataset; its boxes are ignored).
            model: context name of the trained model (what ``train`` stored).
            output: context name the detections are stored under.
            batch_size, workers: batching and loader processes.
            score_threshold: drop detections scoring at or below this.
            format: also write the detections in this format (``coco``, ``yolo``, ``voc``)
                into the step folder's ``detections/``.
            draw: write this many images with their detections drawn (``predictions.png``).
            device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        """
        problems = []
        if batch_size < 1:
            problems.append(Problem("out of range", field="batch_size", value=batch_size, expected="an integer >= 1"))
        if workers < 0:
            problems.append(Problem("out of range", field="workers", value=workers, expected="an integer >= 0"))
        if not 0 <= score_threshold < 1:
            problems.append(Problem("out of range", field="score_threshold", value=score_threshold,
                                    expected="a number in [0, 1)"))
        if draw < 0:
            problems.append(Problem("out of range", field="draw", value=draw, expected="an integer >= 0"))
        if problems:
            raise ConfigError.from_problems(problems)
        _check_device(device)
        if format is not None:
            from ..formats import get_format

            get_format(format, need="writer", field="format")
        self.dataset, self.model, self.output = dataset, model, output
        self.batch_size, self.workers, self.score_threshold = batch_size, workers, score_threshold
        self.format, self.draw, self.device = format, draw, device
        self.inputs = {"dataset": dataset, "model": model}
        self.outputs = {"output": output}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..engine.distributed import resolve_device
        from ..engine.predict import ModelBundle, predict_dataset

        ds = _dataset(ctx, self.dataset)
        bundle = ctx[self.model]
        if not isinstance(bundle, ModelBundle):
            raise JobError(f"{self.model!r} is not a trained model", value=type(bundle).__name__,
                           expected="what the train step stores")
        dev = resolve_device(self.device)
        bundle.model.to(dev)
        from ..engine.distributed import cpu_threads, using_threads

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
            from ..formats import write_dataset

            out = ctx.step_dir / "detections"
            write_dataset(dets, out, self.format, images="none")
            result["written"] = str(out)
        if self.draw:
            result["pictures"] = str(draw_detections(dets, ctx.step_dir / "predictions.png", limit=self.draw))
        return result


def filter_scores(dets, threshold: float):
    """``dets`` keeping only boxes scoring above ``threshold``."""
    return dets.subset(s.select(s.scores > threshold) for s in dets.samples)


def draw_detections(dets, path: Path, *, limit: int, min_score: float = 0.25, cols: int = 4) -> Path:
    """A grid PNG of the first ``limit`` images with their detections above ``min_score`` drawn
    (solid, class colours, highest scores on top) and a legend of the classes shown."""
    from ..draw import add_legend, color_for, draw_boxes, image_grid, read_image, save_png

    pics, titles = [], []
    shown: set[int] = set()
    for s in dets.samples[:limit]:
        keep = s.scores > min_score
        pics.append(draw_boxes(read_image(dets.image_path(s)), s.boxes[keep], s.labels[keep], dets.categories,
                               s.scores[keep]))
        shown.update(int(k) for k in s.labels[keep])
        titles.append(Path(s.image).name)
    if not pics:
        raise JobError("nothing to draw: no images", expected="a dataset with images")
    legend = [(f"{dets.categories[k]} (score > {min_score:g})", "solid", color_for(k)) for k in sorted(shown)]
    return save_png(path, add_legend(image_grid(pics, min(cols, len(pics)), titles=titles), legend))


@hookimpl
def cvpipe_register_steps(register):
    register("train", TrainStep, description="train a detection model (checkpoints, resume, validation)")
    register("predict", PredictStep, description="run a trained model on a dataset: detections")
