"""The methods benchmark's reports (issue 21, point 3): the leaderboard's numbers and words on run folders made
for them (tests/runfolders.py), the forest plot's Axes, report.pdf's first page (the leaderboard for
``methods``, the verdict's forest plot beside the verdict text for ``degradation``), the depth sweep per
method, and render_pages' panel."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from runfolders import write_run  # noqa: E402

from reports.build import build_report  # noqa: E402
from reports.depth import depth_table, plot_depth_sweep  # noqa: E402
from reports.forest import FOREST_COLUMNS, gap_forest, methods_curves, plot_forest, verdict_forest  # noqa: E402
from reports.registry import ReportContext  # noqa: E402
from reports.verdicts import Cell, compare_cells, holm, holm_shaffer, p_text, points, seeds_needed  # noqa: E402
from reports.leaderboard import COLUMNS, family_sizes, leaderboard_markdown, leaderboard_table, page_one_markdown  # noqa: E402
from reports.pages import render_pages  # noqa: E402
from reports.runs import discover_runs  # noqa: E402
from reports.verdict import make_verdict  # noqa: E402

PROF = "quick"
STEPS = [100, 200, 300]
T95_DF4 = 2.7764451  # t quantile, 0.975, 4 degrees of freedom

# Final training errors (%) per seed (10 classes: chance 90%). plain degrades (+22 in every seed); resnet's
# gap (-3, -2.5, -3.4) lies within ±5 points ("removes it"); fixup's (-2, 0, +8) is too noisy to tell;
# skipinit-56 lost seed 2 (failed: left out, named; so its gap is Welch's over every counted seed, within
# ±5 points: "removes it"); the BN-free methods are measured against plain-56-nobn
# (62), not plain-56 (33), and every method also against resnet-56.
TRAIN = {"plain-20": [10.0, 11.0, 12.0], "plain-56": [30.0, 33.0, 36.0],
         "resnet-20": [9.0, 10.0, 11.0], "resnet-56": [6.0, 7.5, 7.6],
         "plain-20-nobn": [20.0, 21.0, 22.0], "plain-56-nobn": [60.0, 62.0, 64.0],
         "fixup-20": [10.0, 11.0, 12.0], "fixup-56": [8.0, 11.0, 20.0],
         "skipinit-20": [12.0, 13.0, 14.0], "skipinit-56": [12.5, 13.0, None]}
TEN = [f"c{i}" for i in range(10)]


def flat(value):
    return lambda step: value


def write_methods(runs: Path, experiment: str = "methods", models=tuple(TRAIN)) -> None:
    for model in models:
        values = TRAIN[model]
        for seed, v in enumerate(values):
            if v is None:
                write_run(runs, experiment, PROF, model, seed, status="failed", train=None, write_metrics=False,
                          classes=TEN)
            else:
                write_run(runs, experiment, PROF, model, seed, steps=STEPS, train=flat(v), test=flat(v + 2.0),
                          classes=TEN)


@pytest.fixture(scope="module")
def methods(tmp_path_factory):
    base = tmp_path_factory.mktemp("methods")
    write_methods(base / "runs")
    return base


@pytest.fixture(scope="module")
def board(methods) -> pd.DataFrame:
    return leaderboard_table(discover_runs(methods / "runs", "methods", PROF).runs).set_index("method", drop=False)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


# --- the leaderboard's numbers and words --------------------------------------------------------------


def paired(a, b):
    """(mean, low, high, p) of the paired t-test of a − b, from the textbook formulas."""
    d = np.array(a) - np.array(b)
    n, m, sd = len(d), d.mean(), d.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return m, m - half, m + half, 2 * stats.t.sf(abs(m) / (sd / math.sqrt(n)), n - 1)


def test_rows_columns_and_reference_rows(board):
    assert list(board.columns) == COLUMNS
    assert list(board["method"]) == ["plain", "resnet", "plain-nobn", "fixup", "skipinit"]
    assert list(board["label"]) == ["plain (ref.)", "resnet (ref.)", "plain-nobn", "fixup", "skipinit"]
    assert list(board["reference"]) == [True, True, False, False, False]
    assert set(board["shallow_depth"]) == {20} and set(board["deep_depth"]) == {56}
    assert list(board.loc["plain-nobn", ["kind", "norm"]]) == ["plain", "none"]
    assert set(board["board"]) == {"one-recipe"} and set(board["lr_deep"]) == {0.1} and set(board["chance"]) == {90.0}
    assert board.loc["fixup", "params_deep"] == 269_722 and board.loc["fixup", "multiply_adds_deep"] == 40_500_000


def test_a_method_that_degrades_paired_and_corrected(board):
    plain = board.loc["plain"]
    assert plain["train_shallow_mean"] == pytest.approx(11.0) and plain["train_shallow_std"] == pytest.approx(1.0)
    assert plain["train_deep_mean"] == pytest.approx(33.0) and plain["train_deep_std"] == pytest.approx(3.0)
    assert plain["test_deep_mean"] == pytest.approx(35.0) and plain["train_deep_n"] == 3
    m, lo, hi, p = paired(TRAIN["plain-56"], TRAIN["plain-20"])  # nets sharing seeds: compared seed by seed
    assert (plain["gap"], plain["gap_low"], plain["gap_high"], plain["gap_p"]) == pytest.approx((m, lo, hi, p))
    assert bool(plain["gap_paired"]) and plain["gap_r"] == pytest.approx(1.0)  # measured, not assumed
    assert plain["gap_welch_low"] < plain["gap_low"]  # the Welch interval kept beside it
    # Holm over the column's five gaps' ten tests (difference and equivalence), by hand, with Shaffer's
    # constraint: at most one of a net's two nulls is true, so step k multiplies by the nets not yet wholly
    # rejected, not by the tests left.
    tests = sorted((p, net, kind) for net, row in board.iterrows() for kind, p in
                   (("p", row["gap_p"]), ("p_equiv", row["gap_p_equiv"])))
    running, adjusted, done = 0.0, {}, []
    for p, net, kind in tests:
        running = max(running, min(1.0, (5 - sum(done.count(n) == 2 for n in set(done))) * p))
        adjusted[net, kind] = running
        done.append(net)
    assert plain["gap_p_holm"] == pytest.approx(adjusted["plain", "p"]) and plain["gap_p_holm"] < 0.05
    assert board.loc["resnet", "gap_p_equiv_holm"] == pytest.approx(adjusted["resnet", "p_equiv"])
    assert plain["verdict"] == "degrades" and (plain["gap_above"], plain["gap_seeds"]) == (3, 3)
    assert plain["vs_plain_verdict"] == "baseline" and pd.isna(plain["vs_plain"])
    assert plain["vs_resnet"] == pytest.approx(np.mean(TRAIN["resnet-56"]) - 33.0)


def test_an_equivalence_that_holds_removes_it(board):
    res = board.loc["resnet"]
    assert res["gap"] == pytest.approx(np.mean([-3.0, -2.5, -3.4]))
    assert res["gap_p_equiv_holm"] < 0.05 and res["verdict"] == "removes it (within ±5 points)"
    assert res["plain"] == "plain-56" and res["vs_plain"] == pytest.approx(33.0 - np.mean(TRAIN["resnet-56"]))
    assert res["vs_plain_verdict"] == "better than plain-56" and res["vs_resnet_verdict"] == "baseline"


def test_an_equivalence_that_fails_is_too_wide_to_tell_and_says_how_many_seeds(board):
    fixup = board.loc["fixup"]
    assert fixup["gap"] == pytest.approx(2.0) and fixup["gap_low"] < 0 < fixup["gap_high"]
    assert fixup["gap_p_equiv_holm"] >= 0.05 and fixup["verdict"] == "not decided: neither a gap nor ±5 shown"
    assert (fixup["gap_above"], fixup["gap_seeds"]) == (1, 3)
    # Seeds to decide: were the observed gap (2) and spread (5.3) the truth, 25 seeds per net would decide it
    # with 80% probability (by Monte Carlo, TOST or the t-test at 0.05/5: 0.78 at 24, 0.81 at 25), though
    # neither test alone would by 30 (TOST, the likelier, 0.63 at 25); a decided gap gets none.
    sd = np.std(np.array(TRAIN["fixup-56"]) - TRAIN["fixup-20"], ddof=1)
    assert _tost_decides(2.0, sd, 30, level=0.01) < 0.8
    assert _tost_decides(2.0, sd, 25, 0.01, either=True) >= 0.8 > _tost_decides(2.0, sd, 24, 0.01, either=True)
    assert fixup["seeds_needed"] == 25 and pd.isna(board.loc["plain", "seeds_needed"])
    assert "| not decided: neither a gap nor ±5 shown | 25 |" in leaderboard_markdown(board.reset_index(drop=True))


def _tost_decides(gap: float, sd: float, n: int, level: float, reps: int = 40_000, either: bool = False) -> float:
    """The share of simulated paired experiments (n seeds, per-seed gaps ~ N(gap, sd)) whose TOST within ±5
    points decides at ``level`` (``either``: TOST or the two-sided t-test of the gap)."""
    d = gap + sd * np.random.default_rng(n).standard_normal((reps, n))
    se = d.std(axis=1, ddof=1) / math.sqrt(n)
    c = stats.t.ppf(1 - level, n - 1)
    tost = ((d.mean(axis=1) + 5.0) / se > c) & ((d.mean(axis=1) - 5.0) / se < -c)
    if either:
        tost |= np.abs(d.mean(axis=1) / se) > stats.t.ppf(1 - level / 2, n - 1)
    return float(tost.mean())


@pytest.mark.parametrize("gap, sd", [(2.0, 2.5), (1.0, 1.5), (0.0, 3.0)])
def test_seeds_to_decide_give_an_80_percent_chance(gap, sd):
    """seeds_needed(n) is the first n at which a new experiment would decide with probability 0.8, were the
    observed gap and spread the truth (here the equivalence decides; the gap's own t-test has less power):
    checked by Monte Carlo at n and n − 1. It was once the n at which the *expected* t reached the critical
    value, about an even chance."""
    seeds = {0: [20.0, 21.0, 22.0, 23.0]}
    a = Cell("a-56", {i: v + gap + sd * z for i, (v, z) in enumerate(zip(seeds[0], (-1.0, 0.0, 0.0, 1.0)))},
             4, 4, 0, 0, 0, 0, 0, 90.0)
    b = Cell("a-20", dict(enumerate(seeds[0])), 4, 4, 0, 0, 0, 0, 0, 90.0)
    test = compare_cells(a, b)
    assert test.diff == pytest.approx(gap) and test.sd == pytest.approx(sd * math.sqrt(2 / 3))
    n = seeds_needed(test, family_size=5)
    assert n is not None and 2 < n <= 30
    assert _tost_decides(gap, test.sd, n, 0.01, either=True) >= 0.79
    assert _tost_decides(gap, test.sd, n - 1, 0.01, either=True) < 0.8


def test_seeds_to_decide_count_either_test_deciding_not_the_likelier_one():
    """Found by a statistics review: the one-recipe board's skipinit row (gap -2.37, paired spread 4.34, 9 gaps)
    read "> 30": neither the gap's t-test (power 0.35 at 23 seeds) nor TOST (0.56) reaches 0.8 alone, but one of
    the two decides with probability 0.83 there (simulated), and either decision settles the row."""
    from reports.verdicts import Test

    test = Test("skipinit-56", "skipinit-20", -2.37, -13.2, 8.4, 2.0, True, 3, 3, 3, 3, 0.5, 1.0, 0.5, "", -0.22,
                4.34, None, None)
    n = seeds_needed(test, family_size=9)
    assert n == 23
    assert _tost_decides(-2.37, 4.34, 23, 0.05 / 9, either=True) >= 0.8 > _tost_decides(-2.37, 4.34, 22, 0.05 / 9,
                                                                                        either=True) - 0.01
    assert _tost_decides(-2.37, 4.34, 23, 0.05 / 9) < 0.6  # TOST alone, as before


def test_seeds_to_decide_a_large_gap_count_its_lower_tail_as_nothing_not_as_nan():
    """The committed plain row (gap +46.6, sd 16.3 over 3 seeds, 9 gaps): scipy's nct.cdf returns NaN for the
    t-test's far lower tail at n = 6, which once skipped 6, where the power is already 0.92, and said 7."""
    from reports.verdicts import Test

    test = Test("plain-56", "plain-20", 46.64, 6.0, 87.2, 2.0, True, 3, 3, 3, 3, 0.04, 1.0, 0.25, "", -0.36,
                16.34, None, None)
    n = seeds_needed(test, family_size=9)
    assert n == 6
    rng = np.random.default_rng(0)  # the paired t-test's power at n seeds, by simulation
    for seeds, lo, hi in ((6, 0.85, 1.0), (5, 0.0, 0.8)):
        gaps = rng.normal(46.64, 16.34, size=(20000, seeds))
        t = gaps.mean(1) / (gaps.std(1, ddof=1) / math.sqrt(seeds))
        power = (np.abs(t) > stats.t.ppf(1 - 0.05 / 9 / 2, seeds - 1)).mean()
        assert lo <= power < hi, (seeds, power)


def test_bn_free_methods_against_plain_without_bn_and_against_resnet(board):
    fixup, nobn = board.loc["fixup"], board.loc["plain-nobn"]
    assert fixup["plain"] == "plain-56-nobn" and fixup["vs_plain"] == pytest.approx(62.0 - 13.0)
    assert fixup["resnet"] == "resnet-56" and fixup["vs_resnet"] == pytest.approx(np.mean(TRAIN["resnet-56"]) - 13.0)
    assert nobn["vs_plain_verdict"] == "baseline" and nobn["verdict"] == "degrades"
    assert nobn["gap"] == pytest.approx(41.0)


def test_a_failed_seed_is_left_out_and_named(board):
    skip = board.loc["skipinit"]
    assert (skip["train_deep_n"], skip["train_shallow_n"], skip["seeds_expected"]) == (2, 3, 3)
    assert skip["deep_flags"] == "1/3 failed" and skip["shallow_flags"] == ""
    assert skip["train_deep_mean"] == pytest.approx(12.75) and skip["gap_seeds"] == 2
    # Welch over every counted seed: the nets hold other seeds, and pairing over the two they share would drop
    # skipinit-20's seed 2 (the rule was so before; a diverged seed could drop out of a test that way)
    assert skip["gap"] == pytest.approx(12.75 - 13.0) and not skip["gap_paired"]
    md = leaderboard_markdown(board.reset_index(drop=True))
    assert "| skipinit | 13.00 ± 1.00 | 12.75 ± 0.35 (n=2) |" in md and "| 56: 1/3 failed |" in md
    assert "| plain (ref.) | +22.0 [" in md and "| 3/3 | paired, r +1.00 |" in md
    assert "| fixup | +2.0 [" in md and "not decided: neither a gap nor ±5 shown |" in md
    assert "(1986) constraint that at most one of a net's two nulls is true (the 5 depth gaps" in md and "within ±5 points" in md


def write(tmp_path, values: dict, experiment="methods", classes=TEN):
    """Run folders from {model: [value or "div" per seed]} (final training error, %)."""
    for model, per_seed in values.items():
        for seed, v in enumerate(per_seed):
            if v == "div":
                write_run(tmp_path, experiment, PROF, model, seed, status="diverged", steps=[100],
                          train=[50.0], classes=classes)
            else:
                write_run(tmp_path, experiment, PROF, model, seed, steps=STEPS, train=flat(v), test=flat(v),
                          classes=classes)


def test_diverged_seeds_count_as_failures_to_train(tmp_path):
    """Diverged in some seeds (fixup-56: 2 of 3, the third at chance) and in every seed of one depth
    (resnet-56-nobn): the seeds count, at chance, and each cell says so; the rows are not judged as depth gaps
    (once "degrades": a deep net that mostly never left chance fails to train, not the degradation of nets that
    train)."""
    write(tmp_path, {"plain-20-nobn": [20.0, 21.0, 22.0], "plain-56-nobn": [60.0, 62.0, 64.0],
                     "fixup-20": [30.0, 32.0, 34.0], "fixup-56": ["div", "div", 88.0],
                     "resnet-20-nobn": [20.0, 21.0, 22.5], "resnet-56-nobn": ["div", "div", "div"]})
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method", drop=False)
    fixup, res = board.loc["fixup"], board.loc["resnet-nobn"]
    assert fixup["deep_flags"] == "2/3 diverged, 1/3 at chance" and fixup["deep_diverged"] == 2
    assert fixup["train_deep_mean"] == pytest.approx((90 + 90 + 88) / 3) and fixup["train_deep_n"] == 3
    fails = "not judged: most seeds of {} did not train (a failure to train, not a depth gap)"
    assert fixup["gap"] == pytest.approx(np.mean([60.0, 58.0, 54.0])) and fixup["verdict"] == fails.format("fixup-56")
    assert res["deep_flags"] == "3/3 diverged" and res["verdict"] == fails.format("resnet-56-nobn")
    assert res["gap"] == pytest.approx(90.0 - 21.1666666) and "cannot be judged" not in " ".join(board["verdict"])
    md = leaderboard_markdown(board.reset_index(drop=True))
    assert "| 56: 2/3 diverged, 1/3 at chance |" in md and "| 56: 3/3 diverged |" in md
    forest = gap_forest(board.reset_index(drop=True)).set_index("label")
    assert forest.loc["fixup", "flags"] == "56: 2/3 diverged, 1/3 at chance" and not forest.loc["fixup", "decided"]
    fig, ax = plt.subplots()
    plot_forest(ax, forest.reset_index())
    assert "56: 3/3 diverged" in [t.get_text() for t in ax.texts]  # the forest plot's flag
    plt.close(fig)
    result = build_report(tmp_path, "methods", PROF, tmp_path / "out")
    assert "| 56: 2/3 diverged, 1/3 at chance |" in result.first_page  # page 1's table
    (page_forest,) = result.page_one.axes
    assert "56: 2/3 diverged, 1/3 at chance" in [t.get_text() for t in page_forest.texts]  # page 1's forest plot
    curves = methods_curves(ReportContext("methods", PROF, tmp_path, tmp_path / "out", result.runs, None, None))
    panel = {ax.get_title().split("\n")[0]: ax for ax in curves.axes}["resnet-nobn"]
    name, *verdict = panel.get_title().split("\n")  # the verdict wrapped to the panel's width
    assert (name, " ".join(verdict)) == ("resnet-nobn", fails.format("resnet-56-nobn")) and "56: 3/3 diverged" in [t.get_text() for t in panel.texts]


def test_diverged_seeds_without_classes_are_named_not_counted(tmp_path):
    write(tmp_path, {"fixup-20": [30.0, 32.0], "fixup-56": [40.0, "div"]}, classes=None)
    (row,) = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).itertuples()
    assert row.deep_flags == "1/2 diverged, 1 diverged not counted (no classes recorded)" and row.train_deep_n == 1
    # Uncounted diverged seeds are not counted against the trained ones either: two trained seeds per depth
    # beside three uncounted diverged ones once read "does not train".
    write(tmp_path, {"fixup-20": [20.0, 22.0, "div", "div", "div"], "fixup-56": [30.0, 33.0, "div", "div", "div"]},
          experiment="other", classes=None)
    (row,) = leaderboard_table(discover_runs(tmp_path, "other", PROF).runs).itertuples()
    assert row.train_deep_n == 2 and row.verdict != "does not train", row.verdict


