"""CVAT for images 1.1 XML: reader, writer, detection, the shipped review-odm fixture."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from cvpipe.builtin.cvat import detect_cvat, read_cvat, write_cvat

from cvpipe.errors import InputError, Problem
from cvpipe.plugins import get_registry
from cvpipe.formats import check_dataset, detect_format, read_dataset
from cvpipe.testing import assert_same_dataset, blank_png as png, check_format

FIXTURES = Path(os.environ.get("CVPIPE_FIXTURES") or Path(__file__).resolve().parents[1].parent / "shared" / "fixtures")
ODM = FIXTURES / "review-odm" / "data" / "database"
needs_odm = pytest.mark.skipif(not (ODM / "gts" / "cvat_format").is_dir(), reason=f"review-odm fixtures absent: {ODM}")

# In the style of CVAT's XML format documentation (a task export "for images" with a polygon,
# a tag, attributes and a point skeleton label)
TASK_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id>
      <name>street scenes</name>
      <size>3</size>
      <mode>annotation</mode>
      <labels>
        <label>
          <name>car</name>
          <color>#fa3253</color>
          <attributes>
            <attribute><name>model</name><mutable>False</mutable><input_type>text</input_type>
              <default_value></default_value><values></values></attribute>
          </attributes>
        </label>
        <label><name>person</name><color>#33ddff</color><attributes></attributes></label>
        <label><name>road</name><color>#b83df5</color><attributes></attributes></label>
        <label><name>head</name><parent>person</parent></label>
      </labels>
    </task>
    <dumped>2024-05-02 10:11:12.000000+00:00</dumped>
  </meta>
  <image id="0" name="frames/a.png" width="200" height="100">
    <box label="car" source="manual" occluded="1" xtl="10.50" ytl="20.00" xbr="60.25" ybr="80.00" z_order="2">
      <attribute name="model">sedan</attribute>
      <attribute name="difficult">true</attribute>
    </box>
    <polygon label="road" source="manual" occluded="0" points="0.00,90.00;200.00,90.00;200.00,100.00" z_order="0">
    </polygon>
    <tag label="road" source="manual"></tag>
  </image>
  <image id="1" name="frames/b.png" width="200" height="100">
    <box label="person" occluded="0" xtl="100" ytl="10" xbr="120" ybr="90" z_order="0"></box>
  </image>
  <image id="2" name="frames/c.png" width="200" height="100">
  </image>
</annotations>
"""


def cvat_dir(root: Path, xml: str = TASK_XML, images=("a", "b", "c")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "annotations.xml").write_text(xml, encoding="utf-8")
    for stem in images:
        png(root / "images" / "frames" / f"{stem}.png", 200, 100)
    return root


def test_reads_boxes_labels_flags_and_keeps_other_shapes(tmp_path):
    ds = read_cvat(cvat_dir(tmp_path / "task"))
    assert ds.categories == ["car", "person", "road"]  # meta order; the skeleton point label is not one
    assert ds.root == tmp_path / "task" / "images"
    a, b, c = ds.samples
    assert (a.image, a.width, a.height, a.id) == ("frames/a.png", 200, 100, 0)
    assert np.array_equal(a.boxes, [[10.5, 20, 60.25, 80]]) and a.labels.tolist() == [0]
    assert a.difficult.tolist() == [True]
    assert a.box_extra[0] == {"occluded": 1, "z_order": 2, "cvat_attrib": {"source": "manual"},
                              "attributes": {"model": "sedan"}}
    assert [s["tag"] for s in a.extra["cvat"]["shapes"]] == ["polygon", "tag"]
    assert ds.meta["cvat_shapes"] == {"polygon": 1, "tag": 1}
    assert b.labels.tolist() == [1] and len(c) == 0
    assert detect_cvat(tmp_path / "task") and detect_cvat(tmp_path / "task" / "annotations.xml")
    assert detect_format(tmp_path / "task") == "cvat"
    assert not get_registry().formats.get("voc").obj.detect(tmp_path / "task")  # <annotations> is not VOC's <annotation>


def test_round_trip_keeps_shapes_attributes_and_label_meta(tmp_path):
    ds = read_cvat(cvat_dir(tmp_path / "task"))
    report = write_cvat(ds, tmp_path / "out")
    assert report == {"images": 3, "boxes": 2, "skipped": {"difficult": 0}, "shapes": 2}
    back = read_cvat(tmp_path / "out")
    assert_same_dataset(ds, back, atol=0, match="path", check_categories=True)
    assert back.samples[0].box_extra == ds.samples[0].box_extra and back.samples[0].difficult.tolist() == [True]
    assert back.samples[0].extra["cvat"]["shapes"] == ds.samples[0].extra["cvat"]["shapes"]
    root = etree.fromstring((tmp_path / "out" / "annotations.xml").read_bytes())
    assert root.findtext("version") == "1.1"
    car = root.find("meta/task/labels/label")
    assert car.findtext("color") == "#fa3253"  # written back as read
    declared = [a.findtext("name") for a in car.iterfind("attributes/attribute")]
    assert declared == ["model", "difficult"]  # every attribute the boxes carry is declared
    box = root.find("image/box")
    assert (box.get("xtl"), box.get("ytl"), box.get("xbr"), box.get("ybr")) == ("10.50", "20.00", "60.25", "80.00")
    assert (tmp_path / "out" / "images" / "frames" / "a.png").is_file()


