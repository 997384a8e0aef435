"""Which code made a run: recorded in every sweep run's result.json, read back per sweep.

A run records the git commit of the code that trained it (`code_version`, "+modified" when the
work tree differed from it; $GAN_LAB_CODE_VERSION where there is no git, e.g. a container) and
the evaluator's version (gan_core.metrics.EVALUATOR_VERSION). Runs made before these were
recorded have neither; those whose final metrics also lack `eval_n` were scored by the evaluator
before the fixed evaluation (gan_core.metrics.evaluate_generator), with other random streams.
A sweep whose runs disagree mixes code versions, and its summary says which runs are older.
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

from .metrics import EVALUATOR_VERSION

UNKNOWN = "unknown"
MIXED = "mixed/unknown"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The commit of this code, once per process (a few ms); "unknown" without git."""
    forced = os.environ.get("GAN_LAB_CODE_VERSION", "").strip()
    if forced:
        return forced[:80]
    root = str(Path(__file__).resolve().parents[1])

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                  timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit or not _COMMIT.match(commit):
        return UNKNOWN
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "gan_core")
    return commit + ("+modified" if changed else "")


def stamp() -> dict:
    """What a new run records about the code that made it."""
    return dict(code_version=code_version(), evaluator_version=EVALUATOR_VERSION)


def this_version(result_path: Path) -> bool:
    """Whether a finished run's result.json was made by this code and this evaluator."""
    try:
        r = json.loads(Path(result_path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(r, dict) and r.get("code_version") == code_version() \
        and r.get("evaluator_version") == EVALUATOR_VERSION


def older_evaluator(result: dict) -> bool:
    """A run scored before the fixed evaluation (no recorded version and no eval_n)."""
    final = result.get("final")
    return "evaluator_version" not in result and isinstance(final, dict) \
        and "eval_n" not in final


def run_version(result: dict) -> str:
    """A short label of the code a run came from."""
    code = result.get("code_version")
    if isinstance(code, str) and code:
        return f"{code[:12]}{'+modified' if code.endswith('+modified') else ''}, evaluator " \
               f"{result.get('evaluator_version', '?')}"
    if older_evaluator(result):
        return "not recorded (older code and evaluator)"
    return "not recorded"


def sweep_versions(results: list[dict]) -> dict:
    """For a sweep's summary: the code version every run shares (else "mixed/unknown"), runs
    per version, and the runs made by older code with the older evaluator."""
    codes = {r.get("code_version") for r in results}
    evaluators = {r.get("evaluator_version") for r in results}
    one = next(iter(codes)) if len(codes) == 1 and len(evaluators) == 1 else None
    shared = one if isinstance(one, str) and one and one != UNKNOWN else MIXED
    by_seed: dict = {}
    for r in results:
        by_seed.setdefault(r.get("seed"), set()).add(older_evaluator(r))
    return dict(code_version=shared if results else UNKNOWN,
                code_versions=dict(Counter(run_version(r) for r in results)),
                older_runs=sorted(str(r.get("run_id")) for r in results if older_evaluator(r)),
                older_whole_seeds=all(len(v) == 1 for v in by_seed.values()))


def describe(summary: dict) -> str:
    """One sentence on the code versions of a sweep, '' when every run shares one."""
    versions = summary.get("code_versions") or {}
    older = summary.get("older_runs") or []
    total = sum(versions.values())
    if summary.get("code_version") not in (None, MIXED, UNKNOWN) or not total:
        return ""
    text = "The runs of this sweep do not share one recorded code version"
    if older and len(older) == total:
        text += (f": all {total} were made by older code, scored by the evaluator before the fixed "
                 f"evaluation, with other random streams, so they compare with each other but "
                 f"not with sweeps made since")
    elif older:
        text += (f": {len(older)} of {total} were made by older code, scored by the evaluator "
                 f"before the fixed evaluation, with other random streams, so their numbers "
                 f"are not comparable with the rest")
        text += ("; they are whole seeds, so each paired comparison pairs runs of one version"
                 if summary.get("older_whole_seeds") else
                 "; some seeds mix versions across arms, so their pairs do too")
    elif len(versions) > 1:
        text += ": " + ", ".join(f"{n} {v}" for v, n in versions.items())
    else:
        text += " (made before runs recorded one)"
    name = summary.get("experiment")
    redo = (f" `python -m gan_core sweep {name} --out experiments/{name} --redo-other-versions` "
            f"trains again every run made by other code" if isinstance(name, str)
            and name.replace("-", "").isalnum() else "")
    return text + "." + (f"{redo}." if redo else "")
