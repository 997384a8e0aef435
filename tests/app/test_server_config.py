"""The server settings a class runs with, as Streamlit itself reads them from the repo root
(`streamlit run app.py` and `./lab app` both start there)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _effective(option: str):
    """The option's value in a fresh process started in the repo root, as Streamlit reads it."""
    code = f"from streamlit import config; print(repr(config.get_option({option!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_the_source_watcher_is_off_so_it_cannot_starve_training():
    """Streamlit's default watcher also watched the lab's .venv: a worker importing torch
    overflowed its inotify queue, and its rescans kept the server busy for good (20-40
    images/s on the Train page instead of 500-750; docs/speed.md)."""
    assert _effective("server.fileWatcherType") == "'none'"


def test_no_forced_full_garbage_collection_after_each_rerun():
    """A gc.collect(2) after every live-fragment rerun was a third of the server's CPU."""
    assert _effective("runner.postScriptGC") == "False"


def test_uploads_are_capped_at_the_labs_largest_limit():
    """300 MB: an image set (gan_core.uploads.UploadLimits.max_total_bytes)."""
    assert _effective("server.maxUploadSize") == "300"


def test_students_see_no_tracebacks():
    """An exception shows students a generic message; type, message and traceback (with the
    server's paths) go only to the server's log (issue 30: 8 tracebacks in 10 first visits)."""
    assert _effective("client.showErrorDetails") == "'none'"


def test_app_imports_what_pages_need_before_any_page_runs():
    """Concurrent first visits raced on importing pandas inside the pages ("partially
    initialized module 'pandas'"): app.py imports pandas, plotly and the lab's page modules at
    its top level, before st.navigation, so every session imports them in the same order."""
    import ast
    tree = ast.parse((REPO / "app.py").read_text())
    top, navigation_at = set(), None
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module)
        elif navigation_at is None and "attr='navigation'" in ast.dump(node):
            navigation_at = node.lineno
    assert {"pandas", "plotly.graph_objects", "matplotlib.pyplot"} <= top
    pages = "\n".join(p.read_text() for p in (REPO / "app_pages").glob("*.py"))
    used = {m for m in ("lab_app.charts", "lab_app.explore", "lab_app.inside", "gan_core.jobs",
                        "lab_app.sweep_results", "gan_core.uploads")
            if m in pages or f"from {m.split('.')[0]} import {m.split('.')[1]}" in pages}
    assert used <= top, used - top
    last_import = max(n.lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    assert navigation_at and last_import < navigation_at
