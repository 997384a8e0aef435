"""WorkerCore: one job inside a worker (a local process or a Ray actor), and the events it
keeps for whoever collects them; run_lockstep, which trains several trainers step by step.

The core builds the trainers from the job's configs, hooks their callbacks to events
(gan_core.workers.protocol), obeys commands from another thread, and writes a checkpoint
every `checkpoint_every_s` seconds, on pause and at the end. A paused job told to park writes
each trainer's checkpoint and rest state (gan_core.parking) and answers Parked; the server
then ends the worker, and a new one goes on from them (`JobSpec.resume`). The views' probes
and the quality evaluations each take at most their share of the training time
(gan_core.cadence): a snapshot whose probes were put off is not sent, and the status says when
the next evaluation comes.
`warm_up` runs a config's first step once, so a worker's first job finds the dataset, its
clusters and the judge's statistics kept (gan_core.kept) and torch's kernels ready.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import Optional

import torch

from .. import parking, probes
from ..cadence import Cadence, default_share
from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import TrainConfig
from ..trainer import Snapshot, Trainer
from .protocol import (Ckpt, Command, Done, Error, ErrorNote, Event, JobSpec, Marker, Parked,
                       Progress, Snap, Started, Status, Steps, slow_motion_delay)

STATUS_FIELDS = ("state", "reason", "step", "epoch", "elapsed", "g_updates", "d_updates",
                 "eval_note", "next_eval", "eval_share", "views_share")


class WorkerCore:
    """Runs one job inside a worker and keeps the events for whoever collects them."""

    def __init__(self, job_id: int, spec: JobSpec, workdir: str, threads: int):
        self.job_id, self.spec, self.workdir = job_id, spec, Path(workdir)
        self.threads = max(1, int(threads))
        self.trainers: list = []
        self.finished = threading.Event()
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = False
        self._resting: set[int] = set()     # trainers paused between two steps, saved
        self._early: Optional[list] = []     # live settings sent before the trainers existed
        self._want_ckpt = False
        self._delay = 0.0
        self._last_ckpt = [0.0]
        self._files: dict[int, list[Path]] = {}
        self._status_sent: dict[int, tuple] = {}
        self._sent: dict[int, object] = {}           # each side's last snapshot sent
        # one of each for the whole job: a lockstep pair's sides measure at the same steps
        self.eval_cadence, self.views_cadence = Cadence(default_share()), Cadence(default_share())

    def emit(self, event: Event) -> None:
        with self._lock:
            last = self._events[-1] if self._events else None
            if isinstance(event, Steps) and isinstance(last, Steps) and last.side == event.side:
                last.records.extend(event.records)         # one list per batch and trainer
            else:
                self._events.append(event)

    def take_events(self) -> list[Event]:
        """Everything since the last call, with a status line per trainer that changed."""
        for i, t in enumerate(self.trainers):
            st = (t.state, t.reason, t.step, t.epoch, round(t.elapsed, 3), t.g_updates,
                  t.d_updates, t.eval_note, t.evaluation.next_step(t),
                  round(self.eval_cadence.measured_share(), 4),
                  round(self.views_cadence.measured_share(), 4), self.threads)
            if self._status_sent.get(i) != st:
                self._status_sent[i] = st
                self.emit(Status(i, dict(zip(STATUS_FIELDS + ("threads",), st))))
        with self._lock:
            out, self._events = self._events, []
        return out

    # -- commands, from another thread -----------------------------------------------------
    def command(self, name: Command | str, *args) -> None:
        """Obey one command (an unknown name is ignored: the listening thread must live on)."""
        match name:
            case Command.STOP:
                self._stop.set()
                for t in self.trainers:
                    t.stop()
            case Command.PAUSE:
                self._paused = True
                for t in self.trainers:
                    t.pause()
            case Command.RESUME:
                with self._lock:
                    self._paused = False
                    self._resting.clear()
                for t in self.trainers:
                    t.resume()
            case Command.PARK:
                self._park()
            case Command.SETTINGS:
                with self._lock:
                    if self._early is not None:     # no trainers yet: kept for them
                        self._early.append(args)
                        return
                self._settings(*args)
            case Command.THREADS:     # applied by each trainer's thread before its next step
                if not self._mlp_only():
                    self.threads = max(1, int(args[0]))
            case Command.CHECKPOINT:
                self._want_ckpt = True
            case Command.DELAY:
                self._delay = slow_motion_delay(args[0])
                self.views_cadence.free = self._delay > 0     # each step's views, as it waits

    # -- the job -----------------------------------------------------------------------------
    def run(self) -> None:
        if self._mlp_only():
            # The 2-D sets' small MLP has ops too small to split: measured on 2 busy cores, a
            # ring epoch took 1 s on one thread and 30 s on two (threads waiting on each other).
            self.threads = 1
        torch.set_num_threads(self.threads)
        self.emit(Started(os.getpid(), self.threads))
        result = None
        try:
            if self.spec.kind == "sweep":
                result = self._run_sweep()
            else:
                self._run_train()
        except BaseException as e:  # noqa: BLE001 - reported to the server, never silent
            if not isinstance(e, ValueError):
                traceback.print_exc()
            self.emit(Error(f"{type(e).__name__}: {e}"))
        finally:
            self.emit(Done(result))
            self.finished.set()

    def _mlp_only(self) -> bool:
        return bool(self.spec.configs) and all(c.get("model") == "mlp" for c in self.spec.configs)

    def threads_each(self) -> int:
        """Torch threads for each trainer's own thread: the job's share split between them.

        Trainers in lockstep step at the same time, each on its own thread, and every thread
        that runs torch ops has its own OpenMP team. Two trainers with the whole share each put
        twice as many spinning threads as cores on the machine, and libgomp's barriers then
        wait on threads that have no core: measured on 2 cores, a Compare pair of classroom
        models made 1.3 steps/s per side that way against 9.7 with one thread each.
        """
        return max(1, self.threads // max(1, len(self.trainers)))

    def _run_sweep(self) -> dict:
        return self.spec.task(stop=self._stop, jobs=1, progress=lambda d, n, r, m: self.emit(
            Progress(d, n, m)), **self.spec.sweep)

    def _run_train(self) -> None:
        configs = [TrainConfig.from_dict(c) for c in self.spec.configs]
        first = Trainer(configs[0])
        self.trainers = [first] + [Trainer(c, dataset=first.dataset) for c in configs[1:]]
        for i, t in enumerate(self.trainers):
            t.evaluation.cadence = self.eval_cadence
            probes.attach(t, self.views_cadence)     # the views' data, within their share
            t.add_callback("step", lambda tr, rec, i=i: self._on_step(i, tr, rec))
            t.add_callback("samples", lambda tr, snap, i=i: self._on_samples(i, snap))
            t.add_callback("end", lambda tr, _, i=i: self._on_samples(i, tr.snapshots[-1])
                           if tr.snapshots else None)
            t.add_callback("settings", lambda tr, m, i=i: self.emit(Marker(i, m)))
            t.add_callback("paused", lambda tr, _, i=i: self._on_paused(i))
        if self.spec.resume:
            self._load_parked()
        for t in self.trainers:         # commands that came while the data was loading
            if self._paused:
                t.pause()
            if self._stop.is_set():
                t.stop()
        while True:                     # live settings that came meanwhile, in their order
            with self._lock:
                early, self._early = self._early, ([] if self._early else None)
            if not early:
                break
            for args in early:
                self._settings(*args)
        if len(self.trainers) == 1:
            first.run()
        else:
            run_lockstep(self.trainers, self.threads_each())
        for i in range(len(self.trainers)):
            self._save(i)

    def _settings(self, side: int, changes: dict) -> None:
        try:
            self.trainers[side].update_settings(**changes)
        except (ValueError, IndexError) as e:  # the server checked first; say so anyway
            self.emit(ErrorNote(side, str(e)))

    def _on_samples(self, i: int, snap) -> None:
        """Send a snapshot that has its views, once; one whose probes were put off stays here
        (a page shows every grid with its views), unless it is the run's last: at the end the
        views are added to it (probes.attach) and it is sent then."""
        if snap.probe is not None and self._sent.get(i) is not snap:
            self._sent[i] = snap
            self.emit(Snap(i, snap))

    def _on_step(self, i: int, tr, record: dict) -> None:
        """On the training thread, between two steps: the one place that may touch the models."""
        self.emit(Steps(i, [record]))
        want = self.threads_each()
        if tr.config.model != "mlp" and torch.get_num_threads() != want:
            torch.set_num_threads(want)          # this thread's own OpenMP team (a new share)
        if self._delay > 0:     # slow motion: a snapshot every step, then a pause
            if tr.step % tr.config.sample_every:
                tr.snapshot()
            time.sleep(self._delay)
        due = time.monotonic() - self._last_ckpt[0] >= self.spec.checkpoint_every_s
        if (due or self._want_ckpt) and i == len(self.trainers) - 1:
            self._want_ckpt = False
            for j in range(len(self.trainers)):
                self._save(j)

    def _on_paused(self, i: int) -> None:
        """On trainer i's thread, now resting between two steps: save, then count it at rest."""
        self._save(i)
        with self._lock:
            if self._paused:
                self._resting.add(i)

    def _park(self) -> None:
        """Paused, every trainer at rest: write each one's checkpoint and rest state and answer
        Parked (the server ends this worker then). Parked(None) when not at rest yet (the
        server asks again) or a checkpoint cannot be written."""
        with self._lock:
            ready = (self.spec.kind == "train" and self._paused and bool(self.trainers)
                     and len(self._resting) == len(self.trainers)
                     and all(t.state == "paused" for t in self.trainers))
        states: Optional[list] = [] if ready else None
        for i, t in enumerate(self.trainers if ready else []):
            path = self._save(i) if t.step else None
            if t.step and path is None:
                states = None
                break
            states.append(path and {"checkpoint": str(path), "step": t.step,
                                    "rest": parking.rest_state(t)})
        self.emit(Parked(states))

    def _load_parked(self) -> None:
        """A parked job goes on: each trainer from its checkpoint and rest state, with the last
        grid the server already shows standing for the pictures taken (none is taken again)."""
        for i, (t, point) in enumerate(zip(self.trainers, self.spec.resume, strict=True)):
            if point is None:                   # parked before its first step
                continue
            path = point["checkpoint"]
            if isinstance(path, bytes):         # from another machine (Ray)
                data, path = path, self.workdir / f"side{i}-step{point['step']}.pt"
                path.write_bytes(data)
            t.load_state_dict(read_checkpoint(path), "the parked run's checkpoint")
            t.resume_point = point["rest"]
            if point.get("shown"):
                t.snapshots.append(Snapshot(*point["shown"], torch.empty(0)))
            self._files[i] = [Path(path)]
        self._last_ckpt[0] = time.monotonic()

    def _save(self, i: int) -> Optional[Path]:
        """Write trainer i's checkpoint of this step (once) and tell the server; its path, or
        None (nothing trained yet, or it could not be written)."""
        t = self.trainers[i]
        if t.step == 0:
            return None
        try:
            # A new file per checkpoint, so the one the server was told about is never
            # overwritten by a later one it has not heard of yet; the last two are kept.
            path = self.workdir / f"side{i}-step{t.step}.pt"
            if not path.is_file():
                save_checkpoint(t, path)
            self._last_ckpt[0] = time.monotonic()
            kept = self._files.setdefault(i, [])
            if path not in kept:
                kept.append(path)
            while len(kept) > 2:
                kept.pop(0).unlink(missing_ok=True)
            self.emit(Ckpt(i, t.step, str(path)))
            return path
        except Exception as e:  # noqa: BLE001 - a full disk must not end the training
            self.emit(ErrorNote(i, f"could not write a checkpoint: {e}"))
            return None


