"""Reading run folders: ``runs/<experiment>/<profile>/<model>/seed<k>/`` -> :class:`Run` records and a tidy table.

Nothing here trusts the disk. A run folder may lack ``result.json`` (never started, still running,
interrupted), or hold a truncated ``result.json`` or ``metrics.csv``. Such a run gets a status that says so
(``missing`` or ``malformed``) and a reason; it is counted and flagged by the report, never dropped.

Statuses of a :class:`Run`:

=========  ====================================================================================
ok         ``result.json`` says ok, and ``metrics.csv`` parses. Only these enter means and curves.
diverged   ``result.json`` says diverged (kept as a result, counted, never averaged).
failed     ``result.json`` says failed (counted; its traceback's last line is the reason).
missing    no ``result.json``: no folder (``not started``) or a folder without one (running or
           interrupted).
malformed  ``result.json`` unreadable or incomplete, or an ok run without usable ``metrics.csv`` rows.
=========  ====================================================================================

The files' formats, the result record's check and the metrics reader with its damage policy (damaged
lines are skipped, and noted on the run) are :mod:`runfolder`'s; model names are
:mod:`models.names`'. Both import no torch. A folder whose name is not a model name is left out (listed
as such), as are folders that ``--models``/``--seeds`` leave out.

A plugin's net (``models/plugins.py``) is read from what its run folders record, never from the installed
plugins (none is listed or imported): a ``<method>-<depth>`` folder of no built-in method is a plugin's when
one of its runs' ``config.yaml`` or ``result.json`` records the plugin, so its runs are reported where the
plugin is not installed, or another plugin is refused. Its axes are the ones its runs record as declared
(unknown, ``""``, where it declares none); :func:`plugin_versions` gives the code each run was trained
with, and the runs of a net whose seeds were trained by different plugin code are flagged.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

import runfolder
from runfolder import SPLITS, MalformedError, read_config, read_metrics, read_result, seed_of
from models.names import AXIS_VALUES, FAMILIES, METHODS, ModelName, Shortcut, parse_name, plugin_model_name
from runfolder.tuning import RATE_SETTINGS, TUNING_SEED

STATUSES = (*runfolder.STATUSES, "missing", "malformed")
TIDY_COLUMNS = ["run", "model", "family", "depth", "shortcut", "seed", "status", "step", "split", "loss", "error"]


def read_name(name: str, family: str | None = None) -> ModelName:
    """``name`` as reports read it: a built-in method's by :func:`models.names.parse_name`, any other
    ``<method>-<depth>`` as a plugin's (:func:`models.names.plugin_model_name`), without listing the
    installed plugins. ``ValueError`` naming what is wrong."""
    if name.split("-")[0] in METHODS:
        return parse_name(name, family)
    return plugin_model_name(name, family)


def is_model_name(name: str) -> bool:
    """Whether ``name`` reads as a model name (:func:`read_name`)."""
    try:
        read_name(name)
    except ValueError:
        return False
    return True


def _recorded(folder: Path, key: str):
    """``key`` of the run folder's result.json, else of its config.yaml; None where neither holds it."""
    for read, file in ((read_result, runfolder.RESULT), (read_config, runfolder.CONFIG)):
        try:
            value = read(folder / file).get(key)
        except MalformedError:
            continue
        if value is not None:
            return value
    return None


def _records_plugin(model_dir: Path) -> bool:
    """Whether any run folder of ``model_dir`` records a plugin (its provenance in result.json or config.yaml)."""
    return any(isinstance(_recorded(model_dir / f"seed{k}", "plugin"), dict) for k in seed_folders(model_dir))


