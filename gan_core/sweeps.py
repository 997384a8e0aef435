"""Running an experiment's sweep: every (arm, seed) run of gan_core.claims, into one folder.

`run_sweep()` trains every planned run, in parallel where cores allow (a backend of
gan_core.workers: local processes or Ray tasks), and writes into one folder:

    OUT/sweep.json            what was asked (experiment, quick, seeds, steps) and the command
    OUT/runs/ARM_sSEED/result.json   one finished run: config, timing, final metrics, curve

then the tables, summary and plots of gan_core.sweep_stats. A run is only written when it has
finished, atomically, so a sweep that is stopped (Ctrl-C, a crash) and started again with the
same command redoes only the runs that had not finished.
"""
from __future__ import annotations

import base64
import math
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from . import metrics, versions
from .claims import AUGMENT_SHARES, PlannedRun, get_experiment, plan
from .config import TrainConfig
from .data import Dataset
from .datasets import has_heldout_part
from .images import grid_image, png_bytes, to_uint8
from .sampling import sample
from .sweep_stats import finite, read_sweep_meta, result_ok, summarise, write_json
from .shape import load_for
from .trainer import Trainer
from .workers import get_backend

# --- one run ---------------------------------------------------------------------------------

_PARTS: dict[tuple, Any] = {}     # per process: (whole training part, reference part)


