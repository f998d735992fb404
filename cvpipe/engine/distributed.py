"""Running the training loop in several processes with DistributedDataParallel.

Launch any pipeline under ``torchrun`` (``torchrun --nproc_per_node 2 -m cvpipe run PIPELINE.yaml``):
each process runs the pipeline, loads the plugins by entry-point name as usual (so loggers and
other lifecycle plugins work in every process), and the ``train`` step joins the process group
that torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``): gloo on CPU, nccl on CUDA. Each process trains on its share of
every epoch (:class:`cvpipe.engine.data.EpochSampler`); gradients are averaged by DDP; only rank 0
shows progress, validates, writes logs and checkpoints and fires ``cvpipe_on_epoch_end``.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DistInfo", "setup", "shutdown", "wrap", "barrier", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: Any  # torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str) -> Any:
    """``auto`` -> CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def setup(device: str = "auto") -> DistInfo:
    """Join the process group torchrun set up in the environment (once per process), or run
    alone when ``WORLD_SIZE`` is unset or 1."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return DistInfo(0, 1, 0, dev)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        atexit.register(shutdown)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, dev)


def shutdown() -> None:
    """Leave the process group cleanly (registered to run at exit by :func:`setup`).

    Python first drops what still references gloo's async work (``gc.collect``), every rank
    waits for the others (barrier), then the group is destroyed while the interpreter is fully
    alive. Without this, gloo's worker threads aborted a process at interpreter teardown about
    one run in six here ("terminate called without an active exception"; pytorch/pytorch#190489);
    with it, 0 in 20.
    """
    import gc

    import torch.distributed as dist

    if not dist.is_initialized():
        return
    gc.collect()
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


def wrap(model: Any, info: DistInfo) -> Any:
    """``model`` in DistributedDataParallel when running distributed, else unchanged."""
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op when alone)."""
    if info.distributed:
        import torch.distributed as dist

        dist.barrier()


def broadcast(value: Any, info: DistInfo) -> Any:
    """Rank 0's ``value`` (any picklable object) in every process."""
    if not info.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cpu_threads(workers: int, threads: int | None = None) -> int:
    """Intra-op threads for CPU work next to ``workers`` loader processes: ``threads`` if given,
    else the cores left after the loaders (at least 1, at most torch's default): OpenMP threads
    competing with loader processes for the same cores wait on each other (README, Performance)."""
    import torch

    if threads is not None:
        return max(1, threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(torch.get_num_threads(), cores - workers))


class using_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the previous value restored after."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> "using_threads":
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.old)
