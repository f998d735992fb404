"""The pipeline runner: validation with YAML paths and lines (and nothing run), interpolation,
--set overrides, --dry-run, run directories, --resume, lifecycle hooks, failures."""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path
from typing import Literal

import pytest

import cvpipe
from cvpipe.cli import main
from cvpipe.errors import ConfigError, JobError
from cvpipe.pipeline import Context, StepFailed, load_pipeline, load_yaml_with_lines
from cvpipe.plugins import make_plugin_manager, reset


# ------------------------------------------------------------------------------------------
# An in-process plugin with toy steps and a recorder of lifecycle hooks
# ------------------------------------------------------------------------------------------


class Make:
    """Store a list 0..count-1; optionally write a file (to prove whether it ran)."""

    def __init__(self, *, count: int, output: str = "things", touch: Path | None = None,
                 mode: Literal["a", "b"] = "a", scale: float = 1.0) -> None:
        if count < 0:
            raise ConfigError("must not be negative", field="count", value=count, expected=">= 0")
        self.count, self.touch, self.output, self.scale, self.mode = count, touch, output, scale, mode
        self.inputs: dict[str, str] = {}
        self.outputs = {"output": output}

    def run(self, ctx: Context) -> dict:
        ctx[self.output] = [i * self.scale for i in range(self.count)]
        if self.touch is not None:
            Path(self.touch).parent.mkdir(parents=True, exist_ok=True)
            Path(self.touch).write_text("ran")
        (ctx.step_dir / "made.txt").write_text(str(self.count))
        ctx.log(f"made {self.count}")
        return {"made": self.count, "touch": self.touch, "resume": ctx.resume}


class Total:
    """Sum what an earlier step stored; fail on request."""

    def __init__(self, *, things: str = "things", fail: Literal["none", "job", "bug", "config"] = "none",
                 paths: list[Path] | None = None) -> None:
        self.things, self.fail, self.paths = things, fail, paths
        self.inputs = {"things": things}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Context) -> dict:
        if self.fail == "job":
            raise JobError("diverged", expected="a finite loss")
        if self.fail == "bug":
            raise ZeroDivisionError("division by zero")
        if self.fail == "config":
            raise ConfigError("not a category of the dataset", field="things", value=self.things)
        return {"sum": sum(ctx[self.things]), "paths": self.paths}


class Toy:
    @cvpipe.hookimpl
    def cvpipe_register_steps(self, register):
        register("make", Make)
        register("total", Total)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @cvpipe.hookimpl
    def cvpipe_on_pipeline_start(self, pipeline, run_dir, config):
        self.calls.append(("pipeline_start", pipeline, Path(run_dir), config["name"]))

    @cvpipe.hookimpl
    def cvpipe_on_step_start(self, pipeline, step, kind, settings):
        self.calls.append(("step_start", step, kind, settings))

    @cvpipe.hookimpl
    def cvpipe_on_step_end(self, step, kind, result, seconds):
        assert seconds >= 0
        self.calls.append(("step_end", step, kind, result))

    @cvpipe.hookimpl
    def cvpipe_on_pipeline_end(self, pipeline, run_dir, results, error):
        self.calls.append(("pipeline_end", pipeline, dict(results), error))


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    """Toy steps + hook recorder installed in-process (no built-ins or entry points); the
    current directory is a fresh tmp folder so default run dirs land there."""
    rec = Recorder()
    reset(make_plugin_manager(builtins=False, entry_points=False, extra=[("toy", Toy()), ("rec", rec)]))
    monkeypatch.chdir(tmp_path)
    yield rec
    reset()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


GOOD = """
name: toy
vars:
  n: 3
  out: results/out.txt
steps:
  - make:
      count: ${vars.n}
      touch: ${vars.out}
  - total: {}
  - total:
      name: again
      things: things
"""


