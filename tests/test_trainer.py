"""The training loop: records, callbacks, determinism, schedules, live control and failure."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import pytest
import torch

from gan_core.losses import LOSSES, Loss
from gan_core.trainer import HISTORY_FIELDS, Trainer

NUMERIC_FIELDS = [f for f in HISTORY_FIELDS if f != "loss"]
LOSS_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def clone_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def states_differ(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


# --- records and callbacks -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["image", "points"])
def test_history_records(kind, image_dataset, ring_dataset, image_cfg, ring_cfg):
    """Every step appends a record with all HISTORY_FIELDS, finite numbers, D outputs in [0,1]."""
    if kind == "image":
        tr = Trainer(image_cfg(max_steps=3), image_dataset)
    else:
        tr = Trainer(ring_cfg(max_steps=5), ring_dataset)
    state = tr.run()
    assert state == "stopped" and "max_steps" in tr.reason
    assert len(tr.history) == tr.step == (3 if kind == "image" else 5)
    for i, rec in enumerate(tr.history, start=1):
        assert set(HISTORY_FIELDS) <= set(rec)
        assert rec["step"] == i and rec["epoch"] == 1
        assert rec["loss"] == "nonsaturating"
        for f in NUMERIC_FIELDS:
            assert isinstance(rec[f], (int, float)) and math.isfinite(rec[f]), (f, rec[f])
        assert 0.0 <= rec["d_real"] <= 1.0 and 0.0 <= rec["d_fake"] <= 1.0
        assert rec["d_loss"] > 0 and rec["g_loss"] > 0
        assert rec["log_lg_ld"] == pytest.approx(math.log(rec["g_loss"] / rec["d_loss"]))
    times = [r["time_s"] for r in tr.history]
    assert times == sorted(times)



def test_recorded_d_loss_is_the_game_alone_and_the_penalty_apart(image_dataset, image_cfg):
    """With R1 on, D's first recorded loss is the same game loss as without it (both Ds start
    identical), the penalty is recorded apart, and log(L_G / L_D) reads the game."""
    plain = Trainer(image_cfg(max_steps=1), image_dataset)
    plain.run()
    r1 = Trainer(image_cfg(max_steps=1, r1_gamma=10.0), image_dataset)
    r1.run()
    a, b = plain.history[0], r1.history[0]
    assert a["d_penalty"] == 0.0 and b["d_penalty"] > 0
    assert b["d_loss"] == pytest.approx(a["d_loss"], rel=1e-5)
    assert b["log_lg_ld"] == pytest.approx(math.log(b["g_loss"] / b["d_loss"]))
    assert b["label_smoothing"] == 0.0

def test_callbacks_fire(ring_dataset, ring_cfg):
    """'step' per step, 'samples' at start/every sample_every/epoch end, 'epoch' per epoch,
    'end' once with the reason."""
    events = {"step": [], "samples": [], "epoch": [], "end": []}
    tr = Trainer(ring_cfg(epochs=2, batch_size=64, sample_every=3), ring_dataset)   # 8 steps/epoch
    for name in events:
        tr.add_callback(name, lambda trainer, payload, name=name: events[name].append(payload))
    assert tr.run() == "finished"
    assert tr.step == 16 and tr.epoch == 2
    assert [r["step"] for r in events["step"]] == list(range(1, 17))
    assert events["step"] == tr.history
    assert [s.step for s in events["samples"]] == [0, 3, 6, 8, 9, 12, 15, 16]
    assert events["samples"][0].samples.shape == (512, 2)           # a point cloud
    assert [e["epoch"] for e in events["epoch"]] == [1, 2]
    assert [e["steps"] for e in events["epoch"]] == [8, 8]
    assert events["end"] == [tr.reason] and "completed 2 epoch" in tr.reason
    assert tr.state == "finished"


def test_image_snapshots_are_uint8_grids(image_dataset, image_cfg):
    """Image snapshots are uint8 (N, C, H, W) grids taken at every sample_every."""
    tr = Trainer(image_cfg(max_steps=2, sample_every=1, n_samples=9), image_dataset)
    tr.run()
    assert [s.step for s in tr.snapshots] == [0, 1, 2]
    snap = tr.snapshots[-1].samples
    assert snap.shape == (9, 1, 28, 28) and snap.dtype == torch.uint8


# --- determinism -----------------------------------------------------------------------------

def _run(cfg, ds):
    tr = Trainer(cfg, ds)
    tr.run()
    return tr


def test_same_seed_same_run(image_dataset, image_cfg):
    """Same seed and config twice: identical losses (exactly) and identical final weights."""
    a = _run(image_cfg(max_steps=4, seed=11), image_dataset)
    b = _run(image_cfg(max_steps=4, seed=11), image_dataset)
    for k in LOSS_KEYS:
        assert [r[k] for r in a.history] == [r[k] for r in b.history], k
    assert_same_state(clone_state(a.G), clone_state(b.G))
    assert_same_state(clone_state(a.D), clone_state(b.D))


def test_same_seed_same_run_paper_model(image_dataset, image_cfg):
    """The paper model too (its generator runs folded transposed convolutions, channels-last),
    with the FLGAN settings: focal loss and clipping."""
    ds = image_dataset.to_image_shape(1, 32)
    cfg = image_cfg(model="paper", max_steps=3, seed=5, loss="focal", grad_clip=0.25)
    a, b = _run(cfg, ds), _run(cfg, ds)
    for k in LOSS_KEYS:
        assert [r[k] for r in a.history] == [r[k] for r in b.history], k
    assert_same_state(clone_state(a.G), clone_state(b.G))
    assert_same_state(clone_state(a.D), clone_state(b.D))


def test_generator_update_reuses_the_discriminator_steps_fakes(image_dataset, image_cfg):
    """One G forward per step (the fakes D was just trained on), plus one per extra G update."""
    calls = {"n": 0}

    def count(module, args):
        calls["n"] += 1
    for g_steps, per_step in ((1, 1), (3, 3)):
        tr = Trainer(image_cfg(max_steps=2, g_steps_per_d_step=g_steps), image_dataset)
        tr.G.register_forward_pre_hook(count)
        calls["n"] = 0
        tr.run()
        sample_grids = len(tr.snapshots) if tr.G_ema is None else 0    # drawn by the EMA
        assert calls["n"] == 2 * per_step + sample_grids


def test_different_seed_different_run(image_dataset, image_cfg):
    """Another seed gives other losses and weights."""
    a = _run(image_cfg(max_steps=3, seed=1), image_dataset)
    b = _run(image_cfg(max_steps=3, seed=2), image_dataset)
    assert [r["d_loss"] for r in a.history] != [r["d_loss"] for r in b.history]
    assert states_differ(clone_state(a.G), clone_state(b.G))


def test_training_changes_the_weights(ring_dataset, ring_cfg):
    """A few steps change both networks."""
    tr = Trainer(ring_cfg(max_steps=3), ring_dataset)
    g0, d0 = clone_state(tr.G), clone_state(tr.D)
    tr.run()
    assert states_differ(g0, clone_state(tr.G)) and states_differ(d0, clone_state(tr.D))


# --- update schedules ------------------------------------------------------------------------

def test_generator_advantage(ring_dataset, ring_cfg):
    """g_steps_per_d_step=4: four G updates per D update."""
    tr = Trainer(ring_cfg(g_steps_per_d_step=4, max_steps=6), ring_dataset)
    tr.run()
    assert tr.d_updates == 6
    assert tr.g_updates == 4 * tr.d_updates


def test_discriminator_advantage(ring_dataset, ring_cfg):
    """d_steps_per_g_step=5: one G update per five D updates."""
    tr = Trainer(ring_cfg(d_steps_per_g_step=5, max_steps=12), ring_dataset)
    tr.run()
    assert tr.d_updates == 12
    assert tr.g_updates == tr.d_updates // 5 == 2


def test_grad_clip_reports_pre_clip_norm(ring_dataset, ring_cfg):
    """With grad_clip the gradients applied are clipped, while the record keeps the norm
    measured before clipping (what the student wants to see)."""
    clip = 1e-3
    tr = Trainer(ring_cfg(grad_clip=clip, max_steps=1), ring_dataset)
    tr.run()
    rec = tr.history[-1]
    assert rec["d_grad_norm"] > 10 * clip and rec["g_grad_norm"] > 10 * clip
    # the .grad left behind by the last updates is what the optimisers used: clipped
    d_used = torch.norm(torch.stack([p.grad.norm() for p in tr.D.parameters()]))
    g_used = torch.norm(torch.stack([p.grad.norm() for p in tr.G.parameters()]))
    assert float(d_used) <= clip * 1.001 and float(g_used) <= clip * 1.001
    # without clipping, the gradient used is the reported one
    free = Trainer(ring_cfg(max_steps=1), ring_dataset)
    free.run()
    d_free = torch.norm(torch.stack([p.grad.norm() for p in free.D.parameters()]))
    assert float(d_free) == pytest.approx(free.history[-1]["d_grad_norm"], rel=1e-5)
    assert free.history[-1]["d_grad_norm"] == pytest.approx(rec["d_grad_norm"], rel=1e-5)


# --- live settings ---------------------------------------------------------------------------

def test_update_settings_between_steps(ring_dataset, ring_cfg):
    """A change queued from a 'step' callback at step 3 applies from step 4 on: records,
    the bound loss, the optimiser's learning rate, and a marker all show it."""
    tr = Trainer(ring_cfg(max_steps=6), ring_dataset)
    settings_events = []
    tr.add_callback("settings", lambda t, m: settings_events.append(m))

    def on_step(t, rec):
        if rec["step"] == 3:
            t.update_settings(loss="minimax", lr_g=1e-3)
    tr.add_callback("step", on_step)
    tr.run()
    assert [r["loss"] for r in tr.history] == ["nonsaturating"] * 3 + ["minimax"] * 3
    assert [r["lr_g"] for r in tr.history] == [2e-4] * 3 + [1e-3] * 3
    assert all(r["lr_d"] == 2e-4 for r in tr.history)
    assert tr.loss.name == "minimax" and tr.config.loss == "minimax"
    assert all(g["lr"] == 1e-3 for g in tr.opt_g.param_groups)
    assert all(g["lr"] == 2e-4 for g in tr.opt_d.param_groups)
    assert len(tr.markers) == 1
    assert tr.markers[0]["step"] == 3
    assert tr.markers[0]["changes"] == {"loss": "minimax", "lr_g": 1e-3}
    assert settings_events == tr.markers
    # minimax G loss is log(1 - D(G(z))): negative, unlike the non-saturating one
    assert all(r["g_loss"] < 0 for r in tr.history[3:])


