"""Background training jobs and a server-wide limit on how many train at once.

A `Job` owns a Trainer (or a pair of them, trained in lockstep for a comparison) and runs it in
a daemon thread. Nothing here draws anything: a UI polls `job.status()` and reads the trainers'
history and snapshots. A `JobPool` is shared by every user of one server: at most `max_running`
jobs train at once and the rest wait in order, so a class of 30 gets "busy, N waiting" rather
than 30 jobs crawling.
"""
from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .trainer import Trainer


class JobPool:
    def __init__(self, max_running: int = 2):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._queue: list[int] = []           # job ids waiting, in order of arrival
        self.peak = 0                         # most jobs ever running at once
        self.peak_waiting = 0                 # longest queue there ever was

    def acquire(self, job_id: int, cancelled: Callable[[], bool]) -> bool:
        """Block until `job_id` may run (True) or `cancelled()` becomes true (False)."""
        with self._cond:
            self._queue.append(job_id)
            self.peak_waiting = max(self.peak_waiting, len(self._queue) - (
                self.max_running - len(self._running)))
            try:
                while True:
                    if cancelled():
                        return False
                    if self._queue[0] == job_id and len(self._running) < self.max_running:
                        self._running.add(job_id)
                        self.peak = max(self.peak, len(self._running))
                        return True
                    self._cond.wait(0.2)
            finally:
                self._queue.remove(job_id)
                self._cond.notify_all()

    def release(self, job_id: int) -> None:
        with self._cond:
            self._running.discard(job_id)
            self._cond.notify_all()

    def position(self, job_id: int) -> Optional[int]:
        """1-based place in the waiting line, or None if not waiting."""
        with self._cond:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)


_ids = itertools.count(1)


@dataclass
class JobStatus:
    state: str          # queued, running, paused, finished, stopped, failed
    message: str
    step: int
    total_steps: int
    seconds_left: Optional[float]
    images_per_s: Optional[float]
    queue_position: Optional[int] = None


