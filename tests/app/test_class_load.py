"""A class of 30 on one server: 28 light student sessions, 2 browser students, the teacher's page.

Thirty students arrive at once (each with its own owner cookie), open the Train page from a
lesson link and press Start; one student opens two more tabs and tries to start two more runs;
the teacher watches everything on the Class page in a real browser; mid-way a training worker is
killed. The light sessions (tests/app/stclient.py) speak Streamlit's websocket protocol as a
browser tab does, fragments' timers included, so the server does a tab's work for each.

Checked: page loads while the class trains (median under PAGE_LOAD_S, nine in ten under twice
that, none near a hang), the server-wide limit
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

from benchmarks.procs import cmdline, descendants, process_stat
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
# One student (light session 1) asks for a longer run: the worker is killed while it trains,
# so the kill cannot land between two one-second jobs on a fast machine.
LONG = "dataset=ring&epochs=60&seed=1"
FINAL = ("finished", "failed", "stopped")
RUNNING = re.compile(r"running: step (\d+)/")
KILL_TRIES = 5


# --- the server's processes ---------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    return process_rss_mb(pid) or 0.0           # 0 for a process that has just ended


def busy_worker(server_pid: int) -> int | None:
    """A worker that is training: of the descendants busy over half a second, the one with the
    most CPU time in all. Not a spare worker warming up (busy too, but new: little CPU time
    yet, and killing it fails no run), and not multiprocessing's resource tracker."""
    kids = [k for k in descendants(server_pid)
            if cmdline(k) and "resource_tracker" not in cmdline(k)]   # '' once ended
    before = {}
    for k in kids:
        try:
            before[k] = process_stat(k)[1]
        except (OSError, IndexError):
            pass
    time.sleep(0.5)
    total = {}
    for k, t in before.items():
        try:
            now = process_stat(k)[1]
        except (OSError, IndexError):
            continue
        if now - t > 0.1:
            total[k] = now
    return max(total, key=total.get, default=None)


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


async def _open_all(url: str, owners: list[str], long: int = -1
                    ) -> tuple[list[LightSession], list[float]]:
    """Sessions for the owners, each on the Train page from the lesson link (session `long`
    from the longer link)."""
    sessions = [LightSession(url, o) for o in owners]
    await asyncio.gather(*(s.__aenter__() for s in sessions))
    loads = await asyncio.gather(*(s.load("train", LONG if i == long else LESSON.format(seed=i))
                                   for i, s in enumerate(sessions)))
    return sessions, list(loads)


async def _click_all(sessions: list[LightSession]) -> list[float]:
    return list(await asyncio.gather(*(s.click("Start training", timeout=120) for s in sessions)))


async def _close_all(sessions: list[LightSession]) -> None:
    await asyncio.gather(*(s.__aexit__(None, None, None) for s in sessions),
                         return_exceptions=True)


STATUS = re.compile(r"(ready|running|queued|paused|finished|failed|stopped): step \d+/\d+[^\n]*")


def _browser_status(page) -> str:
    """The browser student's status line, read from the page's text ('' before a run, or
    while the page is redrawn)."""
    try:
        text = page.get_by_test_id("stMainBlockContainer").inner_text(timeout=5000)
    except Exception:  # noqa: BLE001 - the page is being redrawn
        return ""
    m = STATUS.search(text)
    return m.group(0).strip().lower() if m else ""