def test_live_gamma_and_ratio_changes(ring_dataset, ring_cfg):
    """focal_gamma re-binds the loss; a new G:D ratio changes how often G is updated."""
    tr = Trainer(ring_cfg(loss="focal", max_steps=4), ring_dataset)
    tr.add_callback("step", lambda t, r: t.update_settings(focal_gamma=0.0, g_steps_per_d_step=3)
                    if r["step"] == 2 else None)
    tr.run()
    assert tr.loss.values["gamma"] == 0.0
    assert tr.g_updates == 2 * 1 + 2 * 3
    assert [r["g_steps_per_d_step"] for r in tr.history] == [1, 1, 3, 3]


def test_update_settings_to_unchanged_values_leaves_no_marker(ring_dataset, ring_cfg):
    """A 'change' to the current value is not recorded as a change."""
    tr = Trainer(ring_cfg(max_steps=2), ring_dataset)
    tr.update_settings(lr_g=tr.config.lr_g)
    tr.run()
    assert tr.markers == []


def test_update_settings_bad_value_raises_at_once(ring_dataset, ring_cfg):
    """Bad values and bad combinations raise at once and are never applied."""
    tr = Trainer(ring_cfg(max_steps=2), ring_dataset)
    with pytest.raises(ValueError, match="^lr_g"):
        tr.update_settings(lr_g=-1.0)
    with pytest.raises(ValueError, match="^loss"):
        tr.update_settings(loss="nope")
    tr.update_settings(label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):  # hinge + pending smoothing
        tr.update_settings(loss="hinge")
    tr.run()
    # the rejected changes were never applied; the valid one was
    assert tr.config.loss == "nonsaturating" and tr.config.lr_g == 2e-4
    assert [m["changes"] for m in tr.markers] == [{"label_smoothing": 0.1}]


