"""Every numeric setting at 0, negative, NaN, infinite and huge, and combinations that cannot
work: each answers with a message naming the field and what to change, never a traceback, in
the config, the URL parser, the command line and the Train page."""
from __future__ import annotations

import math
from pathlib import Path
from dataclasses import fields

import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.data import Dataset
from gan_core.trainer import Trainer

REPO_ROOT = Path(__file__).resolve().parents[1]

from lab_app.settings import URL_FIELDS, config_from_params

NUMERIC = [f.name for f in fields(TrainConfig)
           if f.type in ("int", "float", "Optional[int]", "Optional[float]")]
HOSTILE = {"zero": 0, "negative": -1, "nan": math.nan, "inf": math.inf, "-inf": -math.inf,
           "huge": 10**30}
# Values a field legitimately accepts among the hostile ones.
ACCEPTS = {"focal_gamma": {"zero"}, "gp_weight": {"zero"}, "beta1": {"zero"}, "beta2": {"zero"},
           "label_smoothing": {"zero"}, "label_flip": {"zero"}, "seed": {"zero"},
           "dropout": {"zero"}, "ema_decay": {"zero"}}


def test_the_numeric_fields_are_all_covered():
    assert len(NUMERIC) == 27
    assert {"latent_dim", "batch_size", "lr_g", "epochs", "grad_clip", "max_seconds",
            "eval_samples", "subset", "ema_decay", "clusters", "r1_gamma"} <= set(NUMERIC)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("case", list(HOSTILE))
def test_each_numeric_field_refuses_hostile_values_by_name(name, case):
    value = HOSTILE[case]
    cfg = TrainConfig(**{name: value})
    if case in ACCEPTS.get(name, set()):
        assert cfg.validate() is cfg
        return
    with pytest.raises(ValueError) as err:
        cfg.validate()
    msg = str(err.value)
    assert msg.startswith(f"{name} must be "), msg
    assert "got" in msg                                     # it echoes what was given


def test_whole_numbers_refuse_fractions_and_booleans():
    for bad in (2.5, True, "64"):
        with pytest.raises(ValueError, match="batch_size must be a whole number from 1 to 4096"):
            TrainConfig(batch_size=bad).validate()


@pytest.mark.parametrize("key", [k for k, (_, kind) in URL_FIELDS.items() if kind in (int, float)])
@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "1e400", "99999999999999999999", "abc", " "])
def test_url_values_never_raise_and_leave_a_valid_config(key, raw):
    cfg, errors = config_from_params({"dataset": "ring", key: raw})
    cfg.validate()                                  # whatever came in, what comes out is usable
    if key in errors:
        assert errors[key]                          # a message for the field that was bad


def test_url_errors_say_which_field_and_why():
    _, errors = config_from_params({"dataset": "ring", "batch_size": "-5", "lr_g": "nan",
                                    "latent_dim": "1e9", "epochs": "0"})
    assert errors["batch_size"].startswith("batch_size must be a whole number from 1 to 4096")
    assert errors["lr_g"] == "lr_g: 'nan' is not a valid float"
    assert errors["latent_dim"] == "latent_dim: '1e9' is not a valid int"
    assert errors["epochs"].startswith("epochs must be a whole number from 1 to 10000")


def test_batch_larger_than_the_dataset_says_the_largest_that_works(ring_dataset):
    small = Dataset("ring", ring_dataset.data[:10])
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64, device="cpu")
    with pytest.raises(ValueError, match=r"batch_size 64 is larger than the dataset \(10 samples\); "
                                         r"choose at most 10"):
        Trainer(cfg, small)


def test_a_cgan_on_an_unlabelled_folder_says_how_to_label_it(unlabelled_image_dataset, image_cfg):
    with pytest.raises(ValueError, match=r"conditional needs a labelled dataset; .* has no labels "
                                         r"\(use a folder with one subfolder per class\)"):
        Trainer(image_cfg(conditional=True), unlabelled_image_dataset)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_names_the_devices_there_are(ring_cfg):
    with pytest.raises(ValueError, match=r"device 'cuda' is not available on this machine; "
                                         r"available: .*cpu"):
        Trainer(ring_cfg(device="cuda"))


def test_both_advantages_at_once_is_refused():
    with pytest.raises(ValueError, match="g_steps_per_d_step must be 1 when d_steps_per_g_step is above 1"):
        TrainConfig(g_steps_per_d_step=2, d_steps_per_g_step=5).validate()


def test_labels_tricks_with_a_loss_without_labels_are_refused():
    with pytest.raises(ValueError, match="label_smoothing must be 0 with the hinge loss"):
        TrainConfig(loss="hinge", label_smoothing=0.1).validate()


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "error: batch_size must be a whole number from 1 to 4096; got 0"),
    (["--lr-g", "nan"], "error: lr_g must be a number above 0 and at most 1; got nan"),
    (["--latent-dim", "-3"], "error: latent_dim must be a whole number from 1 to 1000; got -3"),
    (["--epochs", "abc"], "error: argument --epochs: invalid int value: 'abc'"),
    (["--grad-clip", "inf"], "error: grad_clip must be a number above 0"),
])
def test_the_command_line_answers_bad_numbers_with_one_line(cli, tmp_path, args, message):
    r = cli("train", "--dataset", "ring", "--out", tmp_path / "o", *args)
    assert r.returncode == 2
    assert r.stderr.strip().startswith(message), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()               # nothing half-made


def test_the_train_page_shows_messages_for_a_hostile_link():
    from apphelpers import page
    at = page("train", dataset="ring", batch_size="-1", lr_g="nan", latent_dim="1e99",
              epochs="999999", subset="-5", seed="-1", clip="inf", g_steps="0").run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    for key in ("batch_size", "lr_g", "latent_dim", "epochs", "subset", "seed", "clip", "g_steps"):
        assert key in warnings, key
    start = [b for b in at.button if b.label == "Start training"][0]
    assert not start.disabled                           # the defaults it fell back to are valid
