"""``cvpipe plugin new``: write a working plugin distribution to start from.

:func:`write_skeleton` writes ``cvpipe-<name>/`` with a ``pyproject.toml`` declaring the entry
point (group ``cvpipe``), a README, ``src/cvpipe_<name>/__init__.py`` implementing one
registration hook in the typed form (``register.add_format(...)``, see :mod:`cvpipe.contract`)
with a small but real example, and ``tests/test_cvpipe_<name>.py`` that uses
:mod:`cvpipe.testing`. As generated, it installs (``pip install -e .``) and its tests pass.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import HOOK_API_VERSION, __version__
from .contract import FAMILIES
from .errors import ConfigError

__all__ = ["HOOK_CHOICES", "write_skeleton", "normalize_name"]


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def normalize_name(name: str) -> str:
    """``name`` as the registered name and module suffix: lower case, ``-`` -> ``_``.
    Raises ConfigError for names that are not identifiers."""
    if not _NAME.match(name or ""):
        raise ConfigError("bad plugin name", field="NAME", value=name,
                          expected="letters, digits, '_' or '-', starting with a letter (e.g. 'labelme')")
    return name.lower().replace("-", "_")


# ---------------------------------------------------------------------------------------------
# Templates: {name} the registered name, {pkg} the module, {dist} the distribution name,
# {api} the hook API version, {cvpipe_version} the cvpipe version. Literal braces are doubled.
# ---------------------------------------------------------------------------------------------

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{summary}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["cvpipe>={cvpipe_version}"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# what makes this a cvpipe plugin: cvpipe loads every entry point of the group "cvpipe"
[project.entry-points.cvpipe]
{name} = "{pkg}"

[tool.setuptools.packages.find]
where = ["src"]
'''

_README = '''\
# {dist}

{summary}: a [cvpipe](https://pypi.org/project/cvpipe/) plugin (hook `cvpipe_register_{hook}`).

## Install and try

```
pip install -e .                 # or: pip install {dist}
cvpipe plugins                   # lists "{name}" and what it registers
pytest                           # its tests, using cvpipe.testing
```

{usage}

## How it works

`pyproject.toml` declares the entry point `{name} = "{pkg}"` in the group `cvpipe`; cvpipe
imports `{pkg}` and calls its `@cvpipe.hookimpl` functions. The registration hook receives a
typed registrar (`cvpipe.contract`) and calls its `add_*` method once per name it provides.
`CVPIPE_HOOK_API_VERSION` says which version of the hook contract the plugin was written for
(`cvpipe plugins --hooks` prints the contract, registrars and protocols included). Keep the module cheap to import: import heavy libraries inside the functions.

## Publish

```
python -m build && twine upload dist/*
```
'''

_TEST_HEAD = '''\
"""Tests of the {name} plugin, as installed (entry point "cvpipe"), with cvpipe.testing."""

import {pkg}


def test_installed_plugin_is_loaded(cvpipe_registry):
    info = {{p.name: p for p in cvpipe_registry.plugins}}["{name}"]
    assert info.error is None, info.error
    assert cvpipe_registry.{hook}.get("{name}").plugin == "{name}"
    assert {pkg}.CVPIPE_HOOK_API_VERSION == {api}
'''

_TEMPLATES: dict[str, dict[str, str]] = {
    "formats": {
        "summary": "The {name} dataset format",
        "usage": "```\ncvpipe convert voc_dir/ out/ --to {name}\ncvpipe convert out/ back/ --from {name} --to coco\n```",
        "module": '''\
"""{name}: a cvpipe dataset format.

Layout: a folder with ``{name}.json`` and the images beside it::

    {{"categories": ["cat", "dog"],
     "images": [{{"file": "a.png", "width": 64, "height": 48, "split": "train",
                 "boxes": [[x1, y1, x2, y2, label], ...]}}]}}

