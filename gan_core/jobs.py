"""Training jobs as the pages see them.

A `Job` is a handle: the training itself runs elsewhere (gan_core.workers: a worker process
of this machine, or a Ray actor), and the handle keeps what streams back from it. Each trainer
of the job appears as a `RunView` with the read side of a Trainer (step, history, snapshots,
markers, config, dataset facts) plus `update_settings`, `history_since` and
`checkpoint_bytes`; the job itself has status, pause, resume and stop. A lockstep pair
(Compare) is one job in one worker, so its two sides stay in step.

The jobs of one server share a `JobPool` (gan_core.pool): a limit on how many train at once,
the cores and the memory, and fair slots per owner. A paused job gives its slot back (its
worker waits, paused, using no core) and queues again on resume. A job whose page has not
been seen (`seen()`) for `idle_pause_s` is paused so; one still unseen after `idle_stop_s` is
stopped, which ends its worker (its run is kept). A `RunBudget` (gan_core.budget) refuses a
model too large at once and stops a run past its time or far too slow to finish within it.

Faults stay in the worker: a worker that is killed, runs out of memory, grows past its memory
share (`JobPool.memory_mb`) or crashes ends its own job with a message that says so, and the
job keeps the checkpoint the worker last wrote (every CHECKPOINT_EVERY_S seconds, on pause and
at the end).
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
from typing import Any, Callable, Optional, Sequence


from .budget import RunBudget
from .config import TrainConfig
from .pool import JobPool
from .shape import check_trainable, load_for, points_extent
from .sweeps import run_sweep
from .runview import JobStatus, RunView, dataset_info
from .workers import (CHECKPOINT_EVERY_S, Command, JobSpec, WorkerLost, get_backend,
                      slow_motion_delay, usable_cores, worker_memory_mb)
from .workers.protocol import (Ckpt, Done, Error, ErrorNote, Event, Marker, Progress, Snap,
                               Started, Status, Steps)

FINAL = ("finished", "stopped", "failed")


_ids = itertools.count(1)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class _Handle:
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

    def send(self, command: Command, *args) -> None:
        """Tell the worker (nothing before it has started: _main sends what it must)."""
        with self._lock:
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
            threads = self.pool.share() if self.pool is not None else usable_cores()
            transport = self.backend.open(self.id, self.spec, self.workdir, threads)
            with self._lock:
                self._transport = transport
            if self._cancel.is_set():
                transport.send(Command.STOP)
            elif self._paused:
                transport.send(Command.PAUSE)
            if self.delay:
                transport.send(Command.DELAY, self.delay)
            while not done:
                for event in transport.receive(0.2):
                    done = self._apply(event) or done
                if not done:
                    self._tend()
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

    def _tend(self) -> None:
        """Between two batches of events: stop or pause an unwatched job, check the budget,
        give a paused job's slot back, and take one again for a resumed job."""
        unseen = time.monotonic() - self.last_seen
        if self._cancel.is_set():
            pass
        elif self._paused and self.idle_stop_s is not None and unseen > self.idle_stop_s:
            self.stop(f"nobody had this run's page open for {self.idle_stop_s / 60:g} "
                      f"minutes, so it was stopped and kept with the saved runs")
        elif (not self._paused and self.idle_pause_s is not None and unseen > self.idle_pause_s
              and not self._queued):
            self.pause()
            self.gave_back = (f"nobody had this run's page open for {self.idle_pause_s:g} s; "
                              f"press Resume to go on")
        else:
            self._check_budget()
        if self.pool is None:
            return
        with self._slot_lock:
            if self._holding and self._paused:
                self.pool.release(self.id)       # others train while this one waits paused
                self._holding = False
                self.gave_back = self.gave_back or "paused"
            elif self._queued and (self._paused or self._cancel.is_set()):
                self.pool.withdraw(self.id)
                self._queued = False
            elif not self._holding and not self._paused and not self._cancel.is_set():
                if not self._queued:
                    self.pool.request(self.id, self._on_share, self.owner)
                    self._queued = True
                if self.pool.poll(self.id):
                    self._holding, self._queued, self.gave_back = True, False, ""
                    self.send(Command.RESUME)

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
            case _:
                self._apply_more(event)
        return False

    # hooks for the two kinds of job
    def _check_budget(self) -> None: ...
    def _apply_more(self, event: Event) -> None: ...
    def _done(self, result) -> None: ...
    def _lost(self, why: str) -> None: ...
    def _ended(self, state: str, reason: str) -> None: ...
    def _finish(self) -> None: ...


