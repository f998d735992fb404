"""Parquet vs COCO JSON: read time and peak memory at COCO-train2017 size, and the driver's
memory while streaming a dataset through parquet at growing sizes.

Part 1 (``read``) generates, deterministically and without images, an instances JSON shaped
like train2017 (118,287 images, ~860k boxes, 80 categories with COCO's ids 1..90), converts it
once to parquet (``cvpipe convert --to parquet --images none``), then reads each in a fresh
process (start-up excluded from the time, imports included in the memory) and prints wall
time and peak RSS of:

* ``coco``: ``read_dataset(instances.json)`` (the whole Dataset in memory);
* ``parquet``: ``read_dataset(folder)`` (the same Dataset, from shards, hashes verified);
* ``parquet-stream``: ``for s in iter_samples(folder)`` counting boxes (one batch in memory).

Part 2 (``stream``) writes parquet datasets of N images (10k, 100k) and rewrites each through
``write_samples(iter_samples(src))`` (read shard by shard, write shard by shard), and through
``cvpipe convert --executor local`` (per-shard read+check tasks; the driver keeps the valid
samples to re-chunk them), printing the peak RSS of the driver process for each N.

    python bench/bench_parquet.py [read|stream|all] [--images 118287] [--sizes 10000,100000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time, json

def hwm():
    # peak RSS of this process in MB (VmHWM: reset at exec, unlike ru_maxrss on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
import numpy, cvpipe.formats, cvpipe.plugins
cvpipe.plugins.get_registry()
if mode.startswith("parquet"):
    import pyarrow.parquet
base = hwm()
t = time.perf_counter()
if mode == "parquet-stream":
    from cvpipe.builtin.parquet import iter_samples
    n = b = 0
    for s in iter_samples(path):
        n += 1; b += len(s)
elif mode == "rewrite":
    from cvpipe.builtin.parquet import iter_samples, read_manifest, write_samples
    m = read_manifest(path)
    r = write_samples(iter_samples(path), m["categories"], Path(sys.argv[3]), images="none")
    n, b = r["images"], r["boxes"]
elif mode == "convert-executor":
    from cvpipe.execution import convert_sharded, get_executor
    r = convert_sharded(path, Path(sys.argv[3]), "parquet", executor=get_executor("local"), images="none")
    n, b = r["images"], r["boxes"]
else:
    ds = cvpipe.formats.read_dataset(path, mode if mode != "parquet" else "parquet")
    n, b = len(ds), ds.num_boxes
dt = time.perf_counter() - t
print(json.dumps({"mode": mode, "images": n, "boxes": b, "seconds": dt, "peak_mb": hwm(), "base_mb": base}))
"""


def make_coco(path: Path, n_images: int, seed: int = 0) -> dict:
    """An instances JSON of ``n_images`` images (7.3 boxes on average), COCO's category ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cat_ids = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
    images, anns = [], []
    counts = rng.poisson(7.3, n_images)
    aid = 1
    for i in range(n_images):
        w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        images.append({"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": w, "height": h, "license": 1})
        for _ in range(int(counts[i])):
            x, y = float(rng.uniform(0, w - 20)), float(rng.uniform(0, h - 20))
            bw, bh = float(rng.uniform(4, w - x)), float(rng.uniform(4, h - y))
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(cat_ids[int(rng.integers(0, 80))]),
                         "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                         "area": round(bw * bh, 2), "iscrowd": 0})
            aid += 1
    data = {"info": {"description": "generated"}, "licenses": [{"id": 1, "name": "x"}], "images": images,
            "annotations": anns, "categories": [{"id": c, "name": f"class_{c}", "supercategory": "s"} for c in cat_ids]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return {"images": n_images, "boxes": len(anns)}


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cvpipe(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cvpipe", *args], check=True, capture_output=True)


def bench_read(work: Path, n: int) -> None:
    coco = work / f"coco-{n}" / "annotations" / "instances_train.json"
    pq = work / f"parquet-{n}"
    if not coco.exists():
        t = time.perf_counter()
        info = make_coco(coco, n)
        print(f"generated {info['images']} images, {info['boxes']} boxes in {time.perf_counter() - t:.0f} s")
    if not pq.exists():
        t = time.perf_counter()
        cvpipe("convert", str(coco), str(pq), "--from", "coco", "--to", "parquet", "--images", "none", "-q")
        print(f"coco -> parquet: {time.perf_counter() - t:.0f} s (cvpipe convert, a process)")
    size = lambda p: sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file()) / 2**20  # noqa: E731
    print(f"on disk: coco {size(coco.parent):.0f} MB, parquet {size(pq):.0f} MB")
    print(f"{'read':16} {'images':>8} {'boxes':>8} {'seconds':>8} {'peak MB':>8} {'import MB':>9}")
    for mode, path in (("coco", coco), ("parquet", pq), ("parquet-stream", pq)):
        r = child(mode, str(path))
        print(f"{mode:16} {r['images']:8d} {r['boxes']:8d} {r['seconds']:8.1f} {r['peak_mb']:8.0f} {r['base_mb']:9.0f}")


def bench_stream(work: Path, sizes: list[int]) -> None:
    print(f"{'images':>8} {'mode':18} {'seconds':>8} {'driver peak MB':>15}")
    for n in sizes:
        coco = work / f"coco-{n}" / "annotations" / "instances_train.json"
        pq = work / f"parquet-{n}"
        if not coco.exists():
            make_coco(coco, n)
        if not pq.exists():
            cvpipe("convert", str(coco), str(pq), "--from", "coco", "--to", "parquet", "--images", "none", "-q")
        for mode in ("rewrite", "convert-executor"):
            out = work / f"out-{mode}-{n}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            r = child(mode, str(pq), str(out))
            print(f"{n:8d} {mode:18} {r['seconds']:8.1f} {r['peak_mb']:15.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["read", "stream", "all"])
    ap.add_argument("--images", type=int, default=118_287)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--dir", type=Path, default=None)
    a = ap.parse_args()
    work = a.dir or Path(tempfile.mkdtemp(prefix="cvpipe-bench-parquet-"))
    print(f"work dir {work}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    if a.what in ("read", "all"):
        bench_read(work, a.images)
    if a.what in ("stream", "all"):
        bench_stream(work, [int(x) for x in a.sizes.split(",")])


if __name__ == "__main__":
    main()
