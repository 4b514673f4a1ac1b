"""The figures' Axes functions, as a notebook uses them: a small hand-made tidy frame, a fresh
``plt.subplots()`` Axes, and assertions on what is drawn (lines and their data, bands, labels, ticks)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh  # noqa: E402

from reports.analysis import NET_COLUMNS  # noqa: E402
from reports.depth import plot_depth_sweep  # noqa: E402
from reports.figures import OPTION_COLOURS, plot_error_curves, plot_shortcut_points  # noqa: E402
from reports.gradients import plot_gradient_heatmap, plot_gradient_profiles  # noqa: E402
from reports.plotdata import curve_stats, curve_table, y_upper  # noqa: E402
from reports.responses import plot_layer_responses  # noqa: E402
from reports.runs import TIDY_COLUMNS  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def tidy_rows(model: str, seed: int, split: str, points: dict[int, float], status: str = "ok") -> list[list]:
    depth = int(model.split("-")[1])
    run = f"degradation/quick/{model}/seed{seed}"
    return [[run, model, "cifar", depth, "none" if model.startswith("plain") else "a", seed, status, step, split,
             1.0, err] for step, err in points.items()]


def runs_csv() -> pd.DataFrame:
    """plain-20: two ok seeds (train at 100..400, seed 1 stops at 300; test at 400), one diverged seed."""
    rows = (tidy_rows("plain-20", 0, "train", {100: 50.0, 200: 40.0, 300: 30.0, 400: 20.0})
            + tidy_rows("plain-20", 1, "train", {100: 60.0, 200: 50.0, 300: 40.0})
            + tidy_rows("plain-20", 0, "test", {400: 25.0}) + tidy_rows("plain-20", 1, "test", {400: 35.0})
            + tidy_rows("plain-20", 2, "train", {100: 90.0, 200: float("nan")}, status="diverged")
            + tidy_rows("resnet-20", 0, "train", {100: 30.0, 200: 20.0})
            + tidy_rows("resnet-20", 0, "val", {200: 22.0}))
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def test_curve_stats_average_ok_seeds_at_the_steps_all_logged():
    curve = curve_stats(runs_csv(), "plain-20", "train")
    assert curve["step"].tolist() == [100, 200, 300]  # step 400: seed 0 only; the diverged seed is left out
    assert curve["mean"].tolist() == [55.0, 45.0, 35.0]
    assert curve["std"].to_numpy() == pytest.approx([np.sqrt(50)] * 3) and curve["n"].tolist() == [2, 2, 2]
    table = curve_table(runs_csv(), ["plain-20", "resnet-20", "plain-56"])
    assert table[["model", "split"]].drop_duplicates().values.tolist() == [
        ["plain-20", "train"], ["plain-20", "test"], ["resnet-20", "train"], ["resnet-20", "val"]]
    assert y_upper(table) == pytest.approx(45.0 * 1.25)  # the largest mean after the first 10% (step 100 is cut)


def test_plot_error_curves_draws_train_dashed_eval_bold_bands_and_legend(ax):
    curves = curve_table(runs_csv(), ["plain-20", "resnet-20"])
    out = plot_error_curves(ax, curves, {"plain-20": "#1f77b4", "resnet-20": "#d62728"},
                            seeds={"plain-20": (2, 3), "resnet-20": (1, 1)})
    assert out is ax
    train, test, res_train, res_val = ax.get_lines()
    assert (train.get_linestyle(), test.get_linestyle()) == ("--", "-") and test.get_linewidth() == 2.2
    assert list(train.get_xdata()) == [100, 200, 300] and list(train.get_ydata()) == [55.0, 45.0, 35.0]
    assert list(test.get_ydata()) == [30.0] and test.get_marker() == "o"  # one point: a marker
    assert list(res_val.get_ydata()) == [22.0] and res_train.get_color() == "#d62728"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # plain-20's train and test (n=2); resnet-20 has one seed: no band
    ys = np.concatenate([p.vertices[:, 1] for p in bands[0].get_paths()])
    assert ys.min() == pytest.approx(35 - np.sqrt(50)) and ys.max() == pytest.approx(55 + np.sqrt(50))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["plain-20 train / test (2 of 3 seeds ok)", "resnet-20 train / val (n=1)"]
    assert ax.get_ylim() == (0, pytest.approx(45.0 * 1.25))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("iterations", "error (%)")


def test_plot_error_curves_names_and_nothing_to_draw(ax):
    curves = curve_table(runs_csv(), ["resnet-20"])
    plot_error_curves(ax, curves, {"resnet-20": "C0"}, names={"resnet-20": "A: resnet-20"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A: resnet-20 train / val (n=1)"]
    fig, empty = plt.subplots()
    plot_error_curves(empty, curves, {"plain-56": "C1"}, empty_text="no ok plain runs", ylabel=None)
    assert not empty.get_lines() and [t.get_text() for t in empty.texts] == ["no ok plain runs"]
    assert empty.get_ylabel() == ""
    plt.close(fig)


def finals_frame() -> pd.DataFrame:
    """One ablation depth: plain 3 ok seeds, A 2 ok + 1 failed, B none ok; paper numbers for plain and B."""
    rows = [("plain", "plain-34", 0, "ok", 30.0, 28.54), ("plain", "plain-34", 1, "ok", 32.0, 28.54),
            ("plain", "plain-34", 2, "ok", 34.0, 28.54), ("A", "resnet-34-a", 0, "ok", 16.0, np.nan),
            ("A", "resnet-34-a", 1, "ok", 18.0, np.nan), ("A", "resnet-34-a", 2, "failed", np.nan, np.nan),
            ("B", "resnet-34-b", 0, "failed", np.nan, 24.52)]
    frame = pd.DataFrame(rows, columns=["option", "model", "seed", "status", "error", "paper"])
    return frame.assign(family="imagenet", depth=34)


def test_plot_shortcut_points_means_seeds_paper_and_ticks(ax):
    plot_shortcut_points(ax, finals_frame(), ylabel="final test error (%)")
    bars = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [list(b.get_ydata()) for b in bars] == [[32.0], [17.0]] and [b.get_xdata()[0] for b in bars] == [0, 1]
    dots = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_facecolors().size
            and c.get_facecolors()[0][3] == pytest.approx(0.55)]
    assert sorted(np.concatenate([d.get_offsets()[:, 1] for d in dots])) == [16.0, 18.0, 30.0, 32.0, 34.0]
    diamonds = [c for c in ax.collections if isinstance(c, PathCollection) and not c.get_facecolors().size]
    assert sorted(d.get_offsets()[0].tolist() for d in diamonds) == [[0.0, 28.54], [2.0, 24.52]]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "plain\nplain-34\nn=3/3", "A\nresnet-34-a\nn=2/3", "B\nresnet-34-b\nn=0/1"]
    assert "no ok run" in [t.get_text() for t in ax.texts] and "32.00" in [t.get_text() for t in ax.texts]
    assert bars[1].get_color() == OPTION_COLOURS["A"] and ax.get_ylabel() == "final test error (%)"


def test_plot_depth_sweep_means_intervals_and_seeds(ax):
    table = pd.DataFrame([
        {"kind": "plain", "depth": 20, "model": "plain-20", "mean": 10.0, "low": 8.0, "high": 12.0, "n": 2,
         "seeds": [9.0, 11.0]},
        {"kind": "plain", "depth": 56, "model": "plain-56", "mean": 30.0, "low": np.nan, "high": np.nan, "n": 1,
         "seeds": [30.0]},
        {"kind": "resnet", "depth": 56, "model": "resnet-56", "mean": 8.0, "low": 7.0, "high": 9.0, "n": 2,
         "seeds": [7.5, 8.5]}])
    plot_depth_sweep(ax, table)
    plain, resnet = [c.lines[0] for c in ax.containers]
    assert list(plain.get_xdata()) == [20, 56] and list(plain.get_ydata()) == [10.0, 30.0]
    assert list(resnet.get_ydata()) == [8.0]
    seed_y = sorted(np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if isinstance(c, PathCollection)]))
    assert seed_y == [7.5, 8.5, 9.0, 11.0, 30.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["20", "56"]
    assert ax.get_ylabel() == "final training error (%)" and ax.get_ylim()[0] == 0


def response_frame() -> pd.DataFrame:
    """Fig. 7's table: plain-20 over 3 seeds, resnet-20 and resnet-56 once; 3 layers each."""
    rows = []
    for model, depth, kind, seeds, stds in (("resnet-20", 20, "resnet", 1, [0.5, 0.7, 0.6]),
                                            ("plain-20", 20, "plain", 3, [2.0, 1.0, 3.0]),
                                            ("resnet-56", 56, "resnet", 1, [0.3, 0.2, 0.4])):
        rows += [[model, "cifar", depth, kind, kind, True, seeds, layer, f"l{layer}", s] for layer, s in enumerate(stds, 1)]
    return pd.DataFrame(rows, columns=NET_COLUMNS + ["layer", "name", "std"])


