"""Where training jobs run: a local pool of worker processes (the default) or Ray actors.

The process that serves the pages never trains. A job (gan_core.jobs.Job) hands a `JobSpec`
to a backend and reads back a stream of small events; the same `WorkerCore` runs the trainers
on either side:

    LocalBackend   spawned worker processes, kept warm and reused job after job; a worker
                   that dies (killed, out of memory, a crash in native code) takes only its
                   own job with it and is replaced.
    RayBackend     one Ray actor per job, and Ray tasks for sweep runs, on the cluster at
                   GAN_LAB_RAY_ADDRESS (`ray` is an optional install: requirements-ray.txt).

Events, worker -> server, batched every FLUSH_S seconds (never whole histories):

    ("started", pid, threads)               the trainers are built and training begins
    ("steps", side, [record, ...])          new history records of one trainer
    ("snap", side, Snapshot)                a sample grid (uint8 images or 2-D points)
    ("marker", side, marker)                a live setting change was applied
    ("status", side, {...})                 state, reason, step, epoch, elapsed, ...
    ("ckpt", side, step, path)              a checkpoint of that step was written to path
    ("progress", done, total, message)      a sweep's progress
    ("error", message)                      the job failed with an exception
    ("done", result)                        the job is over (result: a sweep's summary)

Both directions go as plain pickles (`plain_dumps`), not through multiprocessing's own
pickler: that one moves every tensor into shared memory, and the copy runs torch's thread pool
from the sending thread. A second OpenMP team in the worker makes libgomp stop spinning its
training threads (more busy threads than cores), which cost a lone student 15-20% of the
command line's speed.

Commands, server -> worker: pause, resume, stop, settings (side, changes), threads (n),
checkpoint. Both backends also run many independent tasks (sweep runs): `map_tasks`.

Each worker has a memory share (`JobSpec.memory_mb`; `worker_memory_mb`). The server side of
the job watches the worker's resident memory (RSS, read from /proc every MEMORY_WATCH_S; a Ray
actor reports its own with each poll) and ends a worker that grows past it, the same way as a
killed one: that run fails with a message that says so and keeps its last checkpoint. An
address-space limit (RLIMIT_AS, as gan_core.sandbox uses for one short read) does not fit a
trainer: torch and CUDA reserve far more address space than they ever touch, so the limit
would fail ordinary runs; and a watchdog inside the worker could not act while a native op
holds the interpreter, nor help a worker that is stuck.
"""
from __future__ import annotations

import os
import pickle
import queue
import sys
import tempfile
import threading
import time
import traceback
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch

from . import probes
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .trainer import Trainer

FLUSH_S = 0.2               # how often a worker sends what it has (the page redraws every 1.5 s)
CHECKPOINT_EVERY_S = 20.0   # a killed worker loses at most this much training
MAX_DELAY_S = 5.0           # slow motion: the longest pause after a step


