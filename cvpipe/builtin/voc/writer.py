"""Writing Pascal VOC: one sample as annotation XML (:func:`annotation_xml`) and a whole dataset
as a VOCdevkit folder (:func:`write_voc`), whose steps the part-by-part writer (:mod:`.stream`)
shares: the dataset-wide decisions (:func:`resolve_convention`, the image names and
:func:`annotation_id`, :func:`check_repeat`), each sample's files (:func:`write_annotation`) and
the split lists (:func:`write_lists`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from cvpipe.errors import InputError
from cvpipe.formats.numbers import clean_number_text

from .layout import split_order
from .reader import COORDS, SHIFT, PixelConvention

if TYPE_CHECKING:
    from cvpipe.data import Dataset

#: what the user can do about a missing image (the writer's own wording, kept)
_IMAGES_HINT = "use images='none' or point to the images with --images-dir"

__all__ = ["write_voc", "annotation_xml", "write_annotation", "check_repeat", "annotation_id", "resolve_convention",
           "write_lists"]


def _num_text(v: float, tolerance: float = 0.0) -> str:
    """A coordinate without float noise (:func:`cvpipe.formats.numbers.clean_number_text`): an
    integer when within ``tolerance`` (the source's precision, pixels) of one, else the shortest
    decimal that reads back to ``v``."""
    return clean_number_text(v, tolerance)


#: the most a coordinate is moved to an integer, in pixels, whatever the source's precision
#: (a YOLO file with 2 decimals is precise to 2 px on a 400 px image; its 50.25 stays 50.25)
MAX_SNAP = 0.01


def coordinate_tolerance(dataset: "Dataset", sample) -> tuple[float, float]:
    """The source format's precision in pixels along x and y for ``sample``, at most
    :data:`MAX_SNAP`: from ``Dataset.meta["coordinate_precision"]`` (``{"normalized": p}``, one
    unit of YOLO's last decimal place, times the image side; or ``{"pixels": p}``), else 0
    (unknown: float noise only)."""
    prec = dataset.meta.get("coordinate_precision")
    if not isinstance(prec, dict):
        return 0.0, 0.0
    if isinstance(prec.get("normalized"), (int, float)):
        p = float(prec["normalized"])
        return min(p * sample.width, MAX_SNAP), min(p * sample.height, MAX_SNAP)
    if isinstance(prec.get("pixels"), (int, float)):
        p = min(float(prec["pixels"]), MAX_SNAP)
        return p, p
    return 0.0, 0.0


def _emit(parent, tag: str, value: Any) -> None:
    from lxml import etree

    if isinstance(value, list):
        for v in value:
            _emit(parent, tag, v)
        return
    el = etree.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            _emit(el, k, v)
    elif value is not None:
        el.text = str(value)


def _bndbox_el(parent, box, shift: float, tol: tuple[float, float] = (0.0, 0.0)) -> None:
    from lxml import etree

    bb = etree.SubElement(parent, "bndbox")
    for k, (tag, v) in enumerate(zip(COORDS, box)):
        # no float noise, from the -1/+1 shift or the source's arithmetic (174.00015000000002)
        etree.SubElement(bb, tag).text = _num_text(float(v) + shift, tol[k % 2])


def annotation_xml(sample, categories: Sequence[str], filename: str, *, pixel_convention: PixelConvention = "raw",
                   keep: Sequence[int] | None = None, tolerance: tuple[float, float] = (0.0, 0.0)) -> bytes:
    """One sample as VOC XML bytes (pretty printed, UTF-8); ``keep`` the box indices to write;
    ``tolerance`` the source's precision in pixels along x and y (coordinates within it of an
    integer are written as that integer, see :func:`coordinate_tolerance`)."""
    from lxml import etree

    shift = SHIFT[pixel_convention]
    ex = sample.extra
    root = etree.Element("annotation")
    if "folder" in ex:
        _emit(root, "folder", ex["folder"])
    etree.SubElement(root, "filename").text = filename
    for tag in ("source", "owner"):
        if tag in ex:
            _emit(root, tag, ex[tag])
    size = etree.SubElement(root, "size")
    etree.SubElement(size, "width").text = str(sample.width)
    etree.SubElement(size, "height").text = str(sample.height)
    if ex.get("depth") is not None:
        etree.SubElement(size, "depth").text = str(ex["depth"])
    etree.SubElement(root, "segmented").text = str(ex.get("segmented", 0))
    for k, v in (ex.get("voc_fields") or {}).items():
        _emit(root, k, v)
    idx = range(len(sample)) if keep is None else keep
    for i in idx:
        bx = sample.box_extra[i]
        obj = etree.SubElement(root, "object")
        etree.SubElement(obj, "name").text = categories[int(sample.labels[i])]
        if "pose" in bx:
            etree.SubElement(obj, "pose").text = str(bx["pose"])
        etree.SubElement(obj, "truncated").text = "1" if sample.truncated[i] else "0"
        if "occluded" in bx:
            etree.SubElement(obj, "occluded").text = str(bx["occluded"])
        etree.SubElement(obj, "difficult").text = "1" if sample.difficult[i] else "0"
        if sample.iscrowd[i]:
            etree.SubElement(obj, "iscrowd").text = "1"
        if sample.scores is not None:
            etree.SubElement(obj, "score").text = repr(float(sample.scores[i]))
        _bndbox_el(obj, sample.boxes[i].tolist(), shift, tolerance)
        for part in bx.get("parts") or []:
            pe = etree.SubElement(obj, "part")
            for k, v in part.items():
                if k == "bndbox":
                    _bndbox_el(pe, v, shift, tolerance)
                elif k == "voc_fields":
                    for item in v:
                        for kk, vv in item.items():
                            _emit(pe, kk, vv)
                else:
                    _emit(pe, k, v)
        for k, v in (bx.get("voc_fields") or {}).items():
            _emit(obj, k, v)
    return etree.tostring(root, pretty_print=True, encoding="utf-8")


def write_voc(
    dataset: "Dataset",
    dst: Path,
    *,
    images: Literal["copy", "link", "none"] = "copy",
    pixel_convention: PixelConvention | None = None,
    keep_crowd: bool = False,
) -> dict:
    """Write ``dataset`` as a VOCdevkit folder: ``Annotations/<name>.xml``, ``JPEGImages/<name>``
    and ``ImageSets/Main/<split>.txt`` for the splits present. Every field read by
    :func:`read_voc` is written back (difficult objects included: VOC has the flag); scores are
    written as ``<score>``. Crowd boxes (from COCO) are left out and counted unless
    ``keep_crowd`` (then marked ``<iscrowd>1</iscrowd>``, which :func:`read_voc` reads back).

    ``pixel_convention`` None means the one the dataset was read with (``meta``), else ``raw``,
    so that VOC -> VOC gives back the original numbers.

    One image in two splits (two samples with the same image file and the same annotation, as a
    YOLO dataset whose ``val`` and ``test`` share a folder gives) is written once and listed in
    both split lists (``notes`` counts them); with different annotations it is an error.

    Returns ``{"images", "boxes", "skipped": {"crowd": n}, "files"}`` (and ``notes`` when images
    were shared). ``dst`` appears whole or not at all; image names are confined to ``dst``.
    """
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, safe_relpath

    pixel_convention = resolve_convention(dataset.meta, pixel_convention)
    groups: dict[Any, list[int]] = {}  # image names per split: drops a shared images/<split>/ folder
    for k, s in enumerate(dataset.samples):
        groups.setdefault(s.split, []).append(k)
    names = [""] * len(dataset)
    for idx in groups.values():
        for k, n in zip(idx, image_names([dataset.samples[k] for k in idx])):
            names[k] = safe_relpath(n, file=str(dataset.image_path(dataset.samples[k])), field="image")
    ids = [annotation_id(n) for n in names]
    seen: dict[str, Any] = {}
    shared = set()  # samples that are an image already written for another split: listed only
    for k, (s, i) in enumerate(zip(dataset.samples, ids)):
        if i in seen:
            check_repeat(dataset, seen[i], s, i)  # one image in two splits (Ultralytics' VOC.yaml: val = test)
            shared.add(k)
            continue
        seen[i] = s
    report = new_report()
    lists: dict[str, list[str]] = {}
    with atomic_dir(Path(dst)) as tmp:
        make_folders(tmp)
        for k, (s, name, ident) in enumerate(zip(dataset.samples, names, ids)):
            if k in shared:
                lists.setdefault(s.split, []).append(ident)
                continue
            write_annotation(tmp, dataset, s, name, ident, pixel_convention, images, keep_crowd, report)
            if s.split is not None:
                lists.setdefault(s.split, []).append(ident)
        write_lists(tmp, list(lists), lambda path, split: path.write_text("".join(i + "\n" for i in lists[split]),
                                                                           encoding="utf-8"), report)
    return with_notes(report, len(shared))


def resolve_convention(meta: Mapping[str, Any], pixel_convention: PixelConvention | None) -> PixelConvention:
    """The pixel convention to write: the one asked, else the one a VOC dataset was read with
    (``meta``), else ``raw``; ConfigError for an unknown one."""
    if pixel_convention is None:
        pixel_convention = meta.get("pixel_convention", "raw") if meta.get("format") == "voc" else "raw"
    if pixel_convention not in SHIFT:
        from cvpipe.errors import ConfigError

        raise ConfigError("unknown pixel convention", field="pixel_convention", value=pixel_convention,
                          expected="raw or one_based")
    return pixel_convention


def annotation_id(name: str) -> str:
    """The annotation id (``Annotations/<id>.xml``, the split lists' entry) of an image name:
    the name without its extension."""
    return name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name


def check_repeat(dataset: "Dataset", first, s, ident: str) -> None:
    """A sample ``s`` whose annotation id ``ident`` the sample ``first`` already has: fine
    (listed only) when it is ``first``'s image and annotation in another split, else the
    InputError of two images getting one annotation file."""
    if first.split != s.split and _same_annotation(dataset, first, s):
        return
    raise InputError("two images would get the same annotation file", file=str(dataset.image_path(s)),
                     value=f"Annotations/{ident}.xml", expected="distinct image names",
                     hint=f"also written for {first.image}")


def new_report() -> dict[str, Any]:
    """The writer's report before anything is written."""
    return {"images": 0, "boxes": 0, "skipped": {"crowd": 0}, "files": 0}


def make_folders(tmp: Path) -> None:
    """``Annotations/`` and ``JPEGImages/`` in ``tmp``."""
    (tmp / "Annotations").mkdir()
    (tmp / "JPEGImages").mkdir()


def write_annotation(tmp: Path, dataset: "Dataset", s, name: str, ident: str, pixel_convention: PixelConvention,
                     images: str, keep_crowd: bool, report: dict[str, Any]) -> None:
    """Write one sample: ``Annotations/<ident>.xml`` (crowd boxes left out unless
    ``keep_crowd``) and its image as ``JPEGImages/<name>`` (``images``: copy, link or none;
    ``name`` already safe); count it in ``report``. ``dataset`` gives the categories, the
    image's folder and the source's precision (its samples are not used)."""
    import numpy as np

    from cvpipe.formats.images import place_image
    from cvpipe.fsutil import safe_join

    keep = np.arange(len(s)) if keep_crowd else np.flatnonzero(~s.iscrowd)
    report["skipped"]["crowd"] += len(s) - len(keep)
    xml = annotation_xml(s, dataset.categories, name, pixel_convention=pixel_convention, keep=keep.tolist(),
                         tolerance=coordinate_tolerance(dataset, s))
    out = safe_join(tmp / "Annotations", ident + ".xml")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(xml)
    report["files"] += 1
    if images != "none":
        place_image(dataset.image_path(s), safe_join(tmp / "JPEGImages", name), images, hint=_IMAGES_HINT)
        report["files"] += 1
    report["images"] += 1
    report["boxes"] += len(keep)


def write_lists(tmp: Path, splits: Sequence[str], write: Callable[[Path, str], None], report: dict[str, Any]) -> None:
    """``ImageSets/Main/<split>.txt`` for ``splits`` (when there are any), in
    :func:`.layout.split_order`; ``write(path, split)`` writes one list's file."""
    from cvpipe.fsutil import safe_relpath

    if not splits:
        return
    main = tmp / "ImageSets" / "Main"
    main.mkdir(parents=True)
    for split in split_order(splits):
        safe_relpath(split, field="split")
        write(main / f"{split}.txt", split)
        report["files"] += 1


def with_notes(report: dict[str, Any], shared: int) -> dict[str, Any]:
    """``report`` with its note of ``shared`` images listed in a second split, when any."""
    if shared:
        report["notes"] = {NOTE_SHARED: shared}
    return report


#: the writer's note counting the images of two splits written once (and listed in both lists)
NOTE_SHARED = "images in more than one split written once, listed in each split list"


def _same_annotation(dataset: "Dataset", a, b) -> bool:
    """Whether samples ``a`` and ``b`` are one image with one annotation (the same file, size,
    boxes, labels, flags and scores): one XML then serves both their splits."""
    import numpy as np

    if dataset.image_path(a) != dataset.image_path(b) or (a.width, a.height) != (b.width, b.height):
        return False
    if len(a) != len(b) or (a.scores is None) != (b.scores is None):
        return False
    same = [np.array_equal(a.boxes, b.boxes), np.array_equal(a.labels, b.labels),
            np.array_equal(a.difficult, b.difficult), np.array_equal(a.truncated, b.truncated),
            np.array_equal(a.iscrowd, b.iscrowd)]
    if a.scores is not None:
        same.append(np.array_equal(a.scores, b.scores))
    return all(same) and a.box_extra == b.box_extra and a.extra == b.extra
