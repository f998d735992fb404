"""``cvpipe predict``: run a trained model (a checkpoint, or a run folder holding one) on images.

    cvpipe predict runs/demo images/ --out preds --format yolo --draw

The checkpoint describes itself (model name and settings, categories, input size,
postprocessing), so nothing else is needed. Detections are written into ``OUT/detections`` in a
detections layout (:func:`cvpipe.formats.detection_files.write_detections`; COCO: a results list
``results.json``; YOLO: ``labels/<stem>.txt`` lines ``class cx cy w h conf`` and ``classes.txt``,
no ``data.yaml``; VOC or a plugin's format: its writer, e.g. XML with ``<score>``), all readable
by ``cvpipe evaluate``; ``--draw`` adds ``OUT/drawn/<image>.png`` with the boxes drawn. An
existing non-empty ``OUT`` is refused unless ``--overwrite`` (as ``cvpipe convert`` refuses its
DST); ``detections/`` and ``drawn/`` are each replaced whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError

_PATH = click.Path(path_type=Path)


def collect_images(inputs: list[Path]):
    """A :class:`cvpipe.data.Dataset` (no categories yet, no boxes) of the image files named or
    found (recursively) in the folders named, relative to their common folder."""
    from ..data import Dataset, Sample
    from ..formats.images import image_size, is_image

    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_image(f))
            if not found:
                raise InputError("no images in this folder", file=str(p),
                                 expected="JPEG, PNG, BMP, TIFF or WebP files")
            files += found
        elif p.is_file():
            if not is_image(p):
                raise InputError("not an image file", file=str(p), expected="a .jpg, .png, .bmp, .tif or .webp file")
            files.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    files = list(dict.fromkeys(f.resolve() for f in files))
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    samples = []
    for f in files:
        w, h = image_size(f)
        samples.append(Sample(f.relative_to(root).as_posix(), w, h, id=f.stem))
    return Dataset([], samples, root=root)


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse (ConfigError on ``--out``) an output folder that exists and is not empty unless
    ``overwrite``, as ``cvpipe convert`` refuses its DST; first put back a ``detections/`` an
    earlier run was killed while replacing, so the folder is judged as it really is."""
    from ..errors import ConfigError
    from ..fsutil import recover

    recover(out / "detections")
    recover(out / "drawn")
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("the output exists and is not empty", field="--out", value=str(out),
                          expected="a new or empty folder", hint="replace its detections and pictures with --overwrite")


@click.command()
@click.argument("model", type=_PATH, metavar="RUN_DIR_OR_CHECKPOINT")
@click.argument("images", type=_PATH, nargs=-1, required=True, metavar="IMAGES_OR_DIR...")
@click.option("--out", "out", type=_PATH, required=True, help="Folder for the detections (and pictures).")
@click.option("--format", "fmt", default="coco", show_default=True,
              help="Format the detections are written in: coco, yolo, voc (or a plugin's format).")
@click.option("--draw", is_flag=True, help="Also write each image with its detections drawn (PNG).")
@click.option("--score-threshold", type=float, default=0.05, show_default=True,
              help="Keep detections scoring above this.")