@dataclass
class Run:
    """One expected (model, seed) of an experiment/profile and what its folder held."""

    model: str
    seed: int
    path: Path  # the run folder (it may not exist)
    rel: str  # path relative to the runs dir, e.g. "degradation/quick/plain-20/seed0"
    info: ModelName
    status: str = "missing"
    reason: str = ""  # why it is not ok, or a warning; "" for a clean ok run
    notes: list[str] = field(default_factory=list)  # warnings that do not change the status
    result: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: pd.DataFrame | None = None  # tidy rows: step, split, loss, error
    lr: float | None = None  # the learning rate the run trained at (config.yaml), None where not recorded

    # Convenience views -------------------------------------------------------------------------
    family = property(lambda self: self.info.family)
    depth = property(lambda self: self.info.depth)
    kind = property(lambda self: self.info.kind)

    @property
    def shortcut(self) -> str:
        """"none" | "a" | "b" | "c"; a plugin's: what it declares, "unknown" where it declares none."""
        if self.info.plugin:
            declared = self.recorded("axes")
            return (declared.get("shortcut") if isinstance(declared, dict) else None) or "unknown"
        return self.info.shortcut.value

    def recorded(self, key: str):
        """``key`` as result.json records it, else config.yaml; None where neither does."""
        return self.result.get(key) if self.result.get(key) is not None else self.config.get(key)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def flagged(self) -> bool:
        return self.status != "ok" or bool(self.notes)

    def final(self, split: str) -> float | None:
        """Final error (%) of ``split``: result.json's ``final`` (the last logged point); None if none."""
        return _json_number(self.result.get("final", {}).get(split))

    def best(self, split: str) -> float | None:
        """Best (lowest) error (%) of ``split``: result.json's ``best``; None if none."""
        return _json_number(self.result.get("best", {}).get(split))

    def number(self, key: str) -> float | None:
        """A numeric field of result.json (``wall_seconds``, ``params``, ...), or None."""
        return _json_number(self.result.get(key))

    def setting(self, key: str) -> Any:
        """A value of the run's config.yaml (``lr``, ``dataset``, ...): at its top level, else under its
        ``config:`` mapping (where experiments.run writes the training settings); None where neither has it."""
        if self.config.get(key) is not None:
            return self.config[key]
        nested = self.config.get("config")
        return nested.get(key) if isinstance(nested, dict) else None



def _json_number(value: Any) -> float | None:
    """A number of result.json (JSON's int or float) as a float; None for anything else, a string "12"
    included (a record edited by hand: its run is malformed, not averaged in)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out


# --- single files -------------------------------------------------------------------------------


def tidy_metrics(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A run's ``metrics.csv`` (:func:`runfolder.read_metrics`) as tidy rows ``step, split, loss,
    error`` (error in %), sorted by split and step, and the reader's warnings (damaged lines skipped).

    A split is present in a row when either of its cells is non-empty (the literal ``nan`` loss of a
    diverging run counts). Should a (step, split) appear twice, the last occurrence wins. Raises
    :class:`MalformedError` when the file has no usable row (missing, empty, no header, no points).
    """
    metrics = read_metrics(path)
    if metrics.problem:
        raise MalformedError(f"metrics.csv {metrics.problem}")
    latest: dict[tuple[int, str], tuple[float, float]] = {}
    for row in metrics.rows:
        for split in SPLITS:
            loss, err = row[f"{split}_loss"], row[f"{split}_error"]
            if loss is not None or err is not None:
                latest[(int(row["step"]), split)] = (math.nan if loss is None else loss, math.nan if err is None else err)
    if not latest:
        raise MalformedError("metrics.csv holds no train/val/test points")
    frame = pd.DataFrame([(step, split, loss, err) for (step, split), (loss, err) in latest.items()],
                         columns=["step", "split", "loss", "error"])
    frame["split"] = pd.Categorical(frame["split"], categories=list(SPLITS))
    frame = frame.sort_values(["split", "step"]).reset_index(drop=True)
    frame["split"] = frame["split"].astype(str)
    return frame, metrics.warnings("metrics.csv")


# --- folders ------------------------------------------------------------------------------------


def load_run(runs_dir: Path, experiment: str, profile: str, model: str, seed: int, lr: float | None = None) -> Run:
    """Read one run folder (which may not exist) into a :class:`Run` with its status and reason; ``lr`` names
    a run at another rate than the profile's (``seed<k>-lr<rate>``, :mod:`runfolder.tuning`).

    ``model`` must be a model name (``ValueError`` otherwise, naming the valid choices).
    """
    folder = runfolder.run_dir(runs_dir, experiment, profile, model, seed, lr)
    rel = folder.relative_to(Path(runs_dir)).as_posix()
    run = Run(model=model, seed=seed, path=folder, rel=rel, info=read_name(model))
    if not folder.is_dir():
        run.status, run.reason = "missing", "not started (no run folder)"
        return run
    try:
        run.config = read_config(folder / runfolder.CONFIG)
    except MalformedError as exc:
        run.notes.append(str(exc))
    run.lr = _as_float(run.setting("lr")) if run.setting("lr") is not None else lr
    if not (folder / runfolder.RESULT).exists():
        run.status = "missing"
        run.reason = ("no result.json: running or interrupted" if (folder / runfolder.METRICS).exists()
                      else "no result.json: not started or interrupted")
        return run
    try:
        run.result = read_result(folder / runfolder.RESULT)
    except MalformedError as exc:
        run.status, run.reason = "malformed", str(exc)
        return run
    _check_name(run)
    run.status = run.result["status"]
    # what make, the runs and the tuning protocol ask too: another experiment, profile, net or seed than its
    # folder, a finished run without its config.yaml, an ok one without usable metrics.csv or with a final error
    # that is not a number from 0 to 100%
    if why := runfolder.record_problem(folder, run.result):
        run.status, run.reason = "malformed", why
        return run
    try:
        run.metrics, warnings = tidy_metrics(folder / runfolder.METRICS)
        run.notes += warnings
    except MalformedError as exc:
        if run.status == "ok":
            run.status, run.reason = "malformed", str(exc)
            return run
        if (folder / runfolder.METRICS).exists():  # a failed run may stop before logging anything
            run.notes.append(str(exc))
    if run.status == "diverged":
        at = run.result.get("diverged_at")
        run.reason = f"diverged at step {at}" if at is not None else "diverged"
    elif run.status == "failed":
        run.reason = _last_line(run.result.get("error"))
    return run


