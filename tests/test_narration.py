"""The Train page's narration (lab_app.narration) on a real short run: looks are taken once per
snapshot, the ring lesson's collapse is named, and the charts get one band per episode."""
import torch

from gan_core.trainer import Trainer
from lab_app import narration
from lab_app.lessons import LESSONS
from lab_app.narration import Narrator
from lab_app.settings import config_from_params


def _ring_run(params, steps):
    cfg, errors = config_from_params({**params, "seed": "0"})
    assert errors == {}
    tr = Trainer(cfg.with_updates(max_steps=steps, sample_every=10))
    torch.set_num_threads(1)
    tr.run()
    return tr


def test_the_ring_collapse_lesson_is_named_and_banded():
    tr = _ring_run(LESSONS["toy-collapse"].params, 300)
    n = Narrator(tr.config.dataset, True, tr.dataset.data)
    episodes = n.episodes(tr.history, tr.snapshots)
    holding, ended = narration.split(episodes)
    assert any(e.kind == "collapse" for e in holding), episodes
    assert "clump" in next(e.text for e in holding if e.kind == "collapse")
    bands = narration.bands(episodes, tr.history[-1]["step"])
    assert len(bands) == len(episodes)
    assert all(b["start"] <= b["end"] <= tr.step for b in bands)


def test_looks_are_taken_once_per_snapshot_and_a_healthy_ring_stays_quiet():
    tr = _ring_run(LESSONS["fold-the-plane"].params, 300)
    n = Narrator(tr.config.dataset, True, tr.dataset.data)
    first = n.looks(tr.snapshots)
    again = n.looks(tr.snapshots)
    assert [lk.step for lk in first] == [s.step for s in tr.snapshots]
    assert all(a is b for a, b in zip(first, again))         # cached, not recomputed
    assert first[0].motion is None and first[1].motion is not None
    assert n.episodes(tr.history, tr.snapshots) == []


def test_an_image_run_without_a_judge_still_reads_its_history():
    n = Narrator("folder:x", False, judge=None)
    hist = [dict(step=s, d_real=0.99, d_fake=0.01, g_loss=5.0, d_loss=0.02, loss="minimax")
            for s in range(1, 201)]
    kinds = [e.kind for e in n.episodes(hist, [])]
    assert kinds == ["g_vanished", "d_wins"]
