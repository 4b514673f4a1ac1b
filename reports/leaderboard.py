"""The methods benchmark's leaderboard (``make methods``, issue 21): per method against degradation, its
final errors at a shallow and a deep depth, its depth gap with a 95% interval and the verdict's words, and
its effect against the plain net with the same normalisation.

A *method* is a name without its depth: ``fixup-56`` and ``fixup-20`` are the method ``fixup``;
``plain-56-nobn`` is ``plain-nobn``; ``resnet-34-b`` is ``resnet-b`` (:func:`method_key`). Per method
(and family), the shallow and deep nets are its smallest and largest depths on disk (20 and 56 in
``make methods``). Every number is a final error in % (result.json ``final``; training error as the
verdict defines it, :mod:`reports.verdict`), and every interval is the verdict's: a 95% Welch
t-interval of a difference of means over seeds (:func:`reports.verdict.compare`,
:func:`reports.stats.difference`), with the number of common seeds in which the difference is > 0.

* The **depth gap** is deep − shallow final training error, the paper's degradation (He et al. 2015,
  section 4.1, Fig. 4 and 6) asked of every method. Its verdict, in the degradation verdict's words:
  "degrades" (the interval lies above 0), "does not degrade" (below 0: the deeper net trains better),
  "inconclusive" (the interval includes 0, or one seed gives no interval).
* The **effect** is plain − method final training error at the method's deep depth (> 0: the method
  trains better than the plain net), the verdict's "shortcuts' effect" asked of every method. The plain
  net has the method's normalisation: BN-free methods (norm "none": Fixup, SkipInit, the ``-nobn`` nets)
  against ``plain-<depth>-nobn``, the others against ``plain-<depth>`` (a plugin by what its runs record it
  declares, ``declared_axes``: ``plain-<depth>-nobn`` for ``"norm": "none"``, else ``plain-<depth>``).

:func:`leaderboard_table` is the tidy table (``leaderboard.csv``), :func:`leaderboard_markdown` its two
text tables (``leaderboard.md`` and report.pdf's first page for the ``methods`` experiment, see
:mod:`reports.frontpage`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from models.names import FAMILIES, METHODS, ModelName

from .groups import eval_split, method_key, model_infos
from .runs import Run
from .stats import mean_std
from .summary import markdown_table
from .verdict import Comparison, compare, finals

METHODS_EXPERIMENT = "methods"  # reports.build puts the leaderboard on report.pdf's first page for it
COLUMNS = [
    "family", "method", "kind", "norm", "reference", "shallow_depth", "deep_depth", "shallow_model", "deep_model",
    "seeds_expected",
    "train_shallow_mean", "train_shallow_std", "train_shallow_n", "train_deep_mean", "train_deep_std",
    "train_deep_n",
    "eval_split", "test_shallow_mean", "test_shallow_std", "test_shallow_n", "test_deep_mean", "test_deep_std",
    "test_deep_n",
    "gap", "gap_low", "gap_high", "gap_df", "gap_above", "gap_seeds", "verdict", "chance",
    "baseline", "effect", "effect_low", "effect_high", "effect_df", "effect_above", "effect_seeds",
    "effect_verdict",
]


def is_reference(info: ModelName) -> bool:
    """The paper's plain and residual nets (BN, the paper's shortcut): the leaderboard's reference rows."""
    return info.paper_net and not info.explicit_option


def is_new_method(info: ModelName) -> bool:
    """Anything but the paper's plain and residual nets with BN (a method, a ``-nobn`` net, a plugin)."""
    return not info.paper_net


def baseline_name(info: ModelName, depth: int) -> str:
    """The plain net ``info``'s method is measured against at ``depth``: the same normalisation
    (``plain-<depth>-nobn`` for norm "none", else ``plain-<depth>``)."""
    return f"plain-{depth}-nobn" if info.norm == "none" else f"plain-{depth}"


GAP_WORDS = {1: "degrades", -1: "does not degrade", 0: "inconclusive"}
EFFECT_WORDS = {1: "trains better than plain", -1: "trains worse than plain", 0: "no difference shown"}


def gap_verdict(c: Comparison, words: dict[int, str] = GAP_WORDS) -> str:
    """The degradation verdict's words for one depth gap (deep − shallow final training error), by the sign
    of its interval (:attr:`reports.stats.Difference.sign`); ``words`` replaces them (:data:`EFFECT_WORDS`)."""
    d = c.diff
    if d is None:
        return f"cannot be judged (no ok run of {', '.join(c.missing)})"
    if not d.has_interval:
        return "inconclusive (one seed, no interval)"
    return words[d.sign]


