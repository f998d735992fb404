"""Model plugins: every torchvision detector builds offline for a class count and runs; weights
load from local files only; cvpipe's compact detector trains, decodes through the postprocessor
plugins and keeps its boxes inside the image."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from cvpipe.errors import ConfigError, InputError

TINY = dict(image_size=64, width=8, depth=0, fpn_channels=16, head_convs=1)


@pytest.fixture(autouse=True)
def no_downloads(tmp_path, monkeypatch):
    """Point TORCH_HOME at an empty folder; it must stay empty (nothing downloaded)."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    yield
    assert list(home.rglob("*")) == [], "something was downloaded into TORCH_HOME"


def _build(name, num_classes=3, **params):
    from cvpipe.models.build import build_model

    return build_model(name, num_classes, params)


def test_all_names_are_registered():
    from cvpipe.models.factories import TORCHVISION_MODELS
    from cvpipe.plugins import get_registry

    names = get_registry().models.names()
    assert "compact" in names
    assert set(TORCHVISION_MODELS) <= set(names)
    assert len(TORCHVISION_MODELS) == 9


@pytest.mark.parametrize("name", [
    "fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large",
])
def test_torchvision_detector_builds_and_predicts(name):
    torch.manual_seed(0)
    params = {} if name.startswith("ssd") else {"min_size": 64, "max_size": 64}
    model = _build(name, 3, **params).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 40, 56)])
    assert len(out) == 1 and set(out[0]) >= {"boxes", "scores", "labels"}
    labels = out[0]["labels"]
    assert ((labels >= 0) & (labels < 3)).all()  # background shift undone: 0-based classes
    assert out[0]["boxes"].shape[-1] == 4


def test_torchvision_training_step_shifts_labels():
    model = _build("fasterrcnn_mobilenet_v3_large_320_fpn", 2, min_size=64, max_size=64).train()
    seen = {}
    inner = model.model.roi_heads.forward

    def spy(features, proposals, image_shapes, targets=None):
        seen["labels"] = [t["labels"].tolist() for t in targets]
        return inner(features, proposals, image_shapes, targets)

    model.model.roi_heads.forward = spy
    losses = model([torch.rand(3, 48, 48)], [{"boxes": torch.tensor([[4.0, 4, 30, 30]]), "labels": torch.tensor([0])}])
    assert seen["labels"] == [[1]] and all(torch.isfinite(v) for v in losses.values())


def test_full_weights_from_a_local_file_and_new_head(tmp_path):
    torch.manual_seed(0)
    src = _build("ssdlite320_mobilenet_v3_large", 5)
    path = tmp_path / "ssdlite.pth"
    torch.save(src.model.state_dict(), path)  # as torchvision ships weights: the bare model's keys
    same = _build("ssdlite320_mobilenet_v3_large", 5, weights=str(path))
    for k, v in src.state_dict().items():
        assert torch.equal(v, same.state_dict()[k]), k
    # another class count: everything but the classification head is loaded
    other = _build("ssdlite320_mobilenet_v3_large", 2, weights=str(path))
    sd, ref = other.state_dict(), src.state_dict()
    head = [k for k in ref if sd[k].shape != ref[k].shape]  # the class-count-shaped tensors
    assert head and all("classification_head" in k for k in head)
    assert all(torch.equal(sd[k], ref[k]) for k in ref if k not in head)  # the rest was loaded


def test_backbone_weights_from_a_classifier_file(tmp_path):
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.mobilenet_v3_large(weights=None)
    path = tmp_path / "mobilenet_v3_large.pth"
    torch.save(net.state_dict(), path)
    model = _build("fasterrcnn_mobilenet_v3_large_320_fpn", 2, weights_backbone=str(path))
    body = model.model.backbone.body.state_dict()
    assert torch.equal(body["0.0.weight"], net.state_dict()["features.0.0.weight"])


