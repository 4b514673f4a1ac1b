"""Layer responses (paper Fig. 7 and section 4.1): the std of each 3x3 layer's response, plain vs residual.

Registered here:

* ``fig-layer-responses-<family>`` (paper Fig. 7): std against layer index in the net's order (top) and
  the same stds sorted by magnitude, descending (bottom); plain dashed, residual solid, one colour per
  depth; the mean over a model's ok seeds.
* ``fig-layer-responses-methods-<family>`` (when a report holds nets other than the paper's): one panel per
  method (the paper's plain and residual nets included, as references), one line per depth; for a BN-free
  block the response is its last convolution's output with its scale and bias (models.response_layers).
* Section "Layer responses (paper Fig. 7)": per net the mean, median and largest std, and the paper's
  two claims checked on the paper's nets.

:func:`plot_layer_responses` draws a :func:`reports.analysis.response_table` on any Axes (a notebook).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from runfolder import LAYER_RESPONSES

from .analysis import (PLAIN_STYLE, RESIDUAL_STYLE, by_method, depth_colours, method_panels, net_label, nets,
                       response_table)
from .figures import FAMILY_TITLES, figure_title
from .groups import families
from .registry import ReportContext, register_figure, register_section
from .summary import markdown_table

LOG_AXIS_SPAN = 100.0  # Fig. 7's std axes turn logarithmic when the stds span more than this factor


def plot_layer_responses(ax: Axes, table: pd.DataFrame, *, ranked: bool = False, legend: bool = True) -> Axes:
    """Draw paper Fig. 7 on ``ax``: each net's response std against its layer index; return ``ax``.

    ``table``: rows of :func:`reports.analysis.response_table` (one family). ``ranked=False``: in the net's
    order (Fig. 7 top); ``ranked=True``: sorted by magnitude, descending (Fig. 7 bottom). Plain nets dashed,
    residual solid, one colour per depth (by rank). The y-axis is linear from 0, as the paper's, unless the
    stds span more than LOG_AXIS_SPAN: then logarithmic (a barely trained deep plain net would flatten
    every other line to zero).
    """
    colour = depth_colours(table["depth"])
    for _, rows in nets(table):
        style = PLAIN_STYLE if rows["kind"].iloc[0] == "plain" else RESIDUAL_STYLE
        stds = rows["std"].to_numpy(dtype=float)
        c = colour[rows["depth"].iloc[0]]
        if ranked:
            ranks = np.sort(stds[np.isfinite(stds)])[::-1]
            ax.plot(np.arange(1, len(ranks) + 1), ranks, color=c, label=net_label(rows), **style)
        else:
            ax.plot(rows["layer"], stds, color=c, label=net_label(rows), **style)
    ax.set_xlabel("layer index (sorted by magnitude)" if ranked else "layer index (original, in the net's order)")
    values = table["std"].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    log = values.size > 0 and values.max() / values.min() > LOG_AXIS_SPAN
    ax.set_ylabel("std" + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3, lw=0.5)
    if legend:
        ax.legend(fontsize=8, ncols=2, loc="upper right", handlelength=3.0, framealpha=0.85)
    return ax


@register_figure("layer-responses", order=40)
def layer_response_figures(ctx: ReportContext):
    """Paper Fig. 7 per family with response files: the figure of :func:`plot_layer_responses`, top and bottom."""
    table, _ = response_table(ctx.runs)
    figs = {}
    for family in families(ctx.runs):
        everything = table[table["family"] == family]
        if not everything["paper"].all():
            figs[f"layer-responses-methods-{family}"] = _methods_figure(ctx, family, everything)
        rows = everything[everything["paper"]]
        if rows.empty:
            continue
        fig = Figure(figsize=(10, 7.2), layout="constrained")
        top, bottom = fig.subplots(2, 1)
        plot_layer_responses(top, rows)
        plot_layer_responses(bottom, rows, ranked=True, legend=False)
        fig.suptitle(figure_title(ctx, f"Layer responses (paper Fig. 7), {FAMILY_TITLES.get(family, family)}"),
                     fontsize=12)
        fig.supxlabel("std of each 3x3 layer's response on the test set, after BN, before the ReLU and the "
                      "addition, over all images, channels and positions\ndashed: plain, solid: residual, one "
                      "colour per depth; mean over ok seeds", fontsize=8, color="0.3")
        figs[f"layer-responses-{family}"] = fig
    return figs or None


def _methods_figure(ctx: ReportContext, family: str, table: pd.DataFrame) -> Figure:
    """One panel per method of ``table`` (one family), its nets' response stds against layer index, one colour
    per depth (as Fig. 7 top)."""
    methods = by_method(table)
    fig = Figure(figsize=(3.4 * min(4, len(methods)), 2.9 * -(-len(methods) // 4) + 0.8), layout="constrained")
    colour = depth_colours(table["depth"])
    for ax, (method, rows) in zip(method_panels(fig, len(methods)), methods):
        for _, net in nets(rows):
            ax.plot(net["layer"], net["std"], color=colour[net["depth"].iloc[0]], lw=1.4, label=net_label(net))
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("layer index", fontsize=8)
        ax.grid(True, alpha=0.3, lw=0.5)
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
    values = table["std"].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > LOG_AXIS_SPAN:
        fig.axes[0].set_yscale("log")  # shared: every panel
    fig.supylabel("std of the response", fontsize=9)
    fig.suptitle(figure_title(ctx, f"Layer responses by method (paper Fig. 7), {FAMILY_TITLES.get(family, family)}"),
                 fontsize=12)
    fig.supxlabel("std of each 3x3 layer's response on the test set: after its BN (the branch's output before "
                  "its scale or the addition); in a net without BN, after the convolution; mean over ok seeds",
                  fontsize=8, color="0.3")
    return fig


@register_section("Layer responses (paper Fig. 7)", order=40)
def layer_response_section(ctx: ReportContext):
    """Markdown: per family a table of each net's mean / median / max response std, and the paper's claims."""
    table, bad = response_table(ctx.runs)
    if table.empty and not bad:
        return None
    parts = ["Std of each 3x3 layer's response on the test set (after BN, before the ReLU and the addition), "
             "pooled over images, channels and positions; per net the mean over layers, the median and the "
             "largest. The paper (Fig. 7): \"ResNets have generally smaller responses than their plain "
             "counterparts\", and \"the deeper ResNet has smaller magnitudes of responses\"."]
    for family in families(ctx.runs):
        members = list(nets(table[table["family"] == family]))
        if not members:
            continue
        rows = []
        for model, r in members:
            s = r["std"].to_numpy(dtype=float)
            rows.append([model, str(len(s)), _num(np.nanmean(s)), _num(np.nanmedian(s)), _num(np.nanmax(s)),
                         str(r["seeds"].iloc[0])])
        parts += ["", f"**{FAMILY_TITLES.get(family, family)}.**", "",
                  markdown_table(["net", "layers", "mean std", "median std", "max std", "seeds"], rows), ""]
        parts += [f"- {line}" for line in _response_checks([(m, r) for m, r in members if r["paper"].all()])]
    if bad:
        parts += ["", f"Unreadable {LAYER_RESPONSES} (left out): " + ", ".join(f"`{b}`" for b in bad) + "."]
    return "\n".join(parts)


def _num(x: float) -> str:
    return f"{x:.3f}" if 1e-3 <= abs(x) < 1e4 else f"{x:.3g}"


def _response_checks(members: list[tuple[str, pd.DataFrame]]) -> list[str]:
    """The paper's two claims, checked: residual < plain at each depth with both; deeper residual smaller."""
    lines = []
    by = {(r["kind"].iloc[0], int(r["depth"].iloc[0])): (m, r["std"].to_numpy(dtype=float)) for m, r in members}
    for depth in sorted({d for _, d in by}):
        if ("plain", depth) not in by or ("resnet", depth) not in by:
            continue
        (plain, p), (res, r) = by["plain", depth], by["resnet", depth]
        smaller = int(np.sum(r < p)) if len(p) == len(r) else None
        verdict = "smaller, as in the paper" if np.nanmean(r) < np.nanmean(p) else "not smaller, unlike the paper"
        per_layer = f"; smaller at {smaller} of {len(r)} layers" if smaller is not None else ""
        lines.append(f"depth {depth}: {res}'s responses are {verdict} (mean std {_num(np.nanmean(r))} vs "
                     f"{_num(np.nanmean(p))} for {plain}{per_layer}).")
    residual = [(m, float(np.nanmean(r["std"].to_numpy(dtype=float)))) for m, r in members
                if r["kind"].iloc[0] == "resnet"]
    if len(residual) >= 2:
        chain = ", ".join(f"{m} {_num(v)}" for m, v in residual)
        falling = all(a > b for (_, a), (_, b) in zip(residual, residual[1:]))
        lines.append(f"residual nets by depth (mean std): {chain}: "
                     + ("smaller in deeper nets, as in the paper." if falling else
                        "not smaller at every step in depth, unlike the paper."))
    return lines
