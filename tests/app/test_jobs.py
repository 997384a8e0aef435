"""Background jobs: the server-wide limit, the queue, lockstep pairs, stop while waiting."""
import threading
import time

import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.data import load_toy
from gan_core.jobs import Job, JobPool
from gan_core.trainer import Trainer


def toy_trainer(**kw):
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64,
                      **{"epochs": 1, "seed": 0, **kw})
    return Trainer(cfg, dataset=load_toy("ring", n=640, seed=0))


def test_pool_limits_running_jobs_and_queues_the_rest_in_order():
    """With one slot, a second job waits (queued, position 1) until the first is done."""
    pool = JobPool(max_running=1)
    first = toy_trainer(epochs=50)
    gate = threading.Event()
    first.add_callback("step", lambda tr, r: gate.wait(10))   # hold the slot
    j1 = Job(first, pool).start()
    deadline = time.time() + 10
    while pool.running == 0 and time.time() < deadline:
        time.sleep(0.01)
    j2 = Job(toy_trainer(), pool).start()
    while pool.waiting == 0 and time.time() < deadline:
        time.sleep(0.01)
    s2 = j2.status()
    assert s2.state == "queued" and s2.queue_position == 1
    assert "Busy" in s2.message
    assert j2.trainer.step == 0
    j1.stop()
    gate.set()
    assert j1.join(20) and j2.join(60)
    assert j1.trainer.state == "stopped"
    assert j2.trainer.state == "finished" and j2.trainer.step == j2.trainer.total_steps
    assert pool.running == 0 and pool.waiting == 0


def test_stopping_a_queued_job_releases_its_place():
    pool = JobPool(max_running=1)
    blocker = toy_trainer(epochs=50)
    gate = threading.Event()
    blocker.add_callback("step", lambda tr, r: gate.wait(10))
    j1 = Job(blocker, pool).start()
    j2 = Job(toy_trainer(), pool).start()
    deadline = time.time() + 10
    while pool.waiting == 0 and time.time() < deadline:
        time.sleep(0.01)
    j2.stop()
    assert j2.join(5)
    assert j2.trainer.state == "stopped" and "waiting" in j2.trainer.reason
    assert pool.waiting == 0
    j1.stop()
    gate.set()
    assert j1.join(10)


def test_lockstep_pair_shares_start_and_stays_in_step():
    """Two trainers of one seed start from identical weights and see the same batches."""
    a, b = toy_trainer(loss="focal", epochs=2), toy_trainer(loss="nonsaturating", epochs=2)
    for pa, pb in zip(a.G.parameters(), b.G.parameters()):
        assert torch.equal(pa, pb)
    gaps = []
    a.add_callback("step", lambda tr, r: gaps.append(abs(a.step - b.step)))
    job = Job([a, b]).start()
    assert job.join(60)
    assert a.state == b.state == "finished"
    assert a.step == b.step == a.total_steps
    assert max(gaps) <= 1
    # Different losses, so the curves differ although everything else is shared.
    assert [r["g_loss"] for r in a.history] != [r["g_loss"] for r in b.history]
    assert [s.step for s in a.snapshots] == [s.step for s in b.snapshots]


def test_lockstep_stop_ends_both():
    a, b = toy_trainer(epochs=100), toy_trainer(epochs=100, loss="hinge")
    job = Job([a, b]).start()
    deadline = time.time() + 10
    while a.step < 3 and time.time() < deadline:
        time.sleep(0.01)
    job.stop()
    assert job.join(10)
    assert a.state == b.state == "stopped"
    assert abs(a.step - b.step) <= 1


def test_a_failing_worker_reports_instead_of_dying_silently():
    t = toy_trainer()

    def boom(tr, r):
        raise RuntimeError("disk on fire")
    t.add_callback("step", boom)
    job = Job(t).start()
    assert job.join(10)
    assert job.status().state == "failed"
    assert "disk on fire" in job.error


def test_pool_rejects_zero_slots():
    with pytest.raises(ValueError):
        JobPool(0)
