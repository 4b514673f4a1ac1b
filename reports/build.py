"""Build a report from existing run folders, without training.

    python -m reports.build --experiment degradation --profile quick --runs-dir runs \\
        --out-dir reports/generated [--models "plain-20 resnet-20"] [--seeds "0 1"]

Reads ``<runs-dir>/<experiment>/<profile>/<model>/seed<k>/`` and writes, atomically, into
``<out-dir>/<experiment>/<profile>/``: runs.csv, summary.csv, summary.md, verdict.md, fig-*.png and
fig-*.pdf, leaderboard.csv, leaderboard.md and tuning.csv where there is a leaderboard, and report.pdf (first
page: title, verdict, provenance, flagged runs; then the figures; then the summary table and the registered
sections); an earlier build's outputs this one did not write are removed (:data:`REPORT_FILES`). Prints a
short summary, the verdict and the path of report.pdf. Exit 0 when the report rendered (flagged runs included,
and a figure, section or page-1 step that raised: named under "Report errors" on page 1 and in a warning line),
1 when it could not be written (the folder keeps the last complete report), 2 on bad input (nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import os
import re
import shutil
import sys
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

import runfolder
from models.names import METHODS, plugin_names
from runfolder import format_seconds
from runfolder.io import full_disk, remove_stale_temps, unwritable
from runfolder.tuning import DEFAULT_GRID, GRID_FILE, TUNING_SEED, check_tune, parse_grid, plan, recorded_grid

from . import io, paper
from .frontpage import VERDICT_BESIDE_BOARD, FrontPage, front_page
from .leaderboard import gap_rows
from .pages import A4_LANDSCAPE, A4_PORTRAIT, render_pages
from .registry import ReportContext, figure_functions, section_functions
from .runs import (STATUSES, Run, discover_runs, flag_against_the_report, load_run, plugin_versions, read_name,
                   tidy_table)
from .tuning import base_lr as tuning_base_lr
from .summary import display_table, flag_text, summarize, summary_markdown, text_table
from .verdict import Verdict, make_verdict

# Modules whose import registers figure/section functions (see reports.registry). Add yours here.
FIGURE_MODULES: list[str] = ["reports.figures", "reports.depth", "reports.responses", "reports.gradients",
                              "reports.forest"]

# On top of matplotlib's own defaults, never the user's matplotlibrc (report_style).
STYLE = {
    "pdf.fonttype": 42,  # embed TrueType (Type 42), not Type 3: editable, searchable, accepted by journals
    "ps.fonttype": 42,
    "pdf.use14corefonts": False,  # True would name Helvetica and Courier without embedding them
    "text.usetex": False,  # mathtext: no LaTeX needed
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "savefig.dpi": 150,
}


@contextlib.contextmanager
def report_style() -> Iterator[None]:
    """The report's matplotlib settings (TrueType fonts in PDFs), whatever the user's matplotlibrc
    (``MATPLOTLIBRC``, ``./matplotlibrc``, ``~/.config/matplotlib``) says: matplotlib's defaults plus
    :data:`STYLE` (the backend stays the user's), without touching global state after."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


class InputError(ValueError):
    """Bad input to the builder: the message names the bad value. Nothing has been written."""


class WriteError(OSError):
    """The report could not be written (a full disk, say): the message says where and why. The report folder
    holds the last complete report, untouched: a build writes into a staging folder inside it and moves its
    files out into it only once every one of them is written."""


@dataclass
class BuildResult:
    out_dir: Path
    report_pdf: Path
    files: list[Path]
    runs: list[Run]
    verdict: Verdict
    summary: object  # pandas DataFrame
    figures: list[str]  # figure names written (fig-<name>.*), the first page's forest plot included
    errors: list[str] = field(default_factory=list)  # figure/section functions that raised
    console: str = ""  # what main() prints
    first_page: str = ""  # the markdown of report.pdf's first page(s)
    pages: int = 0  # pages of report.pdf
    page_one: object = None  # report.pdf's first page (a matplotlib Figure)


def _check_input(runs_dir: Path, experiment: str, profile: str, models, seeds, out_dir: Path) -> None:
    if not runs_dir.is_dir():
        raise InputError(f"runs dir {str(runs_dir)!r} does not exist")
    if why := unwritable(out_dir):
        raise InputError(f"out dir {str(out_dir)!r} cannot be written: {why}")
    if runfolder.inside_runs(out_dir, runs_dir, experiment):
        raise InputError(f"out dir {str(out_dir)!r} is inside the runs it reports ({str(runs_dir / experiment)!r}); "
                         "point it elsewhere, e.g. the default reports/generated")
    for label, value, parent in (("experiment", experiment, runs_dir), ("profile", profile, runs_dir / experiment)):
        if not value or "/" in value or value in (".", ".."):
            raise InputError(f"bad {label} {value!r}")
        if not (parent / value).is_dir():
            found = sorted(p.name for p in parent.iterdir()  # not the report folder (REPORTS_DIR under RUNS_DIR)
                           if p.is_dir() and p.resolve() != out_dir.resolve()) if parent.is_dir() else []
            hint = f" (found: {', '.join(found)})" if found else ""
            raise InputError(f"{label} {value!r}: no folder {str(parent / value)!r}{hint}")
    for m in models or []:
        try:
            info = read_name(m)
        except ValueError as exc:
            raise InputError(f"bad model name {m!r} in --models: {exc}") from None
        folder = runs_dir / experiment / profile / m
        if info.plugin and info.kind not in plugin_names() and not folder.is_dir():
            # a typo reads as a plugin's name: neither installed nor trained here
            raise InputError(f"bad model name {m!r} in --models: {info.kind!r} is no built-in method "
                             f"({', '.join(METHODS)}), no installed plugin, and no run folder {str(folder)!r} holds "
                             "a plugin's runs")
    for s in seeds or []:
        if not isinstance(s, int) or s < 0:
            raise InputError(f"bad seed {s!r} in --seeds (expected non-negative integers)")
        if s == TUNING_SEED:
            raise InputError(f"bad seed {s} in --seeds: it is the tuning protocol's seed, never reported "
                             "(runfolder/tuning.py); choose other seeds")


def _value(run: Run, key: str):
    """A provenance value of a run: result.json's (what happened, e.g. the device) before config.yaml's,
    whose training settings may sit at the top level or under a nested ``config:`` mapping."""
    if key == "git_commit":
        # A run resumed under another commit records each (git_commits): it counts as their sequence.
        commits = run.recorded("git_commits") or ([run.config["git_commit"]] if run.config.get("git_commit") else [])
        return None if not commits else f"{' then '.join(commits)}{' (dirty)' if run.config.get('git_dirty') else ''}"
    if isinstance(run.result, dict) and run.result.get(key) is not None:
        return run.result[key]
    return run.setting(key)


def _distinct(runs: Sequence[Run], key: str) -> str:
    """The value of ``key`` over the runs: one value, or each distinct value with its count."""
    values = Counter()
    for r in runs:
        v = _value(r, key)
        if v is not None:
            if isinstance(v, dict):
                v = ", ".join(f"{k} {x}" for k, x in v.items() if x is not None)
            values[str(v)] += 1
    if not values:
        return "unknown"
    if len(values) == 1:
        return next(iter(values))
    return "; ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in values.most_common())


def _plugin_line(versions: dict[str, dict[str, list[int]]]) -> str:
    """Each plugin net and the code its seeds were trained with (reports.runs.plugin_versions), a net of several
    versions marked."""
    return "; ".join(
        f"{model}: " + ("; ".join(f"{code} ({_plural(len(seeds), 'run')})" for code, seeds in codes.items())
                        + (" -- SEEDS TRAINED BY DIFFERENT VERSIONS" if len(codes) > 1 else ""))
        for model, codes in versions.items())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _provenance(runs: Sequence[Run], experiment: str, profile: str, runs_dir: Path, models, seeds,
                ignored: Sequence[str]) -> str:
    counts = Counter(r.status for r in runs)
    with_result = [r for r in runs if r.result]
    total = sum(r.number("wall_seconds") or 0.0 for r in with_result)
    schedule = ", ".join(f"{k} {_distinct(runs, k)}" for k in ("batch_size", "lr", "max_steps", "milestones")
                         if _distinct(runs, k) != "unknown")
    lines = [
        f"- experiment / profile: {experiment} / {profile} (run folders under {runs_dir / experiment / profile})",
        f"- dataset: {_distinct(runs, 'dataset')}",
        f"- device: {_distinct(runs, 'device')}; precision: {_distinct(runs, 'precision')}",
    ]
    if schedule:
        lines.append(f"- schedule: {schedule}")
    lines += [
        f"- versions: {_distinct(runs, 'versions')}",
        f"- git commit: {_distinct(runs, 'git_commit')}",
        *([f"- plugins: {_plugin_line(versions)}"] if (versions := plugin_versions(runs)) else []),
        f"- runs: {len(runs)} expected ({_plural(len(models), 'model')} x {_plural(len(seeds), 'seed')} "
        f"{', '.join(map(str, seeds))}): "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES),
        f"- total compute: {format_seconds(total)} ({total:.0f} s, sum of wall_seconds over the {len(with_result)} "
        "runs with a result.json)",
    ]
    if ignored:
        lines.append(f"- not expected, left out: {len(ignored)} run folders ({', '.join(ignored[:6])}"
                     + (", ..." if len(ignored) > 6 else "") + ")")
    lines.append(f"- generated: {generated_stamp()} by reports.build")
    return "\n".join(lines)