# ------------------------------------------------------------------------------------------
# Validation: every error class with its YAML path and line, and nothing ran
# ------------------------------------------------------------------------------------------

BAD = """
name: toy
varz: {}
vars:
  n: 3
steps:
  - make:
      count: 2
      touch: ran.txt
  - make:
      count: ten
      name: second
  - make:
      cuont: 3
  - mak:
      count: 1
  - make:
      count: -1
      name: negative
  - total:
      things: thingz
  - make:
      count: ${vars.m}
      name: unknown_var
  - make:
      count: ${env:CVPIPE_TEST_SURELY_UNSET}
      name: unset_env
  - make:
      name: second
      count: 1
  - just a string
  - make:
      count: 1
      mode: c
      name: literal
"""


def test_every_validation_problem_reported_with_path_and_line_and_nothing_ran(recorder, tmp_path):
    f = write(tmp_path / "p" / "bad.yaml", BAD)
    with pytest.raises(ConfigError) as info:
        load_pipeline(f)
    text = str(info.value)
    fn = str(f)
    expected = [
        f"{fn}:2: varz: unknown top-level key (expected one of: name, vars, steps); did you mean 'vars'?",
        f"{fn}:10: steps[1].make.count: wrong type (got 'ten'; expected an integer)",
        f"{fn}:13: steps[2].make.cuont: unknown setting",
        "did you mean 'count'?",
        f"{fn}:12: steps[2].make.count: missing required setting (expected an integer)",
        f"{fn}:14: steps[3]: unknown step 'mak' (expected one of: make, total); did you mean 'make'?",
        f"{fn}:17: steps[4].make.count: must not be negative (got -1; expected >= 0)",
        f"{fn}:20: steps[5].total.things: no earlier step produces this (got 'thingz'; expected one of: things)"
        "; did you mean 'things'?",
        f"{fn}:22: steps[6].make.count: unknown var 'm' (got '${{vars.m}}'; expected one of: n)",
        f"{fn}:25: steps[7].make.count: environment variable CVPIPE_TEST_SURELY_UNSET is not set",
        f"{fn}:28: steps[8].make.name: two steps have the same name (got 'second'",
        f"{fn}:30: steps[9]: a step must be a mapping with one key, its kind",
        f"{fn}:33: steps[10].make.mode: wrong type (got 'c'; expected one of: 'a', 'b')",
    ]
    for line in expected:
        assert line in text, f"missing: {line}\nin:\n{text}"
    assert len(info.value.problems) == len(expected) - 1  # "did you mean 'count'" is part of another
    assert info.value.exit_code == 2
    # nothing ran: the first (valid) step would have written ran.txt; no run directory either
    assert not (tmp_path / "p" / "ran.txt").exists()
    assert not (tmp_path / "runs").exists()
    assert recorder.calls == []


def test_cli_bad_pipeline_exit_2_lists_problems_runs_nothing(recorder, tmp_path, capsys):
    f = write(tmp_path / "bad.yaml", BAD)
    assert main(["run", str(f)]) == 2
    err = capsys.readouterr().err
    assert "error: 12 problems:" in err
    assert "steps[1].make.count: wrong type (got 'ten'; expected an integer)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "runs").exists()


