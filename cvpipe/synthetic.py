"""Synthetic detection data: coloured shapes on a mildly noisy background, written as a real
Pascal VOC folder (``Annotations/*.xml``, ``JPEGImages/*.jpg``, ``ImageSets/Main/*.txt``).

Made to be *learnable fast* (a compact detector trained for a few CPU minutes should reach a
validation AP50 of 0.8 or more): every class is one shape with its own colour, objects are 20-80
pixels, they never overlap, and the background is a smooth low-saturation gradient with a little
pixel noise. Everything is deterministic for a given ``seed``; image ``i`` depends only on
``(seed, i)``, not on how many images are generated.

``difficulty: hard`` (:func:`synthetic_scene`) is a set on which a recipe can be told apart:
all six shapes, 3-12 per image, 8-160 px (log-uniform), stretched to an aspect of 0.6-1.6,
overlapping in a random order, so that later shapes occlude earlier ones; each box is the tight
extent of the object's *visible* pixels, and an object showing less than ``min_visibility`` of its
pixels is not annotated (``occluded: drop``, the default: every format, COCO and YOLO included,
then sees the same ground truth) or is kept flagged ``difficult`` (``occluded: difficult``; VOC
evaluation ignores such boxes). Unannotated distractors (stars, thick strokes, square frames in
random colours) are mixed in, the image gets colour jitter, noise, sometimes blur and JPEG
artefacts, and the background is a gradient or a random crop of a photo from ``backgrounds``.

The annotation files are written by the registered ``voc`` format's writer, so they are exactly
what cvpipe's VOC reader (and the VOC devkit) expects. OpenCV is imported inside functions.

    >>> report = synthesize_voc(Path("data/shapes"), images=200, seed=0)
    >>> report["images"], report["splits"]
    (200, {'train': 160, 'val': 40})
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterator, Literal, Sequence

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from .errors import ConfigError
from .settings import Settings

__all__ = ["SHAPES", "DEFAULT_CLASSES", "MARKER", "HARD_PRESET", "DISTRACTORS", "SynthesizeSettings", "Scene",
           "Backgrounds", "synthetic_image", "synthetic_scene", "hard_scenes", "synthetic_samples", "synthesize_voc", "read_marker"]

#: Shape name -> its RGB colour. A class of the synthetic data is one of these names.
SHAPES: dict[str, tuple[int, int, int]] = {
    "circle": (220, 40, 40),
    "square": (40, 190, 60),
    "triangle": (40, 80, 230),
    "diamond": (235, 200, 20),
    "cross": (200, 40, 210),
    "ring": (20, 200, 210),
}

#: The classes generated when none are asked for.
DEFAULT_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")

#: What ``difficulty: hard`` changes, unless the setting is given: field -> value.
HARD_PRESET: dict[str, Any] = {
    "classes": list(SHAPES),
    "objects_per_image": (3, 12),
    "object_size": (8, 160),
    "aspect": (0.6, 1.6),
    "distractors": (1, 5),
    "noise": 8.0,
}

#: The unannotated shapes of the hard preset (none of them is one of :data:`SHAPES`).
DISTRACTORS: tuple[str, ...] = ("star", "stroke", "frame")

#: Image files :class:`Backgrounds` takes from its folder.
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

#: File written next to the VOC folders recording the generation settings (lets a pipeline reuse
#: a dataset it generated earlier with the same settings, and never overwrite foreign data).
MARKER = "cvpipe-synthetic.json"

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _check(classes: Sequence[str], size: tuple[int, int], objects_per_image: tuple[int, int],
           object_size: tuple[int, int], splits: dict[str, float], images: int) -> None:
    """Range checks of :func:`synthesize_voc`'s settings (field names as the step calls them)."""
    if images < 1:
        raise ConfigError("must be at least 1", field="images", value=images, expected="a positive integer")
    if not classes:
        raise ConfigError("needs at least one class", field="classes", value=list(classes),
                          expected="names from: " + ", ".join(SHAPES))
    for i, c in enumerate(classes):
        if c not in SHAPES:
            from .errors import closest

            match = closest(str(c), SHAPES)
            raise ConfigError("unknown shape class", field=f"classes[{i}]", value=c,
                              expected="one of: " + ", ".join(SHAPES),
                              hint=f"did you mean {match!r}?" if match else None)
    if len(set(classes)) != len(classes):
        raise ConfigError("classes repeat", field="classes", value=list(classes), expected="distinct names")
    w, h = size
    lo, hi = object_size
    if not (1 <= lo <= hi):
        raise ConfigError("invalid range", field="object_size", value=list(object_size),
                          expected="[min, max] with 1 <= min <= max")
    if w < hi + 4 or h < hi + 4:
        raise ConfigError("image too small for the largest object", field="size", value=list(size),
                          expected=f"width and height of at least {hi + 4} (object_size max + 4)")
    a, b = objects_per_image
    if not (0 <= a <= b):
        raise ConfigError("invalid range", field="objects_per_image", value=list(objects_per_image),
                          expected="[min, max] with 0 <= min <= max")
    if not splits:
        raise ConfigError("needs at least one split", field="splits", expected="e.g. {train: 0.8, val: 0.2}")
    for name, frac in splits.items():
        if not _SPLIT_NAME.match(str(name)) or name == "trainval":
            raise ConfigError("bad split name", field=f"splits.{name}", value=name,
                              expected="letters, digits, '_' or '-' (not 'trainval', which is written for you)")
        if not (isinstance(frac, (int, float)) and frac >= 0):
            raise ConfigError("split fraction must be >= 0", field=f"splits.{name}", value=frac,
                              expected="a number >= 0")
    if sum(splits.values()) <= 0:
        raise ConfigError("split fractions sum to 0", field="splits", value=dict(splits),
                          expected="fractions with a positive sum")


