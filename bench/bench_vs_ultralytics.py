"""cvpipe against Ultralytics YOLOv8n: same data, image size, batch and epochs, both from scratch.

For each schedule the bench writes the synthetic set's hard preset (``difficulty: hard``, shapes on
the 100 VOC photos of the fixtures when present, else on gradients, said in the output), exports
it as a YOLO dataset for Ultralytics with ``cvpipe convert --to yolo`` and the validation split as
COCO ground truth with ``cvpipe convert --to coco``, then trains, one after the other:

* cvpipe: ``cvpipe run pipelines/voc_detect_hard.yaml`` (the compact detector, or ``--model``)
  on the VOC folder; validation once, after the last epoch;
* Ultralytics: ``YOLO("yolov8n.yaml").train(...)`` (built from the model YAML, random init,
  ``pretrained=False``), its CPU defaults otherwise (mosaic, its optimiser choice, loading in the
  training process on CPU), ``val=False`` (it still validates after the last epoch),
  ``plots=False``, ``YOLO_OFFLINE=1``.

Each tool's final weights predict the validation images (score >= 0.001, NMS IoU 0.6, at most 100
per image), written as COCO results JSON, and both files are scored twice: by ``cvpipe evaluate``
and by pycocotools called directly. Printed per tool: AP, AP50, APs, the training wall time (the
whole train call, set-up and final validation included), seconds per epoch (training only:
cvpipe's ``metrics.jsonl``, Ultralytics' epoch-start/epoch-end callbacks), training images/s and
prediction images/s, with the load average before and after.

Setup (Ultralytics is AGPL-3.0: it is installed only in the bench's own environment, never a
dependency of cvpipe, and the bench only calls it, in a child process)::

    python3 -m venv /work/venv-ultra
    echo "import site; site.addsitedir('/work/venv/lib/python3.11/site-packages')" \\
        > /work/venv-ultra/lib/python3.11/site-packages/base.pth      # torch etc. from cvpipe's venv
    /work/venv-ultra/bin/pip install --no-deps ultralytics
    /work/venv-ultra/bin/pip install polars psutil ultralytics-thop requests
    # (--no-deps: opencv-python-headless from the base venv serves as opencv-python)

The child runs with ``YOLO_OFFLINE=1`` and ``YOLO_CONFIG_DIR`` in the bench's work folder, where
a local font (DejaVu Sans, when the system has it) is placed as ``Arial.ttf``, so nothing is
downloaded: no weights (the model is built from ``yolov8n.yaml``), no fonts, no assets.

    python bench/bench_vs_ultralytics.py        # the issue's schedules: 10 epochs at 320 px on 800/200
                                                # images, 100 epochs at 160 px on 200/50 (hours on CPU)
    python bench/bench_vs_ultralytics.py --short 10,320,160,40 --long 30,160,96,32   # reduced
    python bench/bench_vs_ultralytics.py --schedules short --short 1,320,32,16        # a smoke run

A schedule is ``EPOCHS,IMGSZ,TRAIN_IMAGES,VAL_IMAGES``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "fixtures" / "review-odm" / "data" / "database" / "images"
ULTRA_PYTHON = Path("/work/venv-ultra/bin/python")
SCORE, NMS_IOU, MAX_DET = 0.001, 0.6, 100  # the same post-processing for both tools


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    """``cmd`` run to the end; its output shown and the bench stopped when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return proc


def cvpipe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cvpipe", *args]


# ---- data ---------------------------------------------------------------------------------------

def make_data(work: Path, n_train: int, n_val: int, seed: int, backgrounds: Path | None) -> dict[str, Path]:
    """The hard set as VOC, its YOLO export and the validation split's COCO ground truth (image
    ids renumbered 1..n by file name, so pycocotools gets integers)."""
    from cvpipe.synthetic import SHAPES, synthesize_voc

    voc = work / "voc"
    synthesize_voc(voc, images=n_train + n_val, difficulty="hard", backgrounds=backgrounds, seed=seed,
                   splits={"train": n_train, "val": n_val})
    classes = work / "classes.txt"
    classes.write_text("".join(f"{c}\n" for c in SHAPES))
    run(cvpipe_cmd("convert", str(voc), str(work / "yolo"), "--to", "yolo", "--classes", str(classes),
                   "--images", "link", "-q"))
    run(cvpipe_cmd("convert", str(voc), str(work / "valcoco"), "--to", "coco", "--split", "val", "--classes",
                   str(classes), "--images", "none", "-q"))
    coco = json.loads(next((work / "valcoco").rglob("*.json")).read_text())
    new_id = {img["id"]: i + 1 for i, img in enumerate(sorted(coco["images"], key=lambda im: im["file_name"]))}
    for img in coco["images"]:
        img["id"] = new_id[img["id"]]
    for ann in coco["annotations"]:
        ann["image_id"] = new_id[ann["image_id"]]
    gt = work / "gt_val.json"
    gt.write_text(json.dumps(coco))
    return {"voc": voc, "yolo": work / "yolo" / "data.yaml", "gt": gt,
            "val_images": voc / "JPEGImages"}