def test_plot_layer_responses_in_order_and_ranked(ax):
    plot_layer_responses(ax, response_frame())
    plain, res20, res56 = ax.get_lines()  # by depth, plain before residual
    assert [line.get_label() for line in ax.get_lines()] == ["plain-20 (n=3)", "resnet-20", "resnet-56"]
    assert list(plain.get_ydata()) == [2.0, 1.0, 3.0] and list(plain.get_xdata()) == [1, 2, 3]
    assert (plain.get_linestyle(), res20.get_linestyle()) == ("--", "-")
    assert plain.get_color() == res20.get_color() != res56.get_color()  # one colour per depth
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0 and ax.get_ylabel() == "std"
    assert ax.get_legend() is not None
    fig, ranked = plt.subplots()
    plot_layer_responses(ranked, response_frame(), ranked=True, legend=False)
    assert list(ranked.get_lines()[0].get_ydata()) == [3.0, 2.0, 1.0] and ranked.get_legend() is None
    assert ranked.get_xlabel() == "layer index (sorted by magnitude)"
    plt.close(fig)
    wide = response_frame()
    wide.loc[wide["model"] == "resnet-56", "std"] = [0.001, 0.002, 0.003]  # spans 3000x: log axis
    fig, log = plt.subplots()
    assert plot_layer_responses(log, wide).get_yscale() == "log" and log.get_ylabel() == "std (log scale)"
    plt.close(fig)


