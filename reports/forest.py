"""Forest plots: differences of mean final errors (points of %) with their 95% intervals, one row each, zero
marked; and the methods benchmark's training curves (issue 21, ``make methods``).

* :func:`plot_forest` draws a forest table (:data:`FOREST_COLUMNS`) on an Axes; the tables come from
  :func:`gap_forest` / :func:`effect_forest` (the leaderboard's depth gaps and effects against plain,
  :mod:`reports.leaderboard`) and :func:`verdict_forest` (the degradation verdict's comparisons: the
  degradation, the shortcuts' effect, the residual nets across depth, and the shortcut ablation's options,
  paper Fig. 4 and 6 and Table 3, :mod:`reports.verdict`).
* Registered figures: ``fig-methods-forest`` (the depth gap per method; plain − method and resnet − method
  at the deep depth), ``fig-methods-curves`` (paper Fig. 6's curves, one panel per method), drawn when the
  runs hold a method beyond the paper's nets or the experiment is ``methods``, and ``fig-methods-lr`` (final
  training error against the learning rate, from the tuning runs).

The methods' rows carry the leaderboard's numbers and words (:mod:`reports.verdicts`: 95% intervals, paired
where the nets hold the same seeds; filled where the Holm-corrected decision is made; each cell's seeds that
did not train); the degradation verdict's rows its 95% intervals (:func:`reports.stats.difference`: paired by
the same rule). Nothing here computes one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from . import tuning
from .figures import (PALETTE, _caption, figure_title, fit_figure_text, fit_text, legends_off_data, plot_error_curves,
                      short_name)
from .leaderboard import METHODS_EXPERIMENT, depth_labels, leaderboard_table, methods_present, seed_flags
from .verdicts import EQUIVALENCE_MARGIN, GAP_WORDS, points
from .plotdata import curve_table, seed_counts, y_upper
from .runs import flag_against_the_report, not_comparable, read_plugin_records
from .registry import ReportContext, register_figure
from .verdict import Comparison, Verdict

FOREST_COLUMNS = ["label", "diff", "low", "high", "above", "seeds", "reference", "note", "group", "decided", "flags"]
METHOD_COLOUR = "#1f77b4"
REFERENCE_COLOUR = "0.2"
REFERENCE_SHADE = "0.93"
FLAG_COLOUR = "#b22222"  # seeds that diverged or ended at chance
GAP_LABEL = "depth gap: final training error, {deep} − {shallow} layers (points)"
EFFECT_LABEL = "{base} − method: final training error at {deep} layers (points)"
DECIDED = ("degrades", GAP_WORDS["better"], GAP_WORDS["removes"].split(" (")[0], "better than", "worse than",
           "as good as")  # verdicts that decide (Holm): the marker is filled
POSSIBLE = 100.0  # points: the largest difference two errors (%) can have
# Neutral: the paper's direction differs by row (> 0 for the degradation and the shortcuts, ≤ 0 for residual
# depth, < 0 for B − A and C − B in Table 3); each row's verdict says it.
VERDICT_LABEL = ("difference of final training error (points): the row's first net minus its second"
                 "\n(a row marked (test): of test error)")


def _row(label: str, c: Comparison, group: str, depth_change: bool = False) -> dict:
    """One comparison's forest row; ``depth_change``: a net against its shallower self (the degradation, the
    residual nets across depth), not judged where one of the two did not train in most seeds (as the verdict
    says)."""
    d = c.diff
    if d is None:
        return {"label": label, "diff": np.nan, "low": np.nan, "high": np.nan, "above": 0, "seeds": 0,
                "reference": False, "note": "cannot compare", "group": group, "decided": False, "flags": ""}
    return {"label": label, "diff": d.diff, "low": np.nan if d.low is None else d.low,
            "high": np.nan if d.high is None else d.high, "above": d.above, "seeds": d.common,
            "reference": False,
            "note": "neither trains in most seeds" if c.untrained else "" if d.has_interval else "no interval",
            "group": group, "decided": c.sign != 0 and not (depth_change and c.one_fails),
            "flags": "not judged: neither net trains in most seeds" if c.untrained else
            f"not judged: {c.one_fails} did not train in most seeds" if depth_change and c.one_fails else ""}


def _forest(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def _decided(words: str) -> bool:
    return isinstance(words, str) and words.startswith(DECIDED)


def gap_forest(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's depth gaps (deep − shallow final training error, points) as a forest table, one row
    per method in the leaderboard's order (reference rows, plain and resnet, first): ``decided`` where the
    verdict decides (Holm), ``flags`` each depth's seeds that did not train (and "tuned rate unstable" where
    the tuned board gives no verdict for that reason: its interval may sit far from 0), ``note``
    the verdict where there is no interval."""
    return _forest([{"label": short_name(r.label), "diff": r.gap, "low": r.gap_low, "high": r.gap_high,
                     "above": r.gap_above or 0, "seeds": r.gap_seeds or 0, "reference": bool(r.reference),
                     "note": "" if pd.notna(r.gap_low) else r.verdict, "group": _group(r),
                     "decided": _decided(r.verdict), "flags": _gap_flags(r)}
                    for r in board.itertuples()]).astype({"diff": float, "low": float, "high": float})


