"""When a watched run's extras come next, so that each costs at most a share of its training.

A worker's trainers do more than train: every snapshot gets the views' probes
(gan_core.probes) and every `eval_every` steps the judge measures quality
(gan_core.evaluation). At a fixed cadence their cost is a fixed number of milliseconds per
call against steps whose speed depends on the model and the machine: a 2-D ring step takes
about 8 ms of CPU and its probes 12 ms every 10 steps (14%); an MNIST evaluation of 500
samples takes 0.3 s every 50 steps of about 60 ms (10%). A `Cadence` measures each call and
puts the next one off until its cost fits:

    cadence = Cadence(share=0.05)
    if cadence.due(step, every, elapsed):            # a multiple of `every` at or after
        t0 = time.perf_counter()                     # `next_step`
        ...the extra...
        cadence.spent(time.perf_counter() - t0, step, elapsed)

After each call, `next_step` is the first multiple of `every` at which the extras' time so far,
plus one more call, is at most `share` of the training time then (the steps' own clock,
`trainer.elapsed`, extrapolated at the run's speed so far) plus a small `allowance`: the first
calls of a run, the seconds a student watches most, come at the asked cadence, and over a run
the share tends to `share` whatever a call costs. The trainers of a lockstep pair share one
Cadence: at a given step it answers them all alike, and their costs and training times add up.
`free` (slow motion, where the worker waits after every step anyway) lets every call run.
The command line and the sweeps use none: their evaluations stay every `eval_every` steps.
"""
from __future__ import annotations

import math
import os
import threading
from typing import Hashable, Optional

SHARE = 0.05        # the default: each extra takes at most 5% of the training time
ALLOWANCE_S = 0.5   # extras' seconds allowed beyond the share (a run's first calls)


def default_share() -> float:
    """SHARE, or GAN_LAB_EXTRAS_SHARE when it is a number in (0, 1]."""
    try:
        share = float(os.environ.get("GAN_LAB_EXTRAS_SHARE", SHARE))
    except ValueError:
        return SHARE
    return share if 0 < share <= 1 else SHARE


class Cadence:
    def __init__(self, share: float = SHARE, allowance: float = ALLOWANCE_S):
        if not 0 < share <= 1 or allowance < 0:
            raise ValueError(f"share must be in (0, 1] and allowance at least 0; got {share} "
                             f"and {allowance}")
        self.share, self.allowance = share, allowance
        self.free = False
        self.calls = 0
        self.seconds = 0.0                      # the extras' time so far, every side together
        self.next_step: Optional[int] = None    # None: the first due step
        self._elapsed: dict[Hashable, float] = {}    # each side's training seconds, last seen
        self._decided: tuple[Optional[int], bool] = (None, False)
        self._lock = threading.Lock()

    def due(self, step: int, every: int, elapsed: float = 0.0, side: Hashable = 0) -> bool:
        """Whether the extra runs at `step`: a multiple of `every`, at or after next_step (or
        any such step while `free`). Every side that asks at one step gets the same answer."""
        with self._lock:
            self._elapsed[side] = elapsed
            if self._decided[0] == step:
                return self._decided[1]
            ok = every > 0 and step % every == 0 and (
                self.free or self.next_step is None or step >= self.next_step)
            self._decided = (step, ok)
            return ok

    def spent(self, seconds: float, step: int, every: int, elapsed: float,
              side: Hashable = 0) -> None:
        """One side's call at `step` took `seconds`; plan the next call."""
        with self._lock:
            self._elapsed[side] = elapsed
            self.calls += 1
            self.seconds += max(0.0, seconds)
            self.next_step = self._following(step, max(1, every))

    def planned(self, step: int, every: int) -> Optional[int]:
        """The step of the next call as things stand now (None when `every` is off)."""
        if not every:
            return None
        with self._lock:
            following = step - step % every + every
            if self.free or self.next_step is None:
                return following
            return max(following, -(-self.next_step // every) * every)

    def measured_share(self) -> float:
        """The extras' time over the training time so far (0 before either)."""
        trained = sum(self._elapsed.values())
        return self.seconds / trained if trained > 0 else 0.0

    def _following(self, step: int, every: int) -> int:
        """The first multiple of `every` after `step` at which seconds + one more call of the
        mean cost is at most share x the training time + allowance, at the speed so far."""
        trained = sum(self._elapsed.values())
        sides = max(1, len(self._elapsed))
        nearest = step - step % every + every
        if step <= 0 or trained <= 0:
            return nearest
        per_step = trained / step                      # every side's seconds per step
        cost = self.seconds / max(1, self.calls) * sides     # one more call on every side
        needed = (self.seconds + cost - self.allowance) / self.share   # training that pays
        at = step + math.ceil(max(0.0, needed - trained) / per_step)
        return max(nearest, -(-at // every) * every)
