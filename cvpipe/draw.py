"""Pictures for people: boxes and labels drawn on images, grids of images, PNG files.

Shared by ``augment_preview``, the evaluation pictures and ``cvpipe predict --draw``.
Images are numpy ``(H, W, 3)`` uint8 arrays in **RGB** order (as albumentations and torchvision
expect); grey ``(H, W)`` images are accepted and drawn on as RGB. Boxes are ``(N, 4)`` absolute
pixel xyxy (cvpipe's convention). OpenCV is imported inside the functions that use it, so
importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from .errors import InputError, JobError
from .fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from .data import Dataset

__all__ = ["PALETTE", "color_for", "draw_boxes", "image_grid", "save_png", "read_image", "as_rgb", "draw_detections"]

#: Distinct RGB colours, cycled by class index (a fixed list, so colours are the same in every
#: picture and every run). Adapted from the 20-colour "Tableau"/Ultralytics style palettes.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 56, 56), (50, 180, 60), (30, 110, 255), (255, 157, 20), (170, 60, 220),
    (0, 190, 190), (255, 90, 200), (140, 110, 40), (120, 200, 20), (0, 60, 140),
    (255, 210, 0), (120, 120, 120), (220, 20, 60), (0, 130, 90), (100, 70, 255),
    (250, 128, 114), (46, 139, 87), (210, 105, 30), (72, 61, 139), (0, 206, 209),
)


def color_for(index: int) -> tuple[int, int, int]:
    """The RGB colour of class (or box) ``index``: deterministic, cycling through :data:`PALETTE`."""
    return PALETTE[int(index) % len(PALETTE)]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as a contiguous ``(H, W, 3)`` uint8 copy (grey and RGBA accepted; float images
    in [0, 1] are scaled to [0, 255])."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and img.size and float(np.nanmax(img)) <= 1.0:
            img = img * 255.0
        img = np.clip(np.nan_to_num(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {img.shape}")
    return np.ascontiguousarray(img).copy()


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``rgb`` (ITU-R BT.601 luma)."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray | Sequence[Sequence[float]],
    labels: np.ndarray | Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    scores: np.ndarray | Sequence[float] | None = None,
    *,
    color_by: Literal["label", "index"] = "label",
    color: tuple[int, int, int] | None = None,
    thickness: int | None = None,
    font_scale: float | None = None,
    show_labels: bool = True,
) -> np.ndarray:
    """A copy of ``image`` with boxes and their labels drawn.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (grey, RGBA and float in [0, 1] are converted).
        boxes: ``(N, 4)`` absolute pixel xyxy; boxes reaching outside the image are clipped
            for drawing.
        labels: ``(N,)`` 0-based class indices (None: no class text, colour by index).
        categories: class names indexed by ``labels`` (None: the index is shown).
        scores: ``(N,)`` confidences shown after the name as ``name 0.87`` (None: not shown).
        color_by: ``"label"`` gives every box of a class the same colour; ``"index"`` gives
            each box its own.
        color: one RGB colour for every box (overrides ``color_by``; e.g. ground truth in green).
        thickness: line width in pixels (default scales with the image size).
        font_scale: OpenCV font scale of the labels (default scales with the image size).
        show_labels: draw the text tags.

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array (``image`` is not modified).
    """
    import cv2

    out = as_rgb(image)
    h, w = out.shape[:2]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    labs = None if labels is None else np.asarray(labels).reshape(-1).astype(np.int64)
    if labs is not None and len(labs) != n:
        raise ValueError(f"labels must have {n} entries, got {len(labs)}")
    scs = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if scs is not None and len(scs) != n:
        raise ValueError(f"scores must have {n} entries, got {len(scs)}")
    side = max(1, min(h, w))
    lw = thickness if thickness is not None else max(1, round(side / 250))
    fs = font_scale if font_scale is not None else max(0.35, side / 800)
    font = cv2.FONT_HERSHEY_SIMPLEX
    font_th = max(1, lw - 1)

    tags: list[tuple[int, int, str, tuple[int, int, int]]] = []
    for i in range(n):
        x1, y1, x2, y2 = b[i]
        if not np.all(np.isfinite(b[i])):
            continue
        # pixel-edge xyxy -> the inclusive pixel rectangle OpenCV draws
        p1 = (int(np.clip(np.floor(x1), 0, w - 1)), int(np.clip(np.floor(y1), 0, h - 1)))
        p2 = (int(np.clip(np.ceil(x2) - 1, 0, w - 1)), int(np.clip(np.ceil(y2) - 1, 0, h - 1)))
        key = int(labs[i]) if (labs is not None and color_by == "label") else i
        rgb = tuple(int(c) for c in color) if color is not None else color_for(key)
        cv2.rectangle(out, p1, p2, rgb, lw, lineType=cv2.LINE_8)  # axis-aligned: crisp, exact colour
        if not show_labels or (labs is None and scs is None):
            continue
        parts = []
        if labs is not None:
            k = int(labs[i])
            parts.append(categories[k] if categories is not None and 0 <= k < len(categories) else str(k))
        if scs is not None:
            parts.append(f"{scs[i]:.2f}")
        tags.append((p1[0], p1[1], " ".join(parts), rgb))

    # text after all rectangles, so no box line crosses a label
    for x, y, text, rgb in tags:
        (tw, th), base = cv2.getTextSize(text, font, fs, font_th)
        pad = 2
        top = y - th - base - 2 * pad
        if top < 0:  # no room above the box: put the tag inside it
            top = min(y, max(0, h - th - base - 2 * pad))
        left = min(max(0, x), max(0, w - tw - 2 * pad))
        cv2.rectangle(out, (left, top), (left + tw + 2 * pad - 1, top + th + base + 2 * pad - 1), rgb, -1)
        cv2.putText(out, text, (left + pad, top + pad + th), font, fs, _text_color(rgb), font_th, cv2.LINE_AA)
    return out


def image_grid(
    images: Sequence[np.ndarray],
    cols: int,
    *,
    titles: Sequence[str] | None = None,
    pad: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Tile ``images`` row by row, ``cols`` per row, in one ``(H, W, 3)`` uint8 RGB picture.

    Cells are as large as the largest image; smaller images are placed at the cell's top-left.
    ``titles`` (one per image) are written in a strip above each cell.
    """
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    if not images:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have {len(images)} entries, got {len(titles)}")
    imgs = [as_rgb(im) for im in images]
    ch = max(im.shape[0] for im in imgs)
    cw = max(im.shape[1] for im in imgs)
    strip = 0
    if titles is not None:
        import cv2

        fs = max(0.4, cw / 700)
        strip = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, fs, 1)[0][1] + 10
    rows = -(-len(imgs) // cols)
    n_cols = min(cols, len(imgs))
    H = rows * (ch + strip) + (rows + 1) * pad
    W = n_cols * cw + (n_cols + 1) * pad
    grid = np.full((H, W, 3), background, dtype=np.uint8)
    for k, im in enumerate(imgs):
        r, c = divmod(k, cols)
        y = pad + r * (ch + strip + pad)
        x = pad + c * (cw + pad)
        if titles is not None:
            import cv2

            cv2.putText(grid, str(titles[k]), (x + 2, y + strip - 6), cv2.FONT_HERSHEY_SIMPLEX, fs,
                        (0, 0, 0), 1, cv2.LINE_AA)
        grid[y + strip:y + strip + im.shape[0], x:x + im.shape[1]] = im
    return grid


def save_png(path: Path | str, image: np.ndarray) -> Path:
    """Write ``image`` (RGB, see :func:`as_rgb`) as a PNG at ``path``, atomically (a temporary
    sibling renamed into place), creating parent folders. Returns the path."""
    import cv2

    path = Path(path)
    rgb = as_rgb(image)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode a PNG of shape {rgb.shape}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def read_image(path: Path | str) -> np.ndarray:
    """The image file at ``path`` as ``(H, W, 3)`` uint8 RGB.

    Raises:
        InputError: the file is missing or cannot be decoded.
    """
    import cv2

    path = Path(path)
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise InputError("cannot read image" if path.is_file() else "image file not found",
                         file=str(path), expected="a readable JPEG, PNG, BMP, TIFF or WebP image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def draw_detections(dets: "Dataset", path: Path, *, limit: int, min_score: float = 0.25, cols: int = 4) -> Path:
    """A grid PNG of the first ``limit`` images with their detections above ``min_score`` drawn."""
    pics, titles = [], []
    for s in dets.samples[:limit]:
        keep = s.scores > min_score
        pics.append(draw_boxes(read_image(dets.image_path(s)), s.boxes[keep], s.labels[keep], dets.categories,
                               s.scores[keep]))
        titles.append(Path(s.image).name)
    if not pics:
        raise JobError("nothing to draw: no images", expected="a dataset with images")
    return save_png(path, image_grid(pics, min(cols, len(pics)), titles=titles))
