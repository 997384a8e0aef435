"""Experiments: each claim of the five papers as a named sweep of configs, with a verdict.

An `Experiment` is a set of *arms* (config changes) crossed with seeds. `run_sweep()` trains
every (arm, seed) run, in parallel processes where cores allow, and writes into one folder:

    OUT/sweep.json            what was asked (experiment, quick, seeds, steps) and the command
    OUT/runs/ARM_sSEED/result.json   one finished run: config, timing, final metrics, curve
    OUT/results.csv           one row per run
    OUT/curves.csv            one row per evaluation of every run
    OUT/summary.json          per-arm mean and spread, and the verdict sentence
    OUT/*.png                 plots with the spread across seeds

A run is only written when it has finished, atomically, so a sweep that is stopped (Ctrl-C, a
crash) and started again with the same command redoes only the runs that had not finished.
Quality numbers come from the judge classifier (gan_core.metrics): judge FD is a Frechet
distance in the judge's feature space, comparable only with other judge FDs.
"""
from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .checkpoint import atomic_write_text, write_csv
from .config import TrainConfig, preset

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
    bars: tuple[str, ...] = ("judge_fd",)
    runner: str = "gan"               # gan, or cgan-augment
    verdict: Callable[["Experiment", dict], str] = None    # (experiment, per-arm stats) -> text


# Readable names of the numbers a run reports.
NAMES = {
    "judge_fd": "judge FD (lower is better)",
    "judge_fd_all": "judge FD against all real digits",
    "confident_share": "share the judge recognises (>= 0.9)",
    "classes_covered": "classes covered (of 10)",
    "class_kl": "class imbalance KL (0 = even)",
    "memorisation": "distance to nearest training image",
    "memorisation_ratio": "that distance / an unseen digit's (below 1: copying)",
    "real_reference": "unseen real digit's distance to nearest training image",
    "class_accuracy": "CGAN: share drawn as the asked class",
    "train_seconds": "training seconds",
    "steps_to_threshold": "steps to threshold",
    "seconds_to_threshold": "seconds to threshold",
    "log_lg_ld": "log(L_G / L_D)",
    "g_updates": "generator updates",
    "mean_judge_fd": "mean judge FD over training (area under the curve per step)",
    "judge_fd_at_15s": "judge FD after 15 training seconds",
}
AUGMENT_SHARES = (0, 25, 50, 75, 100)       # % of the classifier's training set that is generated


def _fmt(stat: Optional[dict], digits: int = 1, unit: str = "", censored: int = 0) -> str:
    """mean ± sd; with censored seeds (counted at their limit) the mean is a lower bound: >=."""
    if not stat or stat["n"] == 0:
        return "n/a"
    at_least = ">= " if censored else ""
    if stat["n"] == 1:
        return f"{at_least}{stat['mean']:.{digits}f}{unit}"
    return f"{at_least}{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}{unit}"


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _reached(stats: dict, arm: str) -> str:
    s = stats[arm]
    return f"{s['reached']} of {s['runs']} seeds"


def _censored(s: dict, key: str = "steps_to_threshold") -> int:
    """Seeds of an arm that never reached a threshold (counted at their limit)."""
    return s.get("censored_" + key, 0)


def _speed(ratio: float) -> str:
    return "faster" if ratio < 0.95 else "slower" if ratio > 1.05 else "about the same"


def _verdict_focal(exp: Experiment, stats: dict) -> str:
    metric, op, value = exp.threshold
    both, dcgan = stats["focal_clip"], stats["neither"]
    parts = []
    for arm in ("focal_clip", "focal", "clip", "neither"):
        s = stats[arm]
        parts.append(f"{s['label']}: {_fmt(s.get('seconds_to_threshold'), 0, ' s', _censored(s))} "
                     f"({_fmt(s.get('steps_to_threshold'), 0, '', _censored(s))} steps, "
                     f"{_reached(stats, arm)})")
    text = (f"Time to judge FD {op} {value:g}, over {_seeds(both['runs'])} (a seed that never "
            f"gets there counts at its last step, so a mean marked >= is a lower bound). "
            + "; ".join(parts) + ". ")
    a, b = both.get("steps_to_threshold"), dcgan.get("steps_to_threshold")
    if not a or not b or not a["n"] or not b["n"]:
        return text + "Not every arm has a time to the threshold, so no ratio can be given."
    if _censored(both) and _censored(dcgan):
        return text + ("Some seeds of both FLGAN and DCGAN never reached the threshold, so "
                       "their ratio is not known.")
    ratio = a["mean"] / b["mean"]
    if ratio <= 0.6:
        judgement = "the claim of about half the time holds here"
    elif ratio < 0.9:
        judgement = "FLGAN is faster, but not twice as fast"
    elif ratio <= 1.1:
        judgement = "the claim does not hold here: the two take about as long"
    else:
        judgement = "the claim does not hold here: FLGAN is slower"
    text += f"FLGAN needs {ratio:.2f}x DCGAN's steps: {judgement}."
    f, c = stats["focal"].get("steps_to_threshold"), stats["clip"].get("steps_to_threshold")
    if f and c and f["n"] and c["n"]:
        rf, rc, rfc = f["mean"] / b["mean"], c["mean"] / b["mean"], a["mean"] / c["mean"]
        text += (f" Separating the two changes: focal alone takes {rf:.2f}x DCGAN's steps, "
                 f"clipping alone {rc:.2f}x, and focal added to clipping {rfc:.2f}x clipping "
                 f"alone's. ")
        buys = [name for name, r in (("clipping", rc), ("focal loss", rfc)) if r < 0.95]
        if ratio >= 0.95:
            text += "There is no speed-up to attribute."
        elif buys == ["clipping"]:
            alone = {True: " and is slower on its own", False: ""}[rf > 1.05]
            if rf < 0.95:
                alone = ", though on its own it is faster too"
            text += (f"The speed-up is bought by gradient clipping; focal loss adds "
                     f"{'nothing clear' if rfc <= 1.05 else 'a slow-down'} on top of it"
                     f"{alone}.")
        elif buys == ["focal loss"]:
            text += "The speed-up is bought by focal loss; clipping adds nothing clear."
        elif buys:
            text += "Both changes contribute to the speed-up."
        else:
            text += "Neither change on its own accounts for the speed-up clearly."
    more = []
    for v in exp.more_thresholds:
        key = f"steps_to_fd_{v:g}"
        more.append(f"FD {op} {v:g}: " + ", ".join(
            f"{s['label'].split(' (')[0]} {_fmt(s.get(key), 0, '', _censored(s, key))}"
            for s in stats.values()))
    if more:
        text += " Steps to other thresholds: " + "; ".join(more) + "."
    if any(s.get("mean_judge_fd") for s in stats.values()):
        text += (" Mean judge FD over training (the area under the quality curve per step; "
                 "lower is better): " + ", ".join(
                     f"{s['label'].split(' (')[0]} {_fmt(s.get('mean_judge_fd'), 0)}"
                     for s in stats.values()) + ".")
    return text


