"""The CPU threads a run computes with; imports no torch (the run sets them before it trains)."""

from __future__ import annotations

import os
import re

from . import slurm


def cpu_threads(config) -> int:
    """CPU threads for this run: the config's, a SLURM job step's CPUs (``--cpus-per-task``), or the cores
    shared among make's parallel jobs (``-j N``)."""
    if config.threads:
        return config.threads
    if slurm.threads():
        return slurm.threads()
    jobs = 1
    match = re.search(r"(?:^|\s)-j\s*(\d+)", os.environ.get("MAKEFLAGS", ""))
    if match:
        jobs = int(match.group(1))
    return max(1, (os.cpu_count() or 1) // jobs)
