"""``cvpipe evaluate``: detections against ground truth, COCO and/or VOC metrics.

Ground truth is any dataset cvpipe reads (:func:`cvpipe.formats.read_dataset`). Detections may be
in another format than the ground truth:

* COCO results JSON (``[{image_id, category_id, bbox, score}]``, ids as in the ground truth when
  it is COCO), or a COCO instances JSON whose annotations carry a ``score``;
* a folder of YOLO prediction files named by image stem, lines ``cls cx cy w h conf`` (as
  Ultralytics writes them, also its ``labels/`` sub-folder), or a YOLO dataset (``data.yaml``)
  whose label lines carry the confidence;
* Pascal VOC XML with a ``<score>`` per object (the VOC reader);
* any other registered format whose reader sets scores (``--dt-format NAME``).

A format reads detections its own way by registering ``read_predictions`` (COCO and YOLO do);
otherwise its reader is used.

No torch on this path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError

_PATH = click.Path(path_type=Path)

def _guess_dt_format(path: Path) -> str:
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        if path.suffix.lower() == ".xml":
            return "voc"
    if path.is_dir():
        if any(path.glob("*.txt")) or (path / "labels").is_dir() or (path / "data.yaml").is_file():
            return "yolo"
        if any(path.glob("*.xml")) or (path / "Annotations").is_dir():
            return "voc"
    from ..formats import detect_format

    return detect_format(path)


def read_detections(path: Path, gt, fmt: str | None = None, *, images_dir: Path | None = None):
    """Detections at ``path`` as a Dataset with scores, read against ground truth ``gt``
    (``fmt``: a registered format name; guessed when None): by the format's
    ``read_predictions`` when it registered one, else by its reader (a whole dataset whose boxes
    carry scores)."""
    from ..formats import get_format, read_dataset
    from ..registry import call_plugin

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", file=str(path), expected="detections file or folder")
    fmt = fmt or _guess_dt_format(path)
    entry = get_format(fmt, field="--from")
    if entry.obj.read_predictions is not None:
        dt = call_plugin(entry, entry.obj.read_predictions, path, gt)
    else:
        dt = read_dataset(path, fmt, images_dir=images_dir)
    if dt.num_boxes and any(s.scores is None for s in dt.samples if len(s)):
        raise InputError("detections have no scores", file=str(path),
                         expected=f"a {fmt} file with a confidence score on every box")
    from ..formats.check import check_detections

    problems = check_detections(dt)  # NaN/inf/negative-size boxes, non-finite scores
    if problems:
        raise InputError.from_problems(problems)
    return dt


def model_detections(model: Path, gt):
    """Detections of ``model`` (a checkpoint, run folder or exported ``.onnx`` file) on the
    images of ``gt``, scores above 0.001 (the usual evaluation floor)."""
    import dataclasses

    import numpy as np

    from ..data import Dataset

    if Path(model).suffix.lower() == ".onnx":
        from ..export.runtime import load_onnx_bundle

        bundle = load_onnx_bundle(model)
    else:
        from ..engine.predict import load_bundle

        bundle = load_bundle(model, device="cpu")
    from ..engine.predict import predict_dataset

    images = Dataset(list(bundle.categories), [dataclasses.replace(s, boxes=np.zeros((0, 4)), labels=[],
                                                                    difficult=None, truncated=None, iscrowd=None,
                                                                    box_extra=None, box_origins=None, scores=None)
                                               for s in gt.samples], root=gt.root)
    dets = predict_dataset(bundle, images, device="cpu")
    return dataclasses.replace(dets, samples=[s.select(s.scores > 0.001) for s in dets.samples])


class _Status:
    """One line on stderr naming the stage under way, with the seconds the previous one took."""

    def __init__(self, enabled: bool) -> None:
        import time

        self.enabled, self.clock, self.start = enabled, time.perf_counter, None

    def __call__(self, text: str) -> None:
        self._close()
        if self.enabled:
            click.echo(f"{text} ...", err=True, nl=False)
        self.start = self.clock()

    def _close(self) -> None:
        if self.enabled and self.start is not None:
            click.echo(f" {self.clock() - self.start:.1f} s", err=True)
        self.start = None

    def done(self) -> None:
        self._close()


@click.command()
@click.option("--gt", "gt_path", required=True, type=_PATH, metavar="GT", help="Ground-truth dataset (any readable format).")
@click.option("--dt", "dt_path", type=_PATH, metavar="DT",
              help="Detections: COCO results JSON, a folder of YOLO prediction txt files, or VOC XML with scores.")
@click.option("--model", "model_path", type=_PATH, metavar="MODEL",
              help="Instead of --dt: run this model (checkpoint, run folder or exported .onnx) on GT's images.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="coco, voc07, voc12 or a plugin's metric (repeatable; default: coco).")
@click.option("--json", "json_out", type=_PATH, metavar="OUT", help="Write the metrics as JSON to OUT ('-': stdout).")
@click.option("--gt-format", metavar="FORMAT", help="Ground-truth format (detected when omitted).")
@click.option("--dt-format", metavar="FORMAT", help="Detections format: coco, yolo, voc or a registered format (guessed when omitted).")
@click.option("--images-dir", type=_PATH, metavar="DIR", help="Where the ground truth's image files are.")
@click.option("--plots", type=_PATH, metavar="DIR",
              help="Write pr_curves.png, confusion_matrix.png and samples.png into DIR.")
@click.option("--engine", type=click.Choice(["faster", "pycocotools"]), default="faster", show_default=True,
              help="COCO engine: faster-coco-eval, or pycocotools itself (the reference; slower).")
@click.option("--iou", "iou_threshold", type=float, default=0.5, show_default=True,
              help="IoU of a hit for voc07/voc12 and the pictures.")
@click.option("--conf", "conf_threshold", type=float, default=0.25, show_default=True,
              help="Lowest score drawn and counted in the confusion matrix.")
@click.option("--difficult", type=click.Choice(["count", "drop"]), default="count", show_default=True,
              help="coco metric: VOC difficult objects count like any object, or are left out (VOC metrics always ignore them).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@click.option("--max-dets", "max_dets", metavar="N,N,N",
              help="coco metric: three detection caps per image instead of 1,10,100 (e.g. 100,300,1000).")
@click.option("--analyse", "--analyze", "analyse", is_flag=True,
              help="Also TIDE's error breakdown and the F1-optimal confidence per class (tables, JSON "
                   "'analysis', and with --plots f1_curves.png, error_breakdown.png, false_positives.png, missed.png).")
@click.option("--executor", metavar="NAME",
              help="coco metric: match detections per shard of images on this executor (local, or a plugin's: ray); "
                   "one accumulate here, pycocotools' numbers to the last bit.")
@click.option("--address", metavar="ADDR", help="Cluster address for --executor (e.g. 127.0.0.1:6379).")
def evaluate(gt_path: Path, dt_path: Path | None, model_path: Path | None, metrics: tuple[str, ...], json_out: Path | None, gt_format: str | None,
             dt_format: str | None, images_dir: Path | None, plots: Path | None, engine: str,
             iou_threshold: float, conf_threshold: float, difficult: str, quiet: bool,
             max_dets: str | None = None, analyse: bool = False, executor: str | None = None,
             address: str | None = None) -> None:
    """Evaluate detections DT against ground truth GT.

    Prints COCO's twelve numbers (as pycocotools computes them) and a per-class AP table; --json
    writes {"coco": {"AP": ..., ...}, "voc07": {"mAP": ..., "per_class": {...}}} for machines.
    Detections are matched to images by path or file stem and to classes by name.
    """
    from ..console import print_json
    from ..errors import ConfigError
    from ..evaluation import align_detections, format_report, pr_ap_definition, save_pictures
    from ..formats.json import gc_paused
    from ..evaluation import evaluate as run_evaluation
    from ..formats import read_dataset
    from ..fsutil import atomic_write_json

    if (dt_path is None) == (model_path is None):
        raise ConfigError("give exactly one of --dt and --model", field="--dt" if dt_path is None else "--model",
                          expected="--dt DETECTIONS or --model CHECKPOINT_OR_ONNX")
    names = list(dict.fromkeys(metrics)) or ["coco"]
    if not (0.0 < iou_threshold <= 1.0):
        raise ConfigError("IoU threshold out of range", field="--iou", value=iou_threshold, expected="a number in (0, 1]")
    params = {}
    for n in names:
        params[n] = ({"engine": engine, "difficult": difficult} if n == "coco"
                     else {"iou_threshold": iou_threshold} if n in ("voc07", "voc12") else {})
    caps = _parse_max_dets(max_dets, names) if max_dets is not None else None
    if caps is not None:
        params["coco"]["max_dets"] = caps
    if executor is not None:  # an unknown name fails before the (long) reading
        from ..plugins import get_registry

        get_registry().executors.get(executor, field="--executor")
    status = _Status(enabled=not quiet and sys.stderr.isatty())
    with gc_paused():  # see gc_paused: reading and evaluating build many small objects
        status(f"reading ground truth {gt_path}")
        gt = read_dataset(gt_path, gt_format, images_dir=images_dir)
        if model_path is not None:
            status(f"running {model_path} on {len(gt)} images")
            dt, dt_path = model_detections(model_path, gt), model_path
        else:
            status(f"reading detections {dt_path}")
            dt = read_detections(dt_path, gt, dt_format)
        dt = align_detections(gt, dt)
        status(f"evaluating {', '.join(names)}: {len(gt)} images, {gt.num_boxes} objects, {dt.num_boxes} detections")
        from ..execution import open_executor

        with open_executor(executor, address) as ex:  # None: in this process
            result = run_evaluation(gt, dt, params, executor=ex)
        analysis = None
        if analyse:
            from ..analysis.report import run_analysis

            status("analysing errors and thresholds")
            analysis = run_analysis(gt, dt, difficult=difficult, max_dets=caps[-1] if caps else 100)  # type: ignore[arg-type]
            result = {**result, "analysis": analysis.result}
    status.done()
    if json_out is not None and str(json_out) == "-":
        print_json(result)
    else:
        click.echo(f"{gt_path} ({len(gt)} images, {gt.num_boxes} objects) <- {dt_path} ({dt.num_boxes} detections)\n")
        click.echo(format_report({k: v for k, v in result.items() if analysis is None or k != "analysis"}))
        if analysis is not None:
            from ..analysis.report import format_analysis

            click.echo("\n" + format_analysis(analysis.result))
        if json_out is not None:
            atomic_write_json(json_out, result)
            click.echo(f"\nmetrics written to {json_out}")
    if plots is not None:
        ap = pr_ap_definition(names)  # the plot's AP is the table's
        written = save_pictures(gt, dt, plots, iou_threshold=iou_threshold, conf_threshold=conf_threshold,
                                ap=ap, ap_params=params.get(ap))
        stream = sys.stderr if json_out is not None and str(json_out) == "-" else sys.stdout
        if analysis is not None:
            from ..analysis.plots import save_analysis_pictures

            written.update(save_analysis_pictures(analysis, gt, plots))
        click.echo("pictures: " + ", ".join(written.values()), file=stream)


def _parse_max_dets(text: str, metrics: list[str]) -> list[int]:
    """``--max-dets 100,300,1000`` as three increasing positive integers, or ConfigError (also
    when the coco metric is not among ``metrics``)."""
    from ..errors import ConfigError

    if "coco" not in metrics:
        raise ConfigError("--max-dets is an option of the coco metric", field="--max-dets", value=text,
                          expected="--metric coco among the metrics")
    try:
        caps = [int(p) for p in text.split(",")]
    except ValueError:
        caps = []
    if len(caps) != 3 or any(c <= 0 for c in caps) or not caps[0] < caps[1] < caps[2]:
        raise ConfigError("bad detection caps", field="--max-dets", value=text,
                          expected="three increasing positive integers separated by commas, e.g. 100,300,1000")
    return caps
