"""Issue 14 item 9: a plugin calling ``sys.exit()`` -- at import, inside a registration hook,
inside a registered callable or a lifecycle hook -- never takes cvpipe down: it is recorded as a
failure naming the plugin, and every command keeps working. The CLI runs in a subprocess with the
plugins installed as throwaway distributions (a dist-info with an entry point in group cvpipe)."""

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
from cvpipe.errors import PluginError

EXIT_AT_IMPORT = '''
import sys
sys.exit(3)
'''

EXIT_IN_REGISTRATION = '''
import sys
import cvpipe

@cvpipe.hookimpl
def cvpipe_register_formats(register):
    sys.exit("leaving from the hook")
'''

EXIT_IN_READER = '''
import sys
import cvpipe

def read(path, **options):
    sys.exit(5)

@cvpipe.hookimpl
def cvpipe_register_formats(register):
    register.add_format("exitfmt", reader=read)
'''


def _install(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[cvpipe]\n{ep_name} = {module}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "cvpipe-exit-import", "cvpipe_exit_import", EXIT_AT_IMPORT, "exit_import")
    _install(site, "cvpipe-exit-hook", "cvpipe_exit_hook", EXIT_IN_REGISTRATION, "exit_hook")
    _install(site, "cvpipe-exit-reader", "cvpipe_exit_reader", EXIT_IN_READER, "exit_reader")
    return site


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("CVPIPE_LOAD_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "cvpipe", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def voc_dir(tmp_path: Path) -> Path:
    """A small VOC dataset with its images, written by the built-in writer."""
    from cvpipe.testing import make_dataset, plugin_registry, write_images

    ds = write_images(make_dataset(3), tmp_path / "images")
    with plugin_registry() as reg:
        reg.formats.get("voc").obj.writer(ds, tmp_path / "voc")
    return tmp_path / "voc"


def test_plugins_lists_the_exiting_plugins_by_name(site):
    proc = _cli(site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    assert plugins["exit_import"]["error"] == "SystemExit: the plugin called sys.exit(3)"
    assert plugins["exit_hook"]["error"] == ("SystemExit in hook cvpipe_register_formats: "
                                             "the plugin called sys.exit('leaving from the hook')")
    assert "error" not in plugins["exit_reader"] and plugins["exit_reader"]["registers"]["formats"] == ["exitfmt"]
    assert "voc" in plugins["cvpipe.builtin.voc"]["registers"]["formats"]
    for name in ("exit_import", "exit_hook"):
        assert f"warning: plugin {name!r} was not loaded: SystemExit" in proc.stderr

    table = _cli(site, "plugins")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("exit_import "))
    assert "NOT LOADED: SystemExit: the plugin called sys.exit(3)" in row


def test_convert_still_works_and_an_exiting_reader_is_named(site, voc_dir, tmp_path):
    proc = _cli(site, "convert", str(voc_dir), str(tmp_path / "yolo"), "--to", "yolo")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "yolo").is_dir()
    assert "plugin 'exit_import' was not loaded" in proc.stderr

    src = tmp_path / "exit_src"
    src.mkdir()
    proc = _cli(site, "convert", str(src), str(tmp_path / "out"), "--from", "exitfmt", "--to", "voc")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert ("plugin 'exit_reader' failed in format 'exitfmt' (hook cvpipe_register_formats): SystemExit: 5"
            in proc.stderr), proc.stderr
    assert not (tmp_path / "out").exists()


def test_sys_exit_in_a_lifecycle_hook_becomes_an_error_naming_the_plugin():
    from cvpipe.plugins import LifecycleHooks, make_plugin_manager

    def on_epoch_end(epoch):
        sys.exit(0)

    plugin = types.SimpleNamespace(cvpipe_on_epoch_end=cvpipe.hookimpl(on_epoch_end))
    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[("quitter", plugin)])
    with pytest.raises(PluginError) as info:
        LifecycleHooks(pm).cvpipe_on_epoch_end(run_dir=Path("."), step="train", epoch=1, metrics={})
    assert str(info.value) == ("plugin 'quitter' failed in hook cvpipe_on_epoch_end: "
                               "SystemExit: the plugin called sys.exit(0)")
    assert isinstance(info.value.__cause__, SystemExit)


def test_keyboard_interrupt_is_never_swallowed():
    from cvpipe.plugins import build_registry, make_plugin_manager

    def interrupted(register):
        raise KeyboardInterrupt

    plugin = types.SimpleNamespace(cvpipe_register_steps=cvpipe.hookimpl(interrupted))
    pm = make_plugin_manager(builtins=False, entry_points=False, extra=[("ctrl_c", plugin)])
    with pytest.raises(KeyboardInterrupt):
        build_registry(pm)
