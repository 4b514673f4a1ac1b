"""``python -m experiments.launch check``: where the matrix will train, checked before anything runs.

LAUNCHER (and, for SLURM, each job's resources and options: :mod:`~experiments.launch.slurm`) or, training
here, GPUS and RUNS_PER_GPU (:mod:`~experiments.launch.slots`). One line naming the bad value, exit 2.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError, refusing_bad_input
from . import slots, slurm


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    parser = slurm.parser(prog="python -m experiments.launch")
    parser.add_argument("command", choices=("check",), help="check: the launcher's variables (LAUNCHER empty: GPUS, "
                                                            "RUNS_PER_GPU)")
    parser.add_argument("--gpus", default="", help="GPUS (LAUNCHER empty)")
    parser.add_argument("--runs-per-gpu", default="1", help="RUNS_PER_GPU (LAUNCHER empty)")
    parser.add_argument("--jobs", default="1", help="JOBS or make's -j N: runs trained at once")
    args = parser.parse_args(argv)
    slots.parse_jobs(args.jobs)
    slurm.check(args)
    if not args.launcher:
        # A SLURM variable without LAUNCHER: the runs would train on this machine (a login node, say).
        given = [f"{name}={value!r}" for name, value in (("CPUS_PER_RUN", args.cpus), ("MEM_PER_RUN", args.mem),
                 ("TIME_PER_RUN", args.time), ("SLURM_ARGS", args.slurm_args), ("ARRAY_LIMIT", args.array_limit))
                 if value.strip()]
        if given:
            raise ConfigError(f"{given[0]} is set but LAUNCHER is empty: the runs would train here, not under SLURM; "
                              "set LAUNCHER=sbatch or LAUNCHER=srun, or leave the SLURM variables unset")
        slots.parse_runs_per_gpu(args.runs_per_gpu)
        if slots.parse_gpus(args.gpus) is not None:
            slots.devices(args.gpus)  # each one named exists
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
