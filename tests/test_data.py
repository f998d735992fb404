"""The data model keeps per-box fields aligned and refuses inconsistent shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvpipe.data import Dataset, Sample


def make_sample(n: int) -> Sample:
    boxes = np.arange(n * 4, dtype=float).reshape(n, 4)
    boxes[:, 2:] += 10
    return Sample(
        "a/b.jpg", 100, 80, boxes=boxes, labels=np.arange(n) % 3,
        difficult=np.arange(n) % 2 == 0, scores=np.linspace(0, 1, n),
        box_extra=[{"i": i} for i in range(n)],
    )


def test_defaults_and_coercion():
    s = Sample("x.jpg", 10.0, 20.0)
    assert len(s) == 0 and s.boxes.shape == (0, 4) and s.labels.dtype == np.int64
    assert s.difficult.shape == (0,) and s.scores is None and s.box_extra == []
    assert (s.width, s.height) == (10, 20) and s.stem == "x"


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(boxes=[[0, 0, 1]], labels=[0]), "boxes must have shape"),
        (dict(boxes=[[0, 0, 1, 1]], labels=[0, 1]), "labels must have shape"),
        (dict(boxes=[[0, 0, 1, 1]], labels=[0], difficult=[True, False]), "difficult must have shape"),
        (dict(boxes=[[0, 0, 1, 1]], labels=[0], scores=[0.1, 0.2]), "scores must have shape"),
        (dict(boxes=[[0, 0, 1, 1]], labels=[0], box_extra=[]), "box_extra must have 1"),
    ],
)
def test_shape_errors_name_the_image(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Sample("img.jpg", 10, 10, **kwargs)


@given(st.integers(0, 12), st.data())
def test_select_keeps_fields_aligned(n, data):
    s = make_sample(n)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    t = s.select(mask)
    idx = np.flatnonzero(mask)
    assert len(t) == len(idx)
    np.testing.assert_array_equal(t.boxes, s.boxes[idx])
    np.testing.assert_array_equal(t.labels, s.labels[idx])
    np.testing.assert_array_equal(t.difficult, s.difficult[idx])
    np.testing.assert_array_equal(t.scores, s.scores[idx])
    assert [e["i"] for e in t.box_extra] == list(idx)
    assert t.image == s.image and t.width == s.width


def test_dataset_counts_splits_and_paths(tmp_path):
    a, b = make_sample(4), make_sample(2)
    a.split, b.split = "train", "val"
    ds = Dataset(["cat", "dog", "bird", "fish"], [a, b], root=tmp_path)
    assert len(ds) == 2 and ds.num_boxes == 6
    assert ds.class_counts() == {"cat": 3, "dog": 2, "bird": 1, "fish": 0}
    assert ds.splits == ["train", "val"]
    assert [s.image for s in ds.split("val")] == ["a/b.jpg"] and len(ds.split("val")) == 1
    assert ds.image_path(a) == tmp_path / "a" / "b.jpg"
    with pytest.raises(ValueError, match="duplicate category"):
        Dataset(["a", "b", "a"])
