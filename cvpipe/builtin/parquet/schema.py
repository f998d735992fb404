"""The on-disk layout of the ``parquet`` format: columns, manifest, and the few stable imports.

Layout::

    dataset/
      manifest.json            written last: categories, schema version, shards with row
                               counts and sha256 content hashes, writer version, dataset meta
      part-00000.parquet       one row per image (shards of ``rows_per_shard`` rows)
      part-00001.parquet
      images/...               the image files (``images="copy"|"link"``), at their
                               relative paths

Columns (one row per image; list columns have one entry per box):

=============  ===================================  ==========================================
column         type                                 meaning
=============  ===================================  ==========================================
image          string                               path relative to ``images/`` (``/``)
id             string (JSON), nullable              the image id, JSON-encoded (int or str)
width, height  int32                                image size in pixels
split          string, nullable                     train / val / ...
boxes          list<fixed_size_list<float64>[4]>    absolute pixel x1, y1, x2, y2
labels         list<int64>                          0-based indices into manifest categories
difficult      list<bool>                           per-box flags
truncated      list<bool>
iscrowd        list<bool>
scores         list<float64>, nullable              null for ground truth
box_extra      list<string>                         per-box extra fields, each a JSON object
extra          string                               per-image extra fields, a JSON object
=============  ===================================  ==========================================

The files are plain Parquet: DuckDB, Polars or pandas read them without cvpipe
(``select count(*), sum(len(labels)) from 'dataset/*.parquet'``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# The stable cvpipe APIs this package uses, imported in this one place.
from cvpipe.data.origin import Origin
from cvpipe.errors import InputError, Problem  # noqa: F401  (re-exported for reader/writer)
from cvpipe.fsutil import atomic_dir, atomic_write_json, place_file, safe_join, safe_relpath  # noqa: F401

__all__ = [
    "FORMAT_TAG",
    "SCHEMA_VERSION",
    "MANIFEST",
    "IMAGES_DIR",
    "DEFAULT_ROWS_PER_SHARD",
    "COLUMNS",
    "shard_name",
    "arrow_schema",
    "require_pyarrow",
    "sha256_file",
    "to_json",
    "origin",
]

#: ``manifest.json["format"]``: what ``detect`` looks for.
FORMAT_TAG = "cvpipe-parquet"
#: The layout version this code reads and writes; a manifest with another one is refused.
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
IMAGES_DIR = "images"
#: Rows (images) per shard unless the writer is told otherwise.
DEFAULT_ROWS_PER_SHARD = 10_000

COLUMNS = ("image", "id", "width", "height", "split", "boxes", "labels", "difficult", "truncated",
           "iscrowd", "scores", "box_extra", "extra")


def shard_name(index: int) -> str:
    """``part-00000.parquet`` for shard ``index``."""
    return f"part-{index:05d}.parquet"


def require_pyarrow(file: str | None = None):
    """``pyarrow`` (imported here, not at module import), or an InputError saying how to install it."""
    try:
        import pyarrow
    except ImportError:
        raise InputError("the parquet format needs pyarrow, which is not installed", file=file,
                         expected="pyarrow>=14", hint="pip install 'cvpipe[parquet]'") from None
    return pyarrow


def arrow_schema():
    """The Arrow schema of one shard (see the module docs)."""
    pa = require_pyarrow()
    return pa.schema([
        ("image", pa.string()),
        ("id", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("split", pa.string()),
        ("boxes", pa.list_(pa.list_(pa.float64(), 4))),
        ("labels", pa.list_(pa.int64())),
        ("difficult", pa.list_(pa.bool_())),
        ("truncated", pa.list_(pa.bool_())),
        ("iscrowd", pa.list_(pa.bool_())),
        ("scores", pa.list_(pa.float64())),
        ("box_extra", pa.list_(pa.string())),
        ("extra", pa.string()),
    ], metadata={b"cvpipe.schema_version": str(SCHEMA_VERSION).encode()})


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path``, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                return h.hexdigest()
            h.update(block)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists, for ``json.dumps``."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """``value`` as compact, key-order-preserving JSON (numpy values made plain)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)


def origin(shard: Path, row: int):
    """Where a sample came from: the shard file and its 1-based row, so that problems name it
    as ``part-00003.parquet:17``. The one place that knows how provenance is stored."""
    return Origin(file=str(shard), line=row + 1)
