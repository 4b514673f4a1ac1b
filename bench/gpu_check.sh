#!/usr/bin/env bash
# Everything a lent GPU machine is for, in one call (no internet; its own python3 with torch and Lightning):
#
#   OUT=/some/folder bash bench/gpu_check.sh [BUDGET_S]
#
# 1. bench/graph_check.py: the whole-step CUDA graph against eager (same losses and weights) and its GPU
#    time per step, with the eager net and with the torch.compile'd one;
# 2. a paper-profile run on synthetic 3x32x32 data killed at iteration 150 and resumed, against the same run
#    uninterrupted (CUDA graph and compile through checkpoints, evaluations and a resume);
# 3. bench/gpu.sh: make bench's items 1-4 and 6 on the GPU, then the variants eager/graph and
#    reduce-overhead (the previous setting), within BUDGET_S seconds (default 300).
# Everything is written under $OUT (default reports/generated/bench).
set -o pipefail
OUT=${OUT:-reports/generated/bench}
BUDGET=${1:-300}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DEGRADATION_OFFLINE=1
t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s: $*"; }

stamp "graph check, eager net" | tee "$OUT/graph_check.txt"
python3 bench/graph_check.py --model resnet-56 --steps 40 2>&1 | tee -a "$OUT/graph_check.txt"
stamp "graph check, compiled net" | tee -a "$OUT/graph_check.txt"
TORCH_LOGS=recompiles python3 bench/graph_check.py --model resnet-56 --steps 40 --compile 2>&1 | tail -20 | tee -a "$OUT/graph_check.txt"

stamp "resume check" | tee "$OUT/resume_check.txt"
T=$(mktemp -d)
SET=(--set dataset=synthetic --set image_size=32 --set synthetic_train=8192 --set synthetic_eval=1000
     --set val_size=1000 --set max_steps=300 --set eval_every=100 --set log_every=50 --set "milestones=[200]")
R=degradation/paper/resnet-20/seed0
{
  DEGRADATION_FAULT=kill@150 python3 -m experiments.run --run-dir "$T/a/$R" "${SET[@]}"; echo "killed run: rc=$?"
  ls "$T/a/$R"
  python3 -m experiments.run --run-dir "$T/a/$R" "${SET[@]}"; echo "resumed run: rc=$?"
  python3 -m experiments.run --run-dir "$T/b/$R" "${SET[@]}"; echo "uninterrupted run: rc=$?"
  for x in a b; do echo "-- $x: metrics.csv"; cat "$T/$x/$R/metrics.csv"; grep -o '"images_per_second": [0-9.]*' "$T/$x/$R/result.json"; done
  cmp "$T/a/$R/metrics.csv" "$T/b/$R/metrics.csv" && echo "metrics.csv identical" || echo "metrics.csv differ"
} 2>&1 | grep -v '^\s*$' | tail -60 | tee -a "$OUT/resume_check.txt"
stamp "bench" | tee -a "$OUT/resume_check.txt"

OUT="$OUT" bash bench/gpu.sh --sync-check --compile-modes eager/graph,reduce-overhead --compile-no-plain \
  --order arms,classic,models,compile --budget-s "$BUDGET"
stamp "done"