def _verdict_latent(exp: Experiment, stats: dict) -> str:
    parts = [f"latent {s['label'].split()[-1]}: {_fmt(s.get('classes_covered'), 1)} classes, "
             f"FD {_fmt(s.get('judge_fd'), 0)}" for s in stats.values()]
    full = [s["label"].split()[-1] for s in stats.values()
            if s.get("classes_covered") and s["classes_covered"]["min"] >= 10]
    low = min(stats.values(), key=lambda s: (s.get("classes_covered") or {"mean": 99})["mean"])
    end = (f"The smallest latent that covered all 10 classes in every seed: {full[0]}."
           if full else "No latent size covered all 10 classes in every seed.")
    return (f"Over {_seeds(low['runs'])}: " + "; ".join(parts) + f". Fewest classes: "
            f"{low['label']} ({_fmt(low.get('classes_covered'), 1)}), the mode collapse the "
            f"losses report predicts for a latent of 1. " + end)


def _who_leads(value: float, balance: Optional[float]) -> str:
    """Read log(L_G/L_D) against the loss's balance line (gan_core.losses.balance_point)."""
    if balance is None:
        return "no balance line for this loss"
    d = value - balance
    side = ("G is behind (D ahead)" if d > 0.1 else "D is behind (G ahead)" if d < -0.1
            else "about balanced")
    return f"{d:+.2f} from the balance {balance:.2f}: {side}"


def _verdict_ratio(exp: Experiment, stats: dict) -> str:
    from .losses import balance_log_ratio
    base = stats["g1"]
    balance = balance_line(exp)
    parts = []
    for s in stats.values():
        cost = ""
        if base.get("train_seconds") and s.get("train_seconds") and base["train_seconds"]["mean"]:
            cost = f", {s['train_seconds']['mean'] / base['train_seconds']['mean']:.1f}x the time"
        lead = s.get("log_lg_ld")
        reading = f" ({_who_leads(lead['mean'], balance)})" if lead and lead["n"] else ""
        parts.append(f"{s['label']}: {_fmt(s.get('g_updates'), 0)} G updates, FD "
                     f"{_fmt(s.get('judge_fd'), 0)}{cost}, log(L_G/L_D) ends at "
                     f"{_fmt(lead, 2)}{reading}")
    best = min(stats.values(), key=lambda s: (s.get("judge_fd") or {"mean": math.inf})["mean"])
    text = (f"After the same real batches, over {_seeds(base['runs'])}: " + "; ".join(parts)
            + f". Best FD: {best['label']}. The arms got very different numbers of G updates, "
            f"so this compares update counts as much as ratios.")
    for t in exp.at_seconds:
        key = f"judge_fd_at_{t:g}s"
        have = {k: s[key] for k, s in stats.items() if (s.get(key) or {}).get("n")}
        if not have:
            continue
        early = [s["label"] for k, s in stats.items() if k in have and s.get("train_seconds")
                 and s["train_seconds"]["mean"] < t]
        none = [s["label"] for k, s in stats.items() if k not in have]
        best_t = min(have, key=lambda k: have[k]["mean"])
        text += (f" At equal training time ({t:g} s): " + ", ".join(
            f"{stats[k]['label']} FD {_fmt(v, 0)}" for k, v in have.items())
            + f"; best {stats[best_t]['label']}"
            + (f" ({', '.join(early)} had ended sooner)" if early else "")
            + (f"; not yet measured by then: {', '.join(none)}" if none else "") + ".")
    return text + (" log(L_G/L_D) is read against the balance line, "
                   f"{balance:.2f} for this loss (D = 1/2), not 0." if balance is not None else "")


def _verdict_small(exp: Experiment, stats: dict) -> str:
    parts = [f"{s['label']}: FD against all digits {_fmt(s.get('judge_fd_all'), 0)}, samples at "
             f"{_fmt(s.get('memorisation_ratio'), 2)}x the distance of unseen real digits from "
             f"the training images" for s in stats.values()]
    ratio = {k: (s.get("memorisation_ratio") or {}).get("mean") for k, s in stats.items()}
    ratio = {k: v for k, v in ratio.items() if v is not None}
    text = "Same number of steps for each: " + "; ".join(parts) + "."
    if not ratio:
        return text
    closest = min(ratio, key=ratio.get)
    if ratio[closest] < 1:
        return text + (f" {stats[closest]['label']}: its samples sit closer to the training "
                       f"images than unseen real digits do, a sign of copying (to be confirmed "
                       f"against a held-out set neither the GAN nor the judge saw).")
    return text + (" This cannot tell whether any run copies: every arm's samples sit farther "
                   "from the training images than unseen real digits do because they are off "
                   "the data manifold, so the ratio measures sample quality, not copying; and "
                   "the unseen digits were in the judge's own training set. A test of "
                   "memorisation needs a held-out set neither the GAN nor the judge saw and "
                   "much longer training (hundreds of epochs of 500 images).")


def _verdict_best(exp: Experiment, stats: dict) -> str:
    parts = [f"{s['label']}: FD {_fmt(s.get('judge_fd'), 0)}, "
             f"{_fmt(s.get('classes_covered'), 1)} classes, recognised "
             f"{_fmt(_pct(s.get('confident_share')), 0, '%')}, {_fmt(s.get('train_seconds'), 0, ' s')}"
             for s in stats.values()]
    best = min(stats.values(), key=lambda s: (s.get("judge_fd") or {"mean": math.inf})["mean"])
    runs = next(iter(stats.values()))["runs"]
    failed = [f"{s['label']} ({s['did_not_train']} of {s['runs']} seeds)"
              for s in stats.values() if s.get("did_not_train")]
    collapsed = [f"{s['label']} ({s['collapsed']} of {s['runs']} seeds)"
                 for s in stats.values() if s.get("collapsed")]
    note = ""
    if failed:
        note += (f" Did not train (the samples never changed: a failed run, not mode "
                 f"collapse): {'; '.join(failed)}.")
    if collapsed:
        note += (f" Fewer than 8 classes (mode collapse; a high 'recognised' share there means "
                 f"one digit drawn well): {'; '.join(collapsed)}.")
    return f"Over {_seeds(runs)}: " + "; ".join(parts) + f". Lowest FD: {best['label']}." + note


