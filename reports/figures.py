"""The built-in figures and sections, registered with :mod:`reports.registry`.

* ``fig-degradation-<family>`` (paper Figs. 1, 4, 6): plain nets left, residual nets right; x iterations,
  y error (%); training error dashed and thin, test error bold (val when there is no test point); one
  colour per depth, the same in both panels; bands of +-1 std over seeds where n > 1; shared y-axis.
* ``fig-shortcuts``: final test error of plain / A / B / C per depth, mean +- std with the seeds as dots
  (paper Table 3 as a chart); ``fig-shortcut-curves``: their training curves.
* Section "Shortcut options (paper Table 3)": the same numbers as a table.

Each figure is drawn in two steps: the tidy data is built once (:mod:`reports.plotdata`, from ``runs.csv``'s
frame or the runs' final errors), then an Axes function draws it: :func:`plot_error_curves`,
:func:`plot_shortcut_points` (``plot_x(ax, data, ...) -> ax``; usable on a notebook's ``plt.subplots()``).
Figures are ``matplotlib.figure.Figure`` objects (no pyplot, no global figure manager, any backend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath

from . import paper
from .groups import OPTION_LABELS, degradation_sets, eval_split, families, has_ablation, model_infos, shortcut_sets
from .plotdata import EVAL_SPLITS, curve_table, finals_table, seed_counts, y_upper
from .registry import ReportContext, register_figure, register_section
from .stats import mean_std
from .summary import markdown_table, shortcut_table

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
OPTION_COLOURS = {"plain": "#7f7f7f", "A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
FAMILY_TITLES = {"cifar": "CIFAR family", "imagenet": "ImageNet family"}
CAPTION = ("dashed, thin: training error (training mini-batches, in training mode, averaged over each logging "
           "interval); bold: {eval} error; "
           "bands: ±1 std over seeds")


LONGEST_NAME = 28  # characters of a net's name in a figure: a plugin's long name must not push a panel apart


def short_name(name: str, most: int = LONGEST_NAME) -> str:
    """``name`` as a figure shows it: whole up to ``most`` characters, else its start and its depth joined by
    an ellipsis (``"supercalifragilisti…-56"``), so that a label or a legend keeps its panel's width. The
    report's tables keep the whole name."""
    if len(name) <= most:
        return name
    head, _, tail = name.rpartition("-")
    keep = f"-{tail}" if head and len(tail) < 10 else ""
    return name[: most - len(keep) - 1] + "…" + keep


EDGE = 0.25  # inches of a figure's width a caption leaves free: the layout's padding at both ends, and some room


def fit_text(text: str, width: float, fontsize: float, weight: str = "normal") -> str:
    """``text`` with its lines broken at spaces so that each is at most ``width`` inches wide at ``fontsize``
    points (in the font the report draws with: rcParams, set by reports.build.report_style); its own line
    breaks are kept. A figure's caption or title fits its narrowest layout by it, rather than being cut at
    both ends (a 2-panel figure is 8.6 inches wide, a caption line 9 and more)."""
    font = FontProperties(size=fontsize, weight=weight)
    measure = TextToPath()

    def fits(line: str) -> bool:
        return measure.get_text_width_height_descent(line, font, ismath=False)[0] / 72 <= width

    lines = []
    for line in text.split("\n"):
        words, current = line.split(" "), ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if current and not fits(trial):
                lines.append(current)
                trial = word
            current = trial
        lines.append(current)
    return "\n".join(lines)


def fit_figure_text(fig: Figure, text: str, fontsize: float, weight: str = "normal") -> str:
    """``text`` broken into lines that fit ``fig``'s width (:func:`fit_text`, less :data:`EDGE`): for its
    ``suptitle`` and ``supxlabel``."""
    return fit_text(text, fig.get_figwidth() - EDGE, fontsize, weight)


