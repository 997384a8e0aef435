"""One function per measurement; each runs in a fresh process so its peak memory is its own.

    in_child("trainer_speed", model="paper", preset="flgan", ...)  -> dict with peak_rss_mb

Every function returns a plain dict of numbers. Peak memory is the child's `ru_maxrss` (resident
set, the whole process: Python, torch, data, models, optimiser state, history); `rss_ready_mb`
is the resident set just before the measured work, so the difference is what the work added.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import statistics
import time
import traceback
from pathlib import Path
from typing import Optional

import torch


def rss_mb() -> float:
    """Current resident set of this process in MB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # Linux: kB


def _child(conn, name: str, kwargs: dict, threads: Optional[int]) -> None:
    try:
        if threads:
            torch.set_num_threads(threads)
        out = globals()[name](**kwargs)
        out["peak_rss_mb"] = round(peak_rss_mb(), 1)
        conn.send(out)
    except BaseException:                          # noqa: BLE001 - reported to the parent
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (Linux; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")      # minus idle, iowait
    except (OSError, ValueError, IndexError):
        return 0.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def in_child(name: str, threads: Optional[int] = None, timeout: float = 1800, **kwargs) -> dict:
    """Run measurement `name` in a new spawned process; its result, or {'error': ...}.

    `other_load` is how many cores other processes kept busy meanwhile (0 on a quiet machine):
    figures taken with other_load above ~0.2 are not to be trusted.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, name, kwargs, threads), daemon=True)
    busy0, own0, t0 = _busy_seconds(), _children_cpu(), time.perf_counter()
    p.start()
    child.close()
    try:
        if not parent.poll(timeout):
            p.kill()
            return {"error": f"{name} took longer than {timeout:g} s"}
        out = parent.recv()
    except EOFError:
        return {"error": f"{name}: the measuring process died (exit code {p.exitcode})"}
    finally:
        p.join(10)
    wall = time.perf_counter() - t0
    other = (_busy_seconds() - busy0) - (_children_cpu() - own0)
    out["other_load"] = round(max(other, 0.0) / wall, 2) if wall > 0 else 0.0
    return out


# --- data ------------------------------------------------------------------------------------

def mnist(data_dir: str):
    from gan_core.data import load_idx_dataset
    return load_idx_dataset("mnist", Path(data_dir))


def _config(model: str, preset: str, data_dir: str, seed: int = 0, **overrides):
    from gan_core.config import preset as make
    return make(preset, dataset="mnist", model=model, data_dir=data_dir, download=False,
                seed=seed, epochs=10_000, device="cpu", **overrides)


def start_pieces_child(data_dir: str, cache_dir: str) -> dict:
    """benchmarks.startup.start_pieces, here so that in_child finds it by name."""
    from .startup import start_pieces
    return start_pieces(data_dir, cache_dir)


# --- training speed --------------------------------------------------------------------------

def trainer_speed(model: str, preset: str, data_dir: str, steps: int, warmup: int = 5,
                  seed: int = 0) -> dict:
    """gan_core's Trainer, images/s over `steps` steps after `warmup`, wall clock (data included)."""
    from gan_core.trainer import Trainer
    # Without cluster conditioning: the tutorial loop it is compared with runs the same
    # networks unconditioned.
    cfg = _config(model, preset, data_dir, seed, max_steps=warmup + steps, clusters=None)
    tr = Trainer(cfg)
    marks = {}

    def on_step(t, record):
        if t.step == warmup:
            marks["ready_rss"] = rss_mb()
            marks["t0"] = time.perf_counter()
    tr.add_callback("step", on_step)
    tr.run()
    seconds = time.perf_counter() - marks["t0"]
    return dict(images_per_s=steps * cfg.batch_size / seconds, seconds=seconds, steps=steps,
                rss_ready_mb=round(marks["ready_rss"], 1), state=tr.state)


def baseline_speed(model: str, loss: str, data_dir: str, steps: int, warmup: int = 5,
                   seed: int = 0) -> dict:
    """The tutorial loop (benchmarks.baseline) on the same digits."""
    from . import baseline
    ds = mnist(data_dir)
    images = ds.data[:, 0].numpy()                                        # (N, 28, 28) uint8
    labels = ds.labels.numpy()
    ready = rss_mb()
    out = baseline.train(images, labels, model=model, loss=loss, steps=steps, warmup=warmup,
                         seed=seed)
    out["rss_ready_mb"] = round(ready, 1)
    return out


def growth_per_step(model: str, preset: str, data_dir: str, steps: int = 100) -> dict:
    """What a run keeps per step: the history record (Python heap, traced) and the sample
    grids (uint8 tensors, one every sample_every steps). Nothing else grows with the steps."""
    import tracemalloc

    from gan_core.trainer import Trainer
    tr = Trainer(_config(model, preset, data_dir, max_steps=steps + 2))
    marks = {}

    def on_step(t, record):
        if t.step == 2:
            tracemalloc.start()
            marks["heap0"] = tracemalloc.get_traced_memory()[0]
    tr.add_callback("step", on_step)
    tr.run()
    heap = tracemalloc.get_traced_memory()[0] - marks["heap0"]
    tracemalloc.stop()
    snap = tr.snapshots[-1].samples
    snap_bytes = snap.numel() * snap.element_size() / tr.config.sample_every
    return dict(history_bytes_per_step=heap / steps, snapshot_bytes_per_step=snap_bytes,
                bytes_per_step=heap / steps + snap_bytes, sample_every=tr.config.sample_every)


# --- time to recognisable digits -------------------------------------------------------------

# The classroom recipe before issue 16 (Adam 2e-4 as the papers, fp32, samples from G itself),
# kept so that the benchmark can show the old and the new default side by side.
OLD_RECIPE = dict(lr_g=2e-4, lr_d=2e-4, ema_decay=None, precision="fp32", batch_size=64,
                  clusters=None)
# What `recipe` names: the old default, the classroom recipe before batch 32 (issue 16's first
# round), before cluster conditioning (its second), and the preset as it is now.
RECIPES = {"old": OLD_RECIPE, "batch64": dict(batch_size=64, clusters=None),
           "batch32": dict(clusters=None), "new": {}}


def real_confident_share(data_dir: str) -> float:
    """The judge's confident share on the 1,000 digits it never trained on (its hold-out)."""
    from gan_core import metrics
    from gan_core.data import load_idx_dataset
    train = load_idx_dataset("mnist", Path(data_dir), part="train")
    return metrics.heldout_confident_share(metrics.load_judge("mnist"), train)


def time_to_quality(model: str, preset: str, data_dir: str, budget_s: float = 120.0,
                    eval_every_s: float = 5.0, n_eval: int = 1000, seed: int = 0,
                    fractions: tuple = (0.5, 0.8), classes: int = 10,
                    recipe: str = "new", grid_png: Optional[str] = None) -> dict:
    """Train from scratch for `budget_s` training seconds; every `eval_every_s`, judge `n_eval`
    samples. `recipe`: a RECIPES key ("old": OLD_RECIPE, "new": the preset as it is now).

    Clocks: `train_s` is the trainer's own step time (what the app shows); `wall_s` runs from
    just before the dataset is read and the models are built to the evaluation, evaluations
    excluded (they are the measurement, not the training). For each fraction f, `reached[f]`
    is the first evaluation whose confident share is at least f x the held-out real digits'
    share with all `classes` digits drawn (None if none within the budget).
    """
    from gan_core import metrics
    from gan_core.trainer import Trainer

    judge = metrics.load_judge("mnist")
    real_share = real_confident_share(data_dir)
    overrides = RECIPES[recipe]
    t_cold = time.perf_counter()
    tr = Trainer(_config(model, preset, data_dir, seed, max_seconds=budget_s, **overrides))
    # The one evaluator's reference: real digits at the generator's own size (measurement, so
    # its time is left out of wall_s like the evaluations').
    t_ref = time.perf_counter()
    real = metrics.reference_stats(judge, "mnist", tr.spec.image_size, mnist(data_dir))
    paused = time.perf_counter() - t_ref
    evals = []
    state = dict(next_at=eval_every_s)

    def judge_now(t):
        nonlocal paused
        t0 = time.perf_counter()
        m = metrics.evaluate_generator(t.sample_G, "mnist", n=n_eval, seed=0, judge=judge,
                                       reference=real)
        evals.append(dict(step=t.step, train_s=round(t.elapsed, 2),
                          wall_s=round(t0 - t_cold - paused, 2),
                          confident_share=round(m["confident_share"], 4),
                          of_real=round(m["confident_share"] / real_share, 4),
                          classes_covered=m["classes_covered"], judge_fd=round(m["judge_fd"], 2)))
        paused += time.perf_counter() - t0

    def on_step(t, record):
        if t.elapsed >= state["next_at"]:
            state["next_at"] += eval_every_s
            judge_now(t)
    tr.add_callback("step", on_step)
    tr.run()
    if not evals or evals[-1]["step"] != tr.step:
        judge_now(tr)                                   # the budget's end
    if grid_png:                                        # what a student sees at the end
        from gan_core.images import grid_image, save_png
        from gan_core.sampling import sample
        save_png(grid_image(sample(tr.sample_G, 64, seed=0), nrow=8), grid_png)
    reached = {f"{f:g}": next((e for e in evals if e["of_real"] >= f
                               and e["classes_covered"] >= classes), None) for f in fractions}
    return dict(recipe=recipe, precision=tr.precision, batch_size=tr.config.batch_size,
                clusters=tr.spec.clusters, real_share=round(real_share, 4),
                reached=reached, final=evals[-1], evals=evals, steps=tr.step,
                images_per_s=tr.step * tr.config.batch_size / max(tr.elapsed, 1e-9))


# --- sampling --------------------------------------------------------------------------------

def sampling_latency(model: str, repeats: int = 50, n: int = 64, seed: int = 0) -> dict:
    """Median milliseconds for `n` samples, and for one frame of a latent walk (slerp + G)."""
    from gan_core.models import ModelSpec, build_models
    from gan_core.sampling import generate, latent, sample, slerp

    torch.manual_seed(seed)
    G, _ = build_models(ModelSpec(model=model))
    a, b = latent(2, G.latent_dim, seed)

    def frame(i):
        t = torch.tensor([[(i % 20) / 19]])
        return generate(G, slerp(a.unsqueeze(0), b.unsqueeze(0), t))

    def timed(fn):
        for i in range(5):
            fn(i)
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    ready = rss_mb()
    return dict(grid_ms=timed(lambda i: sample(G, n, seed=i)), frame_ms=timed(frame), n=n,
                repeats=repeats, rss_ready_mb=round(ready, 1))


def median(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")
