"""The verdict: is degradation reproduced, do the shortcuts remove it, and how do options A/B/C compare.

Every claim is a difference of means over seeds with a 95% Welch t-interval (:func:`reports.stats.
welch_interval`). A claim is made only when the interval excludes 0; with one seed in either group no
interval exists and the text says so, still giving the point difference.

Degradation is judged on the final TRAINING error (result.json ``final.train``: the mini-batch error
averaged over the last logging interval), because the paper's point is that the deeper plain net is
harder to optimise, not that it overfits. The shortcut ablation is judged on the final test error (val
when there is no test split), as in the paper's Table 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .groups import OPTION_LABELS, degradation_sets, eval_split, families, has_ablation, model_infos, shortcut_sets
from .runs import Run
from .stats import Difference, mean_std, welch_interval
from .summary import fmt_pm

FAMILY_NAMES = {"cifar": "CIFAR family", "imagenet": "ImageNet family"}
METHOD_NOTE = (
    "Intervals: 95% Welch t-intervals over seeds for a difference of means (Welch-Satterthwaite degrees "
    "of freedom; Student t quantile by bisection on its CDF via the regularized incomplete beta function). "
    "Only ok runs enter; one seed per model gives a point difference and no interval."
)


@dataclass
class Comparison:
    """``mean(a) - mean(b)`` of one split's final error over the ok seeds of two models."""

    a: str
    b: str
    split: str
    diff: Difference | None  # None when either model has no ok run with that error
    missing: list[str] = field(default_factory=list)  # models without a usable ok run

    @property
    def sign(self) -> int:
        return self.diff.sign if self.diff else 0

    def text(self, label: str | None = None) -> str:
        """``plain-56 − plain-20 = +21.90 points (95% CI +18.21 to +25.59; Welch df 3.4; n = 3, 3 seeds)``.

        ``label`` replaces the ``a − b`` part (e.g. ``B − A``)."""
        label = label or f"{self.a} − {self.b}"
        if self.diff is None:
            return f"{label}: cannot compare, no ok run of {', '.join(self.missing)}"
        d = self.diff
        head = f"{label} = {d.diff:+.2f} points"
        if d.has_interval:
            return (f"{head} (95% CI {d.low:+.2f} to {d.high:+.2f}; Welch df {d.df:.1f}; "
                    f"n = {d.n_a}, {d.n_b} seeds)")
        if d.n_a == 1 and d.n_b == 1:
            return f"{head} (one seed per model: no interval can be given)"
        few = [m for m, n in ((self.a, d.n_a), (self.b, d.n_b)) if n < 2]
        verb = "has" if len(few) == 1 else "have"
        return f"{head} ({' and '.join(few)} {verb} one ok seed: no interval can be given)"


def compare(runs: Sequence[Run], a: str, b: str, split: str) -> Comparison:
    """Welch comparison of the final ``split`` error of models ``a`` and ``b`` (ok runs only)."""
    va = [r.final(split) for r in runs if r.model == a and r.ok]
    vb = [r.final(split) for r in runs if r.model == b and r.ok]
    va = [v for v in va if v is not None]
    vb = [v for v in vb if v is not None]
    missing = [m for m, v in ((a, va), (b, vb)) if not v]
    if missing:
        return Comparison(a, b, split, None, missing)
    return Comparison(a, b, split, welch_interval(va, vb))


@dataclass
class FamilyVerdict:
    family: str
    headline: str  # "degradation reproduced" | "not reproduced ..." | "inconclusive ..." | ...
    reproduced: bool | None  # True/False when an interval decides, None otherwise
    plain: Comparison | None  # deepest vs shallowest plain net, final train error
    residual: Comparison | None  # deepest vs shallowest residual net
    residual_vs_plain: Comparison | None  # at the deepest depth that has both
    paragraph: str


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
    m, sd, n = mean_std([r.final(split) for r in runs if r.model == model and r.ok])
    return f"{model} {fmt_pm(m, sd)}" + (f" (n={n})" if n else " (no ok run)")


