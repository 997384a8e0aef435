"""The lesson benchmark: every lesson run exactly as its link builds it, on several seeds.

    python -m benchmarks.lessons [--seeds 5] [--jobs 2] [--only KEY ...] [--data-dir DIR]

For each lesson of lab_app.lessons with an effect, each seed trains the lesson's own config
(the Train page's `config_from_params` of the link, or both sides of the Compare page) for the
lesson's own length, and the lesson's detector (gan_core.detectors) reads the run: did the
effect show, and from which step. Healthy runs (the Train page's default MNIST and ring runs)
are scored by every detector: each episode there is a false alarm. Results go to
benchmarks/results/lessons.json (read by the lesson cards) and lessons.md.

A benchmark, not a test: it takes tens of minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import torch

from benchmarks.__main__ import machine
from gan_core import detectors, metrics
from gan_core.config import PRESETS, switch_loss
from gan_core.data import find_data_dir
from gan_core.datasets import is_points_dataset
from gan_core.metrics import judge_outputs
from gan_core.trainer import Trainer
from lab_app.lessons import LESSONS
from lab_app.settings import compare_config, compare_side_from_url, config_from_params

RESULTS = Path(__file__).resolve().parent / "results"
THRESHOLD_LOOKS_REAL = 0.3      # `digits`: the judge names this share of samples confidently
PAIR_FD = 200                   # `pair_first`: the quality line, judge FD (the Experiments
                                # page's focal-vs-dcgan threshold)
FIRST_DIGITS = 0.3              # Compare: a side "draws digits" once this share is confident
HEALTHY = {"healthy-mnist": {"dataset": "mnist"}, "healthy-ring": {"dataset": "ring"}}


def _config(params: dict, seed: int, data_dir: Optional[str]):
    """The Train page's config for a link: config_from_params, then what the page adds."""
    cfg, errors = config_from_params({**params, "seed": str(seed)})
    if errors:
        raise ValueError(f"the link {params} does not build: {errors}")
    toy = is_points_dataset(cfg.dataset)
    return cfg.with_updates(download=False, data_dir=None if toy else data_dir,
                            sample_every=10 if toy else 20)


def _looks(trainer) -> list:
    """A Look per snapshot, as the Train page's narration builds them."""
    snaps = trainer.snapshots
    if trainer.dataset.is_points:
        spread = detectors.spread_of(trainer.dataset.data)
        out, prev = [], None
        for s in snaps:
            out.append(detectors.look_at_points(s.step, s.samples, trainer.config.dataset,
                                                spread, prev))
            prev = (s.step, s.samples)
        return out
    judge = metrics.load_judge(trainer.config.dataset)
    real = detectors.diversity_of(trainer.dataset.data[:256], judge)
    return [detectors.look_at_images(s.step, s.samples, judge, real_diversity=real)
            for s in snaps]


def _train(cfg, then: Optional[dict] = None, detector: Optional[str] = None):
    """Train `cfg` to its end; with `then`, apply that live change 50 steps after `detector`
    first fires (checked every 10 steps on the history)."""
    torch.set_num_threads(1)
    tr = Trainer(cfg)
    state: dict[str, Any] = {}
    if then:
        def watch(trainer, record):
            step = record["step"]
            if "switch_at" not in state and step % 10 == 0:
                seen = detectors.first(getattr(detectors, detector)(trainer.history), detector)
                if seen is not None:
                    state["switch_at"] = step + 50
            if state.get("switch_at") == step:
                trainer.update_settings(**switch_loss(**then) if "loss" in then else then)
        tr.add_callback("step", watch)
    t0 = time.perf_counter()
    tr.run()
    return tr, time.perf_counter() - t0, state.get("switch_at")


def _keep(key: str, seed: int, side: str, trainer, looks) -> None:
    """With GAN_LESSONS_KEEP=DIR: the run's records and looks as JSON, to tune detectors on."""
    folder = os.environ.get("GAN_LESSONS_KEEP")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{key}{side}_{seed}.json").write_text(json.dumps(dict(
        history=trainer.history, looks=[asdict(lk) for lk in looks],
        config=trainer.config.to_dict())))


