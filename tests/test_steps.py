"""Built-in dataset steps on small hand-made datasets: filter, remap, split, merge, stats,
validate (read/write/convert run in the shipped-pipeline tests)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvpipe.data import Dataset, Sample
from cvpipe.errors import ConfigError, InputError
from cvpipe.pipeline import Context
from cvpipe.builtin.steps import (
    FilterStep, MergeStep, RemapStep, SplitStep, StatsStep, ValidateStep, WriteStep, ReadStep,
)
from cvpipe.curation import controlled_rounding, rarest_class_strata, split_indices
from cvpipe.dataset_stats import dataset_stats


def ctx_for(tmp_path: Path, **objects) -> Context:
    ctx = Context(run_dir=tmp_path / "run", base_dir=tmp_path, pipeline="t", quiet=True,
                  hook=types.SimpleNamespace())
    ctx.step_name = "step"
    for k, v in objects.items():
        ctx[k] = v
    return ctx


def sample(name: str, boxes, labels, w=100, h=80, **kw) -> Sample:
    return Sample(name, w, h, boxes=np.asarray(boxes, float).reshape(-1, 4), labels=labels, **kw)


@pytest.fixture
def ds() -> Dataset:
    return Dataset(["cat", "dog", "bird"], [
        sample("a.jpg", [[0, 0, 10, 10], [10, 10, 50, 50], [0, 0, 3, 30]], [0, 1, 2],
               difficult=[False, True, False]),
        sample("b.jpg", [[5, 5, 25, 45]], [1], iscrowd=[True]),
        sample("c.jpg", [[1, 1, 90, 70], [2, 2, 6, 6]], [2, 0]),
        sample("d.jpg", [], []),
    ], root=Path("/data/x"))


# ------------------------------------------------------------------------------------------
# filter
# ------------------------------------------------------------------------------------------


def test_filter_keep_classes_prunes_and_renumbers(tmp_path, ds):
    ctx = ctx_for(tmp_path, dataset=ds)
    res = FilterStep(keep=["bird", "cat"]).run(ctx)
    out = ctx["dataset"]
    assert out.categories == ["cat", "bird"]
    assert [s.labels.tolist() for s in out] == [[0, 1], [], [1, 0], []]
    assert out.samples[0].boxes.tolist() == [[0, 0, 10, 10], [0, 0, 3, 30]]
    assert res["removed_boxes"] == {"class": 2} and res["boxes_out"] == 4


def test_filter_sizes_flags_and_empty_images(tmp_path, ds):
    ctx = ctx_for(tmp_path, dataset=ds)
    res = FilterStep(min_size=5, drop_difficult=True, drop_crowd=True, drop_empty=True, output="clean").run(ctx)
    out = ctx["clean"]
    assert ctx["dataset"] is ds  # input untouched
    # a: difficult dog gone, 3px-wide bird too small; b: crowd -> empty -> dropped; c: 4px box too small
    assert [s.image for s in out] == ["a.jpg", "c.jpg"]
    assert [s.labels.tolist() for s in out] == [[0], [2]]
    assert out.categories == ["cat", "dog", "bird"]
    assert res["removed_boxes"] == {"difficult": 1, "crowd": 1, "too small": 2}
    assert res["removed_empty_images"] == 2
    ctx2 = ctx_for(tmp_path, dataset=ds)
    FilterStep(max_size=30, min_area=20).run(ctx2)
    kept = [b for s in ctx2["dataset"] for b in s.boxes.tolist()]
    # a: the 40px dog is too large; b: 20x40 too large; c: 89x69 too large, 4x4 (area 16) too small
    assert kept == [[0, 0, 10, 10], [0, 0, 3, 30]]


def test_filter_bad_settings(tmp_path, ds):
    with pytest.raises(ConfigError) as info:
        FilterStep(keep=["cat"], drop=["dog"], min_size=-1)
    fields = [p.field for p in info.value.problems]
    assert fields == ["drop", "min_size"]
    with pytest.raises(ConfigError) as info:
        FilterStep(keep=["cat", "dgo"]).run(ctx_for(tmp_path, dataset=ds))
    p = info.value.problem
    assert p.field == "keep[1]" and p.value == "dgo" and p.hint == "did you mean 'dog'?"


# ------------------------------------------------------------------------------------------
# remap
# ------------------------------------------------------------------------------------------


def test_remap_renames_merges_and_drops(tmp_path, ds):
    ctx = ctx_for(tmp_path, dataset=ds)
    res = RemapStep(mapping={"cat": "pet", "dog": "pet", "bird": None}).run(ctx)
    out = ctx["dataset"]
    assert out.categories == ["pet"]
    assert [s.labels.tolist() for s in out] == [[0, 0], [0], [0], []]
    assert out.samples[0].difficult.tolist() == [False, True]  # flags stay aligned
    assert res["boxes_out"] == 4 and res["per_class"] == {"pet": 4}
    ctx = ctx_for(tmp_path, dataset=ds)
    RemapStep(mapping={"bird": "avian"}, unmapped="drop").run(ctx)
    assert ctx["dataset"].categories == ["avian"]
    assert [s.labels.tolist() for s in ctx["dataset"]] == [[0], [], [0], []]
    ctx = ctx_for(tmp_path, dataset=ds)
    RemapStep(mapping={"dog": "canine"}).run(ctx)
    assert ctx["dataset"].categories == ["cat", "canine", "bird"]


def test_remap_unknown_class(tmp_path, ds):
    with pytest.raises(ConfigError) as info:
        RemapStep(mapping={"dgo": "x"}).run(ctx_for(tmp_path, dataset=ds))
    assert info.value.problem.field == "mapping.dgo" and info.value.problem.hint == "did you mean 'dog'?"


# ------------------------------------------------------------------------------------------
# split
# ------------------------------------------------------------------------------------------


def many(n_per_class=(30, 12, 5), empty=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    samples = []
    for k, n in enumerate(n_per_class):
        for i in range(n):
            labels = [k] + ([0] if rng.random() < 0.5 else [])  # class 0 is common: rarest decides
            samples.append(sample(f"{k}_{i}.jpg", [[0, 0, 5, 5]] * len(labels), labels))
    samples += [sample(f"e{i}.jpg", [], []) for i in range(empty)]
    return Dataset(["common", "mid", "rare"], samples)


def test_split_is_deterministic_exact_and_stratified(tmp_path):
    d = many()
    fr = {"train": 0.6, "val": 0.2, "test": 0.2}
    ctx = ctx_for(tmp_path, dataset=d)
    res = SplitStep(fractions=fr, seed=7).run(ctx)
    sizes = {k: len(ctx[f"dataset_{k}"]) for k in fr}
    assert sizes == {"train": 30, "val": 10, "test": 10} and sum(sizes.values()) == len(d)
    assert res["splits"]["train"]["images"] == 30
    whole = ctx["dataset"]
    assert [s.split for s in whole].count("val") == 10
    assert all(s.split == "train" for s in ctx["dataset_train"])
    strata = rarest_class_strata(d)
    n = len(d)
    for name in fr:
        part = np.array([s.split == name for s in whole])
        for c in np.unique(strata):
            share = (strata == c).sum() * sizes[name] / n
            assert abs((strata[part] == c).sum() - share) < 1, (name, c)
    again = ctx_for(tmp_path, dataset=d)
    SplitStep(fractions=fr, seed=7).run(again)
    assert [s.split for s in again["dataset"]] == [s.split for s in whole]
    other = ctx_for(tmp_path, dataset=d)
    SplitStep(fractions=fr, seed=8).run(other)
    assert [s.split for s in other["dataset"]] != [s.split for s in whole]


def test_rarest_class_strata():
    d = Dataset(["a", "b", "c"], [sample("1", [[0, 0, 1, 1]] * 2, [0, 1]), sample("2", [[0, 0, 1, 1]], [0]),
                                  sample("3", [[0, 0, 1, 1]] * 2, [0, 2]), sample("4", [], []),
                                  sample("5", [[0, 0, 1, 1]] * 2, [2, 1])])
    # images per class: a 3, b 2, c 2 -> ties to the lower label
    assert rarest_class_strata(d).tolist() == [1, 0, 2, -1, 1]


def test_random_split_sizes_and_seed():
    parts = split_indices(None, 11, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [6, 3, 2]  # 5.5 3.3 2.2 -> largest remainder to the first
    assert sorted(np.concatenate(parts).tolist()) == list(range(11))
    assert all((a == b).all() for a, b in zip(parts, split_indices(None, 11, [0.5, 0.3, 0.2], seed=1)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=120),
       st.lists(st.floats(0.05, 1.0), min_size=2, max_size=4), st.integers(0, 2**16))
def test_stratified_split_law(strata, weights, seed):
    """Every item in exactly one split; split sizes exact; each stratum within one item of its
    proportional share of each split."""
    strata = np.array(strata)
    fr = list(np.array(weights) / sum(weights))
    parts = split_indices(strata, len(strata), fr, seed)
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(len(strata)))
    n = len(strata)
    raw = np.array(fr) * n
    for p, r in zip(parts, raw):
        assert abs(len(p) - r) < 1
        for c in np.unique(strata):
            assert abs((strata[p] == c).sum() - (strata == c).sum() * len(p) / n) < 1


def test_controlled_rounding_hand_example():
    target = np.array([[1.5, 1.5], [0.5, 0.5], [2.0, 1.0]])
    out = controlled_rounding(target, np.array([3, 1, 3]), np.array([4, 3]), np.random.default_rng(0))
    assert out.sum(axis=1).tolist() == [3, 1, 3] and out.sum(axis=0).tolist() == [4, 3]
    assert (np.abs(out - target) < 1).all() and out[2].tolist() == [2, 1]


def test_split_bad_fractions():
    with pytest.raises(ConfigError) as info:
        SplitStep(fractions={"train": 0.7, "val": 0.2})
    assert info.value.problem.field == "fractions" and "sum to 1" in info.value.problem.message
    with pytest.raises(ConfigError) as info:
        SplitStep(fractions={"train": 1.5, "a/b": -0.5})
    assert {p.field for p in info.value.problems} >= {"fractions.train", "fractions.a/b"}
    step = SplitStep(fractions={"train": 0.5, "val": 0.5}, dataset="voc")
    assert step.outputs == {"output": "voc", "fractions.train": "voc_train", "fractions.val": "voc_val"}


# ------------------------------------------------------------------------------------------
# merge, stats, validate
# ------------------------------------------------------------------------------------------


def test_merge_unions_categories_and_roots(tmp_path):
    a = Dataset(["cat", "dog"], [sample("JPEGImages/1.jpg", [[0, 0, 2, 2]], [1])], root=Path("/d/voc"))
    b = Dataset(["bird", "dog"], [sample("images/2.jpg", [[0, 0, 2, 2]] * 2, [0, 1])], root=Path("/d/coco"))
    ctx = ctx_for(tmp_path, a=a, b=b)
    step = MergeStep(datasets=["a", "b"], output="m")
    assert step.inputs == {"datasets[0]": "a", "datasets[1]": "b"}
    res = step.run(ctx)
    m = ctx["m"]
    assert m.categories == ["cat", "dog", "bird"]
    assert [s.labels.tolist() for s in m] == [[1], [2, 1]]
    assert m.root == Path("/d") and [s.image for s in m] == ["voc/JPEGImages/1.jpg", "coco/images/2.jpg"]
    assert res["images"] == 2 and res["duplicate_images"] == 0
    with pytest.raises(ConfigError, match="two or more"):
        MergeStep(datasets=["a"])


def test_stats_numbers_and_files(tmp_path, ds):
    st_ = dataset_stats(ds, bins=4)
    assert st_["images"] == 4 and st_["boxes"] == 6 and st_["empty_images"] == 1
    assert st_["per_class"] == {"cat": {"boxes": 2, "images": 2}, "dog": {"boxes": 2, "images": 2},
                                "bird": {"boxes": 2, "images": 2}}
    assert st_["flags"] == {"difficult": 1, "truncated": 0, "iscrowd": 1}
    assert st_["boxes_per_image"] == {"mean": 1.5, "max": 3}
    # sqrt areas: 10, 40, sqrt(90), sqrt(800), sqrt(89*69), 4
    sizes = sorted([10, 40, 90 ** 0.5, 800 ** 0.5, (89 * 69) ** 0.5, 4])
    assert st_["box_size"]["summary"]["max"] == pytest.approx(sizes[-1])
    assert st_["box_size"]["summary"]["median"] == pytest.approx((sizes[2] + sizes[3]) / 2)
    assert sum(st_["box_size"]["counts"]) == 6 and sum(st_["aspect"]["counts"]) == 6
    assert st_["aspect"]["summary"]["min"] == pytest.approx(np.log2(3 / 30))
    ctx = ctx_for(tmp_path, dataset=ds)
    res = StatsStep(bins=4).run(ctx)
    out = tmp_path / "run" / "step"
    assert json.loads((out / "stats.json").read_text())["boxes"] == 6
    assert (out / "stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["files"]["chart"] == str(out / "stats.png") and res["images"] == 4
    with pytest.raises(ConfigError, match="out of range"):
        StatsStep(bins=1)


def test_validate_fail_or_keep_valid_part(tmp_path):
    bad = Dataset(["a"], [sample("x.jpg", [[0, 0, 10, 10], [20, 20, 10, 10]], [0, 0]),
                          sample("y.jpg", [[0, 0, 5, 5]], [3])])
    with pytest.raises(InputError) as info:
        ValidateStep(check_images=False).run(ctx_for(tmp_path, dataset=bad))
    assert [p.message for p in info.value.problems] == ["box is inverted", "label out of range"]
    ctx = ctx_for(tmp_path, dataset=bad)
    res = ValidateStep(check_images=False, fail=False, output="ok").run(ctx)
    assert res["problems"] == 2 and res["valid_boxes"] == 1 and ctx["ok"].num_boxes == 1
    written = json.loads((tmp_path / "run" / "step" / "problems.json").read_text())
    assert [p["message"] for p in written] == ["box is inverted", "label out of range"]


def test_read_and_write_check_format_names_when_built():
    with pytest.raises(ConfigError) as info:
        ReadStep(path=Path("x"), format="vco")
    assert info.value.problem.field == "format" and "did you mean 'voc'?" in str(info.value)
    with pytest.raises(ConfigError) as info:
        WriteStep(path=Path("x"), format="yolo", options={"decimal": 3})
    assert info.value.problem.field == "options.decimal"
    assert WriteStep(path=Path("x"), format="voc").inputs == {"dataset": "dataset"}


def test_read_skips_bad_annotations_on_request(tmp_path):
    from cvpipe.synthetic import synthesize_voc

    voc = tmp_path / "VOC"
    synthesize_voc(voc, images=3, seed=2)
    bad = voc / "Annotations" / "000001.xml"
    bad.write_text(bad.read_text().replace("<xmin>", "<xmin>x", 1))
    with pytest.raises(InputError):
        ReadStep(path=voc, format="voc").run(ctx_for(tmp_path))
    ctx = ctx_for(tmp_path)
    res = ReadStep(path=voc, format="voc", on_problem="skip", output="voc").run(ctx)
    assert res["problems"] >= 1 and "000001.xml" in (tmp_path / "run" / "step" / "problems.json").read_text()
    total = sum(f.read_text().count("<object>") for f in (voc / "Annotations").glob("*.xml"))
    assert ctx["voc"].num_boxes == total - 1 and len(ctx["voc"]) == 3  # only the bad box left out
