"""The extension hook: registries of figure and section functions that the report builder runs.

To add an analysis, write it in two parts, as the built-in ones are: a function that draws tidy data
on a given Axes and returns it (usable from a notebook), and a registered function of the
:class:`ReportContext` that builds the tidy data once, makes the Figure and calls it::

    # reports/final_errors.py
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from reports.plotdata import finals_table
    from reports.registry import ReportContext, register_figure

    def plot_final_errors(ax: Axes, finals) -> Axes:   # finals: one row per run, "error" in %
        ok = finals.dropna(subset=["error"])
        ax.scatter(ok["depth"], ok["error"])
        ax.set_xlabel("depth"); ax.set_ylabel("final training error (%)")
        return ax

    @register_figure("final-errors", order=60)
    def final_errors(ctx: ReportContext):
        finals = finals_table(ctx.runs, "train")
        if finals["error"].isna().all():
            return None                      # nothing to show: no page
        fig = Figure(figsize=(6, 4))         # matplotlib.figure.Figure; no pyplot needed
        plot_final_errors(fig.subplots(), finals)
        return fig                           # or {"final-errors-cifar": fig1, ...} for several

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

from .plotdata import curve_stats
from .runs import Run, tidy_table


@dataclass
class ReportContext:
    """Everything a figure or section function may use."""

    experiment: str
    profile: str
    runs_dir: Path
    out_dir: Path
    runs: list[Run]  # every expected run, any status (see reports.runs)
    tidy: pd.DataFrame  # runs.csv (reports.runs.tidy_table); an empty DataFrame() is filled in from runs
    summary: pd.DataFrame  # summary.csv
    dataset: str = ""
    extras: dict[str, Any] = field(default_factory=dict)  # room for later additions
    models: list[str] | None = None  # the models asked for (--models: the experiment's list), None: those on disk

    def ok_runs(self, model: str | None = None) -> list[Run]:
        return [r for r in self.runs if r.ok and (model is None or r.model == model)]

    def __post_init__(self) -> None:
        if self.tidy is None or (self.tidy.empty and len(self.tidy.columns) == 0):
            self.tidy = tidy_table(self.runs)  # a context made by hand (a notebook, a test) without runs.csv

    def aggregate(self, model: str, split: str) -> pd.DataFrame:
        """Mean and std (ddof=1) over the ok seeds of ``model``'s ``split`` error curve (%): columns
        ``step, mean, std, n`` (see :func:`reports.plotdata.curve_stats`)."""
        return curve_stats(self.tidy, model, split)


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