STALE_TEMP_SECONDS = 600  # a report's temporary file older than this is a killed build's: a build writes in seconds


def _tuning_protocol_runs(runs_dir: Path, experiment: str, profile: str, models, seeds, grid) -> list[Run]:
    """The runs of the tuning protocol among ``models`` as far as its plan goes now
    (:func:`runfolder.tuning.plan` at ``grid``): the tuning seed's at every rate, and the reported seeds' at
    a rate other than the profile's (``seed<k>-lr<rate>``); not the one-recipe board's ``seed<k>`` folders,
    which are the report's own runs, nor folders on disk that the plan does not name (a rate an earlier grid
    chose)."""
    root = Path(runs_dir) / experiment / profile
    base = tuning_base_lr(root, list(models or []), seeds)
    if base is None:
        return []
    planned = plan(root, list(models or []), tuple(grid), base, list(seeds))
    return [load_run(Path(runs_dir), experiment, profile, model, seed, lr=lr)
            for model, seed, lr in dict.fromkeys(planned) if not (seed in seeds and lr is None)]


def _tuning_provenance(extra: Sequence[Run]) -> str:
    """The provenance line of the tuning protocol's runs (:func:`_tuning_protocol_runs`)."""
    counts = Counter(r.status for r in extra)
    total = sum(r.number("wall_seconds") or 0.0 for r in extra if r.result)
    return (f"- the tuning protocol's runs besides (the tuning seed {TUNING_SEED} at every rate, the reported "
            f"seeds at their chosen rates): {len(extra)}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
            + f"; compute {format_seconds(total)} ({total:.0f} s)")


