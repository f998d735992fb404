"""Two processes under torchrun on CPU (gloo): the training engine runs with DDP, both
processes end with the same weights, and only rank 0 logs, checkpoints and fires the hook."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r'''
import hashlib, json, os, sys
from pathlib import Path

import torch
from cvpipe.engine.train import TrainConfig, fit
from cvpipe.formats import read_dataset
from cvpipe.plugins import get_registry

data, out, epochs, resume = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "resume"
rank = int(os.environ["RANK"])
ds = read_dataset(data, "voc")
cfg = TrainConfig(model="compact", model_params=dict(image_size=64, width=8, depth=0, fpn_channels=16, head_convs=1),
                  epochs=epochs, batch_size=2, workers=0, threads=1, lr=0.004, warmup_epochs=0.5)
epochs = []
res = fit(ds.split("train"), ds.split("val"), cfg, out_dir=out / "train", resume=resume,
          on_epoch_end=lambda e, m: epochs.append(e), progress=False, log=lambda m: None)
import torch.distributed as dist
digest = hashlib.sha256(b"".join(t.detach().cpu().contiguous().numpy().tobytes()
                                 for t in res.bundle.model.state_dict().values())).hexdigest()
report = {"rank": rank, "world": dist.get_world_size(), "backend": dist.get_backend(), "digest": digest,
          "epochs_hooked": epochs, "models": "compact" in get_registry().models.names(),
          "history": len(res.history), "epochs_run": res.epochs_run}
(out / f"rank{rank}.json").write_text(json.dumps(report))
from cvpipe.engine.distributed import shutdown
shutdown()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory) -> Path:
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("ddp") / "shapes"
    synthesize_voc(root, images=12, seed=5, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
    return root


def _launch(script: Path, data: Path, out: Path, epochs: int, mode: str) -> tuple[dict, dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), str(data), str(out), str(epochs), mode]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tuple(json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))  # type: ignore[return-value]


def test_two_process_torchrun_on_cpu(tiny_voc, tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    r0, r1 = _launch(script, tiny_voc, out, 2, "new")
    assert r0["world"] == r1["world"] == 2 and r0["backend"] == "gloo"
    assert r0["digest"] == r1["digest"]               # DDP kept the replicas identical
    assert r0["models"] and r1["models"]              # plugins loaded in every process
    assert r0["epochs_hooked"] == [1, 2] and r1["epochs_hooked"] == []   # rank 0 only
    assert r0["history"] == r1["history"] == 2
    files = sorted(p.name for p in (out / "train").iterdir())
    assert files == ["best.pt", "curves.png", "last.pt", "metrics.csv", "metrics.jsonl"]
    assert len((out / "train" / "metrics.jsonl").read_text().splitlines()) == 2

    # resumed under torchrun with more epochs: both processes continue from rank 0's last.pt
    r0, r1 = _launch(script, tiny_voc, out, 3, "resume")
    assert r0["epochs_run"] == r1["epochs_run"] == 1 and r0["history"] == r1["history"] == 3
    assert r0["digest"] == r1["digest"] and r0["epochs_hooked"] == [3]


def test_cvpipe_run_under_torchrun_shares_one_run_directory(tmp_path):
    """The same pipeline under torchrun: rank 0 owns the run directory and talks to the user,
    rank 1 works quietly in .rank1; the run ends with the metrics table."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "cvpipe", "run", str(root / "pipelines" / "voc_detect.yaml"),
           "--out", str(out), "--set", "vars.epochs=1", "--set", "synthesize.images=12", "--set", "vars.image_size=64",
           "--set", "train.batch_size=4", "--set", "vars.workers=0", "--set", "predict.draw=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "train" / "last.pt").is_file() and (out / "metrics.json").is_file()
    assert not (out / ".rank1" / "train" / "last.pt").exists()      # only rank 0 checkpoints
    assert (out / ".rank1" / "pipeline.yaml").is_file()              # rank 1 kept to its own folder
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"coco", "voc07"}
    stdout = proc.stdout
    assert stdout.count("voc_detect: ok") == 1                        # one process reports
    assert stdout.rstrip().splitlines()[-1].split()[0] == "mean"      # ends with the metrics table
    assert stdout.index("Per-class AP") > stdout.index("voc_detect: ok")
    # outputs get the mode a plain open() would give them, not mkstemp's private 0600
    assert (out / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
