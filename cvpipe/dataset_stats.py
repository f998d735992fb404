"""Dataset statistics: :func:`dataset_stats` (JSON-ready numbers per class, split, box size and
aspect ratio) and :func:`stats_chart` (a PNG of them; matplotlib imported there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset

__all__ = ["dataset_stats", "stats_chart"]


def dataset_stats(ds: Dataset, bins: int = 20) -> dict[str, Any]:
    """JSON-ready statistics of ``ds``: images, boxes, per class (boxes and images), per split,
    boxes per image, flags, and histograms of box size (sqrt of area, pixels) and aspect
    ratio (log2 of width / height)."""
    ncat = len(ds.categories)
    all_boxes = [s.boxes for s in ds.samples if len(s)]
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    per_image = np.array([len(s) for s in ds.samples], dtype=np.int64)
    img_with = np.zeros(ncat, dtype=np.int64)
    for s in ds.samples:
        lab = np.unique(s.labels)
        img_with[lab[(lab >= 0) & (lab < ncat)]] += 1
    box_counts = ds.class_counts()
    size = np.sqrt(w * h)
    ok = (w > 0) & (h > 0)
    aspect = np.log2(w[ok] / h[ok])
    hi = float(size.max()) if len(size) else 1.0
    size_hist, size_edges = np.histogram(size, bins=bins, range=(0.0, max(hi, 1.0)))
    asp_hist, asp_edges = np.histogram(np.clip(aspect, -4, 4), bins=bins, range=(-4.0, 4.0))

    def summary(v: np.ndarray) -> dict[str, float] | None:
        if not len(v):
            return None
        return {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())}

    return {
        "images": len(ds),
        "boxes": int(len(boxes)),
        "categories": list(ds.categories),
        "empty_images": int((per_image == 0).sum()),
        "boxes_per_image": {"mean": float(per_image.mean()) if len(per_image) else 0.0,
                            "max": int(per_image.max()) if len(per_image) else 0},
        "per_class": {c: {"boxes": box_counts[c], "images": int(img_with[k])} for k, c in enumerate(ds.categories)},
        "splits": {k: len(ds.split(k)) for k in ds.splits},
        "flags": {f: int(sum(int(getattr(s, f).sum()) for s in ds.samples)) for f in ("difficult", "truncated", "iscrowd")},
        "box_size": {"unit": "sqrt(width*height) pixels", "summary": summary(size),
                     "edges": size_edges.tolist(), "counts": size_hist.tolist()},
        "aspect": {"unit": "log2(width/height), clipped to [-4, 4]", "summary": summary(aspect),
                   "edges": asp_edges.tolist(), "counts": asp_hist.tolist()},
    }


def stats_chart(stats: dict[str, Any], path: Path, title: str = "") -> Path:
    """A PNG with three panels: boxes per class, box size histogram, aspect-ratio histogram.
    Written atomically. matplotlib is imported here (Agg canvas, no GUI, no pyplot state)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from matplotlib.figure import Figure

    from .fsutil import atomic_write_bytes

    fig = Figure(figsize=(13, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    names = list(stats["per_class"])
    counts = [stats["per_class"][c]["boxes"] for c in names]
    ax1.barh(range(len(names)), counts, color="#4C72B0")
    ax1.set_yticks(range(len(names)), names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("boxes")
    ax1.set_title("boxes per class")
    for ax, key, label in ((ax2, "box_size", "sqrt(area) [px]"), (ax3, "aspect", "log2(width / height)")):
        edges, cnt = stats[key]["edges"], stats[key]["counts"]
        ax.bar(edges[:-1], cnt, width=[b - a for a, b in zip(edges[:-1], edges[1:])], align="edge",
               color="#55A868", edgecolor="white")
        ax.set_xlabel(label)
        ax.set_ylabel("boxes")
    ax2.set_title("box size")
    ax3.set_title("aspect ratio")
    fig.suptitle(title or f"{stats['images']} images, {stats['boxes']} boxes")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
