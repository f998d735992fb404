"""Category order: classes files, Pascal VOC's canonical order, the order writers use.

Every format sees the same rule (:func:`order_categories`): a classes file fixes the order;
otherwise a dataset whose classes are all Pascal VOC's keeps VOC's canonical order; otherwise its
own. :func:`voc_categories` is the order a VOC reader gives the names it meets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import InputError, Problem

if TYPE_CHECKING:
    from .model import Dataset

__all__ = ["VOC_CLASSES", "read_classes_file", "order_categories", "voc_categories", "unlisted_classes_error"]

#: Pascal VOC's twenty classes in their canonical (devkit) order.
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)


def voc_categories(names: Iterable[str]) -> list[str]:
    """The category order for the object ``names`` a dataset uses: the names present in
    :data:`VOC_CLASSES` order when all are VOC classes, else sorted."""
    present = set(names)
    if present <= set(VOC_CLASSES):
        return [c for c in VOC_CLASSES if c in present]
    return sorted(present)


def read_classes_file(path: Path) -> list[str]:
    """Class names from a text file, one per line in id order (blank lines and ``#`` comments
    ignored). Raises InputError naming the file and line for an empty file or a repeated name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("cannot read the classes file", file=str(path), value=str(exc),
                         expected="a text file with one class name per line") from None
    names: list[str] = []
    where: dict[str, int] = {}
    found: list[Problem] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        name = raw.split("#", 1)[0].strip()
        if not name:
            continue
        if name in where:
            found.append(Problem("class listed twice", file=str(path), line=lineno, value=name,
                                 expected="each class once", hint=f"first on line {where[name]}"))
            continue
        where[name] = lineno
        names.append(name)
    if not names and not found:
        found.append(Problem("no class names", file=str(path), expected="one class name per line"))
    if found:
        raise InputError.from_problems(found)
    return names


def unlisted_classes_error(names: Sequence[str], classes_file: str | None) -> InputError:
    """The error for classes the data uses that the given class list (``classes_file``) lacks."""
    return InputError("the data uses classes the classes file does not list", file=classes_file,
                      value=", ".join(names), expected="every class of the data listed",
                      hint="add them to the classes file")


def order_categories(dataset: "Dataset", classes: Sequence[str] | None = None, *, classes_file: str | None = None) -> "Dataset":
    """``dataset`` with its categories in the order writers should use, labels remapped.

    * ``classes`` given (``--classes FILE``): exactly that order. Classes it lists that the data
      lacks are kept (empty); a category the data uses that ``classes`` lacks is an InputError
      naming ``classes_file``.
    * otherwise, when every category is one of Pascal VOC's twenty: VOC's canonical order
      (only the categories present).
    * otherwise the dataset's own order.

    Returns ``dataset`` itself when nothing changes.
    """
    import numpy as np

    cats = list(dataset.categories)
    if classes is not None:
        target = list(classes)
        missing = [c for c in cats if c not in target]
        if missing:
            used = dataset.class_counts()
            really = [c for c in missing if used.get(c, 0) > 0]
            if really:
                raise unlisted_classes_error(really, classes_file)
    else:
        if cats and set(cats) <= set(VOC_CLASSES):
            target = [c for c in VOC_CLASSES if c in set(cats)]
        else:
            return dataset
    if target == cats:
        return dataset
    index = {c: i for i, c in enumerate(target)}
    remap = np.array([index.get(c, -1) for c in cats] + [-1], dtype=np.int64)
    from dataclasses import replace

    samples = []
    for s in dataset.samples:
        labels = s.labels
        if len(labels):
            labels = remap[np.where((labels >= 0) & (labels < len(cats)), labels, len(cats))]
        samples.append(replace(s, labels=labels))
    return replace(dataset, categories=target, samples=samples, meta=dict(dataset.meta))