def _parts(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """The whole training part (no subset) and the held-out reference part of the config's
    dataset, shaped for its model (gan_core.data, Parts: for a set with no held-out part both
    are the whole set). Loaded once per process."""
    key = (config.dataset, config.data_dir, config.model, config.channels)
    if key not in _PARTS:
        _PARTS.clear()
        whole = replace(config, subset=None)
        train = load_for(whole)
        _PARTS[key] = (train, load_for(whole, part="reference")
                       if has_heldout_part(config.dataset) else train)
    return _PARTS[key]


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
            row["eval_n"] = trainer.config.eval_samples
            rows.append(row)
            window = []
    return rows


def _final_metrics(trainer, n: int) -> dict:
    """Metrics of the final generator by metrics.evaluate_generator (n samples, the fixed seed,
    reference statistics of the whole held-out reference at G's size, the memorisation
    distance to the whole training part; judge_fd_all is the same number as judge_fd)."""
    judge = metrics.load_judge(trainer.config.dataset)
    train, reference = _parts(trainer.config)
    out = metrics.evaluate_generator(trainer.sample_G, trainer.config.dataset, data=reference,
                                     train_data=train, n=n, judge=judge)
    out["judge_fd_all"] = out["judge_fd"]
    out.pop("num_classes")
    return out


def _train(config: TrainConfig, dataset=None, stop=None):
    trainer = Trainer(config, dataset)
    if stop is not None:
        trainer.add_callback("step", lambda tr, r: tr.stop() if stop.is_set() else None)
    start = time.perf_counter()
    trainer.run()
    return trainer, time.perf_counter() - start


def _train_measured(config: TrainConfig, dataset=None, stop=None):
    """Train (on `dataset`, default the config's): (trainer, result), the result with final
    metrics unless stopped."""
    trainer, wall = _train(config, dataset, stop)
    result = _describe(trainer, wall)
    if stop is None or not stop.is_set():
        result["final"] = _final_metrics(trainer, _final_n(config))
    return trainer, result


def _train_part(config: TrainConfig, full: Dataset, idx: torch.Tensor, note: str, stop=None):
    """Train on full[idx] (full: the training part): (trainer, result), as _train_measured."""
    part = Dataset(full.name, full.data[idx], full.labels[idx], full.class_names, note)
    return _train_measured(config, part, stop)


def run_gan(config: TrainConfig, stop=None) -> dict:
    return _train_measured(config, stop=stop)[1]


def _final_n(config: TrainConfig) -> int:
    """Samples for the final metrics: the run's own evaluation size, the count its curve's
    metrics use. FD's bias falls with the sample count (about 1 / n), so a final measured on
    1,000 samples beside a curve on 500 would read better for the count alone."""
    return config.eval_samples


def balanced_pick(labels: torch.Tensor, n: int, k: int, seed: int) -> torch.Tensor:
    """n indices with (as nearly as n allows) the same count of each of k classes, drawn at
    random per seed; the generated part of a classifier's training mix is balanced too, so a
    share of generated digits changes where the digits come from, not which digits."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    per_class = [order[labels[order] == c] for c in range(k)]
    counts = [n // k + (1 if c < n % k else 0) for c in range(k)]
    short = [c for c in range(k) if counts[c] > len(per_class[c])]
    if short:
        raise ValueError(f"class {short[0]} has only {len(per_class[short[0]])} images; "
                         f"{counts[short[0]]} were asked")
    return torch.cat([per_class[c][:counts[c]] for c in range(k)])


def run_cgan_augment(config: TrainConfig, stop=None) -> dict:
    """Train a CGAN on the whole training part, then classifiers on real + generated mixes,
    tested on the held-out reference part (MNIST's test split alone: 8,000 and 2,000 digits)."""
    pool, test = _parts(config)
    if test is pool:
        raise ValueError(f"{config.dataset} has no held-out part to test the classifiers on")
    trainer, result = _train_measured(config, pool, stop)
    if "final" not in result:
        return result
    n_train, epochs = (256, 1) if config.eval_samples < 500 else (2000, 5)
    k = pool.num_classes
    x_test = metrics.Judge.prepare(test.data)
    y_test = test.labels
    for share in AUGMENT_SHARES:
        n_gen = round(n_train * share / 100)
        idx = balanced_pick(pool.labels, n_train - n_gen, k, config.seed)
        y_gen = torch.arange(n_gen) % k
        x_gen = sample(trainer.sample_G, n_gen, seed=1000 + config.seed, labels=y_gen) if n_gen else \
            torch.empty(0, *pool.shape)
        x = torch.cat([metrics.Judge.prepare(pool.data[idx]), metrics.Judge.prepare(x_gen)])
        y = torch.cat([pool.labels[idx], y_gen])
        clf = metrics.fit_classifier(x, y, k, epochs=epochs, seed=config.seed)
        result["final"][f"acc_gen_{share}"] = metrics.accuracy(clf, x_test, y_test)
    return result


COPY_COMPARED = 1000    # at most this many training and as many held-out images are compared


def memorisation_split(n_train_part: int, n_reference: int, n_train: Optional[int], seed: int
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the GAN's training images and an equal-size part of them, as indices into the training
    part; as many held-out images, as indices into the reference part, which no GAN trains
    on). The GAN trains on n_train of the training part (all of it when None), a different
    draw per seed; both compared sets have min(n_train, COPY_COMPARED, reference) images,
    since a larger set is nearer by its size alone."""
    n_train = n_train_part if n_train is None else n_train
    if not 1 <= n_train <= n_train_part:
        raise ValueError(f"the training set must have 1 to {n_train_part} images (the "
                         f"reference is held out); got {n_train}")
    g = torch.Generator().manual_seed(seed)
    train = torch.randperm(n_train_part, generator=g)[:n_train].sort().values
    m = min(n_train, COPY_COMPARED, n_reference)
    return (train, train[torch.randperm(n_train, generator=g)[:m]],
            torch.randperm(n_reference, generator=g)[:m])


NEAREST_SHOWN = 8       # samples shown beside their nearest training image


def _nearest_strip(samples: torch.Tensor, train: torch.Tensor) -> dict:
    """The NEAREST_SHOWN samples closest to a training image, above those training images,
    as a small PNG (base64) with the distances: what the Experiments page shows."""
    dist, idx = metrics.nearest_pixels(samples, train)
    pick = dist.argsort()[:NEAREST_SHOWN]
    pair = torch.cat([to_uint8(samples[pick]), to_uint8(train[idx[pick]])])
    png = png_bytes(grid_image(pair, nrow=len(pick), scale=2))
    return dict(png_base64=base64.b64encode(png).decode("ascii"),
                distances=[round(float(d), 4) for d in dist[pick]],
                about=f"the {len(pick)} of {len(samples)} samples nearest to a training image "
                      f"(top) above that image (bottom); RMS pixel distance, -1..1 scale")


def run_memorisation(config: TrainConfig, stop=None) -> dict:
    """Train on a subset of the training part, then ask whether the samples sit nearer the
    training images than equally many held-out ones (of the reference part)."""
    full, reference = _parts(config)
    if reference is full:
        raise ValueError(f"{config.dataset} has no held-out part to compare with")
    train_idx, train_part, held_part = memorisation_split(len(full), len(reference),
                                                          config.subset, config.seed)
    trainer, result = _train_part(config, full, train_idx, f"{len(train_idx)} of the "
                                  f"{len(full)} training images (the reference held out)", stop)
    if "final" not in result:
        return result
    n = _final_n(config)
    k = trainer.spec.num_classes
    x = sample(trainer.sample_G, n, seed=metrics.EVAL_SEED,
               labels=torch.arange(n) % k if k else None)
    result["final"].update(metrics.copy_scores(x, full.data[train_part],
                                               reference.data[held_part]),
                           compared_images=len(train_part))
    result["nearest"] = _nearest_strip(x, full.data[train_idx])
    return result


RUNNERS = {"gan": run_gan, "cgan-augment": run_cgan_augment, "memorisation": run_memorisation}


def _describe(trainer, wall: float) -> dict:
    return dict(state=trainer.state, reason=trainer.reason, steps=trainer.step,
                g_updates=trainer.g_updates, d_updates=trainer.d_updates,
                train_seconds=round(trainer.elapsed, 3), wall_seconds=round(wall, 3),
                images=len(trainer.dataset), curve=_curve(trainer), eval_note=trainer.eval_note)


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
                  torch=torch.__version__, worker=f"{platform.node()}:{os.getpid()}",
                  **versions.stamp())
    write_json(out / "runs" / planned.run_id / "result.json", finite(result))
    return result


# --- the sweep -------------------------------------------------------------------------------

def default_jobs() -> tuple[int, int]:
    """(processes, torch threads each): one single-threaded process per core, at most 8."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, 8)), 1


def run_sweep(name: str, out: str | Path, quick: bool = False, jobs: Optional[int] = None,
              seeds: Optional[int] = None, steps: Optional[int] = None,
              data_dir: Optional[str] = None, progress: Optional[Callable] = None,
              stop=None, command: str = "", backend=None,
              redo_other_versions: bool = False) -> dict:
    """Run (or finish) a sweep into `out` and return its summary.

    redo_other_versions: runs made by another code or evaluator version than this one count as
    not run, so the sweep ends with one version across all its runs (the summary's
    `code_version`).

    progress(done, total, result_or_None, message) is called as runs finish. `jobs=1` runs
    in this process, so `stop` (a threading.Event) can end it between steps. Otherwise the
    runs are tasks of a backend (gan_core.workers): "local" (processes here, the default) or
    "ray" (the cluster at GAN_LAB_RAY_ADDRESS, or a local Ray already initialised); with
    GAN_LAB_RAY_ADDRESS set, Ray is the default.
    """
    get_experiment(name)                       # an unknown name fails here, before any work
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
    write_json(meta_path, dict(asked, command=command or _command_line(),
                                started=time.strftime("%Y-%m-%d %H:%M:%S")))
    # A damaged or unreadable result counts as not run, so it is run again.
    todo = [r for r in runs if not result_ok(out / "runs" / r.run_id / "result.json", r.run_id)
            or (redo_other_versions and not versions.this_version(out / "runs" / r.run_id / "result.json"))]
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


def resummarise(name: str, out: str | Path) -> dict:
    """Summarise a sweep folder again from its finished runs (new statistics, no training)."""
    get_experiment(name)
    out = Path(out)
    if not (out / "sweep.json").is_file():
        raise ValueError(f"{out} holds no sweep (no sweep.json); run the sweep first")
    if read_sweep_meta(out)["experiment"] != name:
        raise ValueError(f"{out} holds the sweep {read_sweep_meta(out)['experiment']!r}, not "
                         f"{name!r}")
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


def _describe_asked(d: dict) -> str:
    return (f"{d.get('experiment')}, {'quick' if d.get('quick') else 'full'}, seeds "
            f"{d.get('seeds') or 'default'}, steps {d.get('steps') or 'default'}")


def _command_line() -> str:
    return "python -m gan_core " + " ".join(sys.argv[1:]) if sys.argv else ""


def _check_data(r: PlannedRun) -> None:
    """Load the data once here, so a missing dataset is one clear error, not one per worker."""
    _parts(TrainConfig.from_dict(r.config))   # cached: in-process runs reuse it


def _run_parallel(name, todo, out, n_jobs, threads, done, total, note, backend) -> int:
    """Each run a task of the backend (gan_core.workers): fresh local processes, or Ray tasks.
    Results are written here too, so runs on other machines land in this sweep's folder."""
    calls = [(name, r, out) for r in todo]
    for (_, r, _), result in backend.map_tasks(run_one, calls, n_jobs, threads):
        if result is not None:
            write_json(out / "runs" / r.run_id / "result.json", finite(result))
        done += 1
        note(done, total, result, f"finished {r.run_id}")
    return done