def plain_dumps(obj) -> bytes:
    """A message as bytes, tensors copied into the pickle itself (see the module text)."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def slow_motion_delay(seconds: float) -> float:
    """A slow-motion pause (Job.set_delay), brought into 0 .. MAX_DELAY_S."""
    return min(max(float(seconds), 0.0), MAX_DELAY_S)


IDLE_TIMEOUT_S = 600.0      # a warm worker with nothing to do exits after this long
MEMORY_WATCH_S = 0.05       # how often the server reads a running worker's memory
# Local workers run this much nicer than the server: when a page redraws while every core
# trains, the kernel gives the server the core at once instead of a fair share of it. Training
# loses only the server's short bursts; with nothing else to run, a nice process runs as fast.
WORKER_NICE = 10
MIN_WORKER_MEMORY_MB = 1024  # the smallest default share (a worker with torch is ~0.7 GB)
ROOT = Path(__file__).resolve().parents[1]


def usable_cores() -> int:
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
    return (f"its worker ran out of its memory share ({memory_mb:,} MB): try a smaller batch "
            f"or model")


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


class WorkerLost(RuntimeError):
    """The worker process or actor running a job disappeared (killed, crashed, out of memory)."""


# --- the worker side -------------------------------------------------------------------------

class WorkerCore:
    """Runs one job inside a worker and keeps the events for whoever collects them."""

    def __init__(self, job_id: int, spec: JobSpec, workdir: str, threads: int):
        self.job_id, self.spec, self.workdir = job_id, spec, Path(workdir)
        self.threads = max(1, int(threads))
        self.trainers: list = []
        self.finished = threading.Event()
        self._events: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = False
        self._want_ckpt = False
        self._delay = 0.0
        self._last_ckpt = [0.0]
        self._files: dict[int, list[Path]] = {}
        self._status_sent: dict[int, tuple] = {}

    def emit(self, *event) -> None:
        with self._lock:
            if event[0] == "steps" and self._events and self._events[-1][:2] == event[:2]:
                self._events[-1][2].extend(event[2])         # one list per batch and trainer
            else:
                self._events.append(event)

    def take_events(self) -> list:
        """Everything since the last call, with a status line per trainer that changed."""
        for i, t in enumerate(self.trainers):
            st = (t.state, t.reason, t.step, t.epoch, round(t.elapsed, 3), t.g_updates,
                  t.d_updates, t.eval_note, self.threads)
            if self._status_sent.get(i) != st:
                self._status_sent[i] = st
                self.emit("status", i, dict(zip(("state", "reason", "step", "epoch", "elapsed",
                                                 "g_updates", "d_updates", "eval_note",
                                                 "threads"), st)))
        with self._lock:
            out, self._events = self._events, []
        return out

    # -- commands, from another thread -----------------------------------------------------
    def command(self, name: str, *args) -> None:
        if name == "stop":
            self._stop.set()
            for t in self.trainers:
                t.stop()
        elif name == "pause":
            self._paused = True
            for t in self.trainers:
                t.pause()
        elif name == "resume":
            self._paused = False
            for t in self.trainers:
                t.resume()
        elif name == "settings":
            side, changes = args
            try:
                self.trainers[side].update_settings(**changes)
            except (ValueError, IndexError) as e:     # the server checked first; say so anyway
                self.emit("error_note", side, str(e))
        elif name == "threads":           # applied by each trainer's thread before its next step
            if not self._mlp_only():
                self.threads = max(1, int(args[0]))
        elif name == "checkpoint":
            self._want_ckpt = True
        elif name == "delay":             # slow motion (Job.set_delay)
            self._delay = slow_motion_delay(args[0])

    # -- the job -----------------------------------------------------------------------------
    def run(self) -> None:
        if self._mlp_only():
            # The 2-D sets' small MLP has ops too small to split: measured on 2 busy cores, a
            # ring epoch took 1 s on one thread and 30 s on two (threads waiting on each other).
            self.threads = 1
        torch.set_num_threads(self.threads)
        self.emit("started", os.getpid(), self.threads)
        result = None
        try:
            if self.spec.kind == "sweep":
                result = self._run_sweep()
            else:
                self._run_train()
        except BaseException as e:  # noqa: BLE001 - reported to the server, never silent
            if not isinstance(e, ValueError):
                traceback.print_exc()
            self.emit("error", f"{type(e).__name__}: {e}")
        finally:
            self.emit("done", result)
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
            "progress", d, n, m), **self.spec.sweep)

    def _run_train(self) -> None:
        configs = [TrainConfig.from_dict(c) for c in self.spec.configs]
        first = Trainer(configs[0])
        self.trainers = [first] + [Trainer(c, dataset=first.dataset) for c in configs[1:]]
        for i, t in enumerate(self.trainers):
            probes.attach(t)            # the views' data with every snapshot
            t.add_callback("step", lambda tr, rec, i=i: self._on_step(i, tr, rec))
            t.add_callback("samples", lambda tr, snap, i=i: self.emit("snap", i, snap))
            t.add_callback("settings", lambda tr, m, i=i: self.emit("marker", i, m))
            t.add_callback("paused", lambda tr, _, i=i: self._save(i))
        for t in self.trainers:         # commands that came while the data was loading
            if self._paused:
                t.pause()
            if self._stop.is_set():
                t.stop()
        if len(self.trainers) == 1:
            first.run()
        else:
            run_lockstep(self.trainers, self.threads_each())
        for i in range(len(self.trainers)):
            self._save(i)

    def _on_step(self, i: int, tr, record: dict) -> None:
        """On the training thread, between two steps: the one place that may touch the models."""
        self.emit("steps", i, [record])
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

    def _save(self, i: int) -> None:
        t = self.trainers[i]
        if t.step == 0:
            return
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
            self.emit("ckpt", i, t.step, str(path))
        except Exception as e:  # noqa: BLE001 - a full disk must not end the training
            self.emit("error_note", i, f"could not write a checkpoint: {e}")


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


def _worker_process(conn, idle_timeout: float) -> None:
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

    early: dict[int, list] = {}                  # commands for a job not yet begun
    lock = threading.Lock()

    def listen() -> None:
        while True:
            try:
                msg = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):              # the server went away
                os._exit(0)
            if msg[0] in ("job", "quit"):
                jobs.put(msg)
            elif msg[0] == "cmd":
                with lock:
                    core = current[0]
                    if core is None or core.job_id != msg[1]:
                        early.setdefault(msg[1], []).append(msg[2:])
                        continue
                core.command(*msg[2:])

    threading.Thread(target=listen, daemon=True).start()
    while True:
        try:
            msg = jobs.get(timeout=idle_timeout)
        except queue.Empty:
            return
        if msg[0] == "quit":
            return
        _, job_id, spec, workdir, threads = msg
        core = WorkerCore(job_id, spec, workdir, threads)
        with lock:
            current[0] = core
            for cmd in early.pop(job_id, []):
                core.command(*cmd)
            early.clear()                            # commands for jobs that never came

        def flush(core=core) -> None:
            while not core.finished.wait(FLUSH_S):
                events = core.take_events()
                if events:
                    send(("events", core.job_id, events))
        flusher = threading.Thread(target=flush, daemon=True)
        flusher.start()
        core.run()
        flusher.join()
        send(("events", job_id, core.take_events()))
        with lock:
            current[0] = None
        del core
        import gc
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

class Transport:
    """One running job as the server sees it: send commands, receive event batches."""
    pid: Optional[int] = None

    def send(self, *cmd) -> None: ...
    def receive(self, timeout: float) -> list: ...
    def fetch_checkpoint(self, side: int, path: str, dest: Path) -> Optional[Path]: ...
    def close(self, reusable: bool) -> None: ...


class _LocalWorker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe(duplex=True)
        with clean_main():
            self.proc = ctx.Process(target=_worker_process, args=(child, IDLE_TIMEOUT_S),
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
    import signal
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


class _LocalTransport(Transport):
    def __init__(self, backend: "LocalBackend", worker: _LocalWorker, job_id: int,
                 memory_mb: Optional[int] = None):
        self.backend, self.worker, self.job_id = backend, worker, job_id
        self.pid = worker.proc.pid
        self.memory_mb = memory_mb
        self.done = False

    def send(self, *cmd) -> None:
        try:
            self.worker.send(("cmd", self.job_id, *cmd))
        except (OSError, ValueError, BrokenPipeError):
            pass                                   # the worker is gone; receive() says so

    def receive(self, timeout: float) -> list:
        end = time.monotonic() + timeout
        try:
            while True:
                self._watch_memory()
                if self.worker.conn.poll(min(MEMORY_WATCH_S, max(0.0, end - time.monotonic()))):
                    kind, job_id, events = pickle.loads(self.worker.conn.recv_bytes())
                    if job_id != self.job_id:
                        return []
                    self.done = self.done or any(e[0] == "done" for e in events)
                    return events
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
            self.backend._give_back(self.worker)
        else:
            self.worker.kill()


class LocalBackend:
    """Spawned worker processes on this machine, reused between jobs (torch imports once)."""
    name = "local"

    def __init__(self, keep_idle: int = 2):
        import multiprocessing
        self.ctx = multiprocessing.get_context("spawn")    # fork would copy torch's threads
        self.keep_idle = keep_idle
        self._idle: list[_LocalWorker] = []
        self._lock = threading.Lock()

    def prewarm(self, n: int = 1) -> None:
        """Start idle workers now, so the first student's run starts without the import wait."""
        with self._lock:
            self._idle = [w for w in self._idle if w.proc.is_alive()]
            while len(self._idle) < min(n, self.keep_idle):
                self._idle.append(_LocalWorker(self.ctx))

    def _take(self) -> _LocalWorker:
        with self._lock:
            while self._idle:
                w = self._idle.pop()
                if w.proc.is_alive():
                    return w
                w.kill()
        return _LocalWorker(self.ctx)

    def _give_back(self, worker: _LocalWorker) -> None:
        with self._lock:
            if len(self._idle) < self.keep_idle:
                self._idle.append(worker)
                return
        worker.send(("quit",))
        worker.proc.join(5)
        worker.kill()

    def open(self, job_id: int, spec: JobSpec, workdir: Path, threads: int) -> Transport:
        worker = self._take()
        worker.send(("job", job_id, spec, str(workdir), threads))
        return _LocalTransport(self, worker, job_id, spec.memory_mb)

    def map_tasks(self, fn: Callable, calls: list[tuple], jobs: int, threads: int) -> Iterator:
        """Run fn(*args, threads) for each args in calls, `jobs` at a time, in fresh processes;
        yield (args, result) as each finishes."""
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
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


