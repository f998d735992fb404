"""Open Images V7 boxes CSV + class descriptions: reader, writer, layouts, detection."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cvpipe.builtin.openimages import detect_openimages, read_openimages, write_openimages
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError, Problem
from cvpipe.plugins import get_registry
from cvpipe.formats import detect_format
from cvpipe.testing import assert_same_dataset, blank_png as png, check_format

# Rows in the style of the Open Images download page (the train file adds XClick columns)
BOXES = """\
ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside
0a1b2c3d4e5f6071,xclick,/m/01g317,1,0.125,0.5,0.25,1,0,1,0,0,0
0a1b2c3d4e5f6071,xclick,/m/0k4j,1,0.5,0.75,0,0.5,1,0,1,0,-1
1b2c3d4e5f607182,activemil,/m/0k4j,1,0,1,0.5,0.75,0,0,0,1,0
"""
# the boxable descriptions download has no header
DESCRIPTIONS = "/m/011k07,Tortoise\n/m/01g317,Person\n/m/0k4j,Car\n"


def oi_dir(root: Path, boxes: str = BOXES, *, desc: str | None = DESCRIPTIONS, names=("validation-annotations-bbox.csv",
           "oidv7-class-descriptions-boxable.csv"), split: str = "validation") -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / names[0]).write_text(boxes, encoding="utf-8")
    if desc is not None:
        (root / names[1]).write_text(desc, encoding="utf-8")  # beside annotations/: found too
    png(root / "images" / split / "0a1b2c3d4e5f6071.jpg", 400, 200)
    png(root / "images" / split / "1b2c3d4e5f607182.jpg", 100, 100)
    return root


def test_reads_normalised_boxes_in_xmin_xmax_ymin_ymax_order(tmp_path):
    ds = read_openimages(oi_dir(tmp_path / "oi"))
    assert ds.categories == ["Tortoise", "Person", "Car"]  # the descriptions' order
    assert ds.meta["openimages_mids"] == {"Tortoise": "/m/011k07", "Person": "/m/01g317", "Car": "/m/0k4j"}
    a, b = ds.samples
    assert (a.image, a.width, a.height, a.id, a.split) == ("images/validation/0a1b2c3d4e5f6071.jpg", 400, 200,
                                                           "0a1b2c3d4e5f6071", "validation")
    # XMin 0.125 * 400 = 50, XMax 0.5 * 400 = 200, YMin 0.25 * 200 = 50, YMax 1 * 200 = 200
    assert np.allclose(a.boxes, [[50, 50, 200, 200], [200, 0, 300, 100]]) and a.labels.tolist() == [1, 2]
    assert a.truncated.tolist() == [True, False] and a.iscrowd.tolist() == [False, True]
    assert a.box_extra[1]["openimages"] == {"Source": "xclick", "Confidence": "1", "IsOccluded": "1",
                                            "IsTruncated": "0", "IsGroupOf": "1", "IsDepiction": "0", "IsInside": "-1"}
    assert np.allclose(b.boxes, [[0, 50, 100, 75]])
    assert detect_openimages(tmp_path / "oi") and detect_format(tmp_path / "oi") == "openimages"
    assert detect_openimages(tmp_path / "oi" / "annotations" / "validation-annotations-bbox.csv")


def test_descriptions_with_header_and_downloads_names(tmp_path):
    ds = read_openimages(oi_dir(tmp_path / "oi", desc="LabelName,DisplayName\n" + DESCRIPTIONS,
                                names=("oidv6-train-annotations-bbox.csv", "oidv7-class-descriptions.csv"), split="train"))
    assert ds.categories == ["Tortoise", "Person", "Car"] and {s.split for s in ds} == {"train"}


def test_without_descriptions_the_mids_are_the_names(tmp_path):
    ds = read_openimages(oi_dir(tmp_path / "oi", desc=None))
    assert ds.categories == ["/m/01g317", "/m/0k4j"]


def test_round_trip_and_what_is_written(tmp_path):
    ds = read_openimages(oi_dir(tmp_path / "oi"))
    report = write_openimages(ds, tmp_path / "out")
    assert report == {"images": 2, "boxes": 3, "skipped": {"difficult": 0}}
    ann = tmp_path / "out" / "annotations"
    assert (ann / "validation-annotations-bbox.csv").read_text() == BOXES  # byte for byte
    assert (ann / "class-descriptions.csv").read_text() == DESCRIPTIONS
    rows = list(csv.reader((ann / "validation-images-with-rotation.csv").open()))
    assert rows[0][:2] == ["ImageID", "Subset"] and [r[:2] for r in rows[1:]] == [
        ["0a1b2c3d4e5f6071", "validation"], ["1b2c3d4e5f607182", "validation"]]
    assert (tmp_path / "out" / "images" / "validation" / "1b2c3d4e5f607182.jpg").is_file()
    back = read_openimages(tmp_path / "out")
    assert_same_dataset(ds, back, atol=1e-9, check_categories=True)
    assert back.samples[0].box_extra == ds.samples[0].box_extra


def test_writes_other_formats_boxes_and_keeps_images_without_boxes(tmp_path):
    png(tmp_path / "src" / "p.png", 300, 100)
    png(tmp_path / "src" / "empty.png", 30, 10)
    s = Sample("p.png", 300, 100, boxes=[[30, 10, 100, 50], [0, 0, 3, 3]], labels=[0, 0], difficult=[False, True],
               iscrowd=[True, False], box_extra=[{"occluded": 0}, {}])
    ds = Dataset(["dog"], [s, Sample("empty.png", 30, 10)], root=tmp_path / "src")
    report = write_openimages(ds, tmp_path / "out")
    assert report["skipped"] == {"difficult": 1} and report["boxes"] == 1
    text = (tmp_path / "out" / "annotations" / "train-annotations-bbox.csv").read_text().splitlines()
    assert text[1] == "p,cvpipe,dog,1,0.1,0.3333333333333333,0.1,0.5,0,0,1,-1,-1"
    back = read_openimages(tmp_path / "out")
    assert [s.id for s in back] == ["p", "empty"] and len(back.samples[1]) == 0
    assert back.samples[0].iscrowd.tolist() == [True]


@pytest.mark.parametrize("row, message, field", [
    ("0a1b2c3d4e5f6071,xclick,/m/0k4j,1,0.5,1.5,0,1,0,0,0,0,0", "value outside [0, 1]", "XMax"),
    ("0a1b2c3d4e5f6071,xclick,/m/0k4j,1,0.7,0.2,0,1,0,0,0,0,0", "box is inverted", "XMin,XMax,YMin,YMax"),
    ("0a1b2c3d4e5f6071,xclick,/m/0k4j,1,0.1,0.2,0,1,0,yes,0,0,0", "not a flag", "IsTruncated"),
    ("0a1b2c3d4e5f6071,xclick,/m/0k4j,1,0.1,0.2,0,1,0,0,0", "wrong number of columns", None),
    ("0a1b2c3d4e5f6071,xclick,/m/09j2d,1,0.1,0.2,0,1,0,0,0,0,0", "class not in the class descriptions", "LabelName"),
    ("ffffffffffffffff,xclick,/m/0k4j,1,0.1,0.2,0,1,0,0,0,0,0", "image file not found", "ImageID"),
])
def test_bad_rows_are_problems_with_file_and_line(tmp_path, row, message, field):
    root = oi_dir(tmp_path / "oi", BOXES + row + "\n")
    problems: list[Problem] = []
    ds = read_openimages(root, problems=problems)
    assert [(p.message, p.line, p.field) for p in problems] == [(message, 5, field)]
    assert problems[0].file == str(root / "annotations" / "validation-annotations-bbox.csv")
    assert ds.num_boxes == 3
    with pytest.raises(InputError):
        read_openimages(root)


def test_header_without_coordinates_is_refused(tmp_path):
    root = oi_dir(tmp_path / "oi", "ImageID,LabelName,X,Y\n")
    with pytest.raises(InputError, match="header lacks columns"):
        read_openimages(root)


def test_conformance(tmp_path):
    # cross-checked against every registered format (the other new ones and labelme included),
    # not only voc, coco and yolo: detection must stay unambiguous among all of them
    check_format("openimages", workdir=tmp_path, against=get_registry().formats.names())


def test_chain_through_the_four_new_formats_is_exact(tmp_path):
    # integer pixels on odd image sizes survive percent (Label Studio) and normalised (Open
    # Images) coordinates exactly: no float noise reaches the numbers written or read
    from cvpipe.formats import read_dataset, write_dataset
    from cvpipe.testing import make_dataset, write_images

    src = write_images(make_dataset(6, size=(487, 333), boxes_per_image=5, seed=3), tmp_path / "src")
    ds = src
    for k, fmt in enumerate(("kitti", "label_studio", "openimages", "cvat")):
        write_dataset(ds, tmp_path / f"{k}-{fmt}", fmt, images="copy")
        ds = read_dataset(tmp_path / f"{k}-{fmt}")
        assert_same_dataset(src, ds, atol=0)
    text = (tmp_path / "2-openimages" / "annotations" / "train-annotations-bbox.csv").read_text()
    assert "0000000" not in text and "9999999" not in text
