"""Pascal VOC reader/writer and the streaming VOC -> YOLO converter."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.builtin.voc import reader as voc_reader
from cvpipe.builtin.voc import to_yolo as _voc2yolo
from cvpipe.builtin.voc import VOC_CLASSES, convert_voc_to_yolo, detect_voc, read_voc, write_voc
from cvpipe.builtin.yolo import read_yolo, write_yolo
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError
from cvpipe.testing import assert_same_dataset, blank_png as png, check_format

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ODM = FIXTURES / "review-odm" / "data" / "database"
TOY = FIXTURES / "review-odm" / "toyexample"
needs_fixtures = pytest.mark.skipif(not ODM.is_dir(), reason=f"real fixtures not found at {FIXTURES}")

# The first annotation of VOC2007 (000001.xml), as the devkit ships it.
VOC2007_000001 = """<annotation>
\t<folder>VOC2007</folder>
\t<filename>000001.jpg</filename>
\t<source>
\t\t<database>The VOC2007 Database</database>
\t\t<annotation>PASCAL VOC2007</annotation>
\t\t<image>flickr</image>
\t\t<flickrid>341012865</flickrid>
\t</source>
\t<owner>
\t\t<flickrid>Fried Camels</flickrid>
\t\t<name>Jinky the Fruit Bat</name>
\t</owner>
\t<size>
\t\t<width>353</width>
\t\t<height>500</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>0</segmented>
\t<object>
\t\t<name>dog</name>
\t\t<pose>Left</pose>
\t\t<truncated>1</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>48</xmin>
\t\t\t<ymin>240</ymin>
\t\t\t<xmax>195</xmax>
\t\t\t<ymax>371</ymax>
\t\t</bndbox>
\t</object>
\t<object>
\t\t<name>person</name>
\t\t<pose>Left</pose>
\t\t<truncated>1</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>8</xmin>
\t\t\t<ymin>12</ymin>
\t\t\t<xmax>352</xmax>
\t\t\t<ymax>498</ymax>
\t\t</bndbox>
\t</object>
</annotation>
"""



def yolo_names(dst: Path) -> list[str]:
    """The class names of the data.yaml written at ``dst``, in id order."""
    import yaml

    names = yaml.safe_load((dst / "data.yaml").read_text())["names"]
    return [names[i] for i in range(len(names))]

def devkit(root: Path, files: dict[str, str], splits: dict[str, list[str]] | None = None) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for name, text in files.items():
        (root / "Annotations" / f"{name}.xml").write_text(text, encoding="utf-8")
    if splits:
        main = root / "ImageSets" / "Main"
        main.mkdir(parents=True)
        for split, ids in splits.items():
            (main / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    return root


def xml(filename: str, w: int, h: int, objects: str = "", extra: str = "") -> str:
    return (f"<annotation><filename>{filename}</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{extra}{objects}</annotation>")


def obj(name: str, box, *, difficult: str | None = "0", more: str = "") -> str:
    d = f"<difficult>{difficult}</difficult>" if difficult is not None else ""
    b = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name>{d}{more}<bndbox>{b}</bndbox></object>"


# ---------------------------------------------------------------------------------------------
# The sample annotation, worked by hand
# ---------------------------------------------------------------------------------------------


def test_voc2007_000001_converts_to_hand_worked_yolo_values(tmp_path):
    src = devkit(tmp_path / "VOC2007", {"000001": VOC2007_000001})
    # dog 48,240,195,371 in 353x500:
    #   cx = (48 + 195) / 2 / 353 = 121.5 / 353 = 0.3441926.. ; cy = (240 + 371) / 2 / 500 = 0.611
    #   w  = (195 - 48) / 353 = 147 / 353 = 0.4164306..       ; h  = (371 - 240) / 500 = 0.262
    # person 8,12,352,498:
    #   cx = 360 / 2 / 353 = 0.5099150.. ; cy = 510 / 2 / 500 = 0.51
    #   w  = 344 / 353 = 0.9745042..     ; h  = 486 / 500 = 0.972
    # classes: only VOC names are used, so canonical VOC order of those present: dog (0), person (1)
    expected = "0 0.344193 0.611000 0.416431 0.262000\n1 0.509915 0.510000 0.974504 0.972000\n"
    report = convert_voc_to_yolo(src, tmp_path / "fast", progress=False)
    assert (tmp_path / "fast" / "labels" / "train" / "000001.txt").read_text() == expected
    assert yolo_names(tmp_path / "fast") == ["dog", "person"]
    assert (report["images"], report["boxes"]) == (1, 2)
    ds = read_voc(src)
    write_yolo(ds, tmp_path / "generic", images="none")
    assert (tmp_path / "generic" / "labels" / "train" / "000001.txt").read_text() == expected
    import yaml

    meta = yaml.safe_load((tmp_path / "fast" / "data.yaml").read_text())
    assert meta["names"] == {0: "dog", 1: "person"} and meta["train"] == "images/train"
    assert meta["path"] == str((tmp_path / "fast").absolute())


def test_voc2007_000001_fields_and_one_based_convention(tmp_path):
    src = devkit(tmp_path / "VOC2007", {"000001": VOC2007_000001})
    ds = read_voc(src)
    s = ds.samples[0]
    assert (s.image, s.width, s.height, s.id) == ("000001.jpg", 353, 500, "000001")
    assert ds.root == src / "JPEGImages"
    assert ds.categories == ["dog", "person"]
    assert s.boxes.tolist() == [[48, 240, 195, 371], [8, 12, 352, 498]]
    assert s.truncated.tolist() == [True, True] and s.difficult.tolist() == [False, False]
    assert s.extra["owner"] == {"flickrid": "Fried Camels", "name": "Jinky the Fruit Bat"}
    assert s.extra["source"]["flickrid"] == "341012865"
    assert s.extra["folder"] == "VOC2007" and s.extra["depth"] == 3 and s.extra["segmented"] == 0
    assert [b["pose"] for b in s.box_extra] == ["Left", "Left"]
    one = read_voc(src, pixel_convention="one_based")
    assert one.samples[0].boxes.tolist() == [[47, 239, 194, 370], [7, 11, 351, 497]]
    write_voc(one, tmp_path / "out", images="none", pixel_convention="one_based")
    assert read_voc(tmp_path / "out").samples[0].boxes.tolist() == s.boxes.tolist()
    write_voc(one, tmp_path / "same", images="none")  # default: the convention it was read with
    assert read_voc(tmp_path / "same").samples[0].boxes.tolist() == s.boxes.tolist()
    write_voc(replace(one, meta={}), tmp_path / "raw", images="none")  # not from VOC: raw
    assert read_voc(tmp_path / "raw").samples[0].boxes.tolist() == one.samples[0].boxes.tolist()


# ---------------------------------------------------------------------------------------------
# Schema: every field kept, parts never mistaken for the box, floats and whitespace
# ---------------------------------------------------------------------------------------------

LAYOUT = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <!-- a comment -->
  <segmented>1</segmented>
  <size><height> 300 </height><width>
     400
  </width></size>
  <filename>  2008_000001.jpg </filename>
  <folder>VOC2012</folder>
  <object>
    <name>
      person
    </name>
    <part><name>head</name><bndbox><xmin>10</xmin><ymin>11</ymin><xmax>20</xmax><ymax>21</ymax></bndbox></part>
    <part><name>hand</name><bndbox><xmin>30.5</xmin><ymin>31</ymin><xmax>40</xmax><ymax>41.25</ymax></bndbox></part>
    <bndbox><xmin> 5.5 </xmin><ymin>6</ymin><xmax>100.25</xmax><ymax>200</ymax></bndbox>
    <occluded>1</occluded>
    <truncated>0</truncated>
    <actions><jumping>1</jumping><other>0</other></actions>
  </object>
  <object>
    <name>car</name><pose>Rear</pose><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>
  </object>
  <custom><a>x</a><a>y</a></custom>
</annotation>
"""


