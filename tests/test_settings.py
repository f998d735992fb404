"""Settings declared once (cvpipe.settings): one binder for settings models and plain signatures,
pydantic problems with their YAML path and line, one declaration read by YAML validation, the
engine and the docs; and the run directory chosen once, with one load of the pipeline."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from cvpipe.cli import main
from cvpipe.errors import ConfigError
from cvpipe.settings import Settings, bind, build_settings, resolve_path, settings_doc, signature_params


class Demo(Settings):
    count: int = Field(3, ge=1, description="how many")
    ratio: float = Field(0.5, gt=0, le=1, description="a fraction")
    mode: Literal["a", "b"] = "a"
    where: Path | None = None


class DemoFactory:
    Settings = Demo

    def __init__(self, **values):
        self.settings = build_settings(Demo, values)


def plain(*, count: int = 3, where: Path | None = None):
    return count, where


def test_one_binder_for_models_and_plain_signatures(tmp_path):
    assert bind(DemoFactory, {"count": 2.0, "where": "x"}, base_dir=tmp_path) == {"count": 2, "where": tmp_path / "x"}
    assert bind(plain, {"count": 2.0, "where": "x"}, base_dir=tmp_path) == {"count": 2, "where": tmp_path / "x"}
    assert list(signature_params(DemoFactory)) == ["count", "ratio", "mode", "where"]
    assert signature_params(DemoFactory)["count"].description == "how many"
    with pytest.raises(ConfigError) as e:
        bind(DemoFactory, {"count": "ten", "mdoe": "a", "ratio": 0.1}, where="steps[0].demo")
    text = str(e.value)
    assert "steps[0].demo.count: wrong type (got 'ten'; expected an integer)" in text
    assert "steps[0].demo.mdoe: unknown setting" in text and "did you mean 'mode'?" in text
    with pytest.raises(ConfigError) as e:  # every range problem at once, at the setting's name
        bind(DemoFactory, {"count": 0, "ratio": 1.5}, where="steps[0].demo")
    assert [str(p) for p in e.value.problems] == [
        "count: out of range (got 0; expected an integer >= 1)",
        "ratio: out of range (got 1.5; expected a number in (0, 1])",
    ]
    with pytest.raises(ConfigError, match="ratio: out of range"):
        DemoFactory(ratio=0)  # the Python API checks the same declaration


def test_resolve_path_is_the_one_rule(tmp_path):
    assert resolve_path("a/b", tmp_path) == tmp_path / "a" / "b"
    assert resolve_path(tmp_path / "c", Path("/elsewhere")) == tmp_path / "c"
    assert resolve_path("~", None) == Path.home()


def test_train_range_problems_carry_the_yaml_path_and_line(tmp_path):
    from cvpipe.pipeline import load_pipeline

    f = tmp_path / "p.yaml"
    f.write_text("steps:\n"
                 "  - synthesize: {images: 2, output: data}\n"
                 "  - train:\n"
                 "      dataset: data\n"
                 "      epochs: 0\n"
                 "      lr: -1\n"
                 "      batch_size: ten\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_pipeline(f)
    assert [str(p) for p in e.value.problems] == [
        f"{f}:7: steps[1].train.batch_size: wrong type (got 'ten'; expected an integer)",
    ]
    f.write_text(f.read_text().replace("ten", "4"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_pipeline(f)
    assert [str(p) for p in e.value.problems] == [
        f"{f}:5: steps[1].train.epochs: out of range (got 0; expected an integer >= 1)",
        f"{f}:6: steps[1].train.lr: out of range (got -1.0; expected a number > 0)",
    ]


@pytest.fixture
def patched_train_settings(monkeypatch):
    """The engine's TrainSettings replaced (as editing its one declaration would): epochs
    defaults to 3 and must be >= 2."""
    import cvpipe.engine.train as engine_train
    from cvpipe.builtin import train_steps

    class Changed(engine_train.TrainSettings):
        epochs: int = Field(3, ge=2, description="epochs to train, changed")

    def reset():
        train_steps.train_step_settings.cache_clear()
        train_steps.TrainStep.Settings._model = None

    monkeypatch.setattr(engine_train, "TrainSettings", Changed)
    reset()
    yield Changed
    monkeypatch.undo()
    reset()


def test_changing_the_one_declaration_changes_validation_engine_and_docs(tmp_path, patched_train_settings):
    from cvpipe.builtin.train_steps import TrainStep
    from cvpipe.pipeline import load_pipeline

    f = tmp_path / "p.yaml"
    f.write_text("steps:\n  - synthesize: {images: 2, output: data}\n  - train: {dataset: data}\n", encoding="utf-8")
    step = load_pipeline(f).steps[1].step
    assert isinstance(step.config, patched_train_settings) and step.config.epochs == 3  # the engine's config
    f.write_text(f.read_text().replace("{dataset: data}", "{dataset: data, epochs: 1}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"steps\[1\]\.train\.epochs: out of range \(got 1; expected an integer >= 2\)"):
        load_pipeline(f)
    doc = settings_doc(TrainStep)
    assert "epochs (an integer >= 2; default 3): epochs to train, changed" in doc


def test_train_settings_are_documented_from_the_declaration():
    from cvpipe.builtin.train_steps import TrainStep

    doc = settings_doc(TrainStep)
    assert "    epochs (an integer >= 1; default 10): epochs to train" in doc
    assert "    momentum (a number in [0, 1); default 0.9)" in doc
    assert "    loggers (a list of strings or null; default None)" in doc


def _parameters(path: Path) -> dict[str, set[str]]:
    """Every function's parameters that have a default (a declaration of a setting) in the
    module at ``path``."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            positional = a.posonlyargs + a.args
            with_default = positional[len(positional) - len(a.defaults):] if a.defaults else []
            with_default += [x for x, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
            out[node.name] = {x.arg for x in with_default}
    return out


def test_no_train_synthesize_or_compact_setting_is_declared_twice():
    import cvpipe
    from cvpipe.builtin.synthetic import Synthesize, synthesize_step_settings
    from cvpipe.builtin.train_steps import TrainStep, train_step_settings
    from cvpipe.engine.train import TrainSettings
    from cvpipe.models.settings import CompactSettings
    from cvpipe.synthetic import SynthesizeSettings

    # the steps have no own parameter lists: their settings are their models' fields
    for factory in (TrainStep, Synthesize):
        params = inspect.signature(factory.__init__).parameters
        assert [p.kind for p in params.values()][1:] == [inspect.Parameter.VAR_KEYWORD]
    # the step models add only what the step alone knows
    assert not set(train_step_settings().__annotations__) & set(TrainSettings.model_fields)
    assert not set(synthesize_step_settings().__annotations__) & set(SynthesizeSettings.model_fields)
    # no function of these modules repeats a setting as a parameter
    root = Path(cvpipe.__file__).parent
    for rel, model in [("builtin/train_steps.py", TrainSettings), ("engine/train.py", TrainSettings),
                       ("builtin/synthetic.py", SynthesizeSettings), ("builtin/models.py", CompactSettings),
                       ("models/factories.py", CompactSettings), ("models/compact.py", CompactSettings)]:
        for func, names in _parameters(root / rel).items():
            twice = names & set(model.model_fields)
            assert not twice, f"{rel}: {func} repeats {sorted(twice)}"
    sv = _parameters(root / "synthetic.py")
    assert not (sv["synthesize_voc"] & set(SynthesizeSettings.model_fields))


# ------------------------------------------------------------------ the run directory, once
PIPE = """\
name: once
steps:
  - synthesize: {path: "${run_dir}/data", images: 2, output: data}
  - stats: {dataset: data, chart: false, table: false}
"""


def test_cvpipe_run_chooses_the_run_directory_then_loads_once(tmp_path, monkeypatch, capsys):
    import cvpipe.pipeline.loader as loader

    calls = []
    real = loader._build

    def counting(*args, **kwargs):
        calls.append(kwargs.get("run_dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "_build", counting)
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "p.yaml"
    f.write_text(PIPE, encoding="utf-8")

    assert main(["run", str(f), "-q"]) == 0
    assert len(calls) == 1
    (run,) = (tmp_path / "runs" / "once").iterdir()
    result = json.loads((run / "steps" / "00_synthesize.json").read_text())
    assert result["result"]["path"] == str(run / "data")  # ${run_dir} is the directory used

    calls.clear()
    assert main(["run", str(f), "--dry-run", "--resume"]) == 0
    assert len(calls) == 1
    out = capsys.readouterr().out
    assert f"path: {run / 'data'}" in out and f"# run directory: {run} (resume)" in out

    calls.clear()
    assert main(["run", str(f), "--resume", "-q"]) == 0
    assert len(calls) == 1 and json.loads((run / "results.json").read_text())["resume"] is True

    calls.clear()
    out_dir = tmp_path / "elsewhere"
    assert main(["run", str(f), "--out", str(out_dir), "-q"]) == 0
    assert len(calls) == 1 and (out_dir / "data" / "cvpipe-synthetic.json").is_file()
    calls.clear()
    assert main(["run", str(f), "--out", str(out_dir), "-q"]) == 2  # not empty: refused before anything runs
    assert len(calls) == 1


def test_readme_lists_the_train_settings_from_their_declaration():
    from cvpipe.builtin.train_steps import TrainStep

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- train-settings:begin -->\n", 1)[1].split("\n<!-- train-settings:end -->", 1)[0]
    assert block == settings_doc(TrainStep, markdown=True), \
        "regenerate with: python -m cvpipe.settings cvpipe.builtin.train_steps:TrainStep"


def test_loading_the_registry_imports_no_pydantic():
    """Settings models are named lazily (settings.Lazy): start-up stays as cheap as before."""
    import os
    import subprocess
    import sys

    code = ("import sys; from cvpipe.plugins import get_registry; get_registry(); "
            "print('pydantic' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ))
    assert out.stdout.split() == ["False", "False"]
