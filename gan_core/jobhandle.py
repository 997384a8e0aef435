"""What train and sweep jobs share (gan_core.jobs): the pool slot, the worker, the loop that
follows it, pausing, and parking.

A `JobHandle` takes a slot of its `JobPool` (or waits in its queue), starts its worker through a
backend (gan_core.workers) and applies the events that stream back, calling hooks that a job
kind fills in. Between two batches of events it tends the job (`_tend`): an unwatched job is
paused then stopped, a paused job gives its slot back and queues again on resume, and a job
paused for longer than the pool's `park_after_s` is parked. Parking asks the worker to write
each trainer's checkpoint and rest state (gan_core.parking) and to answer `Parked`; the handle
then ends the worker (its memory freed; a Ray actor's reservation too) and keeps the states,
while the job keeps its views. When the job has a slot again, `_open` starts a new worker on
`_resume_spec()`, which goes on step for step as if it had never stopped. A parked job that is
stopped ends at once, keeping its checkpoint.
"""
from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
import traceback
import weakref
from pathlib import Path
from typing import Optional

from .pool import JobPool
from .workers import (Command, JobSpec, WorkerLost, get_backend, slow_motion_delay,
                      usable_cores, worker_memory_mb)
from .workers.protocol import Done, Error, Event, Marker, Parked, Started

FINAL = ("finished", "stopped", "failed")
PARKED = "paused (parked: its memory is freed; it resumes in a few seconds)"