def gradient_frame() -> pd.DataFrame:
    """plain-20 and resnet-20 (2 seeds): 3 weighted layers at iterations 0 and 50; plain-20's norms shrink."""
    rows = []
    for model, kind in (("plain-20", "plain"), ("resnet-20", "resnet")):
        for step in (0, 50):
            for layer in (1, 2, 3):
                log10 = -layer if kind == "plain" else -1.0 - step / 100
                rows.append([model, "cifar", 20, kind, kind, True, 2, step, layer, f"l{layer}", log10])
    return pd.DataFrame(rows, columns=NET_COLUMNS + ["step", "layer", "name", "log10"])


def test_plot_gradient_heatmap_and_profiles(ax):
    table = gradient_frame()
    plot_gradient_heatmap(ax, table[table["model"] == "plain-20"])
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert mesh.get_array().shape == (3, 2)  # layers x iterations
    assert mesh.get_array()[:, 0].tolist() == [-1.0, -2.0, -3.0]
    assert ax.get_ylim() == (3.5, 0.5)  # layer 1, the input side, at the top
    assert ax.get_title() == "plain-20 (n=2)" and [t.get_text() for t in ax.get_xticklabels()] == ["0", "50"]
    fig, prof = plt.subplots()
    plot_gradient_profiles(prof, table)
    lines = prof.get_lines()
    assert len(lines) == 4  # each net at its first and last iteration
    assert lines[0].get_ydata() == pytest.approx([0.1, 0.01, 0.001]) and lines[0].get_linestyle() == "--"
    assert lines[3].get_ydata() == pytest.approx([10 ** -1.5] * 3) and lines[3].get_linestyle() == "-"
    assert prof.get_yscale() == "log"
    assert [t.get_text() for t in prof.get_legend().get_texts()] == [
        "plain-20", "resnet-20", "iteration 0", "iteration 50"]
    plt.close(fig)
    # One record per net: drawn once, and the legend names its iteration once (it said "iteration 0" twice)
    fig, prof = plt.subplots()
    plot_gradient_profiles(prof, table[table["step"] == 0])
    assert len(prof.get_lines()) == 2
    assert [t.get_text() for t in prof.get_legend().get_texts()] == ["plain-20", "resnet-20", "iteration 0"]
    plt.close(fig)


