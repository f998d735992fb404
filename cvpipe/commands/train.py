"""``cvpipe train DATA``: train a detector on any dataset cvpipe reads, in one command.

The command builds the pipeline ``cvpipe run`` would run (read, train, predict, evaluate; a
seeded split when DATA has no validation split), writes it into the run directory as
``pipeline.yaml`` (run it again, or edit it, with ``cvpipe run RUN_DIR/pipeline.yaml``), runs it
and ends with the per-class metrics table (P, R, AP50, AP50-95 and the F1-optimal confidence)
and the path of ``best.pt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["train", "build_train_pipeline", "choose_splits"]

#: split names taken for validation, in order of preference
VAL_SPLITS = ("val", "valid", "validation", "test")
#: the seeded split made when DATA has no train/validation splits
SEEDED_FRACTIONS = {"train": 0.8, "val": 0.2}

EXAMPLES = """\b
Examples:
  cvpipe train VOCdevkit/VOC2007                       # VOC: ImageSets/Main train.txt / val.txt
  cvpipe train coco/ --model cvdet-s --epochs 50       # annotations/instances_{train,val}.json
  cvpipe train data.yaml --imgsz 640 --batch 8         # YOLO (Ultralytics / Roboflow exports)
  cvpipe train my_xmls/ --out runs/mine                # no splits: a seeded 80/20 split
  cvpipe train data.yaml --weights best.pt             # start from a checkpoint's weights
  cvpipe train data.yaml --out runs/mine --resume      # continue an interrupted run
  cvpipe train data.yaml --set mosaic=1.0 --set patience=20   # any train-step setting
\b
The run directory holds pipeline.yaml (`cvpipe run RUN_DIR/pipeline.yaml --out NEW` repeats the
run), train/best.pt and last.pt, metrics.csv, evaluate/metrics.json and per_class.json."""


def choose_splits(splits: set[str | None]) -> tuple[str, str] | None:
    """``(train, val)`` split names to use when DATA has both, else None (a seeded split)."""
    if "train" not in splits:
        return None
    val = next((v for v in VAL_SPLITS if v in splits), None)
    return None if val is None else ("train", val)


def _size_params(model: str, imgsz: int | None) -> dict[str, Any]:
    """The model settings that set the input size ``imgsz``: ``image_size`` for cvpipe's
    square-input models, ``min_size``/``max_size`` for torchvision's."""
    from ..errors import ConfigError
    from ..plugins import get_registry
    from ..settings import bind

    if imgsz is None:
        return {}
    entry = get_registry().models.get(model, field="--model")
    tries = ({"image_size": imgsz}, {"min_size": imgsz, "max_size": imgsz})
    for params in tries:
        try:
            return bind(entry.obj, params, skip=1)
        except ConfigError as exc:
            unknown = any("unknown" in p.message for p in exc.problems)
            if not unknown:
                raise ConfigError(exc.problems[0].message, field="--imgsz", value=imgsz,
                                  expected=exc.problems[0].expected or "a multiple of 32, at least 32") from None
    raise ConfigError("this model has no input-size setting", field="--imgsz", value=imgsz,
                      expected="no --imgsz for this model")


def build_train_pipeline(data: Path, fmt: str, splits: tuple[str, str] | None, *, model: str, epochs: int,
                         imgsz: int | None, batch: int, weights: Path | None, seed: int, workers: int
                         ) -> dict[str, Any]:
    """The pipeline (a YAML-ready dict) that ``cvpipe train`` runs: read DATA's train and val
    splits (or all of it and split it 80/20, seeded), train, predict the validation images and
    evaluate them with the per-class table. Paths are absolute."""
    data = data.resolve()
    steps: list[dict[str, Any]] = []
    if splits is not None:
        tr, va = splits
        steps.append({"read": {"name": "read_train", "format": fmt, "path": str(data), "splits": [tr],
                               "output": "train"}})
        steps.append({"read": {"name": "read_val", "format": fmt, "path": str(data), "splits": [va],
                               "output": "val"}})
        train_name, val_name = "train", "val"
    else:
        steps.append({"read": {"format": fmt, "path": str(data), "output": "dataset"}})
        steps.append({"split": {"dataset": "dataset", "fractions": dict(SEEDED_FRACTIONS), "seed": seed,
                                "prefix": "data"}})
        train_name, val_name = "data_train", "data_val"
    params = _size_params(model, imgsz)
    if weights is not None:
        params["weights"] = str(weights.resolve())
    steps.append({"train": {"dataset": train_name, "val": val_name, "model": model, "model_params": params,
                            "epochs": epochs, "batch_size": batch, "workers": workers, "seed": seed,
                            "output": "model"}})
    steps.append({"predict": {"model": "model", "dataset": val_name, "output": "detections", "draw": 8}})
    steps.append({"evaluate": {"gt": val_name, "detections": "detections", "metrics": ["coco"],
                               "per_class": True}})
    return {"name": "train", "steps": steps}


def _as_options(exc: Any, removed: bool) -> Any:
    """A pipeline problem in the train step's settings reported at ``--set NAME`` (the file
    it would point into is gone when nothing ran)."""
    import dataclasses
    import re

    from ..errors import ConfigError

    problems = []
    for p in exc.problems:
        m = re.match(r"^steps\[\d+\]\.train\.(.+)$", p.field or "")
        if m:
            p = dataclasses.replace(p, field=f"--set {m.group(1)}", file=None if removed else p.file,
                                    line=None if removed else p.line)
        problems.append(p)
    return ConfigError.from_problems(problems)


