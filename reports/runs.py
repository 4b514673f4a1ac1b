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
malformed  ``result.json`` unreadable or without a valid status, or an ok run whose ``metrics.csv``
           is missing, truncated or unparsable.
=========  ====================================================================================
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

SPLITS = ("train", "val", "test")
STATUSES = ("ok", "diverged", "failed", "missing", "malformed")
FAMILIES = ("cifar", "imagenet")
IMAGENET_DEPTHS = frozenset({18, 34, 50, 101, 152})
TIDY_COLUMNS = ["run", "model", "family", "depth", "shortcut", "seed", "status", "step", "split", "loss", "error"]

_MODEL_RE = re.compile(r"^(?P<kind>plain|resnet)-(?P<depth>\d+)(?:-(?P<option>[abc]))?$")
_SEED_RE = re.compile(r"^seed(?P<seed>\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    """What a model name says: ``plain-56`` -> kind plain, depth 56, family cifar, shortcut none."""

    name: str
    kind: str  # "plain" | "resnet" | "unknown"
    depth: int | None
    family: str  # "cifar" | "imagenet" | "unknown"
    shortcut: str  # "none" | "a" | "b" | "c" | "unknown"
    explicit_option: bool  # True for resnet-34-b style names (a shortcut-ablation variant)

    @property
    def sort_key(self) -> tuple:
        fam = FAMILIES.index(self.family) if self.family in FAMILIES else len(FAMILIES)
        kind = {"plain": 0, "resnet": 1}.get(self.kind, 2)
        depth = self.depth if self.depth is not None else 10**9
        return (fam, depth, kind, self.explicit_option, self.shortcut, self.name)


def default_shortcut(family: str, depth: int) -> str:
    """The paper's shortcut for ``resnet-<depth>``: A for the CIFAR nets and ResNet-18/34, B for 50/101/152."""
    return "b" if family == "imagenet" and depth >= 50 else "a"


def parse_model(name: str, family: str | None = None) -> ModelInfo:
    """Parse a registry name (``plain-56``, ``resnet-34``, ``resnet-56-b``).

    ``family`` overrides the guess from the depth (ImageNet for 18/34/50/101/152, CIFAR otherwise; 50 and
    152 are also 6n+2, and result.json's ``family`` wins when it is known). Unrecognised names give kind,
    family and shortcut ``unknown``.
    """
    m = _MODEL_RE.match(name)
    if not m:
        return ModelInfo(name, "unknown", None, family or "unknown", "unknown", False)
    depth = int(m["depth"])
    fam = family or ("imagenet" if depth in IMAGENET_DEPTHS else "cifar")
    if m["kind"] == "plain":
        shortcut = "none"
    else:
        shortcut = m["option"] or default_shortcut(fam, depth)
    return ModelInfo(name, m["kind"], depth, fam, shortcut, m["option"] is not None)


def is_model_name(name: str) -> bool:
    return bool(_MODEL_RE.match(name))


@dataclass
class Run:
    """One expected (model, seed) of an experiment/profile and what its folder held."""

    model: str
    seed: int
    path: Path  # the run folder (it may not exist)
    rel: str  # path relative to the runs dir, e.g. "degradation/quick/plain-20/seed0"
    info: ModelInfo
    status: str = "missing"
    reason: str = ""  # why it is not ok, or a warning; "" for a clean ok run
    notes: list[str] = field(default_factory=list)  # warnings that do not change the status
    result: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: pd.DataFrame | None = None  # tidy rows: step, split, loss, error

    # Convenience views -------------------------------------------------------------------------
    family = property(lambda self: self.info.family)
    depth = property(lambda self: self.info.depth)
    shortcut = property(lambda self: self.info.shortcut)
    kind = property(lambda self: self.info.kind)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def flagged(self) -> bool:
        return self.status != "ok" or bool(self.notes)

    def final(self, split: str) -> float | None:
        """Final error (%) of ``split`` from result.json, else the last logged point of metrics.csv."""
        return self._point("final", split)

    def best(self, split: str) -> float | None:
        """Best (lowest) error (%) of ``split`` from result.json, else the lowest logged point."""
        return self._point("best", split)

    def _point(self, which: str, split: str) -> float | None:
        recorded = self.result.get(which)
        value = _as_float(recorded.get(split)) if isinstance(recorded, dict) else None
        if value is not None:
            return value
        if self.metrics is None or self.metrics.empty:
            return None
        errors = self.metrics.loc[self.metrics["split"] == split, "error"].dropna()
        if errors.empty:
            return None
        return float(errors.iloc[-1] if which == "final" else errors.min())

    def number(self, key: str) -> float | None:
        """A numeric field of result.json (``wall_seconds``, ``params``, ...), or None."""
        return _as_float(self.result.get(key))

    def curve(self, split: str) -> pd.DataFrame:
        """``step, error, loss`` of one split, sorted by step (empty if none)."""
        if self.metrics is None:
            return pd.DataFrame(columns=["step", "error", "loss"])
        rows = self.metrics[self.metrics["split"] == split]
        return rows[["step", "error", "loss"]].sort_values("step").reset_index(drop=True)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out


class MalformedError(ValueError):
    """A file of a run folder that cannot be read as its contract says."""


# --- single files -------------------------------------------------------------------------------


def read_result(path: Path) -> dict[str, Any]:
    """Parse result.json; :class:`MalformedError` if it is not a JSON object with a known status."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedError(f"result.json unreadable: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedError(f"result.json is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedError("result.json is not a JSON object")
    status = data.get("status")
    if status not in ("ok", "diverged", "failed"):
        raise MalformedError(f"result.json has no valid status (got {status!r})")
    for key in ("final", "best"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise MalformedError(f"result.json: {key!r} is not an object")
    if status == "ok" and not isinstance(data.get("final"), dict):
        raise MalformedError("result.json: an ok run without 'final' errors")
    return data


def read_config(path: Path) -> dict[str, Any]:
    """Parse config.yaml (provenance only: every key optional); {} if absent, MalformedError if unreadable."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MalformedError(f"config.yaml unreadable: {type(exc).__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedError("config.yaml is not a mapping")
    return data


def _parse_cell(text: str, column: str, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise MalformedError(f"metrics.csv line {line}: {column}={text!r} is not a number") from None


def read_metrics(path: Path) -> pd.DataFrame:
    """Read a Lightning CSVLogger ``metrics.csv`` (wide) into tidy rows ``step, split, loss, error``.

    The wide file has columns ``step`` and ``<split>_loss`` / ``<split>_error`` (any may be missing,
    ``epoch``/``lr``/others are ignored); a row is one logged point, with empty cells for what was not
    logged there. A split is present in a row when either of its cells is non-empty (a literal ``nan``
    loss of a diverging run counts as present). After a resumed run a (step, split) may appear twice:
    the last occurrence wins. Lightning writes train and eval metrics of the same step in separate rows,
    so duplicates are resolved per split, not per row.

    Raises :class:`MalformedError` for an empty file, no ``step`` column, a row with the wrong number of
    fields (a truncated last line), or a cell that is not a number.
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise MalformedError("metrics.csv missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MalformedError(f"metrics.csv unreadable: {exc}") from None
    if not rows:
        raise MalformedError("metrics.csv is empty")
    header = [h.strip() for h in rows[0]]
    if "step" not in header:
        raise MalformedError("metrics.csv has no 'step' column")
    i_step = header.index("step")
    cols = {
        split: (header.index(f"{split}_loss") if f"{split}_loss" in header else None,
                header.index(f"{split}_error") if f"{split}_error" in header else None)
        for split in SPLITS
    }
    latest: dict[tuple[int, str], tuple[int, float, float]] = {}
    order = 0
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # a blank line is not data
        if len(row) != len(header):
            raise MalformedError(
                f"metrics.csv line {line} has {len(row)} fields, the header {len(header)} (truncated?)"
            )
        step_text = row[i_step].strip()
        if not step_text:
            raise MalformedError(f"metrics.csv line {line}: empty step")
        step_value = _parse_cell(step_text, "step", line)
        if not math.isfinite(step_value) or step_value != int(step_value):
            raise MalformedError(f"metrics.csv line {line}: step={step_text!r} is not an integer")
        step = int(step_value)
        for split, (i_loss, i_err) in cols.items():
            cells = [row[i].strip() if i is not None else "" for i in (i_loss, i_err)]
            if not any(cells):
                continue
            loss = _parse_cell(cells[0], f"{split}_loss", line) if cells[0] else math.nan
            err = _parse_cell(cells[1], f"{split}_error", line) if cells[1] else math.nan
            latest[(step, split)] = (order, loss, err)  # a later occurrence replaces an earlier one
            order += 1
    if not latest:
        raise MalformedError("metrics.csv holds no train/val/test points")
    frame = pd.DataFrame(
        [(step, split, loss, err) for (step, split), (_, loss, err) in latest.items()],
        columns=["step", "split", "loss", "error"],
    )
    frame["split"] = pd.Categorical(frame["split"], categories=list(SPLITS))
    frame = frame.sort_values(["split", "step"]).reset_index(drop=True)
    frame["split"] = frame["split"].astype(str)
    return frame


# --- folders ------------------------------------------------------------------------------------


def load_run(runs_dir: Path, experiment: str, profile: str, model: str, seed: int) -> Run:
    """Read one run folder (which may not exist) into a :class:`Run` with its status and reason."""
    runs_dir = Path(runs_dir)
    folder = runs_dir / experiment / profile / model / f"seed{seed}"
    rel = folder.relative_to(runs_dir).as_posix()
    run = Run(model=model, seed=seed, path=folder, rel=rel, info=parse_model(model))
    if not run.info.depth:
        run.notes.append(f"unrecognised model name {model!r}")

    if folder.is_dir():
        try:
            run.config = read_config(folder / "config.yaml")
        except MalformedError as exc:
            run.notes.append(str(exc))

    result_path = folder / "result.json"
    if not folder.is_dir():
        run.status, run.reason = "missing", "not started (no run folder)"
        return run
    if not result_path.exists():
        run.status = "missing"
        run.reason = ("no result.json: running or interrupted" if (folder / "metrics.csv").exists()
                      else "no result.json: not started or interrupted")
        return run
    try:
        run.result = read_result(result_path)
    except MalformedError as exc:
        run.status, run.reason = "malformed", str(exc)
        return run

    # result.json knows the family (e.g. a 50-layer CIFAR net): re-parse the name with it.
    family = run.result.get("family")
    if family in FAMILIES and family != run.info.family:
        run.info = parse_model(model, family=family)
    shortcut = run.result.get("shortcut")
    if shortcut in ("none", "a", "b", "c") and run.info.kind != "unknown" and shortcut != run.info.shortcut:
        run.notes.append(f"result.json says shortcut {shortcut!r}, the name implies {run.info.shortcut!r}")

    run.status = run.result["status"]
    try:
        run.metrics = read_metrics(folder / "metrics.csv")
    except MalformedError as exc:
        if run.status == "ok":
            run.status, run.reason = "malformed", str(exc)
            return run
        if (folder / "metrics.csv").exists():  # a failed run may stop before logging anything
            run.notes.append(str(exc))
    if run.status == "diverged":
        at = run.result.get("diverged_at")
        run.reason = f"diverged at step {at}" if at is not None else "diverged"
    elif run.status == "failed":
        run.reason = _last_line(run.result.get("error"))
    return run


def _last_line(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        return "no error message"
    return text.strip().splitlines()[-1][:200]


def seed_folders(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(m["seed"]) for p in model_dir.iterdir() if p.is_dir() and (m := _SEED_RE.match(p.name)))


@dataclass
class Discovery:
    """Every expected run of one experiment/profile, plus what lay on disk outside the expectation."""

    runs: list[Run]
    models: list[str]
    seeds: list[int]
    ignored: list[str]  # run folders on disk that --models/--seeds left out


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
    found = [m for m in on_disk if seed_folders(root / m) or is_model_name(m)]
    models = [*(models or []), *found]
    models = sorted(dict.fromkeys(models), key=lambda m: parse_model(m).sort_key)
    if seeds is None:
        seeds = sorted({s for m in models for s in seed_folders(root / m)}) or [0]
    seeds = sorted(dict.fromkeys(seeds))
    ignored = [f"{m}/seed{s}" for m in on_disk for s in seed_folders(root / m)
               if m not in models or s not in seeds]
    runs = [load_run(Path(runs_dir), experiment, profile, m, s) for m in models for s in seeds]
    return Discovery(runs=runs, models=list(models), seeds=list(seeds), ignored=ignored)


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
