"""What the pipeline runner costs on top of the library calls its steps make.

In one process run, on a synthetic VOC dataset (``--images`` images, made once in a temporary
folder), times the median of ``--repeat`` runs of:

* direct: ``read_dataset(voc)`` -> ``check_dataset`` -> ``write_dataset(yolo, images="none")``,
  the calls the ``read``, ``validate`` and ``convert`` steps make;
* pipeline: the same three steps as a YAML pipeline through ``load_pipeline(...).run()``
  (YAML parsing with lines, validation of every step, run directory, ``pipeline.yaml``,
  ``run.log``, per-step JSON, ``results.json``, lifecycle hooks);

and prints both, their ratio and the runner's own time (a pipeline run's wall time minus the
time inside its steps) in milliseconds; then the time to load
and validate each shipped pipeline (``cvpipe run --dry-run`` without printing).

    python bench/bench_pipeline.py                 # 500 images, 5 repeats
    python bench/bench_pipeline.py --images 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

PIPELINE = """
name: bench
vars: {voc: null, out: null}
steps:
  - read: {format: voc, path: "${vars.voc}", output: voc}
  - validate: {dataset: voc}
  - convert: {dataset: voc, format: yolo, path: "${vars.out}", images: none}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("CVPIPE_LOAD_PLUGINS", "")  # built-ins only: no third-party loggers

    from collections import Counter

    from cvpipe.formats import check_dataset, read_dataset, write_dataset
    from cvpipe.pipeline import load_pipeline
    from cvpipe.plugins import get_registry
    from cvpipe.synthetic import synthesize_voc

    get_registry()  # plugin loading is paid once per process either way
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        voc = tmp / "VOC"
        synthesize_voc(voc, images=args.images, seed=0)
        yaml_file = tmp / "bench.yaml"
        yaml_file.write_text(PIPELINE)

        def direct(k: int) -> None:
            ds = read_dataset(voc, "voc")
            problems: list = []
            valid = check_dataset(ds, problems, skipped=Counter())
            assert not problems
            write_dataset(valid, tmp / f"direct{k}", "yolo", images="none")

        own: list[float] = []  # the runner's own time: total minus the steps' time

        def pipeline(k: int) -> None:
            t = time.perf_counter()
            pipe = load_pipeline(yaml_file, [f"vars.voc={voc}", f"vars.out={tmp / f'pipe{k}'}"])
            res = pipe.run(out=tmp / f"run{k}", quiet=True)
            assert res["status"] == "ok"
            own.append(time.perf_counter() - t - sum(s["seconds"] for s in res["steps"].values()))

        times: dict[str, list[float]] = {"direct": [], "pipeline": []}
        for k in range(args.repeat + 1):  # first round warms caches, not counted
            order = (("direct", direct), ("pipeline", pipeline))
            for name, fn in order if k % 2 else order[::-1]:  # alternate who goes first
                t = time.perf_counter()
                fn(k)
                if k:
                    times[name].append(time.perf_counter() - t)
        d, p = statistics.median(times["direct"]), statistics.median(times["pipeline"])
        print(f"read + validate + convert VOC -> YOLO, {args.images} images, median of {args.repeat}:")
        print(f"  direct library calls  {d:8.3f} s")
        print(f"  cvpipe pipeline       {p:8.3f} s   ratio {p / d:.3f}")
        print(f"  runner's own time (load, validate, run dir, JSON, hooks): "
              f"{1000 * statistics.median(own[1:]):.1f} ms per run (median)")

        root = Path(__file__).resolve().parents[1] / "pipelines"
        print("load + validate shipped pipelines (median of 20):")
        for f in sorted(root.glob("*.yaml")):
            load_pipeline(f)
            runs = []
            for _ in range(20):
                t = time.perf_counter()
                load_pipeline(f)
                runs.append(time.perf_counter() - t)
            print(f"  {f.name:24s} {1000 * statistics.median(runs):7.1f} ms")


if __name__ == "__main__":
    main()