def _default_classes(value: Any) -> Any:
    return list(DEFAULT_CLASSES) if value is None else value


def _default_splits(value: Any) -> Any:
    return dict(value or {"train": 0.8, "val": 0.2})


class SynthesizeSettings(Settings):
    """What :func:`synthesize_voc` generates: the one declaration the ``synthesize`` step, the
    marker file and the docs read."""

    images: int = Field(200, ge=1, json_schema_extra={"message": "must be at least 1"},
                        description="number of images")
    classes: Annotated[list[str] | None, AfterValidator(_default_classes)] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES), description="shape names from: " + ", ".join(SHAPES) + " (null: " + ", ".join(DEFAULT_CLASSES)
        + "); the category order is this order")
    size: tuple[int, int] = Field((320, 240), description="``[width, height]`` of every image")
    objects_per_image: tuple[int, int] = Field((1, 4), description="``[min, max]`` objects per image (fewer if "
                                               "they do not fit)")
    object_size: tuple[int, int] = Field((20, 80), description="``[min, max]`` side of an object in pixels")
    noise: float = Field(6.0, ge=0, json_schema_extra={"message": "must be >= 0"},
                         description="standard deviation of the Gaussian pixel noise (0 for none)")
    seed: int = Field(0, description="everything is deterministic given the seed")
    splits: Annotated[dict[str, float] | None, AfterValidator(_default_splits)] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.2}, description="split name -> fraction (null: ``{train: 0.8, val: 0.2}``)")
    jpeg_quality: int = Field(95, ge=1, le=100, json_schema_extra={"expected": "1 to 100"},
                              description="JPEG quality of the images (1-100)")
    difficulty: Literal["easy", "hard"] = Field(
        "easy", description="``easy``: separate shapes of 20-80 px on a gradient, quick to learn; ``hard``: "
        "occlusion, clutter, 8-160 px, image artefacts (changes the defaults of classes (all six), "
        "objects_per_image [3, 12], object_size [8, 160], aspect, distractors and noise)")
    aspect: tuple[float, float] = Field((1.0, 1.0), description="hard: ``[min, max]`` width/height ratio of a "
                                        "shape, log-uniform (hard default [0.6, 1.6])")
    distractors: tuple[int, int] = Field((0, 0), description="hard: ``[min, max]`` unannotated shapes (stars, "
                                         "strokes, square frames) per image (hard default [1, 5])")
    min_visibility: float = Field(0.4, ge=0, le=1, json_schema_extra={"expected": "0 to 1"},
                                  description="hard: an object showing less than this fraction of its pixels "
                                  "is treated as ``occluded`` says")
    occluded: Literal["drop", "difficult"] = Field(
        "drop", description="hard: an object below ``min_visibility`` is not annotated (``drop``) or annotated "
        "with VOC's ``difficult`` flag (``difficult``)")
    backgrounds: Path | None = Field(None, description="hard: a folder of photos; each image's background is a "
                                     "random crop of one of them (null: a gradient)")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("difficulty") == "hard":
            data = dict(data)
            for key, value in HARD_PRESET.items():
                if data.get(key) is None:  # not given (or null): the preset's value
                    data[key] = value
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "SynthesizeSettings":
        _check(self.classes, self.size, self.objects_per_image, self.object_size, self.splits, self.images)
        lo, hi = self.aspect
        if not (0 < lo <= hi):
            raise ConfigError("invalid range", field="aspect", value=list(self.aspect),
                              expected="[min, max] with 0 < min <= max")
        a, b = self.distractors
        if not (0 <= a <= b):
            raise ConfigError("invalid range", field="distractors", value=list(self.distractors),
                              expected="[min, max] with 0 <= min <= max")
        if self.difficulty == "easy":
            for name in ("aspect", "distractors", "backgrounds"):
                if getattr(self, name) != type(self).model_fields[name].default:
                    raise ConfigError("only used by the hard preset", field=name, value=_plain(getattr(self, name)),
                                      expected="difficulty: hard, or no value")
        if self.backgrounds is not None:
            Backgrounds.files_of(self.backgrounds)  # a folder with photos in it, checked now
        return self

    def record(self) -> dict[str, Any]:
        """The settings as recorded in :data:`MARKER` (JSON-ready, every value filled in; the
        hard preset's fields only for ``difficulty: hard``, so easy markers stay as they were)."""
        out = {"images": self.images, "classes": list(self.classes), "size": list(self.size),
               "objects_per_image": list(self.objects_per_image), "object_size": list(self.object_size),
               "noise": float(self.noise), "seed": self.seed, "splits": dict(self.splits),
               "jpeg_quality": self.jpeg_quality}
        if self.difficulty == "hard":
            out.update(difficulty="hard", aspect=[float(v) for v in self.aspect],
                       distractors=list(self.distractors), min_visibility=float(self.min_visibility),
                       occluded=self.occluded,
                       backgrounds=None if self.backgrounds is None else str(self.backgrounds))
        return out