def test_registered_figure_draws_the_context_tidy_table_also_in_a_hand_made_context(tmp_path):
    """The thin registered function: a ReportContext made by hand (no runs.csv frame) fills its tidy table
    from the runs; the degradation figure draws plain-20's two seeds' mean and its legend counts seeds."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from runfolders import write_run

    from reports.figures import degradation_figures
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    for seed, level in ((0, 40.0), (1, 50.0)):
        write_run(tmp_path, "degradation", "quick", "plain-20", seed, steps=[100, 200], train=lambda s, v=level: v,
                  test=lambda s, v=level: v + 5)
    write_run(tmp_path, "degradation", "quick", "resnet-20", 0, status="diverged", steps=[100, 200])
    runs = discover_runs(tmp_path, "degradation", "quick").runs
    ctx = ReportContext("degradation", "quick", tmp_path, tmp_path / "out", runs, pd.DataFrame(), pd.DataFrame())
    assert ctx.aggregate("plain-20", "train")["mean"].tolist() == [45.0, 45.0]
    fig = degradation_figures(ctx)["degradation-cifar"]
    plain_ax, residual_ax = fig.axes
    assert [list(line.get_ydata()) for line in plain_ax.get_lines()] == [[45.0, 45.0], [50.0, 50.0]]
    assert [t.get_text() for t in plain_ax.get_legend().get_texts()] == ["plain-20 train / test (n=2)"]
    assert not residual_ax.get_lines() and residual_ax.texts[0].get_text() == "no ok residual runs"
    assert residual_ax.get_title() == "residual networks (shortcut A)"


def test_depth_sweep_bars_end_where_an_error_can(ax):
    """plain-56's interval over three seeds (one near chance) reached 107% in the committed sweep: the bar ends
    at 100% now, and at 0 below."""
    table = pd.DataFrame([
        {"kind": "plain", "depth": 56, "model": "plain-56", "mean": 69.6, "low": 31.4, "high": 107.9, "n": 3,
         "seeds": [53.8, 70.5, 84.6]},
        {"kind": "resnet", "depth": 56, "model": "resnet-56", "mean": 2.0, "low": -3.0, "high": 7.0, "n": 3,
         "seeds": [1.0, 2.0, 3.0]}])
    plot_depth_sweep(ax, table)
    ends = [sorted(np.concatenate([seg[:, 1] for seg in c.lines[2][0].get_segments()])) for c in ax.containers]
    assert ends[0] == pytest.approx([31.4, 100.0]) and ends[1] == pytest.approx([0.0, 7.0])


def test_the_shortcut_chart_names_a_diverged_seed_the_verdict_counts(ax):
    """B at 16.85 over its 4 ok seeds, "n=4/5", beside a verdict that counts its fifth, diverged, seed at chance
    and shows no difference from plain: the tick now says the seed diverged."""
    frame = finals_frame()
    frame.loc[frame["option"] == "A", "status"] = ["ok", "ok", "diverged"]
    plot_shortcut_points(ax, frame)
    assert [t.get_text() for t in ax.get_xticklabels()][1] == "A\nresnet-34-a\nn=2/3\n1 diverged"


def test_a_long_plugin_name_is_shortened_in_figures_keeping_its_depth():
    """Found by a fault hunt: a 60-character plugin name pushed the methods forest's panel titles into each
    other and cut the curves' panel title at the page's edge. Figures show at most 28 characters of a name."""
    from reports.figures import LONGEST_NAME, short_name

    long = "supercalifragilisticexpialidociousresidualnetworkwithgates-56"
    assert short_name(long) == "supercalifragilisticexpi…-56" and len(short_name(long)) == LONGEST_NAME
    assert short_name("resnet-56-nobn") == "resnet-56-nobn"  # short names whole
    assert short_name("x" * 40) == "x" * 27 + "…"  # no depth to keep


def texts_outside(fig) -> list[str]:
    """The texts ``fig`` draws (at its size, on an Agg canvas) whose window extent leaves the figure's: a
    caption or title cut at the figure's edge."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    drawn, draw = [], Text.draw

    def record(self, renderer):
        drawn.append(self)
        return draw(self, renderer)

    Text.draw = record  # the texts drawn, not those kept for ticks beyond the view
    try:
        FigureCanvasAgg(fig).draw()
    finally:
        Text.draw = draw
    renderer, box = fig.canvas.get_renderer(), fig.bbox
    out = []
    for t in drawn:
        if t.get_visible() and t.get_text():
            e = t.get_window_extent(renderer)
            if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
                out.append(t.get_text())
    return out


