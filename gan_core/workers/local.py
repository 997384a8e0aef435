"""The local backend: spawned worker processes on this machine, kept warm and reused job after
job (torch imports once), and fresh processes for many independent tasks (sweep runs).

A worker that dies (killed, out of memory, a crash in native code) takes only its own job with
it and is replaced. The server side (`LocalTransport`) reads the worker's resident memory every
MEMORY_WATCH_S and ends a worker that grows past its share (gan_core.workers.machine).

Over the pipe go plain pickles (protocol.plain_dumps) of the envelopes below: RunJob, Warm
(configs to run once before any job: core.warm_up), Quit and ToJob (a Command for one job) to
the worker, EventBatch back.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import types
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .core import WorkerCore, warm_up
from .machine import out_of_memory_share, process_rss_mb
from .protocol import (Command, Done, Event, JobSpec, Transport, WorkerLost, plain_dumps)

FLUSH_S = 0.2               # how often a worker sends what it has (the page redraws every 1.5 s)
IDLE_TIMEOUT_S = 600.0      # a warm worker with nothing to do exits after this long
MEMORY_WATCH_S = 0.05       # how often the server reads a running worker's memory
# Local workers run this much nicer than the server: when a page redraws while every core
# trains, the kernel gives the server the core at once instead of a fair share of it. Training
# loses only the server's short bursts; with nothing else to run, a nice process runs as fast.
WORKER_NICE = 10


# --- the envelopes on the pipe ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunJob:
    job_id: int
    spec: JobSpec
    workdir: str
    threads: int


@dataclass(frozen=True, slots=True)
class Warm:
    configs: list[dict]         # TrainConfig.to_dict() of each


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class ToJob:
    job_id: int
    command: Command
    args: tuple


@dataclass(frozen=True, slots=True)
class EventBatch:
    job_id: int
    events: list[Event]


# --- the worker process ----------------------------------------------------------------------

def worker_process(conn, idle_timeout: float) -> None:
    """A local worker's main loop: take a job, run it, stream its events, wait for the next."""
    try:
        os.nice(int(os.environ.get("GAN_LAB_WORKER_NICE", WORKER_NICE)))
    except (OSError, ValueError, AttributeError):
        pass                                     # not allowed or not here: trains as it is
    jobs: queue.Queue = queue.Queue()
    current: list[Optional[WorkerCore]] = [None]
    send_lock = threading.Lock()

    def send(obj) -> None:
        data = plain_dumps(obj)
        with send_lock:
            conn.send_bytes(data)

    early: dict[int, list[ToJob]] = {}           # commands for a job not yet begun
    lock = threading.Lock()

    def listen() -> None:
        while True:
            try:
                msg = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):              # the server went away
                os._exit(0)
            if isinstance(msg, (RunJob, Warm, Quit)):
                jobs.put(msg)
            elif isinstance(msg, ToJob):
                with lock:
                    core = current[0]
                    if core is None or core.job_id != msg.job_id:
                        early.setdefault(msg.job_id, []).append(msg)
                        continue
                core.command(msg.command, *msg.args)

    threading.Thread(target=listen, daemon=True).start()
    while True:
        try:
            msg = jobs.get(timeout=idle_timeout)
        except queue.Empty:
            return
        if isinstance(msg, Quit):
            return
        if isinstance(msg, Warm):
            warm_up(msg.configs)
            gc.collect()
            continue
        core = WorkerCore(msg.job_id, msg.spec, msg.workdir, msg.threads)
        with lock:
            current[0] = core
            for cmd in early.pop(msg.job_id, []):
                core.command(cmd.command, *cmd.args)
            early.clear()                            # commands for jobs that never came

        def flush(core=core) -> None:
            while not core.finished.wait(FLUSH_S):
                events = core.take_events()
                if events:
                    send(EventBatch(core.job_id, events))
        flusher = threading.Thread(target=flush, daemon=True)
        flusher.start()
        core.run()
        flusher.join()
        send(EventBatch(msg.job_id, core.take_events()))
        with lock:
            current[0] = None
        del core
        gc.collect()


@contextmanager
def clean_main():
    """Spawned processes re-run the parent's __main__ file. Under a host that replaced __main__
    (Streamlit's script runner, AppTest) that is a page script, so they start from an empty
    __main__ instead: everything a worker runs lives in importable modules."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


# --- the server side -------------------------------------------------------------------------

class LocalWorker:
    """One spawned worker process and the server's end of its pipe."""

    def __init__(self, ctx):
        self.conn, child = ctx.Pipe(duplex=True)
        with clean_main():
            self.proc = ctx.Process(target=worker_process, args=(child, IDLE_TIMEOUT_S),
                                    daemon=True, name="gan-lab-worker")
            self.proc.start()
        child.close()
        self.lock = threading.Lock()

    def send(self, obj) -> None:
        data = plain_dumps(obj)
        with self.lock:
            self.conn.send_bytes(data)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def describe_exit(code: Optional[int]) -> str:
    """How a worker process ended, from its exit code, in words for the run's reason."""
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (the machine may have run out of memory, or someone ended it)" \
            if name == "SIGKILL" else ""
        return f"was killed by {name}{why}"
    return f"exited with code {code}"