UNSTABLE = GAP_WORDS["unstable"].split(" (")[0]  # "not judged: tuned rate unstable"


def _gap_flags(r) -> str:
    flags = seed_flags(r)
    if isinstance(r.verdict, str) and r.verdict.startswith(UNSTABLE):
        why = UNSTABLE.split(": ")[-1]  # "tuned rate unstable": short enough to stay inside the Axes
        return f"{flags} — {why}" if flags else why
    return flags


def _group(r) -> str:
    return "reference" if r.reference else "method"


def effect_forest(board: pd.DataFrame, which: str = "vs_plain") -> pd.DataFrame:
    """The leaderboard's comparisons with a baseline at the deep depth (``which``: "vs_plain", the plain net
    with the method's normalisation, or "vs_resnet"; baseline − method, points) as a forest table, rows as
    :func:`gap_forest`'s (the baseline's own row is empty, noted)."""
    return _forest([{"label": short_name(r.label), "diff": getattr(r, which), "low": getattr(r, f"{which}_low"),
                     "high": getattr(r, f"{which}_high"), "above": getattr(r, f"{which}_above") or 0,
                     "seeds": getattr(r, f"{which}_seeds") or 0, "reference": bool(r.reference),
                     "note": "" if pd.notna(getattr(r, f"{which}_low")) else getattr(r, f"{which}_verdict"),
                     "group": _group(r), "decided": _decided(getattr(r, f"{which}_verdict")), "flags": ""}
                    for r in board.itertuples()]).astype({"diff": float, "low": float, "high": float})


def verdict_forest(verdict: Verdict) -> pd.DataFrame:
    """The verdict's comparisons as a forest table (points of final error; > 0 is the paper's direction for
    the degradation and the shortcut rows): per family the degradation (deep − shallow plain), the
    shortcuts' effect (deep plain − deep residual) and the residual nets across depth (paper Fig. 4, 6);
    per ablation depth each option against plain on training error and B − A, C − B on the eval split
    (Table 3)."""
    rows, seen = [], set()
    for sv in verdict.shortcuts:
        for c in sv.comparisons:
            split = "" if c.split == "train" else f" ({c.split})"
            rows.append(_row(f"{c.a} − {c.b}{split}", c, f"{sv.family} {sv.depth}"))
            seen.add((c.a, c.b, c.split))
    families = []
    for fam in verdict.families:
        for what, c in (("degradation", fam.plain), ("shortcuts", fam.shortcut), ("residual depth", fam.residual)):
            if c is not None and (c.a, c.b, c.split) not in seen:  # the ablation's rows already hold it
                families.append(_row(f"{what}: {c.a} − {c.b}", c, fam.family, depth_change=what != "shortcuts"))
    return _forest(families + rows)


