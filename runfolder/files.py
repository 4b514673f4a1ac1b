"""A run folder, ``runs/<experiment>/<profile>/<model>/seed<k>[-lr<rate>]/``: its files and formats, defined once.

The seed folder is ``seed<k>`` for a run at its profile's learning rate and ``seed<k>-lr<rate>`` for one at
another (the tuning protocol's runs, :mod:`runfolder.tuning`): ``seed1000-lr0.05``, the rate in plain decimals
(:func:`lr_token`). So a net's runs at several learning rates sit side by side, each an ordinary run folder
(resumed, skipped when done), and a run at the profile's rate has one name only, ``seed<k>``.

Written by one ``experiments.run`` process per run; read by make (which run is done), by a resumed run, by
``experiments.matrix`` and by ``reports``. Imports no torch or Lightning (``reports`` must not).

=========================  ==========================================================================
``config.yaml``            everything needed to rerun it, with provenance (written when it starts)
``metrics.csv``            one row per logged point, columns :data:`METRICS_COLUMNS` (errors in %)
``checkpoints/last.ckpt``  where an interrupted run resumes (after every evaluation)
``error.txt``              a failed run's traceback
``result.json``            written last and atomically; a run with a valid one is finished
=========================  ==========================================================================

``result.json`` (:func:`read_result`): ``status`` (:data:`STATUSES`), ``experiment``, ``profile``,
``model``, ``family``, ``depth``, ``shortcut``, ``seed``, ``final`` and ``best`` (error in % per split of
:data:`SPLITS`, null where none was logged), and for a finished run ``iterations``, ``wall_seconds``
(seconds), ``images_per_second``, ``params``, ``multiply_adds`` (per image, forward: the paper's "FLOPs",
Table 1), ``device``, ``resumed_from``; a diverged run adds ``diverged_at`` (iteration) and
``diverged_reason``; a failed run adds ``error`` (the traceback).

``metrics.csv`` (:func:`read_metrics`) has one damage policy, for every reader: a line that is incomplete
(no newline ends it) or does not parse is skipped and counted, and a file whose first line is not
:data:`METRICS_HEADER` has no usable rows. The writer (``experiments.training.csvlog``) appends whole rows,
so an incomplete last line means a process killed mid-append (a resume cuts it off) and other damage an
older version or a hand edit; readers say so rather than fail.
"""

from __future__ import annotations

import csv
import decimal
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.names import parse_name

from .io import atomic_write_json

CONFIG = "config.yaml"
METRICS = "metrics.csv"
RESULT = "result.json"
CHECKPOINT = "checkpoints/last.ckpt"
ERROR = "error.txt"
# Analyses (reports/analysis.py): written by experiments/responses.py and experiments/training/gradients.py.
LAYER_RESPONSES = "layer_responses.csv"  # paper Fig. 7: a 3x3 layer's response std
LAYER_RESPONSE_COLUMNS = ("layer", "name", "std")
GRAD_NORMS = "grad_norms.csv"  # each weighted layer's gradient L2 norm every K iterations
GRAD_NORM_COLUMNS = ("step", "layer", "name", "norm")

SPLITS = ("train", "val", "test")
STATUSES = ("ok", "diverged", "failed")  # of result.json; a diverged run is a result, a failed one is retried
DONE = ("ok", "diverged")
METRICS_COLUMNS = ["step", "lr", "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error"]
METRICS_HEADER = ",".join(METRICS_COLUMNS)

SEED_PREFIX = "seed"  # a run's folder is seed<k>, or seed<k>-lr<rate>
LR_PREFIX = "-lr"
# One name per run: not seed01, not seed٣, not lr0.10 or lr.1 (lr_token gives the one spelling).
_SEED_DIR = re.compile(rf"^{SEED_PREFIX}(?P<seed>0|[1-9][0-9]*)$")
_SEED_LR_DIR = re.compile(rf"^{SEED_PREFIX}(?P<seed>0|[1-9][0-9]*)(?:{LR_PREFIX}(?P<lr>[0-9]+(?:\.[0-9]+)?))?$")


