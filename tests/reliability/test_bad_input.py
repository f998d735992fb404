"""Issue 14 items 7 and 8: hostile input gets exit 2 naming the file and field -- never exit 1,
a traceback, a crash in a writer, or silence. ``validate`` and ``convert`` judge the same things
(one shared check, :func:`cvpipe.formats.check_dataset`)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest

from cvpipe.cli import main


@pytest.fixture
def cli(capsys):
    """``cli(*args) -> (exit code, stdout + stderr)``, the CLI run in this process."""
    def _run(*args) -> tuple[int, str]:
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out + err
    return _run


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Two-image datasets: ``voc``, ``coco`` (integer ids 1, 2) and ``yolo`` (root relative)."""
    from cvpipe.formats import convert_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("bad-input")
    synthesize_voc(root / "voc", images=2, seed=11, size=(64, 48), object_size=(10, 20), objects_per_image=(1, 1))
    for fmt in ("coco", "yolo"):
        convert_dataset(root / "voc", root / fmt, fmt, progress=False)
    cj = root / "coco" / "annotations" / "instances_train.json"
    doc = json.loads(cj.read_text())
    ids = {im["id"]: k + 1 for k, im in enumerate(doc["images"])}
    for im in doc["images"]:
        im["id"] = ids[im["id"]]
    for a in doc["annotations"]:
        a["image_id"] = ids[a["image_id"]]
    cj.write_text(json.dumps(doc, indent=1))
    y = root / "yolo" / "data.yaml"
    y.write_text(re.sub(r"(?m)^path: .*$", "path: .", y.read_text()))
    return {"voc": root / "voc", "coco": root / "coco", "yolo": root / "yolo"}


def copy(bases, fmt: str, tmp_path: Path) -> Path:
    d = tmp_path / fmt
    shutil.copytree(bases[fmt], d, symlinks=True)
    return d


def coco_file(d: Path) -> Path:
    return d / "annotations" / "instances_train.json"


def edit_coco_text(d: Path, old: str, new: str) -> Path:
    f = coco_file(d)
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new, 1))
    return f


def refused(cli, args, *fragments: str, file: Path | str) -> str:
    rc, out = cli(*args)
    assert rc == 2, out
    assert "Traceback" not in out and "--debug" not in out, out
    assert str(file) in out, out
    for f in fragments:
        assert f in out, out
    return out


# --- item 7: exit 2 instead of exit 1 or a traceback -----------------------------------------

def test_voc_width_with_400_digits(cli, bases, tmp_path):
    d = copy(bases, "voc", tmp_path)
    x = d / "Annotations" / "000000.xml"
    x.write_text(x.read_text().replace("<width>64</width>", "<width>" + "9" * 400 + "</width>"))
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", "coco"]):
        refused(cli, args, "size.width", file=x)


@pytest.mark.parametrize("value", ["1" + "0" * 400, "1e308", "1e999"])
def test_coco_width_too_large(cli, bases, tmp_path, value):
    d = copy(bases, "coco", tmp_path)
    f = edit_coco_text(d, '"width": 64', f'"width": {value}')
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", "voc"],
                 ["convert", d, tmp_path / "o", "--to", "yolo"]):
        refused(cli, args, "images[0]", file=f)
    assert not (tmp_path / "o").exists()


def test_json_nested_100000_deep(cli, bases, tmp_path):
    d = copy(bases, "coco", tmp_path)
    coco_file(d).write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(cli, ["validate", d], "JSON nested too deeply", file=coco_file(d))
    refused(cli, ["convert", d, tmp_path / "o", "--to", "yolo"], "JSON nested too deeply", file=coco_file(d))


@pytest.mark.parametrize("to", ["voc", "yolo"])
def test_lone_surrogates_in_names(cli, bases, tmp_path, to):
    d = copy(bases, "coco", tmp_path)
    f = coco_file(d)
    f.write_text(f.read_text().replace('"name": "', '"name": "\\udc80', 1))
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", to]):
        refused(cli, args, "categories[", "lone surrogate", file=f)
    d2 = copy(bases, "coco", tmp_path / "2")
    f2 = edit_coco_text(d2, '"file_name": "000000.jpg"', '"file_name": "\\ud800000000.jpg"')
    for args in (["validate", d2, "--no-images"], ["convert", d2, tmp_path / "o2", "--to", to, "--images", "none"]):
        refused(cli, args, "images[0]", "lone surrogate", file=f2)


@pytest.mark.parametrize("to", ["coco", "voc"])
def test_non_utf8_file_names(cli, bases, tmp_path, to):
    d = copy(bases, "yolo", tmp_path)
    img = sorted((d / "images" / "train").iterdir())[0]
    lab = d / "labels" / "train" / (img.stem + ".txt")
    bad = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: a surrogate-escaped str in Python
    os.rename(img, img.with_name(bad + ".jpg"))
    os.rename(lab, lab.with_name(bad + ".txt"))
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", to]):
        out = refused(cli, args, "bad image name", "lone surrogate", file=d)
    assert not (tmp_path / "o").exists()


