"""Scale: a generated YOLO dataset of N images converted to Parquet, then Parquet -> COCO, in
one process and through executors: wall time, peak memory of the driver and of the largest
worker, at growing N (10k, 100k, 1M), to show the driver's memory flat in N.

The dataset (deterministic, seed 0): ``images/train/<i>.png``, all hard links to ONE tiny PNG
(64x48, one file per 50,000 images: the YOLO reader needs each image's header for the size, so every image is a real file
whose header is read, but few inodes of pixels are stored), ``labels/train/<i>.txt`` (every tenth image in ``val`` instead) with
1-5 boxes (mean 3), 80 categories, ``data.yaml``. Conversions use ``--images none`` (paths and
sizes are written, pixels not copied). Each run is a fresh process; its peak RSS is
``VmHWM`` (imports included); "child MB" is the largest ``ru_maxrss`` of its reaped children:
the worker processes (``processes``), or the short-lived process that lists the YOLO layout
(``local``, ``processes``: :meth:`cvpipe.builtin.yolo.sharding.YoloSharding.plan`); for ``ray``
also the largest RSS of Ray's worker processes (``ray::*`` descendants of the driver, sampled every 0.25 s;
the driver never reaps them; their RSS counts the object store pages they map).

Modes per leg:

* ``single``: ``cvpipe convert`` (read everything, check, write);
* ``local``: ``--executor local`` (parts read, checked and written one after the other, the
  driver streaming);
* ``processes``: ``--executor processes --address 2`` (2 worker processes);
* ``ray``: ``--executor ray`` when ``cvpipe_ray`` and ray import (not in the shared venv).

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--modes single,local,processes]
                                [--legs yolo-parquet,parquet-coco] [--dir DIR] [--keep]

Prints one table row per (leg, N, mode) and a JSON list at the end. Needs about 500 bytes of
disk a label file plus 4 kB a file block: ~9 GB and 2M inodes at 1M images (the folder is
removed at the end unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, threading, time

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

ray_peak, done = [0.0], threading.Event()

def watch_ray_workers():  # Ray's workers descend from the raylet, not reaped by us: sample their RSS
    me = os.getpid()
    while not done.wait(0.25):
        parent = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                parent[int(pid)] = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
        for pid in parent:
            up = pid
            while up not in (me, 0, 1) and up in parent:
                up = parent[up]
            try:
                if up != me or not open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"ray::"):
                    continue
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        ray_peak[0] = max(ray_peak[0], int(line.split()[1]) / 1024)
            except OSError:
                pass

threading.Thread(target=watch_ray_workers, daemon=True).start()
from cvpipe.cli import main
t = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - t
done.set()
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
json.dump({"code": code, "wall": wall, "driver_mb": hwm(), "worker_mb": max(kids, ray_peak[0])}, open(sys.argv[1], "w"))
"""

def make_png(path: Path) -> None:
    """A 64x48 grey PNG (the one file every image links to)."""
    import numpy as np

    from cvpipe.draw import save_png

    save_png(path, np.full((48, 64, 3), 127, dtype=np.uint8))


def generate(root: Path, n: int, *, ncls: int = 80, seed: int = 0) -> float:
    """Write the YOLO dataset of ``n`` images at ``root``; seconds taken."""
    t = time.perf_counter()
    rnd = random.Random(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for i in range(n):
        name, split = f"{i:07d}", "val" if i % 10 == 9 else "train"
        if i % 50_000 == 0:  # ext4 allows 65,000 links to one inode
            proto = root / f"proto-{i // 50_000}.png"
            make_png(proto)
        os.link(proto, root / "images" / split / f"{name}.png")
        lines = []
        for _ in range(rnd.randint(1, 5)):
            w, h = rnd.uniform(0.05, 0.5), rnd.uniform(0.05, 0.5)
            cx, cy = rnd.uniform(w / 2, 1 - w / 2), rnd.uniform(h / 2, 1 - h / 2)
            lines.append(f"{rnd.randrange(ncls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        with open(root / "labels" / split / f"{name}.txt", "w") as fh:
            fh.write("".join(lines))
    names = "\n".join(f"  {k}: class{k}" for k in range(ncls))
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return time.perf_counter() - t


def have_ray() -> bool:
    try:
        import cvpipe_ray  # noqa: F401
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: list[str], workdir: Path) -> dict:
    out = workdir / "child.json"
    subprocess.run([sys.executable, "-c", CHILD, str(out), *args], check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


MODE_ARGS = {"single": [], "local": ["--executor", "local"], "processes": ["--executor", "processes", "--address", "2"],
             "ray": ["--executor", "ray"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--modes", default="single,local,processes" + (",ray" if have_ray() else ""))
    ap.add_argument("--legs", default="yolo-parquet,parquet-coco")
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    base = Path(a.dir or tempfile.mkdtemp(prefix="cvpipe-scale-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; {base}")
    print(f"{'leg':14} {'images':>9} {'mode':10} {'wall s':>8} {'us/img':>7} {'driver MB':>10} {'child MB':>10}")
    try:
        for n in [int(x) for x in a.sizes.split(",")]:
            src = base / f"yolo-{n}"
            if not (src / "data.yaml").exists():
                shutil.rmtree(src, ignore_errors=True)
                g = generate(src, n)
                print(f"generated {n} images in {g:.1f} s")
            for leg in a.legs.split(","):
                for mode in a.modes.split(","):
                    if leg == "yolo-parquet":
                        inp, dst, to = src, base / f"pq-{n}-{mode}", "parquet"
                    else:
                        inp, dst, to = base / f"pq-{n}-single", base / f"coco-{n}-{mode}", "coco"
                        if not inp.exists():
                            run(["convert", str(src), str(inp), "--to", "parquet", "--images", "none", "-q"], base)
                    shutil.rmtree(dst, ignore_errors=True)
                    load = os.getloadavg()[0]
                    r = run(["convert", str(inp), str(dst), "--to", to, "--images", "none", "-q", *MODE_ARGS[mode]],
                            base)
                    r.update(leg=leg, images=n, mode=mode, load=load)
                    rows.append(r)
                    print(f"{leg:14} {n:9d} {mode:10} {r['wall']:8.1f} {1e6 * r['wall'] / n:7.0f} "
                          f"{r['driver_mb']:10.0f} {r['worker_mb']:10.0f}"
                          f"   (load {load:.2f}, exit {r['code']})", flush=True)
                    if not (leg == "yolo-parquet" and mode == "single"):  # that one is the next leg's input
                        shutil.rmtree(dst, ignore_errors=True)
            if not a.keep:
                shutil.rmtree(src, ignore_errors=True)
                for p in base.glob(f"pq-{n}-*"):
                    shutil.rmtree(p, ignore_errors=True)
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
