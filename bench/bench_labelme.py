"""Reading LabelMe: the cvpipe-labelme plugin vs. a plain ``json`` loop, on real files.

Both sides read the same LabelMe folder (default: the 100 real files of the review-odm fixture,
each embedding its JPEG as base64 ``imageData``, 13 MB in all) in this one process, interleaved
round by round, timed with ``time.process_time`` (CPU time, so other work on a shared machine
does not blur the comparison):

* ``reference``: what a tutorial converter does: ``json.load`` each file, take min/max of each
  rectangle's or polygon's points, collect (file, label, box), and write the embedded image
  (``base64.b64decode(imageData)``) to a file when it is not beside the JSON, as LabelMe's own
  ``labelme_json_to_dataset`` does; no checks;
* ``cvpipe``: ``read_labelme(folder)``: the same boxes and image files plus every check the
  plugin makes (fields, shapes, the embedded image's size from its header against
  ``imageWidth``/``imageHeight``), into a :class:`cvpipe.data.Dataset`.

Prints ms per round and µs per file of each and the ratio, and checks both found the same boxes.

    python bench/bench_labelme.py [--src DIR] [--rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import tempfile
import statistics
import time
from pathlib import Path

FIXTURE = (Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "review-odm" / "data" / "database"
           / "gts" / "labelme_format")


def reference(folder: Path) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    out = []
    images = Path(tempfile.mkdtemp(prefix="bench-labelme-"))
    for f in sorted(folder.glob("*.json")):
        with open(f, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("imageData") and not (f.parent / data["imagePath"]).is_file():
            (images / data["imagePath"]).write_bytes(base64.b64decode(data["imageData"]))
        for shape in data["shapes"]:
            if (shape.get("shape_type") or "polygon") not in ("rectangle", "polygon"):
                continue
            xs = [p[0] for p in shape["points"]]
            ys = [p[1] for p in shape["points"]]
            out.append((data["imagePath"], shape["label"], (min(xs), min(ys), max(xs), max(ys))))
    shutil.rmtree(images)
    return out


def with_cvpipe(folder: Path) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    from cvpipe_labelme import read_labelme

    ds = read_labelme(folder)
    if ds.root.name.startswith("cvpipe-labelme-images-"):  # extracted images: clean up like the reference
        shutil.rmtree(ds.root)
    return [(s.image, ds.categories[int(lab)], tuple(float(v) for v in box))
            for s in ds.samples for box, lab in zip(s.boxes, s.labels)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=FIXTURE, help="a folder of LabelMe JSON files")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    files = len(list(args.src.glob("*.json")))
    size = sum(f.stat().st_size for f in args.src.glob("*.json"))
    a, b = reference(args.src), with_cvpipe(args.src)  # warm-up, and the same answer
    assert sorted(a) == sorted(b), "the two readers disagree"
    times: dict[str, list[float]] = {"reference": [], "cvpipe": []}
    for _ in range(args.rounds):
        for name, fn in (("reference", reference), ("cvpipe", with_cvpipe)):
            t0 = time.process_time()
            fn(args.src)
            times[name].append(time.process_time() - t0)
    print(f"{files} LabelMe files ({size / 1e6:.1f} MB, {len(a)} boxes) from {args.src}, {args.rounds} rounds")
    for name, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        print(f"  {name:9s}  best {best * 1e3:7.1f} ms  median {med * 1e3:7.1f} ms  ({best / files * 1e6:6.0f} us/file)")
    ratio = statistics.median(times["cvpipe"]) / statistics.median(times["reference"])
    print(f"cvpipe / reference (median): {ratio:.2f}x  (cvpipe also checks every field and each embedded image's size)")


if __name__ == "__main__":
    main()
