"""cvdet with a timm backbone by name (random init; weights only from a local file)."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")

from cvpipe.errors import ConfigError  # noqa: E402


from test_cvdet import one_thread  # noqa: E402,F401  (the fixture: torch on one thread)


def test_without_timm_the_error_says_how_to_install(monkeypatch):
    from cvpipe.plugins import get_registry

    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(ConfigError) as err:
        get_registry().models.create("cvdet-n", {"backbone": "timm:resnet18", "image_size": 64}, 2)
    assert "pip install cvpipe[timm]" in str(err.value) and "backbone" in str(err.value)


def test_timm_resnet18_backbone_random_init(tmp_path, one_thread):
    pytest.importorskip("timm")
    from cvpipe.models.timm_backbone import TimmBackbone
    from cvpipe.plugins import get_registry

    reg = get_registry()
    m = reg.models.create("cvdet-n", {"backbone": "timm:resnet18", "image_size": 64}, 2)
    assert isinstance(m.backbone, TimmBackbone) and m.backbone.out_channels == [128, 256, 512]
    m.eval()
    with torch.no_grad():
        raw = m.raw_forward(torch.zeros(1, 3, 64, 64))
    assert raw["logits"].shape == (1, 84, 2)
    m.train()
    losses = m([torch.rand(3, 64, 64)], [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 50.0]]), "labels": torch.tensor([1])}])
    assert all(torch.isfinite(v) for v in losses.values())
    # backbone weights from a local file: a timm model's own state dict (classifier included)
    import timm

    torch.manual_seed(5)
    src = timm.create_model("resnet18", pretrained=False, num_classes=10)
    path = tmp_path / "resnet18.pt"
    torch.save(src.state_dict(), path)
    m2 = reg.models.create("cvdet-n", {"backbone": "timm:resnet18", "image_size": 64, "weights_backbone": str(path)}, 2)
    assert torch.equal(m2.backbone.body.conv1.weight, src.conv1.weight)
    assert torch.equal(m2.backbone.body.layer4[1].conv2.weight, src.layer4[1].conv2.weight)


def test_unknown_timm_model_and_bad_strides():
    pytest.importorskip("timm")
    from cvpipe.plugins import get_registry

    with pytest.raises(ConfigError, match="unknown timm model") as err:
        get_registry().models.create("cvdet-n", {"backbone": "timm:resnet181", "image_size": 64}, 2)
    assert "did you mean" in str(err.value)
    from cvpipe.models.timm_backbone import TimmBackbone

    with pytest.raises(ConfigError, match="strides"):
        TimmBackbone("resnet18", strides=(8, 16, 64))
