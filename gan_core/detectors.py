"""What is happening in a run, named: pure functions on what the trainer records (no UI).

Each detector reads a run's step records (`history`) and, where it needs them, what its
snapshots showed (`Look`: per snapshot, the modes or classes the samples cover and how much the
points moved), and returns `Episode`s: the step an effect began, the step it ended (None while
it lasts) and one line for the page. The same functions narrate a live run on the Train page
and score the lessons in `benchmarks/lessons.py`, so a lesson's card and the page agree.

    d_wins        D(x) above 0.9 and D(G(z)) below 0.05, held over a window of steps
    d_unsure      D(G(z)) above 0.3 on average: G keeps pace with its critic
    d_fooled      D(G(z)) above a bound (0.5: D calls the fakes real more often than not)
    g_vanished    the push G gets through D's verdict (d loss_G / d logit at D(G(z))) under
                  a tenth of its size at D(G(z)) = 0.5
    collapse      2-D points piled into a clump, or samples that look like data yet cover
                  only a few modes or digit classes
    circling      D(G(z)) swings up and down, cycle after cycle, or (2-D) the points keep
                  moving instead of settling

Thresholds are module constants, stated on the lesson cards; `benchmarks/lessons.py` measures
how often each fires on the lessons and on healthy default runs (its false alarms).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from .losses import LOSSES, get_loss
from .metrics import CONFIDENT, judge_outputs, points_metrics

WINDOW = 50             # steps a condition must hold (as a moving average) to count
D_WIN_WINDOW = 100      # D's win over a longer window: every run starts with D ahead for a while
D_WIN_REAL, D_WIN_FAKE = 0.9, 0.05
UNSURE_AT = 0.3         # D(G(z)) this high on average: D can barely tell (healthy MNIST: 0.1-0.2)
FOOLED_AT = 0.5
FOOLED_WINDOW = 20      # a D step under 50:1 carries 50 G updates: a short lesson, in D steps
VANISHED_SHARE = 0.1    # the push on G below a tenth of its size at D(G(z)) = 0.5
COLLAPSE_LOOKS_REAL = 0.125    # images: 8 of 64 samples judged a digit with confidence
FEW_KINDS = 0.85        # images: this share of all samples in 3 classes (by the judge's guess)
LOW_DIVERSITY = 0.6     # ... and the samples this much less varied than real digits
COLLAPSE_SPREAD = 0.25  # 2-D: samples spread over less than a quarter of the data's spread
CIRCLE_WINDOW = 200     # steps over which a swing is measured
CIRCLE_AMPLITUDE = 0.3  # peak-to-peak of D(G(z)) (smoothed over 20 steps) that counts as a swing
CIRCLE_CYCLES = 2       # full swings (up and down across the window's mean) within the window
UNSETTLED = 0.05        # 2-D: points still moving this far per step (a settled run: about 0.01)
WARMUP_2D = 400         # 2-D: steps before "not settling" counts (points travel fast early on)
CLUMP_WARMUP = 100      # steps before collapse counts (an untrained G starts as one blob)


@dataclass(frozen=True)
class Episode:
    """One effect over a span of steps: `end` is None while it still holds at the last step."""
    kind: str
    start: int
    end: Optional[int]
    text: str

    @property
    def ongoing(self) -> bool:
        return self.end is None


@dataclass(frozen=True)
class Look:
    """What one snapshot's samples showed. `covered` of `of`: the modes (2-D) or classes
    (images, counted among the samples the judge is confident about) they cover; `looks_real`:
    the share on a mode, or judged a digit with confidence; `spread`: the samples' mean distance
    from their centre over the data's (1: as spread out as the data; 2-D runs, else None);
    `motion`: how far the points moved since the previous snapshot, per step (2-D, else None);
    `few_kinds` and `diversity`: see below (images, else None)."""
    step: int
    covered: int
    of: int
    looks_real: float
    spread: Optional[float] = None
    motion: Optional[float] = None
    few_kinds: Optional[float] = None   # images: share of all samples in the judge's top 3
    diversity: Optional[float] = None   # images: mean feature distance between samples over
                                        # that between real images (1: as varied as the data)


def look_at_points(step: int, points: torch.Tensor, toy: str, data_spread: float,
                   previous: Optional[tuple[int, torch.Tensor]] = None) -> Look:
    """A 2-D snapshot's Look: modes covered (gan_core.metrics.points_metrics), the points'
    spread over `data_spread` (see `spread_of`), and their median motion per step since
    `previous` (step, points) of the same fixed noise."""
    m = points_metrics(points, toy)
    motion = None
    if previous is not None and step > previous[0]:
        moved = (points.float() - previous[1].float()).norm(dim=1).median()
        motion = float(moved) / (step - previous[0])
    return Look(step, m["modes_covered"], m["num_modes"], m["high_quality_share"],
                spread_of(points) / max(data_spread, 1e-12), motion)


def spread_of(points: torch.Tensor) -> float:
    """Mean distance of points (N, 2) from their centre."""
    x = points.float()
    return float((x - x.mean(0)).norm(dim=1).mean())


@torch.no_grad()
def look_at_images(step: int, images: torch.Tensor, judge, share: float = 0.9,
                   real_diversity: Optional[float] = None) -> Look:
    """An image snapshot's Look, by the judge classifier: `looks_real` is the share of samples
    it names with confidence (CONFIDENT); `covered` the fewest digit classes that hold `share`
    of those samples (0 when none is confident); `few_kinds` the share of all samples whose
    most likely class is one of the 3 commonest; `diversity` the samples' mean distance from
    each other in the judge's features over `real_diversity` (`diversity_of` real images)."""
    probs, feats = judge_outputs(judge, images)
    conf, cls = probs.max(1)
    sure = cls[conf >= CONFIDENT]
    covered = 0
    if len(sure):
        counts = torch.bincount(sure, minlength=probs.shape[1]).sort(descending=True).values
        need = share * len(sure)
        covered = int((counts.cumsum(0) < need - 1e-9).sum()) + 1
    top = torch.bincount(cls, minlength=probs.shape[1]).sort(descending=True).values
    diversity = None
    if real_diversity:
        diversity = _mean_distance(feats) / real_diversity
    return Look(step, covered, int(probs.shape[1]), float((conf >= CONFIDENT).float().mean()),
                few_kinds=float(top[:3].sum()) / len(cls), diversity=diversity)


