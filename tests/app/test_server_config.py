"""The server settings a class runs with, as Streamlit itself reads them from the repo root
(`streamlit run app.py` and `./lab app` both start there)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _effective(option: str) -> str:
    out = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=REPO,
                         capture_output=True, text=True, timeout=120).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith(f"{option} = ")]
    assert lines, f"{option} is not in `streamlit config show`"
    return lines[0].split(" = ", 1)[1]


def test_the_source_watcher_is_off_so_it_cannot_starve_training():
    """Streamlit's default watcher also watched the lab's .venv: a worker importing torch
    overflowed its inotify queue, and its rescans kept the server busy for good (20-40
    images/s on the Train page instead of 500-750; README, Speed)."""
    assert _effective("fileWatcherType") == '"none"'


def test_uploads_are_capped_at_200_mb():
    assert _effective("maxUploadSize") == "200"
