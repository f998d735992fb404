"""``cvpipe evaluate``: detections against ground truth, COCO and/or VOC metrics.

Ground truth is any dataset cvpipe reads (:func:`cvpipe.formats.read_dataset`). Detections may be
in another format than the ground truth:

* COCO results JSON (``[{image_id, category_id, bbox, score}]``, ids as in the ground truth when
  it is COCO), or a COCO instances JSON whose annotations carry a ``score``;
* a folder of txt files named by image stem, one box per line in a layout declared with
  ``--dt-layout``/``--dt-coords``/``--dt-conf`` or detected
  (:mod:`cvpipe.formats.txt_detections`: Ultralytics' ``cls cx cy w h conf``, also its
  ``labels/`` sub-folder; review_object_detection_metrics' ``cls conf x y w h``; globox's
  layouts), or a YOLO dataset (``data.yaml``) whose label lines carry the confidence;
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


def read_detections(path: Path, gt, fmt: str | None = None, *, images_dir: Path | None = None,
                    txt_layout: dict | None = None):
    """Detections at ``path`` as a Dataset with scores, read against ground truth ``gt``
    (``fmt``: a registered format name; guessed when None): by the format's
    ``read_predictions`` when it registered one, else by its reader (a whole dataset whose boxes
    carry scores). A bare folder of ``<stem>.txt`` files is read by
    :func:`~cvpipe.formats.txt_detections.read_txt_detections` in the layout ``txt_layout``
    declares (``layout``/``coords``/``conf``, None: detected; ``fmt="yolo"`` alone declares
    Ultralytics' ``class cx cy w h conf``, relative)."""
    from ..formats import get_format, read_dataset
    from ..registry import call_plugin

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", file=str(path), expected="detections file or folder")
    dt = _txt_detections(path, gt, fmt, txt_layout)
    if dt is None:
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


# --- detections as txt files: --dt-layout / --dt-coords / --dt-conf ---------------------------

def _txt_detections(path: Path, gt, fmt: str | None, txt_layout: dict | None):
    """The detections of a bare folder of txt files (no ``data.yaml``/``obj.names``) in the
    declared or detected layout, or None when ``path`` is something else; the ``--dt-*``
    layout options on anything else are a ConfigError."""
    from ..errors import ConfigError
    from ..formats.txt_detections import is_txt_folder, read_txt_detections

    declared = {k: v for k, v in (txt_layout or {}).items() if v is not None}
    bare = fmt in (None, "yolo") and is_txt_folder(path)
    if not bare:
        if declared:
            raise ConfigError("a detection layout is for a folder of txt files", field="--dt-" + next(iter(declared)),
                              value=str(path), expected="--dt DIR holding <image stem>.txt files")
        return None
    if fmt == "yolo":  # --dt-format yolo: the lines as Ultralytics writes them, unless declared otherwise
        declared = {"layout": "yolo", "coords": "rel", "conf": "last", **declared}
    return read_txt_detections(path, gt, **declared)


def _txt_layout_options(layout: str | None, coords: str | None, conf: str | None,
                        names_file: Path | None = None) -> dict | None:
    """The ``--dt-layout``/``--dt-coords``/``--dt-conf``/``--dt-names`` values as
    ``read_detections``' ``txt_layout``."""
    from ..formats import read_classes_file

    given = {"layout": layout, "coords": coords, "conf": conf,
             "names": read_classes_file(names_file) if names_file is not None else None}
    return given if any(v is not None for v in given.values()) else None


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
              help="Detections: COCO results JSON, a folder of txt files (see --dt-layout), or VOC XML with scores.")
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
@click.option("--dt-layout", type=click.Choice(["yolo", "xywh", "xyxy"]), default=None,
              help="txt detections: box numbers centre x y w h (yolo), left top w h (xywh) or corners (xyxy); detected when omitted.")
@click.option("--dt-coords", type=click.Choice(["abs", "rel"]), default=None,
              help="txt detections: pixels (abs) or fractions of the image size (rel); detected when omitted.")
@click.option("--dt-conf", type=click.Choice(["second", "last"]), default=None,
              help="txt detections: the confidence after the class (second) or at the end of the line (last); detected when omitted.")
@click.option("--dt-names", "dt_names", type=_PATH, metavar="FILE",
              help="txt detections: the class names their integer class ids index, one per line (default: GT's categories).")
@click.option("--analyse", "--analyze", "analyse", is_flag=True,
              help="Also TIDE's error breakdown and the F1-optimal confidence per class (tables, JSON "
                   "'analysis', and with --plots f1_curves.png, error_breakdown.png, false_positives.png, missed.png).")
@click.option("--strict", is_flag=True,
              help="Refuse detections whose category id the ground truth does not have (by default they are "
                   "left out and counted, as pycocotools leaves them out).")
@click.option("--executor", metavar="NAME",
              help="coco metric: match detections per shard of images on this executor (local, or a plugin's: ray); "
                   "one accumulate here, pycocotools' numbers to the last bit.")
@click.option("--address", metavar="ADDR", help="Cluster address for --executor (e.g. 127.0.0.1:6379).")
def evaluate(gt_path: Path, dt_path: Path | None, model_path: Path | None, metrics: tuple[str, ...], json_out: Path | None, gt_format: str | None,
             dt_format: str | None, images_dir: Path | None, plots: Path | None, engine: str,
             iou_threshold: float, conf_threshold: float, difficult: str, quiet: bool,
             max_dets: str | None = None, analyse: bool = False, dt_layout: str | None = None,
             dt_coords: str | None = None, dt_conf: str | None = None, dt_names: Path | None = None,
             strict: bool = False, executor: str | None = None, address: str | None = None) -> None:
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
    ignored = None
    with gc_paused():  # see gc_paused: reading and evaluating build many small objects
        status(f"reading ground truth {gt_path}")
        gt = read_dataset(gt_path, gt_format, images_dir=images_dir)
        if model_path is not None:
            status(f"running {model_path} on {len(gt)} images")
            dt, dt_path = model_detections(model_path, gt), model_path
        else:
            status(f"reading detections {dt_path}")
            dt = read_detections(dt_path, gt, dt_format, txt_layout=_txt_layout_options(dt_layout, dt_coords, dt_conf, dt_names))
            ignored = _ignored_detections(dt, strict)  # --strict (issue 11)
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
    if ignored:
        result = {**result, "ignored_detections": ignored}
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


def _ignored_detections(dt, strict: bool) -> dict | None:
    """The detections the reader left out because the ground truth has not their category
    (``dt.meta["ignored_detections"]``, as pycocotools leaves them out of its evaluation):
    a warning on stderr and ``{"count", "ids"}`` for the JSON, or with ``strict`` an InputError
    naming the first of them (file, line, field) and the ids."""
    info = dt.meta.get("ignored_detections")
    if not info:
        return None
    ids = ", ".join(f"{k!r} ({n}x)" for k, n in list(info["ids"].items())[:10])
    ids += ", ..." if len(info["ids"]) > 10 else ""
    count = info["count"]
    if strict:
        p = info["problems"][0]
        line = dt.locate(p.file, p.field) if dt.locate is not None else None
        raise InputError(f"{count:,} detection(s) of a category the ground truth does not have (refused by --strict)",
                         file=p.file, line=line, field=p.field, value=ids, expected=p.expected,
                         hint="without --strict they are left out and counted, as pycocotools leaves them out")
    click.echo(f"warning: {count:,} detection(s) left out: category id not in the ground truth ({ids}); "
               "pycocotools leaves them out too (--strict refuses them)", err=True)
    return {"count": count, "ids": {str(k): n for k, n in info["ids"].items()}}


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
