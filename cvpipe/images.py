"""Image files: sizes from headers (no pixel decoding), and the extensions cvpipe looks for."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "image_size", "is_image"]

#: File extensions treated as images, lower case.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path``, read from the file header only.

    Raises:
        InputError: the file is missing or its header cannot be read.
    """
    import imagesize  # small, pure Python; reads only the header

    try:
        w, h = imagesize.get(str(path))
    except OSError as exc:
        raise InputError("cannot read image", file=str(path), value=str(exc), expected="a readable image file") from None
    if w <= 0 or h <= 0:
        raise InputError("cannot read the image size from the file header", file=str(path),
                         expected="a JPEG, PNG, BMP, TIFF or WebP image")
    return int(w), int(h)
