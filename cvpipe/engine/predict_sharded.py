"""Prediction over image shards on an executor (``cvpipe predict --executor NAME``, the
``predict`` step's ``executor:``).

The images are cut into shards of whole batches (a multiple of ``batch_size``, so every batch
the model sees is the one the single-process run sees: the same detections, byte for byte
once written). Each worker holds the model once (:func:`cvpipe.execution.map_with_state`: a Ray
actor per worker with ``num_gpus`` when CUDA is there, one cached load per process elsewhere)
with the driver's torch thread count (the count changes the last bits of a convolution; a
Ray actor reserves that many CPUs) and runs :func:`cvpipe.engine.predict.predict_dataset` (or the sliced prediction) on its
shards; the driver concatenates the shards' detections in input order.

A model given by path is loaded by each worker from that path (it must be visible to every
node, like the images); an in-memory bundle (the predict step's) travels pickled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelSource", "predict_sharded", "shard_size"]

#: about this many images per shard (rounded up to whole batches)
SHARD_IMAGES = 256


@dataclass(frozen=True)
class ModelSource:
    """What a worker loads the model from: ``path`` (checkpoint, run folder or ``.onnx``) or
    an in-memory ``bundle``; ``device``: ``auto``, ``cpu``, ``cuda[:N]``; ``key`` names this
    model in the workers' cache."""

    path: str | None = None
    bundle: Any = None
    device: str = "auto"
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSource) and other.key == self.key

    def __call__(self) -> Any:
        """Load the model (a :class:`cvpipe.engine.predict.ModelBundle`) on this worker."""
        if self.bundle is not None:
            from .distributed import resolve_device

            self.bundle.model.to(resolve_device(self.device))
            return self.bundle
        if Path(self.path).suffix.lower() == ".onnx":
            from ..export.runtime import load_onnx_bundle

            return load_onnx_bundle(Path(self.path))
        from .distributed import resolve_device
        from .predict import load_bundle

        return load_bundle(Path(self.path), device=str(resolve_device(self.device)))


@dataclass(frozen=True)
class _PredictTask:
    dataset: Any  # Dataset: the shard's images (no boxes needed), the model's categories
    batch_size: int
    device: str
    slicing: dict | None  # predict_sliced's options, or None
    threads: int  # torch intra-op threads: the driver's (the thread count changes float results)


def predict_part(bundle: Any, task: _PredictTask) -> list:
    """Detections (samples) of one shard with the worker's model (picklable, module-level)."""
    from .distributed import resolve_device, using_threads
    from .predict import predict_dataset

    dev = resolve_device(task.device)
    with using_threads(task.threads):
        if task.slicing is not None:
            from ..slicing import predict_sliced

            dets = predict_sliced(bundle, task.dataset, batch_size=task.batch_size, device=dev, **task.slicing)
        else:
            dets = predict_dataset(bundle, task.dataset, batch_size=task.batch_size, device=dev)
    return list(dets.samples)


def shard_size(batch_size: int, images: int = SHARD_IMAGES) -> int:
    """Images per shard: ``images`` rounded up to whole batches of ``batch_size``."""
    return max(1, -(-images // batch_size)) * batch_size


def predict_sharded(source: ModelSource, dataset: Any, *, executor: Any, categories: list[str], name: str,
                    batch_size: int = 8, device: str = "auto", slicing: dict | None = None,
                    shard_images: int | None = None) -> Any:
    """Detections of the model ``source`` on ``dataset``'s images, shard by shard on
    ``executor``: a Dataset like :func:`cvpipe.engine.predict.predict_dataset`'s (``categories``
    and model ``name`` are the bundle's; boxes absolute xyxy), samples in input order.
    ``shard_images``: about that many images per shard (None: :data:`SHARD_IMAGES`)."""
    import dataclasses

    from ..data import Dataset
    from ..execution import map_with_state

    import torch

    from .distributed import cpu_threads

    step = shard_size(batch_size, SHARD_IMAGES if shard_images is None else shard_images)
    base = dataclasses.replace(dataset, categories=list(categories))
    threads = cpu_threads(0)
    tasks = (_PredictTask(dataclasses.replace(base, samples=base.samples[i:i + step]), batch_size, device, slicing,
                          threads) for i in range(0, len(base.samples), step))
    gpus = 1.0 if device != "cpu" and torch.cuda.is_available() else 0.0  # one GPU per model-holding worker
    samples: list = []
    for part in map_with_state(executor, source, predict_part, tasks, num_gpus=gpus, num_cpus=threads):
        samples.extend(part)
    return Dataset(list(categories), samples, root=dataset.root, meta={"detections": True, "model": name})
