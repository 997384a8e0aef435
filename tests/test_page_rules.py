"""Decisions the pages used to make themselves, now in gan_core and lab_app: each unit-tested
here without Streamlit."""
from __future__ import annotations

from gan_core.config import TrainConfig, switch_loss
from lab_app.controls import CONTROLS
from lab_app.settings import (WIDGET_FIELDS, config_from_params, values_from_widgets,
                              widget_keys, widget_state)


def test_switching_to_a_loss_without_targets_clears_smoothing_and_flipping():
    assert switch_loss("hinge", g_steps_per_d_step=2) == dict(
        loss="hinge", g_steps_per_d_step=2, label_smoothing=0.0, label_flip=0.0)
    assert switch_loss("focal") == dict(loss="focal")
    cfg = TrainConfig(label_smoothing=0.1, label_flip=0.1)
    assert cfg.with_updates(**switch_loss("wgan-gp")).label_smoothing == 0.0


def test_the_widget_keys_the_page_and_its_tests_rely_on_stay_the_same():
    keys = {name: widget_keys(name) for name in WIDGET_FIELDS}
    assert keys["grad_clip"] == {"on": "t_clip_on", "value": "t_clip_v"}
    assert keys["ema_decay"] == {"on": "t_ema_on", "value": "t_ema_v"}
    assert keys["augment"] == {"on": "t_augment_on"}
    assert keys["subset"] == {"value": "t_subset_n"} and keys["eval_every"] == {"value": "t_eval_n"}
    assert keys["precision"] == {"value": "t_precision"} and keys["loss"] == {"value": "t_loss"}


def test_widget_state_and_back_give_the_same_config():
    cfg = TrainConfig(dataset="ring", model="mlp", grad_clip=0.5, ema_decay=None, subset=300,
                      eval_every=None, augment="translation,cutout", label_flip=0.2)
    state = widget_state(cfg)
    assert state["t_clip_on"] and state["t_clip_v"] == 0.5
    assert not state["t_ema_on"] and state["t_ema_v"] == CONTROLS["ema_decay"].on_value
    assert state["t_subset_n"] == 300 and state["t_eval_n"] == 0 and state["t_augment_on"]
    back = values_from_widgets(state)
    assert set(back) == set(WIDGET_FIELDS)
    assert TrainConfig(**{**cfg.to_dict(), **back}) == cfg


def test_a_link_switching_the_toggles_off_reads_back_as_off():
    cfg, errors = config_from_params({"dataset": "ring", "clip": "0", "ema": "0"})
    assert errors == {}
    back = values_from_widgets(widget_state(cfg))
    assert back["grad_clip"] is None and back["ema_decay"] is None


def test_a_loss_picked_on_its_own_brings_its_preset_by_name():
    """The Compare page's WGAN-GP side once typed the preset again and left out batch_norm."""
    from gan_core.config import PRESETS, loss_recipe
    assert loss_recipe("wgan-gp") == PRESETS["wgan-gp"]
    assert loss_recipe("wgan-gp")["batch_norm"] is False
    assert loss_recipe("hinge") == {} and loss_recipe("focal") == {}


def test_compare_sides_from_a_link_and_their_configs():
    from lab_app.settings import COMPARE_SIDES, compare_config, compare_side_from_url
    assert compare_side_from_url("flgan", {}) == dict(loss="focal", clip=True)
    assert compare_side_from_url("dcgan", {}) == dict(loss="nonsaturating", clip=False)
    assert compare_side_from_url("hinge", {}) == dict(loss="hinge", clip=False)
    assert compare_side_from_url("sagan", COMPARE_SIDES["A"]) == COMPARE_SIDES["A"]
    pick = dict(loss="wgan-gp", grad_clip=None, focal_gamma=2.0)
    cfg = compare_config("ring", pick, epochs=2, seed=3, subset=None, data_dir=None)
    assert (cfg.loss, cfg.batch_norm, cfg.d_steps_per_g_step, cfg.beta1) == ("wgan-gp", False,
                                                                             5, 0.0)
    assert (cfg.epochs, cfg.seed, cfg.sample_every, cfg.model) == (2, 3, 10, "mlp")
    focal = compare_config("ring", dict(loss="focal", grad_clip=0.25, focal_gamma=2.0), 1, 0,
                           None, None)
    assert focal.grad_clip == 0.25 and focal.batch_norm is True
