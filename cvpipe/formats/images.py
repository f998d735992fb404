"""Image files: sizes from headers (no pixel decoding), the extensions cvpipe looks for, where a
layout keeps its images (:func:`find_images_dir`) and the names images get in an output
(:func:`image_names`)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

from ..errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "image_size", "is_image", "find_images_dir", "image_names", "output_names", "place_image",
           "symlink_escape", "image_truncated"]

#: File extensions treated as images, lower case.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image(path: Path) -> bool:
    """Whether ``path`` has an image file extension (:data:`IMAGE_EXTENSIONS`)."""
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


def image_truncated(path: Path) -> bool:
    """Whether the JPEG or PNG at ``path`` is cut short: a JPEG without its end-of-image marker
    (``FF D9``; padding after it allowed, and a trailer after it found by a scan when the end is
    not the marker), a PNG without its ``IEND`` chunk. Reads the last bytes only in the common
    case; other formats are not judged (False). A truncated file passes the header-only size
    check, then fails to decode when training reads it."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 64))
        tail = fh.read()
        if head.startswith(b"\xff\xd8"):
            if tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
                return False
            fh.seek(0)
            return b"\xff\xd9" not in fh.read()  # an EOI before a trailer (camera metadata)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if b"IEND" in tail:
                return False
            fh.seek(0)
            return b"IEND" not in fh.read()
    return False


def symlink_escape(path: Path, roots: Sequence[Path | None]) -> str | None:
    """The file a symlinked ``path`` (or a symlinked folder on its way) resolves to when that
    lies outside every folder of ``roots`` (the dataset: its folder, its images folder), else
    None (no symlink, or one staying inside; None roots are ignored). A converter refuses such
    an image unless told to follow symlinks: linking or copying it would take a file from
    elsewhere into the output."""
    import os

    real = os.path.realpath(path)
    if real == os.path.abspath(path):  # no symlink anywhere on the path: the common case
        return None
    for root in roots:
        if root is not None:
            top = os.path.realpath(root).rstrip(os.sep) + os.sep
            if real.startswith(top):
                return None
    return real


def find_images_dir(candidates: Sequence[Path], probe: str | None) -> Path | None:
    """The first folder of ``candidates`` that holds the image ``probe`` (a relative file name);
    when none does (or ``probe`` is None), the first that exists; None if none exists."""
    existing = [Path(c) for c in candidates if Path(c).is_dir()]
    if probe:
        for c in existing:
            if (c / probe).is_file():
                return c
    return existing[0] if existing else None


def image_names(samples: Sequence, *, known_key: str = "file_name") -> list[str]:
    """:func:`output_names` of ``samples``' image paths, each sample's ``extra[known_key]``
    (e.g. COCO ``file_name``) as its known name."""
    return output_names([str(s.image) for s in samples], [s.extra.get(known_key) for s in samples])


def output_names(paths: Sequence[str], known: Sequence[object] | None = None, *, cut: int | None = None) -> list[str]:
    """The name each image (``paths``: relative to the dataset root) should have inside an
    output split folder.

    An image whose ``known`` name (e.g. COCO ``file_name``) is a suffix of its path keeps that
    name (sub-folders included); otherwise the folders every path of the group shares
    (``JPEGImages/``, ``images/train/``) are dropped and the rest kept; an absolute path keeps its
    file name. Names are not yet checked for safety: pass them through
    :func:`cvpipe.fsutil.safe_relpath`. ``cut``: drop that many folders instead (a streaming
    writer's, who found the shared folders over all parts first: :func:`shared_folders`).
    """
    known = list(known) if known is not None else [None] * len(paths)
    posix = [PurePosixPath(p.replace("\\", "/")) for p in paths]
    cut = len(shared_folders(paths) or ()) if cut is None else cut
    out = []
    for k, p in zip(known, posix):
        if isinstance(k, str) and k and (str(p) == k or str(p).endswith("/" + k.lstrip("/"))):
            out.append(k)
        elif p.is_absolute():
            out.append(p.name)
        else:
            out.append("/".join(p.parts[cut:]))
    return out


def shared_folders(paths: Sequence[str], start: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """The folders every one of ``paths`` starts with (None for no paths), continuing from the
    ``start`` of earlier paths: :func:`output_names`' rule, computable part by part."""
    common = start
    for p in paths:
        parts = PurePosixPath(p.replace("\\", "/")).parts[:-1]
        if common is None:
            common = parts
        else:
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
    return common


def place_image(src: Path, dst: Path, mode: str, *, hint: str = "point to the images with --images-dir, or use --images none") -> None:
    """Copy or hard-link (``mode``: ``copy``/``link``) the image ``src`` to ``dst`` for a writer;
    a missing ``src`` is an InputError naming it (``hint``: what the user can do)."""
    from ..fsutil import place_file

    if not src.is_file():
        raise InputError("image file not found", file=str(src), expected="an existing image file", hint=hint)
    place_file(src, dst, mode)


def check_images_mode(images: str) -> None:
    """Refuse a writer's ``images`` option unless it is ``copy``, ``link`` or ``none`` (ConfigError)."""
    from ..errors import ConfigError

    if images not in ("copy", "link", "none"):
        raise ConfigError("bad images mode", field="images", value=images, expected="copy, link or none")


def split_groups(samples: Sequence, *, no_split: str | None = "train") -> dict[str | None, list]:
    """``samples`` grouped by the split folder each goes to, in first-seen order.

    A sample without a split goes to ``unassigned`` when some sample has one, else to
    ``no_split`` (None: no split folder at all). Split names are checked to be plain, safe folder
    names (InputError otherwise).
    """
    from ..fsutil import safe_relpath

    any_split = any(s.split is not None for s in samples)
    groups: dict[str | None, list] = {}
    for s in samples:
        groups.setdefault(s.split if s.split is not None else ("unassigned" if any_split else no_split), []).append(s)
    out: dict[str | None, list] = {}
    for split, group in groups.items():
        if split is not None:
            split = safe_relpath(str(split), field="split")
            if "/" in split:
                raise InputError("split name with a folder", field="split", value=split, expected="a plain name")
        out[split] = group
    return out


def unique_names(
    dataset,
    samples: Sequence,
    *,
    key=None,
    what: str = "name",
    value=None,
    expected: str = "distinct image names",
    hint: str = "also {}",
    known_key: str = "file_name",
) -> list[tuple[object, str, str]]:
    """``(sample, name, key)`` for each of ``samples``: its :func:`image_names` name made safe
    (:func:`cvpipe.fsutil.safe_relpath`) and ``key(name)`` (default: the name), the output file it
    decides (label file, ImageID...). Two samples with one key are an InputError "two images would
    get the same ``what``" with ``value(key)`` (default: the key), ``expected`` and ``hint``
    formatted with the other image.
    """
    from ..fsutil import safe_relpath

    out = []
    seen: dict[str, str] = {}
    for s, name in zip(samples, image_names(samples, known_key=known_key)):
        rel = safe_relpath(name, file=str(dataset.image_path(s)), field="image")
        k = key(rel) if key is not None else rel
        if k in seen:
            raise InputError(f"two images would get the same {what}", file=str(dataset.image_path(s)),
                             value=value(k) if value is not None else k, expected=expected,
                             hint=hint.format(seen[k]))
        seen[k] = s.image
        out.append((s, rel, k))
    return out


def decimal_text(v: float) -> str:
    """``v`` with two decimals when that is exact (``58.00``, as CVAT and KITTI write
    coordinates), else the shortest decimal that reads back to the same float."""
    v = float(v)
    two = f"{v:.2f}"
    return two if float(two) == v else repr(v)
