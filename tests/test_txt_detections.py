"""Detections as txt files (``cvpipe evaluate --dt DIR``): the layout is declared
(``--dt-layout yolo|xywh|xyxy``, ``--dt-coords abs|rel``, ``--dt-conf second|last``) or detected
when only one fits; an ambiguous folder or a wrong declaration is refused, never scored.
review_object_detection_metrics ships the same detections in three layouts (and as COCO
results): each must give the AP of the COCO copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpipe.cli import main
from cvpipe.commands.evaluate import read_detections
from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError, InputError
from cvpipe.evaluation import align_detections, evaluate
from cvpipe.formats import read_dataset
from cvpipe.formats.txt_detections import read_txt_detections

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ODM = FIXTURES / "review-odm"
needs_odm = pytest.mark.skipif(not (ODM / "data" / "database" / "dets").is_dir(), reason=f"review-odm fixtures absent: {ODM}")
#: the absolute copies hold whole pixels: the same numbers; the relative copy's six decimals move
#: boxes by up to 1e-3 px, which moves a detection across a size range's area bound now and then
TOL = {"abs_xywh": 1e-12, "abs_xyx2y2": 1e-12, "rel_xywh": 1e-4}


def _coco_numbers(gt: Dataset, dt: Dataset) -> dict:
    return evaluate(gt, align_detections(gt, dt), ["coco", "voc12"])


def _run_json(args: list[str], capsys) -> dict:
    assert main([str(a) for a in args] + ["--json", "-", "--quiet"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def odm():
    db = ODM / "data" / "database"
    gt = read_dataset(db / "gts" / "pascalvoc_format", images_dir=db / "images")
    ref = _coco_numbers(gt, read_detections(db / "dets" / "coco_format" / "coco_dets.json", gt))
    return db, gt, ref


@needs_odm
@pytest.mark.parametrize("folder, layout", [("abs_xywh", ("xywh", "abs", "second")),
                                            ("abs_xyx2y2", ("xyxy", "abs", "second")),
                                            ("rel_xywh", ("yolo", "rel", "second"))])
def test_review_odm_layouts_are_detected_and_give_the_coco_copys_ap(odm, folder, layout, capsys):
    db, gt, ref = odm
    assert ref["coco"]["AP"] > 0.1
    dt = read_txt_detections(db / "dets" / folder, gt)
    assert (dt.meta["layout"], dt.meta["coords"], dt.meta["conf"]) == layout
    assert dt.num_boxes == 452
    got = _coco_numbers(gt, dt)
    for metric in ("coco", "voc12"):
        for k, v in ref[metric].items():
            if isinstance(v, float):
                assert got[metric][k] == pytest.approx(v, abs=TOL[folder]), (metric, k)
    # the command line: detected, and declared, give the same numbers
    base = ["evaluate", "--gt", db / "gts" / "pascalvoc_format", "--images-dir", db / "images",
            "--dt", db / "dets" / folder]
    detected = _run_json(base, capsys)
    declared = _run_json(base + ["--dt-layout", layout[0], "--dt-coords", layout[1], "--dt-conf", layout[2]], capsys)
    assert detected == declared
    assert detected["coco"]["AP"] == pytest.approx(ref["coco"]["AP"], abs=TOL[folder])


@needs_odm
@pytest.mark.parametrize("folder, wrong", [("abs_xywh", ["--dt-layout", "xyxy"]),
                                           ("abs_xywh", ["--dt-coords", "rel"]),
                                           ("rel_xywh", ["--dt-layout", "xywh"]),
                                           ("rel_xywh", ["--dt-conf", "last"]),
                                           ("abs_xyx2y2", ["--dt-layout", "yolo", "--dt-coords", "abs",
                                                           "--dt-conf", "second"])])
def test_a_wrong_layout_is_refused_not_scored(odm, folder, wrong, capsys):
    db, gt, _ = odm
    rc = main(["evaluate", "--gt", str(db / "gts" / "pascalvoc_format"), "--images-dir", str(db / "images"),
               "--dt", str(db / "dets" / folder), *wrong, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "do not fit the layout" in err
    assert f"{folder}/" in err  # the first line each layout fails on is named
    assert "Traceback" not in err


@needs_odm
def test_review_odm_toy_example_ids_with_names_file_and_class_names(capsys):
    toy = ODM / "toyexample"
    gt = read_dataset(toy / "gts_vocpascal_format", images_dir=toy / "images")
    ref = _coco_numbers(gt, read_detections(toy / "dets_coco_format" / "coco_dets.json", gt))
    by_name = read_txt_detections(toy / "dets_classname_abs_xyx2y2", gt)  # "cat 0.94 12 44 344 481"
    assert (by_name.meta["layout"], by_name.meta["coords"]) == ("xyxy", "abs")
    names = (toy / "voc.names").read_text().split()
    by_id = read_txt_detections(toy / "dets_classid_rel_xcycwh", gt, names=names)
    assert (by_id.meta["layout"], by_id.meta["coords"]) == ("yolo", "rel")
    for dt, atol in ((by_name, 1e-12), (by_id, 0.02)):  # the toy's copies differ by rounding to pixels
        got = _coco_numbers(gt, dt)
        assert got["voc12"]["mAP"] == pytest.approx(ref["voc12"]["mAP"], abs=atol)
    out = _run_json(["evaluate", "--gt", toy / "gts_vocpascal_format", "--images-dir", toy / "images",
                     "--dt", toy / "dets_classid_rel_xcycwh", "--dt-names", toy / "voc.names",
                     "--metric", "voc12"], capsys)
    assert out["voc12"]["mAP"] == pytest.approx(_coco_numbers(gt, by_id)["voc12"]["mAP"], abs=1e-12)


def _gt() -> Dataset:
    return Dataset(["cat", "dog"], [Sample("a.jpg", 100, 80, [[10, 10, 50, 40]], [0]),
                                    Sample("b.jpg", 100, 80, [[20, 30, 60, 70]], [1])])


def test_an_ambiguous_folder_is_refused_listing_the_layouts(tmp_path, capsys):
    d = tmp_path / "dets"
    d.mkdir()
    (d / "a.txt").write_text("0 0.9 0.3 0.3 0.4 0.375\n")  # fits several relative layouts
    with pytest.raises(InputError, match="ambiguous") as exc:
        read_txt_detections(d, _gt())
    text = str(exc.value)
    assert "class conf cx cy w h (relative)" in text and "class cx cy w h conf (relative)" in text
    assert "--dt-layout yolo --dt-coords rel --dt-conf second" in text
    dt = read_txt_detections(d, _gt(), layout="yolo", coords="rel", conf="second")
    np.testing.assert_allclose(dt.samples[0].boxes, [[10, 9, 50, 39]])
    assert dt.samples[0].scores.tolist() == [0.9]
    assert dt.samples[1].boxes.shape == (0, 4)  # no file: no detections


def test_abs_and_rel_and_confidence_position_are_told_apart(tmp_path):
    """Each folder fits one layout only (the others put a box outside its 100x80 image, give it a
    negative size or a confidence above 1); classes by id or by name."""
    gt = _gt()
    cases = {
        ("xyxy", "abs", "last"): ("1 20 30 60 70 0.8\n", [20, 30, 60, 70]),
        ("xywh", "abs", "second"): ("dog 0.8 50 10 40 40\n", [50, 10, 90, 50]),
        ("yolo", "rel", "last"): ("1 0.4 0.625 0.4 0.5 0.8\n1 0.95 0.1 0.1 0.2 0.5\n", [20, 30, 60, 70]),
    }
    for want, (text, box) in cases.items():
        d = tmp_path / "_".join(want)
        d.mkdir()
        (d / "b.txt").write_text(text)
        dt = read_txt_detections(d, gt)
        assert (dt.meta["layout"], dt.meta["coords"], dt.meta["conf"]) == want
        np.testing.assert_allclose(dt.samples[1].boxes[0], box)
        assert dt.categories[dt.samples[1].labels[0]] == "dog"


def test_bad_lines_are_named(tmp_path):
    d = tmp_path / "dets"
    d.mkdir()
    (d / "a.txt").write_text("0 0.9 10 10 50\n0 0.9 10 ten 50 40\n")
    (d / "zzz.txt").write_text("0 0.9 10 10 50 40\n")
    with pytest.raises(InputError) as exc:
        read_txt_detections(d, _gt())
    where = {(p.message, p.line) for p in exc.value.problems}
    assert where == {("wrong number of values", 1), ("not a finite number", 2),
                     ("detection file for an unknown image", None)}
    (d / "zzz.txt").unlink()
    (d / "a.txt").write_text("7 0.9 10 10 50 40\n")
    with pytest.raises(InputError, match="unknown class id"):
        read_txt_detections(d, _gt(), layout="xyxy", coords="abs", conf="second")
    with pytest.raises(ConfigError, match="--dt-layout"):
        read_txt_detections(d, _gt(), layout="ltrb")


def test_layout_options_on_other_detections_are_a_usage_error(tmp_path, capsys):
    from cvpipe.formats import write_dataset

    write_dataset(_gt(), tmp_path / "gt", "coco", images="none")
    gt_json = next((tmp_path / "gt").rglob("*.json"))
    rc = main(["evaluate", "--gt", str(gt_json), "--dt", str(gt_json), "--dt-layout", "xyxy", "--quiet"])
    assert rc == 2
    assert "--dt-layout" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# never silently wrong: a folder written in any layout is read in that layout, or refused
# ---------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cvpipe.formats.txt_detections import COORDS, CONFS, LAYOUTS  # noqa: E402


def _line(cls: int, conf: float, box, w: int, h: int, layout: str, coords: str, where: str) -> str:
    x1, y1, x2, y2 = box
    nums = {"yolo": ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), "xywh": (x1, y1, x2 - x1, y2 - y1),
            "xyxy": (x1, y1, x2, y2)}[layout]
    if coords == "rel":
        nums = (nums[0] / w, nums[1] / h, nums[2] / w, nums[3] / h)
    text = " ".join(f"{v:.6f}" for v in nums)
    return f"{cls} {conf:.6f} {text}" if where == "second" else f"{cls} {text} {conf:.6f}"


@st.composite
def _folders(draw):
    w, h = draw(st.integers(20, 800)), draw(st.integers(20, 800))
    boxes = []
    for _ in range(draw(st.integers(1, 12))):
        x1, x2 = sorted(draw(st.floats(0, w, allow_nan=False)) for _ in range(2))
        y1, y2 = sorted(draw(st.floats(0, h, allow_nan=False)) for _ in range(2))
        boxes.append((draw(st.integers(0, 1)), draw(st.floats(0, 1)), (x1, y1, x2, y2)))
    return w, h, boxes, draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(COORDS)), draw(st.sampled_from(CONFS))


@settings(max_examples=150)
@given(case=_folders())
def test_detection_reads_the_written_layout_or_refuses(tmp_path_factory, case):
    w, h, boxes, layout, coords, conf = case
    d = tmp_path_factory.mktemp("dets")
    (d / "a.txt").write_text("".join(_line(c, s, b, w, h, layout, coords, conf) + "\n" for c, s, b in boxes))
    gt = Dataset(["cat", "dog"], [Sample("a.jpg", w, h)])
    tiny = coords == "abs" and all(abs(v) <= 1.05 for _, _, b in boxes for v in b)  # read as relative, by the rule
    try:
        dt = read_txt_detections(d, gt)
    except InputError as exc:
        assert "ambiguous" in str(exc) or tiny, str(exc)
        return
    got = (dt.meta["layout"], dt.meta["coords"], dt.meta["conf"])
    if tiny:
        return
    assert got == (layout, coords, conf)
    tol = 1e-6 * max(w, h) + 1e-5
    np.testing.assert_allclose(dt.samples[0].boxes, [b for _, _, b in boxes], atol=tol)
    np.testing.assert_allclose(dt.samples[0].scores, [s for _, s, _ in boxes], atol=1e-6)
