"""The verdict: is degradation reproduced, do the shortcuts remove it, and how do options A/B/C compare.

Every claim is a difference of mean final errors over seeds with a 95% t-interval, paired where the two
nets hold the same seeds and Welch's otherwise (:func:`reports.stats.difference`), and the number of seeds
in which it holds. A claim is made only when
the interval excludes 0; with one seed no interval exists and the text says so, still giving the point
difference. Every seed counts, as on the methods board (:mod:`reports.verdicts`): a diverged seed failed to
train and enters at chance error (from the classes its runs record; left out and said so where none are);
a failed run, or an ok one without a finite final error, is counted in the text, not averaged.

Degradation is judged on the final TRAINING error (result.json ``final.train``: the mini-batch error,
in training mode, averaged over the last logging interval), because the paper's point is that the deeper
plain net is harder to optimise, not that it overfits (section 4.1, Fig. 4 and 6). Per family, a
verdict says "reproduced" only when both of the paper's claims hold with intervals that exclude 0:
the degradation (deep plain − shallow plain > 0) and the shortcuts' effect (deep plain − deep residual > 0).
The shortcut ablation is judged on the final test error (val when there is no test split), as the
paper's Table 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from . import paper
from .groups import OPTION_LABELS, degradation_sets, eval_split, families, has_ablation, model_infos, shortcut_sets
from .runs import Run
from .stats import PAIRING, Difference, difference, mean_std
from .verdicts import cell, chance_error
from .summary import fmt_pm

FAMILY_NAMES = {"cifar": "CIFAR family", "imagenet": "ImageNet family"}
METHOD_NOTE = (
    f"Intervals: 95%, {PAIRING}; the paired interval holds whatever the two nets' errors' correlation. Every "
    "seed counts: a diverged seed enters at chance error (the error of guessing); one seed gives a point "
    "difference and no interval."
)


@dataclass
class Comparison:
    """``mean(a) - mean(b)`` of one split's final error (%) over the ok seeds of two models."""

    a: str
    b: str
    split: str
    diff: Difference | None  # None when either model has no ok run with that error
    missing: list[str] = field(default_factory=list)  # models without a usable ok run
    untrained: bool = False  # most counted seeds of both nets diverged or ended at chance: nothing to judge
    seldom: tuple[str, ...] = ()  # the nets (a, b) most of whose counted seeds diverged or ended at chance

    @property
    def one_fails(self) -> str | None:
        """The one net of the two that does not train in most seeds, the other training: a gap to a net that
        never left chance is a failure to train, not a difference between nets that train; else None."""
        return self.seldom[0] if len(self.seldom) == 1 else None

    @property
    def sign(self) -> int:
        """+1 / −1 where the interval lies above / below 0; 0 where it holds 0, there is none, or neither net
        trains in most seeds (two nets that fail alike differ by noise, whatever the interval)."""
        return self.diff.sign if self.diff and not self.untrained else 0

    def text(self, label: str | None = None) -> str:
        """``plain-56 − plain-20 = +21.90 points (95% CI +18.21 to +25.59, paired t, 3 seeds; > 0 in 3 of 3 seeds)``.

        ``label`` replaces the ``a − b`` part (e.g. ``B − A``)."""
        label = label or f"{self.a} − {self.b}"
        if self.diff is None:
            return f"{label}: cannot compare, no ok run of {', '.join(self.missing)}"
        d = self.diff
        head = f"{label} = {d.diff:+.2f} points"
        seeds = f"; > 0 in {d.above} of {d.common} seeds" if d.common else ""
        if d.has_interval:
            return f"{head} (95% CI {d.low:+.2f} to {d.high:+.2f}, {d.method}{seeds})"
        if d.n_a == 1 and d.n_b == 1:
            return f"{head} (one seed per model: no interval can be given)"
        if d.paired:
            return f"{head} (every seed gives the same difference: no spread to test, no interval{seeds})"
        if d.n_a >= 2 and d.n_b >= 2:
            return f"{head} (every seed of both nets gives the same error: no spread to test, no interval{seeds})"
        few = [m for m, n in ((self.a, d.n_a), (self.b, d.n_b)) if n < 2]
        verb = "has" if len(few) == 1 else "have"
        return f"{head} ({' and '.join(few)} {verb} one ok seed: no interval can be given)"


def finals(runs: Sequence[Run], model: str, split: str) -> dict[int, float]:
    """seed -> final ``split`` error (%) of ``model``'s ok runs that have one."""
    return {r.seed: v for r in runs if r.model == model and r.ok and (v := r.final(split)) is not None}


