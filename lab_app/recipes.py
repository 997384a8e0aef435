"""The two named recipes as the pages show them: a sentence each, which one a set of widget
values or a saved config has, and the widget state that applies one (no Streamlit here).

The recipes themselves (their values) are gan_core.config.RECIPES; this module holds only what a
student reads about them and how the Train and Compare pages set and recognise them.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from gan_core.config import (RECIPES, TrainConfig, recipe_of,  # noqa: F401
                             recipe_of_values)
from lab_app.controls import CONTROLS
from lab_app.settings import widget_keys, widget_state   # the Train page's one key scheme

CUSTOM = "Custom (a mix of both)"

# The sentence under the recipe choice, after its name and values: what the values do and where
# they come from. For image runs, and for the 2-D sets, whose learning rate and batch are their
# own (only the EMA applies there).
RECIPE_LINES: dict[str, dict[bool, str]] = {
    "fast": {
        False: "G and D are told which of 50 groups of look-alike images each image is in, "
               "and the samples shown come from a running average of G's weights; tuned on "
               "DCGAN runs (non-saturating loss) on 2 CPU cores, and the same values are used "
               "for every loss.",
        True: "the points shown come from a running average of G's weights; tuned on DCGAN "
              "runs, and the same for every loss.",
    },
    "plain": {
        False: "the DCGAN and FLGAN papers' optimiser (Adam, betas 0.5 and 0.999) with nothing "
               "added, so the samples shown are G as trained; slower to draw digits on a CPU, "
               "and the set-up the papers' claims were made on.",
        True: "the points shown are G's own, not an average of its weights, as in the papers.",
    },
}

# What a recipe means on the 2-D sets, where only the EMA applies.
POINTS_WHAT = {"fast": "an EMA of G", "plain": "samples from G itself"}
# What a recipe adds (or not) to training, in a few words, for a model's card.
ADDS = {"fast": "50 clusters + an EMA of G", "plain": "no clusters, samples from G itself"}

# What a field's difference from a recipe reads like ("batch 64 (not 32)").
SHORT = {"lr_g": "G lr", "lr_d": "D lr", "batch_size": "batch", "clusters": "clusters",
         "ema_decay": "EMA"}


def recipe_name(key: Optional[str]) -> str:
    """'Fast classroom recipe', 'Plain DCGAN, as in the papers', or CUSTOM for None."""
    return RECIPES[key].name if key in RECIPES else CUSTOM


def _show(name: str, value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def differences(values: Mapping[str, Any], key: str, points: bool) -> list[str]:
    """How `values` differ from recipe `key`: ['batch 64 (not 32)', ...], in the recipe's order."""
    return [f"{SHORT.get(k, k)} {_show(k, values.get(k))} (not {_show(k, v)})"
            for k, v in RECIPES[key].values(points).items() if values.get(k) != v]


def closest_recipe(values: Mapping[str, Any], points: bool) -> str:
    """The recipe `values` differs from in the fewest fields (the first one on a tie)."""
    return min(RECIPES, key=lambda k: len(differences(values, k, points)))


def recipe_line(key: Optional[str], points: bool, values: Optional[Mapping[str, Any]] = None
                ) -> str:
    """The sentence under the recipe choice (Markdown): the name, the values, what they do;
    for a mix of both, the nearest recipe and how these settings differ from it."""
    if key in RECIPES:
        what = (f"on a 2-D set: {POINTS_WHAT[key]}; lr and batch are the set's own" if points
                else RECIPES[key].what)
        return f"**{RECIPES[key].name}** ({what}): {RECIPE_LINES[key][points]}"
    if values is None:
        return f"**{CUSTOM}**: these settings match neither recipe; pick one to start from it."
    near = closest_recipe(values, points)
    return (f"**{CUSTOM}**: closest is the {RECIPES[near].name}, but "
            f"{' and '.join(differences(values, near, points))}; pick a recipe to start "
            f"from it.")


def describe(values: Mapping[str, Any], points: bool) -> str:
    """A recipe named for a saved model's card: its name when it is one, else the nearest one
    and how this differs ('Fast classroom recipe (50 clusters + an EMA of G), but batch 64
    (not 32)')."""
    key = recipe_of_values(values, points)
    if key is not None:
        return f"{RECIPES[key].name} ({POINTS_WHAT[key] if points else ADDS[key]})"
    near = closest_recipe(values, points)
    diff = differences(values, near, points)
    # What the recipe adds is said only while it still holds ("50 clusters" with clusters off
    # would contradict the difference that follows).
    adds = "" if points or any(d.split(" ")[0] in ("clusters", "EMA") for d in diff) \
        else f" ({ADDS[near]})"
    return f"{RECIPES[near].name}{adds}, but {' and '.join(diff)}"


def recipe_widget_state(key: str, base: TrainConfig) -> dict[str, Any]:
    """Session-state values that make the Train page's widgets show recipe `key` on top of
    `base` (the page's current config): only the keys of the recipe's own fields."""
    values = RECIPES[key].values(base.model == "mlp")
    state = widget_state(base.with_updates(**values))
    wanted = {f"t_{name}" for name in values}
    for name in values:
        if name in CONTROLS:
            wanted.update(widget_keys(name).values())
    return {k: v for k, v in state.items() if k in wanted}


# Fields a file may predate: a config without them was written before they existed, when the
# feature they switch on did not exist either (TrainConfig's defaults would say EMA 0.999).
PREDATED_OFF = {"ema_decay": None, "clusters": None, "r1_gamma": None}


def config_of_record(config: Mapping[str, Any]) -> TrainConfig:
    """A saved run's or model's config dict as a TrainConfig, a missing EMA, cluster or R1
    field read as off (it was written before the feature existed)."""
    return TrainConfig.from_dict({**PREDATED_OFF, **dict(config)})


def recipe_of_record(config: Mapping[str, Any]) -> Optional[str]:
    """recipe_of for a saved config dict (see config_of_record)."""
    return recipe_of(config_of_record(config))
