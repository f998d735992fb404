"""``cvpipe export``: a trained model as ONNX or TorchScript, checked against PyTorch.

    cvpipe export runs/demo --format onnx --nms --dynamic --out model.onnx

The checkpoint (or the best one of a run folder) is loaded as ``cvpipe predict`` loads it and
exported by :func:`cvpipe.export.export_model`; the parity check runs the exported file
(onnxruntime on the CPU for ONNX) and PyTorch on the same images (``--images``, else synthetic
ones) and compares detections. Exit 1 when parity fails (the file is then not written), unless
``--no-check``.
"""

from __future__ import annotations

from pathlib import Path

import click

_PATH = click.Path(path_type=Path)


@click.command()
@click.argument("model", type=_PATH, metavar="RUN_DIR_OR_CHECKPOINT")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option("--nms", is_flag=True, help="Decoding and NMS inside the graph (outputs boxes, scores, labels, num_dets).")
@click.option("--dynamic", is_flag=True, help="Dynamic batch and image size.")
@click.option("--max-det", type=int, help="Detections per image of the NMS outputs (default: the model's).")
@click.option("--out", "out", type=_PATH, help="Output file (default: model.onnx / model.torchscript.pt next to the checkpoint).")
@click.option("--images", "images", type=_PATH, multiple=True, metavar="IMAGES_OR_DIR",
              help="Images for the parity check (default: synthetic images).")
@click.option("--check/--no-check", default=True, show_default=True, help="Compare the exported model with PyTorch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export(model: Path, fmt: str, nms: bool, dynamic: bool, max_det: int | None, out: Path | None,
           images: tuple[Path, ...], check: bool, as_json: bool) -> None:
    """Export a trained model (a checkpoint, or a run folder holding one) to ONNX or TorchScript."""
    from ..console import print_json
    from ..engine.predict import load_bundle
    from ..errors import ConfigError, InputError, JobError
    from ..export import export_model
    from ..export.graphs import ExportError

    if max_det is not None and max_det < 1:
        raise ConfigError("out of range", field="--max-det", value=max_det, expected="an integer >= 1")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise InputError("ONNX export needs onnx and onnxruntime, which are not installed",
                             hint="pip install 'cvpipe[export]'") from None
    bundle = load_bundle(model, device="cpu")
    if out is None:
        base = bundle.checkpoint.parent if bundle.checkpoint is not None else Path(".")
        out = base / ("model.onnx" if fmt == "onnx" else "model.torchscript.pt")
    pictures = None
    if images:
        from ..draw import read_image
        from .predict import collect_images

        import torch

        found = collect_images(list(images))
        pictures = [torch.from_numpy(read_image(found.image_path(s)).copy()).permute(2, 0, 1).float().div_(255)
                    for s in found.samples[:8]]
    try:
        report = export_model(bundle, fmt, out, nms=nms, dynamic=dynamic, max_det=max_det, check=check,
                              images=pictures)
    except ExportError as exc:
        raise InputError(f"cannot export {bundle.name}: {exc.problems[0].message}",
                         file=str(bundle.checkpoint)) from None
    parity = report["parity"]
    if as_json:
        print_json(report)
    else:
        shape = "x".join(str(v) for v in report["input"]["images"])
        click.echo(f"{report['family']} model {bundle.name} -> {out} ({fmt}, {report['bytes'] / 1e6:.1f} MB)")
        click.echo(f"  input images float32 {shape} in [0, 1]; outputs {', '.join(report['outputs'])}"
                   + (f" (at most {report['max_det']} per image)" if report["nms"] else " (raw head: run the model's postprocess after)"))
        if report["family"] == "torchvision":
            click.echo("  torchvision detector: its resize, decoding and NMS are always in the graph; batch 1")
        if parity is None:
            click.echo("  parity: not checked (--no-check)")
        else:
            click.echo(f"  parity on {report['parity_images']}: {'ok' if parity['ok'] else 'FAILED'}; "
                       f"{parity['detections']} detections, max box difference {parity['max_box_px']:.2e} px "
                       f"({parity['max_box_rel']:.2e} relative, tolerance {parity['tolerance']['box_rel']:g}), "
                       f"max score difference {parity['max_score']:.2e} (tolerance {parity['tolerance']['score']:g})")
            for line in parity["mismatches"][:5]:
                click.echo(f"    {line}")
    if parity is not None and not parity["ok"]:
        hint = "see the parity lines above; --no-check writes it anyway"
        if report["family"] == "torchvision":
            hint = ("a torchvision graph is recorded by tracing torchvision's own transform and NMS; with "
                    "tied scores (an untrained model) NMS may keep different ones of equal boxes, and "
                    "traced data-dependent steps may not reproduce PyTorch; " + hint)
        raise JobError("exported model does not match PyTorch; file not written", file=str(out), hint=hint)
