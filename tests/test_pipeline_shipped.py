"""The shipped pipelines (pipelines/voc_to_yolo.yaml, pipelines/coco_to_voc.yaml) run end to end
through `cvpipe run` on small generated data and on the real fixtures; what they wrote is checked
against the input files parsed independently here (ElementTree / json), not our own readers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # reading files the tests themselves generated or the fixtures
from collections import Counter
from pathlib import Path

import pytest
import yaml

from cvpipe.cli import main
from cvpipe.plugins import reset

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch, tmp_path):
    monkeypatch.setenv("CVPIPE_LOAD_PLUGINS", "")  # built-ins only: third-party loggers stay out
    monkeypatch.chdir(tmp_path)
    reset()
    yield
    reset()


def voc_objects(ann_dir: Path) -> dict[str, list[tuple[str, float, float, float, float, bool]]]:
    """stem -> [(name, cx, cy, w, h normalised, difficult)] from VOC XML, raw pixel numbers."""
    out = {}
    for f in sorted(ann_dir.glob("*.xml")):
        root = ET.parse(f).getroot()
        W = float(root.findtext("size/width"))
        H = float(root.findtext("size/height"))
        objs = []
        for o in root.iter("object"):
            b = o.find("bndbox")
            x1, y1, x2, y2 = (float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            objs.append((o.findtext("name"), (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H,
                         (o.findtext("difficult") or "0").strip() == "1"))
        out[f.stem] = objs
    return out


def yolo_rows(label_file: Path, names: list[str]) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for line in label_file.read_text().split("\n"):
        if line.strip():
            k, *v = line.split()
            rows.append((names[int(k)], *map(float, v)))
    return rows


def same_rows(a, b, tol=1.5e-6) -> bool:
    a, b = sorted(a), sorted(b)
    return len(a) == len(b) and all(x[0] == y[0] and all(abs(p - q) <= tol for p, q in zip(x[1:], y[1:]))
                                    for x, y in zip(a, b))


def test_voc_to_yolo_offline_default(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(PIPELINES / "voc_to_yolo.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "class" in printed.err and "(all)" in printed.err  # the stats table
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "ok"
    assert [s["status"] for s in results["steps"].values()] == ["ok"] * 5
    voc = out / "synthetic-voc"
    data = yaml.safe_load((out / "yolo" / "data.yaml").read_text())
    names = [data["names"][i] for i in range(data["nc"])]
    assert sorted(names) == ["circle", "square", "triangle"]
    # every image's labels equal the VOC boxes converted by hand; splits follow ImageSets/Main
    expected = voc_objects(voc / "Annotations")
    assert len(expected) == 40
    for split in ("train", "val"):
        stems = (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        labels = sorted((out / "yolo" / "labels" / split).glob("*.txt"))
        assert [p.stem for p in labels] == sorted(stems)
        assert sorted(p.stem for p in (out / "yolo" / "images" / split).iterdir()) == sorted(stems)
        for p in labels:
            assert same_rows(yolo_rows(p, names), [o[:5] for o in expected[p.stem]]), p.name
    stats = json.loads((out / "stats" / "stats.json").read_text())
    assert stats["images"] == 40 and stats["boxes"] == sum(len(v) for v in expected.values())
    assert (out / "stats" / "stats.png").read_bytes()[:4] == b"\x89PNG"
    assert results["steps"]["convert"]["result"]["boxes"] == stats["boxes"]


def test_voc_to_yolo_on_a_given_folder_relative_to_cwd(tmp_path):
    from cvpipe.synthetic import synthesize_voc

    synthesize_voc(tmp_path / "data" / "VOC", images=12, seed=5, splits={"train": 0.5, "val": 0.5})
    # relative --set paths resolve against the current directory (tmp_path), not pipelines/
    code = main(["run", str(PIPELINES / "voc_to_yolo.yaml"), "--quiet", "--out", "r",
                 "--set", "vars.voc_root=data/VOC", "--set", "vars.out=converted", "--set", "vars.images=none"])
    assert code == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["steps"]["synthesize"]["status"] == "skipped"
    assert results["steps"]["read"]["result"]["images"] == 12
    assert (tmp_path / "converted" / "data.yaml").is_file()
    assert not (tmp_path / "converted" / "images").exists() or not any((tmp_path / "converted" / "images").rglob("*.jpg"))
    assert len(list((tmp_path / "converted" / "labels").rglob("*.txt"))) == 12
    assert not (tmp_path / "r" / "synthetic-voc").exists()


@pytest.mark.skipif(not (FIXTURES / "review-odm").is_dir(), reason="../shared/fixtures/review-odm is absent")
def test_voc_to_yolo_on_real_voc_matches_the_fixture_yolo(tmp_path):
    """100 real VOC XML files -> YOLO, compared with the YOLO labels another tool (CVAT) wrote."""
    db = FIXTURES / "review-odm" / "data" / "database"
    code = main(["run", str(PIPELINES / "voc_to_yolo.yaml"), "--quiet", "--out", "r",
                 "--set", f"vars.voc_root={db / 'gts' / 'pascalvoc_format'}",
                 "--set", f"vars.images_dir={db / 'images'}", "--set", "vars.images=none",
                 "--set", "vars.out=yolo", "--set", "convert.keep_difficult=true"])
    assert code == 0
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    names = [data["names"][i] for i in range(data["nc"])]
    theirs_names = (db / "gts" / "yolo_format" / "obj.names").read_text().split()
    theirs = sorted((db / "gts" / "yolo_format" / "obj_train_data").glob("*.txt"))
    ours = {p.stem: p for p in (tmp_path / "yolo" / "labels").rglob("*.txt")}
    assert len(ours) == 100 and len(theirs) == 100
    for t in theirs:
        assert same_rows(yolo_rows(ours[t.stem], names), yolo_rows(t, theirs_names), tol=2e-6), t.name


def test_coco_to_voc_offline_default(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(PIPELINES / "coco_to_voc.yaml"), "--quiet", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "ok"
    # the demo COCO the pipeline wrote is the input: count its boxes per class by hand
    coco = {}
    for f in (out / "synthetic-coco" / "annotations").glob("*.json"):
        d = json.loads(f.read_text())
        cats = {c["id"]: c["name"] for c in d["categories"]}
        for a in d["annotations"]:
            coco.setdefault("n", Counter())[cats[a["category_id"]]] += 1
    src = coco["n"]
    objs = voc_objects(out / "voc" / "Annotations")
    got = Counter(o[0] for v in objs.values() for o in v)
    # remap merged circle and square into "round"; min_size 4 drops nothing (objects are >= 20px)
    assert got == Counter({"round": src["circle"] + src["square"], "triangle": src["triangle"]})
    main_dir = out / "voc" / "ImageSets" / "Main"
    sizes = {s: len((main_dir / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")}
    assert sizes == {"train": 42, "val": 9, "test": 9}
    assert results["steps"]["split"]["result"]["method"] == "stratified"


@pytest.mark.skipif(not (FIXTURES / "coco-val2014").is_dir(), reason="../shared/fixtures/coco-val2014 is absent")
def test_coco_to_voc_on_real_coco_filter_remap_split(tmp_path):
    src = FIXTURES / "coco-val2014" / "instances_val2014_100.json"
    code = main(["run", str(PIPELINES / "coco_to_voc.yaml"), "--quiet", "--out", "r",
                 "--set", f"vars.coco={src}", "--set", "vars.out=voc",
                 "--set", "vars.keep=[person, car, bicycle]", "--set", "vars.mapping={bicycle: cycle, car: vehicle}",
                 "--set", "vars.min_size=8", "--set", "voc.images=none"])
    assert code == 0
    d = json.loads(src.read_text())
    cats = {c["id"]: c["name"] for c in d["categories"]}
    rename = {"bicycle": "cycle", "car": "vehicle", "person": "person"}
    want: Counter = Counter()
    images = set()
    for a in d["annotations"]:
        name = cats[a["category_id"]]
        x, y, w, h = a["bbox"]
        if name in rename and not a.get("iscrowd") and w >= 8 and h >= 8:
            want[rename[name]] += 1
            images.add(a["image_id"])
    objs = voc_objects(tmp_path / "voc" / "Annotations")
    assert len(objs) == len(images)
    assert Counter(o[0] for v in objs.values() for o in v) == want
    split_sizes = {s: len((tmp_path / "voc" / "ImageSets" / "Main" / f"{s}.txt").read_text().split())
                   for s in ("train", "val", "test")}
    n = len(images)
    assert sum(split_sizes.values()) == n and abs(split_sizes["train"] - 0.7 * n) < 1


def test_shipped_pipelines_validate_and_dry_run(tmp_path, capsys):
    for name in ("voc_to_yolo", "coco_to_voc"):
        assert main(["run", str(PIPELINES / f"{name}.yaml"), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "# plan" in out and "${" not in out
        assert not (tmp_path / "runs").exists()
        header = (PIPELINES / f"{name}.yaml").read_text().splitlines()[0]
        assert header.startswith(f"# {name}.yaml:")


def test_voc_detect_hard_validates_and_runs_tiny(tmp_path, capsys):
    shipped = PIPELINES / "voc_detect_hard.yaml"
    assert shipped.read_text().splitlines()[0].startswith("# voc_detect_hard.yaml:")
    assert main(["run", str(shipped), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "difficulty: hard" in out and "${" not in out
    assert main(["run", str(shipped), "--dry-run", "--set", "vars.backgrounds=/nonexistent/photos"]) == 2
    assert "backgrounds" in capsys.readouterr().err
    photos = FIXTURES / "review-odm" / "data" / "database" / "images"
    extra = ["--set", f"vars.backgrounds={photos}"] if photos.is_dir() else []
    run = tmp_path / "run"
    assert main(["run", str(shipped), "--out", str(run), "--set", "vars.images=20", "--set", "vars.epochs=1",
                 "--set", "vars.image_size=64", "--set", "vars.batch_size=4", "--set", "vars.workers=0", *extra]) == 0
    marker = json.loads((run / "synthetic-voc" / "cvpipe-synthetic.json").read_text())
    assert marker["difficulty"] == "hard" and marker["backgrounds"] == (str(photos) if extra else None)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["coco"]["AP"] <= 1.0
