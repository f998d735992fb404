"""The ``synthesize`` step: write a small, learnable synthetic detection dataset in real VOC layout
(see :mod:`cvpipe.synthetic`) and optionally hand it to later steps.

Using it only when the user gave no dataset (how the shipped pipelines run offline)::

    vars:
      voc_root: ../data/synthetic-voc     # point at a VOCdevkit/VOC2007 folder to use real data
    steps:
      - synthesize: {path: "${vars.voc_root}", skip_if_exists: true}
      - read: {path: "${vars.voc_root}", format: voc, output: voc}

With ``skip_if_exists: true`` the step leaves an existing non-empty ``path`` alone: a real
dataset is never touched, and a dataset this step generated earlier with the same settings is
reused (its settings are recorded in ``cvpipe-synthetic.json``; with other settings it is
regenerated). Without ``skip_if_exists`` a folder holding data that cvpipe did not generate is an
error. ``output: NAME`` also stores the dataset (read back through the VOC reader) in the
pipeline context, so no separate ``read`` step is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import hookimpl
from ..errors import ConfigError

__all__ = ["Synthesize"]


class Synthesize:
    """Write a synthetic VOC-layout dataset (shapes on a noisy background).

    Settings:
        path: output folder (relative to the pipeline file); default: ``synthetic-voc`` in the
            step's folder of the run directory.
        images, classes, size, objects_per_image, object_size, noise, seed, splits, jpeg_quality:
            see :func:`cvpipe.synthetic.synthesize_voc`.
        skip_if_exists: keep an existing non-empty ``path`` (real data, or an identical earlier
            synthetic dataset) instead of writing.
        output: context name to store the dataset under, read back through the VOC reader.
    """

    def __init__(
        self,
        path: Path | None = None,
        images: int = 200,
        classes: list[str] | None = None,
        size: tuple[int, int] = (320, 240),
        objects_per_image: tuple[int, int] = (1, 4),
        object_size: tuple[int, int] = (20, 80),
        noise: float = 6.0,
        seed: int = 0,
        splits: dict[str, float] | None = None,
        jpeg_quality: int = 95,
        skip_if_exists: bool = False,
        output: str | None = None,
    ) -> None:
        from ..synthetic import DEFAULT_CLASSES, _check

        self.path = path
        self.options: dict[str, Any] = {
            "images": images,
            "classes": list(DEFAULT_CLASSES if classes is None else classes),
            "size": tuple(size),
            "objects_per_image": tuple(objects_per_image),
            "object_size": tuple(object_size),
            "noise": float(noise),
            "seed": seed,
            "splits": dict(splits or {"train": 0.8, "val": 0.2}),
            "jpeg_quality": jpeg_quality,
        }
        o = self.options
        _check(o["classes"], o["size"], o["objects_per_image"], o["object_size"], o["splits"], images)
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError("out of range", field="jpeg_quality", value=jpeg_quality, expected="1 to 100")
        if noise < 0:
            raise ConfigError("must be >= 0", field="noise", value=noise, expected="a number >= 0")
        self.skip_if_exists = skip_if_exists
        self.inputs: dict[str, str] = {}
        self.outputs: dict[str, str] = {"output": output} if output else {}

    def _reusable(self, path: Path) -> str | None:
        """Why ``path`` is kept as it is, or None when it is to be (re)written."""
        from ..synthetic import read_marker

        if not (self.skip_if_exists and path.is_dir() and any(path.iterdir())):
            return None
        marker = read_marker(path)
        if marker is None:
            return "existing dataset"
        wanted = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()}
        if {k: marker.get(k) for k in wanted} == wanted:
            return "synthesised earlier with the same settings"
        return None  # ours, with other settings: regenerate

    def run(self, ctx: Any) -> dict[str, Any]:
        from ..formats import read_dataset
        from ..synthetic import read_marker, synthesize_voc

        path = Path(self.path) if self.path is not None else ctx.step_dir / "synthetic-voc"
        reason = self._reusable(path)
        if reason:
            ctx.log(f"synthesize: keeping {path} ({reason})")
            result: dict[str, Any] = {"path": str(path), "skipped": True, "reason": reason}
        else:
            result = synthesize_voc(path, overwrite=read_marker(path) is not None,
                                    progress=not ctx.quiet, **self.options)
            result["skipped"] = False
            ctx.log(f"synthesize: wrote {result['images']} images, {result['boxes']} boxes to {path}")
        if "output" in self.outputs:
            marker = read_marker(path)  # ours: keep the generated category order (the reader's
            # default is alphabetical for names outside VOC's twenty)
            ds = read_dataset(path, "voc", **({"classes": marker["classes"]} if marker else {}))
            ctx[self.outputs["output"]] = ds
            result.setdefault("images", len(ds))
            result.setdefault("boxes", ds.num_boxes)
        return result


@hookimpl
def cvpipe_register_steps(register):
    register("synthesize", Synthesize,
             description="write a small learnable synthetic dataset in Pascal VOC layout")
