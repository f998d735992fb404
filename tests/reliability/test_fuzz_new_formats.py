"""Fuzzing the readers of the four formats issue 11 added (CVAT for images 1.1, Label Studio
JSON, KITTI 2D labels, Open Images V7 CSV) the way ``test_fuzz_readers`` fuzzes VOC, COCO, YOLO
and LabelMe: hypothesis mutates valid files (bit flips, truncation, hostile tokens, deletions,
swapped lines or fields); each mutated dataset is validated in a bounded subprocess, and must end
with exit 0, or exit 2 naming a file of the dataset -- never exit 1, a traceback, a crash or a
timeout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reliability.test_fuzz_readers import (  # noqa: E402  (the same mutations, bounds and driver)
    ADDRESS_SPACE, CPU_PER_DATASET, DRIVER, EXAMPLES, OPS, _mutate,
)

#: the annotation files of each format, as its writer lays them out
PATTERNS = {
    "cvat": ["annotations.xml"],
    "label_studio": ["tasks.json"],
    "kitti": ["*/label_2/*.txt"],
    "openimages": ["annotations/*.csv"],
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """One valid two-image dataset per format, converted from the same synthetic VOC."""
    from cvpipe.formats import convert_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("fuzz-new-bases")
    synthesize_voc(root / "voc", images=2, seed=7, size=(64, 48), object_size=(10, 20), objects_per_image=(1, 2))
    out = {}
    for fmt in PATTERNS:
        convert_dataset(root / "voc", root / fmt, fmt, progress=False)
        out[fmt] = root / fmt
    return out


def _cases(base: Path, fmt: str) -> list[tuple[str, list[tuple]]]:
    files = sorted({str(p.relative_to(base)) for pat in PATTERNS[fmt] for p in base.glob(pat) if p.is_file()})
    assert files, (base, fmt)
    drawn: list[tuple[str, list[tuple]]] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(file=st.sampled_from(files), ops=OPS)
    def draw(file, ops):
        drawn.append((file, ops))

    draw()
    return drawn


def test_the_bases_are_valid(bases):
    from cvpipe.formats import detect_format, validate_dataset

    for fmt, base in bases.items():
        assert detect_format(base) == fmt
        result = validate_dataset(base, fmt)
        assert result["ok"] and result["boxes"] > 0, (fmt, [str(p) for p in result["problems"]])


@pytest.mark.parametrize("fmt", list(PATTERNS))
def test_mutated_files_never_crash_validate(bases, tmp_path, fmt):
    base = bases[fmt]
    cases = _cases(base, fmt)
    assert len(cases) >= EXAMPLES // 2
    paths = []
    for k, (file, ops) in enumerate(cases):
        d = tmp_path / f"{fmt}-{k:02d}"
        shutil.copytree(base, d)
        target = d / file
        target.write_bytes(_mutate(target.read_bytes(), ops))
        paths.append(str(d))
    driver = DRIVER.format(space=ADDRESS_SPACE, cpu=CPU_PER_DATASET, cpu_total=CPU_PER_DATASET * (len(paths) + 2))
    r = subprocess.run([sys.executable, "-c", driver, json.dumps(paths), fmt], capture_output=True, text=True,
                       timeout=60 + 10 * len(paths), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    bad = []
    outcomes = {0: 0, 2: 0}
    for (path, rc, out), (file, ops) in zip(results, cases):
        lines = out.splitlines()  # a file inside the dataset named, or the dataset itself
        named = any(path + "/" in line for line in lines) or any(
            line.startswith(f"error: {path}:") and not line.endswith("problems found") for line in lines)
        if rc not in (0, 2) or "Traceback" in out or (rc == 2 and not named):
            bad.append(f"{file} {ops}: exit {rc}\n{out[-1500:]}")
        else:
            outcomes[rc] += 1
    assert not bad, f"{len(bad)} of {len(results)} mutated {fmt} datasets misbehaved:\n" + "\n\n".join(bad[:5])
    assert outcomes[2] > 0  # the mutations do break files: the test is not vacuous
