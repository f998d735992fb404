"""Hints that name a step's settings inside a pipeline: the libraries word their hints for the
command line (``point to the images with --images-dir, or use --images none``); when a step of a
pipeline fails, each CLI flag in a hint is replaced by the setting that does the same in YAML
(``images_dir:`` ... ``images: none``), named on the failing step when it has that setting, else
on the pipeline's step that has it (``images_dir: of step 'read_train'``)."""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, Iterable, Sequence

from ..errors import Problem

__all__ = ["FLAG_SETTINGS", "step_setting_names", "hints_for_step"]

#: a CLI flag as hints write it (with its value, when the flag takes one) -> (the setting, how
#: YAML gives it); longest first so ``--images none`` wins over ``--images``
FLAG_SETTINGS: list[tuple[str, str, str]] = [
    ("--images-dir DIR", "images_dir", "images_dir: DIR"),
    ("--images-dir", "images_dir", "images_dir: DIR"),
    ("--images none", "images", "images: none"),
    ("images='none'", "images", "images: none"),  # the writers' Python-API wording
    ("--from FORMAT", "format", "format: FORMAT"),
    ("--skip-invalid", "on_problem", "on_problem: skip"),
    ("--keep-difficult", "keep_difficult", "keep_difficult: true"),
    ("--follow-symlinks", "follow_symlinks", "follow_symlinks: true"),
    ("--overwrite", "overwrite", "overwrite: true"),
]
_PATTERN = re.compile("|".join(re.escape(f) + r"(?![\w-])" for f, _, _ in FLAG_SETTINGS))


def step_setting_names(step: Any, bound: dict[str, Any] | None = None) -> set[str]:
    """The settings a step takes: its bound settings and its class's keyword parameters."""
    names = set(bound or ())
    try:
        params = inspect.signature(type(step).__init__).parameters
    except (TypeError, ValueError):
        params = {}
    names.update(p for p in params if p != "self")
    return names


def _rewrite(text: str, own: set[str], others: Sequence[tuple[str, set[str]]]) -> str:
    def repl(m: re.Match) -> str:
        flag = m.group(0)
        setting, yaml = next((s, y) for f, s, y in FLAG_SETTINGS if f == flag)
        if setting in own:
            return f"`{yaml}`"
        owner = next((name for name, names in others if setting in names), None)
        return f"`{yaml}` of step {owner!r}" if owner else f"the setting `{yaml}`"
    return _PATTERN.sub(repl, text)


def hints_for_step(problems: Iterable[Problem], own: set[str],
                   others: Sequence[tuple[str, set[str]]] = ()) -> list[Problem]:
    """``problems`` with the CLI flags in their hints named as step settings: ``own`` the failing
    step's setting names, ``others`` ``(step name, setting names)`` of the pipeline's other steps
    (earlier first) to name when the failing step lacks the setting."""
    out = []
    for p in problems:
        if p.hint and _PATTERN.search(p.hint):
            p = dataclasses.replace(p, hint=_rewrite(p.hint, own, others))
        out.append(p)
    return out
