"""Streaming ``convert``/``validate --executor``: formats read part by part (YOLO's sharding),
sharded outputs written while the input is still being read, the driver never holding every
sample, and the answer (files, report, problems) the single-process one byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cvpipe.cli import main
from cvpipe.formats import write_dataset
from cvpipe.testing import make_dataset, write_images

pytest.importorskip("pyarrow")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _tree(folder: Path) -> dict[str, bytes]:
    own = str(folder.absolute()).encode()
    return {str(p.relative_to(folder)): p.read_bytes().replace(own, b"<DST>")
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_parts(monkeypatch):
    """YOLO parts of 3 label files and parquet shards of 4 rows: several parts in a small test."""
    monkeypatch.setattr("cvpipe.builtin.yolo.sharding.PART_IMAGES", 3)
    monkeypatch.setattr("cvpipe.builtin.parquet.sharding.ParquetSharding.rows_per_part", 4)
    from cvpipe.builtin.parquet.writer import write_parquet

    monkeypatch.setattr(write_parquet, "__kwdefaults__", {**write_parquet.__kwdefaults__, "rows_per_shard": 4})


@pytest.fixture
def yolo_dir(tmp_path):
    """A YOLO dataset (train 8 images, val 3) with a bad line, an unreadable image and a label
    file naming an unknown class, spread over several parts."""
    ds = make_dataset(11, boxes_per_image=2, empty_images=1, unicode_names=False, seed=1)
    for s in ds.samples[8:]:
        s.split = "val"
    ds = write_images(ds, tmp_path / "png")
    src = tmp_path / "yolo"
    write_dataset(ds, src, "yolo", images="copy")
    labels = sorted((src / "labels" / "train").glob("*.txt"))
    with open(labels[1], "a", encoding="utf-8") as fh:
        fh.write("0 0.5 0.5 1.7 0.2\n")  # outside [0, 1]
    with open(labels[5], "a", encoding="utf-8") as fh:
        fh.write("9 0.5 0.5 0.1 0.1\n")  # unknown class
    sorted((src / "images" / "train").iterdir())[6].write_bytes(b"")  # image unreadable
    return src


def _both(capsys, tmp_path, src: Path, to: str, *extra: str):
    """Convert ``src`` in one process and with ``--executor local``; (exit code, stdout with the
    destination masked, the tree, the JSON report) of each."""
    out = {}
    for label, more in (("plain", []), ("local", ["--executor", "local"])):
        dst = tmp_path / f"{to}-{label}"
        code, o, e = _run(capsys, "convert", str(src), str(dst), "--to", to, "-q", "--json",
                          str(tmp_path / f"{label}.json"), *extra, *more)
        rep = (tmp_path / f"{label}.json").read_text() if (tmp_path / f"{label}.json").exists() else ""
        out[label] = (code, o.replace(str(dst), "<DST>"), e.replace(str(dst), "<DST>"),
                      _tree(dst) if dst.exists() else None, rep.replace(str(dst), "<DST>"))
        (tmp_path / f"{label}.json").unlink(missing_ok=True)
    return out


@pytest.mark.parametrize("to", ["parquet", "coco", "yolo", "voc"])
def test_yolo_read_in_parts_converts_like_one_process(yolo_dir, tmp_path, capsys, small_parts, to):
    out = _both(capsys, tmp_path, yolo_dir, to, "--skip-invalid")
    assert out["plain"] == out["local"]
    assert out["local"][0] == 0 and out["local"][3]


def test_yolo_problems_and_refusal_are_the_single_process_ones(yolo_dir, tmp_path, capsys, small_parts):
    out = _both(capsys, tmp_path, yolo_dir, "parquet")
    assert out["plain"] == out["local"]
    code, _, err, tree, _ = out["local"]
    assert code == 2 and tree is None and "nothing was written" in err
    assert "outside [0, 1]" in err and "unknown class id" in err and "image file not found" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".parquet-local")]
    plain = _run(capsys, "validate", str(yolo_dir), "--json", "-")
    local = _run(capsys, "validate", str(yolo_dir), "--json", "-", "--executor", "local")
    assert plain == local and json.loads(local[1])["images"] == 10


def test_parquet_to_parquet_streams_with_classes_order(tmp_path, capsys, small_parts):
    ds = make_dataset(11, boxes_per_image=2, empty_images=2)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=3)
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(["extra", *reversed(ds.categories)]) + "\n", encoding="utf-8")
    out = _both(capsys, tmp_path, tmp_path / "pq", "parquet", "--images", "none", "--classes", str(classes))
    assert out["plain"] == out["local"] and out["local"][0] == 0
    manifest = json.loads(out["local"][3]["manifest.json"])
    assert manifest["categories"][0] == "extra" and len(manifest["shards"]) == 3  # 11 rows, 4 a shard
    classes.write_text(ds.categories[0] + "\n", encoding="utf-8")  # the data uses the others too
    (tmp_path / "again").mkdir()
    out = _both(capsys, tmp_path / "again", tmp_path / "pq", "parquet", "--images", "none", "--classes", str(classes))
    assert out["plain"] == out["local"] and out["local"][0] == 2 and out["local"][3] is None


def test_writing_starts_before_reading_ends(tmp_path, monkeypatch, small_parts):
    """The driver streams: the first output shard is written before the last input part is
    read, and it never holds more than a part's samples beyond the write buffer."""
    from cvpipe import execution
    from cvpipe.execution import convert_sharded, get_executor

    ds = make_dataset(20, boxes_per_image=1, empty_images=0)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)  # 10 input parts
    log: list[tuple[str, int]] = []
    real_check, real_write = execution.check_part, execution.write_part
    monkeypatch.setattr(execution, "check_part", lambda t: (log.append(("read", t.index)), real_check(t))[1])
    monkeypatch.setattr(execution, "write_part", lambda t: (log.append(("write", len(t.samples))), real_write(t))[1])
    report = convert_sharded(tmp_path / "pq", tmp_path / "out", "parquet", executor=get_executor("local"),
                             images="none")
    assert report["images"] == 20
    assert log.index(("write", 4)) < log.index(("read", 9))
    assert [n for kind, n in log if kind == "write"] == [4, 4, 4, 4, 4]
    single = tmp_path / "single"
    write_dataset(ds, single, "parquet", images="none", rows_per_shard=4)
    assert _tree(tmp_path / "out") == _tree(single)


