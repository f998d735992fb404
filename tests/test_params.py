"""Settings are validated against a factory's signature before anything runs."""

from pathlib import Path
from typing import Literal

import pytest

from cvpipe.errors import ConfigError
from cvpipe.params import bind, describe_type


def factory(path: Path, epochs: int = 10, lr: float = 0.01, mode: Literal["a", "b"] = "a",
            classes: list[str] | None = None, flag: bool = False, mapping: dict[str, int] | None = None):
    return locals()


def test_coerces_and_resolves_paths(tmp_path):
    out = bind(factory, {"path": "data", "epochs": 3.0, "lr": 1, "classes": ["x"], "mapping": {"a": 1}},
               base_dir=tmp_path)
    assert out == {"path": tmp_path / "data", "epochs": 3, "lr": 1.0, "classes": ["x"], "mapping": {"a": 1}}
    assert isinstance(out["lr"], float)
    assert bind(factory, {"path": "/abs"}, base_dir=tmp_path)["path"] == Path("/abs")


def test_reports_every_problem_with_path_and_line():
    with pytest.raises(ConfigError) as info:
        bind(factory, {"epoch": 3, "lr": "fast", "mode": "c", "flag": 1},
             where="steps[2].train", file="p.yaml", lines={"epoch": 7, "lr": 8, "mode": 9, "flag": 10})
    msgs = [str(p) for p in info.value.problems]
    assert "p.yaml:7: steps[2].train.epoch: unknown setting" in msgs[0] and "did you mean 'epochs'?" in msgs[0]
    assert msgs[1] == "p.yaml:8: steps[2].train.lr: wrong type (got 'fast'; expected a number)"
    assert "steps[2].train.mode: wrong type (got 'c'; expected one of: 'a', 'b')" in msgs[2]
    assert "steps[2].train.flag: wrong type (got 1; expected a boolean (true/false))" in msgs[3]
    assert "steps[2].train.path: missing required setting" in msgs[4]


def test_bool_is_not_an_integer_and_skip_positional():
    def model(num_classes: int, width: int = 8):
        return num_classes, width

    with pytest.raises(ConfigError, match="expected an integer"):
        bind(model, {"width": True}, skip=1)
    assert bind(model, {"width": 4}, skip=1) == {"width": 4}
    with pytest.raises(ConfigError, match="unknown setting"):
        bind(model, {"num_classes": 3}, skip=1)


def test_describe_type():
    assert describe_type(list[str]) == "a list of strings"
    assert describe_type(int | None) == "an integer or null"
    assert describe_type(dict[str, float]) == "a mapping of numbers"
