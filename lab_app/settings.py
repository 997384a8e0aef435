"""Training settings as URL parameters and back (no Streamlit here, so it can be tested alone).

A teacher shares a set-up as a link: every setting that differs from the default is a short
query parameter (`?dataset=mnist&latent_dim=1`). Parsing never raises: a bad value becomes a
message for its field and the default is used instead.
"""
from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Optional

from gan_core.config import (PRESETS, RECIPES, SETTINGS, TrainConfig, field_kind, loss_recipe,
                             preset_values, start_config)
from gan_core.data import find_data_dir   # the one rule for where data is (CLI and app)
from gan_core.datasets import image_sets, is_points_dataset, point_sets
from gan_core.losses import LOSSES
from gan_core.sources import FETCH, SOURCES, how_to_get, on_disk
from lab_app.controls import CONTROLS

# URL key -> (TrainConfig field, type), from each field's Setting (gan_core.config)
URL_FIELDS: dict[str, tuple[str, type]] = {
    s.url: (name, field_kind(name)[0]) for name, s in SETTINGS.items() if s.url}
FIELD_TO_URL = {f: k for k, (f, _) in URL_FIELDS.items()}
# 0 in the URL means None (off) for these optional numbers
OPTIONAL_ZERO_IS_OFF = tuple(name for name, s in SETTINGS.items() if s.zero_is_off)


