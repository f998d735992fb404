"""Postprocessors: head decoders, NMS variants, box fusion and filters, and chains of them
(:func:`build_postprocess`). Registered as the built-in postprocessor plugins by
:mod:`cvpipe.builtin.postprocess`.

Factories over :mod:`cvpipe.ops` (torch is imported on first call, never at import
time). Each factory validates its settings when it is built (an out-of-range value is a
:class:`~cvpipe.errors.ConfigError` naming the parameter) and returns a callable:

* **decoders** (``decode_anchors``, ``decode_yolo``) take raw head outputs of a batch and
  return detections;
* the others (``nms``, ``soft_nms``, ``wbf``, ``score_threshold``, ``topk``) map detections to
  detections.

Detections: a list with one dict per image, ``boxes`` ``(K, 4)`` float xyxy, ``scores``
``(K,)``, ``labels`` ``(K,)`` int64 (torch tensors; numpy accepted on input). Outputs hold
these three keys, by decreasing score, plus the input's non-array entries (``image_id``, ...)
unchanged; other per-box arrays are not carried (they could not be kept aligned safely).

A chain is written in YAML as a list of one-key mappings and built with
:func:`build_postprocess`::

    postprocess:
      - decode_anchors: {strides: [8, 16, 32], sizes: [[32], [64], [128]]}
      - nms: {iou: 0.5, max_det: 100}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, Mapping, Sequence

from cvpipe.errors import MISSING, ConfigError, CvpipeError, Problem

__all__ = [
    "Postprocess",
    "build_postprocess",
    "decode_anchors",
    "decode_yolo",
    "nms",
    "soft_nms",
    "wbf",
    "score_threshold",
    "topk",
]

Detections = list  # list[dict[str, Tensor]], one dict per image


# --------------------------------------------------------------------------------------------
# settings checks (no torch needed)
# --------------------------------------------------------------------------------------------


class _Checks:
    """Collects range problems of one factory's settings and raises them all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, name: str, value: Any, expected: str) -> None:
        self.problems.append(Problem("out of range", field=name, value=value, expected=expected))

    def between(self, name: str, value: float | None, lo: float, hi: float) -> None:
        if value is not None and not lo <= value <= hi:
            self.add(name, value, f"a number in [{lo}, {hi}]")

    def positive(self, name: str, value: float | None, *, integer: bool = False) -> None:
        if value is not None and not value > 0:
            self.add(name, value, "a positive integer" if integer else "a number > 0")

    def done(self) -> None:
        if self.problems:
            raise ConfigError.from_problems(self.problems)


def _ops():
    from cvpipe import ops  # imports torch: only when a postprocessor runs

    return ops


def _image_entries(det: Mapping[str, Any]) -> dict[str, Any]:
    """The non-array entries of a detections dict (carried through unchanged)."""
    import numpy as np
    import torch

    return {
        k: v for k, v in det.items()
        if k not in ("boxes", "scores", "labels") and not isinstance(v, (torch.Tensor, np.ndarray))
    }


def _unpack(det: Mapping[str, Any], index: int):
    ops = _ops()
    for key in ("boxes", "scores", "labels"):
        if key not in det:
            raise ValueError(f"detections[{index}] has no {key!r} (expected boxes, scores, labels)")
    boxes = ops._tensors.as_boxes(det["boxes"]).reshape(-1, 4)
    scores = ops._tensors.as_scores(det["scores"], boxes)
    labels = ops._tensors.as_labels(det["labels"], boxes.device)
    return boxes, scores, labels


def _check_detections(dets: Any, name: str) -> None:
    if not isinstance(dets, (list, tuple)) or not all(isinstance(d, Mapping) for d in dets):
        raise TypeError(f"{name} takes detections: a list with one dict (boxes, scores, labels) per image, got {type(dets).__name__}")


# --------------------------------------------------------------------------------------------
# decoders
# --------------------------------------------------------------------------------------------


