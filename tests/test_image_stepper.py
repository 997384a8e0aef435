"""Step by step on images: each click is the trainer's own update, so clicks == training steps."""
from __future__ import annotations

import pytest
import torch

from gan_core.data import Dataset
from gan_core.image_stepper import ImageStepper, difference, term_latex
from gan_core.losses import LOSSES
from gan_core.images import to_uint8
from gan_core.trainer import Trainer

def _images(n: int) -> Dataset:
    """n random 28x28 grey images labelled 0-9 (MNIST-shaped)."""
    g = torch.Generator().manual_seed(0)
    return Dataset("synthetic", torch.randint(0, 256, (n, 1, 28, 28), generator=g,
                                              dtype=torch.uint8), torch.arange(n) % 10,
                   [str(i) for i in range(10)], f"synthetic: {n} random images.")


RECIPES = {
    "plain": {},
    # everything a recipe can turn on for D's update and G's: EMA, clusters, augmentation,
    # R1, label smoothing, dropout (global random state), clipping
    "classroom-like": dict(ema_decay=0.99, clusters=4, augment="translation,cutout",
                           r1_gamma=1.0, label_smoothing=0.1, dropout=0.25, grad_clip=1.0),
    "wgan-gp 2:1": dict(loss="wgan-gp", d_steps_per_g_step=2),
    "focal G 3:1": dict(loss="focal", g_steps_per_d_step=3, label_flip=0.2),
    "conditional": dict(conditional=True),
}


