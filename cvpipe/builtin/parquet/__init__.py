"""Sharded Parquet datasets (a built-in format plugin): one row per image, a manifest with
categories, schema version and a sha256 per shard. Readable by DuckDB, Polars or pandas
without cvpipe. Needs ``pyarrow`` (``pip install 'cvpipe[parquet]'``), imported only when a
dataset is read or written. See :mod:`.schema` for the layout.
"""

from __future__ import annotations

from cvpipe import hookimpl

from .sharding import SHARDING
from .reader import detect_parquet, iter_samples, read_manifest, read_parquet, read_shard
from .writer import write_parquet, write_samples, write_shard

__all__ = ["read_parquet", "write_parquet", "detect_parquet", "iter_samples", "read_manifest", "read_shard",
           "write_samples", "write_shard"]


@hookimpl
def cvpipe_register_formats(register):
    register.add_format("parquet", reader=read_parquet, writer=write_parquet, detect=detect_parquet, sharding=SHARDING,
                        description="sharded Parquet, one row per image, manifest with hashes (pyarrow)")