def mnist_available(data_dir: Optional[Path] = None) -> bool:
    d = data_dir or find_data_dir()
    if d is None:
        return False
    return any((d / sub / name).exists() for sub in ("MNIST/raw", "MNIST", "raw", ".")
               for name in ("t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                            "t10k-images-idx3-ubyte", "train-images-idx3-ubyte"))


def dataset_options(data_dir: Optional[Path] = None) -> list[str]:
    """The Train page's dataset menu, from the registry (gan_core.datasets): the 2-D sets,
    then the image sets, all of them: dataset_label marks those not on disk and says how to
    get them. The page adds its upload entry."""
    return point_sets() + image_sets()


def dataset_label(name: str, data_dir: Path | None = None) -> str:
    """A menu entry: the name, marked '(not here)' when its files are not in the data folder
    (absent_help and the page's warning say how to get it)."""
    return name if name not in SOURCES or on_disk(name, data_dir) else f"{name} (not here)"


def absent_help(data_dir: Path | None = None) -> str:
    """The menu's help for the sets that are not here: 'Not on this server: cifar10
    (`./lab data fetch cifar10`), ...; fer2013 by hand (./lab data fetch fer2013 says how).'"""
    absent = [n for n in image_sets() if n in SOURCES and not on_disk(n, data_dir)]
    if not absent:
        return ""
    parts = [f"{n} (by hand: `{FETCH} {n}` prints the steps)" if SOURCES[n].manual
             else f"{n} (`{how_to_get(n)}`)" for n in absent]
    return "Not on this server: " + ", ".join(parts) + "."


def compare_options(data_dir: Optional[Path] = None) -> list[str]:
    """The Compare page's dataset menu: MNIST when its files are here, then the 2-D sets."""
    return (["mnist"] if mnist_available(data_dir) else []) + point_sets()


def default_config(dataset: Optional[str] = None) -> TrainConfig:
    """The app's starting point: MNIST when its files are here, else the ring toy set."""
    dataset = dataset or ("mnist" if mnist_available() else "ring")
    if is_points_dataset(dataset):
        return start_config(dataset=dataset, model="mlp", latent_dim=2, batch_size=128,
                            epochs=20, lr_g=1e-3, lr_d=1e-3, sample_every=10, eval_every=20)
    return start_config(dataset=dataset, model="classroom", epochs=1, sample_every=20,
                        eval_every=50 if dataset == "mnist" else None)


def _parse(value: str, kind: type) -> Any:
    v = value.strip()
    if kind is bool:
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("use true or false")
    if kind is int:
        return int(v)
    if kind is float:
        x = float(v)
        if not math.isfinite(x):
            raise ValueError("must be a finite number")
        return x
    return v


def config_from_params(params: Mapping[str, str]) -> tuple[TrainConfig, dict[str, str]]:
    """(config, {url_key: message}) from URL parameters; bad values fall back to defaults."""
    errors: dict[str, str] = {}
    base = default_config(params.get("dataset") or None)
    values: dict[str, Any] = {}
    # recipe=plain|fast: a named layer first, so the link's own keys still win over it
    if params.get("recipe"):
        if params["recipe"] in RECIPES:
            values.update(RECIPES[params["recipe"]].values(base.model == "mlp"))
        else:       # the value itself is not echoed: it is a link's text
            errors["recipe"] = f"recipe: unknown; use {' or '.join(RECIPES)}"
    if params.get("preset"):
        if params["preset"] in PRESETS:
            values.update(preset_values(params["preset"], params.get("model") or base.model))
        else:
            errors["preset"] = f"unknown preset {params['preset']!r}"
    for key, (name, kind) in URL_FIELDS.items():
        if key not in params or params[key] in ("", None):
            continue
        try:
            values[name] = _parse(str(params[key]), kind)
            if name in OPTIONAL_ZERO_IS_OFF and values[name] == 0:
                values[name] = None
        except ValueError:
            errors[key] = f"{key}: {params[key]!r} is not a valid {kind.__name__}"
    if is_points_dataset(values.get("dataset", "")):
        values.setdefault("model", "mlp")
    elif "dataset" in values and "model" not in values and base.model == "mlp":
        values["model"] = "classroom"
    cfg = base
    # Apply one field at a time, so one bad value does not throw away the good ones.
    for name, value in values.items():
        try:
            cfg = cfg.with_updates(**{name: value})
        except (ValueError, TypeError) as e:
            key = FIELD_TO_URL.get(name, name)
            if name in ("dataset", "model"):      # the pair must change together
                try:
                    cfg = cfg.with_updates(dataset=values.get("dataset", cfg.dataset),
                                           model=values.get("model", cfg.model))
                    continue
                except (ValueError, TypeError):
                    pass
            errors[key] = str(e)
    return cfg, errors


def params_from_config(cfg: TrainConfig) -> dict[str, str]:
    """URL parameters for the settings that differ from the default for its dataset."""
    base = default_config(cfg.dataset)
    out = {"dataset": cfg.dataset}
    for key, (name, _) in URL_FIELDS.items():
        v = getattr(cfg, name)
        if key == "dataset" or v == getattr(base, name):
            continue
        if v is None:
            if name in OPTIONAL_ZERO_IS_OFF:
                out[key] = "0"            # switched off where the default is on
            continue
        out[key] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def config_field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


# --- the Train page's widgets, as plain data (drawn by lab_app.widgets) ------------------------

WIDGET_FIELDS = tuple(name for name in SETTINGS if name in CONTROLS)    # the config's order


# Config fields that hold a loss's parameter and have a widget (focal_gamma): the Train page
# draws each, enabled when the chosen loss takes it.
LOSS_PARAM_FIELDS = tuple(dict.fromkeys(p.field for spec in LOSSES.values() for p in spec.params
                                        if p.field in CONTROLS))


def loss_param_fields(loss: str) -> set[str]:
    """The config fields that hold the parameters of `loss`."""
    return {p.field for p in LOSSES[loss].params} if loss in LOSSES else set()


def widget_keys(name: str) -> dict[str, str]:
    """The session-state keys of a field's widget: {"value": key} and, for the toggles and the
    0-means-off numbers, the keys the page has always used (t_clip_on, t_clip_v, t_eval_n)."""
    c = CONTROLS[name]
    stem = f"t_{c.key or name}"
    if c.kind == "zero_off":
        return {"value": f"{stem}_n"}
    if c.kind == "toggle_number":
        return {"on": f"{stem}_on", "value": f"{stem}_v"}
    if c.kind == "toggle_text":
        return {"on": f"{stem}_on"}
    return {"value": stem}


def widget_state(cfg: TrainConfig) -> dict[str, Any]:
    """Session-state values that make the Train page's widgets show `cfg`: t_FIELD for every
    field, plus the toggles and 0-means-off numbers of the generated widgets."""
    state = {f"t_{name}": value for name, value in cfg.to_dict().items()}
    for name in WIDGET_FIELDS:
        c, v, keys = CONTROLS[name], getattr(cfg, name), widget_keys(name)
        if c.kind == "zero_off":
            state[keys["value"]] = v or 0
        elif c.kind == "toggle_number":
            state[keys["on"]] = v is not None
            state[keys["value"]] = v if v is not None else c.on_value
        elif c.kind == "toggle_text":
            state[keys["on"]] = bool(v)
    return state


def values_from_widgets(state: Mapping[str, Any]) -> dict[str, Any]:
    """The config fields of the generated widgets, read back from their session-state keys."""
    out: dict[str, Any] = {}
    for name in WIDGET_FIELDS:
        c, keys = CONTROLS[name], widget_keys(name)
        kind = field_kind(name)[0]
        if c.kind == "zero_off":
            out[name] = int(state[keys["value"]]) or None
        elif c.kind == "toggle_number":
            out[name] = kind(state[keys["value"]]) if state[keys["on"]] else None
        elif c.kind == "toggle_text":
            out[name] = c.on_value if state[keys["on"]] else ""
        elif kind in (int, float):
            out[name] = kind(state[keys["value"]])
        else:
            out[name] = state[keys["value"]]
    return out


# --- the Compare page: two runs on one recipe that differ only in the loss (and clipping) -----

COMPARE_SIDES = {"A": dict(loss="focal", clip=True), "B": dict(loss="nonsaturating", clip=False)}


def compare_side_from_url(value: Optional[str], fallback: dict) -> dict:
    """'flgan', 'dcgan' or a loss name from the URL; anything else keeps the fallback."""
    if value in ("flgan", "dcgan"):
        p = PRESETS[value]
        return dict(loss=p["loss"], clip=p.get("grad_clip") is not None)
    if value in LOSSES:
        return dict(loss=value, clip=False)
    return fallback


def compare_config(dataset: str, pick: dict, epochs: int, seed: int, subset: Optional[int],
                   data_dir: Optional[Path], recipe: str = "fast") -> TrainConfig:
    """One side of a comparison: the app's default for the dataset, the recipe both sides share
    (a RECIPES key), the side's loss, clipping and gamma (`pick`), and the loss's own preset
    where it has one (wgan-gp, by name)."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    base = default_config(dataset)
    return base.with_updates(epochs=epochs, seed=seed, subset=subset,
                             data_dir=str(data_dir) if data_dir else None, download=False,
                             sample_every=10 if is_points_dataset(dataset) else 25,
                             **{**RECIPES[recipe].values(base.model == "mlp"), **pick,
                                **loss_recipe(pick["loss"], base.model)})