def test_schema_fields_parts_floats_whitespace_round_trip(tmp_path):
    src = devkit(tmp_path / "src", {"2008_000001": LAYOUT})
    ds = read_voc(src)
    s = ds.samples[0]
    assert (s.image, s.width, s.height) == ("2008_000001.jpg", 400, 300)
    assert ds.categories == ["car", "person"]  # VOC canonical order
    assert s.labels.tolist() == [1, 0]
    # the object's own box, not the parts' (which come before it in the file)
    assert s.boxes.tolist() == [[5.5, 6, 100.25, 200], [1, 2, 3, 4]]
    assert s.difficult.tolist() == [False, True]  # absent means 0
    p = s.box_extra[0]
    assert p["parts"] == [{"name": "head", "bndbox": [10, 11, 20, 21]}, {"name": "hand", "bndbox": [30.5, 31, 40, 41.25]}]
    assert p["occluded"] == 1 and p["voc_fields"] == {"actions": {"jumping": "1", "other": "0"}}
    assert s.box_extra[1]["pose"] == "Rear"
    assert s.extra["segmented"] == 1 and s.extra["folder"] == "VOC2012"
    assert s.extra["voc_fields"] == {"custom": {"a": ["x", "y"]}}

    write_voc(ds, tmp_path / "out", images="none")
    back = read_voc(tmp_path / "out")
    b = back.samples[0]
    assert back.categories == ds.categories
    assert b.boxes.tolist() == s.boxes.tolist() and b.labels.tolist() == s.labels.tolist()
    assert b.difficult.tolist() == s.difficult.tolist() and b.truncated.tolist() == s.truncated.tolist()
    assert b.box_extra == s.box_extra and b.extra == s.extra  # origins are beside the data, not in it
    assert b.box_origins[0].file.endswith("2008_000001.xml") and b.box_origins[0].field == "object[0].bndbox"
    text = (tmp_path / "out" / "Annotations" / "2008_000001.xml").read_text()
    assert "<xmin>5.5</xmin>" in text and "<xmax>100.25</xmax>" in text and "<part>" in text


