"""Benchmark: reading a COCO instances file of train2017's size, cvpipe against pycocotools.

Generates once, deterministically and without images, an instances JSON shaped like
``instances_train2017.json``: 118,287 images, ~804,000 annotations (6.8 per image) in COCO's 80
categories (ids 1..90 with gaps), each with a polygon ``segmentation`` (8-60 coordinates, as
COCO's polygons vary), ``area``, ``iscrowd`` (1% crowd, with an RLE ``counts`` list as COCO
writes them) and integer ids. Then, each in a fresh process (start-up excluded from the time,
the imports included in the memory), prints wall time and peak RSS (``VmHWM``) of:

* ``cvpipe``: ``cvpipe.formats.read_dataset(file)``: the whole Dataset, every field checked;
* ``pycocotools``: ``COCO(file)``: the file loaded and indexed.

Both processes run one after the other in the same run (``--repeat`` alternates them and keeps
each side's best). Usage::

    python bench/bench_read_coco.py [--images 118287] [--repeat 1] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time, json

def hwm():
    # peak RSS of this process in MB (VmHWM: reset at exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

mode, path = sys.argv[1], sys.argv[2]
if mode == "cvpipe":
    import numpy, cvpipe.formats, cvpipe.plugins
    cvpipe.plugins.get_registry()
    base = hwm()
    t, c = time.perf_counter(), time.process_time()
    ds = cvpipe.formats.read_dataset(path, "coco")
    n, b = len(ds), ds.num_boxes
else:
    import contextlib, io
    from pycocotools.coco import COCO
    base = hwm()
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(path)
    n, b = len(coco.imgs), len(coco.anns)
dt, dc = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"mode": mode, "images": n, "boxes": b, "seconds": dt, "cpu": dc, "peak_mb": hwm(), "base_mb": base}))
"""

#: COCO's 80 category ids
CAT_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def make_coco(path: Path, n_images: int, per_image: float = 6.8, seed: int = 0) -> dict:
    """Write the instances JSON (deterministic for a seed); returns its image and box counts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    counts = rng.poisson(per_image, n_images)
    images, anns = [], []
    aid = 1
    for i in range(n_images):
        w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        iid = int(9 + 7 * i)
        images.append({"license": int(rng.integers(1, 9)), "file_name": f"{iid:012d}.jpg",
                       "coco_url": f"http://images.cocodataset.org/train2017/{iid:012d}.jpg", "height": h,
                       "width": w, "date_captured": "2013-11-14 16:28:13",
                       "flickr_url": f"http://farm4.staticflickr.com/{iid}.jpg", "id": iid})
        k = int(counts[i])
        if not k:
            continue
        xy = rng.uniform(0, 1, (k, 2)) * [w - 20, h - 20]
        wh = rng.uniform(0.05, 1, (k, 2)) * ([w, h] - xy)
        npts = rng.integers(4, 31, k)
        crowd = rng.random(k) < 0.01
        cats = rng.integers(0, 80, k)
        for j in range(k):
            x, y = float(round(xy[j, 0], 2)), float(round(xy[j, 1], 2))
            bw, bh = float(round(max(wh[j, 0], 1.0), 2)), float(round(max(wh[j, 1], 1.0), 2))
            if crowd[j]:
                seg = {"counts": rng.integers(0, 400, int(rng.integers(20, 200))).tolist(), "size": [h, w]}
            else:
                t = np.sort(rng.uniform(0, 2 * np.pi, int(npts[j])))
                px = x + bw * (0.5 + 0.5 * np.cos(t))
                py = y + bh * (0.5 + 0.5 * np.sin(t))
                seg = [np.round(np.c_[px, py].reshape(-1), 2).tolist()]
            anns.append({"segmentation": seg, "area": round(bw * bh * 0.7, 4), "iscrowd": int(crowd[j]),
                         "image_id": iid, "bbox": [x, y, bw, bh], "category_id": CAT_IDS[int(cats[j])], "id": aid})
            aid += 1
    data = {"info": {"description": "cvpipe bench: synthetic COCO-train2017-sized instances", "version": "1.0"},
            "licenses": [{"url": "http://creativecommons.org/", "id": i, "name": f"license {i}"} for i in range(1, 9)],
            "images": images, "annotations": anns,
            "categories": [{"supercategory": "thing", "id": c, "name": f"class_{c}"} for c in CAT_IDS]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")))
    return {"images": n_images, "boxes": len(anns)}


def child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=118_287)
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two readers this many times, keep each best")
    ap.add_argument("--dir", type=Path, default=None, help="where the generated file is kept (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.dir or Path(tmp)
        path = work / f"coco-read-{args.images}" / "annotations" / "instances_train2017.json"
        if not path.exists():
            t = time.perf_counter()
            info = make_coco(path, args.images)
            print(f"generated {info['images']} images, {info['boxes']} boxes in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
        print(f"file: {path.stat().st_size / 2**20:.0f} MB", file=sys.stderr)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for mode in ("cvpipe", "pycocotools"):
                r = child(mode, path)
                if mode not in best or r["seconds"] < best[mode]["seconds"]:
                    best[mode] = r
    print(f"{'reader':12} {'images':>8} {'boxes':>8} {'seconds':>8} {'CPU s':>8} {'peak MB':>8} {'import MB':>9}")
    for mode in ("cvpipe", "pycocotools"):
        r = best[mode]
        print(f"{mode:12} {r['images']:8d} {r['boxes']:8d} {r['seconds']:8.2f} {r['cpu']:8.2f} {r['peak_mb']:8.0f} "
              f"{r['base_mb']:9.0f}")
    c, p = best["cvpipe"], best["pycocotools"]
    print(f"\ncvpipe {c['seconds']:.2f} s, {c['peak_mb']:.0f} MB; pycocotools {p['seconds']:.2f} s, {p['peak_mb']:.0f} MB: "
          f"cvpipe is {p['seconds'] / c['seconds']:.2f}x faster ({p['cpu'] / c['cpu']:.2f}x in CPU time) "
          f"with {c['peak_mb'] / p['peak_mb']:.2f}x the peak memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
