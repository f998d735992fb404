"""Parity of an exported model with the PyTorch model it came from.

Both are run on the same images (float ``(3, H, W)`` in [0, 1], the input the engine gives the
model) and their detections compared image by image: the same number of detections, the same
labels in the same order, boxes within :data:`BOX_RTOL` relative (``|a - b| <= BOX_RTOL *
max(1, |b|)`` px, so 1e-3 px below 1 px) and scores within :data:`SCORE_ATOL`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["BOX_RTOL", "SCORE_ATOL", "compare_detections", "parity_images"]

BOX_RTOL = 1e-3
SCORE_ATOL = 1e-4


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def compare_detections(reference: Sequence[dict[str, Any]], exported: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Parity figures of ``exported`` against ``reference`` (lists of per-image detections).

    Returns:
        ``{"ok", "images", "detections", "max_box_rel", "max_box_px", "max_score", "mismatches":
        [text per failing image]}``.
    """
    worst_rel = worst_px = worst_score = 0.0
    mismatches: list[str] = []
    total = 0
    for i, (ref, exp) in enumerate(zip(reference, exported)):
        rb, eb = _np(ref["boxes"]).astype(np.float64), _np(exp["boxes"]).astype(np.float64)
        rs, es = _np(ref["scores"]).astype(np.float64), _np(exp["scores"]).astype(np.float64)
        rl, el = _np(ref["labels"]).astype(np.int64), _np(exp["labels"]).astype(np.int64)
        total += len(rb)
        if len(rb) != len(eb):
            mismatches.append(f"image {i}: {len(eb)} detections, PyTorch {len(rb)}")
            continue
        if len(rb) == 0:
            continue
        if not np.array_equal(rl, el):
            mismatches.append(f"image {i}: labels differ at {int(np.argmax(rl != el))}")
        px = np.abs(rb - eb)
        rel = px / np.maximum(1.0, np.abs(rb))
        worst_rel = max(worst_rel, float(rel.max()))
        worst_px = max(worst_px, float(px.max()))
        worst_score = max(worst_score, float(np.abs(rs - es).max()))
        if rel.max() > BOX_RTOL:
            mismatches.append(f"image {i}: box off by {px.max():.3g} px ({rel.max():.3g} relative)")
        if np.abs(rs - es).max() > SCORE_ATOL:
            mismatches.append(f"image {i}: score off by {np.abs(rs - es).max():.3g}")
    if len(reference) != len(exported):
        mismatches.append(f"{len(exported)} images of results, {len(reference)} expected")
    return {"ok": not mismatches, "images": len(reference), "detections": total, "max_box_rel": worst_rel,
            "max_box_px": worst_px, "max_score": worst_score, "mismatches": mismatches,
            "tolerance": {"box_rel": BOX_RTOL, "score": SCORE_ATOL}}


def parity_images(count: int, size: int | None, *, seed: int = 0, sizes: Sequence[tuple[int, int]] | None = None):
    """``count`` synthetic float ``(3, H, W)`` images in [0, 1] (cvpipe's shapes), ``size``
    square, or of the ``(width, height)`` ``sizes`` in turn when ``size`` is None."""
    import torch

    from ..synthetic import synthetic_image

    out = []
    for i in range(count):
        w, h = (size, size) if size is not None else (sizes or [(320, 240)])[i % len(sizes or [(320, 240)])]
        img, _, _ = synthetic_image(np.random.default_rng([seed, i]), size=(int(w), int(h)),
                                    object_size=(max(4, min(w, h) // 12), max(8, min(w, h) // 4)))
        out.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255))
    return out


def run_parity(reference: Callable[[list[Any]], list[dict[str, Any]]],
               exported: Callable[[list[Any]], list[dict[str, Any]]], images: list[Any]) -> dict[str, Any]:
    """Run both detectors on ``images`` and compare (see :func:`compare_detections`)."""
    import torch

    with torch.inference_mode():
        ref = reference(images)
    return compare_detections(ref, exported(images))
