"""TrainConfig validation, presets and device choice."""
from __future__ import annotations

import math

import pytest
import torch

from gan_core.config import LIVE_FIELDS, PRESETS, TrainConfig, preset
from gan_core.devices import available_devices, resolve_device


def test_defaults_validate():
    """The default config is valid and validate() returns the config itself."""
    cfg = TrainConfig()
    assert cfg.validate() is cfg


@pytest.mark.parametrize("field, bad", [
    ("latent_dim", 0),
    ("latent_dim", 1001),
    ("latent_dim", 2.5),
    ("lr_g", -1e-4),
    ("lr_d", float("nan")),
    ("lr_g", 0.0),
    ("batch_size", 0),
    ("batch_size", True),
    ("loss", "nope"),
    ("model", "resnet"),
    ("device", "tpu"),
    ("depth", "huge"),
    ("epochs", 0),
    ("label_flip", 0.9),
    ("channels", 2),
    ("grad_clip", 0.0),
    ("focal_gamma", float("inf")),
])
def test_validate_names_the_bad_field(field, bad):
    """A bad value raises ValueError whose message starts with the field's name."""
    with pytest.raises(ValueError) as e:
        TrainConfig(**{field: bad}).validate()
    assert str(e.value).startswith(field), str(e.value)
    assert repr(bad) in str(e.value) or (isinstance(bad, float) and math.isnan(bad))


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_label_smoothing_rejected_for_losses_without_targets(loss):
    """Hinge and WGAN have no labels: smoothing or flipping them is an error."""
    with pytest.raises(ValueError, match="^label_smoothing.*" + loss):
        TrainConfig(loss=loss, label_smoothing=0.1).validate()
    with pytest.raises(ValueError, match="^label_flip"):
        TrainConfig(loss=loss, label_flip=0.1).validate()
    TrainConfig(loss="nonsaturating", label_smoothing=0.1, label_flip=0.1).validate()


def test_mlp_model_with_image_dataset_rejected():
    """The 2-D mlp cannot train on an image dataset."""
    with pytest.raises(ValueError, match="^model"):
        TrainConfig(dataset="mnist", model="mlp").validate()


@pytest.mark.parametrize("model", ["classroom", "wide", "paper", "dcgan64"])
def test_image_model_with_toy_dataset_rejected(model):
    """Image models cannot train on the 2-D ring/grid; the mlp can."""
    with pytest.raises(ValueError, match="^model.*mlp"):
        TrainConfig(dataset="ring", model=model).validate()
    TrainConfig(dataset="ring", model="mlp").validate()
    TrainConfig(dataset="grid", model="mlp").validate()


def test_advantage_to_one_side_only():
    """g_steps_per_d_step and d_steps_per_g_step may not both exceed 1."""
    with pytest.raises(ValueError, match="^g_steps_per_d_step"):
        TrainConfig(g_steps_per_d_step=2, d_steps_per_g_step=5).validate()
    TrainConfig(g_steps_per_d_step=4).validate()
    TrainConfig(d_steps_per_g_step=5).validate()


def test_self_attention_not_for_mlp():
    """Self-attention needs image feature maps."""
    with pytest.raises(ValueError, match="^self_attention"):
        TrainConfig(dataset="ring", model="mlp", self_attention=True).validate()


def test_empty_dataset_name_rejected():
    """A blank dataset name is rejected."""
    with pytest.raises(ValueError, match="^dataset"):
        TrainConfig(dataset="  ").validate()


def test_with_updates_validates():
    """with_updates returns a validated copy and leaves the original alone."""
    cfg = TrainConfig()
    assert cfg.with_updates(lr_g=1e-3).lr_g == 1e-3
    assert cfg.lr_g == 2e-4                      # the original is untouched
    with pytest.raises(ValueError, match="^lr_g"):
        cfg.with_updates(lr_g=-1.0)


