"""Streamlit helpers shared by the pages: the server-wide pool, this session's runs, the sidebar.

Training jobs live in `st.session_state.runs` (one list per browser session, so students never
see each other's runs); the `JobPool` that limits simultaneous trainings is one object for the
whole server (`st.cache_resource`).
"""
from __future__ import annotations

import functools
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import streamlit as st
import torch

from gan_core.devices import available_devices
from gan_core import jobs
from gan_core.jobs import Job, JobPool
from gan_core.workers import get_backend
from lab_app import limits, safe
from lab_app.classroom import MAX_NAME, Classroom
from lab_app.lessons import dataset_line, measured_line, recipe_line
from lab_app.pages import page
from lab_app.reports import starting_point
from lab_app.saved import valid_token
from lab_app.settings import default_config

ROOT = Path(__file__).resolve().parents[1]
MAX_TRAININGS = int(os.environ.get("GAN_LAB_MAX_TRAININGS", "2"))
MAX_RUNS_KEPT = 8    # per browser session; the oldest finished run is dropped beyond this


# How often a live run's view redraws itself (Train and Compare). Each redraw costs the server
# about 60-80 ms of CPU per open page (./lab bench --app) and the browser a redraw of every
# chart: with the browser on the same 2 cores, 2.5 s gave 585 and 618 steps in 60 s where
# 1.5 s gave 498-598 (docs/speed.md).
LIVE_REFRESH_S = 2.5
# While a run trains, its charts and "Inside the game" views are rebuilt at most this often and
# sent again unchanged in between (the progress line and the sample grid follow every redraw).
# In headless Chromium on the training's 2 cores, the Train page's renderer used 0.154 of a core
# with everything rebuilt every 2.5 s, 0.098 with the charts' data unchanged (an unchanged chart
# costs the browser nothing measurable), 0.080 with the views left out as well (docs/speed.md).
SLOW_REFRESH_S = 5.0
# After Start, the page waits this long at most for the run's first step and sample grid before
# it draws the live view, so the click's own redraw shows the run moving (a warm worker takes
# its first step about 0.2 s after the click) instead of the next timed redraw, LIVE_REFRESH_S
# later.
FIRST_STEP_WAIT_S = 1.5
# Every open page redraws the sidebar's server line on a timer; that redraw also looks for a
# new banner from the teacher and redraws the whole page when there is one (the banner had its
# own 5 s timer: one fragment rerun fewer per page and per interval, and one timer fewer for
# Streamlit's front end, which now and then blanks a page when a loaded server answers a
# page's timers back to back: "Cannot set a node at a delta path"; docs/speed.md). Each
# fragment rerun costs the browser about 40 ms of CPU whatever it draws. 10 s made the blank
# page rarer (5 of 7 loaded runs at 2 s, 1 of 5 at 10 s) but the class-of-30 test's reloads
# slower (max 12-28 s in 3 of 3 quiet runs against 5-11 s), so it stays at 2 s.
STATUS_REFRESH_S = 2.0


def timed(fn):
    """`fn`, each call's wall and thread-CPU milliseconds appended to the file named by
    $GAN_LAB_TIMINGS (read by `./lab bench --app browser`); `fn` itself when it is not set."""
    path = os.environ.get("GAN_LAB_TIMINGS")
    if not path:
        return fn

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"{fn.__name__},{(time.perf_counter() - t0) * 1000:.1f},"
                        f"{(time.thread_time() - c0) * 1000:.1f}\n")
    return inner


@st.cache_resource
def get_pool() -> JobPool:
    return JobPool(max_running=MAX_TRAININGS, park_after_s=limits.park_after_s())


def new_job(configs, name: str) -> Job:
    """A training job for this browser on the server's pool: fair slots (one training and one
    waiting per browser), the per-run budget, and a pause (then a stop) when nobody watches it
    (lab_app.limits). Raises ValueError with the student's message; `start()` may too."""
    return jobs.Job(configs, get_pool(), name, owner=owner_key(), budget=limits.run_budget(),
                    idle_pause_s=limits.idle_pause_s(), idle_stop_s=limits.idle_stop_s())