def gt_index(gt: Path) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """File stem -> image id, class name -> category id, and the validation file names."""
    coco = json.loads(gt.read_text())
    return ({Path(im["file_name"]).stem: im["id"] for im in coco["images"]},
            {c["name"]: c["id"] for c in coco["categories"]},
            [im["file_name"] for im in coco["images"]])


def results_json(rows: list[tuple[str, str, list[float], float]], gt: Path, out: Path) -> Path:
    """``(stem, class name, xyxy, score)`` rows as COCO results (xywh) against ``gt``'s ids."""
    images, cats, _ = gt_index(gt)
    out.write_text(json.dumps([{"image_id": images[stem], "category_id": cats[name],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}
                               for stem, name, (x1, y1, x2, y2), score in rows]))
    return out


# ---- the two tools ------------------------------------------------------------------------------

def train_cvpipe(data: dict[str, Path], work: Path, *, epochs: int, imgsz: int, batch: int, workers: int,
                 model: str) -> dict[str, Any]:
    out = work / "cvpipe-run"
    cmd = cvpipe_cmd("run", str(ROOT / "pipelines" / "voc_detect_hard.yaml"), "--out", str(out), "-q",
                     "--set", f"vars.voc_root={data['voc']}", "--set", f"vars.epochs={epochs}",
                     "--set", f"vars.image_size={imgsz}", "--set", f"vars.batch_size={batch}",
                     "--set", f"vars.workers={workers}")
    if model != "compact":
        cmd += ["--set", f"train.model={model}", "--set",
                f"train.model_params={{image_size: {imgsz}, score_thresh: {SCORE}, nms_iou: {NMS_IOU}}}"]
    t0 = time.perf_counter()
    run(cmd)
    wall = time.perf_counter() - t0
    steps = json.loads((out / "results.json").read_text())["steps"]
    from cvpipe.engine.distributed import cpu_threads  # the train step's rule: the cores its loaders leave
    rows = [json.loads(line) for line in (out / "train" / "metrics.jsonl").read_text().splitlines() if line]
    return {"tool": f"cvpipe {model}", "train_wall": steps["train"]["seconds"], "process_wall": wall,
            "epoch_seconds": [r["seconds"] for r in rows], "weights": out / "train" / "best.pt",
            "pipeline_metrics": json.loads((out / "metrics.json").read_text())["coco"], "threads": cpu_threads(workers)}


def predict_cvpipe(weights: Path, data: dict[str, Path], work: Path) -> tuple[Path, float]:
    import torch

    from cvpipe.engine.distributed import cpu_threads
    from cvpipe.engine.predict import load_bundle, predict_dataset
    from cvpipe.formats import read_dataset

    torch.set_num_threads(cpu_threads(1))
    bundle = load_bundle(weights, device="cpu")
    val = read_dataset(data["voc"], "voc", splits=["val"])
    t0 = time.perf_counter()
    dets = predict_dataset(bundle, val, device="cpu")
    seconds = time.perf_counter() - t0
    rows = []
    for s in dets.samples:
        order = (-s.scores).argsort(kind="stable")[:MAX_DET]
        rows += [(Path(s.image).stem, dets.categories[int(s.labels[i])], [float(v) for v in s.boxes[i]],
                  float(s.scores[i])) for i in order if s.scores[i] >= SCORE]
    return results_json(rows, data["gt"], work / "cvpipe_results.json"), len(val) / seconds


def train_ultralytics(data: dict[str, Path], work: Path, *, epochs: int, imgsz: int, batch: int, workers: int,
                      python: Path, device: str) -> dict[str, Any]:
    cfg = work / "ultralytics-config"
    (cfg / "Ultralytics").mkdir(parents=True, exist_ok=True)
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if font.is_file():  # a local font under the names Ultralytics would otherwise download
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            shutil.copyfile(font, cfg / "Ultralytics" / name)
    spec = {"data": str(data["yolo"]), "epochs": epochs, "imgsz": imgsz, "batch": batch, "workers": workers,
            "project": str(work / "ultralytics-runs"), "device": device, "val_images": str(data["val_images"]),
            "val_files": gt_index(data["gt"])[2], "out": str(work / "ultralytics_child.json")}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(cfg), YOLO_VERBOSE="False")
    t0 = time.perf_counter()
    run([str(python), __file__, "--ultralytics-child", json.dumps(spec)], env=env, cwd=work)
    wall = time.perf_counter() - t0
    child = json.loads(Path(spec["out"]).read_text())
    res = results_json([tuple(r) for r in child["rows"]], data["gt"], work / "ultralytics_results.json")
    return {"tool": f"Ultralytics {child['version']} yolov8n", "train_wall": child["train_wall"],
            "process_wall": wall, "epoch_seconds": child["epoch_seconds"], "results": res,
            "predict_img_s": child["predict_img_s"], "threads": child["threads"]}