def generated_stamp() -> str:
    """Now, local time in ISO 8601 with its UTC offset (``2025-03-01T14:05+05:30``), as a run's ``started``:
    a time-zone abbreviation is ambiguous (IST: India, Israel or Ireland) or made up (an invalid TZ's)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="minutes")


def _figures(ctx: ReportContext, errors: list[str]) -> list[tuple[str, object]]:
    out = []
    for name, fn in figure_functions():
        try:
            produced = fn(ctx)
        except Exception:  # noqa: BLE001 - one broken analysis must not cost the whole report
            errors.append(f"figure {name!r} failed: {traceback.format_exc(limit=2).strip().splitlines()[-1]}")
            continue
        if produced is None:
            continue
        items = produced.items() if isinstance(produced, dict) else [(name, produced)]
        for fig_name, fig in items:
            if fig is not None:
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", fig_name):
                    errors.append(f"figure name {fig_name!r} is not a plain file name; skipped")
                    continue
                out.append((fig_name, fig))
    return out


def _front(ctx: ReportContext, verdict: Verdict, errors: list[str]) -> FrontPage:
    """The leaderboard (experiment ``methods``) and page 1's forest plot; none when that fails."""
    try:
        return front_page(ctx, verdict)
    except Exception:  # noqa: BLE001
        errors.append(f"first page's forest plot failed: {traceback.format_exc(limit=2).strip().splitlines()[-1]}")
        return FrontPage()


