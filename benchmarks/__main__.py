"""`python -m benchmarks [--quick] [--data-dir DIR]`: measure, print the tables, save them.

Throughput rounds alternate the tutorial loop and the Trainer (baseline, trainer, baseline,
trainer, ...) so that both see the same machine; the medians are compared.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import torch

from .measure import RECIPES, in_child, median

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"

# preset -> (loss it trains with, the tutorial loop's loss)
PRESET_LOSS = {"dcgan": ("nonsaturating", "bce"), "flgan": ("focal", "focal")}
# model -> (warmup steps, timed steps) of one throughput round
STEPS = {"classroom": (10, 200), "paper": (3, 40), "dcgan64": (2, 12)}
SECTIONS = ("speed", "quality", "sampling", "growth", "views")
QUICK_STEPS = {"classroom": (2, 6), "paper": (1, 3), "dcgan64": (1, 2)}


def default_data_dir() -> str:
    for c in (os.environ.get("GAN_DATA_DIR"), str(ROOT.parent / "shared" / "data"), "data"):
        if c and (Path(c) / "MNIST" / "raw").is_dir():
            return c
    return "data"


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__,
                torch_threads=torch.get_num_threads(), python=platform.python_version(),
                date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _fmt(x, digits=0, unit=""):
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:,.{digits}f}{unit}"


def _measured(out: dict, name: str, fn, key: str | None = None) -> None:
    """out[key or name] = fn(); a failure is kept in out["errors"] and printed, so one
    measurement that fails does not lose the others."""
    try:
        out[key or name] = fn()
    except Exception:  # noqa: BLE001 - reported like the other measurements
        import traceback
        out["errors"].append(dict(measure=name, args={}, error=traceback.format_exc()))
        print(f"  ! {name} failed:\n{traceback.format_exc()}", file=sys.stderr)


def run(args) -> dict:
    steps = QUICK_STEPS if args.quick else STEPS
    models = args.models or (["classroom"] if args.quick else ["classroom", "paper", "dcgan64"])
    presets = args.presets or (["dcgan"] if args.quick else ["dcgan", "flgan"])
    rounds = 1 if args.quick else args.rounds
    out = dict(machine=machine(), quick=args.quick, speed=[], quality=[], sampling=[],
               growth=[], errors=[], app=None, views=None)
    if args.app in ("yes", "browser"):
        from . import browser_speed
        _measured(out, "browser", lambda: browser_speed.measure(
            args.data_dir, seconds=15.0 if args.quick else args.browser_seconds))
        if args.app == "browser":
            return out
    if args.app in ("yes", "only", "startup"):
        from . import startup
        _measured(out, "startup", lambda: startup.measure(
            args.data_dir, seconds=10.0 if args.quick else args.startup_seconds,
            repeats=1 if args.quick else args.app_rounds))
        if args.app == "startup":
            return out
    if args.app != "no":
        from .app_speed import measure, measure_page
        if args.app == "page":
            _measured(out, "app_speed", lambda: measure_page(
                args.data_dir, repeats=3 if args.quick else 20, warmup=2 if args.quick else 10),
                key="page")
        else:
            _measured(out, "app_speed", lambda: measure(
                args.data_dir, seconds=5.0 if args.quick else args.app_seconds,
                rounds=1 if args.quick else args.app_rounds, repeats=3 if args.quick else 20,
                warmup=2 if args.quick else 10), key="app")
        if args.app in ("only", "page"):
            return out

    def child(name, **kw):
        r = in_child(name, data_dir=args.data_dir, **kw) if name != "sampling_latency" else \
            in_child(name, **kw)
        if "error" in r:
            out["errors"].append(dict(measure=name, args=kw, error=r["error"]))
            print(f"  ! {name} {kw} failed:\n{r['error']}", file=sys.stderr)
        return r

    for model in (models if "speed" in args.sections else []):
        warmup, n = steps[model]
        for p in presets:
            loss, tutorial_loss = PRESET_LOSS[p]
            print(f"speed: {model} / {loss} ({rounds} round(s) of {n} steps)", file=sys.stderr)
            base, ours = [], []
            for _ in range(rounds):
                base.append(child("baseline_speed", model=model, loss=tutorial_loss, steps=n,
                                  warmup=warmup))
                ours.append(child("trainer_speed", model=model, preset=p, steps=n,
                                  warmup=warmup))
            b = median([r.get("images_per_s") for r in base])
            o = median([r.get("images_per_s") for r in ours])
            out["speed"].append(dict(
                model=model, preset=p, loss=loss, steps=n, rounds=rounds,
                trainer_images_per_s=o, tutorial_images_per_s=b, ratio=o / b if b else None,
                trainer_runs=[r.get("images_per_s") for r in ours],
                tutorial_runs=[r.get("images_per_s") for r in base],
                trainer_peak_rss_mb=max((r.get("peak_rss_mb", 0) for r in ours), default=None),
                tutorial_peak_rss_mb=max((r.get("peak_rss_mb", 0) for r in base), default=None),
                trainer_rss_ready_mb=ours[-1].get("rss_ready_mb"),
                other_load=max(r.get("other_load", 0) for r in base + ours)))

    # Recognisable digits against training time, the old and the new classroom recipes side by
    # side (interleaved, so that all see the same machine), both presets.
    quality_models = [m for m in models
                      if m in args.quality_models and "quality" in args.sections]
    for model in quality_models:
        for seed in range(1 if args.quick else args.quality_seeds):
            for p in presets:
                for recipe in args.recipes:
                    budget = 2.0 if args.quick else args.budget
                    print(f"quality: {model} / {p} / {recipe} recipe / seed {seed} (budget "
                          f"{budget:g} s)", file=sys.stderr)
                    grid = RESULTS / (f"{'quick' if args.quick else 'latest'}_{model}_{p}_"
                                      f"{recipe}{f'_s{seed}' if seed else ''}.png")
                    r = child("time_to_quality", model=model, preset=p, budget_s=budget,
                              eval_every_s=1.0 if args.quick else args.eval_every,
                              n_eval=200 if args.quick else 1000, recipe=recipe, seed=seed,
                              grid_png=str(grid))
                    if "error" not in r:
                        out["quality"].append(dict(model=model, preset=p, seed=seed,
                                                   loss=PRESET_LOSS[p][0], budget_s=budget, **r))

    if not args.quick and "growth" in args.sections:
        for model in models:
            print(f"memory growth per step: {model}", file=sys.stderr)
            r = child("growth_per_step", model=model, preset="flgan")
            if "error" not in r:
                out["growth"].append(dict(model=model, **r))

    if "views" in args.sections:       # issue 14: per-refresh draw time of the 2-D view
        print("views: 2-D view draw time", file=sys.stderr)
        from .views_speed import measure as views_measure
        out["views"] = views_measure(repeats=5 if args.quick else 30, steps=30 if args.quick
                                     else 300)

    for model in (models if "sampling" in args.sections else []):
        print(f"sampling: {model}", file=sys.stderr)
        r = child("sampling_latency", model=model, repeats=3 if args.quick else args.repeats)
        if "error" not in r:
            out["sampling"].append(dict(model=model, **r))
    return out


def tables(res: dict) -> str:
    m = res["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} "
             f"({m['torch_threads']} threads), Python {m['python']}, {m['date']}"
             + (" -- QUICK RUN, figures not meaningful" if res["quick"] else ""), ""]
    if res.get("app"):
        from .app_speed import table
        lines += [table(res["app"]), ""]
    if res.get("page"):
        from .app_speed import page_table
        lines += [page_table(res["page"]), ""]
    if res.get("browser"):
        from .browser_speed import table as browser_table
        lines += ["The Train page in headless Chromium on the same machine, against the command "
                  "line with the same settings (MNIST, the page's defaults, epochs 50):", "",
                  browser_table(res["browser"]), ""]
    if res.get("startup"):
        from .startup import table as startup_table
        lines += [startup_table(res["startup"]), ""]
    if res.get("views"):
        from .views_speed import table as views_table
        lines += [views_table(res["views"]), ""]
    if res["speed"]:
        lines += ["| model | loss | Trainer img/s | tutorial loop img/s | ratio | peak RSS MB "
                  "(Trainer / tutorial) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for s in res["speed"]:
        lines.append(f"| {s['model']} | {s['loss']} | {_fmt(s['trainer_images_per_s'])} | "
                     f"{_fmt(s['tutorial_images_per_s'])} | {_fmt(s['ratio'], 2, 'x')} | "
                     f"{_fmt(s['trainer_peak_rss_mb'])} / {_fmt(s['tutorial_peak_rss_mb'])} |")
    if res["quality"]:
        real = res["quality"][0]["real_share"]
        lines += ["", f"Confident share (judge >= 0.9) of 1,000 samples against training "
                      f"seconds; held-out real digits: {100 * real:.1f}%. 'x real' is the share "
                      f"over the real digits' share; 'to 50% / 80%' is the first evaluation at "
                      f"that fraction of real with all 10 digits drawn.", "",
                  "| model | preset | recipe | seed | precision | batch | clusters | steps | at "
                  "the end: share (x real) | digits | judge FD | to 50% (s) | to 80% (s) |",
                  "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| ---: |"]
        met: dict[tuple, list[bool]] = {}
        for q in res["quality"]:
            f, hit = q["final"], q["reached"]
            when = [_fmt(hit[k]["train_s"], 1) if hit.get(k) else
                    f"> {_fmt(q['budget_s'])}" for k in ("0.5", "0.8")]
            lines.append(f"| {q['model']} | {q['preset']} | {q['recipe']} | {q.get('seed', 0)} | "
                         f"{q['precision']} | {q['batch_size']} | {q.get('clusters', 0)} | "
                         f"{q['steps']} | {_fmt(100 * f['confident_share'], 1, '%')} "
                         f"({_fmt(f['of_real'], 2)}) | {f['classes_covered']} | "
                         f"{_fmt(f['judge_fd'], 0)} | {when[0]} | {when[1]} |")
            met.setdefault((q["model"], q["preset"], q["recipe"]), []).append(
                f["confident_share"] >= 0.8 and f["classes_covered"] >= 10)
        lines += ["", "At the end of the budget, at least 80% confident samples with all 10 "
                      "digits: " + "; ".join(f"{m} / {p} / {r}: {sum(v)} of {len(v)} seeds"
                                            for (m, p, r), v in met.items()) + "."]
    if res["sampling"]:
        lines += ["", "| model | 64 samples ms (median) | one interpolation frame ms (median) |"
                      " peak RSS MB |", "| --- | ---: | ---: | ---: |"]
        for s in res["sampling"]:
            lines.append(f"| {s['model']} | {_fmt(s['grid_ms'], 1)} | {_fmt(s['frame_ms'], 2)} | "
                         f"{_fmt(s['peak_rss_mb'])} |")
    if res["growth"]:
        lines += ["", "| model | kept per training step: history record + sample grids | "
                      "a run of S steps holds at most |", "| --- | ---: | --- |"]
        for g in res["growth"]:
            peak = max((s["trainer_peak_rss_mb"] for s in res["speed"]
                        if s["model"] == g["model"]), default=float("nan"))
            lines.append(f"| {g['model']} | {_fmt(g['history_bytes_per_step'])} B + "
                         f"{_fmt(g['snapshot_bytes_per_step'])} B | "
                         f"{_fmt(peak)} MB + S x {_fmt(g['bytes_per_step'] / 1024, 1)} kB |")
    loads = [r.get("other_load", 0) for key in ("speed", "quality", "sampling", "growth")
             for r in res[key]]
    if loads and max(loads) > 0.2:
        lines += ["", f"WARNING: other processes kept up to {max(loads):.1f} cores busy during "
                      f"some measurements (other_load in the JSON); those figures are low."]
    if res["errors"]:
        lines += ["", f"{len(res['errors'])} measurement(s) failed; see the JSON file."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not figures")
    p.add_argument("--data-dir", default=None, help="folder with MNIST/raw "
                   "(default: $GAN_DATA_DIR, ../shared/data, ./data)")
    p.add_argument("--models", nargs="+", choices=list(STEPS), default=None)
    p.add_argument("--presets", nargs="+", choices=list(PRESET_LOSS), default=None)
    p.add_argument("--quality-models", nargs="+", default=["classroom"],
                   help="models timed to recognisable digits (default: classroom)")
    p.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES),
                   help="classroom recipes compared: before issue 16 (old: Adam 2e-4, fp32, "
                        "no EMA), its first round (batch64: lr 5e-4, bf16, EMA, batch 64), its "
                        "second (batch32: the same at batch 32) and now (new: batch32 with "
                        "cluster conditioning, 50 clusters) (default: all four)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                   help="what to measure (default: all)")
    p.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    p.add_argument("--quality-seeds", type=int, default=1,
                   help="seeds of each quality run (0, 1, ...; interleaved)")
    p.add_argument("--budget", type=float, default=60.0,
                   help="training seconds allowed to reach the quality threshold")
    p.add_argument("--eval-every", type=float, default=5.0,
                   help="training seconds between judge evaluations")
    p.add_argument("--repeats", type=int, default=50, help="timed sampling calls (median)")
    p.add_argument("--app", choices=["yes", "no", "only", "page", "startup", "browser"],
                   default=None,
                   help="also time the app's job path against the command line (only: just "
                        "that; page: only the Train page's and its live fragment's rerun "
                        "while two jobs train; startup: only a job's start, submit to first "
                        "step and first grid, and the worker's extras' share; browser: only the Train page "
                        "in headless Chromium against the command line; default: yes, "
                        "but no with --quick)")
    p.add_argument("--startup-seconds", type=float, default=45.0,
                   help="seconds each job of the extras' share trains (--app startup)")
    p.add_argument("--browser-seconds", type=float, default=45.0,
                   help="seconds after the click the browser run is read (--app browser)")
    p.add_argument("--app-seconds", type=float, default=30.0,
                   help="seconds each path trains per round of that comparison")
    p.add_argument("--app-rounds", type=int, default=2, help="alternating rounds of it")
    p.add_argument("--out", default=None, help="results file stem (default: "
                   "benchmarks/results/latest, or quick when --quick)")
    args = p.parse_args(argv)
    if not 1 <= args.quality_seeds <= 20:
        p.error(f"--quality-seeds must be from 1 to 20; got {args.quality_seeds}")
    args.app = args.app or ("no" if args.quick else "yes")
    args.data_dir = args.data_dir or default_data_dir()
    if not (Path(args.data_dir) / "MNIST" / "raw").is_dir():
        print(f"error: no MNIST/raw under {args.data_dir}; pass --data-dir", file=sys.stderr)
        return 2
    res = run(args)
    text = tables(res)
    print(text)
    stem = Path(args.out) if args.out else RESULTS / ("quick" if args.quick else "latest")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1, default=float) + "\n")
    stem.with_suffix(".md").write_text(text + "\n")
    print(f"\nwritten: {stem.with_suffix('.json')}, {stem.with_suffix('.md')}", file=sys.stderr)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
