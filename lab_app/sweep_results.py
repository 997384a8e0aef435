"""Shipped experiment results (experiments/NAME, made by `python -m gan_core sweep`)."""
from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any, Optional

from gan_core import claims, metrics, sweep_stats
from gan_core.comparisons import ALPHA, fmt_p
from gan_core.config import recipe_of
from gan_core.models import ARCHITECTURES
from lab_app import recipes, safe

RESULTS_DIR = Path(__file__).resolve().parents[1] / "experiments"


def load_results_dir(name: str, folder: Path) -> Optional[tuple[dict, list[dict], list[dict]]]:
    """(summary, one row per run, one row per evaluation) of a sweep folder, or None."""
    path = folder / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    exp = claims.get_experiment(name)
    results = sweep_stats.load_results(folder)
    rows, curves = sweep_stats.tables(exp, results)
    # Statistics, comparisons and verdict are recomputed, so a change to them shows without a
    # rerun.
    total = summary.get("runs_total")
    summary.update(sweep_stats.judged(exp, rows, results, bool(summary.get("quick")),
                                      total if isinstance(total, int) else None))
    return summary, rows, curves


def evaluator_note(results: list[dict]) -> str:
    """A sentence when some of a sweep's runs were measured by another evaluator than today's
    (result.json's `evaluator_version`; files written before it existed are version 1): their
    judge FDs are then not comparable with the cards' or a live run's. '' when all are today's."""
    versions = sorted({r.get("evaluator_version", 1) for r in results}, key=str)
    if not results or versions == [metrics.EVALUATOR_VERSION]:
        return ""
    return (f"Measured with evaluator version {', '.join(map(str, versions))}: its judge FDs "
            f"(and the threshold) are not comparable with those of the model cards and of "
            f"live runs, which use version {metrics.EVALUATOR_VERSION} "
            f"(docs/judge-agreement.md).")


def load_shipped(name: str):
    return load_results_dir(name, RESULTS_DIR / name)


# Numbers that are shares: their differences are shown in points (percent).
SHARES = ("confident_share", "copy_share", "class_accuracy", "classifier accuracy")


def _num(value, scale: float) -> str:
    return f"{value * scale:+.1f}" if isinstance(value, (int, float)) else "n/a"


def comparison_rows(summary: dict) -> list[dict]:
    """A summary's paired comparisons as table rows (plain text, cleaned: a table cell is not
    Markdown, and the labels come from a file)."""
    rows = []
    for c in summary.get("comparisons") or []:
        if not isinstance(c, dict):
            continue
        metric = str(c.get("metric", ""))
        scale = 100 if metric in SHARES else 1
        unit = " (points)" if scale == 100 else ""
        lo, hi = c.get("ci_low"), c.get("ci_high")
        rows.append({
            "comparison": safe.clean(f"{c.get('a_label') or c.get('a')} − "
                                     f"{c.get('b_label') or c.get('b')}", 120),
            "number": safe.clean(claims.NAMES.get(metric, metric) + unit, 120),
            "difference": _num(c.get("diff"), scale),
            "95% interval": f"{_num(lo, scale)} to {_num(hi, scale)}" if lo is not None else "n/a",
            "p": fmt_p(c.get("p")), "p (Holm)": fmt_p(c.get("p_holm")),
            "clear": "yes" if isinstance(c.get("p_holm"), (int, float)) and c["p_holm"] < ALPHA
            else "no",
            "test": safe.clean(c.get("test", ""), 40), "seeds": c.get("n"),
            "censored pairs": c.get("censored") or 0})
    return rows


# Which way is better, for the numbers a verdict compares (the rest: "higher" or "lower").
LOWER_BETTER = {"judge_fd", "judge_fd_all", "steps_to_threshold", "seconds_to_threshold",
                "mean_judge_fd", "judge_fd_at_15s", "class_kl", "train_seconds"}
HIGHER_BETTER = {"confident_share", "classes_covered", "class_accuracy", "classifier accuracy"}


