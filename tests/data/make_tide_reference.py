"""Regenerate ``tide_reference.json``: random detection cases and what tidecv 1.0.1 says of them.

Run with an interpreter that has ``tidecv`` (MIT; not a cvpipe dependency: it pulls in
opencv-python next to cvpipe's opencv-python-headless), e.g.::

    python -m venv /tmp/tide && /tmp/tide/bin/pip install tidecv==1.0.1
    /tmp/tide/bin/python tests/data/make_tide_reference.py tests/data/tide_reference.json

Each case holds its images (ground truth and detections as ``[x1, y1, x2, y2]``, labels,
scores) and tidecv's numbers: AP, the six main dAPs (independent and progressive), the two
special dAPs and the error counts, on tidecv's 0-100 scale. ``tests/test_analysis.py`` compares
cvpipe against them. Needs numpy only besides tidecv.
"""

from __future__ import annotations

import json
import sys

import numpy as np

SHORT = ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"]


def make_case(seed: int, n_images: int = 30, n_classes: int = 3, *, tied: bool = False) -> dict:
    """Ground truth and detections with every TIDE error kind: exact and jittered copies of
    objects (some with the wrong class), duplicates, loose boxes, background boxes; distinct
    continuous scores (``tied``: rounded to 0.1, so many tie); boxes on a 0.25 px grid."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        n_gt = int(rng.integers(0, 7))
        xy = rng.uniform(0, 300, (n_gt, 2))
        wh = rng.uniform(20, 120, (n_gt, 2))
        gt_boxes = np.round(np.c_[xy, xy + wh] * 4) / 4
        gt_labels = rng.integers(0, n_classes, n_gt)
        dets, labels = [], []
        for b, c in zip(gt_boxes, gt_labels):
            w, h = b[2] - b[0], b[3] - b[1]
            for _ in range(int(rng.choice([0, 1, 1, 1, 2, 3]))):
                jitter = rng.choice([0.03, 0.1, 0.3, 0.6])
                d = b + rng.normal(0, jitter, 4) * [w, h, w, h]
                d = np.r_[np.minimum(d[:2], d[2:] - 1), np.maximum(d[2:], d[:2] + 1)]
                dets.append(d)
                labels.append(int(c) if rng.random() > 0.2 else int(rng.integers(0, n_classes)))
        for _ in range(int(rng.integers(0, 4))):  # background
            xy = rng.uniform(0, 400, 2)
            dets.append(np.r_[xy, xy + rng.uniform(10, 60, 2)])
            labels.append(int(rng.integers(0, n_classes)))
        dets = np.round(np.asarray(dets, dtype=np.float64).reshape(-1, 4) * 4) / 4
        scores = rng.uniform(0.01, 1.0, len(dets))
        if tied:
            scores = np.round(scores, 1) + 0.05
        images.append({"gt_boxes": gt_boxes.tolist(), "gt_labels": gt_labels.tolist(),
                       "dt_boxes": dets.tolist(), "dt_labels": labels, "dt_scores": scores.tolist()})
    return {"seed": seed, "classes": n_classes, "images": images}


def run_tidecv(case: dict, pos: float, bg: float, max_dets: int) -> dict:
    from tidecv import TIDE
    from tidecv.data import Data

    gt, dt = Data("gt", max_dets=max_dets), Data("dt", max_dets=max_dets)
    for c in range(case["classes"]):
        gt.add_class(c, str(c))
        dt.add_class(c, str(c))
    for i, im in enumerate(case["images"]):
        gt.add_image(i, str(i))
        dt.add_image(i, str(i))
        for b, c in zip(im["gt_boxes"], im["gt_labels"]):
            gt.add_ground_truth(i, c, [b[0], b[1], b[2] - b[0], b[3] - b[1]])
        for b, c, s in zip(im["dt_boxes"], im["dt_labels"], im["dt_scores"]):
            dt.add_detection(i, c, s, [b[0], b[1], b[2] - b[0], b[3] - b[1]])
    tide = TIDE(pos_threshold=pos, background_threshold=bg)
    run = tide.evaluate(gt, dt, mode=TIDE.BOX)
    main = {e.short_name: v for e, v in run.fix_main_errors().items()}
    prog = {e.short_name: v for e, v in run.fix_main_errors(progressive=True).items()}
    special = {e.short_name: v for e, v in run.fix_special_errors().items()}
    counts = {e.short_name: v for e, v in run.count_errors().items()}
    return {"pos": pos, "bg": bg, "max_dets": max_dets, "AP": run.ap,
            "dAP": [main[k] for k in SHORT], "progressive": [prog[k] for k in SHORT],
            "false_positives": special["FalsePos"], "false_negatives": special["FalseNeg"],
            "counts": [counts[k] for k in SHORT]}


def main(out: str) -> None:
    cases = []
    for seed in range(10):
        case = make_case(seed, tied=seed >= 8)
        case["tidecv"] = [run_tidecv(case, 0.5, 0.1, 100), run_tidecv(case, 0.75, 0.1, 100),
                          run_tidecv(case, 0.5, 0.1, 3)]
        cases.append(case)
    with open(out, "w") as fh:
        json.dump({"generator": "tests/data/make_tide_reference.py", "tidecv": "1.0.1", "cases": cases}, fh,
                  separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