def _verdict_depth(exp: Experiment, stats: dict) -> str:
    """The coursework found the medium generator best for DCGAN: say whether that holds here."""
    text = _verdict_best(exp, stats)
    bn = {k: s for k, s in stats.items() if k.endswith("_bn") and (s.get("judge_fd") or {}).get("n")}
    if not bn:
        return text
    best = min(bn, key=lambda k: bn[k]["judge_fd"]["mean"])
    size = best.split("_")[0]
    return text + (f" With batch norm on, the lowest FD is the {size} generator: the "
                   f"coursework's finding (medium best) "
                   f"{'holds' if size == 'medium' else 'does not hold'} here, at 3 epochs.")


def _verdict_sagan(exp: Experiment, stats: dict) -> str:
    return _verdict_best(exp, stats) + (
        " This arm is not SAGAN's recipe in full (spectral norm on D only, batch norm beside "
        "spectral norm in D, G's learning rate half of DCGAN's, 3 epochs) and changes "
        "everything at once, so the result says nothing about attention or hinge loss on "
        "their own.")


def _verdict_cgan(exp: Experiment, stats: dict) -> str:
    s = next(iter(stats.values()))
    accs = [f"{p}% generated: {_fmt(_pct(s.get(f'acc_gen_{p}')), 1, '%')}" for p in AUGMENT_SHARES]
    text = (f"Over {_seeds(s['runs'])} the CGAN drew the asked digit "
            f"{_fmt(_pct(s.get('class_accuracy')), 1, '%')} of the time (judge). A classifier "
            f"trained on the same number of images, tested on real digits neither model saw: "
            + "; ".join(accs) + ".")
    acc = (s.get("class_accuracy") or {}).get("mean")
    if acc is not None and acc < 0.9:
        text += (f" The CGAN draws the asked digit only {acc:.0%} of the time (the aim is at "
                 f"least 90%), so this measures a weak CGAN, not what good samples can replace.")
    mean = {p: (s.get(f"acc_gen_{p}") or {}).get("mean") for p in AUGMENT_SHARES}
    if None in mean.values():
        return text
    costs = {p: (mean[0] - mean[p]) * 100 for p in AUGMENT_SHARES if p}
    kept = 0
    for p in sorted(costs):              # the largest share up to which every share is cheap
        if round(costs[p], 6) > 1.0:
            break
        kept = p
    if kept:
        return text + (f" Up to {kept}% generated costs at most a point of accuracy: "
                       f"the samples can stand in for that share of real digits.")
    return text + (f" Every share of generated digits costs accuracy ({costs[25]:.1f} points at "
                   f"25%, {costs[50]:.1f} at 50%, {costs[100]:.1f} with none real): here these "
                   f"samples cannot replace real digits.")


def _pct(stat: Optional[dict]) -> Optional[dict]:
    if not stat:
        return stat
    return {k: (v * 100 if k in ("mean", "std", "min", "max") else v) for k, v in stat.items()}


# The shipped sweeps were made with the classroom model on the papers' optimiser (Adam 2e-4), in
# fp32, sampling G itself; pinned (presets without the model recipe, see `plan`) so that the
# classroom recipe's tuning does not move them.
MNIST = dict(dataset="mnist", download=False, model="classroom", preset="dcgan",
             ema_decay=None, precision="fp32")
