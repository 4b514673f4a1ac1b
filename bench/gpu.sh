#!/usr/bin/env bash
# The GPU bench in one call of a lent machine (no internet, its own python3 with torch and Lightning):
#
#   OUT=/some/folder bash bench/gpu.sh [extra bench arguments: python -m bench --help]
#
# Writes env.txt, log.txt and the bench's CSV/JSON/log/profile under $OUT (default reports/generated/bench).
# With no arguments: items 1, 2, 3, 4, 6 for the paper profile as configured (compiled, the step recorded
# as one CUDA graph). Other variants beside it, e.g. (each compiled run compiles anew, mostly from
# inductor's disk cache):
#   bash bench/gpu.sh --sync-check --compile-modes eager/graph,reduce-overhead --compile-no-plain \
#        --order arms,classic,models,compile --budget-s 300
# bench/gpu_check.sh runs this after the correctness checks of the recorded step.
# See BENCHMARKS.md.
set -o pipefail
OUT=${OUT:-reports/generated/bench}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
  python3 -c 'import sys, torch, torchvision, pytorch_lightning as pl, torchmetrics as tm; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__, "lightning", pl.__version__, "torchmetrics", tm.__version__)'
  nproc
} 2>&1 | tee "$OUT/env.txt"
# Recompilations and the reasons CUDA graphs are skipped (if they are) go to the log.
export TORCH_LOGS=${TORCH_LOGS-recompiles,perf_hints}
python3 -m bench --device cuda --out-dir "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
