"""YOLO as other tools write and read it (issue 11): darknet's obj.names, Ultralytics' data.yaml
path rules, Roboflow exports, shared split folders, Ultralytics' tolerances and nc rules, pose and
OBB labels, and what cvpipe writes checked against Ultralytics' documented ``check_det_dataset``
rules. Every dataset here is hand-written in the layout the other tool documents."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from cvpipe.builtin.yolo import detect_yolo, read_yolo, write_yolo
from cvpipe.builtin.yolo.layout import NOTE_NAMES_FROM_IDS, NOTE_PATH_NOT_FOUND, NOTE_ROBOFLOW_PARENT
from cvpipe.builtin.yolo.reader import NOTE_CLIPPED, NOTE_OBB
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError
from cvpipe.formats import convert_dataset, detect_format, validate_dataset
from cvpipe.formats.yolo_text import NOTE_NC_WITHOUT_NAMES, stand_in_notes
from cvpipe.testing import blank_png as png

IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


def put(root: Path, files: dict[str, str | tuple[int, int]]) -> Path:
    """Write ``files`` below ``root``: text for ``.txt``/``.yaml``/... names, a PNG of the given
    ``(width, height)`` for image names."""
    for rel, v in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(v, tuple):
            png(p, *v)
        else:
            p.write_text(v, encoding="utf-8")
    return root


# ---------------------------------------------------------------------------------------------
# Ultralytics' check_det_dataset rules, as its documentation states them (written here, not copied)
# ---------------------------------------------------------------------------------------------


def _img2label(img: Path) -> Path:
    """Ultralytics' documented rule: the last ``/images/`` of the path becomes ``/labels/`` and
    the suffix ``.txt``."""
    s = img.as_posix()
    i = s.rfind("/images/")
    assert i >= 0, f"{img} is not below an images/ folder: Ultralytics finds no labels for it"
    return Path(s[:i] + "/labels/" + s[i + len("/images/"):]).with_suffix(".txt")


def check_det_dataset_rules(yaml_file: Path) -> dict:
    """What Ultralytics requires of a detection data.yaml (its docs and ``check_det_dataset``):
    ``train`` and ``val`` keys, ``names`` (or ``nc``) with ``len(names) == nc``, split paths that
    exist below ``path`` (``../x`` tried as ``x`` when absent), a label file for every image at
    ``img2label_paths`` (images/ -> labels/), label lines with ``5`` values (``5 + k*d`` with
    ``kpt_shape: [k, d]``, ``9`` for oriented boxes) normalised to [0, 1], class ids < nc."""
    data = yaml.safe_load(yaml_file.read_text())
    for k in ("train", "val"):
        assert k in data, f"'{k}:' key missing: 'train' and 'val' are required in all data YAMLs"
    assert "names" in data or "nc" in data, "either 'names' or 'nc' is required"
    names = data.get("names")
    if isinstance(names, dict):
        assert sorted(names) == list(range(len(names))), "names ids must be 0..n-1"
    nc = data.get("nc", len(names))
    if names is not None:
        assert len(names) == nc, f"'names' length {len(names)} and 'nc: {nc}' must match"
    path = Path(data.get("path") or yaml_file.parent)
    assert path.is_absolute(), "a relative path is taken below Ultralytics' DATASETS_DIR"
    kpt = data.get("kpt_shape")
    counts = []
    for k in ("train", "val", "test"):
        if not data.get(k):
            continue
        for v in data[k] if isinstance(data[k], list) else [data[k]]:
            x = path / v
            if not x.exists() and v.startswith("../"):
                x = path / v[3:]
            assert x.exists(), f"{k}: {x} not found"
            images = sorted(p for p in x.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            assert images, f"{k}: no images in {x}"
            for img in images:
                lab = _img2label(img)
                assert lab.is_file(), f"no label file {lab} for {img}"
                for line in lab.read_text().splitlines():
                    tok = line.split()
                    want = {5 + kpt[0] * kpt[1]} if kpt else {5, 9}
                    assert len(tok) in want, f"{lab}: {len(tok)} values, expected {want}"
                    assert 0 <= int(tok[0]) < nc, f"{lab}: class {tok[0]} >= nc {nc}"
                    vals = [float(t) for t in tok[1:]]
                    coords = vals if not kpt or kpt[1] == 2 else \
                        vals[:4] + [v for j, v in enumerate(vals[4:]) if j % 3 != 2]
                    assert all(0.0 <= c <= 1.0 for c in coords), f"{lab}: values outside [0, 1]: {line}"
            counts.append((k, len(images)))
    return {"data": data, "images": dict(counts)}


# ---------------------------------------------------------------------------------------------
# darknet: obj.names without obj.data
# ---------------------------------------------------------------------------------------------


def test_obj_names_without_obj_data_labels_beside_the_images(tmp_path):
    # AlexeyAB/darknet's "data/obj/" folder: img1.jpg next to img1.txt, classes in obj.names
    root = put(tmp_path / "dk", {"obj.names": "car\nbike\n", "data/obj/img1.png": (100, 50),
                                 "data/obj/img1.txt": "1 0.5 0.5 0.2 0.4\n", "data/obj/img2.png": (100, 50)})
    assert detect_format(root) == "yolo"
    ds = read_yolo(root)
    assert ds.categories == ["car", "bike"] and [s.id for s in ds] == ["img1", "img2"]
    assert np.allclose(ds.samples[0].boxes, [[40, 15, 60, 35]]) and ds.samples[0].labels.tolist() == [1]
    assert len(ds.samples[1]) == 0 and validate_dataset(root)["problems"] == []


def test_obj_names_without_obj_data_labels_in_labels_folder(tmp_path):
    root = put(tmp_path / "dk", {"obj.names": "car\n", "images/a.png": (100, 50), "labels/a.txt": "0 0.5 0.5 0.2 0.4\n"})
    ds = read_yolo(root)
    assert [(s.image, len(s)) for s in ds] == [("images/a.png", 1)]
    with pytest.raises(InputError, match="split lists need obj.data"):
        read_yolo(root, splits=["train"])


# ---------------------------------------------------------------------------------------------
# data.yaml paths, as Ultralytics resolves them
# ---------------------------------------------------------------------------------------------


def test_path_key_relative_to_the_yaml_and_split_paths_relative_to_it(tmp_path):
    put(tmp_path, {"cfg/data.yaml": "path: ../sets/coco8\ntrain: images/train\nval: images/val\nnames: [person]\n",
                   "sets/coco8/images/train/a.png": (64, 32), "sets/coco8/labels/train/a.txt": "0 0.5 0.5 0.5 0.5\n",
                   "sets/coco8/images/val/b.png": (64, 32), "sets/coco8/labels/val/b.txt": ""})
    ds = read_yolo(tmp_path / "cfg" / "data.yaml")
    assert ds.root == tmp_path / "cfg" / ".." / "sets" / "coco8"
    assert [(s.split, s.image) for s in ds] == [("train", "images/train/a.png"), ("val", "images/val/b.png")]
    assert "notes" not in ds.meta


def test_path_key_that_does_not_exist_falls_back_to_the_yaml_folder_and_says_so(tmp_path):
    put(tmp_path, {"data.yaml": "path: /nowhere/coco8\ntrain: images/train\nnames: [person]\n",
                   "images/train/a.png": (64, 32), "labels/train/a.txt": "0 0.5 0.5 0.5 0.5\n"})
    ds = read_yolo(tmp_path)
    assert len(ds) == 1 and ds.meta["notes"] == {NOTE_PATH_NOT_FOUND: 1}
    assert validate_dataset(tmp_path)["notes"] == {NOTE_PATH_NOT_FOUND: 1}


ROBOFLOW_YAML = """train: ../train/images
val: ../valid/images
test: ../test/images