def ultralytics_child(spec: dict[str, Any]) -> int:
    """In the bench's Ultralytics environment: train yolov8n from its YAML, predict, report."""
    import torch
    import ultralytics
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")  # built from the packaged model YAML: random init, nothing downloaded
    marks: list[float] = []
    model.add_callback("on_train_epoch_start", lambda trainer: marks.append(time.perf_counter()))
    model.add_callback("on_train_epoch_end", lambda trainer: marks.append(time.perf_counter()))
    t0 = time.perf_counter()
    model.train(data=spec["data"], epochs=spec["epochs"], imgsz=spec["imgsz"], batch=spec["batch"],
                workers=spec["workers"], device=spec["device"], project=spec["project"], name="yolov8n",
                exist_ok=True, pretrained=False, val=False, plots=False, seed=0, deterministic=True,
                verbose=False, amp=spec["device"] != "cpu")
    train_wall = time.perf_counter() - t0
    last = Path(spec["project"]) / "yolov8n" / "weights" / "last.pt"
    trained = YOLO(str(last))
    files = [str(Path(spec["val_images"]) / name) for name in spec["val_files"]]
    names = trained.names
    rows = []
    t0 = time.perf_counter()
    for r in trained.predict(source=files, imgsz=spec["imgsz"], conf=SCORE, iou=NMS_IOU, max_det=MAX_DET,
                             device=spec["device"], stream=True, verbose=False):
        xyxy = r.boxes.xyxy.cpu().numpy().tolist()
        rows += [(Path(r.path).stem, names[int(c)], b, float(s))
                 for b, c, s in zip(xyxy, r.boxes.cls.cpu().numpy(), r.boxes.conf.cpu().numpy())]
    predict_s = time.perf_counter() - t0
    Path(spec["out"]).write_text(json.dumps({
        "version": ultralytics.__version__, "train_wall": train_wall, "threads": torch.get_num_threads(),
        "epoch_seconds": [b - a for a, b in zip(marks[::2], marks[1::2])], "rows": rows,
        "predict_img_s": len(files) / predict_s}))
    return 0


# ---- scoring ------------------------------------------------------------------------------------

def score_cvpipe(gt: Path, results: Path, out: Path) -> dict[str, float]:
    run(cvpipe_cmd("evaluate", "--gt", str(gt), "--dt", str(results), "--json", str(out), "-q"))
    return json.loads(out.read_text())["coco"]


def score_pycocotools(gt: Path, results: Path) -> dict[str, float]:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        dets = json.loads(results.read_text())
        coco_dt = coco_gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    return dict(zip(names, map(float, ev.stats)))


def schedule(text: str) -> tuple[int, int, int, int]:
    try:
        epochs, imgsz, n_train, n_val = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected EPOCHS,IMGSZ,TRAIN_IMAGES,VAL_IMAGES, got {text!r}")
    return epochs, imgsz, n_train, n_val


