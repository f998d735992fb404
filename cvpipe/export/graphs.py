"""Export graphs: cvpipe's models rewritten as plain tensor-in / tensors-out modules that
``torch.onnx.export`` and ``torch.jit.trace`` can record.

Every graph takes ``images``: float32 ``(B, 3, H, W)`` in [0, 1] (RGB) and returns either

* **with NMS** (``nms=True``): ``boxes`` ``(B, D, 4)`` xyxy in the input image's pixels,
  ``scores`` ``(B, D)``, ``labels`` ``(B, D)`` int64 (0-based, -1 in padding) and ``num_dets``
  ``(B,)`` int64: rows ``[0, num_dets)`` of each image are its detections by decreasing score,
  ``D`` the fixed maximum number of detections, the rest zero padding; or
* **raw** (``nms=False``, compact only): ``logits`` ``(B, N, C)`` and ``deltas`` ``(B, N, 4)``,
  the head's output for the model's ``image_size`` square, decoded afterwards by the model's own
  postprocessor chain (:class:`cvpipe.export.runtime.RawDecoder`).

Families (:func:`export_family`):

* ``compact`` (:class:`cvpipe.models.compact.CompactDetector`): resize to ``image_size`` inside
  the graph, so batch and image size may both be dynamic; decoding (top-k candidates, box
  deltas) and class-wise NMS in the graph with ``nms=True``, equal to the PyTorch chain
  ``decode_anchors`` + ``nms`` (the model's default chain; other chains export raw only).
* torchvision detectors (Faster R-CNN, RetinaNet, FCOS, SSD, SSDlite): torchvision's own
  transform, decoding and NMS are always part of the graph (the model cannot run without them),
  outputs padded to ``D``; batch 1 (torchvision's detectors take a list of images, which a graph
  records as a fixed count), image size dynamic with ``--dynamic``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError

__all__ = ["ExportError", "export_family", "CompactGraph", "TorchvisionGraph", "build_graph", "NMS_OUTPUTS",
           "RAW_OUTPUTS"]

NMS_OUTPUTS = ("boxes", "scores", "labels", "num_dets")
RAW_OUTPUTS = ("logits", "deltas")


class ExportError(InputError):
    """A model that cannot be exported as asked; the message says why (exit code 2)."""


def export_family(model: Any) -> str:
    """``"compact"``, ``"torchvision"``, or ExportError naming the model's class."""
    from ..models.compact import CompactDetector

    if isinstance(model, CompactDetector):
        return "compact"
    inner = getattr(model, "model", None)
    if inner is not None and _is_torchvision_detector(inner):
        return "torchvision"
    from ..models.cvdet import CvdetDetector

    if isinstance(model, CvdetDetector):
        raise ExportError(
            "the cvdet family cannot be exported yet: its anchor-free head (distribution-focal box bins and "
            "the candidate selection before NMS) has no graph form in cvpipe's exporter; export a compact or "
            "torchvision model, or run the checkpoint with cvpipe predict"
        )
    raise ExportError(
        f"{type(model).__name__} is not an exportable cvpipe model family: export knows cvpipe's compact "
        "detector and torchvision's detectors (Faster R-CNN, RetinaNet, FCOS, SSD); a plugin's model needs "
        "its own exporter"
    )


def _is_torchvision_detector(m: Any) -> bool:
    from torchvision.models.detection.fcos import FCOS
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
    from torchvision.models.detection.retinanet import RetinaNet
    from torchvision.models.detection.ssd import SSD

    return isinstance(m, (GeneralizedRCNN, RetinaNet, FCOS, SSD))


def _image_scale(images: Tensor, size: int) -> Tensor:
    """``(4,)`` factors (sx, sy, sx, sy) from ``size``-square pixels back to ``images``'s,
    computed from the traced shape (so it stays dynamic in a recorded graph)."""
    hw = torch._shape_as_tensor(images)[2:].to(torch.float32)
    return torch.stack([hw[1], hw[0], hw[1], hw[0]]) / float(size)