class AnchorDecoder:
    """Callable built by :func:`decode_anchors`."""

    is_decoder = True

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.num_anchors = [len(s) * len(settings["aspect_ratios"]) for s in settings["sizes"]]
        self._anchor_cache: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return f"decode_anchors({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def anchors(self, feature_sizes: Sequence[Sequence[int]], dtype, device):
        """Anchors ``(sum(H*W*A), 4)`` for these feature-map sizes (cached)."""
        key = (tuple(tuple(int(x) for x in f) for f in feature_sizes), dtype, str(device))
        if key not in self._anchor_cache:
            s = self.settings
            if len(feature_sizes) != len(s["strides"]):
                raise ValueError(f"head has {len(feature_sizes)} levels but strides has {len(s['strides'])}")
            self._anchor_cache[key] = _ops().anchor_grid(
                key[0], s["strides"], s["sizes"], s["aspect_ratios"], offset=s["offset"], dtype=dtype, device=device
            )
        return self._anchor_cache[key]

    def __call__(self, outputs: Any) -> Detections:
        """Decode a batch.

        ``outputs`` is one of:

        * a list of per-level maps ``(B, A*(4+C), H, W)``: for each anchor ``a`` channels
          ``a*(4+C) .. a*(4+C)+3`` are its deltas (dx, dy, dw, dh) and the next ``C`` its class
          logits; ``A = len(sizes[level]) * len(aspect_ratios)``;
        * a dict with ``levels`` (that list), or ``box_levels`` ``(B, A*4, H, W)`` and
          ``cls_levels`` ``(B, A*C, H, W)`` (separate heads), or flattened ``deltas``
          ``(B, N, 4)`` and ``logits`` ``(B, N, C)`` with ``anchors`` ``(N, 4)`` or
          ``feature_sizes`` (list of ``(H, W)``); optionally ``image_sizes`` (list of ``(H, W)``)
          to clip boxes to. Flattened rows follow :func:`cvpipe.ops.anchor_grid`'s order.
        """
        ops = _ops()
        data = {"levels": outputs} if isinstance(outputs, (list, tuple)) else dict(outputs)
        if "levels" in data:
            levels = [ops._tensors.as_tensor(t) for t in data["levels"]]
            flat = ops.flatten_levels(levels, self.num_anchors)
            deltas, logits = flat[..., :4], flat[..., 4:]
            sizes = [t.shape[-2:] for t in levels]
        elif "box_levels" in data and "cls_levels" in data:
            deltas = ops.flatten_levels(data["box_levels"], self.num_anchors)
            logits = ops.flatten_levels(data["cls_levels"], self.num_anchors)
            sizes = [t.shape[-2:] for t in data["box_levels"]]
        elif "deltas" in data and "logits" in data:
            deltas, logits = ops._tensors.as_tensor(data["deltas"]), data["logits"]
            sizes = data.get("feature_sizes")
        else:
            raise ValueError(
                "decode_anchors takes a list of level maps or a dict with 'levels', "
                "'box_levels' + 'cls_levels', or 'deltas' + 'logits'"
            )
        anchors = data.get("anchors")
        if anchors is None:
            if sizes is None:
                raise ValueError("decode_anchors needs 'anchors' or 'feature_sizes' with flattened deltas")
            anchors = self.anchors(sizes, deltas.dtype if deltas.is_floating_point() else None, deltas.device)
        s = self.settings
        return ops.decode_anchor_outputs(
            deltas, logits, anchors, weights=s["weights"], activation=s["activation"],
            score_threshold=s["score_threshold"], pre_nms_topk=s["pre_nms_topk"],
            image_sizes=data.get("image_sizes"),
        )


