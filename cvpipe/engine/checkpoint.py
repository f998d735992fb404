"""Self-describing checkpoints, saved atomically and loaded with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict (tensors, dicts, lists, str, numbers, bools, None only), so the
restricted unpickler loads it and a file from elsewhere cannot run code::

    {
      "format": "cvpipe-checkpoint", "version": 1,
      "model": {"name": "compact", "params": {...}, "num_classes": 4, "state_dict": {...}},
      "categories": ["circle", ...],
      "inference": {"input_size": 256},          # resize the engine applies before the model
      "epoch": 3,                                # epochs finished
      "train": {...}                             # last.pt only: optimizer, scheduler, RNG states,
    }                                            # history, best score and epoch, the training
                                                 # settings, best_state (the best epoch's weights,
                                                 # from which best.pt is rewritten on resume)

``cvpipe predict`` needs nothing else: the model is rebuilt by name through the models registry
(its postprocess settings are among its params) and loaded with the state dict.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "plain"]

FORMAT = "cvpipe-checkpoint"
VERSION = 1


def plain(value: Any) -> Any:
    """``value`` with paths, tuples and numpy scalars turned into what ``weights_only`` loads."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temporary sibling, then rename)."""
    import torch

    from ..fsutil import atomic_open

    path = Path(path)
    data = dict(checkpoint, format=FORMAT, version=VERSION)
    with atomic_open(path) as fh:
        torch.save(data, fh)
    return path


def load_checkpoint(path: Path, *, map_location: str = "cpu") -> dict[str, Any]:
    """Read a cvpipe checkpoint with ``torch.load(weights_only=True)``.

    Raises:
        InputError: naming the file, when it is missing, not a torch file, corrupt, holds objects
            a weights-only load refuses, or is not a cvpipe checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", file=str(path), expected="a .pt file written by cvpipe's train step")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with code in it, ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            "cannot read checkpoint: the file is corrupt or not a weights-only torch file",
            file=str(path), value=msg[:160], expected="a .pt file written by cvpipe's train step",
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(
            "not a cvpipe checkpoint", file=str(path),
            expected="a .pt file written by cvpipe's train step (a dict with format 'cvpipe-checkpoint')",
            hint="to start a model from other weights, use the model's 'weights' setting",
        )
    if data.get("version") != VERSION:
        raise InputError("unsupported checkpoint version", file=str(path), value=data.get("version"),
                         expected=f"version {VERSION}")
    for key in ("model", "categories"):
        if key not in data:
            raise InputError(f"checkpoint lacks {key!r}", file=str(path), expected="a complete cvpipe checkpoint")
    return data
