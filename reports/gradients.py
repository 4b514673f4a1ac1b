"""Gradient norms during training (paper section 4.1: with BN, the plain nets' gradients "exhibit healthy
norms"; the degradation is "unlikely to be caused by vanishing gradients").

Registered here:

* ``fig-grad-norms-methods-<family>`` (when a report holds nets other than the paper's): one panel per method,
  the norm by layer at the last recorded iteration, one line per depth.
* ``fig-grad-norms-<family>``: the deepest plain/residual pair of the family with gradient norms (plain-56
  vs resnet-56, plain-50 vs resnet-50, ...): heatmaps of log10 norm over (iteration, layer), one shared
  colour scale, and the norm against layer index at the first and last recorded iteration.
* Section "Gradient norms (paper section 4.1)": the numbers behind the figure and whether they agree
  with the paper, computed from the data.

:func:`plot_gradient_heatmap` and :func:`plot_gradient_profiles` draw a
:func:`reports.analysis.gradient_table` on any Axes (a notebook).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from runfolder import GRAD_NORMS

from .analysis import (KIND_COLOURS, PLAIN_STYLE, RESIDUAL_STYLE, by_method, depth_colours, gradient_table,
                       method_panels, net_label, nets)
from .figures import FAMILY_TITLES, figure_title, fit_figure_text
from .groups import degradation_sets, families, method_key, model_infos
from .registry import ReportContext, register_figure, register_section
from .runs import Run
from .summary import markdown_table
from .verdicts import cell, chance_error

VANISH_RATIO = 1e-3  # a layer whose gradient norm is below this fraction of the largest layer's "vanishes"


def gradient_pairs(table: pd.DataFrame, runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """``[(family, plain model, residual model)]``: per family, the deepest depth whose plain and residual
    nets (the degradation figure's) both have rows in the gradient ``table``."""
    have = set(table["model"])
    infos = model_infos(runs)
    pairs = []
    for family in families(runs):
        plain, residual = degradation_sets(infos, family)
        depths = [d for d in plain if d in residual and plain[d] in have and residual[d] in have]
        if depths:
            pairs.append((family, plain[max(depths)], residual[max(depths)]))
    return pairs


def _wide(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, layers, log10 norms[layer, step])`` of one net's rows."""
    wide = rows.pivot(index="layer", columns="step", values="log10").sort_index().sort_index(axis=1)
    return wide.columns.to_numpy(dtype=float), wide.index.to_numpy(dtype=float), wide.to_numpy(dtype=float)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half-way between neighbours), for pcolormesh."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[centres[0] - (mid[0] - centres[0])], mid, [centres[-1] + (centres[-1] - mid[-1])]])