CHANCE_MARGIN = 5.0  # points: a net whose final training error is this close to chance has not trained


def chance_error(runs: Sequence[Run], models: set[str]) -> float | None:
    """The final training error (%) of guessing, 100 (1 − 1/classes), from the classes an ok run of one of
    ``models`` recorded in its config.yaml; None where none recorded them."""
    for run in runs:
        classes = run.config.get("classes") if run.ok and run.model in models else None
        if isinstance(classes, list) and len(classes) > 1:
            return 100.0 * (1 - 1 / len(classes))
    return None


def neither_trains(row: dict) -> bool:
    """Both depths' mean final training error within CHANCE_MARGIN points of chance: the depth gap compares
    two nets that did not train, whatever its interval says."""
    chance, means = row.get("chance"), (row.get("train_shallow_mean"), row.get("train_deep_mean"))
    return chance is not None and all(m is not None and not pd.isna(m) and m >= chance - CHANCE_MARGIN for m in means)


def effect_verdict(c: Comparison) -> str:
    """Words for plain − method at the deep depth (> 0: the method trains better than the plain net)."""
    return gap_verdict(c, EFFECT_WORDS)


def methods_present(runs: Sequence[Run]) -> bool:
    """Whether ``runs`` hold a net beyond the paper's plain and residual ones (a leaderboard has rows)."""
    return any(is_new_method(i) for i in model_infos(runs))


def _stats(runs: Sequence[Run], model: str, split: str) -> tuple[float, float, int]:
    return mean_std(list(finals(runs, model, split).values()))


def _diff_columns(prefix: str, c: Comparison | None) -> dict:
    d = c.diff if c else None
    if d is None:
        return {prefix: None, f"{prefix}_low": None, f"{prefix}_high": None, f"{prefix}_df": None,
                f"{prefix}_above": None, f"{prefix}_seeds": None}
    return {prefix: d.diff, f"{prefix}_low": d.low, f"{prefix}_high": d.high, f"{prefix}_df": d.df,
            f"{prefix}_above": d.above, f"{prefix}_seeds": d.common}


def method_order(info: ModelName) -> tuple:
    """Reference rows first (plain, resnet), then built-in methods in METHODS' order, plugins last; BN first."""
    return (FAMILIES.index(info.family), not is_reference(info),
            list(METHODS).index(info.kind) if info.kind in METHODS else len(METHODS), info.kind,
            info.norm == "none", info.explicit_option, info.name.split("-")[2:])


