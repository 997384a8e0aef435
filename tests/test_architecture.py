"""The layers, checked by reading the imports of every module with `ast` (nothing is imported).

    gan_core   the engine: PyTorch only, no Streamlit, never lab_app or app_pages
    lab_app    the app's logic and helpers over gan_core
    app_pages  the pages: layout over lab_app and gan_core; a page never imports another page

Every import counts, also one inside a function: a function-local import that dodges a circle
is still a circle, so there must be none.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gan_core", "lab_app", "app_pages")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path, known: set[str]) -> set[str]:
    """The modules `path` imports (absolute names), at any depth of its code."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            for a in node.names:            # `from pkg import module` imports the module
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return out


def import_graph(root: Path = REPO, packages=PACKAGES, files=("app.py",)) -> dict[str, set[str]]:
    """module -> the modules of this project it imports (third-party names kept as they are)."""
    paths = [p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))]
    paths += [root / f for f in files if (root / f).is_file()]
    known = {module_name(p, root) for p in paths}
    return {module_name(p, root): imports_of(p, root, known) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module, or a module importing itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:               # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        for w in graph.get(v, ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_import_circle(graph):
    assert cycles(graph) == []


def test_gan_core_imports_no_ui(graph):
    bad = {m: sorted(i for i in deps if top(i) in ("streamlit", "lab_app", "app_pages"))
           for m, deps in graph.items() if top(m) == "gan_core"}
    assert {m: v for m, v in bad.items() if v} == {}


def test_lab_app_imports_no_page(graph):
    bad = {m: sorted(i for i in deps if top(i) == "app_pages")
           for m, deps in graph.items() if top(m) == "lab_app"}
    assert {m: v for m, v in bad.items() if v} == {}


def test_a_page_imports_no_other_page(graph):
    bad = {m: sorted(i for i in deps if top(i) == "app_pages" and i != m)
           for m, deps in graph.items() if top(m) == "app_pages"}
    assert {m: v for m, v in bad.items() if v} == {}


@pytest.mark.parametrize("module", ["gan_core.losses", "gan_core.models"])
def test_losses_and_models_do_not_reach_the_trainer(graph, module):
    assert "gan_core.trainer" not in reachable(graph, module)


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The checker itself: a circle hidden in a function, and a page importing a page."""
    pkg = tmp_path / "gan_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\nx = 1\n")
    (pkg / "c.py").write_text("import streamlit as st\n")
    pages = tmp_path / "app_pages"
    pages.mkdir()
    (pages / "one.py").write_text("from app_pages import two\n")
    (pages / "two.py").write_text("")
    g = import_graph(tmp_path, ("gan_core", "app_pages"), ())
    assert cycles(g) == [["gan_core.a", "gan_core.b"]]
    assert "streamlit" in g["gan_core.c"]
    assert "app_pages.two" in g["app_pages.one"]


# --- private names and function-local imports ------------------------------------------------

# Third-party modules a function may import where it needs them, and why. A module of this
# project is never imported inside a function: no circle needs it (test_no_import_circle counts
# those imports too), so it would only hide a dependency from the top of the file.
LAZY = {
    "torchvision": "slow to import and needed only to download a dataset",
    "ray": "optional (requirements-ray.txt)",
    "matplotlib": "only the sweep plots need it, and Agg must be chosen before pyplot loads",
    "resource": "POSIX only; used in the sandbox's child process",
    "torch": "the sandbox's child process and shortrepr import it only when they meet a tensor",
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _trees(root: Path = REPO, packages=PACKAGES, files=("app.py",)) -> dict[str, tuple]:
    paths = [p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))]
    paths += [root / f for f in files if (root / f).is_file()]
    return {module_name(p, root): (p, ast.parse(p.read_text(), str(p))) for p in paths}


def _private_defs(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, assigned names and attributes."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
              and isinstance(n.value, ast.Name) and n.value.id in ("self", "cls")):
            out.add(n.attr)                 # self._x = ...: the class defines it here
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
    return {x for x in out if _is_private(x)}


def private_reach_ins(trees: dict[str, tuple]) -> list[str]:
    """`from m import _x`, and `obj._x` where _x is defined by another module of this project
    and not by the module that reads it."""
    defs = {m: _private_defs(tree) for m, (_, tree) in trees.items()}
    ours = set().union(*defs.values()) if defs else set()
    found = []
    for m, (path, tree) in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module != "__future__":
                found += [f"{m}:{n.lineno} imports {a.name}" for a in n.names
                          if _is_private(a.name)]
            elif (isinstance(n, ast.Attribute) and _is_private(n.attr) and n.attr in ours
                  and n.attr not in defs[m]):
                found.append(f"{m}:{n.lineno} reads {ast.unparse(n)}")
    return found


def local_imports(trees: dict[str, tuple], known: set[str]) -> list[str]:
    """Imports inside a function, of this project's modules or of a module not in LAZY."""
    found = []
    for m, (path, tree) in trees.items():
        for f in ast.walk(tree):
            if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for n in ast.walk(f):
                if isinstance(n, ast.Import):
                    names = [a.name for a in n.names]
                elif isinstance(n, ast.ImportFrom):
                    names = ["." if n.level else n.module]
                else:
                    continue
                for name in names:
                    if name == "." or top(name) in {top(k) for k in known} or top(name) not in LAZY:
                        found.append(f"{m}:{n.lineno} {ast.unparse(n)}")
    return sorted(set(found))


def test_no_private_name_crosses_a_module_boundary():
    assert private_reach_ins(_trees()) == []


def test_no_function_local_import_that_dodges_nothing():
    trees = _trees()
    assert local_imports(trees, set(trees)) == []


def test_the_private_and_local_import_checks_catch_what_they_are_for(tmp_path):
    pkg = tmp_path / "gan_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("class A:\n    def _go(self):\n        self._state = 1\n")
    (pkg / "b.py").write_text("from .a import _helper\n\ndef f(obj):\n    obj._go()\n"
                              "    obj._state = 2\n    from . import a\n    import json\n"
                              "    import ray\n")
    trees = _trees(tmp_path, ("gan_core",), ())
    found = private_reach_ins(trees)
    assert any("imports _helper" in x for x in found)
    assert any("obj._go" in x for x in found) and any("obj._state" in x for x in found)
    bad = local_imports(trees, set(trees))
    assert any("from . import a" in x for x in bad) and any("import json" in x for x in bad)
    assert not any("import ray" in x for x in bad)


MAX_LINES = 500


def test_no_source_file_is_over_500_lines():
    """One job per file: a module past 500 lines is doing several (split along its seams)."""
    long = {str(p.relative_to(REPO)): n for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_app_imports_every_module_a_page_needs_before_any_page_runs(graph):
    """app.py imports, at its top, every project module the pages import (directly or through
    what it imports): thirty first visits at once must not import a module from several
    threads (lab_app.livecharts was once left out)."""
    loaded, todo = set(), ["app"]
    while todo:
        for m in graph.get(todo.pop(), ()):
            if m in graph and m not in loaded:
                loaded.add(m)
                todo.append(m)
    needed = {m for page, deps in graph.items() if page.startswith("app_pages.")
              for m in deps if m in graph and not m.startswith("app_pages")}
    assert needed - loaded == set()