def plot_error_curves(ax: Axes, curves: pd.DataFrame, colours: Mapping[str, str], *,
                      names: Mapping[str, str] | None = None, seeds: Mapping[str, tuple[int, int]] | None = None,
                      ylabel: str | None = "error (%)", ylim: bool = True, empty_text: str = "no ok runs",
                      legend_loc: str = "best") -> Axes:
    """Draw error curves (%) against iterations on ``ax``, as paper Figs. 1, 4 and 6 do; return ``ax``.

    ``curves``: rows of :func:`reports.plotdata.curve_table` (model, split, step, mean, std, n). For each
    model of ``colours`` (in its order) with rows: the training curve dashed and thin, the test (or val)
    curve bold, with a marker when it has fewer than 3 points, each with a band of +-1 std over seeds
    where n > 1. One legend entry per model: ``<name> train / test (n=<seeds>)``, the name from ``names``
    (default: the model), the count from ``seeds`` (``{model: (ok, expected)}``; default: the most seeds
    at a step). ``ylim``: y from 0 to :func:`reports.plotdata.y_upper` of the drawn curves; ``legend_loc``:
    matplotlib's legend location ("best" keeps it off curves that sit high, at chance, where it can; a
    figure's :func:`legends_off_data` moves it out of the Axes where it cannot).
    """
    legend = []
    drawn = curves[curves["model"].isin(list(colours))]
    for model, colour in colours.items():
        rows = drawn[drawn["model"] == model]
        handles, kinds = [], []
        for split in ("train", *EVAL_SPLITS):
            curve = rows[rows["split"] == split]
            if curve.empty:
                continue
            if split == "train":
                (h,) = ax.plot(curve["step"], curve["mean"], ls="--", lw=0.9, color=colour, alpha=0.9)
            else:
                (h,) = ax.plot(curve["step"], curve["mean"], lw=2.2, color=colour,
                               marker="o" if len(curve) < 3 else None, ms=5)
            _band(ax, curve, colour, 0.10 if split == "train" else 0.22)
            handles.append(h)
            kinds.append(split)
        if handles:
            n_ok, n_all = (seeds or {}).get(model, (int(rows["n"].max()),) * 2)
            count = f" (n={n_ok})" if n_ok == n_all else f" ({n_ok} of {n_all} seeds ok)"
            name = short_name((names or {}).get(model, model))
            legend.append((tuple(handles), f"{name} {' / '.join(kinds)}{count}"))
    if legend:
        handles, labels = zip(*legend)
        ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.6)}, loc=legend_loc,
                  fontsize=8, handlelength=4.0, framealpha=0.85)
    else:
        ax.text(0.5, 0.5, empty_text, transform=ax.transAxes, ha="center", va="center", color="0.45")
    ax.grid(True, alpha=0.3, lw=0.5)
    ax.set_xlabel("iterations")
    if ylabel:
        ax.set_ylabel(ylabel)
    if ylim and (top := y_upper(drawn)):
        ax.set_ylim(0, top)
    return ax


def legends_off_data(fig: Figure) -> Figure:
    """Move each Axes legend of ``fig`` that covers a data point of a line (where its location, "best" at
    most, found no free place among the curves: a net at chance ends in the top right corner, where "upper
    right" put it) out of its Axes, to their right (the layout makes room); return ``fig``. Draws ``fig``
    without rendering to learn where the legends went; again after a move, since the others' places follow."""
    moved: set[int] = set()
    for _ in range(len(fig.axes)):
        fig.draw_without_rendering()
        covering = [ax for ax in fig.axes if ax.get_visible() and id(ax) not in moved and _covers_data(ax)]
        if not covering:
            break
        for ax in covering:
            ax.get_legend().set_loc("upper left")
            ax.get_legend().set_bbox_to_anchor((1.02, 1.0), transform=ax.transAxes)
            moved.add(id(ax))
    return fig


def _covers_data(ax: Axes) -> bool:
    """Whether ``ax``'s legend (as last drawn) holds a data point of one of its lines, in display space."""
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return False
    box = legend.get_window_extent()
    for line in ax.get_lines():
        xy = line.get_xydata()
        x, y = ax.transData.transform(xy[np.isfinite(xy).all(axis=1)]).T
        if ((x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)).any():
            return True
    return False


def _band(ax: Axes, curve: pd.DataFrame, colour: str, alpha: float) -> None:
    std = curve["std"].to_numpy(dtype=float)
    if len(curve) and np.isfinite(std).any():
        mean = curve["mean"].to_numpy(dtype=float)
        ax.fill_between(curve["step"].to_numpy(dtype=float), mean - std, mean + std, where=np.isfinite(std),
                        color=colour, alpha=alpha, lw=0, interpolate=True)


def figure_title(ctx: ReportContext, what: str) -> str:
    """``<what> — <experiment> / <profile>, <dataset>``: the suptitle of every report figure."""
    data = f", {ctx.dataset}" if ctx.dataset else ""
    return f"{what} — {ctx.experiment} / {ctx.profile}{data}"


def _caption(curves: pd.DataFrame) -> str:
    evals = set(curves["split"]) - {"train"}
    return CAPTION.format(eval=" / ".join(sorted(evals, reverse=True)) or "test")


