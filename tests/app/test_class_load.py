"""A class of 30 on one server: 28 light student sessions, 2 browser students, the teacher's page.

Thirty students arrive at once (each with its own owner cookie), open the Train page from a
lesson link and press Start; one student opens two more tabs and tries to start two more runs;
the teacher watches everything on the Class page in a real browser; mid-way a training worker is
killed. The light sessions (tests/app/stclient.py) speak Streamlit's websocket protocol as a
browser tab does, fragments' timers included, so the server does a tab's work for each.

Checked: page loads stay under PAGE_LOAD_S while the class trains (one outlier allowed, none
over twice that), the server-wide limit
(2 at once) and the per-student cap (one training and one waiting) hold, every run but the
killed one finishes and the killed one says why, the teacher sees every run, no page shows an
exception, and memory stays bounded. Printed: the server's memory per idle session and per
running job, and the page load times.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
from stclient import LightSession
from test_browser import ARGS, CHROMIUM, _no_exception, _start_server, _stop_server

from gan_core.workers import process_rss_mb

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                "(apt-get install chromium); CI installs it")

STUDENTS = 30
BROWSER_STUDENTS = 2          # of the 30, in Chromium; the rest light sessions
LIMIT = 2                     # GAN_LAB_MAX_TRAININGS
KEY = "class-of-30-key"
PAGE_LOAD_S = 3.0             # a page load while the class trains
MEMORY_CAP_MB = 6000          # server and all its workers, at the peak
LESSON = "dataset=ring&epochs=1&seed={seed}"   # the lesson link's query
FINAL = ("finished", "failed", "stopped")
KILL_TRIES = 5                # kills until one hits a worker in the middle of a run


# --- the server's processes ---------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds used) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _proc_stat(int(entry.name))[0]
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        out += kids
        frontier += kids
    return out


def rss_mb(pid: int) -> float:
    return process_rss_mb(pid) or 0.0           # 0 for a process that has just ended


def busy_worker(server_pid: int) -> int | None:
    """The descendant using the most CPU over half a second (a worker that is training)."""
    kids = descendants(server_pid)
    before = {}
    for k in kids:
        try:
            before[k] = _proc_stat(k)[1]
        except (OSError, IndexError):
            pass
    time.sleep(0.5)
    used = {}
    for k, t in before.items():
        try:
            used[k] = _proc_stat(k)[1] - t
        except (OSError, IndexError):
            pass
    best = max(used, key=used.get, default=None)
    return best if best is not None and used[best] > 0.1 else None


# --- light sessions on their own event loop -------------------------------------------------------
class Loop:
    """An asyncio loop in a thread: the light sessions live there, Playwright in the test's."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 300):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _open_all(url: str, owners: list[str]) -> tuple[list[LightSession], list[float]]:
    sessions = [LightSession(url, o) for o in owners]
    await asyncio.gather(*(s.__aenter__() for s in sessions))
    loads = await asyncio.gather(*(s.load("train", LESSON.format(seed=i))
                                   for i, s in enumerate(sessions)))
    return sessions, list(loads)


async def _click_all(sessions: list[LightSession]) -> list[float]:
    return list(await asyncio.gather(*(s.click("Start training", timeout=120) for s in sessions)))


async def _close_all(sessions: list[LightSession]) -> None:
    await asyncio.gather(*(s.__aexit__(None, None, None) for s in sessions),
                         return_exceptions=True)


STATUS = re.compile(r"(running|queued|paused|finished|failed|stopped): step \d+/\d+[^\n]*")


def _browser_status(page) -> str:
    """The browser student's status line, read from the page's text ('' before a run, or
    while the page is redrawn)."""
    try:
        text = page.get_by_test_id("stMainBlockContainer").inner_text(timeout=5000)
    except Exception:  # noqa: BLE001 - the page is being redrawn
        return ""
    m = STATUS.search(text)
    return m.group(0).strip().lower() if m else ""