def _sections(ctx: ReportContext, errors: list[str]) -> list[tuple[str, str]]:
    out = []
    for title, fn in section_functions():
        try:
            text = fn(ctx)
        except Exception:  # noqa: BLE001
            errors.append(f"section {title!r} failed: {traceback.format_exc(limit=2).strip().splitlines()[-1]}")
            continue
        if text:
            out.append((title, text))
    return out


# The words the pages use that a student meets here first, each said once (a reader's review asked for them).
TERMS = [
    "- CIFAR family, ImageNet family: the paper's two designs of net, 3 stages of 6n+2 layers (section 4.2) and "
    "4 stages of 18-152 layers (Table 1), trained here on the profile's dataset, named in brackets.",
    "- ok seed: a run that finished without diverging; counted seeds: the ok ones and the diverged ones, which "
    "enter at chance error (the error of guessing: 90% with ten classes).",
    "- at chance, did not train: a final training error within 5 points of chance.",
    "- shown, decided: a test rejects at 5% after Holm's correction for the other comparisons of its column "
    "(Holm p); \"within ±5\": an equivalence test (TOST) shows the difference inside ±5 points.",
    "- paired: compared seed by seed (a seed gives every net the same batches); r: the correlation of two nets' "
    "errors across seeds.",
    "- seeds to decide: the seeds per net at which a new experiment would decide with 80% probability, were the "
    "observed mean and spread the true ones (a planning figure).",
]


def _first_page(title: str, verdict_md: str, provenance: str, flagged: Sequence[Run], errors: Sequence[str],
                front: FrontPage | None = None) -> str:
    """The markdown of report.pdf's first page(s): title, ``front``'s lead (the leaderboard), verdict (after
    ``front``'s forest plot marker), provenance, flagged runs, report errors."""
    front = front or FrontPage()
    first = [f"# {title}", "", *([front.lead, ""] if front.lead else []), "## Verdict", "",
             *([front.beside_verdict, ""] if front.beside_verdict else []), verdict_md, "", "## Provenance", "",
             provenance, "", f"## Flagged runs ({len(flagged)})", ""]
    first += [f"- {r.rel.split('/', 2)[-1]}: {flag_text(r)}" for r in flagged] or [
        "None: every expected run finished ok."]
    if errors:
        first += ["", "## Report errors", ""] + [f"- {e}" for e in errors]
    return "\n".join(first + ["", "## Terms", "", *TERMS])


def _count_line(experiment: str, profile: str, runs: Sequence[Run], extra: Sequence[Run] | None) -> str:
    """The console's first line: the report's runs by status; with the tuning protocol (``extra``: its runs,
    :func:`_tuning_protocol_runs`), named the one-recipe board's, its runs besides counted apart and the sum
    given, the total make's closing line (experiments.matrix status) counts."""
    def statuses(some: Sequence[Run]) -> str:
        return ", ".join(f"{n} {s}" for s, n in Counter(r.status for r in some).most_common())

    if extra is None:
        return f"{experiment} / {profile}: {len(runs)} runs, {statuses(runs)}"
    besides = f"{len(extra)}, {statuses(extra)}" if extra else "0"
    return (f"{experiment} / {profile}, one-recipe board: {len(runs)} runs, {statuses(runs)}; the tuning protocol's "
            f"runs besides: {besides} ({len(runs) + len(extra)} in all)")


