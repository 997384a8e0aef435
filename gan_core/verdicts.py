"""The sentences a sweep's numbers become: one verdict per experiment of gan_core.claims.

`reading(exp, stats)` reads the per-arm statistics of gan_core.sweep_stats.arm_stats (mean, sd,
min, max and the value of every seed; seeds reached and censored for thresholds) and returns the
verdict a student reads with the comparisons it rests on. Every difference the sentence states
is a paired test across the seeds the arms share (gan_core.comparisons), Holm-corrected over
all comparisons of that verdict; "clear" means a corrected p below 0.05, an arm is named best
only when it is clearly below every other, and an equivalence ("at most a point") only when the
whole 95% interval lies inside the margin. A quick run is too short to judge anything.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import comparisons as cmp
from .claims import AUGMENT_SHARES, Experiment, balance_line
from .comparisons import Comparison, holm, interval

QUICK_VERDICT = ("Too short to judge; this checks that the sweep runs. A quick run trains each "
                 "arm for a few steps on a few hundred digits, far too little for the arms to "
                 "differ; the shipped results give the answer.")
EQUIVALENCE_MARGIN = 0.01     # cgan-augment: "costs at most a point" of accuracy

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


def _short(label: str) -> str:
    return label.split(" (")[0]


def _pair(stats: dict, a: str, b: str, key: str) -> Optional[Comparison]:
    """Arms a and b compared seed by seed on `key` (None when either arm is absent)."""
    if a not in stats or b not in stats:
        return None
    seeds = {arm: stats[arm].get("by_seed") or {} for arm in (a, b)}
    return cmp.paired(a, b, key, seeds[a].get(key, {}), seeds[b].get(key, {}),
                      _short(stats[a]["label"]), _short(stats[b]["label"]),
                      seeds[a].get("censored_" + key), seeds[b].get("censored_" + key))


def _family(*found: Optional[Comparison]) -> list[Comparison]:
    """One verdict's comparisons, Holm-corrected together."""
    return holm([c for c in found if c is not None and c.n])


def _method(comps: list[Comparison]) -> str:
    tested = [c for c in comps if c.p is not None]
    if not tested:
        return (" With one seed per arm nothing could be tested, so no difference is called "
                "clear.")
    return (f" Each difference is a t-test on per-seed differences, Holm-corrected over this "
            f"verdict's {len(tested)} tested comparisons; clear: corrected p < {cmp.ALPHA:g}.")


# --- one reading per experiment ---------------------------------------------------------------


def _focal_judgement(main: Comparison, dcgan_mean: float) -> str:
    """The FLGAN claim (about half DCGAN's steps) read from FLGAN - DCGAN, paired by seed."""
    half = -dcgan_mean / 2
    if main.p is None:
        return "too few seeds to test the claim"
    if main.clear and main.diff < 0:
        if main.ci_low > half:
            return ("FLGAN is clearly faster, but not twice as fast as the paper reports: the "
                    "interval excludes half the steps")
        if main.ci_high < half:
            return "FLGAN is clearly more than twice as fast"
        return "FLGAN is clearly faster and half the steps lie within the interval: the claim holds"
    if main.clear:
        return "FLGAN is clearly slower: the paper's claim does not hold here"
    return ("no clear difference: the paper's claim is not supported here"
            + (", and the interval rules out half the steps" if main.ci_low > half else ""))


FOCAL_CONTRASTS = (("clip", "neither", "clipping alone against DCGAN"),
                   ("focal", "neither", "focal loss alone against DCGAN"),
                   ("focal_clip", "clip", "focal loss added to clipping, against clipping alone"))


