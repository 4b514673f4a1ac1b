#!/usr/bin/env bash
# Issue 14: the paper profile proven on a GPU, end to end, in one call of a lent machine (no internet; its
# own python3 with torch; Lightning from the image or from carried wheels in .whl/).
#
#   OUT=<folder> bash bench/gpu_paper_check.sh [BUDGET_S] [SECTIONS]
#   CPU_TINY=1 OUT=/tmp/x bash bench/gpu_paper_check.sh 1500      # every stage, tiny, on a CPU
#   CPU_TINY=1 DEGRADATION_FAKE_GPUS=1 OUT=/tmp/x bash bench/gpu_paper_check.sh 1500   # as if on one GPU:
#                                                   # its runs lease the one device slot, as on the device
#
# SECTIONS (default "resume fig6 throughput"), run in this order, each under `timeout` within BUDGET_S
# seconds (default 500) shared out 24/50/26; a stage that fails or runs out of time is named in the log
# and the next one still runs. A stage whose runs or make exit otherwise than planned is a FAIL line in
# checks.txt; one whose input was refused before anything trained (fig6 over runs of other settings, say)
# gets no checks and copies no figure: what is on disk is not this call's. Settings are the paper profile's
# (bf16, channels_last, compile, the step recorded as a CUDA graph, pad-4 crop + flip, batch 128, lr 0.1,
# momentum 0.9, weight decay 1e-4) on
# Fashion-MNIST padded with zeros to 32x32 (`--set dataset=fashion-mnist --set image_size=32`):
#   resume      RESUME_MODEL (resnet-20) for RESUME_STEPS (2000) iterations, evaluated every RESUME_EVAL
#               (400), lr /10 at 50% and 75%; one copy killed (DEGRADATION_FAULT=kill) after its second
#               evaluation and resumed, one uninterrupted, the two at once. Checks: gradient norms never
#               zero (the records right after each evaluation included), training error falling after the
#               first evaluation and after the resume, final errors of the two within sampling noise.
#   fig6        `make degradation PROFILE=paper` for plain-20, plain-56, resnet-20, resnet-56, seed 0, four
#               at once on the one GPU, FIG6_STEPS (10000) iterations, lr /10 at 50% and 75%, evaluated
#               every FIG6_EVAL (1000), logged every FIG6_LOG (200); the report rendered and its
#               fig-degradation-cifar.png copied to OUT. Checks: plain-56 above plain-20 and resnet-56 below
#               resnet-20 in training error at every logged point from FIG6_SKIP (FIG6_EVAL) on.
#   throughput  TP_MODEL (resnet-56) at batch 128, TP_STEPS (1200) iterations per run, 1, 2 and 4 runs at
#               once (TP_COUNTS): images/s summed over the runs, timed where all are past iteration 200.
#   methods     (issue 23, point 4; not in the default SECTIONS) one 56-layer net of each method
#               (METHOD_MODELS) through METHOD_STEPS (500) paper-profile iterations with the recorded step,
#               METHOD_JOBS (4) at once. Checks: every run ok or diverged with its reason, and every
#               parameter of every ok net moved from its initial value (a parameter the recorded CUDA
#               graph does not update, a method's scalar say, fails here instead of training silently wrong).
# OUT receives (at most 8 files, as the device tool brings back): env.txt, log.txt (everything),
# checks.txt (PASS/FAIL lines and tables), fig-degradation-cifar.png, throughput.csv, runs.tar.gz (every
# run folder without checkpoints, and the Fig. 6 report).
# Other settings: WORK (default /tmp/gpu-paper-check: runs, data, logs), DATA_DIR (default $WORK/data;
# Fashion-MNIST is decompressed there from FMNIST_GZ, default data/fashion-mnist-gz or Debian's
# /usr/share/datasets/fashion-mnist), PYTHON (default .venv/bin/python if there, else python3).
# CPU_TINY=1: the same stages with tiny nets and schedules (width 4, batch 32, tens of iterations) on a
# CPU, where compile, bf16 and the CUDA graph are off by themselves (experiments/training/train.py, module.py).
# See BENCHMARKS.md, "Prepared: the paper profile on a GPU (issue 14)".
set -o pipefail
SELF=$(realpath "$0")
for v in OUT WORK DATA_DIR FMNIST_GZ; do  # paths given relative to where the script was started
  [ -n "${!v:-}" ] && printf -v "$v" '%s' "$(realpath -m "${!v}")"
done
cd "$(dirname "$SELF")/.." || exit 2
export PYTHONUNBUFFERED=1 DEGRADATION_OFFLINE=1