def test_captions_and_titles_fit_each_figure_at_its_narrowest(tmp_path):
    """Found by a newcomer: fig-methods-curves.png with 2 methods (8.6 in wide) cut its caption at both ends
    ("…es: the one-recipe board's depth-gap verdicts … are not correc"); one method, 4.3 in, its title too,
    and a long verdict in a panel's title ran into the next panel's. The learning-rate figure (4 in), the
    shortcut figures (5.5 in) and the gradient norms per method (3.4 in) did the same at one panel. Every
    text now lies inside its figure."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from runfolders import write_run

    from reports import forest, gradients, tuning
    from reports.build import report_style
    from reports.figures import shortcut_curves, shortcut_points
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    ten = [f"c{i}" for i in range(10)]

    def context(root, experiment):
        runs = discover_runs(root, experiment, "smoke").runs
        return ReportContext(experiment, "smoke", root, root / "out", runs, pd.DataFrame(), pd.DataFrame(),
                             "fashion-mnist")

    figs = {}
    finals = {"plain-20": 10, "plain-56": 30, "resnet-20": 9, "resnet-56": 7, "fixup-20": 10, "fixup-56": 88}
    with report_style():
        for n in (1, 2, 3):  # 1, 2, 3 columns; seeds that agree exactly: the longest verdict
            root = tmp_path / f"methods{n}"
            for model in list(finals)[: 2 * n]:
                for seed in range(3):
                    write_run(root, "methods", "smoke", model, seed, steps=[3, 6], classes=ten,
                              train=lambda s, v=finals[model] + seed: v, test=lambda s, v=finals[model] + seed: v + 2)
            figs[f"methods-curves, {n} methods"] = forest.methods_curves(context(root, "methods"))
        rows = [{"model": f"plain-{d}", "method": "plain", "depth": d, "lr": lr, "status": "ok", "train": 20.0 + d / 4,
                 "val": 30.0, "chosen": lr == 0.1, "extension": False} for d in (20, 56) for lr in (0.05, 0.1)]
        figs["methods-lr, 1 method"] = tuning.lr_sensitivity_figure(
            pd.DataFrame(rows, columns=tuning.TUNING_COLUMNS),
            "Learning-rate sensitivity (the tuning runs) — methods / smoke, fashion-mnist", chance=90.0)
        root = tmp_path / "ablation"
        for model in ("plain-20", "resnet-20-a", "resnet-20-b", "resnet-20-c"):
            write_run(root, "shortcut-ablation", "smoke", model, 0, steps=[3, 6], classes=ten)
        figs["shortcuts, 1 depth"] = shortcut_points(context(root, "shortcut-ablation"))
        figs["shortcut-curves, 1 depth"] = shortcut_curves(context(root, "shortcut-ablation"))
        root = tmp_path / "gradients"
        for model, layers in (("fixup-20", 20), ("fixup-56", 56)):
            folder = write_run(root, "methods", "smoke", model, 0, steps=[3, 6], classes=ten)
            pd.DataFrame([(step, k, f"l{k}.conv", 0.5 + 0.01 * k) for step in (0, 6) for k in range(1, layers + 1)],
                         columns=["step", "layer", "name", "norm"]).to_csv(folder / "grad_norms.csv", index=False)
        figs["grad-norms-methods, 1 method"] = gradients.gradient_method_figures(
            context(root, "methods"))["grad-norms-methods-cifar"]
        cut = {name: texts_outside(fig) for name, fig in figs.items()}
    assert not any(cut.values()), {name: texts for name, texts in cut.items() if texts}


def covered_points(ax) -> int:
    """How many of ``ax``'s lines' data points (in display space) its legend's window extent holds."""
    box = ax.get_legend().get_window_extent()
    x, y = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.get_lines()]).T
    return int(((x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)).sum())


