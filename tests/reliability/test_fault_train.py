"""``cvpipe run`` with training killed at a file operation of an epoch end, then resumed, gives
exactly the uninterrupted result: the same metrics.json, the same weights in best.pt and last.pt,
curves.png, no temporary (issue 14, item 2). CI runs the two decisive kill points; ``-m slow``
kills at every file operation of the train step."""

from __future__ import annotations

import signal

import pytest

from reliability.harness import Fault, TrainCase


@pytest.fixture
def case(trained) -> TrainCase:
    return trained


def test_killed_after_last_pt_before_best_pt_resumes_with_the_right_best(case):
    """The reported bug: killed once the final epoch's last.pt is on disk but before best.pt is
    replaced; the resumed run used to predict and evaluate with the previous epoch's best.pt."""
    case.point(Fault("write", 2, signal.SIGKILL, match="best.pt"))


def test_terminated_while_committing_an_epoch_resumes_exactly(case):
    out = case.point(Fault("rename", 2, signal.SIGTERM, match="last.pt"))
    assert out.returncode == 143 and "terminated" in out.stderr


@pytest.mark.slow
def test_killed_at_every_file_operation_of_training(tmp_path_factory):
    traced = TrainCase(tmp_path_factory.mktemp("train-sweep")).setup(traced=True)
    for i in traced.train_ops():
        traced.point(Fault("any", i))
