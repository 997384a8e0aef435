"""Jobs in worker processes: the server-wide limit and its queue, the cores shared between
running jobs, lockstep pairs, live changes, and faults that stay in their worker."""
import io
import os
import signal
import time

import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.jobs import Job, JobPool


def ring(**kw):
    return TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64, device="cpu",
                       **{"epochs": 1, "seed": 0, **kw})


def wait_for(cond, timeout=60.0, what="condition"):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_pool_limits_running_jobs_and_queues_the_rest_in_order():
    """With one slot, a second job waits (queued, position 1) until the first is done."""
    pool = JobPool(max_running=1)
    j1 = Job(ring(epochs=10_000), pool).start()
    wait_for(lambda: j1.trainer.step > 0, what="the first job to train")
    j2 = Job(ring(), pool).start()
    wait_for(lambda: pool.waiting == 1, what="the second job to queue")
    s2 = j2.status()
    assert s2.state == "queued" and s2.queue_position == 1
    assert "Busy: 1 training now, 0 ahead of you" in s2.message
    assert j2.trainer.step == 0
    j1.stop()
    assert j1.join(30) and j2.join(120)
    assert j1.trainer.state == "stopped"
    assert j2.trainer.state == "finished" and j2.trainer.step == j2.trainer.total_steps
    assert len(j2.trainer.history) == j2.trainer.step          # every record came back
    assert [r["step"] for r in j2.trainer.history] == list(range(1, j2.trainer.step + 1))
    assert pool.running == 0 and pool.waiting == 0 and pool.peak == 1


def test_stopping_a_queued_job_releases_its_place():
    pool = JobPool(max_running=1)
    j1 = Job(ring(epochs=10_000), pool).start()
    j2 = Job(ring(), pool).start()
    wait_for(lambda: pool.waiting == 1, what="the second job to queue")
    j2.stop()
    assert j2.join(5)
    assert j2.trainer.state == "stopped" and "waiting" in j2.trainer.reason
    assert j2.pid is None                        # it never took a worker
    assert pool.waiting == 0
    j1.stop()
    assert j1.join(30)


def test_waiting_for_the_first_step_returns_with_it_or_gives_up_when_queued():
    """The page waits for a started run's first step and grid (FIRST_STEP_WAIT_S) so the click's
    own redraw shows it; a run queued behind another gives up after the short slot wait."""
    pool = JobPool(max_running=1)
    j1 = Job(ring(epochs=10_000), pool).start()
    assert j1.wait_first_step(timeout=120)
    assert j1.trainer.step > 0 and j1.trainer.snapshots
    j2 = Job(ring(), pool).start()
    t0 = time.monotonic()
    assert not j2.wait_first_step(timeout=30, slot_wait=0.3)
    assert time.monotonic() - t0 < 5 and j2.queued and not j2.trainer.snapshots
    j2.stop()
    j1.stop()
    assert j1.join(30) and j2.join(30)
    assert not j2.wait_first_step(timeout=30)              # over: returns at once


def test_the_server_starts_a_spare_worker_only_while_nothing_trains(monkeypatch):
    """A spare worker imports torch and trains a step: on 2 cores, one started by the page's
    rerun after Start took the student's first 15 s from about 90 steps to 7."""
    from lab_app import ui
    asked = []

    class Backend:
        def prewarm(self, n, configs):
            asked.append(n)

    pool = JobPool(max_running=1)
    monkeypatch.setattr(ui, "get_pool", lambda: pool)
    monkeypatch.setattr(ui, "get_backend", lambda keep_idle: Backend())
    job = Job(ring(epochs=10_000), pool).start()
    wait_for(lambda: job.trainer.step > 0, what="the job to train")
    ui.torch_threads()
    assert asked == []
    job.stop()
    assert job.join(30)
    ui.torch_threads()
    assert asked == [1]


