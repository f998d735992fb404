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

from conftest import tree

pytest.importorskip("ray", reason="ray is not installed")

DRIVER = """
import sys
import cvpipe_ray
from cvpipe.cli import main
from cvpipe.testing import plugin_registry
with plugin_registry(("ray", cvpipe_ray)):
    sys.exit(main(sys.argv[1:]))
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


def _wait_for_nodes(address: str, n: int, timeout: float = 120) -> None:
    probe = ("import ray, sys, time\n"
             f"ray.init(address={address!r}, log_to_driver=False, configure_logging=False)\n"
             "print(len([x for x in ray.nodes() if x['Alive']]))\n")
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster did not reach {n} nodes: {out.stdout} {out.stderr[-2000:]}")
        time.sleep(2)


@pytest.fixture
def two_nodes(tmp_path):
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--include-dashboard=false", "--disable-usage-stats", "--block"]
    logs = tmp_path / "ray-logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen([*_ray_cli(), "start", "--head", f"--port={port}",
                                       "--node-ip-address=127.0.0.1", *common],
                                      stdout=open(logs / "head.log", "wb"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
        _wait_for_nodes(address, 1)
        procs.append(subprocess.Popen([*_ray_cli(), "start", f"--address={address}",
                                       "--node-ip-address=127.0.0.1", *common],
                                      stdout=open(logs / "node.log", "wb"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
        _wait_for_nodes(address, 2)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)


def test_convert_on_a_two_node_cluster(two_nodes, datasets, tmp_path):
    from cvpipe.formats import convert_dataset

    convert_dataset(datasets / "pq", tmp_path / "plain", "parquet", skip_invalid=True)
    run = subprocess.run([sys.executable, "-c", DRIVER, "convert", str(datasets / "pq"), str(tmp_path / "ray"),
                          "--to", "parquet", "--skip-invalid", "-q", "--executor", "ray", "--address", two_nodes],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "images written" in run.stdout and "| 11" in run.stdout.replace("  ", " ") or "11" in run.stdout
    assert tree(tmp_path / "plain") == tree(tmp_path / "ray")
