"""Built-in pipeline steps for datasets: read, write (alias convert), validate, filter, remap,
split, merge and stats; the step kinds are registered here, in one place.

Every step follows the step contract (:mod:`cvpipe.pipeline`): a cheap constructor taking typed
keyword settings (validated before anything runs), ``inputs``/``outputs`` naming the context
objects it reads and produces, and ``run(ctx) -> dict`` returning a JSON-ready result.
Datasets travel between steps as :class:`cvpipe.data.Dataset` (boxes absolute pixel xyxy).
Steps that transform a dataset read ``dataset`` (default ``"dataset"``) and store the result
under ``output`` (default: the same name, replacing it). Modules by role: :mod:`.io`
(read, write, validate), :mod:`.curation` (filter, remap, split, merge), :mod:`.stats`.

Import cost: numpy and matplotlib are imported inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...hookspecs import hookimpl
from .curation import FilterStep, MergeStep, RemapStep, SplitStep
from .io import ReadStep, ValidateStep, WriteStep
from .stats import StatsStep

if TYPE_CHECKING:
    from ...contract import StepRegistrar

__all__ = ["ReadStep", "WriteStep", "ValidateStep", "FilterStep", "RemapStep", "SplitStep", "MergeStep", "StatsStep"]


@hookimpl
def cvpipe_register_steps(register: StepRegistrar):
    register.add_step("read", ReadStep)
    register.add_step("write", WriteStep)
    register.add_step("convert", WriteStep, description="Write a dataset in any registered format (alias of write).")
    register.add_step("validate", ValidateStep)
    register.add_step("filter", FilterStep)
    register.add_step("remap", RemapStep)
    register.add_step("split", SplitStep)
    register.add_step("merge", MergeStep)
    register.add_step("stats", StatsStep)
