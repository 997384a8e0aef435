"""Ready-made set-ups that open a page configured to show one lesson (no Streamlit here).

Each lesson is the page to open and the URL settings to open it with; the Train and Compare
pages read their settings from the URL, so a lesson is also a link a teacher can share.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    page: str                 # file under app_pages/
    blurb: str                # what the class will see
    params: dict = field(default_factory=dict)


LESSONS: dict[str, Lesson] = {
    "flgan-vs-dcgan": Lesson(
        "flgan-vs-dcgan", "FLGAN vs DCGAN on MNIST", "app_pages/compare.py",
        "Focal loss (gamma 2, clipping 0.25) against the DCGAN loss, same seed, same weights, "
        "same batches: which one draws digits first?",
        {"dataset": "mnist", "a": "flgan", "b": "dcgan", "epochs": "3"}),
    "mode-collapse": Lesson(
        "mode-collapse", "Force mode collapse (latent 1)", "app_pages/train.py",
        "With one latent number the generator can only draw a thin line through image space: "
        "a few digit shapes at most, however long it trains.",
        {"dataset": "mnist", "latent_dim": "1", "loss": "nonsaturating", "epochs": "3"}),
    "g-advantage": Lesson(
        "g-advantage", "Generator advantage 4:1", "app_pages/train.py",
        "Four generator steps per discriminator step: watch log(L_G / L_D) and D(G(z)) as the "
        "generator outruns its critic.",
        {"dataset": "mnist", "g_steps": "4", "loss": "nonsaturating", "epochs": "2"}),
    "saturating": Lesson(
        "saturating", "Saturating loss gets stuck", "app_pages/train.py",
        "The original minimax loss: D wins early, D(G(z)) falls towards 0, and the generator's "
        "gradient vanishes. Switch to non-saturating mid-run and watch it recover.",
        {"dataset": "mnist", "loss": "minimax", "lr_d": "0.0008", "epochs": "2"}),
    "toy-collapse": Lesson(
        "toy-collapse", "Mode collapse on the ring", "app_pages/train.py",
        "Eight Gaussians on a circle: a generator that covers one or two and hops between them.",
        {"dataset": "ring", "loss": "nonsaturating", "latent_dim": "2", "epochs": "20",
         "batch_size": "128", "lr_g": "0.001", "lr_d": "0.001"}),
    "non-convergence": Lesson(
        "non-convergence", "Non-convergence", "app_pages/train.py",
        "Learning rates ten times too high on the 5x5 grid: the losses oscillate and the points "
        "never settle.",
        {"dataset": "grid", "loss": "nonsaturating", "lr_g": "0.005", "lr_d": "0.005",
         "epochs": "20", "batch_size": "128"}),
    "d-domination": Lesson(
        "d-domination", "Discriminator domination", "app_pages/train.py",
        "Five discriminator steps per generator step with the saturating loss: D(x) goes to 1, "
        "D(G(z)) to 0, and the generator's loss flattens.",
        {"dataset": "mnist", "loss": "minimax", "d_steps": "5", "epochs": "2"}),
    "g-domination": Lesson(
        "g-domination", "Generator domination (50:1)", "app_pages/train.py",
        "Fifty generator steps per discriminator step, as in the G:D ratio paper: the generator "
        "fools a stale critic and its samples drift.",
        {"dataset": "mnist", "g_steps": "50", "loss": "nonsaturating", "epochs": "1",
         "subset": "2000"}),
    # Inside the game (issue 14): GAN Lab's views on the Train page
    "fold-the-plane": Lesson(
        "fold-the-plane", "Watch G fold the plane", "app_pages/train.py",
        "A latent grid drawn as a mesh after G, on the ring: watch G fold and stretch the plane "
        "onto the eight modes, with arrows showing where its loss pushes each point.",
        {"dataset": "ring", "latent_dim": "2", "loss": "nonsaturating", "epochs": "12",
         "batch_size": "128", "lr_g": "0.001", "lr_d": "0.001"}),
    "one-step": Lesson(
        "one-step", "One step at a time", "app_pages/train.py",
        "Each click runs one D update or one G update: D's map moves on a D step, the points "
        "move along their arrows on a G step, next to the loss with that step's numbers.",
        {"dataset": "ring", "latent_dim": "2", "loss": "nonsaturating", "batch_size": "128",
         "lr_g": "0.001", "lr_d": "0.001", "view": "step"}),
    "what-d-sees": Lesson(
        "what-d-sees", "What D sees in a digit", "app_pages/train.py",
        "MNIST with D's verdict on every sample, the digits G is missing, the nearest real digit "
        "and the pixels D wants changed.",
        {"dataset": "mnist", "loss": "nonsaturating", "epochs": "2"}),
}
