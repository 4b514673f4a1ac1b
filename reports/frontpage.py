"""What report.pdf's first page shows beside its text (issue 21): a forest plot, and for the methods
benchmark the leaderboard.

* Experiment ``methods`` (:data:`reports.leaderboard.METHODS_EXPERIMENT`), or any run folders holding a net
  beyond the paper's plain and residual ones (a method, a ``-nobn`` net, a plugin): the first page, in
  landscape, opens with both boards, a table each (:func:`reports.leaderboard.page_one_markdown`), then
  the forest plot of each method's depth gap, each board in full
  (:func:`reports.leaderboard.leaderboard_markdown`) and the verdict; ``leaderboard.csv`` /
  ``leaderboard.md`` (the boards in full) are written beside summary.csv.
* Otherwise (``make degradation``, ``make shortcut-ablation``, ...): the forest plot of the verdict's
  comparisons (the degradation, the shortcuts' effect, the residual nets across depth, paper Fig. 4 and 6;
  the ablation's options against plain and B − A, C − B, Table 3) sits under the "Verdict" heading,
  above the verdict's text; the same plot is also written as ``fig-verdict-forest.png``/``.pdf`` (not a
  page of its own).

The plot is placed among the text lines by :func:`reports.pages.render_pages`' ``panel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import io
from .figures import figure_title, fit_figure_text, fit_text
from .forest import (GAP_LABEL, VERDICT_LABEL, forest_height, gap_forest, methods_board, plot_forest,
                     tuned_board, verdict_forest)
from .leaderboard import depth_labels, gap_counts, leaderboard_markdown, page_one_markdown
from runfolder import lr_token
from runfolder.tuning import TUNING_SEED

from .verdicts import EQUIVALENCE_MARGIN
from .pages import Panel
from .registry import ReportContext
from .verdict import Verdict

MARKER = "[[forest plot]]"  # the markdown line the panel replaces
LEADERBOARD_HEADING = "## Leaderboard: methods against degradation"
TITLE_HEIGHT = 0.25  # inches above the forest plot for its caption


@dataclass
class FrontPage:
    """The first page's additions: ``lead`` (markdown before the "Verdict" heading), ``beside_verdict``
    (the panel's marker line after that heading, or ""), the ``panel`` to draw, the ``board`` (leaderboard
    table, or None), ``boards`` (its markdown in full: leaderboard.md) and standalone ``figures`` written as
    ``fig-<name>.*``. With a board the first pages are set in landscape (``landscape``)."""

    lead: str = ""
    boards: str = ""
    beside_verdict: str = ""
    panel: Panel | None = None
    board: pd.DataFrame | None = None
    tuning: pd.DataFrame | None = None  # the tuning runs (reports.tuning.tuning_table), written as tuning.csv
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def landscape(self) -> bool:
        return self.board is not None

    def write(self, out_dir: Path) -> list[Path]:
        """Write leaderboard.csv / leaderboard.md (with a board) and the standalone figures; return the paths."""
        files = []
        if self.board is not None:
            files.append(io.write_csv(out_dir / "leaderboard.csv", self.board))
            files.append(io.write_text(out_dir / "leaderboard.md", self.boards.rstrip() + "\n"))
        if self.tuning is not None:
            files.append(io.write_csv(out_dir / "tuning.csv", self.tuning))
        for name, fig in self.figures.items():
            files += io.save_figure(fig, out_dir, name)
        return files


def fit_axes(ax: Axes, rect: list[float]) -> Axes:
    """Shrink ``ax`` so that it and its labels, ticks, title and texts fit ``rect`` (figure fraction)."""
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    ax.set_position(rect)
    for _ in range(3):  # texts placed in axes fractions move as the axes shrink: settle in a few passes
        renderer = fig.canvas.get_renderer()
        tight = fig.transFigure.inverted().transform(ax.get_tightbbox(renderer))
        pos = ax.get_position()
        left, bottom = pos.x0 - tight[0, 0], pos.y0 - tight[0, 1]
        right, top = tight[1, 0] - pos.x1, tight[1, 1] - pos.y1
        ax.set_position([rect[0] + left, rect[1] + bottom, rect[2] - left - right, rect[3] - bottom - top])
    return ax


def _panel(table: pd.DataFrame, xlabel: str, title: str, margin: float | None = None) -> Panel:
    def draw(fig: Figure, rect: list[float]) -> None:
        left, bottom, width, height = rect
        text = fit_text(title, width * fig.get_figwidth(), 8.5)  # the page's width, whatever its orientation
        fig.text(left, bottom + height, text, fontsize=8.5, va="top", ha="left")  # the band's caption
        caption = TITLE_HEIGHT * (text.count("\n") + 1) / fig.get_figheight()
        plot_forest(ax := fig.add_axes(rect), table, xlabel=xlabel, margin=margin)
        fit_axes(ax, [left, bottom, width, height - caption])

    return MARKER, forest_height(len(table)) + TITLE_HEIGHT, draw


def tuning_text(ctx: ReportContext) -> str:
    """The tuned board's protocol in words (runfolder/tuning.py), with the rate each net chose."""
    table = ctx.extras.get("tuning")
    grid = ctx.extras.get("tuning_grid") or ()
    chosen = table[table["chosen"]] if table is not None else pd.DataFrame()
    # A choice at the extension's rate is still an end of the rates tried: no rate beyond it was tried, so it
    # may not be the best; where every rate diverged, the choice is the smallest, which diverged too.
    diverged_all = {m for m, g in table.groupby("model") if (g["status"] == "diverged").all()} \
        if table is not None and len(table) else set()
    rates = ", ".join(
        f"{m} {lr_token(lr)}" + (" (every rate tried diverged; the smallest is kept)" if m in diverged_all else
                                 " (an end of the rates tried: a better rate may lie beyond it)" if edge else "")
        for m, lr, edge in zip(chosen["model"], chosen["lr"], chosen["extension"])) if len(chosen) else "none yet"
    return (f"Every net, baselines and plugins alike, trained once at each rate of the grid "
            f"{' '.join(lr_token(g) for g in grid)} on the tuning seed {TUNING_SEED} (never reported), with its "
            "warm-up scaled to the rate; the rate with the lowest final training error among its runs that did "
            "not diverge was chosen (ties, and a net whose every run diverged, take the smaller rate; one more "
            "step beyond an end of the grid where the best was there) and trains the reported seeds. "
            f"Chosen: {rates}. Curves of error against rate: fig-methods-lr; every tuning run: tuning.csv.")


