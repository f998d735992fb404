"""YOLO txt labels: reader (Ultralytics and darknet/CVAT layouts), writer (Ultralytics layout),
detection, and :func:`read_yolo_predictions` for a bare folder of prediction files.

Label lines are ``class x_center y_center width height`` normalised by the image size, 0-based
class ids in category order; a 6th value is a confidence (predictions, -> ``Sample.scores``);
a line ``class x1 y1 x2 y2 x3 y3 ...`` (three or more points) is a polygon, read as its enclosing
box (the polygon is kept, in absolute pixels, as ``box_extra["segmentation"] = [[x1, y1, ...]]``
like COCO's). An empty label file is an image without boxes, and so is an image without one.
Image sizes come from the image files' headers (:func:`cvpipe.images.image_size`).

Layouts read (``path`` is the folder or its ``data.yaml``):

* Ultralytics: ``data.yaml`` (read with ``yaml.safe_load``) with ``path`` (the dataset root;
  relative to the YAML's folder, which is also used when ``path`` is absent or does not exist),
  split keys (``train``, ``val``, ``test``, ...; each a folder of images, a ``.txt`` list of
  images, or a list of those) and ``names`` (a list or an ``{id: name}`` map). Labels of
  ``.../images/<x>`` are at ``.../labels/<x>.txt``. A split whose image folder is absent is read
  from its label files (images then come from ``images_dir``).
* darknet/CVAT: ``obj.names``, ``obj.data`` (``train = data/train.txt``, ...), image lists with
  paths such as ``data/obj_train_data/x.jpg`` (leading folders that do not exist below the root
  are dropped), labels beside the listed images.

With ``images_dir`` each image is looked up there (by its path below the split folder, then by its
file name with any image extension); ``Dataset.root`` is then ``images_dir``.

Written layout (:func:`write_yolo`): ``images/<split>/<name>``, ``labels/<split>/<stem>.txt`` (an
empty file for an image without boxes) and ``data.yaml`` with the absolute ``path``, the split
keys, ``nc`` and ``names`` as an ``{id: name}`` map. Samples without a split go to ``train`` when
no sample has one, else to ``unassigned``. Difficult and crowd boxes are left out and counted
unless ``keep_difficult`` / ``keep_crowd``. Coordinates are written with ``decimals`` places.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Sequence

from cvpipe import hookimpl
from cvpipe.errors import InputError, Problem

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = [
    "read_yolo",
    "write_yolo",
    "detect_yolo",
    "read_yolo_predictions",
    "yolo_box_text",
    "data_yaml_text",
    "label_name",
    "output_split",
]

_RESERVED_KEYS = {"path", "names", "nc", "download", "yaml_file", "kpt_shape", "flip_idx", "channels", "roboflow"}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./\-]*( [A-Za-z0-9_.\-]+)*\Z")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


# ---------------------------------------------------------------------------------------------
# Pieces shared by write_yolo and the fast VOC -> YOLO path (pure Python: byte-identical output)
# ---------------------------------------------------------------------------------------------


def yolo_box_text(x1: float, y1: float, x2: float, y2: float, width: float, height: float, decimals: int) -> str:
    """``"cx cy w h"`` normalised, ``decimals`` places, for an absolute xyxy box."""
    d = decimals
    return (f"{(x1 + x2) / 2.0 / width:.{d}f} {(y1 + y2) / 2.0 / height:.{d}f} "
            f"{(x2 - x1) / width:.{d}f} {(y2 - y1) / height:.{d}f}")


def label_name(image_name: str) -> str:
    """The label file for an image name inside its split folder: ``a/x.jpg`` -> ``a/x.txt``
    (pathlib's suffix rule, done on the string: this runs once per file on the fast path)."""
    head, sep, base = image_name.rpartition("/")
    dot = base.rfind(".")
    if 0 < dot < len(base) - 1:
        base = base[:dot]
    return head + sep + base + ".txt"


def output_split(split: str | None, any_split: bool) -> str:
    """The split folder a sample goes to (see the module docstring)."""
    if split is not None:
        return split
    return "unassigned" if any_split else "train"


def _yaml_str(s: str) -> str:
    """``s`` as a YAML scalar: plain when that reads back as the same string, else double-quoted
    with YAML escapes (non-printable characters as ``\\uXXXX``/``\\UXXXXXXXX``; PyYAML neither
    joins JSON's surrogate pairs nor accepts raw non-printable characters)."""
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS:
        return s
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable() and c != "\ufeff":
            out.append(c)
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _split_order(names) -> list[str]:
    names = list(dict.fromkeys(names))
    first = [s for s in ("train", "val", "test") if s in names]
    return first + [s for s in names if s not in first]


def data_yaml_text(root: Path, splits: Sequence[str], names: Sequence[str]) -> str:
    """The ``data.yaml`` cvpipe writes: absolute ``path``, ``<split>: images/<split>``, ``nc``
    and ``names`` as an ``{id: name}`` map."""
    lines = ["# YOLO dataset written by cvpipe (Ultralytics layout)", f"path: {_yaml_str(str(root))}"]
    for s in _split_order(splits):
        lines.append(f"{_yaml_str(s)}: {_yaml_str('images/' + s)}")
    lines.append(f"nc: {len(names)}")
    lines.append("names:" if names else "names: {}")
    lines += [f"  {i}: {_yaml_str(n)}" for i, n in enumerate(names)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------


def write_yolo(
    dataset: "Dataset",
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    keep_difficult: bool = False,
    keep_crowd: bool = False,
    decimals: int = 6,
) -> dict:
    """Write ``dataset`` in the Ultralytics layout (see the module docstring).

    Returns ``{"images", "boxes", "skipped": {"difficult": k, "crowd": m}, "files"}``. ``dst``
    appears whole or not at all; names from the dataset are confined to ``dst``.
    """
    from cvpipe.errors import ConfigError
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, place_file, safe_join, safe_relpath

    if not 1 <= decimals <= 15:
        raise ConfigError("decimals out of range", field="decimals", value=decimals, expected="1..15")
    any_split = any(s.split is not None for s in dataset.samples)
    groups: dict[str, list] = {}
    for s in dataset.samples:
        groups.setdefault(output_split(s.split, any_split), []).append(s)
    plan = []  # (split, sample, image name)
    for split, samples in groups.items():
        split = safe_relpath(split, field="split")
        if "/" in split:
            raise InputError("split name with a folder", field="split", value=split, expected="a plain name")
        seen: dict[str, str] = {}
        for s, name in zip(samples, image_names(samples)):
            name = safe_relpath(name, file=str(dataset.image_path(s)), field="image")
            lab = label_name(name)
            if lab in seen:
                raise InputError("two images would get the same label file", file=str(dataset.image_path(s)),
                                 value=f"labels/{split}/{lab}", expected="distinct image names per split",
                                 hint=f"also written for {seen[lab]}")
            seen[lab] = s.image
            plan.append((split, s, name))
    report: dict[str, Any] = {"images": 0, "boxes": 0, "skipped": {"difficult": 0, "crowd": 0}, "files": 0}
    dst = Path(dst).absolute()
    with atomic_dir(dst) as tmp:
        for split in groups:
            (tmp / "labels" / split).mkdir(parents=True)
            if images != "none":
                (tmp / "images" / split).mkdir(parents=True)
        for split, s, name in plan:
            lines = []
            boxes = s.boxes.tolist()
            labels = s.labels.tolist()
            diff, crowd = s.difficult.tolist(), s.iscrowd.tolist()
            scores = None if s.scores is None else s.scores.tolist()
            for i, (x1, y1, x2, y2) in enumerate(boxes):
                if diff[i] and not keep_difficult:
                    report["skipped"]["difficult"] += 1
                    continue
                if crowd[i] and not keep_crowd:
                    report["skipped"]["crowd"] += 1
                    continue
                line = f"{labels[i]} {yolo_box_text(x1, y1, x2, y2, s.width, s.height, decimals)}"
                if scores is not None:
                    line += f" {scores[i]:.{decimals}f}"
                lines.append(line + "\n")
            lab = label_name(name)  # name passed safe_relpath above
            if "/" in lab:
                (tmp / "labels" / split / lab).parent.mkdir(parents=True, exist_ok=True)
            with open(f"{tmp}/labels/{split}/{lab}", "w", encoding="utf-8", newline="\n") as fh:
                fh.write("".join(lines))
            report["files"] += 1
            if images != "none":
                src = dataset.image_path(s)
                if not src.is_file():
                    raise InputError("image file not found", file=str(src), expected="an existing image file",
                                     hint="use images='none' or point to the images with --images-dir")
                place_file(src, safe_join(tmp / "images" / split, name), images)
                report["files"] += 1
            report["images"] += 1
            report["boxes"] += len(lines)
        (tmp / "data.yaml").write_text(data_yaml_text(dst, list(groups), dataset.categories), encoding="utf-8")
        report["files"] += 1
    return report


# ---------------------------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------------------------


def _parse_labels(path: Path, width: int, height: int, ncls: int, found: list[Problem],
                  confidence_second: bool = False, predictions: bool = False) -> list[tuple]:
    """Valid lines of one label file as ``(class, [x1, y1, x2, y2], score | None, polygon | None,
    line)`` in absolute pixels; problems (with file and line) appended to ``found``.
    ``predictions``: a detector's boxes may reach outside the image (values outside [0, 1] are
    kept as they are; they must still be finite, with positive width and height)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        found.append(Problem("cannot read label file", file=file, value=str(exc), expected="a UTF-8 text file"))
        return []
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        n = len(tok)
        if confidence_second and n == 6:  # class confidence cx cy w h
            tok = [tok[0], *tok[2:], tok[1]]
        if not (n in (5, 6) or (n >= 7 and (n - 1) % 2 == 0)):
            found.append(Problem("wrong number of values", file=file, line=lineno, value=line.strip(),
                                 expected="5 (class cx cy w h), 6 (plus confidence) or a polygon "
                                          "(class x1 y1 x2 y2 x3 y3 ...)"))
            continue
        try:
            cls = int(tok[0])
        except ValueError:
            found.append(Problem("class id is not an integer", file=file, line=lineno, field="class",
                                 value=tok[0], expected="an integer class id"))
            continue
        if not 0 <= cls < ncls:
            found.append(Problem("unknown class id", file=file, line=lineno, field="class", value=cls,
                                 expected=f"0..{ncls - 1} ({ncls} names)" if ncls else "no ids (no names declared)"))
            continue
        try:
            vals = [float(t) for t in tok[1:]]
        except ValueError:
            bad = next(t for t in tok[1:] if not _is_float(t))
            found.append(Problem("not a number", file=file, line=lineno, value=bad, expected="numbers"))
            continue
        if predictions:
            if not all(math.isfinite(v) for v in vals):
                found.append(Problem("not a finite number", file=file, line=lineno, value=line.strip(),
                                     expected="finite numbers"))
                continue
        elif any(not (0.0 <= v <= 1.0) for v in vals):  # also catches nan
            bad_i = next(i for i, v in enumerate(vals) if not (0.0 <= v <= 1.0))
            fields = ("x_center", "y_center", "width", "height", "confidence") if n <= 6 else None
            found.append(Problem("value outside [0, 1]", file=file, line=lineno,
                                 field=fields[bad_i] if fields else f"value[{bad_i + 1}]", value=tok[bad_i + 1],
                                 expected="normalised values in [0, 1]"))
            continue
        poly = None
        score = None
        if n <= 6:
            cx, cy, w, h = vals[:4]
            score = vals[4] if n == 6 else None
            if w <= 0 or h <= 0:
                found.append(Problem("box has zero area", file=file, line=lineno, field="width" if w <= 0 else "height",
                                     value=line.strip(), expected="width > 0 and height > 0"))
                continue
            nx1, ny1, nx2, ny2 = cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0
            tol = 1e-6  # cvpipe.formats.OUTSIDE_TOLERANCE: the file's rounding
            if predictions:
                out.append((cls, [nx1 * width, ny1 * height, nx2 * width, ny2 * height], score, None, lineno))
                continue
            if nx1 < -tol or ny1 < -tol or nx2 > 1 + tol or ny2 > 1 + tol:
                found.append(Problem("box is outside the image", file=file, line=lineno, value=line.strip(),
                                     expected="cx - w/2 >= 0, cx + w/2 <= 1 (and likewise for y)"))
                continue
            # within the tolerance the file's rounding put a border a hair outside: clamp it
            box = [max(nx1, 0.0) * width, max(ny1, 0.0) * height, min(nx2, 1.0) * width, min(ny2, 1.0) * height]
        else:
            xs, ys = vals[0::2], vals[1::2]
            if max(xs) == min(xs) or max(ys) == min(ys):
                found.append(Problem("polygon has zero area", file=file, line=lineno, value=line.strip(),
                                     expected="points spanning a non-empty box"))
                continue
            box = [min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height]
            poly = [[v * (width if i % 2 == 0 else height) for i, v in enumerate(vals)]]
        out.append((cls, box, score, poly, lineno))
    return out


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def _make_sample(image: str, width: int, height: int, rows: list[tuple], label_file: str, *,
                 split: str | None, ident: str, with_scores: bool):
    import numpy as np

    from cvpipe.data import Sample

    box_extra = []
    for cls, _, _, poly, lineno in rows:
        ex: dict[str, Any] = {"_line": lineno, "_field": "box"}
        if poly is not None:
            ex["segmentation"] = poly
        box_extra.append(ex)
    return Sample(
        image=image, width=width, height=height,
        boxes=np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 4),
        labels=np.array([r[0] for r in rows], dtype=np.int64),
        scores=np.array([r[2] for r in rows], dtype=np.float64) if with_scores else None,
        box_extra=box_extra, extra={"_file": label_file}, id=ident, split=split,
    )


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------


def _list_images(folder: Path) -> list[Path]:
    from cvpipe.images import is_image

    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".") and is_image(Path(f))]
    return sorted(out)


def _labels_of(image: Path) -> Path:
    """Ultralytics' rule: the last ``/images/`` folder becomes ``/labels/``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _find_in(images_dir: Path, rel: str) -> Path:
    """An image in ``images_dir``: at ``rel``, else by file name, else by stem with any image
    extension; the first candidate when none exists (reported as missing later)."""
    from cvpipe.images import IMAGE_EXTENSIONS

    cands = [images_dir / rel, images_dir / PurePosixPath(rel).name]
    stem = PurePosixPath(rel).stem
    for base in (images_dir / PurePosixPath(rel).parent, images_dir):
        for ext in IMAGE_EXTENSIONS:
            cands += [base / (stem + ext), base / (stem + ext.upper())]
    for c in cands:
        if c.is_file():
            return c
    return cands[0]


def _load_yaml(path: Path, found: list[Problem]) -> dict | None:
    import yaml

    from cvpipe.yamlsafe import YAMLLimitError, load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"), file=str(path))
    except YAMLLimitError as exc:
        found.extend(exc.problems)
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        found.append(Problem(f"malformed YAML: {getattr(exc, 'problem', None) or exc}", file=str(path),
                             line=mark.line + 1 if mark else None, expected="a YOLO data.yaml"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        found.append(Problem("cannot read file", file=str(path), value=str(exc), expected="a YOLO data.yaml"))
        return None
    if not isinstance(data, dict):
        found.append(Problem("not a mapping", file=str(path), value=type(data).__name__,
                             expected="a YAML mapping with names and split keys"))
        return None
    return data


def _names_from_yaml(data: dict, file: str, found: list[Problem]) -> list[str] | None:
    names = data.get("names")
    if isinstance(names, list):
        out = [str(n) for n in names]
    elif isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            found.append(Problem("class ids of names are not integers", file=file, field="names",
                                 value=list(names), expected="a list or an {id: name} map"))
            return None
        if ids != list(range(len(ids))):
            found.append(Problem("class ids of names are not 0..n-1", file=file, field="names", value=ids,
                                 expected=f"0..{len(ids) - 1}"))
            return None
        by_id = {int(k): str(v) for k, v in names.items()}
        out = [by_id[i] for i in ids]
    else:
        found.append(Problem("names missing", file=file, field="names", value=names,
                             expected="a list of class names or an {id: name} map"))
        return None
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        found.append(Problem("class name listed twice", file=file, field="names", value=dup, expected="distinct names"))
        return None
    return out


def _ultralytics_items(yaml_path: Path, splits: Sequence[str] | None, images_dir: Path | None,
                       found: list[Problem]):
    """``(names, root, [(split, image_path, image_rel_to_root, label_path)])`` of a data.yaml."""
    data = _load_yaml(yaml_path, found)
    if data is None:
        return None
    names = _names_from_yaml(data, str(yaml_path), found)
    if names is None:
        return None
    root = yaml_path.parent
    if isinstance(data.get("path"), str) and data["path"]:
        p = Path(data["path"]).expanduser()
        p = p if p.is_absolute() else yaml_path.parent / p
        if p.is_dir():
            root = p
    keys = [k for k, v in data.items() if k not in _RESERVED_KEYS and isinstance(k, str)
            and (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)))]
    if splits:
        missing = [s for s in splits if s not in keys]
        for s in missing:
            found.append(Problem("split not in data.yaml", file=str(yaml_path), field=s, value=s,
                                 expected="one of: " + (", ".join(keys) or "(none)")))
        keys = [k for k in keys if k in splits]
    items = []
    seen: set[Path] = set()
    for split in keys:
        values = data[split] if isinstance(data[split], list) else [data[split]]
        for v in values:
            loc = root / v
            if loc.is_file() and loc.suffix == ".txt":
                for lineno, line in enumerate(loc.read_text(encoding="utf-8").splitlines(), 1):
                    line = line.strip()
                    if not line:
                        continue
                    img = loc.parent / line[2:] if line.startswith("./") else Path(line)
                    img = img if img.is_absolute() else root / img
                    items.append((split, img, _labels_of(img)))
            elif loc.is_dir():
                items += [(split, img, _labels_of(img)) for img in _list_images(loc)]
            elif _labels_of(loc / "x.jpg").parent.is_dir():  # images absent: read the label files
                lab_dir = _labels_of(loc / "x.jpg").parent
                for dirpath, dirnames, filenames in os.walk(lab_dir):
                    dirnames.sort()
                    for f in sorted(filenames):
                        if f.endswith(".txt") and not f.startswith("."):
                            lab = Path(dirpath) / f
                            rel = lab.relative_to(lab_dir).with_suffix(".jpg")
                            items.append((split, loc / rel, lab))
            else:
                found.append(Problem("split folder not found", file=str(yaml_path), field=split, value=str(v),
                                     expected=f"a folder of images, or labels, below {root}"))
    out = []
    for split, img, lab in items:
        if img in seen:
            continue
        seen.add(img)
        out.append((split, img, lab))
    return names, root, out


def _darknet_items(folder: Path, splits: Sequence[str] | None, found: list[Problem]):
    names_file = folder / "obj.names"
    names = [ln.strip() for ln in names_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    lists: dict[str, Path] = {}
    data_file = folder / "obj.data"
    if data_file.is_file():
        for line in data_file.read_text(encoding="utf-8").splitlines():
            key, sep, val = line.partition("=")
            key, val = key.strip(), val.strip()
            if sep and key in ("train", "valid", "test") and val:
                p = _strip_to_existing(folder, val)
                if p is not None:
                    lists[key] = p
    items = []
    if lists:
        for split, lst in lists.items():
            if splits and split not in splits:
                continue
            for line in lst.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if not line:
                    continue
                img = _strip_to_existing(folder, line, want_parent=True) or folder / line
                items.append((split, img, img.with_suffix(".txt")))
    else:  # no lists: every obj_<split>_data folder
        for d in sorted(folder.glob("obj_*_data")):
            split = d.name[4:-5]
            if splits and split not in splits:
                continue
            for lab in sorted(d.glob("*.txt")):
                imgs = [p for p in _list_images(d) if p.stem == lab.stem]
                items.append((split, imgs[0] if imgs else lab.with_suffix(".jpg"), lab))
    return names, folder, items


def _strip_to_existing(root: Path, rel: str, want_parent: bool = False) -> Path | None:
    """``root / rel`` with leading folders of ``rel`` dropped until it (or, with
    ``want_parent``, its folder) exists below ``root``."""
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    for i in range(len(parts)):
        p = root.joinpath(*parts[i:])
        if p.exists() or (want_parent and p.parent.is_dir() and p.parent != root):
            return p
    return None


def read_yolo(
    path: Path,
    *,
    images_dir: Path | None = None,
    splits: list[str] | None = None,
    problems: list[Problem] | None = None,
) -> "Dataset":
    """Read a YOLO dataset (layouts and rules: see the module docstring).

    Args:
        path: the dataset folder (holding ``data.yaml``/``data.yml`` or ``obj.names``) or the
            YAML file itself.
        images_dir: where the images are, overriding the layout.
        splits: the splits to read; None reads all.
        problems: collect problems here and skip what is bad; None raises one InputError
            listing every problem.
    """
    from cvpipe.data import Dataset
    from cvpipe.formats import raise_or_collect
    from cvpipe.images import image_size

    path = Path(path)
    found: list[Problem] = []
    got = None
    if path.is_file():
        got = _ultralytics_items(path, splits, images_dir, found)
    elif (path / "data.yaml").is_file() or (path / "data.yml").is_file():
        y = path / "data.yaml" if (path / "data.yaml").is_file() else path / "data.yml"
        got = _ultralytics_items(y, splits, images_dir, found)
    elif (path / "obj.names").is_file():
        got = _darknet_items(path, splits, found)
    else:
        found.append(Problem("not a YOLO dataset", file=str(path),
                             expected="a folder with data.yaml (Ultralytics) or obj.names (darknet)"))
    samples = []
    names: list[str] = []
    root = Path(images_dir) if images_dir else path
    if got is not None:
        names, ds_root, items = got
        root = Path(images_dir) if images_dir else ds_root
        parsed = []
        for split, img, lab in items:
            if images_dir:
                rel = _rel_in_split(img, ds_root, split)
                img = _find_in(Path(images_dir), rel)
            try:
                w, h = image_size(img)
            except InputError:
                found.append(Problem("image file not found or unreadable", file=str(lab) if lab.is_file() else str(img),
                                     value=str(img), expected="an image whose header gives the size (YOLO labels are "
                                                             "normalised by it)", hint="point to the images with --images-dir"))
                continue
            rows = _parse_labels(lab, w, h, len(names), found)
            parsed.append((split, img, lab, w, h, rows))
        with_scores = any(r[2] is not None for p in parsed for r in p[5])
        for split, img, lab, w, h, rows in parsed:
            if with_scores and any(r[2] is None for r in rows):
                r = next(r for r in rows if r[2] is None)
                found.append(Problem("confidence missing", file=str(lab), line=r[4],
                                     expected="a 6th value (confidence) on every line of a predictions dataset"))
                rows = [r for r in rows if r[2] is not None]
            try:
                image = img.relative_to(root).as_posix()
            except ValueError:
                image = str(img)
            samples.append(_make_sample(image, w, h, rows, str(lab), split=split, ident=img.stem,
                                        with_scores=with_scores))
    raise_or_collect(found, problems)
    return Dataset(names, samples, root=root, meta={"format": "yolo", "_file": str(path)})


def _rel_in_split(img: Path, root: Path, split: str) -> str:
    try:
        rel = img.relative_to(root).parts
    except ValueError:
        return img.name
    for i, part in enumerate(rel[:-1]):
        if part in (split, f"obj_{split}_data"):
            return "/".join(rel[i + 1:])
    return img.name


def read_yolo_predictions(
    folder: Path,
    reference: "Dataset",
    *,
    names: list[str] | None = None,
    confidence: Literal["last", "second"] = "last",
    problems: list[Problem] | None = None,
) -> "Dataset":
    """Detections from a bare folder of YOLO prediction files (``<image stem>.txt``), sized and
    named by ``reference`` (the ground truth); ``cvpipe evaluate --dt`` reads YOLO folders so.

    Args:
        folder: the prediction files, one per image (an image without one has no detections).
        reference: the ground truth: image sizes, names, splits and categories.
        names: the detector's class names, that its class ids index (default: the reference's
            categories). Names the reference lacks are appended to the categories.
        confidence: where the confidence is: ``last`` (``class cx cy w h conf``, as Ultralytics
            writes) or ``second`` (``class conf cx cy w h``, as review_object_detection_metrics).
        problems: collect problems here instead of raising.

    Returns a Dataset with one sample per reference image in its order, ``scores`` always set.
    A file whose stem is not a reference image, a line without confidence, and the usual line
    errors are problems (file and line named).
    """
    from cvpipe.data import Dataset
    from cvpipe.formats import raise_or_collect

    folder = Path(folder)
    found: list[Problem] = []
    by_stem: dict[str, list] = {}
    for s in reference.samples:
        by_stem.setdefault(Path(s.image).stem, []).append(s)
    files = sorted(p for p in folder.glob("*.txt") if not p.name.startswith(".")) if folder.is_dir() else []
    if not folder.is_dir():
        found.append(Problem("no such folder", file=str(folder), expected="a folder of YOLO prediction .txt files"))
    if confidence not in ("last", "second"):
        from cvpipe.errors import ConfigError

        raise ConfigError("unknown confidence position", field="confidence", value=confidence,
                          expected="last or second")
    id_names = list(names) if names is not None else list(reference.categories)
    categories = list(reference.categories)
    for n in id_names:
        if n not in categories:
            categories.append(n)
    to_label = [categories.index(n) for n in id_names]
    rows_of: dict[int, tuple[list, str]] = {}
    for f in files:
        refs = by_stem.get(f.stem)
        if not refs:
            found.append(Problem("prediction file for an unknown image", file=str(f), value=f.stem,
                                 expected="a file named after an image of the reference dataset"))
            continue
        if len(refs) > 1:
            found.append(Problem("image name is ambiguous", file=str(f), value=f.stem,
                                 expected="image stems unique in the reference dataset"))
            continue
        s = refs[0]
        rows = _parse_labels(f, s.width, s.height, len(id_names), found, confidence_second=confidence == "second",
                             predictions=True)
        keep = []
        for r in rows:
            if r[2] is None:
                found.append(Problem("confidence missing", file=str(f), line=r[4],
                                     expected="class cx cy w h confidence"))
            else:
                keep.append((to_label[r[0]], *r[1:]))
        rows_of[id(s)] = (keep, str(f))
    samples = []
    for s in reference.samples:
        rows, file = rows_of.get(id(s), ([], str(folder / (Path(s.image).stem + ".txt"))))
        samples.append(_make_sample(s.image, s.width, s.height, rows, file, split=s.split, ident=s.id,
                                    with_scores=True))
    raise_or_collect(found, problems)
    return Dataset(categories, samples, root=reference.root,
                   meta={"format": "yolo-predictions", "_file": str(folder)})


def detect_yolo(path: Path) -> bool:
    """A folder holding ``data.yaml``/``data.yml`` or ``obj.names``, or a YAML file with ``names``."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            return False
        try:
            return re.search(r"(?m)^names\s*:", path.read_text(encoding="utf-8", errors="replace")) is not None
        except OSError:
            return False
    return path.is_dir() and any((path / n).is_file() for n in ("data.yaml", "data.yml", "obj.names"))


@hookimpl
def cvpipe_register_formats(register):
    register("yolo", reader=read_yolo, writer=write_yolo, detect=detect_yolo,
             description="YOLO txt labels (Ultralytics data.yaml layout; darknet obj.names read)")