class Job(_Handle):
    """Train one config, or several in lockstep (all take step n before any takes n + 1), in
    one worker.

    The data is loaded here once to check the settings (batch size, labels), so a bad choice
    is a ValueError on the page at once rather than a failed run a moment later.
    """

    def __init__(self, configs: Sequence[TrainConfig] | TrainConfig, pool: Optional[JobPool] = None,
                 name: str = "", backend=None, checkpoint_every_s: float = CHECKPOINT_EVERY_S,
                 owner: Optional[str] = None, budget: Optional[RunBudget] = None,
                 idle_pause_s: Optional[float] = None, idle_stop_s: Optional[float] = None):
        configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
        if not configs:
            raise ValueError("a job needs at least one config")
        configs = [c.validate() for c in configs]
        dataset = load_for(configs[0])
        specs = [check_trainable(c, dataset) for c in configs]
        too_big = budget.check_size(specs) if budget is not None else None
        if too_big:
            raise ValueError(too_big)
        info = dataset_info(dataset)
        extent = points_extent(dataset) if dataset.is_points else 0.0
        del dataset
        super().__init__(JobSpec("train", [c.to_dict() for c in configs],
                                 checkpoint_every_s=checkpoint_every_s), pool, name, backend,
                         owner, idle_pause_s, idle_stop_s)
        self.budget = budget
        self.trainers = [RunView(self, i, c, s, info, extent)
                         for i, (c, s) in enumerate(zip(configs, specs))]
        self._end_callbacks: list[Callable] = []

    @property
    def trainer(self) -> RunView:
        return self.trainers[0]

    def on_end(self, fn: Callable[[RunView, int], Any]) -> "Job":
        """fn(view, side) for each trainer once the job is over (finished, stopped, failed or
        lost), on the job's thread, after its slot is free."""
        self._end_callbacks.append(fn)
        return self

    def history_since(self, step: int, side: int = 0) -> list[dict]:
        return self.trainers[side].history_since(step)

    def checkpoint_bytes(self, side: int = 0) -> Optional[bytes]:
        return self.trainers[side].checkpoint_bytes()

    def _apply_more(self, event: Event) -> None:
        match event:
            case Steps(side, records):
                self.trainers[side].history.extend(records)
            case Snap(side, snapshot):
                self.trainers[side].snapshots.append(snapshot)
            case Marker(side, marker):
                view = self.trainers[side]
                view.markers.append(marker)
                view.config = view.config.with_updates(**marker["changes"])
            case Status(side, fields):
                status = dict(fields)
                self.threads = status.pop("threads", self.threads)   # what the worker now uses
                for k, v in status.items():
                    setattr(self.trainers[side], k, v)
            case Ckpt(side, step, path):
                copy = self._transport.fetch_checkpoint(side, path,
                                                        self.workdir / f"side{side}.pt")
                if copy is not None:
                    view = self.trainers[side]
                    view.checkpoint_path, view.checkpoint_step = Path(copy), step
            case ErrorNote(side, message):
                self.trainers[side].eval_note = message

    def _check_budget(self) -> None:
        t = self.trainer
        if self.budget is None or t.state != "running":
            return
        why = self.budget.verdict(t.elapsed, t.step, t.total_steps, t.config.batch_size)
        if why:
            self.stop(f"stopped by the server: {why}")

    def _done(self, result) -> None:
        if self.error:
            self._ended("failed", self.error)

    def _ended(self, state: str, reason: str) -> None:
        for v in self.trainers:
            if v.state not in FINAL:
                v.state, v.reason = state, reason

    def _lost(self, why: str) -> None:
        self.error = why
        for v in self.trainers:
            if v.state in FINAL:
                continue
            kept = (f"the checkpoint of step {v.checkpoint_step} is kept" if v.checkpoint_step
                    else "no checkpoint had been written yet")
            v.state = "failed"
            v.reason = (f"training ended at step {v.step} because {why}; {kept}. The server "
                        f"and everyone else's runs carry on")

    def _finish(self) -> None:
        self._ended("failed", "stopped by an error")
        for v in self.trainers:          # the server stopped it (budget, idle): say why
            if v.state == "stopped" and self.stop_reason:
                v.reason = self.stop_reason
        for fn in self._end_callbacks:
            for i, v in enumerate(self.trainers):
                try:
                    fn(v, i)
                except Exception:  # noqa: BLE001 - one failing callback must not hide others
                    traceback.print_exc()

    # -- reading -----------------------------------------------------------------------------
    def status(self) -> JobStatus:
        t = self.trainer
        if self._queued:
            pos = self.pool.position(self.id) if self.pool else None
            ahead = (pos - 1) if pos else 0
            return JobStatus("queued", f"queued: position {pos or 1}. Busy: {self.pool.running} "
                             f"training now, {ahead} ahead of you in the queue", t.step,
                             t.total_steps, None, None, pos)
        state = t.state
        if len(self.trainers) > 1 and any(x.state == "failed" for x in self.trainers):
            state = "failed"
        rate = t.history[-1]["images_per_s"] if t.history else None
        msg = {"ready": "starting", "running": "training", "paused": "paused"}.get(state, t.reason)
        if self._paused and state in ("running", "paused") and not self._cancel.is_set():
            state = "paused"                     # asked; the worker's word follows
            msg = "paused"
            if self.gave_back:
                msg = "paused (slot given back)" + (
                    f": {self.gave_back}" if self.gave_back != "paused" else "")
        if state == "ready":
            state = "running" if self.alive else state     # the worker is starting
        if state == "failed":
            msg = "; ".join(f"{x.reason}" for x in self.trainers if x.state == "failed") or t.reason
        return JobStatus(state, msg, t.step, t.total_steps, t.seconds_left(), rate)


