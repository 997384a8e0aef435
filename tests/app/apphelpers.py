"""Helpers for the page tests (a plain module: two conftest.py files cannot both be imported)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def page(name: str, **query):
    """An AppTest of app_pages/NAME.py with the given URL parameters, not yet run."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(REPO / "app_pages" / f"{name}.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at


def finish_jobs(at, timeout: float = 120.0) -> list:
    """Wait for this session's background jobs (AppTest does not wait for threads)."""
    runs = at.session_state["runs"] if "runs" in at.session_state else []
    for r in runs:
        assert r.job.join(timeout), f"job {r.name} did not finish within {timeout} s"
    return runs


STUB_PAGES = {"train": "Stub: Train", "compare": "Stub: Compare", "explore": "Stub: Explorer",
              "experiments": "Stub: Experiments"}
STUB = "import streamlit as st\nst.title({title!r})\nst.json(st.query_params.to_dict())\n"
NAV = """
import streamlit as st
st.navigation([
    st.Page("app_pages/home.py", title="Home", default={home}),
    st.Page("app_pages/train.py", title="Train"),
    st.Page("app_pages/compare.py", title="Compare"),
    st.Page("app_pages/explore.py", title="Latent explorer"),
    st.Page("app_pages/loss_lab.py", title="Loss lab", default={loss_lab}),
    st.Page("app_pages/experiments.py", title="Experiments"),
]).run()
"""


def stub_navigation(tmp_path: Path, default: str = "home"):
    """An AppTest (not yet run) of app.py's navigation with the real Home and Loss lab pages
    and stubs for the others that print the URL they were opened with. Page links and
    switch_page need a navigation, and the stubs keep these tests fast."""
    from streamlit.testing.v1 import AppTest
    (tmp_path / "app_pages").mkdir()
    for name in ("home", "loss_lab"):
        (tmp_path / "app_pages" / f"{name}.py").symlink_to(REPO / "app_pages" / f"{name}.py")
    for name, title in STUB_PAGES.items():
        (tmp_path / "app_pages" / f"{name}.py").write_text(STUB.format(title=title))
    (tmp_path / "entry.py").write_text(NAV.format(home=default == "home",
                                                  loss_lab=default == "loss_lab"))
    return AppTest.from_file(str(tmp_path / "entry.py"), default_timeout=30)