def test_seeds_that_agree_exactly_decide_nothing_and_say_why(tmp_path):
    """Every seed gives the same gap (+3.0): the interval is a point, which a few agreeing seeds do not make
    evidence of; the verdict says there is no spread to test rather than "interval too wide"."""
    write(tmp_path, {"plain-20": [10.0, 11.0, 12.0], "plain-56": [13.0, 14.0, 15.0]})
    (row,) = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).itertuples()
    assert row.gap == pytest.approx(3.0) and row.gap_low == row.gap_high == pytest.approx(3.0)
    assert row.verdict == "gap not shown: every seed gives the same gap (no spread to test)"
    assert pd.isna(row.seeds_needed)


def test_an_ok_run_with_a_non_finite_final_error_is_named_not_averaged(tmp_path):
    """A damaged result.json (json reads NaN) once entered the board as a value and its NaN p-value set every
    later Holm-adjusted p of the column to 1."""
    write(tmp_path, {"plain-20": [10.0, 11.0, 12.0], "plain-56": [30.0, 33.0, 36.0]})
    damaged = next(tmp_path.glob("methods/*/plain-56/seed0/result.json"))
    record = json.loads(damaged.read_text())
    record["final"]["train"] = float("nan")
    damaged.write_text(json.dumps(record))
    (row,) = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).itertuples()
    assert row.deep_flags == "1/3 malformed" and row.train_deep_n == 2 and math.isfinite(row.gap_p_holm)


