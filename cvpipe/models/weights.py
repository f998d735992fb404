"""Loading weights from local files into a model or a part of it: :func:`load_weights`.

torch is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["load_weights"]

_SOURCE_STRIP = ("", "module.", "model.", "backbone.", "features.", "body.", "module.model.")
_TARGET_PREFIX = ("", "model.", "body.", "backbone.body.", "model.backbone.body.", "backbone.")


def _state_dict_from(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(obj, dict) and obj.get("format") == "cvpipe-checkpoint":
        obj = obj.get("model", {}).get("state_dict")
    elif isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("no state dict in the weights file", file=str(path),
                         expected="a state dict (name -> tensor), a cvpipe checkpoint, or a dict with 'state_dict'")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_weights(module, path: Path, *, what: str = "model") -> dict[str, int]:
    """Load the tensors of the local file ``path`` into ``module`` (``weights_only=True``).

    Parameter names are matched after removing a common prefix on either side (``module.``
    from DDP, ``model.``, ``features.``/``body.`` of backbones); the prefix pairing that fits most
    tensors wins. Tensors whose shape differs (a head for another class count) are skipped.

    Returns:
        ``{"loaded": n, "skipped_shape": n, "missing": n}``.

    Raises:
        InputError: naming the file, when it cannot be read or no tensor fits ``module``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} weights file not found", file=str(path), expected="a local .pt/.pth file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError("cannot read weights: corrupt, or not a weights-only torch file", file=str(path),
                         value=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]) from None
    src = _state_dict_from(raw, path)
    dst = module.state_dict()
    best: tuple[int, dict[str, Any], int] = (-1, {}, 0)
    for strip in _SOURCE_STRIP:
        for prefix in _TARGET_PREFIX:
            fit, wrong = {}, 0
            for k, v in src.items():
                if strip and not k.startswith(strip):
                    continue
                name = prefix + k[len(strip):]
                if name in dst:
                    if dst[name].shape == v.shape:
                        fit[name] = v
                    else:
                        wrong += 1
            if len(fit) > best[0]:
                best = (len(fit), fit, wrong)
    n, fit, wrong = best
    if n <= 0:
        raise InputError(f"no tensor in the file fits the {what}", file=str(path),
                         expected=f"weights of this {what} (matching parameter names and shapes)")
    module.load_state_dict(fit, strict=False)
    return {"loaded": n, "skipped_shape": wrong, "missing": len(dst) - n}
