"""Per-refresh draw time of the 2-D "inside the game" view (issue 14: under 100 ms on 2 cores).

One refresh of the Train page's 2-D view builds the figure from a snapshot (D's 60x60 map, 1,000
real and 512 generated points, G's 21x21 mesh, 64 gradient arrows) and serialises it to the JSON
that st.plotly_chart sends. The snapshot's probe (mesh and gradients) is computed once per
snapshot in the training worker, and timed here too; so is one step-by-step click (one update
and the pictures before and after).
"""
from __future__ import annotations

import statistics
import time

import torch

from .measure import median

TARGET_MS = 100.0


def _timed(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p90(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.9 * len(xs))) - 1)]


def measure(repeats: int = 30, warmup: int = 3, steps: int = 300) -> dict:
    # As in the app: the page process draws with 1 torch thread on 2 cores (lab_app.ui's
    # torch_threads) and a 2-D run's worker trains with 1 (gan_core.workers: the MLP's ops are
    # too small to split; on 2 threads the probe below took 180 ms instead of 2.5 ms).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _measure(repeats, warmup, steps)
    finally:
        torch.set_num_threads(threads)


def _measure(repeats: int, warmup: int, steps: int) -> dict:
    import plotly.io as pio

    from gan_core.config import TrainConfig
    from gan_core.probes import snapshot_probe
    from gan_core.stepper import Stepper
    from gan_core.trainer import Trainer
    from lab_app import views

    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=steps,
                      sample_every=10, device="cpu", seed=0)
    tr = Trainer(cfg)
    tr.run()
    snap, real, extent = tr.snapshots[-1], tr.dataset.data[:1000], tr.points_extent

    def refresh():
        fig = views.points_figure(real, snap, extent, show_mesh=True, show_arrows=True)
        pio.to_json(fig, validate=False)

    def build():
        views.points_figure(real, snap, extent, show_mesh=True, show_arrows=True)

    def plain():       # the view before issue 14: map and points only
        pio.to_json(views.points_figure(real, snap, extent, False, False), validate=False)

    def probe():
        snapshot_probe(tr, snap.samples)

    stepper = Stepper(cfg)

    def click():
        report = stepper.d_step()
        for fig in views.step_figures(report, stepper.real_shown, stepper.extent):
            pio.to_json(fig, validate=False)

    # Step by step on images (issue 34): a D click then a G click, pictures included, on
    # MNIST-sized random images with the default (fast) recipe: 50 clusters, EMA, batch 32.
    from gan_core.config import RECIPES
    from gan_core.data import Dataset
    from gan_core.image_stepper import ImageStepper
    g = torch.Generator().manual_seed(0)
    images = Dataset("synthetic", torch.randint(0, 256, (1000, 1, 28, 28), generator=g,
                                                dtype=torch.uint8), None, [], "random images")
    img_cfg = TrainConfig(dataset="mnist", device="cpu", seed=0, download=False,
                          **RECIPES["fast"].values(False))
    img_stepper = ImageStepper(img_cfg, images)

    def image_pair():
        img_stepper.step()
        img_stepper.step()

    rows = {}
    for name, fn, what in (
            ("refresh", refresh, "2-D view with mesh and arrows: build + JSON (per refresh)"),
            ("build", build, "  of which building the figure"),
            ("plain", plain, "2-D view without mesh and arrows: build + JSON"),
            ("probe", probe, "snapshot probe in the worker (mesh + gradients), per snapshot"),
            ("step_click", click, "one step-by-step click: D update + 2 figures + JSON"),
            ("image_step_pair", image_pair, "image step by step (28x28, fast recipe, batch "
             f"{img_cfg.batch_size}): one D click + one G click, pictures included")):
        ms = _timed(fn, repeats, warmup)
        rows[name] = dict(what=what, median_ms=median(ms), p90_ms=_p90(ms),
                          mean_ms=statistics.fmean(ms), n=len(ms))
    import os
    return dict(torch_threads=torch.get_num_threads(), cores=os.cpu_count(), steps=steps, rows=rows,
                target_ms=TARGET_MS, within_target=rows["refresh"]["p90_ms"] < TARGET_MS)


def table(res: dict) -> str:
    lines = [f"2-D view draw time ({res['rows']['refresh']['n']} repeats, torch threads "
             f"{res['torch_threads']} on {res.get('cores')} cores; target: under {res['target_ms']:.0f} ms per refresh)", "",
             "| what | median ms | p90 ms |", "| --- | ---: | ---: |"]
    for r in res["rows"].values():
        lines.append(f"| {r['what']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} |")
    lines.append("")
    lines.append("per-refresh p90 " + ("within" if res["within_target"] else "OVER") +
                 f" the {res['target_ms']:.0f} ms target")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure()))