def family_verdict(runs: Sequence[Run], family: str, dataset: str = "") -> FamilyVerdict:
    """Degradation verdict for one family: deepest vs shallowest plain net on final training error,
    the same for the residual nets, and residual vs plain at the deepest depth."""
    infos = model_infos(runs)
    usable = {r.model for r in runs if r.ok and r.final("train") is not None}
    plain_all, res_all = degradation_sets(infos, family)
    plain = {d: m for d, m in plain_all.items() if m in usable}
    res = {d: m for d, m in res_all.items() if m in usable}
    name = FAMILY_NAMES.get(family, f"{family} family") + (f" ({dataset})" if dataset else "")

    plain_cmp = compare(runs, plain[max(plain)], plain[min(plain)], "train") if len(plain) >= 2 else None
    res_cmp = compare(runs, res[max(res)], res[min(res)], "train") if len(res) >= 2 else None
    common = sorted(set(plain) & set(res))
    rvp = compare(runs, res[common[-1]], plain[common[-1]], "train") if common else None

    sentences = []
    if plain_cmp is None:
        have = ", ".join(plain.values()) or "none"
        headline, reproduced = "degradation cannot be judged", None
        if len(plain) == 1:
            headline += f" (one plain depth: {have})"
        else:
            sentences.append(f"It needs ok runs of two plain depths; plain nets with an ok run: {have}.")
    else:
        d = plain_cmp.diff
        if d.has_interval:
            if d.low > 0:
                headline, reproduced = "degradation reproduced", True
                judgement = "the deeper plain net trains worse, and the interval excludes 0"
            elif d.high < 0:
                headline, reproduced = "degradation not reproduced", False
                judgement = "the deeper plain net trains better"
            else:
                headline, reproduced = "degradation inconclusive", None
                judgement = "the interval includes 0"
        else:
            reproduced = None
            if d.diff > 0:
                headline = "degradation suggested (single seed, no interval)"
                judgement = "the deeper plain net trains worse in this run, but one seed cannot establish it"
            else:
                headline = "degradation not seen (single seed, no interval)"
                judgement = "the deeper plain net does not train worse in this run"
        models = list(plain.values())
        sentences.append("Final training error (%): " + "; ".join(_values(runs, m, "train") for m in models) + ".")
        sentences.append(f"{plain_cmp.text()}: {judgement}.")

    if res_cmp is not None:
        sentences.append(f"With shortcuts, {res_cmp.text()}: {_residual_judgement(res_cmp)}.")
    elif res and plain_cmp is not None:
        sentences.append(f"Only one residual depth has ok runs ({', '.join(res.values())}), so the residual "
                         "nets cannot be compared across depth.")
    if rvp is not None:
        sentences.append(f"At depth {common[-1]}, {rvp.text()}: {_rvp_judgement(rvp)}.")
    paragraph = f"**{name}: {headline}.** " + " ".join(sentences)
    return FamilyVerdict(family, headline, reproduced, plain_cmp, res_cmp, rvp, paragraph)


def _residual_judgement(c: Comparison) -> str:
    d = c.diff
    if d is None:
        return "not comparable"
    if d.has_interval:
        if d.low > 0:
            return "the deeper residual net trains worse too; the shortcuts did not remove the degradation"
        if d.high < 0:
            return "the deeper residual net trains better, as in the paper"
        return "the interval includes 0, so the deeper residual net is not shown to be worse"
    return ("the deeper residual net is worse in this single run" if d.diff > 0
            else "the deeper residual net is not worse in this single run")


def _rvp_judgement(c: Comparison) -> str:
    d = c.diff
    if d is None:
        return "not comparable"
    if d.has_interval:
        if d.high < 0:
            return "the shortcuts lower the deep net's training error"
        if d.low > 0:
            return "the residual net trains worse than the plain one"
        return "the interval includes 0: no difference shown"
    return ("the residual net trains better in this single run" if d.diff < 0
            else "the residual net does not train better in this single run")


def shortcut_verdicts(runs: Sequence[Run]) -> list[ShortcutVerdict]:
    """Per depth of the ablation: A − plain, B − A, C − B on the final test (or val) error."""
    split = eval_split(runs)
    usable = {r.model for r in runs if r.ok and r.final(split) is not None}
    out = []
    for (family, depth), options in shortcut_sets(model_infos(runs)).items():
        present = [lab for lab in OPTION_LABELS if lab in options and options[lab] in usable]
        if not present:
            continue
        values = "; ".join(
            f"{lab} ({options[lab]}) "
            f"{fmt_pm(*mean_std([r.final(split) for r in runs if r.model == options[lab] and r.ok])[:2])}"
            for lab in present)
        comps, sentences = [], []
        for hi, lo in (("A", "plain"), ("B", "A"), ("C", "B")):
            if hi in present and lo in present:
                c = compare(runs, options[hi], options[lo], split)
                comps.append(c)
                sentences.append(f"{c.text(f'{hi} − {lo}')}: {_option_judgement(c, hi, lo)}.")
        if not comps and "C" in present and "A" in present:
            c = compare(runs, options["C"], options["A"], split)
            comps.append(c)
            sentences.append(f"{c.text('C − A')}: {_option_judgement(c, 'C', 'A')}.")
        paragraph = (f"**Shortcut options, depth {depth} ({FAMILY_NAMES.get(family, family)}), final {split} "
                     f"error (%):** {values}. " + " ".join(sentences)
                     + (" The paper (Table 3, ImageNet): A 25.03, B 24.52, C 24.19; all three far better than "
                        "plain, B and C only marginally better than A." if family == "imagenet" else ""))
        out.append(ShortcutVerdict(family, depth, comps, paragraph.strip()))
    return out


def _option_judgement(c: Comparison, hi: str, lo: str) -> str:
    d = c.diff
    if d is None:
        return "not comparable"
    if d.has_interval:
        if d.high < 0:
            return f"{hi} is better"
        if d.low > 0:
            return f"{hi} is worse"
        return "the interval includes 0: no difference shown"
    return f"{hi} lower in this single seed" if d.diff < 0 else f"{hi} not lower in this single seed"


def make_verdict(runs: Sequence[Run], experiment: str = "", dataset: str = "") -> Verdict:
    """The whole verdict: one :class:`FamilyVerdict` per family present, plus the shortcut ablation
    when it applies (experiment ``shortcut-ablation`` or A/B/C variants on disk)."""
    fams = [family_verdict(runs, f, dataset) for f in families(runs)]
    shortcuts = shortcut_verdicts(runs) if has_ablation(model_infos(runs), experiment) else []
    return Verdict(fams, shortcuts)
