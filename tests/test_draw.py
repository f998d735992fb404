"""Pictures: boxes drawn where they are, deterministic colours, grids, atomic PNG files."""

from __future__ import annotations

import numpy as np
import pytest

from cvpipe.draw import PALETTE, color_for, draw_boxes, draw_ground_truth, image_grid, read_image, save_png
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


# ---------------------------------------------------------------------------------------------
# Drawings people can read: palette, ground truth vs predictions, order, labels, legend
# ---------------------------------------------------------------------------------------------


def lab(rgb) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour, for perceptual distances."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = (m @ c) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_palette_has_twenty_distinct_colours():
    colours = [color_for(k) for k in range(20)]
    assert len(set(colours)) == 20  # no repeats up to 20 classes
    dist = min(np.linalg.norm(lab(a) - lab(b)) for i, a in enumerate(colours) for b in colours[i + 1:])
    assert dist >= 25  # not merely different numbers: colours a person tells apart
    assert color_for(20) == color_for(0)


def test_ground_truth_is_never_in_a_class_colour():
    from cvpipe.draw import GT_COLORS

    for gt in GT_COLORS:
        assert gt not in PALETTE
        assert min(np.linalg.norm(lab(gt) - lab(c)) for c in PALETTE) >= 40
    out = draw_ground_truth(grey(), [[20, 30, 100, 90], [50, 40, 70, 60]], [0, 1], ["a", "b"], thickness=2,
                            show_labels=True)
    changed = np.any(out != grey(), axis=2)
    colours = {tuple(int(v) for v in px) for px in out[changed]}
    assert {(255, 255, 255), (0, 0, 0)} <= colours
    assert not colours & set(PALETTE)


def test_ground_truth_dashed_predictions_solid():
    from itertools import groupby

    from cvpipe.draw import GT_COLORS

    bg = (128, 128, 128)
    gt = draw_ground_truth(grey(), [[20, 30, 100, 90]], thickness=1)
    top = [tuple(int(v) for v in px) for px in gt[30, 20:100]]
    runs = [(c, len(list(g))) for c, g in groupby(top)]
    assert len(runs) >= 20 and max(n for _, n in runs) <= 3  # white, gap, black, gap, ... of 3 px
    assert [c for c, _ in runs[:4]] == [GT_COLORS[0], bg, GT_COLORS[1], bg]
    pred = draw_boxes(grey(), [[20, 30, 100, 90]], [3], thickness=1, show_labels=False)
    assert {tuple(int(v) for v in px) for px in pred[30, 20:100]} == {PALETTE[3]}  # one solid colour
    # a prediction on the very same box as the ground truth: both stay visible along the edge
    both = draw_boxes(grey(), [[20, 30, 100, 90]], [3], thickness=1, show_labels=False,
                      ground_truth=[[20, 30, 100, 90]])
    assert {tuple(int(v) for v in px) for px in both[30, 20:100]} == {GT_COLORS[0], GT_COLORS[1], PALETTE[3]}
    # labels are drawn last: no dash crosses them
    args = ([[20, 40, 100, 90]], [3], ["cat"], [0.9])
    tagged = draw_boxes(grey(), *args)
    tag = np.any(tagged != draw_boxes(grey(), *args, show_labels=False), axis=2)
    truth = [[10, 33, 110, 95]]  # its top edge runs through the label
    assert (np.any(draw_ground_truth(grey(), truth) != grey(), axis=2) & tag).any()
    assert np.array_equal(draw_boxes(grey(), *args, ground_truth=truth)[tag], tagged[tag])


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_higher_scores_are_drawn_on_top(order):
    boxes = np.array([[10, 10, 60, 60], [10, 10, 80, 80]], dtype=float)  # shared top-left corner and edges
    labels, scores = np.array([0, 1]), np.array([0.3, 0.9])
    out = draw_boxes(grey(), boxes[order], labels[order], None, scores[order], thickness=2, show_labels=False)
    assert tuple(out[30, 10]) == PALETTE[1]  # the 0.9 box's left edge covers the 0.3 box's
    assert tuple(out[59, 30]) == PALETTE[0]  # where they do not overlap each shows


def test_labels_do_not_pile_up_on_a_crowded_image():
    from cvpipe.draw import place_labels

    # a row of touching boxes whose labels are wider than the boxes: all "above-left" would overlap
    rects = [(20 + 30 * i, 60, 20 + 30 * i + 40, 100) for i in range(8)]
    sizes = [(70, 14)] * len(rects)
    spots = place_labels(rects, sizes, (320, 240))
    for i, a in enumerate(spots):
        x, y, w, h = a
        assert 0 <= x and x + w <= 320 and 0 <= y and y + h <= 240
        x1, y1, x2, y2 = rects[i]
        assert x2 + 1 - w - 1 <= x <= x2 + 1 and y1 - 4 * h <= y <= y2 + 1 + 3 * h  # by its own box
        for b in spots[i + 1:]:
            assert min(a[0] + a[2], b[0] + b[2]) <= max(a[0], b[0]) or min(a[1] + a[3], b[1] + b[3]) <= max(a[1], b[1])
    # the first (highest score) keeps the natural place: above its box, left-aligned
    assert spots[0][:2] == (20, 60 - 14)


def test_crowded_drawing_keeps_every_label_readable():
    boxes = [[20 + 12 * i, 60, 60 + 12 * i, 100] for i in range(6)]
    out = draw_boxes(grey(240, 320), boxes, [0, 1, 2, 3, 4, 5], ["aeroplane", "bicycle", "bird", "boat",
                                                                  "bottle", "bus"], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert out.shape == (240, 320, 3)
    # every class colour's label background is on the picture (no label hidden under another)
    for k in range(6):
        assert np.all(out == PALETTE[k], axis=2).sum() > 60


def test_legend_strip():
    from cvpipe.draw import GT_COLORS, add_legend

    img = grey(60, 400)
    out = add_legend(img, [("ground truth", "dashed", None), ("cat", "solid", PALETTE[0]), ("dog", "solid", PALETTE[1])])
    assert out.shape[1] == 400 and out.shape[0] > 60 and np.array_equal(out[:60], img)
    strip = out[60:]
    for c in (PALETTE[0], PALETTE[1], *GT_COLORS):
        assert np.all(strip == c, axis=2).any()
    many = add_legend(grey(20, 200), [(f"class number {k}", "solid", PALETTE[k]) for k in range(8)])
    assert many.shape[0] - 20 > 2 * (out.shape[0] - 60)  # wrapped over several rows
    assert np.array_equal(add_legend(img, []), img)
