"""Where a Label Studio export's files are, image URLs to file names, and format detection."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

from cvpipe.errors import Problem
from cvpipe.formats.lookup import file_head, find_dataset_file

__all__ = ["TASKS_FILE", "IMAGES_DIR", "LOCAL_FILES", "detect_label_studio", "find_json", "url_candidates"]

#: The export file cvpipe writes.
TASKS_FILE = "tasks.json"
IMAGES_DIR = "images"
#: Label Studio's URL prefix for files served by a local storage.
LOCAL_FILES = "/data/local-files/?d="
_HEAD = 1 << 16
#: Label Studio prefixes uploaded file names with 8 hex digits and a dash.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def _looks_like_export(path: Path) -> bool:
    head = file_head(path, _HEAD).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    # a task's "annotations" may come after a long "data" beyond the bytes read
    return head.startswith(b"[") and b'"data"' in head and (
        b'"annotations"' in head or b'"predictions"' in head or b'"completions"' in head or len(head) >= _HEAD)


def detect_label_studio(path: Path) -> bool:
    """A ``.json`` file that is a list of tasks (``data`` plus ``annotations``/``predictions``),
    or a folder holding ``tasks.json`` (or one such file). Reads at most 64 KiB of a file."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".json" and _looks_like_export(path)
    return find_json(path, []) is not None if path.is_dir() else False


def find_json(path: Path, found: list[Problem]) -> Path | None:
    """The export file for ``path`` (the file itself, ``tasks.json`` in the folder, or the
    folder's only export file); None with a problem appended when there is none."""
    return find_dataset_file(path, found, name=TASKS_FILE, pattern="*.json",
                             accept=lambda p: not p.name.startswith(".") and _looks_like_export(p),
                             kind="Label Studio export", kinds="Label Studio exports",
                             wanted="a Label Studio JSON export or a folder holding one",
                             expected=f"one JSON export ({TASKS_FILE})")


def url_candidates(url: str) -> list[str]:
    """Relative file names an image URL of a task may mean, most specific first.

    ``/data/local-files/?d=dir/x.jpg`` -> ``dir/x.jpg``, then ``x.jpg``; ``/data/upload/3/1a2b3c4d-x.jpg``
    -> ``1a2b3c4d-x.jpg``, then ``x.jpg`` (Label Studio's upload prefix removed); other URLs
    (``http://``, ``s3://``, plain paths) -> their last path segment."""
    out: list[str] = []
    parts = urlsplit(url)
    if "d" in parse_qs(parts.query) and parts.path.rstrip("/").endswith("local-files"):
        rel = parse_qs(parts.query)["d"][0].replace("\\", "/").lstrip("/")
        out.append(rel)
        pp = PurePosixPath(rel)
        for k in range(1, len(pp.parts)):
            out.append("/".join(pp.parts[k:]))
    else:
        name = PurePosixPath(unquote(parts.path).replace("\\", "/")).name
        if name:
            out.append(name)
            if "/upload/" in parts.path and _UPLOAD_PREFIX.match(name):
                out.append(name[9:])
    return [c for c in dict.fromkeys(out) if c and c not in (".", "..")]
