"""The built-in figures and sections, registered with :mod:`reports.registry`.

* ``fig-degradation-<family>`` (paper Figs. 1, 4, 6): plain nets left, residual nets right; x iterations,
  y error (%); training error dashed and thin, test error bold (val when there is no test point); one
  colour per depth, the same in both panels; bands of +-1 std over seeds where n > 1; shared y-axis.
* ``fig-shortcuts``: final test error of plain / A / B / C per depth, mean +- std with the seeds as dots
  (paper Table 3 as a chart); ``fig-shortcut-curves``: their training curves.
* Section "Shortcut options (paper Table 3)": the same numbers as a table.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot, no global figure manager, any backend).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D

from . import paper
from .groups import OPTION_LABELS, degradation_sets, eval_split, families, has_ablation, model_infos, shortcut_sets
from .registry import ReportContext, register_figure, register_section
from .stats import mean_std
from .summary import markdown_table, shortcut_table

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
OPTION_COLOURS = {"plain": "#7f7f7f", "A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
FAMILY_TITLES = {"cifar": "CIFAR family", "imagenet": "ImageNet family"}
CAPTION = ("dashed, thin: training error (training mini-batches, in training mode, averaged over each logging "
           "interval); bold: {eval} error; "
           "bands: ±1 std over seeds")


def _plot_curves(ctx: ReportContext, ax, legend: list, model: str, colour: str, label: str) -> tuple[list, str | None]:
    """Draw one model's train (dashed) and eval (bold) curves with std bands; append a legend entry to ``legend``.

    Returns the plotted mean values (for the y-limit) and the eval split used (None if nothing drawn).
    """
    values: list[tuple[float, float]] = []
    handles = []
    train = ctx.aggregate(model, "train")
    if not train.empty:
        (h,) = ax.plot(train["step"], train["mean"], ls="--", lw=0.9, color=colour, alpha=0.9)
        _band(ax, train, colour, 0.10)
        handles.append(h)
        values += list(zip(train["step"], train["mean"]))
    eval_split = None
    for split in ("test", "val"):
        curve = ctx.aggregate(model, split)
        if not curve.empty:
            eval_split = split
            marker = "o" if len(curve) < 3 else None
            (h,) = ax.plot(curve["step"], curve["mean"], lw=2.2, color=colour, marker=marker, ms=5)
            _band(ax, curve, colour, 0.22)
            handles.append(h)
            values += list(zip(curve["step"], curve["mean"]))
            break
    if handles:
        n_ok = len(ctx.ok_runs(model))
        n_all = sum(r.model == model for r in ctx.runs)
        kinds = " / ".join((["train"] if not train.empty else []) + ([eval_split] if eval_split else []))
        seeds = f" (n={n_ok})" if n_ok == n_all else f" ({n_ok} of {n_all} seeds ok)"
        legend.append((tuple(handles), f"{label} {kinds}{seeds}"))
    return values, eval_split


def _band(ax, curve, colour, alpha):
    std = curve["std"].to_numpy(dtype=float)
    if len(curve) and np.isfinite(std).any():
        mean = curve["mean"].to_numpy(dtype=float)
        ax.fill_between(curve["step"].to_numpy(dtype=float), mean - std, mean + std, where=np.isfinite(std),
                        color=colour, alpha=alpha, lw=0, interpolate=True)


def _finish_axes(ax, legend: list, empty_text: str):
    if legend:
        handles, labels = zip(*legend)
        ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.6)}, loc="upper right",
                  fontsize=8, handlelength=4.0, framealpha=0.85)
    else:
        ax.text(0.5, 0.5, empty_text, transform=ax.transAxes, ha="center", va="center", color="0.45")
    ax.grid(True, alpha=0.3, lw=0.5)
    ax.set_xlabel("iterations")


def _y_upper(values: list[tuple[float, float]]) -> float | None:
    """Upper y-limit that shows the informative part, as the paper's figures do: the largest mean after
    the first 10% of the iterations, plus 25% (room for the legend), at most 100. The first iterations
    (~90% error) are cut."""
    if not values:
        return None
    steps = np.array([s for s, _ in values], dtype=float)
    ys = np.array([v for _, v in values], dtype=float)
    ok = np.isfinite(ys)
    if not ok.any():
        return None
    lo, hi = steps[ok].min(), steps[ok].max()
    late = ok & (steps >= lo + 0.1 * (hi - lo))
    top = ys[late].max() if late.any() else ys[ok].max()
    return float(min(100.0, max(1.0, top * 1.25)))


def _title(ctx: ReportContext, what: str) -> str:
    data = f", {ctx.dataset}" if ctx.dataset else ""
    return f"{what} — {ctx.experiment} / {ctx.profile}{data}"


@register_figure("degradation", order=10)
def degradation_figures(ctx: ReportContext):
    """One figure per family with ok curves: plain nets left, residual nets right (paper Figs. 1/4/6)."""
    figs = {}
    infos = model_infos(ctx.runs)
    for family in families(ctx.runs):
        plain, residual = degradation_sets(infos, family)
        models = list(plain.values()) + list(residual.values())
        if not any(ctx.ok_runs(m) for m in models):
            continue
        # colours by rank among the depths with ok runs: shallowest blue, next red, ... (as in the paper)
        depths = sorted({d for nets in (plain, residual) for d, m in nets.items() if ctx.ok_runs(m)})
        colour = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(depths)}
        colour.update({d: "0.5" for d in set(plain) | set(residual) if d not in colour})
        fig = Figure(figsize=(11, 4.8), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        values, evals = [], set()
        for ax, nets, title in ((axes[0], plain, "plain networks"), (axes[1], residual, "residual networks")):
            legend: list = []
            for depth, model in nets.items():
                v, e = _plot_curves(ctx, ax, legend, model, colour[depth], model)
                values += v
                evals |= {e} if e else set()
            shortcuts = sorted({i.shortcut.upper() for i in infos if i.name in nets.values() and i.kind == "resnet"})
            ax.set_title(title + (f" (shortcut {', '.join(shortcuts)})" if shortcuts else ""), fontsize=11)
            _finish_axes(ax, legend, f"no ok {title.split()[0]} runs")
        axes[0].set_ylabel("error (%)")
        top = _y_upper(values)
        if top:
            axes[0].set_ylim(0, top)
        fig.suptitle(_title(ctx, f"Degradation, {FAMILY_TITLES.get(family, family)}"), fontsize=12)
        fig.get_layout_engine().set(h_pad=0.08)
        fig.supxlabel(CAPTION.format(eval=" / ".join(sorted(evals, reverse=True)) or "test"), fontsize=8,
                      color="0.3")
        figs[f"degradation-{family}"] = fig
    return figs


def _ablation_groups(ctx: ReportContext):
    infos = model_infos(ctx.runs)
    if not has_ablation(infos, ctx.experiment):
        return {}
    return {k: v for k, v in shortcut_sets(infos).items() if any(ctx.ok_runs(m) for m in v.values())}


@register_figure("shortcuts", order=20)
def shortcut_points(ctx: ReportContext):
    """Final test error per shortcut option and depth: mean +- std, seeds as dots, paper as diamonds."""
    groups = _ablation_groups(ctx)
    if not groups:
        return None
    split = eval_split(ctx.runs)
    infos = {i.name: i for i in model_infos(ctx.runs)}
    fig = Figure(figsize=(max(4.5, 3.6 * len(groups)) + 1, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    rng = np.random.default_rng(0)  # jitter only; seeded so that figures are reproducible
    paper_shown = False
    for ax, ((family, depth), options) in zip(axes, groups.items()):
        labels = [lab for lab in OPTION_LABELS if lab in options]
        for x, lab in enumerate(labels):
            model = options[lab]
            vals = [v for v in (r.final(split) for r in ctx.ok_runs(model)) if v is not None]
            c = OPTION_COLOURS[lab]
            if vals:
                jitter = rng.uniform(-0.08, 0.08, len(vals))
                ax.scatter(x + 0.18 + jitter, vals, s=14, color=c, alpha=0.55, lw=0, zorder=2)
                m, sd, n = mean_std(vals)
                ax.errorbar([x], [m], yerr=[[0 if math.isnan(sd) else sd]] * 2, fmt="o", color=c, ms=7,
                            capsize=5, lw=1.6, zorder=3)
                ax.annotate(f"{m:.2f}", (x, m), xytext=(-8, 0), textcoords="offset points", ha="right",
                            va="center", fontsize=8)
            else:
                ax.text(x, 0.5, "no ok run", transform=ax.get_xaxis_transform(), ha="center", color="0.45",
                        fontsize=8, rotation=90)
            ref = paper.paper_number(infos[model], ctx.profile)
            if ref:
                ax.scatter([x], [ref.error], marker="D", s=30, facecolors="none", edgecolors="k", zorder=4)
                paper_shown = True
        n_all = {lab: sum(r.model == options[lab] for r in ctx.runs) for lab in labels}
        n_ok = {lab: len(ctx.ok_runs(options[lab])) for lab in labels}
        ax.set_xticks(range(len(labels)),
                      [f"{lab}\n{options[lab]}\nn={n_ok[lab]}/{n_all[lab]}" for lab in labels], fontsize=8)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_title(f"depth {depth} ({FAMILY_TITLES.get(family, family)})", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3, lw=0.5)
    axes[0].set_ylabel(f"final {split} error (%)")
    handles = [Line2D([], [], marker="o", color="0.3", ls="", label="mean ± std over seeds"),
               Line2D([], [], marker="o", color="0.3", alpha=0.55, ls="", ms=4, label="one seed")]
    if paper_shown:
        handles.append(Line2D([], [], marker="D", mfc="none", mec="k", ls="", label="paper"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.suptitle(_title(ctx, "Shortcut options (paper Table 3)"), fontsize=11)
    return fig


@register_figure("shortcut-curves", order=30)
def shortcut_curves(ctx: ReportContext):
    """Training curves of plain / A / B / C, one panel per depth."""
    groups = _ablation_groups(ctx)
    if not groups:
        return None
    fig = Figure(figsize=(max(5.5, 5.2 * len(groups)), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    evals = set()
    for ax, ((family, depth), options) in zip(axes, groups.items()):
        legend: list = []
        values = []
        for lab in OPTION_LABELS:
            if lab in options:
                name = options[lab] if lab == "plain" else f"{lab}: {options[lab]}"
                v, e = _plot_curves(ctx, ax, legend, options[lab], OPTION_COLOURS[lab], name)
                values += v
                evals |= {e} if e else set()
        top = _y_upper(values)
        if top:
            ax.set_ylim(0, top)
        ax.set_title(f"depth {depth} ({FAMILY_TITLES.get(family, family)})", fontsize=10)
        _finish_axes(ax, legend, "no ok runs")
    axes[0].set_ylabel("error (%)")
    fig.suptitle(_title(ctx, "Shortcut options: training curves"), fontsize=11)
    fig.supxlabel(CAPTION.format(eval=" / ".join(sorted(evals, reverse=True)) or "test"), fontsize=8, color="0.3")
    return fig


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
        text += "\n\n" + note
    return text
