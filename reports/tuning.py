"""The tuned board's runs and the learning-rate sensitivity figure (the tuning protocol: :mod:`runfolder.tuning`).

``make methods`` trains every net at each rate of the grid on the tuning seed, chooses its rate by the final
training error, and trains the reported seeds at that rate. This module reads it back, never choosing
anything itself (the choice is :func:`runfolder.tuning.choose`, the one make used):

* :func:`tuning_table`: one row per (net, rate) tuning run: ``model, method, depth, lr, status, train, val,
  chosen, extension`` (errors in %, final), the rows of the sensitivity figure and of ``tuning.csv``.
* :func:`tuned_runs`: the reported seeds of every net at its chosen rate, as :class:`reports.runs.Run`
  records (``seed<k>`` where the rate is the profile's, ``seed<k>-lr<rate>`` elsewhere), the tuned board's runs.
* :func:`plot_lr_sensitivity`: final training error against the rate, one line per depth, one panel per method.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from runfolder import lr_token, read_config, seed_and_lr
from runfolder.files import MalformedError
from runfolder.tuning import TUNING_SEED, Choice, choose, folder_rate

from .figures import fit_figure_text
from .groups import method_key
from .runs import Run, load_run, read_name

TUNING_COLUMNS = ["model", "method", "depth", "lr", "status", "train", "val", "chosen", "extension"]


def base_lr(root: Path, models: Sequence[str], seeds: Collection[int] | None = None) -> float | None:
    """The profile's own learning rate, as the runs at it recorded it (config.yaml ``config.lr`` of the
    ``seed<k>`` folders of ``seeds``, default every one, the tuning seed's included: another study's seeds left
    out of a report do not decide its rate): the rate most of them record, on a tie the tuning seed's
    (the first folder's once decided, and a ``seed0`` trained under ``SET="lr=..."`` named the whole
    protocol's base; such a run is flagged, reports.runs); None when no such run has a readable config."""
    rates: Counter[float] = Counter()
    own = None
    for model in models:
        folder = root / model
        for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
            parsed = seed_and_lr(sub.name)
            if parsed is None or parsed[1] is not None or (seeds is not None and parsed[0] not in {*seeds, TUNING_SEED}):
                continue
            try:
                config = read_config(sub / "config.yaml")
            except MalformedError:
                continue
            nested = config.get("config") if isinstance(config.get("config"), dict) else {}
            lr = nested.get("lr", config.get("lr"))  # as reports.runs.Run.setting reads it
            if isinstance(lr, (int, float)) and not isinstance(lr, bool):
                rates[float(lr)] += 1
                own = float(lr) if parsed[0] == TUNING_SEED else own  # the protocol's own run at the base rate
    # the most recorded rate; on a tie, the tuning seed's own
    return max(rates, key=lambda r: (rates[r], r == own)) if rates else None


def choices(root: Path, models: Sequence[str], grid: tuple[float, ...], base: float) -> dict[str, Choice]:
    """Every net's :class:`runfolder.tuning.Choice` (its ``lr`` None while a tuning run it rests on is not done)."""
    return {m: choose(root, m, grid, base) for m in models}


def tuning_table(picked: dict[str, Choice]) -> pd.DataFrame:
    """One row per tuning run found (columns :data:`TUNING_COLUMNS`): rate, status (ok, diverged, or
    ``not done``), final training and validation error (%), whether it is the chosen rate, whether it is the
    extension beyond an end of the grid."""
    rows = []
    for model, choice in picked.items():
        info = read_name(model)  # a plugin's name as its records say, whether or not the plugin is installed
        for o in choice.outcomes:
            rows.append({"model": model, "method": method_key(info), "depth": info.depth, "lr": o.lr,
                         "status": o.status or "not done", "train": o.train, "val": o.val,
                         "chosen": choice.lr is not None and o.lr == choice.lr, "extension": o.lr == choice.extended})
    return pd.DataFrame(rows, columns=TUNING_COLUMNS)


def chosen_errors(picked: dict[str, Choice]) -> dict[str, float | None]:
    """Each net's tuning-seed final training error (%) at its chosen rate; None where that run diverged, is
    not done or no rate is chosen (:func:`reports.leaderboard.leaderboard_table` tells unstable rates by it)."""
    errors = {}
    for model, choice in picked.items():
        at = [o for o in choice.outcomes if choice.lr is not None and o.lr == choice.lr and o.status == "ok"]
        errors[model] = at[0].train if at else None
    return errors


def tuning_runs(runs_dir: Path, experiment: str, profile: str, picked: dict[str, Choice], base: float) -> list[Run]:
    """Every tuning run the choices rest on, as :class:`reports.runs.Run` (for what they record beside their
    errors: the plugin code they were trained by)."""
    return [load_run(runs_dir, experiment, profile, model, TUNING_SEED, lr=folder_rate(o.lr, base))
            for model, choice in picked.items() for o in choice.outcomes]


def every_rate_diverged(picked: dict[str, Choice]) -> set[str]:
    """The nets whose every tuning run (grid and extension) diverged: the choice fell to the smallest rate by
    the tie rule, and no rate tried trains them."""
    return {m for m, c in picked.items() if c.outcomes and all(o.status == "diverged" for o in c.outcomes)}


def untuned(picked: dict[str, Choice]) -> dict[str, str]:
    """Each net whose rate is not chosen yet, with why: ``{"highway-56": "highway-56 at lr 0.8: failed"}``
    (a tuning run it rests on failed, is malformed, or is not done)."""
    return {model: "; ".join(f"{model} at lr {lr_token(o.lr)}: {o.status or 'not done'}"
                             for o in choice.outcomes if o.lr in choice.pending)
            for model, choice in picked.items() if choice.lr is None}


def tuned_runs(runs_dir: Path, experiment: str, profile: str, picked: dict[str, Choice], base: float,
               seeds: Sequence[int], known: Mapping[tuple[str, int], Run] | None = None) -> list[Run]:
    """The reported ``seeds`` of every net at its chosen rate (:func:`reports.runs.load_run`); a net whose
    choice is not made yet gets ``missing`` runs saying why (:func:`untuned`). ``known``: the report's own runs
    by (model, seed), the one-recipe board's; a run at the profile's rate is that one, flags and all (loaded
    again, it had shed what the report found wrong with it: other data, other settings)."""
    runs = []
    waiting = untuned(picked)
    for model, choice in picked.items():
        for seed in seeds:
            if choice.lr is None:
                run = load_run(runs_dir, experiment, profile, model, seed)  # a stand-in, reported as missing
                run = Run(model, seed, run.path, run.rel, run.info, status="missing",
                          reason=f"no rate chosen yet: {waiting[model]}")
            elif folder_rate(choice.lr, base) is None and (model, seed) in (known or {}):
                run = replace(known[model, seed], lr=choice.lr, notes=list(known[model, seed].notes))
            else:
                run = load_run(runs_dir, experiment, profile, model, seed, lr=folder_rate(choice.lr, base))
                run.lr = choice.lr
            runs.append(run)
    return runs


DODGE = 0.025  # decades between the depths' points at one rate
MARKERS = "osD^"  # per depth: filled circle, hollow square, ...


def plot_lr_sensitivity(ax: Axes, rows: pd.DataFrame, colours: dict[int, str], *, chance: float | None = None,
                        one_recipe: float | None = None, rates: Sequence[float] | None = None) -> Axes:
    """Final training error (%) of the tuning runs against the rate (log axis) on ``ax``, one line per depth
    (``colours``: depth -> colour, each depth in its own marker and :data:`DODGE` decades apart along the rate,
    so that equal points both show); the chosen rate ringed, a diverged run drawn as an x at the top (a row
    per depth, 4 points apart), the one-recipe board's rate as a dotted vertical line and chance as a dashed
    horizontal one; ``rates``: the ticks (default: the rows' rates; panels sharing an axis need the same).
    Returns ``ax``."""
    top = 100.0
    for k, (depth, colour) in enumerate(colours.items()):
        part = rows[rows["depth"] == depth].sort_values("lr")
        # each depth a little apart along the rate (a fortieth of a decade between neighbours) and in its own
        # marker, so that two depths ending at one error at one rate both show
        apart = 10 ** (DODGE * (k - (len(colours) - 1) / 2))
        done = part[part["status"] == "ok"]
        ax.plot(done["lr"] * apart, done["train"], "-", marker=MARKERS[k % len(MARKERS)], color=colour, ms=4.5,
                lw=1.2, mfc=colour if k % 2 == 0 else "white", label=f"{depth} layers")
        diverged = part[part["status"] == "diverged"]
        row = top - 4.0 * k  # one row of x's per depth: two depths diverging at one rate both show
        ax.plot(diverged["lr"] * apart, [row] * len(diverged), "x", color=colour, ms=7, mew=1.5)
        chosen = part[part["chosen"]]
        ax.plot(chosen["lr"] * apart, [t if s == "ok" else row for t, s in zip(chosen["train"], chosen["status"])],
                "o", mfc="none", mec=colour, ms=11, mew=1.5)
    if one_recipe is not None:
        ax.axvline(one_recipe, color="0.5", ls=":", lw=1)
    if chance is not None:
        ax.axhline(chance, color="0.6", ls="--", lw=0.8)
    ax.set_xscale("log")
    rates = sorted(rates if rates is not None else rows["lr"].unique())
    ax.set_xticks(rates, [lr_token(r) for r in rates], fontsize=7)
    ax.minorticks_off()
    ax.set_ylim(0, top + 5)
    ax.grid(True, alpha=0.3, lw=0.5)
    return ax


def lr_sensitivity_figure(table: pd.DataFrame, title: str, *, chance: float | None = None,
                          one_recipe: float | None = None) -> Figure | None:
    """:func:`plot_lr_sensitivity` per method (a panel each, shared axes), None without tuning runs."""
    if table.empty:
        return None
    methods = list(dict.fromkeys(table["method"]))
    depths = sorted(table["depth"].unique())
    colours = dict(zip(depths, ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]))
    cols = min(3, len(methods))
    rows = math.ceil(len(methods) / cols)
    fig = Figure(figsize=(4.0 * cols, 2.9 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for ax, method in zip(axes, methods):
        plot_lr_sensitivity(ax, table[table["method"] == method], colours, chance=chance, one_recipe=one_recipe,
                            rates=sorted(table["lr"].unique()))
        ax.set_title(method, fontsize=10)
    for ax in axes[len(methods):]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("final training error (%)", fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(fit_figure_text(fig, title, 11), fontsize=11)
    caption = (f"learning rate (log scale), tuning seed {TUNING_SEED} (never reported); the depths drawn a little "
               "apart along it\nringed: the rate chosen; x at the top: diverged; dotted: the one-recipe rate; "
               "dashed: chance")
    fig.supxlabel(fit_figure_text(fig, caption, 8), fontsize=8, color="0.3")
    return fig
