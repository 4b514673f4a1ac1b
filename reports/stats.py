"""Small statistics without scipy: mean/std over seeds and Welch's t-interval for a difference of means.

The Student t quantile is found by bisection on the CDF, which is written with the regularized incomplete
beta function (continued fraction, Numerical Recipes 3rd ed. section 6.4):

    F(t; df) = 1 - I_{df / (df + t^2)}(df / 2, 1 / 2) / 2      for t >= 0.

It takes non-integer degrees of freedom, which Welch's interval needs, and agrees with published tables
to 1e-6 (tests check df = 1, 2, 4, 10, 30).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with ``df`` (> 0, possibly fractional) degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(df):
        return 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t: the t with ``t_cdf(t, df) == p`` (bisection to machine precision)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must lie in (0, 1)")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Difference:
    """``mean(a) - mean(b)`` with Welch's t-interval; ``low``/``high``/``df`` are None without an interval.

    An interval needs at least two finite values in each group (a sample variance in each).
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


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Welch's t-interval for ``mean(a) - mean(b)``.

    se^2 = s_a^2/n_a + s_b^2/n_b; Welch-Satterthwaite
    df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)); interval = diff +- t_{(1+c)/2, df} * se.
    With identical values in both groups (se = 0) the interval is the point itself, df = n_a + n_b - 2.
    Raises ValueError when either group has no finite value.
    """
    ma, sa, na = mean_std(a)
    mb, sb, nb = mean_std(b)
    if na == 0 or nb == 0:
        raise ValueError("welch_interval needs at least one value in each group")
    diff = ma - mb
    if na < 2 or nb < 2:
        return Difference(diff, None, None, None, na, nb, ma, mb, sa, sb, confidence)
    va, vb = sa * sa / na, sb * sb / nb
    se2 = va + vb
    if se2 == 0.0:
        return Difference(diff, diff, diff, float(na + nb - 2), na, nb, ma, mb, sa, sb, confidence)
    df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_ppf(0.5 + confidence / 2.0, df) * math.sqrt(se2)
    return Difference(diff, diff - half, diff + half, df, na, nb, ma, mb, sa, sb, confidence)
