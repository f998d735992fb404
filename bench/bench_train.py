"""Training throughput: cvpipe's ``train`` step against a hand-written plain torch loop.

Same model (the compact detector, or ``--model cvdet-n`` etc.; same settings and seed), same data (a synthetic VOC dataset,
decoded with OpenCV and resized to the model's input), same batch size, loader workers and torch
threads, in the same process run. Both are timed wall-clock from the start of training (model
built, loader started) to the end of the last epoch, the train step including what it does on
top of the loop (per-epoch checkpoints, metrics files, progress accounting, the curves.png it
draws at the end: about 1 s, so tiny runs understate the ratio). The runs alternate
(plain then cvpipe, cvpipe then plain, ...) so load from other processes hits both alike; the
medians are compared. Target: cvpipe >= 0.9x the plain loop's images/s.

    python bench/bench_train.py                  # 320 images, 3 epochs, 6 rounds
    python bench/bench_train.py --images 160 --epochs 2 --rounds 4
    python bench/bench_train.py --model cvdet-n --images 96 --epochs 2 --rounds 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

MODEL = dict(image_size=160, anchor_scale=2.0)  # the compact detector's settings
MODELS = {"compact": MODEL}  # other models: image_size only (their defaults otherwise)


def model_settings(name: str) -> dict:
    return dict(MODELS.get(name, {"image_size": MODEL["image_size"]}))


def plain_loop(train, *, epochs: int, batch_size: int, workers: int, lr: float, seed: int,
               model_name: str = "compact") -> float:
    """The reference: a minimal torch training loop. Returns images/s."""
    import cv2
    import numpy as np
    import torch

    from cvpipe.models.build import build_model

    size = MODEL["image_size"]

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return len(train.samples)

        def __getitem__(self, i):
            s = train.samples[i]
            img = cv2.cvtColor(cv2.imread(str(train.image_path(s))), cv2.COLOR_BGR2RGB)
            h, w = img.shape[:2]
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
            boxes = s.boxes / np.array([w / size, h / size, w / size, h / size])
            return (torch.from_numpy(img).permute(2, 0, 1),
                    {"boxes": torch.from_numpy(boxes.astype(np.float32)), "labels": torch.from_numpy(s.labels)})

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(model_name, len(train.categories), model_settings(model_name))
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(Data(), batch_size=batch_size, shuffle=True, num_workers=workers,
                                         collate_fn=lambda b: tuple(zip(*b)), drop_last=True,
                                         persistent_workers=workers > 0)
    model.train()
    n = 0
    for _ in range(epochs):
        for images, targets in loader:
            losses = model([im.float() / 255 for im in images], list(targets))
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(images)
    del loader  # shut the worker down inside the timing, as the train step does before it returns
    return n / (time.perf_counter() - t0)


def cvpipe_step(train, tmp: Path, *, epochs: int, batch_size: int, workers: int, lr: float, seed: int,
                model_name: str = "compact") -> float:
    """The train step as a pipeline runs it (no validation set). Returns images/s."""
    import shutil

    from cvpipe.builtin.train_steps import TrainStep
    from cvpipe.testing import make_context

    shutil.rmtree(tmp / "run", ignore_errors=True)
    step = TrainStep(dataset="train", model=model_name, model_params=model_settings(model_name), epochs=epochs, batch_size=batch_size,
                     workers=workers, lr=lr, seed=seed, warmup_epochs=0, grad_clip=None, schedule="constant")
    ctx = make_context(tmp, step_name="train", train=train)
    t0 = time.perf_counter()
    step.run(ctx)
    seconds = time.perf_counter() - t0
    steps_per_epoch = len(train.samples) // batch_size
    return steps_per_epoch * batch_size * epochs / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--model", default="compact", help="a registered model (compact, cvdet-n, ...)")
    args = ap.parse_args(argv)

    import torch

    from cvpipe.engine.distributed import cpu_threads
    from cvpipe.formats import read_dataset
    from cvpipe.synthetic import synthesize_voc

    threads = cpu_threads(args.workers)
    torch.set_num_threads(threads)  # the same for both (the train step picks this count itself)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        synthesize_voc(tmp / "voc", images=args.images, seed=0, splits={"train": 1.0})
        train = read_dataset(tmp / "voc", "voc")
        kw = dict(epochs=args.epochs, batch_size=args.batch_size, workers=args.workers, lr=0.002, seed=0,
                  model_name=args.model)
        plain, ours = [], []
        for r in range(args.rounds):
            if r % 2 == 0:
                plain.append(plain_loop(train, **kw))
                ours.append(cvpipe_step(train, tmp, **kw))
            else:  # swap the order every other round, so a trend in the machine's load cancels out
                ours.append(cvpipe_step(train, tmp, **kw))
                plain.append(plain_loop(train, **kw))
            print(f"round {r + 1}: plain {plain[-1]:.1f} img/s, cvpipe {ours[-1]:.1f} img/s", file=sys.stderr)
    p, c = statistics.median(plain), statistics.median(ours)
    what = "compact detector" if args.model == "compact" else args.model
    print(f"train throughput, {what} {MODEL['image_size']}px, {args.images} images x {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.workers} loader worker(s), {threads} torch thread(s), "
          f"median of {args.rounds} alternating rounds")
    print(f"  plain torch loop : {p:8.1f} images/s")
    print(f"  cvpipe train step: {c:8.1f} images/s")
    print(f"  ratio cvpipe/plain: {c / p:.2f}x (target >= 0.9x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