def test_yaml_syntax_error_has_line(recorder, tmp_path):
    f = write(tmp_path / "syntax.yaml", "name: x\nsteps:\n  - make: {count: 1\n  - total: {}\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(f)
    p = info.value.problem
    assert p.message.startswith("invalid YAML") and p.file == str(f) and p.line in (3, 4)


def test_duplicate_key_and_unsafe_yaml_refused(recorder, tmp_path):
    f = write(tmp_path / "dup.yaml", "name: x\nsteps:\n  - make:\n      count: 1\n      count: 2\n")
    with pytest.raises(ConfigError, match=r"dup.yaml:5: steps\[0\].make.count: duplicate key"):
        load_pipeline(f)
    for evil in ("name: !!python/object/apply:os.system ['echo hi']\n", "name: !!python/name:os.system\n"):
        f = write(tmp_path / "evil.yaml", evil + "steps:\n  - make: {count: 1}\n")
        with pytest.raises(ConfigError, match=r"evil.yaml:1: .*invalid YAML"):
            load_pipeline(f)


def test_empty_and_non_mapping_files(recorder, tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        load_pipeline(write(tmp_path / "e.yaml", "# nothing\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_pipeline(write(tmp_path / "l.yaml", "- make: {count: 1}\n"))
    with pytest.raises(ConfigError, match="steps: missing required key"):
        load_pipeline(write(tmp_path / "n.yaml", "name: x\n"))


def test_step_with_skipped_producer_is_an_error(recorder, tmp_path):
    f = write(tmp_path / "s.yaml", """
        steps:
          - make: {count: 1, when: false, output: maybe}
          - total: {things: maybe}
    """)
    with pytest.raises(ConfigError, match=r"s.yaml:3: steps\[1\].total.things: 'maybe' is produced only by step "
                                          r"'make', which is skipped"):
        load_pipeline(f)


def test_line_helper_records_keys_and_items():
    data, lines = load_yaml_with_lines("a:\n  - x: 1\n    y: [1, 2]\n  - 3\n", "f.yaml")
    assert data == {"a": [{"x": 1, "y": [1, 2]}, 3]}
    assert lines["a"] == 1 and lines["a[0]"] == 2 and lines["a[0].y"] == 3 and lines["a[1]"] == 4


# ------------------------------------------------------------------------------------------
# Interpolation and overrides
# ------------------------------------------------------------------------------------------


def test_interpolation_keeps_types_and_substitutes_text(recorder, tmp_path, monkeypatch):
    monkeypatch.setenv("CVPIPE_TEST_COUNT", "4")
    monkeypatch.setenv("CVPIPE_TEST_SUB", "deep")
    f = write(tmp_path / "p" / "i.yaml", """
        name: interp
        vars:
          n: ${env:CVPIPE_TEST_COUNT}
          scale: 0.5
          cfg: {k: 2}
          tag: run-${vars.n}
          nothing: null
        steps:
          - make:
              count: ${vars.cfg.k}
              scale: ${vars.scale}
              output: x${vars.n}
              touch: ${env:CVPIPE_TEST_SUB}/${vars.tag}.txt
          - make:
              count: ${vars.n}
              output: ${vars.nothing:-fallback}
              touch: $${literal}
    """)
    pipe = load_pipeline(f)
    make, make2 = pipe.steps
    assert make.settings["count"] == 2 and make.bound["count"] == 2
    assert make.settings["scale"] == 0.5
    assert make.settings["output"] == "x4"
    assert make.outputs == {"output": "x4"}
    assert pipe.config["vars"]["tag"] == "run-4" and pipe.config["vars"]["n"] == 4
    assert make2.bound["count"] == 4 and make2.outputs == {"output": "fallback"}
    assert make2.settings["touch"] == "${literal}"
    # a relative path written in the file resolves against the file's folder, but one that
    # starts with an environment value resolves against the current directory
    assert make.bound["touch"] == str(tmp_path / "deep" / "run-4.txt")
    assert make2.bound["touch"] == str(tmp_path / "p" / "${literal}")


def test_var_cycle_is_an_error(recorder, tmp_path):
    f = write(tmp_path / "c.yaml", "vars:\n  a: ${vars.b}\n  b: ${vars.a}\nsteps:\n  - make: {count: 1}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: vars.b: vars refer to each other in a cycle \(got 'a -> b -> a'"):
        load_pipeline(f)


def test_overrides_by_index_name_and_var(recorder, tmp_path):
    f = write(tmp_path / "p" / "g.yaml", GOOD)
    pipe = load_pipeline(f, ["steps.0.count=7", "again.fail=none", "steps.1.total.things=things",
                             "vars.out=elsewhere/o.txt", "make.scale=2.5", "name=renamed"])
    make = pipe.steps[0]
    assert make.bound["count"] == 7 and make.bound["scale"] == 2.5
    assert pipe.name == "renamed"
    # a relative path given on the command line resolves against the current directory
    assert make.bound["touch"] == str(tmp_path / "elsewhere" / "o.txt")
    # ... one written in the file against the file's folder
    assert load_pipeline(f).steps[0].bound["touch"] == str(tmp_path / "p" / "results" / "out.txt")
    # flow collections are accepted as values
    assert load_pipeline(f, ["total_1.paths=[a, b]"]).steps[1].bound["paths"] == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_overrides_are_validated_like_the_file(recorder, tmp_path):
    f = write(tmp_path / "g.yaml", GOOD)
    with pytest.raises(ConfigError) as info:
        load_pipeline(f, ["make.count=ten", "mkae.count=1", "vars.nn=1", "steps.9.count=1", "oops",
                          "again.things=nothing"])
    text = str(info.value)
    assert "--set make.count=ten: steps[0].make.count: wrong type (got 'ten'; expected an integer)" in text
    assert "--set mkae.count=1: no step named 'mkae'" in text and "did you mean 'make'?" in text
    assert "--set vars.nn=1: unknown var 'nn' (expected one of: n, out); did you mean 'n'?" in text
    assert "--set steps.9.count=1: step index out of range (got 9; expected 0..2)" in text
    assert "--set oops: expected KEY=VALUE" in text
    assert "--set again.things=nothing: steps[2].total.things: no earlier step produces this" in text


# ------------------------------------------------------------------------------------------
# Running: run directory, results, hooks, dry run, resume, failures
# ------------------------------------------------------------------------------------------


def test_run_writes_run_dir_and_fires_hooks_in_order(recorder, tmp_path):
    f = write(tmp_path / "p" / "g.yaml", GOOD)
    results = load_pipeline(f).run(quiet=True)
    run_dir = Path(results["run_dir"])
    assert run_dir.parent == tmp_path / "runs" / "toy"
    assert results["status"] == "ok"
    assert [s["status"] for s in results["steps"].values()] == ["ok", "ok", "ok"]
    assert list(results["steps"]) == ["make", "total_1", "again"]
    assert results["steps"]["again"]["result"]["sum"] == 3  # 0 + 1 + 2
    assert (tmp_path / "p" / "results" / "out.txt").read_text() == "ran"
    assert (run_dir / "make" / "made.txt").read_text() == "3"
    assert json.loads((run_dir / "results.json").read_text()) == results
    step_files = sorted(p.name for p in (run_dir / "steps").iterdir())
    assert step_files == ["00_make.json", "01_total_1.json", "02_again.json"]
    assert json.loads((run_dir / "steps" / "00_make.json").read_text())["result"]["made"] == 3
    resolved = (run_dir / "pipeline.yaml").read_text()
    assert "count: 3" in resolved and "${vars" not in resolved
    log = (run_dir / "run.log").read_text()
    assert "[make] made 3" in log and "[again] done" in log
    kinds = [c[0] for c in recorder.calls]
    assert kinds == ["pipeline_start", "step_start", "step_end", "step_start", "step_end", "step_start",
                     "step_end", "pipeline_end"]
    assert recorder.calls[0] == ("pipeline_start", "toy", run_dir, "toy")
    assert recorder.calls[1][1:3] == ("make", "make") and recorder.calls[1][3]["count"] == 3
    assert recorder.calls[6] == ("step_end", "again", "total", {"sum": 3, "paths": None})
    end = recorder.calls[-1]
    assert end[0] == "pipeline_end" and end[3] is None and set(end[2]) == {"make", "total_1", "again"}


def test_step_failure_names_the_step_exit_1_and_records_partial_results(recorder, tmp_path, capsys):
    f = write(tmp_path / "g.yaml", GOOD)
    out = tmp_path / "myrun"
    assert main(["run", str(f), "--set", "again.fail=bug", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: step 'again' (total) failed: ZeroDivisionError: division by zero" in err
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "failed" and "again" in results["error"]
    assert [s["status"] for s in results["steps"].values()] == ["ok", "ok", "failed"]
    end = recorder.calls[-1]
    assert end[0] == "pipeline_end" and isinstance(end[3], StepFailed) and set(end[2]) == {"make", "total_1"}
    with pytest.raises(StepFailed) as info:
        load_pipeline(f, ["again.fail=job"]).run(out=tmp_path / "r2", quiet=True)
    assert info.value.exit_code == 1 and "step 'again' (total) failed: diverged" in str(info.value)


def test_config_error_raised_while_running_gets_yaml_path_and_line(recorder, tmp_path):
    f = write(tmp_path / "g.yaml", GOOD)
    with pytest.raises(StepFailed) as info:
        load_pipeline(f, ["again.fail=config"]).run(out=tmp_path / "r", quiet=True)
    assert info.value.exit_code == 2
    assert f"{f}:12: steps[2].total.things: not a category of the dataset" in str(info.value)


def test_dry_run_prints_resolved_pipeline_and_plan_runs_nothing(recorder, tmp_path, capsys):
    f = write(tmp_path / "p" / "g.yaml", GOOD)
    assert main(["run", str(f), "--dry-run", "--set", "vars.n=5"]) == 0
    out = capsys.readouterr().out
    assert "# resolved pipeline" in out and "count: 5" in out and "n: 5" in out
    assert "# plan" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["0", "make", "make", "-", "->", "things"] in lines
    assert ["2", "again", "total", "things", "->", "-"] in lines
    assert not (tmp_path / "runs").exists() and not (tmp_path / "p" / "results").exists()
    assert recorder.calls == []


def test_cli_run_prints_progress_and_table(recorder, tmp_path, capsys):
    f = write(tmp_path / "g.yaml", GOOD)
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    cap = capsys.readouterr()
    assert "[1/3] make (make) done in" in cap.err and "made=3" in cap.err
    assert "step" in cap.out and "again" in cap.out and "sum=3" in cap.out and "toy: ok in" in cap.out
    assert main(["run", str(f), "--out", str(tmp_path / "q"), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""


def test_existing_run_dir_needs_resume_and_resume_reuses_latest(recorder, tmp_path):
    f = write(tmp_path / "g.yaml", GOOD)
    out = tmp_path / "run1"
    load_pipeline(f).run(out=out, quiet=True)
    with pytest.raises(ConfigError, match="the run directory exists and is not empty"):
        load_pipeline(f).run(out=out, quiet=True)
    r = load_pipeline(f, ["vars.n=5"]).run(out=out, resume=True, quiet=True)
    assert r["resume"] is True and r["steps"]["make"]["result"]["resume"] is True
    assert r["steps"]["again"]["result"]["sum"] == 10
    assert "count: 5" in (out / "pipeline.yaml").read_text()
    assert (out / "run.log").read_text().count("starting pipeline") == 1
    assert "resuming pipeline" in (out / "run.log").read_text()
    # without --out: the latest run under runs/<name>/
    first = load_pipeline(f).run(quiet=True)
    again = load_pipeline(f).run(resume=True, quiet=True)
    assert again["run_dir"] == first["run_dir"] and again["resume"] is True
    with pytest.raises(ConfigError, match="nothing to resume"):
        load_pipeline(f, ["name=never_ran"]).run(resume=True, quiet=True)


def test_run_dir_interpolation_follows_the_actual_run_dir(recorder, tmp_path):
    f = write(tmp_path / "rd.yaml", """
        steps:
          - make: {count: 1, touch: "${run_dir}/inside.txt"}
    """)
    pipe = load_pipeline(f)
    out = tmp_path / "chosen"
    pipe.run(out=out, quiet=True)
    assert (out / "inside.txt").read_text() == "ran"


def test_when_and_unless_skip_steps(recorder, tmp_path):
    f = write(tmp_path / "w.yaml", """
        vars: {given: null}
        steps:
          - make: {count: 2, unless: "${vars.given}", touch: a.txt}
          - make: {count: 3, when: "${vars.given}", touch: b.txt, name: other}
    """)
    r = load_pipeline(f).run(out=tmp_path / "r1", quiet=True)
    assert [s["status"] for s in r["steps"].values()] == ["ok", "skipped"]
    assert (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
    r = load_pipeline(f, ["vars.given=yes"]).run(out=tmp_path / "r2", quiet=True)
    assert [s["status"] for s in r["steps"].values()] == ["skipped", "ok"]
    assert (tmp_path / "b.txt").exists()


def test_context_dict_access_and_missing_name():
    ctx = Context(run_dir=Path("/nonexistent"), base_dir=Path("."), pipeline="p", quiet=True,
                  hook=types.SimpleNamespace())
    ctx.step_name = "s"
    ctx["a"] = 1
    assert ctx["a"] == 1 and "a" in ctx and "b" not in ctx and list(ctx) == ["a"]
    with pytest.raises(JobError, match="step 's' needs 'b', which no earlier step produced"):
        ctx["b"]


def test_cli_help_lists_run():
    from click.testing import CliRunner

    from cvpipe.cli import cli

    res = CliRunner().invoke(cli, ["run", "--help"])
    assert res.exit_code == 0 and "--dry-run" in res.output and "--resume" in res.output


def test_no_reference_noise_after_a_step_that_could_not_be_built(recorder, tmp_path):
    f = write(tmp_path / "g.yaml", GOOD)
    with pytest.raises(ConfigError) as info:
        load_pipeline(f, ["make.count=ten"])
    # the make step (which would produce 'things') failed; its readers are not reported too
    assert len(info.value.problems) == 1 and "steps[0].make.count: wrong type" in str(info.value)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cvpipe.pipeline.resolve import Interpolator  # noqa: E402
from cvpipe.pipeline.source import Source  # noqa: E402

scalars = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.text(alphabet=st.characters(blacklist_characters="${}"), max_size=12))


@settings(max_examples=200, deadline=None)
@given(scalars, st.text(alphabet="ab/ -", max_size=5), st.text(alphabet="ab/ -", max_size=5))
def test_interpolation_law(value, before, after):
    """``${vars.x}`` alone is the value itself (type kept); inside text it is its text."""
    problems: list = []
    interp = Interpolator({"x": value}, set(), Path("/run"), Source("f.yaml", {}), problems, {})
    assert interp.walk("${vars.x}", ("k",)) == value or (value != value)
    if before or after:
        if value is None:
            interp.walk(f"{before}${{vars.x}}{after}", ("k",))
            assert problems and "cannot insert a null" in problems[-1].message
        else:
            text = {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)
            assert interp.walk(f"{before}${{vars.x}}{after}", ("k",)) == before + text + after
            assert not problems


def test_torchrun_without_a_shared_run_directory_is_refused(tmp_path, monkeypatch):
    from cvpipe.errors import ConfigError
    from cvpipe.pipeline import load_pipeline

    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text("name: dist\nsteps:\n  - synthesize: {path: data, images: 2}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    with pytest.raises(ConfigError, match="under torchrun every process must use the same run directory"):
        load_pipeline(yaml_path).run(quiet=True)
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job7")
    monkeypatch.setenv("RANK", "1")
    load_pipeline(yaml_path).run(quiet=True)   # rank 1 works quietly inside rank 0's run directory
    assert (tmp_path / "runs" / "dist" / "torchrun-job7" / ".rank1" / "pipeline.yaml").is_file()
