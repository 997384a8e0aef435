"""Training jobs as the pages see them.

A `Job` is a handle: the training itself runs elsewhere (gan_core.workers: a worker process
of this machine, or a Ray actor), and the handle keeps what streams back from it. Each trainer
of the job appears as a `RunView` with the read side of a Trainer (step, history, snapshots,
markers, config, dataset facts) plus `update_settings`, `history_since` and
`checkpoint_bytes`; the job itself has status, pause, resume and stop. A lockstep pair
(Compare) is one job in one worker, so its two sides stay in step.

The jobs of one server share a `JobPool` (gan_core.pool): a limit on how many train at once,
the cores and the memory, and fair slots per owner. What both kinds of job share is their
`JobHandle` (gan_core.jobhandle): a paused job gives its slot back (its worker waits, paused,
using no core) and queues again on resume; paused for longer than the pool's `park_after_s`,
it is parked: its worker is ended, freeing its memory, and a new one goes on from its
checkpoint and rest state when it has a slot again, as if it had never stopped, while the
job's views keep everything the page shows. A job whose page has not been seen (`seen()`) for
`idle_pause_s` is paused so; one still unseen after `idle_stop_s` is stopped, which ends its
worker (its run is kept). A `RunBudget` (gan_core.budget) refuses a
model too large at once and stops a run past its time or far too slow to finish within it.

Faults stay in the worker: a worker that is killed, runs out of memory, grows past its memory
share (`JobPool.memory_mb`) or crashes ends its own job with a message that says so, and the
job keeps the checkpoint the worker last wrote (every CHECKPOINT_EVERY_S seconds, on pause and
at the end).
"""
from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .budget import RunBudget
from .config import TrainConfig
from .jobhandle import FINAL, PARKED, JobHandle
from .pool import JobPool
from .runview import JobStatus, RunView, dataset_info
from .shape import check_trainable, load_for, points_extent
from .sweeps import run_sweep
from .workers import CHECKPOINT_EVERY_S, JobSpec, get_backend
from .workers.protocol import Ckpt, ErrorNote, Event, Marker, Progress, Snap, Status, Steps

__all__ = ["FINAL", "PARKED", "Job", "JobHandle", "JobPool", "JobStatus", "RunView", "SweepJob"]


class Job(JobHandle):
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

    def wait_first_step(self, timeout: float, slot_wait: float = 0.25) -> bool:
        """Wait up to `timeout` s for every side's first training step and first sample grid;
        True once both are here. A page that waits for them right after Start draws the run
        already moving, rather than at its next timed redraw (2.5 s later). Gives up after
        `slot_wait` s if the job is still queued for a slot, and at once if it ended."""
        t0 = time.monotonic()
        while True:
            if all(t.step > 0 and t.snapshots for t in self.trainers):
                return True
            waited = time.monotonic() - t0
            if not self.alive or waited >= timeout or (self.queued and waited >= slot_wait):
                return False
            time.sleep(0.03)

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
                copy = self.fetch_checkpoint(side, path, self.workdir / f"side{side}.pt")
                if copy is not None:
                    view = self.trainers[side]
                    view.checkpoint_path, view.checkpoint_step = Path(copy), step
            case ErrorNote(side, message):
                self.trainers[side].eval_note = message

    def _trained(self) -> bool:
        return self.trainer.step > 0 and self.trainer.state != "ready"

    def _at_rest(self) -> bool:
        return all(v.state == "paused" for v in self.trainers)

    def _keep_parked(self, side: int, state: dict) -> bool:
        """Point a side's parked state at this machine's copy of its checkpoint."""
        view = self.trainers[side]
        if view.checkpoint_path is None or view.checkpoint_step != state["step"]:
            return False
        state["checkpoint"] = str(view.checkpoint_path)
        state["shown"] = [view.snapshots[-1].step, view.snapshots[-1].epoch] \
            if view.snapshots else None
        return True

    def _resume_spec(self) -> JobSpec:
        """The job as it is now (live changes applied), to go on from its parked states."""
        states, self.parked = self.parked, None
        for v in self.trainers:
            v.state = "ready"                    # its new worker is starting
        return replace(self.spec, configs=[v.config.to_dict() for v in self.trainers],
                       resume=states if any(states) else None)

    def _stopped_parked(self) -> bool:
        self._ended("stopped", f"stopped by the user at step {self.trainer.step}")
        return True

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
        if self.queued:
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
        if self.paused and state in ("running", "paused") and not self.cancelled:
            state = "paused"                     # asked; the worker's word follows
            msg = "paused"
            if self.parked is not None:
                msg = PARKED + (f": {self.gave_back}" if self.gave_back not in ("", "paused")
                                else "")
            elif self.gave_back:
                msg = "paused (slot given back)" + (
                    f": {self.gave_back}" if self.gave_back != "paused" else "")
        if state == "ready":
            state = "running" if self.alive else state     # the worker is starting
        if state == "failed":
            msg = "; ".join(f"{x.reason}" for x in self.trainers if x.state == "failed") or t.reason
        return JobStatus(state, msg, t.step, t.total_steps, t.seconds_left(), rate,
                         next_eval=t.next_eval if state == "running" and t.next_eval
                         and t.next_eval <= t.total_steps else None)


class SweepJob(JobHandle):
    """A quick experiment sweep (gan_core.sweeps) in a worker process.

    It takes one slot of the pool for the whole sweep and runs its runs one after another in
    that worker, so `stop()` ends it between two steps. With a `budget`, it holds the slot no
    longer than a training run may (its `max_seconds`, counted from when the sweep begins);
    the runs that finished by then are kept. The UI reads `done`, `total`, `message`,
    `summary` and `error`. It always runs on this machine: its results are files in `out`,
    which the page reads.
    """

    def __init__(self, name: str, out, pool: Optional[JobPool] = None, quick: bool = True,
                 owner: Optional[str] = None, budget: Optional[RunBudget] = None, **options):
        spec = JobSpec("sweep", sweep=dict(name=name, out=str(out), quick=quick, backend="local",
                                           **options), task=run_sweep)
        super().__init__(spec, pool, name, get_backend("local"), owner)
        self.out, self.quick, self.options = out, quick, options
        self.done = 0
        self.total = 0
        self.message = "waiting for a free slot" if pool else "starting"
        self.summary: Optional[dict] = None
        self.state = "queued" if pool else "running"
        self.budget = budget
        self.began: Optional[float] = None      # when its worker began the sweep

    def _apply_more(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.began = self.began or time.monotonic()
            self.state = "running"
            self.done, self.total = event.done, event.total
            if event.message:
                self.message = event.message

    def _check_budget(self) -> None:
        limit = self.budget.max_seconds if self.budget is not None else None
        if limit is not None and self.began is not None and \
                time.monotonic() - self.began >= limit:
            self.stop(f"stopped by the server: it reached this server's limit of "
                      f"{limit / 60:g} minutes of training per run; the runs that had "
                      f"finished are kept")

    def _done(self, result) -> None:
        self.summary = result
        if self.error:
            self._ended("failed", self.error)
        elif self.cancelled:
            self._ended("stopped", self.stop_reason or "stopped")
        else:
            self._ended("finished", "finished")

    def _ended(self, state: str, reason: str) -> None:
        if self.state not in FINAL:
            self.state, self.message = state, reason

    def _lost(self, why: str) -> None:
        self.error = f"the sweep's worker ended: {why}"
        self._ended("failed", self.error)

    def _finish(self) -> None:
        self._ended("failed", self.error or "stopped by an error")