def both_boards_forest(one: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """The two boards' forest rows interleaved per method: ``<label> · lr 0.1`` then ``<label> · tuned``."""
    one, tuned = one.assign(label=one["label"] + " · one recipe"), tuned.assign(label=tuned["label"] + " · tuned")
    rows = []
    for i in range(max(len(one), len(tuned))):
        rows += [part.iloc[[i]] for part in (one, tuned) if i < len(part)]
    return pd.concat(rows, ignore_index=True)


# Under the boards, the verdict answers other questions with other tests: said where both stand on one page.
VERDICT_BESIDE_BOARD = (
    "_The verdict below asks the paper's two planned questions of the four reference nets (does the deeper "
    "plain net train worse; does the residual net of its depth train better), each with an unadjusted 95% "
    "interval, paired as on the boards. The boards {where} test every method's gap at once and correct for "
    "that. A gap can therefore be \"reproduced\" here and \"not shown\" on a board: both are true, of "
    "different questions._")


def front_page(ctx: ReportContext, verdict: Verdict) -> FrontPage:
    """The first page's leaderboard and forest plot for ``ctx``'s runs (see the module's docstring)."""
    board = methods_board(ctx)
    if board is not None:
        tuned = tuned_board(ctx)
        full = [LEADERBOARD_HEADING, "", leaderboard_markdown(board), ""]
        forest = gap_forest(board)
        if tuned is not None:
            full += ["## Tuned board: the same nets, each at its own rate from one tuning budget", "",
                     tuning_text(ctx), "", leaderboard_markdown(tuned), ""]
            forest = both_boards_forest(forest, gap_forest(tuned))
            board = pd.concat([board, tuned], ignore_index=True)
        # Page 1 holds both boards in one table each, legibly; each in full follows the forest plot (none where
        # no method has a gap to draw: each at one depth, say).
        plotted = not forest.empty and forest["diff"].notna().any()
        lead = [LEADERBOARD_HEADING, "", page_one_markdown(board), "", *([MARKER, ""] if plotted else []),
                "## Leaderboard in full: " + ("the one-recipe board" if tuned is None else "both boards"), "",
                *full[2:]]
        title = (f"Depth gap, 95% CI; filled: decided (Holm over each board's "
                 f"{gap_counts(board)} gaps, both tests), open: not decided; squares on grey: the paper's nets; "
                 f"band: ±{EQUIVALENCE_MARGIN:g} points; red: seeds that did not train")
        shallow, deep = depth_labels(board)
        return FrontPage(lead="\n".join(lead), boards="\n".join(full), board=board, tuning=ctx.extras.get("tuning"),
                         beside_verdict=VERDICT_BESIDE_BOARD.format(where="above"),
                         panel=_panel(forest, GAP_LABEL.format(deep=deep, shallow=shallow), title,
                                      margin=EQUIVALENCE_MARGIN) if plotted else None)
    table = verdict_forest(verdict)
    if table.empty or table["diff"].isna().all():
        return FrontPage()
    title = "The verdict's differences: 95% CI over seeds, paired (Welch where seeds differ); filled: decided"
    fig = Figure(figsize=(8.5, forest_height(len(table)) + 0.8), layout="constrained")
    plot_forest(fig.subplots(), table, xlabel=VERDICT_LABEL)
    fig.suptitle(figure_title(ctx, "The verdict's comparisons"), fontsize=11)
    key = (f"{title}, open: not decided; right: the difference [CI] and in how many of the seeds both nets hold "
           "it is > 0")  # the key page 1's panel carries in its caption line, for the figure on its own
    fig.supxlabel(fit_figure_text(fig, key, 8), fontsize=8, color="0.3")
    return FrontPage(beside_verdict=MARKER, panel=_panel(table, VERDICT_LABEL, title),
                     figures={"verdict-forest": fig})
