"""The methods board's verdict rules, written once: how seeds are counted, how two nets are compared, how
the board's many comparisons are corrected, and which words each outcome earns. The leaderboard's tables
(:mod:`reports.leaderboard`), report.pdf's first page (:mod:`reports.frontpage`) and the forest plot
(:mod:`reports.forest`) all read these; none computes a test of its own.

**Every seed counts** (:class:`Cell`). The value of a seed is its final training error (%, result.json
``final.train``, as :mod:`reports.verdict` defines it). A *diverged* seed did not fail to run, it failed to
train: it enters with the error of guessing, ``chance`` = 100 (1 - 1/classes) from the classes its
config.yaml records (a net that diverges gives no better than chance). An ok seed whose final training error
lies within :data:`CHANCE_MARGIN` points of chance is flagged "at chance" and enters with its own error.
Failed, malformed and unfinished runs (a crash, a damaged file, a run still going) are no training outcome:
they are counted and named, never averaged. Because a diverged seed's value is a substitute, every
comparison also gives a rank test, which only uses the seeds' order.

**Comparisons** (:func:`compare_cells`: ``a − b``, points of final training error). A seed gives every net
the same batches in the same order, so two nets that share seeds are compared seed by seed: the paired
t-interval of the per-seed differences (Student 1908), with Wilcoxon's signed-rank test beside it (Wilcoxon
1945) and the measured Pearson correlation ``r`` of the two nets' values (the pairing helps where r > 0 and
costs degrees of freedom, n - 1 instead of about 2n - 2, where it is not). That needs both nets to hold the
same seeds (:func:`reports.stats.same_seeds`, the degradation verdict's rule too): where they differ (a run
that failed on one side), pairing over the seeds they share would drop the other net's counted seeds, a
diverged one among them, so the nets get Welch's t-interval (Welch 1947) over every counted seed, with the
Mann-Whitney U test (Mann & Whitney 1947). The Welch interval is also kept beside a paired one. Intervals
are 95%, unadjusted.

**Equivalence** ("removes it"): two one-sided t-tests of H0 ``|a − b| >= margin`` (Schuirmann 1987, TOST),
with the margin :data:`EQUIVALENCE_MARGIN` points, declared before the data and printed on the page.

**Multiplicity** (:func:`adjust`): each verdict column of a board holds family-wise at :data:`ALPHA`: the
depth gaps, the comparisons with plain and those with resnet are three families, corrected apart, and each
board (one-recipe, tuned) is corrected apart from the other. A column's verdicts read two tests per net, the
difference (H0: 0) and the equivalence (H0: beyond ±margin), so its family holds both: Holm's step-down
procedure (Holm 1979) over all of them, with Shaffer's (1986, method 2) logical constraint that at most
one of a net's two null hypotheses is true, so that step j multiplies by the number of nets whose tests
are not all rejected yet instead of the count of tests left (:func:`holm_shaffer`). Correcting the
differences and the equivalences as two families, as this board did before, let a column err at up to
twice ALPHA. scipy has no Holm and statsmodels has no Shaffer constraint, so :func:`holm_shaffer` is ours.

**Words** (:func:`gap_verdict` for deep − shallow; :func:`effect_verdict` for baseline − method): see
:data:`GAP_WORDS` and :data:`EFFECT_WORDS`. **Seeds to decide** (:func:`seeds_needed`): for an undecided
gap, the seeds per net at which, were the observed mean and spread the true ones, a new experiment would
show the gap or its equivalence with probability :data:`POWER` (either test, one integral over the spread's
estimate; at the Bonferroni level
ALPHA / m, m the column's nets: conservative for the step-down). The spread is itself estimated from a few
seeds, so this is a planning figure, not a promise.

t, Wilcoxon and Mann-Whitney come from ``scipy.stats`` (exact small-sample p-values where it has them).
With three seeds a rank test cannot reach 5% (smallest two-sided p: 0.25 signed-rank, 0.1 Mann-Whitney):
it is reported, never decisive.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _st

from .runs import Run
from .stats import SPREAD_FLOOR, interval_method, same_seeds

ALPHA = 0.05  # family-wise error rate of the board's decisions (Holm)
CONFIDENCE = 0.95  # the intervals printed (unadjusted)
CHANCE_MARGIN = 5.0  # points: a seed this close to chance (final training error) has not trained
EQUIVALENCE_MARGIN = 5.0  # points: "removes it" means the gap is shown to lie within ± this (TOST)
MAX_SEEDS = 30  # seeds_needed looks no further
POWER = 0.8  # seeds_needed: the probability of deciding it asks for

GAP_WORDS = {
    "degrades": "degrades",
    "removes": "removes it (within ±{margin:g} points)",
    "better": "the deeper net trains better",
    # Not "interval too wide": a Holm-adjusted decision can fail for an interval that excludes 0 unadjusted.
    "open": f"not decided: neither a gap nor ±{EQUIVALENCE_MARGIN:g} shown",
    "no_spread": "gap not shown: every seed gives the same gap (no spread to test)",
    "one_seed": "gap not shown, one seed: no interval",
    "no_train": "does not train",
    "no_train_most": "does not train in most seeds",
    "one_fails": "not judged: most seeds of {names} did not train (a failure to train, not a depth gap)",
    "too_short": "does not train in {iterations} iterations at its tuned rate: too short a budget to judge it",
    "grid_diverged": "does not train: every rate tried diverged on the tuning seed ({names}), a grid too high for it",
    "unstable": "not judged: tuned rate unstable ({names})",
    "not_trained": "not trained ({names}: no finished run)",
    "not_tuned": "not tuned yet ({why})",
    "mixed": "not judged: seeds trained by different plugin code ({names})",
    "other_runs": "not judged: {why}",
    "no_seed": "cannot be judged (no counted seed of {names})",
    "one_depth": "one depth named ({name}): no depth gap",
}
EFFECT_WORDS = {
    "better": "better than {base}",
    "worse": "worse than {base}",
    "same": "as good as {base} (within ±{margin:g})",
    "no_train": "neither trains",
    "no_train_most": "neither trains in most seeds",
    "seldom": "not judged: within ±{margin:g}, but most seeds of {names} did not train",
    "open": "difference not shown",
    "no_spread": "difference not shown: every seed gives the same difference (no spread to test)",
    "one_seed": "one seed: no interval",
    "baseline": "baseline",
    "absent": "no {base} run",
    "no_seed": "cannot compare (no counted seed of {names})",
    "unstable": "not judged: tuned rate unstable ({names})",
    "not_tuned": GAP_WORDS["not_tuned"],
    "mixed": GAP_WORDS["mixed"],
    "other_runs": GAP_WORDS["other_runs"],
    "off_depth": "not compared: {name} is not at the board's deep depth",
}


def chance_error(runs: Sequence[Run]) -> float | None:
    """The final training error (%) of guessing, 100 (1 − 1/classes), from the classes a run of ``runs``
    recorded in its config.yaml (any status); None where none recorded them."""
    for run in runs:
        classes = run.config.get("classes")
        if isinstance(classes, list) and len(classes) > 1:
            return 100.0 * (1 - 1 / len(classes))
    return None


@dataclass(frozen=True)
class Cell:
    """One net's seeds on a board: ``values`` (seed -> counted final training error, %) and how each of its
    ``expected`` runs ended: ``ok``; ``at_chance`` (ok seeds within CHANCE_MARGIN points of chance);
    ``diverged`` (in ``values`` at chance, or left out as ``uncounted`` where no chance is known);
    ``ended`` (failed or malformed: finished with no training outcome); ``missing`` (no result.json)."""

    model: str
    values: dict[int, float]
    expected: int
    ok: int
    diverged: int
    at_chance: int
    ended: int
    missing: int
    uncounted: int
    chance: float | None
    malformed: int = 0  # of ``ended``: records that cannot be the run's (reports.runs)

    @property
    def trained(self) -> bool:
        """Whether any run of the net finished (ok, diverged, failed or malformed)."""
        return self.ok + self.diverged + self.ended > 0

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def failed_to_train(self) -> int:
        return self.diverged + self.at_chance

    @property
    def untrained_seeds(self) -> int:
        """Counted seeds that diverged (at chance) or ended at chance (a diverged seed left uncounted is not
        among them)."""
        return self.diverged - self.uncounted + self.at_chance

    @property
    def trains_none(self) -> bool:
        """Every counted seed diverged or ended at chance."""
        return self.n > 0 and self.untrained_seeds >= self.n

    @property
    def trains_seldom(self) -> bool:
        """Most counted seeds diverged or ended at chance: an equivalence with such a net says that both fail
        alike, not that a method removes the degradation."""
        return self.n > 0 and 2 * self.untrained_seeds > self.n

    def untrained_text(self) -> str:
        """``"did not train in 3 of 3 seeds (diverged or at chance)"``: the words for :attr:`trains_seldom`."""
        return f"did not train in {self.untrained_seeds} of {self.n} seeds (diverged or at chance)"

    def mean_std(self) -> tuple[float, float]:
        """Mean and std (ddof=1) of the counted values (%); nan where undefined."""
        xs = np.array(list(self.values.values()), dtype=float)
        if not len(xs):
            return math.nan, math.nan
        return float(xs.mean()), (float(xs.std(ddof=1)) if len(xs) > 1 else math.nan)

    def flags(self) -> str:
        """``"2/3 diverged, 1/3 at chance"``: the seeds that did not train or did not finish; "" for none."""
        parts = [f"{k}/{self.expected} {word}" for k, word in (
            (self.diverged, "diverged"), (self.at_chance, "at chance"), (self.ended - self.malformed, "failed"),
            (self.malformed, "malformed"),
            (self.missing if self.trained else 0, "not finished")) if k]
        if self.uncounted:
            parts.append(f"{self.uncounted} diverged not counted (no classes recorded)")
        return ", ".join(parts)


def at_chance(error: float, chance: float | None) -> bool:
    """Whether a final training error (%) lies within :data:`CHANCE_MARGIN` points of ``chance`` (the net did
    not train); False where chance is unknown."""
    return chance is not None and error >= chance - CHANCE_MARGIN


def cell(runs: Sequence[Run], model: str, chance: float | None, split: str = "train") -> Cell:
    """The :class:`Cell` of ``model`` among ``runs`` (its expected seeds, any status), on its final ``split``
    error (the board's: training; the degradation verdict's counts too, reports.verdict.counted)."""
    mine = [r for r in runs if r.model == model]
    values, ok, diverged, near_chance, ended, missing, uncounted, malformed = {}, 0, 0, 0, 0, 0, 0, 0
    for r in mine:
        v = r.final(split)
        if r.ok and v is not None and math.isfinite(v):
            ok += 1
            values[r.seed] = v
            near_chance += at_chance(v, chance)
        elif r.status == "diverged":
            diverged += 1
            if chance is None:
                uncounted += 1
            else:
                values[r.seed] = chance
        elif r.status == "missing":
            missing += 1
        else:  # failed, or malformed (a record that cannot be this run's: reports.runs)
            ended += 1
            malformed += r.status == "malformed"
    return Cell(model, values, len(mine), ok, diverged, near_chance, ended, missing, uncounted, chance, malformed)


@dataclass(frozen=True)
class Test:
    """``a − b`` of two cells' counted values (points): the 95% interval (``low``/``high``, None with fewer
    than two values on a side or two pairs), its test of 0 (``p``, two-sided) and of equivalence within
    ``margin`` (``p_equiv``, TOST), their Holm-adjusted values once :func:`adjust` has run, a rank test's p,
    and for paired tests the measured correlation ``r`` (None with fewer than three pairs)."""

    a: str
    b: str
    diff: float
    low: float | None
    high: float | None
    df: float | None
    paired: bool
    n_a: int
    n_b: int
    common: int  # seeds both have
    above: int  # of those, seeds where a > b
    p: float | None
    p_equiv: float | None
    rank_p: float | None
    rank_test: str
    r: float | None
    sd: float | None  # spread of one seed's difference (points): paired, the differences' sd; else sqrt(sa²+sb²)
    welch_low: float | None
    welch_high: float | None
    margin: float = EQUIVALENCE_MARGIN
    p_holm: float | None = None
    p_equiv_holm: float | None = None
    family_size: int = 1

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    @property
    def no_spread(self) -> bool:
        """Every seed gives the same difference (to :data:`reports.stats.SPREAD_FLOOR`): nothing to test."""
        return self.sd is not None and self.sd < SPREAD_FLOOR

    @property
    def shown(self) -> int:
        """+1 / −1 where the difference is shown (Holm-adjusted p < ALPHA) above / below 0, else 0."""
        p = self.p_holm if self.p_holm is not None else self.p
        return 0 if p is None or not p < ALPHA else (1 if self.diff > 0 else -1)  # NaN: not shown

    @property
    def equivalent(self) -> bool:
        """Whether the equivalence within ±margin is shown (Holm-adjusted TOST p < ALPHA)."""
        p = self.p_equiv_holm if self.p_equiv_holm is not None else self.p_equiv
        return p is not None and p < ALPHA

    @property
    def method(self) -> str:
        if not self.has_interval:
            return "no interval"
        return interval_method(self.paired, self.common, self.df)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except ValueError:
            return None


def _t_tests(x: np.ndarray, y: np.ndarray | None, margin: float) -> tuple[float, float, float, float, float]:
    """(low, high, df, p, p_equiv) of the one-sample (``y`` None: x are paired differences) or Welch t-test."""
    with warnings.catch_warnings():  # nearly equal values: scipy warns of precision, its numbers stand
        warnings.simplefilter("ignore", RuntimeWarning)
        return _t_tests_loud(x, y, margin)


def _t_tests_loud(x: np.ndarray, y: np.ndarray | None, margin: float) -> tuple[float, float, float, float, float]:
    if y is None:
        res = _st.ttest_1samp(x, 0.0)
        lo = _st.ttest_1samp(x, -margin, alternative="greater").pvalue
        hi = _st.ttest_1samp(x, margin, alternative="less").pvalue
    else:
        res = _st.ttest_ind(x, y, equal_var=False)
        lo = _st.ttest_ind(x + margin, y, equal_var=False, alternative="greater").pvalue
        hi = _st.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue
    ci = res.confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high), float(res.df), float(res.pvalue), float(max(lo, hi))


def compare_cells(a: Cell, b: Cell, margin: float = EQUIVALENCE_MARGIN) -> Test | None:
    """``a − b`` (points of final training error) over the cells' counted seeds, paired where they hold the
    same seeds (:func:`reports.stats.same_seeds`, see the module's docstring), else Welch's over every counted
    seed; None when a side has no counted seed."""
    if not a.values or not b.values:
        return None
    common = sorted(set(a.values) & set(b.values))
    xa, xb = np.array(list(a.values.values())), np.array(list(b.values.values()))
    pa, pb = np.array([a.values[s] for s in common]), np.array([b.values[s] for s in common])
    above = int((pa > pb).sum())
    paired = same_seeds(a.values, b.values)
    welch = (None, None)
    if len(xa) >= 2 and len(xb) >= 2:
        welch = (_interval_or_point(xa, xb, margin)[:2] if math.hypot(xa.std(ddof=1), xb.std(ddof=1)) < SPREAD_FLOOR
                 else _t_tests(xa, xb, margin)[:2])
    r = None
    if len(common) >= 3 and pa.std() > 0 and pb.std() > 0:
        r = float(np.corrcoef(pa, pb)[0, 1])
    if paired:
        d = pa - pb
        diff, sd = float(d.mean()), float(d.std(ddof=1))
        low, high, df, p, p_equiv = (_interval_or_point(d, None, margin) if sd < SPREAD_FLOOR
                                     else _t_tests(d, None, margin))
        rank = _quiet(_st.wilcoxon, pa, pb)
        rank_test = "Wilcoxon signed-rank"
    else:
        diff = float(xa.mean() - xb.mean())
        sd = float(math.sqrt(xa.var(ddof=1) + xb.var(ddof=1))) if len(xa) >= 2 and len(xb) >= 2 else None
        low = high = df = p = p_equiv = None
        if sd is not None:
            low, high, df, p, p_equiv = (_interval_or_point(xa, xb, margin) if sd < SPREAD_FLOOR
                                         else _t_tests(xa, xb, margin))
        rank = _quiet(_st.mannwhitneyu, xa, xb) if len(xa) >= 2 and len(xb) >= 2 else None
        rank_test = "Mann-Whitney U"
    rank_p = None if rank is None or not np.isfinite(rank.pvalue) else float(rank.pvalue)
    return Test(a.model, b.model, diff, low, high, df, paired, len(xa), len(xb), len(common), above, p, p_equiv,
                rank_p, rank_test, r, sd, *welch, margin=margin)


def _interval_or_point(x: np.ndarray, y: np.ndarray | None, margin: float):
    """No spread at all (every seed gives the same difference: seeds substituted at chance, or errors that
    agree to the last image): the interval is the point, but a few seeds that happen to agree are no evidence
    that more would, so nothing is decided (p 1 for the difference and for the equivalence)."""
    diff = float(x.mean() - (0.0 if y is None else y.mean()))
    df = float(len(x) - 1 if y is None else len(x) + len(y) - 2)
    return diff, diff, df, 1.0, 1.0


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's (1979) step-down adjusted p-values of one family (None entries are not in it): the k-th
    smallest of m p-values becomes max over j <= k of min(1, (m − j + 1) p_(j))."""
    return [group[0] for group in holm_shaffer([[p] for p in pvalues])]


def holm_shaffer(groups: Sequence[Sequence[float | None]]) -> list[list[float | None]]:
    """Adjusted p-values of one family made of ``groups`` of null hypotheses of which at most one per group
    can be true (a net's difference test, H0: 0, and its equivalence test, H0: |gap| >= margin). Holm's
    step-down with Shaffer's (1986) method 2: sort every p ascending; the j-th becomes max over i <= j of
    min(1, t_i p_(i)), where t_i counts the groups not wholly among the i − 1 smaller ones (the most true
    nulls there can be if those are false). With one test per group it is Holm's procedure. None (no test)
    and non-finite p-values are not in the family, and get None.

    ``[[0.01, 0.2], [0.03, 0.001]]`` -> ``[[0.02, 0.2], [0.06, 0.002]]`` (0.001, 0.01, 0.03 times 2 groups
    open, then 0.2 times 1)."""
    items = sorted((p, g, k) for g, group in enumerate(groups) for k, p in enumerate(group)
                   if p is not None and math.isfinite(p))
    left = {g: sum(1 for _, h, _ in items if h == g) for g in {g for _, g, _ in items}}
    out: list[list[float | None]] = [[None] * len(group) for group in groups]
    open_groups, running = len(left), 0.0
    for p, g, k in items:
        running = max(running, min(1.0, open_groups * p))
        out[g][k] = running
        left[g] -= 1
        open_groups -= left[g] == 0
    return out


def adjust(tests: Sequence[Test | None]) -> list[Test | None]:
    """The tests of one family (a board's column: one test per net) with ``p_holm`` and ``p_equiv_holm``
    adjusted together by :func:`holm_shaffer` (a net's difference and equivalence tests are one group), and
    ``family_size``: the number of tests with an interval."""
    pairs = holm_shaffer([(t.p, t.p_equiv) if t else (None, None) for t in tests])
    m = sum(1 for t in tests if t is not None and t.p is not None)
    return [None if t is None else replace(t, p_holm=p, p_equiv_holm=q, family_size=max(m, 1))
            for t, (p, q) in zip(tests, pairs)]


def seeds_needed(test: Test | None, family_size: int | None = None, margin: float | None = None) -> int | None:
    """Seeds per net at which a new experiment would show ``test``'s gap (two-sided t) or its equivalence
    within ±margin (TOST) with probability at least :data:`POWER`, at level ALPHA / family_size, were the
    observed mean difference and spread (``sd``) the true ones: the probability that either test decides,
    :func:`_decide_power`; exact for the paired test (n − 1 degrees of freedom), for Welch's (unpaired nets)
    the pooled test's 2n − 2 degrees of freedom, which assumes equal spreads and overstates the power somewhat
    where they differ. None when even MAX_SEEDS would not do, or there is no spread to go by (``sd`` missing
    or 0)."""
    if test is None or test.sd is None or not math.isfinite(test.sd) or test.no_spread:
        return None
    m = family_size or test.family_size
    margin = test.margin if margin is None else margin
    level, d, s = ALPHA / m, abs(test.diff), test.sd
    for n in range(2, MAX_SEEDS + 1):
        df = n - 1 if test.paired else 2 * n - 2
        se = s / math.sqrt(n)
        if _decide_power(d, se, df, level, margin) >= POWER:
            return n
    return None


def _decide_power(d: float, se: float, df: float, level: float, margin: float) -> float:
    """The probability that a new experiment decides, by the two-sided t-test showing the gap or by TOST showing
    it within ±margin, both at ``level``, for a true difference ``d`` whose estimate has standard error ``se``
    (estimated on ``df`` degrees of freedom). Both tests read the same mean and spread, so their powers do not
    add: given the estimated ŝe = se·sqrt(u / df), u ~ chi²(df), the t-test decides where the mean lies beyond
    ±a, a = t(1 − level/2)·ŝe, and TOST where it lies within ±b, b = margin − t(1 − level)·ŝe; where b > a
    one of them always decides. Integrated over u. (The larger of the two powers, used before, understated it:
    at the one-recipe board's skipinit row, 0.56 against 0.83 by simulation at 23 seeds.)"""
    from scipy.integrate import quad

    c1, c2 = _st.t.ppf(1 - level, df), _st.t.ppf(1 - level / 2, df)
    norm = _st.norm.cdf

    def given(u: float) -> float:
        x = se * math.sqrt(u / df)  # the estimated standard error
        a, b = c2 * x, margin - c1 * x
        if b > a:
            return 1.0
        gap = norm((-a - d) / se) + norm((d - a) / se)
        inside = norm((b - d) / se) - norm((-b - d) / se) if b > 0 else 0.0
        return min(1.0, gap + inside)

    top = _st.chi2.isf(1e-12, df)
    # where one of the two always decides (b = a), where TOST's window closes (b = 0), chi²'s mode
    points = [df * (margin / ((c1 + c2) * se)) ** 2, df * (margin / (c1 * se)) ** 2, max(df - 2.0, 0.0)]
    inner = sorted(p for p in points if 0.0 < p < top)
    return float(quad(lambda u: given(u) * _st.chi2.pdf(u, df), 0.0, top, limit=200, points=inner or None)[0])


def _unjudged(x: Cell, y: Cell, test: Test | None, words: dict[str, str]) -> str | None:
    """The words that come before any test (a side with no counted seed, neither net trains in any seed or
    in most seeds, no interval), or None when the tests decide."""
    empty = [c.model for c in (x, y) if not c.values]
    if empty or test is None:
        return words["no_seed"].format(names=", ".join(empty))
    if x.trains_none and y.trains_none:
        return words["no_train"]
    if x.trains_seldom and y.trains_seldom:  # a gap between two nets that mostly fail says nothing of depth
        return words["no_train_most"]
    if not test.has_interval:
        return words["one_seed"]
    return None


def gap_verdict(shallow: Cell, deep: Cell, test: Test | None) -> str:
    """The words for deep − shallow final training error (:data:`GAP_WORDS`), in this order: a net not
    trained, a net with no counted seed, neither net trains in any seed ("does not train") or in most
    seeds ("does not train in most seeds"), no interval, one of the two does not train in most seeds ("not
    judged: most seeds of <net> did not train": a net that never left chance is not the paper's degradation of
    nets that train, nor is a deeper net that trains where the shallower one did not its absence),
    "degrades" where the Holm-adjusted test shows a positive gap (with "(by less than M points)" where the
    equivalence is shown too), else "removes it" where the equivalence is shown (a negative gap shown or
    not), else "the deeper net trains better" where
    a negative gap is shown, else "gap not shown: every seed gives the same gap" where the seeds' gaps have
    no spread, else "not decided: neither a gap nor ±5 shown"."""
    untrained = [c.model for c in (shallow, deep) if not c.trained]
    if untrained:
        return GAP_WORDS["not_trained"].format(names=", ".join(untrained))
    if words := _unjudged(shallow, deep, test, GAP_WORDS):
        return words
    if seldom := [c.model for c in (shallow, deep) if c.trains_seldom]:  # one of the two: the other trains
        return GAP_WORDS["one_fails"].format(names=", ".join(seldom))
    if test.shown > 0:
        return GAP_WORDS["degrades"] + (f" (by less than {test.margin:g} points)" if test.equivalent else "")
    if test.equivalent:
        return GAP_WORDS["removes"].format(margin=test.margin)
    if test.shown < 0:
        return GAP_WORDS["better"]
    return GAP_WORDS["no_spread" if test.no_spread else "open"]


def effect_verdict(base: Cell | None, method: Cell, test: Test | None, base_name: str) -> str:
    """The words for base − method at one depth (> 0: the method trains better; :data:`EFFECT_WORDS`): no
    baseline run, the baseline itself, no counted seed, neither net trains in any seed, no interval, then as
    :func:`gap_verdict` by the Holm-adjusted tests ("as good as" only where no difference is shown and most
    seeds of each net trained)."""
    if base is None or not base.trained:
        return EFFECT_WORDS["absent"].format(base=base_name)
    if base.model == method.model:
        return EFFECT_WORDS["baseline"]
    if words := _unjudged(base, method, test, EFFECT_WORDS):
        return words
    if test.equivalent and test.shown == 0:
        if seldom := [c.model for c in (base, method) if c.trains_seldom]:
            return EFFECT_WORDS["seldom"].format(margin=test.margin, names=", ".join(seldom))
        return EFFECT_WORDS["same"].format(base=base_name, margin=test.margin)
    if test.shown == 0 and test.no_spread:
        return EFFECT_WORDS["no_spread"]
    return EFFECT_WORDS[{1: "better", -1: "worse", 0: "open"}[test.shown]].format(base=base_name)


def points(value: float | None) -> str:
    """A difference in points as the board prints it: one decimal, signed; a value that would print as
    ±0.0 gets two significant digits (+0.045), so a bound is never shown as 0 beside a verdict it decides."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:+.1f}"
    return f"{value:+.2g}" if text in ("+0.0", "-0.0") and value != 0 else text


def interval_text(test: Test | None) -> str:
    """``+40.4 [+13.9, +66.9]`` (the 95% interval), ``+5.0 (no interval)`` or "–"."""
    if test is None:
        return "–"
    if not test.has_interval:
        return f"{points(test.diff)} (no interval)"
    return f"{points(test.diff)} [{points(test.low)}, {points(test.high)}]"


def p_text(p: float | None) -> str:
    """A p-value as printed: 3 decimals, "<0.001" below that, "–" for none."""
    if p is None or not math.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
