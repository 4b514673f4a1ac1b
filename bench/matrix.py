"""Item 5 (``--with-matrix``): the wall time of ``make degradation`` (quick profile) in fresh folders, from
nothing to the report."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .measure import Measure

if TYPE_CHECKING:
    from .run import Session

REPO = Path(__file__).resolve().parent.parent


def time_matrix(matrix_args: str, tmp: Path) -> dict:
    """Run `make degradation` (quick profile) into fresh folders under tmp; its wall time (s) and outcome,
    as keyword arguments of Table.add (the measure ends in " FAILED" where make did not exit 0).
    ``matrix_args``: extra make arguments, e.g. ``-j 2``."""
    runs, reports = tmp / "matrix-runs", tmp / "matrix-reports"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    cmd = ["make", "--no-print-directory", "degradation", "PROFILE=quick", f"RUNS_DIR={runs}",
           f"REPORTS_DIR={reports}", *matrix_args.split()]
    print(f"-- item 5: {' '.join(cmd)}", flush=True)
    t = time.perf_counter()
    rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
    wall = time.perf_counter() - t
    done = len(list(runs.glob("**/result.json")))
    pdfs = list(reports.glob("**/report.pdf"))
    note = f"exit {rc}; {done} runs; report {'written' if pdfs else 'MISSING'}; {' '.join(cmd[3:])}"
    return {"measure": "make degradation (quick), wall s" + (" FAILED" if rc else ""),
            "a": Measure(float("nan"), fit_s=wall), "note": note, "variant": f"{wall:.0f} s wall"}


def section_matrix(s: Session) -> None:
    s.table.add(5, **time_matrix(s.args.matrix_args, s.tmp))