@pytest.mark.parametrize("shape", ["falling", "flat"])
def test_the_degradation_legend_covers_no_data_point(tmp_path, shape):
    """Found by a newcomer: the degradation figure's legend sat in the upper right, over the last test-error
    markers of a plain net that ends near chance (plain-110 at 90%). It goes where no line's point is: a free
    place inside the panel ("best", falling curves), else out of the panel, beside it (flat curves 20 points
    apart leave no place for five entries)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from runfolders import write_run

    from reports.build import report_style
    from reports.figures import degradation_figures
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    ends = {"plain-20": 24, "plain-32": 28, "plain-44": 40, "plain-56": 68, "plain-110": 90} if shape == "falling" \
        else {"plain-20": 6, "plain-32": 28, "plain-44": 48, "plain-56": 68, "plain-110": 88}
    ends |= {f"resnet-{d}": 15 + d / 20 for d in (20, 32, 44, 56, 110)}
    for model, end in ends.items():
        for seed in range(2):
            curve = ((lambda s, e=end + seed: e + (88 - e) * np.exp(-s / 50)) if shape == "falling"
                     else (lambda s, e=end + seed: e))
            write_run(tmp_path, "degradation", "quick", model, seed, steps=list(range(20, 201, 20)), train=curve,
                      test=lambda s, c=curve: c(s) + 1, classes=[f"c{i}" for i in range(10)])
    runs = discover_runs(tmp_path, "degradation", "quick").runs
    ctx = ReportContext("degradation", "quick", tmp_path, tmp_path / "out", runs, pd.DataFrame(), pd.DataFrame())
    with report_style():
        fig = degradation_figures(ctx)["degradation-cifar"]
        for dpi in (100, 150):  # on screen and as saved
            fig.set_dpi(dpi)
            fig.draw_without_rendering()
            plain, residual = fig.axes
            assert max(plain.get_lines()[-1].get_ydata()) > 89  # plain-110's test error, at the top right
            assert (covered_points(plain), covered_points(residual)) == (0, 0)
    inside = plain.get_legend().get_window_extent().x0 < plain.get_window_extent().x1
    assert inside == (shape == "falling")
