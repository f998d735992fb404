"""``cvpipe evaluate``: detections against ground truth, COCO and/or VOC metrics.

Ground truth is any dataset cvpipe reads (:func:`cvpipe.formats.read_dataset`). Detections may be
in another format than the ground truth:

* COCO results JSON (``[{image_id, category_id, bbox, score}]``, ids as in the ground truth when
  it is COCO; :func:`cvpipe.builtin.coco.read_coco_results`), or a COCO instances JSON whose
  annotations carry a ``score`` (matched to the ground truth by file name and category name);
* a folder of YOLO prediction files named by image stem, lines ``cls cx cy w h conf`` (as
  Ultralytics writes them, also its ``labels/`` sub-folder;
  :func:`cvpipe.builtin.yolo.read_yolo_predictions`), or a YOLO dataset (``data.yaml``) whose
  label lines carry the confidence;
* Pascal VOC XML with a ``<score>`` per object (the VOC reader);
* any other registered format whose reader sets scores (``--dt-format NAME``).

No torch on this path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError

_PATH = click.Path(path_type=Path)

#: --dt-format values with a meaning of their own (any registered format name is accepted too).
DT_FORMATS = ("coco", "yolo", "voc")


def _json_kind(path: Path) -> str | None:
    """``"list"`` or ``"object"``: what the JSON file at ``path`` holds at the top level, from its
    first non-blank byte (None when unreadable; the reader then reports the problem). Reading
    only the start keeps a 500,000-detection file from being parsed twice."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    return {b"[": "list", b"{": "object"}.get(head[:1])


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
    (``fmt``: ``coco``, ``yolo``, ``voc`` or a registered format name; guessed when None)."""
    from ..formats import read_dataset

    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", file=str(path), expected="detections file or folder")
    fmt = fmt or _guess_dt_format(path)
    if fmt == "coco":
        from ..builtin.coco import read_coco_results

        if path.is_file() and _json_kind(path) == "object":
            # a COCO instances file whose annotations carry scores (some tools write detections so)
            dt = read_dataset(path, "coco", images_dir=images_dir)
            return _scores_from_extra(dt, path)
        return read_coco_results(path, gt)
    yaml_file = next((path / n for n in ("data.yaml", "data.yml") if (path / n).is_file()), None)
    if fmt == "yolo" and yaml_file is not None:
        return _yolo_dataset_predictions(path, yaml_file, gt)
    if fmt == "yolo" and not (path / "obj.names").is_file():
        from ..builtin.yolo import read_yolo_predictions

        folder = path
        if path.is_dir() and not any(path.glob("*.txt")) and (path / "labels").is_dir():
            folder = path / "labels"  # Ultralytics: runs/detect/predict/labels/*.txt
        return read_yolo_predictions(folder, gt)
    # a whole dataset (VOC, darknet YOLO, another format) whose boxes carry scores
    dt = read_dataset(path, fmt, images_dir=images_dir)
    if dt.num_boxes and any(s.scores is None for s in dt.samples if len(s)):
        raise InputError("detections have no scores", file=str(path),
                         expected=f"a {fmt} file with a confidence score on every box")
    return dt


def _yolo_dataset_predictions(path: Path, yaml_file: Path, gt):
    """Detections written as a YOLO dataset (``data.yaml`` and ``labels/<split>/*.txt`` with a
    confidence column, as the ``predict`` step writes them with ``format: yolo``, usually without
    images): each label folder is read by :func:`read_yolo_predictions` against the ground
    truth's image sizes, with the class names of ``data.yaml`` (matched to the ground truth's by
    name later)."""
    from ..builtin.yolo import _load_yaml, _names_from_yaml, read_yolo_predictions  # F1's data.yaml parsing
    from ..data import Dataset
    from ..errors import Problem

    found: list[Problem] = []
    data = _load_yaml(yaml_file, found)
    names = _names_from_yaml(data, str(yaml_file), found) if data is not None else None
    if names is None:
        raise InputError.from_problems(found or [Problem("no class names", file=str(yaml_file),
                                                         expected="names: in data.yaml")])
    reference = Dataset(names, gt.samples, root=gt.root)
    labels = path / "labels"
    folders = sorted({p.parent for p in labels.rglob("*.txt")}) if labels.is_dir() else []
    samples = [s for folder in folders for s in read_yolo_predictions(folder, reference).samples]
    return Dataset(names, samples, root=gt.root)


def _scores_from_extra(dt, path: Path):
    """Move ``box_extra["score"]`` (COCO annotations with scores) into ``Sample.scores``."""
    import numpy as np

    missing = []
    for s in dt.samples:
        vals = [e.get("score") for e in s.box_extra]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in vals):
            missing.append(s.image)
            continue
        s.scores = np.asarray(vals, dtype=np.float64).reshape(-1)
    if missing:
        raise InputError("annotations without a score", file=str(path), value=", ".join(missing[:5]),
                         expected="a numeric 'score' on every annotation of a detections file")
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
                                                                    box_extra=None, scores=None)
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
def evaluate(gt_path: Path, dt_path: Path | None, model_path: Path | None, metrics: tuple[str, ...], json_out: Path | None, gt_format: str | None,
             dt_format: str | None, images_dir: Path | None, plots: Path | None, engine: str,
             iou_threshold: float, conf_threshold: float, difficult: str, quiet: bool) -> None:
    """Evaluate detections DT against ground truth GT.

    Prints COCO's twelve numbers (as pycocotools computes them) and a per-class AP table; --json
    writes {"coco": {"AP": ..., ...}, "voc07": {"mAP": ..., "per_class": {...}}} for machines.
    Detections are matched to images by path or file stem and to classes by name.
    """
    from ..console import print_json
    from ..errors import ConfigError
    from ..evaluation import align_detections, format_report, gc_paused, save_pictures
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
        result = run_evaluation(gt, dt, params)
    status.done()
    if json_out is not None and str(json_out) == "-":
        print_json(result)
    else:
        click.echo(f"{gt_path} ({len(gt)} images, {gt.num_boxes} objects) <- {dt_path} ({dt.num_boxes} detections)\n")
        click.echo(format_report(result))
        if json_out is not None:
            atomic_write_json(json_out, result)
            click.echo(f"\nmetrics written to {json_out}")
    if plots is not None:
        written = save_pictures(gt, dt, plots, iou_threshold=iou_threshold, conf_threshold=conf_threshold)
        stream = sys.stderr if json_out is not None and str(json_out) == "-" else sys.stdout
        click.echo("pictures: " + ", ".join(written.values()), file=stream)