@register_figure("degradation", order=10)
def degradation_figures(ctx: ReportContext):
    """One figure per family with ok runs (paper Figs. 1, 4, 6): plain nets left, residual nets right, error
    (%) against iterations, one colour per depth (by rank: the shallowest blue, the next red, ...)."""
    figs = {}
    infos = model_infos(ctx.runs)
    counts = seed_counts(ctx.runs)
    for family in families(ctx.runs):
        plain, residual = degradation_sets(infos, family)
        ok_depths = sorted({d for nets in (plain, residual) for d, m in nets.items() if counts[m][0]})
        if not ok_depths:
            continue
        colour = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(ok_depths)}
        curves = curve_table(ctx.tidy, [*plain.values(), *residual.values()])
        fig = Figure(figsize=(11, 4.8), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, nets, title in ((axes[0], plain, "plain networks"), (axes[1], residual, "residual networks")):
            plot_error_curves(ax, curves, {m: colour.get(d, "0.5") for d, m in nets.items()}, seeds=counts,
                              ylabel="error (%)" if ax is axes[0] else None, ylim=False,
                              empty_text=f"no ok {title.split()[0]} runs")
            shortcuts = sorted({i.shortcut.upper() for i in infos if i.name in nets.values() and i.kind == "resnet"})
            ax.set_title(title + (f" (shortcut {', '.join(shortcuts)})" if shortcuts else ""), fontsize=11)
        if top := y_upper(curves):
            axes[0].set_ylim(0, top)
        fig.suptitle(fit_figure_text(fig, figure_title(ctx, f"Degradation, {FAMILY_TITLES.get(family, family)}"), 12),
                     fontsize=12)
        fig.get_layout_engine().set(h_pad=0.08)
        fig.supxlabel(fit_figure_text(fig, _caption(curves), 8), fontsize=8, color="0.3")
        figs[f"degradation-{family}"] = legends_off_data(fig)
    return figs


def _ablation_groups(ctx: ReportContext) -> dict[tuple[str, int], dict[str, str]]:
    """``{(family, depth): {"plain": model, "A": model, ...}}`` of the shortcut ablation, groups with ok runs."""
    infos = model_infos(ctx.runs)
    if not has_ablation(infos, ctx.experiment):
        return {}
    ok = {m for m, (n_ok, _) in seed_counts(ctx.runs).items() if n_ok}
    return {k: v for k, v in shortcut_sets(infos).items() if ok & set(v.values())}


def shortcut_finals(ctx: ReportContext, split: str) -> pd.DataFrame:
    """The shortcut ablation's runs (paper Table 3): :func:`reports.plotdata.finals_table` of ``split`` with
    the columns ``option`` (plain | A | B | C) and ``paper`` (the paper's error, %, NaN where it has none),
    in group order (family, depth), then option order."""
    infos = {i.name: i for i in model_infos(ctx.runs)}
    finals = finals_table(ctx.runs, split)
    parts = []
    for options in _ablation_groups(ctx).values():
        for option, model in options.items():
            ref = paper.paper_number(infos[model], ctx.profile, ctx.runs)
            parts.append(finals[finals["model"] == model].assign(option=option,
                                                                 paper=ref.error if ref else np.nan))
    if not parts:
        return pd.DataFrame(columns=[*finals.columns, "option", "paper"])
    return pd.concat(parts, ignore_index=True)


def plot_shortcut_points(ax: Axes, finals: pd.DataFrame, rng: np.random.Generator | None = None,
                         ylabel: str | None = None) -> Axes:
    """Draw one depth of the shortcut ablation on ``ax`` (paper Table 3 as a chart); return ``ax``.

    ``finals``: the rows of one (family, depth) of :func:`shortcut_finals` (final error in %, one row per
    run). Per option (plain, A, B, C): each ok seed as a small jittered dot, the mean +- std (ddof=1) as an
    error bar labelled with the mean, "no ok run" where there is none, and the paper's number as an open
    diamond. Tick labels: option, model, ok / expected runs. ``rng`` jitters the dots (default: seed 0).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    labels = [lab for lab in OPTION_LABELS if lab in set(finals["option"])]
    ticks = []
    for x, lab in enumerate(labels):
        rows = finals[finals["option"] == lab]
        vals = rows.loc[rows["status"] == "ok", "error"].dropna().to_list()
        c = OPTION_COLOURS[lab]
        if vals:
            ax.scatter(x + 0.18 + rng.uniform(-0.08, 0.08, len(vals)), vals, s=14, color=c, alpha=0.55, lw=0,
                       zorder=2)
            m, sd, _ = mean_std(vals)
            ax.errorbar([x], [m], yerr=[[0 if math.isnan(sd) else sd]] * 2, fmt="o", color=c, ms=7, capsize=5,
                        lw=1.6, zorder=3)
            ax.annotate(f"{m:.2f}", (x, m), xytext=(-8, 0), textcoords="offset points", ha="right", va="center",
                        fontsize=8)
        else:
            ax.text(x, 0.5, "no ok run", transform=ax.get_xaxis_transform(), ha="center", color="0.45", fontsize=8,
                    rotation=90)
        ref = rows["paper"].iloc[0]
        if pd.notna(ref):
            ax.scatter([x], [ref], marker="D", s=30, facecolors="none", edgecolors="k", zorder=4)
        # a diverged seed is named: the verdict counts it at chance where this chart of the ok seeds cannot
        diverged = int((rows["status"] == "diverged").sum())
        ticks.append(f"{lab}\n{rows['model'].iloc[0]}\nn={int((rows['status'] == 'ok').sum())}/{len(rows)}"
                     + (f"\n{diverged} diverged" if diverged else ""))
    ax.set_xticks(range(len(labels)), ticks, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.grid(True, axis="y", alpha=0.3, lw=0.5)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


@register_figure("shortcuts", order=20)
def shortcut_points(ctx: ReportContext):
    """Final test error (%) per shortcut option and depth (paper Table 3): mean +- std, seeds as dots,
    the paper's number as diamonds; one panel per depth."""
    split = eval_split(ctx.runs)
    finals = shortcut_finals(ctx, split)
    if finals.empty:
        return None
    groups = list(finals.groupby(["family", "depth"], sort=False))
    fig = Figure(figsize=(max(4.5, 3.6 * len(groups)) + 1, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    rng = np.random.default_rng(0)  # jitter only; seeded so that figures are reproducible
    for ax, ((family, depth), rows) in zip(axes, groups):
        plot_shortcut_points(ax, rows, rng, ylabel=f"final {split} error (%)" if ax is axes[0] else None)
        ax.set_title(f"depth {depth} ({FAMILY_TITLES.get(family, family)})", fontsize=10)
    handles = [Line2D([], [], marker="o", color="0.3", ls="", label="mean ± std over seeds"),
               Line2D([], [], marker="o", color="0.3", alpha=0.55, ls="", ms=4, label="one seed")]
    if finals["paper"].notna().any():
        handles.append(Line2D([], [], marker="D", mfc="none", mec="k", ls="", label="paper"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.suptitle(fit_figure_text(fig, figure_title(ctx, "Shortcut options (paper Table 3)"), 11), fontsize=11)
    return fig


@register_figure("shortcut-curves", order=30)
def shortcut_curves(ctx: ReportContext):
    """Error curves (%) of plain / A / B / C against iterations, one panel per depth (paper Table 3's nets
    drawn as Fig. 4 draws its)."""
    groups = _ablation_groups(ctx)
    if not groups:
        return None
    fig = Figure(figsize=(max(5.5, 5.2 * len(groups)), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    every, counts = [], seed_counts(ctx.runs)
    for ax, ((family, depth), options) in zip(axes, groups.items()):
        curves = curve_table(ctx.tidy, options.values())
        names = {m: m if lab == "plain" else f"{lab}: {m}" for lab, m in options.items()}
        plot_error_curves(ax, curves, {m: OPTION_COLOURS[lab] for lab, m in options.items()}, names=names,
                          seeds=counts, ylabel="error (%)" if ax is axes[0] else None)
        ax.set_title(f"depth {depth} ({FAMILY_TITLES.get(family, family)})", fontsize=10)
        every.append(curves)
    fig.suptitle(fit_figure_text(fig, figure_title(ctx, "Shortcut options: training curves"), 11), fontsize=11)
    fig.supxlabel(fit_figure_text(fig, _caption(pd.concat(every)), 8), fontsize=8, color="0.3")
    return legends_off_data(fig)


@register_section("Shortcut options (paper Table 3)", order=10)
def shortcut_section(ctx: ReportContext):
    if not _ablation_groups(ctx) and not has_ablation(model_infos(ctx.runs), ctx.experiment):
        return None
    header, rows = shortcut_table(ctx.runs, ctx.profile)
    if not rows:
        return None
    text = ("Final error (%), mean ± std over ok seeds; seeds = ok / expected. A: zero-padding identity, "
            "B: projection where the shape changes, C: projection everywhere.\n\n" + markdown_table(header, rows))
    note = paper.describe(ctx.profile)
    if note and "paper" in header:
        text += "\n\n" + " ".join(filter(None, [note, paper.departure_text(ctx.runs, ctx.profile)]))
    return text
