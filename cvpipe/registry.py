"""Named things plugins provide, per hook family, and who provided each.

The plugin manager (:mod:`cvpipe.plugins`) fills a :class:`Registry` by calling every
registration hook; the rest of cvpipe looks names up here::

    reg = cvpipe.plugins.get_registry()
    voc = reg.formats.get("voc").obj          # a FormatSpec
    nms = reg.postprocessors.create("nms", {"iou": 0.5}, where="postprocess[1].nms")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .contract import FAMILIES, Entry, FormatSpec, registrar_class
from .errors import ConfigError, CvpipeError, PluginError, UnknownNameError
from .settings import bind

__all__ = ["FAMILIES", "Entry", "FormatSpec", "Family", "Registry", "PluginInfo", "call_plugin"]


@dataclass
class PluginInfo:
    """A plugin the manager knows: built-in module or installed distribution."""

    name: str
    version: str | None
    builtin: bool
    distribution: str | None = None
    module: str | None = None
    error: str | None = None  # why it could not be loaded (then it registers nothing)


class Family:
    """The names registered for one hook family."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.kind = registrar_class(family).kind
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        """Add ``entry``; a name already taken is a :class:`PluginError` naming both plugins."""
        old = self._entries.get(entry.name)
        if old is not None:
            raise PluginError(
                f"{self.kind} {entry.name!r} is registered by two plugins: "
                f"{old.plugin!r} and {entry.plugin!r}",
                hint="uninstall one of them, or limit loading with CVPIPE_LOAD_PLUGINS",
            )
        self._entries[entry.name] = entry

    def get(self, name: str, **where: Any) -> Entry:
        """The entry for ``name``; :class:`UnknownNameError` (listing names, closest match) if
        none. ``where`` (file, line, field) locates the reference in the user's input."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._entries), **where) from None

    def create(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *args: Any,
        where: str = "",
        file: str | None = None,
        lines: Mapping[str, int] | None = None,
        base_dir: Path | None = None,
    ) -> Any:
        """Validate ``params`` against factory ``name`` and call it: ``factory(*args, **params)``.

        ``args`` are supplied by cvpipe, not the user (a model's ``num_classes``). Errors that
        are not cvpipe's own are re-raised as :class:`PluginError` naming the plugin and hook.
        """
        entry = self.get(name, file=file, field=where or None)
        bound = bind(entry.obj, params, where=where, file=file, lines=lines, base_dir=base_dir, skip=len(args))
        return self.call(entry, *args, **bound)

    def call(self, entry: Entry, *args: Any, **kwargs: Any) -> Any:
        """Call ``entry.obj``, turning a foreign exception into a PluginError naming the plugin."""
        return call_plugin(entry, entry.obj, *args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, e in self._entries.items() if e.plugin == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def call_plugin(entry: Entry, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` (provided by ``entry``'s plugin). cvpipe's own errors pass through; any
    other exception, ``SystemExit`` included (only KeyboardInterrupt is let through), becomes a
    :class:`PluginError` that names the plugin, the hook family and the name, with the original
    exception chained."""
    try:
        return func(*args, **kwargs)
    except (CvpipeError, KeyboardInterrupt):
        raise
    except BaseException as exc:
        raise PluginError(
            f"plugin {entry.plugin!r} failed in {entry.kind} {entry.name!r} "
            f"(hook {entry.hook}): {type(exc).__name__}: {exc}"
        ) from exc


class Registry:
    """Every family's names (``registry.formats``, ``registry.steps``, ... one :class:`Family` per
    entry of :data:`FAMILIES`), and the plugins that were loaded (or failed to load)."""

    def __init__(self, plugins: list[PluginInfo] | None = None) -> None:
        self.plugins: list[PluginInfo] = list(plugins or [])
        self._families: dict[str, Family] = {f: Family(f) for f in FAMILIES}

    def __getattr__(self, name: str) -> Family:
        families = self.__dict__.get("_families", {})
        if name in families:
            return families[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def family(self, name: str) -> Family:
        """The :class:`Family` called ``name``; ConfigError listing the families if none."""
        if name not in self._families:
            raise ConfigError(f"unknown hook family {name!r}", expected="one of: " + ", ".join(FAMILIES))
        return self._families[name]

    def registers(self, plugin: str) -> dict[str, list[str]]:
        """``{family: [names]}`` that ``plugin`` registered (every family listed)."""
        return {f: self.family(f).by_plugin(plugin) for f in FAMILIES}

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]
