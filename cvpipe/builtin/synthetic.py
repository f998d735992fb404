"""The ``synthesize`` step: write a small, learnable synthetic detection dataset in real VOC layout
(see :mod:`cvpipe.synthetic`) and optionally hand it to later steps. ``difficulty: hard`` writes
the harder set (occlusion, clutter, 8-160 px objects, artefacts, optional photo ``backgrounds``).

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

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import hookimpl
from ..settings import Lazy

if TYPE_CHECKING:
    from ..contract import StepRegistrar

__all__ = ["Synthesize"]


@functools.cache
def synthesize_step_settings() -> type:
    """The ``synthesize`` step's settings: :class:`cvpipe.synthetic.SynthesizeSettings` (declared
    once, there) between the output ``path`` and what only the step knows."""
    from pydantic import Field

    from ..settings import Settings
    from ..synthetic import SynthesizeSettings

    class _Where(Settings):
        path: Path | None = Field(None, description="output folder (relative to the pipeline file); default: "
                                  "``synthetic-voc`` in the step's folder of the run directory")

    class SynthesizeStepSettings(SynthesizeSettings, _Where):
        skip_if_exists: bool = Field(False, description="keep an existing non-empty ``path`` (real data, or an "
                                     "identical earlier synthetic dataset) instead of writing")
        output: str | None = Field(None, description="context name to store the dataset under, read back "
                                   "through the VOC reader")

    SynthesizeStepSettings.__module__ = __name__
    return SynthesizeStepSettings


class Synthesize:
    """Write a synthetic VOC-layout dataset (shapes on a noisy background). Settings: see
    :func:`synthesize_step_settings` (``cvpipe.settings.settings_doc(Synthesize)`` lists them)."""

    Settings = Lazy(f"{__name__}:synthesize_step_settings")

    def __init__(self, **settings: Any) -> None:
        from ..settings import build_settings
        from ..synthetic import SynthesizeSettings

        s = build_settings(self.Settings.resolve(), settings)
        self.path = s.path
        self.options = SynthesizeSettings.model_construct(**{k: getattr(s, k) for k in SynthesizeSettings.model_fields})
        self.skip_if_exists = s.skip_if_exists
        self.inputs: dict[str, str] = {}
        self.outputs: dict[str, str] = {"output": s.output} if s.output else {}

    def _reusable(self, path: Path) -> str | None:
        """Why ``path`` is kept as it is, or None when it is to be (re)written."""
        from ..synthetic import read_marker

        if not (self.skip_if_exists and path.is_dir() and any(path.iterdir())):
            return None
        marker = read_marker(path)
        if marker is None:
            return "existing dataset"
        wanted = self.options.record()
        fields = type(self.options).model_fields  # an easy marker lacks the hard preset's keys
        if {k: v for k, v in marker.items() if k in fields} == wanted:
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
                                    progress=not ctx.quiet, settings=self.options)
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
def cvpipe_register_steps(register: StepRegistrar):
    register.add_step("synthesize", Synthesize,
             description="write a small learnable synthetic dataset in Pascal VOC layout")