def test_a_class_of_30_on_one_server(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    proc, url = _start_server({"GAN_LAB_MAX_TRAININGS": str(LIMIT), "GAN_LAB_TEACHER_KEY": KEY,
                               "GAN_LAB_RUNS_DIR": str(tmp_path / "runs")})
    loop = Loop()
    held: dict = {}
    started = time.perf_counter()
    light_owners = [secrets.token_urlsafe(24) for _ in range(STUDENTS - BROWSER_STUDENTS)]
    try:
        # Warm: the first visit imports the pages' modules; then the baseline.
        warm, _ = loop.run(_open_all(url, [secrets.token_urlsafe(24)]))
        loop.run(_close_all(warm))
        time.sleep(2)
        base = rss_mb(proc.pid)
        base_total = base + sum(rss_mb(k) for k in descendants(proc.pid))

        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # Thirty arrive at once: 28 light sessions, then the 2 browser students.
            sessions, first_loads = loop.run(_open_all(url, light_owners))
            students = []
            for i in range(BROWSER_STUDENTS):
                page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
                t0 = time.perf_counter()
                page.goto(f"{url}/train?" + LESSON.format(seed=100 + i))
                page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
                first_loads.append(time.perf_counter() - t0)
                students.append(page)
            teacher = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
            teacher.goto(f"{url}/class")
            teacher.get_by_role("textbox", name="Teacher key").fill(KEY)
            teacher.get_by_role("button", name="Open the class").click()
            teacher.get_by_text("No runs yet").wait_for(timeout=60_000)
            time.sleep(5)                               # every session's timers ticking
            idle = rss_mb(proc.pid)
            held["server_mb_idle_base"] = round(base)
            held["server_mb_per_idle_session"] = round((idle - base) / (STUDENTS + 1), 1)

            # One student (light session 0) will also try two more tabs.
            extra, _ = loop.run(_open_all(url, [light_owners[0]] * 2))
            # Everyone presses Start.
            loop.run(_click_all(sessions))
            for page in students:
                page.get_by_role("button", name="Start training").click()
            second = loop.run(extra[0].click("Start training", timeout=120))
            third = loop.run(extra[1].click("Start training", timeout=120))
            held["click_s_max"] = round(max(second, third), 2)
            refusal = " ".join(extra[1].texts("alert"))
            assert "You already have" in refusal, refusal       # the per-student cap
            assert extra[1].status() == "", "the third run must not have started"
            trackers = sessions + [extra[0]]

            # While the class trains: page loads (a student reloads the Train page, another
            # opens Home), the pool's peak, memory, and one worker killed mid-run.
            reloads, peak_total, worker_peak, killed, last_kill = [], 0.0, 0.0, [], 0.0
            deadline = time.time() + 420
            for tick in itertools.count():
                if time.time() > deadline:
                    break
                states = [s.status() for s in trackers] + [_browser_status(pg) for pg in students]
                if all(s.startswith(FINAL) for s in states):
                    break
                who = trackers[tick % len(trackers)]
                if not who.status().startswith(FINAL):
                    reloads.append(loop.run(who.load("train", who.query), 60))
                kids = descendants(proc.pid)
                worker_peak = max([worker_peak] + [rss_mb(k) for k in kids])
                peak_total = max(peak_total, rss_mb(proc.pid) + sum(rss_mb(k) for k in kids))
                # Kill the busiest worker while a run trains; on a quiet machine a ring run
                # lasts about a second, so a kill can land between two jobs (an idle worker,
                # replaced unseen): then try again, after the pages have had time to show a
                # failure, at most KILL_TRIES times.
                running = any(s.startswith("running: step") and
                              not s.startswith("running: step 0/") for s in states)
                if (running and len(killed) < KILL_TRIES and time.time() - last_kill > 6
                        and not any(s.startswith("failed") for s in states)):
                    pid = busy_worker(proc.pid)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        last_kill = time.time()
                time.sleep(1.0)
            states = [s.status() for s in trackers] + [_browser_status(pg) for pg in students]
            time.sleep(3)
            after = rss_mb(proc.pid)
            held.update(seconds=round(time.perf_counter() - started),
                        server_mb_per_finished_run=round((after - idle) / (STUDENTS + 1), 1),
                        first_visit_s=dict(median=round(statistics.median(first_loads), 2),
                                           light_max=round(max(first_loads[:-2]), 2),
                                           browser=[round(x, 2) for x in first_loads[-2:]]),
                        reload_s=dict(n=len(reloads), median=round(statistics.median(reloads), 2),
                                      max=round(max(reloads), 2)),
                        worker_mb_peak=round(worker_peak),
                        peak_total_mb=round(peak_total), base_total_mb=round(base_total))
            print(f"\nclass of {STUDENTS}: {held}")
            assert killed, "no worker was seen training"
            failed = [s for s in states if s.startswith("failed")]
            finished = [s for s in states if s.startswith("finished")]
            for i, page in enumerate(students):
                if not _browser_status(page):
                    page.screenshot(path=str(tmp_path / f"student{i}.png"), full_page=True)
                    print(f"browser student {i} shows no status: {tmp_path}/student{i}.png")
            assert len(failed) == 1, states
            assert len(finished) == len(states) - 1, [s for s in states if not s.startswith(
                "finished")]
            why = " ".join(t for s in trackers if s.status().startswith("failed")
                           for t in s.texts("alert"))
            for page in students:
                if _browser_status(page).startswith("failed"):
                    why += page.locator("body").inner_text()
            assert "worker" in why and "killed" in why, why
            # Under PAGE_LOAD_S, allowing one outlier (CI's 2 cores also run 3 Chromium pages and
            # 2 trainings; one slow reload in 30 was seen there at 3.7 s); none near a hang.
            assert sorted(reloads)[-2] < PAGE_LOAD_S and max(reloads) < 2 * PAGE_LOAD_S, \
                sorted(reloads)[-5:]
            assert statistics.median(first_loads) < PAGE_LOAD_S
            assert peak_total < MEMORY_CAP_MB

            # The limit held on the server side (the pool's own peak, in every sidebar).
            side = " ".join(sessions[-1].texts("markdown"))
            m = re.search(r"at most (\d+) at once", side)
            assert m and int(m.group(1)) <= LIMIT, side
            # The teacher sees every run (31: one student ran two) and nothing broke.
            teacher.get_by_text(f"{STUDENTS + 1} run(s) on this server").wait_for(timeout=60_000)
            teacher.screenshot(path=str(tmp_path / "class_of_30.png"))
            print(f"the teacher's page: {tmp_path / 'class_of_30.png'}")
            for page in students + [teacher]:
                _no_exception(page)
            for s in trackers + extra:
                assert not s.exceptions, s.exceptions
            loop.run(_close_all(sessions + extra))
            browser.close()
    finally:
        loop.close()
        _stop_server(proc)
