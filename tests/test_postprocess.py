"""The postprocessor plugins (cvpipe.builtin.postprocess): registration, settings validation,
YAML chains, and results equal to cvpipe.ops / torchvision / ensemble-boxes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cvpipe.errors import ConfigError
from cvpipe.plugins import get_registry

torch = pytest.importorskip("torch")
tvops = pytest.importorskip("torchvision.ops")

from cvpipe import ops  # noqa: E402
from cvpipe.postprocess import build_postprocess  # noqa: E402

NAMES = {"decode_anchors", "decode_yolo", "nms", "soft_nms", "wbf", "score_threshold", "topk"}


def test_registered_by_the_builtin_plugin():
    fam = get_registry().postprocessors
    assert NAMES <= set(fam.names())
    for name in NAMES:
        entry = fam.get(name)
        assert entry.plugin == "cvpipe.builtin.postprocess" and entry.description


def test_plugin_module_imports_without_torch():
    code = (
        "import sys; import cvpipe.builtin.postprocess; from cvpipe.plugins import get_registry; "
        "get_registry().postprocessors.create('nms', {'iou': 0.4}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- settings checks


@pytest.mark.parametrize(
    "name,params,field",
    [
        ("nms", {"iou": 1.5}, "iou"),
        ("nms", {"max_det": 0}, "max_det"),
        ("soft_nms", {"sigma": 0.0}, "sigma"),
        ("soft_nms", {"score_threshold": -0.1}, "score_threshold"),
        ("wbf", {"weights": [1.0, -1.0]}, "weights[1]"),
        ("topk", {"k": 0}, "k"),
        ("score_threshold", {"threshold": 2}, "threshold"),
        ("decode_yolo", {"anchors": [[10, 13, 16]], "strides": [8]}, "anchors[0]"),
        ("decode_yolo", {"anchors": [[10, 13]], "strides": [8, 16]}, "anchors"),
        ("decode_anchors", {"strides": [8, 16], "sizes": [[32]]}, "sizes"),
        ("decode_anchors", {"strides": [8], "sizes": [[32]], "offset": 2.0}, "offset"),
    ],
)
def test_out_of_range_settings_name_the_parameter(name, params, field):
    with pytest.raises(ConfigError) as info:
        get_registry().postprocessors.create(name, params)
    assert field in [p.field for p in info.value.problems]


def test_unknown_and_mistyped_settings_are_reported_with_their_path():
    with pytest.raises(ConfigError) as info:
        get_registry().postprocessors.create("nms", {"iuo": 0.5, "max_det": "ten"}, where="postprocess[1].nms")
    fields = {p.field: p for p in info.value.problems}
    assert "did you mean 'iou'" in fields["postprocess[1].nms.iuo"].hint
    assert fields["postprocess[1].nms.max_det"].message == "wrong type"


def test_build_postprocess_reports_every_problem_at_its_yaml_path():
    spec = [
        {"decode_yolo": {"anchors": [[10, 13, 16, 30]], "strides": [8]}},
        {"nms": {"iou": 1.5}},
        {"nmss": {}},
        {"soft_nms": {"methd": "linear"}},
        {"decode_anchors": {"strides": [8], "sizes": [[32]]}},
        "topk",
    ]
    with pytest.raises(ConfigError) as info:
        build_postprocess(spec, file="pipe.yaml")
    fields = [p.field for p in info.value.problems]
    assert fields == [
        "postprocess[1].nms.iou",
        "postprocess[2].nmss",
        "postprocess[3].soft_nms.methd",
        "postprocess[4]",
        "postprocess[5]",
    ]
    text = str(info.value)
    assert "pipe.yaml: postprocess[1].nms.iou: out of range (got 1.5" in text
    assert "did you mean 'nms'?" in text and "a decoder must come first" in text
    with pytest.raises(ConfigError, match="a list of postprocessors"):
        build_postprocess({"nms": {}})


# ----------------------------------------------------------------------------- results


def random_detections(images: int, n: int, classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(images):
        xy = torch.rand(n, 2, generator=g) * 300
        wh = torch.rand(n, 2, generator=g) * 80 + 2
        out.append({
            "boxes": torch.cat([xy, xy + wh], 1),
            "scores": torch.rand(n, generator=g),
            "labels": torch.randint(0, classes, (n,), generator=g),
            "image_id": i,
        })
    return out


def test_nms_plugin_equals_torchvision_per_image():
    dets = random_detections(3, 500, 6, seed=0)
    out = build_postprocess([{"nms": {"iou": 0.45}}])(dets)
    for d, o in zip(dets, out):
        keep = tvops.batched_nms(d["boxes"], d["scores"], d["labels"], 0.45)
        assert torch.equal(o["boxes"], d["boxes"][keep]) and torch.equal(o["labels"], d["labels"][keep])
        assert torch.equal(o["scores"], d["scores"][keep]) and o["image_id"] == d["image_id"]
    agnostic = build_postprocess([{"nms": {"iou": 0.45, "class_agnostic": True, "max_det": 20}}])(dets)
    keep = tvops.nms(dets[0]["boxes"], dets[0]["scores"], 0.45)[:20]
    assert torch.equal(agnostic[0]["boxes"], dets[0]["boxes"][keep])


def test_numpy_detections_are_accepted():
    d = random_detections(1, 50, 2, seed=1)[0]
    as_np = [{k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in d.items()}]
    out = build_postprocess([{"nms": None}])(as_np)
    keep = tvops.batched_nms(d["boxes"], d["scores"], d["labels"], 0.5)
    assert torch.equal(out[0]["boxes"], d["boxes"][keep])


def test_soft_nms_score_threshold_and_topk_plugins():
    dets = random_detections(2, 200, 3, seed=2)
    out = build_postprocess([{"soft_nms": {"method": "linear", "iou": 0.4}}, {"score_threshold": {"threshold": 0.3}},
                             {"topk": {"k": 15}}])(dets)
    for d, o in zip(dets, out):
        keep, sc = ops.soft_nms(d["boxes"], d["scores"], d["labels"], method="linear", iou=0.4)
        keep, sc = keep[sc > 0.3][:15], sc[sc > 0.3][:15]
        assert torch.equal(o["boxes"], d["boxes"][keep]) and torch.equal(o["scores"], sc)


def test_wbf_plugin_in_pixels_equals_ensemble_boxes_on_normalised_boxes():
    eb = pytest.importorskip("ensemble_boxes")
    a = random_detections(2, 120, 3, seed=3)
    b = random_detections(2, 120, 3, seed=4)
    fused = build_postprocess([{"wbf": {"iou": 0.5, "weights": [2, 1]}}])([a, b])
    assert len(fused) == 2
    for i in range(2):
        allb = torch.cat([a[i]["boxes"], b[i]["boxes"]])
        lo = torch.stack([allb[:, [0, 2]].min(), allb[:, [1, 3]].min()]).repeat(2)
        span = torch.stack([allb[:, [0, 2]].max(), allb[:, [1, 3]].max()]).repeat(2) - lo
        norm = [((m[i]["boxes"] - lo) / span).double().numpy() for m in (a, b)]
        rb, rs, rl = eb.weighted_boxes_fusion(norm, [m[i]["scores"].numpy() for m in (a, b)],
                                              [m[i]["labels"].numpy() for m in (a, b)], weights=[2, 1], iou_thr=0.5)
        order = np.lexsort((rs, rl))
        got = fused[i]
        gorder = np.lexsort((got["scores"].numpy(), got["labels"].numpy()))
        np.testing.assert_allclose(got["scores"].numpy()[gorder], rs[order], atol=1e-6)
        np.testing.assert_allclose(got["boxes"].numpy()[gorder], (rb * span.numpy() + lo.numpy())[order], atol=1e-3)
    # one model's detections alone are fused with themselves
    single = build_postprocess([{"wbf": {}}])(a)
    assert len(single) == 2 and len(single[0]["boxes"]) < 120
    with pytest.raises(ValueError, match="weights"):
        build_postprocess([{"wbf": {"weights": [1, 1, 1]}}])([a, b])


# ----------------------------------------------------------------------------- decoders


def test_decode_anchors_then_nms_recovers_encoded_boxes_from_every_input_form():
    strides, sizes, ratios = [8, 16], [[32], [64]], [0.5, 1.0, 2.0]
    feature_sizes = [(8, 8), (4, 4)]
    anchors = ops.anchor_grid(feature_sizes, strides, sizes, ratios)
    num_classes, a = 4, 3
    gt = torch.tensor([[10.0, 12.0, 40.0, 30.0], [30.0, 20.0, 60.0, 62.0]])
    gt_labels = torch.tensor([2, 0])
    hit = torch.tensor([int(tvops.box_iou(gt[i : i + 1], anchors).argmax()) for i in range(2)])
    deltas = torch.zeros(1, len(anchors), 4)
    logits = torch.full((1, len(anchors), num_classes), -10.0)
    deltas[0, hit] = ops.encode_boxes(gt, anchors[hit])
    logits[0, hit, gt_labels] = 10.0
    # the same head output as per-level maps (B, A*(4+C), H, W) and as separate heads
    levels, box_levels, cls_levels, start = [], [], [], 0
    for h, w in feature_sizes:
        n = h * w * a
        d = deltas[:, start : start + n].reshape(1, h, w, a, 4)
        c = logits[:, start : start + n].reshape(1, h, w, a, num_classes)
        levels.append(torch.cat([d, c], -1).permute(0, 3, 4, 1, 2).reshape(1, a * (4 + num_classes), h, w))
        box_levels.append(d.permute(0, 3, 4, 1, 2).reshape(1, a * 4, h, w))
        cls_levels.append(c.permute(0, 3, 4, 1, 2).reshape(1, a * num_classes, h, w))
        start += n
    chain = build_postprocess([
        {"decode_anchors": {"strides": strides, "sizes": sizes, "aspect_ratios": ratios, "score_threshold": 0.5}},
        {"nms": {"iou": 0.5}},
    ])
    forms = [
        levels,
        {"levels": levels},
        {"box_levels": box_levels, "cls_levels": cls_levels},
        {"deltas": deltas, "logits": logits, "feature_sizes": feature_sizes},
        {"deltas": deltas, "logits": logits, "anchors": anchors},
    ]
    for form in forms:
        out = chain(form)
        assert len(out) == 1
        order = torch.argsort(out[0]["labels"], descending=True)
        torch.testing.assert_close(out[0]["boxes"][order], gt, atol=1e-4, rtol=0)
        assert out[0]["labels"][order].tolist() == [2, 0]
    clipped = chain({"levels": levels, "image_sizes": [(50, 50)]})
    assert clipped[0]["boxes"].max() <= 50


def test_decode_yolo_plugin_equals_ops():
    g = torch.Generator().manual_seed(5)
    levels = [torch.randn(2, 3 * 8, 4, 4, generator=g), torch.randn(2, 3 * 8, 2, 2, generator=g)]
    flat = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]]
    out = build_postprocess([{"decode_yolo": {"anchors": flat, "strides": [8, 16], "score_threshold": 0.2}}])(levels)
    ref = ops.decode_yolo(levels, [[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]]], [8, 16],
                          score_threshold=0.2)
    for o, r in zip(out, ref):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(o[key], r[key])
    with pytest.raises(ValueError, match="levels"):
        build_postprocess([{"decode_yolo": {"anchors": flat, "strides": [8, 16]}}])(levels[:1])
