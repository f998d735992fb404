"""Named things plugins provide, per hook family, and who provided each.

The plugin manager (:mod:`cvpipe.plugins`) fills a :class:`Registry` by calling every
registration hook; the rest of cvpipe looks names up here::

    reg = cvpipe.plugins.get_registry()
    voc = reg.formats.get("voc").obj          # a FormatSpec
    nms = reg.postprocessors.create("nms", {"iou": 0.5}, where="postprocess[1].nms")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .errors import ConfigError, CvpipeError, PluginError, UnknownNameError
from .params import bind

__all__ = ["FAMILIES", "Entry", "FormatSpec", "Family", "Registry", "PluginInfo"]

#: Hook families, in the order tables list them; each has a ``cvpipe_register_<family>`` hook.
FAMILIES: tuple[str, ...] = ("formats", "transforms", "models", "postprocessors", "metrics", "steps")

_SINGULAR = {
    "formats": "format",
    "transforms": "transform",
    "models": "model",
    "postprocessors": "postprocessor",
    "metrics": "metric",
    "steps": "step",
}


@dataclass(frozen=True)
class FormatSpec:
    """What a format plugin registered: see ``cvpipe_register_formats``."""

    name: str
    reader: Callable[..., Any] | None = None
    writer: Callable[..., Any] | None = None
    detect: Callable[[Path], bool] | None = None
    description: str = ""
    #: ``read_predictions(path, reference, *, problems=None) -> Dataset``: detections (boxes with
    #: scores) read against the ground truth ``reference``, for ``cvpipe evaluate --dt``
    read_predictions: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Entry:
    """One registered name: the object (factory or :class:`FormatSpec`) and its plugin."""

    family: str
    name: str
    obj: Any
    plugin: str
    description: str = ""

    @property
    def hook(self) -> str:
        """The registration hook this name came through (``cvpipe_register_formats``, ...)."""
        return f"cvpipe_register_{self.family}"

    @property
    def kind(self) -> str:
        return _SINGULAR[self.family]


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
        self.kind = _SINGULAR[family]
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
    other exception becomes a :class:`PluginError` that names the plugin, the hook family and the
    name, with the original exception chained."""
    try:
        return func(*args, **kwargs)
    except (CvpipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {entry.plugin!r} failed in {entry.kind} {entry.name!r} "
            f"(hook {entry.hook}): {type(exc).__name__}: {exc}"
        ) from exc


@dataclass
class Registry:
    """Every family's names, and the plugins that were loaded (or failed to load)."""

    formats: Family = field(default_factory=lambda: Family("formats"))
    transforms: Family = field(default_factory=lambda: Family("transforms"))
    models: Family = field(default_factory=lambda: Family("models"))
    postprocessors: Family = field(default_factory=lambda: Family("postprocessors"))
    metrics: Family = field(default_factory=lambda: Family("metrics"))
    steps: Family = field(default_factory=lambda: Family("steps"))
    plugins: list[PluginInfo] = field(default_factory=list)

    def family(self, name: str) -> Family:
        if name not in FAMILIES:
            raise ConfigError(f"unknown hook family {name!r}", expected="one of: " + ", ".join(FAMILIES))
        return getattr(self, name)

    def registers(self, plugin: str) -> dict[str, list[str]]:
        """``{family: [names]}`` that ``plugin`` registered (every family listed)."""
        return {f: self.family(f).by_plugin(plugin) for f in FAMILIES}

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]