QUICK = dict(subset=512, max_steps=16, eval_every=8, eval_samples=100, epochs=100)

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    Experiment(
        name="focal-vs-dcgan", title="Does focal loss converge in half the time?",
        claim="FLGAN converges in about half the time of DCGAN.", source="FLGAN",
        setup="Classroom DCGAN on MNIST, batch 64, Adam 2e-4 (0.5, 0.999), latent 100, 4 epochs. "
              "The FLGAN authors' code changed two things at once (focal loss and gradient "
              "clipping at 0.25), so four arms separate them. The judge scores 500 samples every "
              "26 steps; time is training time, evaluations excluded. The shipped runs trained two "
              "at a time on a 2-core machine that was also doing other work, so their seconds "
              "are noisier than their steps; the verdict's ratio uses steps. A seed that never "
              "reaches a threshold counts at its last step (censored), not dropped.",
        arms=[Arm("focal_clip", "focal + clipping (FLGAN code)", dict(loss="focal", grad_clip=0.25)),
              Arm("focal", "focal only", dict(loss="focal")),
              Arm("clip", "clipping only", dict(grad_clip=0.25)),
              Arm("neither", "neither (DCGAN)", {})],
        seeds=5, base=dict(MNIST, epochs=4, eval_every=26, eval_samples=500),
        quick=QUICK, threshold=("judge_fd", "<=", 200.0), more_thresholds=(400.0, 300.0, 150.0),
        bars=("seconds_to_threshold", "steps_to_threshold", "mean_judge_fd", "judge_fd"),
        verdict=_verdict_focal),
    Experiment(
        name="focal-vs-dcgan-paper", title="Focal loss against DCGAN on the authors' model",
        claim="FLGAN converges in about half the time of DCGAN.", source="FLGAN",
        setup="The FLGAN authors' own model (32x32, Linear to 128x8x8, upsample + 3x3 conv "
              "blocks; D of four stride-2 blocks with dropout 0.25) and optimiser (Adam 2e-4, "
              "(0.5, 0.999), batch 64, latent 100, fp32, no EMA) on MNIST, 4 of the paper's "
              "epochs (3,752 steps, 240,000 images). Four arms separate focal loss from the "
              "gradient clipping at 0.25 that their code also adds. The judge scores 500 "
              "samples every 94 steps (a tenth of a paper epoch); the verdict's ratio uses "
              "steps. Trained on a GPU, 20 runs at once. A seed that never reaches a threshold "
              "counts at its last step (censored).",
        arms=[Arm("focal_clip", "focal + clipping (FLGAN code)", dict(loss="focal", grad_clip=0.25)),
              Arm("focal", "focal only", dict(loss="focal")),
              Arm("clip", "clipping only", dict(grad_clip=0.25)),
              Arm("neither", "neither (DCGAN)", {})],
        seeds=5, base=dict(MNIST, model="paper", epochs=1000, max_steps=3752, eval_every=94,
                           eval_samples=500),
        quick=dict(QUICK, model="paper"), threshold=("judge_fd", "<=", 20.0),
        more_thresholds=(50.0, 30.0, 10.0),
        bars=("seconds_to_threshold", "steps_to_threshold", "mean_judge_fd", "judge_fd"),
        verdict=_verdict_focal),
    Experiment(
        name="latent-size", title="How small can the latent space be?",
        claim="A latent of 1 forces mode collapse; 10 and 50 both work.", source="GAN losses report",
        setup="Classroom DCGAN on MNIST, non-saturating loss, 4 epochs, latent 1, 2, 10, 50, 100. "
              "Classes covered: classes given at least 1% of 1,000 samples by the judge.",
        arms=[Arm(f"z{z}", f"latent {z}", dict(latent_dim=z)) for z in (1, 2, 10, 50, 100)],
        seeds=3, base=dict(MNIST, epochs=4, eval_every=52, eval_samples=500), quick=QUICK,
        bars=("classes_covered", "judge_fd", "class_kl"), verdict=_verdict_latent),
    Experiment(
        name="gd-ratio", title="Should the generator get more updates?",
        claim="Giving the generator 2, 4 or 50 steps per discriminator step changes who "
              "dominates, shown by log(L_G / L_D).", source="G:D ratio paper; DCGAN coursework",
        setup="Classroom DCGAN on MNIST, non-saturating loss, the same 156 real batches (one "
              "epoch) for every arm; G gets 1, 2, 4 or 50 updates per D update, or D gets 2 or 5 "
              "per G update. The extra updates cost wall time, which is reported, and FD is also read "
              "at 15 training seconds. The arms get from 31 to 7,800 G updates, so the "
              "comparison after the same batches is one of update counts as much as of ratios; "
              "log(L_G / L_D) is read against the loss's balance line, -0.69 (D = 1/2), not 0.",
        arms=[Arm("g1", "G:D 1:1", {}), Arm("g2", "G:D 2:1", dict(g_steps_per_d_step=2)),
              Arm("g4", "G:D 4:1", dict(g_steps_per_d_step=4)),
              Arm("g50", "G:D 50:1", dict(g_steps_per_d_step=50)),
              Arm("d2", "D:G 2:1", dict(d_steps_per_g_step=2)),
              Arm("d5", "D:G 5:1", dict(d_steps_per_g_step=5))],
        seeds=2, base=dict(MNIST, epochs=1, eval_every=26, eval_samples=500),
        quick=dict(QUICK, max_steps=6, eval_every=3, depth="small"), quick_seeds=1,
        curve="log_lg_ld", bars=("judge_fd", "train_seconds", "log_lg_ld", "judge_fd_at_15s"),
        at_seconds=(15.0,), verdict=_verdict_ratio),
    Experiment(
        name="small-data", title="What happens with only 500 images?",
        claim="With 500 real images a GAN memorises; 3,500 images generalise better.",
        source="GAN losses report",
        setup="Classroom DCGAN on 500, 3,500 and all 10,000 MNIST digits (a different random "
              "subset per seed), 624 steps each, so the small sets are seen many more times. "
              "FD is measured against all 10,000 digits. Memorisation: the mean distance from "
              "each sample to its nearest training image in the judge's feature space, divided "
              "by the same distance for real digits the run never saw (a smaller training set "
              "is sparser, so raw distances cannot be compared across sizes). The curve "
              "compares each run with its own training images.",
        arms=[Arm("n500", "500 images", dict(subset=500)),
              Arm("n3500", "3,500 images", dict(subset=3500)),
              Arm("all", "all 10,000 images", {})],
        seeds=3, base=dict(MNIST, epochs=1000, max_steps=624, eval_every=52, eval_samples=500),
        quick=QUICK, quick_arms={"n500": dict(subset=128), "n3500": dict(subset=256), "all": {}},
        bars=("judge_fd_all", "memorisation_ratio", "memorisation"), verdict=_verdict_small),
    Experiment(
        name="depth-bn", title="Generator size and batch norm",
        claim="Batch norm is needed, and of three generator sizes the medium one gave the best "
              "DCGAN digits.", source="DCGAN coursework",
        setup="Classroom DCGAN on MNIST, non-saturating loss, 3 epochs; the generator is small, "
              "medium or large (half, the reference, or double its widths, plus a conv block); "
              "the discriminator keeps its width (64 and 128 channels) in every arm. Batch norm "
              "on or off, in G and D. A run whose samples never change over training is "
              "reported as 'did not train', not as mode collapse.",
        arms=[Arm(f"{d}_{'bn' if bn else 'nobn'}", f"{d}, batch norm {'on' if bn else 'off'}",
                  dict(depth=d, batch_norm=bn))
              for bn in (True, False) for d in ("small", "medium", "large")],
        seeds=2, base=dict(MNIST, epochs=3, eval_every=52, eval_samples=500), quick=QUICK,
        bars=("judge_fd", "classes_covered", "confident_share", "train_seconds"),
        verdict=_verdict_depth),
    Experiment(
        name="sagan", title="Self-attention and hinge loss against DCGAN",
        claim="Self-attention with hinge loss and two learning rates (G 1e-4, D 4e-4) beats "
              "the DCGAN recipe.", source="SAGAN paper",
        setup="Classroom model on MNIST, 3 epochs. SAGAN: a self-attention block in G and D, "
              "spectral norm on D, hinge loss, Adam G 1e-4 / D 4e-4 (0, 0.9). DCGAN: "
              "non-saturating loss, Adam 2e-4 (0.5, 0.999).",
        arms=[Arm("sagan", "SAGAN recipe", dict(preset="sagan")),
              Arm("dcgan", "DCGAN recipe", {})],
        seeds=3, base=dict(MNIST, epochs=3, eval_every=52, eval_samples=500), quick=QUICK,
        bars=("judge_fd", "classes_covered", "confident_share", "train_seconds"),
        verdict=_verdict_sagan),
    Experiment(
        name="cgan-augment", title="Can generated digits train a classifier?",
        claim="A CGAN's samples are good enough to replace part of a classifier's training set.",
        source="DCGAN and CGAN coursework",
        setup="A CGAN (classroom model, 4 epochs) trains on 8,000 MNIST digits; 2,000 others are "
              "kept aside. Its class accuracy is the share of samples the judge reads as the "
              "asked digit. Then a small CNN trains for 5 epochs on 2,000 images of which 0, "
              "25, 50, 75 or 100% are generated (balanced classes), and is tested on the 2,000 "
              "digits set aside.",
        arms=[Arm("cgan", "CGAN", dict(conditional=True))],
        seeds=3, base=dict(MNIST, epochs=4, eval_every=52, eval_samples=500),
        quick=dict(QUICK, subset=None), quick_seeds=1, runner="cgan-augment",
        bars=tuple(f"acc_gen_{p}" for p in AUGMENT_SHARES) + ("class_accuracy",),
        verdict=_verdict_cgan),
]}