def test_update_settings_refuses_non_live_fields(ring_dataset, ring_cfg):
    """Fields that reshape the models cannot change mid-run."""
    tr = Trainer(ring_cfg(), ring_dataset)
    with pytest.raises(ValueError, match="cannot change model"):
        tr.update_settings(model="classroom")
    with pytest.raises(ValueError, match="latent_dim"):
        tr.update_settings(latent_dim=2)


# --- control ---------------------------------------------------------------------------------

def test_stop_from_callback(ring_dataset, ring_cfg):
    """stop() from a step callback ends the run at once as 'stopped'."""
    tr = Trainer(ring_cfg(epochs=3), ring_dataset)
    tr.add_callback("step", lambda t, r: t.stop() if r["step"] == 2 else None)
    assert tr.run() == "stopped"
    assert tr.state == "stopped" and tr.step == 2
    assert "stopped by the user at step 2" in tr.reason
    assert tr.snapshots[-1].step == 2                   # a final picture is taken


def test_max_steps_stops(ring_dataset, ring_cfg):
    """max_steps ends the run after that many steps."""
    tr = Trainer(ring_cfg(epochs=5, max_steps=5), ring_dataset)
    assert tr.total_steps == 5
    assert tr.run() == "stopped"
    assert tr.step == 5 and len(tr.history) == 5
    assert "max_steps=5" in tr.reason


