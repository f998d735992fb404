"""Benchmark: what ``cvpipe evaluate --analyse`` costs on top of plain ``cvpipe evaluate``.

The pair is bench_evaluate.py's synthetic COCO pair (deterministic for a seed; by default 2,000
images, 14,400 objects in 80 categories, 1% crowd, exactly 100 detections per image: jittered
copies of the objects, class confusions, duplicates and background boxes, so every TIDE error
kind occurs). Both runs are the whole command in this process, file reading included:

* plain:   ``cvpipe evaluate --gt GT --dt DT --json OUT``
* analyse: ``cvpipe evaluate --gt GT --dt DT --json OUT --analyse`` (TIDE's breakdown at IoU 0.5
  and averaged over 0.50:0.95, the F1-optimal thresholds);

each ``--repeat`` times, alternating, keeping the fastest of each. It prints both times (wall
clock, and this process' CPU time, which other users of a shared machine disturb less), the
ratios, the analysis' own share and the breakdown found. Usage::

    /work/venv/bin/python bench/bench_analyse.py [--images 2000] [--dets 100] [--repeat 3] [--seed 0]
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_evaluate import make_pair  # noqa: E402


def run(gt_file: Path, dt_file: Path, out: Path, analyse: bool) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of one ``cvpipe evaluate`` in this process."""
    from cvpipe.cli import main

    args = ["evaluate", "--gt", str(gt_file), "--dt", str(dt_file), "--json", str(out)] + (["--analyse"] if analyse else [])
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    took = (time.perf_counter() - t0, time.process_time() - c0)
    if code != 0:
        raise SystemExit(f"cvpipe {' '.join(args)} failed with exit code {code}")
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--boxes-per-image", type=float, default=7.2, help="objects per image on average (COCO: 7.2)")
    ap.add_argument("--dets", type=int, default=100, help="detections per image")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n_boxes = round(args.images * args.boxes_per_image)
        gt, dets = make_pair(args.images, n_boxes, args.dets, args.seed)
        gt_file, dt_file = folder / "gt.json", folder / "dt.json"
        gt_file.write_text(json.dumps(gt))
        dt_file.write_text(json.dumps(dets))
        del gt, dets
        print(f"pair: {args.images} images, {n_boxes} objects, {args.images * args.dets} detections (seed {args.seed})",
              file=sys.stderr)
        run(gt_file, dt_file, folder / "warm.json", True)  # imports and caches out of the timings
        plain, full = [], []
        for i in range(args.repeat):
            plain.append(run(gt_file, dt_file, folder / "plain.json", False))
            full.append(run(gt_file, dt_file, folder / "analyse.json", True))
            print(f"run {i + 1}: plain {plain[-1][0]:.2f} s (CPU {plain[-1][1]:.2f} s), "
                  f"--analyse {full[-1][0]:.2f} s (CPU {full[-1][1]:.2f} s)", file=sys.stderr)
        result = json.loads((folder / "analyse.json").read_text())

    t_plain, t_full = min(t for t, _ in plain), min(t for t, _ in full)
    c_plain, c_full = min(c for _, c in plain), min(c for _, c in full)
    tide = result["analysis"]["tide"]
    print("error breakdown (count, dAP): " + ", ".join(
        f"{k} {v['count']} {v['dAP']:.4f}" for k, v in tide["errors"].items()))
    print(f"AP50 {tide['AP']:.4f} (coco AP50 {result['coco']['AP50']:.4f}), "
          f"AP@[.5:.95] {tide['over_thresholds']['AP']:.4f} (coco AP {result['coco']['AP']:.4f})")
    print(f"cvpipe evaluate: {t_plain:.2f} s; with --analyse: {t_full:.2f} s; "
          f"ratio {t_full / t_plain:.2f}x (the analysis itself {t_full - t_plain:.2f} s; best of {args.repeat})")
    print(f"CPU time: {c_plain:.2f} s; with --analyse: {c_full:.2f} s; ratio {c_full / c_plain:.2f}x "
          f"(the analysis itself {c_full - c_plain:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
