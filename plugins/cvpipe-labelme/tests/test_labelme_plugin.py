"""Tests of the cvpipe-labelme plugin as installed (entry point ``labelme`` in group ``cvpipe``).

Run from the repository root with the main suite (``pytest tests plugins/*/tests``) or alone.
The real LabelMe files are the review-odm fixtures (../shared/fixtures beside the checkout).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cvpipe.errors import ConfigError, InputError
from cvpipe.formats import read_dataset, write_dataset
from cvpipe.testing import assert_same_dataset, check_format, make_dataset, write_images

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
GTS = FIXTURES / "review-odm" / "data" / "database" / "gts"
IMAGES = FIXTURES / "review-odm" / "data" / "database" / "images"
needs_fixtures = pytest.mark.skipif(not (GTS / "labelme_format").is_dir(),
                                    reason=f"real fixtures not found at {GTS} (../shared/fixtures)")


def _write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def _doc(shapes, *, image="a.png", w=64, h=48, **more):
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": h, "imageWidth": w, **more}


def _rect(label, p1, p2, **more):
    return {"label": label, "points": [p1, p2], "group_id": None, "description": "", "shape_type": "rectangle",
            "flags": {}, **more}


# ---------------------------------------------------------------------------------------------
# Installed and conformant
# ---------------------------------------------------------------------------------------------


def test_installed_through_its_entry_point(cvpipe_registry):
    entry = cvpipe_registry.formats.get("labelme")
    assert entry.plugin == "labelme"
    info = {p.name: p for p in cvpipe_registry.plugins}["labelme"]
    assert info.error is None and info.distribution == "cvpipe-labelme" and not info.builtin


def test_conformance_suite(cvpipe_registry, tmp_path):
    results = check_format("labelme", workdir=tmp_path)
    assert all(r.startswith("ok") for r in results.values()), results
    assert "voc, coco, yolo" in results["cross_formats"]  # really checked against the built-ins


# ---------------------------------------------------------------------------------------------
# The real files: the same dataset as the Pascal VOC files beside them
# ---------------------------------------------------------------------------------------------


@needs_fixtures
def test_real_labelme_files_equal_the_voc_files():
    lm = read_dataset(GTS / "labelme_format")  # format detected
    voc = read_dataset(GTS / "pascalvoc_format", "voc", images_dir=IMAGES)
    assert (len(lm), lm.num_boxes) == (100, 273)
    assert_same_dataset(voc, lm, atol=0)  # same images, sizes, classes and boxes, exactly
    first = next(s for s in lm.samples if s.image == "2007_000027.jpg")  # hand-checked file
    assert (first.width, first.height) == (486, 500)
    assert first.boxes.tolist() == [[174.0, 101.0, 349.0, 351.0]]
    assert lm.categories[int(first.labels[0])] == "person"


@needs_fixtures
def test_embedded_images_are_usable_and_written_back(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for f in sorted((GTS / "labelme_format").glob("*.json"))[:4]:
        shutil.copy(f, src)
    ds = read_dataset(src, "labelme")  # no image file beside them: only imageData
    assert all(s.extra.get("labelme_embedded") for s in ds.samples)
    for s in ds.samples:  # extracted, byte for byte the original JPEGs
        assert ds.image_path(s).read_bytes() == (IMAGES / s.image).read_bytes()
    report = write_dataset(ds, tmp_path / "out", "labelme", images="copy")
    assert report["images"] == 4 and report["embedded"] == 4
    for s in ds.samples:
        assert (tmp_path / "out" / s.image).read_bytes() == (IMAGES / s.image).read_bytes()
        doc = json.loads((tmp_path / "out" / s.image).with_suffix(".json").read_text())
        assert base64.b64decode(doc["imageData"]) == (IMAGES / s.image).read_bytes()
    back = read_dataset(tmp_path / "out", "labelme")
    assert not any(s.extra.get("labelme_embedded") for s in back.samples)  # the files are there now
    assert back.root == tmp_path / "out"
    assert_same_dataset(ds, back, atol=0)
    plain = write_dataset(back, tmp_path / "plain", "labelme", images="none", image_data="keep")
    assert plain["embedded"] == 0
    assert json.loads(next((tmp_path / "plain").glob("*.json")).read_text())["imageData"] is None


@needs_fixtures
def test_cli_converts_labelme_to_voc_and_back(tmp_path):
    from cvpipe.cli import main

    assert main(["validate", str(GTS / "labelme_format")]) == 0  # embedded images count as images
    assert main(["convert", str(GTS / "labelme_format"), str(tmp_path / "voc"), "--to", "voc", "-q"]) == 0
    voc = read_dataset(tmp_path / "voc", "voc")  # --from detected; images copied from imageData
    assert_same_dataset(read_dataset(GTS / "pascalvoc_format", "voc", images_dir=IMAGES), voc, atol=0)
    jpeg = "JPEGImages/2007_000027.jpg"
    assert (tmp_path / "voc" / jpeg).read_bytes() == (IMAGES / "2007_000027.jpg").read_bytes()
    assert main(["convert", str(tmp_path / "voc"), str(tmp_path / "lm"), "--to", "labelme", "--images", "link",
                 "-q"]) == 0
    lm = read_dataset(tmp_path / "lm")
    assert_same_dataset(voc, lm, atol=0)
    assert (tmp_path / "lm" / "2007_000027.jpg").read_bytes() == (IMAGES / "2007_000027.jpg").read_bytes()


# ---------------------------------------------------------------------------------------------
# Shapes, flags, scores (hand-worked)
# ---------------------------------------------------------------------------------------------


def test_rectangles_polygons_and_other_shapes(tmp_path):
    poly = [[10, 20], [30, 5.5], [25, 40]]
    circle = {"label": "ball", "points": [[5, 5], [8, 5]], "shape_type": "circle", "flags": {}}
    _write(tmp_path / "ds" / "a.json", _doc([
        _rect("cat", [50, 40], [12, 3]),  # corners in any order
        {"label": "dog", "points": poly, "shape_type": "polygon", "group_id": 3, "flags": {"difficult": True}},
        {"label": "dog", "points": [[1, 1], [4, 1], [4, 9], [1, 9]]},  # no shape_type: a polygon
        circle,
    ]))
    with pytest.warns(UserWarning, match="1 LabelMe shapes .* not boxes .*circle: 1"):
        ds = read_dataset(tmp_path / "ds", "labelme")
    (s,) = ds.samples
    assert ds.categories == ["cat", "dog"]
    assert s.boxes.tolist() == [[12, 3, 50, 40], [10, 5.5, 30, 40], [1, 1, 4, 9]]
    assert s.labels.tolist() == [0, 1, 1] and s.difficult.tolist() == [False, True, False]
    assert s.box_extra[1]["points"] == poly and s.box_extra[1]["group_id"] == 3
    assert ds.meta["labelme_not_boxes"] == {"circle": 1}

    write_dataset(ds, tmp_path / "out", "labelme", images="none")
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    shapes = doc["shapes"]
    assert [sh["shape_type"] for sh in shapes] == ["rectangle", "polygon", "polygon", "circle"]
    assert shapes[0]["points"] == [[12, 3], [50, 40]]
    assert shapes[1]["points"] == poly and shapes[1]["flags"] == {"difficult": True} and shapes[1]["group_id"] == 3
    assert shapes[3] == circle
    assert doc["imagePath"] == "a.png" and (doc["imageWidth"], doc["imageHeight"]) == (64, 48)

    # a box changed after reading (e.g. by a transform) is written as a rectangle, not the old polygon
    s.boxes[1] = [11, 6, 29, 39]
    write_dataset(ds, tmp_path / "moved", "labelme", images="none")
    moved = json.loads((tmp_path / "moved" / "a.json").read_text())["shapes"][1]
    assert moved["shape_type"] == "rectangle" and moved["points"] == [[11, 6], [29, 39]]


def test_scores_and_keep_difficult(tmp_path):
    ds = write_images(make_dataset(2, empty_images=0), tmp_path / "src")
    s = ds.samples[0]
    s.scores = np.linspace(0.9, 0.5, len(s))
    s.difficult[0] = True
    report = write_dataset(ds.subset([s]), tmp_path / "out", "labelme", keep_difficult=False)
    assert report["skipped"] == {"difficult": 1} and report["boxes"] == len(s) - 1
    back = read_dataset(tmp_path / "out", "labelme").samples[0]
    assert back.scores.tolist() == pytest.approx(s.scores[1:].tolist())


def test_image_path_outside_the_folder(tmp_path):
    ds = write_images(make_dataset(1, empty_images=0, unicode_names=False), tmp_path / "images")
    s = ds.samples[0]
    _write(tmp_path / "ann" / "img_000.json",
           _doc([_rect("cat", *s.boxes[0].reshape(2, 2).tolist())], image="../images/img_000.png", w=s.width, h=s.height))
    back = read_dataset(tmp_path / "ann", "labelme")
    assert back.root == tmp_path and back.samples[0].image == "images/img_000.png"
    assert back.image_path(back.samples[0]).is_file()
    out = write_dataset(back, tmp_path / "out", "labelme", images="copy")  # writes inside out/ only
    assert out["images"] == 1 and (tmp_path / "out" / "img_000.png").is_file()
    with_dir = read_dataset(tmp_path / "ann", "labelme", images_dir=tmp_path / "images")
    assert with_dir.root == tmp_path / "images" and with_dir.samples[0].image == "img_000.png"


def test_detect(tmp_path):
    write_images(make_dataset(2), tmp_path / "src")
    _write(tmp_path / "one.json", _doc([]))
    _write(tmp_path / "coco.json", {"images": [], "annotations": [], "categories": []})
    from cvpipe_labelme import detect_labelme

    assert detect_labelme(tmp_path / "one.json")
    assert not detect_labelme(tmp_path / "coco.json")
    assert not detect_labelme(tmp_path / "src")  # images only
    assert not detect_labelme(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------
# Bad input: every problem with its file and field
# ---------------------------------------------------------------------------------------------

_PNG_1x1 = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082")).decode()

BAD = {
    "malformed.json": ('{"shapes": [\n  {"label": "cat",,}\n]}', "malformed.json:2: malformed JSON"),
    "three_point_rect.json": (_doc([_rect("cat", [1, 1], [5, 5]) | {"points": [[1, 1], [5, 5], [6, 6]]}]),
                              "shapes[0].points: a rectangle needs two points"),
    "two_point_polygon.json": (_doc([{"label": "cat", "points": [[1, 1], [5, 5]], "shape_type": "polygon"}]),
                               "shapes[0].points: a polygon needs at least three points"),
    "text_point.json": (_doc([_rect("cat", [1, "x"], [5, 5])]), "shapes[0].points: bad points"),
    "no_label.json": (_doc([_rect("", [1, 1], [5, 5])]), "shapes[0].label: missing or empty label"),
    "no_image_path.json": (_doc([], image=None), "imagePath: missing or empty imagePath"),
    "bad_width.json": (_doc([], w=-3), "imageWidth: bad imageWidth (got -3"),
    "not_base64.json": (_doc([], imageData="@@@not base64@@@"), "imageData: imageData is not base64"),
    "wrong_size.json": (_doc([], imageData=_PNG_1x1), "image size differs from the embedded image"),
    "list.json": ([1, 2], "not a LabelMe file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_names_file_and_field(tmp_path, name):
    content, expected = BAD[name]
    f = tmp_path / "ds" / name
    f.parent.mkdir()
    f.write_text(content if isinstance(content, str) else json.dumps(content, indent=1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_dataset(tmp_path / "ds", "labelme")
    assert expected in str(err.value)
    assert all(p.file == str(f) for p in err.value.problems)


def test_embedded_size_found_behind_a_long_header(tmp_path):
    """A JPEG whose frame header sits behind 10 KB of EXIF-like data: the size is still read
    (the reader decodes the rest of imageData when the first 4 KiB do not hold it)."""
    import cv2

    ok, jpg = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))
    jpg = jpg.tobytes()
    app1 = b"\xff\xe1" + (10002).to_bytes(2, "big") + b"Exif\x00\x00" + bytes(9994)
    data = base64.b64encode(jpg[:2] + app1 + jpg[2:]).decode()
    _write(tmp_path / "ok" / "a.json", _doc([], w=50, h=30, imageData=data))
    ok_ds = read_dataset(tmp_path / "ok", "labelme")
    assert ok_ds.image_path(ok_ds.samples[0]).read_bytes() == base64.b64decode(data)
    _write(tmp_path / "bad" / "a.json", _doc([], w=60, h=30, imageData=data))
    with pytest.raises(InputError, match="got '60x30'; expected 50x30"):
        read_dataset(tmp_path / "bad", "labelme")


def test_lenient_read_collects_every_problem_and_keeps_the_rest(tmp_path):
    _write(tmp_path / "ds" / "a.json", _doc([_rect("cat", [1, 1], [5, 5]), _rect("", [1, 1], [5, 5]),
                                            {"label": "dog", "points": [[1, 1]], "shape_type": "polygon"}]))
    _write(tmp_path / "ds" / "b.json", _doc([], w=0))
    problems: list = []
    ds = read_dataset(tmp_path / "ds", "labelme", problems=problems)
    assert [p.field for p in problems] == ["shapes[1].label", "shapes[2].points", "imageWidth"]
    assert [s.image for s in ds.samples] == ["a.png"] and ds.samples[0].boxes.tolist() == [[1, 1, 5, 5]]


def test_options_are_checked(tmp_path):
    _write(tmp_path / "ds" / "a.json", _doc([]))
    with pytest.raises(ConfigError, match="no splits"):
        read_dataset(tmp_path / "ds", "labelme", splits=["train"])
    with pytest.raises(ConfigError, match="image_data"):
        write_dataset(make_dataset(1), tmp_path / "out", "labelme", image_data="sometimes")
    with pytest.raises(InputError, match="same LabelMe file"):
        ds = make_dataset(2, unicode_names=False)
        ds.samples[1].image = "img_000.jpg"  # img_000.png and img_000.jpg -> img_000.json twice
        write_dataset(ds, tmp_path / "dup", "labelme", images="none")
    assert not (tmp_path / "dup").exists()


def test_module_is_cheap_to_import():
    import subprocess
    import sys

    code = "import sys, cvpipe_labelme; print(sorted(m for m in ('numpy', 'torch', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Law: LabelMe -> LabelMe returns the same data, for any boxes
# ---------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _datasets(draw):
    from cvpipe.data import Dataset, Sample

    cats = draw(st.lists(st.text(min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=4, unique=True))
    samples = []
    for i in range(draw(st.integers(1, 4))):
        w, h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        n = draw(st.integers(0, 5))
        xs = draw(st.lists(st.tuples(st.floats(0, w), st.floats(0, w)), min_size=n, max_size=n))
        ys = draw(st.lists(st.tuples(st.floats(0, h), st.floats(0, h)), min_size=n, max_size=n))
        boxes = [[min(a), min(b), max(a), max(b)] for a, b in zip(xs, ys)]
        labels = draw(st.lists(st.integers(0, len(cats) - 1), min_size=n, max_size=n))
        difficult = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        samples.append(Sample(f"im{i}.jpg", w, h, boxes=np.array(boxes).reshape(-1, 4), labels=labels,
                              difficult=difficult))
    return Dataset(cats, samples)


@settings(max_examples=40, deadline=None)
@given(ds=_datasets())
def test_round_trip_law(ds):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(ds, Path(tmp) / "out", "labelme", images="none")
        back = read_dataset(Path(tmp) / "out", "labelme")
    assert_same_dataset(ds, back, atol=0)
    by_name = {s.image: s for s in back.samples}
    for s in ds.samples:  # the difficult flag travels with its box
        other = by_name[s.image]
        assert sorted(zip(s.boxes.tolist(), s.difficult.tolist())) == \
            sorted(zip(other.boxes.tolist(), other.difficult.tolist()))
