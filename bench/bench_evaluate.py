"""Benchmark: ``cvpipe evaluate`` against pycocotools called directly, on a COCO-val2017-sized pair.

The pair is synthetic and deterministic (seeded): 5,000 images, 36,000 ground-truth boxes in
80 categories with COCO's non-contiguous ids (1% crowd, ``area`` fields smaller than the box as
for segmentation masks, all three size ranges) and exactly 100 detections per image (jittered
true boxes, class confusions, duplicates, background boxes; scores with ties). Both sides start
from the same two JSON files in the same process run:

* cvpipe: the ``cvpipe evaluate --gt GT --dt DT --json OUT`` command (read both files with
  cvpipe's COCO readers, evaluate with the default faster-coco-eval engine, write the JSON);
* reference: pycocotools' README recipe (``COCO(gt)``, ``loadRes(dt)``, ``COCOeval``
  evaluate/accumulate/summarize);
* for context, faster-coco-eval's own recipe on the same files (``--no-faster`` skips it).

It prints both sets of twelve numbers, their largest difference (must be <= 1e-12) and the
speed ratio. Usage::

    /work/venv/bin/python bench/bench_evaluate.py [--images 5000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: COCO's 80 category ids (1..90 with gaps), as in instances_val2017.json.
COCO_CATEGORY_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
                     28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
                     54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
                     81, 82, 84, 85, 86, 87, 88, 89, 90]

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def make_pair(n_images: int = 5000, n_boxes: int = 36000, dets_per_image: int = 100, seed: int = 0):
    """The ground-truth dict and the results list (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    cats = np.array(COCO_CATEGORY_IDS)
    sizes = [(640, 480), (640, 427), (500, 375), (480, 640), (640, 640)]
    counts = np.full(n_images, n_boxes // n_images)
    counts[rng.choice(n_images, n_boxes - counts.sum(), replace=False)] += 1
    images, anns, dets = [], [], []
    aid = 1
    for i in range(n_images):
        w_img, h_img = sizes[i % len(sizes)]
        img_id = 139 + 17 * i  # non-consecutive ids, as in COCO
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": w_img, "height": h_img})
        n = int(counts[i])
        side = np.exp(rng.uniform(np.log(6), np.log(min(w_img, h_img) * 0.9), (n, 1)))
        aspect = np.exp(rng.uniform(-0.7, 0.7, (n, 1)))
        wh = np.c_[side * aspect, side / aspect].clip(2, [w_img - 1, h_img - 1])
        xy = rng.uniform(0, 1, (n, 2)) * ([w_img, h_img] - wh)
        gt_boxes = np.round(np.c_[xy, wh], 2)
        gt_cats = cats[rng.integers(0, len(cats), n)]
        crowd = rng.random(n) < 0.01
        area = gt_boxes[:, 2] * gt_boxes[:, 3] * rng.uniform(0.55, 1.0, n)
        for b, c, cr, a in zip(gt_boxes.tolist(), gt_cats.tolist(), crowd.tolist(), area.tolist()):
            anns.append({"id": aid, "image_id": img_id, "category_id": c, "bbox": b, "area": a,
                         "iscrowd": int(cr), "segmentation": []})
            aid += 1
        # detections: 1-3 per object (jittered; some with the wrong class), the rest background
        copies = rng.integers(1, 4, n)
        src = np.repeat(np.arange(n), copies)[:dets_per_image]
        m = len(src)
        jit = rng.normal(0, 0.1, (m, 4)) * np.c_[gt_boxes[src, 2:], gt_boxes[src, 2:]]
        tb = gt_boxes[src] + jit
        tb[:, 2:] = np.maximum(tb[:, 2:], 1.0)
        tc = np.where(rng.random(m) < 0.1, cats[rng.integers(0, len(cats), m)], gt_cats[src])
        ts = rng.uniform(0.3, 1.0, m)
        k = dets_per_image - m
        bwh = np.exp(rng.uniform(np.log(4), np.log(300), (k, 2)))
        bb = np.c_[rng.uniform(0, w_img - 4, (k, 2)) * [1, h_img / w_img], bwh]
        bc = cats[rng.integers(0, len(cats), k)]
        bs = rng.uniform(0.0, 0.6, k)
        boxes = np.round(np.r_[tb, bb], 2).tolist()
        labels = np.r_[tc, bc].tolist()
        scores = np.round(np.r_[ts, bs], 3).tolist()
        dets.extend({"image_id": img_id, "category_id": c, "bbox": b, "score": s}
                    for b, c, s in zip(boxes, labels, scores))
    gt = {"info": {"description": "cvpipe bench: synthetic COCO-val2017-sized ground truth"},
          "images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in COCO_CATEGORY_IDS]}
    return gt, dets


def run_pycocotools(gt_file: Path, dt_file: Path) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        coco_dt = coco_gt.loadRes(str(dt_file))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def run_faster_coco_eval(gt_file: Path, dt_file: Path) -> np.ndarray:
    """faster-coco-eval called directly, its README recipe (for context: the engine's floor)."""
    from faster_coco_eval import COCO, COCOeval_faster

    def quiet(*args, **kwargs):
        return None

    coco_gt = COCO(str(gt_file), print_function=quiet)
    coco_dt = coco_gt.loadRes(str(dt_file))
    ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=quiet)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats[:12], dtype=np.float64)


def run_cvpipe(gt_file: Path, dt_file: Path, out: Path) -> np.ndarray:
    from cvpipe.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--json", str(out)])
    if code != 0:
        raise SystemExit(f"cvpipe evaluate failed with exit code {code}")
    coco = json.loads(out.read_text())["coco"]
    return np.array([coco[k] for k in KEYS], dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--boxes", type=int, default=36000)
    ap.add_argument("--dets", type=int, default=100, help="detections per image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="write the pair here and keep it (default: a temporary folder)")
    ap.add_argument("--no-faster", action="store_true", help="skip timing faster-coco-eval called directly")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        gt, dets = make_pair(args.images, args.boxes, args.dets, args.seed)
        gt_file, dt_file = folder / "instances_synthetic.json", folder / "detections_synthetic.json"
        gt_file.write_text(json.dumps(gt))
        dt_file.write_text(json.dumps(dets))
        del gt, dets
        print(f"pair: {args.images} images, {args.boxes} boxes, {args.dets * args.images} detections "
              f"(seed {args.seed}, generated in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)

        t0, c0 = time.perf_counter(), time.process_time()
        ours = run_cvpipe(gt_file, dt_file, folder / "metrics.json")
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        print(f"cvpipe evaluate: {t_ours:.2f} s (CPU {c_ours:.2f} s)", file=sys.stderr)
        t0, c0 = time.perf_counter(), time.process_time()
        ref = run_pycocotools(gt_file, dt_file)
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        print(f"pycocotools:     {t_ref:.2f} s (CPU {c_ref:.2f} s)", file=sys.stderr)
        t_fast = None
        if not args.no_faster:
            t0 = time.perf_counter()
            fast = run_faster_coco_eval(gt_file, dt_file)
            t_fast = time.perf_counter() - t0
            print(f"faster-coco-eval direct: {t_fast:.2f} s (max diff {np.max(np.abs(fast - ref)):.3g})", file=sys.stderr)

    diff = float(np.max(np.abs(ours - ref)))
    width = max(len(k) for k in KEYS)
    print(f"{'metric':<{width}}  {'cvpipe':>14}  {'pycocotools':>14}")
    for k, a, b in zip(KEYS, ours, ref):
        print(f"{k:<{width}}  {a:14.10f}  {b:14.10f}")
    print(f"\nlargest difference of the twelve numbers: {diff:.3g} (required <= 1e-12)")
    print(f"cvpipe evaluate {t_ours:.2f} s, pycocotools {t_ref:.2f} s: cvpipe is {t_ref / t_ours:.1f}x faster")
    print(f"(CPU time of this process: cvpipe {c_ours:.2f} s, pycocotools {c_ref:.2f} s: {c_ref / c_ours:.1f}x; "
          "wall time is what counts, CPU time says how much of it a loaded machine took away)")
    if t_fast is not None:
        print(f"(faster-coco-eval called directly on the same files: {t_fast:.2f} s, {t_ref / t_fast:.1f}x pycocotools)")
    return 0 if diff <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
