"""The class as the teacher sees it (no Streamlit here; app_pages/class.py lays it out).

One `Classroom` per server (the pages keep it in `st.cache_resource`): every run a student
starts is registered with the student's private owner key, the name the student chose (else
"student N", numbered in order of arrival) and the set-up the run started from (the lesson's
link, or the page's defaults). The teacher's page reads `rows()`; a lesson link the teacher
sends becomes a `Banner` every student's page shows.

The teacher key is `GAN_LAB_TEACHER_KEY` (`./lab app` makes a random one and prints it once on
its console when none is set; a bare `streamlit run app.py` without it gets one here, printed at
the first visit). It is typed into a password box, never put in a URL; each wrong
try in a row waits longer before the next is checked (1, 2, 4 ... up to 30 s, server-wide), so
thirty students cannot guess it in class.
"""
from __future__ import annotations

import hmac
import io
import json
import os
import secrets
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from gan_core.images import png_bytes, snapshot_image
from gan_core.records import history_csv
from gan_core.report import RunRecord, grids_over_time, report_html
from lab_app.narration import Narrator

MAX_NAME = 40             # a student's display name, in characters
MAX_WAIT_S = 30.0         # the longest wait after wrong keys
MAX_RUNS_PER_STUDENT = 10  # finished runs kept per student (their live data sit in memory)
MAX_RUNS = 300            # finished runs kept in all, whatever the class size


def _clean_name(name: str) -> str:
    """A display name as plain, short, one-line text (it is escaped again where shown)."""
    text = "".join(ch for ch in str(name) if ch.isprintable()).strip()
    return text[:MAX_NAME]


@dataclass
class Entry:
    owner: str
    run: Any                      # lab_app.ui.Run: .name, .job, .kind, .labels
    base: dict                    # the config the run started from (lesson or defaults)
    lesson: str = ""              # the lesson's title, when a lesson's link opened the page
    started: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Banner:
    text: str                     # what the teacher wrote (escaped where shown)
    page: str                     # a page of lab_app.pages, e.g. "app_pages/train.py"
    params: dict                  # its link's settings
    sent: float


@dataclass
class _Kept:
    """What the Class page worked out for one run's side, kept until the run is let go."""
    narrator: Optional[Narrator] = None            # its looks at each snapshot
    narrated: Optional[tuple[tuple, list[str]]] = None   # (records, snapshots) -> texts
    grid: Optional[tuple[tuple, bytes]] = None           # (step, samples) -> PNG