def in_short(summary: dict, most: int = 4) -> str:
    """The verdict's comparisons in one plain paragraph (Markdown-safe): which arm is clearly
    better or worse on what, and which pairs show no clear difference ('' without any)."""
    clear, unclear = [], []
    for c in summary.get("comparisons") or []:
        if not isinstance(c, dict) or not isinstance(c.get("diff"), (int, float)):
            continue
        metric = str(c.get("metric", ""))
        a = safe.text(safe.clean(str(c.get("a_label") or c.get("a")), 60))
        b = safe.text(safe.clean(str(c.get("b_label") or c.get("b")), 60))
        what = safe.text(claims.NAMES.get(metric, metric).split(" (")[0])
        p = c.get("p_holm")
        if not (isinstance(p, (int, float)) and p < ALPHA):
            unclear.append(f"{a} and {b} ({what})")
            continue
        up = c["diff"] > 0
        if metric in LOWER_BETTER or metric in HIGHER_BETTER:
            good = up == (metric in HIGHER_BETTER)
            clear.append(f"{a} is clearly {'better' if good else 'worse'} than {b} on {what} "
                         f"({'higher' if up else 'lower'})")
        else:
            clear.append(f"{a} is clearly {'higher' if up else 'lower'} than {b} on {what}")
    if not clear and not unclear:
        return ""
    parts = []
    if clear:
        more = f" (and {len(clear) - most} more clear differences)" if len(clear) > most else ""
        parts.append("; ".join(clear[:most]) + more + ".")
    if unclear:
        more = f" and {len(unclear) - most} more pairs" if len(unclear) > most else ""
        parts.append("No clear difference between " + "; ".join(unclear[:most]) + more + ".")
    return " ".join(parts)


def nearest_pairs(name: str, folder: Optional[Path] = None, seed: int = 0) -> list[dict]:
    """For a memorisation sweep, per arm (one seed): the samples nearest a training image above
    that image (PNG bytes), their distances and a caption; [] for other experiments. folder:
    a sweep's folder (default: the shipped results)."""
    exp = claims.get_experiment(name)
    if exp.runner != "memorisation":
        return []
    folder = Path(folder) if folder is not None else RESULTS_DIR / name
    out = []
    for arm in exp.arms:
        path = folder / "runs" / f"{arm.name}_s{seed}" / "result.json"
        try:
            near = json.loads(path.read_text()).get("nearest") or {}
            png = base64.b64decode(near["png_base64"], validate=True)
        except (OSError, ValueError, KeyError, TypeError, binascii.Error):
            continue            # not run yet, or damaged: nothing to show for this arm
        dists = ", ".join(f"{d:.3f}" for d in near.get("distances", []))
        out.append(dict(arm=arm.name, label=arm.label, png=png,
                        caption=f"{arm.label}, seed {seed}: {near.get('about', '')}. "
                                f"Distances, left to right: {dists}."))
    return out


# --- one pair of arms over seeds, for the Compare page ---------------------------------------

# The shipped sweeps that put FLGAN against DCGAN, and the short names of their arms.
FOCAL_SWEEPS = ("focal-vs-dcgan", "focal-vs-dcgan-paper")
ARM_SHORT = {"focal_clip": "FLGAN", "focal": "focal loss alone", "clip": "clipping alone",
             "neither": "DCGAN"}


def focal_arm(loss: str, clipped: bool, gamma: float = 2.0) -> Optional[str]:
    """The focal-vs-dcgan arm a Compare side is (focal gamma 2 and/or clipping 0.25), or None."""
    if loss == "focal" and gamma == 2.0:
        return "focal_clip" if clipped else "focal"
    if loss == "nonsaturating":
        return "clip" if clipped else "neither"
    return None


def _mean_sd(stat: dict, censored: int, digits: int = 0) -> str:
    """'250 ± 14'; '>= ' before it when seeds that never got there count at their last step."""
    if not stat or not stat.get("n"):
        return "n/a"
    at_least = ">= " if censored else ""
    return f"{at_least}{stat['mean']:,.{digits}f} ± {stat['std']:,.{digits}f}"


def _one(values: list) -> Optional[Any]:
    """The value every run shares, or None when they differ (or there are none)."""
    return values[0] if values and all(v == values[0] for v in values) else None


