"""Benchmark: sliced prediction on large images with small objects -- APs against a whole-image
pass, and throughput of batched tiles against a one-tile-at-a-time loop.

    /work/venv/bin/python bench/bench_slice.py [--epochs 12] [--train-images 400] [--images 8] [--size 768] [--tile 128]
                                               [--batch 16] [--threads 2] [--json OUT] [--work DIR]

A compact detector (``image_size`` = ``--tile``) is trained with ``cvpipe run`` on generated
``--tile``-pixel images of 10-20 px shapes (cvpipe's synthetic data, --train-images), then run on
``--images`` generated ``--size``-pixel images holding 20-40 such shapes: whole (the image
resized to the model's input, shrinking the objects ``size/tile`` times) and sliced
(:func:`cvpipe.slicing.predict_sliced`: ``--tile`` tiles, overlap 0.2, plus the whole image,
merged by NMS). Both are evaluated with COCO AP / AP50 / APs and VOC07 mAP. Throughput:
the same sliced prediction with ``batch_size=--batch`` (tiles batched across images) and with
``batch_size=1`` (the one-tile-at-a-time loop SAHI runs), best of 3 interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

PIPELINE = """
name: small_objects
steps:
  - synthesize: {{path: "{data}", images: {train_images}, size: [{tile}, {tile}], object_size: [10, 20],
                 objects_per_image: [2, 6], seed: 0, skip_if_exists: true}}
  - read: {{name: read_train, format: voc, path: "{data}", splits: [train], output: train}}
  - read: {{name: read_val, format: voc, path: "{data}", splits: [val], output: val}}
  - train:
      dataset: train
      val: val
      model_params: {{image_size: {tile}, anchor_scale: 2.0}}
      epochs: {epochs}
      batch_size: 16
      workers: 0
      threads: {threads}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--train-images", type=int, default=400)
    ap.add_argument("--size", type=int, default=768)
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, help="keep the run and data here (reused when present)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from cvpipe.cli import main as cli
    from cvpipe.engine.predict import load_bundle, predict_dataset
    from cvpipe.evaluation import evaluate
    from cvpipe.formats import read_dataset
    from cvpipe.slicing import predict_sliced, tile_windows
    from cvpipe.synthetic import synthesize_voc

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-slice-"))
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    if not any(run.rglob("best.pt")) if run.exists() else True:
        (work / "p.yaml").write_text(PIPELINE.format(data=work / "train_data", tile=args.tile, epochs=args.epochs,
                                                     train_images=args.train_images,
                                                     threads=args.threads))
        t0 = time.perf_counter()
        assert cli(["run", str(work / "p.yaml"), "--out", str(run), "--quiet"]) == 0
        print(f"trained {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
    big = work / "big"
    if not big.exists():
        synthesize_voc(big, images=args.images, size=(args.size, args.size), object_size=(10, 20),
                       objects_per_image=(20, 40), seed=7, splits={"test": 1.0})
    gt = read_dataset(big, "voc")
    bundle = load_bundle(run)
    whole = predict_dataset(bundle, gt, batch_size=8)
    sliced = predict_sliced(bundle, gt, size=args.tile, overlap=0.2, merge="nms", batch_size=args.batch)
    res: dict = {"objects": gt.num_boxes, "images": len(gt)}
    print(f"{len(gt)} images {args.size}x{args.size}, {gt.num_boxes} objects of 10-20 px; model input {args.tile} px")
    print(f"{'':<10}{'AP':>8}{'AP50':>8}{'APs':>10}{'VOC07':>8}{'dets':>7}")
    for name, dt in (("whole", whole), ("sliced", sliced)):
        m = evaluate(gt, dt, ["coco", "voc07"])
        c = m["coco"]
        res[name] = {"AP": c["AP"], "AP50": c["AP50"], "APs": c["APs"], "voc07": m["voc07"]["mAP"],
                     "detections": dt.num_boxes}
        print(f"{name:<10}{c['AP']:>8.3f}{c['AP50']:>8.3f}{c['APs']:>10.3f}{m['voc07']['mAP']:>8.3f}{dt.num_boxes:>7}")

    tiles = sum(len(tile_windows(s.width, s.height, args.tile, 0.2)) + 1 for s in gt.samples)
    best = {"batched": float("inf"), "one_by_one": float("inf")}
    for _ in range(3):
        for key, bs in (("batched", args.batch), ("one_by_one", 1)):
            t0 = time.perf_counter()
            predict_sliced(bundle, gt, size=args.tile, overlap=0.2, merge="nms", batch_size=bs)
            best[key] = min(best[key], time.perf_counter() - t0)
    res["throughput"] = {k: len(gt) / v for k, v in best.items()}
    res["tiles"] = tiles
    res["ratio"] = best["one_by_one"] / best["batched"]
    print(f"throughput ({tiles} tiles incl. whole images): batched x{args.batch} {len(gt) / best['batched']:.2f} img/s "
          f"({tiles / best['batched']:.0f} tiles/s), one tile at a time {len(gt) / best['one_by_one']:.2f} img/s "
          f"-> {res['ratio']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
