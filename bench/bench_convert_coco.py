"""COCO -> YOLO on a COCO-val2017-sized instances JSON: cvpipe next to a plain reference.

Generates (deterministically, no download) an instances JSON shaped like val2017: 5,000 images,
36,000 boxes, 80 categories with COCO's non-contiguous ids (1..90), polygon segmentations of
realistic length and a few crowd RLEs. Then times, in this one run, each as its own process
(start-up included, as a user runs it):

* ``reference``: a plain ``json`` + dict-of-lists converter (load, group annotations per image,
  write one normalised ``cls cx cy w h`` txt per image, as common tutorials do);
* ``cvpipe``: ``cvpipe convert SRC DST --from coco --to yolo --images none --quiet``;

and the same two in this process (``reference()`` against :func:`cvpipe.formats.convert_dataset`,
start-up excluded), and prints the times and the ratios (reference / cvpipe; higher is better,
target >= 2).
Both outputs are compared line by line afterwards (same labels, boxes to 1e-6).

    python bench/bench_convert_coco.py [--images 5000] [--boxes 36000] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = r'''
import json, os, sys
from collections import defaultdict


def reference(src, dst):
  with open(src) as fh:
    data = json.load(fh)
  cats = sorted(c["id"] for c in data["categories"])
  cls = {cid: i for i, cid in enumerate(cats)}
  images = {im["id"]: im for im in data["images"]}
  anns = defaultdict(list)
  for a in data["annotations"]:
    anns[a["image_id"]].append(a)
  out = os.path.join(dst, "labels")
  os.makedirs(out, exist_ok=True)
  for iid, im in images.items():
    w, h = im["width"], im["height"]
    lines = []
    for a in anns.get(iid, []):
      if a.get("iscrowd", 0):
        continue
      x, y, bw, bh = a["bbox"]
      lines.append(f"{cls[a['category_id']]} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
    stem = os.path.splitext(os.path.basename(im["file_name"]))[0]
    with open(os.path.join(out, stem + ".txt"), "w") as fh:
      fh.write("\n".join(lines) + ("\n" if lines else ""))


if __name__ == "__main__":
  reference(sys.argv[1], sys.argv[2])
'''

COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def make_coco(path: Path, n_images: int, n_boxes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    images, annotations = [], []
    per = [n_boxes // n_images] * n_images
    for i in range(n_boxes - sum(per)):
        per[i] += 1
    rng.shuffle(per)
    aid = 1
    for i, k in enumerate(per):
        w, h = rng.choice([(640, 480), (480, 640), (640, 427), (500, 375), (640, 640)])
        iid = 100000 + i * 7
        images.append({"license": rng.randint(1, 8), "file_name": f"{iid:012d}.jpg", "coco_url": f"http://example/{iid}.jpg",
                       "height": h, "width": w, "date_captured": "2013-11-14 17:02:52", "flickr_url": "", "id": iid})
        for _ in range(k):
            bw, bh = round(rng.uniform(4, w / 2), 2), round(rng.uniform(4, h / 2), 2)
            x, y = round(rng.uniform(0, w - bw), 2), round(rng.uniform(0, h - bh), 2)
            crowd = rng.random() < 0.01
            if crowd:
                seg = {"counts": [rng.randint(0, 500) for _ in range(60)], "size": [h, w]}
            else:
                npts = rng.randint(8, 40)
                seg = [[round(v, 2) for _ in range(npts) for v in (rng.uniform(x, x + bw), rng.uniform(y, y + bh))]]
            annotations.append({"segmentation": seg, "area": round(bw * bh * 0.6, 4), "iscrowd": int(crowd),
                                "image_id": iid, "bbox": [x, y, bw, bh], "category_id": rng.choice(COCO_IDS), "id": aid})
            aid += 1
    categories = [{"supercategory": "thing", "id": cid, "name": f"class{cid}"} for cid in COCO_IDS]
    data = {"info": {"description": "synthetic val2017-sized"}, "licenses": [], "images": images,
            "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(data))


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, of the child) of running ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def read_labels(folder: Path) -> dict[str, list[list[float]]]:
    out = {}
    for f in folder.rglob("*.txt"):
        out[f.stem] = sorted([float(v) for v in line.split()] for line in f.read_text().splitlines() if line.strip())
    return out


def in_process(func) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of ``func()``."""
    t, c = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--boxes", type=int, default=36000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_coco_", dir=args.dir))
    try:
        src = tmp / "instances_val2017.json"
        make_coco(src, args.images, args.boxes)
        print(f"COCO JSON: {args.images} images, {args.boxes} boxes, {src.stat().st_size / 1e6:.1f} MB; "
              f"best of {args.repeat}, alternating")
        namespace: dict = {}
        exec(REFERENCE.replace('if __name__ == "__main__":', "if False:"), namespace)
        reference = namespace["reference"]
        from cvpipe.formats import convert_dataset

        cvpipe = [sys.executable, "-m", "cvpipe", "convert", str(src), "", "--from", "coco", "--to", "yolo",
                  "--images", "none", "--quiet"]
        times: dict[str, list[float]] = {k: [] for k in ("ref_proc", "cv_proc", "ref_in", "cv_in", "startup")}
        for r in range(args.repeat):
            times["ref_in"].append(in_process(lambda: reference(str(src), str(tmp / f"ri{r}"))))
            times["cv_in"].append(in_process(lambda: convert_dataset(src, tmp / f"ci{r}", "yolo", from_format="coco",
                                                                     images="none")))
            times["ref_proc"].append(run([sys.executable, "-c", REFERENCE, str(src), str(tmp / f"rp{r}")]))
            cmd = list(cvpipe)
            cmd[5] = str(tmp / f"cp{r}")
            times["cv_proc"].append(run(cmd))
            times["startup"].append(run([sys.executable, "-c", "from cvpipe.plugins import get_registry; "
                                         "import cvpipe.commands.convert; get_registry()"]))
        wall = {k: min(w for w, _ in v) for k, v in times.items()}
        cpu = {k: min(c for _, c in v) for k, v in times.items()}
        print("                                              wall (ratio)       CPU user+sys (ratio)")
        for label, ref, ours in (("in process  ", "ref_in", "cv_in"), ("own process ", "ref_proc", "cv_proc")):
            print(f"{label}reference (json + dict-of-lists): {wall[ref] * 1e3:8.1f} ms          {cpu[ref] * 1e3:8.1f} ms")
            print(f"{label}cvpipe:                           {wall[ours] * 1e3:8.1f} ms ({wall[ref] / wall[ours]:.2f}x)"
                  f"  {cpu[ours] * 1e3:8.1f} ms ({cpu[ref] / cpu[ours]:.2f}x)")
        print(f"cvpipe start-up alone (import, plugin registry): {wall['startup'] * 1e3:.0f} ms wall, "
              f"{cpu['startup'] * 1e3:.0f} ms CPU; target: >= 2x in process")
        a, b = read_labels(tmp / "ri0" / "labels"), read_labels(tmp / "ci0")
        same = a.keys() == b.keys() and all(
            len(a[k]) == len(b[k]) and all(x[0] == y[0] and max(abs(p - q) for p, q in zip(x[1:], y[1:])) <= 1.5e-6
                                           for x, y in zip(a[k], b[k])) for k in a)
        print(f"outputs agree: {same} ({sum(len(v) for v in b.values())} boxes)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