def test_the_cores_are_shared_evenly_between_running_jobs_and_rebalanced():
    """A lone job gets every core; with two running each gets half; when one ends the other
    is told it may use them all again."""
    pool = JobPool(max_running=3, cores=4)
    told = {1: [], 2: []}
    assert pool.acquire(1, lambda: False, told[1].append)
    assert told[1] == [4]
    assert pool.acquire(2, lambda: False, told[2].append)
    assert told[1] == [4, 2] and told[2] == [2]
    pool.release(2)
    assert told[1] == [4, 2, 4]
    pool.release(1)
    assert pool.running == 0


def test_a_lone_job_is_offered_every_core_but_the_ring_mlp_uses_one():
    pool = JobPool(max_running=2)
    assert pool.share() == pool.cores
    j = Job(ring(epochs=10_000), pool).start()
    wait_for(lambda: j.pid is not None, what="the worker to start")
    assert j.threads == 1            # the 2-D sets' MLP: ops too small to split
    j.stop()
    assert j.join(30)


def test_running_workers_are_told_their_share_of_the_cores(tmp_path):
    """An image model alone trains on every core; when a second job starts both drop to half,
    and when it ends the first takes them all back (applied between two steps)."""
    from PIL import Image
    for i in range(40):
        Image.new("L", (28, 28), color=i * 5).save(tmp_path / f"{i}.png")
    cfg = TrainConfig(dataset=f"folder:{tmp_path}", model="classroom", batch_size=8,
                      epochs=10_000, sample_every=10**6, device="cpu")
    pool = JobPool(max_running=2, cores=4)
    first = Job(cfg, pool).start()
    wait_for(lambda: first.trainer.step > 0 and first.threads == 4, what="4 threads alone")
    second = Job(cfg.with_updates(seed=1), pool).start()
    wait_for(lambda: first.threads == 2 and second.threads == 2, what="2 threads each")
    second.stop()
    assert second.join(30)
    wait_for(lambda: first.threads == 4, what="4 threads again")
    first.stop()
    assert first.join(30)


def test_lockstep_pair_shares_start_and_stays_in_step():
    """One worker trains both sides in lockstep, from the same weights and batches."""
    a, b = ring(loss="focal", epochs=2), ring(loss="nonsaturating", epochs=2)
    job = Job([a, b]).start()
    assert job.join(120)
    va, vb = job.trainers
    assert va.state == vb.state == "finished"
    assert va.step == vb.step == va.total_steps
    assert va.dataset is vb.dataset
    # Different losses, so the curves differ although everything else is shared.
    assert [r["g_loss"] for r in va.history] != [r["g_loss"] for r in vb.history]
    assert [s.step for s in va.snapshots] == [s.step for s in vb.snapshots]
    ca, cb = (torch.load(io.BytesIO(v.checkpoint_bytes()), weights_only=True)
              for v in (va, vb))
    assert ca["step"] == cb["step"] == va.step


def test_a_lockstep_pair_splits_the_threads_between_its_trainers(tmp_path, monkeypatch):
    """Both sides of a pair step at once, each on its own thread with its own OpenMP team, so
    each gets half the job's threads (the whole share each put 4 spinning threads on 2 cores:
    1.2 against 8-9 steps/s per side in a Compare pair); a new share reaches both sides."""
    import threading

    from PIL import Image

    import gan_core.workers.core as core_module
    from gan_core.workers import Command, JobSpec, WorkerCore
    for i in range(16):
        Image.new("L", (28, 28), color=i * 15).save(tmp_path / f"{i}.png")
    seen = []                                    # (side, step, torch threads of that thread)

    class Recorded(core_module.Trainer):
        def __init__(self, config, **kw):
            super().__init__(config, **kw)
            side = 0 if "dataset" not in kw else 1
            self.add_callback("step", lambda tr, rec: seen.append(
                (side, tr.step, torch.get_num_threads())))

    monkeypatch.setattr(core_module, "Trainer", Recorded)
    cfg = TrainConfig(dataset=f"folder:{tmp_path}", model="classroom", batch_size=8,
                      epochs=10_000, sample_every=10**6, device="cpu")
    spec = JobSpec(configs=[cfg.to_dict(), cfg.with_updates(loss="focal").to_dict()])
    core = WorkerCore(1, spec, str(tmp_path), threads=4)
    before = torch.get_num_threads()
    runner = threading.Thread(target=core.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: len(seen) >= 6, what="the pair to train")
        core.command(Command.THREADS, 2)          # another student started: half the cores
        mark = len(seen)
        wait_for(lambda: len(seen) >= mark + 8, what="steps on the new share")
    finally:
        core.command(Command.STOP)
        runner.join(60)
        torch.set_num_threads(before)
    assert not runner.is_alive()
    early = seen[:6]
    assert {side for side, _, _ in early} == {0, 1}
    assert all(n == 2 for _, _, n in early), early
    late = seen[mark + 4:]                       # after both sides passed a step boundary
    assert {side for side, _, _ in late} == {0, 1}
    assert all(n == 1 for _, _, n in late), late