def _state(tr: Trainer) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in tr.G.state_dict().items()}
    out.update({f"D.{k}": v for k, v in tr.D.state_dict().items()})
    if tr.G_ema is not None:
        out.update({f"G_ema.{k}": v for k, v in tr.G_ema.state_dict().items()})
    for name, opt in (("opt_g", tr.opt_g), ("opt_d", tr.opt_d)):
        for i, s in opt.state_dict()["state"].items():
            out.update({f"{name}.{i}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return out


def _updates_per_step(cfg) -> float:
    """Updates (D and G) per training step, averaged over d_steps_per_g_step steps."""
    return 1 + cfg.g_steps_per_d_step / cfg.d_steps_per_g_step


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_clicks_give_exactly_the_weights_of_training_steps(recipe, image_cfg):
    # 96 images in batches of 32: 3 steps an epoch, so the clicks cross epoch boundaries too
    data = _images(96)
    cfg = image_cfg(epochs=50, **RECIPES[recipe])
    # 50 clicks = 25 steps of (D, G); with other ratios, whole steps: 16 x (D, D, G) or
    # 12 x (D, G, G, G)
    clicks = 50 if _updates_per_step(cfg) == 2 else 48
    steps = int(clicks / _updates_per_step(cfg))
    trained = Trainer(image_cfg(epochs=50, max_steps=steps, **RECIPES[recipe]), data)
    assert trained.run() == "stopped"
    s = ImageStepper(cfg, data)
    order = []
    for i in range(clicks):
        order.append(s.next_update)
        s.step() if i % 5 == 0 else s.update()   # pictures on some clicks: looking changes nothing
        torch.rand(7)                            # the page's process draws between clicks
    assert s.steps == steps == trained.step
    assert (s.d_steps, s.g_steps) == (trained.d_updates, trained.g_updates)
    if cfg.d_steps_per_g_step == 2:
        assert order[:6] == ["D", "D", "G", "D", "D", "G"]
    want, got = _state(trained), _state(s.trainer)
    assert want.keys() == got.keys() and len(want) > 10
    different = [k for k in want if not torch.equal(want[k], got[k])]
    assert different == []


def test_a_d_step_moves_only_d_and_a_g_step_only_g(image_cfg):
    s = ImageStepper(image_cfg(), _images(64))
    d = s.step()
    assert d.who == "D" and s.next_update == "G"
    assert torch.equal(d.before.samples, d.after.samples)          # G did not move
    assert not torch.equal(d.before.d_fake, d.after.d_fake)        # D's verdicts did
    assert not torch.equal(d.before.d_real, d.after.d_real)
    g = s.step()
    assert g.who == "G" and s.next_update == "D"
    assert not torch.equal(g.before.samples, g.after.samples)      # G moved
    delta, largest = difference(g.before.samples, g.after.samples)
    assert delta.shape == (len(g.before.samples), 28, 28) and largest > 0
    assert torch.equal(d.after.samples, g.before.samples)


def test_the_formula_is_the_value_the_trainer_records(image_cfg):
    """A D step's written-out loss is the trainer's d_loss plus its penalty at step 1; a G
    step's is its g_loss (R1 on, so the penalty term is in the sum)."""
    data = _images(64)
    cfg = image_cfg(r1_gamma=2.0, label_smoothing=0.1)
    trained = Trainer(image_cfg(max_steps=1, r1_gamma=2.0, label_smoothing=0.1), data)
    trained.run()
    rec = trained.history[0]
    s = ImageStepper(cfg, data)
    d, g = s.step(), s.step()
    assert d.value == pytest.approx(rec["d_loss"] + rec["d_penalty"], rel=1e-5)
    assert r"\gamma_{R1}" in d.latex and f"{rec['d_loss'] + rec['d_penalty']:.3f}" in d.latex
    assert g.value == pytest.approx(rec["g_loss"], rel=1e-5)
    # per-sample terms of the batch's first images, from the loss's own d_terms / g_terms
    assert d.batch_terms["real"].shape == (8,) and d.batch_terms["fake"].shape == (8,)
    assert g.batch_terms["fake"].shape == (8,) and (g.batch_terms["fake"] > 0).all()


def test_a_shipped_generator_starts_the_stepper(image_cfg):
    """A shipped file holds G only: the stepper's G draws what that G draws; D starts fresh."""
    data = _images(64)
    other = Trainer(image_cfg(seed=5), data)
    s = ImageStepper(image_cfg(), data, generator=other.G.state_dict())
    other.G.train()      # the stepper shows G as it trains: batch norm on the 64 samples
    with torch.no_grad():
        want = other.G(s.z, s.z_labels).float()
    assert torch.equal(s.picture().samples, to_uint8(want))
    assert not torch.equal(s.picture().samples, ImageStepper(image_cfg(), data).picture().samples)


def test_points_sets_are_refused_with_a_message(ring_cfg):
    with pytest.raises(ValueError, match="2-D set"):
        ImageStepper(ring_cfg())


def test_real_mnist_clicks_match_training(real_data_dir, image_cfg):
    cfg = image_cfg(data_dir=str(real_data_dir), subset=256, batch_size=64, epochs=20)
    trained = Trainer(image_cfg(data_dir=str(real_data_dir), subset=256, batch_size=64,
                                   epochs=20, max_steps=25), None)
    trained.run()
    s = ImageStepper(cfg)
    s.step()                                    # D: one step under way
    s.fast_forward(25)                          # its G, then 24 more (D, G)
    want, got = _state(trained), _state(s.trainer)
    assert [k for k in want if not torch.equal(want[k], got[k])] == []


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_writes_out_its_updates_with_per_sample_terms(loss, image_cfg):
    s = ImageStepper(image_cfg(loss=loss), _images(64))
    for who in "DG":
        r = s.step()
        assert r.who == who and f"{r.value:.3f}" in r.latex
        assert set(r.term_latex) == set(r.batch_terms) and "overline" not in str(r.term_latex)
        assert all(len(t) == 8 and torch.isfinite(t).all() for t in r.batch_terms.values())
    assert term_latex(s.trainer.loss, LOSSES[loss].mean_g) in r.term_latex["fake"]


def test_a_paused_run_s_checkpoint_goes_on_in_the_stepper(image_cfg, tmp_path):
    """From a run's full checkpoint: G, D, EMA, optimisers and counters as the run left them;
    a run stopped at the end of an epoch goes on exactly as the run itself would have."""
    from gan_core.checkpoint import read_checkpoint, save_checkpoint
    data = _images(96)                                   # 3 steps an epoch
    paused = Trainer(image_cfg(epochs=50, max_steps=6, ema_decay=0.99), data)
    paused.run()
    save_checkpoint(paused, tmp_path / "run.pt")
    s = ImageStepper(image_cfg(epochs=50, ema_decay=0.99), data,
                     state=read_checkpoint(tmp_path / "run.pt"))
    assert s.start_step == s.steps == 6
    want, got = _state(paused), _state(s.trainer)
    assert [k for k in want if not torch.equal(want[k], got[k])] == []
    for _ in range(6):                                   # 3 more steps of (D, G)
        s.update()
    longer = Trainer(image_cfg(epochs=50, max_steps=9, ema_decay=0.99), data)
    longer.run()
    want, got = _state(longer), _state(s.trainer)
    assert s.steps == 9 and [k for k in want if not torch.equal(want[k], got[k])] == []