@click.option("--draw-threshold", type=float, default=0.3, show_default=True, help="Draw detections scoring above this.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
@click.option("--slice", "slice_size", type=int, metavar="PX",
              help="Sliced prediction: also run the model on tiles of PX pixels (batched), merged per image.")
@click.option("--overlap", type=float, default=0.2, show_default=True, help="With --slice: overlap of neighbouring tiles.")
@click.option("--merge", type=click.Choice(["nms", "soft-nms", "wbf"]), default="nms", show_default=True,
              help="With --slice: how the tiles' detections are merged.")
@click.option("--merge-iou", type=float, default=0.5, show_default=True, help="With --slice: IoU of the merge.")
@click.option("--no-full", is_flag=True, help="With --slice: tiles only, not the whole image too.")
@click.option("--overwrite", is_flag=True,
              help="Write into --out even if it is not empty (detections/ and drawn/ replaced as wholes).")
@click.option("--executor", metavar="NAME",
              help="Predict shard by shard on this executor (local, or a plugin's: ray, one model per worker, a GPU each "
                   "when CUDA is there); the same detections.")
@click.option("--address", metavar="ADDR", help="Cluster address for --executor (e.g. 127.0.0.1:6379).")
def predict(model: Path, images: tuple[Path, ...], out: Path, fmt: str, draw: bool, score_threshold: float,
            draw_threshold: float, batch_size: int, device: str, quiet: bool, as_json: bool,
            slice_size: int | None = None, overlap: float = 0.2, merge: str = "nms", merge_iou: float = 0.5,
            no_full: bool = False, overwrite: bool = False, executor: str | None = None,
            address: str | None = None) -> None:
    """Detect objects in IMAGES (files or folders) with a trained model (a checkpoint, a run folder
    or an exported .onnx file); write them to --out."""
    import dataclasses

    from ..console import print_json, print_table
    from ..engine.distributed import resolve_device
    from ..engine.predict import filter_scores, load_bundle
    from ..errors import ConfigError
    from ..formats import get_format
    from ..formats.detection_files import write_detections

    get_format(fmt, need="writer", field="--format")
    if not 0 <= score_threshold < 1:
        raise ConfigError("out of range", field="--score-threshold", value=score_threshold, expected="a number in [0, 1)")
    if batch_size < 1:
        raise ConfigError("out of range", field="--batch-size", value=batch_size, expected="an integer >= 1")
    if slice_size is not None:
        from ..tiling import check_tile_settings

        check_tile_settings(slice_size, overlap, 0.0, prefix="--")
        if not 0 <= merge_iou <= 1:
            raise ConfigError("out of range", field="--merge-iou", value=merge_iou, expected="a number in [0, 1]")
    check_out(out, overwrite=overwrite)
    inputs = collect_images(list(images))
    if model.suffix.lower() == ".onnx":
        from ..export.runtime import load_onnx_bundle

        dev, bundle = "cpu", load_onnx_bundle(model)
    else:
        dev = resolve_device(device)
        bundle = load_bundle(model, device=str(dev))
    inputs = dataclasses.replace(inputs, categories=list(bundle.categories))
    slicing = (dict(size=slice_size, overlap=overlap, merge=merge, iou=merge_iou, full=not no_full)
               if slice_size is not None else None)
    dets = detect(bundle, inputs, model=model, device=dev, batch_size=batch_size, slicing=slicing,
                  progress=not quiet, executor=executor, address=address)
    dets = filter_scores(dets, score_threshold)
    out.mkdir(parents=True, exist_ok=True)
    report = write_detections(dets, out / "detections", fmt)
    drawn = 0
    if draw:
        from ..draw import draw_boxes, read_image, save_png
        from ..fsutil import atomic_dir, safe_join

        with atomic_dir(out / "drawn") as tmp:
            for s in dets.samples:
                keep = s.scores > draw_threshold
                pic = draw_boxes(read_image(dets.image_path(s)), s.boxes[keep], s.labels[keep], dets.categories,
                                 s.scores[keep])
                save_png(safe_join(tmp, str(Path(s.image).with_suffix(".png"))), pic)
                drawn += 1
    per_class = {c: 0 for c in dets.categories}
    for s in dets.samples:
        for lab in s.labels:
            per_class[dets.categories[lab]] += 1
    summary = {
        "checkpoint": str(bundle.checkpoint), "model": bundle.name, "images": len(dets),
        "detections": dets.num_boxes, "per_class": per_class, "format": fmt,
        "written": str(out / "detections"), "drawn": drawn, "writer": report,
    }
    if as_json:
        print_json(summary)
        return
    print_table([[c, n] for c, n in per_class.items()], ["class", "detections"])
    click.echo(f"\n{dets.num_boxes} detections on {len(dets)} images ({bundle.name}, {bundle.checkpoint}) "
               f"-> {out / 'detections'} ({fmt})" + (f"; {drawn} pictures in {out / 'drawn'}" if drawn else ""))


def detect(bundle, inputs, *, model: Path, device, batch_size: int, slicing: dict | None, progress: bool,
           executor: str | None = None, address: str | None = None):
    """The detections of ``bundle`` (loaded from ``model``) on ``inputs``: in this process, or
    shard by shard on ``executor`` (each worker loads ``model``; the same detections)."""
    from ..engine.distributed import cpu_threads, using_threads
    from ..engine.predict import predict_dataset
    from ..execution import open_executor

    with open_executor(executor, address) as ex:
        if ex is not None:
            from ..engine.predict_sharded import ModelSource, predict_sharded

            return predict_sharded(ModelSource(path=str(model), device=str(device)), inputs, executor=ex,
                                   categories=list(bundle.categories), name=bundle.name, batch_size=batch_size,
                                   device=str(device), slicing=slicing)
    with using_threads(cpu_threads(0)):
        if slicing is not None:
            from ..slicing import predict_sliced

            return predict_sliced(bundle, inputs, batch_size=batch_size, device=device, progress=progress, **slicing)
        return predict_dataset(bundle, inputs, batch_size=batch_size, device=device, progress=progress)
