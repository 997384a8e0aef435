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
