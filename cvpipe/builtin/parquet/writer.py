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


def _validity(pa, np, nulls: np.ndarray | None):
    """Arrow's validity bitmap for the ``True``-is-null mask (``None``: no nulls)."""
    return pa.py_buffer(np.packbits(~nulls, bitorder="little")) if nulls is not None and nulls.any() else None


def _flat_array(pa, np, values: np.ndarray, type, dtype):
    """A primitive Arrow array over ``values`` (booleans bit-packed). Arrays are built from
    their buffers throughout this module: ``pa.array`` imports pandas (seconds of start-up)."""
    values = np.ascontiguousarray(values, dtype=dtype)
    data = np.packbits(values, bitorder="little") if dtype is bool else values
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(data)])


def _offsets(np, sizes: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int32)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
    return out


def _list_array(pa, np, parts: Sequence, type, *, nulls: np.ndarray | None = None):
    """The Arrow list column of ``type`` whose row ``i`` is the numpy array ``parts[i]`` (a
    list of fixed-size lists when ``type``'s values are: ``(N, 4)`` boxes)."""
    child_type = type.value_type
    leaf_type = child_type.value_type if isinstance(child_type, pa.FixedSizeListType) else child_type
    dtype = {pa.float64(): np.float64, pa.int64(): np.int64, pa.bool_(): bool}[leaf_type]
    flat = np.concatenate([np.asarray(p, dtype=dtype).reshape(-1) for p in parts]) if parts else np.zeros(0, dtype)
    child = _flat_array(pa, np, flat, leaf_type, dtype)
    if isinstance(child_type, pa.FixedSizeListType):
        child = pa.Array.from_buffers(child_type, len(flat) // child_type.list_size, [None], children=[child])
    offsets = _offsets(np, [len(p) for p in parts])
    return pa.Array.from_buffers(type, len(parts), [_validity(pa, np, nulls), pa.py_buffer(offsets)],
                                 children=[child])


def _string_array(pa, np, values: Sequence[str | None]):
    """A string column (UTF-8 bytes, int32 offsets, validity bits)."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    nulls = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    offsets = _offsets(np, [len(e) for e in encoded])
    return pa.Array.from_buffers(pa.string(), len(encoded), [_validity(pa, np, nulls), pa.py_buffer(offsets),
                                                             pa.py_buffer(b"".join(encoded))])


def _table(samples: Sequence, images: str):
    """The Arrow table of one shard (schema :func:`arrow_schema`), built column by column."""
    import numpy as np

    pa = require_pyarrow()
    schema = arrow_schema()
    t = {name: schema.field(name).type for name in schema.names}
    box_extra = [to_json(_public(e)) for s in samples for e in s.box_extra]
    box_extra_col = pa.Array.from_buffers(t["box_extra"], len(samples),
                                          [None, pa.py_buffer(_offsets(np, [len(s.box_extra) for s in samples]))],
                                          children=[_string_array(pa, np, box_extra)])
    no_scores = np.fromiter((s.scores is None for s in samples), dtype=bool, count=len(samples))
    columns = [
        _string_array(pa, np, [check_image_name(s.image, images) for s in samples]),
        _string_array(pa, np, [None if s.id is None else to_json(s.id) for s in samples]),
        _flat_array(pa, np, [s.width for s in samples], pa.int32(), np.int32),
        _flat_array(pa, np, [s.height for s in samples], pa.int32(), np.int32),
        _string_array(pa, np, [s.split for s in samples]),
        _list_array(pa, np, [s.boxes for s in samples], t["boxes"]),
        _list_array(pa, np, [s.labels for s in samples], t["labels"]),
        _list_array(pa, np, [s.difficult for s in samples], t["difficult"]),
        _list_array(pa, np, [s.truncated for s in samples], t["truncated"]),
        _list_array(pa, np, [s.iscrowd for s in samples], t["iscrowd"]),
        _list_array(pa, np, [() if s.scores is None else s.scores for s in samples], t["scores"], nulls=no_scores),
        box_extra_col,
        _string_array(pa, np, [to_json(_public(s.extra)) for s in samples]),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def write_shard(samples: Sequence, path: Path, *, images: str = "none") -> ShardInfo:
    """Write ``samples`` as one Parquet file at ``path`` (its folder must exist) and return its
    :class:`ShardInfo` (rows, boxes, sha256). Deterministic: the same samples give the same bytes."""
    pa = require_pyarrow(str(path))
    import pyarrow.parquet as pq

    table = _table(samples, images)
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
