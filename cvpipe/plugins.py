"""The plugin manager: built-in plugins plus third-party ones from the entry-point group ``cvpipe``.

:class:`CvpipePluginManager` (a ``pluggy.PluginManager``) owns loading. Built-ins are named as
module strings in :attr:`CvpipePluginManager.default_plugins` (as pytest names its own) and are
imported and registered exactly like third-party plugins, which are found through
``importlib.metadata`` entry points in the group ``cvpipe``. ``CVPIPE_LOAD_PLUGINS=a,b`` loads
only the named third-party plugins (entry-point names); set but empty, it loads none.

Failures are isolated per plugin: a plugin that fails to import, implements a hook that does
not exist, targets another hook API version, or raises inside a registration hook -- any
exception, ``SystemExit`` from ``sys.exit()`` included; only KeyboardInterrupt passes -- is
recorded with its error (``cvpipe plugins`` shows it, the CLI warns once) and everything else
keeps working. Lifecycle hooks (:class:`LifecycleHooks`) turn such failures into a
:class:`PluginError` naming the plugin.
"""

from __future__ import annotations

import importlib
import os
import warnings
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from . import HOOK_API_VERSION, __version__, hookspecs
from .contract import REGISTRARS
from .errors import CvpipeError, PluginError
from .registry import FAMILIES, PluginInfo, Registry

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HOOK_API_VERSION",
    "CvpipePluginManager",
    "PluginLoadWarning",
    "make_plugin_manager",
    "build_registry",
    "get_plugin_manager",
    "get_registry",
    "registration_hooks",
    "lifecycle_hooks",
    "reset",
    "LifecycleHooks",
]

#: Entry-point group third-party plugins declare.
ENTRY_POINT_GROUP = "cvpipe"

_pm: CvpipePluginManager | None = None
_registry: Registry | None = None


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


def _describe(exc: BaseException, hook: str | None = None) -> str:
    """One line for a plugin failure: cvpipe's own message, else the exception type (and the
    hook it escaped from) and its text: ``RuntimeError in hook cvpipe_register_steps: boom``."""
    if isinstance(exc, CvpipeError):
        return str(exc)
    text = f"the plugin called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else str(exc)
    return f"{type(exc).__name__}{f' in hook {hook}' if hook else ''}: {text}"


def registration_hooks() -> dict[str, str]:
    """``{hook name: family}`` of the registration hooks, in :data:`FAMILIES` order."""
    return {r.hook: r.family for r in REGISTRARS}


def lifecycle_hooks() -> list[str]:
    """The lifecycle hooks (``cvpipe_on_*``) of :mod:`cvpipe.hookspecs`, in its order."""
    return [n for n in vars(hookspecs) if n.startswith("cvpipe_on_") and hasattr(getattr(hookspecs, n), "cvpipe_spec")]


