"""A two-node Ray cluster on loopback -- a head and a second node, each started with
``ray start`` -- and ``cvpipe convert --executor ray --address`` run against it from a fresh
driver process. Each node is started with ``--block`` and stopped by ending that process
(which stops the node's Ray processes, what ``ray stop`` does for them), so nothing else on
the machine is touched."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]', or the cvpipe-ray plugin)")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'cvpipe[parquet]')")

DRIVER = """
import sys, time
import ray
import cvpipe_ray
from cvpipe.cli import main
from cvpipe.testing import plugin_registry
ray.init(address=sys.argv[-1], log_to_driver=False, configure_logging=False)
deadline = time.monotonic() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < 2:  # the second node may still be joining
    assert time.monotonic() < deadline, ray.nodes()
    time.sleep(1)
print("nodes:", len([n for n in ray.nodes() if n["Alive"]]))
with plugin_registry(("ray", cvpipe_ray)):
    code = main(sys.argv[1:])
ray.shutdown()
sys.exit(code)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> list[str]:
    exe = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(exe).exists():
        return [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.exit(main())"]
    return [exe]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_started(log: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until ``ray start --block`` logged that its node runs."""
    deadline = time.monotonic() + timeout
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"ray start failed:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


@pytest.fixture
def two_nodes(tmp_path):
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats", "--block"]
    # Ray >= 2.5x enables token authentication for `ray start --head`; a throw-away loopback
    # cluster opts out (a real cluster keeps it and hands each node the token)
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    logs = tmp_path / "ray-logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (("head", ["--head", f"--port={port}", "--include-dashboard=false"]), ("node", [f"--address={address}"])):
            log = logs / f"{name}.log"
            procs.append(subprocess.Popen([*_ray_cli(), "start", *args, *common], stdout=open(log, "wb"),
                                          stderr=subprocess.STDOUT, start_new_session=True, env=env))
            _wait_started(log, procs[-1])
        yield address, env
    finally:
        for p in reversed(procs):
            _stop(p)


def test_convert_on_a_two_node_cluster(two_nodes, datasets, tmp_path, tree):
    from cvpipe.formats import convert_dataset

    convert_dataset(datasets / "pq", tmp_path / "plain", "parquet", skip_invalid=True)
    address, env = two_nodes
    run = subprocess.run([sys.executable, "-c", DRIVER, "convert", str(datasets / "pq"), str(tmp_path / "ray"),
                          "--to", "parquet", "--skip-invalid", "-q", "--executor", "ray", "--address", address],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "nodes: 2" in run.stdout and "images written" in run.stdout
    assert tree(tmp_path / "plain") == tree(tmp_path / "ray")