def test_pause_and_resume_from_another_thread(ring_dataset, ring_cfg):
    """pause() holds the loop between steps (no progress) until resume()."""
    tr = Trainer(ring_cfg(max_steps=6), ring_dataset)
    at_step_2, go_on = threading.Event(), threading.Event()

    def on_step(t, rec):
        if rec["step"] == 2:
            at_step_2.set()
            assert go_on.wait(30)
    tr.add_callback("step", on_step)
    worker = threading.Thread(target=tr.run, daemon=True)
    worker.start()
    try:
        assert at_step_2.wait(30), "training never reached step 2"
        tr.pause()                                      # from this (the main) thread
        go_on.set()
        deadline = time.monotonic() + 30
        while tr.state != "paused" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tr.state == "paused"
        time.sleep(0.3)
        assert tr.step == 2 and tr.state == "paused" and worker.is_alive()
        tr.resume()
        worker.join(30)
        assert not worker.is_alive()
        assert tr.state == "stopped" and tr.step == 6
    finally:
        go_on.set()
        tr.stop()
        worker.join(30)


def test_stop_while_paused(ring_dataset, ring_cfg):
    """stop() releases a paused run."""
    tr = Trainer(ring_cfg(epochs=3), ring_dataset)
    tr.pause()
    worker = threading.Thread(target=tr.run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while tr.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tr.state == "paused" and tr.step == 0
    tr.stop()
    worker.join(30)
    assert not worker.is_alive() and tr.state == "stopped" and tr.step == 0


# --- divergence ------------------------------------------------------------------------------

def _nan_after(fn, calls_before_nan: int):
    count = {"n": 0}

    def wrapped(*args, **kw):
        count["n"] += 1
        out = fn(*args, **kw)
        if count["n"] <= calls_before_nan:
            return out
        return tuple(o * float("nan") for o in out) if isinstance(out, tuple) else out * float("nan")
    return wrapped


@pytest.mark.parametrize("side, kind, g_steps, calls_ok, good_step", [
    ("d", "points", 1, 2, 2),     # D's loss is NaN at step 3
    ("g", "points", 1, 2, 2),     # G's loss is NaN at step 3, after D's update at step 3
    ("g", "points", 1, 0, 0),     # ... at the very first step (optimisers still empty)
    ("g", "points", 3, 7, 2),     # G's 2nd of 3 updates at step 3 fails (one already applied)
    ("d", "image", 1, 2, 2),      # batch-norm statistics moved by step 3's forward passes
    ("g", "image", 1, 2, 2),
])
def test_nan_fails_and_keeps_last_good_weights(side, kind, g_steps, calls_ok, good_step,
                                               ring_dataset, ring_cfg, image_dataset, image_cfg):
    """A NaN loss ends the run as 'failed' (reason says nan) and leaves G and D, parameters
    and buffers, exactly as they were after the last good step, whichever loss diverged."""
    if kind == "points":
        tr = Trainer(ring_cfg(max_steps=10, g_steps_per_d_step=g_steps), ring_dataset)
    else:
        tr = Trainer(image_cfg(max_steps=10, g_steps_per_d_step=g_steps), image_dataset)
    base = LOSSES["nonsaturating"]
    if side == "d":
        tr.loss = Loss(replace(base, d_terms=_nan_after(base.d_terms, calls_ok)))
    else:
        tr.loss = Loss(replace(base, g_terms=_nan_after(base.g_terms, calls_ok)))
    saved = {0: (clone_state(tr.G), clone_state(tr.D), 0, 0)}

    def on_step(t, rec):
        saved[rec["step"]] = (clone_state(t.G), clone_state(t.D), t.g_updates, t.d_updates)
    tr.add_callback("step", on_step)
    assert tr.run() == "failed"
    assert tr.state == "failed"
    assert "nan" in tr.reason.lower()
    assert f"at step {good_step + 1}" in tr.reason
    assert f"step {good_step}, the last good one" in tr.reason
    assert tr.step == good_step and len(tr.history) == good_step
    g_good, d_good, g_updates, d_updates = saved[good_step]
    assert_same_state(g_good, clone_state(tr.G))
    assert_same_state(d_good, clone_state(tr.D))
    assert (tr.g_updates, tr.d_updates) == (g_updates, d_updates)


def test_run_after_failure_can_continue_from_good_weights(ring_dataset, ring_cfg):
    """The restored optimiser state is usable: training the same trainer again works."""
    tr = Trainer(ring_cfg(max_steps=6), ring_dataset)
    base = LOSSES["nonsaturating"]
    tr.loss = Loss(replace(base, g_terms=_nan_after(base.g_terms, 2)))
    assert tr.run() == "failed"
    tr.loss = Loss(base)
    assert tr.run() == "stopped" and tr.step == 6
    assert all(math.isfinite(r["g_loss"]) for r in tr.history)


# --- argument checks -------------------------------------------------------------------------

def test_batch_larger_than_dataset(ring_cfg):
    """A batch larger than the dataset is refused up front."""
    from gan_core.datasets import load_toy
    with pytest.raises(ValueError, match="batch_size 64 is larger than the dataset"):
        Trainer(ring_cfg(batch_size=64), load_toy("ring", n=40))


def test_conditional_needs_labels(unlabelled_image_dataset, image_cfg):
    """A conditional run needs a labelled dataset."""
    with pytest.raises(ValueError, match="conditional needs a labelled dataset"):
        Trainer(image_cfg(conditional=True), unlabelled_image_dataset)


def test_conditional_training_runs(image_dataset, image_cfg):
    """A conditional run trains; the fixed grid cycles through the classes."""
    tr = Trainer(image_cfg(conditional=True, max_steps=2), image_dataset)
    tr.run()
    assert tr.spec.num_classes == 10 and tr.step == 2
    assert tr.fixed_labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


# --- other losses and tricks -----------------------------------------------------------------

def test_wgan_gp_with_critic_steps(image_dataset, image_cfg):
    """WGAN-GP with five critic steps per G step trains with finite losses."""
    tr = Trainer(image_cfg(loss="wgan-gp", d_steps_per_g_step=5, batch_norm=False,
                           epochs=2, max_steps=6), image_dataset)          # 4 steps per epoch
    assert tr.run() == "stopped"
    assert tr.d_updates == 6 and tr.g_updates == 1
    assert all(math.isfinite(r["d_loss"]) for r in tr.history)
    # G's loss is only known once G has been updated (after the 5th critic step)
    assert math.isnan(tr.history[0]["g_loss"])
    assert math.isfinite(tr.history[4]["g_loss"]) and math.isfinite(tr.history[5]["g_loss"])


@pytest.mark.parametrize("loss", ["minimax", "focal", "hinge", "lsgan"])
def test_other_losses_train(loss, ring_dataset, ring_cfg):
    """Every other loss trains a few steps with finite losses."""
    tr = Trainer(ring_cfg(loss=loss, max_steps=3), ring_dataset)
    assert tr.run() == "stopped"
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in tr.history)
    assert all(r["loss"] == loss for r in tr.history)