OUT=${OUT:-reports/generated/gpu-paper}
WORK=${WORK:-/tmp/gpu-paper-check}
DATA_DIR=${DATA_DIR:-$WORK/data}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=$PWD/.venv/bin/python; else PYTHON=$(command -v python3); fi
fi
NPROC=$(nproc 2>/dev/null || echo 1)
TINY=${CPU_TINY:-0}
if [ "$TINY" = 1 ]; then
  : "${RESUME_STEPS:=40}" "${RESUME_EVAL:=10}" "${RESUME_LOG:=5}"
  : "${FIG6_STEPS:=40}" "${FIG6_EVAL:=10}" "${FIG6_LOG:=5}" "${FIG6_GRAD:=5}"
  : "${TP_STEPS:=40}" "${TP_LOG:=10}" "${TP_SKIP:=10}" "${TP_EVERY:=5}"
  : "${METHOD_STEPS:=20}"
  EXTRA="batch_size=32 cifar_width=4 eval_limit=200"
  TP_LIMIT=""  # EXTRA's eval_limit (SET takes each key once)
else
  : "${RESUME_STEPS:=2000}" "${RESUME_EVAL:=400}" "${RESUME_LOG:=100}"
  : "${FIG6_STEPS:=10000}" "${FIG6_EVAL:=1000}" "${FIG6_LOG:=200}" "${FIG6_GRAD:=500}"
  : "${TP_STEPS:=1200}" "${TP_LOG:=100}" "${TP_SKIP:=200}" "${TP_EVERY:=50}"
  : "${METHOD_STEPS:=500}"
  EXTRA=""
  TP_LIMIT="eval_limit=1000"
fi
RESUME_MODEL=${RESUME_MODEL:-resnet-20}
TP_MODEL=${TP_MODEL:-resnet-56}
TP_COUNTS=${TP_COUNTS:-1 2 4}
FIG6_SKIP=${FIG6_SKIP:-$FIG6_EVAL}
FIG6_MODELS="plain-20 plain-56 resnet-20 resnet-56"
METHOD_MODELS=${METHOD_MODELS:-plain-56 resnet-56 preresnet-56 fixup-56 skipinit-56 rezero-56 highway-56 plain-56-nobn resnet-56-nobn}
METHOD_JOBS=${METHOD_JOBS:-4}
DATA_SET="dataset=fashion-mnist image_size=32"
KILL_AT=$((2 * RESUME_EVAL + RESUME_LOG))  # after the second evaluation, before the third
RESUME_SET="$DATA_SET max_steps=$RESUME_STEPS milestones=[$((RESUME_STEPS / 2)),$((RESUME_STEPS * 3 / 4))] eval_every=$RESUME_EVAL log_every=$RESUME_LOG grad_norm_every=$((RESUME_EVAL / 2)) threads=$(( NPROC / 2 > 0 ? NPROC / 2 : 1 )) $EXTRA"
FIG6_SET="$DATA_SET max_steps=$FIG6_STEPS milestones=[$((FIG6_STEPS / 2)),$((FIG6_STEPS * 3 / 4))] eval_every=$FIG6_EVAL log_every=$FIG6_LOG grad_norm_every=$FIG6_GRAD threads=$(( NPROC / 4 > 0 ? NPROC / 4 : 1 )) $EXTRA"
METHOD_SET="$DATA_SET max_steps=$METHOD_STEPS milestones=[$((METHOD_STEPS / 2)),$((METHOD_STEPS * 3 / 4))] eval_every=$METHOD_STEPS log_every=$((METHOD_STEPS / 10)) grad_norm_every=0 $EXTRA"
TP_SET="$DATA_SET max_steps=$TP_STEPS eval_every=$TP_STEPS log_every=$TP_LOG $TP_LIMIT $EXTRA"
CHECK="$PYTHON -m bench.gpu_paper_check"

sets() { for s in $1; do printf -- '--set\n%s\n' "$s"; done; }  # "a=1 b=2" -> --set a=1 --set b=2