def head_to_head(name: str, a: str = "focal_clip", b: str = "neither",
                 folder: Optional[Path] = None) -> Optional[dict]:
    """Arms `a` and `b` of a shipped FLGAN-vs-DCGAN sweep over its seeds: per arm the steps to
    the quality threshold (mean, sd, min, max, seeds that never got there), who got there first
    seed by seed, the model and recipe the runs used, and a sentence saying it. None when the
    sweep is not shipped or lacks either arm."""
    folder = Path(folder) if folder is not None else RESULTS_DIR / name
    loaded = load_results_dir(name, folder)
    if loaded is None:
        return None
    summary, rows, _ = loaded
    exp = claims.get_experiment(name)
    stats = summary["arms"]
    if a not in stats or b not in stats or not exp.threshold:
        return None
    metric, op, value = exp.threshold
    threshold = f"{'judge FD' if metric == 'judge_fd' else metric} {op} {value:g}"
    # What the runs were: read from their own configs (older files lack EMA and clusters: off).
    results = [r for r in sweep_stats.load_results(folder) if r.get("arm") in (a, b)]
    configs = [r["config"] for r in results if isinstance(r.get("config"), dict)]
    cfgs = [recipes.config_of_record(c) for c in configs]
    model = _one([c.model for c in cfgs])
    recipe = _one([recipe_of(c) for c in cfgs])
    recipe_text = _one([recipes.describe(c.to_dict(), c.model == "mlp") for c in cfgs])
    arms = []
    for arm in (a, b):
        s = stats[arm]
        steps, secs = s.get("steps_to_threshold") or {}, s.get("seconds_to_threshold") or {}
        never = s.get("censored_steps_to_threshold", 0)
        arms.append(dict(arm=arm, short=ARM_SHORT.get(arm, s["label"]), label=s["label"],
                         seeds=s["runs"], never=never, reached=s["runs"] - never,
                         steps=steps, seconds=secs, steps_text=_mean_sd(steps, never),
                         seconds_text=_mean_sd(secs, never),
                         range_text=f"{steps['min']:,.0f}-{steps['max']:,.0f}"
                         if steps.get("n") else "n/a"))
    # Seed by seed: who reached the threshold first (a seed that never did counts at its end).
    by = {(r["arm"], r["seed"]): r.get("steps_to_threshold") for r in rows}
    seeds = sorted(s for (arm, s) in by if arm == a and by.get((b, s)) is not None
                   and by[(a, s)] is not None)
    first = {a: 0, b: 0, "tie": 0}
    for s in seeds:
        x, y = by[(a, s)], by[(b, s)]
        first[a if x < y else b if y < x else "tie"] += 1
    n = len(seeds)
    ma, mb = arms[0]["steps"].get("mean"), arms[1]["steps"].get("mean")
    winner = None if ma is None or mb is None or ma == mb else (a if ma < mb else b)
    changes = n - first[winner] if winner else n
    sa, sb = arms[0]["short"], arms[1]["short"]
    text = (f"One run is one seed: over {n} seeds, {sa} reached {threshold} in "
            f"{arms[0]['steps_text']} steps and {sb} in {arms[1]['steps_text']}")
    if winner is None:
        text += (f", the same on average; {sa} was first in {first[a]}, {sb} in {first[b]} "
                 f"and {first['tie']} tied.")
    else:
        loser = b if winner == a else a
        text += f" (the winner changes with the seed in {changes} of {n}"
        if changes == 0:
            text += f": {ARM_SHORT.get(winner, winner)} was first in every seed)."
        else:
            parts = []
            if first[loser]:
                parts.append(f"{ARM_SHORT.get(loser, loser)} was first in {first[loser]}")
            if first["tie"]:
                parts.append(f"{first['tie']} tied at the judge's {exp.base.get('eval_every')}"
                             f"-step resolution")
            text += ": " + " and ".join(parts) + ")."
    return dict(name=name, title=exp.title, threshold=threshold, seeds=n, arms=arms,
                first=first, winner=winner, changes=changes, model=model,
                model_about=ARCHITECTURES[model].about if model in ARCHITECTURES else "",
                recipe=recipe, recipe_text=recipe_text,
                steps=_one([c.max_steps or None for c in cfgs]) or _one([r["steps"] for r in rows]),
                batch_size=_one([c.batch_size for c in cfgs]), sentence=text,
                evaluator_note=evaluator_note(results))
