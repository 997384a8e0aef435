"""The papers' claims as experiments: what each sweep runs, arms crossed with seeds.

An `Experiment` is a set of *arms* (config changes) crossed with seeds; `plan()` lists its
runs with validated configs. Running the runs is gan_core.sweeps; tables, statistics and plots
are gan_core.sweep_stats; the sentence a finished sweep becomes is gan_core.verdicts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .config import MODEL_RECIPES, PRESETS, TrainConfig, preset
from .losses import balance_log_ratio

# --- definitions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    name: str                         # short id, used in file names
    label: str                        # what a student reads
    changes: dict = field(default_factory=dict)     # TrainConfig fields (and "preset")


@dataclass
class Experiment:
    name: str
    title: str
    claim: str                        # the paper's claim, in one line
    source: str                       # which paper
    setup: str                        # what is run, in words
    arms: list[Arm]
    seeds: int
    base: dict                        # TrainConfig fields shared by all arms (full version)
    quick: dict                       # changes for --quick (tests, the page's live rerun)
    quick_seeds: int = 2
    quick_arms: Optional[dict] = None   # arm name -> changes that replace the arm's in --quick
    threshold: Optional[tuple[str, str, float]] = None   # (metric, "<=" or ">=", value)
    more_thresholds: tuple[float, ...] = ()     # further values of the threshold metric
    at_seconds: tuple[float, ...] = ()          # judge FD read off each curve at these seconds
    curve: str = "judge_fd"           # metric plotted over training
    curve_x: str = "step"             # against steps, or time_s (equal-time experiments)
    bars: tuple[str, ...] = ("judge_fd",)
    runner: str = "gan"               # gan, cgan-augment or memorisation (gan_core.sweeps)


# Readable names of the numbers a run reports.
NAMES = {
    "judge_fd": "judge FD (lower is better)",
    "judge_fd_all": "judge FD against the whole held-out reference",
    "confident_share": "share the judge recognises (>= 0.9)",
    "classes_covered": "classes covered (of 10)",
    "class_kl": "class imbalance KL (0 = even)",
    "memorisation": "distance to nearest real image (judge features)",
    "copy_share": "share of samples nearer a training image than a held-out one (0.5: none)",
    "copy_ratio": "distance to training images / to held-out ones (below 1: copying)",
    "class_accuracy": "CGAN: share drawn as the asked class",
    "train_seconds": "training seconds",
    "steps": "training steps",
    "steps_to_threshold": "steps to threshold",
    "seconds_to_threshold": "seconds to threshold",
    "log_lg_ld": "log(L_G / L_D)",
    "g_updates": "generator updates",
    "mean_judge_fd": "mean judge FD over training (area under the curve per step)",
    "judge_fd_at_15s": "judge FD after 15 training seconds",
}
AUGMENT_SHARES = (0, 25, 50, 75, 100)       # % of the classifier's training set that is generated


# The shipped sweeps were made with the classroom model on the papers' optimiser (Adam 2e-4), in
# fp32, sampling G itself; pinned (presets without the model recipe, see `plan`) so that the
# classroom recipe's tuning does not move them.
MNIST = dict(dataset="mnist", download=False, model="classroom", preset="dcgan",
             ema_decay=None, precision="fp32")
# The classroom recipe (preset dcgan on the classroom model, as the shipped mnist_cgan.pt was
# trained): a higher learning rate, an EMA of G for the samples, bf16 where native; batch 64 as
# the shipped runs had (the recipe's batch 32 came later), and without the recipe's cluster
# conditioning (later still).
CLASSROOM_RECIPE = {**MNIST, **MODEL_RECIPES["classroom"], "ema_decay": 0.999, "precision": "auto",
                    "batch_size": 64, "clusters": None}
QUICK = dict(subset=512, max_steps=16, eval_every=8, eval_samples=100, epochs=100)

# The papers' claims, in what they report (their texts are paraphrased, their numbers kept).
FLGAN_CLAIM = "The FLGAN paper reports that FLGAN converges in about half the time of DCGAN."
GD_CLAIM = ("The G:D ratio paper trains with generator advantages of 2:1, 4:1 and 50:1 on 192 "
            "images and plots log(L_G / L_D) for each.")

# The FLGAN authors' code changed two things at once: four arms separate them.
FOCAL_ARMS = [Arm("focal_clip", "focal + clipping (FLGAN code)", dict(loss="focal", grad_clip=0.25)),
              Arm("focal", "focal only", dict(loss="focal")),
              Arm("clip", "clipping only", dict(grad_clip=0.25)),
              Arm("neither", "neither (DCGAN)", {})]

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    Experiment(
        name="focal-vs-dcgan", title="Does focal loss converge in half the time?",
        claim=FLGAN_CLAIM, source="FLGAN",
        setup="Classroom DCGAN on MNIST, batch 64, Adam 2e-4 (0.5, 0.999), latent 100, 4 epochs. "
              "The FLGAN authors' code changed two things at once (focal loss and gradient "
              "clipping at 0.25), so four arms separate them. The judge scores 500 samples every "
              "26 steps; time is training time, evaluations excluded. The shipped runs trained two "
              "at a time on a 2-core machine that was also doing other work, so their seconds "
              "are noisier than their steps; the verdict's ratio uses steps. A seed that never "
              "reaches a threshold counts at its last step (censored), not dropped.",
        arms=FOCAL_ARMS,
        seeds=5, base=dict(MNIST, epochs=4, eval_every=26, eval_samples=500),
        quick=QUICK, threshold=("judge_fd", "<=", 200.0), more_thresholds=(400.0, 300.0, 150.0),
        bars=("seconds_to_threshold", "steps_to_threshold", "mean_judge_fd", "judge_fd")),
    Experiment(
        name="focal-vs-dcgan-paper", title="Focal loss against DCGAN on the authors' model",
        claim=FLGAN_CLAIM, source="FLGAN",
        setup="The FLGAN authors' own model (32x32, Linear to 128x8x8, upsample + 3x3 conv "
              "blocks; D of four stride-2 blocks with dropout 0.25) and optimiser (Adam 2e-4, "
              "(0.5, 0.999), batch 64, latent 100, fp32, no EMA) on MNIST, 4 of the paper's "
              "epochs (3,752 steps, 240,000 images). Four arms separate focal loss from the "
              "gradient clipping at 0.25 that their code also adds. The judge scores 500 "
              "samples every 94 steps (a tenth of a paper epoch); the verdict's ratio uses "
              "steps. Trained on a GPU, 20 runs at once. A seed that never reaches a threshold "
              "counts at its last step (censored).",
        arms=FOCAL_ARMS,
        seeds=5, base=dict(MNIST, model="paper", epochs=1000, max_steps=3752, eval_every=94,
                           eval_samples=500),
        quick=dict(QUICK, model="paper"), threshold=("judge_fd", "<=", 20.0),
        more_thresholds=(50.0, 30.0, 10.0),
        bars=("seconds_to_threshold", "steps_to_threshold", "mean_judge_fd", "judge_fd")),
    Experiment(
        name="latent-size", title="How small can the latent space be?",
        claim="The GAN losses report trains with latent sizes 10 and 50, and reports that a "
              "latent of 1 forces mode collapse.", source="GAN losses report",
        setup="Classroom DCGAN on MNIST, non-saturating loss, 4 epochs, latent 1, 2, 10, 50, 100. "
              "Classes covered: classes given at least 1% of 1,000 samples by the judge.",
        arms=[Arm(f"z{z}", f"latent {z}", dict(latent_dim=z)) for z in (1, 2, 10, 50, 100)],
        seeds=5, base=dict(MNIST, epochs=4, eval_every=52, eval_samples=500), quick=QUICK,
        bars=("classes_covered", "judge_fd", "class_kl")),
    Experiment(
        name="gd-ratio", title="Should the generator get more updates?",
        claim=GD_CLAIM, source="G:D ratio paper",
        setup="Classroom DCGAN on MNIST, non-saturating loss, the same 125 real batches (one "
              "epoch of the 8,000 training digits; 156 of all 10,000 in the shipped results, "
              "made before the reference was held out) for every arm; G gets 1, 2, 4 or 50 "
              "updates per D update, or D gets 2 or 5 "
              "per G update. The extra updates cost wall time, which is reported, and FD is also read "
              "at 15 training seconds. The arms get from 25 to 6,250 G updates, so the "
              "comparison after the same batches is one of update counts as much as of ratios; "
              "log(L_G / L_D) is read against the loss's balance line, -0.69 (D = 1/2), not 0.",
        arms=[Arm("g1", "G:D 1:1", {}), Arm("g2", "G:D 2:1", dict(g_steps_per_d_step=2)),
              Arm("g4", "G:D 4:1", dict(g_steps_per_d_step=4)),
              Arm("g50", "G:D 50:1", dict(g_steps_per_d_step=50)),
              Arm("d2", "D:G 2:1", dict(d_steps_per_g_step=2)),
              Arm("d5", "D:G 5:1", dict(d_steps_per_g_step=5))],
        seeds=5, base=dict(MNIST, epochs=1, eval_every=26, eval_samples=500),
        quick=dict(QUICK, max_steps=6, eval_every=3, depth="small"), quick_seeds=1,
        curve="log_lg_ld", bars=("judge_fd", "train_seconds", "log_lg_ld", "judge_fd_at_15s"),
        at_seconds=(15.0,)),
    Experiment(
        name="gd-ratio-equal-g", title="More G updates per D update, at equal G updates",
        claim=GD_CLAIM, source="G:D ratio paper",
        setup="As gd-ratio (classroom DCGAN on MNIST, non-saturating loss, Adam 2e-4, fp32), but "
              "every arm stops after about 312 G updates (two epochs of all 10,000 digits at 1:1, "
              "as the shipped results trained; 2.5 of the 8,000 training digits now), so the "
              "ratio is "
              "compared at equal generator training rather than equal real batches: G:D 1:1, "
              "2:1, 4:1 and 50:1 see 312, 156, 78 and 7 real batches; D:G 2:1 and 5:1 see "
              "624 and 1,560. The judge scores 500 samples about every 26 G updates; "
              "log(L_G / L_D) is read against the balance line, -0.69. (gd-ratio reads FD at "
              "equal wall time.)",
        arms=[Arm("g1", "G:D 1:1", dict(max_steps=312, eval_every=26)),
              Arm("g2", "G:D 2:1", dict(g_steps_per_d_step=2, max_steps=156, eval_every=13)),
              Arm("g4", "G:D 4:1", dict(g_steps_per_d_step=4, max_steps=78, eval_every=7)),
              Arm("g50", "G:D 50:1", dict(g_steps_per_d_step=50, max_steps=7, eval_every=1)),
              Arm("d2", "D:G 2:1", dict(d_steps_per_g_step=2, max_steps=624, eval_every=52)),
              Arm("d5", "D:G 5:1", dict(d_steps_per_g_step=5, max_steps=1560, eval_every=130))],
        seeds=5, base=dict(MNIST, epochs=1000, eval_samples=500),
        quick=dict(QUICK, depth="small"), quick_seeds=1,
        quick_arms={"g1": dict(max_steps=4, eval_every=2),
                    "g2": dict(g_steps_per_d_step=2, max_steps=2, eval_every=1),
                    "g4": dict(g_steps_per_d_step=4, max_steps=1, eval_every=1),
                    "g50": dict(g_steps_per_d_step=50, max_steps=1, eval_every=1),
                    "d2": dict(d_steps_per_g_step=2, max_steps=8, eval_every=4),
                    "d5": dict(d_steps_per_g_step=5, max_steps=15, eval_every=5)},
        curve="log_lg_ld", bars=("judge_fd", "train_seconds", "log_lg_ld")),
    Experiment(
        name="small-data", title="Does a GAN trained on 500 images copy them?",
        claim="The GAN losses report trains on 500 and on 3,500 real images and compares the "
              "results; the lab asks whether the small set is copied.",
        source="GAN losses report",
        setup="Classroom DCGAN (non-saturating loss, Adam 2e-4 (0.5, 0.999), bf16 where native "
              "for speed, samples from G itself) on 500 or 3,500 MNIST digits, a different random draw per seed, 1,600 "
              "steps of 64 (205 epochs of 500 images, 29 of 3,500). Held out: the 2,000 reference "
              "digits no GAN trains on (gan_core.data.heldout_split); the GAN draws its images "
              "from the other 8,000. (The shipped results were made before that, with the "
              "judge's 1,000 unseen digits held out and 9,000 to draw from: docs/heldout.md.) "
              "For each of 1,000 samples, its "
              "nearest-neighbour distance to the training images against its distance to an "
              "equal number of held-out digits: min(n, 1,000) of each (all 500 training images "
              "against 500 held-out ones; 1,000 of the 3,500 against 1,000 held-out, so a "
              "copy of one of the other 2,500 counts as no copy and that arm's share is "
              "diluted). Reported: the share of samples nearer a training image (50% = no "
              "copying, near 100% = copies) and the ratio of the mean distances. Distances are "
              "RMS pixel differences: the judge trained on all the GAN's training digits but "
              "on only half the held-out ones, so its features could favour one set. "
              "An arm copies when its "
              "share is at least 75% and clearly above 50% (a one-sample t-test, Holm-corrected). "
              "The page shows, per arm, the samples nearest a training image beside that image. "
              "3 seeds, not 5, and no third arm with all the other digits: the 2-core machine "
              "was shared with other work and more did not fit the time available.",
        arms=[Arm("n500", "500 images", dict(subset=500)),
              Arm("n3500", "3,500 images", dict(subset=3500))],
        seeds=3, base=dict(MNIST, precision="auto", epochs=1000, max_steps=1600, eval_every=400,
                           eval_samples=500),
        quick=QUICK, quick_arms={"n500": dict(subset=128), "n3500": dict(subset=256)},
        runner="memorisation",
        bars=("copy_share", "copy_ratio", "judge_fd")),
    Experiment(
        name="depth-bn", title="Generator size and batch norm",
        claim="The coursework compared small, medium and large generators (the medium one "
              "was best for its DCGAN) and trained with batch norm on and off.",
        source="DCGAN coursework",
        setup="Classroom DCGAN on MNIST, non-saturating loss, 3 epochs; the generator is small, "
              "medium or large (half, the reference, or double its widths, plus a conv block); "
              "the discriminator keeps its width (64 and 128 channels) in every arm. Batch norm "
              "on or off, in G and D. A run whose samples never change over training is "
              "reported as 'did not train', not as mode collapse.",
        arms=[Arm(f"{d}_{'bn' if bn else 'nobn'}", f"{d}, batch norm {'on' if bn else 'off'}",
                  dict(depth=d, batch_norm=bn))
              for bn in (True, False) for d in ("small", "medium", "large")],
        seeds=5, base=dict(MNIST, epochs=3, eval_every=52, eval_samples=500), quick=QUICK,
        bars=("judge_fd", "classes_covered", "confident_share", "train_seconds")),
    Experiment(
        name="sagan", title="What does each part of the SAGAN recipe buy?",
        claim="Zhang et al. (2019) report that self-attention, with spectral norm in G and D, "
              "hinge loss and two learning rates (G 1e-4, D 4e-4), raised the best published "
              "ImageNet Inception score from 36.8 to 52.52 and cut FID from 27.62 to 18.65.",
        source="SAGAN paper",
        setup="Classroom model on MNIST, every arm trained for the same 120 s of training time "
              "(evaluations excluded) on one CPU thread, two runs at a time on an otherwise quiet "
              "2-core machine, so a slower recipe is not favoured by steps (the arms reach "
              "different step counts, which are reported). From the "
              "DCGAN recipe (non-saturating loss, Adam 2e-4 (0.5, 0.999), batch norm in G and "
              "D), one change at a time: +hinge loss; +TTUR (G 1e-4, D 4e-4 with SAGAN's Adam "
              "(0, 0.9)); +spectral norm on every layer of G and D, and D's batch norm removed "
              "(the batch_norm_d flag: SAGAN's D has none, G keeps its own); +self-attention in "
              "G and D; then all four (the sagan preset). Short of the paper's hours on "
              "GPUs, so read it as what each part does early in training. The judge scores "
              "500 samples every 100 steps and 1,000 at the end; a difference is called clear "
              "when a paired t-test across seeds, Holm-corrected, gives p below 0.05.",
        arms=[Arm("dcgan", "DCGAN recipe", {}),
              Arm("hinge", "+ hinge loss", dict(loss="hinge")),
              Arm("ttur", "+ TTUR", dict(lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9)),
              Arm("sn", "+ spectral norm", dict(spectral_norm_g=True, spectral_norm_d=True,
                                                batch_norm_d=False)),
              Arm("attention", "+ self-attention", dict(self_attention=True)),
              Arm("sagan", "full SAGAN recipe", dict(preset="sagan"))],
        seeds=5, base=dict(MNIST, epochs=1000, max_seconds=120.0, eval_every=100,
                           eval_samples=500),
        quick=dict(QUICK, max_seconds=None), curve_x="time_s",
        bars=("judge_fd", "confident_share", "steps", "classes_covered")),
    Experiment(
        name="cgan-augment", title="Can generated digits train a classifier?",
        claim="The coursework measured its CGAN's class accuracy and retrained a classifier "
              "with a share of generated digits in place of real ones.",
        source="DCGAN and CGAN coursework",
        setup="A CGAN (classroom model with the classroom recipe: Adam 5e-4 (0.5, 0.999), an "
              "EMA of G's weights (0.999) for the samples, bf16 where native) trains for 1,600 "
              "steps on MNIST's 8,000 training digits; the 2,000 held-out reference digits are "
              "kept aside. Its class accuracy is "
              "the share of 1,000 samples the judge reads as the asked digit (the aim: at least "
              "90%, else the test measures a weak CGAN). Then a small CNN trains for 5 epochs "
              "on 2,000 images of which 0, 25, 50, 75 or 100% are generated; both the real and "
              "the generated part have equal counts of each digit. It is tested on the 2,000 "
              "digits set aside.",
        arms=[Arm("cgan", "CGAN", dict(conditional=True))],
        seeds=5, base=dict(CLASSROOM_RECIPE, epochs=1000, max_steps=1600, eval_every=200,
                           eval_samples=500),
        quick=dict(QUICK, subset=None), quick_seeds=1, runner="cgan-augment",
        bars=tuple(f"acc_gen_{p}" for p in AUGMENT_SHARES) + ("class_accuracy",)),
]}

for _p in AUGMENT_SHARES:
    NAMES[f"acc_gen_{_p}"] = f"classifier accuracy, {_p}% generated"


def balance_line(exp: Experiment) -> Optional[float]:
    """For a log(L_G/L_D) curve: where the base loss is balanced (-ln 2 for cross-entropy)."""
    if exp.curve != "log_lg_ld":
        return None
    preset = PRESETS.get(exp.base.get("preset"), {})
    loss = exp.base.get("loss") or preset.get("loss", "nonsaturating")
    smoothing = exp.base.get("label_smoothing", preset.get("label_smoothing", 0.0))
    return balance_log_ratio(loss, smoothing=smoothing)


# --- planning --------------------------------------------------------------------------------

@dataclass
class PlannedRun:
    run_id: str
    arm: str
    seed: int
    config: dict


def plan(name: str, quick: bool = False, seeds: Optional[int] = None,
         steps: Optional[int] = None, data_dir: Optional[str] = None) -> list[PlannedRun]:
    """Every (arm, seed) run of an experiment, with its validated config."""
    exp = get_experiment(name)
    n_seeds = seeds if seeds is not None else (exp.quick_seeds if quick else exp.seeds)
    if not 1 <= n_seeds <= 50:
        raise ValueError(f"seeds must be from 1 to 50; got {n_seeds}")
    if steps is not None and not 1 <= steps <= 10**6:
        raise ValueError(f"steps must be from 1 to 1000000; got {steps}")
    out = []
    # Seed-major order: parallel workers then run different arms side by side, so anything
    # else slowing the machine down touches every arm alike.
    for seed, arm in ((s, a) for s in range(n_seeds) for a in exp.arms):
        changes = dict(arm.changes)
        if quick and exp.quick_arms is not None:
            changes = dict(exp.quick_arms[arm.name])
        values = {**exp.base, **(exp.quick if quick else {}), **changes}
        if steps is not None:
            values.update(max_steps=steps, epochs=10**4,
                          eval_every=max(1, min(values.get("eval_every") or steps, steps // 4 or 1)))
        if data_dir:
            values["data_dir"] = str(data_dir)
        preset_name = values.pop("preset", None)
        cfg = preset(preset_name, recipe=False, **values, seed=seed) if preset_name else \
            TrainConfig(**values, seed=seed).validate()
        out.append(PlannedRun(f"{arm.name}_s{seed}", arm.name, seed, cfg.to_dict()))
    return out


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