def test_duplicates_across_parts_name_the_first_file(tmp_path, capsys):
    ds = make_dataset(7, empty_images=0)
    ds.samples[5].image = ds.samples[1].image  # shard 2 repeats shard 0's image
    ds.samples[6].id = ds.samples[3].id  # and shard 1's id
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    plain = _run(capsys, "validate", str(tmp_path / "pq"), "--no-images", "--json", "-")
    local = _run(capsys, "validate", str(tmp_path / "pq"), "--no-images", "--json", "-", "--executor", "local")
    probs = json.loads(local[1])["problems"]
    assert [p["message"] for p in probs] == ["duplicate image", "duplicate image id"]
    assert probs[0]["hint"].endswith("part-00000.parquet") and probs[1]["hint"].endswith("part-00001.parquet")
    assert [p["message"] for p in json.loads(plain[1])["problems"]] == [p["message"] for p in probs]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=12), max_size=8))
def test_seen_keys_answer_like_a_dict(parts):
    """KeySet (hashes, levels merged) finds exactly the earlier keys a dict would."""
    import numpy as np

    from cvpipe.data.keys import KeySet

    keys, seen, ordinal = KeySet(), {}, 0
    for part in parts:
        part = list(dict.fromkeys(f"img/{k}.jpg" for k in part))
        h1, h2 = KeySet.hashes(part)
        got = keys.find(h1, h2).tolist()
        assert got == [seen.get(k, -1) for k in part]
        new = [j for j, k in enumerate(part) if k not in seen]
        for j in new:
            seen[part[j]] = ordinal
            ordinal += 1
        keys.add(h1[new], h2[new], np.arange(ordinal - len(new), ordinal))
    assert sum(len(level[0]) for level in keys.levels) == len(seen)


def test_process_executor_streams_in_order_and_matches(yolo_dir, tmp_path, capsys):
    """``--executor processes``: worker processes, a bounded window, the single-process answer."""
    from cvpipe.builtin.executors import ProcessExecutor
    from cvpipe.errors import ConfigError
    from cvpipe.execution import get_executor

    ex = get_executor("processes", "2")
    assert isinstance(ex, ProcessExecutor) and ex.window == 4
    consumed = []

    def items():
        for i in range(10):
            consumed.append(i)
            yield i

    results = ex.map(abs, items())
    assert next(results) == 0 and len(consumed) <= ex.window + 1  # not all submitted up front
    assert list(results) == list(range(1, 10))
    ex.close()
    with pytest.raises(ConfigError, match="worker count"):
        get_executor("processes", "two")
    out = {}
    for label, more in (("plain", []), ("procs", ["--executor", "processes", "--address", "2"])):
        code, o, _ = _run(capsys, "convert", str(yolo_dir), str(tmp_path / label), "--to", "parquet", "-q",
                          "--skip-invalid", *more)
        out[label] = (code, o.replace(str(tmp_path / label), "<DST>"), _tree(tmp_path / label))
    assert out["plain"] == out["procs"] and out["procs"][0] == 0


