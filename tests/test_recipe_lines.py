"""The recipes as the pages name them (lab_app.recipes), the Compare page's shared recipe
(compare_config), the shipped models' cards (lab_app.pretrained) and the multi-seed answer of
the FLGAN-vs-DCGAN sweeps (lab_app.sweep_results.head_to_head). No Streamlit."""
from __future__ import annotations

import json

import pytest

from gan_core import claims
from gan_core.config import RECIPES, recipe_of
from lab_app import pretrained, recipes
from lab_app.settings import (compare_config, default_config, values_from_widgets,
                              widget_state)
from lab_app.sweep_results import focal_arm, head_to_head

FLGAN = dict(loss="focal", grad_clip=0.25, focal_gamma=2.0)
DCGAN = dict(loss="nonsaturating", grad_clip=None, focal_gamma=2.0)


# --- the recipe's sentence and its widgets ---------------------------------------------------

@pytest.mark.parametrize("points", [False, True])
@pytest.mark.parametrize("key", list(RECIPES))
def test_each_recipe_has_a_sentence_naming_it_and_its_values(key, points):
    line = recipes.recipe_line(key, points)
    assert line.startswith(f"**{RECIPES[key].name}**")
    assert recipes.RECIPE_LINES[key][points] in line
    if not points:
        assert RECIPES[key].what in line


def test_the_fast_sentence_says_where_it_was_tuned_and_that_every_loss_gets_it():
    for points in (False, True):
        line = recipes.recipe_line("fast", points)
        assert "tuned on DCGAN runs" in line and "every loss" in line
    assert "non-saturating" in recipes.recipe_line("fast", False)
    plain = recipes.recipe_line("plain", False)
    assert "papers' optimiser" in plain and "G as trained" in plain


@pytest.mark.parametrize("dataset", ["mnist", "ring"])
@pytest.mark.parametrize("key", list(RECIPES))
def test_applying_a_recipe_to_the_widgets_gives_that_recipe(key, dataset):
    """The Train page's choice: set the recipe's widget keys, read the widgets back."""
    base = default_config(dataset).with_updates(lr_g=3e-4, ema_decay=0.99, seed=7)
    points = base.model == "mlp"
    state = widget_state(base)
    assert recipes.recipe_of_values(values_from_widgets(state), points) is None
    state.update(recipes.recipe_widget_state(key, default_config(dataset)))
    values = values_from_widgets(state)
    assert recipes.recipe_of_values(values, points) == key
    assert values["seed"] == 7                       # the rest is left as it was
    if points:
        assert values["lr_g"] == 3e-4                # the 2-D sets keep their own lr


def test_a_mix_names_the_nearest_recipe_and_the_difference():
    values = default_config("mnist").with_updates(batch_size=48).to_dict()
    assert recipes.recipe_of_values(values, False) is None
    line = recipes.recipe_line(None, False, values)
    assert line.startswith(f"**{recipes.CUSTOM}**")
    assert "Fast classroom recipe" in line and "batch 48 (not 32)" in line
    plainish = default_config("mnist").with_updates(**{**RECIPES["plain"].images, "lr_d": 5e-4})
    assert "D lr 0.0005 (not 0.0002)" in recipes.recipe_line(None, False, plainish.to_dict())
    assert recipes.closest_recipe(plainish.to_dict(), False) == "plain"


def test_describe_a_model_exactly_or_by_its_nearest_recipe():
    fast = default_config("mnist").to_dict()
    assert recipes.describe(fast, False) == "Fast classroom recipe (50 clusters + an EMA of G)"
    at64 = dict(fast, batch_size=64)
    assert recipes.describe(at64, False) == ("Fast classroom recipe (50 clusters + an EMA of "
                                             "G), but batch 64 (not 32)")
    # What the recipe adds is not claimed once one of those is off.
    no_clusters = dict(at64, clusters=None)
    assert recipes.describe(no_clusters, False) == ("Fast classroom recipe, but batch 64 (not "
                                                    "32) and clusters off (not 50)")


def test_a_config_from_before_the_ema_reads_as_samples_from_g():
    old = {k: v for k, v in default_config("ring").to_dict().items()
           if k not in ("ema_decay", "clusters", "r1_gamma")}
    assert recipes.config_of_record(old).ema_decay is None
    assert recipes.recipe_of_record(old) == "plain"
    assert recipes.recipe_of_record(dict(old, ema_decay=0.999)) == "fast"


# --- the Compare page: both sides get the recipe ---------------------------------------------

def test_compare_config_gives_both_sides_the_recipe():
    for pick in (FLGAN, DCGAN):
        plain = compare_config("mnist", pick, 1, 0, None, None, "plain")
        assert plain.clusters is None and plain.ema_decay is None
        assert plain.lr_g == plain.lr_d == 2e-4 and plain.batch_size == 64
        assert plain.loss == pick["loss"] and plain.grad_clip == pick["grad_clip"]
        assert recipe_of(plain) == "plain"
        fast = compare_config("mnist", pick, 1, 0, None, None)
        assert recipe_of(fast) == "fast" and fast.clusters == 50 and fast.ema_decay == 0.999
    ring = compare_config("ring", DCGAN, 1, 0, None, None, "plain")
    assert ring.ema_decay is None and ring.lr_g == default_config("ring").lr_g
    # A loss with its own optimiser still brings it on top of the recipe.
    wgan = compare_config("mnist", dict(DCGAN, loss="wgan-gp"), 1, 0, None, None, "plain")
    assert wgan.lr_g == 1e-4 and wgan.d_steps_per_g_step == 5 and wgan.ema_decay is None
    with pytest.raises(ValueError, match="recipe"):
        compare_config("mnist", DCGAN, 1, 0, None, None, "fancy")


