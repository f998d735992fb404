"""``cvpipe convert`` killed at any file operation: DST is the old output or the new one, the
swap of ``--overwrite`` is recoverable, SIGTERM/SIGINT clean up, the next run leaves no
temporary (issue 14, item 6). CI runs a fixed sample of kill points; ``-m slow`` runs them all."""

from __future__ import annotations

import signal

import pytest

from reliability.harness import ConvertCase

PAIRS = [("voc", "yolo"), ("voc", "coco"), ("coco", "voc"), ("yolo", "coco")]
_cases: dict[tuple[str, str], ConvertCase] = {}


@pytest.fixture
def case(request, datasets, tmp_path_factory) -> ConvertCase:
    src, to = request.param
    if (src, to) not in _cases:
        work = tmp_path_factory.mktemp(f"convert-{src}-{to}")
        _cases[(src, to)] = ConvertCase(datasets[src], datasets[f"old-{src}"], to, work).setup()
    return _cases[(src, to)]


@pytest.mark.parametrize("case", PAIRS, indirect=True, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_convert_killed_at_sampled_points_leaves_old_or_new(case):
    seen = {case.point(i) for i in case.sample()}
    assert seen == {"old", "new"}  # the sample spans both sides of the commit (the second rename)


@pytest.mark.parametrize("case", [("voc", "coco")], indirect=True, ids=["voc-coco"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_convert_terminated_or_interrupted_cleans_up(case, sig):
    """Handled like Ctrl-C: exit 143/130 and no temporary left at once (checked in point()),
    including in the middle of the swap."""
    writes = [i for i, (op, _) in enumerate(case.ops, 1) if op == "write"]
    assert case.point(writes[len(writes) // 2], sig) == "old"
    assert case.point(case.sample()[0], sig) == "old"  # between the two renames of the swap


@pytest.mark.slow
@pytest.mark.parametrize("case", PAIRS, indirect=True, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_convert_killed_at_every_point(case):
    for i in range(1, len(case.ops) + 1):
        case.point(i)
