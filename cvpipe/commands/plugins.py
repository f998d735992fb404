"""``cvpipe plugins``: what is installed and which plugin provides which names; with
``--hooks``, the hook reference. ``cvpipe plugin new``: a plugin skeleton to start from."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from ..console import print_json, print_table
from ..plugins import get_registry
from ..registry import FAMILIES
from ..skeleton import HOOK_CHOICES


def _lifecycle_hooks() -> dict[str, list[str]]:
    """``{plugin: [lifecycle hooks it implements]}`` for the loaded plugins."""
    from ..plugins import get_plugin_manager, lifecycle_hooks

    out: dict[str, list[str]] = {}
    pm = get_plugin_manager()
    for name in lifecycle_hooks():
        for impl in getattr(pm.hook, name).get_hookimpls():
            out.setdefault(impl.plugin_name, []).append(name)
    return out


def plugins_report() -> dict:
    """``{"plugins": [{"name", "version", "builtin", "distribution", "registers": {...},
    "lifecycle": [...]}]}``: ``registers`` the names per hook family, ``lifecycle`` the
    lifecycle hooks implemented; a plugin that failed to load has an ``error`` and registers
    nothing."""
    reg = get_registry()
    lifecycle = _lifecycle_hooks()
    out = []
    for info in reg.plugins:
        item = {
            "name": info.name,
            "version": info.version,
            "builtin": info.builtin,
            "distribution": info.distribution,
            "registers": reg.registers(info.name),
            "lifecycle": [] if info.error else sorted(lifecycle.get(info.name, [])),
        }
        if info.error:
            item["error"] = info.error
        out.append(item)
    return {"plugins": out}


class _Annotation:
    """An annotation kept as written (``Reader | None``), for :func:`inspect.formatannotation`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(func: object, name: str) -> str:
    """``name(params) -> return`` with annotations as written in the source (they are strings
    under ``from __future__ import annotations``; shown without quotes)."""
    sig = inspect.signature(func)  # type: ignore[arg-type]
    plain = lambda a: _Annotation(a) if isinstance(a, str) else a  # noqa: E731
    params = [p.replace(annotation=plain(p.annotation)) for p in sig.parameters.values()]
    if params and params[0].name == "self":
        params = params[1:]
    return f"{name}{sig.replace(parameters=params, return_annotation=plain(sig.return_annotation))}"


def registrar_reference(cls: type) -> dict:
    """A registrar class as the hook reference shows it: ``class`` (dotted path), ``doc``, and
    ``methods``: the typed method and the legacy call form, each with ``name``, ``signature``
    (``register.add_format(...)``), ``legacy`` and ``doc``."""
    methods = [(cls.method, getattr(cls, cls.method), False), ("__call__", cls.__call__, True)]
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "doc": inspect.getdoc(cls) or "",
        "methods": [{"name": name, "signature": _signature(fn, "register" if legacy else f"register.{name}"),
                     "legacy": legacy, "doc": inspect.getdoc(fn) or ""} for name, fn, legacy in methods],
    }


def protocols_reference() -> list[dict]:
    """The protocols of :mod:`cvpipe.contract` (Step, Metric, Postprocessor, Decoder): ``class``,
    ``doc``, ``attributes`` (``name: type``) and ``methods`` (signatures)."""
    from .. import contract

    out = []
    for cls in (contract.Step, contract.Metric, contract.Postprocessor, contract.Decoder):
        attrs = [f"{n}: {a}" for n, a in vars(cls).get("__annotations__", {}).items()]
        methods = [_signature(f, n) for n, f in vars(cls).items()
                   if inspect.isfunction(f) and (not n.startswith("_") or n == "__call__")]
        out.append({"class": f"{cls.__module__}.{cls.__qualname__}", "doc": inspect.getdoc(cls) or "",
                    "attributes": attrs, "methods": methods})
    return out


def hooks_reference() -> list[dict]:
    """Every hook of the contract, in :mod:`cvpipe.hookspecs` order: ``name``, ``group``
    (``registration``, ``lifecycle`` or ``other``), ``firstresult``, ``signature``, ``doc`` (the
    spec's own docstring), ``registrar`` (for registration hooks, see
    :func:`registrar_reference`; else None) and ``implemented_by`` (the loaded plugins
    implementing it, in load order)."""
    from .. import hookspecs
    from ..contract import REGISTRARS
    from ..plugins import get_plugin_manager, lifecycle_hooks

    registrars = {r.hook: r for r in REGISTRARS}
    lifecycle = set(lifecycle_hooks())
    pm = get_plugin_manager()
    order = {info.name: i for i, info in enumerate(getattr(pm, "cvpipe_plugins", []))}
    out = []
    for name, func in vars(hookspecs).items():
        if not (name.startswith("cvpipe_") and inspect.isfunction(func) and hasattr(func, "cvpipe_spec")):
            continue
        caller = getattr(pm.hook, name, None)
        impls = [] if caller is None else [i.plugin_name for i in caller.get_hookimpls()]
        impls.sort(key=lambda n: order.get(n, len(order)))  # load order: built-ins first
        group = "registration" if name in registrars else "lifecycle" if name in lifecycle else "other"
        out.append({
            "name": name,
            "group": group,
            "firstresult": bool(func.cvpipe_spec.get("firstresult", False)),
            "signature": _signature(func, name),
            "doc": inspect.getdoc(func) or "",
            "registrar": registrar_reference(registrars[name]) if name in registrars else None,
            "implemented_by": impls,
        })
    return out