class Job:
    """Runs one or more trainers; with several, one step each in turn (lockstep)."""

    def __init__(self, trainers: Sequence[Trainer] | Trainer, pool: Optional[JobPool] = None,
                 name: str = ""):
        self.trainers: list[Trainer] = [trainers] if isinstance(trainers, Trainer) else list(trainers)
        if not self.trainers:
            raise ValueError("a job needs at least one trainer")
        self.pool = pool
        self.name = name
        self.id = next(_ids)
        self.error: str = ""
        self.created = time.time()
        self._thread: Optional[threading.Thread] = None
        self._cancel = threading.Event()
        self._queued = False

    @property
    def trainer(self) -> Trainer:
        return self.trainers[0]

    # -- control ----------------------------------------------------------------------------
    def start(self) -> "Job":
        if self._thread is not None:
            raise RuntimeError("job already started")
        self._queued = self.pool is not None
        self._thread = threading.Thread(target=self._main, name=f"gan-job-{self.id}", daemon=True)
        self._thread.start()
        return self

    def pause(self):
        for t in self.trainers:
            t.pause()

    def resume(self):
        for t in self.trainers:
            t.resume()

    def stop(self):
        self._cancel.set()
        for t in self.trainers:
            t.stop()

    def join(self, timeout: Optional[float] = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the worker ---------------------------------------------------------------------------
    def _main(self):
        if self.pool is not None:
            if not self.pool.acquire(self.id, self._cancel.is_set):
                self._queued = False
                for t in self.trainers:
                    t.state, t.reason = "stopped", "cancelled while waiting for a free slot"
                return
        self._queued = False
        try:
            if len(self.trainers) == 1:
                self.trainer.run()
            else:
                self._run_lockstep()
        except Exception as e:  # noqa: BLE001 - a worker must never die silently
            self.error = f"{type(e).__name__}: {e}"
            for t in self.trainers:
                if t.state not in ("finished", "stopped", "failed"):
                    t.state, t.reason = "failed", self.error
            traceback.print_exc()
        finally:
            if self.pool is not None:
                self.pool.release(self.id)

    def _run_lockstep(self):
        """Advance every trainer one step at a time, so they stay at the same step."""
        gates = [threading.Semaphore(0) for _ in self.trainers]
        done = [threading.Semaphore(0) for _ in self.trainers]

        def gate(i):
            def on_step(tr, record):
                done[i].release()
                gates[i].acquire()
            return on_step

        threads = []
        for i, t in enumerate(self.trainers):
            t.add_callback("step", gate(i))
            t.add_callback("end", lambda tr, reason, i=i: done[i].release())
            threads.append(threading.Thread(target=t.run, daemon=True))
        for th in threads:
            th.start()
        finished = [False] * len(self.trainers)
        while not all(finished):
            for i, t in enumerate(self.trainers):
                if finished[i]:
                    continue
                done[i].acquire()                        # trainer i completed a step (or ended)
                if t.state in ("finished", "stopped", "failed"):    # it was the "end" event
                    finished[i] = True
            if any(finished) and not all(finished):      # one ended: stop the others too
                for t in self.trainers:
                    t.stop()
            for g in gates:
                g.release()
        for th in threads:
            th.join()

    # -- reading -----------------------------------------------------------------------------
    def status(self) -> JobStatus:
        t = self.trainer
        if self._queued:
            pos = self.pool.position(self.id) if self.pool else None
            ahead = (pos - 1) if pos else 0
            return JobStatus("queued", f"Busy: {self.pool.running} training now, "
                             f"{ahead} ahead of you in the queue", 0, t.total_steps, None, None, pos)
        state = t.state
        if len(self.trainers) > 1 and any(x.state == "failed" for x in self.trainers):
            state = "failed"
        rate = t.history[-1]["images_per_s"] if t.history else None
        msg = {"ready": "starting", "running": "training", "paused": "paused"}.get(state, t.reason)
        if state == "failed":
            msg = "; ".join(f"{x.reason}" for x in self.trainers if x.state == "failed") or t.reason
        return JobStatus(state, msg, t.step, t.total_steps, t.seconds_left(), rate)


class SweepJob:
    """A quick experiment sweep (gan_core.experiments) in a background thread.

    It takes one slot of the pool for the whole sweep and runs its runs one after another in
    this process, so `stop()` ends it between two steps. The UI reads `done`, `total`,
    `message`, `summary` and `error`.
    """

    def __init__(self, name: str, out, pool: Optional[JobPool] = None, quick: bool = True,
                 **options):
        self.name, self.out, self.pool, self.quick, self.options = name, out, pool, quick, options
        self.id = next(_ids)
        self.done = 0
        self.total = 0
        self.message = "waiting for a free slot" if pool else "starting"
        self.summary: Optional[dict] = None
        self.error = ""
        self.state = "queued" if pool else "running"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"gan-sweep-{self.id}",
                                        daemon=True)

    def start(self) -> "SweepJob":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: Optional[float] = None) -> bool:
        self._thread.join(timeout)
        return not self.alive

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _progress(self, done, total, result, message):
        self.done, self.total = done, total
        if message:
            self.message = message

    def _main(self):
        from .experiments import run_sweep
        if self.pool is not None and not self.pool.acquire(self.id, self._stop.is_set):
            self.state, self.message = "stopped", "cancelled while waiting for a free slot"
            return
        self.state = "running"
        try:
            self.summary = run_sweep(self.name, self.out, quick=self.quick, jobs=1,
                                     progress=self._progress, stop=self._stop, **self.options)
            self.state = "stopped" if self._stop.is_set() else "finished"
            self.message = "stopped" if self._stop.is_set() else "finished"
        except Exception as e:  # noqa: BLE001 - a worker must never die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
            self.message = self.error
            if not isinstance(e, ValueError):
                traceback.print_exc()
        finally:
            if self.pool is not None:
                self.pool.release(self.id)
