"""``cvpipe plugins``: what is installed and which plugin provides which names."""

from __future__ import annotations

import click

from ..console import print_json, print_table
from ..plugins import get_registry
from ..registry import FAMILIES


def plugins_report() -> dict:
    """``{"plugins": [{"name", "version", "builtin", "distribution", "registers": {...}}]}``;
    a plugin that failed to load has an ``error`` and registers nothing."""
    reg = get_registry()
    out = []
    for info in reg.plugins:
        item = {
            "name": info.name,
            "version": info.version,
            "builtin": info.builtin,
            "distribution": info.distribution,
            "registers": reg.registers(info.name),
        }
        if info.error:
            item["error"] = info.error
        out.append(item)
    return {"plugins": out}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins and every name each registers, per hook family."""
    report = plugins_report()
    if as_json:
        print_json(report)
        return
    rows = []
    for p in report["plugins"]:
        source = "built-in" if p["builtin"] else (p["distribution"] or "in-process")
        regs = "; ".join(f"{fam}: {', '.join(names)}" for fam, names in p["registers"].items() if names)
        if p.get("error"):
            regs = f"NOT LOADED: {p['error']}"
        rows.append([p["name"], p["version"] or "-", source, regs or "-"])
    print_table(rows, ["plugin", "version", "from", "registers"])
    total = {fam: sum(len(p["registers"][fam]) for p in report["plugins"]) for fam in FAMILIES}
    click.echo("\n" + ", ".join(f"{n} {fam}" for fam, n in total.items()))
