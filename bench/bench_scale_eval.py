"""Benchmark: COCO evaluation of N images x 100 detections, single process vs an executor.

The pair is generated in memory as cvpipe Datasets (seeded, deterministic; the distribution of
bench_evaluate.py: 80 categories, ~7.2 objects per image of all three size ranges, 1% crowd,
``area`` smaller than the box, exactly 100 detections per image: jittered true boxes, class
confusions, duplicates, background; scores with ties). Timed, each in a fresh process so that
peak memory (``ru_maxrss``) is the driver's own:

* ``single``: :func:`cvpipe.evaluation_coco.coco_eval`, the default faster-coco-eval engine
  (what ``cvpipe evaluate`` runs without ``--executor``);
* ``pycocotools``: the same with ``engine="pycocotools"`` (the reference; ``--pycocotools``,
  slow: off by default above 20k images);
* ``local`` / ``ray``: :func:`cvpipe.evaluation_sharded.coco_eval_sharded` on that executor
  (``--executor local --executor ray``; ray needs the cvpipe-ray plugin).

It prints the twelve numbers of each run, their largest difference from the first, the time
spent evaluating (generation excluded), the per-image matching cost and the driver's peak RSS.
Usage::

    python bench/bench_scale_eval.py [--images 100000] [--executor local] [--executor ray] [--shard 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def make_datasets(n_images: int, dets_per_image: int = 100, seed: int = 0):
    """``(gt, dt)`` Datasets: ground truth with ``box_extra`` ``area`` fields, detections with scores."""
    from cvpipe.data import Dataset, Sample

    rng = np.random.default_rng(seed)
    K = 80
    sizes = [(640, 480), (640, 427), (500, 375), (480, 640), (640, 640)]
    gts, dts = [], []
    for i in range(n_images):
        w_img, h_img = sizes[i % len(sizes)]
        img_id = 139 + 17 * i
        name = f"{img_id:012d}.jpg"
        n = int(rng.integers(4, 11))
        side = np.exp(rng.uniform(np.log(6), np.log(min(w_img, h_img) * 0.9), (n, 1)))
        aspect = np.exp(rng.uniform(-0.7, 0.7, (n, 1)))
        wh = np.c_[side * aspect, side / aspect].clip(2, [w_img - 1, h_img - 1])
        xy = rng.uniform(0, 1, (n, 2)) * ([w_img, h_img] - wh)
        g = np.round(np.c_[xy, wh], 2)
        gc = rng.integers(0, K, n)
        crowd = rng.random(n) < 0.01
        area = g[:, 2] * g[:, 3] * rng.uniform(0.55, 1.0, n)
        gts.append(Sample(name, w_img, h_img, boxes=np.c_[g[:, :2], g[:, :2] + g[:, 2:]], labels=gc, iscrowd=crowd,
                          box_extra=[{"area": float(a)} for a in area], id=img_id))
        copies = rng.integers(1, 4, n)
        src = np.repeat(np.arange(n), copies)[:dets_per_image]
        m = len(src)
        jit = rng.normal(0, 0.1, (m, 4)) * np.c_[g[src, 2:], g[src, 2:]]
        tb = g[src] + jit
        tb[:, 2:] = np.maximum(tb[:, 2:], 1.0)
        tc = np.where(rng.random(m) < 0.1, rng.integers(0, K, m), gc[src])
        ts = rng.uniform(0.3, 1.0, m)
        k = dets_per_image - m
        bwh = np.exp(rng.uniform(np.log(4), np.log(300), (k, 2)))
        bb = np.c_[rng.uniform(0, w_img - 4, (k, 2)) * [1, h_img / w_img], bwh]
        xywh = np.round(np.r_[tb, bb], 2)
        dts.append(Sample(name, w_img, h_img, boxes=np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]],
                          labels=np.r_[tc, rng.integers(0, K, k)],
                          scores=np.round(np.r_[ts, rng.uniform(0.0, 0.6, k)], 3), id=img_id))
    cats = [f"class_{c}" for c in range(K)]
    return Dataset(cats, gts), Dataset(cats, dts, meta={"detections": True})


def run_one(mode: str, n_images: int, shard: int, address: str | None) -> dict:
    """Generate, evaluate with ``mode``, report (this process: its peak RSS is the driver's)."""
    from cvpipe.builtin.coco import to_coco_dict

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    gt, dt = make_datasets(n_images)
    gen = time.perf_counter() - t0
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if mode in ("single", "pycocotools"):
        from cvpipe.evaluation_coco import coco_eval

        res = coco_eval(gt, dt, to_coco_dict=to_coco_dict, engine="faster" if mode == "single" else "pycocotools")
        startup = 0.0
    else:
        from cvpipe import evaluation_sharded
        from cvpipe.evaluation_sharded import coco_eval_sharded
        from cvpipe.execution import get_executor

        plain_accumulate = evaluation_sharded.accumulate

        def timed_accumulate(shards, *args, **kwargs):  # the driver's part, timed apart from the matching
            shards = list(shards)  # the matching (on the executor) ends here
            t = time.perf_counter()
            try:
                return plain_accumulate(shards, *args, **kwargs)
            finally:
                timings["accumulate_s"] = round(time.perf_counter() - t, 2)

        evaluation_sharded.accumulate = timed_accumulate
        ex = get_executor(mode, address)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            res = coco_eval_sharded(gt, dt, executor=ex, to_coco_dict=to_coco_dict, shard_images=shard)
        finally:
            ex.close()
    took = time.perf_counter() - t0
    return {"mode": mode, "images": n_images, "detections": dt.num_boxes, "objects": gt.num_boxes,
            "generate_s": round(gen, 1), "startup_s": round(startup, 1), "evaluate_s": round(took, 2),
            "per_image_ms": round(1000 * took / n_images, 3), "peak_rss_mb": round(resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024), "rss_after_data_mb": round(rss_data),
            **timings, "stats": [res[k] for k in KEYS]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--executor", action="append", default=[], help="local, ray, ... (repeatable)")
    ap.add_argument("--address", help="cluster address for the executors that take one")
    ap.add_argument("--shard", type=int, default=2000, help="images per matching task")
    ap.add_argument("--no-single", action="store_true", help="skip the single-process run")
    ap.add_argument("--pycocotools", action="store_true", help="also run the pycocotools engine (slow)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one mode in this process
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(run_one(a.one, a.images, a.shard, a.address)))
        return 0
    modes = ([] if a.no_single else ["single"]) + (["pycocotools"] if a.pycocotools else []) + (a.executor or ["local"])
    runs = []
    for mode in modes:
        cmd = [sys.executable, __file__, "--one", mode, "--images", str(a.images), "--shard", str(a.shard)]
        if a.address and mode not in ("single", "pycocotools"):
            cmd += ["--address", a.address]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        diff = float(np.max(np.abs(np.subtract(r["stats"], runs[0]["stats"]))))
        print(f"{mode:12s} {r['images']} images, {r['detections']} detections: evaluate {r['evaluate_s']} s "
              f"({r['per_image_ms']} ms/image, startup {r['startup_s']} s), driver peak RSS {r['peak_rss_mb']} MB "
              f"(after generating the data: {r['rss_after_data_mb']} MB); max |diff| vs {runs[0]['mode']}: {diff:.3g}"
              + (f"; of which accumulate on the driver {r['accumulate_s']} s" if "accumulate_s" in r else ""),
              flush=True)
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
