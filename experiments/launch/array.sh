#!/bin/bash
# One task of the matrix's SLURM job array, as `python -m experiments.launch.slurm submit` (make ... LAUNCHER=sbatch)
# submits it:  sbatch --array=0-<n-1> ... array.sh LIST COMMAND...
# Line SLURM_ARRAY_TASK_ID+1 of LIST is "<run folder><TAB><position in the matrix>"; the run is started as a
# job step (srun) so that SLURM's signals reach it (--signal=USR1@... and `scancel --signal` signal job
# steps, not the batch shell). A requeued task runs this again and the run resumes from its checkpoint.
set -euo pipefail
list=$1
shift
# `|| true`: at the end of the list `read` fails, which under set -e would end the task before its message.
IFS=$'\t' read -r run_dir progress < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$list") || true
if [ -z "${run_dir:-}" ]; then
    echo "error: $list has no line for array task $SLURM_ARRAY_TASK_ID" >&2
    exit 2
fi
# srun does not inherit --cpus-per-task from sbatch (SLURM >= 22.05); the step gets the job's GPU by default.
exec srun --ntasks=1 --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" "$@" --run-dir "$run_dir" --progress "$progress"
