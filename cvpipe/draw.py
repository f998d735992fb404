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

__all__ = ["PALETTE", "GT_COLORS", "color_for", "draw_boxes", "draw_ground_truth", "place_labels",
           "add_legend", "image_grid", "save_png", "read_image", "as_rgb", "draw_detections"]

#: Class colours, by class index: 20 colours no two of which are alike (CIELAB distance >= 29
#: between any two, >= 45 from white and from black), the first ten from Sasha Trubetskoy's
#: "20 distinct colours", the rest chosen farthest-first. Class ``k`` and class ``k + 20`` share
#: a colour; up to 20 classes every class has its own.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (170, 110, 40), (0, 128, 128),
    (0, 255, 0), (0, 0, 255), (255, 150, 210), (120, 45, 75), (225, 240, 150),
    (60, 90, 15), (0, 105, 240), (255, 30, 0), (240, 30, 150), (165, 240, 60),
)

#: Ground truth is drawn dashed in these two colours, alternating (visible on light and dark
#: images alike), never in a class colour.
GT_COLORS: tuple[tuple[int, int, int], tuple[int, int, int]] = ((255, 255, 255), (0, 0, 0))

#: The ground truth's dash pattern: white, gap, black, gap. Drawn over a prediction's outline
#: that coincides with it, both stay visible (the prediction's colour shows in the gaps).
_GT_DASHES = (GT_COLORS[0], None, GT_COLORS[1], None)


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


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """Overlapping area of two ``(x, y, w, h)`` rectangles."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


def place_labels(
    rects: Sequence[tuple[int, int, int, int]],
    sizes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
) -> list[tuple[int, int, int, int]]:
    """Where to put each box's label so that labels do not cover each other.

    Args:
        rects: per box, its pixel rectangle ``(x1, y1, x2, y2)`` (inclusive), in priority order
            (the first gets the best place: pass them by descending score).
        sizes: per box, its label's ``(width, height)`` in pixels.
        image_size: ``(width, height)`` of the image; labels stay inside it.

    Returns:
        Per box, the label's ``(x, y, w, h)``. Candidates are tried in order: above the box
        (left-aligned, then right-aligned), inside its top corners, below it, inside its bottom
        corners, beside it, then stacked further above; the first that overlaps no label
        placed before wins, else the one overlapping least.
    """
    W, H = image_size
    placed: list[tuple[int, int, int, int]] = []
    for (x1, y1, x2, y2), (tw, th) in zip(rects, sizes):
        tw, th = min(tw, W), min(th, H)
        cands = [(x1, y1 - th), (x2 + 1 - tw, y1 - th), (x1, y1), (x2 + 1 - tw, y1),
                 (x1, y2 + 1), (x2 + 1 - tw, y2 + 1), (x1, y2 + 1 - th), (x2 + 1 - tw, y2 + 1 - th),
                 (x2 + 1, y1), (x1 - tw, y1)]
        cands += [(x1, y1 - th * k) for k in range(2, 5)] + [(x1, y2 + 1 + th * (k - 1)) for k in range(2, 5)]
        best: tuple[int, tuple[int, int, int, int]] | None = None
        for cx, cy in cands:
            r = (int(min(max(0, cx), W - tw)), int(min(max(0, cy), H - th)), int(tw), int(th))
            cost = sum(_overlap(r, q) for q in placed)
            if best is None or cost < best[0]:
                best = (cost, r)
            if cost == 0:
                break
        assert best is not None
        placed.append(best[1])
    return placed


def _dashed_rect(out: np.ndarray, p1: tuple[int, int], p2: tuple[int, int], lw: int,
                 colors: Sequence[tuple[int, int, int] | None], dash: int) -> None:
    """An axis-aligned rectangle outline from ``p1`` to ``p2`` (inclusive pixels), ``lw`` wide
    (grown inwards), in dashes of ``dash`` pixels cycling through ``colors`` along the outline
    (``None``: a gap)."""
    x1, y1 = p1
    x2, y2 = p2
    h, w = out.shape[:2]
    # the outline as a path of pixel positions, clockwise from the top-left corner
    top = [(x, y1) for x in range(x1, x2 + 1)]
    right = [(x2, y) for y in range(y1 + 1, y2 + 1)]
    bottom = [(x, y2) for x in range(x2 - 1, x1 - 1, -1)] if y2 > y1 else []
    left = [(x1, y) for y in range(y2 - 1, y1, -1)] if x2 > x1 else []
    for i, (x, y) in enumerate(top + right + bottom + left):
        c = colors[(i // dash) % len(colors)]
        if c is None:  # a gap: what is underneath shows
            continue
        # thickness towards the inside of the box
        xs = slice(x, min(x + lw, x2 + 1, w)) if x == x1 else slice(max(x - lw + 1, x1, 0), x + 1) if x == x2 else slice(x, x + 1)
        ys = slice(y, min(y + lw, y2 + 1, h)) if y == y1 else slice(max(y - lw + 1, y1, 0), y + 1) if y == y2 else slice(y, y + 1)
        out[ys, xs] = c


def _pixel_rect(box: np.ndarray, w: int, h: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Pixel-edge xyxy -> the inclusive pixel rectangle drawn, clipped to the image."""
    x1, y1, x2, y2 = box
    p1 = (int(np.clip(np.floor(x1), 0, w - 1)), int(np.clip(np.floor(y1), 0, h - 1)))
    p2 = (int(np.clip(np.ceil(x2) - 1, 0, w - 1)), int(np.clip(np.ceil(y2) - 1, 0, h - 1)))
    return p1, (max(p1[0], p2[0]), max(p1[1], p2[1]))


