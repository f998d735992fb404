"""Benchmark: cvpipe's NMS postprocessor against raw torchvision.ops.batched_nms, plus Soft-NMS
and weighted boxes fusion throughput (against ensemble-boxes when it is installed).

    /work/venv/bin/python bench/bench_nms.py [--repeat 30] [--threads 1] [--json OUT]

Inputs (fixed seed): 10,000 random boxes in a 640x640 image with labels from 80 classes, and
300 boxes of 1 class. The NMS postprocessor is built from the registry exactly as a pipeline
builds it (``nms`` with ``iou: 0.5``) and called on one image's detections dict; its overhead is
the ratio of its median time to ``batched_nms``'s (runs interleaved, so machine load hits both).
WBF treats the boxes as the outputs of 3 models (a third each), normalised to [0, 1] for
ensemble-boxes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import torch
import torchvision.ops as tvops

from cvpipe import ops
from cvpipe.plugins import get_registry

CASES = [("10,000 boxes x 80 classes", 10_000, 80), ("300 boxes x 1 class", 300, 1)]


def make_case(n: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 600
    wh = torch.rand(n, 2, generator=g) * 120 + 4
    boxes = torch.cat([xy, (xy + wh).clamp(max=640)], dim=1)
    return boxes, torch.rand(n, generator=g), torch.randint(0, classes, (n,), generator=g)


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _ratio_table(results: list[dict[str, Any]], case_title: str, title: str, op: str) -> None:
    """Print cvpipe's ``cvpipe_<op>_ms`` against ensemble-boxes' ``ensemble_boxes_<op>_ms`` per case."""
    print(f"{case_title:<28}{title:>16}{'ensemble-boxes':>16}{'ratio':>8}{'boxes/s cvpipe':>16}")
    for r in results:
        ms, ref = r[f"cvpipe_{op}_ms"], r.get(f"ensemble_boxes_{op}_ms")
        print(f"{r['case']:<28}{ms:>14.2f}ms"
              + (f"{ref:>14.2f}ms{ref / ms:>7.1f}x" if ref else f"{'-':>16}{'-':>8}")
              + f"{r['boxes'] / ms * 1e3:>16,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable figures)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import ensemble_boxes as eb
    except ImportError:
        eb = None

    nms_pp = get_registry().postprocessors.create("nms", {"iou": 0.5}, where="postprocess[0].nms")
    soft_pp = get_registry().postprocessors.create("soft_nms", {"method": "gaussian", "sigma": 0.5,
                                                                "score_threshold": 0.001})
    results: list[dict[str, Any]] = []
    print(f"torch {torch.__version__}, threads={args.threads}, repeat={args.repeat} (median times)\n")
    for title, n, classes in CASES:
        boxes, scores, labels = make_case(n, classes)
        dets = [{"boxes": boxes, "scores": scores, "labels": labels}]
        # the plugin must agree with the reference before its speed means anything
        ref_keep = tvops.batched_nms(boxes, scores, labels, 0.5)
        assert torch.equal(nms_pp(dets)[0]["boxes"], boxes[ref_keep])

        def by_hand():  # what a caller of batched_nms does to get detections back
            keep = tvops.batched_nms(boxes, scores, labels, 0.5)
            return boxes[keep], scores[keep], labels[keep]

        t = interleaved({
            "batched_nms": lambda: tvops.batched_nms(boxes, scores, labels, 0.5),
            "by_hand": by_hand,
            "plugin": lambda: nms_pp(dets),
            "ops.nms": lambda: ops.nms(boxes, scores, labels, iou=0.5),
        }, args.repeat)
        row: dict[str, Any] = {
            "case": title, "boxes": n, "classes": classes, "kept_by_nms": len(ref_keep),
            "torchvision_batched_nms_ms": t["batched_nms"] * 1e3,
            "cvpipe_nms_plugin_ms": t["plugin"] * 1e3,
            "cvpipe_ops_nms_ms": t["ops.nms"] * 1e3,
            "plugin_overhead_pct": (t["plugin"] / t["batched_nms"] - 1) * 100,
        }

        row["torchvision_nms_and_gather_ms"] = t["by_hand"] * 1e3
        row["plugin_overhead_vs_gather_pct"] = (row["cvpipe_nms_plugin_ms"] / row["torchvision_nms_and_gather_ms"] - 1) * 100

        soft_repeat = max(3, args.repeat // 5)
        norm = (boxes / 640).double()
        thirds = [slice(i * n // 3, (i + 1) * n // 3) for i in range(3)]
        bl = [norm[s] for s in thirds]
        sl = [scores[s].double() for s in thirds]
        ll = [labels[s] for s in thirds]
        soft = {"cvpipe": lambda: soft_pp(dets)}
        fuse = {"cvpipe": lambda: ops.weighted_boxes_fusion(bl, sl, ll, iou=0.55)}
        if eb is not None:
            bn, sn, ln = [norm.numpy()], [scores.double().numpy()], [labels.numpy()]
            soft["ref"] = lambda: eb.soft_nms(bn, sn, ln, iou_thr=0.3, sigma=0.5, thresh=0.001)
            bln, sln, lln = [b.numpy() for b in bl], [s.numpy() for s in sl], [x.numpy() for x in ll]
            fuse["ref"] = lambda: eb.weighted_boxes_fusion(bln, sln, lln, iou_thr=0.55)
        ts, tf = interleaved(soft, soft_repeat), interleaved(fuse, soft_repeat)
        row["cvpipe_soft_nms_ms"] = ts["cvpipe"] * 1e3
        row["cvpipe_wbf_ms"] = tf["cvpipe"] * 1e3
        if eb is not None:
            row["ensemble_boxes_soft_nms_ms"] = ts["ref"] * 1e3
            row["ensemble_boxes_wbf_ms"] = tf["ref"] * 1e3
        results.append(row)

    print(f"{'case':<28}{'batched_nms':>13}{'nms plugin':>12}{'overhead':>10}{'ops.nms':>10}"
          f"{'nms+gather':>12}{'overhead':>10}")
    for r in results:
        print(f"{r['case']:<28}{r['torchvision_batched_nms_ms']:>11.3f}ms{r['cvpipe_nms_plugin_ms']:>10.3f}ms"
              f"{r['plugin_overhead_pct']:>+9.1f}%{r['cvpipe_ops_nms_ms']:>8.3f}ms"
              f"{r['torchvision_nms_and_gather_ms']:>10.3f}ms{r['plugin_overhead_vs_gather_pct']:>+9.1f}%")
    print()
    _ratio_table(results, "case", "Soft-NMS cvpipe", "soft_nms")
    print()
    _ratio_table(results, "case (3 models)", "WBF cvpipe", "wbf")
    print("\nratio = ensemble-boxes time / cvpipe time (>1: cvpipe faster); overhead = plugin / batched_nms - 1;"
          "\nnms+gather = batched_nms plus indexing boxes/scores/labels with its result (the plugin returns detections)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