def bench_schedule(label: str, sched: tuple[int, int, int, int], args: argparse.Namespace, work: Path) -> dict:
    epochs, imgsz, n_train, n_val = sched
    work.mkdir(parents=True, exist_ok=True)
    backgrounds = None if args.no_photos or not PHOTOS.is_dir() else PHOTOS
    print(f"\n== {label}: {epochs} epochs at {imgsz} px, batch {args.batch}, {n_train} train / {n_val} val images "
          f"(hard preset on {'the 100 VOC photos' if backgrounds else 'gradients: the VOC photos are absent'}) ==",
          flush=True)
    data = make_data(work, n_train, n_val, args.seed, backgrounds)
    loads = [load()]
    tools = []
    order = ["cvpipe", "ultralytics"] if not args.ultralytics_first else ["ultralytics", "cvpipe"]
    for tool in order:
        print(f"  training {tool} (load {load()}) ...", flush=True)
        if tool == "cvpipe":
            r = train_cvpipe(data, work, epochs=epochs, imgsz=imgsz, batch=args.batch, workers=args.workers,
                             model=args.model)
            r["results"], r["predict_img_s"] = predict_cvpipe(r.pop("weights"), data, work)
        else:
            r = train_ultralytics(data, work, epochs=epochs, imgsz=imgsz, batch=args.batch, workers=args.workers,
                                  python=args.ultralytics_python, device=args.device)
        loads.append(load())
        r["cvpipe_evaluate"] = score_cvpipe(data["gt"], r["results"], work / f"{tool}_metrics.json")
        r["pycocotools"] = score_pycocotools(data["gt"], r["results"])
        r["max_diff"] = max(abs(r["cvpipe_evaluate"][k] - r["pycocotools"][k]) for k in r["pycocotools"])
        r["train_img_s"] = n_train * len(r["epoch_seconds"]) / sum(r["epoch_seconds"])
        r["results"] = str(r["results"])
        tools.append(r)
    print(f"  load average (1/5/15 min) before and after each tool: {' | '.join(loads)}")
    head = (f"  {'tool':<34} {'AP':>6} {'AP50':>6} {'APs':>6}  {'pycocotools AP/AP50/APs':>24} {'train wall':>10} "
            f"{'s/epoch':>8} {'train img/s':>11} {'pred img/s':>10} {'threads':>7}")
    print(head)
    for r in tools:
        c, p = r["cvpipe_evaluate"], r["pycocotools"]
        print(f"  {r['tool']:<34} {c['AP']:6.3f} {c['AP50']:6.3f} {c['APs']:6.3f}  "
              f"{p['AP']:7.3f} {p['AP50']:7.3f} {p['APs']:7.3f}  {r['train_wall'] / 60:8.1f} m "
              f"{statistics.median(r['epoch_seconds']):8.1f} {r['train_img_s']:11.2f} {r['predict_img_s']:10.2f} {r.get('threads', '?'):>7}")
    ours, theirs = tools if order[0] == "cvpipe" else tools[::-1]
    ratio = ours["cvpipe_evaluate"]["AP"] / theirs["cvpipe_evaluate"]["AP"] if theirs["cvpipe_evaluate"]["AP"] else None
    epoch_ratio = statistics.median(ours["epoch_seconds"]) / statistics.median(theirs["epoch_seconds"])
    shown = f"{ratio:.2f}x" if ratio is not None else "undefined (Ultralytics AP 0)"
    print(f"  AP ratio cvpipe/Ultralytics {shown} (goal >= 1.1x); time per epoch ratio {epoch_ratio:.2f} "
          f"(goal <= 1); cvpipe evaluate = pycocotools to {max(r['max_diff'] for r in tools):.1e}")
    return {"schedule": label, "epochs": epochs, "imgsz": imgsz, "batch": args.batch, "train_images": n_train,
            "val_images": n_val, "photos": backgrounds is not None, "loads": loads, "tools": tools,
            "ap_ratio": ratio, "epoch_time_ratio": epoch_ratio}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schedules", default="short,long", help="which schedules to run: short, long or both")
    ap.add_argument("--short", type=schedule, default=(10, 320, 800, 200), metavar="E,S,TRAIN,VAL")
    ap.add_argument("--long", type=schedule, default=(100, 160, 200, 50), metavar="E,S,TRAIN,VAL")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1, help="loader workers asked of both tools (Ultralytics "
                    "loads in the training process on CPU whatever is asked)")
    ap.add_argument("--model", default="compact", help="cvpipe's model (compact, cvdet-n, ...)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--no-photos", action="store_true", help="gradient backgrounds even when the photos exist")
    ap.add_argument("--ultralytics-first", action="store_true", help="train Ultralytics before cvpipe")
    ap.add_argument("--ultralytics-python", type=Path, default=ULTRA_PYTHON,
                    help="the interpreter of the bench's Ultralytics environment")
    ap.add_argument("--work", type=Path, help="keep the data and runs here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--ultralytics-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ultralytics_child:
        return ultralytics_child(json.loads(args.ultralytics_child))
    if not args.ultralytics_python.is_file():
        raise SystemExit(f"no Ultralytics environment at {args.ultralytics_python}: see the setup in "
                         f"this script's docstring, or give --ultralytics-python")
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    wanted = [s.strip() for s in args.schedules.split(",") if s.strip()]
    print(f"bench_vs_ultralytics: device {args.device}, load average {load()}, cvpipe model {args.model}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-vs-ultra-") as tmp:
        base = args.work or Path(tmp)
        figures = [bench_schedule(name, getattr(args, name), args, base / name) for name in wanted]
    total = time.perf_counter() - t0
    print(f"\ntotal bench time {total / 60:.1f} min, load average at the end {load()}")
    if args.json:
        args.json.write_text(json.dumps({"device": args.device, "model": args.model, "total_seconds": total,
                                         "schedules": figures}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
