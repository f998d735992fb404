"""Box operations on tensors: the IoU family, NMS, box fusion, anchors and head decoding.

Library API behind the postprocessor plugins (:mod:`cvpipe.builtin.postprocess`). Every function
takes xyxy boxes as torch tensors or numpy arrays and returns torch tensors (on the input's
device; numpy input gives CPU tensors), so results compose with torchvision and autograd. Heavy
lifting is torchvision's (``torchvision.ops`` and the detection ``BoxCoder`` /
``AnchorGenerator``); what torchvision lacks (element-wise IoU/CIoU without NaN, Soft-NMS,
weighted box fusion, YOLO decoding) is written here and says so.

Example::

    from cvpipe import ops
    ops.pairwise_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]], kind="giou")  # tensor([[-0.0794]])
    keep = ops.nms(boxes, scores, labels, iou=0.5, max_det=100)    # int64 indices into boxes
    boxes, scores, labels = ops.weighted_boxes_fusion([b1, b2], [s1, s2], [l1, l2], iou=0.55)

Soft-NMS and box fusion are sequential loops of tiny steps; they run that loop in numpy on the
CPU (several times cheaper per step than torch, on CPU or GPU alike) and return tensors on the
inputs' device.

Importing this package imports torch.
"""

from .anchors import anchor_grid, decode_boxes, encode_boxes, num_anchors_per_location
from .decode import decode_anchor_outputs, decode_yolo, flatten_levels, select_candidates, yolo_level_boxes
from .fusion import weighted_boxes_fusion
from .nms import nms, soft_nms
from .overlap import IOU_KINDS, elementwise_iou, iou_loss, pairwise_iou

__all__ = [
    "IOU_KINDS",
    "pairwise_iou",
    "elementwise_iou",
    "iou_loss",
    "nms",
    "soft_nms",
    "weighted_boxes_fusion",
    "anchor_grid",
    "num_anchors_per_location",
    "encode_boxes",
    "decode_boxes",
    "flatten_levels",
    "decode_anchor_outputs",
    "yolo_level_boxes",
    "decode_yolo",
    "select_candidates",
]
