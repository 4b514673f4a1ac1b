"""The extension hook: registries of figure and section functions that the report builder runs.

To add an analysis (say, layer responses, paper Fig. 7), write a function of the :class:`ReportContext`
and register it; nothing else changes::

    # reports/layer_responses.py
    from reports.registry import ReportContext, register_figure

    @register_figure("layer-responses", order=40)
    def layer_responses(ctx: ReportContext):
        rows = [pd.read_csv(r.path / "layer_responses.csv") for r in ctx.ok_runs()
                if (r.path / "layer_responses.csv").exists()]
        if not rows:
            return None                      # nothing to show: no file, no page
        fig = Figure(figsize=(10, 4))        # matplotlib.figure.Figure; no pyplot needed
        ...
        return fig                           # or {"layer-responses-cifar": fig1, ...} for several

and add the module's name to ``reports.build.FIGURE_MODULES`` so the builder imports it.

* A figure function returns ``None`` (skipped), a ``Figure`` (saved as ``fig-<name>.png``/``.pdf``), or a
  mapping ``{name: Figure}`` (each saved as ``fig-<key>.*``). Every figure also becomes a page of
  ``report.pdf``, after the first page, in ``order`` (then registration order).
* A section function returns ``None`` or markdown text (headings ``#``/``##``, paragraphs, ``- `` lists,
  pipe tables); it is appended to ``summary.md`` under its title and rendered after the summary table
  in ``report.pdf``.

Functions must only read: the run folders (through ``ctx.runs``) and the tables in the context. A
function that raises does not stop the report: the builder logs it on stderr and lists it on the first
page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .runs import Run


@dataclass
class ReportContext:
    """Everything a figure or section function may use."""

    experiment: str
    profile: str
    runs_dir: Path
    out_dir: Path
    runs: list[Run]  # every expected run, any status (see reports.runs)
    tidy: pd.DataFrame  # runs.csv
    summary: pd.DataFrame  # summary.csv
    dataset: str = ""
    extras: dict[str, Any] = field(default_factory=dict)  # room for later additions

    def ok_runs(self, model: str | None = None) -> list[Run]:
        return [r for r in self.runs if r.ok and (model is None or r.model == model)]

    def aggregate(self, model: str, split: str) -> pd.DataFrame:
        """Mean and std (ddof=1) over the ok seeds of ``model``'s ``split`` error curve.

        Columns ``step, mean, std, n``. Steps that every seed logged are used when there are at least two
        of them (seeds that log at the same iterations, the usual case); otherwise each step averages the
        seeds that have it. ``std`` is NaN where n = 1.
        """
        series = []
        for run in self.ok_runs(model):
            curve = run.curve(split).dropna(subset=["error"])
            if not curve.empty:
                series.append(curve.set_index("step")["error"].rename(run.seed))
        if not series:
            return pd.DataFrame(columns=["step", "mean", "std", "n"])
        wide = pd.concat(series, axis=1).sort_index()
        complete = wide.dropna()
        if len(complete) >= 2:
            wide = complete
        out = pd.DataFrame({
            "step": wide.index.to_numpy(),
            "mean": wide.mean(axis=1).to_numpy(),
            "std": wide.std(axis=1, ddof=1).to_numpy(),
            "n": wide.count(axis=1).to_numpy(),
        })
        return out


FigureResult = Any  # None | matplotlib.figure.Figure | Mapping[str, Figure]


@dataclass(frozen=True)
class _Entry:
    name: str
    fn: Callable[[ReportContext], Any]
    order: int
    index: int


_FIGURES: dict[str, _Entry] = {}
_SECTIONS: dict[str, _Entry] = {}


def register_figure(name: str, *, order: int = 50) -> Callable:
    """Decorator: register ``fn(ctx) -> None | Figure | {name: Figure}`` as figure ``fig-<name>``.

    Re-registering a name replaces the earlier function (handy in notebooks).
    """
    def decorate(fn):
        _FIGURES[name] = _Entry(name, fn, order, _FIGURES[name].index if name in _FIGURES else len(_FIGURES))
        return fn
    return decorate


def register_section(title: str, *, order: int = 50) -> Callable:
    """Decorator: register ``fn(ctx) -> None | str`` (markdown) as a section titled ``title``."""
    def decorate(fn):
        _SECTIONS[title] = _Entry(title, fn, order, _SECTIONS[title].index if title in _SECTIONS else len(_SECTIONS))
        return fn
    return decorate


def figure_functions() -> list[tuple[str, Callable]]:
    return [(e.name, e.fn) for e in sorted(_FIGURES.values(), key=lambda e: (e.order, e.index))]


def section_functions() -> list[tuple[str, Callable]]:
    return [(e.name, e.fn) for e in sorted(_SECTIONS.values(), key=lambda e: (e.order, e.index))]


def unregister(name: str) -> None:
    """Remove a figure or section (tests, notebooks)."""
    _FIGURES.pop(name, None)
    _SECTIONS.pop(name, None)
