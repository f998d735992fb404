"""Write datasets (or streams of samples) as a folder of Parquet shards plus ``manifest.json``.

:class:`ShardEncoder` turns samples into one shard file; :func:`write_samples` streams any
iterable of samples through it (bounded memory: one shard's rows at a time) and writes the
manifest last, inside :func:`cvpipe.fsutil.atomic_dir`, so the folder appears whole or not at
all. :func:`write_parquet` is the format's registered writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from .schema import (
    DEFAULT_ROWS_PER_SHARD,
    FORMAT_TAG,
    IMAGES_DIR,
    MANIFEST,
    SCHEMA_VERSION,
    atomic_dir,
    atomic_write_json,
    arrow_schema,
    place_file,
    require_pyarrow,
    safe_join,
    safe_relpath,
    sha256_file,
    shard_name,
    to_json,
)

__all__ = ["write_parquet", "write_samples", "write_shard", "write_manifest", "ShardInfo", "check_image_name"]


@dataclass(frozen=True)
class ShardInfo:
    """One written shard, as the manifest lists it."""

    file: str
    rows: int
    boxes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "boxes": self.boxes, "sha256": self.sha256}


def _public(d: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (d or {}).items() if not (isinstance(k, str) and k.startswith("_"))}


def check_image_name(name: str, images: str) -> str:
    """The image path as stored: a safe relative path (InputError for ``..`` or, unless
    ``images="none"``, an absolute path)."""
    if images == "none" and Path(name).is_absolute():
        return str(name)
    return safe_relpath(name, field="image")


def _columns(samples: Sequence, images: str) -> dict[str, list]:
    cols: dict[str, list] = {name: [] for name in ("image", "id", "width", "height", "split", "boxes", "labels",
                                                   "difficult", "truncated", "iscrowd", "scores", "box_extra",
                                                   "extra")}
    for s in samples:
        cols["image"].append(check_image_name(s.image, images))
        cols["id"].append(None if s.id is None else to_json(s.id))
        cols["width"].append(s.width)
        cols["height"].append(s.height)
        cols["split"].append(s.split)
        cols["boxes"].append(s.boxes.tolist())
        cols["labels"].append(s.labels.tolist())
        cols["difficult"].append(s.difficult.tolist())
        cols["truncated"].append(s.truncated.tolist())
        cols["iscrowd"].append(s.iscrowd.tolist())
        cols["scores"].append(None if s.scores is None else s.scores.tolist())
        cols["box_extra"].append([to_json(_public(e)) for e in s.box_extra])
        cols["extra"].append(to_json(_public(s.extra)))
    return cols


def write_shard(samples: Sequence, path: Path, *, images: str = "none") -> ShardInfo:
    """Write ``samples`` as one Parquet file at ``path`` (its folder must exist) and return its
    :class:`ShardInfo` (rows, boxes, sha256). Deterministic: the same samples give the same bytes."""
    pa = require_pyarrow(str(path))
    import pyarrow.parquet as pq

    table = pa.Table.from_pydict(_columns(samples, images), schema=arrow_schema())
    pq.write_table(table, path, compression="zstd", write_statistics=True)
    return ShardInfo(Path(path).name, len(samples), sum(len(s) for s in samples), sha256_file(path))


def write_manifest(folder: Path, categories: Sequence[str], shards: Sequence[ShardInfo], *,
                   meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``folder/manifest.json`` (atomically) listing ``shards``; return its content."""
    from cvpipe import __version__

    manifest = {
        "format": FORMAT_TAG,
        "schema_version": SCHEMA_VERSION,
        "writer": f"cvpipe {__version__}",
        "categories": list(categories),
        "images_dir": IMAGES_DIR,
        "rows": sum(s.rows for s in shards),
        "boxes": sum(s.boxes for s in shards),
        "shards": [s.to_dict() for s in shards],
        "meta": _json_meta(meta or {}),
    }
    atomic_write_json(Path(folder) / MANIFEST, manifest)
    return manifest


def _json_meta(meta: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(to_json(_public(meta)))


def _place_images(samples: Sequence, root: Path | None, tmp: Path, images: str) -> None:
    if images == "none":
        return
    from cvpipe.errors import InputError

    for s in samples:
        src = Path(s.image) if root is None or Path(s.image).is_absolute() else Path(root) / s.image
        if not src.is_file():
            raise InputError("image file not found", file=str(src), field="image", value=s.image,
                             expected="an existing image file",
                             hint="point to the images with --images-dir, or use --images none")
        place_file(src, safe_join(tmp / IMAGES_DIR, s.image, field="image"), images)


def write_samples(
    samples: Iterable,
    categories: Sequence[str],
    dst: Path,
    *,
    root: Path | None = None,
    meta: dict[str, Any] | None = None,
    images: Literal["copy", "link", "none"] = "copy",
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> dict[str, Any]:
    """Stream ``samples`` into the parquet folder ``dst``: ``rows_per_shard`` rows per shard, at
    most one shard's samples held at a time; ``manifest.json`` last; ``dst`` whole or untouched.

    Returns the report ``{"images", "boxes", "shards", "skipped": {}}``.
    """
    from cvpipe.errors import ConfigError

    if images not in ("copy", "link", "none"):
        raise ConfigError("bad images mode", field="images", value=images, expected="copy, link or none")
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise ConfigError("bad rows_per_shard", field="rows_per_shard", value=rows_per_shard,
                          expected="an integer >= 1")
    require_pyarrow(str(dst))
    shards: list[ShardInfo] = []
    with atomic_dir(Path(dst)) as tmp:
        buf: list = []

        def flush() -> None:
            _place_images(buf, root, tmp, images)
            shards.append(write_shard(buf, tmp / shard_name(len(shards)), images=images))
            buf.clear()

        for s in samples:
            buf.append(s)
            if len(buf) >= rows_per_shard:
                flush()
        if buf or not shards:
            flush()
        write_manifest(tmp, categories, shards, meta=meta)
    return {"images": sum(s.rows for s in shards), "boxes": sum(s.boxes for s in shards),
            "shards": len(shards), "skipped": {}}


def write_parquet(
    dataset,
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
) -> dict[str, Any]:
    """Write ``dataset`` as parquet shards into the folder ``dst`` (see :mod:`.schema`);
    every field of the data model is kept (boxes absolute pixel xyxy float64, flags, scores,
    extras as JSON). Returns ``{"images", "boxes", "shards", "skipped": {}}``."""
    return write_samples(dataset.samples, dataset.categories, dst, root=dataset.root, meta=dataset.meta,
                         images=images, rows_per_shard=rows_per_shard)
