"""Errors say where, what was found and what was expected, and survive pickling."""

import pickle

from cvpipe.errors import ConfigError, InputError, Problem, UnknownNameError, closest


def test_problem_message_carries_location_value_and_expectation():
    err = InputError("box is inverted", file="Annotations/1.xml", line=14, field="object[0].bndbox",
                     value=(50, 10, 20, 40), expected="xmin < xmax")
    assert str(err) == ("Annotations/1.xml:14: object[0].bndbox: box is inverted "
                        "(got (50, 10, 20, 40); expected xmin < xmax)")
    assert err.exit_code == 2
    assert err.problem.to_dict() == {"message": "box is inverted", "file": "Annotations/1.xml", "line": 14,
                                     "field": "object[0].bndbox", "expected": "xmin < xmax",
                                     "value": "(50, 10, 20, 40)"}


def test_many_problems_and_pickle():
    err = ConfigError.from_problems([Problem("wrong type", field="steps[0].read.path", line=3, value=5),
                                     Problem("unknown setting", field="steps[1].x")])
    text = str(err)
    assert text.startswith("2 problems:") and "steps[0].read.path: wrong type (got 5)" in text
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is ConfigError and str(clone) == text


def test_unknown_name_suggests_closest():
    err = UnknownNameError("format", "yolov", ["voc", "coco", "yolo"])
    assert "unknown format 'yolov'" in str(err)
    assert "expected one of: coco, voc, yolo" in str(err)
    assert "did you mean 'yolo'?" in str(err)
    assert closest("HorizontalFlp", ["VerticalFlip", "HorizontalFlip"]) == "HorizontalFlip"
    assert closest("zzz", ["voc"]) is None
