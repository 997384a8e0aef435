"""A server-wide limit on how many training jobs run at once, and their share of the cores.

A `JobPool` is shared by every user of one server: at most `max_running` jobs train at once
and the rest wait in order ("busy, N ahead of you"). It also shares the cores: each running
job's worker gets cores / running torch threads, rebalanced whenever a job starts or ends, so
a lone student trains at the command line's speed and two get half the machine each. Each
worker's memory share (`memory_mb`) is the machine's memory split so that a full pool fits.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Optional

from .workers.machine import usable_cores, worker_memory_mb


class JobPool:
    """At most `max_running` jobs at once, the rest in line; the cores split between them."""

    def __init__(self, max_running: int = 2, cores: Optional[int] = None,
                 memory_mb: Optional[int] = None):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self.cores = cores or usable_cores()
        # each worker's memory share: the machine's memory split so that a full pool fits
        self.memory_mb = memory_mb or worker_memory_mb(max_running)
        self._cond = threading.Condition()
        self._running: dict[int, Optional[Callable[[int], None]]] = {}   # id -> on_share
        self._queue: list[int] = []           # job ids waiting, in order of arrival
        self.peak = 0                         # most jobs ever running at once
        self.peak_waiting = 0                 # longest queue there ever was

    def acquire(self, job_id: int, cancelled: Callable[[], bool],
                on_share: Optional[Callable[[int], None]] = None) -> bool:
        """Block until `job_id` may run (True) or `cancelled()` becomes true (False).

        on_share(threads) is called now and whenever the number of running jobs changes."""
        with self._cond:
            self._queue.append(job_id)
            self.peak_waiting = max(self.peak_waiting, len(self._queue) - (
                self.max_running - len(self._running)))
            try:
                while True:
                    if cancelled():
                        return False
                    if self._queue[0] == job_id and len(self._running) < self.max_running:
                        self._running[job_id] = on_share
                        self.peak = max(self.peak, len(self._running))
                        self._reshare()
                        return True
                    self._cond.wait(0.2)
            finally:
                self._queue.remove(job_id)
                self._cond.notify_all()

    def release(self, job_id: int) -> None:
        with self._cond:
            self._running.pop(job_id, None)
            self._reshare()
            self._cond.notify_all()

    def share(self) -> int:
        """Torch threads for each running job: the cores split evenly (GAN_LAB_TORCH_THREADS
        forces a number)."""
        forced = os.environ.get("GAN_LAB_TORCH_THREADS", "")
        if forced.isdigit() and int(forced) > 0:
            return int(forced)
        return max(1, self.cores // max(1, len(self._running)))

    def _reshare(self) -> None:
        n = self.share()
        for on_share in self._running.values():
            if on_share is not None:
                on_share(n)

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
