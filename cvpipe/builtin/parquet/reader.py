"""Read the ``parquet`` format: the manifest, then each shard (content hash verified).

:func:`iter_samples` yields samples shard by shard, a batch of rows at a time (bounded memory);
:func:`read_parquet` is the registered reader (a whole :class:`~cvpipe.data.Dataset`);
:func:`read_manifest` and :func:`read_shard` are the pieces an executor maps over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Sequence

from .schema import (
    FORMAT_TAG,
    MANIFEST,
    SCHEMA_VERSION,
    InputError,
    Problem,
    require_pyarrow,
    origin,
    sha256_file,
)

__all__ = ["read_parquet", "iter_samples", "read_manifest", "read_shard", "detect_parquet", "Manifest"]

#: rows decoded at a time inside a shard
BATCH_ROWS = 4096


class Manifest(dict):
    """The parsed ``manifest.json`` plus :attr:`folder` (where the shards are)."""

    folder: Path
    file: Path

    @property
    def shard_paths(self) -> list[Path]:
        return [self.folder / s["file"] for s in self["shards"]]


def _folder(path: Path) -> Path:
    path = Path(path)
    return path.parent if path.name == MANIFEST and path.is_file() else path


def detect_parquet(path: Path) -> bool:
    """Does ``path`` (a folder, or its ``manifest.json``) hold a cvpipe parquet dataset?"""
    m = _folder(Path(path)) / MANIFEST
    if not m.is_file():
        return False
    try:
        with open(m, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return f'"{FORMAT_TAG}"' in head


def read_manifest(path: Path) -> Manifest:
    """Parse and check the manifest of the parquet dataset at ``path``.

    Raises:
        InputError: missing or malformed manifest, another schema version, or a missing shard.
    """
    folder = _folder(Path(path))
    mfile = folder / MANIFEST
    if not folder.exists():
        raise InputError("no such file or directory", file=str(path), expected="a parquet dataset folder")
    if not mfile.is_file():
        raise InputError("no manifest.json", file=str(mfile), expected="a parquet dataset folder written by cvpipe")
    try:
        data = json.loads(mfile.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError("manifest is not UTF-8", file=str(mfile), value=str(exc)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"manifest is not valid JSON: {exc.msg}", file=str(mfile), line=exc.lineno,
                         expected="the JSON manifest cvpipe writes") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_TAG:
        raise InputError("not a cvpipe parquet manifest", file=str(mfile), field="format",
                         value=data.get("format") if isinstance(data, dict) else type(data).__name__,
                         expected=repr(FORMAT_TAG))
    if data.get("schema_version") != SCHEMA_VERSION:
        raise InputError("unsupported parquet schema version", file=str(mfile), field="schema_version",
                         value=data.get("schema_version"), expected=str(SCHEMA_VERSION),
                         hint="read it with the cvpipe release that wrote it (see 'writer')")
    problems = []
    cats = data.get("categories")
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats) or len(set(cats)) != len(cats):
        problems.append(Problem("bad category list", file=str(mfile), field="categories", value=cats,
                                expected="a list of distinct strings"))
    shards = data.get("shards")
    if not isinstance(shards, list):
        problems.append(Problem("bad shard list", file=str(mfile), field="shards", value=shards,
                                expected="a list of {file, rows, sha256}"))
        shards = []
    for i, s in enumerate(shards):
        if not (isinstance(s, dict) and isinstance(s.get("file"), str) and isinstance(s.get("rows"), int)
                and isinstance(s.get("sha256"), str)) or "/" in s["file"] or "\\" in s["file"]:
            problems.append(Problem("bad shard entry", file=str(mfile), field=f"shards[{i}]", value=s,
                                    expected="{file: a file name in the folder, rows: int, sha256: hex}"))
        elif not (folder / s["file"]).is_file():
            problems.append(Problem("shard file missing", file=str(folder / s["file"]), field=f"shards[{i}]",
                                    expected="the shard the manifest lists"))
    if problems:
        raise InputError.from_problems(problems)
    m = Manifest(data)
    m.folder, m.file = folder, mfile
    return m


_EMPTY = ("{}", None)


def _decode_json(text: str | None, shard: Path, row: int, field: str, found: list[Problem]) -> Any:
    if text is None:
        return None
    if text == "{}":
        return {}
    import msgspec

    try:
        return msgspec.json.decode(text)
    except (TypeError, msgspec.DecodeError):
        found.append(Problem("not valid JSON", file=str(shard), line=row + 1, field=field, value=text,
                             expected="a JSON value"))
        return None


def _decode_all(texts: list) -> list | None:
    """Every JSON text of ``texts`` (None kept as None) decoded in one parse, or None when one
    of them is not valid JSON (then the caller decodes one by one to name it)."""
    import msgspec

    if any(t is not None and not isinstance(t, str) for t in texts):
        return None
    try:
        out = msgspec.json.decode("[" + ",".join("null" if t is None else t for t in texts) + "]")
    except msgspec.DecodeError:
        return None
    return out if isinstance(out, list) and len(out) == len(texts) else None


def _np(arr, dtype: str):
    """The values of a primitive Arrow array (no nulls among them) as numpy, read from its
    buffers: ``Array.to_numpy`` imports pandas (seconds of start-up) in current pyarrow."""
    import numpy as np

    buf = arr.buffers()[1]
    if dtype == "bool":
        if buf is None or len(arr) == 0:
            return np.zeros(len(arr), dtype=bool)
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
        return bits[arr.offset:arr.offset + len(arr)].astype(bool)
    if buf is None:
        return np.zeros(len(arr), dtype=dtype)
    return np.frombuffer(buf, dtype=dtype)[arr.offset:arr.offset + len(arr)]


def _nulls(arr):
    """Bool numpy mask of the null entries of ``arr``."""
    import numpy as np

    validity = arr.buffers()[0]
    if validity is None or arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return ~bits[arr.offset:arr.offset + len(arr)].astype(bool)


def _list_column(col) -> tuple[Any, Any, Any]:
    """``(lengths, starts, values)`` of a list column: per-row lengths and ``starts`` (n + 1
    offsets from 0) as numpy, and the child array the offsets index (a null list has length 0)."""
    import numpy as np

    offs = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset:col.offset + len(col) + 1].astype(np.int64)
    values = col.values.slice(int(offs[0]), int(offs[-1] - offs[0]))
    starts = offs - offs[0]
    return np.diff(starts), starts, values


def _rows_to_samples(batch, shard: Path, first_row: int, ncat: int, splits: set[str] | None,
                     found: list[Problem]) -> list:
    """The samples of one record batch, decoded column-wise (numpy slices per row); rows with
    problems are reported and left out."""
    import numpy as np

    from cvpipe.data import Sample

    nb, starts, flat = _list_column(batch.column("boxes"))
    boxes = _np(flat.flatten(), "float64").reshape(-1, 4)
    per_box: dict[str, Any] = {}
    for name, dtype in (("labels", "int64"), ("difficult", "bool"), ("truncated", "bool"), ("iscrowd", "bool"),
                        ("scores", "float64")):
        lengths, st, values = _list_column(batch.column(name))
        per_box[name] = (lengths, st, _np(values, dtype))
    score_null = _nulls(batch.column("scores"))
    be_len, be_starts, be_vals = _list_column(batch.column("box_extra"))
    be_text = be_vals.to_pylist()
    plain = {name: batch.column(name).to_pylist() for name in ("image", "id", "width", "height", "split", "extra")}
    be_json = _decode_all(be_text)  # one JSON parse per column and batch, not per value
    extra_json = _decode_all(plain["extra"])
    id_json = _decode_all(plain["id"])
    out = []
    for k in range(batch.num_rows):
        row = first_row + k
        split = plain["split"][k]
        if splits is not None and split not in splits:
            continue
        n_before = len(found)
        n = int(nb[k])
        for name, (lengths, _, _) in per_box.items():
            if name == "scores" and score_null[k]:
                continue
            if lengths[k] != n:
                found.append(Problem(f"{name} has {lengths[k]} entries for {n} boxes", file=str(shard),
                                     line=row + 1, field=name, value=int(lengths[k]), expected=str(n)))
        if be_len[k] != n:
            found.append(Problem(f"box_extra has {be_len[k]} entries for {n} boxes", file=str(shard), line=row + 1,
                                 field="box_extra", value=int(be_len[k]), expected=str(n)))
        image, width, height = plain["image"][k], plain["width"][k], plain["height"][k]
        if not image or width is None or height is None:
            found.append(Problem("image path or size missing", file=str(shard), line=row + 1, field="image",
                                 value=image, expected="image, width and height"))
        extra = extra_json[k] if extra_json is not None else _decode_json(plain["extra"][k], shard, row, "extra", found)
        if be_json is not None:
            box_extra = be_json[be_starts[k]:be_starts[k + 1]]
        else:
            box_extra = [{} if t in _EMPTY else _decode_json(t, shard, row, f"box_extra[{j}]", found)
                         for j, t in enumerate(be_text[be_starts[k]:be_starts[k + 1]])]
        ident = id_json[k] if id_json is not None else _decode_json(plain["id"][k], shard, row, "id", found)
        if len(found) > n_before:
            continue
        if not isinstance(extra, dict) or not all(isinstance(e, dict) for e in box_extra):
            found.append(Problem("extra is not a JSON object", file=str(shard), line=row + 1, field="extra",
                                 expected="a JSON object"))
            continue
        cut = {name: values[st[k]:st[k + 1]] for name, (_, st, values) in per_box.items()}
        out.append(Sample(
            image=image, width=width, height=height, boxes=boxes[starts[k]:starts[k + 1]],
            labels=cut["labels"], difficult=cut["difficult"], truncated=cut["truncated"], iscrowd=cut["iscrowd"],
            scores=None if score_null[k] else cut["scores"], box_extra=box_extra, extra=extra, id=ident,
            split=split, origin=origin(shard, row)))
    return out


def read_shard(manifest: Manifest, index: int, *, splits: Sequence[str] | None = None,
               problems: list[Problem] | None = None, verify: bool = True) -> Iterator[list]:
    """Yield the samples of shard ``index`` of ``manifest``, a batch (list) at a time.

    The shard's sha256 is checked against the manifest first (``verify``); a mismatch, an
    unreadable file, a foreign schema or bad rows are problems naming the shard (and row):
    appended to ``problems`` (the bad shard or rows skipped) or raised as one InputError.
    """
    pa = require_pyarrow(str(manifest.file))
    import pyarrow.parquet as pq

    from .schema import COLUMNS

    entry = manifest["shards"][index]
    shard = manifest.folder / entry["file"]
    found: list[Problem] = []

    def fail(message: str, **kw: Any) -> None:
        found.append(Problem(message, file=str(shard), **kw))
        _raise_or_collect(found, problems)

    if verify:
        digest = sha256_file(shard)
        if digest != entry["sha256"]:
            fail("shard content hash differs from the manifest", field="sha256", value=digest,
                 expected=entry["sha256"], hint="the shard was modified or truncated; rewrite the dataset")
            return
    try:
        pf = pq.ParquetFile(shard)
        names = set(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        fail(f"unreadable parquet file: {exc}", expected="a parquet shard written by cvpipe")
        return
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        fail("shard lacks columns", value=", ".join(missing), expected="the columns of schema version "
             f"{SCHEMA_VERSION}")
        return
    if pf.metadata.num_rows != entry["rows"]:
        fail("shard row count differs from the manifest", value=pf.metadata.num_rows, expected=str(entry["rows"]))
        return
    wanted = set(splits) if splits else None
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=list(COLUMNS)):
            samples = _rows_to_samples(batch, shard, row, len(manifest["categories"]), wanted, found)
            row += batch.num_rows
            if found and problems is None:
                break
            yield samples
    except pa.ArrowException as exc:
        found.append(Problem(f"unreadable parquet data: {exc}", file=str(shard), line=row + 1))
    _raise_or_collect(found, problems)


def _raise_or_collect(found: list[Problem], problems: list[Problem] | None) -> None:
    if not found:
        return
    if problems is not None:
        problems.extend(found)
        found.clear()
        return
    raise InputError.from_problems(found)


def iter_samples(path: Path, *, splits: Sequence[str] | None = None, problems: list[Problem] | None = None,
                 verify: bool = True) -> Iterator:
    """Yield every sample of the parquet dataset at ``path``, shard by shard (memory bounded
    by one batch of rows). Labels index ``read_manifest(path)["categories"]``; image paths are
    relative to ``<path>/images`` (or where the user keeps them)."""
    manifest = read_manifest(path)
    for i in range(len(manifest["shards"])):
        for batch in read_shard(manifest, i, splits=splits, problems=problems, verify=verify):
            yield from batch


def read_parquet(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
                 problems: list[Problem] | None = None):
    """Read the parquet dataset at ``path`` (its folder or ``manifest.json``) whole: a Dataset
    with the manifest's categories and meta, boxes absolute pixel xyxy, ``root`` the images
    folder (``images_dir`` when given)."""
    from cvpipe.data import Dataset
    from cvpipe.formats.json import gc_paused

    manifest = read_manifest(path)
    with gc_paused():  # as the COCO reader: every collection would walk the whole growing Dataset
        samples = [s for i in range(len(manifest["shards"]))
                   for batch in read_shard(manifest, i, splits=splits, problems=problems) for s in batch]
    root = Path(images_dir) if images_dir is not None else manifest.folder / manifest.get("images_dir", "images")
    meta = manifest.get("meta") if isinstance(manifest.get("meta"), dict) else {}
    return Dataset(categories=manifest["categories"], samples=samples, root=root, meta=dict(meta))