def test_lockstep_stop_ends_both():
    job = Job([ring(epochs=1000), ring(epochs=1000, loss="hinge")]).start()
    wait_for(lambda: job.trainers[0].step >= 3, what="the pair to train")
    job.stop()
    assert job.join(30)
    a, b = job.trainers
    assert a.state == b.state == "stopped"
    assert abs(a.step - b.step) <= 1


def test_live_changes_pause_and_history_since():
    job = Job(ring(epochs=1000, sample_every=10**6)).start()
    wait_for(lambda: job.trainer.step >= 5, what="training")
    job.pause()
    wait_for(lambda: job.trainer.state == "paused", what="the pause")
    # A pause writes a checkpoint (so a download or a killed worker finds this step).
    wait_for(lambda: job.trainer.checkpoint_step == job.trainer.step, what="the checkpoint")
    with pytest.raises(ValueError, match="cannot change batch_size"):
        job.trainer.update_settings(batch_size=3)
    job.trainer.update_settings(loss="hinge")
    paused_at = job.trainer.step
    job.resume()
    wait_for(lambda: job.trainer.markers, what="the marker")
    job.stop()
    assert job.join(30)
    marker = job.trainer.markers[0]
    assert marker["step"] == paused_at and marker["changes"] == {"loss": "hinge"}
    assert job.trainer.config.loss == "hinge"
    later = job.history_since(paused_at)
    assert later and all(r["step"] > paused_at for r in later)
    assert later[-1]["loss"] == "hinge"


def test_a_failure_inside_the_worker_is_reported_on_the_job(tmp_path):
    """The data vanishes between the check on the server and the load in the worker."""
    from PIL import Image
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(40):
        Image.new("L", (28, 28), color=i * 5).save(folder / f"{i}.png")
    job = Job(TrainConfig(dataset=f"folder:{folder}", model="classroom", batch_size=8,
                          max_steps=3, device="cpu"))
    for p in folder.iterdir():
        p.unlink()
    job.start()
    assert job.join(60)
    s = job.status()
    assert s.state == "failed"
    assert "DatasetError" in job.error and str(folder) in s.message


def test_samples_come_back_as_private_copies_not_shared_memory(tmp_path):
    """Sample grids and probes arrive inside the message itself. multiprocessing's own pickler
    would move each tensor into shared memory, copying it with torch's thread pool on the
    worker's sending thread: a second OpenMP team, which stops libgomp spinning the training
    threads and cost a lone student 15-20% of the command line's speed (`./lab bench --app`)."""
    from PIL import Image
    for i in range(40):
        Image.new("L", (28, 28), color=i * 5).save(tmp_path / f"{i}.png")
    job = Job(TrainConfig(dataset=f"folder:{tmp_path}", model="classroom", batch_size=8,
                          epochs=10, max_steps=6, sample_every=2, device="cpu")).start()
    assert job.join(120) and job.trainer.step == 6
    snaps = job.trainer.snapshots
    assert len(snaps) >= 3
    for s in snaps:
        assert s.samples.dtype == torch.uint8 and s.samples.shape[-2:] == (28, 28)
        assert not s.samples.is_shared()
        assert s.probe is not None and not s.probe.grads.is_shared()


