"""Starting and stopping a run 100 times leaks no threads, no pool slots, no worker processes
and no memory in the server: first with the job handles the pages use, then through the Train
page itself. (The training happens in worker processes; these watch the server's side.)"""
from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from apphelpers import page
from gan_core.config import TrainConfig
from gan_core.jobs import Job, JobPool


def rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        pytest.skip("no /proc here to read the memory in use")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_ring() -> TrainConfig:
    return TrainConfig(dataset="ring", model="mlp", latent_dim=2, epochs=1000,
                       sample_every=10**6, device="cpu")


def worker_processes() -> set[int]:
    import multiprocessing
    return {p.pid for p in multiprocessing.active_children()}


def settle(baseline: int, timeout: float = 10) -> int:
    deadline = time.time() + timeout
    while threading.active_count() > baseline and time.time() < deadline:
        time.sleep(0.05)
    return threading.active_count()


def test_100_jobs_started_and_stopped_leave_no_threads_slots_or_memory(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LAB_RUNS_DIR", str(tmp_path))
    pool = JobPool(max_running=2)
    for _ in range(3):                         # warm up allocators and lazy imports
        j = Job(long_ring(), pool).start()
        j.stop(), j.join(10)
    gc.collect()
    threads0, rss0 = settle(threading.active_count()), rss_mb()
    workers0 = worker_processes()
    started = time.perf_counter()
    peak_threads = 0
    for i in range(100):
        job = Job(long_ring(), pool).start()
        deadline = time.time() + 10
        while job.trainer.step < 1 and time.time() < deadline:      # it really trains
            time.sleep(0.002)
        assert job.trainer.step >= 1
        peak_threads = max(peak_threads, threading.active_count())
        job.stop()
        assert job.join(10), f"job {i} did not stop"
        assert job.trainer.state == "stopped"
    gc.collect()
    threads1, rss1 = settle(threads0), rss_mb()
    print(f"\n100 start/stop cycles in {time.perf_counter() - started:.1f} s: threads "
          f"{threads0} -> {threads1} (peak {peak_threads}), memory {rss0:.0f} -> {rss1:.0f} MB, "
          f"worker processes {len(workers0)} -> {len(worker_processes())}")
    assert threads1 == threads0
    assert worker_processes() == workers0        # the same warm workers, reused
    assert pool.running == 0 and pool.waiting == 0
    assert rss1 - rss0 < 60, f"memory grew by {rss1 - rss0:.0f} MB"


def test_jobs_stopped_while_queued_give_their_place_back():
    pool = JobPool(max_running=1)
    busy = Job(long_ring(), pool).start()
    threads0 = threading.active_count()
    for _ in range(20):
        queued = Job(long_ring(), pool).start()
        while pool.waiting == 0:
            time.sleep(0.01)
        assert queued.status().state == "queued"
        queued.stop()
        assert queued.join(5)
        assert queued.trainer.reason == "cancelled while waiting for a free slot"
    assert pool.waiting == 0 and pool.running == 1
    busy.stop()
    busy.join(10)
    assert settle(threads0 - 1) == threads0 - 1 and pool.running == 0


def test_the_train_page_started_and_stopped_100_times(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LAB_RUNS_DIR", str(tmp_path))
    at = page("train", dataset="ring", epochs=200)
    at.session_state["owner_key"] = "leak-test-key-0123456789"
    at.run()
    threads0 = threading.active_count()
    rss0 = rss_mb()
    started = time.perf_counter()
    for i in range(100):
        [b for b in at.button if b.label == "Start training"][0].click().run()
        run = at.session_state["runs"][-1]
        stop = [b for b in at.button if b.label == "Stop"]
        if stop:
            stop[0].click().run()
        run.job.stop()                     # the Stop button, if the run had not shown it yet
        assert run.job.join(10), f"run {i} did not stop"
        assert not at.exception
        if i == 49:
            gc.collect()
            rss50 = rss_mb()
    gc.collect()
    threads1, rss1 = settle(threads0), rss_mb()
    kept = len(at.session_state["runs"])
    print(f"\nTrain page: 100 start/stop in {time.perf_counter() - started:.1f} s; threads "
          f"{threads0} -> {threads1}; memory {rss0:.0f} MB at start, {rss50:.0f} after 50, "
          f"{rss1:.0f} after 100; runs kept in the session: {kept}; saved on disk: "
          f"{len(list(tmp_path.glob('*/*/meta.json')))}")
    assert threads1 <= threads0
    assert kept <= 8                       # the session keeps its last 8 runs, not 100
    # The first runs fill the session's 8 places; after that memory must stay flat.
    assert rss1 - rss50 < 25, f"memory grew by {rss1 - rss50:.0f} MB from run 50 to 100"
