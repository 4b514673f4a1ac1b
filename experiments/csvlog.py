"""Lightning's CSVLogger, writing ``metrics.csv`` straight into the run folder and keeping it on resume.

Stock CSVLogger deletes an existing ``metrics.csv`` when it starts and rewrites the whole file when a new
column appears. Here the columns are fixed up front (one header, no rewrites) and a resumed run appends
to the rows that precede its checkpoint.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from .io import atomic_write_text

COLUMNS = ["step", "lr", "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error"]


class _RunWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.metrics_keys = list(COLUMNS)

    def _check_log_dir_exists(self) -> None:  # keep what an interrupted run logged
        pass

    def _record_new_keys(self) -> set[str]:
        unknown = set().union(*self.metrics) - set(self.metrics_keys)
        if unknown:
            raise ValueError(f"metrics.csv has fixed columns {COLUMNS}; cannot log {sorted(unknown)}")
        return set()


class RunCSVLogger(CSVLogger):
    def __init__(self, run_dir: Path | str) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="")

    @property
    def experiment(self) -> _RunWriter:
        if self._experiment is None:
            self._experiment = _RunWriter(log_dir=self.log_dir)
        return self._experiment


def read_rows(path: Path) -> list[dict[str, float | None]]:
    """The rows of a run's ``metrics.csv`` as floats (None where empty); [] if there is none."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items() if k})
        return rows


def trim_after(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (the checkpoint a run resumes from): they will be logged again."""
    if not path.is_file():
        return
    rows = [r for r in read_rows(path) if r.get("step") is not None and r["step"] <= step]
    lines = [",".join(COLUMNS)]
    for r in rows:
        lines.append(",".join("" if r.get(k) is None else _fmt(k, r[k]) for k in COLUMNS))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _fmt(key: str, value: float) -> str:
    return str(int(value)) if key == "step" else repr(value)