def test_killing_a_worker_mid_run_fails_only_that_run_and_keeps_its_checkpoint():
    """SIGKILL one student's worker: that run fails with a clear message and its last
    checkpoint; the other student's run, the pool and this process carry on."""
    pool = JobPool(max_running=2)
    victim = Job(ring(epochs=10_000, sample_every=50), pool, checkpoint_every_s=0.5).start()
    other = Job(ring(epochs=3, seed=1), pool).start()
    wait_for(lambda: victim.trainer.checkpoint_step > 0 and victim.trainer.step > 20,
             what="a checkpoint from the victim")
    assert victim.pid != other.pid and victim.pid != os.getpid()
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.join(30)
    s = victim.status()
    assert s.state == "failed"
    assert "SIGKILL" in s.message and "checkpoint of step" in s.message
    kept = victim.trainer.checkpoint_step
    assert 0 < kept <= victim.trainer.step
    assert f"checkpoint of step {kept} is kept" in s.message
    ck = torch.load(io.BytesIO(victim.checkpoint_bytes()), weights_only=True)
    assert ck["step"] == kept and len(ck["history"]) == kept
    assert other.join(120)
    assert other.trainer.state == "finished" and other.trainer.step == other.trainer.total_steps
    assert pool.running == 0 and pool.waiting == 0
    # The server takes new jobs afterwards (a fresh worker replaces the killed one).
    again = Job(ring(max_steps=5), pool).start()
    assert again.join(60) and again.trainer.step == 5 and again.pid != victim.pid


def test_a_worker_that_outgrows_its_memory_share_ends_only_its_run(tmp_path):
    """A worker whose resident memory grows past the pool's share (here 1,000 MB; a worker with
    torch and a small job holds about 700) is ended with a message that says what to change;
    this process carries on, and the next job trains under the same share."""
    from tests.conftest import make_idx_tree
    data = make_idx_tree(tmp_path / "data", n={"train": 600, "test": 100})
    pool = JobPool(max_running=2, memory_mb=1000)
    hungry = Job(TrainConfig(dataset="mnist", model="dcgan64", batch_size=256, epochs=10_000,
                             data_dir=str(data), download=False, device="cpu"), pool).start()
    assert hungry.join(120), "the worker was not stopped at its memory share"
    s = hungry.status()
    assert s.state == "failed"
    assert ("its worker ran out of its memory share (1,000 MB): try a smaller batch or model"
            in s.message)
    assert "is kept" in s.message or "no checkpoint had been written yet" in s.message
    assert "everyone else's runs carry on" in s.message
    assert pool.running == 0 and pool.waiting == 0
    after = Job(ring(max_steps=30), pool).start()
    assert after.join(60) and after.trainer.state == "stopped" and after.trainer.step == 30
    assert after.pid != hungry.pid


def test_the_default_memory_share_splits_the_machine_between_the_running_workers(monkeypatch):
    from gan_core.workers import machine
    monkeypatch.delenv("GAN_LAB_WORKER_MEMORY_MB", raising=False)
    monkeypatch.setattr(machine, "machine_memory_mb", lambda: 24_000)
    assert machine.worker_memory_mb(2) == 8_000 and JobPool(2).memory_mb == 8_000
    assert machine.worker_memory_mb(30) == machine.MIN_WORKER_MEMORY_MB
    monkeypatch.setenv("GAN_LAB_WORKER_MEMORY_MB", "3000")
    assert JobPool(2).memory_mb == 3000
    monkeypatch.setenv("GAN_LAB_WORKER_MEMORY_MB", "0")
    assert JobPool(2).memory_mb is None                      # 0: no cap