for _p in AUGMENT_SHARES:
    NAMES[f"acc_gen_{_p}"] = f"classifier accuracy, {_p}% generated"


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


# --- one run ---------------------------------------------------------------------------------

_FULL_DATA: dict[tuple, Any] = {}     # per process: the whole dataset, for FD against all of it


def _full_dataset(config: TrainConfig):
    from .trainer import load_for
    key = (config.dataset, config.data_dir, config.model, config.channels)
    if key not in _FULL_DATA:
        _FULL_DATA.clear()
        from dataclasses import replace
        _FULL_DATA[key] = load_for(replace(config, subset=None))
    return _FULL_DATA[key]


def _curve(trainer) -> list[dict]:
    """One row per evaluation: metrics, time, and the mean of log(L_G/L_D) since the last one."""
    rows, window = [], []
    for r in trainer.history:
        if math.isfinite(r["log_lg_ld"]):
            window.append(r["log_lg_ld"])
        if "m_judge_fd" in r or "m_modes_covered" in r:
            row = dict(step=r["step"], time_s=round(r["time_s"], 3),
                       d_loss=r["d_loss"], g_loss=r["g_loss"],
                       log_lg_ld=sum(window) / len(window) if window else math.nan)
            row.update({k[2:]: v for k, v in r.items() if k.startswith("m_")})
            rows.append(row)
            window = []
    return rows


def _final_metrics(trainer, n: int) -> dict:
    """Metrics of the final generator by metrics.evaluate_generator (n samples, the fixed seed,
    reference statistics of the whole dataset at G's size: judge_fd, judge_fd_all is the same
    number), and the distance from those samples to the nearest *training* image (the subset
    the run saw)."""
    from . import metrics
    from .sampling import sample
    judge = metrics.load_judge(trainer.config.dataset)
    full = _full_dataset(trainer.config)
    out = metrics.evaluate_generator(trainer.sample_G, trainer.config.dataset, data=full, n=n,
                                     judge=judge)
    out["judge_fd_all"] = out["judge_fd"]
    train_feats = metrics.judge_outputs(judge, trainer.dataset.data[:5000])[1]
    k = trainer.spec.num_classes
    x = sample(trainer.sample_G, n, seed=metrics.EVAL_SEED, labels=torch.arange(n) % k if k else None)
    out["memorisation"] = metrics.memorisation_distance(metrics.judge_outputs(judge, x)[1],
                                                        train_feats)
    out.pop("num_classes")
    out["real_reference"] = _unseen_distance(judge, trainer.dataset, full, train_feats)
    out["memorisation_ratio"] = out["memorisation"] / max(out["real_reference"], 1e-9)
    return out


def _unseen_distance(judge, train, full, train_feats: torch.Tensor, n: int = 1000) -> float:
    """How far an unseen real image sits from the training set: the yardstick for memorisation.

    Nearest-neighbour distances shrink as the training set grows, so a sample's distance alone
    cannot compare a 500-image run with a 10,000-image one. Measured on images of the full
    dataset that the run did not train on; when it trained on all of them, leave-one-out.
    """
    from . import metrics
    seen = {bytes(img.numpy()) for img in train.data}
    unseen = [i for i in range(len(full)) if bytes(full.data[i].numpy()) not in seen]
    if unseen:
        pick = torch.tensor(unseen)[torch.randperm(len(unseen),
                                                   generator=torch.Generator().manual_seed(0))[:n]]
        feats = metrics.judge_outputs(judge, full.data[pick])[1]
        return metrics.memorisation_distance(feats, train_feats)
    return metrics.memorisation_distance(train_feats[:n], train_feats, exclude_self=True)


def _train(config: TrainConfig, dataset=None, stop=None):
    from .trainer import Trainer
    trainer = Trainer(config, dataset)
    if stop is not None:
        trainer.add_callback("step", lambda tr, r: tr.stop() if stop.is_set() else None)
    start = time.perf_counter()
    trainer.run()
    return trainer, time.perf_counter() - start


def run_gan(config: TrainConfig, stop=None) -> dict:
    trainer, wall = _train(config, stop=stop)
    result = _describe(trainer, wall)
    if stop is None or not stop.is_set():
        result["final"] = _final_metrics(trainer, _final_n(config))
    return result


def _final_n(config: TrainConfig) -> int:
    """Samples for the final metrics: 1,000 in full sweeps, the evaluation size in quick ones."""
    return 1000 if config.eval_samples >= 500 else config.eval_samples


