"""Registration of the built-in postprocessors (implemented in :mod:`cvpipe.postprocess`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cvpipe import hookimpl

if TYPE_CHECKING:
    from ..contract import PostprocessorRegistrar


@hookimpl
def cvpipe_register_postprocessors(register: PostprocessorRegistrar):
    from cvpipe.postprocess import decode_anchors, decode_yolo, nms, score_threshold, soft_nms, topk, wbf

    register.add_postprocessor("decode_anchors", decode_anchors,
             description="anchor-based head (deltas + class logits) -> detections")
    register.add_postprocessor("decode_yolo", decode_yolo, description="YOLOv5-style grid head -> detections")
    register.add_postprocessor("nms", nms, description="hard NMS, class-aware or agnostic (torchvision)")
    register.add_postprocessor("soft_nms", soft_nms, description="Soft-NMS, linear or Gaussian")
    register.add_postprocessor("wbf", wbf, description="weighted boxes fusion of several models' detections")
    register.add_postprocessor("score_threshold", score_threshold, description="keep detections scoring above a threshold")
    register.add_postprocessor("topk", topk, description="keep the k best detections per image")
