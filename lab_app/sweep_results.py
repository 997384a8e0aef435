"""Shipped experiment results (experiments/NAME, made by `python -m gan_core sweep`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from gan_core import claims, sweep_stats

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
    rows, curves = sweep_stats.tables(exp, sweep_stats.load_results(folder))
    # Statistics and verdict are recomputed, so a change to them shows without a rerun.
    summary["arms"] = sweep_stats.arm_stats(exp, rows)
    if summary.get("complete"):
        summary["verdict"] = exp.verdict(exp, summary["arms"])
    return summary, rows, curves


def load_shipped(name: str):
    return load_results_dir(name, RESULTS_DIR / name)
