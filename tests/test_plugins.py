"""The plugin manager: discovery through entry points, failures isolated, names unique."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import cvpipe
from cvpipe.errors import PluginError, UnknownNameError
from cvpipe.plugins import build_registry, make_plugin_manager

GOOD = '''
import cvpipe
from cvpipe.data import Dataset, Sample

CVPIPE_HOOK_API_VERSION = 1


def read_toy(path, *, images_dir=None, splits=None, problems=None):
    return Dataset(["thing"], [Sample("a.jpg", 4, 4, boxes=[[0, 0, 2, 2]], labels=[0])])


class Double:
    """Doubles the scores."""

    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def __call__(self, scores):
        return [s * self.factor for s in scores]


@cvpipe.hookimpl
def cvpipe_register_formats(register):
    register("toyfmt", reader=read_toy, description="a toy format")


@cvpipe.hookimpl
def cvpipe_register_postprocessors(register):
    register("double", Double)
'''

BROKEN = "raise ImportError('needs a library that is not installed')\n"


def make_dist(site: Path, dist: str, version: str, module: str, source: str, ep_name: str) -> None:
    """A minimal installed distribution: a module plus a dist-info with an entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[cvpipe]\n{ep_name} = {module}\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "cvpipe-toy", "1.2.3", "cvpipe_toy", GOOD, "toy")
    make_dist(site, "cvpipe-broken", "0.1", "cvpipe_broken", BROKEN, "broken")
    return site


def run_cli(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run([sys.executable, "-m", "cvpipe", *args], capture_output=True, text=True, env=environ)


def test_third_party_plugin_discovered_listed_and_usable(site):
    proc = run_cli(site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    toy = plugins["toy"]
    assert toy["version"] == "1.2.3" and toy["builtin"] is False and toy["distribution"] == "cvpipe-toy"
    assert toy["registers"]["formats"] == ["toyfmt"] and toy["registers"]["postprocessors"] == ["double"]
    assert all(p["builtin"] for name, p in plugins.items() if name.startswith("cvpipe.builtin."))

    table = run_cli(site, "plugins")
    assert table.returncode == 0
    line = next(l for l in table.stdout.splitlines() if l.startswith("toy "))
    assert "1.2.3" in line and "cvpipe-toy" in line and "formats: toyfmt" in line


def test_registrations_are_usable_in_process(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("CVPIPE_LOAD_PLUGINS", "toy")
    reg = build_registry(make_plugin_manager())
    ds = reg.formats.get("toyfmt").obj.reader(Path("."))
    assert ds.categories == ["thing"] and ds.num_boxes == 1
    double = reg.postprocessors.create("double", {"factor": 3})
    assert double([1.0, 2.0]) == [3.0, 6.0]
    assert reg.postprocessors.get("double").description == "Doubles the scores."
    with pytest.raises(UnknownNameError, match="did you mean 'toyfmt'"):
        reg.formats.get("toyfm")


def test_broken_plugin_reported_by_name_without_breaking_the_cli(site):
    proc = run_cli(site, "plugins", "--json")
    assert proc.returncode == 0
    broken = next(p for p in json.loads(proc.stdout)["plugins"] if p["name"] == "broken")
    assert "ImportError: needs a library that is not installed" in broken["error"]
    assert all(names == [] for names in broken["registers"].values())
    assert "warning: plugin 'broken' was not loaded: ImportError" in proc.stderr
    assert run_cli(site, "plugins").returncode == 0


def test_load_plugins_env_selects_third_party_plugins(site):
    names = lambda proc: {p["name"] for p in json.loads(proc.stdout)["plugins"] if not p["builtin"]}
    assert names(run_cli(site, "plugins", "--json", CVPIPE_LOAD_PLUGINS="toy")) == {"toy"}
    assert names(run_cli(site, "plugins", "--json", CVPIPE_LOAD_PLUGINS="")) == set()
    assert names(run_cli(site, "plugins", "--json")) >= {"toy", "broken"}


def _plugin(**hooks) -> types.SimpleNamespace:
    ns = types.SimpleNamespace()
    for name, func in hooks.items():
        setattr(ns, name, cvpipe.hookimpl(func))
    return ns


def test_name_collision_is_an_error_naming_both_plugins():
    def fmt():
        def cvpipe_register_formats(register):
            register("same", reader=lambda path: None)
        return _plugin(cvpipe_register_formats=cvpipe_register_formats)

    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[("first", fmt()), ("second", fmt())])
    reg = build_registry(pm)
    assert reg.formats.get("same").plugin == "first"
    second = next(p for p in reg.plugins if p.name == "second")
    assert second.error == "formats 'same' is already registered by plugin 'first'"
    with pytest.raises(PluginError, match="registered by two plugins: 'first' and 'second'"):
        from cvpipe.registry import Entry
        reg.formats.add(Entry("formats", "same", None, "second"))


def test_unknown_hook_and_wrong_api_version_and_failing_hook_are_isolated():
    def cvpipe_register_formatz(register):  # a typo: no such hook
        pass

    def failing(register):
        raise RuntimeError("boom")

    def ok(register):
        register("fine", lambda: 1)

    typo = _plugin(cvpipe_register_formatz=cvpipe_register_formatz)
    future = _plugin(cvpipe_register_steps=ok)
    future.CVPIPE_HOOK_API_VERSION = 99
    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[
        ("typo", typo), ("future", future), ("failing", _plugin(cvpipe_register_steps=failing)),
        ("good", _plugin(cvpipe_register_steps=ok)),
    ])
    reg = build_registry(pm)
    errors = {p.name: p.error for p in reg.plugins}
    assert "unknown hook" in errors["typo"] and "cvpipe_register_formatz" in errors["typo"]
    assert errors["future"] == ("plugin 'future' targets cvpipe hook API version 99, but this cvpipe "
                                f"provides version {cvpipe.HOOK_API_VERSION}; install a release of the "
                                "plugin made for this cvpipe")
    assert errors["failing"] == "RuntimeError in hook cvpipe_register_steps: boom"
    assert errors["good"] is None and reg.steps.names() == ["fine"]


def test_exception_inside_a_plugin_factory_names_plugin_and_hook():
    class Exploding:
        def __init__(self, size: int = 1):
            raise ZeroDivisionError("division by zero")

    def steps(register):
        register("explode", Exploding)

    reg = build_registry(make_plugin_manager(builtins=False, entry_points=False,
                                             extra=[("kaboom", _plugin(cvpipe_register_steps=steps))]))
    with pytest.raises(PluginError) as info:
        reg.steps.create("explode", {"size": 2})
    assert str(info.value) == ("plugin 'kaboom' failed in step 'explode' (hook cvpipe_register_steps): "
                               "ZeroDivisionError: division by zero")
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_failing_lifecycle_hook_names_its_plugin():
    from cvpipe.plugins import LifecycleHooks

    calls = []

    def quiet_logger(step):
        calls.append(step)

    def noisy_logger(run_dir, step, epoch, metrics):
        raise OSError("disk full")

    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[
        ("quiet", _plugin(cvpipe_on_epoch_end=quiet_logger)), ("noisy", _plugin(cvpipe_on_epoch_end=noisy_logger))])
    hooks = LifecycleHooks(pm)
    with pytest.raises(PluginError) as info:
        hooks.cvpipe_on_epoch_end(run_dir=Path("."), step="train", epoch=1, metrics={})
    assert str(info.value) == "plugin 'noisy' failed in hook cvpipe_on_epoch_end: OSError: disk full"
    assert isinstance(info.value.__cause__, OSError)
