"""Synthetic VOC data: written through the VOC writer, read back identical, deterministic, and
the ``synthesize`` step's reuse rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.errors import ConfigError
from cvpipe.plugins import get_registry
from cvpipe.synthetic import MARKER, SHAPES, synthesize_voc, synthetic_image, synthetic_samples

pytestmark = pytest.mark.skipif("voc" not in get_registry().formats, reason="the voc format plugin is not registered")


def read_voc(path: Path, **options):
    from cvpipe.formats import read_dataset

    return read_dataset(path, "voc", **options)


def test_read_back_equals_generated(tmp_path):
    cv2 = pytest.importorskip("cv2")
    dst = tmp_path / "voc"
    classes = ["triangle", "circle", "ring", "cross"]
    report = synthesize_voc(dst, images=10, classes=classes, seed=3, size=(160, 120), object_size=(16, 40),
                            objects_per_image=(0, 3), splits={"train": 0.6, "val": 0.2, "test": 0.2})
    assert report["images"] == 10 and report["splits"] == {"train": 6, "val": 2, "test": 2}
    ds = read_voc(dst, classes=classes)
    assert ds.categories == classes and len(ds) == 10
    generated = list(synthetic_samples(10, classes, seed=3, size=(160, 120), object_size=(16, 40),
                                       objects_per_image=(0, 3)))
    assert report["boxes"] == sum(len(b) for _, b, _ in generated) == ds.num_boxes
    by_id = {s.id: s for s in ds.samples}
    for i, (img, boxes, labels) in enumerate(generated):
        s = by_id[f"{i:06d}"]
        assert (s.width, s.height) == (160, 120)
        assert np.array_equal(s.boxes, boxes) and np.array_equal(s.labels, labels)
        assert not s.difficult.any() and not s.truncated.any()
        jpg = cv2.cvtColor(cv2.imread(str(ds.image_path(s))), cv2.COLOR_BGR2RGB)
        assert jpg.shape == img.shape
        # JPEG (quality 95, chroma subsampled) blurs the pixel noise: compare local means
        diff = cv2.blur(jpg.astype(np.float32), (5, 5)) - cv2.blur(img.astype(np.float32), (5, 5))
        assert np.abs(diff).mean() < 2.5
    main = dst / "ImageSets" / "Main"
    lists = {p.stem: p.read_text().split() for p in main.glob("*.txt")}
    assert set(lists) == {"train", "val", "test", "trainval"}  # as in VOC2007
    assert lists["trainval"] == sorted(lists["train"] + lists["val"])
    del lists["trainval"]
    assert sorted(sum(lists.values(), [])) == [f"{i:06d}" for i in range(10)]
    assert {s.split for s in ds.samples} == {"train", "val", "test"}
    assert all(by_id[i].split == name for name, ids in lists.items() for i in ids)
    assert json.loads((dst / MARKER).read_text())["seed"] == 3


def test_default_layout_has_trainval(tmp_path):
    synthesize_voc(tmp_path / "voc", images=10)
    main = tmp_path / "voc" / "ImageSets" / "Main"
    train, val, trainval = (sorted((main / f"{n}.txt").read_text().split()) for n in ("train", "val", "trainval"))
    assert (len(train), len(val)) == (8, 2)
    assert trainval == sorted(train + val)
    assert sorted(p.name for p in (tmp_path / "voc" / "Annotations").iterdir())[0] == "000000.xml"
    assert len(list((tmp_path / "voc" / "JPEGImages").glob("*.jpg"))) == 10


def test_deterministic_by_seed(tmp_path):
    synthesize_voc(tmp_path / "a", images=5, seed=1)
    synthesize_voc(tmp_path / "b", images=5, seed=1)
    synthesize_voc(tmp_path / "c", images=5, seed=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a/Annotations/000000.xml").read_bytes() != (tmp_path / "c/Annotations/000000.xml").read_bytes()
    # image i depends on (seed, i) only, not on how many images are made
    a3 = list(synthetic_samples(3, seed=1))
    a5 = list(synthetic_samples(5, seed=1))
    for (i1, b1, l1), (i2, b2, l2) in zip(a3, a5):
        assert np.array_equal(i1, i2) and np.array_equal(b1, b2) and np.array_equal(l1, l2)


def test_objects_tight_separate_and_in_range():
    rng = np.random.default_rng(0)
    for _ in range(30):
        img, boxes, labels = synthetic_image(rng, list(SHAPES), size=(200, 150), objects_per_image=(2, 5),
                                             object_size=(20, 50), noise=0.0)
        assert img.shape == (150, 200, 3) and img.dtype == np.uint8
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 200) and np.all(boxes[:, 3] <= 150)
        sides = np.concatenate([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
        assert sides.min() >= 19 and sides.max() <= 50
        assert np.array_equal(boxes, np.round(boxes))
        for i in range(len(boxes)):  # no overlap
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        for (x1, y1, x2, y2), k in zip(boxes.astype(int), labels):
            # tight: every border row/column of the box holds object pixels (the shape colour,
            # not the grey background), and the pixels just outside do not
            colour = np.array(SHAPES[list(SHAPES)[k]], float)
            near = np.abs(img.astype(float) - colour).max(axis=2) <= 21
            patch = near[y1:y2, x1:x2]
            assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()
            if y1 > 0:
                assert not near[y1 - 1, x1:x2].any()
            if x2 < 200:
                assert not near[y1:y2, x2].any()


@pytest.mark.parametrize("kwargs, field, words", [
    ({"classes": ["circle", "sqare"]}, "classes[1]", "did you mean 'square'"),
    ({"classes": []}, "classes", "at least one"),
    ({"images": 0}, "images", "at least 1"),
    ({"object_size": (10, 300)}, "size", "too small"),
    ({"object_size": (30, 10)}, "object_size", "invalid range"),
    ({"splits": {"train": 0.5, "trainval": 0.5}}, "splits.trainval", "bad split name"),
    ({"splits": {"train": -1}}, "splits.train", ">= 0"),
])
def test_bad_settings(tmp_path, kwargs, field, words):
    with pytest.raises(ConfigError) as err:
        synthesize_voc(tmp_path / "x", **kwargs)
    assert err.value.problem.field == field and words in str(err.value)
    assert not (tmp_path / "x").exists()


def test_never_overwrites_foreign_data(tmp_path):
    dst = tmp_path / "mine"
    dst.mkdir()
    (dst / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds other data"):
        synthesize_voc(dst, images=2)
    assert (dst / "notes.txt").read_text() == "keep me"
    synthesize_voc(tmp_path / "ours", images=2)
    synthesize_voc(tmp_path / "ours", images=3)  # an earlier synthetic dataset may be replaced
    assert len(list((tmp_path / "ours" / "Annotations").iterdir())) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def make_ctx(tmp_path):
    from cvpipe.pipeline import Context

    return Context(run_dir=tmp_path / "run", base_dir=tmp_path, pipeline="t", quiet=True)


def test_step_outputs_dataset_and_reuses(tmp_path):
    from cvpipe.builtin.synthetic import Synthesize

    step = Synthesize(path=tmp_path / "voc", images=6, skip_if_exists=True, output="data")
    assert step.inputs == {} and step.outputs == {"output": "data"}
    ctx = make_ctx(tmp_path)
    ctx.step_name = "synthesize"
    first = step.run(ctx)
    assert first["skipped"] is False and first["images"] == 6
    assert len(ctx["data"]) == 6 and ctx["data"].categories == ["circle", "square", "triangle"]
    stamp = (tmp_path / "voc" / "Annotations" / "000000.xml").stat().st_mtime_ns
    again = step.run(ctx)
    assert again["skipped"] is True and "same settings" in again["reason"] and len(ctx["data"]) == 6
    assert (tmp_path / "voc" / "Annotations" / "000000.xml").stat().st_mtime_ns == stamp
    other = Synthesize(path=tmp_path / "voc", images=4, skip_if_exists=True).run(ctx)
    assert other["skipped"] is False and other["images"] == 4  # ours, other settings: rewritten
    # a folder that cvpipe did not generate is kept with skip_if_exists, refused without
    real = tmp_path / "real"
    synthesize_voc(real, images=3)
    (real / MARKER).unlink()
    kept = Synthesize(path=real, skip_if_exists=True, output="r").run(ctx)
    assert kept["skipped"] is True and kept["reason"] == "existing dataset" and len(ctx["r"]) == 3
    with pytest.raises(ConfigError, match="holds other data"):
        Synthesize(path=real).run(ctx)


def test_step_default_path_in_run_dir(tmp_path):
    from cvpipe.builtin.synthetic import Synthesize

    ctx = make_ctx(tmp_path)
    ctx.step_name = "synthesize"
    res = Synthesize(images=2).run(ctx)
    assert Path(res["path"]) == tmp_path / "run" / "synthesize" / "synthetic-voc"
    assert (Path(res["path"]) / "Annotations" / "000001.xml").is_file()


def test_step_validates_at_construction():
    from cvpipe.builtin.synthetic import Synthesize

    with pytest.raises(ConfigError) as err:
        Synthesize(classes=["circle", "hexagon"])
    assert err.value.problem.field == "classes[1]"
    with pytest.raises(ConfigError) as err:
        Synthesize(jpeg_quality=0)
    assert err.value.problem.field == "jpeg_quality"


def test_step_keeps_category_order_when_reused(tmp_path):
    from cvpipe.builtin.synthetic import Synthesize

    ctx = make_ctx(tmp_path)
    ctx.step_name = "synthesize"
    step = Synthesize(path=tmp_path / "voc", images=4, classes=["triangle", "circle"], skip_if_exists=True,
                      output="data")
    assert step.run(ctx)["skipped"] is False and ctx["data"].categories == ["triangle", "circle"]
    assert step.run(ctx)["skipped"] is True and ctx["data"].categories == ["triangle", "circle"]


# ---- the hard preset -------------------------------------------------------------------------

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "review-odm" / "data" / "database" / "images"
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"the VOC photos of the fixtures are absent ({PHOTOS})")


def hard(**values):
    from cvpipe.settings import build_settings
    from cvpipe.synthetic import SynthesizeSettings

    return build_settings(SynthesizeSettings, {"difficulty": "hard", **values})


def scenes(n, settings, start=0):
    from cvpipe.synthetic import hard_scenes

    return list(hard_scenes(n, settings.classes, settings, start=start))


def full_mask(obj, size):
    """The whole shape, drawn again from its recorded geometry."""
    from cvpipe.synthetic import _draw_shape_wh

    w, h = size
    mask = np.zeros((h, w), np.uint8)
    _draw_shape_wh(mask, obj["shape"], *obj["rect"])
    return mask > 0


def test_hard_preset_fills_its_defaults_and_keeps_given_values():
    s = hard()
    assert s.classes == list(SHAPES) and tuple(s.objects_per_image) == (3, 12) and tuple(s.object_size) == (8, 160)
    assert tuple(s.aspect) == (0.6, 1.6) and tuple(s.distractors) == (1, 5)
    mine = hard(classes=["ring", "cross"], object_size=(10, 40), objects_per_image=(1, 2))
    assert mine.classes == ["ring", "cross"] and tuple(mine.object_size) == (10, 40)
    assert tuple(mine.aspect) == (0.6, 1.6)  # what was not given comes from the preset
    rec = s.record()
    assert rec["difficulty"] == "hard" and rec["occluded"] == "drop" and rec["backgrounds"] is None
    from cvpipe.synthetic import SynthesizeSettings

    easy = SynthesizeSettings().record()  # the easy marker has the keys it always had
    assert set(easy) == {"images", "classes", "size", "objects_per_image", "object_size", "noise", "seed",
                         "splits", "jpeg_quality"}


@pytest.mark.parametrize("values, field, words", [
    ({"aspect": (1.5, 0.5)}, "aspect", "invalid range"),
    ({"distractors": (3, 1)}, "distractors", "invalid range"),
    ({"min_visibility": 1.5}, "min_visibility", ""),
    ({"backgrounds": "/nonexistent/photos"}, "backgrounds", "not a folder"),
])
def test_hard_bad_settings(values, field, words):
    with pytest.raises(ConfigError) as err:
        hard(**values)
    assert err.value.problem.field == field and words in str(err.value)


def test_easy_refuses_hard_only_settings(tmp_path):
    from cvpipe.synthetic import SynthesizeSettings

    from cvpipe.settings import build_settings

    with pytest.raises(ConfigError) as err:
        build_settings(SynthesizeSettings, {"distractors": (1, 2)})
    assert err.value.problem.field == "distractors" and "hard" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no image file"):
        hard(backgrounds=tmp_path / "empty")


def test_hard_boxes_are_the_tight_visible_extent():
    s = hard(min_visibility=0.4, noise=0.0)
    n_occluded = 0
    for sc in scenes(25, s):
        h, w = sc.owner.shape
        assert (w, h) == tuple(s.size) and sc.image.shape == (h, w, 3) and sc.image.dtype == np.uint8
        assert len(sc.boxes) == len(sc.labels) == len(sc.kept) == len(sc.visibility)
        for box, label, i, vis in zip(sc.boxes, sc.labels, sc.kept, sc.visibility):
            obj = sc.objects[i]
            assert obj["label"] == label and s.classes[label] == obj["shape"]
            whole = full_mask(obj, s.size)
            seen = sc.owner == i
            assert whole.sum() == obj["area"] and not (seen & ~whole).any()  # visible part of its own shape
            ys, xs = np.nonzero(seen)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # tight, visible pixels only
            assert abs(vis - seen.sum() / whole.sum()) < 1e-12
            n_occluded += vis < 1
    assert n_occluded > 20  # occlusion does happen


def test_hard_visibility_threshold_drop_and_difficult():
    drop = scenes(25, hard(min_visibility=0.5))
    assert all((sc.visibility >= 0.5).all() and not sc.difficult.any() for sc in drop)
    dropped = [o for sc in drop for i, o in enumerate(sc.objects) if i not in set(sc.kept.tolist())]
    assert dropped and all(o["visible"] / o["area"] < 0.5 for o in dropped)  # dropped only when below
    flag = scenes(25, hard(min_visibility=0.5, occluded="difficult"))
    for sc_drop, sc_flag in zip(drop, flag):
        # the same images; the flagged ones are the dropped ones plus visible-below-threshold
        assert np.array_equal(sc_drop.image, sc_flag.image)
        assert np.array_equal(sc_flag.difficult, sc_flag.visibility < 0.5)
        assert np.array_equal(sc_flag.boxes[~sc_flag.difficult], sc_drop.boxes)
        assert all(sc_flag.objects[i]["visible"] == 0 for i in range(len(sc_flag.objects))
                   if i not in set(sc_flag.kept.tolist()))  # only wholly hidden objects are left out
    assert sum(sc.difficult.sum() for sc in flag) > 0


def test_hard_sizes_aspects_counts_and_distractors_in_range():
    s = hard()
    sides, aspects = [], []
    for sc in scenes(40, s):
        assert 3 <= len(sc.objects) <= 12
        assert (sc.owner == -2).any() or len(sc.objects) == 12  # distractors drawn (unannotated)
        for o in sc.objects:
            x, y, w, h = o["rect"]
            assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 240
            sides.append(np.sqrt(w * h))
            aspects.append(w / h)
    sides, aspects = np.array(sides), np.array(aspects)
    assert sides.min() >= 7 and sides.max() <= 162 and aspects.min() >= 0.5 and aspects.max() <= 1.75
    # log-uniform: about as many objects below the geometric mean side (~36 px) as above
    assert 0.35 < np.mean(sides < np.sqrt(8 * 160)) < 0.65
    assert sides.min() < 12 and sides.max() > 120 and aspects.min() < 0.7 and aspects.max() > 1.4


def test_hard_deterministic_and_independent_of_count(tmp_path):
    a = scenes(4, hard(seed=5))
    b = scenes(6, hard(seed=5))
    c = scenes(2, hard(seed=5), start=2)
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes)
    assert np.array_equal(a[2].image, c[0].image) and np.array_equal(a[3].boxes, c[1].boxes)
    assert not np.array_equal(a[0].image, scenes(1, hard(seed=6))[0].image)
    synthesize_voc(tmp_path / "x", images=4, difficulty="hard", seed=5)
    synthesize_voc(tmp_path / "y", images=4, difficulty="hard", seed=5)
    for f in sorted((tmp_path / "x").rglob("*")):
        if f.is_file():
            assert f.read_bytes() == (tmp_path / "y" / f.relative_to(tmp_path / "x")).read_bytes(), f


@needs_photos
def test_hard_on_photo_backgrounds_written_as_voc(tmp_path):
    s = hard(backgrounds=PHOTOS, seed=1, occluded="difficult")
    first = scenes(3, s)
    again = scenes(3, hard(backgrounds=PHOTOS, seed=1, occluded="difficult"))
    assert all(np.array_equal(x.image, y.image) for x, y in zip(first, again))
    gradient = scenes(3, hard(seed=1, occluded="difficult"))
    # a photo is busier than the gradient: more distinct colours in the background pixels
    for p, g in zip(first, gradient):
        bg_p = p.image[p.owner == -1].astype(np.int64)
        bg_g = g.image[g.owner == -1].astype(np.int64)
        assert len(np.unique(bg_p // 8, axis=0)) > len(np.unique(bg_g // 8, axis=0))
    report = synthesize_voc(tmp_path / "voc", images=6, difficulty="hard", backgrounds=PHOTOS, seed=1,
                            occluded="difficult")
    ds = read_voc(tmp_path / "voc", classes=list(SHAPES))
    assert report["boxes"] == ds.num_boxes == sum(len(sc.boxes) for sc in scenes(6, s))
    by_id = {smp.id: smp for smp in ds.samples}
    for i, sc in enumerate(scenes(6, s)):
        got = by_id[f"{i:06d}"]
        assert np.array_equal(got.boxes, sc.boxes) and np.array_equal(got.difficult, sc.difficult)
    assert json.loads((tmp_path / "voc" / MARKER).read_text())["backgrounds"] == str(PHOTOS)


def test_step_regenerates_when_the_difficulty_changes(tmp_path):
    from cvpipe.builtin.synthetic import Synthesize

    ctx = make_ctx(tmp_path)
    ctx.step_name = "synthesize"
    assert Synthesize(path=tmp_path / "voc", images=3, skip_if_exists=True).run(ctx)["skipped"] is False
    hard_step = Synthesize(path=tmp_path / "voc", images=3, skip_if_exists=True, difficulty="hard")
    assert hard_step.run(ctx)["skipped"] is False
    assert hard_step.run(ctx)["skipped"] is True
    # back to easy with the hard run's explicit values: still regenerated (the marker says hard)
    easy_again = Synthesize(path=tmp_path / "voc", images=3, skip_if_exists=True, classes=list(SHAPES),
                            objects_per_image=(3, 12), object_size=(8, 160), noise=8.0)
    assert easy_again.run(ctx)["skipped"] is False