def lr_token(lr: float) -> str:
    """A learning rate as a folder spells it: the shortest decimal that reads back as ``lr``, without
    exponent (``0.05``, ``0.4``, ``0.0125``, ``1``). ``ValueError`` for a rate that is not a positive finite
    number."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"bad learning rate {lr!r}: a positive number, e.g. 0.05")
    text = repr(float(lr))
    if "e" in text:  # 1e-05: spell its shortest repr out, every digit of it (1e-25, 1.2345678e-15 too)
        text = format(decimal.Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def seed_folder(seed: int, lr: float | None = None) -> str:
    """``seed<k>`` (``lr`` None: the profile's rate) or ``seed<k>-lr<rate>``."""
    return f"{SEED_PREFIX}{seed}" + (f"{LR_PREFIX}{lr_token(lr)}" if lr is not None else "")


def run_dir(runs_dir: str | Path, experiment: str, profile: str, model: str, seed: int,
            lr: float | None = None) -> Path:
    """``runs_dir/<experiment>/<profile>/<model>/seed<seed>[-lr<lr>]`` (:func:`seed_folder`)."""
    return Path(runs_dir) / experiment / profile / model / seed_folder(seed, lr)


def inside_runs(reports_dir: str | Path, runs_dir: str | Path, experiment: str) -> bool:
    """Whether a report of ``experiment`` written under ``reports_dir`` would land inside the runs it reports
    (``<runs_dir>/<experiment>`` or below: a model's folder, say). ``reports_dir`` equal to ``runs_dir`` is not
    inside: its reports go to ``<runs_dir>/<experiment>/<profile>``, beside the model folders, and read none."""
    reported, out = (Path(runs_dir) / experiment).resolve(), Path(reports_dir).resolve()
    return out == reported or reported in out.parents


@dataclass(frozen=True)
class RunPath:
    """What a run folder's path says, ``<runs>/<experiment>/<profile>/<model>/seed<k>``, each part checked.

    :meth:`parse` raises ``ValueError`` naming the bad part: a path of fewer parts, a last part that is not
    ``seed<k>`` (k an integer >= 0), a model that is not a registry name (:func:`models.names.parse_name`,
    torch-free, gives the valid choices). Which experiments exist is the matrix's business (experiments.run
    checks it); this class knows only the folder grammar.
    """

    dir: Path
    experiment: str
    profile: str
    model: str
    seed: int
    lr: float | None = None  # the learning rate the folder names (seed<k>-lr<rate>); None: the profile's

    @classmethod
    def parse(cls, path: str | Path) -> "RunPath":
        path = Path(path)
        parts = path.parts
        seed_lr = seed_and_lr(parts[-1]) if parts else None
        if len(parts) < 4 or seed_lr is None:
            raise ValueError(f"bad run folder {str(path)!r}: expected <runs>/<experiment>/<profile>/<model>/"
                             f"{SEED_PREFIX}<k> or {SEED_PREFIX}<k>{LR_PREFIX}<rate>, k an integer >= 0, the rate "
                             "in plain decimals (e.g. seed1000-lr0.05)")
        parse_name(parts[-2])  # ValueError naming the valid choices
        return cls(path, parts[-4], parts[-3], parts[-2], *seed_lr)

    def __str__(self) -> str:
        return f"{self.model} seed {self.seed}" + (f" at lr {lr_token(self.lr)}" if self.lr is not None else "")


def format_seconds(seconds: float | None) -> str:
    """A duration as people read it: ``"42s"``, ``"7m55s"``, ``"2h05m"``; ``"–"`` for None or NaN. Progress
    lines and reports (``wall_seconds``) use it."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def seed_of(folder_name: str) -> int | None:
    """``"seed3"`` -> 3; None for a name that is not a seed folder at the profile's learning rate (``seed3-lr0.2``
    included: :func:`seed_and_lr` reads those)."""
    match = _SEED_DIR.match(folder_name)
    return int(match["seed"]) if match else None


def seed_and_lr(folder_name: str) -> tuple[int, float | None] | None:
    """``"seed3"`` -> (3, None); ``"seed1000-lr0.05"`` -> (1000, 0.05); None for any other name, a rate spelled
    otherwise than :func:`lr_token` spells it (``lr0.050``) included, so that one run has one folder."""
    match = _SEED_LR_DIR.match(folder_name)
    if not match:
        return None
    if match["lr"] is None:
        return int(match["seed"]), None
    lr = float(match["lr"])
    return (int(match["seed"]), lr) if lr > 0 and lr_token(lr) == match["lr"] else None


class MalformedError(ValueError):
    """A file of a run folder that cannot be read as its contract says."""


# --- config.yaml ---------------------------------------------------------------------------------


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse ``config.yaml`` (a mapping: model, data_dir, ``config`` the run's settings, provenance); ``{}``
    if absent, :class:`MalformedError` if unreadable, not YAML or not a mapping."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MalformedError(f"config.yaml is not valid YAML: {str(exc).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedError(f"config.yaml unreadable: {type(exc).__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedError("config.yaml is not a mapping")
    return data


# --- result.json ---------------------------------------------------------------------------------


def check_result(record: Any) -> dict[str, Any]:
    """``record`` if it is a complete result record, else :class:`MalformedError` saying what is wrong."""
    if not isinstance(record, dict):
        raise MalformedError("result.json is not a JSON object")
    status = record.get("status")
    if status not in STATUSES:
        raise MalformedError(f"result.json has no valid status (got {status!r}; valid: {', '.join(STATUSES)})")
    for key in ("final", "best"):
        if not isinstance(record.get(key), dict):
            raise MalformedError(f"result.json: {key!r} is not an object of errors per split")
    if status in DONE and (isinstance(record.get("iterations"), bool) or not isinstance(record.get("iterations"), int)):
        raise MalformedError(f"result.json: a {status} run without an integer 'iterations'")
    return record


def read_result(path: str | Path) -> dict[str, Any]:
    """Parse and check ``result.json``; :class:`MalformedError` if it is absent, unreadable or incomplete."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MalformedError("no result.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedError(f"result.json unreadable: {exc}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedError(f"result.json is not valid JSON ({exc})") from None
    return check_result(record)


def read_status(path: str | Path) -> str | None:
    """A result.json's status, or None when there is none or it is damaged (not a complete record)."""
    try:
        return read_result(path)["status"]
    except MalformedError:
        return None


def record_problem(folder: str | Path, record: dict[str, Any]) -> str:
    """Why a complete result record of a finished run cannot stand for the run in ``folder``, in a few words;
    '' where it can. Not this folder's run: the record names another experiment, profile, model or seed than
    the folder's path, or another learning rate than its ``config.yaml`` (a record copied in), or a
    ``config.yaml`` at another rate than the folder's name (``seed<k>-lr<rate>``: a folder copied by hand). Not whole: no
    readable ``config.yaml`` (the settings every reuse and resume check reads), or an ok run without a usable
    ``metrics.csv`` (its curves), or with one whose training rows end before the run's last iteration (cut
    short: the trainer always logs the last), or with a final error that is not a number from 0 to 100 (%;
    a record edited by hand: a string "12" or -5 would have chosen a tuning rate, or crashed the choice). Make,
    the pool, a run, the tuning protocol and the reports all ask this one function (:func:`done_status`;
    reports.runs calls such a run malformed)."""
    folder = Path(folder)
    try:
        path = RunPath.parse(folder)
    except ValueError:
        path = None
    if path is not None:
        for key, here in (("experiment", path.experiment), ("profile", path.profile), ("model", path.model),
                          ("seed", path.seed)):
            named = record.get(key)
            if named is not None and named != here:
                return f"result.json names {key} {named!r}, its folder {here!r}"
    if record.get("status") in DONE:
        if not (folder / CONFIG).is_file():
            return "no config.yaml (the record of its settings)"
        try:
            settings = read_config(folder / CONFIG).get("config")
        except MalformedError as exc:
            return str(exc)
        rate = settings.get("lr") if isinstance(settings, dict) else None
        if record.get("lr") is not None and rate is not None and record["lr"] != rate:  # copied from another rate
            return f"result.json was trained at lr {record['lr']!r}, its folder's config.yaml at {rate!r}"
        if path is not None and path.lr is not None and rate is not None and rate != path.lr:  # a folder copied
            return f"its folder names lr {lr_token(path.lr)}, its config.yaml {rate!r}"
    if record.get("status") == "ok":
        final = record.get("final") if isinstance(record.get("final"), dict) else {}
        for split, value in final.items():
            number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if value is not None and (number is None or not -1e-6 <= number <= 100.0 + 1e-6):  # float rounding
                return f"final {split} error {value!r} is not a percentage from 0 to 100"
        metrics = read_metrics(folder / METRICS)
        if metrics.problem:
            return f"metrics.csv {metrics.problem}"
        trained = [int(row["step"]) for row in metrics.rows if row.get("train_error") is not None]
        if not trained:
            return "metrics.csv holds no training points"
        if isinstance(record.get("iterations"), int) and max(trained) < record["iterations"]:
            return f"metrics.csv ends at iteration {max(trained)}, the run at {record['iterations']} (cut short)"
    return ""


def done_status(folder: str | Path) -> str | None:
    """The status of the finished run in ``folder`` (one of :data:`DONE`), or None where it is not done: no
    result.json, a damaged one, a failed run, or a record that cannot stand for the folder's run
    (:func:`record_problem`). What make retries, the pool trains and the matrix's closing line counts."""
    try:
        record = read_result(Path(folder) / RESULT)
    except MalformedError:
        return None
    if record["status"] not in DONE or record_problem(folder, record):
        return None
    return record["status"]


def write_result(path: str | Path, record: dict[str, Any]) -> None:
    """Write ``record`` as ``result.json`` atomically, after :func:`check_result` (so no writer can make a
    record its readers call damaged)."""
    atomic_write_json(path, check_result(record))


# --- metrics.csv ---------------------------------------------------------------------------------


@dataclass
class Metrics:
    """What :func:`read_metrics` found: the good rows (floats, None where a cell is empty), their lines as
    written, and the damage that was skipped."""

    rows: list[dict[str, float | None]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # rows[i] as it stands in the file, without newline
    damaged: int = 0  # lines skipped: incomplete or not parsing
    problem: str = ""  # why none of the file is usable ("" when it is): missing, empty, no header

    def warnings(self, path: str | Path) -> list[str]:
        """One line per kind of damage, naming ``path``; [] for a clean file."""
        out = [f"{path}: {self.problem}"] if self.problem and self.problem != "missing" else []
        if self.damaged:
            out.append(f"{path}: {self.damaged} damaged line(s) ignored")
        return out


def metrics_text(rows: list[dict[str, float | int | None]]) -> str:
    """``rows`` (dicts over some of :data:`METRICS_COLUMNS`; absent or None is an empty cell) as the lines
    of ``metrics.csv``, each ended by a newline, without the header. ``ValueError`` for an unknown column."""
    unknown = set().union(*rows) - set(METRICS_COLUMNS) if rows else set()
    if unknown:
        raise ValueError(f"metrics.csv has fixed columns {METRICS_COLUMNS}; cannot log {sorted(unknown)}")
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=METRICS_COLUMNS, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _parse_line(line: str) -> dict[str, float | None] | None:
    try:
        values = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    if len(values) != len(METRICS_COLUMNS):
        return None
    try:
        row = {k: (float(v) if v != "" else None) for k, v in zip(METRICS_COLUMNS, values)}
    except ValueError:
        return None
    step = row["step"]
    if step is None or not math.isfinite(step) or step != int(step) or step < 0:
        return None
    return row


def read_metrics(path: str | Path) -> Metrics:
    """Read a run's ``metrics.csv`` under the module's damage policy; never raises for its content.

    Returns :class:`Metrics`; ``problem`` is ``"missing"`` when there is no file.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return Metrics(problem="missing")
    except OSError as exc:
        return Metrics(problem=f"unreadable ({exc.strerror})")
    lines = text.split("\n")
    lines.pop()  # "" after the final newline, or an incomplete last line
    if not lines:
        return Metrics(problem="empty", damaged=int(bool(text)))
    if lines[0].rstrip("\r") != METRICS_HEADER:
        return Metrics(problem="no metrics.csv header (written by another program or version?)",
                       damaged=len(lines) - 1 + (not text.endswith("\n")))
    out = Metrics(damaged=int(not text.endswith("\n")))
    for line in lines[1:]:
        line = line.rstrip("\r")
        row = _parse_line(line) if line else None
        if row is None:
            out.damaged += bool(line)  # a blank line is not data, nor damage
            continue
        out.rows.append(row)
        out.lines.append(line)
    return out


def final_and_best(rows: list[dict[str, float | None]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """result.json's ``final`` (the last logged error, %) and ``best`` (the lowest finite one) per split of
    :data:`SPLITS`, from :func:`read_metrics` rows; None where a split was never logged."""
    final, best = {}, {}
    for split in SPLITS:
        values = [r[f"{split}_error"] for r in rows if r.get(f"{split}_error") is not None]
        final[split] = values[-1] if values else None
        finite = [v for v in values if math.isfinite(v)]
        best[split] = min(finite) if finite else None
    return final, best
