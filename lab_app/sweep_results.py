"""Shipped experiment results (experiments/NAME, made by `python -m gan_core sweep`)."""
from __future__ import annotations

import base64
import binascii
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