def _indent(text: str, prefix: str) -> str:
    return "\n".join((prefix + line).rstrip() for line in text.splitlines())


def print_hooks(as_json: bool) -> None:
    """The hook reference: signature and docstring of every hook, grouped, with the registrar
    each registration hook receives and the protocols of :mod:`cvpipe.contract`."""
    from .. import HOOK_API_VERSION, hookspecs

    hooks = hooks_reference()
    protocols = protocols_reference()
    if as_json:
        print_json({"hook_api_version": HOOK_API_VERSION, "hooks": hooks, "protocols": protocols})
        return
    click.echo(f"cvpipe hook API version {HOOK_API_VERSION}\n\n{inspect.getdoc(hookspecs) or ''}\n")
    groups = (("registration", "Registration hooks"), ("lifecycle", "Lifecycle hooks"), ("other", "Other hooks"))
    for group, title in groups:
        members = [h for h in hooks if h["group"] == group]
        if not members and group == "other":
            continue
        click.echo(f"{title}\n{'=' * len(title)}\n")
        for h in members:
            click.echo(f"@hookimpl{'  # firstresult: the first non-None answer wins' if h['firstresult'] else ''}")
            click.echo(f"def {h['signature']}:")
            click.echo(_indent(h["doc"], "    "))
            reg = h["registrar"]
            if reg:
                click.echo(f"\n    register: {reg['class']}")
                for m in reg["methods"]:
                    if m["legacy"]:
                        click.echo(f"\n      {m['signature']}\n          legacy form, the same as the typed method")
                    else:
                        click.echo(f"\n      {m['signature']}\n{_indent(m['doc'], '          ')}")
            click.echo(f"    -- implemented by: {', '.join(h['implemented_by']) or '(none)'}\n")
    title = "Protocols (cvpipe.contract)"
    click.echo(f"{title}\n{'=' * len(title)}\n")
    for p in protocols:
        click.echo(f"class {p['class']}:")
        click.echo(_indent(p["doc"], "    "))
        for line in p["attributes"] + p["methods"]:
            click.echo(f"    {line}")
        click.echo("")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")
@click.option("--hooks", "show_hooks", is_flag=True,
              help="Print the hook reference (every hook's signature and documentation) instead.")
def plugins(as_json: bool, show_hooks: bool) -> None:
    """List installed plugins and every name each registers, per hook family."""
    if show_hooks:
        print_hooks(as_json)
        return
    report = plugins_report()
    if as_json:
        print_json(report)
        return
    import shutil
    import textwrap

    name_w = max([len("plugin")] + [len(p["name"]) for p in report["plugins"]])
    room = max(40, shutil.get_terminal_size((120, 24)).columns - name_w - 34)
    rows = []
    for p in report["plugins"]:
        source = "built-in" if p["builtin"] else (p["distribution"] or "in-process")
        parts = [f"{fam}: {', '.join(names)}" for fam, names in p["registers"].items() if names]
        if p["lifecycle"]:
            parts.append("lifecycle: " + ", ".join(h.removeprefix("cvpipe_") for h in p["lifecycle"]))
        # every name is shown; long lists wrap onto continuation rows (an error stays on one line)
        lines = [line for part in parts or ["-"] for line in textwrap.wrap(part, room, subsequent_indent="  ")]
        if p.get("error"):
            lines = [f"NOT LOADED: {p['error']}"]
        rows.append([p["name"], p["version"] or "-", source, lines[0]])
        rows.extend(["", "", "", line] for line in lines[1:])
    print_table(rows, ["plugin", "version", "from", "registers"])
    total = {fam: sum(len(p["registers"][fam]) for p in report["plugins"]) for fam in FAMILIES}
    click.echo("\n" + ", ".join(f"{n} {fam}" for fam, n in total.items()))


@click.group()
def plugin() -> None:
    """Write plugins: `cvpipe plugin new NAME` starts one."""


@plugin.command("new")
@click.argument("name")
@click.option("--hook", type=click.Choice(HOOK_CHOICES),
              default="formats", show_default=True, help="The hook family the plugin implements.")
@click.option("--dir", "parent", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Folder to create the plugin in.")
def new(name: str, hook: str, parent: Path) -> None:
    """Write a working plugin skeleton cvpipe-NAME/ (package, pyproject with the entry point,
    README, a test using cvpipe.testing). It installs and passes its test as generated."""
    from ..errors import ConfigError
    from ..skeleton import normalize_name, write_skeleton

    family = get_registry().family(hook)
    reg_name = normalize_name(name)
    if reg_name in family:
        raise ConfigError(f"{family.kind} {reg_name!r} is already registered by plugin {family.get(reg_name).plugin!r}",
                          field="NAME", value=name, expected=f"a {family.kind} name not yet taken",
                          hint="two plugins cannot register one name; choose another NAME")
    dst = write_skeleton(name, hook, parent)
    for f in sorted(p for p in dst.rglob("*") if p.is_file()):
        click.echo(f"wrote {f}")
    click.echo(f"\nnext: cd {dst} && pip install -e . && pytest")
