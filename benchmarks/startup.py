"""From Start to the first step, and what the worker's extras cost (issue 32): `--app startup`.

    pieces    what a run's start computes, each timed in a fresh process: the data, the
              k-means clusters, the models, the first snapshot with its views, the first
              evaluation (judge and reference statistics), computed and then kept
              (gan_core.kept); CPU seconds of the measuring thread, so busy cores count less
    start     a Job submitted as the Train page submits one (MNIST, the page's defaults),
              timed from submitting to the server's first step record and its first sample
              grid, in five set-ups:
                  as before       a worker with torch imported, nothing kept (kept values off)
                  cold, nothing   a new worker process, an empty cache folder (first run ever)
                  cold, on disk   a new worker process, the cache folder filled (a restart)
                  pre-warmed      the server's idle worker after its warm-up (workers.core
                                  .warm_up), as `./lab app` leaves it: the target case
                  reused          the worker that ran the previous job
    extras    one job for `seconds` with the views every 20 steps and an evaluation every 50
              (the Train page's defaults), once unpaced (GAN_LAB_EXTRAS_SHARE=1: every due
              call runs) and once paced (the default 5%): steps/s and each extra's share of
              the training time, as the worker measured it (RunView.eval_share, views_share)
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .measure import in_child


def page_config(data_dir: str, **kw):
    from lab_app.settings import default_config
    return default_config("mnist").with_updates(data_dir=data_dir, download=False,
                                                device="cpu", **kw)


# --- the pieces, in a fresh process -----------------------------------------------------------

def start_pieces(data_dir: str, cache_dir: str) -> dict:
    """CPU seconds of each piece of a run's start: computed (empty cache), then kept (memory)."""
    os.environ["GAN_LAB_CACHE_DIR"] = cache_dir
    import torch

    from gan_core import kept, probes
    from gan_core.models import build_models
    from gan_core.shape import check_trainable, load_for
    from gan_core.trainer import Trainer
    cfg = page_config(data_dir)
    out: dict = {}

    def timed(key: str, fn):
        t0 = time.thread_time()
        value = fn()
        out[key] = round(time.thread_time() - t0, 3)
        return value
    for label in ("computed", "kept"):
        ds = timed(f"data_{label}_s", lambda: load_for(cfg))
        spec = check_trainable(cfg, ds)
        timed(f"clusters_{label}_s", lambda d=ds, k=spec.clusters: kept.clusters(d.data, k,
                                                                                  cfg.seed))
        torch.manual_seed(0)
        timed(f"models_{label}_s", lambda sp=spec: build_models(sp))
        tr = timed(f"trainer_{label}_s", lambda d=ds: Trainer(cfg, dataset=d))
        probes.attach(tr)
        timed(f"snapshot_{label}_s", tr.snapshot)
        timed(f"evaluation_{label}_s", tr.evaluate)
    t0 = time.thread_time()
    tr.evaluate()
    out["evaluation_again_s"] = round(time.thread_time() - t0, 3)
    t0 = time.thread_time()
    tr.snapshot()
    out["snapshot_again_s"] = round(time.thread_time() - t0, 3)
    steps = tr.config.with_updates(max_steps=25, eval_every=None)
    tr = Trainer(steps, dataset=ds)
    tr.add_callback("step", lambda t, r: out.setdefault("t5", time.thread_time())
                    if t.step == 5 else None)
    tr.run()
    out["step_s"] = round((time.thread_time() - out.pop("t5")) / 20, 4)
    return out


# --- submit to first step, through the job path -----------------------------------------------