def run_cgan_augment(config: TrainConfig, stop=None) -> dict:
    """Train a CGAN on part of the data, then classifiers on real + generated mixes."""
    from .data import Dataset
    from .metrics import accuracy, fit_classifier, Judge
    from .sampling import sample

    full = _full_dataset(config)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(2024))
    n_test = min(2000, len(full) // 5)
    test_idx, pool_idx = order[:n_test], order[n_test:]
    pool = Dataset(full.name, full.data[pool_idx], full.labels[pool_idx], full.class_names,
                   f"{len(pool_idx)} of {len(full)} images; {n_test} kept aside for testing")
    trainer, wall = _train(config, pool, stop)
    result = _describe(trainer, wall)
    if stop is not None and stop.is_set():
        return result
    result["final"] = _final_metrics(trainer, _final_n(config))
    n_train, epochs = (256, 1) if config.eval_samples < 500 else (2000, 5)
    k = full.num_classes
    g = torch.Generator().manual_seed(config.seed)
    real_order = torch.randperm(len(pool), generator=g)
    x_test = Judge.prepare(full.data[test_idx])
    y_test = full.labels[test_idx]
    for share in AUGMENT_SHARES:
        n_gen = round(n_train * share / 100)
        idx = real_order[: n_train - n_gen]
        y_gen = torch.arange(n_gen) % k
        x_gen = sample(trainer.sample_G, n_gen, seed=1000 + config.seed, labels=y_gen) if n_gen else \
            torch.empty(0, *pool.shape)
        x = torch.cat([Judge.prepare(pool.data[idx]), Judge.prepare(x_gen)])
        y = torch.cat([pool.labels[idx], y_gen])
        clf = fit_classifier(x, y, k, epochs=epochs, seed=config.seed)
        result["final"][f"acc_gen_{share}"] = accuracy(clf, x_test, y_test)
    return result


RUNNERS = {"gan": run_gan, "cgan-augment": run_cgan_augment}


def _describe(trainer, wall: float) -> dict:
    return dict(state=trainer.state, reason=trainer.reason, steps=trainer.step,
                g_updates=trainer.g_updates, d_updates=trainer.d_updates,
                train_seconds=round(trainer.elapsed, 3), wall_seconds=round(wall, 3),
                images=len(trainer.dataset), curve=_curve(trainer), eval_note=trainer.eval_note)


def _write_json(path: Path, obj: Any) -> None:
    """Atomically, so a stopped sweep never leaves half a result behind (NaN: see _finite)."""
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def run_one(experiment: str, planned: PlannedRun, out: Path, threads: Optional[int] = None,
            stop=None) -> Optional[dict]:
    """Train one planned run and write runs/ID/result.json; None when stopped part-way."""
    if threads:
        torch.set_num_threads(threads)
    exp = get_experiment(experiment)
    config = TrainConfig.from_dict(planned.config).validate()
    result = RUNNERS[exp.runner](config, stop)
    if stop is not None and stop.is_set():
        return None
    result.update(experiment=experiment, run_id=planned.run_id, arm=planned.arm,
                  seed=planned.seed, config=planned.config, threads=torch.get_num_threads(),
                  torch=torch.__version__, worker=f"{platform.node()}:{os.getpid()}")
    _write_json(out / "runs" / planned.run_id / "result.json", _finite(result))
    return result


def _finite(obj):
    """NaN and Inf become None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# --- the sweep -------------------------------------------------------------------------------

def default_jobs() -> tuple[int, int]:
    """(processes, torch threads each): one single-threaded process per core, at most 8."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, 8)), 1


def run_sweep(name: str, out: str | Path, quick: bool = False, jobs: Optional[int] = None,
              seeds: Optional[int] = None, steps: Optional[int] = None,
              data_dir: Optional[str] = None, progress: Optional[Callable] = None,
              stop=None, command: str = "", backend=None) -> dict:
    """Run (or finish) a sweep into `out` and return its summary.

    progress(done, total, result_or_None, message) is called as runs finish. `jobs=1` runs
    in this process, so `stop` (a threading.Event) can end it between steps. Otherwise the
    runs are tasks of a backend (gan_core.workers): "local" (processes here, the default) or
    "ray" (the cluster at GAN_LAB_RAY_ADDRESS, or a local Ray already initialised); with
    GAN_LAB_RAY_ADDRESS set, Ray is the default.
    """
    exp = get_experiment(name)
    runs = plan(name, quick, seeds, steps, data_dir)
    out = Path(out)
    asked = dict(experiment=name, quick=quick, seeds=seeds, steps=steps)
    meta_path = out / "sweep.json"
    _check_out_folder(out)
    if meta_path.is_file():
        before = read_sweep_meta(out)
        if {k: before.get(k) for k in asked} != asked:
            raise ValueError(f"{out} holds another sweep ({_describe_asked(before)}); this asks "
                             f"for {_describe_asked(asked)}. Use another --out, or the same "
                             f"options to resume it")
    _write_json(meta_path, dict(asked, command=command or _command_line(),
                                started=time.strftime("%Y-%m-%d %H:%M:%S")))
    # A damaged or unreadable result counts as not run, so it is run again.
    todo = [r for r in runs if not _result_ok(out / "runs" / r.run_id / "result.json", r.run_id)]
    done = len(runs) - len(todo)
    note = progress or (lambda *a: None)
    note(done, len(runs), None, f"{done} of {len(runs)} runs already done" if done else "")
    if todo:
        _check_data(todo[0])
    n_jobs, threads = default_jobs()
    n_jobs = min(jobs or n_jobs, len(todo)) if todo else 1
    if backend is None:
        backend = "ray" if os.environ.get("GAN_LAB_RAY_ADDRESS") else "local"
    if isinstance(backend, str):
        from .workers import get_backend
        backend = get_backend(backend)          # ValueError saying how to install Ray
    if backend.name == "ray":
        n_jobs = max(len(todo), 1)              # the cluster decides how many run at once
    if n_jobs <= 1 and backend.name == "local":
        for r in todo:
            note(done, len(runs), None, f"training {r.run_id}")
            result = run_one(name, r, out, stop=stop)
            if result is None:
                break
            done += 1
            note(done, len(runs), result, f"finished {r.run_id}")
    else:
        done = _run_parallel(name, todo, out, n_jobs, threads, done, len(runs), note, backend)
    return summarise(name, out)


SWEEP_FILES = {"sweep.json", "summary.json", "results.csv", "curves.csv", "runs"}


def _check_out_folder(out: Path) -> None:
    """An --out folder must be new, empty, or a sweep's own (its files and plots only): a
    sweep overwrote results.csv and summary.json in a folder of other files."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder; use another --out")
    entries = [p for p in out.iterdir() if not p.name.startswith(".")]
    if not entries:
        return
    foreign = [p.name for p in entries if p.name not in SWEEP_FILES and p.suffix != ".png"]
    if foreign or not (out / "sweep.json").is_file():
        shown = ", ".join(sorted(foreign)[:3]) or ", ".join(sorted(p.name for p in entries)[:3])
        raise ValueError(f"{out} already holds files that are not a sweep's ({shown}); use a "
                         f"new or empty --out folder")


def read_sweep_meta(out: Path) -> dict:
    """sweep.json, checked: a dict with the experiment's name and its options."""
    path = out / "sweep.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    ok = isinstance(meta, dict) and isinstance(meta.get("experiment"), str) \
        and isinstance(meta.get("quick", False), bool) \
        and all(meta.get(k) is None or (type(meta.get(k)) is int and meta[k] > 0)
                for k in ("seeds", "steps"))
    if not ok:
        raise ValueError(f"{path} is damaged (not a sweep's description); delete it or use "
                         f"another --out")
    return meta


