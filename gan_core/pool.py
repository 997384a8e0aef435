"""A server-wide limit on how many training jobs run at once, their queue, and their share of
the cores.

A `JobPool` is shared by every user of one server: at most `max_running` jobs train at once
and the rest wait ("busy, N ahead of you"). It also shares the cores: each running job's
worker gets cores / running torch threads, rebalanced whenever a job starts or ends, so a lone
student trains at the command line's speed and two get half the machine each. Each worker's
memory share (`memory_mb`) is the machine's memory split so that a full pool fits.

Fair slots. A job may name its owner (the student's browser key). Then:
  - an owner has at most `per_owner` unfinished jobs (`admit`; default 2: one training and one
    waiting, a paused run counting as one of them), and further starts are refused (OwnerBusy);
  - an owner trains at most one job at a time: their second job waits, even with a free slot;
  - the queue puts jobs whose owner has nothing training first, then first come, first served.
A paused job gives its slot back (gan_core.jobhandle) and asks again (`request` / `poll`) on
resume. Paused for longer than `park_after_s`, it is parked: its worker is ended, so its memory
is freed too (None: never parked).
"""
from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from .workers.machine import usable_cores, worker_memory_mb

PER_OWNER = 2            # unfinished jobs per owner: one training and one waiting
PARK_AFTER_S = 30.0      # a paused job's worker is ended (its state kept) after this long


class OwnerBusy(ValueError):
    """An owner asked for more jobs than the pool lets one student have."""


@dataclass
class _Entry:
    owner: Optional[str]
    on_share: Optional[Callable[[int], None]]
    seq: int = 0                       # order of arrival in the queue


class JobPool:
    """At most `max_running` jobs at once, the rest in line; the cores split between them."""

    def __init__(self, max_running: int = 2, cores: Optional[int] = None,
                 memory_mb: Optional[int] = None, per_owner: int = PER_OWNER,
                 park_after_s: Optional[float] = PARK_AFTER_S):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self.per_owner = per_owner
        self.park_after_s = park_after_s
        self.cores = cores or usable_cores()
        # each worker's memory share: the machine's memory split so that a full pool fits
        self.memory_mb = memory_mb or worker_memory_mb(max_running)
        self._cond = threading.Condition()
        self._running: dict[int, _Entry] = {}
        self._queue: dict[int, _Entry] = {}          # job ids waiting
        self._owned: dict[str, set[int]] = {}        # owner -> unfinished job ids
        self._seq = itertools.count()
        self.peak = 0                         # most jobs ever running at once
        self.peak_waiting = 0                 # longest queue there ever was

    # -- owners ------------------------------------------------------------------------------
    def admit(self, job_id: int, owner: Optional[str]) -> None:
        """Count a new job against its owner; OwnerBusy (a ValueError, its message for the
        student) when they already have `per_owner` unfinished jobs."""
        if owner is None:
            return
        with self._cond:
            mine = self._owned.setdefault(owner, set())
            if job_id in mine:
                return
            if len(mine) >= self.per_owner:
                training = any(j in self._running for j in mine)
                waiting = any(j in self._queue for j in mine)
                if training and waiting:
                    raise OwnerBusy("You already have a run training and one waiting: stop one "
                                    "first")
                raise OwnerBusy(f"You already have {len(mine)} runs on this server (training, "
                                f"waiting or paused): stop one first")
            mine.add(job_id)

    def leave(self, job_id: int) -> None:
        """The job no longer counts against its owner (stopped or over)."""
        with self._cond:
            for owner, mine in list(self._owned.items()):
                mine.discard(job_id)
                if not mine:
                    del self._owned[owner]

    # -- the queue ---------------------------------------------------------------------------
    def request(self, job_id: int, on_share: Optional[Callable[[int], None]] = None,
                owner: Optional[str] = None) -> None:
        """Join the queue (nothing if already queued or running); `poll` says when it may run.
        on_share(threads) is called on a grant and whenever the number of running jobs
        changes."""
        with self._cond:
            if job_id in self._queue or job_id in self._running:
                return
            self._queue[job_id] = _Entry(owner, on_share, next(self._seq))
            self.peak_waiting = max(self.peak_waiting, len(self._queue) - (
                self.max_running - len(self._running)))

    def poll(self, job_id: int) -> bool:
        """True if `job_id` runs now (granted now or before); False while it waits."""
        with self._cond:
            if job_id in self._running:
                return True
            order = self._order()
            if (not order or order[0] != job_id or len(self._running) >= self.max_running
                    or self._busy(self._queue[job_id].owner)):
                return False
            self._running[job_id] = self._queue.pop(job_id)
            self.peak = max(self.peak, len(self._running))
            self._reshare()
            self._cond.notify_all()
            return True

    def withdraw(self, job_id: int) -> None:
        """Leave the queue without running."""
        with self._cond:
            if self._queue.pop(job_id, None) is not None:
                self._cond.notify_all()

    def acquire(self, job_id: int, cancelled: Callable[[], bool],
                on_share: Optional[Callable[[int], None]] = None,
                owner: Optional[str] = None) -> bool:
        """Block until `job_id` may run (True) or `cancelled()` becomes true (False)."""
        self.request(job_id, on_share, owner)
        try:
            while True:
                if cancelled():
                    return False
                if self.poll(job_id):
                    return True
                with self._cond:
                    self._cond.wait(0.2)
        finally:
            self.withdraw(job_id)

    def release(self, job_id: int) -> None:
        with self._cond:
            self._running.pop(job_id, None)
            self._reshare()
            self._cond.notify_all()

    def _busy(self, owner: Optional[str]) -> bool:
        """Whether this owner already trains a job (an owner of None never is)."""
        return owner is not None and any(e.owner == owner for e in self._running.values())

    def _order(self) -> list[int]:
        """The waiting jobs in the order they will run: owners with nothing training first,
        then by arrival."""
        return sorted(self._queue, key=lambda j: (self._busy(self._queue[j].owner),
                                                  self._queue[j].seq))

    def share(self) -> int:
        """Torch threads for each running job: the cores split evenly (GAN_LAB_TORCH_THREADS
        forces a number)."""
        forced = os.environ.get("GAN_LAB_TORCH_THREADS", "")
        if forced.isdigit() and int(forced) > 0:
            return int(forced)
        return max(1, self.cores // max(1, len(self._running)))

    def _reshare(self) -> None:
        n = self.share()
        for entry in self._running.values():
            if entry.on_share is not None:
                entry.on_share(n)

    def position(self, job_id: int) -> Optional[int]:
        """1-based place in the waiting line, or None if not waiting."""
        with self._cond:
            order = self._order()
            return order.index(job_id) + 1 if job_id in order else None

    def holds(self, job_id: int) -> bool:
        """Whether the job has a slot now."""
        with self._cond:
            return job_id in self._running

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)
