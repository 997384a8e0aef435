"""Helpers for the page tests (a plain module: two conftest.py files cannot both be imported)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def page(name: str, **query):
    """An AppTest of pages/NAME.py with the given URL parameters, not yet run."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at


def finish_jobs(at, timeout: float = 120.0) -> list:
    """Wait for this session's background jobs (AppTest does not wait for threads)."""
    runs = at.session_state["runs"] if "runs" in at.session_state else []
    for r in runs:
        assert r.job.join(timeout), f"job {r.name} did not finish within {timeout} s"
    return runs
