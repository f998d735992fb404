"""Parity of an exported model with the PyTorch model it came from.

Both are run on the same images (float ``(3, H, W)`` in [0, 1], the input the engine gives the
model) and their detections compared image by image: the same number of detections, paired one
to one (the same label, a score within tolerance, the closest box: detections of equal scores
may come in either order), boxes within :data:`BOX_RTOL` relative (``|a - b| <= BOX_RTOL *
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


def _pair(rb: np.ndarray, rs: np.ndarray, rl: np.ndarray, eb: np.ndarray, es: np.ndarray,
          el: np.ndarray) -> np.ndarray | None:
    """For each reference detection, the exported one it matches: the same label, a score
    within :data:`SCORE_ATOL`, the closest box among those (detections of equal scores may come
    in either order); None when some reference detection has no partner."""
    if np.array_equal(rl, el) and np.all(np.abs(rs - es) <= SCORE_ATOL):
        close = np.abs(rb - eb).max(1) <= BOX_RTOL * np.maximum(1.0, np.abs(rb).max(1))
        if close.all():
            return np.arange(len(rb))
    free = np.ones(len(eb), dtype=bool)
    order = np.empty(len(rb), dtype=np.int64)
    for i in range(len(rb)):
        cand = np.flatnonzero(free & (el == rl[i]) & (np.abs(es - rs[i]) <= SCORE_ATOL))
        if not len(cand):
            return None
        j = cand[np.argmin(np.abs(eb[cand] - rb[i]).max(1))]
        order[i], free[j] = j, False
    return order


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
        order = _pair(rb, rs, rl, eb, es, el)
        if order is None:
            mismatches.append(f"image {i}: labels or scores differ (no one-to-one match within tolerance)")
            continue
        eb, es, el = eb[order], es[order], el[order]
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
