"""Exporting trained models out of Python: ONNX (``torch.onnx.export``, opset 17) and TorchScript
(``torch.jit.trace``), with an optional in-graph decoding + NMS, dynamic batch and image size,
and a parity check of the exported file against PyTorch.

    report = export_model(load_bundle(Path("runs/demo")), "onnx", Path("model.onnx"), nms=True)

The graphs are in :mod:`cvpipe.export.graphs`, running exported files in
:mod:`cvpipe.export.runtime`, the comparison in :mod:`cvpipe.export.parity`.

Exporter choice (measured with torch 2.14.1): ``torch.onnx.export(dynamo=True)``, the default
since torch 2.9, fails without the ``onnxscript`` package (ModuleNotFoundError), which nothing
else in cvpipe needs; the TorchScript-based exporter (``dynamo=False``) needs only ``onnx``,
records ``torchvision.ops.nms`` as ONNX ``NonMaxSuppression`` and records every cvpipe family
(compact and torchvision's detectors), so cvpipe uses it.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "export_model", "OPSET"]

FORMATS = ("onnx", "torchscript")
OPSET = 17


def _meta(bundle: Any, family: str, fmt: str, graph: Any, outputs: tuple[str, ...], nms: bool, dynamic: bool,
          input_size: int | None) -> dict[str, Any]:
    from ..engine.checkpoint import plain

    meta: dict[str, Any] = {
        "format": "cvpipe-export", "version": 1, "family": family, "export": fmt, "model": bundle.name,
        "params": plain(bundle.params), "categories": list(bundle.categories), "input_size": input_size,
        "nms": nms, "outputs": list(outputs), "dynamic": dynamic, "checkpoint": str(bundle.checkpoint),
        "batch": None if family == "compact" and dynamic else 1,  # None: any batch size
        "max_det": getattr(graph, "max_det", None),
    }
    if family == "compact":
        meta["image_size"] = int(bundle.model.image_size)
        meta["postprocess"] = plain(bundle.model.postprocess_spec)
    return meta


def _example_size(bundle: Any, family: str) -> int:
    """The square side an image is given to the graph at when sizes are fixed."""
    if family == "compact":
        return int(bundle.model.image_size)
    transform = bundle.model.model.transform
    size = transform.min_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def export_model(
    bundle: Any,
    fmt: str,
    out: Path,
    *,
    nms: bool = False,
    dynamic: bool = False,
    max_det: int | None = None,
    check: bool = True,
    images: list[Any] | None = None,
    parity_count: int = 4,
) -> dict[str, Any]:
    """Export ``bundle``'s model to ``out`` (``fmt``: ``onnx`` or ``torchscript``), written whole
    or not at all, and check parity on ``images`` (float ``(3, H, W)`` in [0, 1]; None: a few
    synthetic images of the graph's input size).

    Returns:
        The summary: file, family, format, input (shape, with ``batch``/``height``/``width``
        named where dynamic), outputs, nms, max_det, and ``parity`` (see
        :func:`cvpipe.export.parity.compare_detections`, None with ``check=False``).

    Raises:
        ExportError: the model cannot be exported as asked (the message says why).
    """
    import torch

    from .graphs import build_graph
    from .parity import parity_images

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    model = bundle.model.cpu().eval()
    graph, family, outputs = build_graph(model, nms=nms, max_det=max_det)
    nms = nms or family == "torchvision"  # torchvision's graphs always hold their NMS
    side = _example_size(bundle, family)
    # the square the engine resizes images to before the graph: compact always has one (its own
    # input size); a torchvision graph takes any size only when dynamic
    input_size: int | None = side if family == "compact" else (None if dynamic else side)
    example = parity_images(1, side)[0].unsqueeze(0)
    if family == "compact" and dynamic:
        example = torch.cat([example, example.flip(-1)])  # a batch of 2, so batch is not fixed at 1
    meta = _meta(bundle, family, fmt, graph, outputs, nms, dynamic, input_size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # written next to ``out`` and moved into place only once complete and checked
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values are expected here
            if fmt == "onnx":
                _write_onnx(graph, example, tmp, outputs, meta, family, dynamic)
            else:
                with torch.no_grad():
                    traced = torch.jit.trace(graph, (example,), check_trace=False)
                torch.jit.save(traced, str(tmp), _extra_files={"cvpipe.json": json.dumps(meta)})
        report = _check(bundle, model, fmt, tmp, out, family, outputs, nms, dynamic, side, input_size, meta,
                        check, images, parity_count)
        if report["parity"] is None or report["parity"]["ok"]:
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def _write_onnx(graph: Any, example: Any, path: Path, outputs: tuple[str, ...], meta: dict[str, Any], family: str,
                dynamic: bool) -> None:
    """Record ``graph`` with the TorchScript-based exporter and write it with cvpipe's metadata."""
    import io

    import onnx
    import torch

    from .runtime import META_KEY

    dyn_axes = None
    if dynamic:
        spec = {0: "batch", 2: "height", 3: "width"} if family == "compact" else {2: "height", 3: "width"}
        dyn_axes = {"images": spec, **({name: {0: "batch"} for name in outputs} if family == "compact" else {})}
    buf = io.BytesIO()
    torch.onnx.export(graph, (example,), buf, dynamo=False, opset_version=OPSET, input_names=["images"],
                      output_names=list(outputs), dynamic_axes=dyn_axes, do_constant_folding=True)
    proto = onnx.load_model_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    proto.producer_name = "cvpipe"
    path.write_bytes(proto.SerializeToString())


def _check(bundle: Any, model: Any, fmt: str, tmp: Path, out: Path, family: str, outputs: tuple[str, ...],
           nms: bool, dynamic: bool, side: int, input_size: int | None, meta: dict[str, Any], check: bool,
           images: list[Any] | None, parity_count: int) -> dict[str, Any]:
    """The summary of the file at ``tmp`` (to become ``out``), with its parity figures."""
    from .parity import parity_images, run_parity
    from .runtime import OnnxDetector, TorchScriptDetector

    shape: list[Any] = [("batch" if family == "compact" and dynamic else 1), 3,
                        "height" if dynamic else side, "width" if dynamic else side]
    report: dict[str, Any] = {
        "file": str(out), "format": fmt, "family": family, "model": bundle.name, "opset": OPSET if fmt == "onnx" else None,
        "input": {"images": shape, "dtype": "float32", "range": "[0, 1] RGB"},
        "outputs": list(outputs), "nms": nms, "max_det": meta["max_det"], "dynamic": dynamic,
        "input_size": input_size, "bytes": tmp.stat().st_size, "parity": None,
    }
    if check:
        detector = OnnxDetector(tmp) if fmt == "onnx" else TorchScriptDetector(tmp)
        if images is None:
            sizes = [(side, side), (side + 64, side - 32)] if dynamic else [(side, side)]
            images = parity_images(parity_count, None, sizes=sizes, seed=1)
            report["parity_images"] = f"{parity_count} synthetic images"
        elif not dynamic:
            images = [_resize(im, side) for im in images]
        report.setdefault("parity_images", f"{len(images)} images")
        report["parity"] = run_parity(model, detector, images)
    return report


def _resize(image: Any, size: int):
    """A float ``(3, H, W)`` image resized to ``size`` square the way the engine does it (uint8,
    OpenCV bilinear), so parity runs on what ``predict`` would give the model."""
    import numpy as np
    import torch

    from ..engine.data import resize_to

    arr = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    arr, _, _ = resize_to(arr, np.zeros((0, 4)), size)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div_(255)