def log_norm(table: pd.DataFrame) -> Normalize:
    """A colour scale over the finite log10 norms of ``table`` (-1..0 when there is none)."""
    finite = table["log10"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return Normalize(vmin=float(finite.min()), vmax=float(finite.max())) if finite.size else Normalize(-1, 0)


def plot_gradient_heatmap(ax: Axes, rows: pd.DataFrame, norm: Normalize | None = None,
                          ylabel: str | None = "weighted layer (1 = first conv, last = fc)") -> Axes:
    """Draw one net's log10 gradient norms as a heatmap over (iteration, weighted layer); return ``ax``.

    ``rows``: one model's rows of :func:`reports.analysis.gradient_table`. Layer 1 (the input side) at the
    top; missing cells blank; colours by ``norm`` (default: :func:`log_norm` of ``rows``; pass one
    scale to compare nets). The mesh is ``ax.collections[0]`` (for a colour bar).
    """
    steps, layers, values = _wide(rows)
    ax.pcolormesh(_edges(steps), _edges(layers), np.ma.masked_invalid(values),
                  norm=log_norm(rows) if norm is None else norm, cmap="viridis", shading="flat")
    ax.set_title(net_label(rows), fontsize=10)
    if len(steps) <= 8:
        ax.set_xticks(steps)  # few records: label each
    ax.set_xlabel("iteration (updates before the gradient)")
    ax.set_ylim(layers.max() + 0.5, layers.min() - 0.5)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def plot_gradient_profiles(ax: Axes, table: pd.DataFrame) -> Axes:
    """Draw each net's gradient norm ‖∂L/∂W‖₂ against weighted layer (log scale), at its first recorded
    iteration (faint) and its last (bold); plain red dashed, residual blue solid; return ``ax``.

    ``table``: rows of :func:`reports.analysis.gradient_table`, usually one plain/residual pair.
    """
    firsts, lasts, handles = [], [], []
    for model, rows in nets(table):
        kind = rows["kind"].iloc[0]
        style = PLAIN_STYLE if kind == "plain" else RESIDUAL_STYLE
        steps, layers, values = _wide(rows)
        # one record: it is drawn once, bold (first and last are the same iteration)
        for j, alpha, lw in (((0, 0.45, 1.0),) if len(steps) > 1 else ()) + ((len(steps) - 1, 1.0, style["lw"] + 0.4),):
            ax.plot(layers, 10 ** values[:, j], color=KIND_COLOURS[kind], ls=style["ls"], lw=lw, alpha=alpha)
        firsts.append(int(steps[0]))
        lasts += [int(steps[-1])] if int(steps[-1]) not in lasts else []
        handles.append(Line2D([], [], color=KIND_COLOURS[kind], **style, label=model))
    ax.set_yscale("log")
    ax.set_xlabel("weighted layer")
    ax.set_ylabel("‖∂L/∂W‖₂ (log scale)")
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    if handles:
        if any(first not in lasts for first in firsts):  # an earlier record than the last, drawn faint
            handles.append(Line2D([], [], color="0.4", alpha=0.45, lw=1.0, label=f"iteration {firsts[0]}"))
        handles.append(Line2D([], [], color="0.4", lw=2.0, label="iteration " + " / ".join(map(str, lasts))))
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
    ax.set_title("norm by layer, first and last record", fontsize=10)
    return ax


@register_figure("grad-norms", order=45)
def gradient_figures(ctx: ReportContext):
    """Per family, the deepest plain/residual pair with gradient norms: two heatmaps on one colour scale
    (:func:`plot_gradient_heatmap`) and their profiles (:func:`plot_gradient_profiles`)."""
    table, _ = gradient_table(ctx.runs)
    figs = {}
    for family, plain, res in gradient_pairs(table, ctx.runs):
        pair = table[table["model"].isin([plain, res])]
        fig = Figure(figsize=(13, 4.8), layout="constrained")
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.15]})
        norm = log_norm(pair)
        plot_gradient_heatmap(axes[0], pair[pair["model"] == plain], norm)
        plot_gradient_heatmap(axes[1], pair[pair["model"] == res], norm, ylabel=None)
        fig.colorbar(axes[1].collections[0], ax=axes[:2], label="log10 ‖∂L/∂W‖₂", shrink=0.9, pad=0.02)
        fig.get_layout_engine().set(wspace=0.06)  # room between the colour bar and the line panel
        plot_gradient_profiles(axes[2], pair)
        fig.suptitle(fit_figure_text(fig, figure_title(ctx, f"Gradient norms by layer during training, "
                                                            f"{FAMILY_TITLES.get(family, family)}"), 12), fontsize=12)
        steps = np.unique(pair["step"].to_numpy())
        every = f"every {int(np.diff(steps).min())} iterations" if len(steps) > 1 else f"at iteration {int(steps[0])}"
        fig.supxlabel(fit_figure_text(fig, "L2 norm of each weighted layer's weight gradient (loss only, before weight "
                                      f"decay), {every}; projection shortcuts excluded; log10 mean over ok seeds", 8),
                      fontsize=8, color="0.3")
        figs[f"grad-norms-{family}"] = fig
    return figs or None