def _plain(value: Any) -> Any:
    """``value`` as an error message shows it (tuples as lists, paths as strings)."""
    return list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth, low-saturation two-colour gradient, ``(h, w, 3)`` float32."""
    base = rng.uniform(80, 180)
    c0 = base + rng.uniform(-25, 25, size=3)
    c1 = base + rng.uniform(-25, 25, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return (c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]).astype(np.float32)


def _draw_shape(mask: np.ndarray, shape: str, x: int, y: int, s: int) -> None:
    """Draw ``shape`` filling the ``s`` x ``s`` square at top-left ``(x, y)`` into ``mask`` (255)."""
    import cv2

    if shape == "circle":
        r = (s - 1) // 2
        cv2.circle(mask, (x + r, y + r), r, 255, -1, lineType=cv2.LINE_8)
    elif shape == "square":
        cv2.rectangle(mask, (x, y), (x + s - 1, y + s - 1), 255, -1)
    elif shape == "triangle":
        pts = np.array([[x + (s - 1) // 2, y], [x, y + s - 1], [x + s - 1, y + s - 1]], np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
    elif shape == "diamond":
        m = (s - 1) // 2
        pts = np.array([[x + m, y], [x + s - 1, y + m], [x + m, y + s - 1], [x, y + m]], np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
    elif shape == "cross":
        t = max(2, s // 3)
        o = (s - t) // 2
        cv2.rectangle(mask, (x + o, y), (x + o + t - 1, y + s - 1), 255, -1)
        cv2.rectangle(mask, (x, y + o), (x + s - 1, y + o + t - 1), 255, -1)
    elif shape == "ring":
        r = (s - 1) // 2
        cv2.circle(mask, (x + r, y + r), r, 255, -1, lineType=cv2.LINE_8)
        cv2.circle(mask, (x + r, y + r), max(1, r - max(3, s // 5)), 0, -1, lineType=cv2.LINE_8)
    else:  # pragma: no cover - guarded by _check
        raise ValueError(shape)


_DEFAULT = SynthesizeSettings()  # the defaults, from the one declaration


def synthetic_image(
    rng: np.random.Generator,
    classes: Sequence[str] = DEFAULT_CLASSES,
    *,
    size: tuple[int, int] = _DEFAULT.size,
    objects_per_image: tuple[int, int] = _DEFAULT.objects_per_image,
    object_size: tuple[int, int] = _DEFAULT.object_size,
    noise: float = _DEFAULT.noise,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic image and its boxes.

    Returns:
        ``image`` ``(H, W, 3)`` uint8 RGB, ``boxes`` ``(N, 4)`` float64 absolute pixel xyxy (the
        exact pixel extent of each drawn shape: a shape covering pixel columns ``x0..x1``
        inclusive has ``xmin = x0``, ``xmax = x1 + 1``), ``labels`` ``(N,)`` int64 indices into
        ``classes``. Objects do not overlap (at least 2 pixels apart).
    """
    w, h = size
    img = _background(rng, w, h)
    n_wanted = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
    boxes: list[list[float]] = []
    labels: list[int] = []
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n_wanted):
        s = int(rng.integers(object_size[0], object_size[1] + 1))
        for _attempt in range(30):  # rejection sampling: find a free spot, else drop the object
            x = int(rng.integers(0, w - s + 1))
            y = int(rng.integers(0, h - s + 1))
            if all(x + s + 2 <= b[0] or b[2] + 2 <= x or y + s + 2 <= b[1] or b[3] + 2 <= y for b in boxes):
                break
        else:
            continue
        k = int(rng.integers(0, len(classes)))
        mask[:] = 0
        _draw_shape(mask, classes[k], x, y, s)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        colour = np.clip(np.array(SHAPES[classes[k]], np.float32) + rng.uniform(-20, 20, size=3), 0, 255)
        img[ys, xs] = colour[None, :]
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
        labels.append(k)
    if noise > 0:
        img = img + rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return image, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels, np.int64)