def _dump(pipeline: dict[str, Any], data: Path, how: str) -> str:
    import yaml

    head = (f"# written by `cvpipe train` for {data}\n# {how}\n"
            "# run it again (or edit it first): cvpipe run pipeline.yaml --out NEW_RUN_DIR\n")
    return head + yaml.safe_dump(pipeline, sort_keys=False, allow_unicode=True, width=100)


@click.command(epilog=EXAMPLES)
@click.argument("data", type=click.Path(path_type=Path), metavar="DATA")
@click.option("--model", default="cvdet-n", show_default=True,
              help="A registered model: cvdet-n/s/m, compact, a torchvision detector (cvpipe plugins).")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True, help="Epochs to train.")
@click.option("--imgsz", type=click.IntRange(min=1), default=None,
              help="Input size in pixels (a multiple of 32 for cvpipe's models; default: the model's).")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Images per batch.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/train/<timestamp>/).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Start from these weights (a cvpipe checkpoint or a state dict; a local file).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or the latest under runs/train/).")
@click.option("--from", "fmt", default=None, metavar="FORMAT", help="DATA's format (default: detected).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds training and the split, if one is made.")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Data-loading processes.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any train-step setting, e.g. mosaic=1.0, patience=20, lr=0.001 (VALUE read as YAML). Repeatable.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the final table.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (metrics, per-class table, best.pt).")
def train(data: Path, model: str, epochs: int, imgsz: int | None, batch: int, out: Path | None,
          weights: Path | None, resume: bool, fmt: str | None, seed: int, workers: int,
          overrides: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """Train a detector on DATA (VOC, COCO, YOLO data.yaml or a plugin's format) and evaluate it.

    DATA's train and validation splits are used (val, valid, validation or test); without them
    the images are split 80/20, stratified and seeded, and the summary says so. The run ends
    with the per-class table (P and R at the F1-optimal confidence, AP50, AP50-95) and the path
    of best.pt (the best validation AP50, EMA weights).
    """
    from ..console import print_json
    from ..errors import ConfigError, InputError
    from ..formats import detect_format, get_format, read_dataset
    from ..fsutil import atomic_write_text, locked_dir
    from ..pipeline import choose_run_dir, load_pipeline

    if weights is not None and not weights.is_file():
        raise InputError("no such file", file=str(weights), field="--weights", expected="a local weights file")
    from ..plugins import get_registry

    get_registry().models.get(model, field="--model")
    fmt = fmt or detect_format(data)
    get_format(fmt, need="reader", field="--from")
    whole = read_dataset(data, fmt)
    if not whole.samples:
        raise InputError("the dataset has no images", file=str(data), expected="a dataset with images to train on")
    splits = choose_splits({s.split for s in whole.samples})
    if splits is None:
        how = (f"no train/validation splits in DATA: a seeded split of its {len(whole)} images "
               f"(train 80%, val 20%, stratified, seed {seed})")
    else:
        n = {k: sum(s.split == k for s in whole.samples) for k in splits}
        how = f"DATA's splits: train '{splits[0]}' ({n[splits[0]]} images), val '{splits[1]}' ({n[splits[1]]} images)"
    pipeline = build_train_pipeline(data, fmt, splits, model=model, epochs=epochs, imgsz=imgsz, batch=batch,
                                    weights=weights, seed=seed, workers=workers)
    sets = []
    for i, item in enumerate(overrides):
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError("expected KEY=VALUE", field=f"--set[{i}]", value=item, expected="e.g. mosaic=1.0")
        sets.append("train." + item.strip())
    run_dir = choose_run_dir("train", out, resume)
    with locked_dir(run_dir, what="run directory", field="--out"):
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "pipeline.yaml"
        fresh = not path.exists()
        atomic_write_text(path, _dump(pipeline, data, how))
        try:
            pipe = load_pipeline(path, sets, run_dir=lambda name: run_dir)
        except ConfigError as exc:
            if fresh:  # nothing ran: leave no half-made run behind
                path.unlink()
            raise _as_options(exc, fresh) from None
        if not (quiet or as_json):
            click.echo(f"{fmt} dataset {data}: {how}", err=True)
        results = pipe.run(resume=resume, quiet=quiet or as_json)
    steps = results["steps"]
    ev = steps["evaluate"]["result"]
    tr = steps["train"]["result"]
    best = tr.get("checkpoint")
    summary = {"run_dir": str(run_dir), "pipeline": str(path), "format": fmt, "data": str(data), "splits": how,
               "seeded_split": splits is None, "model": model, "epochs": tr.get("epochs"),
               "best": tr.get("best"), "best_checkpoint": best, "metrics": ev["metrics"],
               "per_class": ev["per_class"]}
    if as_json:
        print_json(summary)
        return
    if quiet:
        from ..analysis.classes import format_class_table

        click.echo(format_class_table(ev["per_class"]))
    click.echo(f"\ndata: {how}")
    click.echo(f"best model: {best}")
    click.echo(f"pipeline: {path}  (cvpipe run {path} --out NEW_RUN_DIR)")
