"""The training loop: :func:`fit`.

One epoch = one pass over the training images (shuffled, or class-balanced), batches of
``batch_size`` per process. The learning rate rises linearly during ``warmup_epochs`` and then
follows a cosine (to ``min_lr_ratio * lr``) or step schedule, updated every iteration. After
every epoch (on rank 0): validation through :func:`cvpipe.evaluation.evaluate` when a validation
set is given, ``last.pt`` (everything needed to resume: model, optimizer, scheduler, RNG states,
history, and the best epoch's weights), then a row in ``metrics.csv`` and ``metrics.jsonl`` and
``best.pt`` when the monitored validation figure improved, and the ``cvpipe_on_epoch_end`` hook.
At the end, ``curves.png`` (losses, learning rate and validation figures per epoch).

The recipe (each a :class:`TrainSettings` field): an EMA of the weights (:mod:`.ema`; what
validation scores and the checkpoints' ``model`` hold, the raw weights kept in ``last.pt`` for
resuming), early stopping with keep-best (:mod:`.early_stop`), mosaic/mixup drawn from the
training set (:mod:`.mosaic`, off for the last ``close_mosaic`` epochs), multi-scale batches
(:mod:`.multiscale`), optimiser groups ``decay``/``no_decay``/``bias`` with a bias warm-up,
``torch.compile`` and channels-last.

Consistent under a kill at any instant: the atomic replacement of ``last.pt`` is the epoch's one
commit; the metrics files, ``best.pt`` and ``curves.png`` are derived from it and rewritten from
it on resume (after temporaries of the killed process are swept), so a resumed run never uses
an older ``best.pt`` than its log claims.

Reproducible on CPU: parameters are initialised from ``seed``, batches and augmentations are a
function of ``(seed, epoch, image index)`` only, so an interrupted run resumed from ``last.pt``
ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from ..data import Dataset
from ..errors import ConfigError, InputError, JobError
from ..fsutil import atomic_write_text
from ..settings import Settings
from .predict import ModelBundle, model_input_size, predict_dataset

__all__ = ["TrainSettings", "TrainConfig", "FitResult", "fit", "param_groups", "lr_factor", "group_lr_factor"]


def _empty_list(value: Any) -> Any:
    return [] if value is None else value


def _empty_dict(value: Any) -> Any:
    return {} if value is None else value


_List = AfterValidator(_empty_list)  # null in YAML means empty
_Dict = AfterValidator(_empty_dict)


class TrainSettings(Settings):
    """Training settings: the one declaration of what the ``train`` step accepts (besides its
    context names and augmentations), what :func:`fit` reads, and what the docs list."""

    model: str = Field("compact", description="a registered model name (``compact``, "
                       "``fasterrcnn_resnet50_fpn``, ...)")
    model_params: Annotated[dict[str, Any] | None, _Dict] = Field(
        default_factory=dict, description="the model's settings (``image_size``, ``weights: file.pt``, ...)")
    epochs: int = Field(10, ge=1, description="epochs to train (with ``--resume``, a larger value extends a "
                        "finished run)")
    batch_size: int = Field(16, ge=1, description="images per iteration and process")
    workers: int = Field(1, ge=0, description="data-loading worker processes (0: load in the training process)")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="the optimiser (no decay on biases and norms)")
    lr: float = Field(0.002, gt=0, description="base learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (Nesterov when > 0)")
    weight_decay: float = Field(0.0001, ge=0, description="weight decay of weights (not biases and norms)")
    warmup_epochs: float = Field(1.0, ge=0, description="linear learning-rate warm-up, in epochs (fractions "
                                 "allowed)")
    schedule: Literal["cosine", "step", "constant"] = Field(
        "cosine", description="after warm-up: ``cosine`` (down to ``min_lr_ratio * lr``), ``step`` (times "
        "``gamma`` at each epoch in ``milestones``) or ``constant``")
    milestones: Annotated[list[Annotated[int, Field(ge=1)]] | None, _List] = Field(
        default_factory=list, description="epochs at which the ``step`` schedule multiplies the rate by ``gamma``")
    gamma: float = Field(0.1, gt=0, le=1, description="the ``step`` schedule's factor")
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="the ``cosine`` schedule's final fraction of ``lr``")
    grad_clip: float | None = Field(10.0, gt=0, description="clip the gradient norm at this value (null: no "
                                    "clipping)")
    amp: bool = Field(True, description="mixed precision (CUDA only; ignored on CPU)")
    seed: int = Field(0, description="seeds initialisation, batch order and augmentation (reproducible on CPU)")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
                        json_schema_extra={"message": "unknown device", "expected": "auto, cpu, cuda, cuda:N or mps"},
                        description="``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``")
    freeze: Annotated[list[str] | None, _List] = Field(
        default_factory=list, description="parameter-name prefixes to freeze, e.g. ``[backbone]``")
    lr_groups: Annotated[dict[str, Annotated[float, Field(gt=0)]] | None, _Dict] = Field(
        default_factory=dict, description="parameter-name prefix -> learning rate, e.g. ``{backbone: 0.0002}``")
    class_balanced: bool = Field(False, description="sample images by the rarity of their classes (with "
                                 "replacement)")
    keep_difficult: bool = Field(False, description="train on boxes flagged ``difficult`` too")
    val_every: int = Field(1, ge=1, description="validate every this many epochs (and after the last)")
    val_metric: str = Field("coco", description="the registered metric validation runs (``coco``, ``voc07``, ...)")
    monitor: str = Field("AP50", description="the figure of ``val_metric`` that picks ``best.pt`` (higher is "
                         "better), e.g. ``AP50`` or ``mAP``")
    val_batch_size: int = Field(16, ge=1, description="images per validation batch")
    threads: int | None = Field(None, ge=1, description="torch's intra-op CPU threads (null: the cores the "
                                "loader workers leave)")
    curves: bool = Field(True, description="write ``curves.png`` (losses, learning rate, validation per epoch) "
                         "at the end")
    # ---- the recipe (cvpipe.engine.ema, early_stop, mosaic, multiscale, optim)
    ema: bool = Field(True, description="keep an exponential moving average of the weights; it is what "
                      "validation scores and ``best.pt``/``last.pt`` hold (the raw weights stay in ``last.pt`` for "
                      "resuming)")
    ema_decay: float = Field(0.9998, ge=0, lt=1, description="the EMA's decay once warmed up")
    ema_tau: float = Field(2000.0, gt=0, description="the EMA's decay warm-up, in iterations: decay "
                           "``ema_decay * (1 - exp(-n / ema_tau))`` after ``n`` updates")
    patience: int = Field(50, ge=0, description="stop after this many validations in a row without a better "
                          "``monitor`` (``best.pt`` keeps the best); 0: never stop early")
    mosaic: float = Field(0.0, ge=0, le=1, description="probability of a 4-image mosaic per training image "
                          "(partners drawn from the training set, seeded); 1.0 for long schedules")
    mixup: float = Field(0.0, ge=0, le=1, description="probability of mixing a training image (or mosaic) with "
                         "another training image (boxes of both kept)")
    close_mosaic: int = Field(10, ge=0, description="no mosaic or mixup in the last this many epochs")
    mosaic_scale: tuple[float, float] = Field((0.5, 1.0), description="range of each mosaic part's scale "
                                              "(1: its longer side fills the canvas)")
    multiscale: float = Field(0.0, ge=0, lt=1, description="multi-scale training: each batch at a size drawn "
                              "between ``(1 - m)`` and ``(1 + m)`` times the model's ``image_size`` (multiples of "
                              "32; cvpipe's square-input models); 0: off")
    warmup_bias_lr: float | None = Field(None, gt=0, description="during warm-up the bias learning rate falls "
                                         "from this value to the schedule's (others rise from ~0); null: biases "
                                         "warm up like the rest (0.1 suits ``sgd`` at lr 0.01)")
    compile: bool = Field(False, description="``torch.compile`` the model's dense part (cvdet: backbone, neck, "
                          "head; others: the whole forward) -- faster after a compilation of a minute or more")
    channels_last: bool = Field(False, description="channels-last memory format (faster convolutions on recent "
                                "GPUs and some CPUs)")

    @model_validator(mode="after")
    def _scale_range(self) -> "TrainSettings":
        lo, hi = self.mosaic_scale
        if not 0 < lo <= hi:
            raise ValueError(f"mosaic_scale must be [low, high] with 0 < low <= high, got {[lo, hi]}")
        return self


#: The former name of :class:`TrainSettings`.
TrainConfig = TrainSettings


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    bundle: ModelBundle
    history: list[dict[str, Any]]
    best: float | None
    best_epoch: int | None
    epochs_run: int
    checkpoint: Path | None
    stopped_early: bool = False


def lr_factor(step: int, total: int, warmup: int, cfg: TrainSettings, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at iteration ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return 0.001 + (1 - 0.001) * step / warmup
    if cfg.schedule == "cosine":
        span = max(1, total - warmup)
        t = min(1.0, (step - warmup) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    if cfg.schedule == "step":
        epoch = step // max(1, steps_per_epoch)
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    return 1.0


def _matches(name: str, prefix: str, strip: str) -> bool:
    for n in (name, name[len(strip):] if strip and name.startswith(strip) else None):
        if n is not None and (n == prefix or n.startswith(prefix + ".")):
            return True
    return False


def param_groups(model: Any, cfg: TrainSettings) -> list[dict[str, Any]]:
    """Freeze the parameters named by ``cfg.freeze`` (prefixes of parameter names, e.g.
    ``backbone`` or ``backbone.stages.0``) and group the rest by learning rate (``cfg.lr_groups``:
    prefix -> lr; first match wins) and weight decay (none for biases and norm weights).

    Raises:
        ConfigError: a prefix that names no parameter (at ``freeze[i]`` / ``lr_groups.<prefix>``).
    """
    strip = getattr(model, "param_prefix", "")
    named = list(model.named_parameters())
    for i, prefix in enumerate(cfg.freeze):
        hits = [p for n, p in named if _matches(n, prefix, strip)]
        if not hits:
            raise ConfigError("names no parameter of the model", field=f"freeze[{i}]", value=prefix,
                              expected="a prefix of the model's parameter names, e.g. 'backbone'")
        for p in hits:
            p.requires_grad_(False)
    for prefix in cfg.lr_groups:
        if not any(_matches(n, prefix, strip) for n, _ in named):
            raise ConfigError("names no parameter of the model", field=f"lr_groups.{prefix}", value=prefix,
                              expected="a prefix of the model's parameter names, e.g. 'backbone'")
    groups: dict[tuple[float, str], list[Any]] = {}
    for n, p in named:
        if not p.requires_grad:
            continue
        lr = next((v for k, v in cfg.lr_groups.items() if _matches(n, k, strip)), cfg.lr)
        kind = "bias" if n.rsplit(".", 1)[-1] == "bias" else "no_decay" if p.ndim <= 1 else "decay"
        groups.setdefault((lr, kind), []).append(p)
    if not groups:
        raise ConfigError("every parameter is frozen: nothing to train", field="freeze", value=cfg.freeze)
    return [{"params": ps, "lr": lr, "weight_decay": cfg.weight_decay if kind == "decay" else 0.0, "name": kind}
            for (lr, kind), ps in groups.items()]


def group_lr_factor(step: int, total: int, warmup: int, cfg: TrainSettings, steps_per_epoch: int,
                    name: str | None, base_lr: float) -> float:
    """:func:`lr_factor` for the optimiser group ``name`` of initial rate ``base_lr``: the ``bias``
    group, when ``cfg.warmup_bias_lr`` is set, starts the warm-up at that rate and falls linearly
    to the schedule's; the others rise as :func:`lr_factor` says."""
    f = lr_factor(step, total, warmup, cfg, steps_per_epoch)
    if name != "bias" or cfg.warmup_bias_lr is None or warmup <= 0 or step >= warmup:
        return f
    frac = step / warmup
    return cfg.warmup_bias_lr / base_lr * (1 - frac) + f * frac