def decode_anchors(
    strides: list[int],
    sizes: list[list[float]],
    aspect_ratios: list[float] = [0.5, 1.0, 2.0],  # noqa: B006 (read-only)
    weights: list[float] = [1.0, 1.0, 1.0, 1.0],  # noqa: B006
    activation: Literal["sigmoid", "softmax"] = "sigmoid",
    score_threshold: float = 0.05,
    pre_nms_topk: int | None = 1000,
    offset: float = 0.0,
) -> AnchorDecoder:
    """Decode an anchor-based one-stage head (RetinaNet / SSD style) into detections.

    strides: each level's stride in input pixels; sizes: anchor sizes per level (pixels);
    aspect_ratios: height/width ratios (same for all levels); weights: box coder weights;
    activation: sigmoid (per-class, focal loss) or softmax (column 0 = background);
    score_threshold / pre_nms_topk: candidate selection per image; offset: anchor centre within
    a cell (0 = torchvision's corner, 0.5 = centre).
    """
    c = _Checks()
    if not strides:
        c.add("strides", strides, "at least one level")
    for i, s in enumerate(strides):
        c.positive(f"strides[{i}]", s, integer=True)
    if len(sizes) != len(strides):
        c.add("sizes", sizes, f"one list of sizes per level ({len(strides)})")
    for i, lv in enumerate(sizes):
        if not lv:
            c.add(f"sizes[{i}]", lv, "at least one size")
        for j, s in enumerate(lv):
            c.positive(f"sizes[{i}][{j}]", s)
    if not aspect_ratios:
        c.add("aspect_ratios", aspect_ratios, "at least one ratio")
    for i, r in enumerate(aspect_ratios):
        c.positive(f"aspect_ratios[{i}]", r)
    if len(weights) != 4:
        c.add("weights", weights, "4 numbers (wx, wy, ww, wh)")
    for i, w in enumerate(weights):
        c.positive(f"weights[{i}]", w)
    c.between("score_threshold", score_threshold, 0.0, 1.0)
    c.positive("pre_nms_topk", pre_nms_topk, integer=True)
    c.between("offset", offset, 0.0, 1.0)
    c.done()
    return AnchorDecoder(
        strides=list(strides), sizes=[list(s) for s in sizes], aspect_ratios=list(aspect_ratios),
        weights=list(weights), activation=activation, score_threshold=score_threshold,
        pre_nms_topk=pre_nms_topk, offset=offset,
    )


class YoloDecoder:
    """Callable built by :func:`decode_yolo`."""

    is_decoder = True

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"decode_yolo({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def __call__(self, outputs: Any) -> Detections:
        """Decode a batch: ``outputs`` is a list of per-level raw maps ``(B, A*(5+C), H, W)``
        (channels per anchor: tx, ty, tw, th, objectness, C class logits) or a dict with
        ``levels`` (that list) and optionally ``image_sizes`` (list of ``(H, W)``) to clip to."""
        data = {"levels": outputs} if isinstance(outputs, (list, tuple)) else dict(outputs)
        if "levels" not in data:
            raise ValueError("decode_yolo takes a list of level maps or a dict with 'levels'")
        s = self.settings
        if len(data["levels"]) != len(s["strides"]):
            raise ValueError(f"head has {len(data['levels'])} levels but strides has {len(s['strides'])}")
        anchors = [[lv[i:i + 2] for i in range(0, len(lv), 2)] for lv in s["anchors"]]
        return _ops().decode_yolo(
            data["levels"], anchors, s["strides"], score_threshold=s["score_threshold"],
            multi_label=s["multi_label"], max_candidates=s["max_candidates"], image_sizes=data.get("image_sizes"),
        )


def decode_yolo(
    anchors: list[list[float]],
    strides: list[int],
    score_threshold: float = 0.001,
    multi_label: bool = False,
    max_candidates: int | None = 30000,
) -> YoloDecoder:
    """Decode a YOLOv5-style grid head (sigmoid offsets, anchor-scaled sizes) into detections.

    anchors: per level the flat anchor sizes in pixels ``[w1, h1, w2, h2, ...]`` as in YOLOv5's
    model YAML (e.g. ``[[10,13, 16,30, 33,23], [30,61, 62,45, 59,119], [116,90, 156,198, 373,326]]``);
    strides: per level stride (e.g. ``[8, 16, 32]``); score = objectness * class probability;
    multi_label: every class above the threshold (else the best class per box).
    """
    c = _Checks()
    if len(anchors) != len(strides) or not strides:
        c.add("anchors", anchors, f"one list of anchor sizes per stride ({len(strides)})")
    for i, lv in enumerate(anchors):
        if not lv or len(lv) % 2:
            c.add(f"anchors[{i}]", lv, "pairs of width, height: [w1, h1, w2, h2, ...]")
        for j, v in enumerate(lv):
            c.positive(f"anchors[{i}][{j}]", v)
    for i, s in enumerate(strides):
        c.positive(f"strides[{i}]", s, integer=True)
    c.between("score_threshold", score_threshold, 0.0, 1.0)
    c.positive("max_candidates", max_candidates, integer=True)
    c.done()
    return YoloDecoder(
        anchors=[list(a) for a in anchors], strides=list(strides), score_threshold=score_threshold,
        multi_label=multi_label, max_candidates=max_candidates,
    )