class Classroom:
    def __init__(self, key: Optional[str] = None, announce: Callable[[str], None] = None):
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self.names: dict[str, str] = {}           # owner key -> display name
        self.order: dict[str, int] = {}           # owner key -> arrival number
        self.banner: Optional[Banner] = None
        self._kept: dict[int, _Kept] = {}        # id(view) -> what was worked out for it
        self._wrong, self._next_try = 0, 0.0
        env = os.environ.get("GAN_LAB_TEACHER_KEY", "").strip()
        self._key = key or env or secrets.token_urlsafe(9)
        if not (key or env):
            (announce or (lambda s: print(s, file=sys.stderr, flush=True)))(
                f"GAN lab: the teacher key for the Class page is {self._key} "
                f"(set GAN_LAB_TEACHER_KEY to choose one)")

    # -- students ------------------------------------------------------------------------
    def arrive(self, owner: str) -> None:
        with self._lock:
            self.order.setdefault(owner, len(self.order) + 1)

    def set_name(self, owner: str, name: str) -> str:
        self.arrive(owner)
        with self._lock:
            clean = _clean_name(name)
            if clean:
                self.names[owner] = clean
            else:
                self.names.pop(owner, None)
        return self.name_of(owner)

    def name_of(self, owner: str) -> str:
        self.arrive(owner)
        return self.names.get(owner) or f"student {self.order[owner]}"

    def register(self, owner: str, run: Any, base: dict, lesson: str = "") -> None:
        """Add a run; the oldest finished runs beyond MAX_RUNS_PER_STUDENT for this student,
        and beyond MAX_RUNS in all, are let go (a run in progress never is). Each entry holds
        the run's history and sample grids in the server's memory, so a class that trains all
        afternoon must not keep every run of every student."""
        self.arrive(owner)
        with self._lock:
            self.entries.append(Entry(owner, run, dict(base), lesson))
            mine = [e for e in self.entries if e.owner == owner]
            drop = _oldest_finished(mine, len(mine) - MAX_RUNS_PER_STUDENT)
            rest = [e for e in self.entries if e not in drop]
            drop += _oldest_finished(rest, len(rest) - MAX_RUNS)
            if drop:
                self.entries = [e for e in self.entries if e not in drop]
                gone = {id(v) for e in drop for v in e.run.job.trainers}
                self._kept = {k: v for k, v in self._kept.items() if k not in gone}

    # -- the teacher ---------------------------------------------------------------------
    def check_key(self, typed: str, now: Optional[float] = None) -> tuple[bool, float]:
        """(right, seconds to wait before the next try). A try made while waiting counts as
        wrong without being compared, so guessing fast gains nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now < self._next_try:
                return False, self._next_try - now
            ok = hmac.compare_digest(str(typed).encode(), self._key.encode())
            if ok:
                self._wrong = 0
                return True, 0.0
            self._wrong += 1
            wait = min(MAX_WAIT_S, 2.0 ** (self._wrong - 1))
            self._next_try = now + wait
            return False, wait

    def send(self, text: str, page: str, params: dict) -> Banner:
        self.banner = Banner(str(text)[:300], page, dict(params), time.time())
        return self.banner

    def clear_banner(self) -> None:
        self.banner = None

    def rows(self, judge_for: Optional[Callable[[str], Any]] = None,
             real_diversity_for: Optional[Callable[[Any], Optional[float]]] = None
             ) -> list[dict[str, Any]]:
        """One row per run on the server, newest first: what the Class page shows.
        `judge_for(dataset)`: the judge classifier that looks at an image run's samples (the
        page's, shared), or None; without it image runs are narrated from their records.
        `real_diversity_for(config)`: the variety of the run's real images in the judge's
        features, the yardstick that tells mode collapse (the Train page's, shared)."""
        with self._lock:
            entries = list(self.entries)
        out = []
        for e in reversed(entries):
            status = e.run.job.status()          # the job's, shared by its sides
            for side, view in enumerate(e.run.job.trainers):
                hist = view.history
                last = hist[-1] if hist else {}
                quality = {}                     # the latest evaluation of each measure
                for k in ("m_judge_fd", "m_confident_share", "m_modes_covered"):
                    seen = next((r[k] for r in reversed(hist[-500:]) if k in r), None)
                    if seen is not None:
                        quality[k] = seen
                out.append(dict(
                    entry=e, side=side, view=view, student=self.name_of(e.owner),
                    label=(e.run.labels[side] if side < len(e.run.labels) else e.run.name),
                    state=status.state, position=status.queue_position, step=view.step,
                    total=view.total_steps, d_real=last.get("d_real"),
                    d_fake=last.get("d_fake"), quality=quality,
                    differs=differences(view.config.to_dict(), e.base),
                    events=self._events(view, judge_for, real_diversity_for),
                    snapshot=view.snapshots[-1] if view.snapshots else None))
        return out

    def _events(self, view: Any, judge_for: Optional[Callable[[str], Any]] = None,
                real_diversity_for: Optional[Callable[[Any], Optional[float]]] = None
                ) -> list[str]:
        """What happened in a run (gan_core.detectors through the Train page's Narrator, so
        mode collapse is seen in the samples), read again only when the run has new records
        or samples: the page redraws every few seconds for every run in the class."""
        kept = self._kept.setdefault(id(view), _Kept())
        seen = (len(view.history), len(view.snapshots))
        if kept.narrated is None or kept.narrated[0] != seen:
            if kept.narrator is None:
                points = view.dataset.is_points
                judge = judge_for(view.config.dataset) if judge_for and not points else None
                variety = real_diversity_for(view.config) \
                    if real_diversity_for and judge is not None else None
                kept.narrator = Narrator(view.config.dataset, points,
                                         view.dataset.data if points else None, judge=judge,
                                         real_diversity=variety)
            # (narrate reads one copy of a live history)
            texts = [ep.text for ep in kept.narrator.episodes(view.history, list(view.snapshots))]
            kept.narrated = (seen, texts)
        return kept.narrated[1]

    def grid_png(self, view: Any, snap: Any) -> bytes:
        """A run's sample grid (or scatter, for points) as PNG, drawn once per snapshot: the
        Class page shows every run's latest grid every few seconds, most of them unchanged."""
        kept = self._kept.setdefault(id(view), _Kept())
        key = (snap.step, len(snap.samples))
        if kept.grid is None or kept.grid[0] != key:
            real = view.dataset.data[:1000] if view.dataset.is_points else None
            kept.grid = (key, png_bytes(snapshot_image(snap.samples, real)))
        return kept.grid[1]

    def results_zip(self) -> bytes:
        """The class's results after class: per run its settings, final numbers, history,
        last samples and the run's report."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for i, row in enumerate(reversed(self.rows()), 1):
                view, e = row["view"], row["entry"]
                folder = f"{i:03d}_{_file_name(row['student'])}_{_file_name(row['label'])}"
                last = view.history[-1] if view.history else {}
                z.writestr(f"{folder}/settings.json", json.dumps(
                    dict(student=row["student"], lesson=e.lesson, state=row["state"],
                         config=view.config.to_dict(), final=last), indent=1, default=str))
                z.writestr(f"{folder}/history.csv", history_csv(view.history))
                real = view.dataset.data[:1000] if view.dataset.is_points else None
                if view.snapshots:
                    z.writestr(f"{folder}/samples.png", self.grid_png(view, view.snapshots[-1]))
                record = RunRecord(view.config.to_dict(), list(view.history),
                                   grids_over_time(view.snapshots, real),
                                   title=f"{row['student']}: {row['label']}", lesson=e.lesson,
                                   state=row["state"], base=e.base)
                z.writestr(f"{folder}/report.html", report_html(record))
        return buf.getvalue()


def _oldest_finished(entries: list[Entry], n: int) -> list[Entry]:
    """Up to n of `entries` (oldest first) whose run has ended."""
    return [e for e in entries if not e.run.job.alive][:max(0, n)]


def differences(config: dict, base: dict) -> list[str]:
    """ "lr_g 0.0002 -> 0.001" for each setting that differs from where the run started
    (run limits such as max_steps and the device left out)."""
    skip = {"max_steps", "max_seconds", "device", "data_dir", "download"}
    return [f"{k} {base.get(k)!r} -> {v!r}" for k, v in config.items()
            if k not in skip and k in base and base[k] != v]


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:40] or "run"
