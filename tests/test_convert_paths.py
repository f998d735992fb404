"""Direct converters (hook ``cvpipe_convert``) against the general path (read, check, order, write).

A direct converter may only be faster: on every dataset it must write the same files, give the
same report and refuse bad input with the same error. Hypothesis generates small VOC and COCO
datasets with what made the two paths differ before (``<score>`` tags, file names with folders,
missing or differently sized images, invalid boxes, duplicate file names, split lists that leave
files out, classes lists lacking a class) and converts each both ways.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvpipe.errors import InputError
from cvpipe.formats import convert_dataset
from cvpipe.testing import blank_png

HYPO = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ["cat", "dog", "person", "widget"]  # three VOC classes and one that is not


def _tree(folder: Path, dst: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (``dst``'s absolute path, in data.yaml, made neutral)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes().replace(str(dst.absolute()).encode(), b"DST")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _outcome(src: Path, dst: Path, **options) -> tuple:
    """``("ok", report, files)`` or ``("refused", problems as text, files)``, ``dst`` neutral."""
    try:
        report = convert_dataset(src, dst, "yolo", **options)
    except InputError as exc:
        return "refused", [str(p).replace(f"{dst}:", "DST:") for p in exc.problems], _tree(dst, dst)
    assert report["dst"] == str(dst)
    report = {k: v for k, v in report.items() if k != "dst"}
    return "ok", report, _tree(dst, dst)


def _both_ways(src: Path, work: Path, **options) -> tuple[tuple, tuple]:
    """Both conversions, into ``work/direct`` and ``work/general`` named relative to ``work``
    (messages must name DST as the user gave it)."""
    import os

    here = os.getcwd()
    os.chdir(work)
    try:
        direct = _outcome(src, Path("direct"), direct=True, **options)
        general = _outcome(src, Path("general"), direct=False, **options)
    finally:
        os.chdir(here)
    return direct, general


# ---------------------------------------------------------------------------------------------
# VOC
# ---------------------------------------------------------------------------------------------

_coord = st.one_of(st.integers(-5, 70), st.floats(-2, 66, allow_nan=False).map(lambda v: round(v, 2)))


@st.composite
def voc_objects(draw) -> str:
    parts = ["<object>", f"<name>{draw(st.sampled_from(NAMES))}</name>"]
    if draw(st.integers(0, 3)) == 0:
        parts.append(f"<difficult>{draw(st.sampled_from(['0', '1', ' 1 ']))}</difficult>")
    if draw(st.integers(0, 9)) == 0:
        parts.append("<iscrowd>1</iscrowd>")
    if draw(st.integers(0, 11)) == 0:
        parts.append(f"<score>{draw(st.floats(0, 1)):.3f}</score>")
    x1, y1, x2, y2 = (draw(_coord) for _ in range(4))
    if draw(st.integers(0, 2)):  # mostly a valid box
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
    bad = draw(st.integers(0, 14))
    xmin = "abc" if bad == 0 else str(x1)
    parts.append(f"<bndbox><xmin>{xmin}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>")
    parts.append("</object>")
    return "".join(parts)


@st.composite
def voc_datasets(draw) -> dict:
    """A VOCdevkit description: ``files`` ``{id: (xml text, image file name, image size | None)}``
    (None: no image file), ``lists`` ``{split: [ids]}``."""
    n = draw(st.integers(1, 6))
    files = {}
    for i in range(n):
        ident = f"{i:03d}"
        w, h = draw(st.integers(1, 64)), draw(st.integers(1, 64))
        kind = draw(st.integers(0, 19))
        name = f"{ident}.png"
        if kind == 0:
            name = f"sub/{ident}.png"  # a file name with a folder
        elif kind == 1 and i:
            name = "000.png"  # a file name another annotation has
        elif kind == 2:
            name = f"{ident}.PNG"
        objs = "".join(draw(st.lists(voc_objects(), max_size=3)))
        size = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
        text = f"<annotation><folder>VOC</folder><filename>{name}</filename>{size}{objs}</annotation>"
        if draw(st.integers(0, 24)) == 0:
            text = text[: len(text) // 2]  # malformed XML
        image = draw(st.sampled_from([(w, h)] * 4 + [None, (w + 1, h)]))
        files[ident] = (text, name, image)
    lists = {}
    if draw(st.booleans()):
        ids = list(files)
        lists["train"] = draw(st.lists(st.sampled_from(ids), unique=True, max_size=n))
        lists["val"] = [i for i in ids if i not in lists["train"] and draw(st.booleans())]
    return {"files": files, "lists": lists}


def write_voc_devkit(root: Path, spec: dict) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for ident, (text, name, image) in spec["files"].items():
        (root / "Annotations" / f"{ident}.xml").write_text(text, encoding="utf-8")
        if image is not None:
            blank_png(root / "JPEGImages" / name, *image)
    if spec["lists"]:
        (root / "ImageSets" / "Main").mkdir(parents=True)
        for split, ids in spec["lists"].items():
            (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    return root


_options = st.fixed_dictionaries({
    "images": st.sampled_from(["none", "copy"]),
    "keep_difficult": st.booleans(),
    "skip_invalid": st.booleans(),
    "classes": st.sampled_from([None, None, ["widget", "person", "dog", "cat"], ["dog", "cat"]]),
})


@HYPO
@given(spec=voc_datasets(), options=_options)
def test_voc_to_yolo_direct_equals_general(tmp_path, spec, options):
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    src = write_voc_devkit(work / "VOC", spec)
    direct, general = _both_ways(src, work, from_format="voc", **options)
    assert direct == general


def test_the_voc_direct_path_is_taken(tmp_path, monkeypatch):
    """The comparison above is only worth something if the direct path runs on plain data."""
    from cvpipe.builtin.voc import to_yolo as _voc2yolo

    taken = []
    real = _voc2yolo.stream_voc_to_yolo
    monkeypatch.setattr(_voc2yolo, "stream_voc_to_yolo", lambda *a, **k: taken.append(real(*a, **k)) or taken[-1])
    spec = {"files": {"000": ("<annotation><filename>000.png</filename><size><width>9</width><height>9</height>"
                              "</size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
                              "<ymax>5</ymax></bndbox></object></annotation>", "000.png", (9, 9))}, "lists": {}}
    src = write_voc_devkit(tmp_path / "VOC", spec)
    convert_dataset(src, tmp_path / "out", "yolo", images="copy")
    assert len(taken) == 1 and taken[0] is not None and taken[0]["boxes"] == 1


# ---------------------------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------------------------


@st.composite
def coco_files(draw) -> dict:
    n = draw(st.integers(1, 5))
    cats = [{"id": cid, "name": name} for cid, name in zip(draw(st.permutations([1, 3, 7, 18])), NAMES)]
    images, anns = [], []
    odd = draw(st.integers(0, 3)) == 0  # names the general path keeps, normalises or refuses
    for i in range(n):
        name = draw(st.sampled_from([f"{i}.jpg", f"sub/{i}.jpg", f"./{i}.jpg", "0.jpg", f"a\\{i}.jpg"])) if odd \
            else f"{i}.jpg"
        w, h = draw(st.integers(1, 50)), draw(st.integers(1, 50))
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for _ in range(draw(st.integers(0, 3))):
            x, y = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
            bw, bh = draw(st.integers(1, w - x)), draw(st.integers(1, h - y))
            if draw(st.integers(0, 14)) == 0:
                x, bw = x + 1, -bw  # outside or inverted: the general path names it
            ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": draw(st.sampled_from([1, 3, 7, 18])),
                   "bbox": [x, y, bw, bh], "iscrowd": int(draw(st.integers(0, 6)) == 0)}
            if draw(st.integers(0, 4)) == 0:
                ann["attributes"] = {"difficult": True}
            anns.append(ann)
    if anns and draw(st.integers(0, 9)) == 0:
        anns[-1]["image_id"] = 999  # unknown image
    return {"images": images, "annotations": anns, "categories": cats}


@HYPO
@given(data=coco_files(), options=_options)
def test_coco_to_yolo_direct_equals_general(tmp_path, data, options):
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    src = work / "annotations" / "instances_val.json"
    src.parent.mkdir(parents=True)
    src.write_text(json.dumps(data, indent=1))
    options = dict(options, images="none")  # COCO images are not generated: annotations only
    direct, general = _both_ways(src, work, from_format="coco", **options)
    assert direct == general


@pytest.mark.parametrize("pair", [("voc", "yolo"), ("coco", "yolo")])
def test_builtin_direct_converters_are_plain_hookimpls(pair):
    """No module-name privilege: the built-in fast paths are ordinary ``cvpipe_convert`` impls."""
    from cvpipe.plugins import get_plugin_manager

    impls = {i.plugin_name for i in get_plugin_manager().hook.cvpipe_convert.get_hookimpls()}
    assert {"cvpipe.builtin.voc", "cvpipe.builtin.coco"} <= impls


# ---------------------------------------------------------------------------------------------
# A third-party direct converter, installed as a distribution, used by `cvpipe convert`
# ---------------------------------------------------------------------------------------------

FAST_PLUGIN = '''
from cvpipe import hookimpl


@hookimpl
def cvpipe_convert(src, dst, src_format, dst_format, options):
    if (src_format, dst_format) != ("voc", "coco"):
        return None
    if options.get("images") == "link":
        raise RuntimeError("links are not supported here")
    from cvpipe.formats import convert_dataset

    opts = {k: v for k, v in options.items() if k != "classes_file"}
    report = convert_dataset(src, dst, dst_format, from_format=src_format, direct=False, **opts)
    for key in ("source", "dst", "from", "to"):
        report.pop(key)
    report["converter"] = "cvpipe-fastvoc"
    return report
'''


def _site_with_fast_plugin(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "cvpipe_fastvoc-0.1.dist-info").mkdir(parents=True)
    (site / "cvpipe_fastvoc.py").write_text(FAST_PLUGIN)
    (site / "cvpipe_fastvoc-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cvpipe-fastvoc\nVersion: 0.1\n")
    (site / "cvpipe_fastvoc-0.1.dist-info" / "entry_points.txt").write_text("[cvpipe]\nfastvoc = cvpipe_fastvoc\n")
    return site


def _cvpipe(site: Path, *args: str):
    import os
    import subprocess
    import sys

    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "cvpipe", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path})


def test_a_third_party_direct_converter_is_used_by_cvpipe_convert(tmp_path):
    spec = {"files": {"000": ("<annotation><filename>000.png</filename><size><width>9</width><height>9</height>"
                              "</size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
                              "<ymax>5</ymax></bndbox></object></annotation>", "000.png", (9, 9))}, "lists": {}}
    src = write_voc_devkit(tmp_path / "VOC", spec)
    site = _site_with_fast_plugin(tmp_path)
    proc = _cvpipe(site, "convert", str(src), str(tmp_path / "out"), "--to", "coco", "--json",
                   str(tmp_path / "report.json"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["converter"] == "cvpipe-fastvoc"  # the plugin's converter ran
    assert (report["images"], report["boxes"], report["to"]) == (1, 1, "coco")
    assert (tmp_path / "out" / "annotations" / "instances_default.json").is_file()
    # a pair it declines goes the general way; its failure names the plugin (exit 1, nothing written)
    proc = _cvpipe(site, "convert", str(src), str(tmp_path / "out2"), "--to", "yolo", "--json",
                   str(tmp_path / "report2.json"), "--quiet")
    assert proc.returncode == 0 and "converter" not in json.loads((tmp_path / "report2.json").read_text())
    proc = _cvpipe(site, "convert", str(src), str(tmp_path / "out3"), "--to", "coco", "--images", "link")
    assert proc.returncode == 1 and "plugin 'fastvoc' failed in hook cvpipe_convert" in proc.stderr
    assert "links are not supported here" in proc.stderr and not (tmp_path / "out3").exists()