# --------------------------------------------------------------------------------------------
# detections -> detections
# --------------------------------------------------------------------------------------------


class _PerImage:
    """Base of postprocessors that treat each image's detections independently."""

    is_decoder = False
    name = ""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def __call__(self, detections: Detections) -> Detections:
        _check_detections(detections, self.name)
        out = []
        for i, det in enumerate(detections):
            boxes, scores, labels = _unpack(det, i)
            keep, new_scores = self.select(boxes, scores, labels)
            res = _image_entries(det)
            res.update(boxes=boxes[keep], scores=scores[keep] if new_scores is None else new_scores, labels=labels[keep])
            out.append(res)
        return out

    def select(self, boxes, scores, labels):
        """``(kept indices by decreasing score, new scores or None)`` for one image."""
        raise NotImplementedError


class NmsPostprocessor(_PerImage):
    name = "nms"

    def select(self, boxes, scores, labels):
        s = self.settings
        keep = _ops().nms(
            boxes, scores, None if s["class_agnostic"] else labels, iou=s["iou"],
            score_threshold=s["score_threshold"], max_det=s["max_det"], pre_nms_topk=s["pre_nms_topk"],
        )
        return keep, None


def nms(
    iou: float = 0.5,
    class_agnostic: bool = False,
    score_threshold: float = 0.0,
    pre_nms_topk: int | None = None,
    max_det: int | None = None,
) -> NmsPostprocessor:
    """Hard NMS per image (torchvision.ops.batched_nms; class-agnostic: torchvision.ops.nms).

    iou: suppress boxes overlapping a kept one by more than this; score_threshold: drop scores
    <= this first; pre_nms_topk: keep that many best boxes before NMS; max_det: after NMS.
    """
    c = _Checks()
    c.between("iou", iou, 0.0, 1.0)
    c.between("score_threshold", score_threshold, 0.0, 1.0)
    c.positive("pre_nms_topk", pre_nms_topk, integer=True)
    c.positive("max_det", max_det, integer=True)
    c.done()
    return NmsPostprocessor(iou=iou, class_agnostic=class_agnostic, score_threshold=score_threshold,
                            pre_nms_topk=pre_nms_topk, max_det=max_det)


class SoftNmsPostprocessor(_PerImage):
    name = "soft_nms"

    def select(self, boxes, scores, labels):
        s = self.settings
        return _ops().soft_nms(
            boxes, scores, None if s["class_agnostic"] else labels, method=s["method"], sigma=s["sigma"],
            iou=s["iou"], score_threshold=s["score_threshold"], max_det=s["max_det"],
        )


def soft_nms(
    method: Literal["gaussian", "linear"] = "gaussian",
    sigma: float = 0.5,
    iou: float = 0.3,
    score_threshold: float = 0.001,
    class_agnostic: bool = False,
    max_det: int | None = None,
) -> SoftNmsPostprocessor:
    """Soft-NMS per image (Bodla et al.): overlapping boxes get lower scores instead of removal.

    gaussian: score *= exp(-IoU^2 / sigma); linear: score *= 1 - IoU where IoU > iou; boxes whose
    score ends <= score_threshold are dropped; scores in the output are the rescored ones.
    """
    c = _Checks()
    c.positive("sigma", sigma)
    c.between("iou", iou, 0.0, 1.0)
    c.between("score_threshold", score_threshold, 0.0, 1.0)
    c.positive("max_det", max_det, integer=True)
    c.done()
    return SoftNmsPostprocessor(method=method, sigma=sigma, iou=iou, score_threshold=score_threshold,
                                class_agnostic=class_agnostic, max_det=max_det)


