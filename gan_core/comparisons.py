"""Paired comparisons across seeds: the statistics every verdict's claim rests on.

The arms of a sweep share their seeds (the same initial weights and batches), so two arms are
compared seed by seed. A `Comparison` holds the effect (the mean of the paired differences
a - b), its 95% confidence interval (Student's t), the two-sided p-value of the paired t-test
(scipy.stats.ttest_rel), the p-value after Holm's correction over every comparison one verdict
makes, and n (the seeds both arms have). A difference is *clear* when its Holm p-value is below
ALPHA; an *equivalence* ("at most a point") needs the whole interval inside the stated margin.

With 3 to 5 seeds the t-test is the one that can answer at all: the exact Wilcoxon signed-rank
test cannot go below p = 0.0625 with 5 pairs. A seed that never reached a threshold counts at
its limit (censored); such a comparison says how many pairs were censored, since its difference
is then a bound, not a measurement.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Optional

from scipy import stats as scipy_stats

ALPHA = 0.05            # a difference is clear when its Holm-corrected p-value is below this
CONFIDENCE = 0.95
PAIRED_T = "paired t-test"


@dataclass
class Comparison:
    a: str                            # arm (or number) compared ...
    b: str                            # ... against this one: the effect is a - b
    metric: str
    diff: Optional[float]             # mean paired difference a - b
    ci_low: Optional[float]           # its 95% confidence interval
    ci_high: Optional[float]
    p: Optional[float]                # two-sided, uncorrected
    n: int                            # pairs (seeds both have)
    test: str = PAIRED_T
    p_holm: Optional[float] = None    # after Holm's correction within one verdict
    a_label: str = ""
    b_label: str = ""
    censored: int = 0                 # pairs where either side never reached its threshold

    @property
    def clear(self) -> bool:
        """Whether the difference is clear after the correction (an untested one never is)."""
        return self.p_holm is not None and self.p_holm < ALPHA

    def within(self, margin: float) -> bool:
        """Equivalent within +-margin: the whole 95% interval lies inside it."""
        return self.ci_low is not None and -margin < self.ci_low and self.ci_high < margin

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _t_test(diffs: list[float]) -> tuple[float, float, float]:
    """(p, ci_low, ci_high) of the mean of `diffs` against 0, for n >= 2."""
    mean = statistics.fmean(diffs)
    if max(diffs) - min(diffs) <= 1e-12 * max(1.0, abs(mean)):
        # Every pair differs by the same amount: no spread to test against. A constant nonzero
        # difference is as clear as data get; a constant zero is no difference at all.
        return (0.0 if abs(mean) > 1e-12 else 1.0), mean, mean
    result = scipy_stats.ttest_1samp(diffs, 0.0)
    ci = result.confidence_interval(CONFIDENCE)
    return float(result.pvalue), float(ci.low), float(ci.high)


def paired(a: str, b: str, metric: str, values_a: dict, values_b: dict, a_label: str = "",
           b_label: str = "", censored_a: Optional[dict] = None,
           censored_b: Optional[dict] = None) -> Comparison:
    """Compare a and b seed by seed: `values_*` map a seed to a number; seeds either lacks (or
    holds no finite number for) are left out. `censored_*` map a seed to whether its value is
    a limit rather than a measurement."""
    seeds = sorted(s for s in values_a if s in values_b
                   and _finite(values_a[s]) and _finite(values_b[s]))
    diffs = [float(values_a[s]) - float(values_b[s]) for s in seeds]
    censored = sum(bool((censored_a or {}).get(s)) or bool((censored_b or {}).get(s))
                   for s in seeds)
    c = Comparison(a, b, metric, None, None, None, None, len(seeds), a_label=a_label or a,
                   b_label=b_label or b, censored=censored)
    if diffs:
        c.diff = statistics.fmean(diffs)
    if len(diffs) >= 2:
        c.p, c.ci_low, c.ci_high = _t_test(diffs)
    return c


def against_value(a: str, metric: str, values: dict, value: float, a_label: str = "",
                  b_label: str = "") -> Comparison:
    """One arm's numbers against a fixed value (a one-sample t-test): e.g. a share against 0.5."""
    vals = [float(v) for v in values.values() if _finite(v)]
    c = Comparison(a, f"{value:g}", metric, None, None, None, None, len(vals),
                   test="one-sample t-test", a_label=a_label or a, b_label=b_label or f"{value:g}")
    if vals:
        c.diff = statistics.fmean(vals) - value
    if len(vals) >= 2:
        c.p, c.ci_low, c.ci_high = _t_test([v - value for v in vals])
    return c


def holm(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm's step-down correction over every tested comparison of one verdict, in place:
    the k-th smallest p is multiplied by (m - k + 1), and the adjusted values never decrease."""
    tested = sorted((c for c in comparisons if c.p is not None), key=lambda c: c.p)
    m, running = len(tested), 0.0
    for k, c in enumerate(tested):
        running = max(running, min(1.0, (m - k) * c.p))
        c.p_holm = running
    return comparisons


def clear_difference(comparisons: list[Comparison], a: str, b: str, metric: str
                     ) -> Optional[float]:
    """a - b from the comparison of a and b (in either order) on `metric`, when it is clear."""
    for c in comparisons:
        if c.metric == metric and c.clear and (c.a, c.b) in ((a, b), (b, a)):
            return c.diff if c.a == a else -c.diff
    return None


def listed(names: list[str], word: str = "or") -> str:
    """'A', 'A or B', 'A, B or C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {word} " + names[-1]


def fmt_p(p: Optional[float]) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def interval(c: Comparison, digits: int = 0, unit: str = "", scale: float = 1.0) -> str:
    """'+5.6 FD (95% CI -2.2 to +13.4, Holm p 0.47)'; a pair too few to test says so."""
    if c.diff is None:
        return "not compared (no seed has both)"
    d = f"{c.diff * scale:+.{digits}f}{unit}"
    if c.p is None:
        return f"{d} (one seed: not tested)"
    bound = f"; {c.censored} of {c.n} pairs censored, so a bound" if c.censored else ""
    return (f"{d} (95% CI {c.ci_low * scale:+.{digits}f} to {c.ci_high * scale:+.{digits}f}, "
            f"Holm p {fmt_p(c.p_holm)}{bound})")


def outcome(c: Comparison, lower: str = "clearly lower", higher: str = "clearly higher") -> str:
    """'lower', 'higher' (as the caller names them) when clear, else 'no clear difference'."""
    if not c.clear:
        return "no clear difference"
    return lower if c.diff < 0 else higher