def test_workers_run_nicer_than_the_server():
    """So that a page's redraw gets a core at once while every core trains."""
    job = Job(ring(max_steps=5)).start()
    wait_for(lambda: job.pid is not None, what="the worker to start")
    server = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, job.pid) > server or server == 19
    assert job.join(60)


def test_pool_rejects_zero_slots():
    with pytest.raises(ValueError):
        JobPool(0)


# --- fair slots (issue 30) --------------------------------------------------------------------

def test_a_paused_run_gives_its_slot_back_and_queues_again_on_resume():
    """Two students paused and closed their tabs; a third waited at step 0. A paused run now
    frees its slot; on Resume it is 'queued: position N' until one is free again."""
    pool = JobPool(max_running=1)
    j1 = Job(ring(epochs=10_000, sample_every=10**6), pool).start()
    wait_for(lambda: j1.trainer.step > 0, what="the first run to train")
    j1.pause()
    wait_for(lambda: pool.running == 0, what="the paused run to give its slot back")
    assert j1.status().state == "paused"
    assert j1.status().message.startswith("paused (slot given back)")
    j2 = Job(ring(epochs=10_000, sample_every=10**6), pool).start()
    wait_for(lambda: j2.trainer.step > 0, what="the second run to get the slot")
    paused_at = j1.trainer.step
    j1.resume()
    wait_for(lambda: j1.status().state == "queued", what="the resumed run to queue")
    s = j1.status()
    assert s.message.startswith("queued: position 1") and s.step == paused_at
    time.sleep(1.0)
    assert j1.trainer.step == paused_at                  # it waits, paused, for the slot
    j2.stop()
    wait_for(lambda: j1.trainer.step > paused_at, what="the first run to go on")
    assert j1.status().state == "running" and pool.running == 1
    j1.stop()
    assert j1.join(30) and j2.join(30)
    assert pool.running == 0 and pool.waiting == 0


def test_a_run_nobody_watches_is_paused_then_stopped_and_frees_its_slot():
    pool = JobPool(max_running=1)
    job = Job(ring(epochs=10_000, sample_every=10**6), pool, idle_pause_s=1.0,
              idle_stop_s=4.0).start()
    wait_for(lambda: job.trainer.step > 0, what="training")
    job.seen()                                           # the page is open ...
    wait_for(lambda: job.status().state == "paused", timeout=20, what="the idle pause")
    assert "slot given back" in job.status().message and "Resume" in job.status().message
    wait_for(lambda: pool.running == 0, what="the slot")
    assert job.join(30)                                  # ... then closed for good
    assert job.trainer.state == "stopped" and "nobody had this run's page open" in \
        job.trainer.reason
    assert pool.running == 0 and pool.waiting == 0


def test_one_student_holds_at_most_one_running_and_one_waiting_run():
    """One browser with 4 Train tabs and 3 quick reruns held 2 of 2 slots and 6 places."""
    pool = JobPool(max_running=2)
    a1 = Job(ring(epochs=10_000), pool, owner="alice").start()
    a2 = Job(ring(epochs=10_000), pool, owner="alice").start()
    wait_for(lambda: a1.trainer.step > 0, what="alice's first run")
    time.sleep(0.5)
    assert pool.running == 1 and a2.status().state == "queued"   # a free slot, but not hers
    with pytest.raises(ValueError, match="You already have a run training and one waiting: "
                                         "stop one first"):
        Job(ring(), pool, owner="alice").start()
    b = Job(ring(epochs=10_000), pool, owner="bob").start()
    wait_for(lambda: b.trainer.step > 0, what="bob's run to take the free slot")
    a1.stop()                                            # she may start another at once
    a3 = Job(ring(max_steps=3), pool, owner="alice").start()
    for j in (a2, a3, b):
        j.stop()
    for j in (a1, a2, a3, b):
        assert j.join(30)
    assert pool.running == 0 and pool.waiting == 0