def test_splits_and_trainval_and_class_lists(tmp_path):
    files = {f"{i:03d}": xml(f"{i:03d}.jpg", 50, 40, obj("cat", (1, 1, 9, 9))) for i in range(5)}
    src = devkit(tmp_path / "src", files, {"train": ["000", "001"], "val": ["002"], "trainval": ["000", "001", "002"],
                                             "cat_train": ["000  1"]})
    ds = read_voc(src)
    assert [(s.id, s.split) for s in ds] == [("000", "train"), ("001", "train"), ("002", "val"), ("003", None), ("004", None)]
    assert [s.id for s in read_voc(src, splits=["val"])] == ["002"]
    assert {s.split for s in read_voc(src, splits=["trainval"])} == {"trainval"}
    with pytest.raises(InputError) as exc:
        read_voc(src, splits=["test"])
    assert "test.txt" in str(exc.value) and "train" in str(exc.value)
    out = tmp_path / "out"
    write_voc(ds, out, images="none")
    assert (out / "ImageSets" / "Main" / "train.txt").read_text() == "000\n001\n"
    assert (out / "ImageSets" / "Main" / "val.txt").read_text() == "002\n"
    report = convert_voc_to_yolo(src, tmp_path / "yolo", progress=False)
    assert sorted(p.name for p in (tmp_path / "yolo" / "labels").iterdir()) == ["train", "unassigned", "val"]
    assert report["images"] == 5


def test_plain_folder_with_images_dir_and_size_from_image(tmp_path):
    ann = tmp_path / "xml"
    ann.mkdir()
    (ann / "a.xml").write_text("<annotation><filename>a.png</filename>" + obj("dog", (1, 2, 30, 20)) + "</annotation>")
    png(tmp_path / "imgs" / "a.png", 32, 24)
    ds = read_voc(ann, images_dir=tmp_path / "imgs")
    assert (ds.samples[0].width, ds.samples[0].height) == (32, 24)
    assert ds.image_path(ds.samples[0]) == tmp_path / "imgs" / "a.png"
    with pytest.raises(InputError, match="image size unknown"):
        read_voc(ann)
    assert detect_voc(ann) and detect_voc(ann / "a.xml") and not detect_voc(tmp_path / "imgs")


