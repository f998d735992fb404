"""Read a Label Studio JSON export (``rectanglelabels``) into a :class:`~cvpipe.data.Dataset`.

The export is a list of tasks ``{"id", "data": {"image": URL, ...}, "annotations": [{"result":
[...]}], "predictions": [...]}``. Read:

* the image: ``data["image"]`` (else the task's only string in ``data``), mapped to a file
  under the images folder: ``/data/local-files/?d=dir/x.jpg`` -> ``dir/x.jpg`` (then ``x.jpg``),
  ``/data/upload/1/1a2b3c4d-x.jpg`` -> ``1a2b3c4d-x.jpg`` (then ``x.jpg``: Label Studio's upload
  prefix removed), any other URL -> its last path segment;
* boxes: results of ``type`` ``rectanglelabels`` (also ``labels``/``rectangle`` results holding
  a rectangle), ``value`` ``{x, y, width, height}`` in **percent** of ``original_width`` /
  ``original_height`` (the image size; from the image header when the task has no result),
  one label in ``value.rectanglelabels``; pixels are rounded to 1e-9 px (the float noise of
  the percent conversion). A rectangle with ``rotation`` (or an ``image_rotation``)
  other than 0, or with no or several labels, is a problem (never turned silently into a
  different box). ``id``, ``from_name``, ``to_name`` are kept in ``box_extra["label_studio"]``;
* other results (choices, polygons, keypoints, ...) are kept in
  ``extra["label_studio"]["other_results"]`` and written back; ``Dataset.meta`` counts them
  (``label_studio_other_results``);
* ``source="annotations"`` (default) reads the first annotation of a task that was not
  cancelled (old exports: ``completions``); further annotations are counted in
  ``Dataset.meta["label_studio_unread_annotations"]``. ``source="predictions"`` reads the first
  prediction, with ``score`` per result (or per prediction) as ``Sample.scores``.

Categories: the labels used, sorted. Images are looked up in ``images_dir``, else ``images/``
beside the JSON, else the JSON's folder.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cvpipe.errors import ConfigError, InputError, Problem

from .layout import IMAGES_DIR, find_json, url_candidates

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_label_studio"]

_BOX_TYPES = ("rectanglelabels", "labels", "rectangle")
_RESULT_KEPT = ("id", "from_name", "to_name", "origin", "meta", "parentID")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _image_url(data: dict) -> str | None:
    if isinstance(data.get("image"), str):
        return data["image"]
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _pick(task: dict, source: str, counts: Counter) -> tuple[dict | None, str]:
    key = source
    entries = task.get(source)
    if source == "annotations" and not entries and task.get("completions"):
        key, entries = "completions", task.get("completions")
    if not isinstance(entries, list):
        return None, key
    usable = [(i, a) for i, a in enumerate(entries) if isinstance(a, dict) and not a.get("was_cancelled")]
    if len(usable) > 1:
        counts["unread"] += len(usable) - 1
    if not usable:
        return None, key
    i, a = usable[0]
    return a, f"{key}[{i}]"


def read_label_studio(path: Path, *, images_dir: Path | None = None,
                      source: Literal["annotations", "predictions"] = "annotations",
                      problems: list[Problem] | None = None) -> "Dataset":
    """Read a Label Studio JSON export (rules: the module docstring).

    Args:
        path: the export file, or a folder holding ``tasks.json`` (or one export file).
        images_dir: where the image files are.
        source: ``annotations`` (ground truth) or ``predictions`` (detections, with scores).
        problems: collect problems here and skip what is bad; None raises one InputError.
    """
    import numpy as np

    from cvpipe.data import Dataset, Sample
    from cvpipe.formats import raise_or_collect
    from cvpipe.formats.images import image_size

    if source not in ("annotations", "predictions"):
        raise ConfigError("unknown source", field="source", value=source, expected="annotations or predictions")
    found: list[Problem] = []
    file_path = find_json(Path(path), found)
    tasks: Any = None
    if file_path is not None:
        try:
            tasks = json.loads(file_path.read_bytes())
        except OSError as exc:
            found.append(Problem("cannot read file", file=str(file_path), value=str(exc), expected="a readable file"))
        except (ValueError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            found.append(Problem(f"not valid JSON: {getattr(exc, 'msg', exc)}", file=str(file_path), line=line,
                                 expected="a Label Studio JSON export (a list of tasks)"))
        else:
            if not isinstance(tasks, list):
                found.append(Problem("not a list of tasks", file=str(file_path), value=type(tasks).__name__,
                                     expected="a Label Studio JSON export: [{\"data\": ..., \"annotations\": ...}]"))
                tasks = None
    if tasks is None:
        raise_or_collect(found, problems)
        return Dataset([], meta={"format": "label_studio"})
    file = str(file_path)
    base = file_path.parent
    if images_dir is not None:
        roots = [Path(images_dir)]
    else:
        roots = [base / IMAGES_DIR, base] if (base / IMAGES_DIR).is_dir() else [base]
    counts: Counter = Counter()
    rows = []  # (image, w, h, boxes, names, scores, box_extra, extra, id)
    for t, task in enumerate(tasks):
        tf = f"[{t}]"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            if isinstance(task, dict) and "data" not in task and ("label" in task or "image" in task):
                found.append(Problem("a Label Studio JSON-MIN export", file=file, field=tf,
                                     expected="the full JSON export (tasks with data and annotations)",
                                     hint="export the project as 'JSON', not 'JSON-MIN'"))
                break
            found.append(Problem("task without data", file=file, field=f"{tf}.data", expected="{\"data\": {\"image\": URL}}"))
            continue
        url = _image_url(task["data"])
        if url is None:
            found.append(Problem("task without an image", file=file, field=f"{tf}.data.image",
                                 value=sorted(task["data"]), expected="an image URL in data.image"))
            continue
        cands = url_candidates(url)
        image_file = next((r / c for c in cands for r in roots if (r / c).is_file()), None)
        chosen, afield = _pick(task, source, counts)
        results = chosen.get("result") if chosen is not None else []
        if not isinstance(results, list):
            found.append(Problem("result is not a list", file=file, field=f"{tf}.{afield}.result",
                                 value=type(results).__name__, expected="a list of results"))
            continue
        size: tuple[int, int] | None = None
        boxes, names, scores, bextra, others = [], [], [], [], []
        bad = False
        for k, r in enumerate(results):
            rf = f"{tf}.{afield}.result[{k}]"
            if not isinstance(r, dict):
                found.append(Problem("result is not an object", file=file, field=rf, expected="a JSON object"))
                continue
            value = r.get("value") if isinstance(r.get("value"), dict) else {}
            is_rect = r.get("type") in _BOX_TYPES and all(c in value for c in ("x", "y", "width", "height"))
            if not is_rect:
                others.append(r)
                counts["other"] += 1
                continue
            ow, oh = r.get("original_width"), r.get("original_height")
            if ow is not None or oh is not None:
                if not (_num(ow) and _num(oh) and ow > 0 and oh > 0 and ow == int(ow) and oh == int(oh)):
                    found.append(Problem("bad original image size", file=file, field=f"{rf}.original_width",
                                         value=(ow, oh), expected="positive integers (pixels)"))
                    bad = True
                    continue
                if size is not None and size != (int(ow), int(oh)):
                    found.append(Problem("original size differs between results", file=file,
                                         field=f"{rf}.original_width", value=f"{int(ow)}x{int(oh)}",
                                         expected=f"{size[0]}x{size[1]} as in the task's other results"))
                    bad = True
                    continue
                size = (int(ow), int(oh))
            vals = [value.get(c) for c in ("x", "y", "width", "height")]
            if not all(_num(v) for v in vals):
                found.append(Problem("rectangle value is not a number", file=file, field=f"{rf}.value",
                                     value=vals, expected="x, y, width, height in percent"))
                continue
            rot = value.get("rotation", 0) or 0
            if not _num(rot) or rot % 360 != 0:
                found.append(Problem("rotated rectangle", file=file, field=f"{rf}.value.rotation", value=rot,
                                     expected="rotation 0 (cvpipe boxes are axis-aligned)"))
                continue
            if (r.get("image_rotation") or 0) != 0:
                found.append(Problem("rotated image", file=file, field=f"{rf}.image_rotation",
                                     value=r.get("image_rotation"), expected="image_rotation 0"))
                continue
            labs = value.get("rectanglelabels", value.get("labels"))
            if not (isinstance(labs, list) and len(labs) == 1 and isinstance(labs[0], str) and labs[0]):
                found.append(Problem("rectangle needs exactly one label", file=file, field=f"{rf}.value.rectanglelabels",
                                     value=labs, expected="one label name, e.g. [\"cat\"]"))
                continue
            score = r.get("score", chosen.get("score") if source == "predictions" else None)
            if source == "predictions" and not _num(score):
                found.append(Problem("score missing", file=file, field=f"{rf}.score", value=score,
                                     expected="a number (per result or per prediction)"))
                continue
            boxes.append(vals)
            names.append(labs[0])
            scores.append(score)
            bextra.append({"label_studio": {c: r[c] for c in _RESULT_KEPT if c in r}})
        if bad:
            continue
        if size is None:
            if image_file is None:
                found.append(Problem("image file not found", file=file, field=f"{tf}.data.image", value=url,
                                     expected="the image (a task without results gives no size): one of "
                                              + ", ".join(str(roots[0] / c) for c in cands[:2]),
                                     hint="point to the images with --images-dir"))
                continue
            try:
                size = image_size(image_file)
            except InputError as exc:
                found.extend(exc.problems)
                continue
        w, h = size
        # percent -> pixels, rounded to 1e-9 px: what is left is the float noise of the percent
        # conversion (20.2% of 500 is 101, not 101.00000000000001)
        px = [[round(x * w / 100.0, 9), round(y * h / 100.0, 9), round((x + bw) * w / 100.0, 9),
               round((y + bh) * h / 100.0, 9)] for x, y, bw, bh in boxes]
        if image_file is not None:
            try:
                image = image_file.relative_to(roots[0]).as_posix()
            except ValueError:
                image = str(image_file)
        else:
            image = cands[0] if cands else url
        extra: dict[str, Any] = {"label_studio": {"data": task["data"]}}
        if others:
            extra["label_studio"]["other_results"] = others
        rows.append((image, w, h, px, names, scores, bextra, extra, task.get("id")))
    categories = sorted({n for r in rows for n in r[4]})
    index = {c: i for i, c in enumerate(categories)}
    samples = [Sample(image=image, width=w, height=h, boxes=np.array(px, dtype=np.float64).reshape(-1, 4),
                      labels=np.array([index[n] for n in names], dtype=np.int64),
                      scores=np.array(scores, dtype=np.float64) if source == "predictions" else None,
                      box_extra=bextra, extra=extra, id=ident)
               for image, w, h, px, names, scores, bextra, extra, ident in rows]
    raise_or_collect(found, problems)
    meta: dict[str, Any] = {"format": "label_studio"}
    if counts["other"]:
        meta["label_studio_other_results"] = counts["other"]
    if counts["unread"]:
        meta["label_studio_unread_annotations"] = counts["unread"]
    return Dataset(categories, samples, root=roots[0], meta=meta)
