"""``cvpipe plugins``: what is installed and which plugin provides which names; with
``--hooks``, the hook reference. ``cvpipe plugin new``: a plugin skeleton to start from."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from ..console import print_json, print_table
from ..plugins import get_registry
from ..registry import FAMILIES


def _lifecycle_hooks() -> dict[str, list[str]]:
    """``{plugin: [lifecycle hooks it implements]}`` for the loaded plugins."""
    from ..plugins import get_plugin_manager

    out: dict[str, list[str]] = {}
    pm = get_plugin_manager()
    for name in dir(pm.hook):
        if name.startswith("cvpipe_on_"):
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


def hooks_reference() -> list[dict]:
    """Every hook of the contract, in :mod:`cvpipe.hookspecs` order: ``name``, ``group``
    (``registration`` or ``lifecycle``), ``signature``, ``doc`` (the spec's own docstring) and
    ``implemented_by`` (the loaded plugins implementing it)."""
    from .. import hookspecs
    from ..plugins import get_plugin_manager

    pm = get_plugin_manager()
    order = {info.name: i for i, info in enumerate(getattr(pm, "cvpipe_plugins", []))}
    out = []
    for name, func in vars(hookspecs).items():
        if not (name.startswith("cvpipe_") and inspect.isfunction(func)):
            continue
        caller = getattr(pm.hook, name, None)
        impls = [] if caller is None else [i.plugin_name for i in caller.get_hookimpls()]
        impls.sort(key=lambda n: order.get(n, len(order)))  # load order: built-ins first
        out.append({
            "name": name,
            "group": "registration" if name.startswith("cvpipe_register_") else "lifecycle",
            "signature": f"{name}{inspect.signature(func)}",
            "doc": inspect.getdoc(func) or "",
            "implemented_by": impls,
        })
    return out


def print_hooks(as_json: bool) -> None:
    """The hook reference: signature and docstring of every hook, grouped."""
    from .. import HOOK_API_VERSION, hookspecs

    hooks = hooks_reference()
    if as_json:
        print_json({"hook_api_version": HOOK_API_VERSION, "hooks": hooks})
        return
    click.echo(f"cvpipe hook API version {HOOK_API_VERSION}\n\n{inspect.getdoc(hookspecs) or ''}\n")
    for group, title in (("registration", "Registration hooks"), ("lifecycle", "Lifecycle hooks")):
        click.echo(f"{title}\n{'=' * len(title)}\n")
        for h in (h for h in hooks if h["group"] == group):
            click.echo(f"@hookimpl\ndef {h['signature']}:")
            click.echo("\n".join(("    " + line).rstrip() for line in h["doc"].splitlines()))
            click.echo(f"    -- implemented by: {', '.join(h['implemented_by']) or '(none)'}\n")


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
@click.option("--hook", type=click.Choice(["formats", "transforms", "models", "postprocessors", "steps"]),
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