def _sizes(side: int, thickness: int | None, font_scale: float | None) -> tuple[int, float, int]:
    lw = thickness if thickness is not None else max(2, round(side / 250))
    fs = font_scale if font_scale is not None else max(0.4, side / 700)
    return lw, fs, max(1, lw - 1)


def _draw_tags(out: np.ndarray, tags: list[tuple[tuple[int, int, int, int], str, tuple[int, int, int]]],
               fs: float, font_th: int) -> None:
    """Draw text tags ``(box rect, text, colour)``, given in priority order: placed by
    :func:`place_labels`, painted lowest priority first so the most important is on top."""
    import cv2

    if not tags:
        return
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    pad = 2
    metrics = [cv2.getTextSize(text, font, fs, font_th) for _, text, _ in tags]
    sizes = [(tw + 2 * pad, th + base + 2 * pad) for (tw, th), base in metrics]
    spots = place_labels([r for r, _, _ in tags], sizes, (w, h))
    for k in range(len(tags) - 1, -1, -1):
        (x, y, tw, th), (_, text, rgb), ((_, text_h), _) = spots[k], tags[k], metrics[k]
        cv2.rectangle(out, (x, y), (x + tw - 1, y + th - 1), rgb, -1)
        cv2.putText(out, text, (x + pad, y + pad + text_h), font, fs, _text_color(rgb), font_th, cv2.LINE_AA)


def _check_lengths(n: int, **arrays: np.ndarray | None) -> None:
    for name, a in arrays.items():
        if a is not None and len(a) != n:
            raise ValueError(f"{name} must have {n} entries, got {len(a)}")


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
    ground_truth: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """A copy of ``image`` with boxes (predictions: solid outlines) and their labels drawn.

    Boxes are drawn by ascending score, so a higher-scoring box lies on top of a lower one;
    ``ground_truth`` boxes, if given, are drawn dashed over the outlines (see
    :func:`draw_ground_truth`); labels are placed by descending score beside or inside their box
    where they cover no other label (:func:`place_labels`), last, so no line crosses a label.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (grey, RGBA and float in [0, 1] are converted).
        boxes: ``(N, 4)`` absolute pixel xyxy; boxes reaching outside the image are clipped
            for drawing.
        labels: ``(N,)`` 0-based class indices (None: no class text, colour by index).
        categories: class names indexed by ``labels`` (None: the index is shown).
        scores: ``(N,)`` confidences shown after the name as ``name 0.87`` (None: not shown).
        color_by: ``"label"`` gives every box of a class the same colour (:func:`color_for`);
            ``"index"`` gives each box its own.
        color: one RGB colour for every box (overrides ``color_by``).
        thickness: line width in pixels (default scales with the image size).
        font_scale: OpenCV font scale of the labels (default scales with the image size).
        show_labels: draw the text tags.
        ground_truth: ``(M, 4)`` absolute pixel xyxy true boxes, drawn dashed in
            :data:`GT_COLORS`, never in a class colour.

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array (``image`` is not modified).
    """
    import cv2

    out = as_rgb(image)
    h, w = out.shape[:2]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    labs = None if labels is None else np.asarray(labels).reshape(-1).astype(np.int64)
    scs = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    _check_lengths(n, labels=labs, scores=scs)
    lw, fs, font_th = _sizes(max(1, min(h, w)), thickness, font_scale)
    order = np.argsort(scs, kind="stable") if scs is not None else np.arange(n)  # ascending: best last
    tags = []
    for i in order:
        if not np.all(np.isfinite(b[i])):
            continue
        p1, p2 = _pixel_rect(b[i], w, h)
        key = int(labs[i]) if (labs is not None and color_by == "label") else int(i)
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
        tags.append(((p1[0], p1[1], p2[0], p2[1]), " ".join(parts), rgb))
    if ground_truth is not None:
        _dashed_boxes(out, np.asarray(ground_truth, dtype=np.float64).reshape(-1, 4), lw)
    _draw_tags(out, tags[::-1], fs, font_th)  # priority: highest score first
    return out


def _dashed_boxes(out: np.ndarray, boxes: np.ndarray, lw: int) -> list[tuple[int, int, int, int]]:
    """Draw ``boxes`` (xyxy) in the ground truth's dashes; returns their pixel rectangles."""
    h, w = out.shape[:2]
    rects = []
    for box in boxes:
        if not np.all(np.isfinite(box)):
            continue
        p1, p2 = _pixel_rect(box, w, h)
        _dashed_rect(out, p1, p2, lw, _GT_DASHES, max(3, 2 * lw))
        rects.append((p1[0], p1[1], p2[0], p2[1]))
    return rects


