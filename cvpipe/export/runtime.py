"""Running an exported model: :class:`OnnxDetector` (onnxruntime on the CPU) behaves like the
PyTorch model it came from, and :func:`load_onnx_bundle` wraps it in a
:class:`~cvpipe.engine.predict.ModelBundle`, so ``predict_dataset``, ``cvpipe predict`` and
``cvpipe evaluate --model`` take a ``.onnx`` file where they take a checkpoint.

The file describes itself: cvpipe stores a JSON document under the ONNX metadata key
``cvpipe`` (:data:`META_KEY`): family, model name and settings, categories, the square the
engine resizes images to (``input_size``, None: any size), whether NMS is in the graph, the
output names and, for raw graphs, the postprocessor chain run after the graph.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError

__all__ = ["META_KEY", "GraphDetector", "OnnxDetector", "TorchScriptDetector", "RawDecoder", "load_onnx_bundle", "read_onnx_meta", "require_onnxruntime"]

META_KEY = "cvpipe"
META_FORMAT = "cvpipe-export"


def require_onnxruntime(what: str = "running an .onnx model"):
    """The ``onnxruntime`` module, or InputError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError(f"{what} needs onnxruntime, which is not installed",
                         hint="pip install 'cvpipe[export]'") from None
    return onnxruntime


def _session(path: Path):
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InputError("cannot load ONNX model", file=str(path),
                         value=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200],
                         expected="an .onnx file written by cvpipe export") from None


def read_onnx_meta(session: Any, path: Path) -> dict[str, Any]:
    """cvpipe's metadata of a loaded session; InputError when the file has none."""
    props = session.get_modelmeta().custom_metadata_map
    try:
        meta = json.loads(props[META_KEY])
        assert meta.get("format") == META_FORMAT
    except (KeyError, ValueError, AssertionError):
        raise InputError("not an ONNX model exported by cvpipe (no cvpipe metadata)", file=str(path),
                         expected="an .onnx file written by `cvpipe export`") from None
    return meta


class RawDecoder:
    """The postprocessor chain of a raw compact graph (``logits``, ``deltas`` for the
    ``image_size`` square), built from the registry as the model builds it."""

    def __init__(self, spec: Sequence[dict[str, Any]], image_size: int) -> None:
        from ..plugins import get_registry

        family = get_registry().postprocessors
        self.steps = []
        for i, entry in enumerate(spec):
            (name, params), = entry.items()
            self.steps.append(family.create(str(name), dict(params or {}), where=f"postprocess[{i}].{name}"))
        strides = spec[0]["decode_anchors"]["strides"]
        self.feature_sizes = [(image_size // s, image_size // s) for s in strides]
        self.image_size = image_size

    def __call__(self, logits: Any, deltas: Any, sizes: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """Detections per image, boxes xyxy in each image's pixels (``sizes``: ``(H, W)``)."""
        import torch

        x: Any = {"logits": torch.from_numpy(logits), "deltas": torch.from_numpy(deltas),
                  "feature_sizes": self.feature_sizes}
        for step in self.steps:
            x = step(x)
        out = []
        for d, (h, w) in zip(x, sizes):
            sx, sy = w / self.image_size, h / self.image_size
            boxes = d["boxes"] * torch.tensor([sx, sy, sx, sy], dtype=d["boxes"].dtype)
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, self.image_size * sx)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, self.image_size * sy)
            out.append({"boxes": boxes, "scores": d["scores"], "labels": d["labels"]})
        return out


class GraphDetector:
    """An exported graph called like the PyTorch detector: a list of float ``(3, H, W)``
    images in [0, 1] in, a list of ``{boxes (K, 4) xyxy, scores (K,), labels (K,)}`` torch
    tensors out, boxes in each input image's pixels. Subclasses run the graph (:meth:`_run`)."""

    training = False

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.outputs = list(self.meta["outputs"])
        self.batch = self.meta.get("batch")  # None: any batch
        self.decoder = (RawDecoder(self.meta["postprocess"], int(self.meta["image_size"]))
                        if not self.meta["nms"] else None)

    # the bits of nn.Module that predict_dataset uses
    def eval(self) -> "OnnxDetector":
        return self

    def train(self, mode: bool = True) -> "OnnxDetector":
        return self

    def parameters(self):
        import torch

        yield torch.zeros(0)

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's outputs by name for a ``(B, 3, H, W)`` float32 batch."""
        raise NotImplementedError

    def run_batch(self, batch: np.ndarray) -> list[dict[str, Any]]:
        """Detections of a ``(B, 3, H, W)`` float32 batch (images of one size)."""
        import torch

        res = self._run(batch)
        if self.decoder is not None:
            return self.decoder(res["logits"], res["deltas"], [batch.shape[2:]] * batch.shape[0])
        out = []
        for i in range(batch.shape[0]):
            n = int(res["num_dets"][i])
            out.append({"boxes": torch.from_numpy(res["boxes"][i, :n].copy()),
                        "scores": torch.from_numpy(res["scores"][i, :n].copy()),
                        "labels": torch.from_numpy(res["labels"][i, :n].astype(np.int64))})
        return out

    def __call__(self, images: Sequence[Any]) -> list[dict[str, Any]]:
        arrays = [np.ascontiguousarray(im.detach().cpu().numpy() if hasattr(im, "detach") else im,
                                       dtype=np.float32) for im in images]
        out: list[dict[str, Any] | None] = [None] * len(arrays)
        step = self.batch or len(arrays) or 1
        # images of one size go together (as many as the graph's batch allows)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(arrays):
            by_size.setdefault(a.shape, []).append(i)
        for idx in by_size.values():
            for start in range(0, len(idx), step):
                part = idx[start:start + step]
                for i, det in zip(part, self.run_batch(np.stack([arrays[i] for i in part]))):
                    out[i] = det
        return out  # type: ignore[return-value]


class OnnxDetector(GraphDetector):
    """An exported ``.onnx`` model run by onnxruntime on the CPU."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.session = _session(self.path)
        self.input_name = self.session.get_inputs()[0].name
        super().__init__(read_onnx_meta(self.session, self.path))

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.session.run(self.outputs, {self.input_name: batch})))


class TorchScriptDetector(GraphDetector):
    """An exported TorchScript model (``torch.jit.load``) on the CPU."""

    def __init__(self, path: Path) -> None:
        import torch

        self.path = Path(path)
        files = {"cvpipe.json": ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
                self.module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=files)
            meta = json.loads(files["cvpipe.json"])
        except Exception as exc:
            raise InputError("cannot load TorchScript model exported by cvpipe", file=str(self.path),
                             value=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]) from None
        super().__init__(meta)

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            res = self.module(torch.from_numpy(batch))
        return {k: v.numpy() for k, v in zip(self.outputs, res)}


def load_onnx_bundle(path: Path):
    """A :class:`~cvpipe.engine.predict.ModelBundle` around the exported ``.onnx`` model at ``path``."""
    from ..engine.predict import ModelBundle

    path = Path(path)
    if not path.is_file():
        raise InputError("ONNX model not found", file=str(path), expected="an .onnx file written by cvpipe export")
    det = OnnxDetector(path)
    m = det.meta
    return ModelBundle(det, m["model"], dict(m.get("params") or {}), list(m["categories"]), m.get("input_size"),
                       path, {"exported": True, "family": m["family"], "nms": m["nms"]})
