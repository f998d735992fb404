"""Box-aware augmentation: albumentations called directly vs. the same list declared through cvpipe.

Both sides run the same four-transform box-aware pipeline on the same 500x375 images with three
boxes each, in this one process, interleaved round by round (so machine noise hits both alike):

* ``albumentations``: ``A.Compose([...], bbox_params=A.BboxParams("pascal_voc", label_fields=["labels"]))``
  called as ``compose(image=..., bboxes=..., labels=...)``, the way its documentation shows;
* ``cvpipe``: ``build_transforms(<the same list as YAML data>)`` and ``augmenter(image, sample)``
  on :class:`cvpipe.data.Sample` objects, returning new Samples with every per-box field aligned.

Both are seeded alike, so they draw the same augmentations. Times are this process's CPU time
(``time.process_time``, OpenCV limited to one thread), so other work on a shared machine does not
blur the comparison. Prints images/s of each (best and median round) and cvpipe's overhead
(target: under 5%). Also checks that both produced the same boxes.

    python bench/bench_augment.py [--images 400] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

SPEC = [
    {"HorizontalFlip": {"p": 0.5}},
    {"Affine": {"scale": [0.8, 1.2], "translate_percent": [-0.1, 0.1], "rotate": [-10, 10], "p": 0.7}},
    {"RandomBrightnessContrast": {"brightness_limit": 0.2, "contrast_limit": 0.2, "p": 0.5}},
    {"RandomSizedBBoxSafeCrop": {"height": 320, "width": 320, "p": 0.5}},
]


def direct_compose(seed: int):
    import albumentations as A

    compose = A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), rotate=(-10, 10), p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.RandomSizedBBoxSafeCrop(height=320, width=320, p=0.5),
        ],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], clip=True),
    )
    # the same seeding as cvpipe's Augmenter (one generator for the whole tree)
    compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return compose


def make_data(n: int, seed: int = 0):
    from cvpipe.data import Sample

    rng = np.random.default_rng(seed)
    images, samples = [], []
    for i in range(n):
        images.append(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8))
        x1 = rng.uniform(0, 400, 3)
        y1 = rng.uniform(0, 300, 3)
        boxes = np.stack([x1, y1, x1 + rng.uniform(20, 100, 3), y1 + rng.uniform(20, 75, 3)], axis=1)
        samples.append(Sample(f"{i:06d}.jpg", 500, 375, boxes=boxes, labels=rng.integers(0, 20, 3)))
    return images, samples


def run_direct(compose, images, samples) -> tuple[float, list[np.ndarray]]:
    out = []
    t0 = time.process_time()
    for img, s in zip(images, samples):
        r = compose(image=img, bboxes=s.boxes, labels=s.labels)
        out.append(r["bboxes"])
    return time.process_time() - t0, out


def run_cvpipe(aug, images, samples) -> tuple[float, list[np.ndarray]]:
    out = []
    t0 = time.process_time()
    for img, s in zip(images, samples):
        _, new = aug(img, s)
        out.append(new.boxes)
    return time.process_time() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400, help="images per round")
    ap.add_argument("--rounds", type=int, default=7, help="rounds per side (best is reported)")
    args = ap.parse_args()

    import albumentations as A
    import cv2

    from cvpipe.builtin.augment import build_transforms

    cv2.setNumThreads(1)
    images, samples = make_data(args.images)
    direct_t, cvpipe_t = [], []
    for r in range(args.rounds + 1):  # round 0 warms up
        compose = direct_compose(seed=r)
        aug = build_transforms(SPEC, seed=r)
        order = (0, 1) if r % 2 else (1, 0)
        res = {}
        for side in order:
            res[side] = run_direct(compose, images, samples) if side == 0 else run_cvpipe(aug, images, samples)
        if r == 0:
            continue
        direct_t.append(res[0][0])
        cvpipe_t.append(res[1][0])
        same = all(a.shape == b.shape and np.allclose(a, b) for a, b in zip(res[0][1], res[1][1]))
        if not same:
            raise SystemExit("the two sides produced different boxes: the comparison is not fair")

    # the wrapper's own cost, isolated: an identity list (NoOp) through both paths
    noop_direct = A.Compose([A.NoOp(p=1.0)], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"],
                                                                      clip=True))
    noop_cvpipe = build_transforms([{"NoOp": {"p": 1.0}}])
    idle = {0: [], 1: []}
    for _ in range(args.rounds):
        idle[0].append(run_direct(noop_direct, images, samples)[0])
        idle[1].append(run_cvpipe(noop_cvpipe, images, samples)[0])
    wrapper_us = 1e6 * (min(idle[1]) - min(idle[0])) / args.images

    d, c = min(direct_t), min(cvpipe_t)
    dm, cm = float(np.median(direct_t)), float(np.median(cvpipe_t))
    print(f"albumentations {A.__version__}, {args.images} images of 500x375 with 3 boxes, "
          f"{args.rounds} rounds, 4 transforms: {', '.join(next(iter(x)) for x in SPEC)}")
    print(f"{'side':<16}{'best img/s':>12}{'median img/s':>14}")
    print(f"{'albumentations':<16}{args.images / d:>12.1f}{args.images / dm:>14.1f}")
    print(f"{'cvpipe':<16}{args.images / c:>12.1f}{args.images / cm:>14.1f}")
    print(f"cvpipe overhead: {100 * (c / d - 1):+.1f}% (best), {100 * (cm / dm - 1):+.1f}% (median); "
          f"target < 5%; boxes identical on both sides")
    print(f"wrapper cost alone (NoOp list, Sample in/out vs. arrays in/out): {wrapper_us:+.1f} us per image "
          f"= {100 * wrapper_us * args.images / 1e6 / d:+.2f}% of the direct pipeline's time per image")


if __name__ == "__main__":
    main()