# --- the stages (each runs as its own process under `timeout`, which ends its whole process group) -------
stage_resume() {
  local R=$WORK/resume P=degradation/paper/$RESUME_MODEL/seed0 args
  rm -rf "$R"
  mapfile -t args < <(sets "$RESUME_SET")
  echo "resume: $RESUME_MODEL, ${args[*]}; the killed copy dies after iteration $KILL_AT"
  # --runs-per-gpu 2: the two copies share the one GPU at once (a run leases a device slot, one per GPU by default)
  DEGRADATION_FAULT=kill@$KILL_AT $PYTHON -m experiments.run --run-dir "$R/a/$P" --data-dir "$DATA_DIR" \
    --runs-per-gpu 2 "${args[@]}" &
  local ka=$!
  $PYTHON -m experiments.run --run-dir "$R/b/$P" --data-dir "$DATA_DIR" --runs-per-gpu 2 "${args[@]}" &
  local kb=$!
  local rc bad=0
  wait $ka; rc=$?; echo "resume: killed run exit $rc (137 = killed as planned)"; [ $rc = 137 ] || bad=1
  ls "$R/a/$P" "$R/a/$P/checkpoints"
  $PYTHON -m experiments.run --run-dir "$R/a/$P" --data-dir "$DATA_DIR" --runs-per-gpu 2 "${args[@]}"
  rc=$?; echo "resume: resumed run exit $rc"; [ $rc = 0 ] || bad=1
  wait $kb; rc=$?; echo "resume: uninterrupted run exit $rc"; [ $rc = 0 ] || bad=1
  return $bad
}

stage_fig6() {
  # Not wiped: a second call on the same machine resumes the runs from their checkpoints (make skips done ones).
  local F=$WORK/fig6
  mkdir -p "$F/venv/bin" "$F/runs" "$F/reports"
  # make's own Python: the Makefile runs $(VENV)/bin/python and would install a venv (no internet here).
  printf '#!/bin/sh\nexec %s "$@"\n' "$PYTHON" > "$F/venv/bin/python"
  chmod +x "$F/venv/bin/python"
  touch "$F/venv/.installed"
  # make's input check first, by itself, with make or without: a refusal (runs on disk from another call's
  # settings, say) is told apart from a run that failed, for both of which make exits 2
  $PYTHON -m experiments.matrix check --experiment degradation --profile paper --models "$FIG6_MODELS" --seeds 0 \
    --runs-dir "$F/runs" --data-dir "$DATA_DIR" --set "$FIG6_SET" || { echo "fig6: input refused"; return 2; }
  if command -v make >/dev/null; then
    echo "fig6: make degradation PROFILE=paper MODELS='$FIG6_MODELS' SEEDS=0 JOBS=4 RUNS_PER_GPU=4 SET='$FIG6_SET'"
    make --no-print-directory degradation VENV="$F/venv" PROFILE=paper MODELS="$FIG6_MODELS" SEEDS=0 JOBS=4 RUNS_PER_GPU=4 \
      RUNS_DIR="$F/runs" DATA_DIR="$DATA_DIR" REPORTS_DIR="$F/reports" SET="$FIG6_SET"
    local rc=$?
    echo "fig6: make exit $rc"
    [ $rc = 0 ] || return 1
  else  # no make on this machine: the same four runs as processes, then the report
    local m args pids=()
    mapfile -t args < <(sets "$FIG6_SET")
    echo "fig6: no make here; experiments.run for $FIG6_MODELS at once, ${args[*]}"
    for m in $FIG6_MODELS; do
      $PYTHON -m experiments.run --run-dir "$F/runs/degradation/paper/$m/seed0" --data-dir "$DATA_DIR" \
        --runs-per-gpu 4 "${args[@]}" &
      pids+=($!)
    done
    local rc bad=0
    for m in "${pids[@]}"; do wait "$m"; rc=$?; echo "fig6: pid $m exit $rc"; [ $rc = 0 ] || bad=1; done
    $PYTHON -m reports.build --experiment degradation --profile paper --runs-dir "$F/runs" --out-dir "$F/reports" \
      --models "$FIG6_MODELS" --seeds 0 || bad=1
    return $bad
  fi
}

stage_throughput() {
  local T=$WORK/tp n k pids set rc bad=0
  rm -rf "$T"
  for n in $TP_COUNTS; do
    set="$TP_SET threads=$(( NPROC / n > 0 ? NPROC / n : 1 ))"
    echo "throughput: $n run(s) of $TP_MODEL at once, SET $set"
    pids=()
    for ((k = 0; k < n; k++)); do
      # shellcheck disable=SC2086  # one key=value per word
      $CHECK timed-run --run-dir "$T/n$n/degradation/paper/$TP_MODEL/seed$k" --data-dir "$DATA_DIR" \
        --every "$TP_EVERY" --set $set &
      pids+=($!)
    done
    for k in "${pids[@]}"; do wait "$k"; rc=$?; echo "throughput: n=$n pid $k exit $rc"; [ $rc = 0 ] || bad=1; done
  done
  return $bad
}

