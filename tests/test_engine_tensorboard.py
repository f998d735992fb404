"""The TensorBoard logger plugin: enabled from the train step's ``loggers``, fed by the
``cvpipe_on_epoch_end`` hook, and a clear warning when tensorboard is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvpipe.cli import main

PIPELINE = """
name: tb
steps:
  - synthesize: {path: "${run_dir}/data", images: 8, size: [96, 64], object_size: [14, 30], seed: 6}
  - read: {format: voc, path: "${run_dir}/data", output: train}
  - train:
      dataset: train
      model_params: {image_size: 64, width: 8, depth: 0, fpn_channels: 16, head_convs: 1}
      epochs: 2
      batch_size: 4
      workers: 0
      threads: 1
      loggers: [tensorboard]
"""


class Recorder:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        Recorder.made.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def _run(tmp_path: Path) -> int:
    (tmp_path / "tb.yaml").write_text(PIPELINE)
    return main(["run", str(tmp_path / "tb.yaml"), "--out", str(tmp_path / "run"), "--quiet"])


def test_logger_writes_every_epoch(tmp_path, monkeypatch):
    from cvpipe.builtin import tensorboard

    Recorder.made = []
    monkeypatch.setattr(tensorboard, "available", lambda: True)
    monkeypatch.setattr(tensorboard, "writer_factory", Recorder)
    assert _run(tmp_path) == 0
    (rec,) = Recorder.made
    assert rec.log_dir == tmp_path / "run" / "tensorboard" / "train" and rec.closed
    tags = {(t, s) for t, _, s in rec.scalars}
    for epoch in (1, 2):
        for name in ("loss", "cls_loss", "box_loss", "lr", "images_per_s"):
            assert (f"train/{name}", epoch) in tags
    assert not tensorboard._active


def test_missing_tensorboard_is_a_clear_warning(tmp_path, monkeypatch, capsys):
    from cvpipe.builtin import tensorboard

    monkeypatch.setattr(tensorboard, "available", lambda: False)
    assert _run(tmp_path) == 0
    err = capsys.readouterr().err
    assert "tensorboard" in err and "pip install tensorboard" in err
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_a_misspelt_logger_is_caught():
    from cvpipe.builtin.train_steps import TrainStep
    from cvpipe.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        TrainStep(loggers=["tensorbord"])
    assert e.value.problem.field == "loggers[0]" and "tensorboard" in str(e.value)


def test_real_tensorboard_event_files(tmp_path):
    """With tensorboard installed, the logger writes event files TensorBoard itself reads back."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert _run(tmp_path) == 0
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "train"))
    acc.Reload()
    assert {"train/loss", "train/lr", "train/images_per_s"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]