def run_one(key: str, seed: int, data_dir: Optional[str]) -> dict:
    """One lesson (or healthy run) on one seed: what the detectors saw."""
    if key in HEALTHY:
        tr, secs, _ = _train(_config(HEALTHY[key], seed, data_dir))
        looks = _looks(tr)
        _keep(key, seed, "", tr, looks)
        eps = detectors.narrate(tr.history, looks, points=tr.dataset.is_points)
        return dict(key=key, seed=seed, steps=tr.step, seconds=round(secs, 1),
                    alarms=[dict(kind=e.kind, start=e.start, end=e.end) for e in eps])
    lesson = LESSONS[key]
    effect = lesson.effect
    if effect.detector == "pair_first":
        return _run_pair(lesson, seed, data_dir)
    kind = effect.detector
    tr, secs, switch_at = _train(_config(lesson.params, seed, data_dir), effect.then,
                                 kind if kind in detectors.DETECTORS else None)
    looks = _looks(tr)
    _keep(key, seed, "", tr, looks)
    eps = detectors.narrate(tr.history, looks, points=tr.dataset.is_points)
    if kind in detectors.DETECTORS:
        step = detectors.first(eps, kind)
    elif kind == "covers":
        step = next((lk.step for lk in looks if lk.covered == lk.of), None)
    elif kind == "digits":
        step = next((lk.step for lk in looks if lk.looks_real >= THRESHOLD_LOOKS_REAL), None)
    else:
        raise ValueError(f"unknown effect {kind!r}")
    out = dict(key=key, seed=seed, steps=tr.step, seconds=round(secs, 1), shown=step is not None,
               step=step, episodes=[dict(kind=e.kind, start=e.start, end=e.end) for e in eps])
    if effect.then:
        ended = [e.end for e in eps if e.kind == kind and e.end is not None
                 and switch_at is not None and e.end > switch_at]
        out.update(switch_at=switch_at, recovered_at=min(ended) if ended else None)
    if looks:
        out["final_look"] = dict(covered=looks[-1].covered, of=looks[-1].of,
                                 looks_real=round(looks[-1].looks_real, 3),
                                 spread=None if looks[-1].spread is None
                                 else round(looks[-1].spread, 3))
    return out


def _run_pair(lesson, seed: int, data_dir: Optional[str]) -> dict:
    """Both sides of the Compare lesson, and whether they draw different images."""
    sides = {}
    for side in ("a", "b"):
        # what the Compare page builds from the link: the side's loss and clipping, focal
        # gamma 2, both sides on the link's recipe
        pick = compare_side_from_url(lesson.params[side], {})
        pick = dict(loss=pick["loss"], grad_clip=0.25 if pick["clip"] else None,
                    focal_gamma=PRESETS["flgan"]["focal_gamma"])
        cfg = compare_config(lesson.params["dataset"], pick, int(lesson.params["epochs"]), seed,
                             None, data_dir, recipe=lesson.params.get("recipe", "fast"))
        tr, secs, _ = _train(cfg)
        looks = _looks(tr)
        _keep(lesson.key, seed, f"_{side}", tr, looks)
        first_digits = next((lk.step for lk in looks if lk.looks_real >= FIRST_DIGITS), None)
        sides[side] = (tr, secs, looks, first_digits)
    judge = metrics.load_judge(lesson.params["dataset"])
    same = []                   # per snapshot: share of cells where both sides draw one class
    for sa, sb in zip(sides["a"][0].snapshots, sides["b"][0].snapshots):
        ca, cb = (judge_outputs(judge, s.samples)[0].argmax(1) for s in (sa, sb))
        same.append((sa.step, round(float((ca == cb).float().mean()), 3)))

    def at_line(tr) -> Optional[int]:
        return next((r["step"] for r in tr.history
                     if r.get("m_judge_fd") is not None and r["m_judge_fd"] <= PAIR_FD), None)
    la, lb = at_line(sides["a"][0]), at_line(sides["b"][0])
    shown = la is not None and (lb is None or la < lb)      # A strictly first
    fa, fb = sides["a"][3], sides["b"][3]
    first = ("neither" if fa is None and fb is None else "a" if fb is None or
             (fa is not None and fa < fb) else "b" if fa is None or fb < fa else "tie")
    return dict(key=lesson.key, seed=seed, steps=sides["a"][0].step,
                seconds=round(sides["a"][1] + sides["b"][1], 1), shown=shown,
                step=la if shown else None, fd_line_step={"a": la, "b": lb},
                same_digit_share=same, digits_first=first, digits_step={"a": fa, "b": fb},
                final_confident={s: round(v[2][-1].looks_real, 3) for s, v in sides.items()})