# --- Ray ---------------------------------------------------------------------------------------

RAY_HINT = "Ray is not installed here; pip install -r requirements-ray.txt"


def ray_runtime_env() -> dict:
    """Ship this checkout (code and the judge classifiers, not runs or data) to Ray workers."""
    return {"working_dir": str(ROOT),
            "excludes": ["/runs/", "/.venv/", "/.git/", "/experiments/", "/tests/", "*.pyc",
                         "/benchmarks/results/", "/data/"]}


def ensure_ray(address: Optional[str] = None):
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_HINT) from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("GAN_LAB_RAY_ADDRESS") or None,
                 runtime_env=ray_runtime_env(), log_to_driver=False,
                 ignore_reinit_error=True)
    return ray


_ACTOR = None


def _actor_class():
    global _ACTOR
    if _ACTOR is None:
        import ray

        class GanLabWorker:
            """One job on a Ray worker: the same WorkerCore, polled instead of pushed."""
            def start(self, job_id, spec, threads):
                self.dir = tempfile.mkdtemp(prefix="gan-lab-job-")
                self.core = WorkerCore(job_id, spec, self.dir, threads)
                threading.Thread(target=self.core.run, daemon=True).start()
                return os.getpid()

            def poll(self):
                return self.core.take_events(), process_rss_mb()

            def command(self, *cmd):
                self.core.command(*cmd)

            def checkpoint(self, path):
                return Path(path).read_bytes()

        _ACTOR = ray.remote(max_concurrency=4)(GanLabWorker)
    return _ACTOR