def warm_up(configs: list[dict]) -> None:
    """Train each config (TrainConfig.to_dict()) for one step with the views and one
    evaluation, and forget it: what a job's start computes is then kept (gan_core.cache) and
    torch's kernels for these models are ready. A config that cannot train is skipped: its
    job will say why."""
    for c in configs:
        try:
            t = Trainer(TrainConfig.from_dict({**c, "max_steps": 1, "max_seconds": None}))
            probes.attach(t)
            t.run()
            if t.config.eval_every:
                t.evaluate()
        except ValueError:
            pass                       # no data here, a bad setting: the job will say so
        except Exception:  # noqa: BLE001 - a warm-up never fails the worker
            traceback.print_exc()


def run_lockstep(trainers: list, threads_each: Optional[int] = None) -> None:
    """Advance every trainer one step at a time, so they stay at the same step.

    Each trainer steps on its own thread, all at once; `threads_each` sets the torch threads
    of each of those threads (see WorkerCore.threads_each), None leaves torch's default."""
    gates = [threading.Semaphore(0) for _ in trainers]
    done = [threading.Semaphore(0) for _ in trainers]

    def gate(i):
        def on_step(tr, record):
            done[i].release()
            gates[i].acquire()
        return on_step

    threads = []
    for i, t in enumerate(trainers):
        t.add_callback("step", gate(i))
        t.add_callback("end", lambda tr, reason, i=i: done[i].release())
        threads.append(threading.Thread(target=_run_with_threads, args=(t, threads_each),
                                        daemon=True))
    for th in threads:
        th.start()
    finished = [False] * len(trainers)
    while not all(finished):
        for i, t in enumerate(trainers):
            if finished[i]:
                continue
            done[i].acquire()                        # trainer i completed a step (or ended)
            if t.state in ("finished", "stopped", "failed"):    # it was the "end" event
                finished[i] = True
        if any(finished) and not all(finished):      # one ended: stop the others too
            for t in trainers:
                t.stop()
        for g in gates:
            g.release()
    for th in threads:
        th.join()


def _run_with_threads(trainer, threads: Optional[int]) -> None:
    if threads is not None and trainer.config.model != "mlp":
        torch.set_num_threads(threads)           # this thread's OpenMP team only
    trainer.run()