def _draw_shape_wh(mask: np.ndarray, shape: str, x: int, y: int, w: int, h: int) -> None:
    """Draw ``shape`` (one of :data:`SHAPES` or :data:`DISTRACTORS`) stretched to fill the
    ``w`` x ``h`` rectangle at top-left ``(x, y)`` into ``mask`` (value 255). The drawn pixels
    reach every side of the rectangle (a ``stroke`` runs corner to corner)."""
    import cv2

    x1, y1 = x + w - 1, y + h - 1
    cx, cy = x + (w - 1) / 2, y + (h - 1) / 2
    if shape in ("circle", "ring"):
        axes = ((w - 1) / 2, (h - 1) / 2)
        # float centre/axes through cv2's fixed-point shift (4 fractional bits)
        sh = 16
        cv2.ellipse(mask, (round(cx * sh), round(cy * sh)), (round(axes[0] * sh), round(axes[1] * sh)), 0, 0, 360,
                    255, -1, lineType=cv2.LINE_8, shift=4)
        if shape == "ring":
            t = max(2, round(min(w, h) / 5))
            inner = (max(0.0, axes[0] - t), max(0.0, axes[1] - t))
            if min(inner) >= 1:
                cv2.ellipse(mask, (round(cx * sh), round(cy * sh)), (round(inner[0] * sh), round(inner[1] * sh)), 0, 0,
                            360, 0, -1, lineType=cv2.LINE_8, shift=4)
    elif shape in ("square", "frame"):
        cv2.rectangle(mask, (x, y), (x1, y1), 255, -1)
        if shape == "frame":
            t = max(1, round(min(w, h) / 8))
            if w > 2 * t and h > 2 * t:
                cv2.rectangle(mask, (x + t, y + t), (x1 - t, y1 - t), 0, -1)
    elif shape == "triangle":
        pts = np.array([[round(cx), y], [x, y1], [x1, y1]], np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
    elif shape == "diamond":
        pts = np.array([[round(cx), y], [x1, round(cy)], [round(cx), y1], [x, round(cy)]], np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
    elif shape == "cross":
        tw, th = max(2, w // 3), max(2, h // 3)
        ox, oy = (w - tw) // 2, (h - th) // 2
        cv2.rectangle(mask, (x + ox, y), (x + ox + tw - 1, y1), 255, -1)
        cv2.rectangle(mask, (x, y + oy), (x1, y + oy + th - 1), 255, -1)
    elif shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radius = np.where(np.arange(10) % 2 == 0, 1.0, 0.4)
        px, py = np.cos(angles) * radius, np.sin(angles) * radius
        px = x + (px - px.min()) / (px.max() - px.min()) * (w - 1)
        py = y + (py - py.min()) / (py.max() - py.min()) * (h - 1)
        cv2.fillPoly(mask, [np.stack([np.rint(px), np.rint(py)], 1).astype(np.int32)], 255, lineType=cv2.LINE_8)
    elif shape == "stroke":
        t = max(2, round(min(w, h) / 6))
        half = t // 2
        cv2.line(mask, (x + half, y + half), (x1 - half, y1 - half), 255, t, lineType=cv2.LINE_8)
    else:  # pragma: no cover - guarded by _check
        raise ValueError(shape)


class Backgrounds:
    """Random crops of the photos in a folder (its image files, in name order), decoded on
    first use and kept; :meth:`crop` is a function of the generator's state only."""

    def __init__(self, folder: Path) -> None:
        self.files = self.files_of(folder)
        self._cache: dict[int, np.ndarray] = {}

    @staticmethod
    def files_of(folder: Path) -> list[Path]:
        """The photo files of ``folder``, sorted by name.

        Raises:
            ConfigError: ``folder`` is not a folder or holds no image file.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError("not a folder", field="backgrounds", value=str(folder),
                              expected="a folder of photos (.jpg, .png, ...)")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES and p.is_file())
        if not files:
            raise ConfigError("holds no image file", field="backgrounds", value=str(folder),
                              expected="a folder with .jpg, .jpeg, .png, .bmp or .webp files")
        return files

    def _photo(self, k: int) -> np.ndarray:
        import cv2

        if k not in self._cache:
            img = cv2.imread(str(self.files[k]), cv2.IMREAD_COLOR)
            if img is None:
                from .errors import InputError

                raise InputError(f"{self.files[k]}: not a readable image (background photo)")
            self._cache[k] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return self._cache[k]

    def crop(self, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
        """A random ``(h, w, 3)`` float32 RGB crop: a random photo, scaled to cover the canvas
        (1-1.6x more), a random window of it, mirrored half the time."""
        import cv2

        photo = self._photo(int(rng.integers(0, len(self.files))))
        ph, pw = photo.shape[:2]
        scale = max(w / pw, h / ph) * float(rng.uniform(1.0, 1.6))
        sw, sh = max(w, int(np.ceil(pw * scale))), max(h, int(np.ceil(ph * scale)))
        big = cv2.resize(photo, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        x0 = int(rng.integers(0, sw - w + 1))
        y0 = int(rng.integers(0, sh - h + 1))
        out = big[y0:y0 + h, x0:x0 + w]
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return out.astype(np.float32)


@dataclass
class Scene:
    """One image of the hard preset and what is known about it.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB, with every artefact applied.
        boxes: ``(N, 4)`` float64 absolute pixel xyxy of the annotated objects: the tight extent
            of each object's visible pixels (columns ``x0..x1`` visible: ``xmin = x0``,
            ``xmax = x1 + 1``).
        labels: ``(N,)`` int64 indices into the classes.
        difficult: ``(N,)`` bool, True for objects below ``min_visibility`` (``occluded: difficult``).
        visibility: ``(N,)`` float64, visible pixels / pixels of the whole shape.
        kept: ``(N,)`` int64, the index in :attr:`objects` of each annotation.
        objects: every class object drawn, annotated or not, bottom to top: dicts with ``shape``,
            ``label``, ``rect`` (``x, y, w, h`` of the whole shape), ``area`` (its pixels),
            ``visible`` (its pixels no later shape covers).
        owner: ``(H, W)`` int32, per pixel the index in :attr:`objects` of the object seen there;
            -1 background, -2 a distractor. Before blur and JPEG (they move no shape).
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray
    visibility: np.ndarray
    kept: np.ndarray
    objects: list[dict[str, Any]] = field(default_factory=list)
    owner: np.ndarray | None = None


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def _rect(rng: np.random.Generator, object_size: tuple[int, int], aspect: tuple[float, float],
          w: int, h: int) -> tuple[int, int, int, int]:
    """A random ``(x, y, rw, rh)`` inside the ``w`` x ``h`` canvas: side ``sqrt(rw * rh)``
    log-uniform in ``object_size``, ``rw / rh`` log-uniform in ``aspect``."""
    side = _log_uniform(rng, object_size[0], object_size[1])
    a = _log_uniform(rng, aspect[0], aspect[1])
    rw = int(np.clip(round(side * np.sqrt(a)), 2, w))
    rh = int(np.clip(round(side / np.sqrt(a)), 2, h))
    return int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1)), rw, rh