def plot_forest(ax: Axes, table: pd.DataFrame, *, xlabel: str = "difference (points)", labels: bool = True,
                values: bool = True, margin: float | None = None) -> Axes:
    """Draw a forest table on ``ax``; return ``ax``.

    ``table``: :data:`FOREST_COLUMNS`, one row per line, top to bottom: ``diff`` (points of error, %) as a
    marker and the 95% interval ``low``-``high`` as a bar; filled where ``decided`` (the verdict decides),
    open otherwise. Reference rows (``reference``: the paper's plain and residual nets)
    are dark squares on a grey band with bold labels, the others blue circles; a vertical line marks 0,
    dotted lines separate the ``group``s (reference / method; a family; an ablation depth).
    ``labels``: the row labels as y tick labels; ``values``: each row's ``+d [lo, hi]  k/n`` (k of n seeds
    > 0) or its ``note`` at the right of the Axes. ``flags`` (the seeds that did not train) are written in
    red under the row's marker, inside the Axes; ``margin``: a band over ±margin points (the equivalence
    margin).
    """
    n = len(table)
    ys = np.arange(n)
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for y, r in zip(ys, table.itertuples()):
        colour, marker = (REFERENCE_COLOUR, "s") if r.reference else (METHOD_COLOUR, "o")
        if r.reference:
            ax.axhspan(y - 0.5, y + 0.5, color=REFERENCE_SHADE, lw=0, zorder=0)
        has_ci = pd.notna(r.low) and pd.notna(r.high)
        if has_ci:  # cut at ±POSSIBLE, where an arrowhead says the interval goes on (its numbers: at the right)
            low, high = max(r.low, -POSSIBLE), min(r.high, POSSIBLE)
            ax.plot([low, high], [y, y], color=colour, lw=1.8, solid_capstyle="butt", zorder=2)
            ends = [(end, head) for end, head, cut in ((low, "<", r.low < -POSSIBLE), (high, ">", r.high > POSSIBLE))
                    if cut]
            capped = [x for x in (low, high) if x not in [e for e, _ in ends]]
            ax.plot(capped, [y] * len(capped), ls="", marker="|", ms=7, color=colour, zorder=2)
            for end, head in ends:
                ax.plot([end, end], [y, y], ls="", marker=head, ms=6, color=colour, zorder=2)
        if pd.notna(r.diff):
            filled = bool(r.decided)
            ax.plot([r.diff], [y], ls="", marker=marker, ms=7, mec=colour, mew=1.4,
                    mfc=colour if filled else "white", zorder=3)
        if isinstance(r.flags, str) and r.flags:  # inside the Axes, under the row: it costs no page width
            ax.text(0.005, y + 0.36, r.flags, transform=blended_transform_factory(ax.transAxes, ax.transData),
                    va="center", ha="left", fontsize=6.5, color=FLAG_COLOUR, zorder=4,
                    bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 0.5})
        if values:
            text = (f"{points(r.diff)} [{points(r.low)}, {points(r.high)}]  {int(r.above)}/{int(r.seeds)}" if has_ci
                    else (f"{points(r.diff)}  " if pd.notna(r.diff) else "") + (r.note or ""))
            ax.text(1.02, y, text, transform=right, va="center", ha="left", fontsize=8,
                    color=colour if has_ci else "0.4", family="monospace", clip_on=False)
    ax.axvline(0.0, color="k", lw=0.9, zorder=1)
    if margin:
        ax.axvspan(-margin, margin, color="#2ca02c", alpha=0.12, lw=0, zorder=0)
    if values and n:
        ax.text(1.02, -0.75, "diff [95% CI]  >0", transform=right, va="bottom", ha="left", fontsize=7,
                color="0.35", family="monospace", clip_on=False)
    groups = table["group"].to_list()
    for y in range(1, n):
        if groups[y] != groups[y - 1]:
            ax.axhline(y - 0.5, color="0.6", lw=0.6, ls=":")
    references = table["reference"].to_numpy(dtype=bool)
    if labels:
        ax.set_yticks(ys, list(table["label"]))
        for tick, ref in zip(ax.get_yticklabels(), references):
            tick.set_fontweight("bold" if ref else "normal")
    else:  # the labels are another Axes' (sharey)
        ax.set_yticks(ys)
        ax.tick_params(axis="y", labelleft=False)
    ax.set_ylim(n - 0.5, -0.5 - (0.6 if values else 0))  # top to bottom, room for the values' header
    finite = table[["diff", "low", "high"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    lo, hi = (min(0.0, finite.min()), max(0.0, finite.max())) if finite.size else (-1.0, 1.0)
    # A difference of two errors (%) lies within ±100 points: a t-interval reaching beyond (a few seeds of
    # nets at chance and at 20%) is cut at the axis there, its numbers still printed in full beside it.
    lo, hi = max(lo, -POSSIBLE), min(hi, POSSIBLE)
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.tick_params(axis="y", length=0)
    ax.grid(True, axis="x", alpha=0.3, lw=0.5)
    ax.set_xlabel(xlabel)
    return ax


def methods_board(ctx: ReportContext) -> pd.DataFrame | None:
    """The leaderboard of ``ctx``'s runs over the models asked for (``ctx.models``; experiment ``methods``,
    any net beyond the paper's, or any experiment with a tuning grid: ``TUNE=1`` promises both boards), None
    when there is none or it has no rows; computed once per report (kept in ``ctx.extras``) for the first
    page and the figures that draw it."""
    if "leaderboard" not in ctx.extras:
        board = None
        if ctx.experiment == METHODS_EXPERIMENT or methods_present(ctx.runs) or ctx.extras.get("tuning_grid"):
            board = leaderboard_table(ctx.runs, ctx.models)
        ctx.extras["leaderboard"] = None if board is None or board.empty else board
    return ctx.extras["leaderboard"]


def tuned_board(ctx: ReportContext) -> pd.DataFrame | None:
    """The tuned board (:mod:`runfolder.tuning`): every net of the one-recipe board at the rate its tuning
    runs chose, over the same seeds; None without a tuning grid (``ctx.extras["tuning_grid"]``, from
    ``--lrs``) or a one-recipe board. Computed once per report, with the tuning table
    (``ctx.extras["tuning"]``) the sensitivity figure draws."""
    if "tuned_board" not in ctx.extras:
        ctx.extras["tuned_board"] = None
        grid, one = ctx.extras.get("tuning_grid"), methods_board(ctx)
        if grid and one is not None:
            models = list(dict.fromkeys([*one["shallow_model"], *one["deep_model"]]))
            # the baselines the rows are compared with, as on the first board, tuned like every net (a matrix of
            # MODELS="fixup-20 fixup-56" beside a resnet-56 trained earlier): not rows of their own
            present = {r.model for r in ctx.runs}
            baselines = [b for b in dict.fromkeys([*one["plain"], *one["resnet"]]) if b in present and b not in models]
            root = Path(ctx.runs_dir) / ctx.experiment / ctx.profile
            seeds = sorted({r.seed for r in ctx.runs})
            base = tuning.base_lr(root, models + baselines, seeds)
            if base is not None:
                picked = tuning.choices(root, models + baselines, grid, base)
                ctx.extras["tuning"] = tuning.tuning_table(picked)
                ctx.extras["tuning_base_lr"] = base
                runs = tuning.tuned_runs(Path(ctx.runs_dir), ctx.experiment, ctx.profile, picked, base, seeds,
                                         known={(r.model, r.seed): r for r in ctx.runs})
                read_plugin_records(runs)  # a plugin net's declared axes (its baseline: plain-56-nobn for norm none)
                flag_against_the_report(runs, ctx.runs)  # a run at another rate, on other files or settings
                # the tuning runs' plugin code, data and settings count too: a rate chosen by other code than
                # trained the seeds, or by runs on other files or settings
                behind = tuning.tuning_runs(Path(ctx.runs_dir), ctx.experiment, ctx.profile, picked, base)
                board = leaderboard_table(runs, models, board="tuned", tuning_errors=tuning.chosen_errors(picked),
                                          untuned=tuning.untuned(picked), code_runs=behind,
                                          diverged_grid=tuning.every_rate_diverged(picked),
                                          not_comparable=not_comparable(behind, ctx.runs))
                ctx.extras["tuned_board"] = None if board.empty else board
    return ctx.extras["tuned_board"]


@register_figure("methods-lr", order=7)
def methods_lr(ctx: ReportContext):
    """The tuning runs' final training error against the learning rate, a panel per method, a line per depth
    (:func:`reports.tuning.lr_sensitivity_figure`): how much each verdict depends on the rate."""
    if tuned_board(ctx) is None or ctx.extras.get("tuning") is None:
        return None
    one = methods_board(ctx)
    chance = one["chance"].dropna()
    return tuning.lr_sensitivity_figure(
        ctx.extras["tuning"], figure_title(ctx, "Learning-rate sensitivity (the tuning runs)"),
        chance=float(chance.iloc[0]) if len(chance) else None, one_recipe=ctx.extras.get("tuning_base_lr"))


def forest_height(rows: int) -> float:
    """Inches a forest of ``rows`` rows needs (axis, labels and header included)."""
    return 1.3 + 0.27 * max(rows, 1)


@register_figure("methods-forest", order=5)
def methods_forest(ctx: ReportContext):
    """Per method: its depth gap (deep − shallow final training error, points, 95% CI, the ±margin band of
    "removes it", each depth's seeds that did not train) on top; below, plain − method and resnet − method
    at the deep depth; the rows shared."""
    board = methods_board(ctx)
    if board is None:
        return None
    height = forest_height(len(board))
    fig = Figure(figsize=(13, 2 * height + 0.9), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    gap_ax = fig.add_subplot(grid[0, :])
    plain_ax = fig.add_subplot(grid[1, 0], sharey=gap_ax)
    resnet_ax = fig.add_subplot(grid[1, 1], sharey=gap_ax)
    shallow, deep = depth_labels(board)
    plot_forest(gap_ax, gap_forest(board), xlabel=GAP_LABEL.format(deep=deep, shallow=shallow),
                margin=EQUIVALENCE_MARGIN)
    plot_forest(plain_ax, effect_forest(board, "vs_plain"), xlabel=EFFECT_LABEL.format(base="plain", deep=deep))
    plot_forest(resnet_ax, effect_forest(board, "vs_resnet"),
                xlabel=EFFECT_LABEL.format(base=f"resnet-{deep}", deep=deep), labels=False)
    gap_ax.set_title(f"does the deeper net train worse? (> 0: degrades; band: ±{EQUIVALENCE_MARGIN:g} points, "
                     "\"removes it\")", fontsize=10, loc="left")
    plain_ax.set_title("does the method beat the plain net of its normalisation? (> 0: better)", fontsize=10,
                       loc="left")
    resnet_ax.set_title(f"does it beat resnet-{deep}? (> 0: better)", fontsize=10, loc="left")
    title = figure_title(ctx, f"Methods against degradation ({board['board'].iloc[0]} board)")
    fig.suptitle(fit_figure_text(fig, title, 11), fontsize=11)
    fig.supxlabel(fit_figure_text(fig, _forest_caption(), 8), fontsize=8, color="0.3")
    return fig


def _forest_caption() -> str:
    return ("squares on grey: the paper's plain and residual nets (reference); bars: 95% intervals (paired where "
            "the nets hold the same seeds), unadjusted, cut at ±100 points;\nfilled: the verdict decides (Holm over "
            "the board's column of comparisons); k/n: seeds in which the difference is > 0; red: seeds that diverged "
            "or ended at chance")


PANEL_WIDTH = 4.3  # inches of the curves figure per column
PANEL_MARGIN = 0.8  # of them, the y-axis' labels' and the gaps between panels: what a panel's title may not use


@register_figure("methods-curves", order=6)
def methods_curves(ctx: ReportContext):
    """Paper Fig. 6's curves per method: error (%) against iterations of its shallow and deep net, one panel
    per method (the leaderboard's rows), training error dashed, test error bold, shared y-axis."""
    board = methods_board(ctx)
    if board is None:
        return None
    cols = min(3, len(board))
    rows = math.ceil(len(board) / cols)
    fig = Figure(figsize=(PANEL_WIDTH * cols, 3.2 * rows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    counts, every = seed_counts(ctx.runs), []
    for ax, r in zip(axes, board.itertuples()):
        curves = curve_table(ctx.tidy, [r.shallow_model, r.deep_model])
        plot_error_curves(ax, curves, {r.shallow_model: PALETTE[0], r.deep_model: PALETTE[1]}, seeds=counts,
                          ylabel="error (%)" if ax in axes[::cols] else None, ylim=False)
        weight = "bold" if r.reference else "normal"  # a long verdict in lines that keep to the panel's width
        ax.set_title(fit_text(f"{short_name(r.label)}\n{r.verdict}", PANEL_WIDTH - PANEL_MARGIN, 9, weight),
                     fontsize=9, fontweight=weight)
        if flags := seed_flags(r):  # seeds with no curve (diverged) or a flat one (at chance): said, not hidden
            ax.text(0.02, 0.03, flags, transform=ax.transAxes, fontsize=7.5, color="#b22222", va="bottom",
                    ha="left", wrap=True)
        if ax not in axes[-cols:]:
            ax.set_xlabel("")
        every.append(curves)
    for ax in axes[len(board):]:
        ax.set_visible(False)
    if top := y_upper(pd.concat(every)):
        axes[0].set_ylim(0, top)
    title = figure_title(ctx, "Training curves per method, one-recipe board (as paper Fig. 6)")
    fig.suptitle(fit_figure_text(fig, title, 11), fontsize=11)
    caption = (_caption(pd.concat(every)) + "\ntitles: the one-recipe board's depth-gap verdicts (leaderboard.md), "
               "Holm-corrected over the board's gaps; verdict.md's two planned questions are not corrected")
    fig.supxlabel(fit_figure_text(fig, caption, 8), fontsize=8, color="0.3")  # in lines as wide as the figure
    return legends_off_data(fig)

