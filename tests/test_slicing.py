"""Tile geometry, dataset tiling (``cvpipe tile`` and the ``tile`` step) and sliced prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvpipe.cli import main
from cvpipe.data import Dataset, Sample
from cvpipe.slicing import axis_starts, boxes_in_window, boxes_to_image, tile_windows


# ------------------------------------------------------------------------------------ geometry
@given(length=st.integers(1, 20000), size=st.integers(1, 2000), overlap=st.floats(0.0, 0.95))
def test_axis_windows_cover_every_pixel_and_stay_inside(length, size, overlap):
    starts = np.array(axis_starts(length, size, overlap))
    ends = starts + min(size, length)
    assert starts.min() == 0 and ends.max() == length and (ends <= length).all()
    # consecutive windows leave no gap: every pixel is in some window
    assert (starts[1:] <= ends[:-1]).all()


@given(w=st.integers(1, 900), h=st.integers(1, 900), size=st.integers(16, 400), overlap=st.floats(0.0, 0.9))
def test_windows_are_the_grid_of_the_axis_windows(w, h, size, overlap):
    win = tile_windows(w, h, size, overlap)
    xs, ys = axis_starts(w, size, overlap), axis_starts(h, size, overlap)
    assert win[:, :2].tolist() == [[x, y] for y in ys for x in xs]
    assert ((win[:, 2] - win[:, 0]) == min(size, w)).all() and ((win[:, 3] - win[:, 1]) == min(size, h)).all()
    covered = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in win:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    if w <= size and h <= size:
        assert win.tolist() == [[0, 0, w, h]]


@given(length=st.integers(2, 5000), size=st.integers(1, 700), overlap=st.floats(0.0, 0.95))
def test_neighbours_overlap_by_at_least_the_fraction(length, size, overlap):
    starts = axis_starts(length, size, overlap)
    assert starts == sorted(set(starts)) and starts[0] == 0
    for a, b in zip(starts, starts[1:]):
        assert a + size - b >= min(size * overlap, size - 1) - 1e-9  # shared pixels


@given(st.lists(st.tuples(st.floats(0, 900), st.floats(0, 900), st.floats(1, 300), st.floats(1, 300)), max_size=20),
       st.integers(0, 500), st.integers(0, 500), st.integers(1, 400))
def test_boxes_cut_to_a_window_map_back_exactly(raw, x0, y0, size):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in raw], dtype=np.float64).reshape(-1, 4)
    window = (x0, y0, x0 + size, y0 + size)
    keep, cut, vis = boxes_in_window(boxes, window, 0.0)
    assert ((cut >= 0) & (cut <= size)).all()
    back = boxes_to_image(cut, window)
    # a box inside the window maps back to itself exactly; others to their part inside it
    expect = np.stack([boxes[keep, 0].clip(x0, x0 + size), boxes[keep, 1].clip(y0, y0 + size),
                       boxes[keep, 2].clip(x0, x0 + size), boxes[keep, 3].clip(y0, y0 + size)], 1)
    np.testing.assert_array_equal(back, expect)
    inside = (vis == 1.0)[keep]
    np.testing.assert_array_equal(back[inside], boxes[keep][inside])
    assert ((vis >= 0) & (vis <= 1 + 1e-12)).all()


def test_visibility_threshold_drops_boxes_mostly_outside():
    boxes = np.array([[90.0, 0, 110, 10], [95, 0, 105, 10], [0, 0, 10, 10]])  # 50 %, 50 %, 100 % inside x<100
    keep, cut, vis = boxes_in_window(boxes, (0, 0, 100, 100), 0.6)
    assert keep.tolist() == [2] and vis.tolist() == [0.5, 0.5, 1.0]
    keep, cut, _ = boxes_in_window(boxes, (0, 0, 100, 100), 0.5)
    assert keep.tolist() == [0, 1, 2] and cut[0].tolist() == [90, 0, 100, 10]


# ------------------------------------------------------------------------------------ tiling
def _big_dataset(root: Path) -> Path:
    """A VOC dataset: one 300x200 image with 4 boxes (one across the tile border), one 100x80
    image (smaller than a tile)."""
    import cv2

    from cvpipe.formats import write_dataset

    (root / "src").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (w, h) in (("big.png", (300, 200)), ("small.png", (100, 80))):
        cv2.imwrite(str(root / "src" / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    samples = [
        Sample("big.png", 300, 200, boxes=[[10, 10, 40, 40], [150, 20, 170, 60], [118, 100, 138, 120],
                                           [250, 150, 290, 190]], labels=[0, 1, 0, 1]),
        Sample("small.png", 100, 80, boxes=[[5, 5, 30, 30]], labels=[1]),
    ]
    write_dataset(Dataset(["cat", "dog"], samples, root=root / "src"), root / "voc", "voc", images="copy")
    return root / "voc"


def test_cli_tile_cuts_boxes_and_keeps_small_images_whole(tmp_path, capsys):
    from cvpipe.formats import read_dataset

    src = _big_dataset(tmp_path)
    dst = tmp_path / "tiles"
    assert main(["tile", str(src), str(dst), "--size", "128", "--overlap", "0.25", "--min-visibility", "0.3",
                 "--to", "coco", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # 300 -> starts 0, 96, 172; 200 -> 0, 72: 6 tiles, plus the small image kept whole
    assert report["tiled"] == 1 and report["kept_whole"] == 1 and report["tiles"] == 7
    out = read_dataset(dst, "coco")
    assert len(out) == 7 and out.categories == ["cat", "dog"]
    small = [s for s in out.samples if s.width == 100]
    assert len(small) == 1 and small[0].boxes.tolist() == [[5, 5, 30, 30]]
    tiles = [s for s in out.samples if s.width == 128]
    assert len(tiles) == 6 and all(s.height == 128 for s in tiles)
    for s in tiles:
        assert ((s.boxes >= 0) & (s.boxes <= 128)).all()
    assert report["boxes_out"] == out.num_boxes and report["clipped"] + report["dropped"] > 0
    assert sum(len(s) for s in tiles) == report["boxes_out"] - 1
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left behind


def test_cli_tile_rejects_bad_settings(tmp_path, capsys):
    src = _big_dataset(tmp_path)
    assert main(["tile", str(src), str(tmp_path / "t"), "--overlap", "1.0", "--min-visibility", "2"]) == 2
    err = capsys.readouterr().err
    assert "--overlap" in err and "--min-visibility" in err and not (tmp_path / "t").exists()


def test_tile_step_in_a_pipeline(tmp_path):
    src = _big_dataset(tmp_path)
    (tmp_path / "p.yaml").write_text(f"""
