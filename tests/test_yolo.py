"""YOLO reader (Ultralytics and darknet layouts), writer and prediction folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cvpipe.builtin.yolo import (
    detect_yolo,
    read_yolo,
    read_yolo_predictions,
    write_yolo,
)
from cvpipe.data import Dataset, Sample
from cvpipe.formats.yolo_text import data_yaml_text
from cvpipe.errors import InputError
from cvpipe.testing import assert_same_dataset, blank_png as png

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ODM = FIXTURES / "review-odm" / "data" / "database"
needs_fixtures = pytest.mark.skipif(not ODM.is_dir(), reason=f"real fixtures not found at {FIXTURES}")


def ultralytics(root: Path, labels: dict[str, str], *, names="[cat, dog]", size=(200, 100), split="train",
                extra_yaml: str = "") -> Path:
    """An Ultralytics dataset: one PNG and (unless the text is None) one label file per entry."""
    for stem, text in labels.items():
        png(root / "images" / split / f"{stem}.png", *size)
        if text is not None:
            lab = root / "labels" / split / f"{stem}.txt"
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text(text)
    (root / "data.yaml").write_text(f"path: {root}\n{split}: images/{split}\nnames: {names}\n{extra_yaml}")
    return root


def test_reads_boxes_in_absolute_xyxy(tmp_path):
    root = ultralytics(tmp_path / "ds", {"a": "1 0.5 0.5 0.2 0.4\n0 0.25 0.75 0.5 0.5\n", "empty": "", "nolabel": None})
    ds = read_yolo(root)
    assert ds.categories == ["cat", "dog"]
    by = {s.id: s for s in ds}
    a = by["a"]
    # dog: cx 0.5*200 = 100, w 0.2*200 = 40 -> x 80..120; cy 0.5*100 = 50, h 40 -> y 30..70
    # cat: cx 50, w 100 -> x 0..100; cy 75, h 50 -> y 50..100
    assert np.allclose(a.boxes, [[80, 30, 120, 70], [0, 50, 100, 100]])
    assert a.labels.tolist() == [1, 0] and a.scores is None and a.split == "train"
    assert (a.width, a.height) == (200, 100) and a.image == "images/train/a.png"
    assert len(by["empty"]) == 0 and len(by["nolabel"]) == 0
    assert detect_yolo(root) and detect_yolo(root / "data.yaml") and not detect_yolo(tmp_path)


def test_names_as_map_and_moved_dataset_path(tmp_path):
    root = ultralytics(tmp_path / "ds", {"a": "2 0.5 0.5 0.5 0.5\n"}, names="{0: cat, 1: dog, 2: 'traffic light'}",
                       split="val")
    text = (root / "data.yaml").read_text().replace(f"path: {root}", "path: /no/such/place")
    (root / "data.yaml").write_text(text)  # a dataset moved since data.yaml was written: its folder is used
    ds = read_yolo(root / "data.yaml")
    assert ds.categories == ["cat", "dog", "traffic light"]
    assert ds.samples[0].labels.tolist() == [2] and ds.samples[0].split == "val"
    (root / "data.yaml").write_text("val: images/val\nnames: {0: cat, 2: dog}\n")
    with pytest.raises(InputError, match="not 0..n-1"):
        read_yolo(root)


def test_confidence_and_polygons(tmp_path):
    root = ultralytics(tmp_path / "ds", {"p": "0 0.1 0.2 0.5 0.2 0.3 0.6\n"})
    s = read_yolo(root).samples[0]
    # polygon (0.1,0.2) (0.5,0.2) (0.3,0.6) -> enclosing box 0.1..0.5 x 0.2..0.6 of 200x100
    assert np.allclose(s.boxes, [[20, 20, 100, 60]])
    assert np.allclose(s.box_extra[0]["segmentation"], [[20, 20, 100, 20, 60, 60]])
    root = ultralytics(tmp_path / "pred", {"a": "1 0.5 0.5 0.2 0.4 0.875\n", "b": ""})
    ds = read_yolo(root)
    assert [s.scores.tolist() for s in ds] == [[0.875], []]


def test_bad_lines_name_file_and_line(tmp_path):
    root = ultralytics(tmp_path / "ds", {
        "a": "0 0.5 0.5 0.2\n"           # wrong number of values
             "1 0.5 zero 0.2 0.2\n"      # not a number
             "0 0.5 0.5 1.2 0.2\n"       # outside [0, 1]
             "7 0.5 0.5 0.2 0.2\n"       # unknown class id
             "x 0.5 0.5 0.2 0.2\n"       # class id not an integer
             "0 0.95 0.5 0.2 0.2\n"      # box reaches outside the image
             "0 0.5 0.5 0.0 0.2\n"       # zero area
             "1 0.5 0.5 0.2 0.2\n",      # fine
    })
    lab = str(root / "labels" / "train" / "a.txt")
    with pytest.raises(InputError) as exc:
        read_yolo(root)
    got = [(p.file, p.line, p.message) for p in exc.value.problems]
    assert got == [
        (lab, 1, "wrong number of values"),
        (lab, 2, "not a number"),
        (lab, 3, "value outside [0, 1]"),
        (lab, 4, "unknown class id"),
        (lab, 5, "class id is not an integer"),
        (lab, 6, "box is outside the image"),
        (lab, 7, "box has zero area"),
    ]
    assert exc.value.problems[2].field == "width" and exc.value.problems[2].value == "1.2"
    assert exc.value.problems[3].value == 7 and "0..1" in exc.value.problems[3].expected
    found = []
    ds = read_yolo(root, problems=found)
    assert len(found) == 7 and ds.samples[0].labels.tolist() == [1]
    assert ds.samples[0].box_origins[0].line == 8


def test_malformed_yaml_and_missing_image(tmp_path):
    root = ultralytics(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n"})
    (root / "data.yaml").write_text("train: images/train\nnames: [cat, dog\n")
    with pytest.raises(InputError) as exc:
        read_yolo(root)
    assert exc.value.problem.file == str(root / "data.yaml") and exc.value.problem.line is not None
    root = ultralytics(tmp_path / "ds2", {"a": "0 0.5 0.5 0.2 0.2\n"})
    (root / "images" / "train" / "a.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="image file not found or unreadable"):
        read_yolo(root)


def test_writer_skips_and_counts_difficult_and_crowd(tmp_path):
    png(tmp_path / "img" / "a.png", 100, 50)
    ds = Dataset(["cat", "dog"], [Sample("a.png", 100, 50, boxes=[[0, 0, 50, 50], [10, 10, 20, 20], [5, 5, 6, 6]],
                                         labels=[0, 1, 1], difficult=[False, True, False], iscrowd=[False, False, True],
                                         split="val")], root=tmp_path / "img")
    report = write_yolo(ds, tmp_path / "out", images="link")
    assert report == {"images": 1, "boxes": 1, "skipped": {"difficult": 1, "crowd": 1}, "files": 3,
                      # issue 11: Ultralytics needs train in data.yaml; the val images stand in, said so
                      "notes": {"no train split: data.yaml's train is the val images (images/val)": 1}}
    assert (tmp_path / "out" / "labels" / "val" / "a.txt").read_text() == "0 0.250000 0.500000 0.500000 1.000000\n"
    assert (tmp_path / "out" / "images" / "val" / "a.png").is_file()
    report = write_yolo(ds, tmp_path / "all", images="none", keep_difficult=True, keep_crowd=True, decimals=3)
    assert report["boxes"] == 3 and report["skipped"] == {"difficult": 0, "crowd": 0}
    assert (tmp_path / "all" / "labels" / "val" / "a.txt").read_text().splitlines()[2] == "1 0.055 0.110 0.010 0.020"


def test_writer_refuses_name_clash_and_leaves_dst(tmp_path):
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    ds = Dataset(["cat"], [Sample("a/x.png", 10, 10, split="train"), Sample("b/x.jpg", 10, 10, split="train")])
    # a/x.png and b/x.jpg keep their folders (they differ there); a clash needs the same stem
    write_yolo(ds, tmp_path / "ok", images="none")
    assert sorted(p.name for p in (tmp_path / "ok" / "labels" / "train").iterdir()) == ["a", "b"]
    clash = Dataset(["cat"], [Sample("x.png", 10, 10, split="train"), Sample("x.jpg", 10, 10, split="train")])
    with pytest.raises(InputError, match="same label file"):
        write_yolo(clash, dst, images="none")
    assert sorted(p.name for p in dst.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok", "out"]


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
                      .filter(lambda s: s.strip() == s), min_size=1, max_size=5, unique=True),
       splits=st.lists(st.sampled_from(["train", "val", "test", "extra"]), min_size=1, max_size=3, unique=True))
def test_data_yaml_reads_back_with_safe_load(names, splits):
    data = yaml.safe_load(data_yaml_text(Path("/data/my set: 1"), splits, names))
    assert data["names"] == dict(enumerate(names)) and data["nc"] == len(names)
    assert data["path"] == "/data/my set: 1"
    assert all(data[s] == f"images/{s}" for s in splits)


def test_predictions_folder_sized_by_reference(tmp_path):
    ref = Dataset(["cat", "dog"], [Sample("a.jpg", 200, 100, id="a", split="val"), Sample("sub/b.jpg", 50, 50, id="b")])
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "a.txt").write_text("1 0.5 0.5 0.2 0.4 0.9\n0 0.25 0.75 0.5 0.5 0.25\n")
    dt = read_yolo_predictions(pred, ref)
    assert dt.categories == ["cat", "dog"] and [s.image for s in dt] == ["a.jpg", "sub/b.jpg"]
    assert np.allclose(dt.samples[0].boxes, [[80, 30, 120, 70], [0, 50, 100, 100]])
    assert dt.samples[0].scores.tolist() == [0.9, 0.25] and dt.samples[0].split == "val"
    assert len(dt.samples[1]) == 0 and dt.samples[1].scores.tolist() == []
    (pred / "zzz.txt").write_text("0 0.5 0.5 0.1 0.1 0.5\n")
    (pred / "b.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputError) as exc:
        read_yolo_predictions(pred, ref)
    msgs = {(Path(p.file).name, p.message) for p in exc.value.problems}
    assert msgs == {("zzz.txt", "prediction file for an unknown image"), ("b.txt", "confidence missing")}


@needs_fixtures
def test_darknet_layout_of_review_odm(tmp_path):
    ds = read_yolo(ODM / "gts" / "yolo_format", images_dir=ODM / "images")
    assert len(ds) == 100 and ds.num_boxes == 273
    names = (ODM / "gts" / "yolo_format" / "obj.names").read_text().split()
    assert ds.categories == names and {s.split for s in ds} == {"train"}
    s = next(s for s in ds if s.id == "2007_000027")
    # 0 0.538066 0.452000 0.360082 0.500000 in 486x500 -> x 174.0..349.0, y 101..351
    assert s.labels.tolist() == [names.index("person")]
    assert np.allclose(s.boxes, [[174, 101, 349, 351]], atol=1e-3)
    # darknet -> Ultralytics -> read back: the same dataset
    write_yolo(ds, tmp_path / "u", images="link", keep_difficult=True)
    assert_same_dataset(ds, read_yolo(tmp_path / "u"), atol=1e-3, check_categories=True)
    assert detect_yolo(ODM / "gts" / "yolo_format")


@needs_fixtures
@pytest.mark.parametrize("where", ["data", "toy"])
def test_prediction_folders_of_review_odm_match_their_absolute_copies(where):
    from cvpipe.builtin.voc import read_voc

    if where == "data":
        gt = read_voc(ODM / "gts" / "pascalvoc_format", images_dir=ODM / "images")
        rel, absolute, names = ODM / "dets" / "rel_xywh", ODM / "dets" / "abs_xyx2y2", None
        atol = 1e-3  # the absolute copy has 6 decimals
    else:
        toy = FIXTURES / "review-odm" / "toyexample"
        gt = read_voc(toy / "gts_vocpascal_format", images_dir=toy / "images")
        rel, absolute = toy / "dets_classid_rel_xcycwh", toy / "dets_classname_abs_xyx2y2"
        names = (toy / "voc.names").read_text().split()
        atol = 0.5 + 1e-3  # the absolute copy is rounded to whole pixels
    dt = read_yolo_predictions(rel, gt, names=names, confidence="second")
    n = 0
    for s in dt:
        f = absolute / (Path(s.image).stem + ".txt")
        rows = [ln.split() for ln in f.read_text().splitlines() if ln.strip()] if f.is_file() else []
        # the absolute copy: class (id or name) confidence x1 y1 x2 y2
        want_names = [r[0] if not r[0].isdigit() else (names or gt.categories)[int(r[0])] for r in rows]
        assert [dt.categories[i] for i in s.labels] == want_names
        assert np.allclose(s.scores, [float(r[1]) for r in rows])
        assert np.allclose(s.boxes, np.array([[float(v) for v in r[2:]] for r in rows]).reshape(-1, 4), atol=atol)
        n += len(rows)
    assert n == dt.num_boxes > 0