def _write_report_pdf(path: Path, title: str, first_page: str, figures: Sequence, summary_pages: str,
                      footer: str, panel=None, landscape: bool = False) -> list:
    """report.pdf, atomically: the first page(s) in portrait, or landscape (the leaderboard's boards;
    ``panel``: the forest plot among them), one page per figure, the summary pages in landscape
    (:func:`reports.pages.render_pages`); returns the pages."""
    first = A4_LANDSCAPE if landscape else A4_PORTRAIT
    pages = (render_pages(first_page, first, footer=footer, panel=panel) + list(figures)
             + render_pages(summary_pages, A4_LANDSCAPE, footer=footer))
    io.save_pdf(path, pages, metadata={"Title": title, "Creator": "reports.build (degradation suite)"})
    return pages


def build_report(runs_dir: str | Path, experiment: str, profile: str, out_dir: str | Path = "reports/generated",
                 models: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                 tuning_grid: Sequence[float] | None = None) -> BuildResult:
    """Build every output of one experiment/profile; return what was written.

    Raises :class:`InputError` (before writing anything) when the runs dir, experiment or profile folder
    does not exist, the out dir cannot be written (a read-only file system, say), a model name or seed is malformed, or there is no run to report.
    """
    runs_dir, out_root = Path(runs_dir), Path(out_dir)
    models = list(models) if models else None
    seeds = list(seeds) if seeds is not None and len(seeds) else None
    _check_input(runs_dir, experiment, profile, models, seeds, out_root)
    found = discover_runs(runs_dir, experiment, profile, models, seeds)
    if not found.runs:
        raise InputError(f"no run folders under {str(runs_dir / experiment / profile)!r}")
    for module in FIGURE_MODULES:
        importlib.import_module(module)

    runs = found.runs
    target = out_root / experiment / profile
    dataset = _distinct(runs, "dataset")
    dataset = "" if dataset == "unknown" else dataset
    tidy = tidy_table(runs)
    summary = summarize(runs, profile)
    verdict = make_verdict(runs, experiment, dataset if ";" not in dataset else "")
    ctx = ReportContext(experiment, profile, runs_dir, target, runs, tidy, summary, dataset, models=models)
    if tuning_grid:  # make methods: the tuned board beside the one-recipe one (reports.forest.tuned_board)
        ctx.extras["tuning_grid"] = tuple(sorted(tuning_grid))
    errors: list[str] = []
    files: list[Path] = []
    title = f"{experiment} / {profile}: degradation suite report (He et al. 2015)"

    with report_style():
        front = _front(ctx, verdict, errors)
        figures = _figures(ctx, errors)
        sections = _sections(ctx, errors)

        flagged = [r for r in runs if r.flagged]
        provenance = _provenance(runs, experiment, profile, runs_dir, found.models, found.seeds, found.ignored)
        extra: list[Run] = []
        if tuning_grid:  # the tuned board's runs: counted and flagged too, not only the one-recipe board's
            extra = _tuning_protocol_runs(runs_dir, experiment, profile, found.models, found.seeds, tuning_grid)
            flag_against_the_report(extra, runs)  # trained on other files or settings than the report's: named
            *head, stamp = provenance.split("\n")  # the "generated" line stays last
            provenance = "\n".join([*head, _tuning_provenance(extra), stamp])
            # The reported seeds' flags, and the tuning seed's runs that did not finish (its diverged runs are
            # results: tuning.csv and fig-methods-lr show them).
            flagged += [r for r in extra if r.flagged and (r.seed in found.seeds or r.status not in runfolder.DONE)]

        had_report = (target / "report.pdf").is_file()
        stage = None
        try:
            stage = _stage(target)
            report_pdf, pages, files, verdict_md, first_page = _write_all(
                stage, front, figures, tidy, summary, runs, sections, flagged, verdict, title, provenance, errors,
                experiment, profile)
            files, report_pdf = _publish(stage, target, files, report_pdf)
        except OSError as exc:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            kept = f"{target} still holds the last complete report" if had_report else "no report was written"
            raise WriteError(f"the report could not be written ({exc.strerror or exc}){full_disk(target)}; "
                             f"{kept}") from None

    header, rows = display_table(summary, compact=True)
    board = []
    if front.board is not None and not front.board.empty:  # the methods' verdicts, as on page 1
        for name, part in front.board.groupby("board", sort=False):
            board += [f"Leaderboard, {name} board (leaderboard.md; page 1 of report.pdf): depth gap in final "
                      "training error, 95% CI (paired where the nets hold the same seeds, else Welch), Holm-adjusted "
                      "p over the board's gaps and their equivalence tests", "",
                      text_table(*gap_rows(part), left=(3, 5)), ""]
    console = "\n".join([
        _count_line(experiment, profile, runs, extra if tuning_grid else None),
        "", text_table(header, rows), *filter(None, [paper.departure_text(runs, profile)]), "", *board,
        verdict_md.rstrip(), "",
        *(f"warning: {e}" for e in errors),
        f"flagged runs: {len(flagged)} (listed on the report's first page)" if flagged else "flagged runs: none",
        f"report: {report_pdf}",
    ])
    return BuildResult(target, report_pdf, files, runs, verdict, summary, [*front.figures, *(n for n, _ in figures)], errors, console,
                       first_page, len(pages), pages[0])