def _result_ok(path: Path, run_id: str) -> bool:
    try:
        r = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(r, dict) and r.get("run_id") == run_id and "state" in r


def _describe_asked(d: dict) -> str:
    return (f"{d.get('experiment')}, {'quick' if d.get('quick') else 'full'}, seeds "
            f"{d.get('seeds') or 'default'}, steps {d.get('steps') or 'default'}")


def _command_line() -> str:
    return "python -m gan_core " + " ".join(sys.argv[1:]) if sys.argv else ""


def _check_data(r: PlannedRun) -> None:
    """Load the data once here, so a missing dataset is one clear error, not one per worker."""
    _full_dataset(TrainConfig.from_dict(r.config))   # cached: in-process runs reuse it


def _run_parallel(name, todo, out, n_jobs, threads, done, total, note, backend) -> int:
    """Each run a task of the backend (gan_core.workers): fresh local processes, or Ray tasks.
    Results are written here too, so runs on other machines land in this sweep's folder."""
    calls = [(name, r, out) for r in todo]
    for (_, r, _), result in backend.map_tasks(run_one, calls, n_jobs, threads):
        if result is not None:
            _write_json(out / "runs" / r.run_id / "result.json", _finite(result))
        done += 1
        note(done, total, result, f"finished {r.run_id}")
    return done


# --- tables, statistics, plots ---------------------------------------------------------------

def load_results(out: str | Path) -> list[dict]:
    runs = []
    for path in sorted(Path(out).glob("runs/*/result.json")):
        if not _result_ok(path, path.parent.name):
            continue            # a damaged file counts as not run; the sweep redoes it
        runs.append(json.loads(path.read_text()))
    return runs


def _to_threshold(curve: list[dict], threshold) -> tuple[Optional[int], Optional[float]]:
    metric, op, value = threshold
    for row in curve:
        v = row.get(metric)
        if v is not None and (v <= value if op == "<=" else v >= value):
            return row["step"], row["time_s"]
    return None, None


def result_row(exp: Experiment, r: dict) -> dict:
    """The flat numbers of one run, as in results.csv."""
    labels = {a.name: a.label for a in exp.arms}
    row = dict(arm=r["arm"], label=labels.get(r["arm"], r["arm"]), seed=r["seed"],
               state=r["state"], steps=r["steps"], g_updates=r["g_updates"],
               images=r.get("images"), train_seconds=r["train_seconds"])
    curve = r.get("curve") or []
    finite = [c["log_lg_ld"] for c in curve if c.get("log_lg_ld") is not None]
    row["log_lg_ld"] = finite[-1] if finite else None
    if exp.threshold:
        metric, op, value = exp.threshold
        for v, key in [(value, "steps_to_threshold")] + [(m, f"steps_to_fd_{m:g}")
                                                          for m in exp.more_thresholds]:
            step, secs = _to_threshold(curve, (metric, op, v))
            # A seed that never gets there is censored at its limit, not dropped: dropping it
            # would make a slow arm look fast.
            row["censored_" + key] = step is None
            row[key] = step if step is not None else r["steps"]
            if key == "steps_to_threshold":
                row["seconds_to_threshold"] = secs if step is not None else r["train_seconds"]
    fds = [(c["step"], c["judge_fd"]) for c in curve if c.get("judge_fd") is not None]
    if len(fds) >= 2:
        # Area under the FD curve per step: the mean quality over the whole run.
        area = sum((s1 - s0) * (f0 + f1) / 2 for (s0, f0), (s1, f1) in zip(fds, fds[1:]))
        row["mean_judge_fd"] = area / (fds[-1][0] - fds[0][0])
        # Samples that never change (the same FD at every evaluation): the run did not train.
        values = [f for _, f in fds]
        row["did_not_train"] = max(values) - min(values) <= 1e-3 * max(abs(max(values)), 1.0)
    for t in exp.at_seconds:
        within = [c["judge_fd"] for c in curve if c.get("judge_fd") is not None
                  and c["time_s"] <= t]
        row[f"judge_fd_at_{t:g}s"] = within[-1] if within else None
    for k, v in (r.get("final") or {}).items():
        if isinstance(v, (int, float)):
            row[k] = v
    if row.get("classes_covered") is not None:
        row["collapsed"] = row["classes_covered"] < 8 and not row.get("did_not_train")
    return row


def tables(exp: Experiment, results: list[dict]) -> tuple[list[dict], list[dict]]:
    """(a row per run, as in results.csv; a row per evaluation, as in curves.csv)."""
    rows = [result_row(exp, r) for r in results]
    curves = [dict(arm=r["arm"], seed=r["seed"], **c) for r in results for c in r.get("curve", [])]
    return rows, curves


def _stat(values: list) -> dict:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return dict(n=0, mean=None, std=None, min=None, max=None)
    return dict(n=len(vals), mean=statistics.fmean(vals),
                std=statistics.stdev(vals) if len(vals) > 1 else 0.0,
                min=min(vals), max=max(vals))


def arm_stats(exp: Experiment, rows: list[dict]) -> dict:
    """Per arm, in the experiment's order: mean, spread, min and max of every number."""
    stats = {}
    for arm in exp.arms:
        mine = [r for r in rows if r["arm"] == arm.name]
        if not mine:
            continue
        s: dict[str, Any] = dict(label=arm.label, runs=len(mine))
        keys = {k for r in mine for k, v in r.items() if isinstance(v, (int, float))
                and not isinstance(v, bool) and k != "seed"}
        for k in sorted(keys):
            s[k] = _stat([r.get(k) for r in mine])
        # Flags (bool) are counted: censored_*, did_not_train, collapsed.
        for k in sorted({k for r in mine for k, v in r.items() if isinstance(v, bool)}):
            s[k] = sum(bool(r.get(k)) for r in mine)
        if exp.threshold:
            s["reached"] = sum(r.get("steps_to_threshold") is not None
                               and not r.get("censored_steps_to_threshold") for r in mine)
        stats[arm.name] = s
    return stats


