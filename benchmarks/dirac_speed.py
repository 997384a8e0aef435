"""Redraw time of the Dirac-GAN page (issue 34: well under a second per redraw).

One redraw computes the path (gan_core.dirac.trajectory), its summary, the figure with the
field's arrows (lab_app.phase.plane_figure) and the JSON st.plotly_chart sends. Timed for the
page's default, for instance noise on (401 quadrature nodes per gradient), and for the most a
link or the widgets allow (1,000 rounds of 5 D and 5 G steps, noise on). One torch thread, as
the app's page process uses.

    python -m benchmarks.dirac_speed [--repeats 10]
"""
from __future__ import annotations

import argparse
import time

import torch

CASES = {
    "default: 300 rounds, 1:1, alternating": {},
    "instance noise on (sigma 1)": {"noise": "1"},
    "R1 on, simultaneous": {"r1": "0.5", "update": "simultaneous"},
    "the most allowed: 1000 rounds of 5 D + 5 G steps, noise on": {
        "steps": "1000", "d_steps": "5", "g_steps": "5", "noise": "1"},
}


def _redraw(params: dict) -> dict[str, float]:
    import plotly.io as pio

    from gan_core.dirac import summary, trajectory
    from lab_app.phase import plane_figure, settings_from_params

    t0 = time.perf_counter()
    s, _ = settings_from_params(params)
    path = trajectory(s)
    result = summary(path, s.steps)
    t1 = time.perf_counter()
    pio.to_json(plane_figure(s, path, result), validate=False)
    t2 = time.perf_counter()
    return {"path_ms": (t1 - t0) * 1000, "figure_ms": (t2 - t1) * 1000,
            "total_ms": (t2 - t0) * 1000}


def _median(runs: list[dict], key: str) -> float:
    return sorted(r[key] for r in runs)[len(runs) // 2]


def measure(repeats: int = 10) -> dict[str, dict[str, float]]:
    """Median and worst total per case (ms), and the median of its parts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        for name, params in CASES.items():
            _redraw(params)                                 # warm-up: imports, first calls
            runs = [_redraw(params) for _ in range(repeats)]
            out[name] = {"median_ms": _median(runs, "total_ms"),
                         "max_ms": max(r["total_ms"] for r in runs),
                         "path_ms": _median(runs, "path_ms"),
                         "figure_ms": _median(runs, "figure_ms")}
        return out
    finally:
        torch.set_num_threads(threads)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    rows = measure(args.repeats)
    print(f"Dirac-GAN redraw ({args.repeats} repeats, torch threads 1)\n")
    print("| case | median ms | max ms | path ms | figure + JSON ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {r['median_ms']:.0f} | {r['max_ms']:.0f} | {r['path_ms']:.0f} | "
              f"{r['figure_ms']:.0f} |")


if __name__ == "__main__":
    main()
