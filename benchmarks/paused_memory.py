"""What N paused runs cost the server: resident memory of the server and of every worker.

    python -m benchmarks.paused_memory [--jobs N] [--model classroom] [--data-dir DIR]

Starts N MNIST runs in one JobPool of two slots (as a class server does), pauses each once it
has trained a few steps, and prints the server's and each live worker's resident memory (RSS,
from /proc) while the runs are paused: first within the grace time (workers alive, paused),
then after it, when a paused run is parked (gan_core.jobs: its worker is ended and its state
kept in a checkpoint). Counts and sums are of the processes alive at that moment; "other
children" are warm idle workers and multiprocessing's helpers.
Memory figures are per machine and per torch build; on a shared machine they vary a little.
"""
from __future__ import annotations

import argparse
import os
import time

from gan_core.config import TrainConfig
from gan_core.jobs import Job, JobPool
from gan_core.workers import process_rss_mb


def wait_for(cond, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def alive(pid) -> bool:
    return pid is not None and os.path.exists(f"/proc/{pid}")


def children() -> list[int]:
    """This process's child processes (the jobs' workers, warm idle ones, helpers)."""
    me, out = str(os.getpid()), []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:
            out.append(int(d))
    return out


def pss_mb(pid) -> float:
    """Proportional set size: shared pages (torch's libraries) split between the processes
    that map them, so a sum over processes counts them once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def tally(jobs: list[Job], label: str) -> dict:
    """Print and return the server's RSS, its children's (the jobs' workers first) and the
    sums, of RSS and of PSS."""
    me = os.getpid()
    pids = [j.pid for j in jobs if alive(j.pid)]
    others = [p for p in children() if p not in pids]
    rss = {p: process_rss_mb(p) or 0.0 for p in [me, *pids, *others]}
    each = ", ".join(f"{rss[p]:.0f}" for p in pids) or "none"
    rest = ", ".join(f"{rss[p]:.0f}" for p in others) or "none"
    total, pss = sum(rss.values()), sum(pss_mb(p) for p in rss)
    print(f"{label}: server {rss[me]:.0f} MB; {len(pids)} job workers ({each} MB); other "
          f"children ({rest} MB); total RSS {total:.0f} MB, PSS {pss:.0f} MB")
    return {"rss": rss, "total": total, "pss": pss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--model", default="classroom")
    ap.add_argument("--data-dir", default=os.environ.get("GAN_DATA_DIR", "/work/shared/data"))
    args = ap.parse_args()
    pool = JobPool(max_running=2)
    parks = hasattr(pool, "park_after_s")      # the script ran before parking existed too
    if parks:
        pool.park_after_s = 3600.0             # nothing parks while the runs are started
    config = TrainConfig(dataset="mnist", model=args.model, data_dir=args.data_dir,
                         device="cpu", epochs=100, sample_every=10**6, download=False)
    tally([], "idle server")
    jobs, starts = [], []
    for i in range(args.jobs):
        t0 = time.monotonic()
        job = Job(config, pool, name=f"run{i}", owner=f"student{i}").start()
        wait_for(lambda: job.trainer.step > 0, 300, f"run {i} to train")
        starts.append(time.monotonic() - t0)
        wait_for(lambda: job.trainer.step >= 3, 300, f"run {i} to train")
        job.pause()
        wait_for(lambda: not pool.holds(job.id), 60, f"run {i} to give its slot back")
        jobs.append(job)
    print("a new run's first step came " + ", ".join(f"{s:.1f}" for s in starts)
          + " s after its start")
    tally(jobs, f"{args.jobs} paused, within the grace time")
    if parks:
        pool.park_after_s = 1.0
        wait_for(lambda: all(j.parked is not None for j in jobs), 300,
                 "the paused runs to be parked")
        time.sleep(2.0)
        tally(jobs, f"{args.jobs} paused, parked")
        job, t0, at = jobs[0], time.monotonic(), jobs[0].trainer.step
        job.resume()
        wait_for(lambda: job.trainer.step > at, 300, "a parked run to go on")
        print(f"a parked run took its next step {time.monotonic() - t0:.1f} s after Resume")
    for job in jobs:
        job.stop()
    for job in jobs:
        job.join(60)


if __name__ == "__main__":
    main()
