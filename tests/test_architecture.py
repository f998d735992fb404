"""The architecture rule (issue 10), checked on cvpipe's own import graph.

Layers read top-down; a module may import its own layer or a lower one:

    core       cvpipe (the package), hookspecs, contract, plugins, registry, settings, params,
               errors, fsutil, console, data (and data.*)
    libraries  every other module: formats/, transforms, postprocess, ops/, models/,
               evaluation, engine/, pipeline/, synthetic, draw, testing, skeleton, ...
    builtin    cvpipe.builtin.* (registration and format code only)
    commands   cvpipe.commands.*, cvpipe.cli, cvpipe.__main__

The graph holds every import -- module level and inside functions, absolute and relative,
``importlib.import_module("cvpipe....")`` / ``__import__`` with a literal name -- found with
``ast``, so nothing is imported to build it. The rules:

(a) no import cycle (imports under ``if TYPE_CHECKING:`` never run, so they do not count here);
(b) nothing outside ``cvpipe.builtin`` imports ``cvpipe.builtin`` (the plugin manager names the
    built-ins as strings, which is not an import);
(c) no layer imports a higher one (``TYPE_CHECKING`` imports included: they are dependencies);
(d) no code special-cases module names of the built-ins: the string ``cvpipe.builtin`` appears
    only in docstrings and in the plugin manager's ``default_plugins``.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

import cvpipe

PACKAGE_DIR = Path(cvpipe.__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# The layer table
# ---------------------------------------------------------------------------------------------

LAYERS: tuple[str, ...] = ("core", "libraries", "builtin", "commands")
#: Module-name prefixes of the layers other than ``libraries`` (which holds everything else).
#: A prefix matches the module itself and its submodules; the package ``cvpipe`` matches only itself.
LAYER_PREFIXES: dict[str, tuple[str, ...]] = {
    "core": ("cvpipe", "cvpipe.hookspecs", "cvpipe.contract", "cvpipe.plugins", "cvpipe.registry",
             "cvpipe.settings", "cvpipe.params", "cvpipe.errors", "cvpipe.fsutil", "cvpipe.console",
             "cvpipe.data"),
    "builtin": ("cvpipe.builtin",),
    "commands": ("cvpipe.commands", "cvpipe.cli", "cvpipe.__main__"),
}


def layer_of(module: str) -> str:
    """The layer of ``module`` (a dotted name inside cvpipe) by :data:`LAYER_PREFIXES`."""
    for layer, prefixes in LAYER_PREFIXES.items():
        for prefix in prefixes:
            if module == prefix or (prefix != "cvpipe" and module.startswith(prefix + ".")):
                return layer
    return "libraries"


# ---------------------------------------------------------------------------------------------
# The import graph walker
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import of a module of the package by another: where it is and whether it runs."""

    source: str
    target: str
    line: int
    runtime: bool  # False inside ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line}{'' if self.runtime else ', TYPE_CHECKING'})"


