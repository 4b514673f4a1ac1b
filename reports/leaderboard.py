"""The methods benchmark's leaderboard (``make methods``): per method against degradation, its final
errors at the shallow and the deep depth the matrix names, its depth gap, and its comparisons with two
baselines, each with the words of :mod:`reports.verdicts` (where every rule and test is written, once).

A *method* is a name without its depth: ``fixup-56`` and ``fixup-20`` are the method ``fixup``;
``plain-56-nobn`` is ``plain-nobn``; ``resnet-34-b`` is ``resnet-b`` (:func:`method_key`). The board is a
pure function of a table of runs (:class:`reports.runs.Run`, any status) and the models asked for
(:func:`leaderboard_table`), so that it can be drawn once per board (``board``: "one-recipe", every net
at one learning rate; "tuned", each at the rate a tuning protocol chose). Per method (and family), the
shallow and deep nets are the smallest and largest depths among the models asked for (the experiment's
list, or ``MODELS``), never whatever else lies on disk; a method named at one depth gets a row that says
so, and a net named without a finished run reads "not trained".

* The **depth gap** is deep − shallow final training error (points), the paper's degradation (He et al.
  2015, section 4.1, Fig. 4 and 6) asked of every method: :func:`reports.verdicts.gap_verdict`.
* **vs plain** is plain − method at the deep depth (> 0: the method trains better), the plain net with the
  method's normalisation (BN-free methods, norm "none", against ``plain-<depth>-nobn``; the others against
  ``plain-<depth>``; a plugin by what its runs record it declares, ``declared_axes``: ``plain-<depth>-nobn``
  for ``"norm": "none"``, else ``plain-<depth>``); **vs resnet** is
  ``resnet-<depth>`` − method, the paper's answer, which trains: :func:`reports.verdicts.effect_verdict`.

:func:`leaderboard_table` is the tidy table (``leaderboard.csv``), :func:`leaderboard_markdown` its text
tables in full (``leaderboard.md``, and report.pdf after the forest plot), :func:`page_one_markdown` both boards
on report.pdf's first page (:mod:`reports.frontpage`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from models.names import FAMILIES, METHODS, ModelName

from .groups import eval_split, method_key, model_infos
from .runs import Run, plugin_versions, read_name
from .stats import PAIRING, mean_std
from .summary import markdown_table
from .verdict import FAMILY_NAMES, finals
from .verdicts import (ALPHA, CHANCE_MARGIN, EFFECT_WORDS, EQUIVALENCE_MARGIN, GAP_WORDS, Cell, Test, adjust,
                       at_chance, cell, chance_error, compare_cells, effect_verdict, gap_verdict, interval_text, p_text,
                       seeds_needed, MAX_SEEDS, POWER)

METHODS_EXPERIMENT = "methods"  # reports.build puts the leaderboard on report.pdf's first page for it
BOARDS = ("one-recipe", "tuned")  # the boards a leaderboard.csv may hold (its ``board`` column)
TEST_FIELDS = ["", "_low", "_high", "_df", "_paired", "_r", "_p", "_p_holm", "_p_equiv", "_p_equiv_holm",
               "_rank_p", "_welch_low", "_welch_high", "_above", "_seeds"]
COLUMNS = [
    "board", "family", "method", "label", "kind", "norm", "reference", "shallow_depth", "deep_depth",
    "shallow_model", "deep_model", "seeds_expected", "iterations", "lr_shallow", "lr_deep", "params_shallow", "params_deep",
    "multiply_adds_shallow", "multiply_adds_deep", "chance",
    "train_shallow_mean", "train_shallow_std", "train_shallow_n", "train_deep_mean", "train_deep_std",
    "train_deep_n", "shallow_diverged", "shallow_at_chance", "shallow_flags", "deep_diverged", "deep_at_chance",
    "deep_flags", "unstable_shallow", "unstable_deep",
    "eval_split", "test_shallow_mean", "test_shallow_std", "test_shallow_n", "test_deep_mean", "test_deep_std",
    "test_deep_n",
    *(f"gap{f}" for f in TEST_FIELDS), "verdict", "seeds_needed",
    "plain", *(f"vs_plain{f}" for f in TEST_FIELDS), "vs_plain_verdict",
    "resnet", *(f"vs_resnet{f}" for f in TEST_FIELDS), "vs_resnet_verdict",
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


def methods_present(runs: Sequence[Run]) -> bool:
    """Whether ``runs`` hold a net beyond the paper's plain and residual ones (a leaderboard has rows)."""
    return any(is_new_method(i) for i in model_infos(runs))