class LocalTransport(Transport):
    """One job in a local worker: commands down the pipe, event batches back, memory watched."""

    def __init__(self, backend: "LocalBackend", worker: LocalWorker, job_id: int,
                 memory_mb: Optional[int] = None):
        self.backend, self.worker, self.job_id = backend, worker, job_id
        self.pid = worker.proc.pid
        self.memory_mb = memory_mb
        self.done = False

    def send(self, command: Command, *args) -> None:
        try:
            self.worker.send(ToJob(self.job_id, command, args))
        except (OSError, ValueError, BrokenPipeError):
            pass                                   # the worker is gone; receive() says so

    def receive(self, timeout: float) -> list[Event]:
        end = time.monotonic() + timeout
        try:
            while True:
                self._watch_memory()
                if self.worker.conn.poll(min(MEMORY_WATCH_S, max(0.0, end - time.monotonic()))):
                    batch = pickle.loads(self.worker.conn.recv_bytes())
                    if batch.job_id != self.job_id:
                        return []
                    self.done = self.done or any(isinstance(e, Done) for e in batch.events)
                    return batch.events
                if time.monotonic() >= end:
                    break
        except (EOFError, OSError):
            pass
        else:
            if self.worker.proc.is_alive():
                return []
        self.worker.proc.join(2)
        raise WorkerLost(f"its worker process (pid {self.pid}) "
                         f"{describe_exit(self.worker.proc.exitcode)}")

    def _watch_memory(self) -> None:
        if self.memory_mb and not self.done:
            rss = process_rss_mb(self.pid)
            if rss is not None and rss > self.memory_mb:
                self.worker.kill()
                raise WorkerLost(out_of_memory_share(self.memory_mb))

    def fetch_checkpoint(self, side, path, dest):
        return Path(path)                          # same machine: the worker wrote it there

    def close(self, reusable: bool) -> None:
        if reusable and self.done and self.worker.proc.is_alive():
            self.backend.give_back(self.worker)
        else:
            self.worker.kill()


class LocalBackend:
    """Spawned worker processes on this machine, reused between jobs (torch imports once)."""
    name = "local"

    def __init__(self, keep_idle: int = 2):
        self.ctx = multiprocessing.get_context("spawn")    # fork would copy torch's threads
        self.keep_idle = keep_idle
        self._idle: list[LocalWorker] = []
        self._lock = threading.Lock()

    def prewarm(self, n: int = 1, configs: Optional[list[dict]] = None) -> None:
        """Start idle workers now, so the first student's run starts without the import wait;
        each new one first runs `configs` (TrainConfig.to_dict()) for a step (core.warm_up),
        so that their data, clusters and judge statistics are ready when a job asks."""
        with self._lock:
            self._idle = [w for w in self._idle if w.proc.is_alive()]
            while len(self._idle) < min(n, self.keep_idle):
                worker = LocalWorker(self.ctx)
                if configs:
                    worker.send(Warm(list(configs)))
                self._idle.append(worker)

    def _take(self) -> LocalWorker:
        with self._lock:
            while self._idle:
                w = self._idle.pop()
                if w.proc.is_alive():
                    return w
                w.kill()
        return LocalWorker(self.ctx)

    def give_back(self, worker: LocalWorker) -> None:
        """A worker whose job is over: kept warm for the next job, or ended if enough are."""
        with self._lock:
            if len(self._idle) < self.keep_idle:
                self._idle.append(worker)
                return
        worker.send(Quit())
        worker.proc.join(5)
        worker.kill()

    def open(self, job_id: int, spec: JobSpec, workdir: Path, threads: int) -> Transport:
        worker = self._take()
        worker.send(RunJob(job_id, spec, str(workdir), threads))
        return LocalTransport(self, worker, job_id, spec.memory_mb)

    def map_tasks(self, fn: Callable, calls: list[tuple], jobs: int, threads: int) -> Iterator:
        """Run fn(*args, threads) for each args in calls, `jobs` at a time, in fresh processes;
        yield (args, result) as each finishes."""
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=self.ctx)
        with clean_main():
            pending = {pool.submit(fn, *args, threads): args for args in calls}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    args = pending.pop(fut)
                    yield args, fut.result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()