Boxes are absolute pixel xyxy, labels 0-based indices into ``categories`` (cvpipe's own
conventions, so nothing converts). Replace this with the format you need: keep the signatures.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Literal

from cvpipe import hookimpl
from cvpipe.contract import FormatRegistrar
from cvpipe.errors import ConfigError, InputError, Problem

CVPIPE_HOOK_API_VERSION = {api}
ANNOTATIONS = "{name}.json"


def detect(path: Path) -> bool:
    """Cheap: is ``path`` a folder holding ``{name}.json``?"""
    return (Path(path) / ANNOTATIONS).is_file()


def read(path: Path, *, images_dir: Path | None = None, splits: list[str] | None = None,
         problems: list[Problem] | None = None):
    """Read the dataset at ``path``; bad entries are appended to ``problems`` (and skipped) or,
    without ``problems``, raised together as one InputError."""
    import numpy as np

    from cvpipe.data import Dataset, Origin, Sample
    from cvpipe.formats import raise_or_collect

    file = Path(path) / ANNOTATIONS
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError("cannot read the annotations", file=str(file), value=exc.strerror,
                         expected=f"a folder holding {{ANNOTATIONS}}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"malformed JSON: {{exc}}", file=str(file), line=getattr(exc, "lineno", None),
                         expected="valid JSON") from None
    cats = data.get("categories") if isinstance(data, dict) else None
    if not (isinstance(cats, list) and all(isinstance(c, str) for c in cats) and len(set(cats)) == len(cats)
            and isinstance(data.get("images"), list)):
        raise InputError("not a {name} dataset", file=str(file),
                         expected='{{"categories": [unique names], "images": [...]}}')
    found: list[Problem] = []
    samples = []
    for i, img in enumerate(data["images"]):
        try:
            rows = np.array(img["boxes"], dtype=np.float64).reshape(-1, 5)
            sample = Sample(image=str(img["file"]), width=int(img["width"]), height=int(img["height"]),
                            boxes=rows[:, :4], labels=rows[:, 4].astype(np.int64), split=img.get("split"),
                            id=Path(str(img["file"])).stem, origin=Origin(str(file), None, f"images[{{i}}]"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            found.append(Problem("bad image entry", file=str(file), field=f"images[{{i}}]", value=str(exc),
                                 expected='{{"file", "width", "height", "boxes": [[x1, y1, x2, y2, label], ...]}}'))
            continue
        if splits is None or sample.split in splits:
            samples.append(sample)
    raise_or_collect(found, problems)
    return Dataset(cats, samples, root=Path(images_dir) if images_dir is not None else Path(path))


def write(dataset, dst: Path, *, images: Literal["copy", "link", "none"] = "copy",
          keep_difficult: bool = True) -> dict:
    """Write ``dataset`` into the folder ``dst``, whole or not at all (a temporary sibling
    renamed at the end); image names that would leave ``dst`` are refused."""
    from cvpipe.formats import image_names
    from cvpipe.fsutil import atomic_dir, place_file, safe_join, safe_relpath

    if images not in ("copy", "link", "none"):
        raise ConfigError("bad images mode", field="images", value=images, expected="copy, link or none")
    skipped: Counter = Counter()
    entries, boxes = [], 0
    with atomic_dir(Path(dst)) as tmp:
        for s, name in zip(dataset.samples, image_names(dataset.samples)):
            src = dataset.image_path(s)
            rel = safe_relpath(name, file=str(src), field="image")
            keep = [j for j in range(len(s)) if keep_difficult or not s.difficult[j]]
            skipped["difficult"] += len(s) - len(keep)
            entries.append({{"file": rel, "width": s.width, "height": s.height, "split": s.split,
                            "boxes": [[*(float(v) for v in s.boxes[j]), int(s.labels[j])] for j in keep]}})
            boxes += len(keep)
            if images != "none":
                if not src.is_file():
                    raise InputError("image file not found", file=str(src), hint="use images='none'")
                place_file(src, safe_join(tmp, rel), images)
        doc = {{"categories": list(dataset.categories), "images": entries}}
        (tmp / ANNOTATIONS).write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return {{"images": len(entries), "boxes": boxes, "skipped": dict(+skipped)}}


@hookimpl
def cvpipe_register_formats(register: FormatRegistrar) -> None:
    register.add_format("{name}", reader=read, writer=write, detect=detect,
             description="{name}.json beside the images (example format)")
''',
        "test": '''

def test_format_conformance(cvpipe_registry, tmp_path):
    from cvpipe.testing import check_format

    results = check_format("{name}", workdir=tmp_path)
    assert results["round_trip"].startswith("ok")
''',
    },
    "transforms": {
        "summary": "The {name} image transform",
        "usage": "In a pipeline's transforms list:\n\n```yaml\ntransforms:\n  - {name}: {{p: 0.5}}\n```",
        "module": '''\
"""{name}: a box-aware image transform for cvpipe pipelines (an albumentations transform)."""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import TransformRegistrar
from cvpipe.errors import ConfigError

CVPIPE_HOOK_API_VERSION = {api}


def invert(*, p: float = 0.5):
    """Invert the image's colours (255 - value); boxes are unchanged."""
    import albumentations as A  # heavy: imported when the transform is built, not at start-up

    if not 0.0 <= p <= 1.0:
        raise ConfigError("probability out of range", field="p", value=p, expected="0 <= p <= 1")

    class Invert(A.ImageOnlyTransform):
        def apply(self, img, **params):
            return 255 - img

        def get_transform_init_args_names(self):
            return ()

    return Invert(p=p)


@hookimpl
def cvpipe_register_transforms(register: TransformRegistrar) -> None:
    register.add_transform("{name}", invert, description="Invert the image colours (example transform)")
''',
        "test": '''

def test_transform_keeps_boxes(cvpipe_registry):
    import albumentations as A
    import numpy as np
    import pytest
    from cvpipe.errors import ConfigError

    t = cvpipe_registry.transforms.create("{name}", {{"p": 1.0}})
    pipe = A.Compose([t, A.NoOp()], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    image = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    out = pipe(image=image, bboxes=[[4, 5, 30, 40]], labels=[1])
    assert (out["image"] == 255 - image).all()
    assert np.allclose(out["bboxes"], [[4, 5, 30, 40]])
    with pytest.raises(ConfigError, match="p"):
        cvpipe_registry.transforms.create("{name}", {{"p": 2.0}})
''',
    },
    "models": {
        "summary": "The {name} detection model",
        "usage": "In a pipeline's train step:\n\n```yaml\nmodel: {{{name}: {{hidden: 16}}}}\n```",
        "module": '''\
"""{name}: a detection model for cvpipe (torchvision's detection protocol).

The example predicts one box per image from globally pooled features: it shows the protocol
(losses in training mode, detections in eval mode), it is not a useful detector.
"""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import ModelRegistrar
from cvpipe.errors import ConfigError

CVPIPE_HOOK_API_VERSION = {api}


def build(num_classes: int, *, hidden: int = 16):
    """One box per image: (cx, cy, w, h) relative to the image, and class scores."""
    import torch  # heavy: imported when the model is built, not at start-up
    from torch import nn
    from torch.nn import functional as F

    if num_classes < 1:
        raise ConfigError("need at least one class", field="num_classes", value=num_classes, expected=">= 1")
    if hidden < 1:
        raise ConfigError("hidden width out of range", field="hidden", value=hidden, expected=">= 1")

    class OneBoxDetector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, hidden, 3, stride=2, padding=1), nn.ReLU(),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.box = nn.Linear(hidden, 4)
            self.cls = nn.Linear(hidden, num_classes)

        def forward(self, images, targets=None):
            feats = torch.cat([self.features(img[None]) for img in images])  # (B, hidden)
            cx, cy, w, h = self.box(feats).sigmoid().unbind(1)
            rel = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).clamp(0, 1)
            size = torch.tensor([[im.shape[-1], im.shape[-2]] * 2 for im in images], dtype=rel.dtype,
                                device=rel.device)
            logits = self.cls(feats)
            if self.training:
                if targets is None:
                    raise ValueError("targets are required in training mode")
                has = [i for i, t in enumerate(targets) if len(t["boxes"])]
                if not has:  # no boxes in the batch: zero losses that still reach every parameter
                    zero = (rel.sum() + logits.sum()) * 0
                    return {{"loss_box": zero, "loss_cls": zero}}
                first = torch.stack([targets[i]["boxes"][0] for i in has]) / size[has]
                labels = torch.stack([targets[i]["labels"][0] for i in has])
                return {{"loss_box": F.l1_loss(rel[has], first), "loss_cls": F.cross_entropy(logits[has], labels)}}
            scores, labels = logits.softmax(1).max(1)
            boxes = rel * size
            return [{{"boxes": boxes[i:i + 1], "scores": scores[i:i + 1], "labels": labels[i:i + 1]}}
                    for i in range(len(images))]

    return OneBoxDetector()


@hookimpl
def cvpipe_register_models(register: ModelRegistrar) -> None:
    register.add_model("{name}", build, description="One box per image (example model)")
''',
        "test": '''

def test_model_follows_the_detection_protocol(cvpipe_registry):
    import torch

    torch.manual_seed(0)
    model = cvpipe_registry.models.create("{name}", {{"hidden": 8}}, 3)
    images = [torch.rand(3, 40, 56), torch.rand(3, 32, 32)]
    targets = [{{"boxes": torch.tensor([[4.0, 6.0, 30.0, 36.0]]), "labels": torch.tensor([2])}},
               {{"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}}]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {{"loss_box", "loss_cls"}}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert [o["boxes"].shape for o in out] == [(1, 4), (1, 4)]
    assert (out[0]["boxes"][:, 2] <= 56).all() and (out[0]["boxes"][:, 3] <= 40).all()
    assert 0 <= int(out[0]["labels"][0]) < 3
''',
    },
    "postprocessors": {
        "summary": "The {name} postprocessor",
        "usage": "In a pipeline's postprocess list:\n\n```yaml\npostprocess:\n  - {name}: {{min_area: 16}}\n```",
        "module": '''\
"""{name}: a detection postprocessor for cvpipe (detections in, detections out)."""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import PostprocessorRegistrar
from cvpipe.errors import ConfigError

CVPIPE_HOOK_API_VERSION = {api}


def drop_small(*, min_area: float = 16.0):
    """Drop detections whose xyxy box covers less than ``min_area`` square pixels."""
    if min_area < 0:
        raise ConfigError("area out of range", field="min_area", value=min_area, expected=">= 0")

    def apply(detections: list[dict]) -> list[dict]:
        out = []
        for det in detections:
            b = det["boxes"]  # (N, 4) xyxy tensor (or numpy array)
            keep = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= min_area
            out.append({{k: v[keep] for k, v in det.items()}})
        return out

    return apply


@hookimpl
def cvpipe_register_postprocessors(register: PostprocessorRegistrar) -> None:
    register.add_postprocessor("{name}", drop_small, description="Drop detections smaller than min_area (example)")
''',
        "test": '''

def test_small_boxes_are_dropped(cvpipe_registry):
    import torch

    post = cvpipe_registry.postprocessors.create("{name}", {{"min_area": 10.0}})
    det = {{"boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 5.0, 4.0]]),
           "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 0])}}
    (out,) = post([det])
    assert out["boxes"].tolist() == [[0.0, 0.0, 5.0, 4.0]]
    assert torch.allclose(out["scores"], torch.tensor([0.8])) and out["labels"].tolist() == [0]
''',
    },
    "metrics": {
        "summary": "The {name} evaluation metric",
        "usage": "```\ncvpipe evaluate --gt gt_dir/ --dt detections.json --metric {name}\n```\n\nor in a pipeline's `evaluate` step.",
        "module": '''\
"""{name}: a cvpipe evaluation metric (recall of ground-truth boxes at an IoU threshold)."""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import MetricRegistrar
from cvpipe.errors import ConfigError

CVPIPE_HOOK_API_VERSION = {api}


class Recall:
    """Share of ground-truth boxes found by a detection of the same label with IoU >= ``iou``
    and score >= ``min_score`` (each detection matches one box, best scores first)."""

    def __init__(self, *, iou: float = 0.5, min_score: float = 0.0) -> None:
        if not 0.0 < iou <= 1.0:
            raise ConfigError("IoU threshold out of range", field="iou", value=iou, expected="0 < iou <= 1")
        self.iou, self.min_score = iou, min_score

    def compute(self, gt, dt) -> dict:
        """``gt`` the ground truth, ``dt`` the detections (samples with ``scores``) matched to
        it by image path; boxes absolute pixel xyxy. Returns ``{{"recall", "found", "objects"}}``."""
        import numpy as np

        detections = {{s.image: s for s in dt.samples}}
        found = objects = 0
        for truth in gt.samples:
            objects += len(truth)
            det = detections.get(truth.image)
            if det is None or not len(truth) or not len(det):
                continue
            scores = det.scores if det.scores is not None else np.ones(len(det))
            taken = np.zeros(len(truth), dtype=bool)
            for j in np.argsort(-scores, kind="stable"):
                if scores[j] < self.min_score:
                    break
                iou = _iou(det.boxes[j], truth.boxes)
                iou[(truth.labels != det.labels[j]) | taken] = -1.0
                best = int(np.argmax(iou))
                if iou[best] >= self.iou:
                    taken[best] = True
            found += int(taken.sum())
        return {{"recall": found / objects if objects else 0.0, "found": found, "objects": objects}}


def _iou(box, boxes):
    """IoU of one xyxy ``box`` with each row of ``boxes`` (N, 4)."""
    import numpy as np

    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


@hookimpl
def cvpipe_register_metrics(register: MetricRegistrar) -> None:
    register.add_metric("{name}", Recall, description="Recall of ground-truth boxes at an IoU threshold (example)")
''',
        "test": '''

def test_recall_counts_found_boxes(cvpipe_registry, cvpipe_dataset):
    from dataclasses import replace

    import numpy as np
    import pytest
    from cvpipe.errors import ConfigError

    metric = cvpipe_registry.metrics.create("{name}", {{"iou": 0.5}})
    objects = cvpipe_dataset.num_boxes
    perfect = cvpipe_dataset.subset([replace(s, scores=np.ones(len(s))) for s in cvpipe_dataset.samples])
    assert metric.compute(cvpipe_dataset, perfect) == {{"recall": 1.0, "found": objects, "objects": objects}}
    first = cvpipe_dataset.samples[0]
    only_first = cvpipe_dataset.subset([replace(first, scores=np.ones(len(first)))])
    assert metric.compute(cvpipe_dataset, only_first)["found"] == len(first)
    moved = cvpipe_dataset.subset([replace(s, boxes=s.boxes + 100, scores=np.ones(len(s))) for s in cvpipe_dataset.samples])
    assert metric.compute(cvpipe_dataset, moved)["recall"] == 0.0
    with pytest.raises(ConfigError, match="iou"):
        cvpipe_registry.metrics.create("{name}", {{"iou": 0}})
''',
    },
    "steps": {
        "summary": "The {name} pipeline step",
        "usage": "In a pipeline:\n\n```yaml\nsteps:\n  - {name}: {{dataset: train, output: counts}}\n```",
        "module": '''\
"""{name}: a cvpipe pipeline step (counts boxes per category)."""

from __future__ import annotations

from cvpipe import hookimpl
from cvpipe.contract import StepRegistrar
from cvpipe.errors import ConfigError

CVPIPE_HOOK_API_VERSION = {api}


class CountBoxes:
    """Count a dataset's boxes per category; writes ``counts.json`` into the step's folder."""

    def __init__(self, *, dataset: str = "dataset", output: str = "counts", min_boxes: int = 0) -> None:
        # cheap: no I/O here, every step is built when the pipeline is validated
        if min_boxes < 0:
            raise ConfigError("min_boxes out of range", field="min_boxes", value=min_boxes, expected=">= 0")
        self.min_boxes = min_boxes
        self.inputs = {{"dataset": dataset}}
        self.outputs = {{"output": output}}

    def run(self, ctx) -> dict:
        from cvpipe.fsutil import atomic_write_json

        ds = ctx[self.inputs["dataset"]]
        counts = {{c: n for c, n in ds.class_counts().items() if n >= self.min_boxes}}
        atomic_write_json(ctx.step_dir / "counts.json", counts)
        ctx[self.outputs["output"]] = counts
        return {{"images": len(ds), "boxes": ds.num_boxes, "per_class": counts}}


@hookimpl
def cvpipe_register_steps(register: StepRegistrar) -> None:
    register.add_step("{name}", CountBoxes, description="Count boxes per category (example step)")
''',
        "test": '''

def test_step_counts_boxes(cvpipe_registry, cvpipe_dataset, tmp_path):
    import json
    from cvpipe.testing import make_context

    step = cvpipe_registry.steps.create("{name}", {{"dataset": "train", "output": "n"}})
    ctx = make_context(tmp_path, step_name="{name}", train=cvpipe_dataset)
    result = step.run(ctx)
    assert result["boxes"] == cvpipe_dataset.num_boxes
    assert ctx["n"] == cvpipe_dataset.class_counts()
    assert json.loads((ctx.step_dir / "counts.json").read_text(encoding="utf-8")) == ctx["n"]
''',
    },
}


#: The hook families ``cvpipe plugin new --hook`` can start from (those with a template).
HOOK_CHOICES: tuple[str, ...] = tuple(f for f in FAMILIES if f in _TEMPLATES)


def write_skeleton(name: str, hook: str = "formats", parent: Path | str = ".") -> Path:
    """Write the plugin distribution ``<parent>/cvpipe-<name>/`` for hook family ``hook`` and
    return its folder. The folder appears whole or not at all; an existing one is refused."""
    from .fsutil import atomic_dir, atomic_write_text

    reg = normalize_name(name)
    if hook not in _TEMPLATES:
        raise ConfigError("unknown hook family", field="--hook", value=hook, expected="one of: " + ", ".join(HOOK_CHOICES))
    dist, pkg = f"cvpipe-{reg.replace('_', '-')}", f"cvpipe_{reg}"
    dst = Path(parent) / dist
    if dst.exists():
        raise ConfigError("the plugin folder exists already", field="--dir", value=str(dst),
                          expected="a new folder", hint="choose another NAME or --dir")
    t = _TEMPLATES[hook]
    values = {"name": reg, "pkg": pkg, "dist": dist, "api": HOOK_API_VERSION, "hook": hook,
              "cvpipe_version": __version__}
    values["summary"] = t["summary"].format(**values)
    values["usage"] = t["usage"].format(**values)
    files = {
        "pyproject.toml": _PYPROJECT.format(**values),
        "README.md": _README.format(**values),
        f"src/{pkg}/__init__.py": t["module"].format(**values),
        f"tests/test_{pkg}.py": _TEST_HEAD.format(**values) + t["test"].format(**values),
    }
    with atomic_dir(dst, overwrite=False) as tmp:
        for rel, text in files.items():
            atomic_write_text(tmp / rel, text)
    return dst