def _check_name(run: Run) -> None:
    """result.json knows the family (a 50-layer CIFAR net, say): the name is read with it; a shortcut that
    disagrees with the name's is noted."""
    family = run.result.get("family")
    if family in FAMILIES and family != run.info.family:
        try:
            run.info = read_name(run.model, family=family)
        except ValueError as exc:
            run.notes.append(f"result.json says family {family!r}: {exc}")
    shortcut = run.result.get("shortcut")
    if not run.info.plugin and shortcut is not None and shortcut != run.info.shortcut:
        run.notes.append(f"result.json says shortcut {shortcut!r}, the name implies {run.info.shortcut.value!r}")


def _last_line(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        return "no error message"
    return text.strip().splitlines()[-1][:200]


def seed_folders(model_dir: Path) -> list[int]:
    """The seeds ``k`` of the ``seed<k>`` folders in ``model_dir``, sorted; never the tuning seed
    (:data:`runfolder.tuning.TUNING_SEED`: its runs choose a rate and are not reported, reports.tuning reads them)."""
    if not model_dir.is_dir():
        return []
    return sorted(k for p in model_dir.iterdir()
                  if p.is_dir() and (k := seed_of(p.name)) is not None and k != TUNING_SEED)


@dataclass
class Discovery:
    """Every expected run of one experiment/profile, plus what lay on disk outside the expectation."""

    runs: list[Run]
    models: list[str]
    seeds: list[int]
    ignored: list[str]  # run folders on disk that --models/--seeds left out, or not named as a model


def discover_runs(runs_dir: str | Path, experiment: str, profile: str,
                  models: list[str] | None = None, seeds: list[int] | None = None) -> Discovery:
    """Load every expected run of ``runs_dir/experiment/profile``.

    Expected = ``models`` x ``seeds``; the models found on disk are always added (a net trained into the
    experiment's folder by another target, e.g. resnet-110 for ``make layer-responses``, belongs in its
    report), so ``models`` only decides which absent runs count as missing. By default the seeds are the
    union of the ``seed<k>`` folders over the models (so a seed that one model lacks counts as missing for
    it). Runs are ordered by family, depth, plain before residual, then seed.
    """
    root = Path(runs_dir) / experiment / profile
    on_disk = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = [m for m in on_disk if is_model_name(m) and (not read_name(m).plugin or _records_plugin(root / m))]
    models = [*(models or []), *found]
    models = sorted(dict.fromkeys(models), key=lambda m: read_name(m).sort_key)
    if seeds is None:
        seeds = sorted({s for m in models for s in seed_folders(root / m)}) or [0]
    seeds = sorted(dict.fromkeys(seeds))
    ignored = [f"{m}/seed{s}" for m in on_disk for s in seed_folders(root / m)
               if m not in models or s not in seeds]
    runs = [load_run(Path(runs_dir), experiment, profile, m, s) for m in models for s in seeds]
    read_plugin_records(runs)
    flag_mixed_settings(runs)
    flag_other_data(runs)
    return Discovery(runs=runs, models=list(models), seeds=list(seeds), ignored=ignored)


def plugin_code(run: Run) -> str | None:
    """The plugin code a run was trained with, as its record names it: ``"mynet-plugin 0.1.0, sha256
    4f2a9c01d3b7"`` (the first 12 hex digits of the source hash); None for a built-in net or no record."""
    plugin = run.recorded("plugin")
    if not run.info.plugin or not isinstance(plugin, dict):
        return None
    sha = plugin.get("source_sha256")
    return f"{plugin.get('distribution')} {plugin.get('version')}, sha256 {sha[:12] if isinstance(sha, str) else sha}"


def plugin_versions(runs: list[Run]) -> dict[str, dict[str, list[int]]]:
    """``{model: {plugin code: [seeds]}}`` of the plugin nets among ``runs`` (:func:`plugin_code`), in run order."""
    out: dict[str, dict[str, list[int]]] = {}
    for run in runs:
        code = plugin_code(run)
        if code is not None:
            out.setdefault(run.model, {}).setdefault(code, []).append(run.seed)
    return out


# Settings runs of one report may differ in: what records no number. (Its runs are the seed<k> folders, all at the
# profile's rate; the tuning protocol's rates live in seed<k>-lr<rate> folders, reports.tuning.)
MIXABLE_SETTINGS = frozenset({"tensorboard"})


def flag_mixed_settings(runs: Sequence[Run], against: Sequence[Run] | None = None,
                        ignore: Collection[str] = ()) -> None:
    """Mark every finished run whose recorded training settings (config.yaml's ``config``) differ from those
    most of the report's runs share ``malformed``, naming the setting: like a record naming another net, its
    numbers are not this matrix's, so it is counted and named, never averaged (the verdict pooled it once,
    only flagged). make refuses to reuse such a run (experiments.matrix ``check_reuse``); a folder filled by
    hand or by an older version can still hold one. Settings a run does not record are not compared.
    ``against``: the runs whose shared settings count (default: ``runs`` themselves); ``ignore``: settings
    not compared (the tuned board's runs are judged against the report's, but for their rate:
    :data:`runfolder.tuning.RATE_SETTINGS`)."""
    reference = [c for r in (runs if against is None else against) if isinstance(c := r.config.get("config"), dict)]
    keys = {k for c in reference for k in c} - MIXABLE_SETTINGS - set(ignore)
    for key in sorted(keys):
        usual = Counter(repr(c[key]) for c in reference if key in c).most_common(1)[0][0]
        for run in runs:
            c = run.config.get("config")
            if isinstance(c, dict) and key in c and repr(c[key]) != usual and run.status in runfolder.DONE:
                run.status, run.reason = "malformed", (f"trained with {key}={c[key]!r}, where the report's other "
                                                       f"runs have {key}={usual}: not comparable with theirs")


def _data_record(run: Run) -> tuple[dict, str] | None:
    """The data a finished run (its result.json ok or diverged, whether or not a report has set it aside since)
    records it trained on (config.yaml's ``data``), with a key that compares records; None where it records
    none, or did not finish (a failed run records its data too, and must not outvote the runs that trained)."""
    data = run.config.get("data")
    finished = isinstance(run.result, dict) and run.result.get("status") in runfolder.DONE
    return (data, repr(sorted(data.items()))) if isinstance(data, dict) and finished else None


def flag_other_data(runs: Sequence[Run], against: Sequence[Run] | None = None) -> None:
    """Mark every finished run ``malformed`` whose recorded data (config.yaml's ``data``: each split's images and
    sha256, :meth:`experiments.training.datamodule.ImageFolderData.data_record`) is not the data most of the
    report's runs were trained on, or every one where no data set is shared by most: a run kept from an earlier
    call on other files (another DATA_DIR, files replaced) would otherwise be pooled with the new ones without a
    word. ``against``: the runs whose shared data counts (default: ``runs`` themselves; the tuned board's runs
    are judged against the report's). Runs that record no data are not compared."""
    reference = [k for r in (runs if against is None else against) if (k := _data_record(r))]
    sets = Counter(key for _, key in reference)
    if not sets:
        return
    ranked = sets.most_common(2)
    usual = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None

    def train_split(d: dict) -> str:
        t = d.get("train") if isinstance(d.get("train"), dict) else {}
        return f"training split of {t.get('images')} images, sha256 {str(t.get('sha256'))[:12]}"

    theirs = next((d for d, key in reference if key == usual), None)
    for run in runs:
        record = _data_record(run)
        if record is None or record[1] == usual or run.status not in runfolder.DONE:
            continue
        run.status, run.reason = "malformed", (
            f"trained on other data ({train_split(record[0])}) than the report's other runs "
            f"({train_split(theirs)}): not comparable with theirs" if theirs is not None else
            f"the report's runs were trained on {len(sets)} different data sets, none shared by most (this "
            f"one's {train_split(record[0])}): not comparable")


# What makes a run of the tuning protocol (another rate than the profile's, or the tuning seed) comparable with
# the report's runs: the same data, and the same settings but the rate. Each check with what it finds otherwise.
AGAINST_THE_REPORT = (
    ("other data", lambda runs, report: flag_other_data(runs, report)),
    ("other settings", lambda runs, report: flag_mixed_settings(runs, report, ignore=RATE_SETTINGS)),
)


def flag_against_the_report(runs: Sequence[Run], report: Sequence[Run]) -> None:
    """Mark every finished run of ``runs`` (the tuning protocol's) ``malformed`` that was trained on other data
    or other settings but the rate than most of the ``report``'s runs (:data:`AGAINST_THE_REPORT`)."""
    for _, flag in AGAINST_THE_REPORT:
        flag(runs, report)


def not_comparable(runs: Sequence[Run], against: Sequence[Run]) -> dict[str, list[str]]:
    """Each net of ``runs`` (finished runs: the tuning runs behind a tuned rate) with what some of its runs were
    trained on that most of ``against`` were not (:data:`AGAINST_THE_REPORT`): ``{"fixup-56": ["other
    data"]}``. Not reported, the tuning runs are not flagged here, only looked at
    (:func:`reports.leaderboard.leaderboard_table`)."""
    out: dict[str, list[str]] = {}
    for what, flag in AGAINST_THE_REPORT:
        copies = [replace(r) for r in runs]
        flag(copies, against)
        for run, copy in zip(runs, copies):
            if copy.status == "malformed" and run.status != "malformed" and what not in out.get(run.model, []):
                out.setdefault(run.model, []).append(what)
    return out


def read_plugin_records(runs: list[Run]) -> None:
    """Give each plugin net's runs the axes its runs record as declared (the first run recording them; every
    run of a model reads the same :class:`ModelName`), and flag every run of a net whose seeds were trained by
    different plugin code (their mean pools two nets) or record different axes."""
    by_model: dict[str, list[Run]] = {}
    for run in runs:
        if run.info.plugin:
            by_model.setdefault(run.model, []).append(run)
    versions = plugin_versions(runs)
    for model, group in by_model.items():
        declared = [a for r in group if isinstance(a := r.recorded("axes"), dict)]
        if declared:
            axes = {k: declared[0].get(k) if declared[0].get(k) in AXIS_VALUES[k] else None for k in AXIS_VALUES}
            for run in group:
                run.info = _with_axes(run.info, axes)
        notes = []
        codes = versions.get(model, {})
        if len(codes) > 1:
            each = "; ".join(f"{code}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                             for code, seeds in codes.items())
            notes.append(f"{model}'s seeds were trained by {len(codes)} versions of plugin {group[0].kind!r} "
                         f"({each}): its mean and interval pool different nets")
        if any(a != declared[0] for a in declared):
            notes.append(f"{model}'s runs record different declared axes; the first run's are used")
        for run in group:  # a new list: a run's copy on the tuned board shares the first board's (dataclasses.replace)
            run.notes = [*run.notes, *(n for n in notes if n not in run.notes)]


def _with_axes(info: ModelName, axes: dict) -> ModelName:
    """A plugin's name with the axes its runs record (None: unknown, ``""``); its ``shortcut`` stays NONE, the
    declared one is :attr:`Run.shortcut`."""
    return replace(info, **{k: axes.get(k) or "" for k in ("block", "merge", "branch_scale", "norm", "init")},
                   shortcut=Shortcut.NONE)


def tidy_table(runs: list[Run]) -> pd.DataFrame:
    """``runs.csv``: one row per run x step x split, for every run whose metrics could be read.

    Columns: run, model, family, depth, shortcut, seed, status, step, split, loss, error (errors in %).
    Diverged and failed runs are included (``status`` tells them apart); missing and malformed are not.
    """
    parts = []
    for run in runs:
        if run.metrics is None or run.metrics.empty or run.status in ("missing", "malformed"):
            continue
        part = run.metrics.copy()
        part.insert(0, "status", run.status)
        part.insert(0, "seed", run.seed)
        part.insert(0, "shortcut", run.shortcut)
        part.insert(0, "depth", run.depth)
        part.insert(0, "family", run.family)
        part.insert(0, "model", run.model)
        part.insert(0, "run", run.rel)
        parts.append(part)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TIDY_COLUMNS})
    frame = pd.concat(parts, ignore_index=True)[TIDY_COLUMNS]
    frame["depth"] = frame["depth"].astype("Int64")
    return frame
