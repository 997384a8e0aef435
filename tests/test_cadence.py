"""A watched run's extras (the views' probes, the quality evaluations) each take a bounded share
of its training time (gan_core.cadence), without changing what it trains; the job says when
its next quality check comes."""
from __future__ import annotations

import time

import pytest
import torch

from gan_core import probes
from gan_core.cadence import Cadence
from gan_core.config import TrainConfig
from gan_core.trainer import Trainer


def simulate(cadence: Cadence, steps: int, step_s: float, call_s: float, every: int) -> float:
    """A run on a made-up clock: each step takes step_s, each call call_s; the share."""
    elapsed = 0.0
    for step in range(1, steps + 1):
        elapsed += step_s
        if cadence.due(step, every, elapsed):
            cadence.spent(call_s, step, every, elapsed)
    return cadence.seconds / elapsed


@pytest.mark.parametrize("call_s", [0.002, 0.1, 2.0])
def test_an_extra_of_any_cost_takes_at_most_its_share_over_a_run(call_s):
    """Calls of 0.2x, 10x and 200x a step, wanted every step: over 200 s of training each
    takes at most 5% (plus the allowance and one call); the cheap one runs every time."""
    c = Cadence(share=0.05, allowance=0.5)
    share = simulate(c, 20_000, 0.01, call_s, every=1)
    assert share <= 0.05 + (0.5 + call_s) / 200
    assert share >= 0.8 * min(0.05, call_s / 0.01)          # and it does run, as often as it may
    if call_s / 0.01 < 0.05:
        assert c.calls == 20_000


def test_the_next_call_is_a_multiple_of_every_and_the_plan_says_which():
    c = Cadence(share=0.05, allowance=0.0)
    assert c.planned(0, 50) == 50
    assert c.due(50, 50, elapsed=5.0)
    c.spent(1.0, 50, 50, elapsed=5.0)      # 1 s against 5 s: the next waits for 40 s of steps
    nxt = c.planned(50, 50)
    assert nxt % 50 == 0 and nxt == c.next_step
    assert nxt == 400                        # (1 + 1) / 0.05 = 40 s at 0.1 s a step
    assert not any(c.due(s, 50, s / 10) for s in range(100, nxt, 50))
    assert c.due(nxt, 50, nxt / 10)


def test_the_sides_of_a_lockstep_pair_are_told_alike_at_each_step():
    """The first side's call is planned and spent before the second asks at the same step: it
    is told yes all the same, so both sides measure at the same steps."""
    c = Cadence(share=0.05, allowance=0.0)
    for step in range(1, 2000):
        a = c.due(step, 10, step * 0.01, side="a")
        if a:
            c.spent(0.05, step, 10, step * 0.01, side="a")
        b = c.due(step, 10, step * 0.01, side="b")
        assert a == b, step
        if b:
            c.spent(0.05, step, 10, step * 0.01, side="b")
    assert 5 <= c.calls // 2 < 199
    assert c.measured_share() <= 0.05 + 0.1 / 20


def test_slow_motion_lets_every_call_run():
    c = Cadence(share=0.05, allowance=0.0)
    c.free = True
    for step in range(1, 50):
        assert c.due(step, 1, step * 0.001)
        c.spent(1.0, step, 1, step * 0.001)


def ring_run(**kw) -> Trainer:
    return Trainer(TrainConfig(**{**dict(dataset="ring", model="mlp", latent_dim=2,
                                         batch_size=32, epochs=100, max_steps=300, seed=5,
                                         device="cpu", sample_every=1), **kw}).validate())


def test_a_fake_slow_probe_keeps_its_measured_share_bounded(monkeypatch):
    """Views that cost 25 ms, wanted at every step of a few ms (unpaced: several times the
    training time): with the cadence they take at most 5% of the training time, plus three
    calls (the first two, before a step's time is known, and the run's last)."""
    real = probes.snapshot_probe

    def slow(trainer, samples):
        time.sleep(0.025)
        return real(trainer, samples)
    monkeypatch.setattr(probes, "snapshot_probe", slow)
    t = ring_run()
    cadence = Cadence(share=0.05, allowance=0.0)
    probes.attach(t, cadence)
    t.run()
    assert t.step == 300 and cadence.calls >= 3
    per_call = cadence.seconds / cadence.calls
    assert per_call >= 0.025
    assert cadence.seconds / t.elapsed <= 0.05 + 3 * per_call / t.elapsed
    with_probes = [s for s in t.snapshots if s.probe is not None]
    assert with_probes[-1] is t.snapshots[-1]          # the run's last always has its views
    assert len(with_probes) < len(t.snapshots) / 3


def test_evaluations_put_off_change_nothing_that_trains():
    """The same seed trains the same weights whether every evaluation ran or most were put
    off (evaluations draw from their own seeded generator, never the training streams)."""
    every_time, paced = ring_run(eval_every=1), ring_run(eval_every=1)
    paced.evaluation.cadence = Cadence(share=0.001, allowance=0.0)
    every_time.run()
    paced.run()
    measured = [r for r in paced.history if "m_modes_covered" in r]
    assert len(measured) < len([r for r in every_time.history if "m_modes_covered" in r]) / 3
    for a, b in ((every_time.G, paced.G), (every_time.D, paced.D)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
    assert [r["d_loss"] for r in every_time.history] == [r["d_loss"] for r in paced.history]
    nxt = paced.evaluation.next_step(paced)
    assert nxt is not None and nxt > paced.step


def test_a_job_says_when_its_next_quality_check_comes_and_sends_grids_with_their_views():
    from gan_core.jobs import Job
    job = Job(TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64,
                          epochs=10_000, eval_every=7, sample_every=3, device="cpu")).start()
    try:
        deadline = time.time() + 120
        while job.trainer.step < 60 or not job.trainer.next_eval:
            assert time.time() < deadline and job.alive, "the job did not get going"
            time.sleep(0.05)
        status = job.status()
        assert status.next_eval % 7 == 0
        assert 0 < job.trainer.eval_share < 1 and 0 < job.trainer.views_share < 1
    finally:
        job.stop()
        job.join(60)
    assert job.status().next_eval is None
    snaps = job.trainer.snapshots
    assert snaps and all(s.probe is not None and s.d_map is not None for s in snaps)