class Counted(NamedTuple):
    """What a verdict counts of one net (:func:`counted`)."""

    values: dict[int, float]  # seed -> final error (%): ok runs' own, diverged runs' at chance
    diverged: int  # diverged seeds in values, at chance
    uncounted: int  # diverged seeds left out: no run records its classes, so chance is unknown
    ended: int  # runs with no training outcome: failed, malformed, or ok without a finite final error
    malformed: int = 0  # of those, malformed: a record that cannot be the run's (reports.runs)
    near_chance: int = 0  # ok seeds whose error is within CHANCE_MARGIN of chance: they did not train
    seldom: bool = False  # most counted seeds diverged or ended at chance (the board's Cell.trains_seldom)

    def note(self, split: str = "train") -> str:
        """``", 1 diverged: at chance, 1 failed: not counted"``, or "" when every run counts as itself; an ok
        seed at chance "did not train" on the training split, is "at chance" on another."""
        failed = self.ended - self.malformed
        parts = [(f"{self.near_chance} at chance" + (": did not train" if split == "train" else f" on {split} error"))
                 if self.near_chance else "",
                 f"{self.diverged} diverged: at chance" if self.diverged else "",
                 f"{self.uncounted} diverged: not counted (no classes recorded)" if self.uncounted else "",
                 f"{failed} failed: not counted" if failed else "",
                 f"{self.malformed} malformed: not counted" if self.malformed else ""]
        return "".join(f", {p}" for p in parts if p)


def counted(runs: Sequence[Run], model: str, split: str) -> Counted:
    """What a verdict counts of ``model``: the final ``split`` error (%) of its ok runs that have a finite
    one, and its diverged runs at chance error (:func:`reports.verdicts.chance_error`), with what was left
    out (:class:`Counted`): the board's count of a net (:func:`reports.verdicts.cell`), on ``split``. Where no
    run records its classes, diverged seeds are left out and said so."""
    c = cell(runs, model, chance_error(runs), split)
    return Counted(c.values, c.diverged - c.uncounted, c.uncounted, c.ended, c.malformed, c.at_chance, c.trains_seldom)


def _untrained(runs: Sequence[Run], model: str) -> str:
    """``"did not train in 3 of 3 seeds (diverged or at chance)"`` of ``model``, as the board says it."""
    return cell(runs, model, chance_error(runs)).untrained_text()


def compare(runs: Sequence[Run], a: str, b: str, split: str) -> Comparison:
    """The final ``split`` error of model ``a`` minus model ``b`` over every counted seed (:func:`counted`:
    diverged seeds at chance; :func:`reports.stats.difference`)."""
    ca, cb = counted(runs, a, split), counted(runs, b, split)
    missing = [m for m, c in ((a, ca), (b, cb)) if not c.values]
    if missing:
        return Comparison(a, b, split, None, missing)
    return Comparison(a, b, split, difference(ca.values, cb.values), untrained=ca.seldom and cb.seldom,
                      seldom=tuple(m for m, c in ((a, ca), (b, cb)) if c.seldom))


@dataclass
class FamilyVerdict:
    """One family's degradation verdict (paper Fig. 4 and 6) on final training error."""

    family: str
    headline: str  # "reproduced" | "not reproduced" | "inconclusive" | "... (one seed, no interval)" | ...
    reproduced: bool | None  # True when both intervals exclude 0 the paper's way, False when one excludes 0 the
    # other way, None otherwise (an interval includes 0, one seed, or a net missing)
    plain: Comparison | None  # degradation: deepest plain net that trains (family_verdict) minus shallowest
    residual: Comparison | None  # deepest minus shallowest residual net
    shortcut: Comparison | None  # the shortcuts' effect: deepest plain minus the residual net of that depth
    paragraph: str
    same_span: bool = True  # the residual comparison spans the plain one's depths

    @property
    def residual_share(self) -> float | None:
        """The residual nets' depth difference as a fraction of the plain nets' (the paper: <= 0); None where
        the two span other depths."""
        return _share(self.plain, self.residual) if self.same_span else None


@dataclass
class ShortcutVerdict:
    family: str
    depth: int
    comparisons: list[Comparison]
    paragraph: str


@dataclass
class Verdict:
    families: list[FamilyVerdict]
    shortcuts: list[ShortcutVerdict]

    def markdown(self) -> str:
        parts = [v.paragraph for v in self.families] + [v.paragraph for v in self.shortcuts]
        if not parts:
            parts = ["No family has ok runs to judge."]
        return "\n\n".join(parts + [f"_{METHOD_NOTE}_"]) + "\n"