class SweepJob(_Handle):
    """A quick experiment sweep (gan_core.sweeps) in a worker process.

    It takes one slot of the pool for the whole sweep and runs its runs one after another in
    that worker, so `stop()` ends it between two steps. The UI reads `done`, `total`,
    `message`, `summary` and `error`. It always runs on this machine: its results are files
    in `out`, which the page reads.
    """

    def __init__(self, name: str, out, pool: Optional[JobPool] = None, quick: bool = True,
                 owner: Optional[str] = None, **options):
        spec = JobSpec("sweep", sweep=dict(name=name, out=str(out), quick=quick, backend="local",
                                           **options), task=run_sweep)
        super().__init__(spec, pool, name, get_backend("local"), owner)
        self.out, self.quick, self.options = out, quick, options
        self.done = 0
        self.total = 0
        self.message = "waiting for a free slot" if pool else "starting"
        self.summary: Optional[dict] = None
        self.state = "queued" if pool else "running"

    def _apply_more(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.state = "running"
            self.done, self.total = event.done, event.total
            if event.message:
                self.message = event.message

    def _done(self, result) -> None:
        self.summary = result
        if self.error:
            self._ended("failed", self.error)
        else:
            self._ended("stopped" if self._cancel.is_set() else "finished",
                        "stopped" if self._cancel.is_set() else "finished")

    def _ended(self, state: str, reason: str) -> None:
        if self.state not in FINAL:
            self.state, self.message = state, reason

    def _lost(self, why: str) -> None:
        self.error = f"the sweep's worker ended: {why}"
        self._ended("failed", self.error)

    def _finish(self) -> None:
        self._ended("failed", self.error or "stopped by an error")
