"""COCO as other tools write and read it (issue 11), on hand-written files in the style of
their documentation: records without ``width``/``height``, image ids written both as ``"2299"``
and 2299, detections of a category the ground truth does not have (pycocotools leaves them
out), and the COCO writer's integer image ids loaded by pycocotools and faster-coco-eval."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.builtin.coco import read_coco, read_coco_results, write_coco
from cvpipe.cli import main
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError
from test_coco import json_line


def _json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def _image(path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 30)).save(path)


# -- sizes from the image headers --------------------------------------------------------------

def test_records_without_size_get_it_from_the_image_header(tmp_path):
    # as exported by tools that leave the size to the image (no width/height, or null)
    _image(tmp_path / "images" / "street.jpg", (640, 427))
    _image(tmp_path / "images" / "field.png", (300, 200))
    gt = _json(tmp_path / "annotations" / "instances_val.json", {
        "images": [{"id": 1, "file_name": "street.jpg"},
                   {"id": 2, "file_name": "field.png", "width": None, "height": None}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200,
                         "iscrowd": 0},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 300, 200], "area": 60000,
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    })
    ds = read_coco(gt)
    assert [(s.image, s.width, s.height) for s in ds.samples] == [("street.jpg", 640, 427), ("field.png", 300, 200)]
    assert ds.samples[1].boxes.tolist() == [[0, 0, 300, 200]]
    # the boxes are checked against the header's size like any other (validate passes)
    assert main(["validate", str(gt)]) == 0


def test_record_without_size_and_without_its_image_is_one_clear_error(tmp_path):
    _image(tmp_path / "images" / "street.jpg", (640, 427))
    gt = _json(tmp_path / "annotations" / "instances_val.json", {
        "images": [{"id": 1, "file_name": "street.jpg"}, {"id": 2, "file_name": "gone.jpg", "width": 64}],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}],
    })
    with pytest.raises(InputError) as err:
        read_coco(gt)
    assert len(err.value.problems) == 1  # not a cascade (no "unknown image id" after it)
    p = err.value.problem
    assert p.message == "image size unknown" and p.file == str(gt) and p.field == "images[1]"
    assert "height in the image record" in p.expected and str(tmp_path / "images" / "gone.jpg") in p.expected
    assert "1 annotation(s) are left out" in p.hint
    assert p.line == 7  # the line of images[1] in the file
    problems = []
    ds = read_coco(gt, problems=problems)
    assert [s.image for s in ds.samples] == ["street.jpg"] and len(problems) == 1


# -- image ids written as "2299" and 2299 --------------------------------------------------------

def _mixed_gt(tmp_path: Path) -> Path:
    # an export that writes the image's id as a string and the annotations' image_id as a number
    return _json(tmp_path / "gt.json", {
        "images": [{"id": "2299", "file_name": "a.jpg", "width": 100, "height": 100},
                   {"id": 17, "file_name": "b.jpg", "width": 100, "height": 100}],
        "annotations": [{"id": 1, "image_id": 2299, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
                        {"id": 2, "image_id": "17", "category_id": 1, "bbox": [5, 5, 50, 50], "area": 2500, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}],
    })


def test_string_and_integer_image_ids_match_alike_in_ground_truth_and_detections(tmp_path):
    gt = read_coco(_mixed_gt(tmp_path))
    assert [(s.id, s.boxes.tolist()) for s in gt.samples] == [("2299", [[10, 10, 30, 30]]), (17, [[5, 5, 55, 55]])]
    dets = _json(tmp_path / "dt.json", [
        {"image_id": 2299, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": "2299", "category_id": 1, "bbox": [60, 60, 5, 5], "score": 0.3},
        {"image_id": "17", "category_id": 1, "bbox": [5, 5, 50, 50], "score": 0.8},
    ])
    dt = read_coco_results(dets, gt)
    assert [len(s) for s in dt.samples] == [2, 1]


def test_two_images_whose_ids_differ_only_in_type_are_refused_in_one_message(tmp_path):
    gt = _json(tmp_path / "gt.json", {
        "images": [{"id": 2299, "file_name": "a.jpg", "width": 10, "height": 10},
                   {"id": "2299", "file_name": "b.jpg", "width": 10, "height": 10}],
        "annotations": [], "categories": [{"id": 1, "name": "cat"}],
    })
    with pytest.raises(InputError) as err:
        read_coco(gt)
    assert len(err.value.problems) == 1
    p = err.value.problem
    assert p.message == "image ids that differ only in type" and p.field == "images[1].id" and p.value == "2299"
    assert "reads 2299 and '2299' as the same image id" in p.expected and p.hint == "also images[0]"


# -- detections of a category the ground truth does not have ------------------------------------

def _pair(tmp_path: Path) -> tuple[Path, Path]:
    gt = _json(tmp_path / "gt.json", {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 200},
                   {"id": 2, "file_name": "b.jpg", "width": 200, "height": 200}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0},
                        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [20, 30, 60, 40], "area": 2400, "iscrowd": 0},
                        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [100, 100, 30, 30], "area": 900, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    })
    dt = _json(tmp_path / "dt.json", [
        {"image_id": 1, "category_id": 1, "bbox": [12, 10, 50, 48], "score": 0.9},
        {"image_id": 1, "category_id": 7, "bbox": [10, 10, 50, 50], "score": 0.95},  # no category 7
        {"image_id": 2, "category_id": 2, "bbox": [20, 30, 55, 40], "score": 0.7},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 30], "score": 0.6},
        {"image_id": 2, "category_id": 0, "bbox": [100, 100, 30, 30], "score": 0.5},  # 0-based slip
    ])
    return gt, dt


def test_unknown_category_detections_are_left_out_and_counted_as_pycocotools(tmp_path, capsys):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dt = _pair(tmp_path)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--gt", str(gt), "--dt", str(dt), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 detection(s) left out: category id not in the ground truth (7 (1x), 0 (1x))" in err
    result = json.loads(out.read_text())
    assert result["ignored_detections"] == {"count": 2, "ids": {"7": 1, "0": 1}}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    assert np.allclose([result["coco"][k] for k in keys], ev.stats, rtol=0, atol=1e-12)


def test_strict_refuses_unknown_category_detections(tmp_path, capsys):
    gt, dt = _pair(tmp_path)
    assert main(["evaluate", "--gt", str(gt), "--dt", str(dt), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "2 detection(s) of a category the ground truth does not have (refused by --strict)" in err
    record = json.loads(dt.read_text())[1]
    assert f"{dt}:{json_line(dt, record)}: [1].category_id" in err and "Traceback" not in err


# -- the writer's ids, loaded by pycocotools and faster-coco-eval ---------------------------------

def _string_id_dataset() -> Dataset:
    # a VOC/YOLO-like source: ids are file stems
    return Dataset(["cat", "dog"], [
        Sample("2008_000008.jpg", 500, 442, [[52, 86, 471, 420], [157, 43, 289, 167]], [0, 1], id="2008_000008"),
        Sample("2008_000015.jpg", 500, 327, [[9, 2, 500, 327]], [1], id="2008_000015"),
    ])


def test_written_coco_has_integer_image_ids_and_keeps_the_source_ids(tmp_path):
    write_coco(_string_id_dataset(), tmp_path / "out", images="none")
    data = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    assert [(i["id"], i["file_name"], i["source_id"]) for i in data["images"]] == [
        (1, "2008_000008.jpg", "2008_000008"), (2, "2008_000015.jpg", "2008_000015")]
    assert [a["image_id"] for a in data["annotations"]] == [1, 1, 2]
    assert all(isinstance(a["id"], int) for a in data["annotations"])
    # integer source ids are kept as they are
    ds = Dataset(["cat"], [Sample("a.jpg", 10, 10, [[1, 1, 5, 5]], [0], id=139), Sample("b.jpg", 10, 10, id=285)])
    write_coco(ds, tmp_path / "ints", images="none")
    data = json.loads((tmp_path / "ints" / "annotations" / "instances_default.json").read_text())
    assert [i["id"] for i in data["images"]] == [139, 285] and all("source_id" not in i for i in data["images"])


def test_written_coco_loads_in_pycocotools_and_faster_coco_eval(tmp_path):
    from pycocotools.coco import COCO

    write_coco(_string_id_dataset(), tmp_path / "out", images="none")
    path = tmp_path / "out" / "annotations" / "instances_default.json"
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    assert sorted(coco.getImgIds()) == [1, 2] and len(coco.getAnnIds(imgIds=[1])) == 2
    assert coco.loadImgs(2)[0]["source_id"] == "2008_000015"
    faster = pytest.importorskip("faster_coco_eval", reason="faster-coco-eval is not installed (pip install cvpipe[test])")
    fc = faster.COCO(str(path), print_function=lambda *a, **k: None)
    assert sorted(fc.getImgIds()) == [1, 2] and len(fc.getAnnIds(imgIds=[1])) == 2
    # and it evaluates its own ground truth to AP 1 (every id resolves)
    res = fc.loadRes([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                      for a in fc.dataset["annotations"]])
    ev = faster.COCOeval_faster(fc, res, "bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
