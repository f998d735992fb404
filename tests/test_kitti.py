"""KITTI 2D object labels: reader, writer, DontCare, 3D fields kept, detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvpipe.builtin.kitti import detect_kitti, read_kitti, write_kitti
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError, Problem
from cvpipe.plugins import get_registry
from cvpipe.formats import detect_format, write_dataset
from cvpipe.testing import assert_same_dataset, blank_png as png, check_format

# Lines in the style of the KITTI object development kit's readme
LABEL_000000 = """\
Pedestrian 0.00 0 -0.20 712.40 143.00 810.73 307.92 1.89 0.48 1.20 1.84 1.47 8.41 0.01
Car 0.88 3 -0.69 0.00 192.37 402.31 374.00 1.60 1.57 3.48 -2.69 1.74 3.43 -1.36
DontCare -1 -1 -10 800.38 163.67 825.45 184.07 -1 -1 -1 -1000 -1000 -1000 -10
"""
LABEL_000001 = "Cyclist 0.00 1 1.94 330.60 176.09 355.61 213.60 1.72 0.50 1.95 -12.76 1.73 41.61 1.65\n"


def kitti_dir(root: Path, labels: dict[str, str | None], split: str | None = "training", size=(1242, 375)) -> Path:
    base = root / split if split else root
    (base / "label_2").mkdir(parents=True, exist_ok=True)
    for stem, text in labels.items():
        png(base / "image_2" / f"{stem}.png", *size)
        if text is not None:
            (base / "label_2" / f"{stem}.txt").write_text(text)
    return root


def test_reads_boxes_flags_dontcare_and_3d_fields(tmp_path):
    root = kitti_dir(tmp_path / "kitti", {"000000": LABEL_000000, "000001": LABEL_000001, "000002": None})
    (root / "testing" / "image_2").mkdir(parents=True)  # no label_2/: not read
    ds = read_kitti(root)
    assert ds.categories == ["Car", "Pedestrian", "Cyclist", "DontCare"]  # the devkit's order
    a, b, c = ds.samples
    assert (a.image, a.width, a.height, a.split, a.id) == ("training/image_2/000000.png", 1242, 375, "training", "000000")
    assert np.allclose(a.boxes, [[712.40, 143.00, 810.73, 307.92], [0.00, 192.37, 402.31, 374.00],
                                 [800.38, 163.67, 825.45, 184.07]])
    assert a.labels.tolist() == [1, 0, 3]
    assert a.truncated.tolist() == [False, True, False]
    assert a.difficult.tolist() == [False, False, True]  # DontCare: ignored, counted
    assert a.box_extra[1]["kitti"] == {"truncated": 0.88, "occluded": 3, "alpha": -0.69,
                                       "dimensions": [1.60, 1.57, 3.48], "location": [-2.69, 1.74, 3.43],
                                       "rotation_y": -1.36}
    assert ds.meta["kitti_dontcare"] == 1
    assert len(c) == 0 and c.image == "training/image_2/000002.png"  # an image without a label file
    assert a.scores is None
    assert detect_kitti(root) and detect_kitti(root / "training") and detect_format(root) == "kitti"
    assert not detect_kitti(root / "testing")
    alone = read_kitti(root / "training" / "label_2")  # the label folder named: its split folder read
    assert [s.image for s in alone] == ["image_2/000000.png", "image_2/000001.png", "image_2/000002.png"]


def test_round_trip_is_line_for_line(tmp_path):
    root = kitti_dir(tmp_path / "kitti", {"000000": LABEL_000000, "000001": LABEL_000001})
    ds = read_kitti(root)
    report = write_kitti(ds, tmp_path / "out")
    assert report == {"images": 2, "boxes": 4, "skipped": {"difficult": 0, "crowd": 0}, "dontcare": 1}
    assert (tmp_path / "out" / "training" / "label_2" / "000000.txt").read_text() == LABEL_000000.replace(
        "DontCare -1 -1 -10 ", "DontCare -1.00 -1 -10.00 ").replace(
        "-1 -1 -1 -1000 -1000 -1000 -10\n", "-1.00 -1.00 -1.00 -1000.00 -1000.00 -1000.00 -10.00\n")
    assert (tmp_path / "out" / "training" / "label_2" / "000001.txt").read_text() == LABEL_000001
    assert_same_dataset(ds, read_kitti(tmp_path / "out"), atol=0, check_categories=True)


def test_boxes_from_other_formats_get_kitti_unknowns_and_difficult_is_counted(tmp_path):
    s = Sample("p.png", 100, 50, boxes=[[10, 5, 30.125, 20], [1, 1, 5, 5], [2, 2, 8, 8]], labels=[0, 1, 0],
               difficult=[False, True, False], truncated=[True, False, False], iscrowd=[False, False, True],
               box_extra=[{"occluded": 1}, {}, {}])
    png(tmp_path / "src" / "p.png", 100, 50)
    ds = Dataset(["car", "tram"], [s], root=tmp_path / "src")
    report = write_kitti(ds, tmp_path / "out")
    assert report["skipped"] == {"difficult": 1, "crowd": 1} and report["boxes"] == 1
    assert (tmp_path / "out" / "label_2" / "p.txt").read_text() == (
        "car 1.00 1 -10.00 10.00 5.00 30.125 20.00 -1.00 -1.00 -1.00 -1000.00 -1000.00 -1000.00 -10.00\n")
    back = read_kitti(tmp_path / "out")
    assert back.samples[0].split is None and back.samples[0].truncated.tolist() == [True]
    write_kitti(ds, tmp_path / "all", keep_difficult=True, keep_crowd=True)
    assert len(read_kitti(tmp_path / "all").samples[0]) == 3
    with pytest.raises(InputError, match="unfit for KITTI"):
        write_kitti(Dataset(["traffic light"], [s.select([0])]), tmp_path / "bad", images="none")
    assert not (tmp_path / "bad").exists()


def test_scores_read_and_written(tmp_path):
    root = kitti_dir(tmp_path / "res", {"000000": "Car -1 -1 -10 1.00 2.00 30.00 40.00 -1 -1 -1 -1000 -1000 -1000 -10 0.87\n"},
                     split=None)
    ds = read_kitti(root)
    assert ds.samples[0].scores.tolist() == [0.87] and ds.samples[0].split is None
    write_dataset(ds, tmp_path / "out", "kitti")
    assert (tmp_path / "out" / "label_2" / "000000.txt").read_text().rstrip().endswith(" 0.87")


@pytest.mark.parametrize("line, message, field", [
    ("Car 0 0 0 1 2 3\n", "wrong number of values", None),
    ("Car 0.0 0 0 1 2 x 4 -1 -1 -1 -1000 -1000 -1000 -10\n", "not a finite number", "x2"),
    ("Car 0.0 1.5 0 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n", "occluded is not an integer", "occluded"),
])
def test_bad_lines_are_problems_with_file_and_line(tmp_path, line, message, field):
    root = kitti_dir(tmp_path / "k", {"000000": "Car 0.00 0 0 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n" + line})
    problems: list[Problem] = []
    ds = read_kitti(root, problems=problems)
    assert [(p.message, p.line, p.field) for p in problems] == [(message, 2, field)]
    assert problems[0].file == str(root / "training" / "label_2" / "000000.txt")
    assert len(ds.samples[0]) == 1
    with pytest.raises(InputError):
        read_kitti(root)


def test_label_without_image_and_mixed_scores(tmp_path):
    root = kitti_dir(tmp_path / "k", {"000000": LABEL_000001})
    (root / "training" / "label_2" / "000009.txt").write_text(LABEL_000001)
    (root / "training" / "label_2" / "000000.txt").write_text(LABEL_000001.rstrip() + " 0.5\n" + LABEL_000001)
    problems: list[Problem] = []
    read_kitti(root, problems=problems)
    assert sorted(p.message for p in problems) == ["image file not found", "score missing"]


def test_conformance(tmp_path):
    # cross-checked against every registered format (the other new ones and labelme included),
    # not only voc, coco and yolo: detection must stay unambiguous among all of them
    check_format("kitti", workdir=tmp_path, against=get_registry().formats.names())
