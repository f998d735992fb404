"""The hook specs read like an API reference: every argument and the return value documented."""

import inspect
import re

import pytest

from cvpipe import hookspecs
from cvpipe.registry import FAMILIES

HOOKS = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("cvpipe_")]


def test_every_family_has_a_registration_hook():
    names = {f.__name__ for f in HOOKS}
    assert {f"cvpipe_register_{fam}" for fam in FAMILIES} <= names
    assert {"cvpipe_on_step_start", "cvpipe_on_step_end", "cvpipe_on_epoch_end"} <= names


@pytest.mark.parametrize("hook", HOOKS, ids=lambda f: f.__name__)
def test_hook_documents_each_argument_and_the_return_value(hook):
    doc = inspect.getdoc(hook)
    assert doc, f"{hook.__name__} has no docstring"
    summary, _, rest = doc.partition("\n")
    assert summary.strip().endswith(".") or rest.strip(), "a one-line summary comes first"
    args_section = re.search(r"^Args:\n((?:    .*\n?|\n)+)", doc, re.M)
    params = list(inspect.signature(hook).parameters)
    assert args_section, f"{hook.__name__}: no Args section"
    documented = re.findall(r"^    (\w+):", args_section.group(1), re.M)
    assert documented == params, f"{hook.__name__}: documents {documented}, takes {params}"
    assert re.search(r"^Returns:\n    \S", doc, re.M), f"{hook.__name__}: no Returns section"
    assert hasattr(hook, "cvpipe_spec"), "marked with @hookspec"