def test_the_queue_puts_students_with_nothing_training_first():
    """No workers: the pool's own order. Alice trains; her second job came first, but Bob and
    Carol, who have nothing training, go before it; among them, first come, first served."""
    pool = JobPool(max_running=2)
    pool.request(1, owner="alice")
    pool.request(5, owner="dave")
    assert pool.poll(1) and pool.poll(5)
    pool.request(2, owner="alice")
    pool.request(3, owner="bob")
    pool.request(4, owner="carol")
    assert [pool.position(j) for j in (3, 4, 2)] == [1, 2, 3]
    pool.release(5)
    assert not pool.poll(2) and not pool.poll(4) and pool.poll(3)     # Bob, not Alice
    pool.release(1)                  # Alice has nothing training now: first come, first served
    assert [pool.position(j) for j in (2, 4)] == [1, 2]
    assert not pool.poll(4) and pool.poll(2)


def test_the_owner_limit_counts_paused_runs_and_frees_on_leave():
    pool = JobPool(max_running=2)
    pool.admit(1, "alice")
    pool.admit(2, "alice")
    with pytest.raises(ValueError, match="stop one first"):
        pool.admit(3, "alice")
    pool.admit(3, "bob")
    pool.leave(1)
    pool.admit(4, "alice")
    pool.admit(5, None)                                  # jobs without an owner: no limit


# --- the per-run budget (issue 30) -----------------------------------------------------------

def test_a_model_over_the_parameter_cap_is_refused_before_any_worker_starts():
    """The largest Train page model wrote a 452 MB checkpoint: refused at once, saying what
    to change."""
    from gan_core.budget import RunBudget
    big = TrainConfig(dataset="ring", model="mlp", latent_dim=2, device="cpu")
    with pytest.raises(ValueError, match=r"million parameters.*smaller depth or latent size"):
        Job(big, JobPool(1), budget=RunBudget(max_params=1_000))
    Job(big, JobPool(1), budget=RunBudget())                 # the default lets it through


def test_the_budget_verdicts_name_what_to_change():
    from gan_core.budget import RunBudget, parameter_count
    from gan_core.models import ModelSpec
    b = RunBudget(max_seconds=30 * 60, warmup_s=30)
    assert b.verdict(10, 5, 78_000, 64) is None                      # still warming up
    assert b.verdict(60, 6_000, 7_800, 64) is None                   # on course
    slow = b.verdict(60, 1, 7_800, 64)               # 1 image/s: hours per epoch
    assert "images/s" in slow and "30 minutes" in slow and "fewer epochs" in slow
    assert "limit of 30 minutes" in b.verdict(30 * 60, 7_000, 7_800, 64)
    assert RunBudget(max_seconds=None).verdict(10**6, 1, 10**9, 1) is None
    assert parameter_count(ModelSpec(model="wide", depth="large", latent_dim=1000)) > 20e6


def test_a_run_far_too_slow_for_its_budget_is_stopped_with_the_reason():
    from gan_core.budget import RunBudget
    pool = JobPool(max_running=1)
    job = Job(ring(epochs=10_000, sample_every=10**6), pool,
              budget=RunBudget(max_seconds=3.0, warmup_s=1.0)).start()
    assert job.join(60)
    assert job.trainer.state == "stopped"
    assert "stopped by the server: at" in job.trainer.reason and "images/s" in \
        job.trainer.reason
    assert pool.running == 0


def test_the_server_limits_come_from_the_environment_with_defaults():
    from lab_app import limits
    b = limits.run_budget({})
    assert b.max_seconds == 30 * 60 and b.max_params == 8_000_000
    assert limits.idle_pause_s({}) == 120 and limits.idle_stop_s({}) == 1800
    assert limits.disk_quota_bytes({}) == 2000 * 2**20
    assert limits.run_budget({"GAN_LAB_MAX_RUN_MINUTES": "0"}).max_seconds is None
    assert limits.idle_pause_s({"GAN_LAB_IDLE_PAUSE_S": "oops"}) == 120
    assert not limits.keep_full_checkpoints({})
