"""A paused run's rest state (gan_core.parking): a trainer rebuilt from a mid-epoch checkpoint
and its rest state trains on exactly as the run that never stopped."""
from __future__ import annotations

import io

import pytest
import torch

from gan_core.checkpoint import trainer_state
from gan_core.parking import rest_state
from gan_core.trainer import Trainer
from tests.test_trainer import assert_same_state, clone_state


def roundtrip(obj):
    """Through a file's bytes, read as the worker reads a checkpoint (weights only)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def park_at(config, dataset, step: int):
    """Train until `step`, pause there, and keep what a parked worker keeps; the trainer is then
    dropped, as the worker process is."""
    kept = {}
    t = Trainer(config, dataset=dataset)
    t.add_callback("step", lambda tr, rec: tr.pause() if tr.step == step else None)

    def on_paused(tr, _):
        kept["state"] = roundtrip(trainer_state(tr))
        kept["rest"] = roundtrip(rest_state(tr))
        tr.stop()
    t.add_callback("paused", on_paused)
    t.run()
    assert kept["state"]["step"] == step
    return kept["state"], kept["rest"]


def resumed(config, dataset, state, rest):
    t = Trainer(config, dataset=dataset)
    t.load_state_dict(state)
    t.resume_point = rest
    assert t.run() in ("finished", "stopped"), t.reason
    return t


# Every random stream in use: dropout (the global generator), noise, label flips, DiffAugment,
# G's running average; and the gradient penalty's mixing (WGAN-GP, which has no labels to flip).
# 128 images in batches of 32: 4 steps an epoch, so step 6 is in the middle of the second epoch
# and step 8 at its end.
STREAMS = {"label_flip": 0.2, "augment": "translation,cutout", "dropout": 0.25,
           "ema_decay": 0.99, "epochs": 3, "seed": 5}
PENALTY = {"loss": "wgan-gp", "augment": "translation", "dropout": 0.25, "epochs": 3, "seed": 7}


@pytest.mark.parametrize("streams,step", [(STREAMS, 6), (STREAMS, 8), (PENALTY, 6)])
def test_park_and_resume_gives_the_weights_of_the_run_without_the_pause(
        streams, step, image_dataset, image_cfg):
    cfg = image_cfg(**streams)
    whole = Trainer(cfg, dataset=image_dataset)
    assert whole.run() == "finished"
    state, rest = park_at(cfg, image_dataset, step)
    assert rest["batch"] == (2 if step == 6 else 0)
    again = resumed(cfg, image_dataset, state, rest)
    assert [r["step"] for r in again.history] == list(range(1, 13))      # no gap, no repeat
    assert [r["d_loss"] for r in again.history] == [r["d_loss"] for r in whole.history]
    for a, b in ((whole.G, again.G), (whole.D, again.D), (whole.G_ema, again.G_ema)):
        if a is not None:
            assert_same_state(clone_state(a), clone_state(b))
    assert again.opt_g.state_dict()["state"].keys() == whole.opt_g.state_dict()["state"].keys()


def test_without_the_rest_state_a_mid_epoch_resume_drifts(image_dataset, image_cfg):
    """What the rest state is for: the checkpoint alone restarts the epoch's batches and
    randomness, so the weights differ (and the epoch trains two extra batches)."""
    cfg = image_cfg(**STREAMS)
    whole = Trainer(cfg, dataset=image_dataset)
    whole.run()
    state, _ = park_at(cfg, image_dataset, 6)
    plain = resumed(cfg, image_dataset, state, None)
    assert plain.step == 14
    assert any(not torch.equal(a, b) for a, b in zip(whole.G.state_dict().values(),
                                                     plain.G.state_dict().values()))


def test_a_rest_state_of_another_step_is_refused(image_dataset, image_cfg):
    cfg = image_cfg(**STREAMS)
    state, rest = park_at(cfg, image_dataset, 6)
    t = Trainer(cfg, dataset=image_dataset)
    t.load_state_dict(state)
    t.resume_point = {**rest, "step": 5}
    with pytest.raises(ValueError, match="parked state is of step 5"):
        t.run()
