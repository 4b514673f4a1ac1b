"""Degradation as a function of depth (``make depth-sweep``): final training error against depth, plain
and residual nets side by side, with 95% intervals over seeds.

Beyond the paper's figures: Fig. 6 shows these depths as separate curves and Table 6 lists the residual
nets' test errors only. ``depth_table`` aggregates once; ``plot_depth_sweep`` draws a given table on a given
Axes (usable from a notebook); the registered figure ties them to the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .figures import figure_title
from .groups import degradation_sets, model_infos
from .plotdata import finals_table
from .registry import ReportContext, register_figure
from .runs import Run
from .stats import mean_interval

KIND_STYLE = {"plain": dict(color="#d62728", marker="s", label="plain", dx=-1.5),
              "resnet": dict(color="#1f77b4", marker="o", label="residual", dx=1.5)}  # dx: seed dots beside the bar
MIN_DEPTHS = 3  # fewer depths than this make no sweep: the degradation figure shows them


def depth_table(runs: Sequence[Run], family: str = "cifar", split: str = "train") -> pd.DataFrame:
    """One row per (kind, depth) of ``family``, from :func:`reports.plotdata.finals_table`: columns kind
    ("plain" | "resnet"), depth, model, mean, low, high (95% t-interval of the mean; NaN with one seed),
    n (ok seeds), seeds (the per-seed values); errors are final ``split`` errors in %."""
    plain, residual = degradation_sets(model_infos(runs), family)
    finals = finals_table(runs, split)
    rows = []
    for kind, nets in (("plain", plain), ("resnet", residual)):
        for depth, model in nets.items():
            values = finals.loc[finals["model"] == model, "error"].dropna().to_list()
            if not values:
                continue
            m, lo, hi, n = mean_interval(values)
            rows.append({"kind": kind, "depth": depth, "model": model, "mean": m, "low": lo, "high": hi, "n": n,
                         "seeds": values})
    return pd.DataFrame(rows, columns=["kind", "depth", "model", "mean", "low", "high", "n", "seeds"])


def plot_depth_sweep(ax: Axes, table: pd.DataFrame, ylabel: str = "final training error (%)") -> Axes:
    """Draw ``depth_table``'s rows on ``ax``: per kind (plain red squares, residual blue circles), the mean
    error (%) against depth with its 95% interval as error bars and each seed as a small dot beside it,
    y from 0; returns ``ax``. Paper Fig. 6 / Table 6's nets, drawn against depth."""
    for kind, style in KIND_STYLE.items():
        rows = table[table["kind"] == kind].sort_values("depth")
        if rows.empty:
            continue
        low = (rows["mean"] - rows["low"]).fillna(0).clip(lower=0)
        high = (rows["high"] - rows["mean"]).fillna(0).clip(lower=0)
        ax.errorbar(rows["depth"], rows["mean"], yerr=[low, high], color=style["color"], marker=style["marker"],
                    ms=6, lw=1.8, capsize=4, label=f"{style['label']} (mean, 95% CI over seeds)")
        for depth, seeds in zip(rows["depth"], rows["seeds"]):
            ax.scatter([depth + style["dx"]] * len(seeds), seeds, s=12, color=style["color"], alpha=0.5, lw=0,
                       zorder=3)
    depths = sorted(table["depth"].unique()) if not table.empty else []
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (weighted layers)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3, lw=0.5)
    ax.legend(fontsize=8, loc="upper left")
    return ax


@register_figure("depth-sweep", order=15)
def depth_sweep_figure(ctx: ReportContext):
    """The CIFAR family's final training error against depth, when at least MIN_DEPTHS depths of plain
    or residual nets have ok runs."""
    table = depth_table(ctx.runs, "cifar")
    if table.empty or table.groupby("kind")["depth"].nunique().max() < MIN_DEPTHS:
        return None
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    plot_depth_sweep(fig.subplots(), table)
    fig.suptitle(figure_title(ctx, "Final training error against depth, CIFAR family"), fontsize=11)
    fig.supxlabel("training error: mini-batch error in training mode, averaged over the last logging interval; "
                  "dots: seeds", fontsize=8, color="0.3")
    return fig