def synthetic_scene(
    rng: np.random.Generator,
    classes: Sequence[str] = tuple(HARD_PRESET["classes"]),
    *,
    size: tuple[int, int] = _DEFAULT.size,
    objects_per_image: tuple[int, int] = HARD_PRESET["objects_per_image"],
    object_size: tuple[int, int] = HARD_PRESET["object_size"],
    aspect: tuple[float, float] = HARD_PRESET["aspect"],
    distractors: tuple[int, int] = HARD_PRESET["distractors"],
    noise: float = HARD_PRESET["noise"],
    min_visibility: float = _DEFAULT.min_visibility,
    occluded: str = _DEFAULT.occluded,
    backgrounds: Backgrounds | None = None,
) -> Scene:
    """One image of the hard preset (see the module docstring); ``noise`` is the largest
    per-image standard deviation of the pixel noise (each image draws its own in ``[0, noise]``)."""
    import cv2

    w, h = size
    img = backgrounds.crop(rng, w, h) if backgrounds is not None else _background(rng, w, h)
    n_obj = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
    n_dis = int(rng.integers(distractors[0], distractors[1] + 1))
    kinds = np.array([True] * n_obj + [False] * n_dis)[rng.permutation(n_obj + n_dis)]  # True: a class object
    owner = np.full((h, w), -1, np.int32)
    objects: list[dict[str, Any]] = []
    mask = np.zeros((h, w), np.uint8)
    for is_object in kinds:
        x, y, rw, rh = _rect(rng, object_size, aspect, w, h)
        if is_object:
            k = int(rng.integers(0, len(classes)))
            shape = classes[k]
            colour = np.array(SHAPES[shape], np.float32) + rng.uniform(-35, 35, size=3)
        else:
            shape = DISTRACTORS[int(rng.integers(0, len(DISTRACTORS)))]
            colour = rng.uniform(0, 255, size=3)
        mask[:] = 0
        _draw_shape_wh(mask, shape, x, y, rw, rh)
        on = mask > 0
        area = int(on.sum())
        if area == 0:  # pragma: no cover - every shape of 2x2 px or more draws pixels
            continue
        img[on] = np.clip(colour, 0, 255)[None, :]
        if is_object:
            owner[on] = len(objects)
            objects.append({"shape": shape, "label": k, "rect": (x, y, rw, rh), "area": area})
        else:
            owner[on] = -2
    boxes: list[list[float]] = []
    labels, difficult, visibility, kept = [], [], [], []
    for i, obj in enumerate(objects):
        ys, xs = np.nonzero(owner == i)
        obj["visible"] = len(xs)
        if len(xs) == 0:
            continue
        vis = len(xs) / obj["area"]
        below = vis < min_visibility
        if below and occluded == "drop":
            continue
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
        labels.append(obj["label"])
        difficult.append(bool(below))
        visibility.append(vis)
        kept.append(i)
    # the camera: colour jitter (per-channel gain, contrast, brightness), noise, blur, JPEG
    gain = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    contrast = float(rng.uniform(0.7, 1.3))
    brightness = float(rng.uniform(-25, 25))
    mean = img.mean()
    img = (img * gain[None, None, :] - mean) * contrast + mean + brightness
    sigma = float(rng.uniform(0, noise)) if noise > 0 else 0.0
    if sigma > 0:
        img = img + rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.3)))
    if rng.random() < 0.5:
        quality = int(rng.integers(20, 71))
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return Scene(image=image, boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
                 labels=np.asarray(labels, np.int64), difficult=np.asarray(difficult, bool),
                 visibility=np.asarray(visibility, np.float64), kept=np.asarray(kept, np.int64),
                 objects=objects, owner=owner)