def test_a_seed_at_chance_is_flagged_and_neither_depth_trains(tmp_path):
    """Per seed, not per mean: fixup-20's mean (69.7%) hides a seed that never trained; both plain-nobn
    depths sit at chance in every seed, so its gap compares two nets that did not train."""
    write(tmp_path, {"plain-20-nobn": [89.0, 90.0, 91.0], "plain-56-nobn": [90.0, 89.5, 90.5],
                     "fixup-20": [30.0, 90.0, 89.0], "fixup-56": [88.0, 89.0, 90.0]})
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method")
    assert board.loc["plain-nobn", "verdict"] == "does not train"
    assert board.loc["plain-nobn", "shallow_flags"] == "3/3 at chance"
    assert board.loc["fixup", "shallow_flags"] == "2/3 at chance" and board.loc["fixup", "deep_flags"] == "3/3 at chance"
    # one fixup-20 seed trained, but most did not at either depth: no depth gap between failures
    assert board.loc["fixup", "verdict"] == "does not train in most seeds"
    assert board.loc["fixup", "vs_plain_verdict"] == "neither trains"  # fixup-56 and plain-56-nobn at chance


def test_no_counted_seed_drops_out_and_nets_that_fail_alike_are_not_equivalent(tmp_path):
    """Found by a statistics review. (1) rezero-56's two diverged seeds (at chance) dropped out of its gap
    test, because the pairing ran over the three seeds rezero-20 shares (its other two crashed): the board
    read "removes it" over [-0.01, +0.75]. Welch over every counted seed now keeps them. (2) Nets at chance in most seeds read "removes it": the
    equivalence of nets that fail alike. Neither "removes it" nor "as good as" is given where most seeds of a
    net did not train, and no depth gap at all where most seeds of both did not."""
    write(tmp_path, {"plain-20": [10.0, 11.0, 12.0, 11.5, 10.5], "plain-56": [30.0, 33.0, 36.0, 31.0, 35.0],
                     "rezero-20": [21.0, 20.5, 21.5], "rezero-56": [21.3, 20.9, 21.9, "div", "div"],
                     "fixup-20": [84.0, 89.5, 89.0, 89.2, 88.9], "fixup-56": [84.5, 89.8, 89.6, 89.7, 89.5],
                     "highway-20": [85.5, 85.6, 85.4, 84.0, 85.5], "highway-56": [82.0, 82.1, 81.9, 81.5, 82.2]})
    for seed in (3, 4):
        write_run(tmp_path, "methods", PROF, "rezero-20", seed, status="failed", train=None, write_metrics=False,
                  classes=TEN)
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method")
    rezero = board.loc["rezero"]
    assert (rezero["train_deep_n"], rezero["train_shallow_n"], bool(rezero["gap_paired"])) == (5, 3, False)
    deep, shallow = [21.3, 20.9, 21.9, 90.0, 90.0], [21.0, 20.5, 21.5]
    welch = stats.ttest_ind(deep, shallow, equal_var=False).confidence_interval()
    assert (rezero["gap_low"], rezero["gap_high"]) == pytest.approx((welch.low, welch.high))
    assert rezero["verdict"] == "not decided: neither a gap nor ±5 shown"
    fixup = board.loc["fixup"]
    assert fixup["gap_p_equiv_holm"] < 0.05 and fixup["shallow_flags"] == fixup["deep_flags"] == "4/5 at chance"
    assert fixup["verdict"] == "does not train in most seeds"  # not "degrades" by 0.5 points between failures
    highway = board.loc["highway"]  # most highway-20 seeds at chance, every highway-56 seed trains
    assert highway["gap_p_equiv_holm"] < 0.05 and highway["shallow_flags"] == "4/5 at chance"
    assert highway["verdict"] == ("not judged: most seeds of highway-20 did not train (a failure to train, not a "
                                  "depth gap)")


