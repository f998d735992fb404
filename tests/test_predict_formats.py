"""``cvpipe predict --format yolo|coco`` writes detection layouts other tools read (YOLO:
Ultralytics' ``labels/<stem>.txt`` with confidences and no ``data.yaml``; COCO: a results list),
through one function (:func:`cvpipe.formats.detection_files.write_detections`), and refuses an
existing non-empty ``--out`` unless ``--overwrite``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvpipe.cli import main
from cvpipe.commands.evaluate import read_detections
from cvpipe.data import Dataset, Sample
from cvpipe.evaluation import align_detections, evaluate
from cvpipe.formats import read_dataset, write_dataset
from cvpipe.formats.detection_files import coco_image_id, write_detections


def _pair() -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(3)
    cats = ["cat", "dog"]
    gt, dt = [], []
    for i in range(6):
        name = f"{i + 1:012d}.jpg" if i % 2 else f"img_{i}.jpg"  # COCO-style numeric names and others
        boxes = rng.uniform(5, 40, size=(3, 2))
        boxes = np.hstack([boxes, boxes + rng.uniform(10, 50, size=(3, 2))])
        labels = rng.integers(0, 2, 3)
        gt.append(Sample(name, 100, 90, boxes, labels, id=i + 1))
        noisy = boxes + rng.normal(0, 2, boxes.shape)
        dt.append(Sample(name, 100, 90, np.clip(noisy, 0, [100, 90, 100, 90]), labels,
                         scores=rng.uniform(0.1, 1.0, 3)))
    return Dataset(cats, gt), Dataset(cats, dt)


def test_yolo_layout_is_ultralytics_predict_output(tmp_path):
    gt, dt = _pair()
    report = write_detections(dt, tmp_path / "det", "yolo")
    assert report["boxes"] == 18 and report["files"] == 6
    assert sorted(p.name for p in (tmp_path / "det").iterdir()) == ["classes.txt", "labels"]  # no data.yaml
    assert (tmp_path / "det" / "classes.txt").read_text() == "cat\ndog\n"
    line = (tmp_path / "det" / "labels" / "img_0.txt").read_text().splitlines()[0].split()
    assert len(line) == 6 and line[0] in ("0", "1")
    s = dt.samples[0]
    x1, y1, x2, y2 = s.boxes[0]
    np.testing.assert_allclose([float(v) for v in line[1:]],
                               [(x1 + x2) / 200, (y1 + y2) / 180, (x2 - x1) / 100, (y2 - y1) / 90, s.scores[0]],
                               atol=1e-6)


@pytest.mark.parametrize("fmt", ["yolo", "coco"])
def test_evaluate_reads_back_what_predict_writes(tmp_path, fmt, capsys):
    gt, dt = _pair()
    write_dataset(gt, tmp_path / "gt", "coco", images="none")
    gt_path = next((tmp_path / "gt").rglob("*.json"))
    ref = evaluate(gt, align_detections(gt, dt), ["coco"])["coco"]
    write_detections(dt, tmp_path / "det", fmt)
    dt_path = tmp_path / "det" / ("results.json" if fmt == "coco" else "")
    back = read_detections(dt_path, read_dataset(gt_path))
    got = evaluate(read_dataset(gt_path), align_detections(read_dataset(gt_path), back), ["coco"])["coco"]
    for k, v in ref.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, abs=1e-4 if fmt == "yolo" else 1e-12), k  # YOLO: 6 decimals
    assert main(["evaluate", "--gt", str(gt_path), "--dt", str(dt_path), "--json", "-", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["coco"]["AP"] == pytest.approx(got["AP"], abs=1e-12)


def test_coco_results_are_a_list_pycocotools_loads(tmp_path):
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    gt, dt = _pair()
    # a COCO ground truth whose image ids are the numbers in the file names (as COCO's own)
    images = [{"id": coco_image_id(s.image[:-4]), "file_name": s.image, "width": 100, "height": 90}
              for s in gt.samples if s.image[:-4].isdigit()]
    (tmp_path / "gt.json").write_text(json.dumps({"images": images, "annotations": [],
                                                  "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
    write_detections(Dataset(dt.categories, [s for s in dt.samples if s.image[:-4].isdigit()]), tmp_path / "det", "coco")
    results = json.loads((tmp_path / "det" / "results.json").read_text())
    assert isinstance(results, list) and len(results) == 9
    assert set(results[0]) == {"image_id", "category_id", "bbox", "score"}
    assert {r["image_id"] for r in results} == {2, 4, 6}  # 000000000002.jpg is image 2
    coco = COCO(str(tmp_path / "gt.json"))
    loaded = coco.loadRes(str(tmp_path / "det" / "results.json"))
    assert len(loaded.getAnnIds()) == 9


def test_non_empty_out_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    img = tmp_path / "a.png"
    from cvpipe.testing import blank_png

    blank_png(img, 8, 8)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    assert main(["predict", str(junk), str(img), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not empty" in err and "--overwrite" in err
    assert main(["predict", str(junk), str(img), "--out", str(out), "--overwrite"]) == 2  # now the model is read
    err = capsys.readouterr().err
    assert "not empty" not in err and "junk.pt" in err
    assert (out / "old.txt").read_text() == "x"