def leaderboard_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (family, method) with at least two depths on disk; columns :data:`COLUMNS`.

    Errors in %: ``train_*``/``test_*`` mean, std (ddof=1) and n over the ok seeds of the shallow and the
    deep net (``test_*`` holds val errors where no run has a test error: ``eval_split`` says which);
    ``seeds_expected``: the seeds each net was expected with. ``gap*``: deep − shallow final training error
    (points) with its 95% Welch interval, df, and ``gap_above`` of ``gap_seeds`` common seeds > 0;
    ``verdict``: :func:`gap_verdict`, with "neither depth trains" added where both nets' final training
    error lies within CHANCE_MARGIN points of ``chance`` (:func:`chance_error`, % ; None where the runs
    recorded no classes). ``effect*``: ``baseline`` − deep net (points; None for the baseline
    itself or when the baseline is not on disk); ``effect_verdict``: :func:`effect_verdict`.
    """
    infos = model_infos(runs)
    split = eval_split(runs)
    names = {i.name for i in infos}
    expected = {}
    for r in runs:
        expected.setdefault(r.model, set()).add(r.seed)
    groups: dict[tuple[str, str], dict[int, ModelName]] = {}
    for info in infos:
        groups.setdefault((info.family, method_key(info)), {})[info.depth] = info
    rows = []
    for (family, method), nets in sorted(groups.items(), key=lambda kv: method_order(next(iter(kv[1].values())))):
        if len(nets) < 2:
            continue
        shallow, deep = nets[min(nets)], nets[max(nets)]
        gap = compare(runs, deep.name, shallow.name, "train")
        base = baseline_name(deep, deep.depth)
        effect = compare(runs, base, deep.name, "train") if base in names and base != deep.name else None
        row = {"family": family, "method": method, "kind": deep.kind, "norm": deep.norm or "unknown",
               "reference": is_reference(deep), "shallow_depth": shallow.depth, "deep_depth": deep.depth,
               "shallow_model": shallow.name, "deep_model": deep.name,
               "seeds_expected": max(len(expected.get(shallow.name, ())), len(expected.get(deep.name, ()))),
               "eval_split": split}
        for which, info in (("shallow", shallow), ("deep", deep)):
            for prefix, sp in (("train", "train"), ("test", split)):
                m, sd, n = _stats(runs, info.name, sp)
                row.update({f"{prefix}_{which}_mean": m, f"{prefix}_{which}_std": sd, f"{prefix}_{which}_n": n})
        row.update(_diff_columns("gap", gap), verdict=gap_verdict(gap),
                   chance=chance_error(runs, {shallow.name, deep.name}))
        if neither_trains(row):
            row["verdict"] += f"; neither depth trains (chance {row['chance']:.0f}%)"
        row.update(_diff_columns("effect", effect), baseline=base if base in names else None,
                   effect_verdict=(effect_verdict(effect) if effect else
                                   "baseline" if base == deep.name else f"no {base} to compare with"))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


# --- text -----------------------------------------------------------------------------------------


def _pm(mean, std, n, expected) -> str:
    if not n:
        return "no ok run"
    text = f"{mean:.2f}" if n < 2 else f"{mean:.2f} ± {std:.2f}"
    return text if n == expected else f"{text} (n={n})"


def _ci(value, low, high) -> str:
    if value is None or pd.isna(value):
        return "–"
    if low is None or pd.isna(low):
        return f"{value:+.1f} (no interval)"
    return f"{value:+.1f} [{low:+.1f}, {high:+.1f}]"


def _count(above, seeds) -> str:
    return "–" if seeds is None or pd.isna(seeds) else f"{int(above)}/{int(seeds)}"


def depth_labels(table: pd.DataFrame) -> tuple[str, str]:
    """The leaderboard's (shallow, deep) labels: the depths when every row has the same two, else
    "shallow"/"deep"."""
    pairs = set(zip(table["shallow_depth"], table["deep_depth"]))
    return tuple(map(str, pairs.pop())) if len(pairs) == 1 else ("shallow", "deep")


def leaderboard_markdown(table: pd.DataFrame) -> str:
    """The leaderboard as two pipe tables (final errors; gap, verdict and effect) with their legends."""
    if table.empty:
        return "No method has ok runs at two depths."
    lo, hi = depth_labels(table)
    split = table["eval_split"].iloc[0]
    label = {True: " (ref.)", False: ""}
    same = lo != "shallow"
    errors = [[f"{r.method}{label[bool(r.reference)]}" + ("" if same else f" ({r.shallow_depth}/{r.deep_depth})"),
               _pm(r.train_shallow_mean, r.train_shallow_std, r.train_shallow_n, r.seeds_expected),
               _pm(r.train_deep_mean, r.train_deep_std, r.train_deep_n, r.seeds_expected),
               _pm(r.test_shallow_mean, r.test_shallow_std, r.test_shallow_n, r.seeds_expected),
               _pm(r.test_deep_mean, r.test_deep_std, r.test_deep_n, r.seeds_expected)]
              for r in table.itertuples()]
    header, gaps = gap_rows(table)
    expected = int(table["seeds_expected"].max())
    return "\n".join([
        f"Final error (%), mean ± std over ok seeds (n = {expected} unless given; ref.: the paper's nets).",
        "",
        markdown_table(["method", f"train {lo}", f"train {hi}", f"{split} {lo}", f"{split} {hi}"], errors),
        "",
        f"Depth gap: final training error {hi} − {lo} layers (points, 95% Welch CI; > 0: seeds where the "
        f"deeper net trains worse). vs plain: plain − method at {hi} layers, the plain net with the method's "
        "normalisation (> 0: the method trains better). \"neither depth trains\": both nets' final training "
        f"error within {CHANCE_MARGIN:.0f} points of chance, whatever the gap's interval says.",
        "",
        markdown_table(header, gaps),
    ])


def gap_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The leaderboard's second table, (header, rows): per method its depth gap with the 95% interval, the
    seeds in which it is positive, the verdict, its plain net and plain − method; for report.pdf's
    leaderboard.md and for the lines ``python -m reports.build`` prints."""
    lo, hi = depth_labels(table)
    label = {True: " (ref.)", False: ""}
    rows = [[f"{r.method}{label[bool(r.reference)]}", _ci(r.gap, r.gap_low, r.gap_high),
             _count(r.gap_above, r.gap_seeds), r.verdict, r.baseline if isinstance(r.baseline, str) else "–",
             _ci(r.effect, r.effect_low, r.effect_high) if r.effect is not None and pd.notna(r.effect)
             else r.effect_verdict]
            for r in table.itertuples()]
    return ["method", f"gap {hi} − {lo}", "> 0", "verdict", "plain net", "plain − method"], rows