class CvpipePluginManager(pluggy.PluginManager):
    """cvpipe's plugin manager: the specs of :mod:`cvpipe.hookspecs`, plus loading.

    :meth:`load` registers the default (built-in) plugins, the installed ones (entry points)
    and extra in-process ``(name, plugin)`` pairs, in that order. Every plugin the manager tried
    is recorded in :attr:`cvpipe_plugins` (a list of :class:`PluginInfo`, load order) with the
    reason it could not be loaded, if any; loading never raises for a plugin's fault.
    """

    #: Built-in plugin modules, by name: imported and registered like third-party plugins.
    default_plugins: tuple[str, ...] = (
        "cvpipe.builtin.metrics",
        "cvpipe.builtin.coco",
        "cvpipe.builtin.voc",
        "cvpipe.builtin.yolo",
        "cvpipe.builtin.cvat",
        "cvpipe.builtin.kitti",
        "cvpipe.builtin.label_studio",
        "cvpipe.builtin.openimages",
        "cvpipe.builtin.parquet",
        "cvpipe.builtin.postprocess",
        "cvpipe.builtin.steps",
        "cvpipe.builtin.augment",
        "cvpipe.builtin.synthetic",
        "cvpipe.builtin.models",
        "cvpipe.builtin.cvdet",
        "cvpipe.builtin.train_steps",
        "cvpipe.builtin.tensorboard",
        "cvpipe.builtin.report",
        "cvpipe.builtin.tile",
        "cvpipe.builtin.executors",
    )

    def __init__(self) -> None:
        super().__init__("cvpipe")
        self.add_hookspecs(hookspecs)
        self.cvpipe_plugins: list[PluginInfo] = []

    def load(self, *, builtins: bool = True, entry_points: bool = True,
             extra: Iterable[tuple[str, Any]] = ()) -> None:
        """Register built-ins, then installed plugins (honouring ``CVPIPE_LOAD_PLUGINS``),
        then ``extra``."""
        if builtins:
            self.load_default_plugins()
        if entry_points:
            self.load_entry_points(_allowed_names())
        for name, plugin in extra:
            self.load_plugin(PluginInfo(name=name, version=None, builtin=False,
                                        module=getattr(plugin, "__name__", None)), lambda p=plugin: p)

    def load_default_plugins(self) -> None:
        """Import and register every module of :attr:`default_plugins`."""
        for modname in self.default_plugins:
            info = PluginInfo(name=modname, version=__version__, builtin=True, module=modname)
            self.load_plugin(info, lambda m=modname: importlib.import_module(m))

    def load_entry_points(self, allowed: set[str] | None = None) -> None:
        """Load the entry points of the group ``cvpipe`` (by name order); only the names in
        ``allowed`` when given."""
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(name=ep.name, version=dist.version if dist else None, builtin=False,
                              distribution=dist.metadata["Name"] if dist else None, module=ep.value)
            self.load_plugin(info, ep.load)

    def load_plugin(self, info: PluginInfo, load: Callable[[], Any]) -> bool:
        """Record ``info``, call ``load()`` for the plugin object and register it under
        ``info.name``. Any failure (but KeyboardInterrupt) is stored in ``info.error``;
        returns whether the plugin was registered."""
        self.cvpipe_plugins.append(info)
        try:
            plugin = load()
            _check_api_version(info.name, plugin)
            self.register(plugin, name=info.name)
            try:
                self.check_pending()
            except pluggy.PluginValidationError as exc:
                self.unregister(name=info.name)
                raise PluginError(f"plugin {info.name!r} implements an unknown hook: {exc}") from exc
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a plugin must not take the CLI down
            info.error = _describe(exc)
            return False
        return True


#: Built-in plugin modules (the manager's :attr:`~CvpipePluginManager.default_plugins`).
BUILTIN_PLUGINS: tuple[str, ...] = CvpipePluginManager.default_plugins


def make_plugin_manager(
    *,
    builtins: bool = True,
    entry_points: bool = True,
    extra: Iterable[tuple[str, Any]] = (),
) -> CvpipePluginManager:
    """A new plugin manager with built-ins, installed plugins and ``extra`` ``(name, plugin)``
    pairs registered. Load failures are recorded in ``pm.cvpipe_plugins`` (a list of
    :class:`PluginInfo`), never raised."""
    pm = CvpipePluginManager()
    pm.load(builtins=builtins, entry_points=entry_points, extra=extra)
    return pm


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every registration hook of every plugin in ``pm`` and collect the names.

    Each implementation is called on its own, so that a plugin raising inside a hook, or
    registering a name another plugin already took, is recorded against that plugin (with an
    error naming both plugins for a collision) and left out whole, while the rest load.
    Plugins are merged in load order: built-ins first, then installed plugins, then in-process.
    Each implementation receives the family's registrar (:mod:`cvpipe.contract`) as ``register``.
    """
    registry = Registry(plugins=list(getattr(pm, "cvpipe_plugins", [])))
    infos = {p.name: p for p in registry.plugins}
    staged: dict[str, Registry] = {}
    for registrar_cls in REGISTRARS:
        family = registrar_cls.family
        caller = getattr(pm.hook, registrar_cls.hook)
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
                impl.function(register=registrar_cls(name, own.family(family).add))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit too
                info.error = _describe(exc, registrar_cls.hook)
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
    implementation (pluggy's order and semantics); an exception raised inside one (any but
    KeyboardInterrupt, ``SystemExit`` included) becomes a :class:`PluginError` naming the plugin
    and the hook, with the original chained.
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
            except BaseException as exc:  # SystemExit too: named, never a silent exit
                plugin = _plugin_in_traceback(caller, exc) or "unknown"
                raise PluginError(f"plugin {plugin!r} failed in hook {name}: {_describe(exc)}") from exc

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


def get_plugin_manager() -> CvpipePluginManager:
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