stage_methods() {
  local M=$WORK/methods m p args pids=() bad=0
  rm -rf "$M"
  mapfile -t args < <(sets "$METHOD_SET")
  echo "methods: $METHOD_MODELS, $METHOD_JOBS at once, ${args[*]}"
  for m in $METHOD_MODELS; do  # a diverged run exits 0 too (the checks read its reason)
    while [ "$(jobs -rp | wc -l)" -ge "$METHOD_JOBS" ]; do wait -n; done  # at most METHOD_JOBS at once
    $PYTHON -m experiments.run --run-dir "$M/runs/methods/paper/$m/seed0" --data-dir "$DATA_DIR" \
      --runs-per-gpu "$METHOD_JOBS" "${args[@]}" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || bad=1; done  # each run's status, also of one `wait -n` collected
  return $bad
}

if [ "${1:-}" = --stage ]; then
  "stage_$2"
  exit $?
fi

# --- the call -------------------------------------------------------------------------------------------
BUDGET=${1:-500}
if [ $# -ge 2 ] && [ -z "${2//[[:space:]]/}" ]; then
  echo "no sections given; valid: resume fig6 throughput methods (leave the argument out for the default)" >&2; exit 2
fi
SECTIONS=${2:-resume fig6 throughput}
for s in $SECTIONS; do
  case $s in resume|fig6|throughput|methods) ;; *) echo "unknown section '$s'; valid: resume fig6 throughput methods" >&2; exit 2 ;; esac
done
case $BUDGET in ''|*[!0-9]*) echo "bad BUDGET_S '$BUDGET': a whole number of seconds, e.g. 500" >&2; exit 2 ;; esac
mkdir -p "$OUT" "$WORK" "$DATA_DIR" || exit 2
LOG=$OUT/log.txt CHECKS=$OUT/checks.txt
: > "$LOG"; : > "$CHECKS"
t0=$(date +%s)
note() { echo "== $(( $(date +%s) - t0 ))s: $*" | tee -a "$LOG" "$CHECKS"; }

{
  date -u +%FT%TZ
  echo "host $(hostname), $NPROC cores, CPU_TINY=$TINY, budget ${BUDGET}s, sections: $SECTIONS"
  git rev-parse HEAD 2>/dev/null || echo "commit: no .git here (note it at the call)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo "resume: $RESUME_MODEL; SET $RESUME_SET; kill@$KILL_AT"
  echo "fig6: $FIG6_MODELS; SET $FIG6_SET; compared from iteration $FIG6_SKIP"
  echo "throughput: $TP_MODEL x ($TP_COUNTS); SET $TP_SET; timed from iteration $TP_SKIP"
  echo "methods: $METHOD_MODELS; SET $METHOD_SET"
} > "$OUT/env.txt" 2>&1

