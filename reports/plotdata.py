"""The tidy data the figures draw, aggregated once, before any drawing.

* :func:`curve_stats` / :func:`curve_table`: error curves (%) against iterations, mean and std over a
  model's ok seeds, from the tidy ``runs.csv`` frame (:func:`reports.runs.tidy_table`).
* :func:`finals_table`: one row per expected run with its final error (%) of a split, from result.json.
* :func:`seed_counts`: per model, how many of its expected runs are ok (the legends' ``n``).

The Axes functions (``plot_*`` in :mod:`reports.figures`, :mod:`reports.depth`, :mod:`reports.responses`,
:mod:`reports.gradients`) take these frames, so they can be drawn from a notebook without a report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .runs import Run

CURVE_COLUMNS = ["model", "split", "step", "mean", "std", "n"]
FINAL_COLUMNS = ["model", "family", "depth", "kind", "shortcut", "seed", "status", "error"]
EVAL_SPLITS = ("test", "val")  # the bold curve: the test error, the val error where a run has no test point


def curve_stats(tidy: pd.DataFrame, model: str, split: str) -> pd.DataFrame:
    """Mean and std (ddof=1) of ``model``'s ``split`` error (%) over its ok seeds, per logged step.

    ``tidy`` is the ``runs.csv`` frame. Returns columns ``step, mean, std, n``, sorted by step. Steps that
    every seed logged are used when there are at least two of them (seeds that log at the same
    iterations, the usual case); otherwise each step averages the seeds that have it. ``std`` is NaN
    where n = 1. Empty when the model has no ok error point of that split.
    """
    if tidy.empty or not {"model", "split", "status", "error"} <= set(tidy.columns):
        return pd.DataFrame(columns=["step", "mean", "std", "n"])
    rows = tidy[(tidy["model"] == model) & (tidy["split"] == split) & (tidy["status"] == "ok")]
    rows = rows.dropna(subset=["error"])
    if rows.empty:
        return pd.DataFrame(columns=["step", "mean", "std", "n"])
    wide = rows.pivot(index="step", columns="seed", values="error").sort_index()
    complete = wide.dropna()
    if len(complete) >= 2:
        wide = complete
    return pd.DataFrame({
        "step": wide.index.to_numpy(),
        "mean": wide.mean(axis=1).to_numpy(),
        "std": wide.std(axis=1, ddof=1).to_numpy(),
        "n": wide.count(axis=1).to_numpy(),
    })


def curve_table(tidy: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """The curves of the degradation and shortcut figures (paper Figs. 1, 4, 6), in ``models``' order: per
    model its training curve and its test curve (the val curve where it has no test point).

    Columns ``model, split, step, mean, std, n`` (errors in %, see :func:`curve_stats`).
    """
    parts = []
    for model in models:
        train = curve_stats(tidy, model, "train")
        if not train.empty:
            parts.append(train.assign(model=model, split="train"))
        for split in EVAL_SPLITS:
            curve = curve_stats(tidy, model, split)
            if not curve.empty:
                parts.append(curve.assign(model=model, split=split))
                break
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def y_upper(curves: pd.DataFrame) -> float | None:
    """Upper y-limit (%) that shows the informative part, as the paper's figures do: the largest mean after
    the first 10% of the iterations, plus 25% (room for the legend), at most 100. The first iterations
    (~90% error) are cut. None when ``curves`` has no finite mean."""
    steps = curves["step"].to_numpy(dtype=float)
    ys = curves["mean"].to_numpy(dtype=float)
    ok = np.isfinite(ys)
    if not ok.any():
        return None
    lo, hi = steps[ok].min(), steps[ok].max()
    late = ok & (steps >= lo + 0.1 * (hi - lo))
    top = ys[late].max() if late.any() else ys[ok].max()
    return float(min(100.0, max(1.0, top * 1.25)))


def finals_table(runs: Sequence[Run], split: str) -> pd.DataFrame:
    """One row per run (any status): model, family, depth, kind, shortcut, seed, status, and ``error``, its
    final ``split`` error (%) from result.json; NaN unless ok."""
    rows = []
    for r in runs:
        value = r.final(split) if r.ok else None
        rows.append([r.model, r.family, r.depth, r.kind, r.shortcut, r.seed, r.status,
                     np.nan if value is None else value])
    return pd.DataFrame(rows, columns=FINAL_COLUMNS)


def seed_counts(runs: Sequence[Run]) -> dict[str, tuple[int, int]]:
    """``{model: (ok runs, expected runs)}``."""
    counts: dict[str, tuple[int, int]] = {}
    for r in runs:
        ok, total = counts.get(r.model, (0, 0))
        counts[r.model] = (ok + r.ok, total + 1)
    return counts
