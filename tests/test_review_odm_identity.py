"""The review-odm ground truth ships one annotation set in six formats (Pascal VOC, COCO v1 and
v2 as CVAT exports them, darknet YOLO, LabelMe, CVAT for images 1.1): each, detected without
``--from``, reads to the same image names, sizes, category names and boxes (issue 11's "read
identically")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvpipe.formats import detect_format, read_dataset

GTS = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "review-odm" / "data" / "database" / "gts"
IMAGES = GTS.parent / "images"
pytestmark = pytest.mark.skipif(not GTS.is_dir(), reason=f"review-odm fixtures absent: {GTS}")

#: format folder (or file) -> (format detected, the coordinate tolerance in pixels)
SOURCES = {
    "pascalvoc_format": ("voc", 0.0),
    "coco_format_v1": ("coco", 0.0),
    "coco_format_v2/instances_v2.json": ("coco", 0.0),
    "yolo_format": ("yolo", 1e-3),  # six decimals of normalised coordinates
    "labelme_format": ("labelme", 0.0),
    "cvat_format": ("cvat", 0.0),
}


def _canonical(ds) -> dict[str, tuple[int, int, list[tuple[str, tuple[float, ...]]]]]:
    """Image file name -> (width, height, its boxes as sorted (category name, xyxy))."""
    out = {}
    for s in ds.samples:
        boxes = sorted((ds.categories[k], tuple(b)) for k, b in zip(s.labels.tolist(), s.boxes.tolist()))
        name = Path(s.image).name
        assert name not in out, f"{name} twice"
        out[name] = (s.width, s.height, boxes)
    return out


def test_six_formats_read_the_same_boxes_labels_and_images():
    read = {}
    for rel, (fmt, _) in SOURCES.items():
        assert detect_format(GTS / rel) == fmt, rel
        read[rel] = _canonical(read_dataset(GTS / rel, images_dir=IMAGES))
    ref = read["pascalvoc_format"]
    assert len(ref) == 100 and sum(len(v[2]) for v in ref.values()) == 273
    for rel, got in read.items():
        tol = SOURCES[rel][1]
        assert sorted(got) == sorted(ref), rel  # the same image names
        for name, (w, h, boxes) in ref.items():
            gw, gh, gboxes = got[name]
            assert (gw, gh) == (w, h), (rel, name)
            assert [c for c, _ in gboxes] == [c for c, _ in boxes], (rel, name)  # the same labels
            for (_, a), (_, b) in zip(gboxes, boxes):
                assert max(abs(x - y) for x, y in zip(a, b)) <= tol, (rel, name, a, b)
