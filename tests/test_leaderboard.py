"""The methods benchmark's reports (issue 21, point 3): the leaderboard's numbers and words on run folders made
for them (tests/runfolders.py), the forest plot's Axes, report.pdf's first page (the leaderboard for
``methods``, the verdict's forest plot beside the verdict text for ``degradation``), the depth sweep per
method, and render_pages' panel."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from runfolders import write_run  # noqa: E402

from reports.build import build_report  # noqa: E402
from reports.depth import depth_table, plot_depth_sweep  # noqa: E402
from reports.forest import FOREST_COLUMNS, gap_forest, plot_forest, verdict_forest  # noqa: E402
from reports.leaderboard import COLUMNS, leaderboard_markdown, leaderboard_table  # noqa: E402
from reports.pages import render_pages  # noqa: E402
from reports.runs import discover_runs  # noqa: E402
from reports.stats import difference  # noqa: E402
from reports.verdict import make_verdict  # noqa: E402

PROF = "quick"
STEPS = [100, 200, 300]
T95_DF4 = 2.7764451  # t quantile, 0.975, 4 degrees of freedom

# Final training errors (%) per seed. plain degrades (+22); resnet does not (-3, the interval below 0);
# fixup is inconclusive (per seed -2, 0, +8); skipinit-56 lost seed 2 (failed); the BN-free methods are
# measured against plain-56-nobn (62), not plain-56 (33).
TRAIN = {"plain-20": [10.0, 11.0, 12.0], "plain-56": [30.0, 33.0, 36.0],
         "resnet-20": [9.0, 10.0, 11.0], "resnet-56": [6.0, 7.0, 8.0],
         "plain-20-nobn": [20.0, 21.0, 22.0], "plain-56-nobn": [60.0, 62.0, 64.0],
         "fixup-20": [10.0, 11.0, 12.0], "fixup-56": [8.0, 11.0, 20.0],
         "skipinit-20": [12.0, 13.0, 14.0], "skipinit-56": [12.0, 13.0, None]}


def flat(value):
    return lambda step: value


def write_methods(runs: Path, experiment: str = "methods", models=tuple(TRAIN)) -> None:
    for model in models:
        values = TRAIN[model]
        for seed, v in enumerate(values):
            if v is None:
                write_run(runs, experiment, PROF, model, seed, status="failed", train=None, write_metrics=False)
            else:
                write_run(runs, experiment, PROF, model, seed, steps=STEPS, train=flat(v), test=flat(v + 2.0))


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


def test_rows_columns_and_reference_rows(board):
    assert list(board.columns) == COLUMNS
    assert list(board["method"]) == ["plain", "resnet", "plain-nobn", "fixup", "skipinit"]
    assert list(board["reference"]) == [True, True, False, False, False]
    assert set(board["shallow_depth"]) == {20} and set(board["deep_depth"]) == {56}
    assert list(board.loc["plain-nobn", ["kind", "norm"]]) == ["plain", "none"]


def test_a_method_that_degrades(board):
    plain = board.loc["plain"]
    assert plain["train_shallow_mean"] == pytest.approx(11.0) and plain["train_shallow_std"] == pytest.approx(1.0)
    assert plain["train_deep_mean"] == pytest.approx(33.0) and plain["train_deep_std"] == pytest.approx(3.0)
    assert plain["test_deep_mean"] == pytest.approx(35.0) and plain["train_deep_n"] == 3
    d = difference(dict(enumerate(TRAIN["plain-56"])), dict(enumerate(TRAIN["plain-20"])))  # the verdict's interval
    assert (plain["gap"], plain["gap_low"], plain["gap_high"]) == (pytest.approx(22.0), d.low, d.high)
    assert plain["gap_low"] > 0 and (plain["gap_above"], plain["gap_seeds"]) == (3, 3)
    assert plain["verdict"] == "degrades"
    assert plain["effect_verdict"] == "baseline" and pd.isna(plain["effect"])


def test_a_method_that_does_not_degrade_and_its_effect_against_plain(board):
    res = board.loc["resnet"]
    half = T95_DF4 * math.sqrt(2 / 3)  # both sides sd 1, n 3: df 4
    assert res["gap"] == pytest.approx(-3.0) and res["gap_high"] == pytest.approx(-3.0 + half)
    assert res["verdict"] == "does not degrade" and res["gap_above"] == 0
    assert res["baseline"] == "plain-56" and res["effect"] == pytest.approx(33.0 - 7.0)
    assert res["effect_verdict"] == "trains better than plain" and res["effect_low"] > 0


def test_an_inconclusive_method(board):
    fixup = board.loc["fixup"]
    assert fixup["gap"] == pytest.approx(2.0) and fixup["gap_low"] < 0 < fixup["gap_high"]
    assert fixup["verdict"] == "inconclusive" and (fixup["gap_above"], fixup["gap_seeds"]) == (1, 3)


def test_bn_free_methods_against_plain_without_bn(board):
    fixup, nobn = board.loc["fixup"], board.loc["plain-nobn"]
    assert fixup["baseline"] == "plain-56-nobn" and fixup["effect"] == pytest.approx(62.0 - 13.0)
    assert nobn["effect_verdict"] == "baseline" and nobn["verdict"] == "degrades"
    assert nobn["gap"] == pytest.approx(41.0)


def test_a_missing_seed(board):
    skip = board.loc["skipinit"]
    assert (skip["train_deep_n"], skip["train_shallow_n"], skip["seeds_expected"]) == (2, 3, 3)
    assert skip["train_deep_mean"] == pytest.approx(12.5) and skip["gap"] == pytest.approx(-0.5)
    assert skip["gap_seeds"] == 2  # the seeds both depths have
    assert skip["effect"] == pytest.approx(62.0 - 12.5) and skip["baseline"] == "plain-56-nobn"
    md = leaderboard_markdown(board.reset_index(drop=True))
    assert "| skipinit | 13.00 ± 1.00 | 12.50 ± 0.71 (n=2) |" in md
    assert "| plain (ref.) | +22.0 [" in md and "| 3/3 | degrades | plain-56 | baseline |" in md
    assert "| fixup | +2.0 [" in md and "| 1/3 | inconclusive | plain-56-nobn | +49.0 [" in md


def test_a_method_neither_of_whose_depths_trains_says_so(tmp_path):
    """Both nets at chance (10 classes: 90% error): the gap's interval may include 0, but the row must not
    read as a method that removes the degradation."""
    ten = [f"c{i}" for i in range(10)]
    for model, values in (("plain-20-nobn", [89.0, 90.0, 91.0]), ("plain-56-nobn", [90.0, 89.5, 90.5]),
                          ("fixup-20", [68.0, 70.0, 72.0]), ("fixup-56", [88.0, 89.0, 90.0])):
        for seed, v in enumerate(values):
            write_run(tmp_path, "methods", PROF, model, seed, steps=STEPS, train=flat(v), test=flat(v), classes=ten)
    board = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).set_index("method")
    assert board.loc["plain-nobn", "chance"] == pytest.approx(90.0)
    assert board.loc["plain-nobn", "verdict"] == "inconclusive; neither depth trains (chance 90%)"
    assert board.loc["fixup", "verdict"] == "degrades"  # fixup-20 trains (70%): the gap is a gap
    assert "neither depth trains" in leaderboard_markdown(board.reset_index())


def test_one_seed_is_inconclusive_with_no_interval(tmp_path):
    for model, v in (("fixup-20", 10.0), ("fixup-56", 30.0)):
        write_run(tmp_path, "methods", PROF, model, 0, steps=STEPS, train=flat(v))
    (row,) = leaderboard_table(discover_runs(tmp_path, "methods", PROF).runs).itertuples()
    assert row.gap == pytest.approx(20.0) and pd.isna(row.gap_low)
    assert row.verdict == "inconclusive (one seed, no interval)" and row.effect_verdict == "no plain-56-nobn to compare with"


def test_a_plugin_is_a_method_measured_against_the_papers_plain_net(tmp_path):
    # Recorded as the trainer records a plugin's runs; no plugin is installed (the report reads the records).
    plugin = {"distribution": "mynet-plugin", "version": "0.1.0", "source_sha256": "ab" * 32}
    for seed in range(2):
        for model, v in (("plain-20", 10.0), ("plain-56", 30.0), ("mynet-20", 9.0), ("mynet-56", 8.0)):
            write_run(tmp_path, "degradation", PROF, model, seed, steps=STEPS, train=flat(v + seed),
                      plugin=plugin if model.startswith("mynet") else None)
    board = leaderboard_table(discover_runs(tmp_path, "degradation", PROF).runs).set_index("method")
    mynet = board.loc["mynet"]
    assert (mynet["norm"], bool(mynet["reference"]), mynet["baseline"]) == ("unknown", False, "plain-56")
    assert mynet["gap"] == pytest.approx(-1.0) and mynet["effect"] == pytest.approx(22.0)
    assert mynet["verdict"] == "inconclusive" and mynet["gap_low"] < 0 < mynet["gap_high"]  # two seeds: df 2


# --- the forest plot ---------------------------------------------------------------------------------


def forest_frame() -> pd.DataFrame:
    rows = [["plain", 22.0, 18.0, 26.0, 3, 3, True, "", "reference"],
            ["resnet", -3.0, -5.0, -1.0, 0, 3, True, "", "reference"],
            ["fixup", 2.0, -4.0, 8.0, 1, 3, False, "", "method"],
            ["skipinit", 5.0, np.nan, np.nan, 1, 1, False, "inconclusive (one seed, no interval)", "method"]]
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def test_plot_forest_rows_intervals_zero_line_and_values(ax):
    assert plot_forest(ax, forest_frame(), xlabel="depth gap (points)") is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["plain", "resnet", "fixup", "skipinit"]
    assert [t.get_fontweight() for t in ax.get_yticklabels()] == ["bold", "bold", "normal", "normal"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first row on top
    lines = ax.get_lines()
    zero = [ln for ln in lines if list(ln.get_xdata()) == [0, 0]]
    assert len(zero) == 1 and zero[0].get_color() == "k"
    bars = [(list(ln.get_xdata()), ln.get_ydata()[0]) for ln in lines if ln.get_linestyle() == "-" and ln not in zero
            and len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]]
    assert bars == [([18.0, 26.0], 0), ([-5.0, -1.0], 1), ([-4.0, 8.0], 2)]  # no bar without an interval
    points = {ln.get_ydata()[0]: ln for ln in lines if len(ln.get_xdata()) == 1}
    assert [points[y].get_xdata()[0] for y in range(4)] == [22.0, -3.0, 2.0, 5.0]
    assert [points[y].get_marker() for y in range(4)] == ["s", "s", "o", "o"]
    # filled where the interval excludes 0, open where it includes 0 or there is none
    assert [points[y].get_markerfacecolor() != "white" for y in range(4)] == [True, True, False, False]
    texts = [t.get_text() for t in ax.texts]
    assert "+22.0 [+18.0, +26.0]  3/3" in texts and "+2.0 [-4.0, +8.0]  1/3" in texts
    assert "+5.0  inconclusive (one seed, no interval)" in texts
    assert ax.get_xlim()[0] < -5.0 and ax.get_xlim()[1] > 26.0 and ax.get_xlabel() == "depth gap (points)"
    separators = [ln for ln in lines if list(ln.get_ydata()) == [1.5, 1.5]]
    assert len(separators) == 1  # between the reference rows and the methods


def test_gap_forest_carries_the_leaderboard(board, ax):
    table = gap_forest(board.reset_index(drop=True))
    assert list(table["label"]) == list(board["method"]) and list(table["reference"]) == list(board["reference"])
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
    assert console.index("Leaderboard (leaderboard.md") < console.index("CIFAR family")
    fixup = next(line for line in console.splitlines() if line.startswith("fixup "))
    assert "inconclusive" in fixup and "plain-56-nobn" in fixup
    assert "| resnet (ref.) | +-3.0" not in page and "| resnet (ref.) | -3.0 [" in page
    saved = pd.read_csv(result.out_dir / "leaderboard.csv")
    assert list(saved.columns) == COLUMNS and list(saved["verdict"]) == [
        "degrades", "does not degrade", "degrades", "inconclusive", "inconclusive"]
    assert "| skipinit |" in (result.out_dir / "leaderboard.md").read_text()
    (forest,) = result.page_one.axes  # page 1: the depth-gap forest plot among the leaderboard's lines
    assert [t.get_text() for t in forest.get_yticklabels()] == list(saved["method"])
    texts = page_texts(result.page_one)
    heading = next(y for y, t in texts if t.startswith("## Leaderboard"))
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
        [22.0, 26.0, -3.0])
    texts = page_texts(result.page_one)
    verdict_y = next(y for y, t in texts if t == "## Verdict")
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


def test_render_pages_panel_takes_its_band_and_moves_on_when_it_does_not_fit():
    drawn = []
    panel = ("[[panel]]", 3.0, lambda fig, rect: drawn.append((fig, rect)))
    (page,) = render_pages("# title\n\n[[panel]]\n\nafter", (8.27, 11.69), panel=panel)
    (fig, rect), = drawn
    assert fig is page and rect[3] * 11.69 >= 3.0
    ys = dict((t, y) for y, t in page_texts(page))
    assert "[[panel]]" not in ys and ys["# title"] > rect[1] + rect[3] and ys["after"] < rect[1]
    drawn.clear()
    pages = render_pages("\n".join(["line"] * 60 + ["[[panel]]", "after"]), (8.27, 11.69), panel=panel)
    assert len(pages) == 2 and drawn[0][0] is pages[1]  # no room left on page 1: the band opens page 2