# ---------------------------------------------------------------------------------------------
# Bad input: every problem, with file and line
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_name_file_line_and_field(tmp_path):
    files = {
        "malformed": "<annotation>\n<filename>m.jpg</filename>\n<size><width>10</width>\n</annotation>\n",
        "inverted": xml("i.jpg", 100, 100, "\n" + obj("cat", (50, 10, 20, 40))),
        "zero": xml("z.jpg", 100, 100, obj("cat", (10, 10, 10, 40))),
        "nonnum": xml("n.jpg", 100, 100, obj("cat", ("abc", 10, 20, 40))),
        "outside": xml("o.jpg", 100, 100, obj("cat", (10, 10, 120, 40))),
        "noname": xml("x.jpg", 100, 100, "<object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
                                         "</bndbox></object>"),
        "good": xml("g.jpg", 100, 100, obj("cat", (10, 10, 20, 40))),
    }
    src = devkit(tmp_path / "src", files)
    with pytest.raises(InputError) as exc:
        read_voc(src)
    probs = {Path(p.file).stem: p for p in exc.value.problems}
    assert set(probs) == set(files) - {"good"}, str(exc.value)
    assert probs["malformed"].message.startswith("malformed XML") and probs["malformed"].line == 4
    assert probs["inverted"].message == "box is inverted" and probs["inverted"].line == 2
    assert probs["inverted"].field == "object[0].bndbox" and probs["inverted"].value == (50, 10, 20, 40)
    assert probs["zero"].message == "box has zero area"
    assert probs["nonnum"].message == "not a number" and probs["nonnum"].field == "object[0].bndbox.xmin"
    assert probs["nonnum"].value == "abc"
    assert probs["outside"].message == "box is outside the image"
    assert probs["noname"].message == "object has no name"
    for p in exc.value.problems:
        assert str(src / "Annotations") in str(p) and p.line is not None
    # lenient read: the same problems reported, the rest returned
    found = []
    ds = read_voc(src, problems=found)
    assert len(found) == len(probs)
    assert [s.id for s in ds] == ["good", "inverted", "noname", "nonnum", "outside", "zero"]
    assert ds.num_boxes == 1
    # the fast converter refuses the same way, or skips and counts
    with pytest.raises(InputError) as fast_exc:
        convert_voc_to_yolo(src, tmp_path / "y", progress=False)
    assert [str(p) for p in fast_exc.value.problems][:-1] == [str(p) for p in exc.value.problems]
    assert fast_exc.value.problems[-1].message == "nothing was written"
    assert not (tmp_path / "y").exists()
    report = convert_voc_to_yolo(src, tmp_path / "y", progress=False, skip_invalid=True)
    assert report["problems"] == len(probs) and report["boxes"] == 1
    assert report["skipped"]["invalid: box is inverted"] == 1