class WbfPostprocessor:
    """Callable built by :func:`wbf`."""

    is_decoder = False

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"wbf({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def __call__(self, detections: Any) -> Detections:
        """Fuse per image. ``detections`` is either one model's detections (fused with itself,
        an NMS alternative) or a list of several models' detections (the ensembling case), all
        for the same images in the same order."""
        import torch

        ops = _ops()
        if isinstance(detections, (list, tuple)) and detections and not isinstance(detections[0], Mapping):
            per_model = list(detections)
        else:
            per_model = [detections]
        for m, dets in enumerate(per_model):
            _check_detections(dets, "wbf")
            if len(dets) != len(per_model[0]):
                raise ValueError(f"wbf: model {m} has detections for {len(dets)} images, model 0 for {len(per_model[0])}")
        s = self.settings
        if s["weights"] is not None and len(s["weights"]) != len(per_model):
            raise ValueError(f"wbf: weights has {len(s['weights'])} entries for {len(per_model)} models")
        out = []
        for i in range(len(per_model[0])):
            unpacked = [_unpack(dets[i], i) for dets in per_model]
            all_boxes = torch.cat([u[0].reshape(-1, 4).to(unpacked[0][0]) for u in unpacked])
            # WBF works on [0, 1] coordinates (ensemble-boxes clips to it). IoU and weighted means
            # are unchanged by a per-axis affine map, so map this image's boxes onto [0, 1] and
            # back: the result equals WBF in pixel coordinates, without clipping anything.
            if all_boxes.numel():
                lo = torch.stack([all_boxes[:, [0, 2]].min(), all_boxes[:, [1, 3]].min()])
                span = torch.stack([all_boxes[:, [0, 2]].max(), all_boxes[:, [1, 3]].max()]) - lo
                span = torch.where(span > 0, span, torch.ones_like(span))
            else:
                lo = all_boxes.new_zeros(2)
                span = all_boxes.new_ones(2)
            lo4, span4 = lo.repeat(2), span.repeat(2)
            boxes, scores, labels = ops.weighted_boxes_fusion(
                [(u[0].to(all_boxes) - lo4) / span4 for u in unpacked], [u[1] for u in unpacked],
                [u[2] for u in unpacked], weights=s["weights"], iou=s["iou"],
                skip_box_threshold=s["skip_box_threshold"], conf_type=s["conf_type"],
                allows_overflow=s["allows_overflow"],
            )
            res = _image_entries(per_model[0][i])
            res.update(boxes=boxes * span4 + lo4, scores=scores, labels=labels)
            out.append(res)
        return out


def wbf(
    iou: float = 0.55,
    skip_box_threshold: float = 0.0,
    weights: list[float] | None = None,
    conf_type: Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"] = "avg",
    allows_overflow: bool = False,
) -> WbfPostprocessor:
    """Weighted boxes fusion (ensemble-boxes' algorithm) of several models' detections.

    iou: cluster match threshold; skip_box_threshold: ignore boxes scoring below it; weights: one
    per model; conf_type / allows_overflow: how fused confidences are computed.
    """
    c = _Checks()
    c.between("iou", iou, 0.0, 1.0)
    c.between("skip_box_threshold", skip_box_threshold, 0.0, 1.0)
    if weights is not None:
        if not weights:
            c.add("weights", weights, "one weight per model")
        for i, w in enumerate(weights):
            c.positive(f"weights[{i}]", w)
    c.done()
    return WbfPostprocessor(iou=iou, skip_box_threshold=skip_box_threshold, weights=weights,
                            conf_type=conf_type, allows_overflow=allows_overflow)


class ScoreThreshold(_PerImage):
    name = "score_threshold"

    def select(self, boxes, scores, labels):
        import torch

        keep = torch.nonzero(scores > self.settings["threshold"]).squeeze(1)
        return keep[torch.argsort(scores[keep], descending=True, stable=True)], None


