"""This machine as the workers see it: its cores, its memory, a process's resident memory, and
each worker's share of the memory.

Each worker has a memory share (`JobSpec.memory_mb`; `worker_memory_mb`). The server side of
a job watches the worker's resident memory (RSS, read from /proc; a Ray actor reports its own
with each poll) and ends a worker that grows past it, the same way as a killed one: that run
fails with a message that says so (`out_of_memory_share`) and keeps its last checkpoint. An
address-space limit (RLIMIT_AS, as gan_core.sandbox uses for one short read) does not fit a
trainer: torch and CUDA reserve far more address space than they ever touch, so the limit
would fail ordinary runs; and a watchdog inside the worker could not act while a native op
holds the interpreter, nor help a worker that is stuck.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

MIN_WORKER_MEMORY_MB = 1024  # the smallest default share (a worker with torch is ~0.7 GB)


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_memory_mb() -> Optional[int]:
    """This machine's memory (MemTotal), or None where /proc/meminfo is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker_memory_mb(running: int) -> Optional[int]:
    """A worker's memory share when `running` jobs train at once: GAN_LAB_WORKER_MEMORY_MB
    (0: no cap), else the machine's memory split between the server and the running workers,
    at least MIN_WORKER_MEMORY_MB. None where the machine's memory cannot be read."""
    forced = os.environ.get("GAN_LAB_WORKER_MEMORY_MB", "").strip()
    if forced.isdigit():
        return int(forced) or None
    total = machine_memory_mb()
    if total is None:
        return None
    return max(MIN_WORKER_MEMORY_MB, total // (max(1, running) + 1))


def process_rss_mb(pid: Optional[int] = None) -> Optional[float]:
    """Resident memory of a process (this one by default), or None if it cannot be read."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def out_of_memory_share(memory_mb: int) -> str:
    """Why a worker that grew past its share was ended, as the run's reason says it."""
    return (f"its worker ran out of its memory share ({memory_mb:,} MB): try a smaller batch "
            f"or model")