@register_figure("grad-norms-methods", order=46)
def gradient_method_figures(ctx: ReportContext):
    """Per family holding nets other than the paper's: one panel per method, each net's gradient norm against
    weighted layer at its last recorded iteration (log scale), one colour per depth."""
    table, _ = gradient_table(ctx.runs)
    figs = {}
    for family in families(ctx.runs):
        rows = table[table["family"] == family]
        if rows.empty or rows["paper"].all():
            continue
        methods = by_method(rows)
        fig = Figure(figsize=(3.4 * min(4, len(methods)), 2.9 * -(-len(methods) // 4) + 0.8), layout="constrained")
        colour, chance = depth_colours(rows["depth"]), chance_error(ctx.runs)
        for ax, (method, these) in zip(method_panels(fig, len(methods)), methods):
            for _, net in nets(these):
                steps, layers, values = _wide(net)
                ax.plot(layers, 10 ** values[:, -1], color=colour[net["depth"].iloc[0]], lw=1.4,
                        label=f"{net_label(net)}, it. {int(steps[-1])}")
            ax.set_title(method, fontsize=10)
            # A net of this method with no ok seed has no curve: said, not left out without a word.
            drawn = set(these["model"])
            absent = sorted({r.model: r.info.depth for r in ctx.runs if r.info.family == family
                             and method_key(r.info) == method and r.model not in drawn}.items(), key=lambda m: m[1])
            if absent:
                cells = [(depth, cell(ctx.runs, model, chance)) for model, depth in absent]
                words = [f"{depth}: no ok seed ({c.flags()})" if not c.ok else f"{depth}: no gradient norms recorded"
                         for depth, c in cells]
                ax.text(0.02, 0.03, "; ".join(words), transform=ax.transAxes, fontsize=7.5, color="#b22222",
                        va="bottom", ha="left", wrap=True)
            ax.set_xlabel("weighted layer", fontsize=8)
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
        fig.axes[0].set_yscale("log")  # shared: every panel
        fig.supylabel("‖∂L/∂W‖₂ (log scale)", fontsize=9)
        fig.suptitle(fit_figure_text(fig, figure_title(
            ctx, f"Gradient norms by layer and method, {FAMILY_TITLES.get(family, family)}"), 12), fontsize=12)
        fig.supxlabel(fit_figure_text(fig, "L2 norm of each weighted layer's weight gradient (loss only, before weight "
                                      "decay) at the last recorded iteration; log10 mean over ok seeds", 8),
                      fontsize=8, color="0.3")
        figs[f"grad-norms-methods-{family}"] = fig
    return figs or None


@dataclass
class GradientFacts:
    """What the gradient-norm section states about one net (norm ratios are dimensionless)."""

    model: str
    step: int  # the iteration of the first five fields: the last one its pair shares
    first_over_last: float  # first weighted layer's norm / the last's (the fc)
    min_over_max: float  # smallest layer norm / largest
    weakest: str  # the layer with the smallest norm
    below: int  # layers below VANISH_RATIO x the largest
    layers: int
    worst_ratio: float  # the smallest min/max over every recorded iteration ...
    worst_step: int  # ... at this iteration,
    worst_weak: int  # where this layer is the weakest
    worst_strong: int  # and this one the strongest
    strongest: int = 0  # the layer with the largest norm at ``step``

    @property
    def trend(self) -> str:
        """Where the norms go on their way back to the input at the worst iteration: "shrink" or "grow"."""
        return "shrink" if self.worst_weak < self.worst_strong else "grow"

    @property
    def last_trend(self) -> str:
        """The same at ``step``, the last iteration the pair shares."""
        return "shrink" if int(self.weakest.split(" ")[0]) < self.strongest else "grow"


def gradient_facts(rows: pd.DataFrame, step: int) -> GradientFacts:
    """The facts of one net's rows of :func:`reports.analysis.gradient_table`, at iteration ``step``."""
    steps, layers, values = _wide(rows)
    names = rows.drop_duplicates("layer").set_index("layer")["name"]
    norms = 10 ** values  # [layer, step]
    col = norms[:, int(np.flatnonzero(steps == step)[0])]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.nanmin(norms, axis=0) / np.nanmax(norms, axis=0)
    ratios = np.where(np.isfinite(ratios), ratios, np.inf)  # a step with no finite norm decides nothing
    k = int(np.argmin(ratios))
    weakest = int(layers[int(np.nanargmin(col))])
    return GradientFacts(
        rows["model"].iloc[0], int(step), float(col[0] / col[-1]), float(np.nanmin(col) / np.nanmax(col)),
        f"{weakest} ({names.get(weakest, '?')})", int(np.sum(col < VANISH_RATIO * np.nanmax(col))), len(layers),
        float(ratios[k]), int(steps[k]), int(layers[int(np.nanargmin(norms[:, k]))]),
        int(layers[int(np.nanargmax(norms[:, k]))]), int(layers[int(np.nanargmax(col))]))


def gradient_verdict(p: GradientFacts, r: GradientFacts, untrained: str = "",
                     start: GradientFacts | None = None) -> str:
    """Do the plain net's norms agree with the paper's "healthy norms", vanish, or explode? And the residual's.

    ``untrained``: how the plain net failed to train (its seeds at chance or diverged), "" where it trained.
    Section 4.1's sentence is about plain nets that train, so such a net's norms are described (``start``: its
    facts at the first recorded iteration), not held against the paper."""
    where = (f"at iteration {p.worst_step}, layer {p.worst_weak}'s norm is {p.worst_ratio:.2g} of layer "
             f"{p.worst_strong}'s")
    if untrained:
        text = (f"**Not a test of the paper's claim:** {p.model} {untrained}, and the paper's \"healthy norms\" are "
                "those of plain nets that train. Its norms describe a net that failed:")
        if start is not None and start.step != p.worst_step:
            text += (f" at iteration {start.step} (the first recorded) they {start.last_trend} on their way to the "
                     f"input (first / last {start.first_over_last:.2g});")
        text += f" the extreme is {where}."
    elif p.worst_ratio >= VANISH_RATIO:
        text = (f"**Agrees with the paper:** {p.model}'s gradients do not vanish: no layer's norm falls below "
                f"{VANISH_RATIO:g} of the largest at any recorded iteration (the extreme: {where}).")
    elif p.trend == "shrink":
        text = (f"**Disagrees with the paper:** {p.model}'s gradients vanish on their way to the input: {where}, "
                f"below {VANISH_RATIO:g}.")
    else:
        text = (f"**Agrees that they do not vanish, but they are not healthy either:** {p.model}'s gradients grow "
                f"on their way to the input ({where}, below {VANISH_RATIO:g}): there they explode rather than vanish.")
    if not untrained and p.worst_ratio < VANISH_RATIO and p.last_trend != p.trend and p.step != p.worst_step:
        # The extreme is one iteration (often the first); where the norms go later can be the other way.
        text += (f" By iteration {p.step} (the last recorded) they {p.last_trend} on their way to the input "
                 f"instead: layer {p.weakest} is the weakest, at {p.min_over_max:.2g} of the largest.")
    return (f"{text} For comparison, {r.model}'s extreme is {r.worst_ratio:.2g} (iteration {r.worst_step}). "
            f"First-to-last ratio at iteration {p.step}: {p.first_over_last:.3g} ({p.model}) vs "
            f"{r.first_over_last:.3g} ({r.model}).")


@register_section("Gradient norms (paper section 4.1)", order=45)
def gradient_section(ctx: ReportContext):
    """Markdown: per family the pair's norm ratios at their last shared iteration, and the verdict."""
    table, bad = gradient_table(ctx.runs)
    pairs = gradient_pairs(table, ctx.runs)
    if not pairs and not bad:
        return None
    parts = ["The paper argues that the plain nets' optimisation difficulty \"is unlikely to be caused by "
             "vanishing gradients\": with BN, \"the backward propagated gradients exhibit healthy norms\". "
             "Below, for the deepest plain/residual pair of each family, at the last iteration both recorded: "
             "the first weighted layer's gradient norm over the last's (the fc), the smallest layer's over the "
             f"largest's, and how many layers are below {VANISH_RATIO:g} of the largest; then the smallest "
             "min/max ratio over every recorded iteration (iteration = updates before the gradient)."]
    for family, plain, res in pairs:
        p_rows, r_rows = table[table["model"] == plain], table[table["model"] == res]
        common = sorted(set(p_rows["step"]) & set(r_rows["step"]))
        if not common:
            parts += ["", f"{plain} and {res} share no recorded iteration."]
            continue
        facts = [gradient_facts(rows, common[-1]) for rows in (p_rows, r_rows)]
        plain_cell = cell(ctx.runs, plain, chance_error(ctx.runs))
        untrained = plain_cell.untrained_text() if plain_cell.trains_seldom else ""
        rows = [[f.model, str(f.step), f"{f.first_over_last:.3g}", f"{f.min_over_max:.3g}", f.weakest,
                 f"{f.below} of {f.layers}", f"{f.worst_ratio:.3g} (it. {f.worst_step})"] for f in facts]
        parts += ["", f"**{FAMILY_TITLES.get(family, family)}.**", "",
                  markdown_table(["net", "iteration", "first / last", "min / max", "weakest layer",
                                  f"< {VANISH_RATIO:g} max", "worst min / max"], rows), "",
                  gradient_verdict(*facts, untrained=untrained, start=gradient_facts(p_rows, common[0]))]
    if bad:
        parts += ["", f"Unreadable {GRAD_NORMS} (left out): " + ", ".join(f"`{b}`" for b in bad) + "."]
    return "\n".join(parts)
