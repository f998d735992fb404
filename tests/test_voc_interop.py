"""Pascal VOC as other tools write and read it (issue 11): split lists with comments, images listed
without an XML file, a lone XML in a devkit, Kaggle's lower-case layout, coordinates without float
noise, one image in two splits. Every dataset here is hand-written in the layout the other tool
documents (the VOC devkit, Kaggle dataset pages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvpipe.builtin.voc import read_voc, write_voc
from cvpipe.builtin.voc.reader import NOTE_LISTED_WITHOUT_XML
from cvpipe.builtin.voc.writer import NOTE_SHARED, annotation_xml
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError
from cvpipe.formats import convert_dataset, detect_format, validate_dataset
from cvpipe.formats.numbers import clean_number_text
from cvpipe.testing import blank_png as png

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ODM = FIXTURES / "review-odm" / "data" / "database"
needs_fixtures = pytest.mark.skipif(not ODM.is_dir(), reason=f"real fixtures not found at {FIXTURES}")


def xml(filename: str, w: int, h: int, boxes=((1, 2, 11, 12),), name: str = "dog") -> str:
    objs = "".join(f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}"
                   f"</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for b in boxes)
    return (f"<annotation><folder>VOC2007</folder><filename>{filename}</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size><segmented>0</segmented>{objs}</annotation>")


def devkit(root: Path, xmls: dict[str, str], images: dict[str, tuple[int, int]],
           lists: dict[str, str] | None = None, ann: str = "Annotations", img: str = "JPEGImages") -> Path:
    """A VOCdevkit year folder: XML files, PNG images (name -> size) and split lists (raw text)."""
    (root / ann).mkdir(parents=True)
    for stem, text in xmls.items():
        (root / ann / f"{stem}.xml").write_text(text, encoding="utf-8")
    for name, (w, h) in images.items():
        png(root / img / name, w, h)
    for split, text in (lists or {}).items():
        p = root / "ImageSets" / "Main" / f"{split}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


# ---------------------------------------------------------------------------------------------
# Split lists
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("splits", [None, ["train", "val"]])
def test_split_lists_skip_comment_and_blank_lines(tmp_path, splits):
    root = devkit(tmp_path / "VOC2007", {"000001": xml("000001.png", 40, 30), "000002": xml("000002.png", 40, 30)},
                  {"000001.png": (40, 30), "000002.png": (40, 30)},
                  {"train": "# images chosen by hand\n\n000001\n   \n", "val": "#000001\n000002  # checked\n"})
    ds = read_voc(root, splits=splits)
    assert [(s.id, s.split) for s in ds] == [("000001", "train"), ("000002", "val")]
    assert "notes" not in ds.meta


@pytest.mark.parametrize("splits", [None, ["train"]])
def test_listed_image_without_xml_is_an_image_without_objects_and_counted(tmp_path, splits, capsys):
    from cvpipe.cli import main

    root = devkit(tmp_path / "VOC", {"a": xml("a.png", 40, 30)}, {"a.png": (40, 30), "b.png": (64, 48)},
                  {"train": "a\nb\n"})
    ds = read_voc(root, splits=splits)
    by = {s.id: s for s in ds}
    assert set(by) == {"a", "b"} and len(by["a"]) == 1
    b = by["b"]  # no XML: no objects, the size from the image header, not dropped, not refused
    assert len(b) == 0 and (b.width, b.height) == (64, 48) and b.split == "train" and b.image == "b.png"
    assert ds.meta["notes"] == {NOTE_LISTED_WITHOUT_XML: 1}
    # said in the summary of validate and convert (both paths: VOC -> YOLO declines its fast path)
    assert validate_dataset(root)["notes"] == {NOTE_LISTED_WITHOUT_XML: 1}
    for to in ("yolo", "coco"):
        rep = convert_dataset(root, tmp_path / to, to, images="copy")
        assert rep["images"] == 2 and rep["notes"][NOTE_LISTED_WITHOUT_XML] == 1
    capsys.readouterr()
    assert main(["convert", str(root), str(tmp_path / "cli"), "--to", "yolo", "-q"]) in (0, None)
    out = capsys.readouterr().out
    assert f"note: {NOTE_LISTED_WITHOUT_XML}: 1" in out
    assert (tmp_path / "cli" / "labels" / "train" / "b.txt").read_text() == ""


def test_listed_id_without_xml_or_image_is_a_problem(tmp_path):
    root = devkit(tmp_path / "VOC", {"a": xml("a.png", 40, 30)}, {"a.png": (40, 30)}, {"train": "a\nghost\n"})
    with pytest.raises(InputError) as err:
        read_voc(root, splits=["train"])
    p = err.value.problems[0]
    assert p.message == "annotation file not found" and p.line == 2 and p.value == "ghost"
    assert p.file.endswith("train.txt")
    # without --split the list only tags files: an id with neither XML nor image is not an image
    assert [s.id for s in read_voc(root)] == ["a"]


def test_bare_image_with_unreadable_header_is_a_problem(tmp_path):
    root = devkit(tmp_path / "VOC", {"a": xml("a.png", 40, 30)}, {"a.png": (40, 30)}, {"train": "a\nb\n"})
    (root / "JPEGImages" / "b.jpg").write_bytes(b"not a jpeg")
    problems: list = []
    ds = read_voc(root, problems=problems)
    assert [s.id for s in ds] == ["a"]
    assert [(p.message, p.line, p.value) for p in problems] == [("image size unknown", 2, "b")]


# ---------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------


def test_lone_xml_finds_its_image_in_the_devkits_jpegimages(tmp_path):
    root = devkit(tmp_path / "VOC2012", {"2008_000008": xml("2008_000008.png", 50, 40)},
                  {"2008_000008.png": (50, 40)})
    one = root / "Annotations" / "2008_000008.xml"
    assert detect_format(one) == "voc"
    ds = read_voc(one)
    assert ds.root == root / "JPEGImages" and ds.image_path(ds.samples[0]).is_file()
    assert validate_dataset(one)["problems"] == []
    rep = convert_dataset(one, tmp_path / "out", "yolo")
    assert rep["images"] == 1 and (tmp_path / "out" / "images" / "train" / "2008_000008.png").is_file()
    # the Annotations folder given alone likewise
    assert read_voc(root / "Annotations").root == root / "JPEGImages"
    assert validate_dataset(root / "Annotations")["problems"] == []


def test_lone_xml_beside_its_image_stays_there(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.xml").write_text(xml("a.png", 40, 30))
    png(tmp_path / "x" / "a.png", 40, 30)
    png(tmp_path / "JPEGImages" / "a.png", 40, 30)  # a devkit folder next door does not win
    assert read_voc(tmp_path / "x" / "a.xml").root == tmp_path / "x"


def test_kaggle_lower_case_annotations_and_images(tmp_path):
    # Kaggle's face-mask / car-plate datasets: annotations/*.xml and images/*.png side by side
    root = devkit(tmp_path / "kaggle", {"maksssksksss0": xml("maksssksksss0.png", 60, 40, name="with_mask"),
                                        "maksssksksss1": xml("maksssksksss1.png", 60, 40, name="without_mask")},
                  {"maksssksksss0.png": (60, 40), "maksssksksss1.png": (60, 40)}, ann="annotations", img="images")
    assert detect_format(root) == "voc"
    ds = read_voc(root)
    assert ds.root == root / "images" and ds.categories == ["with_mask", "without_mask"]
    result = validate_dataset(root)
    assert result["problems"] == [] and result["images"] == 2
    rep = convert_dataset(root, tmp_path / "coco", "coco")
    assert rep["images"] == 2 and rep["boxes"] == 2


# ---------------------------------------------------------------------------------------------
# Writing: numbers without float noise
# ---------------------------------------------------------------------------------------------


def _coords(xml_bytes: bytes) -> list[str]:
    from lxml import etree

    root = etree.fromstring(xml_bytes)
    return [el.text for el in root.iter("xmin", "ymin", "xmax", "ymax")]


def test_float_noise_is_not_written():
    s = Sample("a.png", 500, 400, [[174.00015000000002, 0.1 + 0.2, 349.0, 351.99999999999994]], [0])
    assert _coords(annotation_xml(s, ["dog"], "a.png")) == ["174.00015", "0.3", "349", "352"]
    # within the source's precision (YOLO's 6th decimal of 500 px) 174.00015 is the integer 174
    assert _coords(annotation_xml(s, ["dog"], "a.png", tolerance=(2.5e-4, 2e-4))) == ["174", "0.3", "349", "352"]


@needs_fixtures
def test_yolo_to_voc_writes_integers_where_the_yolo_file_meant_them(tmp_path):
    # review-odm's darknet labels: 0.538066 0.452000 0.360082 0.500000 in 486x500 ->
    # x1 = (0.538066 - 0.360082 / 2) * 486 = 174.000... (the VOC twin says <xmin>174</xmin>)
    rep = convert_dataset(ODM / "gts" / "yolo_format", tmp_path / "voc", "voc", images="none",
                          images_dir=ODM / "images", keep_difficult=True)
    assert rep["images"] == 100
    text = (tmp_path / "voc" / "Annotations" / "2007_000027.xml").read_bytes()
    assert _coords(text) == ["174", "101", "349", "351"]
    # every number is the VOC twin's integer again (156.0001875 was within the 6th decimal too)
    twin = {s.stem: s for s in read_voc(ODM / "gts" / "pascalvoc_format")}
    for f in (tmp_path / "voc" / "Annotations").glob("*.xml"):
        assert all("." not in v for v in _coords(f.read_bytes())), f
    for s in read_voc(tmp_path / "voc"):
        assert sorted(map(tuple, s.boxes.tolist())) == sorted(map(tuple, twin[s.stem].boxes.tolist())), s.stem


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**9, 10**9), st.integers(0, 6))
def test_clean_number_text_keeps_short_decimals(mantissa, places):
    text = f"{mantissa / 10 ** places:.{places}f}" if places else str(mantissa)
    v = float(text)
    got = clean_number_text(v)
    assert float(got) == v  # a decimal with few digits reads back to the very same float
    want = text.rstrip("0").rstrip(".") if "." in text else text
    assert got == ("0" if want in ("-0", "") else want)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_clean_number_text_stays_within_float_noise(v):
    import math

    got = clean_number_text(v)
    r = round(v)
    assert abs(float(got) - v) <= max(64 * math.ulp(v), 1e-9 if float(got) == r else 0.0)


# ---------------------------------------------------------------------------------------------
# One image in two splits
# ---------------------------------------------------------------------------------------------


def test_image_in_two_splits_is_one_xml_listed_in_both(tmp_path):
    png(tmp_path / "src" / "a.png", 40, 30)
    png(tmp_path / "src" / "b.png", 40, 30)

    def sample(name, split):
        return Sample(name, 40, 30, [[1, 2, 10, 20]], [0], id=Path(name).stem, split=split)

    ds = Dataset(["cat"], [sample("a.png", "train"), sample("b.png", "val"), sample("b.png", "test")],
                 root=tmp_path / "src")
    rep = write_voc(ds, tmp_path / "voc")
    assert rep["images"] == 2 and rep["boxes"] == 2 and rep["notes"] == {NOTE_SHARED: 1}
    main = tmp_path / "voc" / "ImageSets" / "Main"
    assert (main / "val.txt").read_text() == "b\n" and (main / "test.txt").read_text() == "b\n"
    assert sorted(p.name for p in (tmp_path / "voc" / "Annotations").iterdir()) == ["a.xml", "b.xml"]
    back = read_voc(tmp_path / "voc")
    assert sorted((s.split, s.id) for s in back) == [("test", "b"), ("train", "a"), ("val", "b")]
    assert validate_dataset(tmp_path / "voc")["problems"] == []
    # the same file with different boxes in two splits cannot share one XML: refused, named
    other = Sample("b.png", 40, 30, [[2, 2, 10, 20]], [0], id="b", split="test")
    with pytest.raises(InputError, match="two images would get the same annotation file"):
        write_voc(Dataset(["cat"], [sample("b.png", "val"), other], root=tmp_path / "src"), tmp_path / "voc2")
    assert not (tmp_path / "voc2").exists()
    assert np.array_equal(back.samples[0].boxes, [[1, 2, 10, 20]])
