"""Analyses of trained nets (issue 7): the per-layer files of the run folders as tidy tables.

Read from the run folders, written there by the experiments package:

* ``layer_responses.csv`` (``layer,name,std``; ``make layer-responses``): the std of each 3x3 layer's
  response on the test set, after BN, before the ReLU and before the addition, pooled over images,
  channels and positions (see experiments/responses.py).
* ``grad_norms.csv`` (``step,layer,name,norm``; RunConfig.grad_norm_every): the L2 norm of each weighted
  layer's weight gradient every K iterations; ``step`` = optimizer updates before that gradient (see
  experiments/training/gradients.py).

:func:`response_table` and :func:`gradient_table` average them over each model's ok seeds, once; the
figures and sections that draw and check them are registered in :mod:`reports.responses` (paper Fig. 7)
and :mod:`reports.gradients` (paper section 4.1). A report without these files renders as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from runfolder import GRAD_NORM_COLUMNS, GRAD_NORMS, LAYER_RESPONSE_COLUMNS, LAYER_RESPONSES

from .figures import PALETTE
from .groups import method_key, model_infos
from .runs import Run

NET_COLUMNS = ["model", "family", "depth", "kind", "method", "paper", "seeds"]  # the first columns of both tables
PLAIN_STYLE = {"ls": "--", "lw": 1.4}
RESIDUAL_STYLE = {"ls": "-", "lw": 1.6}
KIND_COLOURS = {"plain": "#d62728", "resnet": "#1f77b4"}  # a plain/residual pair: red and blue


def _read(path: Path, columns: dict[str, str]) -> pd.DataFrame | None:
    """A CSV with at least ``columns`` (name -> "int" | "float" | "str"); None if absent or unusable.

    Rows whose numbers do not parse are dropped (a hand-edited or damaged file still gives the rest).
    """
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if not set(columns) <= set(frame.columns):
        return None
    frame = frame[list(columns)].copy()
    for name, kind in columns.items():
        if kind != "str":
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame = frame.dropna(subset=[c for c, k in columns.items() if k == "int"])
    for name, kind in columns.items():
        if kind == "int":
            frame[name] = frame[name].astype(int)
    return frame if not frame.empty else None


def _per_model(runs: Sequence[Run], filename: str, columns: dict[str, str]) -> tuple[list, list[str]]:
    """``([(model info, [(run, frame), ...]), ...], [unreadable files])`` over the ok runs that have
    ``filename``, every method's, in report order (family, depth, plain before residual)."""
    found: dict[str, list[tuple[Run, pd.DataFrame]]] = {}
    bad = []
    for run in runs:
        if not run.ok:
            continue
        path = run.path / filename
        frame = _read(path, columns)
        if frame is not None:
            found.setdefault(run.model, []).append((run, frame))
        elif path.exists():
            bad.append(f"{run.rel}/{filename}")
    infos = [i for i in model_infos(runs) if i.name in found]
    return [(i, found[i.name]) for i in infos], bad


def _net(info, seeds: int, values: pd.DataFrame) -> pd.DataFrame:
    """``values`` with the NET_COLUMNS in front (``method``: the name without its depth, ``plain-nobn``;
    ``paper``: one of the paper's plain/residual nets with BN, which its Fig. 7 and section 4.1 are about)."""
    return values.assign(model=info.name, family=info.family, depth=info.depth, kind=info.kind,
                         method=method_key(info), paper=info.paper_net, seeds=seeds)[NET_COLUMNS + list(values.columns)]


def response_table(runs: Sequence[Run]) -> tuple[pd.DataFrame, list[str]]:
    """Paper Fig. 7's data: ``(table, unreadable files)``; the table has one row per model x 3x3 layer:
    model, family, depth, kind, seeds, layer, name, std (the mean over the model's ok seeds whose layers
    agree with the first one's; a dimensionless std of the layer's responses)."""
    nets, bad = _per_model(runs, LAYER_RESPONSES, dict(zip(LAYER_RESPONSE_COLUMNS, ("int", "str", "float"))))
    parts = []
    for info, found in nets:
        frames = [f.sort_values("layer") for _, f in found]
        layers = frames[0][["layer", "name"]].reset_index(drop=True)
        same = [f for f in frames if f["layer"].tolist() == layers["layer"].tolist()]
        mean = np.mean([f["std"].to_numpy(dtype=float) for f in same], axis=0)
        parts.append(_net(info, len(same), layers.assign(std=mean)))
    columns = NET_COLUMNS + ["layer", "name", "std"]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)), bad


def gradient_table(runs: Sequence[Run]) -> tuple[pd.DataFrame, list[str]]:
    """Gradient norms (paper section 4.1): ``(table, unreadable files)``; the table has one row per model x
    recorded iteration x weighted layer: model, family, depth, kind, seeds, step, layer, name, log10 (the
    mean over the model's ok seeds of log10 of the L2 norm, at the steps every seed recorded)."""
    nets, bad = _per_model(runs, GRAD_NORMS, dict(zip(GRAD_NORM_COLUMNS, ("int", "int", "str", "float"))))
    parts = []
    for info, found in nets:
        seeds = []
        for run, frame in found:
            with np.errstate(divide="ignore", invalid="ignore"):
                log = np.log10(frame["norm"].to_numpy(dtype=float))
            seeds.append(frame[["step", "layer", "name"]].assign(log10=log, seed=run.seed)
                         .drop_duplicates(["step", "layer"], keep="last"))
        both = pd.concat(seeds, ignore_index=True)
        shared = both.groupby(["step", "layer"])["seed"].transform("nunique") == len(seeds)
        table = (both[shared].groupby(["step", "layer"], as_index=False)
                 .agg(name=("name", "first"), log10=("log10", "mean")))
        if not table.empty:
            parts.append(_net(info, len(seeds), table))
    columns = NET_COLUMNS + ["step", "layer", "name", "log10"]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)), bad


def nets(table: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(model, its rows)`` of a response or gradient table, by depth, plain before residual."""
    first = table.drop_duplicates("model")
    order = sorted(zip(first["depth"], first["kind"] != "plain", first["model"]), key=lambda n: n[:2])  # stable
    for _, _, model in order:
        yield model, table[table["model"] == model]


def by_method(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``[(method, its rows)]`` of a response or gradient table, in the table's (report) order."""
    return [(m, table[table["method"] == m]) for m in dict.fromkeys(table["method"])]


def method_panels(fig, count: int) -> list:
    """``count`` Axes in rows of at most four on ``fig`` (one panel per method), the unused ones hidden."""
    cols = min(4, count)
    rows = -(-count // cols)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False, sharey=True)).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return list(axes[:count])


def net_label(rows: pd.DataFrame) -> str:
    """``plain-56`` or, over several seeds, ``plain-56 (n=3)``."""
    seeds = int(rows["seeds"].iloc[0])
    return f"{rows['model'].iloc[0]}" + (f" (n={seeds})" if seeds > 1 else "")


def depth_colours(depths) -> dict[int, str]:
    """One colour per depth, by rank: the shallowest blue, the next red, ... (as the degradation figures)."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(sorted(set(depths)))}