def _values(runs: Sequence[Run], model: str, split: str) -> str:
    seen = counted(runs, model, split)
    m, sd, n = mean_std(list(seen.values.values()))
    return f"{model} {fmt_pm(m, sd)}" + (f" (n={n}{seen.note()})" if n else f" (no ok run{seen.note()})")


def family_verdict(runs: Sequence[Run], family: str, dataset: str = "") -> FamilyVerdict:
    """Degradation verdict for one family, on final training error: the degradation (deepest minus
    shallowest plain net), the shortcuts' effect (deepest plain minus the residual net of that depth), and
    the residual nets across depth (deepest minus shallowest).

    "Deepest" is the deepest plain net that trains in most seeds, where a shallower one than the deepest does:
    a deeper plain net that mostly diverged or ended at chance is named on a line of its own, its gap given
    as a failure to train. The paper's degradation is of plain nets that train (section 4.1: its 34-layer plain net
    still reaches competitive accuracy, and deep plain nets "may have exponentially low convergence rates"), so
    a gap to a net that never left chance does not decide it: where one of the two plain nets compared does not
    train in most seeds (the deeper one of only two depths, say), the degradation is "not judged"."""
    infos = model_infos(runs)
    usable = {r.model for r in runs if counted(runs, r.model, "train").values}
    plain_all, res_all = degradation_sets(infos, family)
    plain = {d: m for d, m in plain_all.items() if m in usable}
    res = {d: m for d, m in res_all.items() if m in usable}
    name = FAMILY_NAMES.get(family, f"{family} family") + (f" ({dataset})" if dataset else "")
    failing = {d: m for d, m in plain.items() if counted(runs, m, "train").seldom}
    if len(plain) >= 2 and min(plain) not in failing and any(d not in failing for d in plain if d > min(plain)):
        while max(plain) in failing:  # the deepest that trains stands for the degradation; the others are named
            del plain[max(plain)]
    left_out = {d: m for d, m in failing.items() if d not in plain}

    plain_cmp = compare(runs, plain[max(plain)], plain[min(plain)], "train") if len(plain) >= 2 else None
    one_fails = plain_cmp.one_fails if plain_cmp is not None else None  # no degradation to judge
    # The residual nets across the plain nets' depths where both have ok runs, else across their own: then the
    # two changes span other depths, and the share of the degradation is not given.
    span = (min(plain), max(plain)) if len(plain) >= 2 and min(plain) in res and max(plain) in res else \
        ((min(res), max(res)) if len(res) >= 2 else None)
    res_cmp = compare(runs, res[span[1]], res[span[0]], "train") if span else None
    same_span = plain_cmp is not None and span == (min(plain), max(plain))
    deep = max(plain) if plain else None
    shortcut = compare(runs, plain[deep], res[deep], "train") if deep is not None and deep in res else None

    lines = []
    if plain:
        listed = [m for _, m in sorted({**plain, **left_out}.items())]
        lines.append("Final training error (%): " + "; ".join(
            _values(runs, m, "train") for m in [*listed, *res.values()]) + ".")
    if plain_cmp is None:
        have = ", ".join(plain.values()) or "none"
        lines.append(f"The degradation needs counted seeds of two plain depths; plain nets with one (ok, or diverged "
                     f"at chance): {have}.")
    elif one_fails:
        lines.append(f"- Degradation, {plain_cmp.text()}: not judged: {one_fails} {_untrained(runs, one_fails)}, a "
                     "failure to train, not the paper's degradation of plain nets that train.")
    else:
        judgement = _judge(plain_cmp, "the deeper plain net trains worse", "the deeper plain net trains better")
        lines.append(f"- Degradation, {plain_cmp.text()}: {judgement}.")
        for d, m in sorted(left_out.items()):
            gap = compare(runs, m, plain[min(plain)], "train")
            lines.append(f"- {m} {_untrained(runs, m)}: its gap, {gap.text()}, is a failure to train, not the "
                         "paper's degradation of plain nets that train; the degradation is judged at "
                         f"{plain[max(plain)]}, the deepest plain net that trains in most seeds.")
    if shortcut is None:
        if plain_cmp is not None:
            lines.append(f"- The shortcuts' effect needs an ok residual net of depth {deep}.")
    else:
        judgement = _judge(shortcut, "the shortcuts lower the deep net's training error",
                           "the residual net trains worse than the plain one")
        lines.append(f"- Shortcuts, {shortcut.text()}: {judgement}.")
    if res_cmp is not None:
        lines.append(f"- Residual nets across depth (a third comparison, not part of the headline), {res_cmp.text()}: "
                     f"{residual_judgement(res_cmp, plain_cmp, runs)}"
                     + ("" if one_fails or res_cmp.one_fails else _share_text(plain_cmp, res_cmp) if same_span else
                        f"; not set against the plain nets' change, which spans {min(plain)} to {max(plain)} layers"
                        if plain_cmp is not None else "") + ".")
    elif res and plain_cmp is not None:
        lines.append(f"- Only one residual depth has ok runs ({', '.join(res.values())}).")

    headline, reproduced = _headline(plain_cmp, shortcut, res_all.get(deep) if deep is not None else None)
    if one_fails and not headline.startswith("cannot be judged"):
        headline, reproduced = f"not judged: {one_fails} does not train in most seeds", None
    paragraph = f"**{name}: {headline}.** " + "\n".join(lines)
    return FamilyVerdict(family, headline, reproduced, plain_cmp, res_cmp, shortcut, paragraph, same_span)