def _coco_case(case: str):
    """Datasets whose COCO output depends on the whole split: ids kept or renumbered, shared
    folders cut, annotation ids kept or renumbered, difficult boxes left out, two splits."""
    if case == "plain":
        return make_dataset(9, boxes_per_image=2, empty_images=2)
    ds = make_dataset(9, boxes_per_image=2, empty_images=1)
    for k, s in enumerate(ds.samples):
        s.id = 100 + k
        s.image = f"deep/{'a' if k < 6 else 'b'}/{s.image}"
        s.box_extra = [{"id": 1000 + 10 * k + j} for j in range(len(s))]
        s.difficult[:] = [j == 0 and k % 3 == 0 for j in range(len(s))]
        s.split = "val" if k % 4 == 3 else "train"
    if case == "ids-renumbered":
        ds.samples[6].id = None  # one image without an id: the split renumbered 1..N
        ds.samples[5].box_extra[0] = {"id": ds.samples[0].box_extra[1]["id"]}
    return ds


@pytest.mark.parametrize("case", ["plain", "ids-kept", "ids-renumbered"])
def test_coco_written_part_by_part_equals_write_coco(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setattr("cvpipe.builtin.coco.stream.CocoStreamSharding.rows_per_part", 2)
    ds = _coco_case(case)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=3)
    out = _both(capsys, tmp_path, tmp_path / "pq", "coco", "--images", "none")
    assert out["plain"] == out["local"] and out["local"][0] == 0
    files = [k for k in out["local"][3] if k.endswith(".json")]
    assert files and not [k for k in out["local"][3] if ".cvpipe-coco-parts" in k]
    train = json.loads(out["local"][3]["annotations/instances_train.json"])
    ids = [im["id"] for im in train["images"]]
    anns = [a["id"] for a in train["annotations"]]
    if case == "ids-kept":
        assert min(ids) >= 100 and min(anns) >= 1000 and train["images"][0]["file_name"].startswith("a/")
    if case == "ids-renumbered":
        assert ids == list(range(1, len(ids) + 1)) and anns == list(range(1, len(anns) + 1))


def test_coco_part_by_part_refuses_one_name_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cvpipe.builtin.coco.stream.CocoStreamSharding.rows_per_part", 2)
    ds = make_dataset(6, empty_images=0)
    ds.samples[4].image = "other/" + ds.samples[1].image  # same name once the folders are cut
    ds.samples[4].extra["file_name"] = ds.samples[1].image
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    out = _both(capsys, tmp_path, tmp_path / "pq", "coco", "--images", "none")
    assert out["plain"] == out["local"]
    assert out["local"][0] == 2 and "same output name" in out["local"][2] and out["local"][3] is None


def test_a_sharding_reads_writes_or_both_never_half():
    """add_format(sharding=...): plan+read_part and/or write_part+commit, each pair whole."""
    from cvpipe.contract import Entry, FormatRegistrar
    from cvpipe.errors import PluginError

    got: list[Entry] = []
    reg = FormatRegistrar("test", got.append)

    class Half:
        rows_per_part = 1
        plan = staticmethod(lambda path, splits=None: {})
        read_part = None
        write_part = commit = None

    class ReadOnly(Half):
        read_part = staticmethod(lambda path, part, **kw: None)

    class WriteOnly(Half):
        plan = None
        write_part = staticmethod(lambda samples, folder, index, **kw: {})
        commit = staticmethod(lambda folder, records, categories, meta: {})

    class Neither(Half):
        plan = None

    reg.add_format("r", reader=lambda p: None, sharding=ReadOnly())
    reg.add_format("w", writer=lambda d, p: {}, sharding=WriteOnly())
    assert [e.name for e in got] == ["r", "w"]
    with pytest.raises(PluginError, match="plan and read_part"):
        reg.add_format("h", reader=lambda p: None, sharding=Half())
    with pytest.raises(PluginError, match="sharding lacks"):
        reg.add_format("n", reader=lambda p: None, sharding=Neither())