def test_a_deep_net_that_never_trained_beside_a_shallow_one_that_did_is_not_a_degradation(tmp_path):
    """Found by a fault hunt: fixup-56 diverged in every seed, fixup-20 trained, and the board read "degrades"
    (a gap of +78.8 points, Holm p 0.0003), its forest marker filled as decided; the paper's degradation is of
    nets that train. Not judged now, as the verdict of the paper's nets says; the Holm family keeps the test."""
    write(tmp_path, {"plain-20": [10.0, 11.0, 12.5], "plain-56": [30.0, 33.0, 36.0],
                     "resnet-20": [9.0, 10.0, 11.0], "resnet-56": [6.0, 7.5, 7.6],
                     "fixup-20": [10.0, 11.0, 12.7], "fixup-56": ["div", "div", "div"],
                     "rezero-20": [88.0, 89.0, 88.5], "rezero-56": [20.0, 21.0, 22.5]})
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method")
    fixup, rezero = board.loc["fixup"], board.loc["rezero"]
    assert fixup["gap_p_holm"] < 0.05  # the test still decides at 5%: the words do not follow it
    assert fixup["verdict"] == "not judged: most seeds of fixup-56 did not train (a failure to train, not a depth gap)"
    assert rezero["verdict"] == ("not judged: most seeds of rezero-20 did not train (a failure to train, not a depth "
                                 "gap)")
    assert board.loc["plain", "verdict"] == "degrades"
    assert pd.isna(fixup["seeds_needed"]) and pd.isna(rezero["seeds_needed"])
    from reports.forest import DECIDED
    assert not fixup["verdict"].startswith(DECIDED)


def test_a_nan_p_or_a_spread_of_rounding_noise_decides_nothing():
    """A NaN p read as shown (``p >= ALPHA`` is False for NaN), and gaps equal but for float rounding gave a
    p of 1e-26 and "degrades" on a zero-width interval."""
    from dataclasses import replace

    from reports.verdicts import gap_verdict

    shallow = Cell("x-20", {0: 10.0, 1: 11.0, 2: 12.0}, 3, 3, 0, 0, 0, 0, 0, 90.0)
    deep = Cell("x-56", {0: 12.0, 1: 13.0, 2: 14.0 + 1e-12}, 3, 3, 0, 0, 0, 0, 0, 90.0)
    test = compare_cells(deep, shallow)
    assert test.no_spread and test.p == 1.0 and test.shown == 0
    assert gap_verdict(shallow, deep, test) == "gap not shown: every seed gives the same gap (no spread to test)"
    nan = replace(test, p=float("nan"), p_equiv=float("nan"), sd=1.0)
    assert nan.shown == 0 and not nan.equivalent
    assert gap_verdict(shallow, deep, nan) == "not decided: neither a gap nor ±5 shown"