def _headline(degradation: Comparison | None, shortcut: Comparison | None,
              deep_residual: str | None = None) -> tuple[str, bool | None]:
    """"reproduced" only when both intervals exclude 0 in the paper's direction (both differences > 0) and
    in each comparison a net trains in most seeds (else :data:`NOT_TRAINED`); "cannot be judged" names what
    is missing (``deep_residual``: the residual net of the deep plain net's
    depth among the runs, ok or not)."""
    if degradation is None:
        return "degradation cannot be judged (it needs counted seeds of two plain depths)", None
    if shortcut is None and deep_residual is None:
        return "cannot be judged (no residual net of the deeper plain net's depth)", None
    if shortcut is None or degradation.diff is None or shortcut.diff is None:
        missing = sorted({m for c in (degradation, shortcut) if c is not None for m in c.missing}
                         | ({deep_residual} if shortcut is None else set()))
        return f"cannot be judged (no ok run of {', '.join(missing)})", None
    if degradation.untrained or shortcut.untrained:  # the headline names the nets (a reader took it for all four)
        nets = list(dict.fromkeys(m for c in (degradation, shortcut) if c.untrained for m in c.seldom))
        return f"not judged: {' and '.join(nets)} do not train in most seeds", None
    signs = (degradation.sign, shortcut.sign)
    if signs == (1, 1):
        return "reproduced", True
    if -1 in signs:
        return "not reproduced", False
    if any(c.diff.has_interval and c.sign == 0 for c in (degradation, shortcut)):
        return "inconclusive (an interval includes 0)", None  # whatever the other comparison's seeds say
    if any(not c.diff.has_interval and min(c.diff.n_a, c.diff.n_b) >= 2 for c in (degradation, shortcut)):
        return "not judged: seeds that agree exactly leave no spread to test", None
    # Every comparison with an interval shows the paper's direction; the others rest on one seed.
    seen = degradation.diff.diff > 0 and shortcut.diff.diff > 0
    return ("suggested by one seed (no interval)" if seen else "not seen in one seed (no interval)"), None


# Two or more seeds a side that all agree (every seed diverged, say, each at chance): no interval, no judgement.
NO_SPREAD = "not judged: the seeds agree exactly, no spread to test"
# Most seeds of both nets diverged or ended at chance (the board's "does not train in most seeds").
NOT_TRAINED = "not judged: neither net trains in most seeds"


def _judge(c: Comparison, yes: str, no: str) -> str:
    d = c.diff
    if d is None:
        return "not comparable"
    if c.untrained:
        return NOT_TRAINED
    if d.has_interval:
        return f"{yes}, and the interval excludes 0" if d.low > 0 else f"{no}" if d.high < 0 else "the interval includes 0"
    if min(d.n_a, d.n_b) >= 2:
        return NO_SPREAD
    return f"{yes} in this single seed" if d.diff > 0 else "not so in this single seed"


def _share(plain: Comparison | None, res: Comparison | None) -> float | None:
    """res's mean difference over plain's, where the plain nets' degradation is shown (its interval above 0;
    a share of a degradation not shown, +5400% of +0.10 say, means nothing), else None."""
    if plain is None or res is None or plain.diff is None or res.diff is None or plain.sign <= 0:
        return None
    return res.diff.diff / plain.diff.diff


def _share_text(plain: Comparison | None, res: Comparison) -> str:
    share = _share(plain, res)
    return "" if share is None else f"; {share:+.0%} of the plain nets' degradation"


