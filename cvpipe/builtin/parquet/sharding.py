"""The parquet format's :class:`cvpipe.contract.Sharding`: one part per shard file, so that an
executor reads, checks and writes shards independently and the driver only writes the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .schema import DEFAULT_ROWS_PER_SHARD, IMAGES_DIR, shard_name

__all__ = ["ParquetSharding", "SHARDING"]


class ParquetSharding:
    """Parts are shard indices; writing a part writes ``part-<index>.parquet`` (and its images)."""

    rows_per_part = DEFAULT_ROWS_PER_SHARD

    def plan(self, path: Path, *, splits: Sequence[str] | None = None) -> dict[str, Any]:
        """Categories, meta and one part per shard, from the manifest alone."""
        from .reader import read_manifest

        m = read_manifest(path)
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        return {"categories": list(m["categories"]), "meta": dict(meta), "parts": list(range(len(m["shards"]))),
                "root": str(m.folder / m.get("images_dir", IMAGES_DIR))}

    def read_part(self, path: Path, part: int, *, images_dir: Path | None = None,
                  splits: Sequence[str] | None = None, problems: list | None = None):
        """The samples of shard ``part`` (hash verified) as a Dataset."""
        from cvpipe.data import Dataset

        from .reader import read_manifest, read_shard

        m = read_manifest(path)
        samples = [s for batch in read_shard(m, part, splits=splits, problems=problems) for s in batch]
        root = Path(images_dir) if images_dir is not None else m.folder / m.get("images_dir", IMAGES_DIR)
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        return Dataset(categories=m["categories"], samples=samples, root=root, meta=dict(meta))

    def write_part(self, samples: Sequence, folder: Path, index: int, *, images: str = "copy",
                   root: Path | None = None) -> dict[str, Any]:
        """Write shard ``index`` (and, unless ``images="none"``, its images) into ``folder``."""
        from .writer import _place_images, write_shard

        _place_images(samples, root, Path(folder), images)
        return write_shard(samples, Path(folder) / shard_name(index), images=images).to_dict()

    def commit(self, folder: Path, records: Sequence[dict[str, Any]], categories: Sequence[str],
               meta: Mapping[str, Any]) -> dict[str, Any]:
        """Write the manifest; the writer's report."""
        from .writer import ShardInfo, write_manifest

        shards = [ShardInfo(**r) for r in records]
        write_manifest(Path(folder), categories, shards, meta=dict(meta))
        return {"images": sum(s.rows for s in shards), "boxes": sum(s.boxes for s in shards),
                "shards": len(shards), "skipped": {}}


SHARDING = ParquetSharding()
