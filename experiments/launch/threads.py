"""The CPU threads a run computes with, and the CPUs it asks SLURM for; imports no torch (the run sets the
threads before it trains).

A run's numbers on a CPU depend on how many threads compute them (reductions split differently), so the
count is the run's ``threads`` setting (default 1), never derived from how it was scheduled (make's ``-j``,
``JOBS``, a SLURM allocation's CPUs): the same run trained under ``make -j1``, ``-j2`` or ``JOBS=1``, or
killed under one and resumed under another, computes the same numbers on the same CPU.
"""

from __future__ import annotations


def cpu_threads(config) -> int:
    """CPU threads for this run: its config's ``threads`` (0, recorded by versions that derived the count from
    make's ``-j``, reads as 1)."""
    return max(1, config.threads)


def cpus_per_run(config) -> int:
    """The CPUs one run uses: its threads, plus its DataLoader workers (the ImageNet folder's)."""
    return cpu_threads(config) + config.workers