def _write_all(stage: Path, front: FrontPage, figures, tidy, summary, runs, sections, flagged, verdict, title: str,
               provenance: str, errors: list[str], experiment: str, profile: str):
    """Write every file of the report into ``stage``: (report.pdf's path, its pages, the files written,
    verdict.md's verdict, page 1's markdown). OSError as the file system raises it (a full disk)."""
    files = [io.write_csv(stage / "runs.csv", tidy), io.write_csv(stage / "summary.csv", summary),
             io.write_text(stage / "summary.md", summary_markdown(
                 summary, runs, title=f"Summary: {experiment} / {profile}", profile=profile, sections=sections,
                 flagged=flagged))]
    verdict_md = verdict.markdown()
    # Read alone, verdict.md says as page 1 does why it and the leaderboard's boards may differ.
    beside = VERDICT_BESIDE_BOARD.format(where="of leaderboard.md") + "\n\n" if front.board is not None else ""
    files.append(io.write_text(stage / "verdict.md", f"# Verdict: {experiment} / {profile}\n\n{beside}{verdict_md}"))
    files += front.write(stage)
    for name, fig in figures:
        files += io.save_figure(fig, stage, name)
    first_page = _first_page(title, verdict_md, provenance, flagged, errors, front)
    summary_pages = summary_markdown(summary, runs, title=f"Summary: {experiment} / {profile}",
                                     profile=profile, sections=sections, include_flagged=False)
    report_pdf = stage / "report.pdf"
    pages = _write_report_pdf(report_pdf, title, first_page, [fig for _, fig in figures], summary_pages,
                              footer=f"{experiment} / {profile} — reports.build", panel=front.panel,
                              landscape=front.landscape)
    files.append(report_pdf)
    return report_pdf, pages, files, verdict_md, first_page


STAGE_PREFIX = ".building-"  # <target>/.building-<pid>: a report being written