def method_order(info: ModelName) -> tuple:
    """Reference rows first (plain, resnet), then built-in methods in METHODS' order, plugins last; BN first."""
    return (FAMILIES.index(info.family), not is_reference(info),
            list(METHODS).index(info.kind) if info.kind in METHODS else len(METHODS), info.kind,
            info.norm == "none", info.explicit_option, info.name.split("-")[2:])


def _test_columns(prefix: str, t: Test | None) -> dict:
    if t is None:
        return {f"{prefix}{f}": None for f in TEST_FIELDS}
    return {prefix: t.diff, f"{prefix}_low": t.low, f"{prefix}_high": t.high, f"{prefix}_df": t.df,
            f"{prefix}_paired": t.paired, f"{prefix}_r": t.r, f"{prefix}_p": t.p, f"{prefix}_p_holm": t.p_holm,
            f"{prefix}_p_equiv": t.p_equiv, f"{prefix}_p_equiv_holm": t.p_equiv_holm, f"{prefix}_rank_p": t.rank_p,
            f"{prefix}_welch_low": t.welch_low, f"{prefix}_welch_high": t.welch_high, f"{prefix}_above": t.above,
            f"{prefix}_seeds": t.common}


def _first(runs: Sequence[Run], model: str, value) -> object:
    """The first non-None ``value(run)`` over ``model``'s runs that finished."""
    return next((v for r in runs if r.model == model and r.status != "missing" and (v := value(r)) is not None),
                None)


def _budget(runs: Sequence[Run]) -> int | None:
    """The iterations the board's nets train for (config.yaml ``max_steps``, the largest recorded): the budget
    every verdict of the board is judged at."""
    steps = [v for r in runs if isinstance(v := r.setting("max_steps"), int) and not isinstance(v, bool)]
    return max(steps) if steps else None


def _named(runs: Sequence[Run], models: Sequence[str] | None) -> list[ModelName]:
    """The models the board compares: ``models`` (read as their runs read them: result.json may give the
    family), else those of ``runs``."""
    if not models:
        return model_infos(runs)
    seen = {r.model: r.info for r in runs}
    return [seen.get(m) or read_name(m) for m in dict.fromkeys(models)]  # a plugin's too, installed or not


def unstable_text(model: str, lr, tuning_error: float, cell: Cell) -> str:
    """``"skipinit-20 at lr 0.4: 12.3% on the tuning seed, 3/3 diverged"``: why a net's tuned rate is unstable."""
    return f"{model} at lr {_rate(lr)}: {tuning_error:.1f}% on the tuning seed, {cell.flags()}"


