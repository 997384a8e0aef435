"""Jobs and sweeps through Ray (the optional backend), on a local Ray instance of 2 CPUs.

Skipped, saying why, where Ray is not installed (pip install -r requirements-ray.txt; CI
installs it)."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed here (pip install -r "
                                        "requirements-ray.txt); the local worker pool is tested "
                                        "without it")

from gan_core.config import TrainConfig  # noqa: E402
from gan_core.jobs import Job, JobPool  # noqa: E402
from gan_core.workers import RayBackend, ray_runtime_env  # noqa: E402
from gan_core.workers.ray_backend import ensure_ray  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """A local cluster with token authentication on, as the lab requires: Ray (2.60) starts a
    new local cluster with it unless RAY_AUTH_MODE says otherwise, making and keeping the token
    in ~/.ray/auth_token. (Setting RAY_AUTH_MODE here would come too late: `import ray` above
    has already read it.) ensure_ray accepts the cluster, so the backends below may use it."""
    ray.init(num_cpus=2, runtime_env=ray_runtime_env(), log_to_driver=False,
             include_dashboard=False)
    assert ensure_ray() is ray
    yield
    ray.shutdown()


def test_a_short_job_and_a_lockstep_pair_run_as_ray_actors(local_ray):
    backend = RayBackend()
    pool = JobPool(max_running=2)
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64, max_steps=40,
                      sample_every=10, device="cpu")
    job = Job(cfg, pool, backend=backend).start()
    pair = Job([cfg, cfg.with_updates(loss="hinge")], pool, backend=backend).start()
    assert job.join(300) and pair.join(300)
    t = job.trainer
    assert (t.state, t.step) == ("stopped", 40), t.reason
    assert [r["step"] for r in t.history] == list(range(1, 41))
    assert [s.step for s in t.snapshots] == [0, 10, 20, 30, 40]
    assert t.checkpoint_step == 40 and t.checkpoint_bytes()        # copied from the actor
    assert t.generator() is not None
    a, b = pair.trainers
    assert a.step == b.step == 40
    assert [r["g_loss"] for r in a.history] != [r["g_loss"] for r in b.history]
    assert pool.running == 0


def test_a_ray_actor_that_dies_fails_only_its_job(local_ray):
    backend = RayBackend()
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, epochs=10_000, device="cpu")
    job = Job(cfg, backend=backend, checkpoint_every_s=0.5).start()
    import time
    deadline = time.time() + 120
    while job.trainer.checkpoint_step == 0 and time.time() < deadline:
        time.sleep(0.1)
    assert job.trainer.checkpoint_step > 0
    ray.kill(job._transport.actor)
    assert job.join(120)
    s = job.status()
    assert s.state == "failed" and "Ray actor was lost" in s.message
    assert "is kept" in s.message and job.trainer.checkpoint_bytes()


def test_a_quick_sweep_runs_as_ray_tasks(local_ray, tmp_path, monkeypatch):
    from gan_core.sweeps import run_sweep
    from tests.conftest import make_idx_tree
    data = make_idx_tree(tmp_path / "data", n={"train": 600, "test": 100})
    from gan_core.claims import get_experiment
    summary = run_sweep("sagan", tmp_path / "out", quick=True, seeds=1, steps=6,
                        data_dir=str(data), backend="ray")
    arms = len(get_experiment("sagan").arms)                  # one quick run per arm
    assert summary["runs_done"] == summary["runs_total"] == arms
    results = sorted((tmp_path / "out" / "runs").glob("*/result.json"))
    assert len(results) == arms
    import json
    import os
    workers = {json.loads(p.read_text())["worker"] for p in results}
    assert all(not w.endswith(f":{os.getpid()}") for w in workers)    # trained by Ray workers


def test_a_ray_actor_past_its_memory_share_fails_only_its_job(local_ray):
    """The actor reports its resident memory with each poll; one past the share (here 100 MB,
    less than torch alone) is ended like a lost actor, with the memory message."""
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, epochs=10_000, device="cpu")
    job = Job(cfg, JobPool(max_running=1, memory_mb=100), backend=RayBackend()).start()
    assert job.join(120)
    s = job.status()
    assert s.state == "failed"
    assert "ran out of its memory share (100 MB): try a smaller batch or model" in s.message


def test_a_parked_ray_job_frees_its_reservation_and_goes_on_to_the_same_weights(local_ray):
    """Parked, the job's actor is killed, so the cluster gets its CPU back; on resume a new
    actor, sent the checkpoint's bytes, trains on as the job that never paused."""
    import time

    import torch

    from gan_core.checkpoint import read_checkpoint
    backend = RayBackend()
    pool = JobPool(max_running=1, park_after_s=0.5)
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=200, epochs=10_000,
                      sample_every=10, label_flip=0.1, ema_decay=0.99, device="cpu", seed=4)
    whole = Job(cfg, pool, backend=backend).start()
    assert whole.join(300)
    job = Job(cfg, pool, backend=backend).start()
    deadline = time.time() + 120
    while job.trainer.step < 5:
        assert time.time() < deadline
        time.sleep(0.05)
    job.pause()
    while job.parked is None or ray.available_resources().get("CPU", 0) < 2:
        assert time.time() < deadline, "the paused job was not parked, or kept its CPU"
        time.sleep(0.1)
    parked_at = job.trainer.step
    job.resume()
    assert job.join(300)
    t = job.trainer
    assert (t.state, t.step) == ("stopped", 200) and 0 < parked_at < 200, t.reason
    assert [r["step"] for r in t.history] == list(range(1, 201))
    assert [s.step for s in t.snapshots] == [s.step for s in whole.trainer.snapshots]
    a, b = read_checkpoint(t.checkpoint_path), read_checkpoint(whole.trainer.checkpoint_path)
    for part in ("generator", "generator_ema", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
