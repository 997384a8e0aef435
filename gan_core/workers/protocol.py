"""What a worker and the server say to each other: the job, the commands and the events.

A job (gan_core.jobs) hands a `JobSpec` to a backend and reads back a stream of small events;
the same WorkerCore (gan_core.workers.core) makes them on either backend.

Events, worker -> server, in batches (never whole histories; a local worker sends one every
local.FLUSH_S seconds, a Ray actor's are taken at each poll):

    Started(pid, threads)              the trainers are built and training begins
    Steps(side, records)               new history records of one trainer
    Snap(side, snapshot)               a sample grid (uint8 images or 2-D points)
    Marker(side, marker)               a live setting change was applied
    Status(side, fields)               state, reason, step, epoch, elapsed, ...
    Ckpt(side, step, path)             a checkpoint of that step was written to path
    ErrorNote(side, message)           a trainer's non-fatal trouble (a bad setting, a full disk)
    Progress(done, total, message)     a sweep's progress
    Parked(states)                     paused and parked: per side, its checkpoint and rest
                                       state (gan_core.parking); None: not at rest yet
    Error(message)                     the job failed with an exception
    Done(result)                       the job is over (result: a sweep's summary)

Commands, server -> worker: a `Command` and its arguments: pause, resume, stop,
settings (side, changes), threads (n), checkpoint, delay (seconds of slow motion), park
(a paused job: write what it needs to go on and answer Parked; the server then ends the
worker, and a later worker goes on from `JobSpec.resume`).

Both directions go as plain pickles (`plain_dumps`), not through multiprocessing's own
pickler: that one moves every tensor into shared memory, and the copy runs torch's thread pool
from the sending thread. A second OpenMP team in the worker makes libgomp stop spinning its
training threads (more busy threads than cores), which cost a lone student 15-20% of the
command line's speed. The events are frozen, slotted dataclasses, so a pickle of one holds its
values and its class's name, not its field names.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Optional, Union

CHECKPOINT_EVERY_S = 20.0   # a killed worker loses at most this much training
MAX_DELAY_S = 5.0           # slow motion: the longest pause after a step


def plain_dumps(obj) -> bytes:
    """A message as bytes, tensors copied into the pickle itself (see the module text)."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def slow_motion_delay(seconds: float) -> float:
    """A slow-motion pause (Job.set_delay), brought into 0 .. MAX_DELAY_S."""
    return min(max(float(seconds), 0.0), MAX_DELAY_S)


class Command(StrEnum):
    """What the server may tell a running job (a StrEnum: Command.STOP == "stop")."""
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    SETTINGS = "settings"       # side, changes: live settings of one trainer
    THREADS = "threads"         # n: the job's new share of the cores
    CHECKPOINT = "checkpoint"   # write a checkpoint of every trainer now
    DELAY = "delay"             # seconds: slow motion (Job.set_delay)
    PARK = "park"               # a paused job: keep its state, answer Parked (gan_core.jobs)


@dataclass
class JobSpec:
    """What a worker needs to run one job; plain data, so it crosses process boundaries."""
    kind: str = "train"              # train: configs trained together (2+: lockstep); sweep
    configs: list[dict] = field(default_factory=list)    # TrainConfig.to_dict() per side
    sweep: dict = field(default_factory=dict)            # kind sweep: the task's keywords
    # kind sweep: the function the worker runs (gan_core.sweeps.run_sweep). Pickled by name, so
    # this module needs no import of the sweeps, which run their own tasks through it.
    task: Optional[Callable] = None
    checkpoint_every_s: float = CHECKPOINT_EVERY_S
    memory_mb: Optional[int] = None      # the worker's memory share (None: no cap)
    # kind train: go on from a parked job's state, per side {"checkpoint": a path (bytes for
    # Ray), "rest": gan_core.parking.rest_state} or None (parked before its first step)
    resume: Optional[list[Optional[dict]]] = None


class WorkerLost(RuntimeError):
    """The worker process or actor running a job disappeared (killed, crashed, out of memory)."""


# --- events, worker -> server ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Started:
    pid: int
    threads: int


@dataclass(frozen=True, slots=True)
class Steps:
    side: int
    records: list[dict]         # grows in place while the batch waits (WorkerCore.emit)


@dataclass(frozen=True, slots=True)
class Snap:
    side: int
    snapshot: Any               # gan_core.trainer.Snapshot


@dataclass(frozen=True, slots=True)
class Marker:
    side: int
    marker: dict                # {"step": ..., "changes": {...}, ...}


@dataclass(frozen=True, slots=True)
class Status:
    side: int
    fields: dict                # state, reason, step, epoch, elapsed, g_updates, ..., threads


@dataclass(frozen=True, slots=True)
class Ckpt:
    side: int
    step: int
    path: str                   # on the worker's machine


@dataclass(frozen=True, slots=True)
class ErrorNote:
    side: int
    message: str


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    message: str


@dataclass(frozen=True, slots=True)
class Parked:
    states: Optional[list[Optional[dict]]]   # per side {"checkpoint", "step", "rest"}; None: not now


@dataclass(frozen=True, slots=True)
class Error:
    message: str


@dataclass(frozen=True, slots=True)
class Done:
    result: Any = None          # a sweep's summary; None for training


Event = Union[Started, Steps, Snap, Marker, Status, Ckpt, ErrorNote, Progress, Parked, Error,
              Done]


class Transport:
    """One running job as the server sees it: send commands, receive event batches."""
    pid: Optional[int] = None

    def send(self, command: Command, *args) -> None: ...
    def receive(self, timeout: float) -> list[Event]: ...
    def fetch_checkpoint(self, side: int, path: str, dest: Path) -> Optional[Path]: ...
    def close(self, reusable: bool) -> None: ...