def _mean_distance(feats: torch.Tensor) -> float:
    f = feats.float()
    return float(torch.cdist(f, f).sum() / max(len(f) * (len(f) - 1), 1))


@torch.no_grad()
def diversity_of(images: torch.Tensor, judge) -> float:
    """Mean distance between images in the judge's features (real ones: the yardstick)."""
    return _mean_distance(judge_outputs(judge, images)[1])


# --- helpers ---------------------------------------------------------------------------------

def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average (NaNs skipped; NaN until a value is seen)."""
    out, acc, n, buf = [], 0.0, 0, []
    for v in values:
        buf.append(v)
        if not math.isnan(v):
            acc, n = acc + v, n + 1
        if len(buf) > window:
            old = buf.pop(0)
            if not math.isnan(old):
                acc, n = acc - old, n - 1
        out.append(acc / n if n else math.nan)
    return out


def _spans(steps: Sequence[int], flags: Sequence[bool],
           gap: int = WINDOW) -> list[tuple[int, Optional[int]]]:
    """(first step, last step or None if still on) of each run of True flags; runs separated by
    fewer than `gap` steps are one (so an effect near its threshold does not flicker)."""
    spans: list[list] = []
    start = None
    for step, on in zip(steps, flags):
        if on and start is None:
            if spans and spans[-1][1] is not None and step - spans[-1][1] < gap:
                start = spans.pop()[0]          # the same episode, back after a short gap
            else:
                start = step
        elif not on and start is not None:
            spans.append([start, step])
            start = None
    if start is not None:
        spans.append([start, None])
    return [(a, b) for a, b in spans]


def _probability_loss(history: Sequence[Mapping[str, Any]]) -> bool:
    """d_real and d_fake are probabilities (not raw hinge/WGAN scores) in every record."""
    return all(not LOSSES[r.get("loss", "nonsaturating")].raw_scores
               for r in history if r.get("loss") in LOSSES)


MIN_EPISODE = 25        # steps an ended episode must have lasted to be reported (no blips)


def _since(kind: str, spans, texts: Callable[[int, Optional[int]], str]) -> list[Episode]:
    return [Episode(kind, a, b, texts(a, b)) for a, b in spans
            if b is None or b - a >= MIN_EPISODE]


# --- the detectors -----------------------------------------------------------------------------

def d_wins(history: Sequence[Mapping[str, Any]], window: int = D_WIN_WINDOW,
           real_min: float = D_WIN_REAL, fake_max: float = D_WIN_FAKE) -> list[Episode]:
    """D tells real from fake almost perfectly: moving averages of D(x) above `real_min` and of
    D(G(z)) below `fake_max` over `window` steps."""
    if len(history) < window or not _probability_loss(history):
        return []
    steps = [r["step"] for r in history]
    real = _smooth([r["d_real"] for r in history], window)
    fake = _smooth([r["d_fake"] for r in history], window)
    flags = [i + 1 >= window and r > real_min and f < fake_max
             for i, (r, f) in enumerate(zip(real, fake))]
    return _since("d_wins", _spans(steps, flags), lambda a, b: (
        f"D is winning: D(x) above {real_min:g} and D(G(z)) below {fake_max:g} since step {a}"
        if b is None else f"D was winning from step {a} to step {b}"))


def _fake_above(history: Sequence[Mapping[str, Any]], window: int,
                fake_min: float) -> list[tuple[int, Optional[int]]]:
    """Spans where the `window`-step moving average of D(G(z)) is above `fake_min`."""
    if len(history) < window or not _probability_loss(history):
        return []
    steps = [r["step"] for r in history]
    fake = _smooth([r["d_fake"] for r in history], window)
    return _spans(steps, [i + 1 >= window and f > fake_min for i, f in enumerate(fake)])


def d_unsure(history: Sequence[Mapping[str, Any]], window: int = D_WIN_WINDOW,
             fake_min: float = UNSURE_AT) -> list[Episode]:
    """G keeps pace with its critic: the moving average of D(G(z)) over `window` steps above
    `fake_min` (D gives G's samples a fair chance of being real)."""
    return _since("d_unsure", _fake_above(history, window, fake_min), lambda a, b: (
        f"G keeps pace with D: D(G(z)) above {fake_min:g} on average since step {a}, so D can "
        f"barely tell its samples from real ones" if b is None
        else f"G kept pace with D (D(G(z)) above {fake_min:g}) from step {a} to step {b}"))


def d_fooled(history: Sequence[Mapping[str, Any]], window: int = FOOLED_WINDOW,
             fake_min: float = FOOLED_AT) -> list[Episode]:
    """D calls G's samples real more often than not: moving average of D(G(z)) above
    `fake_min` over `window` steps."""
    return _since("d_fooled", _fake_above(history, window, fake_min), lambda a, b: (
        f"G is fooling D: D(G(z)) above {fake_min:g} since step {a}" if b is None
        else f"G fooled D (D(G(z)) above {fake_min:g}) from step {a} to step {b}"))


def push_on_g(loss: str, d_fake: Sequence[float], gamma: float = 2.0) -> list[float]:
    """|d loss_G / d logit| for samples that D gives probabilities `d_fake`: how hard G's loss
    pushes through D's verdict (its gradient reaches G's weights through this factor)."""
    p = torch.tensor([float(v) for v in d_fake], dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    logit = torch.log(p / (1 - p)).requires_grad_(True)
    get_loss(loss, gamma=gamma).g(logit).backward()       # the loss is a mean: scale back per sample
    return (logit.grad.abs() * len(p)).tolist()


def g_vanished(history: Sequence[Mapping[str, Any]], window: int = WINDOW,
               share: float = VANISHED_SHARE) -> list[Episode]:
    """G's gradient has almost vanished: at the moving average of D(G(z)), G's loss pushes
    less than `share` of what it pushes at D(G(z)) = 0.5 (the saturating loss when D wins)."""
    if len(history) < window or not _probability_loss(history):
        return []
    steps = [r["step"] for r in history]
    fake = _smooth([r["d_fake"] for r in history], window)
    flags = [False] * len(history)
    for loss in {r.get("loss") for r in history} & set(LOSSES):
        idx = [i for i, r in enumerate(history) if r.get("loss") == loss
               and i + 1 >= window and not math.isnan(fake[i])]
        if not idx:
            continue
        at_half = push_on_g(loss, [0.5])[0]
        for i, push in zip(idx, push_on_g(loss, [fake[i] for i in idx])):
            flags[i] = push < share * at_half
    return _since("g_vanished", _spans(steps, flags), lambda a, b: (
        f"G's gradient has almost vanished: its loss pushes under {share:.0%} as hard as at "
        f"D(G(z)) = 0.5, since step {a}" if b is None
        else f"G's gradient had almost vanished from step {a} to step {b}"))


def collapse(looks: Sequence[Look], most: Optional[int] = None,
             looks_real: float = COLLAPSE_LOOKS_REAL, spread: float = COLLAPSE_SPREAD,
             warmup: int = CLUMP_WARMUP) -> list[Episode]:
    """Mode collapse, in 2 of the last 3 snapshots after `warmup` steps: 2-D samples piled into
    a clump (spread under `spread` of the data's); samples of which at least `looks_real` look
    like data and yet fall in at most `most` modes or classes (default: a quarter, at least 2:
    2 of 8 modes, 3 of 10 digits); or images that are all alike, FEW_KINDS of them guessed as
    3 digits and under LOW_DIVERSITY of real digits' variety (a latent-1 G whose shapes the
    judge is rarely sure of). Before `warmup` every G is one blob: not collapse."""
    flags = []
    for lk in looks:
        bound = most if most is not None else max(2, math.ceil(lk.of / 4))
        clumped = lk.spread is not None and lk.spread < spread
        few = lk.looks_real >= looks_real and 0 < lk.covered <= bound
        alike = (lk.few_kinds is not None and lk.diversity is not None
                 and lk.few_kinds >= FEW_KINDS and lk.diversity < LOW_DIVERSITY)
        flags.append(lk.step >= warmup and (clumped or few or alike))
    held = [flags[i] and sum(flags[max(0, i - 2):i + 1]) >= 2 for i in range(len(flags))]
    steps = [lk.step for lk in looks]
    what = "digit classes" if looks and looks[0].of == 10 else "modes"

    def text(a: int, b: Optional[int]) -> str:
        now = looks[-1] if b is None else next(lk for lk in looks if lk.step == a)
        if now.spread is not None and now.spread < spread:
            shape = f"piled into one clump ({now.spread:.0%} of the data's spread)"
        elif now.diversity is not None and now.few_kinds is not None \
                and now.few_kinds >= FEW_KINDS and now.diversity < LOW_DIVERSITY:
            shape = (f"{now.few_kinds:.0%} look like 3 kinds of digit, and they vary "
                     f"{now.diversity:.0%} as much as real digits")
        else:
            shape = f"the recognisable ones fall in {now.covered} of {now.of} {what}"
        return (f"The samples have collapsed: {shape}, since step {a}" if b is None
                else f"The samples collapsed from step {a} to step {b}")
    return _since("collapse", _spans(steps, held), text)


def circling(history: Sequence[Mapping[str, Any]], looks: Sequence[Look] = (),
             window: int = CIRCLE_WINDOW, amplitude: float = CIRCLE_AMPLITUDE,
             cycles: int = CIRCLE_CYCLES, unsettled: float = UNSETTLED) -> list[Episode]:
    """The players circle instead of settling, over the last `window` steps: D(G(z)) (smoothed
    over 20 steps) swings by at least `amplitude` and crosses its window mean 2 x `cycles`
    times; or, on the 2-D sets, the points keep moving at least `unsettled` per step (median
    over the window's snapshots) after the first WARMUP_2D steps."""
    if len(history) < window:
        return []
    steps = [r["step"] for r in history]
    flags = [False] * len(history)
    if _probability_loss(history):
        f = np.asarray(_smooth([r["d_fake"] for r in history], 20), dtype=float)
        for i in range(window - 1, len(f)):
            seg = f[i + 1 - window:i + 1]
            seg = seg[~np.isnan(seg)]
            if len(seg) < window // 2 or seg.max() - seg.min() < amplitude:
                continue
            side = np.sign(seg - seg.mean())
            flags[i] = int((side[1:] * side[:-1] < 0).sum()) >= 2 * cycles
    moving = [lk for lk in looks if lk.motion is not None]
    why = "D(G(z)) swings up and down instead of settling"
    if moving:
        why = "the points keep moving instead of settling"
        at = [lk.step for lk in moving]
        motion = np.asarray([lk.motion for lk in moving], dtype=float)
        for i, step in enumerate(steps):
            if step < max(window, WARMUP_2D):
                continue
            hi = bisect.bisect_right(at, step)
            lo = bisect.bisect_right(at, step - window)
            if hi - lo >= 3 and float(np.median(motion[lo:hi])) >= unsettled:
                flags[i] = True
    return _since("circling", _spans(steps, flags), lambda a, b: (
        f"No convergence: {why}, since step {a}" if b is None
        else f"No convergence from step {a} to step {b}"))


DETECTORS: dict[str, str] = {
    "d_wins": "D is winning",
    "d_unsure": "G keeps pace with D",
    "d_fooled": "G is fooling D",
    "g_vanished": "G's gradient has vanished",
    "collapse": "mode collapse",
    "circling": "no convergence",
}


def narrate(history: Sequence[Mapping[str, Any]], looks: Sequence[Look] = (),
            points: bool = False) -> list[Episode]:
    """Every detector on one run, in the order their episodes began. On the 2-D sets (`points`)
    D(G(z)) near 0.5 is the settled game, not news: d_unsure and d_fooled are left out.
    A live run's history grows while it is read (the trainer's thread appends to it): the
    detectors read one copy of it, so that all of them see the same records."""
    history, looks = list(history), list(looks)
    balance = [] if points else d_unsure(history) + d_fooled(history)
    found = (d_wins(history) + balance + g_vanished(history) + collapse(looks)
             + circling(history, looks))
    return sorted(found, key=lambda e: (e.start, e.kind))


def first(episodes: Sequence[Episode], kind: str) -> Optional[int]:
    """The step the first episode of `kind` began, or None."""
    starts = [e.start for e in episodes if e.kind == kind]
    return min(starts) if starts else None