def module_files(package_dir: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file under ``package_dir`` (a package
    named after its folder; ``__init__.py`` is the package itself)."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _ImportVisitor(ast.NodeVisitor):
    """Collects ``(dotted name, line, runtime)`` of every import statement and literal
    ``import_module``/``__import__`` call; relative names are resolved against ``package``."""

    def __init__(self, module: str, package: str) -> None:
        self.module, self.package = module, package
        self.found: list[tuple[str, list[str], int, bool]] = []  # (base, names, line, runtime)
        self._typing_depth = 0

    def _relative(self, level: int, name: str | None) -> str:
        base = self.package.split(".")
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    def _add(self, base: str, names: list[str], line: int) -> None:
        self.found.append((base, names, line, self._typing_depth == 0))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._typing_depth += 1
            for child in node.body:
                self.visit(child)
            self._typing_depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, [], node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._relative(node.level, node.module) if node.level else (node.module or "")
        self._add(base, [a.name for a in node.names if a.name != "*"], node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                target = first.value
                if target.startswith("."):
                    level = len(target) - len(target.lstrip("."))
                    package = self._package_argument(node)
                    if package is not None:
                        saved, self.package = self.package, package
                        target = self._relative(level, target.lstrip(".") or None)
                        self.package = saved
                self._add(target, [], node.lineno)
        self.generic_visit(node)

    def _package_argument(self, node: ast.Call) -> str | None:
        arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "package"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name) and arg.id == "__package__":
            return self.package
        if isinstance(arg, ast.Name) and arg.id == "__name__":
            return self.module
        return None


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` denotes: itself, or its longest prefix that is a module."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of a module in ``modules`` made by ``module`` (file ``path``), in order."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    visitor = _ImportVisitor(module, package)
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    out: list[Import] = []
    for base, names, line, runtime in visitor.found:
        # ``from pkg import name`` imports the submodule pkg.name when there is one, else pkg
        targets = [f"{base}.{n}" if f"{base}.{n}" in modules else base for n in names] or [base]
        for target in targets:
            resolved = _resolve(target, modules)
            imp = Import(module, resolved, line, runtime) if resolved not in (None, module) else None
            if imp is not None and imp not in out:  # ``from x import a, b``: one import of x
                out.append(imp)
    return out


def import_graph(package_dir: Path) -> tuple[dict[str, Path], list[Import]]:
    """The package's modules and every import between them."""
    modules = module_files(package_dir)
    edges = [imp for mod, path in modules.items() for imp in imports_of(mod, path, modules)]
    return modules, edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules of ``edges`` (``{module: {imported}}``) that import each other
    (directly or not), each sorted, in order: the strongly connected components with a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    for root in nodes:  # Tarjan's algorithm, iteratively
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    groups.append(sorted(group))
    return sorted(groups)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per group of :func:`strongly_connected`, as a closed path ``[a, b, ..., a]``
    through the group's first module: the shortest such path."""
    cycles = []
    for group in strongly_connected(edges):
        start, members = group[0], set(group)
        parent: dict[str, str] = {}
        queue = deque([start])
        while queue:  # breadth first: the shortest way back to start
            node = queue.popleft()
            if start in edges.get(node, ()) and (node != start or not parent):
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                cycles.append(list(reversed(path)) + [start])
                break
            for nxt in sorted(edges.get(node, ())):
                if nxt in members and nxt not in parent and nxt != start:
                    parent[nxt] = node
                    queue.append(nxt)
    return cycles


def builtin_name_strings(module: str, path: Path, package: str = "cvpipe") -> list[tuple[int, str]]:
    """``(line, text)`` of string constants naming ``<package>.builtin`` that are not docstrings
    and, in ``<package>.plugins``, not inside the ``default_plugins`` assignment."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    needle = f"{package}.builtin"
    exempt: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                exempt.add(id(first.value))  # the docstring
        if module == f"{package}.plugins" and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "default_plugins" for t in targets):
                exempt.update(id(c) for c in ast.walk(node))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and needle in node.value and id(node) not in exempt]


# ---------------------------------------------------------------------------------------------
# The walker, tested on a tiny package with a known cycle
# ---------------------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


FAKE = {
    "fake/__init__.py": '"""fake.builtin is named in a docstring: allowed."""\nfrom .util import helper\n',
    "fake/util.py": "import os\n",
    "fake/a.py": "from . import b\n",
    "fake/b.py": "def later():\n    from .c import thing\n    return thing\n",
    "fake/c.py": "import importlib\n\ndef load():\n    return importlib.import_module('fake.a')\n",
    "fake/d.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fake import a\nelse:\n"
                  "    import fake.util\n"),
    "fake/sub/__init__.py": "from .. import util\nfrom ..sub import leaf\n",
    "fake/sub/leaf.py": ("import fake.sub.missing\nimport json\n__import__('.util', package=__package__)\n"
                         "def f(name):\n    return name.startswith('fake.builtin')\n"),
    "fake/plugins.py": "class M:\n    default_plugins = ('fake.builtin.x',)\n",
}


def test_walker_finds_every_kind_of_import_and_the_cycle(tmp_path):
    _write(tmp_path, FAKE)
    modules, imports = import_graph(tmp_path / "fake")
    assert set(modules) == {"fake", "fake.util", "fake.a", "fake.b", "fake.c", "fake.d", "fake.sub",
                            "fake.sub.leaf", "fake.plugins"}
    got = {(i.source, i.target, i.line, i.runtime) for i in imports}
    assert got == {
        ("fake", "fake.util", 2, True),            # from .util import helper: a name, so the module
        ("fake.a", "fake.b", 1, True),             # from . import b: the submodule
        ("fake.b", "fake.c", 2, True),             # function level, relative
        ("fake.c", "fake.a", 4, True),             # importlib.import_module with a literal
        ("fake.d", "fake.a", 3, False),            # under TYPE_CHECKING
        ("fake.d", "fake.util", 5, True),          # its else branch runs
        ("fake.sub", "fake.util", 1, True),        # two dots from a package's __init__
        ("fake.sub", "fake.sub.leaf", 2, True),
        ("fake.sub.leaf", "fake.sub", 1, True),    # a missing submodule resolves to its package
        ("fake.sub.leaf", "fake.sub", 3, True),    # relative __import__ with package=__package__
    }
    runtime: dict[str, set[str]] = {}
    every: dict[str, set[str]] = {}
    for i in imports:
        every.setdefault(i.source, set()).add(i.target)
        if i.runtime:
            runtime.setdefault(i.source, set()).add(i.target)
    known = [["fake.a", "fake.b", "fake.c", "fake.a"], ["fake.sub", "fake.sub.leaf", "fake.sub"]]
    assert find_cycles(runtime) == known
    assert find_cycles(every) == known  # d only reaches into the first cycle, it is not on one


def test_find_cycles_reports_each_group_once_with_a_shortest_path():
    edges = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "x": {"y"}, "y": {"x"}, "s": {"s"}, "t": {"a"}}
    assert strongly_connected(edges) == [["a", "b", "c"], ["s"], ["x", "y"]]
    assert find_cycles(edges) == [["a", "b", "a"], ["s", "s"], ["x", "y", "x"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}}) == []


def test_builtin_name_strings_skip_docstrings_and_the_default_list(tmp_path):
    _write(tmp_path, FAKE)
    root = tmp_path / "fake"
    assert builtin_name_strings("fake", root / "__init__.py", package="fake") == []
    assert builtin_name_strings("fake.plugins", root / "plugins.py", package="fake") == []
    assert builtin_name_strings("fake.sub.leaf", root / "sub" / "leaf.py", package="fake") == [(5, "fake.builtin")]
    # the same tuple anywhere but the plugin manager is special-casing
    (root / "other.py").write_text((root / "plugins.py").read_text(), encoding="utf-8")
    assert builtin_name_strings("fake.other", root / "other.py", package="fake") == [(2, "fake.builtin.x")]


def test_layer_table():
    assert [layer_of(m) for m in ("cvpipe", "cvpipe.plugins", "cvpipe.data", "cvpipe.data.boxes")] == ["core"] * 4
    assert [layer_of(m) for m in ("cvpipe.formats", "cvpipe.formats.xml", "cvpipe.engine.train",
                                  "cvpipe.skeleton", "cvpipe.dataset_tools")] == ["libraries"] * 5
    assert layer_of("cvpipe.builtin.voc.reader") == "builtin" and layer_of("cvpipe.builtin") == "builtin"
    assert [layer_of(m) for m in ("cvpipe.cli", "cvpipe.__main__", "cvpipe.commands.run")] == ["commands"] * 3
    assert layer_of("cvpipe.plugins_extra") == "libraries"  # a prefix matches whole name parts only


# ---------------------------------------------------------------------------------------------
# The rules, on cvpipe itself
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Import]]:
    return import_graph(PACKAGE_DIR)


def test_the_graph_sees_cvpipe(graph):
    modules, imports = graph
    assert {"cvpipe", "cvpipe.plugins", "cvpipe.hookspecs", "cvpipe.cli"} <= set(modules)
    assert any(i.source == "cvpipe.plugins" and i.target == "cvpipe.hookspecs" for i in imports)


def test_no_import_cycles(graph):
    _, imports = graph
    edges: dict[str, set[str]] = {}
    for i in imports:
        if i.runtime:
            edges.setdefault(i.source, set()).add(i.target)
    lines: dict[tuple[str, str], int] = {}
    for i in imports:
        if i.runtime:
            lines.setdefault((i.source, i.target), i.line)
    groups, cycles = strongly_connected(edges), find_cycles(edges)
    report = [f"  {len(g)} modules import each other: {', '.join(g)}\n    e.g. "
              + " -> ".join(f"{a} (line {lines[a, b]})" for a, b in zip(c, c[1:])) + f" -> {c[-1]}"
              for g, c in zip(groups, cycles)]
    assert not groups, f"{len(groups)} import cycle(s):\n" + "\n".join(report)


def test_nothing_outside_builtin_imports_builtin(graph):
    _, imports = graph
    bad = [str(i) for i in imports
           if layer_of(i.target) == "builtin" and layer_of(i.source) != "builtin"]
    assert not bad, f"{len(bad)} import(s) of cvpipe.builtin from outside it:\n  " + "\n  ".join(bad)


def test_no_layer_imports_a_higher_one(graph):
    _, imports = graph
    rank = {layer: n for n, layer in enumerate(LAYERS)}
    bad = [f"{i}: {layer_of(i.source)} imports {layer_of(i.target)}" for i in imports
           if rank[layer_of(i.source)] < rank[layer_of(i.target)]]
    assert not bad, f"{len(bad)} upward import(s):\n  " + "\n  ".join(bad)


def test_no_code_special_cases_builtin_module_names(graph):
    modules, _ = graph
    bad = [f"{mod} line {line}: {text!r}" for mod, path in modules.items()
           for line, text in builtin_name_strings(mod, path)]
    assert not bad, ("code naming cvpipe.builtin modules (only the plugin manager's default_plugins "
                     "may):\n  " + "\n  ".join(bad))
