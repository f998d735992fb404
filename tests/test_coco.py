"""COCO reader, writer and results: checked against pycocotools and the real COCO files."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.builtin.coco import detect, read_coco, read_coco_results, to_coco_dict, to_coco_results, write_coco
from cvpipe.data import Dataset, Sample
from cvpipe.errors import InputError, Problem

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
VAL2014 = FIXTURES / "coco-val2014" / "instances_val2014_100.json"
VAL2014_RESULTS = FIXTURES / "coco-val2014" / "instances_val2014_fakebbox100_results.json"
needs_val2014 = pytest.mark.skipif(not VAL2014.is_file(), reason=f"real COCO fixture absent: {VAL2014}")


def _pycoco(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


def json_line(path: Path, obj) -> int:
    """The line of ``path`` where the JSON object ``obj`` is written (found by decoding the
    object that starts on each line; independent of the code under test)."""
    text = path.read_text()
    decoder = json.JSONDecoder()
    offset = 0
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        start = offset + len(line) - len(line.lstrip())
        offset += len(line)
        if text[start:start + 1] == "{":
            try:
                if decoder.raw_decode(text, start)[0] == obj:
                    return lineno
            except json.JSONDecodeError:
                pass
    raise AssertionError(f"{obj} not found in {path}")


def _tiny(**over) -> dict:
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80},
                   {"id": 9, "file_name": "sub/b.jpg", "width": 50, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 18, "bbox": [10.5, 20.25, 30.1, 40.2], "area": 900.0,
             "iscrowd": 0, "segmentation": [[10.5, 20.25, 40.6, 20.25, 40.6, 60.45]]},
            {"id": 5, "image_id": 9, "category_id": 3, "bbox": [0, 0, 50, 40], "area": 2000, "iscrowd": 1,
             "segmentation": {"counts": [0, 2000], "size": [40, 50]}},
            {"id": 6, "image_id": 7, "category_id": 3, "bbox": [0.1, 0.2, 0.3, 0.7], "area": 0.21, "iscrowd": 0,
             "segmentation": []},
        ],
        "categories": [{"id": 18, "name": "dog", "supercategory": "animal"},
                       {"id": 3, "name": "car", "supercategory": "vehicle"}],
        "info": {"year": 2024}, "licenses": [{"id": 1, "name": "x"}],
    }
    data.update(over)
    return data


# ---------------------------------------------------------------------------------------------
# Reading, against pycocotools
# ---------------------------------------------------------------------------------------------


@needs_val2014
def test_real_val2014_matches_pycocotools():
    ds = read_coco(VAL2014)
    coco = _pycoco(VAL2014)
    assert len(ds) == len(coco.getImgIds()) == 100
    assert ds.num_boxes == len(coco.getAnnIds()) == 839
    # categories ordered by id like getCatIds, non-contiguous ids (up to 90) kept
    assert ds.categories == [c["name"] for c in coco.loadCats(coco.getCatIds())]
    assert [c["id"] for c in ds.meta["coco"]["categories"]] == coco.getCatIds()
    crowd = 0
    for s in ds.samples:
        img = coco.loadImgs(s.id)[0]
        assert (s.image, s.width, s.height) == (img["file_name"], img["width"], img["height"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[s.id]))
        ref = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        ref[:, 2:] += ref[:, :2]
        assert np.array_equal(s.boxes, ref)
        assert [ds.categories[k] for k in s.labels] == [coco.loadCats(a["category_id"])[0]["name"] for a in anns]
        assert s.iscrowd.tolist() == [bool(a["iscrowd"]) for a in anns]
        assert [e["id"] for e in s.box_extra] == [a["id"] for a in anns]
        assert [e["area"] for e in s.box_extra] == [a["area"] for a in anns]
        crowd += int(s.iscrowd.sum())
    assert crowd == 9


@needs_val2014
def test_real_val2014_round_trip_is_lossless(tmp_path):
    ds = read_coco(VAL2014)
    report = write_coco(ds, tmp_path / "out", images="none")
    assert report["images"] == 100 and report["boxes"] == 839 and report["skipped"] == {}
    written = json.loads((tmp_path / "out" / "annotations" / "instances_val2014_100.json").read_text())
    orig = json.loads(VAL2014.read_text())
    assert written["images"] == orig["images"]
    assert written["categories"] == orig["categories"]
    assert written["info"] == orig["info"] and written["licenses"] == orig["licenses"]
    by_id = {a["id"]: a for a in written["annotations"]}
    assert by_id == {a["id"]: a for a in orig["annotations"]}  # RLE, polygons, float areas, ids
    # and pycocotools reads our file to the same annotations
    coco = _pycoco(tmp_path / "out" / "annotations" / "instances_val2014_100.json")
    assert sorted(coco.getAnnIds()) == sorted(a["id"] for a in orig["annotations"])


@needs_val2014
def test_real_results_match_pycocotools_loadres():
    gt = read_coco(VAL2014)
    dt = read_coco_results(VAL2014_RESULTS, gt)
    raw = json.loads(VAL2014_RESULTS.read_text())
    assert dt.num_boxes == len(raw) == 734
    assert dt.categories == gt.categories and len(dt) == len(gt)
    res = _pycoco(VAL2014).loadRes(str(VAL2014_RESULTS))
    for s in dt.samples:
        anns = res.loadAnns(res.getAnnIds(imgIds=[s.id]))
        ref = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        ref[:, 2:] += ref[:, :2]
        assert np.allclose(s.boxes, ref, rtol=0, atol=1e-9)
        assert s.scores.tolist() == [a["score"] for a in anns]
        assert [dt.categories[k] for k in s.labels] == [res.loadCats(a["category_id"])[0]["name"] for a in anns]
    # back to the results form: the same records (ids and numbers) as the file
    back = to_coco_results(dt)
    key = lambda d: (d["image_id"], d["category_id"], d["score"], tuple(d["bbox"]))  # noqa: E731
    assert sorted(map(key, back)) == sorted(map(key, raw))


def test_results_bad_records_named(tmp_path):
    gt = read_coco(_write_json(tmp_path / "gt.json", _tiny()))
    dets = _write_json(tmp_path / "dets.json", [
        {"image_id": 7, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": 99, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": 7, "category_id": 4, "bbox": [1, 2, 3, 4], "score": 0.5},
        {"image_id": 7, "category_id": 3, "bbox": [1, 2, 3], "score": 0.5},
        {"image_id": 7, "category_id": 3, "bbox": [1, 2, 3, 4]},
    ])
    with pytest.raises(InputError) as err:
        read_coco_results(dets, gt)
    fields = [p.field for p in err.value.problems]
    # an unknown category ([2]) is no problem: left out and counted, as pycocotools leaves it out
    assert fields == ["[1].image_id", "[3].bbox", "[4].score"]
    records = json.loads(dets.read_text())
    assert [p.line for p in err.value.problems] == [json_line(dets, records[k]) for k in (1, 3, 4)]
    assert all(p.file == str(dets) for p in err.value.problems)
    problems: list[Problem] = []
    dt = read_coco_results(dets, gt, problems=problems)
    assert len(problems) == 3 and dt.num_boxes == 1
    ignored = dt.meta["ignored_detections"]
    assert ignored["count"] == 1 and ignored["ids"] == {4: 1}
    assert [p.field for p in ignored["problems"]] == ["[2].category_id"]
    s = next(s for s in dt.samples if s.id == 7)
    assert s.boxes.tolist() == [[1, 2, 4, 6]] and s.scores.tolist() == [0.5]


def test_tiny_read_fields(tmp_path):
    ds = read_coco(_write_json(tmp_path / "instances_val.json", _tiny()))
    assert ds.categories == ["car", "dog"]  # by category id: 3, 18
    a, b = ds.samples
    assert (a.id, a.image, a.split) == (7, "a.jpg", "val")
    assert b.image == "sub/b.jpg"
    assert a.labels.tolist() == [1, 0]
    assert a.boxes[0].tolist() == [10.5, 20.25, 10.5 + 30.1, 20.25 + 40.2]
    assert b.iscrowd.tolist() == [True]
    assert b.box_extra[0]["segmentation"] == {"counts": [0, 2000], "size": [40, 50]}
    assert ds.meta["coco"]["categories"][1]["supercategory"] == "animal"


def test_exact_float_round_trip(tmp_path):
    data = _tiny()
    src = _write_json(tmp_path / "instances_train.json", data)
    write_coco(read_coco(src), tmp_path / "out", images="none")
    back = json.loads((tmp_path / "out" / "annotations" / "instances_train.json").read_text())
    # 0.1 + 0.3 - 0.1 != 0.3 in floats: the original numbers must still come back bit for bit
    assert {a["id"]: a["bbox"] for a in back["annotations"]} == {a["id"]: a["bbox"] for a in data["annotations"]}


def test_writer_layout_and_reader_finds_images(tmp_path):
    src_dir = tmp_path / "src"
    data = _tiny()
    _write_json(src_dir / "annotations" / "instances_val.json", data)
    for name in ("a.jpg", "sub/b.jpg"):
        (src_dir / "images" / "val" / name).parent.mkdir(parents=True, exist_ok=True)
        (src_dir / "images" / "val" / name).write_bytes(b"img " + name.encode())
    assert detect(src_dir) and detect(src_dir / "annotations" / "instances_val.json")
    ds = read_coco(src_dir)
    assert ds.root == src_dir / "images" / "val"
    report = write_coco(ds, tmp_path / "dst", images="copy")
    assert report["images"] == 2 and report["boxes"] == 3
    assert (tmp_path / "dst" / "images" / "val" / "sub" / "b.jpg").read_bytes() == b"img sub/b.jpg"
    assert (tmp_path / "dst" / "annotations" / "instances_val.json").is_file()
    again = read_coco(tmp_path / "dst")
    assert [s.image for s in again.samples] == ["a.jpg", "sub/b.jpg"]
    assert again.root == tmp_path / "dst" / "images" / "val"


def test_fresh_category_and_image_ids_for_other_sources(tmp_path):
    ds = Dataset(["zebra", "ant"], [
        Sample("x/one.png", 10, 10, [[1, 1, 5, 5]], [1], id="one"),
        Sample("x/two.png", 10, 10, [[2, 2, 6, 6], [0, 0, 10, 10]], [0, 1], difficult=[False, True], id="two"),
    ])
    d = to_coco_dict(ds, keep_difficult=False)
    assert [(c["id"], c["name"]) for c in d["categories"]] == [(1, "zebra"), (2, "ant")]
    # image ids are integers (issue 11): 1..N, the samples' string ids kept in source_id
    assert [(i["id"], i["file_name"], i["source_id"]) for i in d["images"]] == [(1, "one.png", "one"),
                                                                                 (2, "two.png", "two")]
    assert [(a["image_id"], a["category_id"], a["bbox"]) for a in d["annotations"]] == [
        (1, 2, [1.0, 1.0, 4.0, 4.0]), (2, 1, [2.0, 2.0, 4.0, 4.0])]
    kept = to_coco_dict(ds, keep_difficult=True)
    assert kept["annotations"][-1]["attributes"] == {"difficult": True}
    assert len({a["id"] for a in kept["annotations"]}) == 3


def test_difficult_survives_coco_when_kept(tmp_path):
    ds = Dataset(["a"], [Sample("p.png", 10, 10, [[1, 1, 5, 5], [2, 2, 3, 3]], [0, 0], difficult=[True, False])])
    report = write_coco(ds, tmp_path / "o", images="none", keep_difficult=False)
    assert report["boxes"] == 1 and report["skipped"] == {"difficult": 1}
    write_coco(ds, tmp_path / "k", images="none", keep_difficult=True)
    back = read_coco(tmp_path / "k")
    assert back.samples[0].difficult.tolist() == [True, False]


# ---------------------------------------------------------------------------------------------
# Bad input: every problem named, with the file
# ---------------------------------------------------------------------------------------------


def test_malformed_json_names_file_and_line(tmp_path):
    bad = tmp_path / "instances_x.json"
    bad.write_text('{\n  "images": [\n    {"id": 1,, "file_name": "a.jpg"}\n  ]\n}\n')
    with pytest.raises(InputError) as err:
        read_coco(bad)
    p = err.value.problem
    assert p.file == str(bad) and p.line == 3 and "malformed JSON" in p.message
    assert f"{bad}:3:" in str(err.value)


@pytest.mark.parametrize("mutate, field, message", [
    (lambda d: d["annotations"][1].update(category_id=4), "annotations[1].category_id", "unknown category id"),
    (lambda d: d["annotations"][2].update(image_id=8), "annotations[2].image_id", "unknown image id"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), "annotations[0].bbox", "bad bbox"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotations[0].bbox", "bad bbox"),
    (lambda d: d["annotations"][0].update(iscrowd=2), "annotations[0].iscrowd", "bad iscrowd"),
    (lambda d: d["annotations"][2].update(id=1), "annotations[2].id", "duplicate annotation id"),
    (lambda d: d["images"][1].update(id=7), "images[1].id", "duplicate image id"),
    (lambda d: d["images"][0].update(width=0), "images[0].width", "bad image width"),
    (lambda d: d["images"][0].update(height="80"), "images[0].height", "bad image height"),
    (lambda d: d["images"][0].update(file_name=""), "images[0].file_name", "bad file_name"),
    (lambda d: d["categories"].append({"id": 3, "name": "bus"}), "categories[2].id", "duplicate category id"),
    (lambda d: d["categories"].append({"id": 4, "name": "dog"}), "categories[2].name", "duplicate category name"),
])
def test_each_bad_field_is_named(tmp_path, mutate, field, message):
    data = _tiny()
    mutate(data)
    src = _write_json(tmp_path / "instances_t.json", data)
    with pytest.raises(InputError) as err:
        read_coco(src)
    first = err.value.problems[0]
    assert (first.file, first.field, first.message) == (str(src), field, message)
    key, k = field.split("[")[0], int(field.split("[")[1].split("]")[0])
    line = json_line(src, data[key][k])  # the line of the offending object (pretty-printed file)
    assert f"{src}:{line}: {field}: {message}" in str(err.value)
    problems: list[Problem] = []
    ds = read_coco(src, problems=problems)  # collected instead, the rest kept
    assert problems == err.value.problems and ds.num_boxes >= 1


def test_all_problems_reported_at_once(tmp_path):
    data = _tiny()
    data["annotations"][0]["bbox"] = None
    data["annotations"][1]["category_id"] = 77
    data["annotations"][2]["image_id"] = "nope"
    src = _write_json(tmp_path / "c.json", data)
    with pytest.raises(InputError) as err:
        read_coco(src)
    assert [p.field for p in err.value.problems] == [
        "annotations[0].bbox", "annotations[1].category_id", "annotations[2].image_id"]


def test_not_coco(tmp_path):
    src = _write_json(tmp_path / "list.json", [1, 2])
    assert not detect(src)
    with pytest.raises(InputError, match="not a COCO instances object"):
        read_coco(src)
    with pytest.raises(InputError, match="no COCO instances JSON found"):
        read_coco(tmp_path / "empty_dir_missing")


@pytest.mark.parametrize("name", ["../evil.jpg", "/etc/evil.jpg", "a/../../evil.jpg"])
def test_writer_refuses_escaping_file_names(tmp_path, name):
    data = _tiny()
    data["images"][0]["file_name"] = name
    ds = read_coco(_write_json(tmp_path / "in.json", data))
    dst = tmp_path / "dst"
    with pytest.raises(InputError, match="unsafe path") as err:
        write_coco(ds, dst, images="none")
    assert err.value.problem.value == name
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.json"]  # no temporary leftovers


def test_interrupted_write_leaves_dst_untouched(tmp_path, monkeypatch):
    ds = read_coco(_write_json(tmp_path / "in.json", _tiny()))
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("old")
    import cvpipe.builtin.coco.writer as coco_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(coco_mod.json, "dumps", boom)
    with pytest.raises(KeyboardInterrupt):
        write_coco(ds, dst, images="none")
    assert sorted(p.name for p in dst.iterdir()) == ["keep.txt"] and (dst / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "in.json"]


def test_conformance_suite(tmp_path):
    from cvpipe.testing import check_format

    results = check_format("coco", workdir=tmp_path)
    assert all(v.startswith(("ok", "skipped")) for v in results.values()), results


# ---------------------------------------------------------------------------------------------
# The direct COCO -> YOLO path writes exactly what the general path writes
# ---------------------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "data.yaml":  # holds the absolute output path
                data = data.replace(str(folder).encode(), b"<dst>")
            out[str(p.relative_to(folder))] = data
    return out


def _general(src: Path, dst: Path, classes=None, **options) -> dict:
    from cvpipe.builtin.yolo import write_yolo
    from cvpipe.formats import check_dataset, order_categories

    problems: list[Problem] = []
    ds = check_dataset(read_coco(src), problems, check_images=False)
    assert problems == []
    return write_yolo(order_categories(ds, classes), dst, images="none", **options)


@pytest.mark.parametrize("case", ["val2014", "tiny", "tiny-classes", "keep", "voc-names"])
def test_fast_coco_to_yolo_is_byte_identical(tmp_path, case):
    from cvpipe.builtin.coco import convert_coco_to_yolo

    options: dict = {}
    classes = None
    if case == "val2014":
        if not VAL2014.is_file():
            pytest.skip(f"real COCO fixture absent: {VAL2014}")
        src = VAL2014
    else:
        data = _tiny()
        data["images"].append({"id": 11, "file_name": "sub/deeper/c.d.jpg", "width": 30, "height": 20})
        data["annotations"].append({"id": 8, "image_id": 11, "category_id": 18, "bbox": [1, 2, 3, 4],
                                    "attributes": {"difficult": True, "occluded": False}})
        if case == "tiny-classes":
            classes = ["bus", "dog", "car"]
        if case == "keep":
            options = {"keep_difficult": True, "keep_crowd": True, "decimals": 9}
        if case == "voc-names":
            data["categories"] = [{"id": 18, "name": "person"}, {"id": 3, "name": "aeroplane"}]
        src = _write_json(tmp_path / "in" / "instances_x.json", data)
    fast = convert_coco_to_yolo(src, tmp_path / "fast", classes=classes, **options)
    general = _general(src, tmp_path / "general", classes=classes, **options)
    assert fast == general
    assert _tree(tmp_path / "fast") == _tree(tmp_path / "general")


def test_fast_coco_to_yolo_declines_what_it_cannot_do(tmp_path):
    from cvpipe.builtin.coco import convert_coco_to_yolo

    bad = _tiny()
    bad["annotations"][0]["bbox"] = [10, 10, -5, 4]  # inverted: the general path names it
    src = _write_json(tmp_path / "bad.json", bad)
    assert convert_coco_to_yolo(src, tmp_path / "o1") is None
    good = _write_json(tmp_path / "good.json", _tiny())
    assert convert_coco_to_yolo(good, tmp_path / "o2", images="copy") is None
    assert convert_coco_to_yolo(good, tmp_path / "o3", classes=["car"]) is None  # dog not listed
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3))


TOY = FIXTURES / "review-odm" / "toyexample"


@pytest.mark.skipif(not TOY.is_dir(), reason=f"review-odm toy example absent: {TOY}")
def test_toy_example_detections_in_instances_form():
    from cvpipe.formats import read_dataset

    voc = read_dataset(TOY / "gts_vocpascal_format", images_dir=TOY / "images")
    gt = read_dataset(TOY / "gts_coco_format" / "toy_example_coco.JSON", images_dir=TOY / "images")
    assert sorted(s.image for s in gt.samples) == sorted(s.image for s in voc.samples)
    raw = json.loads((TOY / "dets_coco_format" / "coco_dets.json").read_text())
    names = {im["id"]: im["file_name"] for im in raw["images"]}
    for ref in (gt, voc):  # ids of the detection file mean images by file name, whatever the reference
        dt = read_coco_results(TOY / "dets_coco_format" / "coco_dets.json", ref)
        assert dt.num_boxes == len(raw["annotations"])
        got = sorted((s.image, *s.boxes[i].tolist(), float(s.scores[i])) for s in dt.samples for i in range(len(s)))
        want = sorted((names[a["image_id"]], a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                       a["bbox"][1] + a["bbox"][3], a["score"]) for a in raw["annotations"])
        assert got == want


def test_images_dir_with_split_subfolder(tmp_path):
    src = _write_json(tmp_path / "ann" / "instances_val.json", _tiny())
    for name in ("a.jpg", "sub/b.jpg"):
        (tmp_path / "pics" / "val" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pics" / "val" / name).write_bytes(b"x")
    assert read_coco(src, images_dir=tmp_path / "pics").root == tmp_path / "pics" / "val"
    assert read_coco(src, images_dir=tmp_path / "pics" / "val").root == tmp_path / "pics" / "val"
    assert read_coco(src, images_dir=tmp_path / "nowhere").root == tmp_path / "nowhere"


def test_several_splits_round_trip(tmp_path):
    src = tmp_path / "src"
    for split, image in (("train", "a.jpg"), ("val", "dir/b.jpg")):
        data = _tiny(images=[{"id": 7, "file_name": image, "width": 100, "height": 80}],
                     annotations=[{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 3, 4]}])
        _write_json(src / "annotations" / f"instances_{split}.json", data)
        (src / "images" / split / image).parent.mkdir(parents=True, exist_ok=True)
        (src / "images" / split / image).write_bytes(split.encode())
    ds = read_coco(src)
    assert ds.root == src / "images"
    assert [(s.split, s.image, s.id) for s in ds.samples] == [("train", "train/a.jpg", 7), ("val", "val/dir/b.jpg", 7)]
    assert all(ds.image_path(s).is_file() for s in ds.samples)
    assert [s.split for s in read_coco(src, splits=["val"]).samples] == ["val"]
    report = write_coco(ds, tmp_path / "dst")
    assert report["splits"] == {"train": {"images": 1, "boxes": 1}, "val": {"images": 1, "boxes": 1}}
    assert (tmp_path / "dst" / "images" / "val" / "dir" / "b.jpg").read_bytes() == b"val"
    back = json.loads((tmp_path / "dst" / "annotations" / "instances_val.json").read_text())
    assert back["images"] == [{"id": 7, "file_name": "dir/b.jpg", "width": 100, "height": 80}]


def test_one_line_json_problems_keep_their_json_path(tmp_path):
    data = _tiny()
    data["annotations"][1]["bbox"] = [1, 2]
    src = tmp_path / "one_line.json"
    src.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        read_coco(src)
    assert err.value.problem.line is None and err.value.problem.field == "annotations[1].bbox"