def test_compact_weights_from_a_cvpipe_checkpoint(tmp_path):
    from cvpipe.engine.checkpoint import save_checkpoint

    torch.manual_seed(2)
    src = _build("compact", 3, **TINY)
    path = save_checkpoint(tmp_path / "ck.pt", {"model": {"name": "compact", "params": TINY, "num_classes": 3,
                                                          "state_dict": src.state_dict()}, "categories": list("abc")})
    dst = _build("compact", 3, **TINY, weights=str(path))
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k])


def test_bad_weights_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputError) as e:
        _build("compact", 3, **TINY, weights=str(junk))
    assert "junk.pth" in str(e.value)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"foo.bar": torch.zeros(3, 3)}, unrelated)
    with pytest.raises(InputError, match="no tensor in the file fits"):
        _build("compact", 3, **TINY, weights=str(unrelated))
    with pytest.raises(InputError, match="not found"):
        _build("compact", 3, **TINY, weights=str(tmp_path / "nope.pth"))


def test_compact_settings_are_checked():
    from cvpipe.plugins import get_registry

    models = get_registry().models
    with pytest.raises(ConfigError) as e:
        models.create("compact", {"image_size": 100}, 3, where="model_params")
    assert e.value.problem.field == "image_size"
    with pytest.raises(ConfigError) as e:
        models.create("compact", {"widht": 8}, 3, where="model_params")
    assert e.value.problem.field == "model_params.widht" and "width" in str(e.value)
    with pytest.raises(ConfigError) as e:
        models.create("compact", {"box_loss": "l1"}, 3)
    assert e.value.problem.field == "box_loss"
    with pytest.raises(ConfigError):
        models.create("compact", {"postprocess": [{"nmz": {}}]}, 3)


def test_compact_trains_and_decodes_through_postprocessors():
    from cvpipe.postprocess import Postprocess

    torch.manual_seed(0)
    model = _build("compact", 2, **TINY, postprocess=[{"soft_nms": {"sigma": 0.5}}, {"topk": {"k": 7}}])
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    targets = [{"boxes": torch.tensor([[8.0, 8, 40, 40]]), "labels": torch.tensor([1])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    model.train()
    first = None
    for _ in range(5):
        losses = model(images, targets)
        loss = sum(losses.values())
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(losses) == {"cls_loss", "box_loss"} and float(loss.detach()) < first
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 64)])
    assert isinstance(model._postprocess, Postprocess)
    assert [name for name, _ in model._postprocess.steps] == ["decode_anchors", "soft_nms", "topk"]
    assert len(out[0]["boxes"]) <= 7
    assert model.postprocess_spec[0]["decode_anchors"]["strides"] == [8, 16, 32]


def test_compact_anchor_count_matches_head():
    model = _build("compact", 4, **TINY).eval()
    x = torch.rand(1, 3, 64, 64)
    raw = model.raw_forward((x - model.mean) / model.std)
    # 64 px: feature maps 8x8, 4x4, 2x2, 6 anchors per location
    assert raw["anchors"].shape == ((64 + 16 + 4) * 6, 4)
    assert raw["logits"].shape == (1, (64 + 16 + 4) * 6, 4) and raw["deltas"].shape == (1, (64 + 16 + 4) * 6, 4)


@settings(max_examples=6, deadline=None)
@given(w=st.integers(16, 200), h=st.integers(16, 200))
def test_compact_boxes_stay_inside_any_input_size(w, h):
    torch.manual_seed(0)
    model = _build("compact", 2, **TINY, score_thresh=0.0).eval()
    with torch.no_grad():
        det = model([torch.rand(3, h, w)])[0]
    b = det["boxes"]
    assert len(b) > 0
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 2] <= w + 1e-4).all() and (b[:, 3] <= h + 1e-4).all()
    assert (det["scores"][:-1] >= det["scores"][1:]).all()


def test_model_modules_import_cheaply():
    import subprocess
    import sys

    code = ("import sys, cvpipe.builtin.models, cvpipe.builtin.train_steps; "
            "print(any(m in sys.modules for m in ('torch', 'torchvision', 'albumentations')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ))
    assert out.stdout.strip() == "False"
