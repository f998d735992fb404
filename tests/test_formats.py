"""The shared formats layer and the `convert` / `validate` commands: detection, checks, category
order, cross-format round trips (hypothesis), the real review-odm fixtures, bad input, safety."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.cli import main
from cvpipe.data import Dataset, Origin, Sample
from cvpipe.errors import ConfigError, InputError, Problem, UnknownNameError
from cvpipe.formats import (
    check_dataset,
    convert_dataset,
    detect_format,
    image_names,
    order_categories,
    read_classes_file,
    read_dataset,
    validate_dataset,
    write_dataset,
)
from cvpipe.testing import write_images

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ODM = FIXTURES / "review-odm" / "data" / "database"
needs_odm = pytest.mark.skipif(not (ODM / "gts").is_dir(), reason=f"review-odm fixtures absent: {ODM}")

VOC_000001 = """<annotation>
  <folder>VOC2007</folder>
  <filename>000001.jpg</filename>
  <size><width>353</width><height>500</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object><name>dog</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
    <bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox></object>
  <object><name>person</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
    <bndbox><xmin>8</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox></object>
</annotation>
"""


def assert_same_dataset(expected, actual, *, atol: float) -> None:
    """Same images (by file name), sizes, and boxes per image: each expected (category name,
    xyxy) matched to its own actual box within ``atol`` pixels (order-free, tolerance-safe)."""
    def by_name(ds):
        return {Path(s.image).name: s for s in ds.samples}

    exp, act = by_name(expected), by_name(actual)
    assert len(exp) == len(expected.samples) and len(act) == len(actual.samples)
    assert set(exp) == set(act), (sorted(exp), sorted(act))
    for name, e in exp.items():
        a = act[name]
        assert (e.width, e.height) == (a.width, a.height), name
        assert len(e) == len(a), (name, e.boxes.tolist(), a.boxes.tolist())
        free = list(range(len(a)))
        for box, label in zip(e.boxes, e.labels):
            cat = expected.categories[label]
            match = [j for j in free if actual.categories[a.labels[j]] == cat
                     and np.allclose(a.boxes[j], box, rtol=0, atol=atol)]
            assert match, (name, cat, box.tolist(), a.boxes.tolist())
            free.remove(match[0])


def run_cli(*args, capsys=None) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return rc, out, err


def voc_dir(tmp_path: Path, xmls: dict[str, str]) -> Path:
    root = tmp_path / "VOC"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for name, text in xmls.items():
        (root / "Annotations" / name).write_text(text)
    return root


def coco_file(tmp_path: Path, anns: list[dict], images=None, name="instances_val.json") -> Path:
    data = {
        "images": images or [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
                             {"id": 2, "file_name": "b.png", "width": 20, "height": 10}],
        "annotations": anns,
        "categories": [{"id": 5, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    path = tmp_path / "coco" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def json_line(path: Path, obj) -> int:
    """The line of ``path`` where the JSON object ``obj`` starts (decoded independently)."""
    text = path.read_text()
    offset = 0
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        start = offset + len(line) - len(line.lstrip())
        offset += len(line)
        if text[start:start + 1] == "{":
            with contextlib.suppress(json.JSONDecodeError):
                if json.JSONDecoder().raw_decode(text, start)[0] == obj:
                    return lineno
    raise AssertionError(f"{obj} not found in {path}")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Registry look-ups and options
# ---------------------------------------------------------------------------------------------


def test_detect_format_none_and_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        detect_format(tmp_path / "empty")
    text = str(err.value)
    assert "cannot tell the dataset format" in text and "coco" in text and "voc" in text and "--from" in text
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing")


def test_unknown_option_and_format_are_config_errors(tmp_path):
    src = coco_file(tmp_path, [])
    with pytest.raises(ConfigError) as err:
        read_dataset(src, "coco", image_dir=tmp_path)
    assert err.value.problem.field == "coco reader.image_dir" and "images_dir" in str(err.value)
    with pytest.raises(UnknownNameError) as err:
        read_dataset(src, "cocoo")
    assert "did you mean 'coco'" in str(err.value)
    with pytest.raises(ConfigError, match="wrong type"):
        write_dataset(Dataset(["a"]), tmp_path / "o", "coco", keep_difficult="yes")


# ---------------------------------------------------------------------------------------------
# Common checks
# ---------------------------------------------------------------------------------------------


def test_check_dataset_names_every_problem(tmp_path):
    ds = Dataset(["a", "b"], [
        Sample("ok.png", 20, 10, [[0, 0, 20, 10]], [1], id=1),
        Sample("bad.png", 20, 10,
               [[5, 5, 2, 8], [3, 3, 3, 9], [1, 1, 21, 5], [np.nan, 0, 1, 1], [1, 1, 2, 2], [0, 0, 1, 1]],
               [0, 0, 0, 0, 2, 1], id=2,
               box_origins=[Origin("ann/bad.xml", 10 + i, f"object[{i}]") for i in range(6)],
               origin=Origin("ann/bad.xml")),
        Sample("ok.png", 20, 10, [], [], id=3),
        Sample("c.png", 20, 10, [], [], id=1),
        Sample("d.png", 0, 10, [], [], id=4),
    ], root=tmp_path)
    problems: list[Problem] = []
    valid = check_dataset(ds, problems, check_images=False)
    got = [(p.file, p.line, p.field, p.message) for p in problems]
    assert got[:3] == [
        (str(tmp_path / "ok.png"), None, "image", "duplicate image"),
        (str(tmp_path / "c.png"), None, "id", "duplicate image id"),
        (str(tmp_path / "d.png"), None, "size", "image size is not positive"),
    ]
    assert got[3:] == [
        ("ann/bad.xml", 10, "object[0]", "box is inverted"),
        ("ann/bad.xml", 11, "object[1]", "box has zero area"),
        ("ann/bad.xml", 12, "object[2]", "box is outside the image"),
        ("ann/bad.xml", 13, "object[3]", "box coordinate is not a finite number"),
        ("ann/bad.xml", 14, "object[4].label", "label out of range"),
    ]
    assert [s.image for s in valid.samples] == ["ok.png", "bad.png"]
    assert valid.samples[1].boxes.tolist() == [[0, 0, 1, 1]]


def test_check_images_missing_and_size(tmp_path):
    ds = Dataset(["a"], [Sample("x.png", 30, 20), Sample("y.png", 31, 20), Sample("z.png", 30, 20)], root=tmp_path)
    write_images(Dataset(["a"], [Sample("x.png", 30, 20), Sample("y.png", 30, 20)]), tmp_path)
    problems: list[Problem] = []
    valid = check_dataset(ds, problems)
    assert [p.message for p in problems] == ["image size differs from the annotation", "image file not found"]
    assert problems[0].value == "31x20" and "30x20" in problems[0].expected
    assert problems[1].value == str(tmp_path / "z.png")
    assert [s.image for s in valid.samples] == ["x.png"]
    # no image at all where the layout says: one problem, not one per image
    problems = []
    check_dataset(Dataset(["a"], [Sample("p.png", 3, 3), Sample("q.png", 3, 3)], root=tmp_path / "none"), problems)
    assert len(problems) == 1 and "no image files found (2 images listed)" in problems[0].message


def test_order_categories_rules(tmp_path):
    ds = Dataset(["person", "dog", "zebra"], [Sample("a.png", 9, 9, [[0, 0, 1, 1], [1, 1, 2, 2]], [0, 1])])
    assert order_categories(ds) is ds  # zebra is not a VOC class: the data's own order
    voc = Dataset(["person", "dog"], [Sample("a.png", 9, 9, [[0, 0, 1, 1], [1, 1, 2, 2]], [0, 1])])
    out = order_categories(voc)
    assert out.categories == ["dog", "person"] and out.samples[0].labels.tolist() == [1, 0]
    classes = tmp_path / "classes.txt"
    classes.write_text("# mine\nzebra\n\nperson\ndog\ncow\n")
    names = read_classes_file(classes)
    assert names == ["zebra", "person", "dog", "cow"]
    out = order_categories(ds, names, classes_file=str(classes))
    assert out.categories == names and out.samples[0].labels.tolist() == [1, 2]
    with pytest.raises(InputError) as err:
        order_categories(ds, ["person"], classes_file=str(classes))
    assert err.value.problem.file == str(classes) and err.value.problem.value == "dog"  # zebra has no boxes
    classes.write_text("a\nb\na\n")
    with pytest.raises(InputError) as err:
        read_classes_file(classes)
    assert err.value.problem.line == 3


def test_image_names():
    samples = [Sample("JPEGImages/a.jpg", 1, 1), Sample("JPEGImages/sub/b.jpg", 1, 1)]
    assert image_names(samples) == ["a.jpg", "sub/b.jpg"]
    coco = [Sample("images/val/x/y.jpg", 1, 1, extra={"file_name": "x/y.jpg"})]
    assert image_names(coco) == ["x/y.jpg"]


# ---------------------------------------------------------------------------------------------
# Cross-format round trips (hypothesis)
# ---------------------------------------------------------------------------------------------

NAMES = ["dog", "person", "car", "zebra crossing", "été", "bird"]


@st.composite
def datasets(draw, fractional: bool = True):
    cats = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    samples = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(st.integers(8, 90)), draw(st.integers(8, 90))
        boxes = []
        for _ in range(draw(st.integers(0, 4))):
            x1 = draw(st.integers(0, w - 2))
            y1 = draw(st.integers(0, h - 2))
            x2 = draw(st.integers(x1 + 1, w))
            y2 = draw(st.integers(y1 + 1, h))
            box = [float(x1), float(y1), float(x2), float(y2)]
            if fractional:  # hundredths inside the integer box keep it valid and non-empty
                box[0] += draw(st.integers(0, 40)) / 100
                box[1] += draw(st.integers(0, 40)) / 100
                box[2] -= draw(st.integers(0, 40)) / 100
                box[3] -= draw(st.integers(0, 40)) / 100
            boxes.append(box)
        labels = [draw(st.integers(0, len(cats) - 1)) for _ in boxes]
        samples.append(Sample(f"im_{i}.png", w, h, np.array(boxes).reshape(-1, 4), labels, id=f"im_{i}", split="train"))
    return Dataset(cats, samples)


HYPO = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fresh(tmp_path: Path, tag: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=tag, dir=tmp_path))


@HYPO
@given(ds=datasets())
def test_voc_coco_voc_round_trip(tmp_path, ds):
    work = _fresh(tmp_path, "vcv")
    write_dataset(ds, work / "voc", "voc", images="none")
    first = read_dataset(work / "voc", "voc")
    write_dataset(first, work / "coco", "coco", images="none")
    mid = read_dataset(work / "coco")
    assert_same_dataset(first, mid, atol=1e-9)
    write_dataset(mid, work / "voc2", "voc", images="none")
    back = read_dataset(work / "voc2")
    assert_same_dataset(first, back, atol=1e-9)
    assert_same_dataset(ds, back, atol=1e-9)


@HYPO
@given(ds=datasets())
def test_voc_yolo_voc_round_trip(tmp_path, ds):
    work = _fresh(tmp_path, "vyv")
    write_dataset(write_images(ds, work / "png"), work / "voc", "voc", images="copy")
    first = read_dataset(work / "voc", "voc")
    convert_dataset(work / "voc", work / "yolo", "yolo", images="copy")  # the CLI's path (streaming)
    mid = read_dataset(work / "yolo")
    tol = 1e-6 * 90  # six decimals of normalised coordinates, images up to 90 px
    assert_same_dataset(first, mid, atol=tol)
    write_dataset(mid, work / "voc2", "voc", images="copy")
    assert_same_dataset(first, read_dataset(work / "voc2"), atol=tol)


@HYPO
@given(ds=datasets())
def test_coco_yolo_coco_round_trip(tmp_path, ds):
    work = _fresh(tmp_path, "cyc")
    write_dataset(write_images(ds, work / "png"), work / "coco", "coco", images="copy")
    first = read_dataset(work / "coco", "coco")
    convert_dataset(work / "coco", work / "yolo", "yolo", images="copy")
    mid = read_dataset(work / "yolo")
    tol = 1e-6 * 90
    assert_same_dataset(first, mid, atol=tol)
    convert_dataset(work / "yolo", work / "coco2", "coco", images="copy")
    back = read_dataset(work / "coco2")
    assert_same_dataset(first, back, atol=tol)
    assert_same_dataset(ds, back, atol=tol)


# ---------------------------------------------------------------------------------------------
# Real fixtures: one dataset written by other tools in four formats
# ---------------------------------------------------------------------------------------------


@needs_odm
def test_review_odm_formats_agree():
    images = ODM / "images"
    gts = ODM / "gts"
    voc = read_dataset(gts / "pascalvoc_format", images_dir=images)
    assert detect_format(gts / "pascalvoc_format") == "voc"
    assert detect_format(gts / "yolo_format") == "yolo"
    assert detect_format(gts / "coco_format_v1") == "coco"
    assert detect_format(gts / "coco_format_v2" / "instances_v2.json") == "coco"
    others = {
        "coco v1": read_dataset(gts / "coco_format_v1", images_dir=images),
        "coco v2": read_dataset(gts / "coco_format_v2" / "instances_v2.json", images_dir=images),
    }
    for name, ds in others.items():
        assert len(ds) == len(voc) == 100 and ds.num_boxes == voc.num_boxes == 273, name
        assert sorted(ds.categories) == sorted(voc.categories), name
        assert_same_dataset(voc, ds, atol=0)  # integer pixels: exactly the same numbers
    yolo = read_dataset(gts / "yolo_format", images_dir=images)
    assert sorted(yolo.categories) == sorted(voc.categories)
    assert_same_dataset(voc, yolo, atol=1e-3)  # six decimals of normalised coordinates
    # every image and size is what the JPEG headers say
    problems: list[Problem] = []
    check_dataset(others["coco v1"], problems)
    assert problems == []


@needs_odm
def test_review_odm_convert_voc_to_coco_matches_coco_v1(tmp_path, capsys):
    args = ["convert", ODM / "gts" / "pascalvoc_format", tmp_path / "coco", "--to", "coco",
            "--images-dir", ODM / "images", "--images", "link", "--quiet"]
    rc, out, err = run_cli(*args, capsys=capsys)
    assert rc == 0, err  # difficult objects are left out by default, and counted
    rows = {line.rsplit(None, 1)[0].strip(): int(line.rsplit(None, 1)[1]) for line in out.splitlines()[3:]}
    assert rows == {"images written": 100, "boxes written": 235, "skipped: difficult": 38}
    rc, out, err = run_cli(*args, "--keep-difficult", "--overwrite", capsys=capsys)
    assert rc == 0, err
    assert "boxes written     273" in out
    ours = read_dataset(tmp_path / "coco")
    v1 = read_dataset(ODM / "gts" / "coco_format_v1", images_dir=ODM / "images")
    assert_same_dataset(v1, ours, atol=0)
    assert ours.root == tmp_path / "coco" / "images" / "default"
    assert validate_dataset(tmp_path / "coco")["ok"]


# ---------------------------------------------------------------------------------------------
# cvpipe convert / cvpipe validate
# ---------------------------------------------------------------------------------------------


def test_convert_voc_sample_to_yolo_by_hand(tmp_path, capsys):
    src = voc_dir(tmp_path, {"000001.xml": VOC_000001})
    rc, out, err = run_cli("convert", src, tmp_path / "yolo", "--to", "yolo", "--images", "none", "--quiet",
                           capsys=capsys)
    assert rc == 0, err
    lines = (tmp_path / "yolo" / "labels" / "train" / "000001.txt").read_text().splitlines()
    # dog = 0, person = 1 (VOC's canonical order); cx = (48+195)/2/353, cy = (240+371)/2/500, ...
    assert lines == ["0 0.344193 0.611000 0.416431 0.262000", "1 0.509915 0.510000 0.974504 0.972000"]
    assert "boxes written" in out and " 2" in out


def test_convert_refuses_bad_input_and_leaves_dst(tmp_path, capsys):
    src = coco_file(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]},
        {"id": 2, "image_id": 2, "category_id": 9, "bbox": [15, 2, 10, 3]},  # x2 = 25 > width 20
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [1, 1, 2, 2]},  # unknown category
    ])
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "old.txt").write_text("keep me")
    before = snapshot(tmp_path)
    rc, out, err = run_cli("convert", src, dst, "--to", "yolo", "--images", "none", "--quiet", capsys=capsys)
    assert rc == 2 and "the output exists and is not empty" in err and "--overwrite" in err
    rc, out, err = run_cli("convert", src, dst, "--to", "yolo", "--images", "none", "--quiet", "--overwrite",
                           capsys=capsys)
    assert rc == 2
    anns = json.loads(src.read_text())["annotations"]
    assert f"{src}:{json_line(src, anns[2])}: annotations[2].category_id: unknown category id" in err
    assert f"{src}:{json_line(src, anns[1])}: annotations[1]: box is outside the image" in err
    assert "--skip-invalid" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before  # DST untouched, no temporary leftovers

    rc, out, err = run_cli("convert", src, dst, "--to", "yolo", "--images", "none", "--skip-invalid", "--quiet",
                           "--overwrite", "--json", tmp_path / "report.json", capsys=capsys)
    assert rc == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["images"] == 2 and report["boxes"] == 1 and report["to"] == "yolo"
    assert report["skipped"]["invalid: box is outside the image"] == 1
    assert "skipped: invalid: box is outside the image" in out and "skipped: invalid: unknown category id" in out
    assert not (dst / "old.txt").exists()
    assert (dst / "labels" / "val" / "a.txt").read_text() == "0 0.087500 0.116667 0.125000 0.166667\n"
    assert (dst / "labels" / "val" / "b.txt").read_text() == ""


@pytest.mark.parametrize("to", ["coco", "yolo"])  # general path; VOC's streaming path
def test_convert_refuses_bad_voc_naming_the_file(tmp_path, capsys, to):
    bad = VOC_000001.replace("<xmin>48</xmin>", "<xmin>250</xmin>")
    src = voc_dir(tmp_path, {"000001.xml": VOC_000001, "000002.xml": bad.replace("000001.jpg", "000002.jpg")})
    rc, out, err = run_cli("convert", src, tmp_path / "out", "--to", to, "--images", "none", "--quiet",
                           capsys=capsys)
    assert rc == 2 and f"{src / 'Annotations' / '000002.xml'}:7: object[0].bndbox: box is inverted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOC"]
    rc, out, err = run_cli("convert", src, tmp_path / "out", "--to", to, "--images", "none", "--quiet",
                           "--skip-invalid", capsys=capsys)
    assert rc == 0 and "skipped: invalid: box is inverted      1" in out


def test_convert_interrupted_leaves_dst_untouched(tmp_path, capsys, monkeypatch):
    src = coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]},
                               {"id": 2, "image_id": 2, "category_id": 9, "bbox": [1, 1, 5, 5]}])
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "old.txt").write_text("keep me")
    before = snapshot(tmp_path)
    import builtins

    calls = []
    real_write_text, real_open = Path.write_text, builtins.open

    def write_text(self, *a, **k):  # Ctrl-C after the first file written, whichever way
        calls.append(self)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real_write_text(self, *a, **k)

    def open_(file, mode="r", *a, **k):
        if "w" in mode and str(file).startswith(str(tmp_path)):
            calls.append(file)
            if len(calls) > 1:
                raise KeyboardInterrupt
        return real_open(file, mode, *a, **k)

    import os

    real_os_open = os.open

    def os_open(path, flags, *a, **k):
        if flags & os.O_CREAT and str(path).startswith(str(tmp_path)):
            calls.append(path)
            if len(calls) > 1:
                raise KeyboardInterrupt
        return real_os_open(path, flags, *a, **k)

    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(os, "open", os_open)
    rc, out, err = run_cli("convert", src, dst, "--to", "yolo", "--images", "none", "--quiet", "--overwrite",
                           capsys=capsys)
    monkeypatch.undo()
    assert rc == 130 and len(calls) == 2
    assert snapshot(tmp_path) == before


def test_convert_options(tmp_path, capsys):
    src = coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]},
                               {"id": 2, "image_id": 2, "category_id": 9, "bbox": [2, 2, 4, 4]}])
    classes = tmp_path / "classes.txt"
    classes.write_text("dog\ncat\n")
    rc, out, err = run_cli("convert", src, tmp_path / "y", "--to", "yolo", "--images", "none", "--classes", classes,
                           "--split", "val", "--from", "coco", "--quiet", capsys=capsys)
    assert rc == 0, err
    assert (tmp_path / "y" / "labels" / "val" / "a.txt").read_text().startswith("1 ")
    assert "names:\n  0: dog\n  1: cat" in (tmp_path / "y" / "data.yaml").read_text()
    rc, out, err = run_cli("convert", src, tmp_path / "z", "--to", "yolo", "--split", "train", capsys=capsys)
    assert rc == 2 and "split not found" in err and not (tmp_path / "z").exists()
    rc, out, err = run_cli("convert", src, tmp_path / "z", "--to", "yolov5", capsys=capsys)
    assert rc == 2 and "unknown format 'yolov5'" in err and "did you mean 'yolo'" in err
    rc, out, err = run_cli("convert", src, src.parent, "--to", "coco", capsys=capsys)
    assert rc == 2 and "overlaps the input" in err


def test_validate_clean_and_dirty(tmp_path, capsys):
    ds = write_images(Dataset(["cat", "dog"], [Sample("a.png", 40, 30), Sample("b.png", 20, 10)]), tmp_path / "coco" / "images")
    good = coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]}])
    assert ds.root == good.parent / "images"
    rc, out, err = run_cli("validate", good, capsys=capsys)
    assert rc == 0 and out.startswith("ok: ") and "2 images, 1 boxes" in out
    bad = coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, -5, 5]},
                               {"id": 2, "image_id": 3, "category_id": 5, "bbox": [1, 1, 5, 5]}],
                    images=[{"id": 1, "file_name": "a.png", "width": 41, "height": 30},
                            {"id": 2, "file_name": "missing.png", "width": 5, "height": 5}], name="instances_bad.json")
    report = tmp_path / "problems.json"
    rc, out, err = run_cli("validate", bad, "--json", report, capsys=capsys)
    assert rc == 2 and "4 problems found" in err
    lines = out.splitlines()
    data = json.loads(bad.read_text())
    at = {f"{key}[{k}]": json_line(bad, data[key][k]) for key in ("images", "annotations") for k in range(2)}
    assert (f"{bad}:{at['annotations[1]']}: annotations[1].image_id: unknown image id "
            "(got 3; expected the id of an entry in images)") in lines
    assert any(line.startswith(f"{bad}:{at['images[0]']}: images[0]: image size differs from the annotation")
               for line in lines)
    assert any(line.startswith(f"{bad}:{at['images[1]']}: images[1]: image file not found") for line in lines)
    assert any(line.startswith(f"{bad}:{at['annotations[0]']}: annotations[0]: box is inverted") for line in lines)
    data = json.loads(report.read_text())
    assert data["ok"] is False and len(data["problems"]) == 4
    assert {p["field"] for p in data["problems"]} == {"annotations[1].image_id", "images[0]", "images[1]", "annotations[0]"}
    assert all(p["file"] == str(bad) for p in data["problems"])
    rc, out, err = run_cli("validate", bad, "--no-images", capsys=capsys)
    assert rc == 2 and "2 problems found" in err


def test_validate_malformed_json_line(tmp_path, capsys):
    bad = tmp_path / "instances_x.json"
    bad.write_text('{"images": [],\n "annotations": [\n {"id": 1 "image_id": 2}]}')
    rc, out, err = run_cli("validate", bad, "--from", "coco", capsys=capsys)
    assert rc == 2 and f"{bad}:3: malformed JSON" in out


def test_convert_path_does_not_import_torch(tmp_path):
    src = coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]}])
    code = (
        "import sys\n"
        "from cvpipe.cli import main\n"
        f"rc = main(['convert', {str(src)!r}, {str(tmp_path / 'out')!r}, '--to', 'yolo', '--images', 'none', '--quiet'])\n"
        f"rc2 = main(['validate', {str(src)!r}, '--no-images'])\n"
        "heavy = [m for m in ('torch', 'torchvision', 'albumentations') if m in sys.modules]\n"
        "assert rc == 0 and rc2 == 0 and not heavy, (rc, rc2, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_plugin_reader_without_problems_option(tmp_path, cvpipe_plugin):
    import cvpipe

    class Plugin:
        @staticmethod
        @cvpipe.hookimpl
        def cvpipe_register_formats(register):
            def read(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None):
                raise InputError("broken record", file=str(path), line=4)

            register("fake", reader=read, detect=lambda p: Path(p).suffix == ".fake")

    cvpipe_plugin(Plugin(), name="fake")
    src = tmp_path / "a.fake"
    src.write_text("x")
    result = validate_dataset(src)
    assert result["format"] == "fake" and not result["ok"]
    assert [str(p) for p in result["problems"]] == [f"{src}:4: broken record"]


@HYPO
@given(ds=datasets(), crowd=st.lists(st.booleans(), min_size=4, max_size=4))
def test_coco_to_yolo_direct_path_equals_general_path(tmp_path, ds, crowd):
    from cvpipe.builtin.coco import convert_coco_to_yolo
    from cvpipe.builtin.yolo import write_yolo

    work = _fresh(tmp_path, "fast")
    for s in ds.samples:  # some crowd boxes, which YOLO leaves out and counts
        s.iscrowd[:] = crowd[: len(s)]
    write_dataset(ds, work / "coco", "coco", images="none")
    src = work / "coco" / "annotations" / "instances_train.json"
    fast = convert_coco_to_yolo(src, work / "a")
    assert fast is not None
    general = write_yolo(order_categories(read_dataset(src)), work / "b", images="none")
    assert fast == general
    a, b = snapshot(work / "a"), snapshot(work / "b")
    a["data.yaml"] = a["data.yaml"].replace(str(work / "a").encode(), b"")
    b["data.yaml"] = b["data.yaml"].replace(str(work / "b").encode(), b"")
    assert a == b
