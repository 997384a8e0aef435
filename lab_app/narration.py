"""The Train page's narration: what is happening in a run, from gan_core.detectors (no Streamlit).

The page keeps one `Narrator` per run. Each refresh it hands over the run's records and
snapshots; the Narrator looks at each snapshot once (the judge's classes of its samples, or the
2-D points' spread and motion), runs every detector and says which effects hold now and which
held earlier. The same detectors score the lessons (benchmarks/lessons.py).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from gan_core import detectors
from gan_core.detectors import Episode, Look

# The colour of each effect's band on the charts, and the chart it belongs to.
BAND = {"d_wins": "#2e86ab", "d_unsure": "#f18f01", "d_fooled": "#e4572e", "g_vanished": "#7b2cbf",
        "collapse": "#c9a227", "circling": "#4a9d5b"}


class Narrator:
    """Looks at each snapshot once and narrates the run so far."""

    def __init__(self, dataset: str, is_points: bool, data=None, judge=None, real=None,
                 real_diversity: Optional[float] = None):
        """`data`: the 2-D set's points; `real`: some real images (the judge's yardstick of
        variety), for image runs, or `real_diversity`, that yardstick measured already."""
        self.dataset, self.is_points, self.judge = dataset, is_points, judge
        self.spread = detectors.spread_of(data) if is_points and data is not None \
            and len(data) else None
        self.real_diversity = real_diversity if real_diversity is not None else (
            detectors.diversity_of(real, judge)
            if not is_points and judge is not None and real is not None and len(real) else None)
        self._looks: dict[int, Look] = {}
        self._prev: Optional[tuple[int, Any]] = None

    def looks(self, snapshots: Sequence[Any]) -> list[Look]:
        """A Look per snapshot (step, samples), computed once per snapshot."""
        for snap in snapshots:
            if snap.step in self._looks:
                continue
            if self.is_points and self.spread:
                prev = self._prev if self._prev and self._prev[0] < snap.step else None
                self._looks[snap.step] = detectors.look_at_points(
                    snap.step, snap.samples, self.dataset, self.spread, prev)
                self._prev = (snap.step, snap.samples)
            elif not self.is_points and self.judge is not None:
                self._looks[snap.step] = detectors.look_at_images(
                    snap.step, snap.samples, self.judge, real_diversity=self.real_diversity)
        return [self._looks[k] for k in sorted(self._looks)]

    def episodes(self, history: Sequence[dict], snapshots: Sequence[Any]) -> list[Episode]:
        return detectors.narrate(history, self.looks(snapshots), points=self.is_points)


def split(episodes: Sequence[Episode]) -> tuple[list[Episode], list[Episode]]:
    """(episodes that hold now, episodes that ended), each in the order they began."""
    return [e for e in episodes if e.ongoing], [e for e in episodes if not e.ongoing]


def bands(episodes: Sequence[Episode], last_step: int) -> list[dict]:
    """Shaded spans for the charts: {start, end, colour, label} per episode."""
    return [dict(start=e.start, end=last_step if e.end is None else e.end,
                 colour=BAND.get(e.kind, "#888888"), label=detectors.DETECTORS[e.kind])
            for e in episodes]
