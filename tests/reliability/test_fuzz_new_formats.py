"""Fuzzing the readers of the four formats issue 11 added (CVAT for images 1.1, Label Studio
JSON, KITTI 2D labels, Open Images V7 CSV) the way ``test_fuzz_readers`` fuzzes VOC, COCO, YOLO
and LabelMe: hypothesis mutates valid files (bit flips, truncation, hostile tokens, deletions,
swapped lines or fields); each mutated dataset is validated in a bounded subprocess, and must end
with exit 0, or exit 2 naming a file of the dataset -- never exit 1, a traceback, a crash or a
timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reliability.test_fuzz_readers import (  # noqa: E402  (the same mutations, bounds and driver)
    EXAMPLES, OPS, run_mutated,
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
    cases = _cases(bases[fmt], fmt)
    assert len(cases) >= EXAMPLES // 2
    outcomes = run_mutated(bases[fmt], fmt, cases, tmp_path)
    assert outcomes[2] > 0  # the mutations do break files: the test is not vacuous