def residual_judgement(c: Comparison, plain: Comparison | None = None, runs: Sequence[Run] = ()) -> str:
    """The residual nets' line: the deeper residual net trains worse ("too" where the plain nets' degradation
    is shown), better (the paper's Fig. 6), or neither is shown; not judged where one of the two does not
    train in most seeds."""
    d = c.diff
    if d is None:
        return "not comparable"
    if c.untrained:
        return NOT_TRAINED
    if c.one_fails:
        return f"not judged: {c.one_fails} {_untrained(runs, c.one_fails)}, a failure to train"
    if plain is not None and plain.one_fails:
        plain = None  # no degradation judged: no "too"
    if d.has_interval:
        if d.low > 0:
            return "the deeper residual net trains worse" + (" too" if plain is not None and plain.sign > 0 else "")
        if d.high < 0:
            return "the deeper residual net trains better, as in the paper"
        return "the interval includes 0, so the deeper residual net is not shown to be worse"
    if min(d.n_a, d.n_b) >= 2:
        return NO_SPREAD
    return ("the deeper residual net is worse in this single run" if d.diff > 0
            else "the deeper residual net is not worse in this single run")


def shortcut_verdicts(runs: Sequence[Run]) -> list[ShortcutVerdict]:
    """Per depth of the ablation (paper Table 3): does each option remove the degradation (plain − X on
    final training error, > 0 the paper's way), and how do the options differ (B − A, C − B on the final
    test error, or val without a test split)?"""
    split = eval_split(runs)
    usable = {r.model for r in runs if counted(runs, r.model, split).values}
    out = []
    for (family, depth), options in shortcut_sets(model_infos(runs)).items():
        present = [lab for lab in OPTION_LABELS if lab in options and options[lab] in usable]
        if not present:
            continue
        values = "; ".join(f"{lab} ({options[lab]}) {_mean_pm(runs, options[lab], split)}" for lab in present)
        trained = "; ".join(f"{lab} {_mean_pm(runs, options[lab], 'train')}" for lab in present
                            if counted(runs, options[lab], "train").values)
        comps, lines = [], []
        removed = []
        for lab in ("A", "B", "C"):
            if lab in present and "plain" in present:
                c = compare(runs, options["plain"], options[lab], "train")
                comps.append(c)
                removed.append(c.sign == 1)
                lines.append(f"- Training error, {c.text(f'plain − {lab}')}: "
                             f"{_judge(c, f'option {lab} trains better than plain', f'option {lab} trains worse than plain')}.")
        pairs = [("B", "A"), ("C", "B")] if "B" in present else [("C", "A")]
        for hi, lo in pairs:
            if hi in present and lo in present:
                c = compare(runs, options[hi], options[lo], split)
                comps.append(c)
                lines.append(f"- {split.capitalize()} error, {c.text(f'{hi} − {lo}')}: {_option_judgement(c, hi, lo)}.")
        if removed and all(removed):
            headline = f"all {len(removed)} options train better than plain (intervals exclude 0)"
        elif removed:
            headline = f"{sum(removed)} of {len(removed)} options shown to train better than plain"
        else:
            headline = "no plain net to compare with"
        paragraph = (f"**Shortcut options, depth {depth} ({FAMILY_NAMES.get(family, family)}): {headline}.** "
                     f"Final training error (%), which the lines against plain compare: {trained}. "
                     f"Final {split} error (%), which the lines between options compare: {values}.\n" + "\n".join(lines)
                     + ("\n" + paper.table3_text() if family == "imagenet" else ""))
        out.append(ShortcutVerdict(family, depth, comps, paragraph.strip()))
    return out


def _mean_pm(runs: Sequence[Run], model: str, split: str) -> str:
    seen = counted(runs, model, split)
    note = seen.note(split)
    return fmt_pm(*mean_std(list(seen.values.values()))[:2]) + (f" ({note[2:]})" if note else "")


def _option_judgement(c: Comparison, hi: str, lo: str) -> str:
    d = c.diff
    if d is None:
        return "not comparable"
    if c.untrained:
        return NOT_TRAINED
    if d.has_interval:
        if d.high < 0:
            return f"{hi} is better"
        if d.low > 0:
            return f"{hi} is worse"
        return "the interval includes 0: no difference shown"
    if min(d.n_a, d.n_b) >= 2:
        return NO_SPREAD
    return f"{hi} lower in this single seed" if d.diff < 0 else f"{hi} not lower in this single seed"


def make_verdict(runs: Sequence[Run], experiment: str = "", dataset: str = "") -> Verdict:
    """The whole verdict: one :class:`FamilyVerdict` per family present, plus the shortcut ablation
    when it applies (experiment ``shortcut-ablation`` or A/B/C variants on disk)."""
    fams = [family_verdict(runs, f, dataset) for f in families(runs)]
    shortcuts = shortcut_verdicts(runs) if has_ablation(model_infos(runs), experiment) else []
    return Verdict(fams, shortcuts)
