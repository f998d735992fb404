"""Registration of the built-in postprocessors (implemented in :mod:`cvpipe.postprocess`)."""

from __future__ import annotations

from cvpipe import hookimpl


@hookimpl
def cvpipe_register_postprocessors(register):
    from cvpipe.postprocess import decode_anchors, decode_yolo, nms, score_threshold, soft_nms, topk, wbf

    register("decode_anchors", decode_anchors,
             description="anchor-based head (deltas + class logits) -> detections")
    register("decode_yolo", decode_yolo, description="YOLOv5-style grid head -> detections")
    register("nms", nms, description="hard NMS, class-aware or agnostic (torchvision)")
    register("soft_nms", soft_nms, description="Soft-NMS, linear or Gaussian")
    register("wbf", wbf, description="weighted boxes fusion of several models' detections")
    register("score_threshold", score_threshold, description="keep detections scoring above a threshold")
    register("topk", topk, description="keep the k best detections per image")
