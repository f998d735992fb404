"""Synthetic detection data: coloured shapes on a mildly noisy background, written as a real
Pascal VOC folder (``Annotations/*.xml``, ``JPEGImages/*.jpg``, ``ImageSets/Main/*.txt``).

Made to be *learnable fast* (a compact detector trained for a few CPU minutes should reach a
validation AP50 of 0.8 or more): every class is one shape with its own colour, objects are 20-80
pixels, they never overlap, and the background is a smooth low-saturation gradient with a little
pixel noise. Everything is deterministic for a given ``seed``; image ``i`` depends only on
``(seed, i)``, not on how many images are generated.

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
from typing import Annotated, Any, Iterator, Sequence

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from .errors import ConfigError
from .settings import Settings

__all__ = ["SHAPES", "DEFAULT_CLASSES", "MARKER", "SynthesizeSettings", "synthetic_image", "synthetic_samples", "synthesize_voc",
           "read_marker"]

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

    @model_validator(mode="after")
    def _consistent(self) -> "SynthesizeSettings":
        _check(self.classes, self.size, self.objects_per_image, self.object_size, self.splits, self.images)
        return self

    def record(self) -> dict[str, Any]:
        """The settings as recorded in :data:`MARKER` (JSON-ready, every value filled in)."""
        return {"images": self.images, "classes": list(self.classes), "size": list(self.size),
                "objects_per_image": list(self.objects_per_image), "object_size": list(self.object_size),
                "noise": float(self.noise), "seed": self.seed, "splits": dict(self.splits),
                "jpeg_quality": self.jpeg_quality}


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
        gen = synthetic_samples(images, classes, seed=seed, size=size, objects_per_image=tuple(objects_per_image),
                                object_size=tuple(object_size), noise=noise)
        if progress:
            from tqdm import tqdm

            gen = tqdm(gen, total=images, desc="synthesize", unit="img", leave=False)
        for i, (image, boxes, labels) in enumerate(gen):
            stem = f"{i:0{digits}d}"
            rel = f"JPEGImages/{stem}.jpg"
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
            if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
                raise RuntimeError("JPEG encoding failed")
            (staging / rel).write_bytes(buf.tobytes())
            samples.append(Sample(
                image=rel, width=size[0], height=size[1], boxes=boxes, labels=labels,
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
