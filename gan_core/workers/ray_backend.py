"""The Ray backend: one Ray actor per job, and Ray tasks for sweep runs, on the cluster at
GAN_LAB_RAY_ADDRESS (`ray` is an optional install: requirements-ray.txt).

The actor runs the same WorkerCore as a local worker, polled by the server instead of pushing
its events, and reports its own resident memory with each poll. Checkpoints are copied to the
server's machine as they arrive, so they outlive the actor. A parked job's actor is killed
(gan_core.jobhandle), which frees its CPU/GPU reservation on the cluster; the job goes on in a
new actor, sent the bytes of its checkpoints, which may be on another node.

Safe by default: whoever can reach an unauthenticated Ray cluster can run any code on it (Ray
before 2.52 has no authentication at all), so `ensure_ray` connects only with Ray's token
authentication on (RAY_AUTH_MODE=token), unless GAN_LAB_RAY_ALLOW_UNAUTHENTICATED=1 says to
go ahead without it (docs/deployment.md).
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional

from .core import WorkerCore
from .machine import out_of_memory_share, process_rss_mb
from .protocol import Command, Event, JobSpec, Transport, WorkerLost

RAY_HINT = "Ray is not installed here; pip install -r requirements-ray.txt"
ROOT = Path(__file__).resolve().parents[2]     # this checkout


def ray_runtime_env() -> dict:
    """Ship this checkout (code and the judge classifiers, not runs or data) to Ray workers."""
    return {"working_dir": str(ROOT),
            "excludes": ["/runs/", "/.venv/", "/.git/", "/experiments/", "/tests/", "*.pyc",
                         "/benchmarks/results/", "/data/"]}


ALLOW_UNAUTHENTICATED = "GAN_LAB_RAY_ALLOW_UNAUTHENTICATED"
AUTH_HOW = ("on every Ray node and on the class server `export RAY_AUTH_MODE=token` with the "
            "same token (made once by `ray get-auth-token --generate` in ~/.ray/auth_token; copy "
            "that file, or set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), start the head with "
            "`--dashboard-host 127.0.0.1`, and firewall Ray's ports (6379, 8265, 10001, 52365, "
            "10002-19999) from the class network: see docs/deployment.md; "
            f"{ALLOW_UNAUTHENTICATED}=1 connects without authentication")


def cluster_address(address: Optional[str], env: Mapping[str, str]) -> Optional[str]:
    """The cluster ray.init will join: the argument, GAN_LAB_RAY_ADDRESS, RAY_ADDRESS, or None
    for a new local cluster the lab starts itself."""
    return address or env.get("GAN_LAB_RAY_ADDRESS") or env.get("RAY_ADDRESS") or None


def auth_refusal(address: Optional[str], env: Mapping[str, str],
                 token_auth_on: Optional[bool] = None) -> Optional[str]:
    """Why the lab will not use this Ray cluster, as one line, or None where it may.

    Before connecting (`token_auth_on` None) the environment decides: RAY_AUTH_MODE=token (Ray
    then refuses to connect without the token), or no address at all, since Ray (2.60) starts
    a new local cluster with token authentication unless RAY_AUTH_MODE says otherwise. After
    connecting, `token_auth_on` is Ray's own answer for this process, which catches a Ray that
    did not turn it on (before 2.52 it cannot). The explicit opt-out always wins.
    """
    if env.get(ALLOW_UNAUTHENTICATED, "").strip().lower() in ("1", "true", "yes"):
        return None
    where = cluster_address(address, env)
    mode = env.get("RAY_AUTH_MODE", "").strip().lower()
    if token_auth_on is None:
        ok = mode == "token" or (where is None and mode == "")
    else:
        ok = token_auth_on
    if ok:
        return None
    cluster = f"the Ray cluster at {where}" if where else "a local Ray cluster"
    return f"refusing to use {cluster} without token authentication (anyone who reaches it " \
           f"could run code on it): {AUTH_HOW}"


def token_auth_on(ray) -> bool:
    """Whether this process's Ray uses token authentication (False for Ray before 2.52)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:
        return False
    return bool(is_token_auth_enabled())


def ensure_ray(address: Optional[str] = None):
    """The `ray` module, connected, with token authentication on (ValueError with one line
    saying what to do where Ray is missing or the cluster is not authenticated)."""
    try:
        import ray      # optional: only a server that uses Ray has it
    except ImportError:
        raise ValueError(RAY_HINT) from None
    started = False
    if not ray.is_initialized():
        refusal = auth_refusal(address, os.environ)
        if refusal:
            raise ValueError(refusal)
        ray.init(address=address or os.environ.get("GAN_LAB_RAY_ADDRESS") or None,
                 runtime_env=ray_runtime_env(), log_to_driver=False,
                 ignore_reinit_error=True)
        started = True
    refusal = auth_refusal(address, os.environ, token_auth_on(ray))
    if refusal:
        if started:
            ray.shutdown()
        raise ValueError(refusal)
    return ray


class GanLabWorker:
    """One job on a Ray worker: the same WorkerCore, polled instead of pushed."""

    def start(self, job_id, spec, threads):
        self.dir = tempfile.mkdtemp(prefix="gan-lab-job-")
        self.core = WorkerCore(job_id, spec, self.dir, threads)
        threading.Thread(target=self.core.run, daemon=True).start()
        return os.getpid()

    def poll(self):
        return self.core.take_events(), process_rss_mb()

    def command(self, command, *args):
        self.core.command(command, *args)

    def checkpoint(self, path):
        return Path(path).read_bytes()


_ACTOR = None


def actor_class(ray):
    """GanLabWorker as a Ray actor class, made once (`ray`: the module, from ensure_ray)."""
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = ray.remote(max_concurrency=4)(GanLabWorker)
    return _ACTOR


class RayTransport(Transport):
    """One job in a Ray actor: commands as actor calls, events by polling."""

    def __init__(self, ray, job_id: int, spec: JobSpec, threads: int, cpus: float, gpus: float):
        self.ray = ray
        self.actor = actor_class(ray).options(num_cpus=cpus, num_gpus=gpus).remote()
        self.pid = ray.get(self.actor.start.remote(job_id, spec, threads), timeout=600)
        self.memory_mb = spec.memory_mb

    def send(self, command: Command, *args) -> None:
        self.actor.command.remote(command, *args)

    def receive(self, timeout: float) -> list[Event]:
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

    def prewarm(self, n: int = 1, configs: Optional[list[dict]] = None) -> None:
        ensure_ray(self.address)        # actors start per job: nothing to warm ahead

    def open(self, job_id: int, spec: JobSpec, workdir: Path, threads: int) -> Transport:
        ray = ensure_ray(self.address)
        if spec.resume:             # a parked job's checkpoints (paths here): their bytes
            spec = replace(spec, resume=[p and {**p, "checkpoint": Path(p["checkpoint"])
                                                .read_bytes()} for p in spec.resume])
        return RayTransport(ray, job_id, spec, max(1, int(self.cpus)), self.cpus, self.gpus)

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
