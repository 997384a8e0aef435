"""Where training jobs run: a local pool of worker processes (the default) or Ray actors.

The process that serves the pages never trains. A job (gan_core.jobs.Job) hands a `JobSpec`
to a backend and reads back a stream of small events; the same `WorkerCore` runs the trainers
on either side:

    protocol.py      the job, the commands and the events between server and worker
    core.py          WorkerCore (one job inside a worker) and run_lockstep
    local.py         LocalBackend: spawned worker processes, kept warm and reused job after
                     job; a worker that dies takes only its own job with it and is replaced
    ray_backend.py   RayBackend: one Ray actor per job, and Ray tasks for sweep runs, on the
                     cluster at GAN_LAB_RAY_ADDRESS (`ray` is an optional install)
    machine.py       cores, memory, a process's resident memory, each worker's memory share

Both backends also run many independent tasks (sweep runs): `map_tasks`. `get_backend` gives
the process-wide one.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from .core import WorkerCore, run_lockstep
from .local import LocalBackend
from .machine import (MIN_WORKER_MEMORY_MB, machine_memory_mb, out_of_memory_share,
                      process_rss_mb, usable_cores, worker_memory_mb)
from .protocol import (CHECKPOINT_EVERY_S, MAX_DELAY_S, Command, Event, JobSpec, Transport,
                       WorkerLost, plain_dumps, slow_motion_delay)
from .ray_backend import RAY_HINT, RayBackend, ray_runtime_env

_BACKENDS: dict[str, Any] = {}


def get_backend(name: Optional[str] = None, keep_idle: int = 2):
    """The process-wide backend: `ray` when asked or when GAN_LAB_RAY_ADDRESS is set, else
    `local`. ValueError (with how to install it) when Ray is asked for but missing."""
    name = name or ("ray" if os.environ.get("GAN_LAB_RAY_ADDRESS") else "local")
    if name not in ("local", "ray"):
        raise ValueError(f"unknown backend {name!r}; choose local or ray")
    if name not in _BACKENDS:
        if name == "ray":
            try:
                import ray  # noqa: F401 - optional: only a server that uses Ray has it
            except ImportError:
                raise ValueError(RAY_HINT) from None
            _BACKENDS[name] = RayBackend(os.environ.get("GAN_LAB_RAY_ADDRESS"))
        else:
            _BACKENDS[name] = LocalBackend(keep_idle)
    return _BACKENDS[name]


__all__ = ["get_backend", "JobSpec", "WorkerLost", "Command", "Event", "Transport",
           "CHECKPOINT_EVERY_S", "MAX_DELAY_S", "slow_motion_delay", "plain_dumps",
           "WorkerCore", "run_lockstep", "LocalBackend", "RayBackend", "RAY_HINT",
           "ray_runtime_env", "MIN_WORKER_MEMORY_MB", "machine_memory_mb", "worker_memory_mb",
           "process_rss_mb", "out_of_memory_share", "usable_cores"]