def score_threshold(threshold: float) -> ScoreThreshold:
    """Keep detections scoring above ``threshold``."""
    c = _Checks()
    c.between("threshold", threshold, 0.0, 1.0)
    c.done()
    return ScoreThreshold(threshold=threshold)


class TopK(_PerImage):
    name = "topk"

    def select(self, boxes, scores, labels):
        k = min(self.settings["k"], scores.numel())
        return scores.topk(k).indices, None


def topk(k: int) -> TopK:
    """Keep the ``k`` highest-scoring detections per image."""
    c = _Checks()
    c.positive("k", k, integer=True)
    c.done()
    return TopK(k=k)


# --------------------------------------------------------------------------------------------
# chains
# --------------------------------------------------------------------------------------------


class Postprocess:
    """A chain of postprocessors applied in order (built by :func:`build_postprocess`)."""

    def __init__(self, steps: Sequence[tuple[str, Callable[[Any], Any]]]) -> None:
        self.steps = list(steps)

    def __call__(self, x: Any) -> Any:
        for _, step in self.steps:
            x = step(x)
        return x

    def __repr__(self) -> str:
        return "Postprocess([" + ", ".join(repr(s) for _, s in self.steps) + "])"


def build_postprocess(
    spec: Any,
    where: str = "postprocess",
    *,
    file: str | None = None,
    lines: Mapping[str, int] | None = None,
) -> Postprocess:
    """Build the chain described by ``spec``, the YAML form
    ``[{decode_yolo: {...}}, {nms: {iou: 0.5}}]`` (a list of one-key mappings, name -> settings;
    settings may be omitted or null).

    Every entry is checked (unknown name with did-you-mean, unknown/missing/mistyped setting,
    out-of-range value, a decoder anywhere but first) and all problems are raised together as one
    :class:`ConfigError`, each at its YAML path (``postprocess[1].nms.iou``). ``lines`` maps those
    paths to line numbers when the caller knows them.
    """
    from cvpipe.plugins import get_registry

    family = get_registry().postprocessors
    lines = lines or {}
    if spec is None:
        spec = []
    if not isinstance(spec, (list, tuple)):
        raise ConfigError("wrong type", file=file, line=lines.get(where), field=where, value=spec,
                          expected="a list of postprocessors, e.g. [{nms: {iou: 0.5}}]")
    problems: list[Problem] = []
    steps: list[tuple[str, Callable[[Any], Any]]] = []
    for i, entry in enumerate(spec):
        path = f"{where}[{i}]"
        if not isinstance(entry, Mapping) or len(entry) != 1:
            problems.append(Problem(
                "wrong type", file=file, line=lines.get(path), field=path, value=entry,
                expected="a mapping with one key, the postprocessor's name (e.g. {nms: {iou: 0.5}})",
            ))
            continue
        (name, params), = entry.items()
        if params is not None and not isinstance(params, Mapping):
            problems.append(Problem("wrong type", file=file, line=lines.get(f"{path}.{name}"), field=f"{path}.{name}",
                                    value=params, expected="a mapping of settings"))
            continue
        here = f"{path}.{name}"
        sub_lines = {k[len(here) + 1:]: v for k, v in lines.items() if k.startswith(here + ".")}
        try:
            step = family.create(str(name), params or {}, where=here, file=file, lines=sub_lines)
        except CvpipeError as err:
            for p in err.problems:
                if p.field and p.field != here and not p.field.startswith(here + ".") and not p.field.startswith(path):
                    p = dataclasses.replace(p, field=f"{here}.{p.field}", line=p.line or lines.get(f"{here}.{p.field}"))
                elif p.field is None or p.field == path:
                    p = dataclasses.replace(p, field=path)
                if p.file is None and file is not None:
                    p = dataclasses.replace(p, file=file)
                problems.append(p)
            continue
        if getattr(step, "is_decoder", False) and i > 0:
            problems.append(Problem(
                "a decoder must come first", file=file, line=lines.get(path), field=path, value=MISSING,
                expected="decoders (turning head outputs into detections) at position 0",
            ))
            continue
        steps.append((str(name), step))
    if problems:
        raise ConfigError.from_problems(problems)
    return Postprocess(steps)
