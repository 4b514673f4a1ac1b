#!/usr/bin/env bash
# Everything a lent GPU machine is for, in one call (no internet; its own python3 with torch and Lightning):
#
#   OUT=/some/folder bash bench/gpu_check.sh [BUDGET_S] [SECTIONS]
#
# SECTIONS (default "resume graph bench variants"), run in the order given:
#   graph    bench/graph_check.py: the whole-step CUDA graph against eager (same losses and weights) and
#            its GPU time per step, with the eager net and with the torch.compile'd one;
#   resume   a paper-profile run on synthetic 3x32x32 data killed at iteration 150 and resumed, against the
#            same run uninterrupted (CUDA graph, compile, gradient norms through checkpoints and a resume);
#   bench    bench/gpu.sh: make bench's items 1-4 on the GPU within BUDGET_S seconds (default 300);
#   variants the recorded step's GPU time in other layouts and compile modes (graph_check --skip-compare).
# Everything is written under $OUT (default reports/generated/bench).
set -o pipefail
OUT=${OUT:-reports/generated/bench}
BUDGET=${1:-300}
SECTIONS=${2:-resume graph bench variants}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DEGRADATION_OFFLINE=1
t0=$(date +%s)
stamp() { echo "== $(( $(date +%s) - t0 ))s: $*"; }

graph() {
  python3 bench/graph_check.py --model resnet-56 --steps 40
  TORCH_LOGS=recompiles python3 bench/graph_check.py --model resnet-56 --steps 40 --compile 2>&1 | tail -20
}

resume() {
  local T R SET
  T=$(mktemp -d)
  SET=(--set dataset=synthetic --set image_size=32 --set synthetic_train=8192 --set synthetic_eval=1000
       --set val_size=1000 --set max_steps=300 --set eval_every=100 --set log_every=50 --set "milestones=[200]"
       --set grad_norm_every=100)
  R=degradation/paper/resnet-20/seed0
  DEGRADATION_FAULT=kill@150 python3 -m experiments.run --run-dir "$T/a/$R" "${SET[@]}"; echo "killed run: rc=$?"
  ls "$T/a/$R"
  python3 -m experiments.run --run-dir "$T/a/$R" "${SET[@]}"; echo "resumed run: rc=$?"
  python3 -m experiments.run --run-dir "$T/b/$R" "${SET[@]}"; echo "uninterrupted run: rc=$?"
  for x in a b; do
    echo "-- $x"; cat "$T/$x/$R/metrics.csv"; cut -c1-150 "$T/$x/$R/grad_norms.csv"
    grep -o '"images_per_second": [0-9.]*' "$T/$x/$R/result.json"; tail -5 "$T/$x/$R/error.txt" 2>/dev/null
  done
  cmp "$T/a/$R/metrics.csv" "$T/b/$R/metrics.csv" && echo "metrics.csv identical" || echo "metrics.csv differ"
}

bench() {
  OUT="$OUT" bash bench/gpu.sh --sync-check --items 1,2,3,4 --order arms,classic,models --budget-s "$BUDGET"
}

variants() {
  python3 bench/graph_check.py --model resnet-56 --skip-compare --nchw
  python3 bench/graph_check.py --model resnet-56 --skip-compare --nchw --compile
  timeout 150 python3 bench/graph_check.py --model resnet-56 --skip-compare --compile max-autotune-no-cudagraphs 2>&1 | tail -5
}

for s in $SECTIONS; do
  stamp "$s" | tee -a "$OUT/gpu_check.txt"
  case $s in
    graph|resume|variants) $s 2>&1 | tee "$OUT/$s.txt" | tee -a "$OUT/gpu_check.txt" ;;
    bench) bench ;;
    *) echo "unknown section $s; valid: graph resume bench variants"; exit 2 ;;
  esac
done
stamp "done" | tee -a "$OUT/gpu_check.txt"