def leaderboard_table(runs: Sequence[Run], models: Sequence[str] | None = None, board: str = "one-recipe",
                      tuning_errors: Mapping[str, float | None] | None = None,
                      untuned: Mapping[str, str] | None = None, diverged_grid: set[str] | None = None,
                      code_runs: Sequence[Run] = (),
                      not_comparable: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per (family, method) among ``models`` (default: the models of ``runs``); columns
    :data:`COLUMNS`. ``runs``: every expected run of the board, any status; ``board``: one of
    :data:`BOARDS`. Raises ValueError for another ``board``.

    Errors in %: ``train_*`` mean, std (ddof=1) and n over the counted seeds (:class:`reports.verdicts.Cell`:
    diverged seeds at ``chance``), ``*_diverged``/``*_at_chance``/``*_flags`` the seeds that did not train;
    ``test_*`` over the ok seeds (val errors where no run has a test error: ``eval_split``). ``lr_*`` the
    learning rate each net ran at (config.yaml), ``params_*``/``multiply_adds_*`` its cost (result.json).
    ``gap*``: deep − shallow (:func:`reports.verdicts.compare_cells`: the difference, its 95% interval, df,
    whether paired, r, p, Holm-adjusted p over the board's gaps, TOST p and its Holm adjustment, the rank
    test's p, the Welch interval, the seeds where deep > shallow of those both have); ``verdict`` and, for an
    undecided gap, ``seeds_needed``. ``vs_plain*``/``vs_resnet*``: the baseline − the deep net, the same
    fields, with ``plain``/``resnet`` the baseline's name and ``*_verdict`` the words.

    ``tuning_errors`` (the tuned board): each net's tuning-seed final training error (%) at its chosen rate,
    None where that run did not train. A net whose tuning run trained (below chance by more than
    CHANCE_MARGIN) but some reported seed at the same rate diverged or ended at chance is unstable at its
    tuned rate (``unstable_*``, the reason): one tuning seed chose a rate at the edge of stability, so no
    verdict that involves the net is given (:data:`GAP_WORDS` and :data:`EFFECT_WORDS` "unstable"), whatever
    its interval says. ``untuned`` (the tuned board): each net whose rate is not chosen yet, with why
    (:func:`reports.tuning.untuned`); a verdict that would read "not trained" for it says "not tuned yet" and
    why instead. ``diverged_grid``: the nets whose every tuning run diverged; a tuned row that does not train
    says so rather than blaming the budget. ``code_runs``: more runs whose plugin code counts (the tuning runs
    behind a rate): a plugin net trained by more than one version of its code, among ``runs`` and these, gets
    no verdict ("not judged: seeds trained by different plugin code"). ``not_comparable`` (the tuned board):
    the nets a tuning run behind whose rate was trained on other data or settings than the report's runs, with
    which (:func:`reports.runs.not_comparable`); no verdict involving them is given.
    """
    if board not in BOARDS:
        raise ValueError(f"bad board {board!r}: expected one of {', '.join(BOARDS)}")
    infos = _named(runs, models)
    chance = chance_error(runs)
    split = eval_split(runs)
    cells: dict[str, Cell] = {}

    def get(name: str) -> Cell:
        if name not in cells:
            cells[name] = cell(runs, name, chance)
        return cells[name]

    groups: dict[tuple[str, str], dict[int, ModelName]] = {}
    for info in infos:
        groups.setdefault((info.family, method_key(info)), {})[info.depth] = info
    two_families = len({f for f, _ in groups}) > 1
    # The board's two depths, per family: a method named at one depth fills the columns of that depth only,
    # and neither where it is neither (highway-32 on a 20/56 board).
    ends = {f: (min(i.depth for i in infos if i.family == f), max(i.depth for i in infos if i.family == f))
            for f, _ in groups}
    held: list[tuple[str, ...]] = []  # per row, the sides that hold a net
    rows, tests = [], {"gap": [], "vs_plain": [], "vs_resnet": []}
    for (family, method), nets in sorted(groups.items(), key=lambda kv: method_order(next(iter(kv[1].values())))):
        shallow, deep = nets[min(nets)], nets[max(nets)]
        lo, hi = get(shallow.name), get(deep.name)
        plain, resnet = baseline_name(deep, deep.depth), f"resnet-{deep.depth}"
        gap = compare_cells(hi, lo) if shallow is not deep else None
        versus = {}
        low_end, high_end = ends[family]
        sides = (("shallow", "deep") if shallow is not deep else ("deep",) if deep.depth == high_end else
                 ("shallow",) if deep.depth == low_end else ())
        # The baselines are measured at the board's deep depth: a one-depth net elsewhere meets none.
        compared = "deep" in sides
        if not compared:
            plain = resnet = ""
        for key, base in (("vs_plain", plain), ("vs_resnet", resnet)):
            other = get(base) if base else None
            versus[key] = (compare_cells(other, hi) if compared and base != deep.name and other.trained else None)
        label = method + (" (ref.)" if is_reference(deep) else "")
        row = {"board": board, "family": family, "method": method,
               "label": f"{FAMILY_NAMES.get(family, family).split()[0]}: {label}" if two_families else label,
               "kind": deep.kind, "norm": deep.norm or "unknown", "reference": is_reference(deep),
               "shallow_depth": shallow.depth, "deep_depth": deep.depth, "shallow_model": shallow.name,
               "deep_model": deep.name, "seeds_expected": max(lo.expected, hi.expected), "chance": chance,
               "eval_split": split, "plain": plain, "resnet": resnet, "iterations": _budget(runs)}
        held.append(sides)
        for which, info, c in (("shallow", shallow, lo), ("deep", deep, hi)):
            if which not in sides:  # the side a one-depth net does not hold
                row.update({f"train_{which}_mean": math.nan, f"train_{which}_std": math.nan, f"train_{which}_n": 0,
                            f"{which}_diverged": 0, f"{which}_at_chance": 0, f"{which}_flags": "",
                            f"test_{which}_mean": math.nan, f"test_{which}_std": math.nan, f"test_{which}_n": 0,
                            f"lr_{which}": None, f"params_{which}": None, f"multiply_adds_{which}": None,
                            f"unstable_{which}": ""})
                continue
            mean, sd = c.mean_std()
            lr = _first(runs, info.name, lambda r: r.setting("lr"))
            tm, tsd, tn = mean_std(list(finals(runs, info.name, split).values()))
            row.update({f"train_{which}_mean": mean, f"train_{which}_std": sd, f"train_{which}_n": c.n,
                        f"{which}_diverged": c.diverged, f"{which}_at_chance": c.at_chance,
                        f"{which}_flags": c.flags(), f"test_{which}_mean": tm, f"test_{which}_std": tsd,
                        f"test_{which}_n": tn,
                        f"lr_{which}": lr,
                        f"params_{which}": _first(runs, info.name, lambda r: r.number("params")),
                        f"multiply_adds_{which}": _first(runs, info.name, lambda r: r.number("multiply_adds")),
                        f"unstable_{which}": _unstable(info.name, lr, c, tuning_errors, chance)})
        rows.append(row)
        tests["gap"].append(gap)
        for key in ("vs_plain", "vs_resnet"):
            tests[key].append(versus[key])
    adjusted = {key: adjust(family_tests) for key, family_tests in tests.items()}
    unstable = {r[f"{w}_model"] for r in rows for w in ("shallow", "deep") if r[f"unstable_{w}"]}
    mixed = {m: codes for m, codes in plugin_versions([*runs, *code_runs]).items() if len(codes) > 1}
    other = not_comparable or {}
    chosen_elsewhere = {m for m in other if m not in (untuned or {})}  # a net not tuned yet says that instead
    for row, sides in zip(rows, held):  # the flags say it too, per depth
        for w in sides:
            texts = ([f"{len(mixed[row[f'{w}_model']])} plugin versions"] if row[f"{w}_model"] in mixed else []) + \
                ([f"tuned on {_what(other[row[f'{w}_model']])}"] if row[f"{w}_model"] in other else [])
            for text in texts:
                row[f"{w}_flags"] = f"{row[f'{w}_flags']}, {text}" if row[f"{w}_flags"] else text
    for i, row in enumerate(rows):
        lo, hi = cells[row["shallow_model"]], cells[row["deep_model"]]
        gap = adjusted["gap"][i]
        row.update(_test_columns("gap", gap))
        if row["shallow_model"] == row["deep_model"]:
            row["verdict"] = GAP_WORDS["one_depth"].format(name=row["deep_model"])
        else:
            row["verdict"] = gap_verdict(lo, hi, gap)
        nets, two = (row["shallow_model"], row["deep_model"]), row["shallow_model"] != row["deep_model"]
        if board == "tuned" and row["verdict"] == GAP_WORDS["no_train"]:  # the best rate of the grid did not do
            high = _among(nets, diverged_grid or ())
            row["verdict"] = (GAP_WORDS["grid_diverged"].format(names=", ".join(high)) if high else
                              GAP_WORDS["too_short"].format(iterations=row["iterations"] or "its"))
        if (shaky := _among(nets, unstable)) and lo.trained and hi.trained and two:
            row["verdict"] = GAP_WORDS["unstable"].format(names=", ".join(shaky))  # why: unstable_* (csv)
        waiting = _among(nets, untuned or {})
        if waiting and two and not (lo.trained and hi.trained):  # what gap_verdict calls "not trained"
            row["verdict"] = GAP_WORDS["not_tuned"].format(why="; ".join(untuned[m] for m in waiting))
        if elsewhere := _among(nets, chosen_elsewhere):  # its rate was chosen on other files or settings
            row["verdict"] = GAP_WORDS["other_runs"].format(why=_why(other, elsewhere))
        if pooled := _among(nets, mixed):  # its mean and interval pool different nets (reports.runs flags them)
            row["verdict"] = GAP_WORDS["mixed"].format(names=", ".join(pooled))
        row["seeds_needed"] = seeds_needed(gap) if row["verdict"] == GAP_WORDS["open"] else None
        for key in ("vs_plain", "vs_resnet"):
            base = row[key[3:]]
            test = adjusted[key][i]
            row.update(_test_columns(key, test))
            if not base:  # a one-depth net off the board's deep depth
                row[f"{key}_verdict"] = EFFECT_WORDS["off_depth"].format(name=row["deep_model"])
                continue
            row[f"{key}_verdict"] = effect_verdict(cells.get(base), hi, test, base)
            if base == row["deep_model"]:  # the baseline itself
                continue
            pair = (base, row["deep_model"])
            absent = row[f"{key}_verdict"] == EFFECT_WORDS["absent"].format(base=base)
            if (shaky := _among(pair, unstable)) and not absent:  # each trained: a seed failed there
                row[f"{key}_verdict"] = EFFECT_WORDS["unstable"].format(names=", ".join(shaky))
            if (elsewhere := _among(pair, chosen_elsewhere)) and not absent:
                row[f"{key}_verdict"] = EFFECT_WORDS["other_runs"].format(why=_why(other, elsewhere))
            if (pooled := _among(pair, mixed)) and not absent:
                row[f"{key}_verdict"] = EFFECT_WORDS["mixed"].format(names=", ".join(pooled))
            if waiting := _among(pair, untuned or {}):
                row[f"{key}_verdict"] = EFFECT_WORDS["not_tuned"].format(why="; ".join(untuned[m] for m in waiting))
    return pd.DataFrame(rows, columns=COLUMNS)


def _what(reasons: Sequence[str]) -> str:
    """What a net's tuning runs were trained on that the report's runs were not: "other data", "other
    settings", or "other data and settings" (its :func:`reports.runs.not_comparable` reasons)."""
    return " and ".join(w.removeprefix("other ") if i else w
                        for i, w in enumerate(w for w in ("other data", "other settings") if w in reasons))


def _why(reasons: Mapping[str, Sequence[str]], models: Sequence[str]) -> str:
    """Each of ``models``' own reason: "fixup-56's rate rests on a tuning run trained on other data"; "; "
    between nets."""
    return "; ".join(f"{m}'s rate rests on a tuning run trained on {_what(reasons[m])}" for m in models)


def _among(models: Sequence[str], names) -> list[str]:
    """Those of ``models`` (each once, in order) that ``names`` holds."""
    return [m for m in dict.fromkeys(models) if m in names]


def _unstable(model: str, lr, c: Cell, tuning_errors: Mapping[str, float | None] | None,
              chance: float | None) -> str:
    """Why ``model``'s tuned rate is unstable (:func:`unstable_text`), "" where it is not or cannot be told:
    its tuning run at the rate trained, and a reported seed at the rate diverged or ended at chance."""
    error = (tuning_errors or {}).get(model)
    if error is None or chance is None or not math.isfinite(error) or at_chance(error, chance):
        return ""
    return unstable_text(model, lr, error, c) if c.failed_to_train > 0 else ""


def gap_counts(table: pd.DataFrame) -> str:
    """How many depth gaps each board's Holm family holds, in words: ``"9"``, or ``"9 (one recipe), 6
    (tuned)"`` where the boards differ (a net not tuned yet has no test on the tuned board; an unstable one
    keeps its test there, and only its words are withheld)."""
    counts = {name: family_sizes(part)["gap"] for name, part in table.groupby("board", sort=False)}
    if len(set(counts.values())) <= 1:
        return str(next(iter(counts.values()), 0))
    return ", ".join(f"{n} ({name.replace('-', ' ')})" for name, n in counts.items())


def family_sizes(table: pd.DataFrame) -> dict[str, int]:
    """The number of tests with an interval in each of the board's Holm families (gap, vs_plain, vs_resnet)."""
    return {key: int(table[f"{key}_p"].notna().sum()) for key in ("gap", "vs_plain", "vs_resnet")}


# --- text -----------------------------------------------------------------------------------------


def _pm(mean, std, n, expected, none: str = "no counted seed") -> str:
    if not n or pd.isna(mean):
        return none
    text = f"{mean:.2f}" if n < 2 or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"
    return text if n == expected else f"{text} (n={int(n)})"


def _rate(lr) -> str:
    return "–" if lr is None or pd.isna(lr) else f"{lr:g}"


def _count(above, seeds) -> str:
    return "–" if seeds is None or pd.isna(seeds) else f"{int(above)}/{int(seeds)}"


def _test(r, prefix: str) -> Test | None:
    """The columns of one comparison of a leaderboard row back as a :class:`reports.verdicts.Test` (the
    printing needs diff, interval, pairing and r)."""
    diff = getattr(r, prefix)
    if diff is None or pd.isna(diff):
        return None
    value = lambda f: None if pd.isna(getattr(r, f"{prefix}{f}")) else getattr(r, f"{prefix}{f}")  # noqa: E731
    return Test("", "", float(diff), value("_low"), value("_high"), value("_df"), bool(value("_paired")), 0, 0,
                int(value("_seeds") or 0), int(value("_above") or 0), value("_p"), value("_p_equiv"),
                value("_rank_p"), "", value("_r"), None, value("_welch_low"), value("_welch_high"),
                p_holm=value("_p_holm"), p_equiv_holm=value("_p_equiv_holm"))


def _how(t: Test | None) -> str:
    if t is None or not t.has_interval:
        return "–"
    return (f"paired, r {t.r:+.2f}" if t.r is not None else "paired") if t.paired else "Welch"


def seed_flags(r) -> str:
    """A leaderboard row's seeds that did not train or finish, per depth (``"56: 2/3 diverged"``); "" for none."""
    parts = [f"{d}: {f}" for d, f in ((r.shallow_depth, r.shallow_flags), (r.deep_depth, r.deep_flags))
             if isinstance(f, str) and f]
    return "; ".join(parts)


def _holds(r, which: str) -> bool:
    """Whether a leaderboard row's ``which`` side ("shallow", "deep") holds a net: always with two depths; a
    method named at one depth fills the side of its depth only (:func:`leaderboard_table`)."""
    if r.shallow_model != r.deep_model:
        return True
    blank = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return not (int(getattr(r, f"train_{which}_n") or 0) == 0 and not getattr(r, f"{which}_flags")
                and blank(getattr(r, f"lr_{which}")) and blank(getattr(r, f"params_{which}")))


def _millions(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{value / 1e6:.3g} M"


def _cost(table: pd.DataFrame, r, field: str) -> str:
    own = getattr(r, f"{field}_deep")
    ref = table.loc[(table["deep_model"] == r.resnet) & (table["family"] == r.family), f"{field}_deep"]
    text = _millions(own)
    if len(ref) and pd.notna(ref.iloc[0]) and pd.notna(own) and f"{own / ref.iloc[0]:.2f}" != "1.00":
        text += f" ({own / ref.iloc[0]:.2f}x)"
    return text


def depth_labels(table: pd.DataFrame) -> tuple[str, str]:
    """The leaderboard's (shallow, deep) labels: the depths when every row with two depths has the same
    two, else (rows of other pairs, or none with two depths) "shallow"/"deep"."""
    two = table[table["shallow_depth"] != table["deep_depth"]]
    pairs = set(zip(two["shallow_depth"], two["deep_depth"]))  # one depth only ("gap 8 − 8"): the words instead
    return tuple(map(str, pairs.pop())) if len(pairs) == 1 else ("shallow", "deep")


def _lr_text(table: pd.DataFrame) -> str:
    lrs = set(table["lr_shallow"].dropna()) | set(table["lr_deep"].dropna())
    budget = table["iterations"].dropna()
    text = f"every net at lr {lrs.pop():g}" if len(lrs) == 1 else "each net at its tuned lr, below"
    return text + (f"; judged at {int(budget.max())} iterations" if len(budget) else "")


def rules_text(table: pd.DataFrame) -> str:
    """The legend every reader of the board needs: how seeds count, which tests, which correction over how
    many comparisons, the equivalence margin (all from :mod:`reports.verdicts`)."""
    sizes = family_sizes(table)
    chance = table["chance"].dropna()
    chance_text = f"chance, {chance.iloc[0]:.0f}%" if len(chance) else "chance (unknown here: no classes recorded)"
    paired = table["gap_paired"].fillna(False).astype(bool)
    rs = table.loc[paired, "gap_r"].dropna()
    r_text = f"; measured r of the two depths' errors over shared seeds: {rs.min():+.2f} to {rs.max():+.2f}" if len(rs) else ""
    seeds = int(table["seeds_expected"].max()) if len(table) else 0
    rank_text = (f"; with {seeds} seeds the signed-rank test cannot reach 5% (its smallest p: {2 / 2 ** seeds:.2g})"
                 if 1 < seeds <= 5 else "")
    if not sizes["gap"]:  # one seed (or none with an interval): no test ran, so no correction or power to state
        return (f"Every seed counts: a diverged seed enters at {chance_text}; a seed within {CHANCE_MARGIN:g} "
                "points of chance is \"at chance\" (both: did not train). No gap has an interval (one seed per "
                "net, or none that trained), so no test, correction or equivalence is decided: the board gives "
                "each difference as measured.")
    return (
        f"Every seed counts: a diverged seed enters at {chance_text}; a seed within {CHANCE_MARGIN:g} points of "
        f"chance is \"at chance\" (both: did not train). Intervals: 95%, unadjusted; {PAIRING}{r_text}. "
        f"Each verdict column holds family-wise at {ALPHA:.0%}, each board "
        f"apart: Holm (1979) over the column's difference and equivalence tests together, with Shaffer's "
        f"(1986) constraint that at most one of a net's two nulls is true (the {sizes['gap']} depth gaps; "
        f"apart, the {sizes['vs_plain']} comparisons with plain and the {sizes['vs_resnet']} with resnet). "
        f"\"removes it\": the gap is shown within ±{EQUIVALENCE_MARGIN:g} points (two one-sided tests, "
        f"Schuirmann 1987; margin declared before the runs). Seeds to decide: per net, the seeds at which a "
        f"new experiment would decide with {POWER:.0%} probability were the observed mean and spread the true "
        f"ones (at level {ALPHA:g}/{max(sizes['gap'], 1)}; the spread is itself an estimate from {seeds} "
        f"seeds). Rank tests (Wilcoxon signed-rank, Mann-Whitney) are in leaderboard.csv{rank_text}."
        + (" \"tuned rate unstable\": the net trained at its chosen rate on the tuning seed but not on every "
           "reported seed (one tuning seed chose a rate at the edge of stability): no verdict involving it is "
           "given (the numbers: leaderboard.csv, unstable_shallow and unstable_deep)."
           if (table["board"] == "tuned").any() else "")
    )


def _errors(r) -> list[str]:
    """A row's train and test cells, shallow then deep: mean ± std, "–" for a side without a net."""
    return [_pm(getattr(r, f"{kind}_{w}_mean"), getattr(r, f"{kind}_{w}_std"), getattr(r, f"{kind}_{w}_n"),
                r.seeds_expected, "no counted seed" if kind == "train" else "no ok seed") if _holds(r, w) else "–"
            for kind in ("train", "test") for w in ("shallow", "deep")]


def _holm_text(r, prefix: str) -> str:
    """``"0.117 / 1.000"``: a baseline comparison's Holm-adjusted p of the difference and of the equivalence
    (the verdict's tests), "–" for a row without them (the baseline itself)."""
    p, equiv = _number(getattr(r, f"{prefix}_p_holm")), _number(getattr(r, f"{prefix}_p_equiv_holm"))
    return "–" if p is None and equiv is None else f"{p_text(p)} / {p_text(equiv)}"


def leaderboard_markdown(table: pd.DataFrame) -> str:
    """The leaderboard as three pipe tables (final errors and cost; depth gap and verdict; the two
    baselines) with their legends."""
    if table.empty:
        return "No method named."
    lo, hi = depth_labels(table)
    split = table["eval_split"].iloc[0]
    expected = int(table["seeds_expected"].max())
    tuned = (table["board"] == "tuned").any()  # each cell's own rate beside it
    errors = [[r.label, *_errors(r), seed_flags(r) or "–", _cost(table, r, "params") if _holds(r, "deep") else "–",
               _cost(table, r, "multiply_adds") if _holds(r, "deep") else "–"]
              + ([_rate(r.lr_shallow) if _holds(r, "shallow") else "–", _rate(r.lr_deep) if _holds(r, "deep") else "–"]
                 if tuned else [])
              for r in table.itertuples()]
    header, gaps = gap_rows(table)
    versus = [[r.label, r.plain if isinstance(r.plain, str) and r.plain and r.plain != r.deep_model else "–",
               interval_text(_test(r, "vs_plain")), _holm_text(r, "vs_plain"),
               r.vs_plain_verdict, interval_text(_test(r, "vs_resnet")), _holm_text(r, "vs_resnet"),
               r.vs_resnet_verdict]
              for r in table.itertuples()]
    return "\n".join([
        f"Board: {table['board'].iloc[0]} ({_lr_text(table)}). Final error (%), mean ± std over the counted "
        f"seeds (n = {expected} unless given; ref.: the paper's nets); {split} error over the ok seeds. Cost of "
        f"the {hi}-layer net (x: against resnet of its depth).",
        "",
        markdown_table(["method", f"train {lo}", f"train {hi}", f"{split} {lo}", f"{split} {hi}",
                        "flagged seeds", f"params {hi}", f"mult-adds {hi}",
                        *([f"lr {lo}", f"lr {hi}"] if tuned else [])], errors),
        "",
        f"Depth gap: final training error {hi} − {lo} layers (points; > 0: seeds where the deeper net trains "
        "worse). " + rules_text(table),
        "",
        markdown_table(header, gaps),
        "",
        f"Against the baselines at {hi} layers: the plain net with the method's normalisation, and resnet (the "
        "paper's answer): baseline − method (points, 95% CI, unadjusted; > 0: the method trains better). The "
        "verdicts follow the Holm-adjusted p beside them (difference / within ±"
        f"{EQUIVALENCE_MARGIN:g}), so an interval that excludes 0 can still read \"difference not shown\".",
        "",
        markdown_table(["method", "plain net", "plain − method", "Holm p", "verdict", "resnet − method", "Holm p",
                        "verdict"], versus),
    ])


def cost_text(table: pd.DataFrame) -> str:
    """The nets whose cost differs from resnet's at their depth, in one sentence (``"highway-56: 1.48x
    resnet-56's parameters, 1.49x its multiply-adds; every other deep net within 1% of resnet-56"``); a net
    whose resnet is on the board without a cost (no run of it recorded one) with its own cost, no ratio
    (``"highway-56: 1.26 M parameters, 39.3 M multiply-adds (resnet-56 has no runs to compare with)"``);
    "" where none can be compared."""
    rows = table.drop_duplicates(["family", "method"])
    named, same, alone = [], [], {}
    for r in rows.itertuples():
        ref = rows.loc[(rows["deep_model"] == r.resnet) & (rows["family"] == r.family)]
        if r.deep_model == r.resnet or not len(ref):
            continue
        own = [_number(getattr(r, f"{f}_deep")) for f in COST_FIELDS]
        if None in own:
            continue
        base = [_number(ref[f"{f}_deep"].iloc[0]) for f in COST_FIELDS]
        if None in base or 0 in base:  # the reference's runs recorded no cost (none trained, say)
            alone.setdefault(r.resnet, []).append(
                f"{r.deep_model}: {_millions(own[0])} parameters, {_millions(own[1])} multiply-adds")
            continue
        ratios = [o / b for o, b in zip(own, base)]
        if all(f"{x:.2f}" == "1.00" for x in ratios):
            same.append(r.deep_model)
        else:
            named.append(f"{r.deep_model}: {ratios[0]:.2f}x {r.resnet}'s parameters, {ratios[1]:.2f}x its "
                         "multiply-adds")
    named += [f"{'; '.join(nets)} ({ref} has no runs to compare with)" for ref, nets in alone.items()]
    if not named:
        return f"Cost: every {depth_labels(table)[1]}-layer net within 1% of resnet's." if same else ""
    others = "one" if len(same) == 1 else str(len(same))
    return "Cost: " + "; ".join(named) + (f"; the other {others} within 1% of resnet's." if same else ".")


COST_FIELDS = ("params", "multiply_adds")


def _number(value) -> float | None:
    """A leaderboard cell as a number; None where it holds none (None, NaN: no run recorded it)."""
    return None if value is None or pd.isna(value) else float(value)


def page_one_markdown(table: pd.DataFrame) -> str:
    """Report.pdf's first page: each board of ``table`` (leaderboard.csv's rows) as one table, per method its
    final training and test errors at both depths, the rates, the depth gap with its interval, the seeds
    where it is positive and the verdict; the board in full (tests, Holm p, seeds to decide, cost, the
    baselines) is :func:`leaderboard_markdown`'s."""
    if table.empty:
        return "No method named."
    lo, hi = depth_labels(table)
    split = table["eval_split"].iloc[0]
    expected = int(table["seeds_expected"].max())
    tests = (f"unadjusted 95% interval; verdicts hold family-wise at {ALPHA:.0%} over each board's gaps "
             f"({gap_counts(table)}; Holm with Shaffer's constraint); \"removes it\": within ±{EQUIVALENCE_MARGIN:g} "
             "points by two one-sided tests. " if family_sizes(table)["gap"] else
             "no gap has an interval, so none is tested. ")
    cost = cost_text(table)
    out = [f"Final error (%), mean ± std over the counted seeds (n = {expected} unless given; a diverged seed "
           f"counts at chance); {split} error over the ok seeds. Gap: {hi} − {lo} layers, points, " + tests
           + (cost + " " if cost else "")
           + "Each board in full (tests, Holm p, seeds to decide, cost, the baselines) follows the forest plot.", ""]
    for name, part in table.groupby("board", sort=False):
        tuned = name == "tuned"
        rows = []
        for r in part.itertuples():
            rate = lambda w: _rate(getattr(r, f"lr_{w}")) if _holds(r, w) else "–"  # noqa: E731
            rows.append([
                r.label, *_errors(r),
                *([f"{rate('shallow')} / {rate('deep')}"] if tuned else []),
                interval_text(_test(r, "gap")), _count(r.gap_above, r.gap_seeds), r.verdict, seed_flags(r) or "–"])
        header = ["method", f"train {lo}", f"train {hi}", f"{split} {lo}", f"{split} {hi}",
                  *([f"lr {lo} / {hi}"] if tuned else []), f"gap {hi} − {lo} [95% CI]", "> 0", "verdict",
                  "flagged seeds"]
        lrs = "each net at the rate its tuning chose" if tuned else _lr_text(part).split(";")[0]
        budget = part["iterations"].dropna()
        out += [f"**{'Tuned' if tuned else 'One recipe'}**: {lrs}"
                + (f"; judged at {int(budget.max())} iterations" if len(budget) else ""),
                markdown_table(header, rows), ""]
    return "\n".join(out)


def gap_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The leaderboard's depth-gap table, (header, rows): per method its gap with the 95% interval, the
    seeds in which it is positive, the test (paired, with r, or Welch), the Holm-adjusted p of the gap and of
    its equivalence within the margin, the verdict and
    the seeds per net that would decide an undecided one; for leaderboard.md and ``python -m reports.build``."""
    lo, hi = depth_labels(table)
    rows = []
    for r in table.itertuples():
        t = _test(r, "gap")
        needed = r.seeds_needed
        rows.append([r.label, interval_text(t), _count(r.gap_above, r.gap_seeds), _how(t),
                     f"{p_text(r.gap_p_holm)} / {p_text(r.gap_p_equiv_holm)}",
                     r.verdict, "–" if needed is None or pd.isna(needed) else str(int(needed))
                     if r.verdict == GAP_WORDS["open"] else "–"])
    for row, r in zip(rows, table.itertuples()):
        if r.verdict == GAP_WORDS["open"] and (r.seeds_needed is None or pd.isna(r.seeds_needed)):
            row[-1] = f"> {MAX_SEEDS}"
    # Both adjusted p: "degrades" rests on the first, "removes it" on the second (its equivalence test).
    return ["method", f"gap {hi} − {lo} [95% CI]", "> 0", "test", f"Holm p: gap / within ±{EQUIVALENCE_MARGIN:g}",
            "verdict", "seeds to decide"], rows