def test_dict_round_trip_and_unknown_fields():
    """to_dict/from_dict round-trip; unknown keys are named in the error."""
    cfg = TrainConfig(loss="focal", latent_dim=7, grad_clip=0.25)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown config fields: bogus"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_live_fields_are_config_fields():
    """Every live field exists; model-shaping fields are not live."""
    names = set(TrainConfig().to_dict())
    assert set(LIVE_FIELDS) <= names
    assert "model" not in LIVE_FIELDS and "latent_dim" not in LIVE_FIELDS


# --- presets ---------------------------------------------------------------------------------

def test_flgan_preset_matches_the_authors_code():
    """flgan on the paper model: focal gamma 2, clip 0.25, Adam 2e-4 (0.5, 0.999), batch 64,
    latent 100 (the classroom model adopts its own recipe: tests/test_recipe.py)."""
    cfg = preset("flgan", model="paper")
    assert cfg.loss == "focal"
    assert cfg.focal_gamma == 2.0
    assert cfg.grad_clip == 0.25
    assert cfg.lr_g == 2e-4 and cfg.lr_d == 2e-4
    assert (cfg.beta1, cfg.beta2) == (0.5, 0.999)
    assert cfg.batch_size == 64
    assert cfg.latent_dim == 100


def test_dcgan_preset_is_flgan_without_focal_and_clipping():
    """dcgan: the same optimiser and sizes, non-saturating loss, no clipping."""
    cfg, fl = preset("dcgan"), preset("flgan")
    assert cfg.loss == "nonsaturating"
    assert cfg.grad_clip is None
    for name in ("lr_g", "lr_d", "beta1", "beta2", "batch_size", "latent_dim"):
        assert getattr(cfg, name) == getattr(fl, name), name


def test_preset_overrides_and_unknown_name():
    """Keyword overrides beat the preset; an unknown preset is an error."""
    assert preset("flgan", grad_clip=None).grad_clip is None
    assert preset("flgan", batch_size=32).batch_size == 32
    with pytest.raises(ValueError, match="preset must be one of"):
        preset("nosuch")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates(name):
    """Each preset is a valid config as it stands."""
    preset(name)


# --- devices ---------------------------------------------------------------------------------

def test_available_devices_ends_with_cpu():
    """The CPU is always available and listed last."""
    devs = available_devices()
    assert devs[-1] == "cpu"
    assert ("cuda" in devs) == torch.cuda.is_available()


def test_resolve_device_auto_and_cpu():
    """auto picks the best present device; here (no GPU) that is the CPU."""
    assert resolve_device("cpu") == torch.device("cpu")
    if available_devices() != ["cpu"]:
        pytest.skip("an accelerator is present; auto would not pick the CPU")
    assert resolve_device("auto") == torch.device("cpu")


def test_resolve_missing_cuda_is_an_error():
    """Asking for CUDA without it is a ValueError that lists what is available."""
    if torch.cuda.is_available():
        pytest.skip("CUDA is available on this machine")
    with pytest.raises(ValueError, match="not available") as e:
        resolve_device("cuda")
    assert "cpu" in str(e.value)          # lists what is available


def test_resolve_unknown_device():
    """An unknown device name is a ValueError."""
    with pytest.raises(ValueError, match="^device must be one of"):
        resolve_device("tpu")


def test_sagan_preset_is_the_papers_recipe():
    """Spectral norm in G and D, no batch norm in D, hinge, TTUR G 1e-4 / D 4e-4, Adam (0, 0.9)
    and attention: the old preset had spectral norm on D only, beside D's batch norm."""
    cfg = preset("sagan")
    assert cfg.spectral_norm_g and cfg.spectral_norm_d and not cfg.batch_norm_d
    assert cfg.batch_norm                                 # G keeps its batch norm
    assert (cfg.loss, cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2) == ("hinge", 1e-4, 4e-4, 0.0, 0.9)
    assert cfg.self_attention
