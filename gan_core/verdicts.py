"""The sentences a sweep's numbers become: one verdict per experiment of gan_core.claims.

`verdict(exp, stats)` reads the per-arm statistics of gan_core.sweep_stats.arm_stats (mean, sd,
min, max, n per number; seeds reached and censored for thresholds) and says, in words a student
reads, whether the paper's claim holds here. A difference is called clear only when it exceeds
twice its standard error, so one lucky seed does not decide a verdict.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from .claims import AUGMENT_SHARES, Experiment, balance_line

# --- the pieces of a sentence ---------------------------------------------------------------


def _fmt(stat: Optional[dict], digits: int = 1, unit: str = "", censored: int = 0) -> str:
    """mean ± sd; with censored seeds (counted at their limit) the mean is a lower bound: >=."""
    if not stat or stat["n"] == 0:
        return "n/a"
    at_least = ">= " if censored else ""
    if stat["n"] == 1:
        return f"{at_least}{stat['mean']:.{digits}f}{unit}"
    return f"{at_least}{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}{unit}"


def _pct(stat: Optional[dict]) -> Optional[dict]:
    """A share's statistics in percent."""
    if not stat:
        return stat
    return {k: (v * 100 if k in ("mean", "std", "min", "max") else v) for k, v in stat.items()}


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _reached(stats: dict, arm: str) -> str:
    s = stats[arm]
    return f"{s['reached']} of {s['runs']} seeds"


def _censored(s: dict, key: str = "steps_to_threshold") -> int:
    """Seeds of an arm that never reached a threshold (counted at their limit)."""
    return s.get("censored_" + key, 0)


def _difference(a: Optional[dict], b: Optional[dict]) -> Optional[tuple[float, bool]]:
    """(mean of a - mean of b, whether that is clear): clear when it exceeds twice its standard
    error (Welch), so one lucky seed does not decide a verdict."""
    if not a or not b or not a.get("n") or not b.get("n"):
        return None
    d = a["mean"] - b["mean"]
    se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    return d, abs(d) > 2 * se and (a["n"] > 1 or b["n"] > 1)


# --- one reading per experiment ---------------------------------------------------------------


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


def _verdict_ratio_equal_g(exp: Experiment, stats: dict) -> str:
    """gd-ratio's reading when every arm gets (about) the same number of G updates."""
    text = _verdict_ratio(exp, stats)
    text = text.replace("After the same real batches, over", "After about the same number of G "
                        "updates (312; G:D 50:1 350), over", 1)
    return text.replace(" The arms got very different numbers of G updates, so this compares "
                        "update counts as much as ratios.", " With G's updates equal, the arms "
                        "differ in D's updates (7 to 1,560) and in real batches seen.", 1)


def _verdict_small(exp: Experiment, stats: dict) -> str:
    """Which arm copies, read off the share of samples nearer a training image than a held-out
    one (0.5: none) and the ratio of those distances."""
    parts, copies, leans = [], [], []
    for s in stats.values():
        share = s.get("copy_share")
        parts.append(f"{s['label']}: {_fmt(_pct(share), 0, '%')} of samples nearer a training "
                     f"image than a held-out one, distance ratio {_fmt(s.get('copy_ratio'), 2)}"
                     f", FD {_fmt(s.get('judge_fd'), 0)}")
        if not share or not share.get("n"):
            continue
        above = _difference(share, dict(n=share["n"], mean=0.5, std=0.0))
        if above and above[1] and above[0] > 0:
            (copies if share["mean"] >= 0.75 else leans).append(s["label"])
    runs = next(iter(stats.values()))["runs"]
    text = (f"After {exp.base.get('max_steps', 0):,} steps, over {_seeds(runs)} (50% = no "
            f"copying, near 100% = copies): " + "; ".join(parts) + ". ")
    if copies:
        text += f"Copies its training images: {', '.join(copies)}. "
    if leans:
        text += (f"Nearer its own training images than unseen ones, clearly but far from "
                 f"wholesale copying: {', '.join(leans)}. ")
    if not copies and not leans:
        text += ("No arm's samples sit nearer their training images than unseen digits beyond "
                 "the noise between seeds: no sign of copying at this length of training. ")
    keys = list(stats)
    d = _difference(stats[keys[0]].get("copy_share"), stats[keys[-1]].get("copy_share"))
    if d:
        text += (f"{stats[keys[0]]['label']} against {stats[keys[-1]]['label']}: "
                 f"{d[0] * 100:+.0f} points of that share"
                 f"{'' if d[1] else ', within the noise'}.")
    return text.strip()


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


