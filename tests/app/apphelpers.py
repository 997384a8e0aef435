"""Helpers for the page tests (a plain module: two conftest.py files cannot both be imported)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab_app.pages import HOME, PAGES

REPO = Path(__file__).resolve().parents[2]


class PageTest(AppTest):
    """AppTest that runs a page again when a run drew nothing at all because its script failed
    to compile with CPython 3.11's "SystemError: AST constructor recursion depth mismatch"
    (python/cpython#106905: ast.parse on one thread while another thread compiles; seen in
    CI and locally right after the class-of-30 test). Every lab page draws a title, so an
    empty page is that, or a real syntax error, which the second run shows again."""

    def run(self, *, timeout=None):
        at = super().run(timeout=timeout)
        if not at.main.children and not at.exception:
            at = super().run(timeout=timeout)
        return at


def page(name: str, **query):
    """An AppTest of app_pages/NAME.py with the given URL parameters, not yet run."""
    at = PageTest.from_file(str(REPO / "app_pages" / f"{name}.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at


def finish_jobs(at, timeout: float = 120.0) -> list:
    """Wait for this session's background jobs (AppTest does not wait for threads)."""
    runs = at.session_state["runs"] if "runs" in at.session_state else []
    for r in runs:
        assert r.job.join(timeout), f"job {r.name} did not finish within {timeout} s"
    return runs


REAL_PAGES = (HOME.name, "loss_lab")     # the pages stub_navigation runs for real
STUB_PAGES = {p.name: f"Stub: {p.title}" for p in PAGES if p.name not in REAL_PAGES}
STUB = "import streamlit as st\nst.title({title!r})\nst.json(st.query_params.to_dict())\n"


def navigation(default: str) -> str:
    """An entry script with app.py's pages (lab_app.pages.PAGES), `default` first shown."""
    pages = "".join(f"    st.Page({p.file!r}, title={p.title!r}, default={p.name == default}),\n"
                    for p in PAGES)
    return f"import streamlit as st\nst.navigation([\n{pages}]).run()\n"


def stub_navigation(tmp_path: Path, default: str = "home"):
    """An AppTest (not yet run) of app.py's navigation with the real Home and Loss lab pages
    and stubs for the others that print the URL they were opened with. Page links and
    switch_page need a navigation, and the stubs keep these tests fast."""
    (tmp_path / "app_pages").mkdir()
    for name in REAL_PAGES:
        (tmp_path / "app_pages" / f"{name}.py").symlink_to(REPO / "app_pages" / f"{name}.py")
    for name, title in STUB_PAGES.items():
        (tmp_path / "app_pages" / f"{name}.py").write_text(STUB.format(title=title))
    (tmp_path / "entry.py").write_text(navigation(default))
    return AppTest.from_file(str(tmp_path / "entry.py"), default_timeout=30)
