"""Pictures: boxes drawn where they are, deterministic colours, grids, atomic PNG files."""

from __future__ import annotations

import numpy as np
import pytest

from cvpipe.draw import PALETTE, color_for, draw_boxes, image_grid, read_image, save_png
from cvpipe.errors import InputError

pytest.importorskip("cv2")


def grey(h=120, w=160, v=128) -> np.ndarray:
    return np.full((h, w, 3), v, dtype=np.uint8)


def test_draw_boxes_marks_the_box_and_nothing_far_away():
    img = grey()
    out = draw_boxes(img, [[20, 30, 80, 90]], [1], ["cat", "dog"], thickness=1, show_labels=False)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(img, grey())  # input untouched
    changed = np.any(out != img, axis=2)
    # the outline lies on the box's pixel border: columns 20 and 79, rows 30 and 89
    assert changed[30:90, 20].all() and changed[30:90, 79].all()
    assert changed[30, 20:80].all() and changed[89, 20:80].all()
    assert not changed[32:88, 22:78].any()  # inside left alone (outline only)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 29 and ys.max() <= 90 and xs.min() >= 19 and xs.max() <= 80
    assert tuple(out[60, 20]) == color_for(1)


def test_labels_and_scores_add_text_near_the_box():
    img = grey()
    plain = draw_boxes(img, [[20, 40, 80, 90]], [0], ["cat"], show_labels=False)
    tagged = draw_boxes(img, [[20, 40, 80, 90]], [0], ["cat"], scores=[0.87])
    diff = np.any(plain != tagged, axis=2)
    ys, xs = np.nonzero(diff)
    assert len(ys) > 50  # the tag
    assert ys.max() < 40 and xs.min() >= 20  # above the box, starting at its left edge
    assert np.array_equal(tagged[60:, :], plain[60:, :])


def test_colours_are_deterministic_per_class():
    boxes = [[10, 10, 50, 50], [60, 10, 100, 50], [110, 10, 150, 50]]
    out = draw_boxes(grey(), boxes, [2, 0, 2], None, thickness=1, show_labels=False)
    assert tuple(out[30, 10]) == tuple(out[30, 110]) == PALETTE[2]
    assert tuple(out[30, 60]) == PALETTE[0]
    by_index = draw_boxes(grey(), boxes, [2, 0, 2], None, color_by="index", thickness=1, show_labels=False)
    assert tuple(by_index[30, 110]) == PALETTE[2] and tuple(by_index[30, 10]) == PALETTE[0]
    fixed = draw_boxes(grey(), boxes, [2, 0, 2], color=(0, 255, 0), thickness=1, show_labels=False)
    assert tuple(fixed[30, 60]) == (0, 255, 0)
    assert color_for(len(PALETTE) + 3) == PALETTE[3]


def test_edge_cases():
    img = grey()
    assert np.array_equal(draw_boxes(img, np.zeros((0, 4)), [], ["a"]), img)
    # boxes outside the image and non-finite boxes do not crash
    out = draw_boxes(img, [[-50, -50, 500, 500], [np.nan, 0, 10, 10]], [0, 0], ["a"])
    assert out.shape == img.shape
    g = draw_boxes(np.zeros((40, 50), np.uint8), [[5, 5, 20, 20]], [0], ["a"])  # grey input
    assert g.shape == (40, 50, 3)
    f = draw_boxes(np.zeros((40, 50, 3), np.float32) + 0.5, [[5, 5, 20, 20]], [0], ["a"])  # float [0, 1]
    assert f.dtype == np.uint8 and f[30, 40, 0] == 127
    with pytest.raises(ValueError):
        draw_boxes(img, [[0, 0, 5, 5]], [0, 1], ["a"])


def test_image_grid_layout():
    a, b, c = grey(20, 30, 10), grey(10, 40, 20), grey(20, 30, 30)
    g = image_grid([a, b, c], 2, pad=2, background=255)
    assert g.shape == (2 * 20 + 3 * 2, 2 * 40 + 3 * 2, 3) and g.dtype == np.uint8
    assert (g[2:22, 2:32] == 10).all()
    assert (g[2:12, 44:84] == 20).all() and (g[12:22, 44:84] == 255).all()
    assert (g[24:44, 2:32] == 30).all() and (g[24:44, 44:] == 255).all()
    titled = image_grid([a, b], 2, titles=["a", "b"])
    assert titled.shape[0] > 20 + 8 and titled.shape[1] == 2 * 40 + 3 * 4
    with pytest.raises(ValueError):
        image_grid([], 2)
    with pytest.raises(ValueError):
        image_grid([a], 0)


def test_save_png_round_trip_and_atomic(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = save_png(tmp_path / "sub" / "x.png", img)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(read_image(path), img)  # lossless, RGB order kept
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
    with pytest.raises(ValueError):
        save_png(tmp_path / "bad.png", np.zeros((3, 4, 5), np.uint8))
    assert not (tmp_path / "bad.png").exists() and not list(tmp_path.glob(".bad.png*"))


def test_read_image_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image"):
        read_image(tmp_path / "broken.jpg")