# Lightning and the report's libraries: the image's, else the carried wheels (.whl/, see BENCHMARKS.md).
if ! $PYTHON -c 'import pytorch_lightning, torchmetrics, yaml' 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    echo "installing the carried wheels: $(ls .whl)" >> "$LOG"
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
      .whl/*.whl >> "$LOG" 2>&1 && export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
$PYTHON - >> "$OUT/env.txt" 2>&1 <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("torch", "torchvision", "pytorch_lightning", "torchmetrics", "numpy", "pandas", "matplotlib", "scipy", "yaml"):
    try:
        m = importlib.import_module(name)
        print(name, getattr(m, "__version__", "?"), end="")
        if name == "torch":
            print(" cuda", m.version.cuda, "cudnn", m.backends.cudnn.version(), "device",
                  m.cuda.get_device_name(0) if m.cuda.is_available() else "none (CPU)", end="")
        print()
    except Exception as exc:  # noqa: BLE001 - a missing library is reported, the stages say what fails
        print(name, "MISSING:", type(exc).__name__, exc)
EOF
cat "$OUT/env.txt"

# Fashion-MNIST, decompressed as experiments/data/ expects: DATA_DIR/FashionMNIST/raw/<name without .gz>.
RAW=$DATA_DIR/FashionMNIST/raw
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
have_raw() { for f in $FILES; do [ -s "$RAW/$f" ] || return 1; done; }
if ! have_raw; then
  for src in ${FMNIST_GZ:-} data/fashion-mnist-gz /usr/share/datasets/fashion-mnist; do
    [ -s "$src/train-images-idx3-ubyte.gz" ] || continue
    mkdir -p "$RAW"
    for f in $FILES; do gzip -dc "$src/$f.gz" > "$RAW/$f.tmp" && mv "$RAW/$f.tmp" "$RAW/$f"; done
    echo "Fashion-MNIST decompressed from $src into $RAW" | tee -a "$LOG"
    break
  done
fi
have_raw || note "NO DATA: Fashion-MNIST is neither in $RAW nor as .gz in FMNIST_GZ, data/fashion-mnist-gz or /usr/share/datasets/fashion-mnist; every stage will fail"

share() { case $1 in resume) echo 24 ;; fig6) echo 50 ;; throughput) echo 26 ;; methods) echo 30 ;; esac; }
total=0; for s in $SECTIONS; do total=$(( total + $(share "$s") )); done

pack() {  # every run folder without checkpoints, and the Fig. 6 report: one file, rewritten after each stage
  (cd "$WORK" && tar czf "$OUT/runs.tar.gz.tmp" --exclude='*.ckpt' --exclude='.lock' --exclude='venv' \
    $(ls -d resume fig6 tp methods 2>/dev/null)) && mv "$OUT/runs.tar.gz.tmp" "$OUT/runs.tar.gz"
}

failed=""
set -- $SECTIONS
while [ $# -gt 0 ]; do
  s=$1; shift
  later=0; for x in "$@"; do later=$(( later + $(share "$x") )); done
  left=$(( BUDGET - ($(date +%s) - t0) - 15 ))
  T=$(( left - BUDGET * later / total ))
  own=$(( BUDGET * $(share "$s") / total ))
  [ "$T" -lt "$own" ] && T=$own
  [ "$T" -gt "$left" ] && T=$left
  if [ "$T" -lt 20 ]; then note "$s: SKIPPED, no time left in the budget"; failed="$failed $s(skipped)"; continue; fi
  note "$s: start, at most ${T}s"
  # timeout leads a process group of its own; when time is up it signals the group, but returns as soon as
  # the stage's shell has died, while the runs may still be saving (SIGTERM): they get 15 s, then SIGKILL,
  # so that nothing of this stage competes with the next one for the GPU.
  timeout -k 20 "$T" bash "$SELF" --stage "$s" >> "$LOG" 2>&1 &
  tpid=$!
  wait $tpid
  rc=$?
  for _ in $(seq 15); do kill -0 -- "-$tpid" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$tpid" 2>/dev/null && echo "$s: killed what was left of it" >> "$LOG"
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    note "$s: TIMED OUT after ${T}s"; failed="$failed $s(timeout)"
  elif [ $rc = 2 ]; then  # input refused before anything trained: what is on disk is not this call's
    echo "FAIL $s: refused before training (exit 2, log.txt says why); no checks of runs this call did not train" \
      | tee -a "$LOG" "$CHECKS"
    failed="$failed $s(refused)"; pack; continue
  elif [ $rc != 0 ]; then
    echo "FAIL $s: a run or make exited $rc (log.txt)" | tee -a "$LOG" "$CHECKS"; failed="$failed $s(exit $rc)"
  fi
  note "$s: training done (exit $rc); checks:"
  case $s in
    resume)
      P=degradation/paper/$RESUME_MODEL/seed0
      timeout 120 $CHECK resume --killed "$WORK/resume/a/$P" --uninterrupted "$WORK/resume/b/$P" --kill-at "$KILL_AT" ;;
    fig6)
      D=$WORK/fig6/reports/degradation/paper
      if [ ! -s "$D/fig-degradation-cifar.png" ]; then  # make stopped before its report: render what there is
        timeout 120 $PYTHON -m reports.build --experiment degradation --profile paper --runs-dir "$WORK/fig6/runs" \
          --out-dir "$WORK/fig6/reports" --models "$FIG6_MODELS"
      fi
      cp "$D/fig-degradation-cifar.png" "$OUT/" || echo "FAIL no fig-degradation-cifar.png"
      [ -s "$D/summary.md" ] && sed -n '/^| model/,/^$/p' "$D/summary.md"  # the table of final errors
      timeout 120 $CHECK fig6 --run-root "$WORK/fig6/runs/degradation/paper" --skip "$FIG6_SKIP" ;;
    methods)
      timeout 300 $CHECK methods --run-root "$WORK/methods/runs/methods/paper" --models "$METHOD_MODELS" ;;
    throughput)
      timeout 120 $CHECK throughput --root "$WORK/tp" --counts "$TP_COUNTS" --skip "$TP_SKIP" --csv "$OUT/throughput.csv" ;;
  esac 2>&1 | tee -a "$LOG" "$CHECKS"
  [ "${PIPESTATUS[0]}" = 0 ] || failed="$failed $s(checks)"
  pack
done
note "done: $(grep -c '^PASS' "$CHECKS") PASS, $(grep -c '^FAIL' "$CHECKS") FAIL; stages with a failure:${failed:- none}"
ls -la "$OUT" | tee -a "$LOG"
[ -z "$failed" ]
