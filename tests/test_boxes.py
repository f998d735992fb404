"""Box conversions: hand-worked examples and round-trip laws."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cvpipe.data import boxes as B
from cvpipe.data import checks as C

coords = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
sizes = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def xyxy_boxes(draw, max_n=20):
    n = draw(st.integers(0, max_n))
    xy = draw(arrays(np.float64, (n, 2), elements=coords))
    wh = draw(arrays(np.float64, (n, 2), elements=sizes))
    return np.concatenate([xy, xy + wh], axis=1)


def test_hand_worked_conversions():
    xyxy = np.array([[48, 240, 195, 371]], dtype=float)
    np.testing.assert_array_equal(B.convert(xyxy, "xyxy", "xywh"), [[48, 240, 147, 131]])
    np.testing.assert_array_equal(B.convert(xyxy, "xyxy", "cxcywh"), [[121.5, 305.5, 147, 131]])
    np.testing.assert_array_equal(B.convert([[121.5, 305.5, 147, 131]], "cxcywh", "xyxy"), xyxy)
    np.testing.assert_allclose(
        B.normalize(B.convert(xyxy, "xyxy", "cxcywh"), 353, 500),
        [[121.5 / 353, 305.5 / 500, 147 / 353, 131 / 500]],
    )


def test_empty_and_shape_errors():
    assert B.convert([], "xyxy", "xywh").shape == (0, 4)
    assert B.area(np.zeros((0, 4))).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        B.as_boxes([1, 2, 3])
    with pytest.raises(ValueError, match="unknown box format"):
        B.convert([[0, 0, 1, 1]], "xyxy", "yolo")


def test_inputs_not_modified():
    b = np.array([[1.0, 2.0, 3.0, 4.0]])
    B.convert(b, "xyxy", "cxcywh")
    B.clip(b, 2, 2)
    B.flip_horizontal(b, 10)
    np.testing.assert_array_equal(b, [[1, 2, 3, 4]])


@settings(max_examples=200)
@given(xyxy_boxes(), st.sampled_from(B.FORMATS), st.sampled_from(B.FORMATS))
def test_round_trip_through_any_format(boxes, a, b):
    there = B.convert(B.convert(boxes, "xyxy", a), a, b)
    back = B.convert(B.convert(there, b, a), a, "xyxy")
    np.testing.assert_allclose(back, boxes, rtol=1e-9, atol=1e-6)


@settings(max_examples=200)
@given(xyxy_boxes(), st.floats(1, 1e4), st.floats(1, 1e4))
def test_normalize_round_trip(boxes, w, h):
    np.testing.assert_allclose(B.denormalize(B.normalize(boxes, w, h), w, h), boxes, rtol=1e-12, atol=1e-9)


@given(xyxy_boxes(), st.floats(1, 1e4))
def test_flip_twice_is_identity_and_keeps_area(boxes, w):
    once = B.flip_horizontal(boxes, w)
    np.testing.assert_allclose(B.area(once), B.area(boxes), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(B.flip_horizontal(once, w), boxes, rtol=1e-9, atol=1e-6)


@given(xyxy_boxes(), st.floats(1, 1e3), st.floats(1, 1e3))
def test_clip_stays_inside(boxes, w, h):
    c = B.clip(boxes, w, h)
    assert (c[:, 0::2] >= 0).all() and (c[:, 0::2] <= w).all()
    assert (c[:, 1::2] >= 0).all() and (c[:, 1::2] <= h).all()
    assert (B.area(c) <= B.area(boxes) + 1e-6).all()


def test_invalid_mask():
    b = np.array([[0, 0, 10, 10], [5, 0, 5, 10], [8, 0, 2, 10], [0, 0, 20, 10], [np.nan, 0, 1, 1]])
    np.testing.assert_array_equal(C.invalid_mask(b), [False, True, True, False, True])
    np.testing.assert_array_equal(C.invalid_mask(b, 15, 15), [False, True, True, True, True])
