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
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))  # keep the cvpipe under test
    environ = {**os.environ, "PYTHONPATH": path, **env}
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


# ---------------------------------------------------------------------------------------------
# The typed contract: registrars, the manager subclass, one family list
# ---------------------------------------------------------------------------------------------


def _registry_of(**hooks):
    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[("p", _plugin(**hooks))])
    return build_registry(pm)


def test_typed_and_legacy_registration_give_the_same_entries():
    from cvpipe.contract import FormatSpec

    def read(path, **kw):
        return None

    def read_dt(path, reference, *, problems=None):
        return None

    class Blur:
        """Blurs."""

    def typed(register):
        register.add_format("fmt", reader=read, read_predictions=read_dt, description="typed")

    def typed_transforms(register):
        register.add_transform("blur", Blur)

    def legacy(register):
        register("fmt", reader=read, read_predictions=read_dt, description="typed")

    def legacy_transforms(register):
        register("blur", Blur)

    a = _registry_of(cvpipe_register_formats=typed, cvpipe_register_transforms=typed_transforms)
    b = _registry_of(cvpipe_register_formats=legacy, cvpipe_register_transforms=legacy_transforms)
    for reg in (a, b):
        assert [p.error for p in reg.plugins] == [None]
        fmt = reg.formats.get("fmt")
        assert fmt.obj == FormatSpec("fmt", reader=read, description="typed", read_predictions=read_dt)
        assert (fmt.plugin, fmt.description, fmt.hook, fmt.kind) == ("p", "typed", "cvpipe_register_formats", "format")
        assert reg.transforms.get("blur").obj is Blur and reg.transforms.get("blur").description == "Blurs."


@pytest.mark.parametrize("body, message", [
    (lambda r: r.add_format("f"), "plugin 'p': format 'f': neither reader nor writer given (hook cvpipe_register_formats)"),
    (lambda r: r.add_format("f", reader=len, detect="yes"),
     "plugin 'p': format 'f': detect is not callable (got str 'yes') (hook cvpipe_register_formats)"),
    (lambda r: r.add_format("", writer=len), "plugin 'p' registered a format with a bad name '' "
                                             "(hook cvpipe_register_formats) (expected a non-empty string)"),
    (lambda r: r.add_format(3, writer=len), "plugin 'p' registered a format with a bad name 3"),
    (lambda r: r.add_format("f", writer=len, description=None),
     "plugin 'p': format 'f': description is not a string (got NoneType)"),
])
def test_bad_format_registrations_refuse_the_plugin_by_name(body, message):
    reg = _registry_of(cvpipe_register_formats=lambda register: body(register))
    assert reg.plugins[0].error.startswith(message), reg.plugins[0].error
    assert reg.formats.names() == []


@pytest.mark.parametrize("family, method", [
    ("transforms", "add_transform"), ("models", "add_model"), ("postprocessors", "add_postprocessor"),
    ("metrics", "add_metric"), ("steps", "add_step")])
def test_every_factory_registrar_checks_its_factory(family, method):
    def hook(register):
        getattr(register, method)("thing", 42)

    reg = _registry_of(**{f"cvpipe_register_{family}": hook})
    kind = family[:-1]
    assert reg.plugins[0].error == (f"plugin 'p': {kind} 'thing': factory is not callable (got int 42) "
                                    f"(hook cvpipe_register_{family})")
    ok = _registry_of(**{f"cvpipe_register_{family}": lambda register: getattr(register, method)("thing", dict)})
    assert ok.family(family).names() == ["thing"]


def test_one_family_list_drives_hookspecs_registry_and_registrars():
    import inspect

    from cvpipe import contract, hookspecs, registry
    from cvpipe.skeleton import HOOK_CHOICES

    assert registry.FAMILIES is contract.FAMILIES
    assert contract.FAMILIES == tuple(r.family for r in contract.REGISTRARS)
    specs = [n for n in vars(hookspecs) if n.startswith("cvpipe_register_")]
    assert specs == [r.hook for r in contract.REGISTRARS]  # same hooks, same order
    for cls in contract.REGISTRARS:
        spec = getattr(hookspecs, cls.hook)
        assert inspect.signature(spec).parameters["register"].annotation == cls.__name__
        assert cls.method == f"add_{cls.kind}" and callable(getattr(cls, cls.method))
        assert getattr(registry.Registry(), cls.family).kind == cls.kind
    assert set(HOOK_CHOICES) <= set(contract.FAMILIES)
    with pytest.raises(AttributeError):
        registry.Registry().widgets


def test_manager_subclass_loads_default_plugins_by_name():
    from cvpipe.plugins import BUILTIN_PLUGINS, CvpipePluginManager

    assert all(isinstance(n, str) and n.startswith("cvpipe.") for n in CvpipePluginManager.default_plugins)
    assert BUILTIN_PLUGINS == CvpipePluginManager.default_plugins
    assert isinstance(make_plugin_manager(builtins=False, entry_points=False), CvpipePluginManager)

    class OnlyVoc(CvpipePluginManager):
        default_plugins = ("cvpipe.builtin.voc", "cvpipe.no_such_plugin")

    pm = OnlyVoc()
    pm.load(entry_points=False)
    reg = build_registry(pm)
    assert reg.formats.names() == ["voc"] and reg.steps.names() == []
    missing = next(p for p in reg.plugins if p.name == "cvpipe.no_such_plugin")
    assert missing.builtin and missing.error == "ModuleNotFoundError: No module named 'cvpipe.no_such_plugin'"


def test_builtin_metric_satisfies_the_metric_protocol():
    from cvpipe.contract import Metric

    reg = build_registry(make_plugin_manager(entry_points=False))
    for name in reg.metrics.names():
        assert isinstance(reg.metrics.create(name, {}), Metric), name
