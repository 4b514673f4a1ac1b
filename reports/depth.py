"""Degradation as a function of depth (``make depth-sweep``): final training error against depth, one line
per method (plain and residual nets, and any method of issue 21: ``MODELS="fixup-20 fixup-56 ..."``), with
95% intervals over seeds.

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
from .figures import PALETTE
from .groups import model_infos
from .groups import method_key
from .leaderboard import method_order
from .plotdata import finals_table
from .registry import ReportContext, register_figure
from .runs import Run
from .stats import mean_interval
from .verdicts import chance_error

KIND_STYLE = {"plain": dict(color="#d62728", marker="s", label="plain", dx=-1.5),
              "resnet": dict(color="#1f77b4", marker="o", label="residual", dx=1.5)}  # dx: seed dots beside the bar
OTHER_COLOURS = [c for c in PALETTE if c not in ("#1f77b4", "#d62728")]  # the other methods, in table order
OTHER_MARKERS = ["^", "D", "v", "P", "X", "<", ">", "*"]
MIN_DEPTHS = 3  # fewer depths than this make no sweep: the degradation figure shows them


def depth_table(runs: Sequence[Run], family: str = "cifar", split: str = "train") -> pd.DataFrame:
    """One row per (method, depth) of ``family`` with an ok run, from :func:`reports.plotdata.finals_table`:
    columns method (the name without its depth, :func:`reports.leaderboard.method_key`: "plain", "resnet",
    "fixup", "plain-nobn", ...), kind (the name's method, :class:`models.names.ModelName`), depth, model,
    mean, low, high (95% t-interval of the mean; NaN with one seed), n (counted seeds), seeds (the per-seed
    values), diverged (the seeds among them that diverged), at_chance (ok seeds within the chance margin: they
    did not train); errors are final ``split`` errors in %. Training
    error counts seeds as the verdict does (:func:`reports.verdict.counted`: a diverged seed at chance), so
    the figure and the verdict show the same nets; other splits the ok seeds'. Methods in the leaderboard's
    order (plain, resnet first), depths ascending."""
    from .verdict import counted

    finals = finals_table(runs, split)
    rows = []
    infos = [i for i in model_infos(runs) if i.family == family]
    for info in sorted(infos, key=lambda i: (method_order(i), i.depth)):
        if split == "train":
            c = counted(runs, info.name, split)
            values, diverged, at_chance = list(c.values.values()), c.diverged, c.near_chance
        else:
            values, diverged, at_chance = finals.loc[finals["model"] == info.name, "error"].dropna().to_list(), 0, 0
        if not values:
            continue
        m, lo, hi, n = mean_interval(values)
        rows.append({"method": method_key(info), "kind": info.kind, "depth": info.depth, "model": info.name,
                     "mean": m, "low": lo, "high": hi, "n": n, "seeds": values, "diverged": diverged,
                     "at_chance": at_chance})
    return pd.DataFrame(rows, columns=["method", "kind", "depth", "model", "mean", "low", "high", "n", "seeds",
                                       "diverged", "at_chance"])


def method_styles(methods: Sequence[str]) -> dict[str, dict]:
    """Colour, marker, legend label and seed-dot offset per method: plain red squares and residual blue
    circles as always, the other methods in :data:`OTHER_COLOURS` / :data:`OTHER_MARKERS` in turn."""
    styles, others = {}, [m for m in methods if m not in KIND_STYLE]
    for m in methods:
        if m in KIND_STYLE:
            styles[m] = KIND_STYLE[m]
        else:
            i = others.index(m)
            styles[m] = dict(color=OTHER_COLOURS[i % len(OTHER_COLOURS)], marker=OTHER_MARKERS[i % len(OTHER_MARKERS)],
                             label=m, dx=1.5 if i % 2 else -1.5)
    return styles


def plot_depth_sweep(ax: Axes, table: pd.DataFrame, ylabel: str = "final training error (%)",
                     chance: float | None = None) -> Axes:
    """Draw ``depth_table``'s rows on ``ax``: one line per method (``method`` column, else ``kind``; plain red
    squares, residual blue circles, others in turn, :func:`method_styles`), the mean error (%) against
    depth with its 95% interval as error bars (cut at 0 and 100%) and each seed as a small dot beside it, y
    from 0; with more
    than two methods the lines are shifted apart by up to +-2 layers. A depth whose seeds diverged or ended at
    chance says so beside its point, an interval cut at 100% says where it reached, and ``chance`` (%, the
    error of guessing) is drawn as a dotted line. Returns ``ax``. Paper Fig. 6 / Table
    6's nets, drawn against depth."""
    by = "method" if "method" in table.columns else "kind"
    methods = list(dict.fromkeys(table[by]))
    styles = method_styles(methods)
    for i, method in enumerate(methods):
        style = styles[method]
        rows = table[table[by] == method].sort_values("depth")
        shift = (i - (len(methods) - 1) / 2) * 4.0 / len(methods) if len(methods) > 2 else 0.0
        # An error lies within 0-100%: a t-interval of three seeds (one at chance) reaching past it is cut there.
        low = (rows["mean"] - rows["low"].clip(lower=0.0)).fillna(0).clip(lower=0)
        high = (rows["high"].clip(upper=100.0) - rows["mean"]).fillna(0).clip(lower=0)
        ax.errorbar(rows["depth"] + shift, rows["mean"], yerr=[low, high], color=style["color"],
                    marker=style["marker"], ms=6, lw=1.8, capsize=4, label=f"{style['label']} (mean, 95% CI over seeds)")
        for depth, seeds, mean, top, diverged, flat in zip(
                rows["depth"], rows["seeds"], rows["mean"], rows["high"], rows.get("diverged", [0] * len(rows)),
                rows.get("at_chance", [0] * len(rows))):
            ax.scatter([depth + shift + style["dx"]] * len(seeds), seeds, s=12, color=style["color"], alpha=0.5,
                       lw=0, zorder=3)
            # Counted at chance, or stuck there: the reader must see that the point is a net that did not train.
            notes = [f"{diverged} of {len(seeds)} diverged" if diverged else "",
                     f"{flat} of {len(seeds)} at chance" if flat else ""]
            if any(notes):
                ax.annotate(", ".join(n for n in notes if n), (depth + shift, mean), xytext=(0, 8),
                            textcoords="offset points", fontsize=7, color=style["color"], ha="center")
            if pd.notna(top) and top > 100.0:
                ax.annotate(f"CI cut at 100 (to {top:.0f})", (depth + shift, 100.0), xytext=(6, -10),
                            textcoords="offset points", fontsize=7, color=style["color"], ha="left")
    if chance is not None:
        ax.axhline(chance, ls=":", lw=1, color="0.45", label=f"chance ({chance:g}%, guessing)", zorder=1)
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
    """The CIFAR family's final training error against depth, one line per method, when at least
    MIN_DEPTHS depths of one method have ok runs."""
    table = depth_table(ctx.runs, "cifar")
    if table.empty or table.groupby("method")["depth"].nunique().max() < MIN_DEPTHS:
        return None
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    plot_depth_sweep(fig.subplots(), table, chance=chance_error(ctx.runs))
    fig.suptitle(figure_title(ctx, "Final training error against depth, CIFAR family"), fontsize=11)
    fig.supxlabel("training error: mini-batch error in training mode, averaged over the last logging interval;\n"
                  "dots: seeds" + ("; a diverged seed counts at chance, as in the verdict" if table["diverged"].sum()
                                   else "") + ("; a seed at chance did not train" if table["at_chance"].sum() else ""),
                  fontsize=8, color="0.3")
    return fig
