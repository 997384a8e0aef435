"""Streamlit helpers shared by the pages: the server-wide pool, this session's runs, the sidebar.

Training jobs live in `st.session_state.runs` (one list per browser session, so students never
see each other's runs); the `JobPool` that limits simultaneous trainings is one object for the
whole server (`st.cache_resource`).
"""
from __future__ import annotations

import copy
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import streamlit as st
import torch

from gan_core.checkpoint import save_checkpoint
from gan_core.config import available_devices
from gan_core.jobs import Job, JobPool

ROOT = Path(__file__).resolve().parents[1]
MAX_TRAININGS = int(os.environ.get("GAN_LAB_MAX_TRAININGS", "2"))
MAX_RUNS_KEPT = 8    # per browser session; the oldest finished run is dropped beyond this


@st.cache_resource
def get_pool() -> JobPool:
    return JobPool(max_running=MAX_TRAININGS)


@dataclass
class Run:
    """A job started from a page, as this browser session remembers it."""
    name: str
    job: Job
    kind: str = "train"             # train or compare
    labels: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.job.alive


def runs() -> list[Run]:
    if "runs" not in st.session_state:
        st.session_state.runs = []
    return st.session_state.runs


def add_run(run: Run) -> Run:
    lst = runs()
    lst.append(run)
    finished = [r for r in lst if not r.active]
    while len(lst) > MAX_RUNS_KEPT and finished:
        lst.remove(finished.pop(0))
    return run


def latest_run(kind: str) -> Optional[Run]:
    for r in reversed(runs()):
        if r.kind == kind:
            return r
    return None


def torch_threads() -> None:
    """Intra-op threads per trainer, so that concurrent trainers do not oversubscribe the cores.

    Up to MAX_TRAININGS jobs of up to two trainers (a comparison) run at once, each in its own
    Python thread. Measured on 2 cores (classroom model, MNIST): one trainer alone makes 975
    images/s with 2 threads and 555 with 1; a lockstep pair makes 476 each with 2 threads and
    537 each with 1; and three trainers at 2 threads each fell to about 90 images/s. So: cores
    divided by the most trainers that can run at once, at least 1. GAN_LAB_TORCH_THREADS
    overrides it.
    """
    forced = os.environ.get("GAN_LAB_TORCH_THREADS")
    n = int(forced) if forced and forced.isdigit() and int(forced) > 0 else \
        max(1, (os.cpu_count() or 1) // (2 * MAX_TRAININGS))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


OWNER_COOKIE = "gan_lab_owner"


def owner_key() -> str:
    """This browser's private key for its saved runs and uploads.

    Kept in a cookie (one year, this site only), so a refresh or a server restart finds the
    same runs; a browser without it gets a new random key. Other students never see it.
    """
    from lab_app.saved import valid_token
    if "owner_key" not in st.session_state:
        token = st.context.cookies.get(OWNER_COOKIE) if st.context.cookies else None
        st.session_state.owner_cookie_ok = valid_token(token)
        st.session_state.owner_key = token if valid_token(token) else secrets.token_urlsafe(24)
    return st.session_state.owner_key


def _remember_owner() -> None:
    """Set the owner cookie once per session when the browser did not send it."""
    key = owner_key()
    if not st.session_state.get("owner_cookie_ok"):
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={key}; path=/; "
                f"max-age=31536000; SameSite=Strict';</script>", unsafe_allow_javascript=True)
        st.session_state.owner_cookie_ok = True


def sidebar() -> None:
    pool = get_pool()
    with st.sidebar:
        _remember_owner()
        st.caption(f"Devices here: {', '.join(available_devices())}")
        busy = f"{pool.running} of {pool.max_running} training slots in use"
        if pool.waiting:
            busy += f", {pool.waiting} waiting"
        if pool.peak:
            busy += f" (at most {pool.peak} at once"
            busy += f", {pool.peak_waiting} waiting" if pool.peak_waiting > 0 else ""
            busy += " since the server started)"
        st.caption(f"Server: {busy}.")
        mine = [r for r in runs() if r.active]
        if mine:
            st.caption(f"Your runs in progress: {', '.join(r.name for r in mine)}")


def trained_generators() -> dict[str, torch.nn.Module]:
    """Generators of this session's runs, copied (the worker may still be training them)."""
    out = {}
    for r in runs():
        for label, t in zip(r.labels or [r.name], r.job.trainers):
            if t.step == 0:
                continue
            G = copy.deepcopy(t.sample_G).cpu().eval()
            out[f"{r.name}: {label} (step {t.step})"] = G
    return out


def checkpoint_bytes(trainer) -> bytes:
    """The trainer's checkpoint as bytes for a download button."""
    with tempfile.TemporaryDirectory() as d:
        path = save_checkpoint(trainer, Path(d) / "checkpoint.pt")
        return path.read_bytes()