# ---- VOC read in parts: categories and the detections flag decided over every file ----

@pytest.fixture
def voc_parts(monkeypatch):
    monkeypatch.setattr("cvpipe.builtin.voc.sharding.PART_FILES", 3)


def _devkit(tmp_path, *, broken: bool):
    """A VOCdevkit of 10 images (train 7, val 3): names that are not VOC classes (sorted order),
    the only 'zebra' objects in the last file with objects, one image a split list names without an XML
    file, and (``broken``) an unreadable XML and an object outside its image."""
    ds = make_dataset(10, boxes_per_image=2, empty_images=1, unicode_names=False, seed=3)
    ds = ds.__class__(["kite", "apple", "zebra"], ds.samples, root=ds.root, meta=ds.meta)
    for k, s in enumerate(ds.samples):
        s.split = "val" if k >= 7 else "train"
        s.labels = s.labels % 2
    last = next(s for s in reversed(ds.samples) if len(s))
    last.labels[:] = 2
    ds = write_images(ds, tmp_path / "png")
    src = tmp_path / "voc"
    write_dataset(ds, src, "voc", images="copy")
    ann = sorted((src / "Annotations").glob("*.xml"))
    ann[2].unlink()  # listed in train.txt, image present: an image without objects
    if broken:
        ann[4].write_text("<annotation><filename>x.jpg</filename>", encoding="utf-8")
        text = ann[5].read_text(encoding="utf-8")
        ann[5].write_text(text.replace("<xmax>", "<xmax>9999", 1), encoding="utf-8")
    return src


@pytest.mark.parametrize("to", ["parquet", "coco"])
def test_voc_read_in_parts_converts_like_one_process(tmp_path, capsys, voc_parts, monkeypatch, to):
    from cvpipe.builtin.voc.sharding import VocSharding

    read = []
    part_reader = VocSharding.read_part
    monkeypatch.setattr(VocSharding, "read_part", lambda self, *a, **k: read.append(1) or part_reader(self, *a, **k))
    src = _devkit(tmp_path, broken=False)
    out = _both(capsys, tmp_path, src, to)
    assert out["plain"] == out["local"]
    assert len(read) == 4  # 10 entries in parts of 3, under --executor only
    code, _, _, tree, report = out["local"]
    assert code == 0 and tree
    assert json.loads(report)["notes"]  # the bare image, counted over the parts


def test_voc_problems_in_parts_are_the_single_process_ones(tmp_path, capsys, voc_parts):
    src = _devkit(tmp_path, broken=True)
    out = _both(capsys, tmp_path, src, "parquet")
    assert out["plain"] == out["local"]
    code, _, err, tree, _ = out["local"]
    assert code == 2 and tree is None and "nothing was written" in err
    (tmp_path / "skip").mkdir()
    skipped = _both(capsys, tmp_path / "skip", src, "parquet", "--skip-invalid")
    assert skipped["plain"] == skipped["local"] and skipped["local"][0] == 0
    plain = _run(capsys, "validate", str(src), "--json", "-")
    local = _run(capsys, "validate", str(src), "--json", "-", "--executor", "local")
    assert plain == local and plain[0] == 2


def test_voc_plan_decides_categories_over_every_file(tmp_path, voc_parts):
    from cvpipe.builtin.voc.sharding import SHARDING

    src = _devkit(tmp_path, broken=False)
    plan = SHARDING.plan(src)
    assert plan["categories"] == ["apple", "kite", "zebra"]  # 'zebra' only in the last part's file
    assert len(plan["parts"]) == 4
    first = SHARDING.read_part(src, plan["parts"][0], problems=[])
    assert first.categories == plan["categories"] and len(first) == 3