def synthetic_samples(
    images: int,
    classes: Sequence[str] = DEFAULT_CLASSES,
    *,
    seed: int = 0,
    start: int = 0,
    **options: Any,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``images`` results of :func:`synthetic_image`; image ``i`` uses the generator seeded with
    ``(seed, i)``, so it is the same whatever the count. ``options`` go to :func:`synthetic_image`."""
    for i in range(start, start + images):
        yield synthetic_image(np.random.default_rng([seed, i]), classes, **options)


def hard_scenes(images: int, classes: Sequence[str], settings: SynthesizeSettings, *,
                start: int = 0) -> Iterator[Scene]:
    """``images`` results of :func:`synthetic_scene` with ``settings``' values; image ``i`` uses
    the generator seeded with ``(seed, i)`` (the same whatever the count)."""
    bg = Backgrounds(settings.backgrounds) if settings.backgrounds is not None else None
    for i in range(start, start + images):
        yield synthetic_scene(np.random.default_rng([settings.seed, i]), classes, size=tuple(settings.size),
                              objects_per_image=tuple(settings.objects_per_image),
                              object_size=tuple(settings.object_size), aspect=tuple(settings.aspect),
                              distractors=tuple(settings.distractors), noise=settings.noise,
                              min_visibility=settings.min_visibility, occluded=settings.occluded, backgrounds=bg)


def _assign_splits(n: int, splits: dict[str, float], seed: int) -> list[str]:
    """A split name per image: counts proportional to the fractions (largest remainders get the
    leftovers), images shuffled deterministically by ``seed``."""
    names = list(splits)
    fr = np.array([float(splits[k]) for k in names])
    fr = fr / fr.sum()
    raw = fr * n
    counts = np.floor(raw).astype(int)
    for j in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[j] += 1
    order = np.random.default_rng([seed, 0x5B117]).permutation(n)
    out = [""] * n
    pos = 0
    for name, c in zip(names, counts):
        for i in order[pos:pos + c]:
            out[int(i)] = name
        pos += c
    return out


def read_marker(path: Path) -> dict[str, Any] | None:
    """The generation settings recorded in ``path/cvpipe-synthetic.json``, or None if ``path``
    holds no dataset cvpipe synthesised."""
    try:
        return json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def synthesize_voc(
    dst: Path,
    settings: SynthesizeSettings | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
    **values: Any,
) -> dict[str, Any]:
    """Write a synthetic detection dataset in Pascal VOC layout into ``dst``.

    Args:
        dst: output folder; it gets ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/`` (one
            list per split and ``trainval.txt``) and :data:`MARKER`. Written whole or not at all.
        settings: what to generate (:class:`SynthesizeSettings`); or give its fields as keyword
            ``values`` (``images=200, seed=0, ...``).
        overwrite: replace an existing non-empty ``dst`` (always allowed when ``dst`` holds an
            earlier synthetic dataset, recognised by its marker file).
        progress: show a progress bar.

    Returns:
        A JSON-ready report: ``path``, ``images``, ``boxes``, ``categories``, ``per_class``
        (boxes per class), ``splits`` (images per split), ``seed``.

    Raises:
        ConfigError: a setting is out of range, or ``dst`` holds other data and not ``overwrite``.
    """
    import cv2

    from .data import Dataset, Sample
    from .formats import write_dataset
    from .fsutil import atomic_write_text, temp_prefix
    from .settings import build_settings

    if settings is not None and values:
        raise TypeError("give settings or keyword values, not both")
    s = settings if settings is not None else build_settings(SynthesizeSettings, values)
    record = s.record()  # written to the marker file and the dataset's meta
    images, classes, splits, seed = s.images, record["classes"], record["splits"], s.seed
    size, objects_per_image, object_size, noise, jpeg_quality = (s.size, s.objects_per_image, s.object_size,
                                                                s.noise, s.jpeg_quality)
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ConfigError("output exists and is not a folder", field="path", value=str(dst),
                          expected="a folder path")
    if dst.is_dir() and any(dst.iterdir()) and not overwrite and read_marker(dst) is None:
        raise ConfigError("output folder exists and holds other data", field="path", value=str(dst),
                          expected="an empty or new folder", hint="choose another path or set overwrite")
    split_of = _assign_splits(images, splits, seed)
    digits = max(6, len(str(images)))
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=temp_prefix(dst.name) + "images-", dir=dst.parent))
    try:
        (staging / "JPEGImages").mkdir()
        samples = []
        gen: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]
        if s.difficulty == "hard":
            gen = ((sc.image, sc.boxes, sc.labels, sc.difficult) for sc in hard_scenes(images, classes, s))
        else:
            gen = ((*sample, None) for sample in synthetic_samples(
                images, classes, seed=seed, size=size, objects_per_image=tuple(objects_per_image),
                object_size=tuple(object_size), noise=noise))
        if progress:
            from tqdm import tqdm

            gen = tqdm(gen, total=images, desc="synthesize", unit="img", leave=False)
        for i, (image, boxes, labels, difficult) in enumerate(gen):
            stem = f"{i:0{digits}d}"
            rel = f"JPEGImages/{stem}.jpg"
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
            if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
                raise RuntimeError("JPEG encoding failed")
            (staging / rel).write_bytes(buf.tobytes())
            samples.append(Sample(
                image=rel, width=size[0], height=size[1], boxes=boxes, labels=labels, difficult=difficult,
                box_extra=[{"pose": "Unspecified"} for _ in range(len(boxes))],
                extra={"folder": "cvpipe-synthetic"}, id=stem, split=split_of[i],
            ))
        dataset = Dataset(classes, samples, root=staging, meta={"source": "cvpipe.synthetic", **record})
        write_dataset(dataset, dst, "voc", images="link")
        main = dst / "ImageSets" / "Main"
        if "train" in splits and "val" in splits and not (main / "trainval.txt").exists():
            # the VOC devkit also ships trainval.txt (train + val, sorted); the writer lists only
            # the splits the samples carry
            ids = sorted(s.id for s in samples if s.split in ("train", "val"))
            atomic_write_text(main / "trainval.txt", "".join(f"{i}\n" for i in ids))
        atomic_write_text(dst / MARKER, json.dumps(record, indent=2) + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    per_class = dataset.class_counts()
    return {
        "path": str(dst),
        "images": len(samples),
        "boxes": dataset.num_boxes,
        "categories": classes,
        "per_class": per_class,
        "splits": {name: split_of.count(name) for name in splits},
        "seed": seed,
    }