def summarise(name: str, out: str | Path) -> dict:
    """Write results.csv, curves.csv, summary.json and the plots from the finished runs."""
    exp = get_experiment(name)
    out = Path(out)
    rows, curves = tables(exp, load_results(out))
    write_csv(out / "results.csv", rows)
    write_csv(out / "curves.csv", curves)
    meta = read_sweep_meta(out) if (out / "sweep.json").is_file() else {}
    total = len(plan(name, bool(meta.get("quick")), meta.get("seeds"), meta.get("steps")))
    stats = arm_stats(exp, rows)
    complete = len(rows) >= total and len(stats) == len(exp.arms)
    verdict = exp.verdict(exp, stats) if complete else \
        f"Only {len(rows)} of {total} runs have finished; run the same command again to finish."
    summary = dict(experiment=name, title=exp.title, claim=exp.claim, source=exp.source,
                   setup=exp.setup, quick=bool(meta.get("quick")), command=meta.get("command", ""),
                   runs_done=len(rows), runs_total=total, complete=complete,
                   threshold=list(exp.threshold) if exp.threshold else None,
                   arms=stats, verdict=verdict)
    _write_json(out / "summary.json", _finite(summary))
    if rows:
        plot(exp, rows, curves, out)
    return summary


def balance_line(exp: Experiment) -> Optional[float]:
    """For a log(L_G/L_D) curve: where the base loss is balanced (-ln 2 for cross-entropy)."""
    if exp.curve != "log_lg_ld":
        return None
    from .losses import balance_log_ratio
    from .config import PRESETS
    loss = exp.base.get("loss") or PRESETS.get(exp.base.get("preset"), {}).get("loss",
                                                                               "nonsaturating")
    return balance_log_ratio(loss)


def curve_bands(exp: Experiment, curves: list[dict], metric: str, x: str = "step") -> dict:
    """Per arm: x values and the mean, min and max of `metric` across seeds at each x.

    With x="time_s" the i-th evaluations of all seeds are grouped, at their mean time.
    """
    out = {}
    for arm in exp.arms:
        per_seed: dict[int, list[dict]] = {}
        for c in curves:
            if c["arm"] == arm.name:
                per_seed.setdefault(c["seed"], []).append(c)
        by_x: dict[float, list[float]] = {}
        for rows in zip(*per_seed.values()):        # the i-th evaluation of every seed
            vals = [float(r[metric]) for r in rows
                    if r.get(metric) is not None and math.isfinite(float(r[metric]))]
            if vals:
                by_x[round(statistics.fmean(float(r[x]) for r in rows), 2)] = vals
        xs = sorted(by_x)
        if xs:
            out[arm.name] = dict(label=arm.label, x=xs,
                                 mean=[statistics.fmean(by_x[k]) for k in xs],
                                 lo=[min(by_x[k]) for k in xs], hi=[max(by_x[k]) for k in xs])
    return out


def _plot_shares(rows: list[dict], path: Path, plt) -> Path:
    """Classifier accuracy against the share of generated training images, dots per seed."""
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    shares = list(AUGMENT_SHARES)
    stats = [_stat([r.get(f"acc_gen_{p}") for r in rows]) for p in shares]
    ax.errorbar(shares, [s["mean"] * 100 if s["n"] else math.nan for s in stats],
                yerr=[s["std"] * 100 if s["n"] else 0 for s in stats], marker="o", capsize=4)
    for p in shares:
        vals = [r[f"acc_gen_{p}"] * 100 for r in rows if r.get(f"acc_gen_{p}") is not None]
        ax.scatter([p] * len(vals), vals, color="k", s=12, zorder=3)
    ax.set_xticks(shares)
    ax.set_xlabel("share of generated images in the classifier's training set (%)")
    ax.set_ylabel("accuracy on real test digits (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot(exp: Experiment, rows: list[dict], curves: list[dict], out: Path) -> list[Path]:
    """PNG plots: the curve metric over training (mean, band = min..max over seeds), and one
    bar chart per reported number (mean, error bar = standard deviation, dots = seeds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    bands = curve_bands(exp, curves, exp.curve)
    if bands:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        for b in bands.values():
            line, = ax.plot(b["x"], b["mean"], label=b["label"], lw=2)
            ax.fill_between(b["x"], b["lo"], b["hi"], color=line.get_color(), alpha=0.18)
        if exp.threshold and exp.threshold[0] == exp.curve:
            ax.axhline(exp.threshold[2], color="k", ls="--", lw=1, label="threshold")
        balance = balance_line(exp)
        if balance is not None:
            ax.axhline(balance, color="k", ls=":", lw=1,
                       label=f"balance {balance:.2f} (D = 1/2)")
        ax.set_xlabel("step (real batches)")
        ax.set_ylabel(NAMES.get(exp.curve, exp.curve))
        if exp.curve == "judge_fd":
            ax.set_yscale("log")
        ax.set_title(exp.title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written.append(out / f"curve_{exp.curve}.png")
        fig.savefig(written[-1])
        plt.close(fig)
    stats = arm_stats(exp, rows)
    bars = exp.bars
    if exp.runner == "cgan-augment":
        written.append(_plot_shares(rows, out / "accuracy_by_share.png", plt))
        bars = tuple(b for b in bars if not b.startswith("acc_gen_"))
    for key in bars:
        present = [(a, stats[a.name].get(key)) for a in exp.arms if a.name in stats]
        present = [(a, s) for a, s in present if s and s["n"]]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
        xs = range(len(present))
        ax.bar(xs, [s["mean"] for _, s in present], yerr=[s["std"] for _, s in present],
               color="#4C78A8", alpha=0.8, capsize=4)
        for i, (a, _) in enumerate(present):
            vals = [r[key] for r in rows if r["arm"] == a.name and r.get(key) is not None]
            ax.scatter([i] * len(vals), vals, color="k", s=12, zorder=3)
        ax.set_xticks(list(xs), [a.label for a, _ in present], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(NAMES.get(key, key))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        written.append(out / f"bars_{key}.png")
        fig.savefig(written[-1])
        plt.close(fig)
    return written