def test_yolo_split_name_with_slash(cli, bases, tmp_path):
    d = copy(bases, "yolo", tmp_path)
    y = d / "data.yaml"
    y.write_text(y.read_text().replace("train: images/train", "a/b: images/train"))
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", "voc"],
                 ["convert", d, tmp_path / "o", "--to", "coco"]):
        refused(cli, args, "bad split name", "'a/b'", file=d)


def test_checkpoint_with_fewer_categories_than_classes(tmp_path):
    torch = pytest.importorskip("torch")
    from cvpipe.engine.checkpoint import FORMAT, VERSION, load_checkpoint
    from cvpipe.errors import InputError

    path = tmp_path / "short.pt"
    torch.save({"format": FORMAT, "version": VERSION, "categories": ["a"],
                "model": {"name": "compact", "params": {}, "num_classes": 3, "state_dict": {}}}, path)
    with pytest.raises(InputError) as info:
        load_checkpoint(path)
    p = info.value.problem
    assert (p.file, p.field) == (str(path), "categories") and "1 names for 3 classes" in str(p)


def _coco_results(tmp_path: Path, dets: str) -> Path:
    f = tmp_path / "dets.json"
    f.write_text(dets)
    return f


@pytest.mark.parametrize("det,what", [
    ('{"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "score": NaN}', "score is not a finite number"),
    ('{"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "score": Infinity}', "score is not a finite number"),
    ('{"image_id": 1, "category_id": 1, "bbox": [NaN, 2, 10, 10], "score": 0.5}', "not a finite number"),
    ('{"image_id": 1, "category_id": 1, "bbox": [1, 2, Infinity, 10], "score": 0.5}', "not a finite number"),
    ('{"image_id": 1, "category_id": 1, "bbox": [1, 2, -5, 10], "score": 0.5}', "box is inverted"),
])
def test_bad_detections_refused_by_evaluate(cli, bases, tmp_path, det, what):
    pytest.importorskip("faster_coco_eval")
    gt = bases["coco"]
    dt = _coco_results(tmp_path, "[" + det + "]")
    refused(cli, ["evaluate", "--gt", gt, "--dt", dt, "--dt-format", "coco"], what, file=dt)


