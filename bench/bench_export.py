"""Benchmark: exported models against PyTorch -- parity figures and CPU latency.

    /work/venv/bin/python bench/bench_export.py [--image-size 256] [--repeat 20] [--threads 1]
                                                [--torchvision] [--json OUT]

A compact detector (cvpipe's default settings, ``image_size`` 256, random initialisation with
its head weights drawn wider so it makes many detections of distinct scores) is exported four
ways (ONNX / TorchScript, raw / with NMS in the graph, all ``--dynamic``) with
:func:`cvpipe.export.export_model`; each export's parity report (on 4 synthetic images) is
printed, then the latency of one 256x256 image and of a batch of 8 through PyTorch (the model's
own forward: head, decoding, NMS) and through the exported ONNX graph with NMS (onnxruntime, CPU),
interleaved, median of ``--repeat``. ``--torchvision`` also exports
fasterrcnn_mobilenet_v3_large_320_fpn and ssdlite320_mobilenet_v3_large (slow: ~1 min each) and
prints their parity.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _spread_head(model, std: float = 0.3) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "head" in name or "predictor" in name or "rpn" in name:
                p.normal_(0.0, std, generator=g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torchvision", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import onnxruntime as ort

    from cvpipe.models.build import build_model
    from cvpipe.engine.predict import ModelBundle
    from cvpipe.export import export_model

    s = args.image_size
    torch.manual_seed(0)
    params = {"image_size": s}
    model = build_model("compact", 3, params).eval()
    _spread_head(model)
    bundle = ModelBundle(model, "compact", params, ["a", "b", "c"], s)
    results: dict = {"parity": {}, "latency_ms": {}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    print(f"compact detector, {s}x{s}, {args.threads} thread(s)")
    print(f"{'export':<28}{'ok':>4}{'dets':>7}{'max box px':>12}{'max box rel':>13}{'max score':>11}{'s':>7}")
    for fmt in ("onnx", "torchscript"):
        for nms in (False, True):
            name = f"{fmt}{' +nms' if nms else ' raw'} dynamic"
            t0 = time.perf_counter()
            rep = export_model(bundle, fmt, tmp / f"m_{fmt}_{nms}.{'onnx' if fmt == 'onnx' else 'pt'}", nms=nms,
                               dynamic=True)
            p = rep["parity"]
            results["parity"][name] = {k: p[k] for k in ("ok", "detections", "max_box_px", "max_box_rel", "max_score")}
            print(f"{name:<28}{'yes' if p['ok'] else 'NO':>4}{p['detections']:>7}{p['max_box_px']:>12.2e}"
                  f"{p['max_box_rel']:>13.2e}{p['max_score']:>11.2e}{time.perf_counter() - t0:>7.1f}")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(tmp / "m_onnx_True.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch in (1, 8):
        x = rng.random((batch, 3, s, s), dtype=np.float32)
        xs = [torch.from_numpy(im) for im in x]
        times = {"pytorch": [], "onnxruntime": []}
        with torch.inference_mode():
            model(xs)
            sess.run(None, {"images": x})
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                model(xs)
                times["pytorch"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                sess.run(None, {"images": x})
                times["onnxruntime"].append(time.perf_counter() - t0)
        pt, ox = (statistics.median(times[k]) * 1000 for k in ("pytorch", "onnxruntime"))
        results["latency_ms"][f"batch {batch}"] = {"pytorch": pt, "onnxruntime": ox, "speedup": pt / ox}
        print(f"latency, batch {batch}: PyTorch {pt:.1f} ms, onnxruntime {ox:.1f} ms -> {pt / ox:.2f}x")

    if args.torchvision:
        for name, p in (("fasterrcnn_mobilenet_v3_large_320_fpn", {"min_size": 320, "max_size": 320}),
                        ("ssdlite320_mobilenet_v3_large", {})):
            torch.manual_seed(0)
            m = build_model(name, 3, p).eval()
            _spread_head(m, 0.05)
            rep = export_model(ModelBundle(m, name, p, ["a", "b", "c"], None), "onnx", tmp / f"{name}.onnx",
                               dynamic=True, parity_count=2)
            q = rep["parity"]
            results["parity"][name] = {k: q[k] for k in ("ok", "detections", "max_box_px", "max_score")}
            results["parity"][name]["mismatches"] = q["mismatches"][:3]
            print(f"{name}: parity {'ok' if q['ok'] else 'FAILED'}, {q['detections']} detections; "
                  + "; ".join(q["mismatches"][:3]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
