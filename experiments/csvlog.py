"""``metrics.csv``: Lightning's CSVLogger, writing straight into the run folder, never losing a row.

Stock CSVLogger deletes an existing ``metrics.csv`` when it starts, rewrites the whole file when a new
column appears, appends in place (a kill mid-write leaves half a line) and holds rows in memory until
Lightning's next flush, which comes after the checkpoint that follows an evaluation (a kill in between
leaves a checkpoint whose evaluation rows were never written: the resumed run would lack them). Here:

- the columns are fixed up front (one header, no rewrites);
- every ``log_metrics`` call is flushed at once, so the rows of an evaluation are on disk before the
  checkpoint that follows it;
- each flush replaces the whole file atomically (:mod:`experiments.io`): a reader sees the rows before
  or after a flush, never part of one;
- a resumed run starts from the rows that precede its checkpoint (:func:`trim_after`) and appends.

Readers (:func:`read_rows`) still tolerate a damaged file, written by hand or by an older version: an
incomplete last line (no newline) and rows that do not parse are skipped.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from .io import atomic_write_text

COLUMNS = ["step", "lr", "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error"]
HEADER = ",".join(COLUMNS) + "\n"


def _format_rows(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


class _RunWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.metrics_keys = list(COLUMNS)
        self._text = HEADER + "".join(line + "\n" for line in _good_lines(Path(self.metrics_file_path)))

    def _check_log_dir_exists(self) -> None:  # keep what an interrupted run logged
        pass

    def save(self) -> None:
        if not self.metrics:
            return
        unknown = set().union(*self.metrics) - set(COLUMNS)
        if unknown:
            raise ValueError(f"metrics.csv has fixed columns {COLUMNS}; cannot log {sorted(unknown)}")
        self._text += _format_rows(self.metrics)
        atomic_write_text(self.metrics_file_path, self._text)
        self.metrics = []


class RunCSVLogger(CSVLogger):
    def __init__(self, run_dir: Path | str) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="")

    @property
    def experiment(self) -> _RunWriter:
        if self._experiment is None:
            self._experiment = _RunWriter(log_dir=self.log_dir)
        return self._experiment

    def log_metrics(self, metrics, step=None) -> None:
        super().log_metrics(metrics, step)
        self.save()  # at once: see the module docstring


def _good_lines(path: Path) -> list[str]:
    """The data lines of ``path`` that are complete and parse, without the header; [] if there are none.

    A line is complete when a newline ends it; one parses when it has a value or nothing for each of
    ``COLUMNS`` and an integer step. Anything else is damage and is dropped, with one warning.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    lines.pop()  # "" after the final newline, or an incomplete last line
    if not lines or lines[0].rstrip("\r") != HEADER.rstrip("\n"):
        if text:
            print(f"warning: {path} has no metrics.csv header; its rows are ignored", file=sys.stderr)
        return []
    good = [line.rstrip("\r") for line in lines[1:] if _parse(line.rstrip("\r")) is not None]
    dropped = len(lines) - 1 - len(good) + (not text.endswith("\n"))
    if dropped:
        print(f"warning: {path}: {dropped} damaged line(s) ignored", file=sys.stderr)
    return good


def _parse(line: str) -> dict[str, float | None] | None:
    try:
        values = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    if len(values) != len(COLUMNS):
        return None
    try:
        row = {k: (float(v) if v != "" else None) for k, v in zip(COLUMNS, values)}
    except ValueError:
        return None
    step = row["step"]
    if step is None or step != int(step) or step < 0:
        return None
    return row


def read_rows(path: Path) -> list[dict[str, float | None]]:
    """The rows of a run's ``metrics.csv`` as floats (None where empty); [] if there is none.

    Tolerant of damage (see :func:`_good_lines`): a run's summary or resume never fails on it.
    """
    return [_parse(line) for line in _good_lines(Path(path))]  # type: ignore[misc]


def trim_after(path: Path, step: int) -> list[dict[str, float | None]]:
    """Keep the rows logged at or before ``step`` (the checkpoint a run resumes from), atomically.

    Rows after it will be logged again by the resumed run; damaged lines go too. Returns the rows kept.
    """
    path = Path(path)
    if not path.is_file():
        return []
    kept = [line for line in _good_lines(path) if _parse(line)["step"] <= step]  # type: ignore[index]
    atomic_write_text(path, HEADER + "".join(line + "\n" for line in kept))
    return [_parse(line) for line in kept]  # type: ignore[misc]
