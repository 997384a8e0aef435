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