class _RayTransport(Transport):
    def __init__(self, ray, job_id: int, spec: JobSpec, threads: int, cpus: float, gpus: float):
        self.ray = ray
        self.actor = _actor_class().options(num_cpus=cpus, num_gpus=gpus).remote()
        self.pid = ray.get(self.actor.start.remote(job_id, spec, threads), timeout=600)
        self.memory_mb = spec.memory_mb

    def send(self, *cmd) -> None:
        self.actor.command.remote(*cmd)

    def receive(self, timeout: float) -> list:
        time.sleep(timeout)
        try:
            events, rss = self.ray.get(self.actor.poll.remote(), timeout=60)
        except Exception as e:  # noqa: BLE001 - RayActorError, GetTimeoutError, node lost
            raise WorkerLost(f"its Ray actor was lost ({type(e).__name__})") from None
        if self.memory_mb and rss is not None and rss > self.memory_mb:
            self.close(reusable=False)
            raise WorkerLost(out_of_memory_share(self.memory_mb))
        return events

    def fetch_checkpoint(self, side, path, dest):
        """Copied to this machine as it arrives, so it outlives the actor."""
        try:
            dest.write_bytes(self.ray.get(self.actor.checkpoint.remote(path), timeout=120))
            return dest
        except Exception:  # noqa: BLE001 - the previous copy is kept
            return None

    def close(self, reusable: bool) -> None:
        try:
            self.ray.kill(self.actor)
        except Exception:  # noqa: BLE001 - already gone
            pass


class RayBackend:
    """Jobs as Ray actors and sweep runs as Ray tasks, on the cluster at `address`."""
    name = "ray"

    def __init__(self, address: Optional[str] = None):
        self.address = address
        self.cpus = float(os.environ.get("GAN_LAB_RAY_JOB_CPUS", "1"))
        self.gpus = float(os.environ.get("GAN_LAB_RAY_JOB_GPUS", "0"))

    def prewarm(self, n: int = 1) -> None:
        ensure_ray(self.address)

    def open(self, job_id: int, spec: JobSpec, workdir: Path, threads: int) -> Transport:
        ray = ensure_ray(self.address)
        return _RayTransport(ray, job_id, spec, max(1, int(self.cpus)), self.cpus, self.gpus)

    def map_tasks(self, fn: Callable, calls: list[tuple], jobs: int, threads: int) -> Iterator:
        ray = ensure_ray(self.address)
        task = ray.remote(num_cpus=max(threads, 1))(fn)
        pending = {task.remote(*args, threads): args for args in calls}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    args = pending.pop(ref)
                    yield args, ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def shutdown(self) -> None:
        pass


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
                import ray  # noqa: F401
            except ImportError:
                raise ValueError(RAY_HINT) from None
            _BACKENDS[name] = RayBackend(os.environ.get("GAN_LAB_RAY_ADDRESS"))
        else:
            _BACKENDS[name] = LocalBackend(keep_idle)
    return _BACKENDS[name]