@contextmanager
def environment(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def first_step(config, backend) -> dict:
    """Seconds from submitting a Job (as lab_app.ui.new_job does) to the server's first step
    record and first sample grid; the job is stopped then."""
    from gan_core.jobs import Job
    t0 = time.perf_counter()
    job = Job(config, backend=backend).start()
    step = grid = None
    try:
        deadline = t0 + 180
        while (step is None or grid is None) and time.perf_counter() < deadline:
            now = time.perf_counter() - t0
            if step is None and job.trainer.step >= 1:
                step = now
            if grid is None and job.trainer.snapshots:
                grid = now
            if not job.alive:
                break
            time.sleep(0.005)
    finally:
        job.stop()
        job.join(60)
    return dict(first_step_s=step, first_grid_s=grid, error=job.error or None)


def worker_idle(timeout: float = 120.0) -> float:
    """Wait until this process's worker children stop using the CPU (the warm-up is done);
    the seconds waited."""
    t0 = time.perf_counter()

    def cpu() -> float:
        total = 0.0
        for p in multiprocessing.active_children():
            try:
                fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return total
    last = cpu()
    quiet = 0
    while time.perf_counter() - t0 < timeout and quiet < 4:
        time.sleep(0.5)
        now = cpu()
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return time.perf_counter() - t0


def start_times(data_dir: str, cache_dir: str, repeats: int = 2) -> dict:
    from gan_core import cache
    from gan_core.workers import LocalBackend
    config = page_config(data_dir)
    rows: dict[str, list] = {k: [] for k in ("before", "cold_empty", "cold_disk",
                                             "prewarmed", "reused")}
    for r in range(repeats):
        print(f"startup: round {r + 1}/{repeats}", file=sys.stderr)
        with environment(GAN_LAB_CACHE_DIR="off", GAN_LAB_CACHE_MEMORY_MB=0):
            cache.forget_memory()
            backend = LocalBackend(keep_idle=1)
            backend.prewarm(1)
            worker_idle()
            rows["before"].append(first_step(config, backend))
            backend.shutdown()
        empty = Path(tempfile.mkdtemp(prefix="gan-lab-bench-cache-"))
        with environment(GAN_LAB_CACHE_DIR=empty):
            cache.forget_memory()
            backend = LocalBackend(keep_idle=1)
            rows["cold_empty"].append(first_step(config, backend))
            backend.shutdown()
        with environment(GAN_LAB_CACHE_DIR=cache_dir):
            cache.forget_memory()
            backend = LocalBackend(keep_idle=1)
            backend.prewarm(1, [config.to_dict()])      # fills the cache folder, if need be
            worker_idle()
            backend.shutdown()
            cache.forget_memory()
            backend = LocalBackend(keep_idle=1)
            rows["cold_disk"].append(first_step(config, backend))
            rows["reused"].append(first_step(config, backend))
            backend.shutdown()
            cache.forget_memory()
            backend = LocalBackend(keep_idle=1)
            backend.prewarm(1, [config.to_dict()])
            worker_idle()
            rows["prewarmed"].append(first_step(config, backend))
            backend.shutdown()
    return rows


# --- the extras' share --------------------------------------------------------------------------

def extras_share(data_dir: str, cache_dir: str, seconds: float, share: float) -> dict:
    """One job for `seconds` of wall time with the Train page's defaults; steps/s on the
    trainer's clock and each extra's share of it, as the worker measured them."""
    from gan_core.jobs import Job
    from gan_core.workers import LocalBackend
    with environment(GAN_LAB_CACHE_DIR=cache_dir, GAN_LAB_EXTRAS_SHARE=share):
        backend = LocalBackend(keep_idle=1)
        backend.prewarm(1, [page_config(data_dir).to_dict()])
        worker_idle()
        job = Job(page_config(data_dir, epochs=50), backend=backend).start()
        try:
            deadline = time.perf_counter() + 180
            while job.trainer.step < 1 and time.perf_counter() < deadline:
                time.sleep(0.05)
            time.sleep(seconds)
        finally:
            job.stop()
            job.join(60)
            backend.shutdown()
    t = job.trainer
    evals = sum(1 for r in t.history if "m_confident_share" in r)
    return dict(share_setting=share, steps=t.step, train_s=round(t.elapsed, 2),
                steps_per_s=round(t.step / t.elapsed, 2) if t.elapsed else None,
                eval_share=t.eval_share, views_share=t.views_share, evaluations=evals,
                grids_sent=len(t.snapshots), error=job.error or None)


def measure(data_dir: str, seconds: float = 45.0, repeats: int = 2) -> dict:
    cache_dir = tempfile.mkdtemp(prefix="gan-lab-bench-kept-")
    print("startup: the pieces of a run's start", file=sys.stderr)
    pieces = in_child("start_pieces_child", data_dir=data_dir, cache_dir=cache_dir)
    rows = start_times(data_dir, cache_dir, repeats)
    print(f"startup: the extras' share ({seconds:g} s unpaced, then paced)", file=sys.stderr)
    extras = [extras_share(data_dir, cache_dir, seconds, 1.0),
              extras_share(data_dir, cache_dir, seconds, 0.05)]
    return dict(pieces=pieces, start=rows, extras=extras, seconds=seconds, repeats=repeats,
                load=os.getloadavg(), cores=os.cpu_count())


def _median(rows: list[dict], key: str):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def table(m: dict) -> str:
    def s(x) -> str:
        return "-" if x is None else f"{x:.2f}"
    p = m["pieces"]
    lines = [("What a run's start computes (MNIST, the Train page's defaults; CPU s of one "
              "process, computed / kept):"), "",
             "| piece | computed s | kept s |", "| --- | ---: | ---: |"]
    if "error" in p:
        lines.append(f"| (failed: {p['error'].splitlines()[-1]}) | | |")
    else:
        for name in ("data", "clusters", "models", "trainer", "snapshot", "evaluation"):
            lines.append(f"| {name} | {s(p.get(f'{name}_computed_s'))} | "
                         f"{s(p.get(f'{name}_kept_s'))} |")
        lines.append(f"| later snapshot / evaluation | {s(p.get('snapshot_again_s'))} / "
                     f"{s(p.get('evaluation_again_s'))} | |")
        step = p.get("step_s")
        if step:
            lines += ["", f"A training step: {step:.3f} CPU s. At the Train page's fixed "
                          f"cadence the views (a snapshot every 20 steps) would take "
                          f"{100 * p['snapshot_again_s'] / (20 * step):.1f}% of the training "
                          f"time and the evaluations (every 50) "
                          f"{100 * p['evaluation_again_s'] / (50 * step):.1f}%."]
    names = {"before": "as before: a warm worker, nothing kept",
             "cold_empty": "cold worker, empty cache (first run ever)",
             "cold_disk": "cold worker, cache on disk (after a restart)",
             "prewarmed": "pre-warmed worker (`./lab app` at rest): target 2 s / 3 s",
             "reused": "warm worker after a previous job"}
    lines += ["", f"From submitting a job to its first step and first sample grid on the "
                  f"server (median of {m['repeats']}; load average at the end "
                  f"{m['load'][0]:.1f} on {m['cores']} cores):", "",
              "| worker | first step s | first grid s |", "| --- | ---: | ---: |"]
    for key, label in names.items():
        rows = m["start"][key]
        lines.append(f"| {label} | {s(_median(rows, 'first_step_s'))} | "
                     f"{s(_median(rows, 'first_grid_s'))} |")
    lines += ["", f"The worker's extras over {m['seconds']:g} s of one job (views every 20 "
                  f"steps, evaluation every 50):", "",
              "| extras | steps/s | evaluations | grids sent | evaluation share | views share |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for e in m["extras"]:
        label = "unpaced (every due call)" if e["share_setting"] >= 1 else \
            f"paced (at most {100 * e['share_setting']:g}% each)"
        lines.append(f"| {label} | {s(e['steps_per_s'])} | {e['evaluations']} | "
                     f"{e['grids_sent']} | {100 * e['eval_share']:.1f}% | "
                     f"{100 * e['views_share']:.1f}% |")
    return "\n".join(lines)
