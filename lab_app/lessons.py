"""Ready-made set-ups that open a page configured to show one lesson (no Streamlit here).

Each lesson is the page to open and the URL settings to open it with; the Train and Compare
pages read their settings from the URL, so a lesson is also a link a teacher can share.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gan_core.config import RECIPES
from gan_core.datasets import is_points_dataset
from gan_core.sources import SOURCES, how_to_get, on_disk
from lab_app.settings import URL_FIELDS

# Written by `python -m benchmarks.lessons` (the lesson benchmark): per lesson, how many seeds
# showed its effect and by which step.
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "lessons.json"


@dataclass(frozen=True)
class Effect:
    """What a lesson promises, as a detector of gan_core.detectors that the benchmark runs on
    the lesson's own run: `detector` is a key of DETECTORS, or `covers` (2-D: every mode
    covered), `digits` (the judge names at least 30% of the samples with confidence) or
    `pair_first` (Compare: side A reaches the quality line, judge FD <= 200, at an earlier
    evaluation than side B)."""
    detector: str
    watch: str                # what to watch for, one line on the card
    then: Optional[dict] = None     # live change the benchmark applies 50 steps after the
                                    # effect appears (the lesson's "switch mid-run")


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    page: str                 # file under app_pages/
    blurb: str                # what the class will see
    params: dict = field(default_factory=dict)
    effect: Optional[Effect] = None     # None: nothing trains by itself (step-by-step view,
                                        # the Dirac-GAN plane)


LESSONS: dict[str, Lesson] = {
    "flgan-vs-dcgan": Lesson(
        "flgan-vs-dcgan", "FLGAN vs DCGAN on MNIST", "app_pages/compare.py",
        "Focal loss with clipping (the FLGAN code) against the DCGAN loss, on the plain recipe: "
        "same seed, same weights, same batches, so the two grids stay alike. Which one reaches "
        "the quality line first? Read the one live pair beside the 5-seed result, and the "
        "Experiments page for which half of FLGAN (focal loss or clipping) buys the lead.",
        {"dataset": "mnist", "a": "flgan", "b": "dcgan", "epochs": "3", "recipe": "plain"},
        Effect("pair_first", "FLGAN (A) reaches judge FD 200 before DCGAN (B)")),
    "mode-collapse": Lesson(
        "mode-collapse", "Force mode collapse (latent 1)", "app_pages/train.py",
        "With one latent number the generator can only draw a thin line through image space: "
        "a few digit shapes at most, however long it trains. The samples come from G itself: "
        "an average of G's weights would blend the shapes it hops between.",
        {"dataset": "mnist", "latent_dim": "1", "loss": "nonsaturating", "epochs": "2",
         "recipe": "fast", "ema": "0"},
        Effect("collapse", "the grid shows only a few kinds of digit")),
    "g-advantage": Lesson(
        "g-advantage", "Generator advantage 4:1", "app_pages/train.py",
        "Four generator steps per discriminator step: G keeps pace with its critic. D(G(z)) "
        "stays above 0.3 and log(L_G / L_D) close to the balance line, where at 1:1 D pulls "
        "ahead and the ratio sits far above it. G does not outrun D at 4:1: for that, see "
        "50:1.",
        {"dataset": "mnist", "g_steps": "4", "loss": "nonsaturating", "epochs": "2",
         "recipe": "plain"},
        Effect("d_unsure", "D(G(z)) stays above 0.3: D can barely tell G's samples from real")),
    "saturating": Lesson(
        "saturating", "Saturating loss gets stuck", "app_pages/train.py",
        "The original minimax loss: D wins early, D(G(z)) falls towards 0, and the generator's "
        "gradient vanishes. Switch to non-saturating mid-run and watch it recover.",
        {"dataset": "mnist", "loss": "minimax", "lr_d": "0.0008", "epochs": "2",
         "recipe": "plain"},
        Effect("g_vanished", "D(G(z)) near 0 and G's gradient gone; after the switch it returns",
               then={"loss": "nonsaturating"})),
    "toy-collapse": Lesson(
        "toy-collapse", "Mode collapse on the ring", "app_pages/train.py",
        "Eight Gaussians on a circle, and three generator steps for each discriminator step: "
        "G outruns its critic, piles all its points into one clump and chases D's favourite "
        "spot around the plane instead of covering the eight modes.",
        {"dataset": "ring", "loss": "nonsaturating", "latent_dim": "2", "epochs": "20",
         "batch_size": "128", "lr_g": "0.001", "lr_d": "0.001", "g_steps": "3",
         "recipe": "plain"},
        Effect("collapse", "all the points in one clump that jumps around the plane")),
    "non-convergence": Lesson(
        "non-convergence", "Non-convergence", "app_pages/train.py",
        "Learning rates five times too high on the 5x5 grid: the points never settle, they keep "
        "sweeping across the plane, while the losses sit calmly at their balance values.",
        {"dataset": "grid", "loss": "nonsaturating", "lr_g": "0.005", "lr_d": "0.005",
         "epochs": "20", "batch_size": "128", "recipe": "plain"},
        Effect("circling", "the points keep moving from snapshot to snapshot")),
    "d-domination": Lesson(
        "d-domination", "Discriminator domination", "app_pages/train.py",
        "Five discriminator steps per generator step with the saturating loss: D(x) goes to 1, "
        "D(G(z)) to 0, and the generator's loss flattens.",
        {"dataset": "mnist", "loss": "minimax", "d_steps": "5", "epochs": "2",
         "recipe": "plain"},
        Effect("d_wins", "D(x) near 1 and D(G(z)) near 0 on the middle chart")),
    "g-domination": Lesson(
        "g-domination", "Generator domination (50:1)", "app_pages/train.py",
        "Fifty generator steps per discriminator step, as in the G:D ratio paper: the generator "
        "fools a stale critic, yet its samples never become digits.",
        {"dataset": "mnist", "g_steps": "50", "loss": "nonsaturating", "epochs": "1",
         "subset": "2000", "recipe": "plain"},
        Effect("d_fooled", "D(G(z)) above 0.5 while the samples stay blobs")),
    # Inside the game (issue 14): GAN Lab's views on the Train page
    "fold-the-plane": Lesson(
        "fold-the-plane", "Watch G fold the plane", "app_pages/train.py",
        "A latent grid drawn as a mesh after G, on the ring: watch G fold and stretch the plane "
        "onto the eight modes, with arrows showing where its loss pushes each point.",
        {"dataset": "ring", "latent_dim": "2", "loss": "nonsaturating", "epochs": "12",
         "batch_size": "128", "lr_g": "0.001", "lr_d": "0.001", "recipe": "plain"},
        Effect("covers", "the mesh folds until every one of the 8 modes is covered")),
    "one-step": Lesson(
        "one-step", "One step at a time", "app_pages/train.py",
        "Each click runs one D update or one G update: D's map moves on a D step, the points "
        "move along their arrows on a G step, next to the loss with that step's numbers.",
        {"dataset": "ring", "latent_dim": "2", "loss": "nonsaturating", "batch_size": "128",
         "lr_g": "0.001", "lr_d": "0.001", "view": "step", "recipe": "plain"}),
    "one-step-digits": Lesson(
        "one-step-digits", "One step at a time on digits", "app_pages/train.py",
        "MNIST, one of the trainer's own updates per click. Press One D step: D's number under "
        "each of the 64 samples and the real digits changes, the samples stay pixel for pixel. "
        "Press One G step: the samples change, and a red/blue picture shows where G added and "
        "removed ink. Fast-forward 50 a few times and watch digits appear.",
        {"dataset": "mnist", "recipe": "fast", "view": "step"}),
    "what-d-sees": Lesson(
        "what-d-sees", "What D sees in a digit", "app_pages/train.py",
        "MNIST with D's verdict on every sample, how often G draws each digit, the nearest real "
        "digit and the pixels D wants changed. The samples come from G itself, the one D judges.",
        {"dataset": "mnist", "loss": "nonsaturating", "epochs": "1", "recipe": "fast",
         "ema": "0"},
        Effect("digits", "recognisable digits, each framed with D's verdict")),
    # Issue 34: the Dirac-GAN phase plane; nothing trains, the page draws the whole game
    "why-circle": Lesson(
        "why-circle", "Why GANs circle", "app_pages/dirac.py",
        "The smallest GAN drawn as a plane: G's one number θ against D's slope ψ. With the "
        "Wasserstein loss and plain alternating steps it goes round and round the answer "
        "(0, 0) for ever; the lab's own non-saturating loss creeps in, ever more slowly (pick "
        "it to see). Switch R1 on and watch the same start spiral in.",
        {"loss": "wgan-gp", "gp": "0", "update": "alternating", "lr": "0.1", "r1": "0",
         "theta": "1", "psi": "1"}),
}


def measured() -> dict:
    """The lesson benchmark's results by lesson key ({} when it has not been run)."""
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("lessons", {}) if isinstance(data, dict) else {}


