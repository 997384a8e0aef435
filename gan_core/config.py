"""Training configuration: one validated dataclass, presets, and device choice.

`TrainConfig.validate()` raises a ValueError that names the field and its allowed range, so the
CLI and the app can show the message as it is. Fields that may change while a run is live are
listed in `LIVE_FIELDS`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Optional


from .augment import POLICIES, parse_policy
from .datasets import dataset_choices, in_words, is_points_dataset, point_sets
from .devices import DEVICES, PRECISIONS
from .losses import LOSSES
from .models import ARCHITECTURES, upgrade_fields
from .shortrepr import short_repr

MODELS = tuple(ARCHITECTURES)         # classroom, wide, paper, dcgan64, mlp
DEPTHS = ("small", "medium", "large")
MAX_TEXT = 1024                         # longest dataset name or folder path

# Settings the trainer accepts between steps of a running job (the app toggles them live).
LIVE_FIELDS = ("loss", "focal_gamma", "g_steps_per_d_step", "d_steps_per_g_step", "lr_g", "lr_d",
               "label_smoothing", "label_flip", "grad_clip", "gp_weight", "r1_gamma", "augment")


@dataclass(frozen=True)
class Setting:
    """What the engine knows of one config field: its one-line meaning, its allowed range or
    choices, its command-line flag and its link key. The command line and the links are
    generated from these (gan_core.cli, lab_app.settings); how the Train page draws the field
    (label, widget, help for students) is the app's, in lab_app.controls.
    """
    help: str = ""                      # the command line's help, and the widget's by default
    lo: Optional[float] = None          # allowed range (checked by validate); None: no range
    hi: Optional[float] = None
    lo_open: bool = False               # lo itself is not allowed (a learning rate above 0)
    choices: tuple = ()                 # allowed values of a text setting
    flag: Optional[str] = ""            # command-line flag; "": from the name; None: no flag
    url: Optional[str] = None           # URL query key; None: not in links (e.g. data_dir)
    zero_is_off: bool = False           # optional number: 0 in a URL or on the CLI means None


def setting(default: Any, help: str = "", **meta) -> Any:
    """A dataclass field with its Setting: `lr_g: float = setting(2e-4, "...", lo=0, ...)`."""
    return field(default=default, metadata={"setting": Setting(help=help, **meta)})


@dataclass
class TrainConfig:
    # data
    dataset: str = setting("mnist", dataset_choices(), url="dataset")
    data_dir: Optional[str] = setting(None, "folder with the data (default: $GAN_DATA_DIR, "
                                      "./data or ../shared/data)")
    subset: Optional[int] = setting(None, "keep this many images", lo=1, hi=10**8, url="subset",
                                    zero_is_off=True)
    download: bool = setting(True, "never download datasets", flag="--no-download")
    channels: Optional[int] = setting(None, "1 or 3; default: the dataset's own")
    # model
    model: str = setting("classroom", "default: classroom for images, mlp for "
                         + "/".join(point_sets()),
                         choices=MODELS, url="model")
    latent_dim: int = setting(100, "1 forces mode collapse; the FLGAN text says 1000", lo=1,
                              hi=1000, url="latent_dim")
    depth: str = setting("medium", "generator size: small, medium (reference), large",
                         choices=DEPTHS, url="depth")
    batch_norm: bool = setting(True, "no batch norm in G and D", flag="--no-batch-norm", url="bn")
    dropout: Optional[float] = setting(None, "dropout in D; default: the model's own", lo=0,
                                       hi=0.9, url="dropout")
    self_attention: bool = setting(False, "SAGAN block in G and D (image models)")
    spectral_norm_g: bool = setting(False, "spectral norm on G's layers (SAGAN)")
    spectral_norm_d: bool = setting(False, "spectral norm on D's layers (SAGAN, SN-GAN); "
                                    "files and links from before G could have it say "
                                    "spectral_norm, which meant D only")
    batch_norm_d: bool = setting(True, "no batch norm in D, only in G (SAGAN's D has spectral "
                                 "norm instead)")
    conditional: bool = setting(False, "CGAN: condition on class labels", url="conditional")
    clusters: Optional[int] = setting(
        None, "condition G and D on this many k-means clusters of the training images (no "
        "labels needed); at most one per 160 images; not used below latent size 8, by a CGAN "
        "(it has labels) or on the 2-D sets", lo=2, hi=1000, url="clusters", zero_is_off=True)
    # loss and update schedule
    loss: str = setting("nonsaturating", "the GAN loss", choices=tuple(LOSSES), url="loss")
    focal_gamma: float = setting(2.0, "focal loss gamma", lo=0, hi=10, flag="--gamma", url="gamma")
    gp_weight: float = setting(10.0, "gradient penalty weight (wgan-gp only)", lo=0, hi=1000,
                               flag=None)
    g_steps_per_d_step: int = setting(1, "generator steps per discriminator step (2, 4, 50)",
                                      lo=1, hi=100, flag="--g-steps", url="g_steps")
    d_steps_per_g_step: int = setting(1, "discriminator steps per generator step (5 for WGAN)",
                                      lo=1, hi=100, flag="--d-steps", url="d_steps")
    lr_g: float = setting(2e-4, "G's learning rate", lo=0, hi=1, lo_open=True, url="lr_g")
    lr_d: float = setting(2e-4, "D's learning rate", lo=0, hi=1, lo_open=True, url="lr_d")
    beta1: float = setting(0.5, "Adam's beta1", lo=0, hi=0.9999)
    beta2: float = setting(0.999, "Adam's beta2", lo=0, hi=0.9999)
    batch_size: int = setting(64, "real images per step (the papers use 64)", lo=1, hi=4096,
                              url="batch_size")
    epochs: int = setting(1, "passes over the data", lo=1, hi=10000, url="epochs")
    label_smoothing: float = setting(0.0, "real target 1 - this (0.1 gives the classic 0.9)", lo=0,
                                     hi=0.5, url="smoothing")
    label_flip: float = setting(0.0, "share of real samples D is told are fake", lo=0, hi=0.5,
                                url="flip")
    grad_clip: Optional[float] = setting(None, "max gradient norm (FLGAN code: 0.25)", lo=0,
                                         hi=1e6, lo_open=True, url="clip", zero_is_off=True)
    r1_gamma: Optional[float] = setting(
        None, "R1 penalty weight gamma: D's loss adds gamma/2 E||grad_x D(x)||^2 on real images "
        "(Mescheder et al. 2018; 0: off, the default)", lo=0, hi=1000, lo_open=True, url="r1",
        zero_is_off=True)
    # what the samples show, and arithmetic
    ema_decay: Optional[float] = setting(
        0.999, "samples from a running average of G's weights with this decay (0: off, samples "
        "from G itself); warmed up so short runs do not lag", lo=0, hi=0.99999, url="ema",
        zero_is_off=True)
    precision: str = setting("auto", "auto: bf16 autocast where the hardware runs it natively",
                             choices=PRECISIONS, url="precision")
    augment: str = setting("", "DiffAugment for D's inputs: translation, cutout or "
                           "translation,cutout (default: none)", url="augment")
    # run
    seed: int = setting(0, "random seed", lo=0, hi=2**31 - 1, url="seed")
    device: str = setting("auto", "auto, cpu, cuda or mps", choices=DEVICES, url="device")
    sample_every: int = setting(50, "steps between sample grids from the fixed noise", lo=1,
                                hi=10**9)
    n_samples: int = setting(64, "size of the fixed-noise grid", lo=1, hi=256, flag=None)
    eval_every: Optional[int] = setting(None, "steps between quality metrics (judge)", lo=1,
                                        hi=10**9, url="eval_every", zero_is_off=True)
    eval_samples: int = setting(500, "samples drawn for each evaluation", lo=50, hi=10_000,
                                flag=None)
    max_seconds: Optional[float] = setting(None, "stop after this much training time", lo=0,
                                           hi=10**7, lo_open=True)
    max_steps: Optional[int] = setting(None, "stop after this many steps", lo=1, hi=10**9)

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
             f"a dataset name ({dataset_choices()})")
        need(self.data_dir is None or (isinstance(self.data_dir, str)
                                       and len(self.data_dir) <= MAX_TEXT),
             "data_dir", f"a folder path of at most {MAX_TEXT} characters, or None")
        for name, s in SETTINGS.items():
            kind, optional = field_kind(name)
            if kind is bool:
                need(isinstance(getattr(self, name), bool), name, "true or false")
            elif s.choices and kind is str:
                v = getattr(self, name)
                need(isinstance(v, str) and v in s.choices, name,
                     f"one of {', '.join(s.choices)}")
        try:
            parse_policy(self.augment if isinstance(self.augment, str)
                         and len(self.augment) <= 64 else "?")
        except ValueError:
            need(False, "augment", f"empty or a comma-separated list of {', '.join(POLICIES)}")
        for name, s in SETTINGS.items():       # every range, from the field's Setting
            kind, optional = field_kind(name)
            if s.lo is None or (optional and getattr(self, name) is None):
                continue
            number(name, s.lo, s.hi, integer=kind is int, lo_open=s.lo_open)
        need(self.g_steps_per_d_step == 1 or self.d_steps_per_g_step == 1, "g_steps_per_d_step",
             "1 when d_steps_per_g_step is above 1 (give the advantage to one side only)")
        if self.channels is not None:
            need(type(self.channels) is int and self.channels in (1, 3), "channels", "1 or 3")
        spec = LOSSES[self.loss]
        if not spec.uses_targets:
            need(self.label_smoothing == 0, "label_smoothing",
                 f"0 with the {self.loss} loss, which has no labels to smooth")
            need(self.label_flip == 0, "label_flip",
                 f"0 with the {self.loss} loss, which has no labels to flip")
        is_toy = is_points_dataset(self.dataset)
        need(is_toy == (self.model == "mlp"), "model",
             f"mlp for the 2-D sets {in_words(point_sets())}, and an image model for image "
             "datasets"
             if is_toy else "an image model (classroom, paper, dcgan64) for an image dataset")
        need(not (self.self_attention and self.model == "mlp"), "self_attention",
             "off for the mlp model (attention works on image feature maps)")
        return self

    # -- helpers -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = upgrade_fields(d)         # an older file's names (spectral_norm: D's)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**d)

    def with_updates(self, **changes) -> "TrainConfig":
        return replace(self, **changes).validate()


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(TrainConfig)}
_KINDS = {"bool": bool, "int": int, "float": float, "str": str}


def _kind(annotation: Any) -> tuple[type, bool]:
    text = str(annotation)
    optional = text.startswith("Optional[")
    return _KINDS[text[9:-1] if optional else text], optional


_FIELD_KINDS = {f.name: _kind(f.type) for f in fields(TrainConfig)}


def field_kind(name: str) -> tuple[type, bool]:
    """(bool, int, float or str; whether None is allowed) of a TrainConfig field."""
    return _FIELD_KINDS[name]


# The FLGAN authors' code: focal loss gamma 2, Adam 2e-4 (0.5, 0.999), batch 64, latent 100 and
# gradient norms clipped at 0.25. `dcgan` is the same without focal loss and clipping, so the two
# changes can be separated (focal alone: preset flgan with grad_clip=None).
PRESETS: dict[str, dict[str, Any]] = {
    "flgan": dict(loss="focal", focal_gamma=2.0, grad_clip=0.25, lr_g=2e-4, lr_d=2e-4,
                  beta1=0.5, beta2=0.999, batch_size=64, latent_dim=100),
    "dcgan": dict(loss="nonsaturating", grad_clip=None, lr_g=2e-4, lr_d=2e-4,
                  beta1=0.5, beta2=0.999, batch_size=64, latent_dim=100),
    # SAGAN (Zhang et al. 2019): spectral norm in G and D, no batch norm in D, hinge loss,
    # TTUR (G 1e-4, D 4e-4) with Adam (0, 0.9), self-attention.
    "sagan": dict(loss="hinge", lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9,
                  self_attention=True, spectral_norm_g=True, spectral_norm_d=True,
                  batch_norm_d=False),
    "wgan-gp": dict(loss="wgan-gp", d_steps_per_g_step=5, lr_g=1e-4, lr_d=1e-4,
                    beta1=0.0, beta2=0.9, batch_norm=False, gp_weight=10.0),
}

# What the papers' presets become on each model. `paper` is the FLGAN comparison itself: the
# authors' optimiser in fp32, samples from G as trained. `classroom` is ours, tuned for a
# 2-core CPU and the same for both losses so that FLGAN vs DCGAN stays fair: a higher learning
# rate for both nets, bf16 where native, an EMA of G and batch 32 (more steps in a lesson's first
# minute: +5-10 points of confident digits at 60 s, a wash at 180 s and after 240,000 images)
# and cluster conditioning (about 1.8x the confident digits at 60 s and at 240,000 images;
# docs/classroom-recipe.md). The others say clusters=None so that a link's preset switches
# them off where the app's classroom defaults had them on.
MODEL_RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(ema_decay=None, precision="fp32", clusters=None),
    "classroom": dict(lr_g=5e-4, lr_d=5e-4, batch_size=32, clusters=50),
    "wide": dict(lr_g=5e-4, lr_d=5e-4, clusters=None),
}
PAPER_PRESETS = ("flgan", "dcgan")     # the presets a model recipe adjusts


@dataclass(frozen=True)
class Recipe:
    """A named layer of settings a page starts from. Image runs take `images`; the 2-D sets,
    whose learning rate and batch are their own, take `points` (only what applies to them)."""
    name: str                         # what a student reads
    what: str                         # the values in a few words
    images: dict[str, Any]
    points: dict[str, Any]

    def values(self, points: bool) -> dict[str, Any]:
        return dict(self.points if points else self.images)


# The two starting points every page names. `fast` is the classroom model's recipe above plus
# the EMA (tuned on DCGAN runs on 2 CPU cores; the same values are used for every loss); `plain`
# is the papers' DCGAN optimiser with samples from G itself, for lessons about failure.
RECIPES: dict[str, Recipe] = {
    "fast": Recipe("Fast classroom recipe", "50 k-means clusters, an EMA of G, lr 5e-4, batch 32",
                   {**MODEL_RECIPES["classroom"], "ema_decay": 0.999},
                   {"ema_decay": 0.999}),
    "plain": Recipe("Plain DCGAN, as in the papers",
                    "no clusters, samples from G itself, lr 2e-4, batch 64",
                    {"lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64, "clusters": None,
                     "ema_decay": None},
                    {"ema_decay": None}),
}


def recipe_of_values(values: Mapping[str, Any], points: bool) -> Optional[str]:
    """The recipe whose values `values` (config fields) has, or None for a mix of both."""
    for key, recipe in RECIPES.items():
        if all(values.get(k) == v for k, v in recipe.values(points).items()):
            return key
    return None


def recipe_of(config: "TrainConfig") -> Optional[str]:
    """The recipe whose values `config` has (`fast` or `plain`), or None for a mix of both."""
    return recipe_of_values(config.to_dict(), config.model == "mlp")


def start_config(**values) -> TrainConfig:
    """The config every entry point starts from (the command line, the app's Train page): the
    dataclass's fields, which are the papers' DCGAN values, then the model's recipe layer
    (MODEL_RECIPES: the classroom model's lr 5e-4, batch 32 and 50 clusters), then `values`.
    The layers stay explicit rather than folded into the field defaults, so that the sweeps,
    which name their presets and recipes, keep the configs they were run with."""
    model = values.get("model", TrainConfig.model)
    return TrainConfig(**{**MODEL_RECIPES.get(model, {}), **values}).validate()


def preset_values(name: str, model: Optional[str] = None, recipe: bool = True) -> dict[str, Any]:
    """The fields preset `name` sets on `model`: the paper presets adopt the model's recipe
    (`recipe=False`: the papers' values as printed, e.g. for sweeps made before the recipe)."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    values = dict(PRESETS[name])
    if recipe and name in PAPER_PRESETS:
        values.update(MODEL_RECIPES.get(model or TrainConfig.model, {}))
    return values


def loss_recipe(loss: str, model: Optional[str] = None) -> dict[str, Any]:
    """What a loss needs beyond the default optimiser when picked on its own: the preset of
    the same name where there is one (wgan-gp: 5 D steps, Adam (0, 0.9), no batch norm), else
    nothing. Pages use this instead of typing a preset's values again."""
    if loss in PRESETS and PRESETS[loss].get("loss") == loss:
        return preset_values(loss, model)
    return {}


def preset(name: str, recipe: bool = True, **overrides) -> TrainConfig:
    """A validated config: preset `name` for the model in `overrides`, then the overrides."""
    values = preset_values(name, overrides.get("model"), recipe)
    return TrainConfig(**{**values, **overrides}).validate()


def switch_loss(loss: str, **changes) -> dict[str, Any]:
    """Live changes that switch to `loss` (with any other `changes`): label smoothing and
    flipping are cleared for a loss without targets, which validate() would refuse."""
    out = dict(changes, loss=loss)
    if loss in LOSSES and not LOSSES[loss].uses_targets:
        out.update(label_smoothing=0.0, label_flip=0.0)
    return out