def _quiet(msg: str) -> None:
    pass


def _rng_state() -> dict[str, Any]:
    import torch

    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), int(n[2]), int(n[3]), float(n[4])))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.jsonl`` (one JSON object per epoch) and ``metrics.csv`` (the union of columns)."""
    import csv
    import io

    atomic_write_text(out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    cols: list[str] = []
    for h in history:
        cols += [k for k in h if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for h in history:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in h.items()})
    atomic_write_text(out_dir / "metrics.csv", buf.getvalue())


def _best_state_of(best_path: Path, best_epoch: int | None) -> dict[str, Any] | None:
    """The weights in ``best.pt`` when it is ``best_epoch``'s (a ``last.pt`` written before the
    best weights were kept inside it); ``None`` otherwise."""
    from .checkpoint import load_checkpoint

    if best_epoch is None or not best_path.is_file():
        return None
    ck = load_checkpoint(best_path)
    return ck["model"]["state_dict"] if ck.get("epoch") == best_epoch else None


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """``curves.png``: training losses and learning rate (left) and the validation figures
    (right) per epoch, from the metrics history."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from ..evaluation import save_figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 3.8))
    ax_loss, ax_val = fig.subplots(1, 2)
    loss_keys = [k for k in history[0] if k == "loss" or k.endswith("_loss")] if history else []
    for k in loss_keys:
        ax_loss.plot(epochs, [h.get(k) for h in history], marker="o", ms=3, label=k)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(loc="upper right", fontsize=8)
    ax_lr = ax_loss.twinx()
    ax_lr.plot(epochs, [h.get("lr") for h in history], color="grey", ls="--", lw=1)
    ax_lr.set_ylabel("learning rate (dashed)")
    for k in ("AP50", "AP", "mAP"):
        pts = [(h["epoch"], h[k]) for h in history if isinstance(h.get(k), (int, float))]
        if pts:
            ax_val.plot(*zip(*pts), marker="o", label=k)
    ax_val.set(xlabel="epoch", ylabel="validation", title="validation", ylim=(0, 1))
    for ax in (ax_loss, ax_val):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_val.grid(alpha=0.3)
    if ax_val.lines:
        ax_val.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def validate(bundle: ModelBundle, val: Dataset, cfg: TrainSettings, *, workers: int, progress: bool) -> dict[str, float]:
    """Predict ``val`` and evaluate with ``cfg.val_metric``; the metric's numbers, flattened."""
    from ..evaluation import evaluate

    dt = predict_dataset(bundle, val, batch_size=cfg.val_batch_size, workers=workers, progress=progress,
                         desc="validate")
    res = evaluate(val, dt, [cfg.val_metric])[cfg.val_metric]
    return {k: float(v) for k, v in res.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def fit(
    train: Dataset,
    val: Dataset | None,
    cfg: TrainSettings,
    *,
    out_dir: Path,
    transform: Any = None,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> FitResult:
    """Train ``cfg.model`` on ``train`` (validating on ``val``), writing logs and checkpoints
    into ``out_dir``. With ``resume``, continue from ``out_dir/last.pt`` when it exists (and
    extend a finished run when ``cfg.epochs`` is larger than its epochs). ``transform``: an
    :class:`cvpipe.builtin.augment.Augmenter` for the training images. ``on_epoch_end(epoch,
    metrics)`` is called on rank 0. On CPU, torch uses ``cfg.threads`` intra-op threads (default:
    the cores the loader workers leave, see :func:`cvpipe.engine.distributed.cpu_threads`).

    Raises:
        ConfigError: bad settings; InputError: an unreadable checkpoint; JobError: diverged.
    """
    from .distributed import cpu_threads, using_threads

    with using_threads(cpu_threads(cfg.workers, cfg.threads)):
        return _fit(train, val, cfg, out_dir, transform, resume, on_epoch_end, log, progress)


def _square_model(model: Any, field: str) -> Any:
    """The square-input model under ``model`` (one with an ``image_size`` it stretches to)."""
    from .ema import unwrap_model

    inner = unwrap_model(model)
    if not isinstance(getattr(inner, "image_size", None), int):
        raise ConfigError("needs one of cvpipe's square-input models (compact, cvdet-*)", field=field,
                          value=type(inner).__name__, expected="0 for this model")
    return inner


def _compile(model: Any, ddp_model: Any) -> Any:
    """``torch.compile`` the dense part: ``model.dense`` when it has one (cvdet; the state
    dict's names stay), else the whole (wrapped) forward. Returns the module to call."""
    import torch

    if callable(getattr(model, "dense", None)):
        model.dense = torch.compile(model.dense)
        return ddp_model
    return torch.compile(ddp_model)


def _fit(train: Dataset, val: Dataset | None, cfg: TrainSettings, out_dir: Path, transform: Any, resume: bool,
         on_epoch_end: Callable[[int, dict[str, Any]], None] | None, log: Callable[[str], None],
         progress: bool) -> FitResult:
    """:func:`fit`'s work, inside its thread setting."""
    import torch

    from ..models.build import build_model
    from . import distributed as D
    from .checkpoint import load_checkpoint, plain, save_checkpoint
    from .data import DetectionData, EpochSampler, class_balanced_weights, make_loader
    from .early_stop import EarlyStopping
    from .ema import ModelEMA

    if not train.samples:
        raise JobError("the training set is empty", expected="at least one image")
    out_dir = Path(out_dir)
    info = D.setup(cfg.device)
    dev = info.device
    if not info.is_main:
        log = _quiet  # one process speaks
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)

    categories = list(train.categories)
    model = build_model(cfg.model, len(categories), cfg.model_params, where="model_params")
    model.to(dev)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    input_size = model_input_size(model)
    scales = None
    if cfg.multiscale > 0:
        from .multiscale import MultiScaleSampler

        base = _square_model(model, "multiscale").image_size
        scales = MultiScaleSampler(base, 1 - cfg.multiscale, 1 + cfg.multiscale, stride=32, seed=cfg.seed)
    groups = param_groups(model, cfg)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    else:
        opt = torch.optim.AdamW(groups, lr=cfg.lr)

    data = DetectionData(train, transform, input_size=input_size, seed=cfg.seed, keep_difficult=cfg.keep_difficult)
    if cfg.mosaic > 0 or cfg.mixup > 0:  # partners drawn from the training set, seeded per (epoch, image)
        from .mosaic import MosaicMixup

        data.mosaic = MosaicMixup(data.load, len(data), input_size or 640, mosaic_prob=cfg.mosaic,
                                  mixup_prob=cfg.mixup, scale=cfg.mosaic_scale, epochs=cfg.epochs,
                                  close_mosaic=cfg.close_mosaic, seed=cfg.seed)
    weights = class_balanced_weights(train) if cfg.class_balanced else None
    sampler = EpochSampler(len(data), weights=weights, seed=cfg.seed, rank=info.rank, world_size=info.world_size)
    per_process = max(1, cfg.batch_size)
    loader = make_loader(data, batch_size=per_process, workers=cfg.workers, sampler=sampler, drop_last=len(sampler) > per_process)
    steps_per_epoch = len(loader)
    total = steps_per_epoch * cfg.epochs
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, [
        functools.partial(group_lr_factor, total=total, warmup=warmup, cfg=cfg, steps_per_epoch=steps_per_epoch,
                          name=g.get("name"), base_lr=g["lr"]) for g in opt.param_groups])

    history: list[dict[str, Any]] = []
    stopper = EarlyStopping(cfg.patience)
    best_state: dict[str, Any] | None = None  # the weights of the best epoch (kept inside last.pt)
    start = 0
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    model_record = {"name": cfg.model, "params": plain(cfg.model_params), "num_classes": len(categories)}
    # rank 0 reads the checkpoint and hands it to the others, so every process resumes from the
    # same epoch even when only rank 0 sees the run folder
    ckpt = load_checkpoint(last_path) if resume and info.is_main and last_path.is_file() else None
    ckpt = D.broadcast(ckpt, info)
    ema = ModelEMA(model, cfg.ema_decay, cfg.ema_tau) if cfg.ema else None
    if ckpt is not None:
        saved = ckpt["model"]
        if saved["name"] != cfg.model or saved.get("params") != model_record["params"] or \
                list(ckpt["categories"]) != categories:
            raise ConfigError("cannot resume: the model settings or categories differ from the checkpoint's",
                              file=str(last_path), field="model_params",
                              hint="resume with the settings of the interrupted run, or start a new run")
        if "train" not in ckpt:
            raise InputError("checkpoint holds no training state to resume from", file=str(last_path))
        st = ckpt["train"]
        # with EMA, the checkpoint's model is the average and the raw weights are kept beside it
        model.load_state_dict(st.get("raw_state") or saved["state_dict"])
        if ema is not None:
            ema.module.load_state_dict(saved["state_dict"])
            ema.updates = int(st.get("ema_updates", 0))
        try:
            opt.load_state_dict(st["optimizer"])
        except ValueError as exc:  # another grouping of the parameters (an older cvpipe, other freeze/lr_groups)
            raise InputError("the checkpoint's optimiser state does not fit this run's parameter groups",
                             file=str(last_path), value=str(exc)[:120],
                             hint="resume with the settings (and cvpipe version) of the interrupted run, or "
                                  "start a new run from its weights (model_params.weights)") from None
        sched.load_state_dict(st["scheduler"])
        history = list(st["history"])
        if "early_stop" in st:
            stopper.load_state_dict(st["early_stop"])
        else:  # a checkpoint from before early stopping
            stopper.best, stopper.best_epoch = st["best"], st["best_epoch"]
        best_state = st["best_state"] if "best_state" in st else _best_state_of(best_path, stopper.best_epoch)
        start = int(ckpt["epoch"])
        _set_rng_state(st["rng"])
        log(f"resuming from {last_path} after epoch {start} of {cfg.epochs}")
    eval_model = ema.module if ema is not None else model  # what validation scores and best.pt holds
    ddp_model = D.wrap(model, info)
    if cfg.compile:
        ddp_model = _compile(model, ddp_model)
    use_amp = cfg.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    bundle = ModelBundle(model, cfg.model, plain(cfg.model_params), categories, input_size)
    eval_bundle = ModelBundle(eval_model, cfg.model, plain(cfg.model_params), categories, input_size)
    show = progress and info.is_main

    def checkpoint(epoch: int, *, with_train: bool) -> dict[str, Any]:
        ck = {
            "model": dict(model_record, state_dict=eval_model.state_dict()),
            "categories": categories,
            "inference": {"input_size": input_size},
            "epoch": epoch,
        }
        if with_train:
            ck["train"] = {
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": _rng_state(),
                "history": history, "best": stopper.best, "best_epoch": stopper.best_epoch,
                "early_stop": stopper.state_dict(), "config": plain(cfg.model_dump()), "best_state": best_state,
            }
            if ema is not None:
                ck["train"].update(raw_state=model.state_dict(), ema_updates=ema.updates)
        return ck

    def best_checkpoint(done: int) -> dict[str, Any] | None:
        """``best.pt`` as of ``done`` epochs: the best validated weights, or without validation
        the last weights once training is over; ``None`` when there is none yet."""
        if val is not None and best_state is not None:
            return dict(checkpoint(stopper.best_epoch, with_train=False),  # type: ignore[arg-type]
                        model=dict(model_record, state_dict=best_state))
        return checkpoint(done, with_train=False) if val is None and done == cfg.epochs else None

    if ckpt is not None and info.is_main:  # a kill may have come before the files derived from last.pt
        from ..fsutil import sweep_stale

        sweep_stale(out_dir)
        _write_metrics(out_dir, history)
        if (derived := best_checkpoint(start)) is not None:
            save_checkpoint(best_path, derived)

    square = _square_model(model, "multiscale") if scales is not None else None
    base_size = square.image_size if square is not None else None
    stopped = stopper.should_stop
    if stopped:
        log(f"stopped early after epoch {start}: no better {cfg.monitor} in {cfg.patience} validations")
    epochs_run = 0
    try:
        for epoch in range(start, cfg.epochs):
            if stopped:
                break
            ddp_model.train()
            sampler.set_epoch(epoch)
            sums: dict[str, float] = {}
            n_images, t0 = 0, time.perf_counter()
            bar = None
            if show:
                from tqdm import tqdm

                bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="it",
                           leave=False, dynamic_ncols=True)
            for it, (images, targets) in enumerate(loader):
                if square is not None:
                    square.image_size = scales.size(epoch, it)  # type: ignore[union-attr]
                batch = [im.to(dev, non_blocking=True).float().div_(255) for im in images]
                tg = [{"boxes": t["boxes"].to(dev), "labels": t["labels"].to(dev)} for t in targets]
                with torch.autocast(dev.type, enabled=use_amp):
                    losses = ddp_model(batch, tg)
                    loss = sum(losses.values())
                if not torch.isfinite(loss):
                    raise JobError(f"training diverged at epoch {epoch + 1}, iteration {it + 1}",
                                   value=float(loss.detach()), expected="a finite loss",
                                   hint="lower the learning rate ('lr') or raise 'warmup_epochs'")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                if ema is not None:
                    ema.update(model)
                n_images += len(images)
                sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                if bar is not None:
                    bar.update(1)
                    if it % 5 == 0 or it == steps_per_epoch - 1:
                        rate = n_images / max(1e-9, time.perf_counter() - t0)
                        bar.set_postfix(loss=f"{sums['loss'] / (it + 1):.3f}", lr=f"{opt.param_groups[0]['lr']:.2e}",
                                        img_s=f"{rate * info.world_size:.1f}")
            if square is not None:
                square.image_size = base_size
            seconds = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            epochs_run += 1
            steps = max(1, steps_per_epoch)
            row: dict[str, Any] = {"epoch": epoch + 1}
            row.update({k: v / steps for k, v in sums.items()})
            row.update(lr=opt.param_groups[0]["lr"], images_per_s=n_images * info.world_size / max(seconds, 1e-9),
                       seconds=seconds)
            is_last = epoch + 1 == cfg.epochs
            improved = False
            if info.is_main:
                if val is not None and val.samples and ((epoch + 1) % max(1, cfg.val_every) == 0 or is_last):
                    model.eval()
                    figures = validate(eval_bundle, val, cfg, workers=cfg.workers, progress=show)
                    row.update(figures)
                    if cfg.monitor not in figures:
                        raise ConfigError("the validation metric has no such figure", field="monitor",
                                          value=cfg.monitor, expected="one of: " + ", ".join(figures))
                    improved = stopper.step(epoch + 1, figures[cfg.monitor])
                    if improved:
                        best_state = {k: v.detach().clone() for k, v in eval_model.state_dict().items()}
                    stopped = stopper.should_stop and not is_last
                history.append(row)
                save_checkpoint(last_path, checkpoint(epoch + 1, with_train=True))  # the epoch's one commit
                _write_metrics(out_dir, history)  # derived from it (rewritten on resume)
                if improved or (val is None and is_last):
                    save_checkpoint(best_path, best_checkpoint(epoch + 1))
                summary = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch",) and isinstance(v, float)
                                    and k in ("loss", "lr", "images_per_s", cfg.monitor))
                log(f"epoch {epoch + 1}/{cfg.epochs}: {summary}")
                if stopped:
                    log(f"stopping early: no better {cfg.monitor} in {cfg.patience} validations "
                        f"(best {stopper.best:.4g} at epoch {stopper.best_epoch})")
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, row)
            else:
                history.append(row)
            stopped = bool(D.broadcast(stopped, info))  # every process stops with rank 0
            D.barrier(info)
    finally:
        if square is not None:
            square.image_size = base_size

    if cfg.curves and info.is_main and history and (start < cfg.epochs or ckpt is not None):
        plot_curves(history, out_dir / "curves.png")
    # the model handed on: the best validated weights, else the last (averaged) ones
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    chosen = last_path
    if info.is_main and best_path.is_file() and val is not None:
        model.load_state_dict(load_checkpoint(best_path)["model"]["state_dict"])
        chosen = best_path
    if info.distributed:  # every process continues with rank 0's choice
        import torch.distributed as dist

        for t in model.state_dict().values():
            dist.broadcast(t, src=0)
    model.eval()
    bundle.checkpoint = chosen if chosen.is_file() else None
    return FitResult(bundle, history, stopper.best, stopper.best_epoch, epochs_run, bundle.checkpoint,
                     stopped_early=stopped)