_ids = itertools.count(1)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class JobHandle:
    """What train and sweep jobs share: the pool slot, the worker, the event loop."""

    def __init__(self, spec: JobSpec, pool: Optional[JobPool], name: str, backend,
                 owner: Optional[str] = None, idle_pause_s: Optional[float] = None,
                 idle_stop_s: Optional[float] = None):
        if spec.memory_mb is None:
            spec.memory_mb = pool.memory_mb if pool is not None else worker_memory_mb(1)
        self.spec, self.pool, self.name = spec, pool, name
        self.backend = backend if backend is not None else get_backend()
        self.id = next(_ids)
        self.error = ""
        self.created = time.time()
        self.pid: Optional[int] = None           # the worker's process id once it has started
        self.threads: Optional[int] = None       # torch threads its worker trains with
        self.workdir = Path(tempfile.mkdtemp(prefix=f"gan-lab-job{self.id}-"))
        weakref.finalize(self, _rmtree, self.workdir)
        self._thread: Optional[threading.Thread] = None
        self._cancel = threading.Event()
        self._paused = False
        self._queued = False
        self._holding = False                    # has a pool slot now
        self.gave_back = ""                      # why a paused job gave its slot back
        self.parked: Optional[list] = None       # a parked job's states: no worker until resumed
        self._parking = False                    # asked its worker to park, no answer yet
        self._paused_at = 0.0                    # when it was paused (parked some time after)
        self._unapplied: dict[int, dict] = {}    # live settings sent that no marker confirmed
        self.stop_reason = ""                    # why the server stopped it (budget, idle)
        self.owner = owner                       # the student's key, for fair slots
        self.idle_pause_s, self.idle_stop_s = idle_pause_s, idle_stop_s
        self.last_seen = time.monotonic()        # when a page last showed it (seen())
        self.delay = 0.0                         # slow motion (set_delay)
        self._transport = None
        self._lock = threading.Lock()
        self._slot_lock = threading.Lock()       # pause/resume against giving the slot back

    # -- control ----------------------------------------------------------------------------
    def start(self):
        if self._thread is not None:
            raise RuntimeError("job already started")
        if self.pool is not None:
            self.pool.admit(self.id, self.owner)     # OwnerBusy: a ValueError for the page
        self._queued = self.pool is not None
        self._thread = threading.Thread(target=self._main, name=f"gan-job-{self.id}",
                                        daemon=True)
        self._thread.start()
        return self

    def pause(self):
        with self._slot_lock:
            self._paused_at = self._paused_at if self._paused else time.monotonic()
            self._paused = True
        self.send(Command.PAUSE)

    def resume(self):
        """Go on at once if the job still has its slot, else queue for one (the job's loop
        resumes the worker when it gets it)."""
        with self._slot_lock:
            self._paused = False
            self.last_seen = time.monotonic()
            if self.pool is None or self._holding:
                self.gave_back = ""
                self.send(Command.RESUME)

    def stop(self, reason: str = ""):
        if reason and not self.stop_reason:
            self.stop_reason = reason
        self._cancel.set()
        self.send(Command.STOP)
        if self.pool is not None:
            self.pool.leave(self.id)             # the owner may start another at once

    def seen(self) -> None:
        """A page showed this job just now (its live view calls this on every redraw)."""
        self.last_seen = time.monotonic()

    def set_delay(self, seconds: float):
        """Slow motion: the worker waits this long after each step and takes a snapshot every
        step while it is above 0 (0: full speed)."""
        self.delay = slow_motion_delay(seconds)
        self.send(Command.DELAY, self.delay)

    def join(self, timeout: Optional[float] = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def paused(self) -> bool:
        """Paused by pause() (or for being unwatched), and not resumed since."""
        return self._paused

    @property
    def queued(self) -> bool:
        """Waiting for a slot of the pool."""
        return self._queued

    @property
    def cancelled(self) -> bool:
        """stop() was called (the worker may still be finishing)."""
        return self._cancel.is_set()

    def fetch_checkpoint(self, side: int, path: str, dest: Path) -> Optional[Path]:
        """A checkpoint the worker wrote, as a file on this machine (None: no copy)."""
        transport = self._transport
        return transport.fetch_checkpoint(side, path, dest) if transport is not None else None

    def send(self, command: Command, *args) -> None:
        """Tell the worker (nothing before it has started or while parked: _open sends what
        it must)."""
        with self._lock:
            if command == Command.SETTINGS:     # kept until applied, for a worker after a park
                self._unapplied.setdefault(args[0], {}).update(args[1])
            if self._transport is not None:
                self._transport.send(command, *args)

    def _on_share(self, threads: int) -> None:
        if self.backend.name == "local":
            self.send(Command.THREADS, threads)

    # -- the loop that follows the worker ---------------------------------------------------
    def _main(self):
        done = False
        try:
            if self.pool is not None:
                self._holding = self.pool.acquire(self.id, self._cancel.is_set, self._on_share,
                                                  self.owner)
                if not self._holding:
                    self._queued = False
                    self._ended("stopped", "cancelled while waiting for a free slot")
                    return
            self._queued = False
            self._open(self.spec)
            while not done:
                transport = self._transport
                if transport is None:            # parked: no worker until it goes on
                    done = self._cancel.wait(0.2) and self._stopped_parked()
                else:
                    for event in transport.receive(0.2):
                        done = self._apply(event) or done
                if not done and self._tend():
                    self._open(self._resume_spec())
        except WorkerLost as e:
            self._lost(str(e))
        except Exception as e:  # noqa: BLE001 - the loop must never die silently
            traceback.print_exc()
            self.error = f"{type(e).__name__}: {e}"
            self._ended("failed", self.error)
        finally:
            with self._lock:
                transport, self._transport = self._transport, None
            if transport is not None:
                transport.close(reusable=done)
            if self.pool is not None:
                self.pool.withdraw(self.id)
                self.pool.release(self.id)
                self.pool.leave(self.id)
            self._holding = self._queued = False
            self._finish()

    def _open(self, spec: JobSpec) -> None:
        """Start the job's worker (again, after a park) and tell it what it has missed."""
        threads = self.pool.share() if self.pool is not None else usable_cores()
        transport = self.backend.open(self.id, spec, self.workdir, threads)
        with self._lock:
            self._transport = transport
            if self._cancel.is_set():
                transport.send(Command.STOP)
            elif self._paused:
                transport.send(Command.PAUSE)
            if self.delay:
                transport.send(Command.DELAY, self.delay)
            for side, changes in self._unapplied.items():
                transport.send(Command.SETTINGS, side, changes)

    def _on_parked(self, states: Optional[list]) -> None:
        """The worker has parked (or, states None, could not yet): end it, keep the states."""
        self._parking = False
        for side, state in enumerate(states or []):
            if state is not None and not self._keep_parked(side, state):
                states = None                    # no copy of its checkpoint here: not now
        if states is None:
            self._paused_at = time.monotonic()   # asked again after another grace time
            return
        with self._lock:
            transport, self._transport = self._transport, None
        self.parked, self.pid = states, None
        transport.close(reusable=False)
        self.backend.prewarm(1)      # one warm worker (no model, no data) serves every resume

    def _tend(self) -> bool:
        """Between two batches of events: stop or pause an unwatched job, check the budget,
        give a paused job's slot back, park one paused for long, and take a slot again for a
        resumed job. True when a parked job has it: its new worker is then to start."""
        unseen = time.monotonic() - self.last_seen
        if self._cancel.is_set():
            pass
        elif self._paused and self.idle_stop_s is not None and unseen > self.idle_stop_s:
            self.stop(f"nobody had this run's page open for {self.idle_stop_s / 60:g} "
                      f"minutes, so it was stopped and kept with the saved runs")
        elif (not self._paused and self.idle_pause_s is not None and unseen > self.idle_pause_s
              and not self._queued and self._trained()):     # not while its worker starts
            self.pause()
            self.gave_back = (f"nobody had this run's page open for {self.idle_pause_s:g} s; "
                              f"press Resume to go on")
        else:
            self._check_budget()
        if self.pool is None:
            return False
        park_after = self.pool.park_after_s
        with self._slot_lock:
            if self._holding and self._paused:
                self.pool.release(self.id)       # others train while this one waits paused
                self._holding = False
                self.gave_back = self.gave_back or "paused"
            elif self._queued and (self._paused or self._cancel.is_set()):
                self.pool.withdraw(self.id)
                self._queued = False
            elif (self._paused and not self._holding and park_after is not None
                  and self._transport is not None and not self._parking
                  and not self._cancel.is_set() and self._at_rest()
                  and time.monotonic() - self._paused_at > park_after):
                self._parking = True
                self.send(Command.PARK)
            elif (not self._holding and not self._paused and not self._cancel.is_set()
                  and not self._parking):
                if not self._queued:
                    self.pool.request(self.id, self._on_share, self.owner)
                    self._queued = True
                if self.pool.poll(self.id):
                    self._holding, self._queued, self.gave_back = True, False, ""
                    if self.parked is not None:
                        return True
                    self.send(Command.RESUME)
        return False

    def _apply(self, event: Event) -> bool:
        """Take in one event from the worker; True once the job is over."""
        match event:
            case Started(pid, threads):
                self.pid, self.threads = pid, threads
            case Error(message):
                self.error = message
            case Done(result):
                self._done(result)
                return True
            case Parked(states):
                self._on_parked(states)
            case Marker(side, marker):          # settings applied: no need to send them again
                sent = self._unapplied.get(side, {})
                for k, v in marker["changes"].items():
                    if sent.get(k) == v:
                        del sent[k]
                self._apply_more(event)
            case _:
                self._apply_more(event)
        return False

    # hooks for the two kinds of job
    def _trained(self) -> bool:
        return True                              # has taken a step since it (re)started
    def _at_rest(self) -> bool:
        return False                             # a sweep is never parked
    def _keep_parked(self, side: int, state: dict) -> bool: ...
    def _resume_spec(self) -> JobSpec: ...
    def _stopped_parked(self) -> bool: ...
    def _check_budget(self) -> None: ...
    def _apply_more(self, event: Event) -> None: ...
    def _done(self, result) -> None: ...
    def _lost(self, why: str) -> None: ...
    def _ended(self, state: str, reason: str) -> None: ...
    def _finish(self) -> None: ...
