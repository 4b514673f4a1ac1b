"""Statistics over seeds: mean/std, and t-intervals for a difference of two models' mean errors.

:func:`difference` gives the interval for ``mean(a) - mean(b)`` by the one pairing rule of the suite
(:func:`same_seeds`): a seed gives every net the same batches in the same order, so two nets that hold the
same seeds are compared seed by seed, with the paired t-interval of the per-seed differences (valid whatever
the two nets' correlation across a seed, which differs from pair to pair and is estimated from a few seeds);
nets whose seeds
differ (a run that failed on one side) get Welch's t-interval over every seed each has, so that no counted
seed drops out. Welch's takes the two nets as independent, which nets sharing a batch order are not: where
their errors correlate negatively across seeds (some pairs measure r down to -0.7) it is too narrow (a
simulated 3-against-2-seed interval missed 7.2% of the time at r = -0.7, 3.4% at 0, 1.3% at +0.7); the
pages say so. The degradation verdict (:mod:`reports.verdict`) and the methods board
(:mod:`reports.verdicts`) both pair by :func:`same_seeds`. t quantiles come from ``scipy.stats``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation with ddof=1, n) of the finite values; nan where undefined."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    m = sum(xs) / n
    if n == 1:
        return m, math.nan, 1
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)), n


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` (> 0, possibly fractional) degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"bad p {p!r}: must lie in (0, 1)")
    if not df > 0:
        raise ValueError(f"bad df {df!r}: must be > 0")
    return float(_scipy_stats.t.ppf(p, df))


# Points of error: the spread of one seed's difference (paired: the differences' sd; unpaired: sqrt(sa² + sb²))
# below which it is float rounding (a test error of 69.9999988 against 70.0), not seeds that differ: one image
# in 10,000 is 0.01 points. Below it there is no spread to test (the board's and the verdict's "no spread").
SPREAD_FLOOR = 1e-6


# The pairing rule in words, for every page that states it (the board's, the verdict's, the console's).
PAIRING = ("paired t where both nets hold the same seeds (a seed gives every net the same batches in the same "
           "order), else Welch's t over every counted seed (which takes the nets as independent: too narrow where "
           "their errors correlate negatively across seeds)")


def interval_method(paired: bool, seeds: int, df: float | None) -> str:
    """``"paired t, 3 seeds"`` / ``"Welch t, df 3.4"`` / ``"no interval"`` (``df`` None): how an interval
    was computed, as the verdict and the board print it."""
    if df is None:
        return "no interval"
    return f"paired t, {seeds} seeds" if paired else f"Welch t, df {df:.1f}"


def same_seeds(a: Mapping[int, float], b: Mapping[int, float]) -> bool:
    """Whether two nets' counted values (seed -> error, %) are compared seed by seed: they hold the same seeds,
    at least two. Pairing over the seeds they share when the sets differ would drop a counted seed (a diverged
    one, say) from the test; Welch's interval over every seed keeps it."""
    return len(a) >= 2 and set(a) == set(b)


@dataclass(frozen=True)
class Difference:
    """``mean(a) - mean(b)`` (points of error, %) with a t-interval; ``low``/``high``/``df`` are None
    without one (fewer than two values on a side, or fewer than two pairs).

    """

    diff: float
    low: float | None
    high: float | None
    df: float | None
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    confidence: float = 0.95
    common: int = 0  # seeds both models have
    above: int = 0  # of those, seeds where a > b
    below: int = 0  # and where a < b
    paired: bool = False  # the paired interval over the ``common`` seeds (same_seeds), else Welch's

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    @property
    def excludes_zero(self) -> bool:
        return self.has_interval and (self.low > 0 or self.high < 0)

    @property
    def sign(self) -> int:
        """+1 if the interval lies above 0, -1 if below, 0 if it contains 0 or there is none."""
        if not self.has_interval:
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    @property
    def method(self) -> str:
        return interval_method(self.paired, self.common, self.df if self.has_interval else None)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Welch's t-interval for ``mean(a) - mean(b)``.

    se^2 = s_a^2/n_a + s_b^2/n_b; Welch-Satterthwaite
    df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)); interval = diff +- t_{(1+c)/2, df} * se.
    No interval (low, high, df None) with one value in a group, or identical values in both groups (se = 0):
    seeds that agree exactly are no evidence of a spread of 0, so a point interval would claim what they do
    not show (the methods board's "no spread to test", :data:`reports.verdicts.GAP_WORDS`). Raises
    ValueError when either group has no finite value.
    """
    ma, sa, na = mean_std(a)
    mb, sb, nb = mean_std(b)
    if na == 0 or nb == 0:
        raise ValueError("welch_interval needs at least one finite value in each group")
    diff = ma - mb
    if na < 2 or nb < 2:
        return Difference(diff, None, None, None, na, nb, ma, mb, sa, sb, confidence)
    va, vb = sa * sa / na, sb * sb / nb
    se2 = va + vb
    if math.hypot(sa, sb) < SPREAD_FLOOR:  # a seed's difference has no spread (no_spread)
        return Difference(diff, None, None, None, na, nb, ma, mb, sa, sb, confidence)
    df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_ppf(0.5 + confidence / 2.0, df) * math.sqrt(se2)
    return Difference(diff, diff - half, diff + half, df, na, nb, ma, mb, sa, sb, confidence)


def difference(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95) -> Difference:
    """``mean(a) - mean(b)`` of two models' per-seed values (seed -> error, %) with its t-interval: paired
    (t over the per-seed differences, n - 1 degrees of freedom) where :func:`same_seeds`, else Welch's over
    every value (:func:`welch_interval`); with ``above``/``below``: the seeds both have where a - b > 0 / < 0.
    No interval where the differences (paired) or both sides (Welch) have no spread (below
    :data:`SPREAD_FLOOR`): seeds that agree are no evidence of a spread of 0. Raises ValueError when a side
    is empty."""
    a = {s: float(v) for s, v in a.items() if _finite(v)}
    b = {s: float(v) for s, v in b.items() if _finite(v)}
    if not a or not b:
        raise ValueError("difference needs at least one finite value on each side")
    common = sorted(set(a) & set(b))
    signs = {"common": len(common), "above": sum(a[s] > b[s] for s in common),
             "below": sum(a[s] < b[s] for s in common)}
    if not same_seeds(a, b):
        return dataclasses.replace(welch_interval(list(a.values()), list(b.values()), confidence), **signs)
    ma, sa, na = mean_std(list(a.values()))
    mb, sb, nb = mean_std(list(b.values()))
    diffs = [a[s] - b[s] for s in common]
    m, low, high, n = mean_interval(diffs, confidence)
    if mean_std(diffs)[1] < SPREAD_FLOOR:
        return Difference(m, None, None, None, na, nb, ma, mb, sa, sb, confidence, paired=True, **signs)
    return Difference(m, low, high, float(n - 1), na, nb, ma, mb, sa, sb, confidence, paired=True, **signs)


def _finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None, float | None, int]:
    """(mean, low, high, n) of the finite values: the t-interval of the mean, mean +- t_{(1+c)/2, n-1} *
    sd / sqrt(n); low and high are None with fewer than two values."""
    m, sd, n = mean_std(values)
    if n < 2:
        return m, None, None, n
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return m, m - half, m + half, n