def summarise(rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for key, lesson in LESSONS.items():
        mine = [r for r in rows if r["key"] == key]
        if not mine:
            continue
        shown = [r for r in mine if r["shown"]]
        steps = [r["step"] for r in shown if r["step"] is not None]
        errors = [r["error"] for r in mine if "error" in r]
        entry = dict(params=lesson.params, effect=lesson.effect.detector,
                     watch=lesson.effect.watch, seeds=len(mine),
                     shown=len(shown), median_step=statistics.median(steps) if steps else None,
                     length_steps=statistics.median(r["steps"] for r in mine),
                     seconds=statistics.median(r["seconds"] for r in mine))
        if errors:
            entry["errors"] = errors
        if lesson.effect.then:
            entry["recovered"] = sum(r.get("recovered_at") is not None for r in mine)
        if lesson.effect.detector == "pair_first":
            entry["first"] = {w: sum(r.get("digits_first") == w for r in mine)
                              for w in ("a", "b", "tie", "neither")}
        out[key] = entry
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lessons", allow_abbrev=False)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1")
    p.add_argument("--seed-list", default=None, help="these seeds instead, e.g. 1,2,3")
    p.add_argument("--fresh", action="store_true", help="forget the runs already in --out "
                   "(default: new runs replace the same lesson and seed, the rest are kept)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", nargs="*", default=None, help="lesson keys (and healthy-mnist, "
                   "healthy-ring); default: all")
    p.add_argument("--redo", nargs="*", default=(), help="rerun these lessons' seeds even when "
                   "--out has them (others already there are skipped)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(RESULTS / "lessons.json"))
    args = p.parse_args(argv)
    data_dir = args.data_dir or (str(find_data_dir()) if find_data_dir() else None)
    keys = args.only or [k for k, les in LESSONS.items() if les.effect] + list(HEALTHY)
    bad = [k for k in keys if k not in HEALTHY and (k not in LESSONS or not LESSONS[k].effect)]
    if bad:
        p.error(f"no such lesson with an effect: {', '.join(bad)}")
    seeds = ([int(x) for x in args.seed_list.split(",")] if args.seed_list
             else list(range(args.seeds)))
    jobs = [(k, s) for s in seeds for k in keys]
    rows = []
    t0 = time.time()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out_path = Path(args.out)
    old = {}
    if out_path.is_file() and not args.fresh:
        old = json.loads(out_path.read_text())
    have = {(r["key"], r["seed"]) for r in old.get("runs", []) if "error" not in r}
    jobs = [(k, s) for k, s in jobs if (k, s) not in have or k in args.redo]
    # the longest first, so that two workers finish together
    cost = {"g-domination": 9, "flgan-vs-dcgan": 8, "g-advantage": 6, "mode-collapse": 4}
    jobs.sort(key=lambda j: -cost.get(j[0], 1))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, k, s, data_dir): (k, s) for k, s in jobs}
        for fut in as_completed(futures):
            k, s = futures[fut]
            try:
                row = fut.result()
            except Exception as e:  # noqa: BLE001 - one failed run must not lose the others
                row = dict(key=k, seed=s, error=f"{type(e).__name__}: {e}", shown=False,
                           step=None, steps=0, seconds=0.0, alarms=[])
            rows.append(row)
            print(json.dumps(row), flush=True)
            write(out_path, old, rows, time.time() - t0)   # as it goes
    md = write(out_path, old, rows, time.time() - t0)
    print(md)
    return 0


def write(out_path: Path, old: dict, rows: list[dict], seconds: float) -> str:
    """The results so far to out_path (JSON) and its .md table; returns the table. Runs of
    `old` (an earlier file) are kept unless `rows` redid the same lesson and seed, and every
    summary is computed from all the runs kept."""
    done = {(r["key"], r["seed"]) for r in rows}
    runs = sorted([*[r for r in old.get("runs", []) if (r["key"], r["seed"]) not in done],
                   *rows], key=lambda r: (r["key"], r["seed"]))
    alarms = {}
    for key in HEALTHY:
        mine = [r for r in runs if r["key"] == key]
        if mine:
            alarms[key] = dict(runs=len(mine), with_alarm=sum(bool(r["alarms"]) for r in mine),
                               alarms=[a for r in mine for a in r["alarms"]])
    result = dict(machine=machine(), seconds=round(seconds + old.get("seconds", 0)),
                  lessons=summarise(runs), healthy=alarms, runs=runs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    md = table(result)
    out_path.with_suffix(".md").write_text(md)
    return md


def table(result: dict) -> str:
    lines = ["| lesson | effect (what to watch for) | seeds showing it | median step | "
             "lesson length (steps) |", "| --- | --- | --- | --- | --- |"]
    for key, r in result["lessons"].items():
        title = LESSONS[key].title if key in LESSONS else key
        extra = ""
        if "recovered" in r:
            extra = f"; recovered after the switch in {r['recovered']}/{r['seeds']}"
        if "first" in r:
            f = r["first"]
            extra = (f"; first to {FIRST_DIGITS:.0%} confident digits: A in {f['a']}, B in "
                     f"{f['b']}, tied {f['tie']}, neither {f['neither']}")
        med = "-" if r["median_step"] is None else f"{r['median_step']:g}"
        lines.append(f"| {title} | {r['effect']}: {r['watch']}{extra} | {r['shown']}/{r['seeds']} "
                     f"| {med} | {r['length_steps']:g} |")
    for key, h in result.get("healthy", {}).items():
        kinds = sorted({a["kind"] for a in h["alarms"]})
        lines.append(f"| {key} (false alarms) | any detector | {h['with_alarm']}/{h['runs']} "
                     f"runs with an alarm{': ' + ', '.join(kinds) if kinds else ''} | - | - |")
    m = result.get("machine", {})
    lines.append("")
    lines.append(f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, torch {m.get('torch', '?')}, "
                 f"{m.get('date', '?')}; {result.get('seconds', '?')} s in all.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
