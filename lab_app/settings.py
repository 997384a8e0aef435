"""Training settings as URL parameters and back (no Streamlit here, so it can be tested alone).

A teacher shares a set-up as a link: every setting that differs from the default is a short
query parameter (`?dataset=mnist&latent_dim=1`). Parsing never raises: a bad value becomes a
message for its field and the default is used instead.
"""
from __future__ import annotations

import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Optional

from gan_core.config import MODEL_RECIPES, PRESETS, TrainConfig, preset_values

# URL key -> (TrainConfig field, type)
URL_FIELDS: dict[str, tuple[str, type]] = {
    "dataset": ("dataset", str), "model": ("model", str), "loss": ("loss", str),
    "gamma": ("focal_gamma", float), "latent_dim": ("latent_dim", int),
    "g_steps": ("g_steps_per_d_step", int), "d_steps": ("d_steps_per_g_step", int),
    "lr_g": ("lr_g", float), "lr_d": ("lr_d", float), "batch_size": ("batch_size", int),
    "epochs": ("epochs", int), "subset": ("subset", int), "smoothing": ("label_smoothing", float),
    "flip": ("label_flip", float), "clip": ("grad_clip", float), "seed": ("seed", int),
    "device": ("device", str), "depth": ("depth", str), "bn": ("batch_norm", bool),
    "dropout": ("dropout", float), "conditional": ("conditional", bool),
    "eval_every": ("eval_every", int), "ema": ("ema_decay", float),
    "precision": ("precision", str), "augment": ("augment", str),
}
FIELD_TO_URL = {f: k for k, (f, _) in URL_FIELDS.items()}
OPTIONAL_ZERO_IS_OFF = ("eval_every", "subset", "grad_clip", "ema_decay")   # 0 in the URL means None
TOYS = ("ring", "grid")


def find_data_dir() -> Optional[Path]:
    """Where the image datasets are: $GAN_DATA_DIR, ./data, or ../shared/data beside the repo."""
    here = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("GAN_DATA_DIR"), here / "data", here.parent / "shared" / "data"]
    for c in candidates:
        if c and Path(c).is_dir() and any(Path(c).iterdir()):
            return Path(c)
    return None


def mnist_available(data_dir: Optional[Path] = None) -> bool:
    d = data_dir or find_data_dir()
    if d is None:
        return False
    return any((d / sub / name).exists() for sub in ("MNIST/raw", "MNIST", "raw", ".")
               for name in ("t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                            "t10k-images-idx3-ubyte", "train-images-idx3-ubyte"))


def default_config(dataset: Optional[str] = None) -> TrainConfig:
    """The app's starting point: MNIST when its files are here, else the ring toy set."""
    dataset = dataset or ("mnist" if mnist_available() else "ring")
    if dataset in TOYS:
        return TrainConfig(dataset=dataset, model="mlp", latent_dim=2, batch_size=128, epochs=20,
                           lr_g=1e-3, lr_d=1e-3, sample_every=10, eval_every=20)
    return TrainConfig(dataset=dataset, model="classroom", epochs=1, sample_every=20,
                       eval_every=50 if dataset == "mnist" else None,
                       **MODEL_RECIPES["classroom"])


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
    if values.get("dataset") in TOYS:
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
