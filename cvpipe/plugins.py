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
import warnings
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
    "LifecycleHooks",
]

#: Entry-point group third-party plugins declare.
ENTRY_POINT_GROUP = "cvpipe"

#: Built-in plugin modules, registered exactly like third-party plugins.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "cvpipe.builtin.metrics",
    "cvpipe.builtin.coco",
    "cvpipe.builtin.voc",
    "cvpipe.builtin.yolo",
    "cvpipe.builtin.postprocess",
    "cvpipe.builtin.steps",
    "cvpipe.builtin.augment",
    "cvpipe.builtin.synthetic",
    "cvpipe.builtin.models",
    "cvpipe.builtin.train_steps",
    "cvpipe.builtin.tensorboard",
)

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


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CvpipeError) else f"{type(exc).__name__}: {exc}"


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
                info.error = _describe(exc)

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
                info.error = _describe(exc)

    for name, plugin in extra:
        module = getattr(plugin, "__name__", None)
        info = PluginInfo(name=name, version=None, builtin=False, module=module)
        infos.append(info)
        try:
            _register(pm, plugin, name)
        except Exception as exc:
            info.error = _describe(exc)
    return pm


def _registrar(family: str, registry: Registry, plugin: str) -> Callable[..., None]:
    fam = registry.family(family)
    if family == "formats":

        def register_format(name: str, *, reader=None, writer=None, detect=None, description: str = "",
                            read_predictions=None) -> None:
            if reader is None and writer is None:
                raise PluginError(f"format {name!r} of plugin {plugin!r} has neither reader nor writer")
            spec = FormatSpec(name, reader, writer, detect, description, read_predictions)
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

    Each implementation is called on its own, so that a plugin raising inside a hook, or
    registering a name another plugin already took, is recorded against that plugin (with an
    error naming both plugins for a collision) and left out whole, while the rest load.
    Plugins are merged in load order: built-ins first, then installed plugins, then in-process.
    """
    registry = Registry(plugins=list(getattr(pm, "cvpipe_plugins", [])))
    infos = {p.name: p for p in registry.plugins}
    staged: dict[str, Registry] = {}
    for family in FAMILIES:
        caller = getattr(pm.hook, f"cvpipe_register_{family}")
        # pluggy lists implementations last-registered first; call them in load order instead
        for impl in reversed(caller.get_hookimpls()):
            name = impl.plugin_name
            info = infos.get(name)
            if info is None:  # registered on the manager directly, without a PluginInfo
                info = infos[name] = PluginInfo(name, None, False)
                registry.plugins.append(info)
            if info.error:
                continue
            own = staged.setdefault(name, Registry())
            try:
                impl.function(register=_registrar(family, own, name))
            except Exception as exc:
                info.error = (str(exc) if isinstance(exc, CvpipeError)
                              else f"{type(exc).__name__} in hook cvpipe_register_{family}: {exc}")
    for info in registry.plugins:
        own = staged.get(info.name)
        if info.error or own is None:
            continue
        clashes = [
            f"{fam} {entry.name!r} is already registered by plugin {registry.family(fam).get(entry.name).plugin!r}"
            for fam in FAMILIES for entry in own.family(fam) if entry.name in registry.family(fam)
        ]
        if clashes:
            info.error = "; ".join(clashes)
            continue
        for fam in FAMILIES:
            for entry in own.family(fam):
                registry.family(fam).add(entry)
    return registry


class LifecycleHooks:
    """The lifecycle hooks of a plugin manager, called so that a failure names its plugin.

    ``hooks.cvpipe_on_epoch_end(run_dir=..., step=..., epoch=..., metrics=...)`` calls every
    implementation (pluggy's order and semantics); an exception raised inside one becomes a
    :class:`PluginError` naming the plugin and the hook, with the original chained.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm

    def __getattr__(self, name: str) -> Callable[..., None]:
        caller = getattr(self._pm.hook, name)

        def call(**kwargs: Any) -> None:
            try:
                caller(**kwargs)
            except (CvpipeError, KeyboardInterrupt):
                raise
            except Exception as exc:
                plugin = _plugin_in_traceback(caller, exc) or "unknown"
                raise PluginError(
                    f"plugin {plugin!r} failed in hook {name}: {type(exc).__name__}: {exc}"
                ) from exc

        call.__name__ = name
        return call


def _plugin_in_traceback(caller: Any, exc: BaseException) -> str | None:
    """The plugin whose hook implementation is on ``exc``'s traceback (the outermost one)."""
    owners = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in owners:
            return owners[tb.tb_frame.f_code]
        tb = tb.tb_next
    return None


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
        _warn_failures(_registry)
    return _registry


def reset(pm: pluggy.PluginManager | None = None) -> None:
    """Forget the process-wide manager and registry (or install ``pm`` as the manager).
    Tests and ``cvpipe.testing`` use this to register plugins in-process."""
    global _pm, _registry
    _pm, _registry = pm, None


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the rest of cvpipe works without it."""


def _warn_failures(registry: Registry) -> None:
    for info in registry.failures:
        warnings.warn(f"plugin {info.name!r} was not loaded: {info.error}", PluginLoadWarning, stacklevel=3)