SAGAN_CHANGES = ("hinge", "ttur", "sn", "attention")     # the ablation arms, one change each


def _verdict_sagan(exp: Experiment, stats: dict) -> str:
    """Each SAGAN change on its own against the DCGAN recipe, and the full recipe, at equal
    training time: what each buys in FD and in the share the judge recognises."""
    base = stats["dcgan"]
    parts = []
    for key, s in stats.items():
        part = (f"{s['label']}: FD {_fmt(s.get('judge_fd'), 0)}, recognised "
                f"{_fmt(_pct(s.get('confident_share')), 0, '%')}, {_fmt(s.get('steps'), 0)} steps")
        if key != "dcgan":
            fd = _difference(s.get("judge_fd"), base.get("judge_fd"))
            share = _difference(_pct(s.get("confident_share")), _pct(base.get("confident_share")))
            if fd and share:
                part += (f" (FD {fd[0]:+.0f}{'' if fd[1] else ', within the noise'}; recognised "
                         f"{share[0]:+.0f} points{'' if share[1] else ', within the noise'})")
        parts.append(part)
    text = (f"Each arm trained for the same {exp.base.get('max_seconds', 0):g} s, over "
            f"{_seeds(base['runs'])}: " + "; ".join(parts) + ". ")
    buys, costs = [], []
    for key in SAGAN_CHANGES:
        if key not in stats:
            continue
        name = stats[key]["label"].lstrip("+ ")
        fd = _difference(stats[key].get("judge_fd"), base.get("judge_fd"))
        share = _difference(_pct(stats[key].get("confident_share")),
                            _pct(base.get("confident_share")))
        if fd and fd[1]:
            (buys if fd[0] < 0 else costs).append(f"{name} ({fd[0]:+.0f} FD)")
        elif share and share[1]:
            (buys if share[0] > 0 else costs).append(f"{name} ({share[0]:+.0f} points recognised)")
    text += ("On its own, " + (f"what helps the DCGAN recipe: {', '.join(buys)}" if buys else
                               "no single change clearly helps the DCGAN recipe")
             + ("; what hurts it: " + ", ".join(costs) if costs else "") + ". ")
    full = stats.get("sagan")
    fd = _difference((full or {}).get("judge_fd"), base.get("judge_fd"))
    share = _difference(_pct((full or {}).get("confident_share")), _pct(base.get("confident_share")))
    if not fd or not share:
        return text + "The full recipe has no numbers to compare."
    if fd[1] and fd[0] < 0 and not (share[1] and share[0] < 0):
        reading = "beats the DCGAN recipe here"
    elif fd[1] and fd[0] > 0:
        reading = "is worse than the DCGAN recipe here"
    elif not fd[1] and share[1]:
        reading = (f"draws the same FD as the DCGAN recipe within the noise but "
                   f"{'more' if share[0] > 0 else 'fewer'} digits the judge recognises")
    else:
        reading = "is not clearly different from the DCGAN recipe here"
    return text + (f"The full SAGAN recipe {reading} (FD {fd[0]:+.0f}, recognised "
                   f"{share[0]:+.0f} points), at this training time, on 28x28 digits, far from "
                   f"the paper's 128x128 ImageNet.")


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


# --- which reading each experiment gets -------------------------------------------------------

# Which reading each experiment gets; a new experiment in gan_core.claims needs one here.
READINGS: dict[str, Callable[[Experiment, dict], str]] = {
    "focal-vs-dcgan": _verdict_focal,
    "focal-vs-dcgan-paper": _verdict_focal,
    "latent-size": _verdict_latent,
    "gd-ratio": _verdict_ratio,
    "gd-ratio-equal-g": _verdict_ratio_equal_g,
    "small-data": _verdict_small,
    "depth-bn": _verdict_depth,
    "sagan": _verdict_sagan,
    "cgan-augment": _verdict_cgan,
}


def verdict(exp: Experiment, stats: dict) -> str:
    """The sentence a complete sweep of `exp` becomes, from its per-arm statistics."""
    return READINGS[exp.name](exp, stats)