def _pad(x: Tensor, rows: int, value: float) -> Tensor:
    """``x`` ``(K, ...)`` cut or padded with ``value`` to ``(rows, ...)`` (traceable for any K)."""
    pad = torch.full((rows,) + tuple(x.shape[1:]), value, dtype=x.dtype, device=x.device)
    return torch.cat([x, pad], 0)[:rows]


class CompactGraph(nn.Module):
    """cvpipe's compact detector as an export graph (see the module docstring).

    Args:
        model: a :class:`~cvpipe.models.compact.CompactDetector` in eval mode.
        nms: decode and run NMS in the graph (else raw ``logits``, ``deltas``).
        max_det: rows per image of the NMS outputs (the model's ``max_det`` by default).
    """

    def __init__(self, model: Any, *, nms: bool, max_det: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.size = int(model.image_size)
        self.nms = nms
        settings = nms_settings(model) if nms else {}
        self.iou = float(settings.get("iou", 0.5))
        self.class_agnostic = bool(settings.get("class_agnostic", False))
        self.score_threshold = float(settings.get("score_threshold", 0.0))
        self.max_det = int(max_det or settings.get("max_det") or 100)
        dec = model.postprocess_spec[0]["decode_anchors"]
        self.topk = int(dec["pre_nms_topk"] or 10**9)
        self.score_threshold = max(self.score_threshold, float(dec["score_threshold"]))
        with torch.no_grad():
            probe = model.raw_forward(torch.zeros(1, 3, self.size, self.size, device=model.mean.device))
        self.register_buffer("anchors", probe["anchors"].detach().clone(), persistent=False)
        self.num_classes = int(model.num_classes)

    def forward(self, images: Tensor):
        s = self.size
        x = F.interpolate(images, size=(s, s), mode="bilinear", align_corners=False)
        x = (x - self.model.mean) / self.model.std
        logits, deltas = self.model.head(self.model.fpn(self.model.backbone(x)))
        if not self.nms:
            return logits, deltas
        return self._decode_nms(logits, deltas, _image_scale(images, s))

    def _decode_nms(self, logits: Tensor, deltas: Tensor, scale: Tensor):
        """The ``decode_anchors`` + ``nms`` chain for a whole batch at once: top-k (box, class)
        pairs per image, boxes decoded for those, one NMS over the batch with boxes of different
        (image, class) kept apart, then the first ``max_det`` per image."""
        from torchvision.ops import batched_nms

        from ..ops.anchors import DEFAULT_BBOX_XFORM_CLIP, _coder

        b, n, c = logits.shape
        probs = torch.sigmoid(logits).reshape(b, n * c)
        k = min(self.topk, n * c)
        sc, idx = probs.topk(k, dim=1)  # (B, k), by decreasing score
        box_idx = torch.div(idx, c, rounding_mode="floor")
        labels = idx - box_idx * c
        d = torch.gather(deltas, 1, box_idx.unsqueeze(-1).expand(b, k, 4))
        a = self.anchors[box_idx.reshape(-1)]
        boxes = _coder((1.0, 1.0, 1.0, 1.0), DEFAULT_BBOX_XFORM_CLIP).decode_single(d.reshape(-1, 4), a)
        batch = torch.arange(b, device=logits.device).unsqueeze(1).expand(b, k).reshape(-1)
        flat_scores, flat_labels = sc.reshape(-1), labels.reshape(-1)
        group = batch if self.class_agnostic else batch * c + flat_labels
        keep = batched_nms(boxes, flat_scores, group, self.iou)  # by decreasing score
        kb, ks = batch[keep], flat_scores[keep]
        # group by image, by decreasing score within each (scores are in [0, 1])
        order = torch.argsort(kb.to(ks.dtype) * 4.0 - ks)
        keep, kb, ks = keep[order], kb[order], ks[order]
        onehot = (kb.unsqueeze(0) == torch.arange(b, device=kb.device).unsqueeze(1)).to(torch.int64)  # (B, M)
        rank = (onehot.cumsum(1) * onehot).sum(0) - 1  # place of each kept box within its image
        valid = (rank < self.max_det) & (ks > self.score_threshold)
        dump = b * self.max_det  # one extra row takes every box not written
        slot = torch.where(valid, kb * self.max_det + rank, torch.full_like(rank, dump))
        out_boxes = torch.zeros(dump + 1, 4, dtype=boxes.dtype, device=boxes.device)
        out_scores = torch.zeros(dump + 1, dtype=ks.dtype, device=ks.device)
        out_labels = torch.full((dump + 1,), -1, dtype=torch.int64, device=ks.device)
        out_boxes = out_boxes.index_put((slot,), boxes[keep])
        out_scores = out_scores.index_put((slot,), ks)
        out_labels = out_labels.index_put((slot,), flat_labels[keep])
        num = (onehot * valid.to(torch.int64).unsqueeze(0)).sum(1)
        out_boxes = out_boxes[:dump].reshape(b, self.max_det, 4) * scale
        limit = scale * float(self.size)  # (W, H, W, H)
        out_boxes = torch.minimum(out_boxes.clamp(min=0.0), limit)
        return out_boxes, out_scores[:dump].reshape(b, self.max_det), out_labels[:dump].reshape(b, self.max_det), num


def nms_settings(model: Any) -> dict[str, Any]:
    """The settings of the compact model's chain when it is ``decode_anchors`` + one ``nms``
    (what ``--nms`` puts in the graph); ExportError naming the chain otherwise."""
    rest = model.postprocess_spec[1:]
    names = [next(iter(e)) for e in rest]
    if names != ["nms"]:
        raise ExportError(
            f"the model's postprocess chain after decoding is {names or 'empty'}; --nms puts only "
            "decode_anchors + one nms in the graph: export without --nms (the chain then runs after the graph)"
        )
    settings = dict(rest[0]["nms"] or {})
    if settings.get("pre_nms_topk"):
        raise ExportError("nms.pre_nms_topk is not supported inside the graph; export without --nms")
    return settings


class TorchvisionGraph(nn.Module):
    """A torchvision detector as an export graph: batch 1, torchvision's own resize,
    normalisation, decoding and NMS, outputs padded to ``max_det`` rows, labels 0-based."""

    def __init__(self, wrapper: Any, *, max_det: int | None = None) -> None:
        super().__init__()
        self.detector = wrapper.model
        limit = getattr(self.detector, "detections_per_img", None)
        if limit is None:
            limit = getattr(getattr(self.detector, "roi_heads", None), "detections_per_img", 100)
        self.max_det = int(max_det or limit)

    def forward(self, images: Tensor):
        det = self.detector([images[0]])[0]
        count = torch._shape_as_tensor(det["scores"])[:1].clamp(max=self.max_det)
        boxes = _pad(det["boxes"], self.max_det, 0.0).unsqueeze(0)
        scores = _pad(det["scores"], self.max_det, 0.0).unsqueeze(0)
        labels = _pad(det["labels"] - 1, self.max_det, -1).unsqueeze(0)
        return boxes, scores, labels, count


def build_graph(model: Any, *, nms: bool, max_det: int | None = None) -> tuple[nn.Module, str, tuple[str, ...]]:
    """``(graph module in eval mode, family, output names)`` for ``model``."""
    family = export_family(model)
    if family == "compact":
        graph: nn.Module = CompactGraph(model, nms=nms, max_det=max_det)
        outputs = NMS_OUTPUTS if nms else RAW_OUTPUTS
    else:
        graph = TorchvisionGraph(model, max_det=max_det)
        outputs = NMS_OUTPUTS
    return graph.eval(), family, outputs
