"""Quick reruns hold a training slot no longer than a training run may (issue 30)."""
from gan_core.budget import RunBudget
from gan_core.jobs import JobPool, SweepJob


def test_a_quick_rerun_past_the_run_budget_is_stopped_and_frees_its_slot(tmp_path, idx_tree):
    fake_mnist = idx_tree(tmp_path / "data", n={"train": 600, "test": 100})
    pool = JobPool(max_running=1)
    job = SweepJob("small-data", tmp_path / "q", pool=pool, seeds=1, steps=100_000,
                   data_dir=str(fake_mnist), budget=RunBudget(max_seconds=3.0)).start()
    assert job.join(timeout=120)
    assert job.state == "stopped", job.error
    assert job.message.startswith("stopped by the server: it reached this server's limit of "
                                  "0.05 minutes of training per run")
    assert job.done == 0 and pool.running == 0 and pool.waiting == 0
