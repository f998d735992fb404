"""Built-in metrics plugin: ``coco``, ``voc07`` and ``voc12``, and the ``evaluate`` pipeline step.

* ``coco``: COCO bbox AP/AR exactly as pycocotools computes them, see
  :func:`cvpipe.evaluation_coco.coco_eval` (given the COCO format's ``to_coco_dict``).
* ``voc07`` / ``voc12``: Pascal VOC devkit AP (11-point / all-point) per class and mAP, see
  :func:`cvpipe.evaluation.voc_eval`.

Heavy libraries (faster-coco-eval, pycocotools, matplotlib, OpenCV) are imported only when a
metric runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError
from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..contract import MetricRegistrar, StepRegistrar

__all__ = ["CocoMetric", "VocMetric", "EvaluateStep", "voc07", "voc12"]

Engine = Literal["faster", "pycocotools"]


# ---------------------------------------------------------------------------------------------
# Metric plugins
# ---------------------------------------------------------------------------------------------


class CocoMetric:
    """COCO bbox AP/AR, the twelve numbers pycocotools prints (faster-coco-eval engine by default)."""

    def __init__(
        self,
        *,
        engine: Engine = "faster",
        iou_thresholds: list[float] | None = None,
        difficult: Literal["count", "drop"] = "count",
        max_dets: list[int] | None = None,
    ) -> None:
        from ..evaluation_coco import check_iou_thresholds, check_max_dets

        self.engine = engine
        self.iou_thresholds = check_iou_thresholds(iou_thresholds)
        self.difficult = difficult
        self.max_dets = check_max_dets(max_dets)

    def compute(self, gt, dt) -> dict[str, Any]:
        from ..evaluation_coco import coco_eval
        from .coco import to_coco_dict

        return coco_eval(gt, dt, to_coco_dict=to_coco_dict, engine=self.engine, iou_thresholds=self.iou_thresholds,
                         difficult=self.difficult, max_dets=self.max_dets)

    def compute_sharded(self, gt, dt, *, executor) -> dict[str, Any]:
        """:meth:`compute` with the per-image matching run per shard of images on ``executor``
        and one accumulate here (:func:`cvpipe.evaluation_sharded.coco_eval_sharded`): the same
        dict, pycocotools' numbers to the last bit whichever ``engine`` is set (faster-coco-eval's
        differ from them by up to ~2e-16)."""
        from ..evaluation_sharded import coco_eval_sharded
        from .coco import to_coco_dict

        return coco_eval_sharded(gt, dt, executor=executor, to_coco_dict=to_coco_dict,
                                 iou_thresholds=self.iou_thresholds, difficult=self.difficult, max_dets=self.max_dets)

    def pr_curves(self, gt, dt, *, iou_threshold: float = 0.5) -> dict[str, Any]:
        """Per-class precision at pycocotools' 101 recall points at ``iou_threshold``; each
        class's AP their mean (at 0.5 exactly this metric's ``AP50``). See
        :func:`cvpipe.evaluation_coco.coco_pr_curves`."""
        from ..evaluation_coco import coco_pr_curves
        from .coco import to_coco_dict

        return coco_pr_curves(gt, dt, to_coco_dict=to_coco_dict, engine=self.engine,
                              iou_threshold=iou_threshold, difficult=self.difficult)


class VocMetric:
    """Pascal VOC AP per class and mAP, following the VOC devkit."""

    def __init__(self, *, use_07_metric: bool, iou_threshold: float = 0.5) -> None:
        if not (0.0 < iou_threshold <= 1.0):
            raise ConfigError("IoU threshold out of range", field="iou_threshold", value=iou_threshold,
                              expected="a number in (0, 1]")
        self.use_07_metric = use_07_metric
        self.iou_threshold = iou_threshold

    def compute(self, gt, dt) -> dict[str, Any]:
        from ..evaluation import voc_eval

        return voc_eval(gt, dt, use_07_metric=self.use_07_metric, iou_threshold=self.iou_threshold)


def voc07(*, iou_threshold: float = 0.5) -> VocMetric:
    """Pascal VOC2007 11-point interpolated AP per class and mAP (devkit rules)."""
    return VocMetric(use_07_metric=True, iou_threshold=iou_threshold)


def voc12(*, iou_threshold: float = 0.5) -> VocMetric:
    """Pascal VOC2010+ all-point AP per class and mAP (devkit rules)."""
    return VocMetric(use_07_metric=False, iou_threshold=iou_threshold)


# ---------------------------------------------------------------------------------------------
# The evaluate step
# ---------------------------------------------------------------------------------------------


class EvaluateStep:
    """Evaluate detections against ground truth: metrics table, metrics.json and pictures.

    Settings:
        gt: context name of the ground-truth dataset.
        detections: context name of the detections dataset (samples with ``scores``).
        metrics: metric names (``coco``, ``voc07``, ``voc12`` or a plugin's).
        pictures: write ``pr_curves.png``, ``confusion_matrix.png`` and ``samples.png``.
        output: context name the metrics dict is stored under.
        engine: COCO engine, ``faster`` (faster-coco-eval) or ``pycocotools``.
        iou_threshold: IoU of a hit for voc07/voc12 and the pictures.
        conf_threshold: lowest score drawn and counted in the confusion matrix.
        samples: how many images the sample grid shows.
        run_metrics: also write ``RUN_DIR/metrics.json`` (the run's final metrics).
        difficult: coco metric only: VOC difficult objects ``count`` like any object or are
            left out (``drop``); the VOC metrics always ignore them, as the devkit does.
        analyse: also TIDE's error breakdown and the F1-optimal confidences
            (:mod:`cvpipe.analysis`, as ``cvpipe evaluate --analyse``): ``analysis.json``, their
            tables in the run's report and, with ``pictures``, ``f1_curves.png``,
            ``error_breakdown.png``, ``false_positives.png`` and ``missed.png``.
        per_class: also the per-class table (:mod:`cvpipe.analysis.classes`: P and R at the
            F1-optimal confidence, COCO AP50 and AP50-95, the confidence): ``per_class.json``,
            its table in the report, and ``per_class`` in the step's result.
        executor: coco metric: match per shard of images on this executor (``local``, or a
            plugin's: ``ray``; ``cvpipe evaluate --executor``), one accumulate here; null: in
            this process (:func:`cvpipe.execution.executor_settings`).
        address: cluster address for ``executor``.

    Writes ``metrics.json`` (the form of ``cvpipe evaluate --json``) and the PNGs into the
    step's folder.
    """

    def __init__(
        self,
        *,
        gt: str,
        detections: str,
        metrics: list[str] | None = None,
        pictures: bool = True,
        output: str = "metrics",
        engine: Engine = "faster",
        iou_threshold: float = 0.5,
        conf_threshold: float = 0.25,
        samples: int = 8,
        run_metrics: bool = True,
        difficult: Literal["count", "drop"] = "count",
        analyse: bool = False,
        per_class: bool = False,
        executor: str | None = None,
        address: str | None = None,
    ) -> None:
        from ..execution import check_executor_settings
        from ..plugins import get_registry

        check_executor_settings(executor, address)
        self.executor, self.address = executor, address

        names = list(metrics) if metrics is not None else ["coco"]
        if not names:
            raise ConfigError("no metric asked for", field="metrics", expected="a list of metric names, e.g. [coco, voc07]")
        fam = get_registry().metrics
        for i, name in enumerate(names):
            fam.get(name, field=f"metrics[{i}]")
        if not (0.0 < iou_threshold <= 1.0):
            raise ConfigError("IoU threshold out of range", field="iou_threshold", value=iou_threshold,
                              expected="a number in (0, 1]")
        if not (0.0 <= conf_threshold <= 1.0):
            raise ConfigError("score threshold out of range", field="conf_threshold", value=conf_threshold,
                              expected="a number in [0, 1]")
        if samples < 0:
            raise ConfigError("negative sample count", field="samples", value=samples, expected="0 or more")
        self.gt, self.detections, self.metric_names = gt, detections, names
        self.pictures, self.output, self.engine = pictures, output, engine
        self.iou_threshold, self.conf_threshold, self.samples = iou_threshold, conf_threshold, samples
        self.run_metrics, self.difficult = run_metrics, difficult
        self.analyse = analyse
        self.per_class = per_class
        self.inputs = {"gt": gt, "detections": detections}
        self.outputs = {"output": output}

    def _metric_params(self) -> dict[str, dict[str, Any]]:
        params: dict[str, dict[str, Any]] = {}
        for name in self.metric_names:
            if name == "coco":
                params[name] = {"engine": self.engine, "difficult": self.difficult}
            elif name in ("voc07", "voc12"):
                params[name] = {"iou_threshold": self.iou_threshold}
            else:
                params[name] = {}
        return params

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..data import Dataset
        from ..errors import JobError
        from ..evaluation import align_detections, evaluate, format_report, pr_ap_definition, save_pictures
        from ..fsutil import atomic_write_json

        gt, dt = ctx[self.gt], ctx[self.detections]
        for setting, obj in (("gt", gt), ("detections", dt)):
            if not isinstance(obj, Dataset):
                raise JobError(f"{setting} is not a dataset", field=setting, value=type(obj).__name__,
                               expected="the name of a dataset produced by an earlier step")
        dt = align_detections(gt, dt)
        from ..execution import open_executor

        with open_executor(self.executor, self.address, field="executor") as ex:  # None: in this process
            result = evaluate(gt, dt, self._metric_params(), executor=ex)
        atomic_write_json(ctx.step_dir / "metrics.json", result)
        if self.run_metrics:
            atomic_write_json(ctx.run_dir / "metrics.json", result)
        pictures: dict[str, str] = {}
        if self.pictures:
            ap = pr_ap_definition(self.metric_names)
            pictures = save_pictures(gt, dt, ctx.step_dir, iou_threshold=self.iou_threshold,
                                     conf_threshold=self.conf_threshold, samples=self.samples, ap=ap,
                                     ap_params=self._metric_params().get(ap))
        ctx[self.output] = result
        ctx.report(format_report(result))
        if self.analyse:
            from ..analysis.plots import save_analysis_pictures
            from ..analysis.report import format_analysis, run_analysis

            analysis = run_analysis(gt, dt, difficult=self.difficult)
            atomic_write_json(ctx.step_dir / "analysis.json", analysis.result)
            if self.pictures:
                pictures.update(save_analysis_pictures(analysis, gt, ctx.step_dir))
            ctx.report(format_analysis(analysis.result))
        out = {"metrics": result, "pictures": pictures, "images": len(gt),
               "objects": gt.num_boxes, "detections": dt.num_boxes}
        if self.per_class:
            from ..analysis.classes import class_table, format_class_table

            table = class_table(gt, dt, difficult=self.difficult, engine=self.engine, coco=result.get("coco"))
            atomic_write_json(ctx.step_dir / "per_class.json", table)
            ctx.report(format_class_table(table))
            out["per_class"] = table
        return out


@hookimpl
def cvpipe_register_steps(register: StepRegistrar) -> None:
    register.add_step("evaluate", EvaluateStep, description="Evaluate detections against ground truth: metrics, metrics.json, pictures")


@hookimpl
def cvpipe_register_metrics(register: MetricRegistrar) -> None:
    register.add_metric("coco", CocoMetric, description="COCO bbox AP/AR: pycocotools' twelve numbers (faster-coco-eval engine)")
    register.add_metric("voc07", voc07, description="Pascal VOC2007 11-point AP per class and mAP (devkit rules)")
    register.add_metric("voc12", voc12, description="Pascal VOC2010+ all-point AP per class and mAP (devkit rules)")
