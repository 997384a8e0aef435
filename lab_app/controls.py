"""How the Train page draws each setting: widget kind, label, key and the help a student reads
(no Streamlit here; lab_app.widgets draws them, lab_app.settings reads their session state).

The engine (gan_core.config's `Setting`) holds each field's name, type, range and one-line
meaning; this table holds the page's copy. A field listed here gets a widget, in the config's
order; one that is not stays reachable by link and command line only.

    number        a number box within the setting's range (`lo` overrides an open lower bound)
    slider        a slider within the range
    select        a drop-down of the setting's choices
    checkbox      on/off
    zero_off      a number box where 0 means None (off)
    toggle_number a checkbox (`toggle`) and the value when on (`on_value` when it was off)
    toggle_text   a checkbox that sets the text `on_value` when on, "" when off
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Control:
    kind: str                           # one of the kinds above
    label: str = ""                     # default: the field name
    key: str = ""                       # session-state key stem (default: the field name): t_KEY
    help: str = ""                      # default: the setting's one-line meaning
    lo: Optional[float] = None          # the widget's lowest value where the range's is open
    step: Optional[float] = None
    fmt: Optional[str] = None           # number format, e.g. "%.5f"
    toggle: str = ""                    # toggle_*: the checkbox's label
    on_value: Any = None                # toggle_*: the value when switched on
    more: bool = True                   # in the "More" expander (else at the top)


CONTROLS: dict[str, Control] = {
    "subset": Control("zero_off", "Use only this many samples (0: all)", step=500, more=False),
    "latent_dim": Control("number", "Latent size", more=False,
                          help="1 forces mode collapse; DCGAN uses 100"),
    "depth": Control("select", "Generator size"),
    "batch_norm": Control("checkbox", "Batch norm"),
    "clusters": Control(
        "toggle_number", "Clusters", step=1, on_value=50,
        toggle="Condition on clusters of the images",
        help="Before training, the images are sorted into groups of look-alikes (k-means, no "
             "labels). G and D are told the group of every image, so G draws each kind of "
             "digit from its own part of the latent space instead of blends between kinds. Off "
             "for latent sizes below 8, so the collapse lessons still collapse."),
    "loss": Control("select", "Loss", more=False),
    "focal_gamma": Control("slider", "Focal gamma", step=0.5, more=False,
                           help="0 gives the non-saturating loss"),
    "g_steps_per_d_step": Control("number", "G steps per D step", more=False),
    "d_steps_per_g_step": Control("number", "D steps per G step", more=False),
    "lr_g": Control("number", "G learning rate", lo=1e-6, step=1e-4, fmt="%.5f", more=False),
    "lr_d": Control("number", "D learning rate", lo=1e-6, step=1e-4, fmt="%.5f", more=False),
    "batch_size": Control("number", "Batch size", more=False,
                          help="Real images per step. The papers use 64; the fast classroom "
                               "recipe uses 32, which takes more steps per minute on a CPU, so "
                               "digits appear sooner."),
    "epochs": Control("number", "Epochs", more=False),
    "label_smoothing": Control("slider", "Label smoothing (real target 1 - s)", step=0.05),
    "label_flip": Control("slider", "One-sided label flipping (share of real labelled fake)",
                          step=0.05),
    "grad_clip": Control("toggle_number", "Max gradient norm", key="clip", lo=0.01,
                         toggle="Clip gradient norms", on_value=0.25,
                         help="The FLGAN authors' code clips at 0.25"),
    "r1_gamma": Control(
        "toggle_number", "R1 weight (gamma)", key="r1", lo=0.01, step=1.0, on_value=10.0,
        toggle="Penalise D's slope at real images (R1)",
        help="D is kept flat around the real images, so G and D stop chasing each other in "
             "circles. Each step costs more (a second backward pass through D). What it did "
             "for the latent-1 model: docs/shipped-models.md."),
    "ema_decay": Control(
        "toggle_number", "EMA decay", key="ema", fmt="%.4f", step=0.0005, on_value=0.999,
        toggle="Show samples from an average of G's weights (EMA)",
        help="G's weights wobble from step to step; their running average draws cleaner "
             "digits. It only changes what you see, never the training."),
    "precision": Control(
        "select", "Precision",
        help="bf16 does the matrix work in 16-bit floats, faster on CPUs with AMX/AVX512-BF16 "
             "and on recent GPUs; auto uses it only where the hardware runs it natively."),
    "augment": Control(
        "toggle_text", key="augment", on_value="translation,cutout",
        toggle="Augment D's inputs (DiffAugment)",
        help="D sees every image, real and generated, shifted a little and with a square cut "
             "out, so it cannot memorise a small set of images; G learns through the same "
             "changes."),
    "seed": Control("number", "Seed"),
    "eval_every": Control("zero_off", "Measure quality every N steps (0: never)", key="eval",
                          step=1, help="MNIST: the judge classifier's verdict on 500 samples; "
                                       "2-D sets: modes covered"),
}
