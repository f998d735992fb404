"""Kill cvpipe at every file operation and check it recovers: the exhaustive fault-injection
sweep CI samples (tests/reliability, ``pytest -m slow`` runs the same sweeps as tests).

For each case, an uninterrupted run is traced (every write, rename, remove and mkdir under the
output), then for each operation N a fresh run is killed just before operation N and the
harness checks the result (see tests/reliability/harness.py):

* convert (voc->yolo, voc->coco, coco->voc, yolo->coco): DST is the old or the new output,
  the re-run gives the new one and leaves no temporary;
* train: ``cvpipe run`` of a tiny training pipeline, resumed: metrics.json, best.pt and
  last.pt equal an uninterrupted run's (only the train step's operations unless --all);
* predict / evaluate: whole detections folder, every file old or new.

Prints one row per case: kill points run, failures, how the killed runs were left (old/new
output for convert), seconds. Exit code 1 if any point failed.

Run:  python bench/fault_sweep.py [--case convert|train|predict|evaluate ...] [--signal KILL|TERM|INT]
      [--every K] [--all]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

PAIRS = [("voc", "yolo"), ("voc", "coco"), ("coco", "voc"), ("yolo", "coco")]


def _datasets(base: Path) -> dict[str, Path]:
    from cvpipe.formats import convert_dataset
    from cvpipe.synthetic import synthesize_voc

    out = {}
    for prefix, images, seed in (("", 6, 1), ("old-", 3, 2)):
        voc = base / f"{prefix}voc"
        synthesize_voc(voc, images=images, seed=seed, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
        out[f"{prefix}voc"] = voc
        for fmt in ("coco", "yolo"):
            convert_dataset(voc, base / f"{prefix}{fmt}", fmt, progress=False)
            out[f"{prefix}{fmt}"] = base / f"{prefix}{fmt}"
    return out


def _sweep(name: str, points: list[int], run_point, rows: list[list]) -> None:
    t0 = time.perf_counter()
    failures: list[str] = []
    left: Counter = Counter()
    for i in points:
        try:
            left[run_point(i) or "ok"] += 1
        except AssertionError as exc:
            failures.append(f"op {i}: {str(exc).splitlines()[0]}")
    rows.append([name, len(points), len(failures), ", ".join(f"{k} {v}" for k, v in sorted(left.items())),
                 f"{time.perf_counter() - t0:.1f}"])
    for f in failures:
        print(f"  FAIL {name}: {f}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", action="append", choices=["convert", "train", "predict", "evaluate"],
                    help="sweep only these cases (repeatable; default: all)")
    ap.add_argument("--signal", default="KILL", choices=["KILL", "TERM", "INT"])
    ap.add_argument("--every", type=int, default=1, help="run every K-th kill point only")
    ap.add_argument("--all", action="store_true", help="train: every operation of the run, not only the train step's")
    args = ap.parse_args(argv)
    cases = args.case or ["convert", "train", "predict", "evaluate"]
    sig = getattr(signal, "SIG" + args.signal)

    from cvpipe.console import format_table
    from reliability.harness import CommandCase, ConvertCase, Fault, TrainCase

    rows: list[list] = []
    with tempfile.TemporaryDirectory(prefix="cvpipe-fault-sweep-") as tmp:
        base = Path(tmp)
        if "convert" in cases:
            data = _datasets(base / "data")
            for src, to in PAIRS:
                case = ConvertCase(data[src], data[f"old-{src}"], to, base / f"convert-{src}-{to}").setup()
                _sweep(f"convert {src}->{to}", list(range(1, len(case.ops) + 1))[::args.every],
                       lambda i, c=case: c.point(i, sig), rows)
        trained = None
        if {"train", "predict", "evaluate"} & set(cases):
            trained = TrainCase(base / "train").setup(traced=True)
        if "train" in cases:
            points = list(range(1, len(trained.ops) + 1)) if args.all else trained.train_ops()
            _sweep("run (train, resume)", points[::args.every],
                   lambda i: trained.point(Fault("any", i, sig)) and None, rows)
        if "predict" in cases:
            out = base / "predict" / "out"
            cmd = ["predict", trained.ref / "train" / "best.pt", trained.ref / "data" / "JPEGImages", "--out", out,
                   "--draw", "--quiet", "--draw-threshold", "0.0"]
            case = CommandCase([*cmd, "--score-threshold", "0.01"], [*cmd, "--score-threshold", "0.2"], out,
                               cwd=out.parent, whole=["detections"]).setup()
            _sweep("predict", list(range(1, len(case.ops) + 1))[::args.every], lambda i: case.point(i, sig), rows)
        if "evaluate" in cases:
            from reliability.harness import rerun

            dets = {}
            for th in ("0.01", "0.3"):
                d = base / f"dets-{th}"
                rerun(["predict", trained.ref / "train" / "best.pt", trained.ref / "data" / "JPEGImages", "--out", d,
                       "--quiet", "--score-threshold", th], cwd=base)
                dets[th] = d / "detections" / "annotations" / "instances_default.json"
            out = base / "evaluate" / "out"
            cmd = ["evaluate", "--gt", trained.ref / "data", "--json", out / "metrics.json", "--plots", out / "plots", "-q"]
            case = CommandCase([*cmd, "--dt", dets["0.01"]], [*cmd, "--dt", dets["0.3"]], out, cwd=out.parent).setup()
            _sweep("evaluate", list(range(1, len(case.ops) + 1))[::args.every], lambda i: case.point(i, sig), rows)
    print(format_table(rows, ["case", "kill points", "failed", "left after the kill", "seconds"]))
    return 1 if any(r[2] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