def _yolo_case(case: str):
    """Datasets whose YOLO output depends on the whole dataset: splits (one sample without ->
    ``unassigned``), nested image folders sharing ``deep/`` (cut), an image without boxes,
    difficult and crowd boxes, scores, pose keypoints (one box without: noted), oriented boxes
    (one no longer enclosing its box: noted) and no split at all (``val`` a stand-in)."""
    import numpy as np

    ds = make_dataset(9, boxes_per_image=2, empty_images=1)
    for k, s in enumerate(ds.samples):
        s.image = f"deep/{'a' if k < 5 else 'b/c'}/{s.image}"
        if case == "obb":
            s.split = None
            w, h = s.width, s.height
            s.box_extra = [{"obb": [x1, y1, x2, y1, x2, y2, x1, y2]} if (k + j) % 3 else {}
                           for j, (x1, y1, x2, y2) in enumerate(s.boxes.tolist())]
            if k == 4:
                s.box_extra[0] = {"obb": [0.0, 0.0, w, 0.0, w, h, 0.0, h]}  # not its box any more
            continue
        s.split = [None, "train", "val", "train"][k % 4]
        s.difficult[:] = [j == 0 and k % 2 == 0 for j in range(len(s))]
        s.iscrowd[:] = [j == 1 and k % 3 == 0 for j in range(len(s))]
        s.scores = np.linspace(0.25, 0.75, len(s)).astype(np.float32)
        if case == "pose":
            s.box_extra = [{"keypoints": [x1 + 1.0, y1 + 1.0, 2, x2 - 1.0, y2 - 1.0, 1]} if k != 3 or j else {}
                           for j, (x1, y1, x2, y2) in enumerate(s.boxes.tolist())]
    return ds


@pytest.fixture
def part_log(monkeypatch):
    """YOLO and VOC written in parts of 3 samples; the sizes of the write tasks (a list)."""
    from cvpipe import execution

    monkeypatch.setattr("cvpipe.builtin.yolo.sharding.YoloSharding.rows_per_part", 3)
    monkeypatch.setattr("cvpipe.builtin.voc.stream.VocStreamSharding.rows_per_part", 3)
    log: list[int] = []
    real = execution.write_part
    monkeypatch.setattr(execution, "write_part", lambda t: (log.append(len(t.samples)), real(t))[1])
    return log


@pytest.mark.parametrize("case", ["splits", "pose", "obb"])
@pytest.mark.parametrize("more", [[], ["--keep-difficult"]])
def test_yolo_written_part_by_part_equals_write_yolo(tmp_path, capsys, part_log, case, more):
    ds = _yolo_case(case)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=4)
    out = _both(capsys, tmp_path, tmp_path / "pq", "yolo", "--images", "none", *more)
    assert out["plain"] == out["local"] and out["local"][0] == 0
    assert part_log == [3, 3, 3]  # the driver handed the writer parts, not the whole dataset
    tree, report = out["local"][3], json.loads(out["local"][4])
    assert not [k for k in tree if ".cvpipe-yolo-parts" in k] and "labels/train/a/img_001.txt" in tree
    data = yaml.safe_load((tmp_path / "yolo-local" / "data.yaml").read_text(encoding="utf-8"))
    assert data["path"] == str(tmp_path / "yolo-local")  # the destination, not the temporary folder
    if case == "splits":
        assert "labels/unassigned/a/chat_ünïcødé_图像.txt" in tree and report["skipped"]["crowd"] == 3
    if case == "pose":
        assert b"kpt_shape: [2, 3]" in tree["data.yaml"] and list(report["notes"].values()) == [1]
    if case == "obb":
        assert len(tree["labels/train/a/img_001.txt"].split(b"\n")[0].split()) == 9 and len(report["notes"]) == 2


@pytest.mark.parametrize("second", [2, 7])
def test_yolo_part_by_part_refuses_one_label_file_twice(tmp_path, capsys, part_log, second):
    """Two images that would get one label file: write_yolo's refusal, whether the first one
    is in the same part or an earlier one."""
    ds = make_dataset(9, empty_images=0)
    ds.samples[second].image = ds.samples[1].image.replace(".png", ".jpg")
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=4)
    out = _both(capsys, tmp_path, tmp_path / "pq", "yolo", "--images", "none")
    assert out["plain"] == out["local"]
    assert out["local"][0] == 2 and "same label file" in out["local"][2] and out["local"][3] is None
    assert part_log == [3, 3, 3]  # refused in commit, over the staged parts
    assert f"also written for {ds.samples[1].image}" in out["local"][2]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".yolo-local")]


@pytest.mark.parametrize("to", ["yolo", "voc"])
def test_yolo_and_voc_part_by_part_place_images(yolo_dir, tmp_path, capsys, small_parts, part_log, to):
    """``--images copy`` (the default) and a YOLO source read in parts: the same files."""
    out = _both(capsys, tmp_path, yolo_dir, to, "--skip-invalid")
    assert out["plain"] == out["local"] and out["local"][0] == 0
    images = [k for k in out["local"][3] if k.startswith("images/" if to == "yolo" else "JPEGImages/")]
    assert len(part_log) == 4 and len(images) == 10


