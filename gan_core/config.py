"""Training configuration: one validated dataclass, presets, and device choice.

`TrainConfig.validate()` raises a ValueError that names the field and its allowed range, so the
CLI and the app can show the message as it is. Fields that may change while a run is live are
listed in `LIVE_FIELDS`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

import torch

from .augment import POLICIES, parse_policy
from .losses import LOSSES
from .shortrepr import short_repr

MODELS = ("classroom", "paper", "dcgan64", "mlp")
DEPTHS = ("small", "medium", "large")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_TEXT = 1024                         # longest dataset name or folder path

# Settings the trainer accepts between steps of a running job (the app toggles them live).
LIVE_FIELDS = ("loss", "focal_gamma", "g_steps_per_d_step", "d_steps_per_g_step", "lr_g", "lr_d",
               "label_smoothing", "label_flip", "grad_clip", "gp_weight", "augment")


@dataclass
class TrainConfig:
    # data
    dataset: str = "mnist"              # mnist, fashion-mnist, fer2013, folder:PATH, ring, grid
    data_dir: Optional[str] = None      # None: $GAN_DATA_DIR, else ./data
    subset: Optional[int] = None        # keep this many images (None: all)
    download: bool = True               # let torchvision download MNIST/Fashion-MNIST if missing
    channels: Optional[int] = None      # 1 or 3; None: the dataset's own
    # model
    model: str = "classroom"            # classroom 28x28, paper 32x32, dcgan64 64x64, mlp (2-D)
    latent_dim: int = 100               # 1 forces mode collapse; the FLGAN text says 1000
    depth: str = "medium"               # generator size: small, medium (reference), large
    batch_norm: bool = True
    dropout: Optional[float] = None     # in D; None: the model's own default
    self_attention: bool = False        # SAGAN block in G and D (image models)
    spectral_norm: bool = False         # on D's layers (SAGAN)
    conditional: bool = False           # CGAN: G and D see the class label
    # loss and update schedule
    loss: str = "nonsaturating"
    focal_gamma: float = 2.0
    gp_weight: float = 10.0             # wgan-gp only
    g_steps_per_d_step: int = 1         # generator advantage, e.g. 2, 4, 50
    d_steps_per_g_step: int = 1         # discriminator advantage, e.g. 5 for WGAN
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64
    epochs: int = 1
    label_smoothing: float = 0.0        # real target 1 - this (0.1 gives the classic 0.9)
    label_flip: float = 0.0             # share of real samples D is told are fake
    grad_clip: Optional[float] = None   # max gradient norm for G and D (FLGAN code: 0.25)
    # what the samples show, and arithmetic
    ema_decay: Optional[float] = 0.999  # samples from a running average of G's weights (None: G
                                        # itself); warmed up so short runs do not lag
    precision: str = "auto"             # bf16 autocast where the hardware runs it natively
    augment: str = ""                   # DiffAugment for D's inputs: "translation,cutout"
    # run
    seed: int = 0
    device: str = "auto"
    sample_every: int = 50              # steps between sample grids from the fixed noise
    n_samples: int = 64                 # size of the fixed-noise grid
    eval_every: Optional[int] = None    # steps between quality metrics (judge / modes covered)
    eval_samples: int = 500             # samples drawn for each evaluation
    max_seconds: Optional[float] = None
    max_steps: Optional[int] = None

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        def need(ok: bool, name: str, rule: str):
            if not ok:
                # short_repr: the value may come from an untrusted file (see shortrepr.py)
                raise ValueError(f"{name} must be {rule}; got {short_repr(getattr(self, name))}")

        def number(name: str, lo: float, hi: float, integer: bool = False, lo_open=False):
            v = getattr(self, name)
            if integer:
                ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
                need(ok, name, f"a whole number from {lo} to {hi}")
            else:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
                ok = ok and (isinstance(v, int) or math.isfinite(v))   # no float(huge int)
                ok = ok and (lo < v if lo_open else lo <= v) and v <= hi
                need(ok, name, f"a number {'above' if lo_open else 'from'} {lo} "
                               f"{'and at most' if lo_open else 'to'} {hi}")

        need(isinstance(self.dataset, str) and bool(self.dataset.strip())
             and len(self.dataset) <= MAX_TEXT, "dataset",
             "a dataset name (mnist, fashion-mnist, fer2013, ring, grid or folder:PATH)")
        need(self.data_dir is None or (isinstance(self.data_dir, str)
                                       and len(self.data_dir) <= MAX_TEXT),
             "data_dir", f"a folder path of at most {MAX_TEXT} characters, or None")
        for flag in ("download", "batch_norm", "self_attention", "spectral_norm", "conditional"):
            need(isinstance(getattr(self, flag), bool), flag, "true or false")
        need(isinstance(self.model, str) and self.model in MODELS, "model",
             f"one of {', '.join(MODELS)}")
        need(isinstance(self.depth, str) and self.depth in DEPTHS, "depth",
             f"one of {', '.join(DEPTHS)}")
        need(isinstance(self.loss, str) and self.loss in LOSSES, "loss",
             f"one of {', '.join(LOSSES)}")
        need(isinstance(self.device, str) and self.device in DEVICES, "device",
             f"one of {', '.join(DEVICES)}")
        need(isinstance(self.precision, str) and self.precision in PRECISIONS, "precision",
             f"one of {', '.join(PRECISIONS)}")
        try:
            parse_policy(self.augment if isinstance(self.augment, str)
                         and len(self.augment) <= 64 else "?")
        except ValueError:
            need(False, "augment", f"empty or a comma-separated list of {', '.join(POLICIES)}")
        number("latent_dim", 1, 1000, integer=True)
        number("g_steps_per_d_step", 1, 100, integer=True)
        number("d_steps_per_g_step", 1, 100, integer=True)
        need(self.g_steps_per_d_step == 1 or self.d_steps_per_g_step == 1, "g_steps_per_d_step",
             "1 when d_steps_per_g_step is above 1 (give the advantage to one side only)")
        number("lr_g", 0, 1, lo_open=True)
        number("lr_d", 0, 1, lo_open=True)
        number("beta1", 0, 0.9999)
        number("beta2", 0, 0.9999)
        number("batch_size", 1, 4096, integer=True)
        number("epochs", 1, 10000, integer=True)
        number("focal_gamma", 0, 10)
        number("gp_weight", 0, 1000)
        number("label_smoothing", 0, 0.5)
        number("label_flip", 0, 0.5)
        number("seed", 0, 2**31 - 1, integer=True)
        number("sample_every", 1, 10**9, integer=True)
        number("n_samples", 1, 256, integer=True)
        if self.eval_every is not None:
            number("eval_every", 1, 10**9, integer=True)
        number("eval_samples", 50, 10_000, integer=True)
        if self.subset is not None:
            number("subset", 1, 10**8, integer=True)
        if self.channels is not None:
            need(type(self.channels) is int and self.channels in (1, 3), "channels", "1 or 3")
        if self.dropout is not None:
            number("dropout", 0, 0.9)
        if self.grad_clip is not None:
            number("grad_clip", 0, 1e6, lo_open=True)
        if self.ema_decay is not None:
            number("ema_decay", 0, 0.99999)
        if self.max_seconds is not None:
            number("max_seconds", 0, 10**7, lo_open=True)
        if self.max_steps is not None:
            number("max_steps", 1, 10**9, integer=True)
        spec = LOSSES[self.loss]
        if not spec.uses_targets:
            need(self.label_smoothing == 0, "label_smoothing",
                 f"0 with the {self.loss} loss, which has no labels to smooth")
            need(self.label_flip == 0, "label_flip",
                 f"0 with the {self.loss} loss, which has no labels to flip")
        is_toy = self.dataset in ("ring", "grid")
        need(is_toy == (self.model == "mlp"), "model",
             "mlp for the 2-D sets ring and grid, and an image model for image datasets"
             if is_toy else "an image model (classroom, paper, dcgan64) for an image dataset")
        need(not (self.self_attention and self.model == "mlp"), "self_attention",
             "off for the mlp model (attention works on image feature maps)")
        return self

    # -- helpers -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**d)

    def with_updates(self, **changes) -> "TrainConfig":
        return replace(self, **changes).validate()


# The FLGAN authors' code: focal loss gamma 2, Adam 2e-4 (0.5, 0.999), batch 64, latent 100 and
# gradient norms clipped at 0.25. `dcgan` is the same without focal loss and clipping, so the two
# changes can be separated (focal alone: preset flgan with grad_clip=None).
PRESETS: dict[str, dict[str, Any]] = {
    "flgan": dict(loss="focal", focal_gamma=2.0, grad_clip=0.25, lr_g=2e-4, lr_d=2e-4,
                  beta1=0.5, beta2=0.999, batch_size=64, latent_dim=100),
    "dcgan": dict(loss="nonsaturating", grad_clip=None, lr_g=2e-4, lr_d=2e-4,
                  beta1=0.5, beta2=0.999, batch_size=64, latent_dim=100),
    "sagan": dict(loss="hinge", lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9,
                  self_attention=True, spectral_norm=True),
    "wgan-gp": dict(loss="wgan-gp", d_steps_per_g_step=5, lr_g=1e-4, lr_d=1e-4,
                    beta1=0.0, beta2=0.9, batch_norm=False, gp_weight=10.0),
}

# What the papers' presets become on each model. `paper` is the FLGAN comparison itself: the
# authors' optimiser in fp32, samples from G as trained. `classroom` is ours, tuned for a
# 2-core CPU and the same for both losses so that FLGAN vs DCGAN stays fair: a higher learning
# rate for both nets, bf16 where native and an EMA of G (measured in benchmarks/recipe.py;
# README, "Speed").
MODEL_RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(ema_decay=None, precision="fp32"),
    "classroom": dict(lr_g=5e-4, lr_d=5e-4),
}
PAPER_PRESETS = ("flgan", "dcgan")     # the presets a model recipe adjusts


def preset_values(name: str, model: Optional[str] = None, recipe: bool = True) -> dict[str, Any]:
    """The fields preset `name` sets on `model`: the paper presets adopt the model's recipe
    (`recipe=False`: the papers' values as printed, e.g. for sweeps made before the recipe)."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    values = dict(PRESETS[name])
    if recipe and name in PAPER_PRESETS:
        values.update(MODEL_RECIPES.get(model or TrainConfig.model, {}))
    return values


def preset(name: str, recipe: bool = True, **overrides) -> TrainConfig:
    """A validated config: preset `name` for the model in `overrides`, then the overrides."""
    values = preset_values(name, overrides.get("model"), recipe)
    return TrainConfig(**{**values, **overrides}).validate()


def available_devices() -> list[str]:
    """Devices present on this machine, best first, cpu always last."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def bf16_is_native(device: torch.device) -> bool:
    """True where bfloat16 matrix work runs in hardware: CUDA with bf16, or a CPU with AMX or
    AVX512-BF16 (oneDNN's check). Elsewhere autocast would emulate it and be slower."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        try:
            return bool(check()) if check is not None else False
        except RuntimeError:
            return False
    return False


def resolve_precision(config: "TrainConfig", device: torch.device) -> str:
    """`auto` is bf16 for image models where it is native, else fp32; the 2-D MLP is too small
    to gain and stays fp32. An explicit bf16 is honoured anywhere autocast supports it."""
    if config.precision != "auto":
        return config.precision
    return "bf16" if config.model != "mlp" and bf16_is_native(device) else "fp32"


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device that is missing is an error."""
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    if name not in present:
        raise ValueError(f"device {name!r} is not available on this machine; "
                         f"available: {', '.join(present)}")
    return torch.device(name)