def every_slow(key: str, job_id: int, live: bool, make: Callable[[], Any]) -> Any:
    """`make()`, or what it gave on an earlier redraw of this run under SLOW_REFRESH_S ago
    while `live` (a finished or paused view, or another run, is drawn fresh)."""
    kept = st.session_state.setdefault("live_slow", {})
    now = time.monotonic()
    old = kept.get(key)
    if live and old is not None and old[0] == job_id and now - old[1] < SLOW_REFRESH_S:
        return old[2]
    value = make()
    kept[key] = (job_id, now, value)
    return value


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


@st.cache_resource
def get_classroom() -> Classroom:
    """The class as the teacher's page sees it, one per server (lab_app.classroom)."""
    return Classroom()


def add_run(run: Run, params: Optional[dict] = None) -> Run:
    """Remember `run` in this session, and register it with the class: the set-up it started
    from is the lesson whose link (`params`, the page's URL) opened the page, else the page's
    defaults for the dataset."""
    lesson, base = starting_point(run.job.trainer.config.dataset, params)
    get_classroom().register(owner_key(), run, base, lesson.title if lesson else "")
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
    """Torch threads of this (drawing) process, and a warm training worker.

    Training runs in worker processes (gan_core.workers), whose threads the JobPool sets: all
    the cores for a lone run, an even share when several train. This process only samples for
    the Explorer and draws, so it keeps a small share: cores / (2 x MAX_TRAININGS), at least 1.
    One worker is started now when nothing trains, so the first run does not wait for torch
    to import, and it trains the default set-up for one step at once
    (gan_core.workers.core.warm_up), so the first run finds its data, clusters and judge
    statistics ready.
    """
    n = max(1, (os.cpu_count() or 1) // (2 * MAX_TRAININGS))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    pool = get_pool()
    if pool.running or pool.waiting:
        # Not while anything trains: a new worker imports torch and trains a step, and on a
        # laptop's 2 cores the page's rerun after Start made one that took the student's run
        # from about 90 steps in its first 15 s to 7. A finished job's worker stays warm.
        return
    try:
        get_backend(keep_idle=MAX_TRAININGS).prewarm(1, warm_configs())
    except Exception as e:  # noqa: BLE001 - e.g. a Ray cluster that cannot be reached
        st.warning(f"Training workers could not be started: {safe.text(e)}")


@st.cache_resource
def warm_configs() -> list[dict]:
    """What a new worker trains for one step before its first job: the app's default set-up."""
    try:
        return [default_config().to_dict()]
    except ValueError:
        return []


OWNER_COOKIE = "gan_lab_owner"


def owner_key() -> str:
    """This browser's private key for its saved runs and uploads.

    Kept in a cookie (one year, this site only), so a refresh or a server restart finds the
    same runs; a browser without it gets a new random key. Other students never see it.
    """
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
    with st.sidebar:
        _remember_owner()
        room = get_classroom()
        st.text_input("Your name for the teacher", key="display_name", max_chars=MAX_NAME,
                      placeholder=room.name_of(owner_key()),
                      help="What the teacher's Class page calls your runs (else student N).")
        room.set_name(owner_key(), st.session_state.get("display_name") or "")
        st.caption(f"Devices here: {', '.join(available_devices())}")
        # the banner this full run draws (class_banner); a later timer run compares
        st.session_state.banner_drawn = _banner_sent()
        server_status()


def _banner_sent() -> Optional[float]:
    banner = get_classroom().banner
    return banner.sent if banner is not None else None


def class_banner() -> None:
    """The lesson the teacher sent to the class, on every page, with the link that opens it.
    Drawn with the page; the sidebar's timer (server_status) redraws the page when the
    teacher sends another or takes it down."""
    banner = get_classroom().banner
    if banner is None or st.session_state.get("banner_closed") == banner.sent:
        return
    with st.container(border=True):
        st.markdown(f":material/campaign: **From your teacher:** {safe.text(banner.text)}")
        c1, c2 = st.columns([3, 1])
        c1.page_link(banner.page, label="Open the lesson", icon=":material/school:",
                     query_params=banner.params)
        if c2.button("Hide", key="banner_hide"):
            st.session_state.banner_closed = banner.sent
            st.rerun()


@st.fragment(run_every=STATUS_REFRESH_S)
def server_status() -> None:
    """Slots in use and the queue, redrawn every STATUS_REFRESH_S (a run started elsewhere
    shows up); the whole page is redrawn when the teacher's banner changed since it was
    drawn (class_banner)."""
    if "banner_drawn" in st.session_state and _banner_sent() != st.session_state.banner_drawn:
        st.rerun(scope="app")
    pool = get_pool()
    busy = f"{pool.running} of {pool.max_running} training slots in use"
    if pool.waiting:
        busy += f", {pool.waiting} waiting"
    if pool.peak:
        busy += f" (at most {pool.peak} at once"
        busy += f", {pool.peak_waiting} waiting" if pool.peak_waiting > 0 else ""
        busy += " since the server started)"
    st.caption(f"Server: {busy}.")
    mine = [r for r in runs() if r.active]
    for r in mine:          # any open page of this session keeps its runs from the idle pause
        r.job.seen()
    if mine:
        st.caption(f"Your runs in progress: {', '.join(r.name for r in mine)}")


@dataclass
class SessionGenerator:
    """G of one run of this session, as of its last checkpoint."""
    name: str                       # "run 2" or "comparison 1: A: focal ..."
    step: int                       # the checkpoint's step
    G: torch.nn.Module
    trainer: object                 # the job's view of the trainer (config, dataset)

    @property
    def title(self) -> str:
        return f"{self.name} (step {self.step})"


def trained_generators() -> list[SessionGenerator]:
    """Generators of this session's runs, from each run's last checkpoint (its worker keeps
    training; a checkpoint is written every few seconds, on pause and at the end)."""
    out = []
    for r in runs():
        for label, t in zip(r.labels or [r.name], r.job.trainers):
            G = t.generator() if t.checkpoint_step else None
            if G is not None:
                out.append(SessionGenerator(f"{r.name}: {label}", t.checkpoint_step, G, t))
    return out


def checkpoint_bytes(trainer) -> bytes:
    """The run's last checkpoint as bytes for a download button (empty before the first)."""
    return trainer.checkpoint_bytes() or b""


def lesson_card(lesson, key: str, label: Optional[str] = None) -> None:
    """A lesson as a bordered card: title, what the class will see, what to watch for, how often
    the lesson benchmark saw it and which recipe it trains with, and the button that opens it."""
    with st.container(border=True, height="stretch", vertical_alignment="distribute"):
        with st.container(gap=None):
            st.markdown(f"**{lesson.title}**")
            st.caption(lesson.blurb)
            if lesson.effect is not None:
                st.caption(f"**Watch for:** {lesson.effect.watch}.")
            facts = [measured_line(lesson.key)] if lesson.effect is not None else []
            if recipe_line(lesson):
                facts.append(f"Recipe: {recipe_line(lesson)}")
            if lesson.effect is None and lesson.page.endswith("train.py"):
                facts.append("nothing trains by itself: you take each step")
            st.caption(" · ".join(f for f in facts if f))
            needs, here = dataset_line(lesson)
            if needs:      # a missing dataset is said before anyone presses the button
                st.caption(needs if here else f":orange[:material/download: {needs}]")
        if st.button(label or f"Open on {page(Path(lesson.page).stem).title}", key=key,
                     type="primary", icon=":material/play_arrow:", width="stretch"):
            st.switch_page(lesson.page, query_params=lesson.params)
