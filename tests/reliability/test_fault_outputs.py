"""``cvpipe predict`` and ``cvpipe evaluate`` killed while replacing earlier outputs: the
detections folder is whole (old or new), every picture and metrics file is old or new, and the
re-run cleans up (issue 14, "the suite that keeps it fixed")."""

from __future__ import annotations

import signal

import pytest

from reliability.harness import CommandCase


@pytest.fixture(scope="module")
def predict_case(trained, tmp_path_factory) -> CommandCase:
    out = tmp_path_factory.mktemp("predict") / "out"
    model = trained.ref / "train" / "best.pt"
    images = trained.ref / "data" / "JPEGImages"
    base = ["predict", model, images, "--out", out, "--draw", "--quiet", "--draw-threshold", "0.0", "--overwrite"]
    return CommandCase([*base, "--score-threshold", "0.01"], [*base, "--score-threshold", "0.2"], out,
                       cwd=out.parent, whole=["detections"]).setup()


@pytest.fixture(scope="module")
def evaluate_case(trained, tmp_path_factory) -> CommandCase:
    out = tmp_path_factory.mktemp("evaluate") / "out"
    gt = trained.ref / "data"
    base = ["evaluate", "--gt", gt, "--json", out / "metrics.json", "--plots", out / "plots", "-q"]
    return CommandCase([*base, "--dt", _detections(trained, "0.01")], [*base, "--dt", _detections(trained, "0.3")],
                       out, cwd=out.parent).setup()


def _detections(trained, threshold: str):
    """COCO detections of the trained model at ``threshold``, written once per threshold."""
    from reliability.harness import rerun

    out = trained.work / f"dets-{threshold}"
    if not out.exists():
        rerun(["predict", trained.ref / "train" / "best.pt", trained.ref / "data" / "JPEGImages", "--out", out,
               "--quiet", "--score-threshold", threshold], cwd=trained.work)
    return out / "detections" / "results.json"


def test_predict_killed_while_replacing_its_outputs(predict_case):
    swap = predict_case.positions("rename", "detections")[-1]  # the second rename of the swap
    predict_case.point(swap)  # (every point, SIGTERM too: bench/fault_sweep.py, pytest -m slow)


def test_evaluate_killed_while_writing_metrics_and_plots(evaluate_case):
    evaluate_case.point(evaluate_case.positions("rename", "metrics.json")[0])  # its temporary left behind
    evaluate_case.point(evaluate_case.positions("write", "plots")[1], signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["predict", "evaluate"])
def test_killed_at_every_point(which, request):
    case = request.getfixturevalue(f"{which}_case")
    for i in range(1, len(case.ops) + 1):
        case.point(i)