def measured_line(key: str, results: Optional[dict] = None) -> str:
    """One line for a lesson's card: 'seen in 5/5 runs, by step 50 (median)', or ''."""
    r = (measured() if results is None else results).get(key)
    if not isinstance(r, dict) or not isinstance(r.get("seeds"), int):
        return ""
    shown, seeds = int(r.get("shown", 0)), r["seeds"]
    line = f"Measured: seen in {shown}/{seeds} runs"
    if isinstance(r.get("median_step"), (int, float)):
        line += f", by step {int(r['median_step'])} (median)"
    return line


def recipe_line(lesson: Lesson) -> str:
    """Which recipe a lesson trains with, and what its link changes of it: 'Plain DCGAN, as in
    the papers', 'Fast classroom recipe, but samples from G itself', or '' without one."""
    recipe = RECIPES.get(lesson.params.get("recipe", ""))
    if recipe is None:
        return ""
    points = is_points_dataset(lesson.params.get("dataset", ""))
    if points:      # on the 2-D sets a recipe only says where the samples come from
        return ("samples from G itself" if recipe.values(True).get("ema_decay") is None
                else "samples from an average of G's weights (EMA)")
    values = recipe.values(points)
    changed = []
    for key, text in lesson.params.items():
        name = URL_FIELDS.get(key, (None,))[0]
        if name not in values:
            continue
        if name == "ema_decay" and text == "0":
            changed.append("samples from G itself")
        elif name == "clusters" and text == "0":
            changed.append("no clusters (so G can miss some digits)")
        elif str(values[name]) != text:
            changed.append(f"{key} {text}")
    return recipe.name + (", but " + ", ".join(changed) if changed else "")


def dataset_line(lesson: Lesson, data_dir: Path | None = None) -> tuple[str, bool]:
    """(which dataset a lesson needs and whether it is here, True when it is): 'Needs mnist:
    here', or 'Needs mnist, not on this server: ./lab data fetch mnist'; ('', True) for the
    2-D sets, which need no files."""
    name = lesson.params.get("dataset", "")
    if name not in SOURCES:
        return "", True
    if on_disk(name, data_dir):
        return f"Needs {name}: here", True
    return f"Needs {name}, not on this server: `{how_to_get(name, data_dir)}`", False