# --- the shipped models' cards ---------------------------------------------------------------

def test_every_shipped_model_card_names_its_recipe():
    models = pretrained.index().get("models", {})
    if not models:
        pytest.skip("no pretrained/index.json in this copy")
    for name in models:
        card = pretrained.model_card(name)
        assert any(r.name in card["recipe_text"] for r in RECIPES.values()), card
    if "mnist_paper_flgan" in models:
        card = pretrained.model_card("mnist_paper_flgan")
        assert card["recipe"] == "plain" and "FLGAN authors' own model" in card["recipe_text"]
    if "ring_nonsaturating" in models:       # trained before the EMA existed
        assert pretrained.model_card("ring_nonsaturating")["recipe"] == "plain"


def test_picture_captions_credit_the_recipe_and_show_the_other_loss():
    models = pretrained.index().get("models", {})
    if "mnist_best_flgan" not in models or "mnist_best_dcgan" not in models:
        pytest.skip("the best pair is not shipped in this copy")
    caption = pretrained.picture_caption("mnist_best_flgan")
    dcgan = models["mnist_best_dcgan"]["checkpoints"][-1]["metrics"]["confident_share"]
    assert "Fast classroom recipe" in caption and "FLGAN loss" in caption
    assert f"(the DCGAN loss with the same recipe: {dcgan:.0%})" in caption
    assert caption.startswith("Fast classroom recipe")
    assert "Both sides" in pretrained.pair_recipe("classroom")
    assert pretrained.picture_caption("no_such_file") is None


# --- the sweeps over several seeds -----------------------------------------------------------

def test_a_compare_side_maps_to_its_sweep_arm():
    assert focal_arm("focal", True) == "focal_clip" and focal_arm("focal", False) == "focal"
    assert focal_arm("nonsaturating", True) == "clip"
    assert focal_arm("nonsaturating", False) == "neither"
    assert focal_arm("focal", True, gamma=1.0) is None and focal_arm("hinge", False) is None


def _sweep(tmp_path, to_threshold: dict, old_config: bool = False):
    """A finished focal-vs-dcgan sweep folder whose runs reach judge FD <= 200 at the given
    step per (arm, seed), or never (None)."""
    planned = {p.run_id: p for p in claims.plan("focal-vs-dcgan")}
    for (arm, seed), at in to_threshold.items():
        run_id = f"{arm}_s{seed}"
        config = dict(planned[run_id].config)
        if old_config:             # a file from before the EMA and clusters existed
            config = {k: v for k, v in config.items() if k not in ("ema_decay", "clusters")}
        curve = [dict(step=s, time_s=s / 10, judge_fd=150.0 if at and s >= at else 300.0)
                 for s in range(26, 625, 26)]
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(dict(
            run_id=run_id, state="finished", arm=arm, seed=seed, steps=624, g_updates=624,
            train_seconds=62.4, curve=curve, final=dict(judge_fd=150.0), config=config)))
    (tmp_path / "summary.json").write_text(json.dumps(dict(complete=False)))
    return tmp_path


def test_head_to_head_counts_the_seeds_that_change_the_winner(tmp_path):
    folder = _sweep(tmp_path, {("focal_clip", 0): 52, ("neither", 0): 104,
                               ("focal_clip", 1): 156, ("neither", 1): 104,
                               ("focal_clip", 2): 52, ("neither", 2): 52,
                               ("focal_clip", 3): 52, ("neither", 3): None})
    r = head_to_head("focal-vs-dcgan", folder=folder)
    assert r["first"] == {"focal_clip": 2, "neither": 1, "tie": 1}
    assert r["winner"] == "focal_clip" and r["changes"] == 2 and r["seeds"] == 4
    flgan, dcgan = r["arms"]
    assert flgan["steps_text"] == "78 ± 52" and flgan["range_text"] == "52-156"
    assert dcgan["never"] == 1 and dcgan["reached"] == 3
    assert dcgan["steps_text"].startswith(">= ")       # a seed counted at its last step
    assert "the winner changes with the seed in 2 of 4" in r["sentence"]
    assert "DCGAN was first in 1" in r["sentence"] and "1 tied" in r["sentence"]
    assert (r["model"], r["recipe"]) == ("classroom", "plain")


def test_head_to_head_when_one_arm_wins_every_seed_and_files_are_old(tmp_path):
    folder = _sweep(tmp_path, {("focal_clip", s): 52 for s in range(3)}
                    | {("neither", s): 78 for s in range(3)}, old_config=True)
    r = head_to_head("focal-vs-dcgan", folder=folder)
    assert r["changes"] == 0 and "FLGAN was first in every seed" in r["sentence"]
    assert r["recipe"] == "plain"           # no EMA field: the run had none
    assert head_to_head("focal-vs-dcgan", folder=tmp_path / "nothing") is None