def test_labels_from_project_meta_and_undeclared_label(tmp_path):
    xml = TASK_XML.replace("<task>", "<project>").replace("</task>", "</project>").replace(
        'label="person"', 'label="bicycle"')
    problems: list[Problem] = []
    ds = read_cvat(cvat_dir(tmp_path / "p", xml), problems=problems)
    assert ds.categories == ["car", "person", "road"]
    line = next(i for i, text in enumerate(xml.splitlines(), 1) if 'label="bicycle"' in text)
    assert [(p.message, p.line, p.value) for p in problems] == [("label not declared in meta", line, "bicycle")]
    assert problems[0].file == str(tmp_path / "p" / "annotations.xml")
    with pytest.raises(InputError, match="bicycle"):
        read_cvat(tmp_path / "p")


def test_without_meta_labels_the_box_labels_sorted(tmp_path):
    xml = """<annotations><version>1.1</version>
  <image id="0" name="x.png" width="50" height="40">
    <box label="zebra" xtl="1" ytl="1" xbr="5" ybr="5" occluded="0"/>
    <box label="ant" xtl="2" ytl="2" xbr="6" ybr="6" occluded="0"/>
  </image></annotations>"""
    (tmp_path / "a.xml").write_text(xml)
    ds = read_cvat(tmp_path / "a.xml")
    assert ds.categories == ["ant", "zebra"] and ds.samples[0].labels.tolist() == [1, 0]
    assert ds.root == tmp_path


@pytest.mark.parametrize("box, message, field", [
    ('<box label="car" xtl="a" ytl="1" xbr="5" ybr="5"/>', "not a number", "image[0].box[0].xtl"),
    ('<box label="car" xtl="1" ytl="1" xbr="5" ybr="5" rotation="30.0"/>', "rotated box", "image[0].box[0].rotation"),
    ('<box label="car" xtl="1" ytl="1" xbr="5" ybr="5" occluded="maybe"/>', "not a boolean", "image[0].box[0].occluded"),
    ('<box xtl="1" ytl="1" xbr="5" ybr="5"/>', "box without a label", "image[0].box[0].label"),
])
def test_bad_boxes_are_problems_with_line_and_field(tmp_path, box, message, field):
    xml = f'<annotations>\n<version>1.1</version>\n<image id="0" name="x.png" width="50" height="40">\n{box}\n</image>\n</annotations>'
    (tmp_path / "annotations.xml").write_text(xml)
    problems: list[Problem] = []
    ds = read_cvat(tmp_path, problems=problems)
    assert [(p.message, p.line, p.field) for p in problems] == [(message, 4, field)]
    assert len(ds.samples) == 1 and len(ds.samples[0]) == 0  # the image stays, the bad box goes


def test_video_tracks_and_dtd_are_refused(tmp_path):
    (tmp_path / "v.xml").write_text('<annotations><version>1.1</version><track id="0" label="car"></track></annotations>')
    with pytest.raises(InputError, match="CVAT for video track"):
        read_cvat(tmp_path / "v.xml")
    (tmp_path / "bomb.xml").write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations/>')
    with pytest.raises(InputError, match="DOCTYPE or ENTITY"):
        read_cvat(tmp_path / "bomb.xml")


def test_scores_and_splits_are_written(tmp_path):
    ds = read_cvat(cvat_dir(tmp_path / "task"))
    for k, s in enumerate(ds.samples):
        s.split = "Train" if k < 2 else "Test"
    write_cvat(ds, tmp_path / "out", images="none")
    back = read_cvat(tmp_path / "out", images_dir=tmp_path / "task" / "images", splits=["Test"])
    assert [s.image for s in back] == ["frames/c.png"] and back.samples[0].split == "Test"


@needs_odm
def test_review_odm_cvat_reads_as_its_voc_twin():
    images = ODM / "images"
    assert detect_format(ODM / "gts" / "cvat_format") == "cvat"
    voc = read_dataset(ODM / "gts" / "pascalvoc_format", images_dir=images)
    cvat = read_dataset(ODM / "gts" / "cvat_format", images_dir=images)
    assert len(cvat) == len(voc) == 100 and cvat.num_boxes == voc.num_boxes == 273
    assert sorted(cvat.categories) == sorted(voc.categories)
    assert_same_dataset(voc, cvat, atol=0)  # integer pixels: exactly the same numbers
    problems: list[Problem] = []
    check_dataset(cvat, problems)  # sizes are what the JPEG headers say
    assert problems == []


def test_conformance(tmp_path):
    # cross-checked against every registered format (the other new ones and labelme included),
    # not only voc, coco and yolo: detection must stay unambiguous among all of them
    check_format("cvat", workdir=tmp_path, against=get_registry().formats.names())