def _stage(target: Path) -> Path:
    """A new, empty staging folder inside ``target`` (on its file system, whatever link or mount it is: the
    files move out of it by rename); those of killed builds (older than STALE_TEMP_SECONDS) are removed."""
    import time

    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob(f"{STAGE_PREFIX}*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
    stage = target / f"{STAGE_PREFIX}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    return stage


# The files a report owns in its folder (<out>/<experiment>/<profile>): these names, and fig-<name>.png / .pdf
# (reports.io.save_figure). A build leaves exactly its own outputs among them: those an earlier build wrote and
# this one did not (a leaderboard whose first page failed this time, a figure that no longer applies) are
# removed. Any other file there (a note of the user's), and any folder, is not the report's and stays.
REPORT_FILES = frozenset({"runs.csv", "summary.csv", "summary.md", "verdict.md", "leaderboard.csv",
                          "leaderboard.md", "tuning.csv", "report.pdf"})
FIGURE_SUFFIXES = (".png", ".pdf")


def report_owns(name: str) -> bool:
    """Whether a file of this name in a report's folder is one of the report's outputs (:data:`REPORT_FILES`)."""
    return name in REPORT_FILES or (name.startswith("fig-") and name.endswith(FIGURE_SUFFIXES))


def _publish(stage: Path, target: Path, files: list[Path], report_pdf: Path):
    """Move every file of ``stage`` into ``target`` (one rename each, no space needed), remove the outputs of
    an earlier build that this one did not write (:func:`report_owns`; nothing else, nothing outside
    ``target``), and return the files' and report.pdf's paths in ``target``."""
    for f in files:
        os.replace(f, target / f.name)
    shutil.rmtree(stage, ignore_errors=True)
    written = {f.name for f in files}
    for stale in sorted(target.iterdir()):  # outputs of an earlier build that this one did not write
        if stale.name not in written and report_owns(stale.name) and not stale.is_dir():
            stale.unlink(missing_ok=True)  # a build beside this one (two makes on one folder) may beat it to it
    remove_stale_temps(target, older_than=STALE_TEMP_SECONDS)  # what a killed build left behind
    return [target / f.name for f in files], target / report_pdf.name


def _tuning_seed_runs(root: Path) -> bool:
    """Whether any net under ``root`` has a run of the tuning seed (``--tuned`` without a recorded grid: a
    matrix that was never tuned, ``make methods TUNE=``, gets no tuned board of nets "not tuned yet")."""
    return any(root.glob(f"*/{runfolder.SEED_PREFIX}{TUNING_SEED}*"))


def _split_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t for t in re.split(r"[\s,]+", text) if t]
    return items or None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="degradation", help="experiment folder under the runs dir")
    p.add_argument("--profile", default="quick", help="profile folder under the experiment")
    p.add_argument("--runs-dir", default="runs", help="root of the run folders (default: runs)")
    p.add_argument("--out-dir", default="reports/generated", help="output root (default: reports/generated)")
    p.add_argument("--models", default=None,
                   help='expected models, space or comma separated (default: the model folders on disk)')
    p.add_argument("--seeds", default=None,
                   help='expected seeds, e.g. "0 1 2" (default: the seed folders on disk)')
    p.add_argument("--lrs", default=None,
                   help='the tuning protocol\'s learning-rate grid (make methods: LRS): adds the tuned board')
    p.add_argument("--tuned", action="store_true",
                   help="add the tuned board at the grid the runs were planned with (the runs folder's "
                        f"{GRID_FILE}; the default grid where there is none but tuning runs are; none else)")
    p.add_argument("--tune", default=None, metavar="TUNE",
                   help="TUNE as make has it, checked: 1 is --tuned, empty is neither")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        seeds = None
        if (seed_items := _split_list(args.seeds)) is not None:
            bad = [s for s in seed_items if not s.isdigit()]
            if bad:
                raise InputError(f"bad seed {bad[0]!r} in --seeds (expected non-negative integers)")
            seeds = [int(s) for s in seed_items]
        grid, tuned = None, args.tuned
        if args.tune is not None:  # TUNE as make has it decides, checked
            try:
                tuned = check_tune(args.tune)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        if args.lrs:
            try:
                grid = parse_grid(args.lrs)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        elif tuned:  # the grid the runs were planned with; the default for runs older than its record
            root = Path(args.runs_dir) / args.experiment / args.profile
            grid = recorded_grid(root) or (DEFAULT_GRID if _tuning_seed_runs(root) else None)
        result = build_report(args.runs_dir, args.experiment, args.profile, args.out_dir,
                              _split_list(args.models), seeds, grid)
    except InputError as exc:
        print(f"reports.build: error: {exc}", file=sys.stderr)
        return 2
    except WriteError as exc:
        print(f"reports.build: error: {exc}", file=sys.stderr)
        return 1
    print(result.console)
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main, sigterm=True)
