"""A sweep's folder read back: one row per run, statistics per arm, the summary and plots.

    OUT/runs/ARM_sSEED/result.json   one finished run (written by gan_core.sweeps)
    OUT/results.csv           one row per run
    OUT/curves.csv            one row per evaluation of every run
    OUT/summary.json          per-arm mean and spread, the verdict sentence, the paired
                              comparisons it rests on (gan_core.comparisons), code versions
    OUT/*.png                 plots with the spread across seeds

Quality numbers come from the judge classifier (gan_core.metrics): judge FD is a Frechet
distance in the judge's feature space, comparable only with other judge FDs.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Optional

from . import verdicts, versions
from .claims import AUGMENT_SHARES, NAMES, Experiment, balance_line, get_experiment, plan
from .files import atomic_write_text, write_csv

# --- reading a sweep folder ------------------------------------------------------------------

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


def result_ok(path: Path, run_id: str) -> bool:
    try:
        r = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(r, dict) and r.get("run_id") == run_id and "state" in r


def write_json(path: Path, obj: Any) -> None:
    """Atomically, so a stopped sweep never leaves half a result behind (NaN: see _finite)."""
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def finite(obj):
    """NaN and Inf become None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


# --- tables, statistics, plots ---------------------------------------------------------------

def load_results(out: str | Path) -> list[dict]:
    runs = []
    for path in sorted(Path(out).glob("runs/*/result.json")):
        if not result_ok(path, path.parent.name):
            continue            # a damaged file counts as not run; the sweep redoes it
        runs.append(json.loads(path.read_text()))
    return runs


SMOOTHING = 3        # evaluations in the running mean that thresholds are read on


def smoothed(values: list[float]) -> list[float]:
    """Centred running mean of SMOOTHING evaluations (fewer at the ends): a 500-sample FD curve
    is noisy, and one lucky evaluation must not decide when a run got somewhere."""
    half = SMOOTHING // 2
    return [statistics.fmean(values[max(0, i - half):i + half + 1]) for i in range(len(values))]


def _finite_points(curve: list[dict], metric: str) -> list[tuple[dict, float]]:
    return [(row, float(row[metric])) for row in curve
            if isinstance(row.get(metric), (int, float)) and math.isfinite(row[metric])]


def _to_threshold(curve: list[dict], threshold) -> tuple[Optional[int], Optional[float]]:
    """(step, seconds) of the first evaluation after which the smoothed curve stays past the
    threshold to the end of the run; (None, None) when it never settles there."""
    metric, op, value = threshold
    points = _finite_points(curve, metric)
    first = None
    for i, v in reversed(list(enumerate(smoothed([v for _, v in points])))):
        if not (v <= value if op == "<=" else v >= value):
            break
        first = i
    if first is None:
        return None, None
    row = points[first][0]
    return row["step"], row["time_s"]


def value_at_seconds(curve: list[dict], metric: str, t: float) -> Optional[float]:
    """`metric` at t training seconds, interpolated linearly between the evaluations around t;
    a run that had ended by t gives its last evaluation, one not yet evaluated by t None."""
    points = [(row["time_s"], v) for row, v in _finite_points(curve, metric)]
    if not points or t < points[0][0]:
        return None
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return v1 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


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
        row[f"judge_fd_at_{t:g}s"] = value_at_seconds(curve, "judge_fd", t)
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
        # Every number seed by seed (keys are strings, as in JSON): the verdicts pair arms by
        # seed (gan_core.comparisons).
        s["by_seed"] = {k: {str(r["seed"]): r[k] for r in mine if r.get(k) is not None}
                        for k in sorted({k for r in mine for k in r}
                                        - {"arm", "label", "seed", "state"})}
        stats[arm.name] = s
    return stats


def judged(exp: Experiment, rows: list[dict], results: list[dict], quick: bool = False,
           total: Optional[int] = None) -> dict:
    """What a summary says of the runs: per-arm statistics, the verdict with the paired
    comparisons it rests on (a sweep with runs missing has neither), and the code versions."""
    stats = arm_stats(exp, rows)
    total = len(rows) if total is None else total
    complete = len(rows) >= total and len(stats) == len(exp.arms)
    if complete:
        verdict, comparisons = verdicts.reading(exp, stats, quick)
    else:
        verdict, comparisons = (f"Only {len(rows)} of {total} runs have finished; run the same "
                                f"command again to finish."), []
    return dict(complete=complete, arms=stats, verdict=verdict,
                comparisons=[c.to_dict() for c in comparisons], **versions.sweep_versions(results))


def summarise(name: str, out: str | Path) -> dict:
    """Write results.csv, curves.csv, summary.json and the plots from the finished runs."""
    exp = get_experiment(name)
    out = Path(out)
    results = load_results(out)
    rows, curves = tables(exp, results)
    write_csv(out / "results.csv", rows)
    write_csv(out / "curves.csv", curves)
    meta = read_sweep_meta(out) if (out / "sweep.json").is_file() else {}
    total = len(plan(name, bool(meta.get("quick")), meta.get("seeds"), meta.get("steps")))
    summary = dict(experiment=name, title=exp.title, claim=exp.claim, source=exp.source,
                   setup=exp.setup, quick=bool(meta.get("quick")), command=meta.get("command", ""),
                   runs_done=len(rows), runs_total=total,
                   threshold=list(exp.threshold) if exp.threshold else None,
                   **judged(exp, rows, results, bool(meta.get("quick")), total))
    write_json(out / "summary.json", finite(summary))
    if rows:
        plot(exp, rows, curves, out)
    return summary


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
    # Imported here, not at the top: only the PNGs need matplotlib (the Experiments page imports
    # this module and draws with Plotly), and the Agg backend must be chosen before pyplot loads.
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    bands = curve_bands(exp, curves, exp.curve, exp.curve_x)
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
        ax.set_xlabel("training seconds" if exp.curve_x == "time_s" else "step (real batches)")
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