nc: 2
names: ['helmet', 'head']

roboflow:
  workspace: demo
  project: hard-hats
  version: 3
  license: CC BY 4.0
  url: https://universe.roboflow.com/demo/hard-hats/dataset/3
"""


def roboflow_export(root: Path, with_yaml: bool = True) -> Path:
    files: dict = {"README.roboflow.txt": "exported from roboflow.com\n"}
    if with_yaml:
        files["data.yaml"] = ROBOFLOW_YAML
    for split, stems in (("train", ["t1", "t2"]), ("valid", ["v1"]), ("test", ["x1"])):
        for stem in stems:
            files[f"{split}/images/{stem}_jpg.rf.0a1b.png"] = (80, 60)
            files[f"{split}/labels/{stem}_jpg.rf.0a1b.txt"] = "1 0.5 0.5 0.25 0.5\n0 0.2 0.2 0.1 0.1\n"
    return put(root, files)


def test_roboflow_data_yaml_parent_paths_read_as_the_folders_beside_it(tmp_path):
    root = roboflow_export(tmp_path / "hard-hats.v3i.yolov8")
    assert detect_format(root) == "yolo"
    ds = read_yolo(root)
    assert ds.categories == ["helmet", "head"]
    assert sorted({s.split for s in ds}) == ["test", "train", "val"] and len(ds) == 4 and ds.num_boxes == 8
    assert ds.meta["notes"] == {NOTE_ROBOFLOW_PARENT: 3}  # train, val and test each resolved so
    rep = convert_dataset(root, tmp_path / "coco", "coco")
    assert rep["notes"] == {NOTE_ROBOFLOW_PARENT: 3} and rep["images"] == 4


def test_roboflow_parent_path_taken_as_written_when_it_exists(tmp_path):
    # data.yaml kept in a sub-folder: "../train/images" exists as written; Ultralytics takes it
    root = roboflow_export(tmp_path / "export", with_yaml=False)
    put(root, {"cfg/data.yaml": ROBOFLOW_YAML})
    ds = read_yolo(root / "cfg" / "data.yaml")
    assert len(ds) == 4 and "notes" not in ds.meta


def test_roboflow_split_folders_without_data_yaml_detected_without_from(tmp_path):
    root = roboflow_export(tmp_path / "export", with_yaml=False)
    assert detect_yolo(root) and detect_format(root) == "yolo"
    ds = read_yolo(root)
    assert [s.split for s in ds] == ["train", "train", "valid", "test"]
    assert ds.categories == ["class_0", "class_1"] and ds.meta["notes"] == {NOTE_NAMES_FROM_IDS: 2}
    # with a names file (Roboflow's darknet export writes _darknet.labels) the names are known
    put(root, {"train/_darknet.labels": "helmet\nhead\n"})
    assert read_yolo(root).categories == ["helmet", "head"]
    assert [s.split for s in read_yolo(root, splits=["valid"])] == ["valid"]
    # written back: valid becomes data.yaml's val (Ultralytics needs one), said in the report
    rep = convert_dataset(root, tmp_path / "yolo", "yolo")
    assert rep["notes"] == {"no val split: data.yaml's val is the valid images (images/valid)": 1}
    checked = check_det_dataset_rules(tmp_path / "yolo" / "data.yaml")
    assert checked["data"]["val"] == "images/valid" and checked["images"] == {"train": 2, "val": 1, "test": 1}
    assert sorted(s.split for s in read_yolo(tmp_path / "yolo")) == ["test", "train", "train", "valid"]


# ---------------------------------------------------------------------------------------------
# Two splits sharing one folder (Ultralytics' VOC.yaml: val and test are the same images)
# ---------------------------------------------------------------------------------------------


def test_val_and_test_sharing_a_folder_put_each_image_in_both_splits(tmp_path):
    put(tmp_path / "VOC", {
        "VOC.yaml": ("path: .\ntrain:\n  - images/train2012\n  - images/val2012\nval:\n  - images/test2007\n"
                     "test:\n  - images/test2007\nnames:\n  0: aeroplane\n  1: bicycle\n"),
        "images/train2012/a.png": (50, 40), "labels/train2012/a.txt": "0 0.5 0.5 0.2 0.2\n",
        "images/val2012/b.png": (50, 40), "labels/val2012/b.txt": "1 0.5 0.5 0.2 0.2\n",
        "images/test2007/c.png": (50, 40), "labels/test2007/c.txt": "1 0.4 0.4 0.2 0.2\n"})
    ds = read_yolo(tmp_path / "VOC" / "VOC.yaml")
    assert [(s.split, s.id) for s in ds] == [("train", "a"), ("train", "b"), ("val", "c"), ("test", "c")]
    assert validate_dataset(tmp_path / "VOC" / "VOC.yaml")["problems"] == []  # not a duplicate image
    convert_dataset(tmp_path / "VOC" / "VOC.yaml", tmp_path / "yolo", "yolo")
    checked = check_det_dataset_rules(tmp_path / "yolo" / "data.yaml")
    assert checked["images"] == {"train": 2, "val": 1, "test": 1}
    rep = convert_dataset(tmp_path / "VOC" / "VOC.yaml", tmp_path / "voc", "voc")
    assert rep["images"] == 3 and rep["notes"] == {"images in more than one split written once, listed in each "
                                                   "split list": 1}
    main = tmp_path / "voc" / "ImageSets" / "Main"
    assert (main / "val.txt").read_text() == "c\n" == (main / "test.txt").read_text()
    rep = convert_dataset(tmp_path / "VOC" / "VOC.yaml", tmp_path / "coco", "coco")
    assert rep["images"] == 4  # one entry per split file


# ---------------------------------------------------------------------------------------------
# Tolerances and nc
# ---------------------------------------------------------------------------------------------


def ultra(root: Path, labels: dict[str, str], yaml_text: str = "names: [cat, dog]\n", size=(200, 100)) -> Path:
    files: dict = {"data.yaml": f"path: {root}\ntrain: images/train\n{yaml_text}"}
    for stem, text in labels.items():
        files[f"images/train/{stem}.png"] = size
        files[f"labels/train/{stem}.txt"] = text
    return put(root, files)


def test_values_up_to_one_percent_outside_are_clipped_and_counted(tmp_path, capsys):
    from cvpipe.cli import main

    root = ultra(tmp_path / "ds", {"a": "0 0.5 0.5 1.008 0.5\n1 0.096 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n",
                                   "b": "1 0.1 0.1 0.2000001 0.2\n"})  # b: the file's rounding, not a clip
    ds = read_yolo(root)
    a = next(s for s in ds if s.id == "a")
    assert np.allclose(a.boxes, [[0, 25, 200, 75], [0, 40, 39.2, 60], [80, 40, 120, 60]])
    assert ds.meta["notes"] == {NOTE_CLIPPED: 2}
    capsys.readouterr()
    main(["convert", str(root), str(tmp_path / "out"), "--to", "coco", "-q"])
    assert f"note: {NOTE_CLIPPED}: 2" in capsys.readouterr().out
    # more than 1% outside: the existing error, file and line named
    bad = ultra(tmp_path / "bad", {"a": "0 0.5 0.5 0.2 0.2\n0 1.02 0.5 0.2 0.2\n0 0.5 0.5 1.05 0.2\n"})
    problems: list = []
    read_yolo(bad, problems=problems)
    assert [(p.message, p.line) for p in problems] == [("value outside [0, 1]", 2), ("value outside [0, 1]", 3)]
    assert problems[0].field == "x_center" and "clipped" in problems[0].hint


def test_nc_without_names_names_the_classes(tmp_path):
    root = ultra(tmp_path / "ds", {"a": "2 0.5 0.5 0.2 0.2\n"}, yaml_text="nc: 3\n")
    ds = read_yolo(root)
    assert ds.categories == ["class_0", "class_1", "class_2"] and ds.samples[0].labels.tolist() == [2]
    assert ds.meta["notes"] == {NOTE_NC_WITHOUT_NAMES: 3}


def test_nc_disagreeing_with_names_is_an_error_naming_both(tmp_path):
    root = ultra(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n"}, yaml_text="nc: 3\nnames: [cat, dog]\n")
    with pytest.raises(InputError) as err:
        read_yolo(root)
    p = err.value.problems[0]
    assert (p.message, p.field, p.value) == ("nc disagrees with names", "nc", 3)
    assert "2, the number of names (cat, dog)" in p.expected and p.file.endswith("data.yaml")
    with pytest.raises(InputError, match="nc is not a class count"):
        read_yolo(ultra(tmp_path / "ds2", {"a": ""}, yaml_text="nc: two\n"))


# ---------------------------------------------------------------------------------------------
# Pose and oriented boxes
# ---------------------------------------------------------------------------------------------

POSE = ("0 0.500000 0.500000 0.400000 0.600000 0.450000 0.300000 2.000000 0.550000 0.300000 1.000000 "
        "0.000000 0.000000 0.000000\n")


def test_pose_labels_read_as_box_plus_keypoints_and_written_back_exactly(tmp_path):
    root = ultra(tmp_path / "pose", {"p": POSE}, yaml_text="kpt_shape: [3, 3]\nflip_idx: [1, 0, 2]\nnames: [person]\n")
    ds = read_yolo(root)
    s = ds.samples[0]
    assert np.allclose(s.boxes, [[60, 20, 140, 80]])  # the box, never the enclosing box of a "polygon"
    assert "segmentation" not in s.box_extra[0]
    assert np.allclose(s.box_extra[0]["keypoints"], [90, 30, 2, 110, 30, 1, 0, 0, 0])
    write_yolo(ds, tmp_path / "out")
    assert (tmp_path / "out" / "labels" / "train" / "p.txt").read_text() == POSE
    checked = check_det_dataset_rules(tmp_path / "out" / "data.yaml")
    assert checked["data"]["kpt_shape"] == [3, 3] and checked["data"]["flip_idx"] == [1, 0, 2]
    # a line with the wrong number of values names kpt_shape
    bad = ultra(tmp_path / "bad", {"p": "0 0.5 0.5 0.4 0.6 0.45 0.3\n"}, yaml_text="kpt_shape: [3, 3]\nnames: [person]\n")
    with pytest.raises(InputError, match=r"kpt_shape \[3, 3\]"):
        read_yolo(bad)
    with pytest.raises(InputError, match="bad kpt_shape"):
        read_yolo(ultra(tmp_path / "bad2", {"p": ""}, yaml_text="kpt_shape: [3, 4]\nnames: [person]\n"))


OBB = "0 0.100000 0.200000 0.500000 0.100000 0.600000 0.500000 0.200000 0.600000\n"


def test_oriented_boxes_read_as_their_enclosing_box_and_written_back_exactly(tmp_path):
    # DOTA as Ultralytics' OBB format: class x1 y1 x2 y2 x3 y3 x4 y4, normalised
    root = ultra(tmp_path / "dota", {"P0001": OBB, "P0002": ""}, yaml_text="names: [plane]\n", size=(1000, 500))
    ds = read_yolo(root)
    s = next(s for s in ds if s.id == "P0001")
    assert np.allclose(s.boxes, [[100, 50, 600, 300]])
    assert np.allclose(s.box_extra[0]["obb"], [100, 100, 500, 50, 600, 250, 200, 300])
    assert "segmentation" not in s.box_extra[0] and ds.meta["notes"] == {NOTE_OBB: 1}
    write_yolo(ds, tmp_path / "out")
    assert (tmp_path / "out" / "labels" / "train" / "P0001.txt").read_text() == OBB
    assert (tmp_path / "out" / "labels" / "train" / "P0002.txt").read_text() == ""
    check_det_dataset_rules(tmp_path / "out" / "data.yaml")
    # with a polygon of more points in the dataset, 4-point lines are polygons too (segments)
    seg = ultra(tmp_path / "seg", {"a": OBB, "b": "0 0.1 0.1 0.5 0.1 0.5 0.5 0.3 0.6 0.1 0.5\n"},
                yaml_text="names: [plane]\n", size=(1000, 500))
    ds = read_yolo(seg)
    assert all("segmentation" in ex and "obb" not in ex for s in ds for ex in s.box_extra)
    assert "notes" not in ds.meta


# ---------------------------------------------------------------------------------------------
# Writing: data.yaml always has train and val
# ---------------------------------------------------------------------------------------------


def test_written_data_yaml_has_val_and_passes_ultralytics_rules(tmp_path):
    png(tmp_path / "src" / "a.png", 40, 30)
    png(tmp_path / "src" / "b.png", 40, 30)
    ds = Dataset(["cat", "dog"], [Sample("a.png", 40, 30, [[1, 2, 10, 20]], [1]), Sample("b.png", 40, 30)],
                 root=tmp_path / "src")
    rep = write_yolo(ds, tmp_path / "out")
    note = "no val split: data.yaml's val is the training images (images/train)"
    assert rep["notes"] == {note: 2}
    checked = check_det_dataset_rules(tmp_path / "out" / "data.yaml")
    assert checked["data"]["val"] == checked["data"]["train"] == "images/train"
    assert checked["images"] == {"train": 2, "val": 2}
    back = read_yolo(tmp_path / "out")  # cvpipe reads the stand-in val once, as train
    assert [s.split for s in back] == ["train", "train"]
    # with a val split nothing is said
    ds.samples[1].split, ds.samples[0].split = "val", "train"
    rep = write_yolo(ds, tmp_path / "out2")
    assert "notes" not in rep and check_det_dataset_rules(tmp_path / "out2" / "data.yaml")["images"] == \
        {"train": 1, "val": 1}


def test_direct_converters_write_val_and_say_so(tmp_path):
    from cvpipe.builtin.coco import write_coco
    from cvpipe.builtin.voc import write_voc

    png(tmp_path / "src" / "a.png", 40, 30)
    ds = Dataset(["cat"], [Sample("a.png", 40, 30, [[1, 2, 10, 20]], [0])], root=tmp_path / "src")
    write_voc(ds, tmp_path / "voc")
    write_coco(ds, tmp_path / "coco")
    for fmt, split in (("voc", "train"), ("coco", "default")):  # COCO names a file without split "default"
        for direct in (True, False):
            out = tmp_path / f"{fmt}-{direct}"
            rep = convert_dataset(tmp_path / fmt, out, "yolo", direct=direct)
            assert rep["notes"] == stand_in_notes([split], lambda s: 1), (fmt, direct)
            data = check_det_dataset_rules(out / "data.yaml")["data"]
            assert data["val"] == data["train"] == f"images/{split}"
            assert [s.split for s in read_yolo(out)] == [split]


def test_keypoints_missing_on_some_boxes_are_written_as_not_labelled(tmp_path):
    png(tmp_path / "src" / "a.png", 40, 30)
    ds = Dataset(["person"], [Sample("a.png", 40, 30, [[4, 3, 20, 15], [1, 1, 5, 5]], [0, 0],
                                     box_extra=[{"keypoints": [10.0, 6.0, 2.0]}, {}])],
                 root=tmp_path / "src", meta={"yolo": {"kpt_shape": [1, 3]}})
    rep = write_yolo(ds, tmp_path / "out")
    assert rep["notes"]["boxes without keypoints in a pose dataset: keypoints written as 0 (not labelled)"] == 1
    lines = (tmp_path / "out" / "labels" / "train" / "a.txt").read_text().splitlines()
    assert lines[0].endswith(" 0.250000 0.200000 2.000000") and lines[1].endswith(" 0.000000 0.000000 0.000000")
    assert check_det_dataset_rules(tmp_path / "out" / "data.yaml")["data"]["kpt_shape"] == [1, 3]


def test_oriented_box_whose_box_changed_is_written_as_its_box(tmp_path):
    png(tmp_path / "src" / "a.png", 100, 100)
    ds = Dataset(["plane"], [Sample("a.png", 100, 100, [[10, 10, 50, 50]], [0],
                                    box_extra=[{"obb": [0.0, 0.0, 90.0, 0.0, 90.0, 90.0, 0.0, 90.0]}])],
                 root=tmp_path / "src")
    rep = write_yolo(ds, tmp_path / "out")
    assert rep["notes"]["oriented boxes whose box changed since reading: written as their axis-aligned corners"] == 1
    text = (tmp_path / "out" / "labels" / "train" / "a.txt").read_text()
    assert text == "0 0.100000 0.100000 0.500000 0.100000 0.500000 0.500000 0.100000 0.500000\n"
    assert os.path.isfile(tmp_path / "out" / "data.yaml")


# ---------------------------------------------------------------------------------------------
# Property: what cvpipe reads from a pose, OBB or box dataset it writes back line for line
# ---------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_six = st.integers(0, 10**6).map(lambda i: i / 10**6)


@st.composite
def _label_line(draw, kind: str) -> str:
    cls = draw(st.integers(0, 2))
    if kind == "obb":
        cx, cy = draw(st.integers(300000, 700000)), draw(st.integers(300000, 700000))
        dx, dy = draw(st.integers(1000, 200000)), draw(st.integers(1000, 200000))
        skew = draw(st.integers(0, 1000))
        pts = [cx - dx, cy - dy + skew, cx + dx - skew, cy - dy, cx + dx, cy + dy - skew, cx - dx + skew, cy + dy]
        return f"{cls} " + " ".join(f"{p / 10**6:.6f}" for p in pts)
    cx, cy = draw(st.integers(200000, 800000)), draw(st.integers(200000, 800000))
    w, h = draw(st.integers(1000, 390000)), draw(st.integers(1000, 390000))
    line = f"{cls} {cx / 10**6:.6f} {cy / 10**6:.6f} {w / 10**6:.6f} {h / 10**6:.6f}"
    if kind == "pose":
        for _ in range(2):
            line += f" {draw(_six):.6f} {draw(_six):.6f} {draw(st.sampled_from([0, 1, 2])):.6f}"
    return line


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["box", "pose", "obb"]), data=st.data(),
       size=st.sampled_from([(640, 480), (333, 517), (1000, 1000)]))
def test_yolo_round_trip_writes_back_every_line(tmp_path_factory, kind, data, size):
    root = tmp_path_factory.mktemp("rt")
    lines = {f"im{i}": "".join(data.draw(_label_line(kind)) + "\n" for _ in range(data.draw(st.integers(0, 3))))
             for i in range(3)}
    extra = "kpt_shape: [2, 3]\n" if kind == "pose" else ""
    src = ultra(root / "src", lines, yaml_text=f"{extra}names: [a, b, c]\n", size=size)
    ds = read_yolo(src)
    write_yolo(ds, root / "out", images="none", keep_difficult=True)
    for stem, text in lines.items():
        assert (root / "out" / "labels" / "train" / f"{stem}.txt").read_text() == text, stem