def test_unknown_class_with_fixed_classes(tmp_path):
    src = devkit(tmp_path / "src", {"a": xml("a.jpg", 50, 50, obj("cat", (1, 1, 9, 9)) + obj("unicorn", (1, 1, 9, 9)))})
    with pytest.raises(InputError) as exc:
        read_voc(src, classes=["dog", "cat"])
    assert exc.value.problem.message == "unknown class" and exc.value.problem.value == "unicorn"
    # converting, the classes fix the order, as `cvpipe convert --classes` does: a class the data
    # uses that they lack refuses the conversion, whatever --skip-invalid says
    with pytest.raises(InputError, match="the classes file does not list") as exc:
        convert_voc_to_yolo(src, tmp_path / "y", classes=["dog", "cat"], skip_invalid=True, progress=False)
    assert exc.value.problem.value == "unicorn" and not (tmp_path / "y").exists()
    report = convert_voc_to_yolo(src, tmp_path / "y", classes=["dog", "cat", "unicorn"], progress=False)
    assert (tmp_path / "y" / "labels" / "train" / "a.txt").read_text().startswith("1 ")
    assert yolo_names(tmp_path / "y") == ["dog", "cat", "unicorn"] and report["boxes"] == 2


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>&lol9;</filename><size><width>10</width><height>10</height></size></annotation>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><filename>&xxe;</filename><size><width>10</width><height>10</height></size></annotation>
"""


@pytest.mark.parametrize("text,encoding", [(BOMB, "utf-8"), (EXTERNAL, "utf-8"),
                                            (BOMB.replace('"1.0"?', '"1.0" encoding="utf-16"?'), "utf-16")])
def test_entity_bomb_and_external_entity_refused(tmp_path, text, encoding):
    ann = tmp_path / "xml"
    ann.mkdir()
    (ann / "evil.xml").write_bytes(text.encode(encoding))
    # the refusal happens before any expansion (a billion-laughs expansion would take minutes
    # and gigabytes); the error names the file
    with pytest.raises(InputError) as exc:
        read_voc(ann)
    assert exc.value.problem.file == str(ann / "evil.xml")
    assert "DOCTYPE" in exc.value.problem.message


def test_unsafe_filenames_refused(tmp_path):
    src = devkit(tmp_path / "src", {"a": xml("../../evil.jpg", 10, 10)})
    with pytest.raises(InputError) as exc:
        read_voc(src)
    assert exc.value.problem.field == "filename" and "unsafe path" in exc.value.problem.message
    ds = Dataset(["cat"], [Sample("ok.png", 10, 10), Sample("../evil.png", 10, 10)], root=tmp_path / "img")
    dst = tmp_path / "out"
    with pytest.raises(InputError, match="unsafe path"):
        write_voc(ds, dst, images="none")
    assert not dst.exists()


def test_dst_untouched_after_refused_or_interrupted_conversion(tmp_path, monkeypatch):
    good = {"a": xml("a.jpg", 50, 50, obj("cat", (1, 1, 9, 9))), "b": xml("b.jpg", 50, 50, obj("dog", (1, 1, 9, 9)))}
    src = devkit(tmp_path / "src", good)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("old")

    def state():
        return sorted(p.name for p in tmp_path.iterdir()), sorted(p.name for p in dst.rglob("*"))

    bad = devkit(tmp_path / "bad", {"a": xml("a.jpg", 50, 50, obj("cat", (9, 1, 1, 9)))})
    before = state()
    with pytest.raises(InputError):
        convert_voc_to_yolo(bad, dst, progress=False)
    assert state() == before

    calls = {"n": 0}
    real = _voc2yolo._write_new

    def interrupted(path, text):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(_voc2yolo, "_write_new", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_voc_to_yolo(src, dst, progress=False, workers=1)
    assert state() == before

    import cvpipe.fsutil

    for name in good:
        png(src / "JPEGImages" / f"{name}.jpg", 50, 50)
    real_place = cvpipe.fsutil.place_file

    def place_then_interrupt(a, b, mode):
        real_place(a, b, mode)
        raise KeyboardInterrupt

    monkeypatch.setattr(cvpipe.fsutil, "place_file", place_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_voc(read_voc(src), dst, images="copy")
    assert state() == before
    assert (dst / "keep.txt").read_text() == "old"


# ---------------------------------------------------------------------------------------------
# Fast path == generic path, byte for byte
# ---------------------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def same_output(a: Path, b: Path) -> None:
    ta, tb = tree(a), tree(b)
    ya, yb = ta.pop("data.yaml"), tb.pop("data.yaml")
    assert ya.replace(str(a).encode(), b"DST") == yb.replace(str(b).encode(), b"DST")
    assert ta == tb


@pytest.mark.parametrize("names,classes", [
    (VOC_CLASSES, None),                  # all twenty: no remap pass
    (("dog", "person", "cat"), None),     # a VOC subset: ids remapped after the pass
    (("dog", "zebra", "Ünï"), None),      # other names: sorted, provisional tokens rewritten
    (("dog", "cat"), ["cat", "dog", "bird"]),
])
def test_fast_path_is_byte_identical_to_generic(tmp_path, monkeypatch, names, classes):
    rng = np.random.default_rng(len(names))
    files, ids = {}, []
    for i in range(40):
        w, h = int(rng.integers(20, 600)), int(rng.integers(20, 600))
        objs = ""
        for k in range(int(rng.integers(0, 4))):
            x1, y1 = rng.uniform(0, w / 2), rng.uniform(0, h / 2)
            x2, y2 = rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h)
            box = (round(x1, 2), round(y1, 1), round(x2), round(y2, 3)) if k % 2 else (int(x1), int(y1), int(x2), int(y2))
            objs += obj(str(rng.choice(list(names))), box, difficult=str(int(rng.random() < 0.2)),
                        more="<part><name>head</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax>"
                             "</bndbox></part>" if k == 1 else "")
        files[f"{i:04d}"] = xml(f"{i:04d}.jpg", w, h, objs)
        ids.append(f"{i:04d}")
    src = devkit(tmp_path / "src", files, {"train": ids[:15], "val": ids[15:30]})
    monkeypatch.setattr(_voc2yolo, "_CHUNK", 4)  # exercise the process pool on a small dataset
    for keep in (False, True):
        fast, generic = tmp_path / f"fast{keep}", tmp_path / f"generic{keep}"
        r1 = convert_voc_to_yolo(src, fast, classes=classes, keep_difficult=keep, workers=2, progress=False)
        ds = read_voc(src, classes=classes)
        r2 = write_yolo(ds, generic, images="none", keep_difficult=keep)
        same_output(fast, generic)
        assert {k: r1[k] for k in r2} == r2
        assert yolo_names(fast) == ds.categories


def test_fast_path_imports_no_numpy(tmp_path):
    src = devkit(tmp_path / "src", {"a": VOC2007_000001})
    code = ("import sys; from cvpipe.builtin.voc import convert_voc_to_yolo; "
            f"convert_voc_to_yolo({str(src)!r}, {str(tmp_path / 'y')!r}, progress=False); "
            "bad = [m for m in ('numpy', 'torch', 'albumentations') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Round trips (property test)
# ---------------------------------------------------------------------------------------------

NAMES = ["cat", "dog", "person", "zebra", "Ünï name"]


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 4))
    cats = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    samples = []
    for i in range(n):
        w, h = draw(st.integers(8, 300)), draw(st.integers(8, 300))
        boxes = []
        for _ in range(draw(st.integers(0, 4))):
            as_float = draw(st.booleans())
            coord = (lambda hi: st.floats(0, hi, allow_nan=False).map(lambda v: round(v, 2))) if as_float else \
                (lambda hi: st.integers(0, hi).map(float))
            x1, x2 = sorted(draw(st.tuples(coord(w), coord(w))))
            y1, y2 = sorted(draw(st.tuples(coord(h), coord(h))))
            if x2 - x1 < 0.5 or y2 - y1 < 0.5:
                continue
            boxes.append([x1, y1, x2, y2])
        k = len(boxes)
        samples.append(Sample(
            f"img_{i}.png", w, h, boxes=np.array(boxes).reshape(-1, 4),
            labels=draw(st.lists(st.integers(0, len(cats) - 1), min_size=k, max_size=k)),
            difficult=draw(st.lists(st.booleans(), min_size=k, max_size=k)),
            truncated=draw(st.lists(st.booleans(), min_size=k, max_size=k)),
            id=f"img_{i}", split=draw(st.sampled_from([None, "train", "val"])),
        ))
    return Dataset(cats, samples)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_voc_yolo_voc_round_trip_property(tmp_path_factory, ds):
    tmp = tmp_path_factory.mktemp("rt")
    for s in ds.samples:
        png(tmp / "img" / s.image, s.width, s.height)
    ds = replace(ds, root=tmp / "img")
    write_voc(ds, tmp / "voc", images="copy")
    voc = read_voc(tmp / "voc")
    assert_same_dataset(ds, voc, atol=0)  # VOC stores the numbers exactly, boxes in order
    by_image = {s.image: s for s in voc}
    for a in ds:
        b = by_image[a.image]
        assert b.boxes.tolist() == a.boxes.tolist()
        assert [voc.categories[i] for i in b.labels] == [ds.categories[i] for i in a.labels]
        assert b.difficult.tolist() == a.difficult.tolist() and b.truncated.tolist() == a.truncated.tolist()
        assert b.split == a.split
    write_yolo(voc, tmp / "yolo", images="copy", keep_difficult=True)
    yolo = read_yolo(tmp / "yolo")
    write_voc(yolo, tmp / "voc2", images="copy")
    back = read_voc(tmp / "voc2")
    for got in (yolo, back):
        # YOLO keeps 6 decimals of the normalised values: within 1e-6 of the image side; boxes
        # stay in order (compared pairwise: sorting would pair near-equal boxes wrongly)
        by_name = {Path(s.image).name: s for s in got}
        assert set(by_name) == {s.image for s in ds}
        for a in ds:
            b = by_name[a.image]
            assert (b.width, b.height) == (a.width, a.height)
            assert [got.categories[i] for i in b.labels] == [ds.categories[i] for i in a.labels]
            assert np.allclose(b.boxes, a.boxes, rtol=0, atol=1e-6 * max(a.width, a.height))
            assert (b.boxes >= 0).all() and (b.boxes[:, 0::2] <= a.width).all() and (b.boxes[:, 1::2] <= a.height).all()
    assert {s.image: s.split or "train" for s in back} == \
        {s.image: s.split or ("unassigned" if any(x.split for x in ds) else "train") for s in ds}


# ---------------------------------------------------------------------------------------------
# Real fixtures and the conformance suite
# ---------------------------------------------------------------------------------------------


@needs_fixtures
def test_review_odm_voc_and_darknet_yolo_agree():
    voc = read_voc(ODM / "gts" / "pascalvoc_format", images_dir=ODM / "images")
    yolo = read_yolo(ODM / "gts" / "yolo_format", images_dir=ODM / "images")
    assert len(voc) == len(yolo) == 100
    assert sorted(voc.categories) == sorted(yolo.categories) == sorted(VOC_CLASSES)
    assert voc.num_boxes == yolo.num_boxes == 273
    # darknet stores 6 decimals of the normalised values: at most 1e-6 x 500 px apart
    assert_same_dataset(voc, yolo, atol=1e-6 * 500)
    from cvpipe.formats.images import image_size

    for s in voc:  # the XML sizes are the image files' sizes
        assert image_size(voc.image_path(s)) == (s.width, s.height)


@needs_fixtures
def test_toyexample_empty_image_and_unusual_element_order():
    ds = read_voc(TOY / "gts_vocpascal_format", images_dir=TOY / "images")
    assert len(ds) == 10 and ds.categories == ["cat"]
    by_id = {s.id: s for s in ds}
    assert len(by_id["2007_000733"]) == 0
    odd = by_id["2010_004175"]  # filename before folder, xmax before xmin, size after objects
    assert (odd.width, odd.height) == (400, 300)
    assert odd.boxes.tolist() == [[1, 39, 248, 300]]
    assert odd.truncated.tolist() == [True] and odd.box_extra[0]["pose"] == "Unspecified"
    assert odd.box_extra[0]["occluded"] == 0
    assert ds.num_boxes == 12
    from cvpipe.formats.images import image_size

    for s in ds:
        assert image_size(ds.image_path(s)) == (s.width, s.height)


@pytest.mark.parametrize("name", ["voc", "yolo"])
def test_conformance_suite(tmp_path, name):
    results = check_format(name, workdir=tmp_path)
    assert all(r.startswith("ok") for r in results.values()), results


def test_detections_with_scores_round_trip(tmp_path):
    ds = Dataset(["cat", "dog"], [
        Sample("a.jpg", 100, 80, boxes=[[1, 2, 30, 40], [5.5, 6, 7, 8]], labels=[1, 0], scores=[0.875, 0.1234567890123]),
        Sample("b.jpg", 100, 80, scores=[]),
    ])
    write_voc(ds, tmp_path / "dets", images="none")
    back = read_voc(tmp_path / "dets")
    by = {s.image: s for s in back}
    assert by["a.jpg"].scores.tolist() == [0.875, 0.1234567890123]
    assert by["b.jpg"].scores.tolist() == []
    assert by["a.jpg"].boxes.tolist() == [[1, 2, 30, 40], [5.5, 6, 7, 8]]
    # a detections file whose object lacks a score is a problem
    src = devkit(tmp_path / "mixed", {"a": xml("a.jpg", 50, 50, obj("cat", (1, 1, 9, 9), more="<score>0.5</score>")
                                               + obj("cat", (2, 2, 9, 9)))})
    with pytest.raises(InputError, match="object has no score"):
        read_voc(src)


def test_cli_convert_takes_the_streaming_path(tmp_path, monkeypatch):
    import functools

    from cvpipe.cli import main

    calls = []
    real = _voc2yolo.stream_voc_to_yolo

    @functools.wraps(real)
    def spy(src, dst, options, **kwargs):
        calls.append(options)
        return real(src, dst, options, **kwargs)

    monkeypatch.setattr(_voc2yolo, "stream_voc_to_yolo", spy)
    src = devkit(tmp_path / "VOC2007", {"000001": VOC2007_000001})
    assert main(["convert", str(src), str(tmp_path / "out"), "--to", "yolo", "--images", "none", "--quiet"]) == 0
    assert len(calls) == 1 and calls[0]["images"] == "none"
    assert (tmp_path / "out" / "labels" / "train" / "000001.txt").read_text() == \
        "0 0.344193 0.611000 0.416431 0.262000\n1 0.509915 0.510000 0.974504 0.972000\n"
    bad = devkit(tmp_path / "bad", {"a": xml("a.jpg", 50, 50, obj("cat", (9, 1, 1, 9)))})
    assert main(["convert", str(bad), str(tmp_path / "out2"), "--to", "yolo", "--quiet"]) == 2
    assert not (tmp_path / "out2").exists()


# The fast path reads plain files with reader._extract_quick and everything else with reader._extract:
# both must give the same record for every file the quick one accepts.
_ws = st.sampled_from(["", "", "", " ", "\n\t"])
_rare = st.integers(0, 19).map(lambda k: k == 0)  # true one time in twenty


@st.composite
def _coord(draw, lo, hi):
    if draw(_rare):
        return draw(st.sampled_from(["abc", "", "nan", "1_0", "-3", "999"]))
    v = draw(st.floats(lo, hi, allow_nan=False))
    text = str(int(v)) if draw(st.booleans()) else f"{v:.2f}"
    return draw(_ws) + text + draw(_ws)


@st.composite
def _voc_text(draw):
    objs = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["cat", "dog", "zebra", "cat", "dog"] + ([""] if draw(_rare) else [])))
        parts = [f"<name>{draw(_ws)}{name}{draw(_ws)}</name>"]
        for tag in draw(st.lists(st.sampled_from(["difficult", "truncated", "occluded", "iscrowd", "pose"]), max_size=4)):
            flag = draw(st.sampled_from(["0", "1", " 1 ", "True", "false"] + (["2", ""] if draw(_rare) else [])))
            parts.append(f"<{tag}>{flag}</{tag}>")
        coords = ["xmin", "ymin", "xmax", "ymax"]
        if draw(_rare):
            coords = draw(st.lists(st.sampled_from(coords), min_size=3, max_size=6))
        box = {"xmin": draw(_coord(0, 40)), "ymin": draw(_coord(0, 30)), "xmax": draw(_coord(41, 80)),
               "ymax": draw(_coord(31, 60))}
        parts.append("<bndbox>" + "".join(f"<{c}>{box[c]}</{c}>" for c in draw(st.permutations(coords))) + "</bndbox>")
        if draw(_rare):
            parts.append("<part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>")
        if draw(_rare):
            parts.append("<name>second</name>")
        objs.append("<object>" + "".join(draw(st.permutations(parts))) + "</object>")
    sizes = [("width", "80"), ("height", "60"), ("depth", "3")]
    if draw(_rare):
        sizes = [(t, draw(st.sampled_from(["0", "50.0", "x", " 70 "]))) for t in ("width", "height")]
    size = "".join(f"<{t}>{v}</{t}>" for t, v in draw(st.permutations(sizes)))
    fname = draw(st.sampled_from(["a.jpg", " b.png "] + (["", "../c.jpg", "d/e.jpg"] if draw(_rare) else [])))
    top = [f"<filename>{fname}</filename>", f"<size>{size}</size>", "<folder>F</folder>"] + objs
    return "<annotation>" + "".join(draw(st.permutations(top))) + "</annotation>"


@settings(max_examples=300, deadline=None)
@given(text=_voc_text(), one_based=st.booleans(), classes=st.sampled_from([None, {"cat": 0, "dog": 1}]))
def test_quick_extraction_agrees_with_the_general_one(text, one_based, classes):
    from lxml import etree

    from cvpipe.formats.xml import xml_parser

    voc = voc_reader
    root = etree.fromstring(text.encode(), xml_parser())
    shift = 1.0 if one_based else 0.0
    quick = voc._extract_quick(root, shift, classes)
    found = []
    general = voc._extract(root, "f.xml", Path("/no/images"), shift, False, classes, found)
    if quick is not None:
        assert not found and quick == general
    else:  # the quick reader only leaves out what it must: a problem, parts, a second name, odd values
        assert found or "<part>" in text or "second" in text or "True" in text or "false" in text \
            or " 1 " in text or "50.0" in text or " 70 " in text or "d/e.jpg" in text or one_based \
            or "<filename></filename>" in text  # no file name: the general reader guesses it


def test_fast_path_copies_images_and_checks_them(tmp_path):
    files = {k: xml(f"{k}.png", 40, 30, obj("cat", (1, 1, 9, 9))) for k in ("a", "b", "c")}
    src = devkit(tmp_path / "src", files)
    png(src / "JPEGImages" / "a.png", 40, 30)
    png(src / "JPEGImages" / "b.png", 41, 30)  # size differs from the annotation; c.png is missing
    with pytest.raises(InputError) as exc:
        convert_voc_to_yolo(src, tmp_path / "y", images="copy", progress=False)
    assert [(Path(p.file).name, p.message) for p in exc.value.problems] == [
        ("b.xml", "image size differs from the annotation"), ("c.xml", "image file not found"),
        ("y", "nothing was written")]
    assert not (tmp_path / "y").exists()
    report = convert_voc_to_yolo(src, tmp_path / "y", images="link", skip_invalid=True, progress=False)
    assert (report["images"], report["problems"]) == (1, 2)
    assert sorted(p.name for p in (tmp_path / "y" / "images" / "train").iterdir()) == ["a.png"]
    assert sorted(p.name for p in (tmp_path / "y" / "labels" / "train").iterdir()) == ["a.txt"]
