"""Where runs train: device slots on this machine, SLURM jobs, the CPU threads a run computes with.

Runs on every ``make`` (JOBS, the srun options, the submit of an sbatch array): never imports torch or
Lightning (tests/test_layers.py). :mod:`~experiments.launch.slots` (a GPU slot per run, a lock the OS frees
when the process dies), :mod:`~experiments.launch.slurm` (srun options, the sbatch array, a run's SLURM
job), ``array.sh`` (one task of the array).
"""
