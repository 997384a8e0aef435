"""Parked jobs (issue 30): a run paused for longer than the pool's grace time has its worker
ended, so thirty paused runs do not hold thirty workers' memory; on resume a new worker goes on
from its checkpoint and rest state, giving the weights of the run that was never paused."""
import os

import torch

from gan_core.checkpoint import read_checkpoint
from gan_core.jobs import PARKED, Job, JobPool
from gan_core.workers import process_rss_mb

from tests.app.test_jobs import ring, wait_for

# Label flipping and G's running average use their own streams and state. Batches of 64 of the
# ring's 10,000 points make 156 steps an epoch: the pause lands mid-epoch, and the run goes on
# into the next epoch.
CONFIG = {"epochs": 10_000, "max_steps": 200, "sample_every": 10, "label_flip": 0.1,
          "ema_decay": 0.99, "seed": 3}


def gone(pid) -> bool:
    return pid is not None and process_rss_mb(pid) is None and not os.path.exists(f"/proc/{pid}")


def park(job, at_least: int = 5):
    """Let the job train a little, pause it, and wait until it is parked; its old worker's pid."""
    wait_for(lambda: job.trainer.step >= at_least, what="training")
    job.pause()
    wait_for(lambda: job.parked is not None, timeout=60, what="the paused job to be parked")
    return job


def final_state(job) -> dict:
    assert job.trainer.checkpoint_step == job.trainer.step
    return read_checkpoint(job.trainer.checkpoint_path)


def assert_same_weights(a: dict, b: dict):
    for part in ("generator", "generator_ema", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for opt in ("opt_g", "opt_d"):
        for (ka, sa), (kb, sb) in zip(a[opt]["state"].items(), b[opt]["state"].items(),
                                      strict=True):
            assert ka == kb and torch.equal(sa["exp_avg"], sb["exp_avg"]), (opt, ka)


def test_a_parked_job_ends_its_worker_and_goes_on_to_the_same_weights():
    pool = JobPool(max_running=1, park_after_s=0.5)
    whole = Job(ring(**CONFIG), pool).start()
    assert whole.join(120)
    job = Job(ring(**CONFIG), pool).start()
    wait_for(lambda: job.pid is not None, what="the worker")
    first_pid = job.pid
    park(job)
    parked_at = job.trainer.step
    assert 0 < parked_at < 156
    wait_for(lambda: gone(first_pid), timeout=10, what="the parked worker to end")
    assert job.pid is None and pool.running == 0
    status = job.status()
    assert (status.state, status.message, status.step) == ("paused", PARKED, parked_at)
    assert job.alive and job.trainer.history[-1]["step"] == parked_at      # the page keeps all
    job.resume()
    assert job.join(120)
    t = job.trainer
    assert (t.state, t.step) == ("stopped", 200), t.reason
    assert [r["step"] for r in t.history] == list(range(1, 201))          # no gap, no repeat
    assert [s.step for s in t.snapshots] == [s.step for s in whole.trainer.snapshots]
    assert [r["d_loss"] for r in t.history] == [r["d_loss"] for r in whole.trainer.history]
    assert_same_weights(final_state(job), final_state(whole))
    assert pool.running == 0 and pool.waiting == 0


def test_a_resumed_parked_job_queues_for_a_slot_and_takes_settings_changed_while_parked():
    pool = JobPool(max_running=1, park_after_s=0.5)
    job = park(Job(ring(**{**CONFIG, "max_steps": None}), pool).start())
    other = Job(ring(epochs=10_000), pool).start()
    wait_for(lambda: other.trainer.step > 0, what="another run to take the slot")
    job.trainer.update_settings(lr_g=1e-3)
    job.resume()
    wait_for(lambda: job.status().state == "queued", what="the resumed job to queue")
    parked_at = job.trainer.step
    other.stop()
    wait_for(lambda: job.trainer.step > parked_at + 2, what="the parked job to go on")
    assert job.trainer.config.lr_g == 1e-3
    assert job.trainer.markers[-1]["changes"] == {"lr_g": 1e-3}
    assert job.trainer.markers[-1]["step"] == parked_at
    job.stop()
    assert job.join(60) and other.join(60)
    assert pool.running == 0 and pool.waiting == 0


def test_pause_and_resume_within_the_grace_time_keeps_the_worker():
    pool = JobPool(max_running=1)                  # the default grace time: 30 s
    job = Job(ring(epochs=10_000), pool).start()
    wait_for(lambda: job.trainer.step > 0 and job.pid is not None, what="training")
    pid = job.pid
    job.pause()
    wait_for(lambda: pool.running == 0, what="the slot to be given back")
    paused_at = job.trainer.step
    job.resume()
    wait_for(lambda: job.trainer.step > paused_at, what="the run to go on")
    assert job.pid == pid and job.parked is None and not gone(pid)
    job.stop()
    assert job.join(30)


def test_a_parked_job_that_is_stopped_keeps_its_checkpoint_and_ends():
    ended = []
    pool = JobPool(max_running=1, park_after_s=0.5)
    job = Job(ring(**CONFIG), pool, owner="alice").on_end(lambda v, side: ended.append(v.state))
    park(job.start())
    step = job.trainer.step
    job.stop()
    assert job.join(10)
    t = job.trainer
    assert (t.state, t.reason) == ("stopped", f"stopped by the user at step {step}")
    assert t.checkpoint_step == step and read_checkpoint(t.checkpoint_path)["step"] == step
    assert ended == ["stopped"] and pool.running == 0 and pool.waiting == 0
    Job(ring(max_steps=1), pool, owner="alice").start().join(60)    # she may start another


def test_a_lockstep_pair_is_parked_and_goes_on_together():
    # 600 steps: the page sees step 5 some while after the worker took it, and a loaded machine
    # (CI) let a 60-step pair finish before the pause arrived, leaving nothing to park.
    pool = JobPool(max_running=1, park_after_s=0.5)
    a = ring(max_steps=600, epochs=10_000, sample_every=10)
    pair = park(Job([a, a.with_updates(lr_d=1e-3)], pool).start())
    steps = [v.step for v in pair.trainers]
    assert steps[0] == steps[1] < 600 and pair.status().message == PARKED
    pair.resume()
    assert pair.join(120)
    for v in pair.trainers:
        assert (v.state, v.step) == ("stopped", 600), v.reason
        assert [r["step"] for r in v.history] == list(range(1, 601))