def test_the_depths_compared_are_the_ones_named(tmp_path):
    """An extra depth on disk (fixup-110) changes nothing; a method named at one depth says so; a method
    named but never trained reads "not trained", not "cannot be judged"."""
    write(tmp_path, {"plain-20": [10.0, 11.0], "plain-56": [30.0, 33.0], "fixup-20": [10.0, 11.0],
                     "fixup-56": [12.0, 14.0], "fixup-110": [50.0, 60.0], "highway-56": [20.0, 21.0]})
    named = ["plain-20", "plain-56", "fixup-20", "fixup-56", "highway-56", "rezero-20", "rezero-56"]
    runs = discover_runs(tmp_path, "methods", PROF, named).runs
    board = leaderboard_table(runs, named).set_index("method")
    assert list(board.index) == ["plain", "fixup", "rezero", "highway"]
    assert (board.loc["fixup", "deep_model"], board.loc["fixup", "gap"]) == ("fixup-56", pytest.approx(2.5))
    assert board.loc["highway", "verdict"] == "one depth named (highway-56): no depth gap"
    assert board.loc["highway", "vs_plain"] == pytest.approx(31.5 - 20.5)
    assert board.loc["rezero", "verdict"] == "not trained (rezero-20, rezero-56: no finished run)"
    assert board.loc["rezero", "vs_plain_verdict"] == "cannot compare (no counted seed of rezero-56)"
    assert leaderboard_table(runs).set_index("method").loc["fixup", "deep_model"] == "fixup-110"  # none named: disk


def test_two_families_label_their_rows(tmp_path):
    write(tmp_path, {"plain-20": [10.0, 11.0], "plain-56": [30.0, 33.0], "plain-18": [10.0, 11.0],
                     "plain-34": [15.0, 17.0], "highway-20": [10.0, 11.0], "highway-56": [12.0, 13.0]})
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs)
    assert list(board["label"]) == ["CIFAR: plain (ref.)", "CIFAR: highway", "ImageNet: plain (ref.)"]
    assert "| ImageNet: plain (ref.) |" in leaderboard_markdown(board)


def test_one_seed_gives_no_interval(tmp_path):
    for model, v in (("fixup-20", 10.0), ("fixup-56", 30.0)):
        write_run(tmp_path, "methods", PROF, model, 0, steps=STEPS, train=flat(v))
    (row,) = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).itertuples()
    assert row.gap == pytest.approx(20.0) and pd.isna(row.gap_low)
    assert row.verdict == "gap not shown, one seed: no interval" and row.vs_plain_verdict == "no plain-56-nobn run"
    # The legends say that nothing was tested, where they said "the 0 depth gaps", "at level 0.05/1", "an
    # estimate from 1 seeds" and "its smallest p: 1".
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs)
    text = leaderboard_markdown(board) + page_one_markdown(board)
    assert "No gap has an interval" in text and "no gap has an interval, so none is tested" in text
    assert not re.search(r"\b0 depth gaps|\b1 seeds|0\.05/1|over each board's 0", text), text


def test_a_plugin_is_a_method_measured_against_the_papers_plain_net(tmp_path):
    # Recorded as the trainer records a plugin's runs; no plugin is installed (the report reads the records).
    plugin = {"distribution": "mynet-plugin", "version": "0.1.0", "source_sha256": "ab" * 32}
    for seed in range(2):
        for model, v in (("plain-20", 10.0), ("plain-56", 30.0), ("mynet-20", 9.0), ("mynet-56", 8.0)):
            write_run(tmp_path, "degradation", PROF, model, seed, steps=STEPS, train=flat(v + seed * (1 + v / 10)),
                      plugin=plugin if model.startswith("mynet") else None)
    board = leaderboard_table(discover_runs(tmp_path, "degradation", PROF).runs).set_index("method")
    mynet = board.loc["mynet"]
    assert (mynet["norm"], bool(mynet["reference"]), mynet["plain"]) == ("unknown", False, "plain-56")
    assert mynet["gap"] == pytest.approx(-1.05) and mynet["vs_plain"] == pytest.approx(32.0 - 8.9)
    assert mynet["verdict"] == "removes it (within ±5 points)"  # two seeds, paired: -1.0 and -1.1


def test_the_board_is_named(board):
    with pytest.raises(ValueError, match="bad board 'best': expected one of one-recipe, tuned"):
        leaderboard_table([], board="best")


def test_holm_and_the_printed_bounds():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([None, 0.02, 0.5]) == [None, pytest.approx(0.04), pytest.approx(0.5)]
    # A non-finite p (a damaged record) is not in the family; it once sorted arbitrarily and set every later
    # adjusted p to 1.
    assert holm([0.01, float("nan"), 0.02, 0.03]) == [pytest.approx(0.03), None, pytest.approx(0.04),
                                                      pytest.approx(0.04)]
    # Groups of which at most one null is true (a net's difference and equivalence tests): step k multiplies
    # by the groups not yet wholly rejected.
    assert holm_shaffer([[0.01, 0.2], [0.03, 0.001]]) == [[pytest.approx(0.02), pytest.approx(0.2)],
                                                          [pytest.approx(0.06), pytest.approx(0.002)]]
    assert holm_shaffer([[0.01], [None, 0.04]]) == [[pytest.approx(0.02)], [None, pytest.approx(0.04)]]


@pytest.mark.parametrize("gaps", [[0.0] * 4 + [5.0] * 5, [5.0] * 9, [0.0] * 9])
def test_a_verdict_column_errs_at_most_five_percent_family_wise(gaps):
    """The gap column's verdicts read each net's difference test and its equivalence test. Simulated boards
    of nine nets, 3 paired seeds, true gaps at 0 (where "degrades" or "trains better" is false) and at the
    margin (where "within ±5" is false): the chance of any false verdict on the board stays at or below 5%.
    Correcting the differences and the equivalences as two families (the board before) gave 9.8% here."""
    rng, reps, n = np.random.default_rng(1), 3000, 3
    true = np.array(gaps)
    d = true[None, :, None] + 0.5 * rng.standard_normal((reps, len(true), n))  # per-seed gaps
    diff = stats.ttest_1samp(d, 0.0, axis=2).pvalue
    equiv = np.maximum(stats.ttest_1samp(d, -5.0, axis=2, alternative="greater").pvalue,
                       stats.ttest_1samp(d, 5.0, axis=2, alternative="less").pvalue)
    wrong = 0
    for r in range(reps):
        adjusted = holm_shaffer([[diff[r, i], equiv[r, i]] for i in range(len(true))])
        wrong += any((true[i] == 0 and p < 0.05) or (abs(true[i]) >= 5 and q < 0.05) for i, (p, q) in enumerate(adjusted))
    rate, se = wrong / reps, math.sqrt(0.05 * 0.95 / reps)
    assert rate <= 0.05 + 2 * se, rate
    if gaps == [5.0] * 9:  # the equivalences alone at the bound: the correction is not wastefully strict either
        assert rate > 0.03, rate
    assert [points(x) for x in (0.045, -0.04, 2.0, -13.94, 0.0)] == ["+0.045", "-0.04", "+2.0", "-13.9", "+0.0"]


# --- the forest plot ---------------------------------------------------------------------------------