@pytest.mark.parametrize("trick", [dict(label_smoothing=0.1), dict(label_flip=0.3)])
def test_label_tricks_run_and_change_d_loss(trick, ring_dataset, ring_cfg):
    """Smoothing and flipping train normally, and change D's loss from the very first step
    (same weights, same batch, different targets)."""
    base = Trainer(ring_cfg(max_steps=3), ring_dataset)
    base.run()
    tr = Trainer(ring_cfg(max_steps=3, **trick), ring_dataset)
    assert tr.run() == "stopped"
    assert all(math.isfinite(r["d_loss"]) for r in tr.history)
    assert tr.history[0]["d_loss"] != pytest.approx(base.history[0]["d_loss"])


def test_epoch_summary_and_seconds_left(ring_dataset, ring_cfg):
    """Epoch summaries average their steps; nothing is left at the end."""
    tr = Trainer(ring_cfg(epochs=2, batch_size=128), ring_dataset)     # 4 steps per epoch
    assert tr.seconds_left() is None
    assert tr.steps_per_epoch == 4 and tr.total_steps == 8
    tr.run()
    s = tr.epoch_summary(1)
    assert s["steps"] == 4
    assert s["d_loss"] == pytest.approx(sum(r["d_loss"] for r in tr.history[:4]) / 4)
    assert tr.seconds_left() == 0


