"""``cvpipe export``: ONNX and TorchScript graphs of cvpipe's models, their parity with PyTorch,
and exported ``.onnx`` files used by ``cvpipe predict`` and ``cvpipe evaluate``.

The checkpoint is a real compact detector (random initialisation, its head weights drawn wider
so that it makes many detections of distinct scores; score threshold 0.001) saved as the train
step saves it; nothing is stubbed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'cvpipe[export]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'cvpipe[export]')")

from cvpipe.cli import main  # noqa: E402

PARAMS = {"image_size": 64, "width": 8, "depth": 0, "fpn_channels": 16, "head_convs": 1, "score_thresh": 0.001}
CLASSES = ["circle", "square", "triangle"]


def _checkpoint(path: Path, params: dict = PARAMS) -> Path:
    from cvpipe.models.build import build_model
    from cvpipe.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("compact", len(CLASSES), params)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0.0, 0.3, generator=g)
    save_checkpoint(path, {"model": {"name": "compact", "params": params, "num_classes": len(CLASSES),
                                     "state_dict": model.state_dict()},
                           "categories": CLASSES, "inference": {"input_size": params["image_size"]}, "epoch": 1})
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from cvpipe.synthetic import synthesize_voc

    dst = tmp_path_factory.mktemp("data") / "voc"
    synthesize_voc(dst, images=6, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 3), seed=3,
                   splits={"val": 1.0})
    return dst


def _ops(graph) -> set[str]:
    """Operator types in an ONNX graph and its sub-graphs (If branches, loops)."""
    found = set()
    for node in graph.node:
        found.add(node.op_type)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                found |= _ops(attr.g)
    return found


def _export(capsys, *args: str) -> tuple[int, dict]:
    code = main(["export", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_onnx_with_nms_and_dynamic_axes_matches_pytorch(ckpt, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, report = _export(capsys, str(ckpt), "--format", "onnx", "--nms", "--dynamic", "--out", str(out))
    assert code == 0 and out.is_file()
    p = report["parity"]
    assert p["ok"] and p["detections"] > 100 and p["max_score"] <= 1e-4 and p["max_box_rel"] <= 1e-3
    proto = onnx.load(str(out))
    assert [o.name for o in proto.graph.output] == ["boxes", "scores", "labels", "num_dets"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert "NonMaxSuppression" in _ops(proto.graph)
    meta = json.loads({m.key: m.value for m in proto.metadata_props}["cvpipe"])
    assert meta["categories"] == CLASSES and meta["nms"] is True and meta["max_det"] == 100

    # a batch of 3 images of another size through onnxruntime equals PyTorch on each image
    import onnxruntime as ort

    from cvpipe.engine.predict import load_bundle

    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 80, 120), dtype=np.float32)
    res = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    model = load_bundle(ckpt).model
    with torch.inference_mode():
        ref = model([torch.from_numpy(im) for im in x])
    from cvpipe.export.parity import compare_detections

    got = []
    for i in range(3):
        n = int(res[3][i])
        assert n == len(ref[i]["boxes"]) and n > 0
        assert (res[2][i, n:] == -1).all() and (res[1][i, n:] == 0).all()
        got.append({"boxes": res[0][i, :n], "scores": res[1][i, :n], "labels": res[2][i, :n]})
    check = compare_detections(ref, got)
    assert check["ok"], check["mismatches"]


def test_torchscript_raw_export_matches_pytorch(ckpt, tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, report = _export(capsys, str(ckpt), "--format", "torchscript", "--out", str(out))
    assert code == 0 and report["parity"]["ok"] and report["parity"]["detections"] > 0
    assert report["outputs"] == ["logits", "deltas"] and report["nms"] is False
    from cvpipe.export.runtime import TorchScriptDetector

    det = TorchScriptDetector(out)
    assert det.meta["family"] == "compact" and det.meta["batch"] == 1


@pytest.fixture(scope="module")
def pseudo_gt(ckpt, data, tmp_path_factory) -> Path:
    """Ground truth the checkpoint gets a clearly non-zero mAP on: its own detections scoring
    above 0.3 on the synthetic images (the images' real shapes mean nothing to a random model)."""
    import dataclasses

    from cvpipe.engine.predict import load_bundle, predict_dataset
    from cvpipe.formats import read_dataset, write_dataset

    ds = read_dataset(data, "voc")
    bundle = load_bundle(ckpt)
    dets = predict_dataset(bundle, dataclasses.replace(ds, categories=CLASSES))
    def real(s):
        wide = (s.boxes[:, 2] - s.boxes[:, 0] > 2) & (s.boxes[:, 3] - s.boxes[:, 1] > 2)
        return dataclasses.replace(s.select((s.scores > 0.3) & wide), scores=None)

    gt = dataclasses.replace(dets, samples=[real(s) for s in dets.samples], meta={})
    assert gt.num_boxes > 20
    dst = tmp_path_factory.mktemp("gt") / "voc"
    write_dataset(gt, dst, "voc", images="copy")
    return dst


def test_onnx_model_gives_the_checkpoints_map(ckpt, pseudo_gt, tmp_path, capsys):
    """The deployed artifact evaluates exactly like the checkpoint (raw graph + the model's own
    postprocess chain, and the graph with NMS inside)."""
    data = pseudo_gt
    raw, nms = tmp_path / "raw.onnx", tmp_path / "nms.onnx"
    assert _export(capsys, str(ckpt), "--out", str(raw))[0] == 0
    assert _export(capsys, str(ckpt), "--nms", "--out", str(nms))[0] == 0
    results = []
    for model in (ckpt, raw, nms):
        js = tmp_path / f"{model.stem}.json"
        assert main(["evaluate", "--gt", str(data), "--model", str(model), "--json", str(js), "--quiet",
                     "--metric", "coco", "--metric", "voc07"]) == 0
        capsys.readouterr()
        results.append(json.loads(js.read_text()))
    assert results[0]["coco"]["AP50"] > 0.5
    for other in results[1:]:
        for metric in ("coco", "voc07"):
            for key, value in results[0][metric].items():
                if isinstance(value, float):
                    assert other[metric][key] == pytest.approx(value, abs=1e-9), (metric, key)

    # predict takes the .onnx file too, and writes what the checkpoint's predict writes
    images = data / "JPEGImages"
    for model, name in ((ckpt, "pt"), (nms, "onnx")):
        assert main(["predict", str(model), str(images), "--out", str(tmp_path / name), "--format", "yolo",
                     "--quiet"]) == 0
    capsys.readouterr()
    a = sorted((tmp_path / "pt" / "detections" / "labels").glob("*.txt"))
    b = sorted((tmp_path / "onnx" / "detections" / "labels").glob("*.txt"))
    assert [p.name for p in a] == [p.name for p in b] and a
    for x, y in zip(a, b):
        rows_x = np.loadtxt(x, ndmin=2)
        rows_y = np.loadtxt(y, ndmin=2)
        np.testing.assert_allclose(rows_x, rows_y, atol=2e-4)


def test_model_families_that_cannot_export_say_why(ckpt, tmp_path, capsys):
    from cvpipe.engine.predict import ModelBundle
    from cvpipe.export import export_model
    from cvpipe.export.graphs import ExportError

    class PluginNet(torch.nn.Module):
        def forward(self, images):
            return [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}]

    with pytest.raises(ExportError, match="PluginNet is not an exportable cvpipe model family"):
        export_model(ModelBundle(PluginNet(), "plugin_net", {}, ["a"]), "onnx", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()

    # cvpipe's own cvdet family: refused with the reason, nothing written
    from cvpipe.models.build import build_model

    cvdet = build_model("cvdet-n", 2, {"image_size": 64})
    with pytest.raises(ExportError, match="the cvdet family cannot be exported yet: its anchor-free head"):
        export_model(ModelBundle(cvdet, "cvdet-n", {"image_size": 64}, ["a", "b"]), "onnx", tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()

    # a chain the graph cannot hold: --nms refuses and says what to do; raw export works
    params = dict(PARAMS, postprocess=[{"soft_nms": {"sigma": 0.5}}])
    other = _checkpoint(tmp_path / "soft.pt", params)
    assert main(["export", str(other), "--nms", "--out", str(tmp_path / "s.onnx")]) == 2
    err = capsys.readouterr().err
    assert "['soft_nms']" in err and "export without --nms" in err and not (tmp_path / "s.onnx").exists()
    code, report = _export(capsys, str(other), "--out", str(tmp_path / "s.onnx"))
    assert code == 0 and report["parity"]["ok"]


def test_parity_comparison_catches_differences():
    from cvpipe.export.parity import compare_detections

    ref = [{"boxes": np.array([[10.0, 10, 50, 50], [0, 0, 5, 5]]), "scores": np.array([0.9, 0.5]),
            "labels": np.array([1, 0])}]
    same = compare_detections(ref, [dict(ref[0], boxes=ref[0]["boxes"] * (1 + 5e-4) + 5e-4)])
    assert same["ok"] and same["max_box_px"] == pytest.approx(50 * 5e-4 + 5e-4)
    # equal scores may come in either order
    swapped = {"boxes": ref[0]["boxes"][::-1], "scores": np.array([0.9, 0.9]), "labels": np.array([0, 1])}
    assert compare_detections([dict(ref[0], scores=np.array([0.9, 0.9]))], [swapped])["ok"]
    assert not compare_detections(ref, [dict(ref[0], boxes=ref[0]["boxes"] + [0, 0, 0.2, 0])])["ok"]
    assert not compare_detections(ref, [dict(ref[0], scores=ref[0]["scores"] + 2e-4)])["ok"]
    assert not compare_detections(ref, [dict(ref[0], labels=np.array([0, 1]))])["ok"]
    assert "1 detections, PyTorch 2" in compare_detections(
        ref, [{k: v[:1] for k, v in ref[0].items()}])["mismatches"][0]