def _verdict_focal(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    metric, op, value = exp.threshold
    both, dcgan = stats["focal_clip"], stats["neither"]
    parts = []
    for arm in ("focal_clip", "focal", "clip", "neither"):
        s = stats[arm]
        parts.append(f"{s['label']}: {_fmt(s.get('seconds_to_threshold'), 0, ' s', _censored(s))} "
                     f"({_fmt(s.get('steps_to_threshold'), 0, '', _censored(s))} steps, "
                     f"{_reached(stats, arm)})")
    text = (f"Time to judge FD {op} {value:g} (the first evaluation after which the running mean "
            f"of 3 evaluations stays there), over {_seeds(both['runs'])} (a seed that never "
            f"gets there counts at its last step, so a mean marked >= is a lower bound). "
            + "; ".join(parts) + ". ")
    a, b = both.get("steps_to_threshold"), dcgan.get("steps_to_threshold")
    if not a or not b or not a["n"] or not b["n"]:
        return text + "Not every arm has a time to the threshold, so no ratio can be given.", []
    key = "steps_to_threshold"
    main = _pair(stats, "focal_clip", "neither", key)
    split = [_pair(stats, x, y, key) for x, y, _ in FOCAL_CONTRASTS]
    comps = _family(main, *split)
    text += (f"FLGAN needs {a['mean'] / b['mean']:.2f}x DCGAN's steps on average; FLGAN - DCGAN "
             f"per seed: {interval(main)} steps: {_focal_judgement(main, b['mean'])}. "
             f"Separating the two changes (steps): " + "; ".join(
                 f"{name} {interval(c)}" for (_, _, name), c in zip(FOCAL_CONTRASTS, split) if c)
             + ". ")
    clip, focal, on_clip = split
    if main.clear and main.diff < 0:
        clip_buys = clip.clear and clip.diff < 0
        focal_buys = on_clip.clear and on_clip.diff < 0
        text += {(True, False): "The speed-up is bought by gradient clipping; focal loss on top "
                                "of it makes no clear difference.",
                 (False, True): "The speed-up is bought by focal loss added to clipping; "
                                "clipping alone makes no clear difference.",
                 (True, True): "Both changes contribute to the speed-up.",
                 (False, False): "Neither change on its own accounts for the speed-up clearly."
                 }[(clip_buys, focal_buys)]
        if focal.clear:
            text += (f" On its own, focal loss is clearly "
                     f"{'faster' if focal.diff < 0 else 'slower'}.")
    else:
        clear = [f"{name} ({'fewer' if c.diff < 0 else 'more'} steps)"
                 for (_, _, name), c in zip(FOCAL_CONTRASTS, split) if c and c.clear]
        text += ("There is no clear speed-up to attribute"
                 + (f"; the clear contrasts: {', '.join(clear)}" if clear else "") + ".")
    more = []
    for v in exp.more_thresholds:
        key = f"steps_to_fd_{v:g}"
        more.append(f"FD {op} {v:g}: " + ", ".join(
            f"{_short(s['label'])} {_fmt(s.get(key), 0, '', _censored(s, key))}"
            for s in stats.values()))
    if more:
        text += " Steps to other thresholds (means): " + "; ".join(more) + "."
    if any(s.get("mean_judge_fd") for s in stats.values()):
        text += (" Mean judge FD over training (the area under the quality curve per step; "
                 "lower is better): " + ", ".join(
                     f"{_short(s['label'])} {_fmt(s.get('mean_judge_fd'), 0)}"
                     for s in stats.values()) + ".")
    return text + _method(comps), comps


def _verdict_latent(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    parts = [f"latent {s['label'].split()[-1]}: {_fmt(s.get('classes_covered'), 1)} classes, "
             f"FD {_fmt(s.get('judge_fd'), 0)}" for s in stats.values()]
    full = [s["label"].split()[-1] for s in stats.values()
            if s.get("classes_covered") and s["classes_covered"]["min"] >= 10]
    runs = next(iter(stats.values()))["runs"]
    classes = [_pair(stats, z, "z10", "classes_covered") for z in ("z1", "z2")]
    fds = [_pair(stats, z, "z10", "judge_fd") for z in ("z50", "z100")]
    comps = _family(*classes, *fds)
    text = f"Over {_seeds(runs)}: " + "; ".join(parts) + ". Classes covered against latent 10: "
    text += "; ".join(f"{c.a_label} {interval(c, 1)}, "
                      f"{cmp.outcome(c, 'clearly fewer', 'clearly more')}" for c in classes if c)
    text += ". "
    z1 = classes[0]
    if z1:
        text += ("A latent of 1 covers clearly fewer classes: the mode collapse the losses "
                 "report predicts for it. " if z1.clear and z1.diff < 0 else
                 "A latent of 1 does not clearly cover fewer classes: the predicted mode "
                 "collapse is not shown. ")
    text += "FD against latent 10: " + "; ".join(
        f"{c.a_label} {interval(c)}, {cmp.outcome(c)}" for c in fds if c) + ". "
    if fds[0]:
        text += ("A latent of 50 draws clearly better digits than 10. " if fds[0].clear
                 and fds[0].diff < 0 else "A latent of 50 does not draw clearly better digits "
                 "than 10 here. ")
    text += (f"The smallest latent that covered all 10 classes in every seed: {full[0]}."
             if full else "No latent size covered all 10 classes in every seed.")
    return text + _method(comps), comps


def _who_leads(value: float, balance: Optional[float]) -> str:
    """Read log(L_G/L_D) against the loss's balance line (gan_core.losses.balance_point)."""
    if balance is None:
        return "no balance line for this loss"
    d = value - balance
    side = ("G is behind (D ahead)" if d > 0.1 else "D is behind (G ahead)" if d < -0.1
            else "about balanced")
    return f"{d:+.2f} from the balance {balance:.2f}: {side}"


def _lowest(stats: dict, key: str, comps: list[Comparison]) -> str:
    """Name the arm with the lowest mean `key` best only when it is clearly below every other."""
    have = {k: s[key]["mean"] for k, s in stats.items() if (s.get(key) or {}).get("n")}
    if len(have) < 2:
        return ""
    low = min(have, key=have.get)
    unclear = [stats[k]["label"] for k in have
               if k != low and not (cmp.clear_difference(comps, low, k, key) or 0) < 0]
    if not unclear:
        return f" Lowest FD: {stats[low]['label']}, clearly below every other arm."
    return (f" No arm is clearly lowest: the lowest mean FD ({stats[low]['label']}) is not "
            f"clearly below that of {cmp.listed(unclear)}.")


def _verdict_ratio(exp: Experiment, stats: dict, intro: str = "After the same real batches",
                   note: str = "The arms got very different numbers of G updates, so this "
                               "compares update counts as much as ratios.") -> tuple[str, list]:
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
    fd = [_pair(stats, k, "g1", "judge_fd") for k in stats if k != "g1"]
    have = {k: s["judge_fd"]["mean"] for k, s in stats.items()
            if (s.get("judge_fd") or {}).get("n")}
    low = min(have, key=have.get) if have else "g1"
    best = [_pair(stats, low, k, "judge_fd") for k in have if low != "g1" and k not in (low, "g1")]
    timed = {t: [_pair(stats, k, "g1", f"judge_fd_at_{t:g}s") for k in stats if k != "g1"]
             for t in exp.at_seconds}
    comps = _family(*fd, *best, *(c for cs in timed.values() for c in cs))
    text = (f"{intro}, over {_seeds(base['runs'])}: " + "; ".join(parts) + ". FD against G:D "
            "1:1, per seed: " + "; ".join(f"{c.a_label} {interval(c)}, {cmp.outcome(c)}"
                                           for c in fd if c) + ".")
    text += _lowest(stats, "judge_fd", comps) + f" {note}"
    ends = {k: abs(s["log_lg_ld"]["mean"] - balance) for k, s in stats.items()
            if balance is not None and (s.get("log_lg_ld") or {}).get("n")}
    if ends:
        near = min(ends, key=ends.get)
        sign = {k: d for k in stats if k != near
                and (d := cmp.clear_difference(comps, near, k, "judge_fd")) is not None}
        below = [stats[k]["label"] for k, d in sign.items() if d > 0]
        text += f" The arm that ends nearest the balance line is {stats[near]['label']}"
        if below:
            text += (f"; its FD is clearly higher than that of {cmp.listed(below, 'and')}: "
                     f"balanced losses did not go with the best images here.")
        elif len(sign) == len(stats) - 1:
            text += "; its FD is clearly the lowest: balance went with the best images here."
        else:
            text += "; no arm has clearly lower FD than it, nor is it clearly the lowest."
    for t, cs in timed.items():
        key = f"judge_fd_at_{t:g}s"
        have_t = {k: s[key] for k, s in stats.items() if (s.get(key) or {}).get("n")}
        if not have_t:
            continue
        early = [s["label"] for k, s in stats.items() if k in have_t and s.get("train_seconds")
                 and s["train_seconds"]["mean"] < t]
        none = [s["label"] for k, s in stats.items() if k not in have_t]
        text += (f" At equal training time ({t:g} s, read between the evaluations around it): "
                 + ", ".join(f"{stats[k]['label']} FD {_fmt(v, 0)}" for k, v in have_t.items())
                 + "; against G:D 1:1: " + "; ".join(f"{c.a_label} {interval(c)}, {cmp.outcome(c)}"
                                                      for c in cs if c and c.n)
                 + (f" ({', '.join(early)} had ended sooner: their last reading)" if early else "")
                 + (f"; not yet measured by then: {', '.join(none)}" if none else "") + ".")
    if balance is not None:
        text += (f" log(L_G/L_D) is read against the balance line, {balance:.2f} for this loss "
                 f"(D = 1/2), not 0.")
    return text + _method(comps), comps


def _verdict_ratio_equal_g(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    """gd-ratio's reading when every arm gets (about) the same number of G updates."""
    return _verdict_ratio(exp, stats, "After about the same number of G updates (312; G:D 50:1 "
                          "350)", "With G's updates equal, the arms differ in D's updates (7 to "
                          "1,560) and in real batches seen.")


def _verdict_small(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    """Which arm copies, read off the share of samples nearer a training image than a held-out
    one (0.5: none) and the ratio of those distances."""
    parts, tests = [], []
    for key, s in stats.items():
        share = s.get("copy_share")
        parts.append(f"{s['label']}: {_fmt(_pct(share), 0, '%')} of samples nearer a training "
                     f"image than a held-out one, distance ratio {_fmt(s.get('copy_ratio'), 2)}"
                     f", FD {_fmt(s.get('judge_fd'), 0)}")
        tests.append(cmp.against_value(key, "copy_share",
                                       (s.get("by_seed") or {}).get("copy_share", {}), 0.5,
                                       s["label"], "50% (no copying)"))
    keys = list(stats)
    pair = _pair(stats, keys[0], keys[-1], "copy_share") if len(keys) > 1 else None
    comps = _family(*tests, pair)
    copies = [c.a_label for c in tests if c.clear and c.diff > 0 and c.diff + 0.5 >= 0.75]
    leans = [c.a_label for c in tests if c.clear and c.diff > 0 and c.diff + 0.5 < 0.75]
    runs = next(iter(stats.values()))["runs"]
    text = (f"After {exp.base.get('max_steps', 0):,} steps, over {_seeds(runs)} (50% = no "
            f"copying, near 100% = copies): " + "; ".join(parts) + ". Against 50%: " + "; ".join(
                f"{c.a_label} {interval(c, 0, ' points', 100)}" for c in tests) + ". ")
    if copies:
        text += f"Copies its training images: {', '.join(copies)}. "
    if leans:
        text += (f"Nearer its own training images than unseen ones, clearly but far from "
                 f"wholesale copying: {', '.join(leans)}. ")
    if not copies and not leans:
        text += (f"No arm's samples sit nearer their training images than unseen digits beyond "
                 f"the noise between seeds: no clear sign of copying at this length of training, "
                 f"with {_seeds(runs)}. ")
    if pair:
        text += (f"{pair.a_label} against {pair.b_label}: {interval(pair, 0, ' points', 100)} "
                 f"of that share, {cmp.outcome(pair, 'clearly lower', 'clearly higher')}.")
    return text.strip() + _method(comps), comps


def _verdict_best(exp: Experiment, stats: dict) -> str:
    """Each arm's numbers, and the runs that failed or collapsed (no comparison yet)."""
    parts = [f"{s['label']}: FD {_fmt(s.get('judge_fd'), 0)}, "
             f"{_fmt(s.get('classes_covered'), 1)} classes, recognised "
             f"{_fmt(_pct(s.get('confident_share')), 0, '%')}, "
             f"{_fmt(s.get('train_seconds'), 0, ' s')}"
             for s in stats.values()]
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
    return f"Over {_seeds(runs)}: " + "; ".join(parts) + "." + note


def _verdict_depth(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    """The coursework found the medium generator best for DCGAN: say whether that holds here."""
    text = _verdict_best(exp, stats)
    sizes = [_pair(stats, "medium_bn", f"{d}_bn", "judge_fd") for d in ("small", "large")]
    norm = [_pair(stats, f"{d}_nobn", f"{d}_bn", "judge_fd") for d in ("small", "medium", "large")]
    comps = _family(*sizes, *norm)
    sizes = [c for c in sizes if c]
    if sizes:
        text += (" With batch norm on, FD of the medium generator against: " + "; ".join(
            f"{c.b_label.split(',')[0]} {interval(c)}, {cmp.outcome(c)}" for c in sizes) + ".")
        if len(sizes) == 2 and all(c.clear and c.diff < 0 for c in sizes):
            text += " The coursework's finding (medium best) holds here, at 3 epochs."
        elif any(c.clear and c.diff > 0 for c in sizes):
            beats = [c.b_label.split(",")[0] for c in sizes if c.clear and c.diff > 0]
            text += (f" The coursework's finding (medium best) does not hold here, at 3 epochs: "
                     f"the {' and '.join(beats)} generator has clearly lower FD.")
        else:
            text += (" The coursework's finding (medium best) is not shown here, at 3 epochs: "
                     "the medium generator is not clearly below the others.")
    norm = [c for c in norm if c]
    if norm:
        text += (" Batch norm off against on, FD: " + "; ".join(
            f"{c.a_label.split(',')[0]} {interval(c)}, {cmp.outcome(c)}" for c in norm) + ".")
    return text + _method(comps), comps


SAGAN_CHANGES = ("hinge", "ttur", "sn", "attention")     # the ablation arms, one change each


def _verdict_sagan(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
    """Each SAGAN change on its own against the DCGAN recipe, and the full recipe, at equal
    training time: what each buys in FD and in the share the judge recognises."""
    base = stats["dcgan"]
    pairs = {k: (_pair(stats, k, "dcgan", "judge_fd"), _pair(stats, k, "dcgan", "confident_share"))
             for k in (*SAGAN_CHANGES, "sagan") if k in stats}
    comps = _family(*(c for p in pairs.values() for c in p))
    parts = []
    for key, s in stats.items():
        part = (f"{s['label']}: FD {_fmt(s.get('judge_fd'), 0)}, recognised "
                f"{_fmt(_pct(s.get('confident_share')), 0, '%')}, {_fmt(s.get('steps'), 0)} steps")
        fd, share = pairs.get(key, (None, None))
        if fd and share:
            part += (f" (FD {interval(fd)}; recognised {interval(share, 0, ' points', 100)})")
        parts.append(part)
    text = (f"Each arm trained for the same {exp.base.get('max_seconds', 0):g} s, over "
            f"{_seeds(base['runs'])}; against the DCGAN recipe, per seed: " + "; ".join(parts)
            + ". ")
    buys, costs = [], []
    for key in SAGAN_CHANGES:
        fd, share = pairs.get(key, (None, None))
        if not fd or not share:
            continue
        name = stats[key]["label"].lstrip("+ ")
        if fd.clear:
            (buys if fd.diff < 0 else costs).append(f"{name} ({fd.diff:+.0f} FD)")
        elif share.clear:
            (buys if share.diff > 0 else costs).append(
                f"{name} ({share.diff * 100:+.0f} points recognised)")
    text += ("On its own, " + (f"what helps the DCGAN recipe: {', '.join(buys)}" if buys
                               else "no single change clearly helps the DCGAN recipe")
             + ("; what hurts it: " + ", ".join(costs) if costs else "") + ". ")
    fd, share = pairs.get("sagan", (None, None))
    if not fd or not share or fd.diff is None or share.diff is None:
        return text + "The full recipe has no numbers to compare." + _method(comps), comps
    if fd.clear and fd.diff < 0 and not (share.clear and share.diff < 0):
        reading = "beats the DCGAN recipe here"
    elif fd.clear and fd.diff > 0:
        reading = "is worse than the DCGAN recipe here"
    elif not fd.clear and share.clear:
        reading = (f"draws no clearly different FD from the DCGAN recipe but clearly "
                   f"{'more' if share.diff > 0 else 'fewer'} digits the judge recognises")
    else:
        reading = "is not clearly different from the DCGAN recipe here"
    text += (f"The full SAGAN recipe {reading} (FD {fd.diff:+.0f}, recognised "
             f"{share.diff * 100:+.0f} points), at this training time, on 28x28 digits, far from "
             f"the paper's 128x128 ImageNet.")
    return text + _method(comps), comps


def _verdict_cgan(exp: Experiment, stats: dict) -> tuple[str, list[Comparison]]:
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
    seeds = s.get("by_seed") or {}
    if any(not seeds.get(f"acc_gen_{p}") for p in AUGMENT_SHARES):
        return text, []
    comps = _family(*(cmp.paired(f"acc_gen_{p}", "acc_gen_0", "classifier accuracy",
                                 seeds[f"acc_gen_{p}"], seeds["acc_gen_0"], f"{p}% generated",
                                 "all real") for p in AUGMENT_SHARES if p))
    margin = EQUIVALENCE_MARGIN * 100
    text += (" Against all real digits, per seed (points of accuracy): " + "; ".join(
        f"{c.a_label} {interval(c, 1, '', 100)}" for c in comps) + ".")
    kept = 0
    for c in comps:                 # the largest share up to which every share is equivalent
        if not c.within(EQUIVALENCE_MARGIN + 1e-9):
            break
        kept = int(c.a.rsplit("_", 1)[1])
    lost = [c.a_label for c in comps if c.clear and c.diff < 0]
    if kept:
        text += (f" Up to {kept}% generated is within {margin:g} point of all-real accuracy "
                 f"(each 95% interval inside ±{margin:g}): the samples can stand in for that "
                 f"share of real digits.")
    elif len(lost) == len(comps):
        text += " Every share of generated digits clearly costs accuracy: here these samples " \
                "cannot replace real digits."
    else:
        text += (f" No share is shown to cost at most {margin:g} point: the intervals reach "
                 f"beyond ±{margin:g}. "
                 + (f"Clearly lower accuracy: {', '.join(lost)}." if lost else
                    "No share clearly lowers accuracy either."))
    return text + _method(comps), comps


# --- which reading each experiment gets (a new experiment of gan_core.claims needs one) --------

READINGS: dict[str, Callable[[Experiment, dict], tuple[str, list[Comparison]]]] = {
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


def reading(exp: Experiment, stats: dict, quick: bool = False) -> tuple[str, list[Comparison]]:
    """(the verdict, the comparisons it rests on) of a complete sweep of `exp`. A quick sweep
    is too short to judge: its verdict says only that it ran, and it makes no comparison."""
    if quick:
        return QUICK_VERDICT, []
    return READINGS[exp.name](exp, stats)


def verdict(exp: Experiment, stats: dict, quick: bool = False) -> str:
    """The sentence a complete sweep of `exp` becomes, from its per-arm statistics."""
    return reading(exp, stats, quick)[0]
