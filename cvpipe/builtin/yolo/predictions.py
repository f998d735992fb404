"""YOLO detections for ``cvpipe evaluate``: prediction files (``<image stem>.txt`` with a
confidence) read against a ground-truth dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cvpipe.data.origin import Origin
from cvpipe.errors import InputError, Problem
from cvpipe.formats.yolo_text import data_yaml_names, load_data_yaml

from .reader import make_sample, parse_labels, read_yolo

if TYPE_CHECKING:
    from cvpipe.data import Dataset

__all__ = ["read_yolo_predictions", "read_yolo_detections"]


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
    from cvpipe.formats.txt_detections import files_by_image

    folder = Path(folder)
    found: list[Problem] = []
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
    for f, ref in files_by_image(files, reference, found, kind="prediction", within="the reference dataset"):
        s = reference.samples[ref]
        rows = parse_labels(f, s.width, s.height, len(id_names), found, confidence_second=confidence == "second",
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
        samples.append(make_sample(s.image, s.width, s.height, rows, file, split=s.split, ident=s.id,
                                    with_scores=True))
    raise_or_collect(found, problems)
    return Dataset(categories, samples, root=reference.root,
                   meta={"format": "yolo-predictions"}, origin=Origin(str(folder)))


def read_yolo_detections(path: Path, reference: "Dataset", *, problems: list[Problem] | None = None) -> "Dataset":
    """YOLO detections for ``cvpipe evaluate`` (the format's ``read_predictions``), read against
    the ground truth ``reference``: a YOLO dataset with ``data.yaml`` whose label lines carry a
    confidence, a darknet dataset (``obj.names``; read as a dataset), or a bare folder of
    prediction files (:func:`read_yolo_predictions`; also Ultralytics' ``labels/`` sub-folder)."""
    path = Path(path)
    yaml_file = next((path / n for n in ("data.yaml", "data.yml") if (path / n).is_file()), None)
    if yaml_file is not None:
        return _dataset_predictions(path, yaml_file, reference)
    if (path / "obj.names").is_file():
        return read_yolo(path, problems=problems)
    folder = path
    if path.is_dir() and not any(path.glob("*.txt")) and (path / "labels").is_dir():
        folder = path / "labels"  # Ultralytics: runs/detect/predict/labels/*.txt
    return read_yolo_predictions(folder, reference, problems=problems)


def _dataset_predictions(path: Path, yaml_file: Path, gt: "Dataset") -> "Dataset":
    """Detections written as a YOLO dataset (``data.yaml`` and ``labels/<split>/*.txt`` with a
    confidence column, as the ``predict`` step writes them with ``format: yolo``, usually without
    images): each label folder is read by :func:`read_yolo_predictions` against the ground
    truth's image sizes, with the class names of ``data.yaml`` (matched to the ground truth's by
    name later)."""
    from cvpipe.data import Dataset

    found: list[Problem] = []
    data = load_data_yaml(yaml_file, found)
    names = data_yaml_names(data, str(yaml_file), found) if data is not None else None
    if names is None:
        raise InputError.from_problems(found or [Problem("no class names", file=str(yaml_file),
                                                         expected="names: in data.yaml")])
    reference = Dataset(names, gt.samples, root=gt.root)
    labels = path / "labels"
    folders = sorted({p.parent for p in labels.rglob("*.txt")}) if labels.is_dir() else []
    samples = [s for folder in folders for s in read_yolo_predictions(folder, reference).samples]
    return Dataset(names, samples, root=gt.root)
