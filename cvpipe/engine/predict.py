"""Detections from a trained model: :class:`ModelBundle` (what the ``train`` step produces and
``cvpipe predict`` loads) and :func:`predict_dataset`.

The train step stores a :class:`ModelBundle` in the pipeline context under its ``model`` output
name: the model (in eval mode), its registered name and settings, the categories, the input size
the engine resizes images to (None: the model resizes itself), and the checkpoint it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, Sample

__all__ = ["ModelBundle", "load_bundle", "predict_dataset", "model_input_size", "filter_scores"]

# settings that point at files used only when a model is first built: a checkpoint carries the
# result in its state dict, so they are dropped when a model is rebuilt from it
_BUILD_ONLY = ("weights", "weights_backbone")


def model_input_size(model: Any) -> int | None:
    """The square input side the engine resizes images to for ``model`` (cvpipe's compact
    detector has one), or None when the model resizes images itself (torchvision's)."""
    size = getattr(model, "image_size", None)
    return int(size) if isinstance(size, int) else None


@dataclass
class ModelBundle:
    """A model ready to predict, with what is needed to use it and rebuild it."""

    model: Any  # torch.nn.Module, eval mode
    name: str
    params: dict[str, Any]
    categories: list[str]
    input_size: int | None = None
    checkpoint: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ModelBundle({self.name!r}, {len(self.categories)} classes, checkpoint={self.checkpoint})"


def rebuild_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in _BUILD_ONLY}


def load_bundle(path: Path, *, device: str = "cpu") -> ModelBundle:
    """The model saved in checkpoint ``path`` (or in ``path/train/best.pt`` style run folders:
    the best, else the last checkpoint found below ``path``), rebuilt by name and loaded.

    Raises:
        InputError: the checkpoint is missing, corrupt, foreign, or does not fit its model.
    """
    import torch

    from ..models.build import build_model
    from ..errors import CvpipeError, InputError
    from .checkpoint import load_checkpoint

    path = Path(path)
    if path.is_dir():
        found = sorted(path.rglob("best.pt")) or sorted(path.rglob("last.pt"))
        if not found:
            raise InputError("no checkpoint in this folder", file=str(path),
                             expected="a run folder holding <train step>/best.pt or last.pt, or a .pt file")
        path = found[0]
    ckpt = load_checkpoint(path)
    m = ckpt["model"]
    try:
        model = build_model(m["name"], int(m["num_classes"]), rebuild_params(m.get("params", {})),
                            where=f"{path}: model")
        model.load_state_dict(m["state_dict"])
    except CvpipeError:
        raise
    except Exception as exc:
        raise InputError("checkpoint does not fit its model", file=str(path),
                         value=str(exc).splitlines()[0][:200]) from None
    model.to(torch.device(device)).eval()
    return ModelBundle(model, m["name"], m.get("params", {}), list(ckpt["categories"]),
                       (ckpt.get("inference") or {}).get("input_size"), path, {"epoch": ckpt.get("epoch")})


def predict_dataset(
    bundle: ModelBundle,
    dataset: Dataset,
    *,
    batch_size: int = 8,
    workers: int = 0,
    device: Any = None,
    progress: bool = False,
    desc: str = "predict",
) -> Dataset:
    """Run ``bundle``'s model on every image of ``dataset``.

    Returns:
        A :class:`Dataset` of detections: the model's categories, one sample per input image
        (same ``image`` path, size, id and split) with ``boxes`` (absolute xyxy in the image's
        pixels), ``labels`` and ``scores``; the input's ``root``.
    """
    import torch

    from .data import DetectionData, make_loader

    model = bundle.model
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    data = DetectionData(dataset, None, input_size=bundle.input_size)
    loader = make_loader(data, batch_size=batch_size, workers=workers)
    out: list[Sample | None] = [None] * len(dataset)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset), desc=desc, unit="img", leave=False, dynamic_ncols=True)
    try:
        with torch.inference_mode():
            for images, targets in loader:
                batch = [im.to(dev, non_blocking=True).float().div_(255) for im in images]
                dets = model(batch)
                for det, t in zip(dets, targets):
                    sx, sy = t["scale"]
                    src = dataset.samples[t["index"]]
                    boxes = det["boxes"].float().cpu().numpy().astype(np.float64) * np.array([sx, sy, sx, sy])
                    boxes[:, 0::2] = boxes[:, 0::2].clip(0, src.width)
                    boxes[:, 1::2] = boxes[:, 1::2].clip(0, src.height)
                    out[t["index"]] = Sample(
                        image=src.image, width=src.width, height=src.height, boxes=boxes,
                        labels=det["labels"].cpu().numpy().astype(np.int64),
                        scores=det["scores"].float().cpu().numpy().astype(np.float64),
                        id=src.id, split=src.split,
                    )
                if bar is not None:
                    bar.update(len(images))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return Dataset(list(bundle.categories), [s for s in out if s is not None], root=dataset.root,
                   meta={"detections": True, "model": bundle.name})


def filter_scores(dets: Dataset, threshold: float) -> Dataset:
    """``dets`` (detections: samples with ``scores``) keeping only boxes scoring above ``threshold``."""
    return dets.subset(s.select(s.scores > threshold) for s in dets.samples)
