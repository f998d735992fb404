"""The plugin manager: built-in plugins plus third-party ones from the entry-point group ``cvpipe``.

Built-ins are the modules in :data:`BUILTIN_PLUGINS`; they register through the same hooks as any
third-party plugin. Third-party plugins are found through ``importlib.metadata`` entry points in
the group ``cvpipe``. ``CVPIPE_LOAD_PLUGINS=a,b`` loads only the named third-party plugins
(entry-point names); set but empty, it loads none. A plugin that fails to import, implements a
hook that does not exist, targets another hook API version or raises inside a registration hook
is recorded with its error (``cvpipe plugins`` shows it, the CLI warns once) and everything else
keeps working.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from . import HOOK_API_VERSION, __version__, hookspecs
from .errors import CvpipeError, PluginError
from .registry import FAMILIES, Entry, FormatSpec, PluginInfo, Registry

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HOOK_API_VERSION",
    "make_plugin_manager",
    "build_registry",
    "get_plugin_manager",
    "get_registry",
    "reset",
]

#: Entry-point group third-party plugins declare.
ENTRY_POINT_GROUP = "cvpipe"

#: Built-in plugin modules, registered exactly like third-party plugins.
BUILTIN_PLUGINS: tuple[str, ...] = ()

_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _allowed_names() -> set[str] | None:
    raw = os.environ.get("CVPIPE_LOAD_PLUGINS")
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _check_api_version(name: str, plugin: Any) -> None:
    wanted = getattr(plugin, "CVPIPE_HOOK_API_VERSION", None)
    if wanted is None:
        return
    try:
        major = int(str(wanted).split(".")[0])
    except ValueError:
        major = None
    if major != HOOK_API_VERSION:
        raise PluginError(
            f"plugin {name!r} targets cvpipe hook API version {wanted}, "
            f"but this cvpipe provides version {HOOK_API_VERSION}",
            hint="install a release of the plugin made for this cvpipe",
        )


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register one plugin, rolling back if it implements unknown hooks."""
    _check_api_version(name, plugin)
    pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}") from exc


def make_plugin_manager(
    *,
    builtins: bool = True,
    entry_points: bool = True,
    extra: Iterable[tuple[str, Any]] = (),
) -> pluggy.PluginManager:
    """A new plugin manager with built-ins, installed plugins and ``extra`` ``(name, plugin)``
    pairs registered. Load failures are recorded in ``pm.cvpipe_plugins`` (a list of
    :class:`PluginInfo`), never raised."""
    pm = pluggy.PluginManager("cvpipe")
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    pm.cvpipe_plugins = infos  # type: ignore[attr-defined]

    if builtins:
        for modname in BUILTIN_PLUGINS:
            info = PluginInfo(name=modname, version=__version__, builtin=True, module=modname)
            infos.append(info)
            try:
                _register(pm, importlib.import_module(modname), modname)
            except Exception as exc:  # a broken built-in must not take the CLI down either
                info.error = f"{type(exc).__name__}: {exc}"

    if entry_points:
        allowed = _allowed_names()
        for ep in _entry_points():
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                version=dist.version if dist else None,
                builtin=False,
                distribution=dist.metadata["Name"] if dist else None,
                module=ep.value,
            )
            infos.append(info)
            try:
                _register(pm, ep.load(), ep.name)
            except Exception as exc:
                info.error = str(exc) if isinstance(exc, CvpipeError) else f"{type(exc).__name__}: {exc}"

    for name, plugin in extra:
        module = getattr(plugin, "__name__", None)
        info = PluginInfo(name=name, version=None, builtin=False, module=module)
        infos.append(info)
        try:
            _register(pm, plugin, name)
        except Exception as exc:
            info.error = f"{type(exc).__name__}: {exc}"
    return pm


def _registrar(family: str, registry: Registry, plugin: str) -> Callable[..., None]:
    fam = registry.family(family)
    if family == "formats":

        def register_format(name: str, *, reader=None, writer=None, detect=None, description: str = "") -> None:
            if reader is None and writer is None:
                raise PluginError(f"format {name!r} of plugin {plugin!r} has neither reader nor writer")
            spec = FormatSpec(name, reader, writer, detect, description)
            fam.add(Entry(family, name, spec, plugin, description))

        return register_format

    def register(name: str, factory: Callable[..., Any], *, description: str = "") -> None:
        if not callable(factory):
            raise PluginError(f"{fam.kind} {name!r} of plugin {plugin!r} is not callable")
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        fam.add(Entry(family, name, factory, plugin, doc))

    return register


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every registration hook of every plugin in ``pm`` and collect the names.

    Each implementation is called on its own, so that a plugin raising inside a hook is recorded
    against that plugin (and its partial registrations kept out) while the rest load.
    Name collisions raise :class:`PluginError` naming both plugins.
    """
    registry = Registry(plugins=list(getattr(pm, "cvpipe_plugins", [])))
    infos = {p.name: p for p in registry.plugins}
    for family in FAMILIES:
        caller = getattr(pm.hook, f"cvpipe_register_{family}")
        # pluggy lists implementations last-registered first; register in load order instead
        for impl in reversed(caller.get_hookimpls()):
            info = infos.get(impl.plugin_name)
            if info is not None and info.error:
                continue
            staged = Registry()
            try:
                impl.function(register=_registrar(family, staged, impl.plugin_name))
            except PluginError:
                raise
            except Exception as exc:
                msg = f"{type(exc).__name__} in hook cvpipe_register_{family}: {exc}"
                if info is None:
                    info = PluginInfo(impl.plugin_name, None, False)
                    registry.plugins.append(info)
                    infos[info.name] = info
                info.error = msg
                continue
            for entry in staged.family(family):
                registry.family(family).add(entry)
    return registry


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (created on first use)."""
    global _pm
    if _pm is None:
        _pm = make_plugin_manager()
    return _pm


def get_registry() -> Registry:
    """The process-wide registry (built on first use from :func:`get_plugin_manager`)."""
    global _registry
    if _registry is None:
        _registry = build_registry(get_plugin_manager())
    return _registry


def reset(pm: pluggy.PluginManager | None = None) -> None:
    """Forget the process-wide manager and registry (or install ``pm`` as the manager).
    Tests and ``cvpipe.testing`` use this to register plugins in-process."""
    global _pm, _registry
    _pm, _registry = pm, None


def warn_failures(stream=None) -> None:
    """Print one line per plugin that failed to load (used by the CLI)."""
    stream = stream or sys.stderr
    for info in get_registry().failures:
        print(f"warning: plugin {info.name!r} was not loaded: {info.error}", file=stream)
