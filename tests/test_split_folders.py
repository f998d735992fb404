"""Split-folder exports (Roboflow's ``train/``, ``valid/``, ``test/``, each a dataset of its own):
read as one dataset with those splits, detected without ``--from``. The files are hand-written in
the layout Roboflow documents (datumaro's "Roboflow" format page describes the same trees)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cvpipe.cli import main
from cvpipe.errors import InputError
from cvpipe.formats import detect_format, read_dataset, validate_dataset
from cvpipe.formats.split_folders import split_folders
from cvpipe.testing import blank_png

# Roboflow's COCO export: category 0 is the project (the other categories' supercategory),
# image and annotation ids start at 0 in every split file
_CATS = [{"id": 0, "name": "pets", "supercategory": "none"},
         {"id": 1, "name": "cat", "supercategory": "pets"},
         {"id": 2, "name": "dog", "supercategory": "pets"}]


def _roboflow_coco(root: Path, splits: dict[str, list[tuple[str, list[tuple[int, list[float]]]]]]) -> Path:
    """``root/<folder>/_annotations.coco.json`` + PNG images beside it, per split folder."""
    for folder, images in splits.items():
        d = root / folder
        d.mkdir(parents=True)
        imgs, anns = [], []
        for i, (name, boxes) in enumerate(images):
            blank_png(d / name, 64, 48)
            imgs.append({"id": i, "license": 1, "file_name": name, "height": 48, "width": 64,
                         "date_captured": "2024-01-01T00:00:00+00:00"})
            for cat, bbox in boxes:
                anns.append({"id": len(anns), "image_id": i, "category_id": cat, "bbox": bbox,
                             "area": bbox[2] * bbox[3], "segmentation": [], "iscrowd": 0})
        (d / "_annotations.coco.json").write_text(json.dumps({
            "info": {"year": "2024", "version": "1", "description": "Exported from roboflow.com"},
            "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
            "categories": _CATS, "images": imgs, "annotations": anns}))
    (root / "README.roboflow.txt").write_text("exported from roboflow.com\n")
    return root


def _voc_xml(name: str, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    objs = "".join(f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
                   f"<occluded>0</occluded><bndbox><xmin>{b[0]}</xmin><xmax>{b[2]}</xmax><ymin>{b[1]}</ymin>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    return (f"<annotation><folder></folder><filename>{name}</filename><path>{name}</path>"
            "<source><database>roboflow.com</database></source>"
            f"<size><width>64</width><height>48</height><depth>3</depth></size><segmented>0</segmented>{objs}</annotation>")


def _roboflow_voc(root: Path) -> Path:
    for folder, stem, objects in (("train", "a_jpg.rf.1", [("cat", (1, 2, 30, 40))]),
                                  ("train", "b_jpg.rf.2", [("dog", (5, 5, 20, 20))]),
                                  ("valid", "c_jpg.rf.3", [("cat", (0, 0, 10, 10)), ("dog", (10, 10, 60, 40))]),
                                  ("test", "d_jpg.rf.4", [])):
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        blank_png(d / f"{stem}.png", 64, 48)
        (d / f"{stem}.xml").write_text(_voc_xml(f"{stem}.png", objects))
    return root


@pytest.fixture
def coco_export(tmp_path):
    return _roboflow_coco(tmp_path / "export", {
        "train": [("a.png", [(1, [1, 2, 29, 38]), (2, [5, 5, 15, 15])]), ("b.png", [(2, [0, 0, 10, 10])])],
        "valid": [("c.png", [(1, [3, 3, 20, 20])])],
        "test": [("d.png", [])],
    })


def test_split_folder_names_map_to_split_names(tmp_path):
    for name in ("train", "Valid", "test", "other", "images"):
        (tmp_path / name).mkdir()
    assert [(s, f.name) for s, f in split_folders(tmp_path)] == [("train", "train"), ("val", "Valid"),
                                                                 ("test", "test")]


def test_roboflow_coco_reads_as_one_dataset_with_splits(coco_export):
    assert detect_format(coco_export) == "coco"
    ds = read_dataset(coco_export)
    assert [(s.image, s.split) for s in ds] == [("train/a.png", "train"), ("train/b.png", "train"),
                                                ("valid/c.png", "val"), ("test/d.png", "test")]
    assert ds.categories == ["pets", "cat", "dog"]
    assert [ds.categories[k] for k in ds.samples[0].labels] == ["cat", "dog"]
    np.testing.assert_array_equal(ds.samples[0].boxes, [[1, 2, 30, 40], [5, 5, 20, 20]])
    assert [s.id for s in ds] == [0, 1, 0, 0]  # every split file numbers its images from 0
    assert ds.meta["split_folders"] == {"train": "train", "valid": "val", "test": "test"}
    assert ds.meta["coco"]["categories"] == _CATS  # once, not once per split file
    assert ds.image_path(ds.samples[2]).is_file()
    result = validate_dataset(coco_export)
    assert result["ok"], [str(p) for p in result["problems"]]


def test_split_option_takes_folder_or_split_name(coco_export):
    assert [s.image for s in read_dataset(coco_export, splits=["valid"])] == ["valid/c.png"]
    assert [s.image for s in read_dataset(coco_export, splits=["val", "test"])] == ["valid/c.png", "test/d.png"]
    with pytest.raises(InputError, match="split not found"):
        read_dataset(coco_export, splits=["holdout"])


def test_roboflow_coco_converts_to_yolo_and_voc(coco_export, tmp_path):
    out = tmp_path / "yolo"
    assert main(["convert", str(coco_export), str(out), "--to", "yolo"]) == 0
    assert sorted(p.relative_to(out / "labels").as_posix() for p in (out / "labels").rglob("*.txt")) == [
        "test/d.txt", "train/a.txt", "train/b.txt", "val/c.txt"]
    assert main(["convert", str(coco_export), str(tmp_path / "voc"), "--to", "voc"]) == 0
    assert sorted(p.name for p in (tmp_path / "voc" / "ImageSets" / "Main").glob("*.txt")) == [
        "test.txt", "train.txt", "val.txt"]


def test_roboflow_voc_reads_as_one_dataset_with_splits(tmp_path):
    root = _roboflow_voc(tmp_path / "voc-export")
    assert detect_format(root) == "voc"
    ds = read_dataset(root)
    assert [(s.image, s.split) for s in ds] == [("train/a_jpg.rf.1.png", "train"), ("train/b_jpg.rf.2.png", "train"),
                                                ("valid/c_jpg.rf.3.png", "val"), ("test/d_jpg.rf.4.png", "test")]
    assert ds.categories == ["cat", "dog"]
    assert ds.num_boxes == 4
    assert validate_dataset(root)["ok"]
    out = tmp_path / "coco"
    assert main(["convert", str(root), str(out), "--to", "coco"]) == 0
    assert sorted(p.name for p in (out / "annotations").iterdir()) == [
        "instances_test.json", "instances_train.json", "instances_val.json"]


def test_roboflow_voc_converts_to_yolo_through_the_general_path(tmp_path):
    """The direct VOC -> YOLO converter reads one layout; a split-folder export takes the general path."""
    root = _roboflow_voc(tmp_path / "voc-export")
    out = tmp_path / "yolo"
    assert main(["convert", str(root), str(out), "--to", "yolo"]) == 0
    assert (out / "labels" / "val" / "c_jpg.rf.3.txt").read_text().count("\n") == 2
    assert (out / "images" / "test" / "d_jpg.rf.4.png").is_file()


def test_a_problem_in_one_split_is_named_with_its_file(coco_export):
    f = coco_export / "valid" / "_annotations.coco.json"
    data = json.loads(f.read_text())
    data["annotations"][0]["bbox"] = [3, 3, -20, 20]
    f.write_text(json.dumps(data))
    result = validate_dataset(coco_export)
    assert not result["ok"]
    assert all(p.file == str(f) for p in result["problems"]), [str(p) for p in result["problems"]]


def test_a_split_folder_of_another_format_is_a_problem(coco_export):
    (coco_export / "test" / "_annotations.coco.json").unlink()
    (coco_export / "test" / "d.xml").write_text(_voc_xml("d.png", []))
    with pytest.raises(InputError, match="split folder does not hold the dataset's format") as exc:
        read_dataset(coco_export, "coco")
    assert exc.value.problems[0].file == str(coco_export / "test")
    (coco_export / "test" / "d.xml").unlink()  # a split folder of nothing is not dropped silently either
    assert detect_format(coco_export) == "coco"
    result = validate_dataset(coco_export)
    assert [p.message for p in result["problems"]] == ["split folder does not hold the dataset's format"]
    assert result["images"] == 3


def test_split_folders_of_different_formats_are_refused_by_detection(tmp_path):
    _roboflow_coco(tmp_path / "mixed", {"train": [("a.png", [])]})
    (tmp_path / "mixed" / "valid").mkdir()
    blank_png(tmp_path / "mixed" / "valid" / "c.png", 64, 48)
    (tmp_path / "mixed" / "valid" / "c.xml").write_text(_voc_xml("c.png", []))
    with pytest.raises(InputError, match="split folders hold different formats") as exc:
        detect_format(tmp_path / "mixed")
    assert "train: coco" in str(exc.value) and "valid: voc" in str(exc.value)


def test_a_format_reading_its_own_split_folders_is_left_alone(tmp_path):
    """A folder the format's detect accepts as it is (COCO's annotations/instances_*.json) is not
    split-folder read even when it has a train/ folder (its images)."""
    from cvpipe.testing import make_dataset

    from cvpipe.formats import write_dataset

    ds = make_dataset(n_images=3)
    for s, split in zip(ds.samples, ("train", "train", "val")):
        s.split = split
    write_dataset(ds, tmp_path / "coco", "coco", images="none")
    (tmp_path / "coco" / "train").mkdir()
    assert [s.split for s in read_dataset(tmp_path / "coco")] == ["train", "train", "val"]


def test_meta_of_the_split_folders_merges_and_adds_up_notes():
    from cvpipe.formats.split_folders import merge_meta

    a = {"format": "voc", "notes": {"image without XML": 2}, "coco": {"categories": [1, 2], "top": {"info": "a"}}}
    b = {"format": "voc", "notes": {"image without XML": 1, "clipped": 4}, "coco": {"categories": [2, 3],
                                                                                     "top": {"info": "b"}}}
    assert merge_meta([a, b]) == {"format": "voc", "coco": {"categories": [1, 2, 3], "top": {"info": "a"}},
                                  "notes": {"image without XML": 3, "clipped": 4}}


def test_split_folders_of_a_sharded_format_convert_alike_on_an_executor(tmp_path):
    """A format that reads in parts (parquet) kept as split folders: `--executor` reads the
    export whole, as one process does, instead of planning the top folder."""
    from cvpipe.formats import write_dataset
    from cvpipe.testing import make_dataset

    root = tmp_path / "export"
    for split, seed in (("train", 1), ("valid", 2)):
        write_dataset(make_dataset(3, boxes_per_image=2, seed=seed, unicode_names=False), root / split, "parquet",
                      images="none")
    assert detect_format(root) == "parquet"
    trees = []
    for label, more in (("plain", []), ("local", ["--executor", "local"])):
        out = tmp_path / label
        assert main(["convert", str(root), str(out), "--to", "coco", "--images", "none", "-q", *more]) == 0
        trees.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert trees[0] == trees[1]
    assert sorted(trees[0]) == ["annotations/instances_train.json", "annotations/instances_val.json"]
