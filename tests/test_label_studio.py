"""Label Studio JSON export (rectanglelabels): reader, writer, URLs, detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.builtin.label_studio import detect_label_studio, read_label_studio, write_label_studio
from cvpipe.builtin.label_studio.layout import url_candidates
from cvpipe.errors import InputError, Problem
from cvpipe.plugins import get_registry
from cvpipe.formats import detect_format
from cvpipe.testing import assert_same_dataset, blank_png as png, check_format


def result(label, x, y, w, h, *, rid="a1", ow=400, oh=200, rotation=0, **more):
    r = {"id": rid, "type": "rectanglelabels", "from_name": "label", "to_name": "image",
         "original_width": ow, "original_height": oh, "image_rotation": 0,
         "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]}}
    r.update(more)
    return r


# In the style of Label Studio's task-format documentation: an uploaded file, a local-storage
# file, a cancelled annotation, a choices result and a task with no result
TASKS = [
    {"id": 11, "data": {"image": "/data/upload/3/5f1c2b3a-street.png", "caption": "a street"},
     "annotations": [
         {"id": 1, "was_cancelled": True, "result": [result("car", 0, 0, 10, 10)]},
         {"id": 2, "was_cancelled": False, "result": [
             result("car", 12.5, 25, 50, 50),
             result("person", 75, 10, 5, 40, rid="b2"),
             {"id": "c3", "type": "choices", "from_name": "weather", "to_name": "image",
              "value": {"choices": ["sunny"]}}]},
         {"id": 3, "was_cancelled": False, "result": []}],
     "predictions": [{"model_version": "v1", "score": 0.5, "result": [result("car", 10, 20, 50, 50, score=0.9)]}]},
    {"id": 12, "data": {"image": "/data/local-files/?d=shots/night%20road.png"},
     "annotations": [{"id": 4, "result": []}]},
]


def export(root: Path, tasks=TASKS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    png(root / "images" / "street.png", 400, 200)
    png(root / "images" / "shots" / "night road.png", 300, 150)
    (root / "project-3-at-2024-05-02-10-11-0a1b2c3d.json").write_text(json.dumps(tasks), encoding="utf-8")
    return root


def test_url_candidates():
    assert url_candidates("/data/upload/3/5f1c2b3a-street.png") == ["5f1c2b3a-street.png", "street.png"]
    assert url_candidates("/data/local-files/?d=data/shots/x%20y.jpg") == ["data/shots/x y.jpg", "shots/x y.jpg",
                                                                          "x y.jpg"]
    assert url_candidates("https://example.com/img/a.jpg?token=1") == ["a.jpg"]
    assert url_candidates("s3://bucket/dir/b.jpg") == ["b.jpg"]


def test_reads_percent_boxes_first_live_annotation_and_keeps_the_rest(tmp_path):
    ds = read_label_studio(export(tmp_path / "ls"))
    assert ds.categories == ["car", "person"]
    a, b = ds.samples
    assert (a.image, a.width, a.height, a.id) == ("street.png", 400, 200, 11)
    # x 12.5% of 400 = 50, y 25% of 200 = 50, 50% x 50% = 200 x 100
    assert np.allclose(a.boxes, [[50, 50, 250, 150], [300, 20, 320, 100]]) and a.labels.tolist() == [0, 1]
    assert a.box_extra[1] == {"label_studio": {"id": "b2", "from_name": "label", "to_name": "image"}}
    assert a.extra["label_studio"]["other_results"][0]["value"] == {"choices": ["sunny"]}
    assert a.scores is None
    assert (b.image, b.width, b.height, len(b)) == ("shots/night road.png", 300, 150, 0)  # size from the header
    assert ds.meta["label_studio_other_results"] == 1 and ds.meta["label_studio_unread_annotations"] == 1
    assert detect_label_studio(tmp_path / "ls") and detect_format(tmp_path / "ls") == "label_studio"


def test_predictions_give_scores(tmp_path):
    ds = read_label_studio(export(tmp_path / "ls"), source="predictions")
    a = ds.samples[0]
    assert np.allclose(a.boxes, [[40, 40, 240, 140]]) and a.scores.tolist() == [0.9]
    assert ds.samples[1].scores.tolist() == []


def test_round_trip_and_what_is_written(tmp_path):
    ds = read_label_studio(export(tmp_path / "ls"))
    report = write_label_studio(ds, tmp_path / "out")
    assert report == {"images": 2, "boxes": 2, "skipped": {"difficult": 0, "crowd": 0}}
    tasks = json.loads((tmp_path / "out" / "tasks.json").read_text(encoding="utf-8"))
    assert tasks[0]["id"] == 11 and tasks[0]["data"] == {"image": "/data/local-files/?d=images/street.png",
                                                         "caption": "a street"}
    assert tasks[1]["data"]["image"] == "/data/local-files/?d=images/shots/night%20road.png"
    res = tasks[0]["annotations"][0]["result"]
    assert res[0]["value"] == {"x": 12.5, "y": 25.0, "width": 50.0, "height": 50.0, "rotation": 0,
                               "rectanglelabels": ["car"]}
    assert res[0]["original_width"] == 400 and [r["type"] for r in res] == ["rectanglelabels"] * 2 + ["choices"]
    config = (tmp_path / "out" / "labeling_config.xml").read_text()
    assert '<RectangleLabels name="label" toName="image">' in config and '<Label value="person"/>' in config
    back = read_label_studio(tmp_path / "out")
    assert_same_dataset(ds, back, atol=1e-9, match="path", check_categories=True)
    assert back.samples[0].extra["label_studio"]["other_results"] == ds.samples[0].extra["label_studio"]["other_results"]


def test_detections_are_written_as_predictions(tmp_path):
    ds = read_label_studio(export(tmp_path / "ls"), source="predictions")
    write_label_studio(ds, tmp_path / "out", images="none")
    tasks = json.loads((tmp_path / "out" / "tasks.json").read_text(encoding="utf-8"))
    assert "annotations" not in tasks[0] and tasks[0]["predictions"][0]["result"][0]["score"] == 0.9
    back = read_label_studio(tmp_path / "out", source="predictions", images_dir=tmp_path / "ls" / "images")
    assert back.samples[0].scores.tolist() == [0.9]


@pytest.mark.parametrize("change, message, field", [
    ({"rotation": 30}, "rotated rectangle", "[0].annotations[0].result[0].value.rotation"),
    ({"rectanglelabels": ["car", "person"]}, "rectangle needs exactly one label",
     "[0].annotations[0].result[0].value.rectanglelabels"),
    ({"x": "12"}, "rectangle value is not a number", "[0].annotations[0].result[0].value"),
])
def test_bad_rectangles_are_problems(tmp_path, change, message, field):
    r = result("car", 10, 10, 20, 20)
    r["value"].update(change)
    tasks = [{"id": 1, "data": {"image": "/data/upload/1/street.png"}, "annotations": [{"result": [r]}]}]
    root = export(tmp_path / "ls", tasks)
    problems: list[Problem] = []
    ds = read_label_studio(root, problems=problems)
    assert [(p.message, p.field) for p in problems] == [(message, field)]
    assert problems[0].file.endswith(".json") and len(ds.samples[0]) == 0
    with pytest.raises(InputError, match=message):
        read_label_studio(root)


def test_missing_image_without_size_and_bad_json(tmp_path):
    tasks = [{"id": 1, "data": {"image": "/data/upload/1/gone.png"}, "annotations": [{"result": []}]}]
    with pytest.raises(InputError, match="image file not found"):
        read_label_studio(export(tmp_path / "ls", tasks))
    (tmp_path / "bad.json").write_text("[{\"data\": ")
    with pytest.raises(InputError, match="not valid JSON"):
        read_label_studio(tmp_path / "bad.json")
    (tmp_path / "min.json").write_text('[{"image": "/data/upload/1/a.png", "id": 1, "label": []}]')
    with pytest.raises(InputError, match="JSON-MIN"):
        read_label_studio(tmp_path / "min.json")
    (tmp_path / "coco.json").write_text('{"images": [], "annotations": []}')
    assert not detect_label_studio(tmp_path / "coco.json")


def test_conformance(tmp_path):
    # cross-checked against every registered format (the other new ones and labelme included),
    # not only voc, coco and yolo: detection must stay unambiguous among all of them
    check_format("label_studio", workdir=tmp_path, against=get_registry().formats.names())