def forest_frame() -> pd.DataFrame:
    rows = [["plain", 22.0, 18.0, 26.0, 3, 3, True, "", "reference", True, ""],
            ["resnet", -3.0, -5.0, -1.0, 0, 3, True, "", "reference", True, ""],
            ["fixup", 2.0, -4.0, 8.0, 1, 3, False, "", "method", False, "56: 2/3 diverged"],
            ["skipinit", 5.0, np.nan, np.nan, 1, 1, False, "gap not shown, one seed: no interval", "method", False,
             ""],
            ["highway", 0.04, 0.002, 0.08, 3, 3, False, "", "method", False, ""]]
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def test_plot_forest_rows_intervals_zero_line_and_values(ax):
    assert plot_forest(ax, forest_frame(), xlabel="depth gap (points)", margin=5.0) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["plain", "resnet", "fixup", "skipinit", "highway"]
    assert [t.get_fontweight() for t in ax.get_yticklabels()] == ["bold", "bold", "normal", "normal", "normal"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first row on top
    lines = ax.get_lines()
    zero = [ln for ln in lines if list(ln.get_xdata()) == [0, 0]]
    assert len(zero) == 1 and zero[0].get_color() == "k"
    bars = [(list(ln.get_xdata()), ln.get_ydata()[0]) for ln in lines if ln.get_linestyle() == "-" and ln not in zero
            and len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]]
    assert bars == [([18.0, 26.0], 0), ([-5.0, -1.0], 1), ([-4.0, 8.0], 2), ([0.002, 0.08], 4)]  # none without
    markers = {ln.get_ydata()[0]: ln for ln in lines if len(ln.get_xdata()) == 1}
    assert [markers[y].get_xdata()[0] for y in range(5)] == [22.0, -3.0, 2.0, 5.0, 0.04]
    assert [markers[y].get_marker() for y in range(5)] == ["s", "s", "o", "o", "o"]
    # filled where the verdict decides, open otherwise (highway's interval excludes 0, undecided after Holm)
    assert [markers[y].get_markerfacecolor() != "white" for y in range(5)] == [True, True, False, False, False]
    texts = [t.get_text() for t in ax.texts]
    assert "+22.0 [+18.0, +26.0]  3/3" in texts and "+2.0 [-4.0, +8.0]  1/3" in texts
    assert "+5.0  gap not shown, one seed: no interval" in texts
    assert "+0.04 [+0.002, +0.1]  3/3" in texts  # never "+0.0" for a bound that decides
    assert "56: 2/3 diverged" in texts  # the cell's flag, under its row
    band = [p for p in ax.patches if p.get_x() == -5.0]
    assert len(band) == 1 and band[0].get_width() == 10.0  # the equivalence margin
    assert ax.get_xlim()[0] < -5.0 and ax.get_xlim()[1] > 26.0 and ax.get_xlabel() == "depth gap (points)"
    separators = [ln for ln in lines if list(ln.get_ydata()) == [1.5, 1.5]]
    assert len(separators) == 1  # between the reference rows and the methods


def test_gap_forest_carries_the_leaderboard(board, ax):
    table = gap_forest(board.reset_index(drop=True))
    assert list(table["label"]) == list(board["label"]) and list(table["reference"]) == list(board["reference"])
    assert list(table["decided"]) == [True, True, True, False, True]  # degrades, removes it, degrades, not shown, removes
    assert table["diff"].to_numpy() == pytest.approx(board["gap"].to_numpy(dtype=float))
    assert table["low"].to_numpy() == pytest.approx(board["gap_low"].to_numpy(dtype=float))
    plot_forest(ax, table)
    assert len([t for t in ax.get_yticklabels()]) == 5


# --- report.pdf --------------------------------------------------------------------------------------


def page_texts(page: Figure) -> list[tuple[float, str]]:
    return sorted(((t.get_position()[1], t.get_text()) for t in page.texts if t.get_fontfamily() == ["monospace"]),
                  reverse=True)


def test_methods_report_opens_with_the_leaderboard(methods):
    result = build_report(methods / "runs", "methods", PROF, methods / "out")
    assert {"methods-forest", "methods-curves"} <= set(result.figures) and not result.errors
    page = result.first_page
    assert page.index("## Leaderboard: methods against degradation") < page.index("## Verdict")
    # What `python -m reports.build` prints: each method's depth gap and verdict before the paper's verdict.
    console = result.console
    assert console.index("Leaderboard, one-recipe board (leaderboard.md") < console.index("CIFAR family")
    fixup = next(line for line in console.splitlines() if line.startswith("fixup "))
    assert "not decided: neither a gap nor ±5 shown" in fixup and "paired, r +0.96" in fixup
    assert "| resnet (ref.) | +-3.0" not in page and "| resnet (ref.) | -3.0 [" in page
    assert "(1986) constraint that at most one of a net's two nulls is true (the 5 depth gaps" in page  # page 1 names the correction and its count
    saved = pd.read_csv(result.out_dir / "leaderboard.csv")
    assert list(saved.columns) == COLUMNS and list(saved["verdict"]) == [
        "degrades", "removes it (within ±5 points)", "degrades", "not decided: neither a gap nor ±5 shown",
        "removes it (within ±5 points)"]
    assert "| skipinit |" in (result.out_dir / "leaderboard.md").read_text()
    # verdict.md read alone says why it and the boards may differ (only report.pdf's page 1 said it)
    verdict_md = (result.out_dir / "verdict.md").read_text()
    assert "The boards of leaderboard.md test every method's gap at once" in verdict_md.replace("\n", " ")
    (forest,) = result.page_one.axes  # page 1: the depth-gap forest plot among the leaderboard's lines
    assert [t.get_text() for t in forest.get_yticklabels()] == list(saved["label"])
    texts = page_texts(result.page_one)
    heading = next(y for y, t in texts if t.startswith("Leaderboard"))
    assert heading > forest.get_position().y1
    fig = (result.out_dir / "fig-methods-forest.png")
    assert fig.is_file() and fig.stat().st_size > 1000


def test_degradation_report_page_one_holds_the_forest_plot_and_the_verdict(tmp_path):
    write_methods(tmp_path / "runs", "degradation", ["plain-20", "plain-56", "resnet-20", "resnet-56"])
    result = build_report(tmp_path / "runs", "degradation", PROF, tmp_path / "out")
    assert "## Leaderboard" not in result.first_page and not (result.out_dir / "leaderboard.csv").exists()
    (forest,) = result.page_one.axes
    labels = [t.get_text() for t in forest.get_yticklabels()]
    assert labels == ["degradation: plain-56 − plain-20", "shortcuts: plain-56 − resnet-56",
                      "residual depth: resnet-56 − resnet-20"]
    assert [ln.get_xdata()[0] for ln in forest.get_lines() if len(ln.get_xdata()) == 1] == pytest.approx(
        [22.0, 33.0 - np.mean(TRAIN["resnet-56"]), np.mean(TRAIN["resnet-56"]) - 10.0])
    texts = page_texts(result.page_one)
    verdict_y = next(y for y, t in texts if t == "Verdict")
    first_claim = next(y for y, t in texts if t.startswith("CIFAR family (fashion-mnist): reproduced."))
    box = forest.get_tightbbox(result.page_one.canvas.get_renderer()).transformed(
        result.page_one.transFigure.inverted())
    assert verdict_y > box.y1 and box.y0 > first_claim  # under the heading, above the verdict's text
    assert any(t.startswith("- Degradation, plain-56 − plain-20 = +22.00 points") for _, t in texts)
    assert (result.out_dir / "fig-verdict-forest.png").is_file()


