"""Fixtures for the page tests: run from the repo root with a clean Streamlit cache."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _app_env(monkeypatch, tmp_path):
    """Run from the repo root, with a clean cache, saving runs and uploads under tmp_path."""
    import streamlit as st
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GAN_LAB_RUNS_DIR", str(tmp_path / "saved_runs"))
    monkeypatch.setenv("GAN_LAB_UPLOAD_DIR", str(tmp_path / "uploads"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