def test_write_step_writes_yolo_part_by_part(tmp_path, part_log):
    """The pipeline's write step through an executor (:func:`write_sharded`): write_yolo's files."""
    from cvpipe.execution import get_executor, write_sharded

    ds = _yolo_case("pose")
    write_dataset(ds, tmp_path / "one", "yolo", images="none")
    report = write_sharded(ds, tmp_path / "parts", "yolo", executor=get_executor("local"), images="none")
    assert report == write_dataset(ds, tmp_path / "again", "yolo", images="none")
    assert part_log == [3, 3, 3] and _tree(tmp_path / "parts") == _tree(tmp_path / "one")


def _voc_case(case: str):
    """Datasets whose VOC folder depends on the whole dataset: splits (and a sample without),
    nested image folders sharing ``deep/`` (cut), crowd boxes and scores; ``shared``: the val
    images again as a test split (written once, listed twice) over several parts."""
    import numpy as np

    ds = make_dataset(9, boxes_per_image=2, empty_images=1)
    for k, s in enumerate(ds.samples):
        s.image = f"deep/{'a' if k < 5 else 'b/c'}/{s.image}"
        s.split = [None, "train", "val", "train"][k % 4]
        s.iscrowd[:] = [j == 1 and k % 3 == 0 for j in range(len(s))]
        s.scores = np.linspace(0.25, 0.75, len(s)).astype(np.float32)
    if case == "shared":
        from dataclasses import replace

        ds.samples += [replace(s, split="test") for s in ds.samples if s.split == "val"]
    return ds


@pytest.mark.parametrize("case", ["splits", "shared"])
def test_voc_written_part_by_part_equals_write_voc(tmp_path, capsys, part_log, case):
    ds = _voc_case(case)
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=4)
    out = _both(capsys, tmp_path, tmp_path / "pq", "voc", "--images", "none")
    assert out["plain"] == out["local"] and out["local"][0] == 0
    assert part_log == [3] * (len(ds) // 3) + [len(ds) % 3] * bool(len(ds) % 3)  # parts, not the whole dataset
    tree, report = out["local"][3], json.loads(out["local"][4])
    assert not [k for k in tree if ".cvpipe-voc-parts" in k] and "Annotations/a/img_001.xml" in tree
    assert tree["ImageSets/Main/train.txt"].startswith(b"a/img_001\na/img_003\n")
    if case == "shared":
        assert tree["ImageSets/Main/test.txt"] == tree["ImageSets/Main/val.txt"]
        assert list(report["notes"].values()) == [2]


@pytest.mark.parametrize("second", [2, 7])
def test_voc_part_by_part_refuses_one_annotation_file_twice(tmp_path, capsys, part_log, second):
    ds = make_dataset(9, empty_images=0)
    ds.samples[second].image = ds.samples[1].image.replace(".png", ".jpg")
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=4)
    out = _both(capsys, tmp_path, tmp_path / "pq", "voc", "--images", "none")
    assert out["plain"] == out["local"]
    assert out["local"][0] == 2 and "same annotation file" in out["local"][2] and out["local"][3] is None
    assert part_log == [3, 3, 3]  # refused in commit, over the staged parts
    assert f"also written for {ds.samples[1].image}" in out["local"][2]


def test_coco_part_by_part_refuses_one_name_twice_in_one_part(tmp_path, capsys, monkeypatch):
    """The repeated name's first holder in the same staged part (:class:`DistinctNames`)."""
    monkeypatch.setattr("cvpipe.builtin.coco.stream.CocoStreamSharding.rows_per_part", 3)
    ds = make_dataset(6, empty_images=0)
    ds.samples[2].image = "other/" + ds.samples[1].image
    ds.samples[2].extra["file_name"] = ds.samples[1].image
    write_dataset(ds, tmp_path / "pq", "parquet", images="none", rows_per_shard=2)
    out = _both(capsys, tmp_path, tmp_path / "pq", "coco", "--images", "none")
    assert out["plain"] == out["local"] and out["local"][0] == 2
    assert out["local"][2].rstrip().endswith(f"also {tmp_path / 'pq' / 'images' / ds.samples[1].image}")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.none() | st.text(st.characters(blacklist_characters="\0"), max_size=6)] * 3),
                max_size=6))
def test_packed_listing_rows_round_trip(rows):
    """Parts' listings (formats.plans): any file name but NUL (newlines included) and None survive."""
    from cvpipe.formats.plans import pack_rows, unpack_rows

    assert unpack_rows(pack_rows(rows), 3) == rows