def test_raw_score_losses_record_d_scores_not_sigmoids(ring_dataset, ring_cfg):
    """Hinge's D puts out a raw score; d_real/d_fake record its mean, which leaves [0, 1]
    (a sigmoid of it would not), and d_output_kind says so."""
    from gan_core.trainer import d_output_kind
    tr = Trainer(ring_cfg(max_steps=40, loss="hinge", label_smoothing=0.0), ring_dataset)
    tr.run()
    assert d_output_kind("hinge") == "score" and d_output_kind("focal") == "probability"
    assert any(r["d_fake"] < 0 or r["d_real"] > 1 for r in tr.history)


def _noise_seen_by_g(trainer) -> list[torch.Tensor]:
    seen = []
    trainer.G.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    trainer.run()
    return seen


def test_label_flipping_leaves_every_z_unchanged(ring_dataset, ring_cfg):
    """Flips draw from their own random stream: a paired A/B run with flipping on feeds G
    exactly the noise of the run without it (and flipping still changes training)."""
    plain = Trainer(ring_cfg(max_steps=12, seed=3), ring_dataset)
    flipped = Trainer(ring_cfg(max_steps=12, seed=3, label_flip=0.3), ring_dataset)
    z_plain, z_flipped = _noise_seen_by_g(plain), _noise_seen_by_g(flipped)
    assert len(z_plain) == len(z_flipped) >= 12         # 12 steps (grids: G's average draws)
    for a, b in zip(z_plain, z_flipped):
        assert torch.equal(a, b)
    assert plain.history[-1]["d_loss"] != flipped.history[-1]["d_loss"]