def test_truncated_jpeg_refused_by_validate(cli, bases, tmp_path):
    d = copy(bases, "voc", tmp_path)
    img = d / "JPEGImages" / "000000.jpg"
    data = img.read_bytes()
    img.write_bytes(data[: len(data) // 2])
    for args in (["validate", d], ["convert", d, tmp_path / "o", "--to", "coco"],
                 ["convert", d, tmp_path / "o", "--to", "yolo"]):
        refused(cli, args, "image file is truncated", file=img)
    rc, out = cli("convert", d, tmp_path / "o", "--to", "yolo", "--skip-invalid")
    assert rc == 0 and len(list((tmp_path / "o").rglob("*.jpg"))) == 1


def test_non_utf8_pipeline_file(cli, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"# pipeline\nsteps:\n  - synthesize: {dst: \xff\xfe}\n")
    refused(cli, ["run", p, "--dry-run"], "not UTF-8", file=f"{p}:3")


def test_symlink_loops(cli, bases, tmp_path):
    d = copy(bases, "voc", tmp_path)
    ann = d / "Annotations"
    (ann / "000000.xml").unlink()
    (ann / "000000.xml").symlink_to("loop.xml")
    (ann / "loop.xml").symlink_to("000000.xml")
    (ann / "up").symlink_to("..", target_is_directory=True)  # a folder loop: Annotations/up/Annotations/...
    img = d / "JPEGImages" / "000001.jpg"
    img.unlink()
    img.symlink_to("000001.jpg")
    rc, out = cli("validate", d, "--from", "voc")
    assert rc == 2 and "Traceback" not in out, out
    assert f"{ann / '000000.xml'}" in out or f"{ann / 'loop.xml'}" in out, out
    assert "Too many levels of symbolic links" in out


def test_unreadable_folder(cli, bases, tmp_path, monkeypatch):
    """chmod 000 does not stop root: the folder's listing is refused by a patched os.scandir
    (what a PermissionError from the kernel looks like); without root, a real chmod too."""
    d = copy(bases, "voc", tmp_path)
    ann = d / "Annotations"
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(ann):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    refused(cli, ["validate", d, "--from", "voc"], "Permission denied", file=ann)
    monkeypatch.undo()
    if os.geteuid() != 0:
        ann.chmod(0)
        try:
            refused(cli, ["validate", d, "--from", "voc"], "Permission denied", file=ann)
        finally:
            ann.chmod(0o755)


def test_fifo_and_device_as_coco_file(cli, bases, tmp_path):
    d = copy(bases, "coco", tmp_path)
    coco_file(d).unlink()
    os.mkfifo(coco_file(d))
    refused(cli, ["validate", coco_file(d), "--from", "coco"], file=coco_file(d))  # never opened: no hang
    refused(cli, ["validate", d, "--from", "coco"], file=d)  # a folder's FIFO is no instances file
    coco_file(d).unlink()
    coco_file(d).symlink_to("/dev/zero")
    refused(cli, ["validate", coco_file(d), "--from", "coco"], file=coco_file(d))


# --- item 8: what was accepted silently ------------------------------------------------------

def test_coco_file_that_is_null(cli, bases, tmp_path):
    d = copy(bases, "coco", tmp_path)
    coco_file(d).write_text("null\n")
    refused(cli, ["validate", d], "null", file=coco_file(d))
    refused(cli, ["convert", d, tmp_path / "o", "--to", "yolo"], "null", file=coco_file(d))


def test_voc_width_1e308(cli, bases, tmp_path):
    d = copy(bases, "voc", tmp_path)
    x = d / "Annotations" / "000000.xml"
    x.write_text(x.read_text().replace("<width>64</width>", "<width>1e308</width>"))
    refused(cli, ["validate", d, "--no-images"], "image size too large", file=x)
    refused(cli, ["convert", d, tmp_path / "o", "--to", "yolo", "--images", "none"], "image size too large", file=x)


@pytest.mark.parametrize("token", ["+0", "0_0", "\u0660", "0.0", "-0", "0x0"])  # int() reads 0 from the first three
def test_yolo_class_ids_not_ascii_digits(cli, bases, tmp_path, token):
    d = copy(bases, "yolo", tmp_path)
    lab = sorted((d / "labels" / "train").glob("*.txt"))[0]
    parts = lab.read_text().split(" ", 1)
    lab.write_text(token + " " + parts[1])
    refused(cli, ["validate", d], "class id", file=lab)
    refused(cli, ["convert", d, tmp_path / "o", "--to", "coco"], "class id", file=lab)


@pytest.mark.parametrize("token", ["0.2_5", "\u0660.5", "\u0665e-1", "0x1", "nan", "1e999"])  # float() reads 0.25, 0.5
def test_yolo_coordinates_not_decimal(cli, bases, tmp_path, token):
    d = copy(bases, "yolo", tmp_path)
    lab = sorted((d / "labels" / "train").glob("*.txt"))[0]
    tok = lab.read_text().split()
    tok[1] = token
    lab.write_text(" ".join(tok) + "\n")
    refused(cli, ["validate", d], file=lab)


@pytest.mark.parametrize("names", ["[[a, b], c]", "{0: [x], 1: {y: z}}", "[a, {b: c}]", "[a, null]", "[a, true]",
                                   "{0: a, 1.5: b}", "{0: a, true: b}"])
def test_yolo_names_holding_lists_or_mappings(cli, bases, tmp_path, names):
    d = copy(bases, "yolo", tmp_path)
    y = d / "data.yaml"
    y.write_text(re.sub(r"(?ms)^names:.*", "names: " + names + "\n", y.read_text()).replace("nc: 2\n", ""))
    refused(cli, ["validate", d], "names", file=y)


def test_duplicate_json_keys(cli, bases, tmp_path):
    d = copy(bases, "coco", tmp_path)
    f = edit_coco_text(d, '"width": 64', '"width": 64, "width": 65')
    refused(cli, ["validate", d], "duplicate key", "width", file=f)
    refused(cli, ["convert", d, tmp_path / "o", "--to", "yolo"], "duplicate key", file=f)


@pytest.mark.parametrize("to", ["voc", "yolo"])
@pytest.mark.parametrize("edit", ["bbox-true", "image_id-1.0", "image_id-true", "category_id-true", "id-1.0"])
def test_booleans_and_floats_where_coco_wants_integers(cli, bases, tmp_path, edit, to):
    d = copy(bases, "coco", tmp_path)
    f = coco_file(d)
    doc = json.loads(f.read_text())
    key, value = edit.split("-")
    value = {"true": True, "1.0": 1.0}[value]
    if key == "bbox":
        doc["annotations"][0]["bbox"][0] = value
    elif key == "id":
        doc["images"][0]["id"] = value
    else:
        doc["annotations"][0][key] = value
    f.write_text(json.dumps(doc, indent=1))
    refused(cli, ["validate", d], f"{'images' if key == 'id' else 'annotations'}[0]", file=f)
    refused(cli, ["convert", d, tmp_path / "o", "--to", to], file=f)


@pytest.mark.parametrize("name", ["../../x.jpg", "/etc/passwd", "a/../../b.jpg"])
def test_validate_and_convert_judge_file_names_alike(cli, bases, tmp_path, name):
    d = copy(bases, "coco", tmp_path)
    f = edit_coco_text(d, '"file_name": "000000.jpg"', f'"file_name": "{name}"')
    v = refused(cli, ["validate", d, "--no-images"], "unsafe path", file=f)
    c = refused(cli, ["convert", d, tmp_path / "o", "--to", "voc", "--images", "none"], "unsafe path", file=f)
    line = next(x for x in v.splitlines() if "unsafe path" in x)
    assert line.strip() in c
