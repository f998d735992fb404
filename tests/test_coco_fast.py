"""COCO's fast paths against its general ones: the results reader's typed msgspec decoding
against the item-by-item reader, and cvpipe's COCO numbers against pycocotools on random pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.builtin.coco import read_coco, read_coco_results
from cvpipe.builtin.coco import results as results_mod
from cvpipe.errors import Problem

GT = {
    "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80},
               {"id": "9", "file_name": "b.jpg", "width": 50, "height": 40},
               {"id": 12, "file_name": "c.jpg", "width": 64, "height": 64}],
    "annotations": [{"id": 1, "image_id": 7, "category_id": 18, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0}],
    "categories": [{"id": 18, "name": "dog"}, {"id": 3, "name": "car"}],
}

number = st.one_of(st.integers(-5, 200), st.floats(-5, 200, allow_nan=False, allow_infinity=False))
detection = st.fixed_dictionaries({
    "image_id": st.sampled_from([7, "7", 9, "9", 12, 99, "x"]),
    "category_id": st.sampled_from([18, 3, "3", 4, 0]),
    "bbox": st.one_of(st.lists(number, min_size=4, max_size=4), st.lists(number, min_size=3, max_size=3)),
    "score": st.floats(0, 1),
})


def _read(path: Path, gt, slow: bool, monkeypatch) -> tuple:
    with monkeypatch.context() as m:
        if slow:
            m.setattr(results_mod, "decode_typed", lambda *a, **k: None)
        problems: list[Problem] = []
        dt = read_coco_results(path, gt, problems=problems)
    samples = [(s.id, s.boxes.tolist(), s.labels.tolist(), s.scores.tolist(), s.box_extra,
                [s.box_origin(i) for i in range(len(s))])
               for s in dt.samples]
    ignored = dt.meta.get("ignored_detections")
    return samples, problems, ignored


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dets=st.lists(detection, max_size=25))
def test_typed_results_reader_equals_the_item_by_item_reader(tmp_path, monkeypatch, dets):
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(GT))
    gt = read_coco(gt_file)
    dt_file = tmp_path / "dt.json"
    dt_file.write_text(json.dumps(dets, indent=1))
    fast, slow = _read(dt_file, gt, False, monkeypatch), _read(dt_file, gt, True, monkeypatch)
    assert fast == slow
    # and the types of the file's numbers survive in box_extra["bbox"] (ints stay ints)
    kept = [d for d in dets if d["image_id"] in (7, "7", 9, "9", 12) and d["category_id"] in (18, 3, "3")
            and len(d["bbox"]) == 4]
    got = [e["bbox"] for s in fast[0] for e in s[4]]
    assert sorted(map(repr, got)) == sorted(repr(d["bbox"]) for d in kept)


def test_typed_path_is_taken_and_refused_input_goes_item_by_item(tmp_path, monkeypatch):
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(GT))
    gt = read_coco(gt_file)
    calls = []
    real = results_mod._columns_items
    monkeypatch.setattr(results_mod, "_columns_items", lambda *a, **k: calls.append(1) or real(*a, **k))
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps([{"image_id": 7, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    assert read_coco_results(ok, gt).num_boxes == 1 and calls == []
    # a repeated key (msgspec would keep the last one) is refused by the general path
    dup = tmp_path / "dup.json"
    dup.write_text('[{"image_id": 7, "image_id": 12, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5}]')
    with pytest.raises(Exception, match="duplicate key"):
        read_coco_results(dup, gt)
    # a bool score is no number: named by the item-by-item path
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 7, "category_id": 18, "bbox": [1, 2, 3, 4], "score": True}]))
    problems: list[Problem] = []
    assert read_coco_results(bad, gt, problems=problems).num_boxes == 0
    assert [p.field for p in problems] == ["[0].score"] and calls == [1, 1]


def test_string_and_integer_image_ids_match_alike(tmp_path):
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(GT))
    gt = read_coco(gt_file)
    dt_file = tmp_path / "dt.json"
    dt_file.write_text(json.dumps([{"image_id": "7", "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5},
                                   {"image_id": 9, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    dt = read_coco_results(dt_file, gt)
    assert [len(s) for s in dt.samples] == [1, 1, 0]
    assert np.array_equal(dt.samples[1].boxes, [[1, 2, 4, 6]])