def _watch(page) -> list[str]:
    """The page's uncaught script errors as they happen (a crashed Streamlit front end leaves a
    blank page and no status line: the error says why)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{time.strftime('%X')} {e}"))
    return errors


def _page_text(page) -> str:
    """What a browser page shows, shortened, for a failure message."""
    try:
        return repr(page.locator("body").inner_text(timeout=10_000)[:300])
    except Exception as e:  # noqa: BLE001 - a page that cannot be read says why
        return f"unreadable: {e!r}"[:300]


def _start_in_browser(page, shots: Path, timeout: float = 60) -> None:
    """Press Start and wait for the run's status line."""
    end = time.time() + timeout
    page.get_by_role("button", name="Start training").click()
    while time.time() < end:
        time.sleep(1)
        if _browser_status(page):
            return
    page.screenshot(path=str(shots / "no-status.png"), full_page=True)
    raise AssertionError(f"no status line {timeout:.0f} s after pressing Start: {shots}/no-status.png")


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
            sessions, first_loads = loop.run(_open_all(url, light_owners, long=1))
            students, crashes = [], []
            for i in range(BROWSER_STUDENTS):
                page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
                crashes.append(_watch(page))
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

            # One student will also try two more tabs: the one with the long run, which cannot
            # be over by then (a one-epoch run ended before the third tab was opened once, on a
            # quiet machine, and a third run is then rightly only the student's second).
            extra, _ = loop.run(_open_all(url, [light_owners[1]] * 2))
            # Everyone presses Start.
            loop.run(_click_all(sessions))
            for page in students:
                _start_in_browser(page, tmp_path)
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
            lost: list[float] = []            # reloads whose first request went unanswered
            deadline = time.time() + 420
            for tick in itertools.count():
                if time.time() > deadline:
                    break
                states = [s.status() for s in trackers] + [_browser_status(pg) for i, pg in
                                                           enumerate(students) if not crashes[i]]
                if all(s.startswith(FINAL) for s in states):
                    break
                # a student whose run is not over reloads the Train page (the long run keeps
                # one such student to the end, however fast the others finish)
                waiting = [t for t in trackers if not t.status().startswith(FINAL)]
                if waiting:
                    who = waiting[tick % len(waiting)]
                    asked = who.reloads_resent
                    reloads.append(loop.run(who.load("train", who.query), 90))  # its own 60 s
                    if who.reloads_resent > asked:
                        lost.append(reloads[-1])
                kids = descendants(proc.pid)
                worker_peak = max([worker_peak] + [rss_mb(k) for k in kids])
                peak_total = max(peak_total, rss_mb(proc.pid) + sum(rss_mb(k) for k in kids))
                # Kill the busiest worker once the long run is past its first step: both
                # workers are then mid-run (or the other is idle, and the long run's is the
                # busiest), so one run fails, whichever it is. A one-second run on the other
                # worker can end between the measure and the kill: then no run fails, and
                # the kill is tried again while the long run still trains.
                long_at = RUNNING.match(trackers[1].status())
                if (long_at and int(long_at.group(1)) > 0 and len(killed) < KILL_TRIES
                        and time.time() - last_kill > 8
                        and not any(s.startswith("failed") for s in states)):
                    pid = busy_worker(proc.pid)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        last_kill = time.time()
                time.sleep(1.0)
            states = [s.status() for s in trackers] + [_browser_status(pg) for i, pg in
                                                       enumerate(students) if not crashes[i]]
            time.sleep(3)
            after = rss_mb(proc.pid)
            held.update(seconds=round(time.perf_counter() - started),
                        server_mb_per_finished_run=round((after - idle) / (STUDENTS + 1), 1),
                        first_visit_s=dict(median=round(statistics.median(first_loads), 2),
                                           light_max=round(max(first_loads[:-2]), 2),
                                           browser=[round(x, 2) for x in first_loads[-2:]]),
                        reload_s=dict(n=len(reloads), median=round(statistics.median(reloads), 2),
                                      first=[round(x, 2) for x in reloads[:3]],
                                      slowest=[round(x, 2) for x in sorted(reloads)[-4:]],
                                      max=round(max(reloads), 2)),
                        reloads_asked_again=[round(x, 2) for x in lost],
                        unanswered=[u for t in trackers for u in t.unanswered],
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
            # Streamlit's front end blanks a page now and then under this load ("Cannot set a
            # node at a delta path", then no connection; docs/speed.md): a race in Streamlit
            # that this page's fragment timers meet, not yet avoided. Such a page is
            # reported here and left out of the status checks below; its run is still one of
            # the teacher's runs checked at the end.
            for i, page in enumerate(students):
                if crashes[i]:
                    print(f"KNOWN STREAMLIT RACE: browser student {i}'s page threw "
                          f"{crashes[i][:3]}; it shows {_page_text(page)}")
            blank = [f"tab {i}: {sorted({k for k, _ in t.elements.values()})}, last messages "
                     f"{t.recent[-8:]}" for i, t in enumerate(trackers) if not t.status()]
            assert not blank, f"light tabs without a status line: {blank}"
            assert len(failed) == 1 or (any(crashes) and not failed), states
            assert len(finished) == len(states) - len(failed), [s for s in states if not
                                                                 s.startswith("finished")]
            why = " ".join(t for s in trackers if s.status().startswith("failed")
                           for t in s.texts("alert"))
            for page in students:
                if _browser_status(page).startswith("failed"):
                    why += page.locator("body").inner_text()
            assert not failed or ("worker" in why and "killed" in why), why
            # A typical reload under PAGE_LOAD_S and nine in ten under twice that; none near a
            # hang. On this 2-core machine the server shares the cores with 3 Chromium pages, 2
            # trainings and, after the kill, a new worker starting: single reloads of 4-7 s
            # (one of 12 s) were seen there while the median stayed under 1 s.
            # Now and then a light tab's page load got no end of its full run (5 of 11 runs on
            # 2026-12-07, one or two loads each): the tab's own timers had gone on during the
            # load (fixed in stclient.py; the likely server side is in docs/speed.md). Should
            # it happen again, the tab asks again after 20 s, as a student presses reload
            # again, and the load's time counts from the first request (20-40 s). Such loads
            # stay in the median and the 90th percentile and are printed with what the server
            # sent; the bound on the slowest leaves them out, and at most two are allowed.
            ordered = sorted(reloads)
            assert statistics.median(reloads) < PAGE_LOAD_S, ordered[-5:]
            assert ordered[int(0.9 * (len(ordered) - 1))] < 2 * PAGE_LOAD_S, ordered[-5:]
            answered = list(ordered)
            for t in lost:
                answered.remove(t)
            assert max(answered, default=0.0) < 20 and len(lost) <= 2, (ordered[-5:], lost)
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
            for i, page in enumerate(students):
                if not crashes[i]:
                    _no_exception(page)
            _no_exception(teacher)
            for s in trackers + extra:
                assert not s.exceptions, s.exceptions
            loop.run(_close_all(sessions + extra))
            browser.close()
    finally:
        loop.close()
        _stop_server(proc)
