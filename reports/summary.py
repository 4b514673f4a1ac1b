"""One row per model: final and best errors as mean +- std over the ok seeds, counts of every status,
params, FLOPs, wall time, and the paper's number where the profile reproduces the paper's setting."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd

from runfolder import format_seconds

from . import paper
from .groups import OPTION_LABELS, eval_split, model_infos, shortcut_sets
from .runs import SPLITS, STATUSES, Run
from .stats import mean_std


def summarize(runs: Sequence[Run], profile: str = "") -> pd.DataFrame:
    """``summary.csv``: one row per model, in report order.

    Means and stds (sample std, ddof=1; empty for one seed) are over ok runs only: diverged, failed,
    missing and malformed runs are counted in their columns, never averaged in. ``params`` and
    ``multiply_adds`` (the paper's "FLOPs": a multiply-add counts once) come from any run of the model that
    reports them. ``paper_error``/``diff_vs_paper`` (final test error minus the paper's; val when there is
    no test split) are filled only under the ``paper`` and ``imagenet`` profiles.
    """
    split = eval_split(runs)
    rows = []
    for info in model_infos(runs):
        mine = [r for r in runs if r.model == info.name]
        ok = [r for r in mine if r.ok]
        row: dict[str, object] = {
            "model": info.name, "family": info.family, "depth": info.depth, "shortcut": info.shortcut,
            "n": len(ok), "n_expected": len(mine),
        }
        for status in STATUSES:
            row[status] = sum(r.status == status for r in mine)
        for which in ("final", "best"):
            for s in SPLITS:
                m, sd, _ = mean_std([getattr(r, which)(s) for r in ok])
                row[f"{which}_{s}_mean"], row[f"{which}_{s}_std"] = m, sd
        row["params"] = _first(r.number("params") for r in mine)
        row["multiply_adds"] = _first(r.number("multiply_adds") for r in mine)
        row["wall_seconds_mean"] = mean_std([r.number("wall_seconds") for r in ok])[0]
        row["wall_seconds_total"] = sum(r.number("wall_seconds") or 0.0 for r in mine)
        row["images_per_second_mean"] = mean_std([r.number("images_per_second") for r in ok])[0]
        ref = paper.paper_number(info, profile, runs)
        row["paper_error"] = ref.error if ref else math.nan
        row["paper_source"] = ref.source if ref else ""
        ours = row[f"final_{split}_mean"]
        row["diff_vs_paper"] = ours - ref.error if ref and not math.isnan(ours) else math.nan
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for col in ("params", "multiply_adds"):
        frame[col] = frame[col].astype("Int64")
    frame["depth"] = frame["depth"].astype("Int64")
    return frame


def _first(values: Iterable[float | None]) -> float | None:
    for v in values:
        if v is not None and math.isfinite(v):
            return int(v)
    return None


# --- formatting ---------------------------------------------------------------------------------


def fmt_pm(mean: float, std: float, digits: int = 2) -> str:
    """``12.34 ± 0.56``; ``12.34`` for one seed; ``–`` for none."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_count(value) -> str:
    """0.27M, 3.6G, 950k; ``–`` when unknown."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.0f}"


def fmt_signed(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}"


def status_cell(row) -> str:
    """``2/3 ok, 1 diverged`` (non-zero counts only)."""
    parts = [f"{row['ok']}/{row['n_expected']} ok"]
    parts += [f"{row[s]} {s}" for s in STATUSES[1:] if row[s]]
    return ", ".join(parts)


def display_table(summary: pd.DataFrame, *, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the human-readable summary (markdown, PDF page, console).

    Columns whose values are all unknown (e.g. no val split) are left out; ``compact`` keeps only
    final train/test, the paper columns and the status, for the console.
    """
    if summary.empty:
        return ["model"], []
    cols: list[tuple[str, callable]] = [("model", lambda r: r["model"])]
    for which in ("final",) if compact else ("final", "best"):
        for s in SPLITS:
            if compact and s == "val" and summary["final_test_mean"].notna().any():
                continue
            if summary[f"{which}_{s}_mean"].notna().any():
                cols.append((f"{which} {s}", lambda r, w=which, s=s: fmt_pm(r[f"{w}_{s}_mean"], r[f"{w}_{s}_std"])))
    if summary["paper_error"].notna().any():
        cols.append(("paper", lambda r: _paper_label(r)))
        cols.append(("Δ paper", lambda r: fmt_signed(r["diff_vs_paper"])))
    if not compact:
        cols.append(("params", lambda r: fmt_count(r["params"])))
        cols.append(("FLOPs (mult-adds)", lambda r: fmt_count(r["multiply_adds"])))  # the paper's unit, Table 1
        cols.append(("wall/run", lambda r: format_seconds(r["wall_seconds_mean"])))
    cols.append(("runs", status_cell))
    header = [c[0] for c in cols]
    rows = [[fn(r) for _, fn in cols] for _, r in summary.iterrows()]
    return header, rows


def _paper_label(row) -> str:
    if isinstance(row["paper_error"], float) and math.isnan(row["paper_error"]):
        return "–"
    approx = "read off" in str(row["paper_source"])
    return f"~{row['paper_error']:.2f}" if approx else f"{row['paper_error']:.2f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    numeric = [bool(rows) and i > 0 and all(_numeric_cell(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _numeric_cell(text: str) -> bool:
    return bool(re.match(r"^[~+\-−]?\d[\d.,hms]*[kMG%]?( ± [\d.]+)?$", text)) or text == "–"


def text_table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = ()) -> str:
    """A monospace table (console, PDF page): left-aligned first and last column and the columns ``left``
    (words), others right (numbers)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    left = {0, len(header) - 1, *left}

    def line(cells):
        return "  ".join(
            str(c).ljust(w) if i in left else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


# --- the shortcut ablation (paper Table 3) ---------------------------------------------------


def shortcut_table(runs: Sequence[Run], profile: str = "") -> tuple[list[str], list[list[str]]]:
    """Rows per depth: plain, A, B, C with the final test error (val without a test split), mean +- std."""
    split = eval_split(runs)
    infos = {i.name: i for i in model_infos(runs)}
    header = ["depth", "option", "model", f"final {split} error (%)", "seeds"]
    show_paper = any(paper.paper_number(i, profile, runs) for i in infos.values())
    if show_paper:
        header.append("paper")
    rows = []
    for (family, depth), options in shortcut_sets(infos.values()).items():
        for label in OPTION_LABELS:
            if label not in options:
                continue
            name = options[label]
            ok = [r for r in runs if r.model == name and r.ok]
            total = [r for r in runs if r.model == name]
            m, sd, _ = mean_std([r.final(split) for r in ok])
            row = [f"{depth} ({family})", label, name, fmt_pm(m, sd), f"{len(ok)}/{len(total)}"]
            if show_paper:
                ref = paper.paper_number(infos[name], profile, runs)
                row.append(ref.label() if ref else "–")
            rows.append(row)
    return header, rows


def summary_markdown(summary: pd.DataFrame, runs: Sequence[Run], *, title: str, profile: str,
                     sections: Sequence[tuple[str, str]] = (), include_flagged: bool = True,
                     flagged: Sequence[Run] | None = None) -> str:
    """``summary.md``: the summary table, the paper's source line, flagged runs (``flagged``; by default those
    of ``runs``), and extra sections."""
    header, rows = display_table(summary)
    parts = [f"# {title}", "", "Errors in %, mean ± std over ok seeds (std with ddof=1; no std for one seed). "
             "Diverged, failed, missing and malformed runs are counted, never averaged in.", "",
             markdown_table(header, rows)]
    note = paper.describe(profile)
    if note and summary["paper_error"].notna().any():
        parts += ["", " ".join(filter(None, [note, "Δ paper = ours − paper.", paper.departure_text(runs, profile)]))]
    elif said := paper.departure_text(runs, profile):  # no paper column: the runs trained another dataset
        parts += ["", said]
    if include_flagged:
        parts += ["", "## Flagged runs", ""]
        listed = [r for r in runs if r.flagged] if flagged is None else flagged
        parts += [f"- `{r.rel}`: {flag_text(r)}" for r in listed] or ["None."]
    for heading, body in sections:
        parts += ["", f"## {heading}", "", body.rstrip()]
    return "\n".join(parts) + "\n"


def flag_text(run: Run) -> str:
    """Why a run is flagged: its status and reason, then any warnings."""
    bits = []
    if run.status != "ok":
        bits.append(f"{run.status.upper()}: {run.reason}" if run.reason else run.status.upper())
    bits += run.notes
    return "; ".join(bits)
