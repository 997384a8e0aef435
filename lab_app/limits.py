"""The class server's limits, read from its environment with defaults (no Streamlit here).

    GAN_LAB_IDLE_PAUSE_S      120    a run whose page nobody has open for this long is paused
                                     and gives its training slot back
    GAN_LAB_IDLE_STOP_S       1800   ... and stopped (its worker ends, the run is kept) after
    GAN_LAB_PARK_AFTER_S      30     a paused run's worker is ended after this long, its memory
                                     freed (the run is kept; Resume goes on from where it was)
    GAN_LAB_MAX_RUN_MINUTES   30     training time of one run; a run far too slow to finish in
                                     it is stopped after a warm-up (gan_core.budget)
    GAN_LAB_MAX_PARAMS_M      8      G + D parameters of one run, in millions
    GAN_LAB_DISK_QUOTA_MB     2000   saved runs and uploads of everyone together (lab_app.saved)
    GAN_LAB_KEEP_FULL_CHECKPOINTS 0  1: saved runs keep D and the optimisers (resumable)

0 (or "none") turns a limit off. A value that is not a number is ignored (the default holds),
so a typo never takes the server down.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

from gan_core.budget import RunBudget

DEFAULTS = {"GAN_LAB_IDLE_PAUSE_S": 120.0, "GAN_LAB_IDLE_STOP_S": 1800.0,
            "GAN_LAB_PARK_AFTER_S": 30.0,
            "GAN_LAB_MAX_RUN_MINUTES": 30.0, "GAN_LAB_MAX_PARAMS_M": 8.0,
            "GAN_LAB_DISK_QUOTA_MB": 2000.0}


def setting(name: str, env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """The number the server set (None: the limit is off), or the default."""
    env = os.environ if env is None else env
    raw = (env.get(name) or "").strip().lower()
    if raw in ("0", "none", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        return DEFAULTS[name]
    return value if value > 0 else None


def run_budget(env: Optional[Mapping[str, str]] = None) -> RunBudget:
    minutes = setting("GAN_LAB_MAX_RUN_MINUTES", env)
    params = setting("GAN_LAB_MAX_PARAMS_M", env)
    return RunBudget(max_seconds=None if minutes is None else minutes * 60,
                     max_params=None if params is None else int(params * 1e6))


def idle_pause_s(env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    return setting("GAN_LAB_IDLE_PAUSE_S", env)


def idle_stop_s(env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    return setting("GAN_LAB_IDLE_STOP_S", env)


def park_after_s(env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    return setting("GAN_LAB_PARK_AFTER_S", env)


def disk_quota_bytes(env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    mb = setting("GAN_LAB_DISK_QUOTA_MB", env)
    return None if mb is None else int(mb * 2**20)


def keep_full_checkpoints(env: Optional[Mapping[str, str]] = None) -> bool:
    env = os.environ if env is None else env
    return (env.get("GAN_LAB_KEEP_FULL_CHECKPOINTS") or "").strip().lower() in ("1", "yes",
                                                                                 "true")