def test_verdict_forest_lists_each_ablation_comparison_once(tmp_path):
    for seed in range(3):
        for model, v in (("plain-32", 30.0), ("resnet-32-a", 10.0), ("resnet-32-b", 9.0)):
            write_run(tmp_path, "shortcut-ablation", PROF, model, seed, steps=STEPS, train=flat(v + seed),
                      test=flat(v + seed))
    verdict = make_verdict(discover_runs(tmp_path, "shortcut-ablation", PROF).runs, "shortcut-ablation")
    table = verdict_forest(verdict)
    assert list(table["label"]) == ["plain-32 − resnet-32-a", "plain-32 − resnet-32-b",
                                    "resnet-32-b − resnet-32-a (test)"]
    assert table["diff"].to_numpy() == pytest.approx([20.0, 21.0, -1.0])


# --- depth sweep, render_pages' panel --------------------------------------------------------------


def test_depth_sweep_one_line_per_method(tmp_path, ax):
    for seed in (0, 1):
        for d in (20, 32, 44):
            for method, level in (("plain", d / 2), ("resnet", 10.0), ("fixup", 12.0)):
                write_run(tmp_path, "depth-sweep", PROF, f"{method}-{d}", seed, steps=STEPS, train=flat(level + seed))
    table = depth_table(discover_runs(tmp_path, "depth-sweep", PROF).runs)
    assert list(dict.fromkeys(table["method"])) == ["plain", "resnet", "fixup"]
    assert list(table.loc[table["method"] == "fixup", "mean"]) == pytest.approx([12.5] * 3)
    plot_depth_sweep(ax, table)
    lines = [c.lines[0] for c in ax.containers]
    assert len(lines) == 3 and len({ln.get_color() for ln in lines}) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "plain (mean, 95% CI over seeds)", "residual (mean, 95% CI over seeds)", "fixup (mean, 95% CI over seeds)"]
    assert lines[2].get_ydata() == pytest.approx([12.5] * 3)


def test_the_depth_sweep_counts_a_diverged_seed_as_the_verdict_does(tmp_path, ax):
    """resnet-56 diverged in 2 of 3 seeds: the verdict counted them at chance ("inconclusive"), while the
    depth figure drew resnet-56 at its one ok seed, a healthy net. The figure counts them as the verdict does
    and says so beside the point."""
    write(tmp_path, {"plain-20": [20.0, 21.0, 22.0], "plain-32": [30.0, 31.0, 32.0], "plain-56": [60.0, 62.0, 64.0],
                     "resnet-20": [15.0, 16.0, 17.0], "resnet-32": [16.0, 17.0, 18.0],
                     "resnet-56": ["div", "div", 18.0]}, experiment="depth-sweep")
    table = depth_table(discover_runs(tmp_path, "depth-sweep", PROF).runs).set_index("model")
    assert table.loc["resnet-56", "mean"] == pytest.approx((90 + 90 + 18) / 3) and table.loc["resnet-56", "n"] == 3
    assert table.loc["resnet-56", "diverged"] == 2 and table.loc["resnet-20", "diverged"] == 0
    plot_depth_sweep(ax, table.reset_index(), chance=90.0)
    texts = [t.get_text() for t in ax.texts]
    assert "2 of 3 diverged" in texts
    # Its interval reaches past 100%: cut there, and said (a reviewer found the cut silent).
    assert any(t.startswith("CI cut at 100 (to ") for t in texts), texts
    assert "chance (90%, guessing)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_depth_sweep_says_which_depth_sat_at_chance(tmp_path, ax):
    """A reviewer: plain-110 at chance in every seed was joined to the degradation line without a word."""
    write(tmp_path, {"plain-20": [20.0, 21.0, 22.0], "plain-56": [60.0, 62.0, 64.0], "plain-110": [89.0, 89.5, 90.0],
                     "resnet-20": [15.0, 16.0, 17.0], "resnet-56": [16.0, 17.0, 18.0], "resnet-110": [17.0, 18.0, 19.0]},
          experiment="depth-sweep")
    table = depth_table(discover_runs(tmp_path, "depth-sweep", PROF).runs)
    assert table.set_index("model").loc["plain-110", "at_chance"] == 3
    plot_depth_sweep(ax, table, chance=90.0)
    assert "3 of 3 at chance" in [t.get_text() for t in ax.texts]


def test_render_pages_panel_takes_its_band_and_moves_on_when_it_does_not_fit():
    drawn = []
    panel = ("[[panel]]", 3.0, lambda fig, rect: drawn.append((fig, rect)))
    (page,) = render_pages("# title\n\n[[panel]]\n\nafter", (8.27, 11.69), panel=panel)
    (fig, rect), = drawn
    assert fig is page and rect[3] * 11.69 >= 3.0
    ys = dict((t, y) for y, t in page_texts(page))
    assert "[[panel]]" not in ys and ys["title"] > rect[1] + rect[3] and ys["after"] < rect[1]
    drawn.clear()
    pages = render_pages("\n".join(["line"] * 60 + ["[[panel]]", "after"]), (8.27, 11.69), panel=panel)
    assert len(pages) == 2 and drawn[0][0] is pages[1]  # no room left on page 1: the band opens page 2


def test_page_one_names_each_net_whose_cost_differs_from_resnets():
    """Page 1's legend names highway's extra parameters and multiply-adds (issue 26: the board shows the cost)."""
    from reports.leaderboard import cost_text

    rows = [("resnet", "resnet-56", 0.853e6, 26.4e6), ("highway", "highway-56", 1.262e6, 39.3e6),
            ("rezero", "rezero-56", 0.8531e6, 26.41e6)]
    table = pd.DataFrame([{"family": "cifar", "method": m, "deep_model": d, "resnet": "resnet-56", "params_deep": p,
                           "multiply_adds_deep": a, "shallow_depth": 20, "deep_depth": 56} for m, d, p, a in rows])
    assert cost_text(table) == ("Cost: highway-56: 1.48x resnet-56's parameters, 1.49x its multiply-adds; the other one "
                                "within 1% of resnet's.")
    assert cost_text(table[table["method"] != "highway"]) == "Cost: every 56-layer net within 1% of resnet's."