def draw_ground_truth(
    image: np.ndarray,
    boxes: np.ndarray | Sequence[Sequence[float]],
    labels: np.ndarray | Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    *,
    thickness: int | None = None,
    font_scale: float | None = None,
    show_labels: bool = False,
) -> np.ndarray:
    """A copy of ``image`` with ground-truth boxes drawn dashed in :data:`GT_COLORS` (white and
    black dashes with gaps between, never a class colour), so they read apart from the solid
    predictions of :func:`draw_boxes` (which draws both together with ``ground_truth=``).

    Args:
        image: ``(H, W, 3)`` uint8 RGB (converted as in :func:`draw_boxes`).
        boxes: ``(N, 4)`` absolute pixel xyxy.
        labels, categories: class indices and names, for the tags (``show_labels``).
        thickness: line width (default scales with the image size); dashes (white, gap,
            black, gap) are ``max(3, 2 * thickness)`` pixels long.
        font_scale: label font scale.
        show_labels: write the class name (black on white) by each box.

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array.
    """
    out = as_rgb(image)
    h, w = out.shape[:2]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labs = None if labels is None else np.asarray(labels).reshape(-1).astype(np.int64)
    _check_lengths(len(b), labels=labs)
    lw, fs, font_th = _sizes(max(1, min(h, w)), thickness, font_scale)
    keep = np.all(np.isfinite(b), axis=1)
    rects = _dashed_boxes(out, b[keep], lw)
    if show_labels and labs is not None:
        names = [categories[k] if categories is not None and 0 <= k < len(categories) else str(k)
                 for k in labs[keep].tolist()]
        _draw_tags(out, [(r, t, GT_COLORS[0]) for r, t in zip(rects, names)], fs, font_th)
    return out


def add_legend(
    image: np.ndarray,
    items: Sequence[tuple[str, Literal["dashed", "solid"], tuple[int, int, int] | None]],
    *,
    font_scale: float | None = None,
    background: int = 225,
) -> np.ndarray:
    """``image`` with a legend strip added below it: per item a short line sample (``"dashed"``:
    ground truth's white/black dashes; ``"solid"``: the item's colour) and its text, wrapped over
    as many rows as the width needs, on a light grey ``background`` (both dash colours show). Returns a new, taller ``(H', W, 3)`` uint8 RGB array."""
    import cv2

    img = as_rgb(image)
    if not items:
        return img
    w = img.shape[1]
    fs = font_scale if font_scale is not None else max(0.4, min(0.6, w / 1400))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, text_h), base = cv2.getTextSize("Ag", font, fs, 1)
    row_h = text_h + base + 10
    sample, gap = 28, 16
    rows: list[list[tuple[int, str, str, tuple[int, int, int] | None]]] = [[]]
    x = 6
    for text, style, rgb in items:
        tw = cv2.getTextSize(text, font, fs, 1)[0][0]
        need = sample + 6 + tw + gap
        if x + need > w and rows[-1]:
            rows.append([])
            x = 6
        rows[-1].append((x, text, style, rgb))
        x += need
    strip = np.full((row_h * len(rows) + 6, w, 3), background, dtype=np.uint8)
    for r, row in enumerate(rows):
        y_mid = 3 + r * row_h + row_h // 2
        for x, text, style, rgb in row:
            x_end = min(x + sample, w - 1)
            if style == "dashed":  # the ground truth's own pattern
                for k, xs in enumerate(range(x, x_end, 4)):
                    c = _GT_DASHES[k % len(_GT_DASHES)]
                    if c is not None:
                        strip[y_mid - 1:y_mid + 2, xs:min(xs + 4, x_end)] = c
            else:
                strip[y_mid - 2:y_mid + 2, x:x_end] = rgb if rgb is not None else (0, 0, 0)
            cv2.putText(strip, text, (x + sample + 6, y_mid + text_h // 2), font, fs, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([img, strip], axis=0)


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
    """A grid PNG of the first ``limit`` images with their detections above ``min_score`` drawn
    (solid, class colours, highest scores on top) and a legend of the classes shown."""
    pics, titles = [], []
    shown: set[int] = set()
    for s in dets.samples[:limit]:
        keep = s.scores > min_score
        pics.append(draw_boxes(read_image(dets.image_path(s)), s.boxes[keep], s.labels[keep], dets.categories,
                               s.scores[keep]))
        shown.update(int(k) for k in s.labels[keep])
        titles.append(Path(s.image).name)
    if not pics:
        raise JobError("nothing to draw: no images", expected="a dataset with images")
    legend = [(f"{dets.categories[k]} (score > {min_score:g})", "solid", color_for(k)) for k in sorted(shown)]
    return save_png(path, add_legend(image_grid(pics, min(cols, len(pics)), titles=titles), legend))