name: tiles
steps:
  - read: {{path: "{src}", format: voc}}
  - tile: {{path: "${{run_dir}}/tiles", size: 128, overlap: 0.25, min_visibility: 0.9}}
  - write: {{path: "${{run_dir}}/yolo", format: yolo}}
""")
    assert main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    labels = sorted((tmp_path / "run" / "yolo").rglob("*.txt"))
    assert len([p for p in labels if p.name != "classes.txt" and "__x" in p.name]) >= 1
    assert len(list((tmp_path / "run" / "tiles").glob("*.png"))) == 7


# ------------------------------------------------------------------------------------ sliced prediction
class SizeLimitedDetector:
    """Deterministic detector plugin: finds bright square blobs and reports only those at least
    ``min_px`` pixels wide *in the image it is given* (after the engine's resize), scoring
    larger blobs higher. It stands in for a network that cannot see small objects, which is what
    sliced prediction exists for; the tiling, batching, mapping back and merging under test are
    cvpipe's real code."""

    def __init__(self, min_px: int, image_size: int) -> None:
        import torch

        self.min_px, self.image_size = min_px, image_size
        self.calls: list[int] = []
        self.training = False
        self._param = torch.zeros(1)

    def parameters(self):
        yield self._param

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __call__(self, images):
        import cv2
        import torch

        self.calls.append(len(images))
        out = []
        for im in images:
            mask = (im[0].numpy() > 0.5).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
            rows = [s for s in stats[1:] if min(s[2], s[3]) >= self.min_px]
            boxes = torch.tensor([[s[0], s[1], s[0] + s[2], s[1] + s[3]] for s in rows], dtype=torch.float32).reshape(-1, 4)
            scores = torch.tensor([min(0.99, s[2] * s[3] / 400.0) for s in rows], dtype=torch.float32)
            out.append({"boxes": boxes, "scores": scores, "labels": torch.zeros(len(rows), dtype=torch.int64)})
        return out


class DetectorPlugin:
    import cvpipe

    @cvpipe.hookimpl
    def cvpipe_register_models(self, register):
        register("size_limited", lambda num_classes, *, min_px=5, image_size=128: SizeLimitedDetector(min_px, image_size),
                 description="test detector that misses objects under min_px")


def _small_objects(root: Path, images: int = 3, size: int = 512, side: int = 12) -> Dataset:
    """Large dark images with bright ``side``-pixel squares on a grid (never closer than 20 px)."""
    import cv2

    root.mkdir(parents=True)
    rng = np.random.default_rng(5)
    samples = []
    for i in range(images):
        img = np.full((size, size, 3), 20, np.uint8)
        boxes = []
        for gy in range(24, size - 40, 64):
            for gx in range(24, size - 40, 64):
                x, y = gx + int(rng.integers(0, 20)), gy + int(rng.integers(0, 20))
                img[y:y + side, x:x + side] = 230
                boxes.append([x, y, x + side, y + side])
        cv2.imwrite(str(root / f"{i}.png"), img)
        samples.append(Sample(f"{i}.png", size, size, boxes=boxes, labels=[0] * len(boxes)))
    return Dataset(["blob"], samples, root=root)


@pytest.mark.parametrize("merge", ["nms", "wbf", "soft-nms"])
def test_sliced_prediction_recovers_small_objects_the_whole_image_misses(tmp_path, cvpipe_plugin, merge):
    """The whole 512 px image resized to the model's 128 px input shrinks the 12 px objects to 3 px,
    under the detector's 5 px limit; 128 px tiles keep them at 12 px."""
    from cvpipe.engine.predict import ModelBundle, predict_dataset
    from cvpipe.evaluation import evaluate
    from cvpipe.slicing import predict_sliced

    registry = cvpipe_plugin(DetectorPlugin(), "size_limited")
    gt = _small_objects(tmp_path / "img")
    model = registry.models.create("size_limited", {"min_px": 5}, 1)
    bundle = ModelBundle(model, "size_limited", {}, ["blob"], input_size=128)
    whole = predict_dataset(bundle, gt)
    before = len(model.calls)
    sliced = predict_sliced(bundle, gt, size=128, overlap=0.25, merge=merge, batch_size=8)
    ap_whole = evaluate(gt, whole, ["voc07"])["voc07"]["mAP"]
    ap_sliced = evaluate(gt, sliced, ["voc07"])["voc07"]["mAP"]
    assert whole.num_boxes == 0 and ap_whole == 0.0
    assert ap_sliced > 0.95, ap_sliced
    # boxes come back in full-image pixels: with nms every object is found exactly, once, and
    # what else is left are a few parts of objects cut by a tile edge (overlapping the whole box
    # less than the merge IoU), scoring below every whole object; soft-nms keeps duplicates at
    # decayed scores and wbf averages a whole box with its cut parts, by design
    from cvpipe.ops import pairwise_iou

    for g, d in zip(gt.samples, sliced.samples):
        iou = pairwise_iou(g.boxes, d.boxes).numpy()
        exact = iou > 0.99
        assert (iou.max(1) > 0.6).all()
        if merge == "nms":
            assert (exact.sum(1) == 1).all() and len(d) <= 1.2 * len(g)
            assert (d.scores[~exact.any(0)] < d.scores[exact.any(0)].min()).all()
    # tiles went through the model in batches of 8 across images, not one by one
    tiles_per_image = len(tile_windows(512, 512, 128, 0.25)) + 1  # + the whole image
    calls = model.calls[before:]
    assert sum(calls) == 3 * tiles_per_image and max(calls) == 8 and len(calls) == -(-3 * tiles_per_image // 8)


def test_predict_cli_slices_with_a_checkpoint(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from cvpipe.models.build import build_model
    from cvpipe.engine.checkpoint import save_checkpoint

    params = {"image_size": 64, "width": 8, "depth": 0, "fpn_channels": 16, "head_convs": 1, "score_thresh": 0.001}
    torch.manual_seed(0)
    model = build_model("compact", 1, params)
    save_checkpoint(tmp_path / "m.pt", {"model": {"name": "compact", "params": params, "num_classes": 1,
                                                  "state_dict": model.state_dict()},
                                        "categories": ["blob"], "inference": {"input_size": 64}, "epoch": 1})
    gt = _small_objects(tmp_path / "img", images=1, size=200)
    assert main(["predict", str(tmp_path / "m.pt"), str(gt.root), "--out", str(tmp_path / "p"), "--slice", "64",
                 "--overlap", "0.2", "--merge", "wbf", "--score-threshold", "0.0", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 1 and summary["detections"] > 0
    assert main(["predict", str(tmp_path / "m.pt"), str(gt.root), "--out", str(tmp_path / "q"), "--slice", "0"]) == 2