def test_the_cost_legend_gives_the_cost_without_the_ratio_where_resnet_has_no_runs(tmp_path):
    """Found by a newcomer: `make report EXPERIMENT=methods` over runs of other depths lost page 1's leaderboard
    ("first page's forest plot failed: TypeError: unsupported operand type(s) for /: 'NoneType' and
    'NoneType'"): resnet-56 was named but had no runs, so no cost. Now a net of known cost is named with it,
    no ratio; a net without one is not named."""
    from reports.leaderboard import cost_text

    # A board none of whose 56-layer nets has a run: no cost at all (None in every cell), page 1 still renders.
    write(tmp_path, {"plain-20": [20.0, 21.0], "resnet-20": [15.0, 16.0]})
    models = ["plain-20", "plain-56", "resnet-20", "resnet-56"]
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF, models).runs, models)
    assert board["params_deep"].isna().all() and cost_text(board) == ""
    assert "Cost:" not in page_one_markdown(board)

    rows = [("resnet", "resnet-56", None, None), ("highway", "highway-56", 1.262e6, 39.3e6),
            ("rezero", "rezero-56", 0.8531e6, 26.41e6), ("fixup", "fixup-56", None, None)]
    table = pd.DataFrame([{"family": "cifar", "method": m, "deep_model": d, "resnet": "resnet-56", "params_deep": p,
                           "multiply_adds_deep": a, "shallow_depth": 20, "deep_depth": 56} for m, d, p, a in rows])
    expected = ("Cost: highway-56: 1.26 M parameters, 39.3 M multiply-adds; rezero-56: 0.853 M parameters, 26.4 M "
                "multiply-adds (resnet-56 has no runs to compare with).")
    assert cost_text(table) == expected
    assert cost_text(table.astype(object).where(table.notna(), None)) == expected  # None, as a board's cells, not NaN
    assert cost_text(table[table["method"].isin(["resnet", "fixup"])]) == ""


def test_a_method_named_at_the_shallow_depth_only_stays_in_its_own_columns(tmp_path):
    """rezero named at 20 layers only, beside plain and resnet at 20 and 56: its numbers sat under "train 56"
    and its 20-layer net was compared with plain-20 and resnet-20 under the "at 56 layers" heading, counted in
    the 56-layer Holm families. Now its row fills the 20-layer columns and compares with no baseline."""
    write(tmp_path, {"plain-20": [20.0, 21.0, 22.0], "plain-56": [60.0, 62.0, 64.0], "resnet-20": [15.0, 16.0, 17.0],
                     "resnet-56": [14.0, 15.5, 16.0], "rezero-20": [16.0, 16.5, 17.5], "highway-32": [18.0, 19.0, 20.0]})
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method", drop=False)
    rezero, highway = board.loc["rezero"], board.loc["highway"]
    assert rezero["train_shallow_mean"] == pytest.approx(16.6666667) and rezero["train_deep_n"] == 0
    assert pd.isna(rezero["vs_plain"]) and pd.isna(rezero["vs_resnet"]) and rezero["verdict"].startswith("one depth named")
    assert rezero["vs_resnet_verdict"] == "not compared: rezero-20 is not at the board's deep depth"  # not "of )"
    assert family_sizes(board)["vs_resnet"] == 1  # plain-56's only, not rezero-20's
    # at neither of the board's depths: in no column, compared with nothing
    assert highway["train_shallow_n"] == highway["train_deep_n"] == 0 and pd.isna(highway["vs_plain"])
    md = leaderboard_markdown(board.reset_index(drop=True))
    assert "| rezero | 16.67 ± 0.76 | – | 16.67 ± 0.76 | – | – | – | – |" in md, md
    assert "| highway | – | – | – | – | – | – | – |" in md and "| rezero | – | – | – | not compared" in md


def test_an_interval_beyond_what_two_errors_allow_is_cut_with_an_arrowhead(ax):
    """[-179.5, +186.5] (a few seeds at chance and at 20%) ran to the axis' edge at about ±115 with nothing to
    say it was cut, where the caption says "cut at ±100": the bar now ends at ±100 with an arrowhead."""
    frame = forest_frame()
    frame.loc[2, ["low", "high"]] = [-179.5, 186.5]
    plot_forest(ax, frame)
    row = [ln for ln in ax.get_lines() if len(ln.get_ydata()) and ln.get_ydata()[0] == 2]
    bar = [list(ln.get_xdata()) for ln in row if len(ln.get_xdata()) == 2]
    heads = {ln.get_marker(): ln.get_xdata()[0] for ln in row if ln.get_marker() in ("<", ">")}
    assert [-100.0, 100.0] in bar and heads == {"<": -100.0, ">": 100.0}
    assert "+2.0 [-179.5, +186.5]  1/3" in [t.get_text() for t in ax.texts]  # the numbers in full


def test_page_one_counts_each_boards_own_gaps():
    """Page 1 and the forest's title said "each board's N gaps" with N the one-recipe board's, where the tuned
    board can hold fewer (a net whose rate is not chosen yet has no interval there)."""
    from reports.leaderboard import gap_counts

    table = pd.DataFrame({"board": ["one-recipe"] * 3 + ["tuned"] * 3, "gap_p": [0.1, 0.2, 0.3, 0.1, np.nan, 0.2],
                          "vs_plain_p": np.nan, "vs_resnet_p": np.nan})
    assert gap_counts(table) == "3 (one recipe), 2 (tuned)"
    assert gap_counts(table[table["board"] == "tuned"]) == "2"


def test_a_board_of_nets_at_one_depth_draws_no_empty_forest_plot(tmp_path):
    """Found by a newcomer: MODELS="plain-8 resnet-8" gave page 1 an empty forest plot (x from -1 to 1, "Holm
    over each board's 0 gaps"). Where no method has a depth gap, the board says so and no plot is drawn."""
    write(tmp_path, {"plain-20": [10.0, 11.0, 12.0], "resnet-20": [9.0, 10.0, 11.5]})
    result = build_report(tmp_path, "methods", PROF, tmp_path / "out")
    assert not result.errors, result.errors
    board = pd.read_csv(tmp_path / "out" / "methods" / PROF / "leaderboard.csv")
    assert set(board["verdict"]) == {"one depth named (plain-20): no depth gap",
                                     "one depth named (resnet-20): no depth gap"}, set(board["verdict"])
    assert not result.page_one.axes and "0 gaps" not in " ".join(t.get_text() for t in result.page_one.texts)
    assert "| plain (ref.) |" in result.first_page  # the board itself is still there


def test_the_baselines_table_prints_the_holm_p_its_verdicts_follow(board):
    """A reader found "+16.8 [+7.8, +25.8]: difference not shown" with no way to tell why from the page: the
    interval is unadjusted, the verdict Holm-adjusted. The table prints the adjusted p beside each verdict."""
    md = leaderboard_markdown(board.reset_index(drop=True))
    assert "| method | plain net | plain − method | Holm p | verdict | resnet − method | Holm p | verdict |" in md
    assert "95% CI, unadjusted" in md and "The verdicts follow the Holm-adjusted p beside them" in md
    for r in board.itertuples():
        if pd.notna(r.vs_resnet_p_holm):
            assert f"| {p_text(r.vs_resnet_p_holm)} / {p_text(r.vs_resnet_p_equiv_holm)} | {r.vs_resnet_verdict} |" in md
