# The degradation suite's matrix. Each run is a file target, runs/<experiment>/<profile>/<model>/seed<k>/result.json,
# so make skips finished runs, resumes interrupted ones (the run resumes from checkpoints/last.ckpt) and
# `make -j N` trains N at once. Failed runs (status "failed") are retried by the next invocation;
# diverged runs are results and are kept.
#
#   make degradation                  # quick profile on the CPU: Fashion-MNIST, 3 seeds, 3-8 minutes on 2 cores
#   make degradation PROFILE=paper    # the paper's CIFAR-10 recipe, on a GPU
#   make shortcut-ablation SEEDS="0 1" MODELS="plain-56 resnet-56-a" -j 2
#   make depth-sweep                  # plain and residual 20/32/44/56/110, final training error against depth
#   make methods                      # the benchmark: plain, resnet and the field's answers at 20 and 56 layers,
#                                     # at lr 0.1 and at each net's rate from the same tuning budget (LRS=...)
#   make degradation MODELS="mynet-20 mynet-56 plain-20 plain-56"   # your own net (README: Your own net)
#   make report EXPERIMENT=degradation PROFILE=quick    # re-render the report without training
#   make degradation PROFILE=paper LAUNCHER=sbatch SLURM_ARGS="--partition=gpu"  # on SLURM (README: On a cluster)
#   make test | make bench | make layer-responses

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Values handed to commands are taken as written and quoted for the shell: make expands no $ in them
# (SLURM_ARGS='--output=$HOME/x.out' reaches sbatch as written, where make would read the variable $H), and
# every value a recipe passes on goes through _q, so that a ' in it (SLURM_ARGS="--constraint='a100|h100'")
# cannot end the recipe's quoting. $(call _q,NAME): NAME's value as one shell word.
LITERAL_VARS := SET GPUS RUNS_PER_GPU LAUNCHER CPUS_PER_RUN MEM_PER_RUN TIME_PER_RUN SLURM_ARGS ARRAY_LIMIT
$(foreach v,$(LITERAL_VARS),$(if $(filter command line environment,$(origin $v)),$(eval override $v := $$(value $v))))
_q = '$(subst ','\'',$($1))'

PROFILE ?= quick
# Three seeds, so that every comparison carries a 95% interval (reports/verdict.py).
SEEDS ?= 0 1 2
# Runs trained at once when make is given no -j: where there are GPUs, one per GPU slot (GPUS x
# RUNS_PER_GPU, experiments/launch/slots.py); else one per CPU core on the CPU profiles (each run trains with
# its `threads` setting, 1, whatever -j: two 1-thread runs finish a matrix sooner than one 2-thread run at a
# time, and hold up when something else uses a core), and one on the GPU profiles. Computed only when used.
CPU_JOBS = $(if $(filter quick smoke,$(PROFILE)),$(shell nproc 2>/dev/null || echo 1),1)
JOBS ?= $(or $(shell $(PY) -m experiments.launch.slots jobs --gpus $(call _q,GPUS) --runs-per-gpu \
	$(call _q,RUNS_PER_GPU) --cpu-jobs $(call _q,CPU_JOBS) 2>/dev/null),$(CPU_JOBS))
EXPERIMENT ?= degradation
RUNS_DIR ?= runs
DATA_DIR ?= data
# A report's place follows its runs folder, so that two runs folders' reports never replace each other: the
# default runs/ reports into reports/generated, any other RUNS_DIR into <RUNS_DIR>/reports; REPORTS_DIR= names
# another place.
REPORTS_DIR ?= $(if $(filter runs,$(RUNS_DIR)),reports/generated,$(RUNS_DIR)/reports)
# MODELS defaults to the experiment's list in experiments/configs/matrices.yaml (make report: the nets in RUNS_DIR).

# --- installation: one virtual environment, built once -------------------------------------------
$(STAMP): pyproject.toml
	@echo "==> installing into $(VENV) (once)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 \
		| { grep -v -e 'is ignored: it is neither a file nor a directory' -e BuildBackendWarning || true; }
	@touch $@

.PHONY: install
install: $(STAMP)

# The matrices live in YAML, the run folder's file names in runfolder/files.py; make reads both
# through this generated fragment (made after installation).
# Only goals that train or report read it: help, install, test, bench and clean-build must not build the
# environment just to generate it (a fresh clone's `make help` installs nothing).
MATRICES_MK := build/matrices.mk
$(MATRICES_MK): experiments/configs/matrices.yaml experiments/matrix.py runfolder/files.py | $(STAMP)
	@mkdir -p $(@D)
	@$(PY) -m experiments.matrix makefile > $@.$$$$.tmp && mv $@.$$$$.tmp $@  # pid: two makes may race here
NO_MATRIX_GOALS := help install test bench clean-build
ifneq ($(filter-out $(NO_MATRIX_GOALS),$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
include $(MATRICES_MK)
endif

# --- what make cannot hold, refused before anything runs ---------------------------------------------
# Make splits targets at whitespace and reads : ; | % in them as rule syntax, and expands $ in the paths it
# reads ('a$b' becomes 'a', silently; paths are not among LITERAL_VARS); ' is refused with $, as it always was.
# So a folder make turns into targets (RUNS_DIR, and EXPERIMENT, PROFILE, each of MODELS and SEEDS below it)
# holds none of them, and a folder only handed to commands (REPORTS_DIR when given, DATA_DIR) neither ' nor $.
# A symbolic link to a folder whose path holds them works.
TARGET_CHARS := : ; | % ' $$
QUOTED_CHARS := ' $$
# $(call _refuse,VAR,characters,kind): stop, naming VAR, if its value as given holds one of the characters, or
# whitespace (kind path: a target's path), or is empty (kinds path and folder); kind list: whitespace separates items.
_held = $(strip $(foreach c,$2,$(if $(findstring $c,$(value $1)),"$c")))
_flaw = $(or $(if $(filter list,$3),,$(if $(value $1),,is empty)),$(if $(filter path,$3),$(if $(filter-out 1,$(words \
	x$(value $1)x)),holds whitespace)),$(if $(call _held,$1,$2),holds $(call _held,$1,$2)))
_refuse = $(if $(call _flaw,$1,$2,$3),$(error $1 '$(value $1)' $(call _flaw,$1,$2,$3): $(if $(filter empty,$(call \
	_flaw,$1,$2,$3)),name a folder,make cannot hold that in a path; use $(if $(filter list,$3),names,a folder) \
	without $(if $(filter path,$3),whitespace or )$2)))
# A leading ~ that no shell expanded (quoted, or from the environment): make expands it in targets, Python does
# not, so the runs went to a folder named ~ in the checkout and make looked for them under $HOME.
_tilde = $(if $(filter ~%,$(value $1)),$(error $1 '$(value $1)' starts with a ~ that no shell expanded (it was \
	quoted?): write the folder's full path ($$HOME/... for ~/...)))
ifneq ($(filter-out help install test clean-build,$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
$(foreach v,RUNS_DIR DATA_DIR REPORTS_DIR,$(call _tilde,$v))
$(foreach v,RUNS_DIR EXPERIMENT PROFILE,$(call _refuse,$v,$(TARGET_CHARS),path))
$(foreach v,DATA_DIR $(if $(filter command line environment,$(origin REPORTS_DIR)),REPORTS_DIR),$(call \
	_refuse,$v,$(QUOTED_CHARS),folder))
$(foreach v,MODELS SEEDS,$(if $(filter command line environment,$(origin $v)),$(call _refuse,$v,$(TARGET_CHARS),list)))
endif

MODELS ?= $(MODELS_$(EXPERIMENT))
# Each model and seed once, in the order given; SEEDS separated by spaces or commas (the input check's grammar).
comma := ,
_uniq = $(if $1,$(firstword $1) $(call _uniq,$(filter-out $(firstword $1),$1)))
MODEL_LIST = $(strip $(call _uniq,$(MODELS)))
SEED_LIST := $(strip $(call _uniq,$(subst $(comma), ,$(SEEDS))))
RUN_ROOT := $(RUNS_DIR)/$(EXPERIMENT)/$(PROFILE)
RUNS := $(foreach m,$(MODEL_LIST),$(foreach s,$(SEED_LIST),$(RUN_ROOT)/$(m)/$(SEED_PREFIX)$(s)/$(RESULT_FILE)))
# SET="key=value ..." overrides profile fields for every run (checked before anything is trained).
SET ?=
# The tuning protocol (runfolder/tuning.py), on for `make methods` (TUNE= turns it off, TUNE=1 on elsewhere): every
# net also trains at each rate of LRS on the tuning seed, and at its best rate on SEEDS; the report holds the
# one-recipe board and the tuned one.
LRS ?= 0.025 0.05 0.1 0.2 0.4
TUNE ?= $(if $(filter methods,$(EXPERIMENT)),1)
TUNING_ARGS = $(if $(TUNE),--lrs $(call _q,LRS))
# DATA_DIR given by the user (command line or environment) must exist; the default is created on demand.
DATA_DIR_GIVEN := $(if $(filter command line environment,$(origin DATA_DIR)),--data-dir-given)
MATRIX_ARGS = --experiment $(call _q,EXPERIMENT) --profile $(call _q,PROFILE) --models $(call _q,MODEL_LIST) --seeds $(call _q,SEED_LIST) \
	--runs-dir $(call _q,RUNS_DIR) --data-dir $(call _q,DATA_DIR) --set $(call _q,SET) $(DATA_DIR_GIVEN)

# A failed run keeps its result.json (the report marks it) but is retried: it is always out of date, as is
# a damaged result.json (not a complete record). Diverged runs are results and are kept.
# $(wildcard) reads [ ] * ? as patterns: escaped, a RUNS_DIR holding them still finds its own runs.
_glob = $(subst [,\[,$(subst *,\*,$(subst ?,\?,$1)))
FOUND := $(wildcard $(call _glob,$(RUNS)))
FAILED := $(if $(FOUND),$(shell $(PY) -m experiments.run --not-done $(foreach r,$(FOUND),$(call _q,r))))
$(FAILED): FORCE
FORCE:
# A result.json is never deleted by make: not on Ctrl-C (a finished run, or one another make trained, would
# be lost), not when a run exits non-zero (a failed run's result.json records the failure).
.PRECIOUS: $(RUNS_DIR)/%/$(RESULT_FILE)

# Position of a run in the matrix, for the "[3/10]" progress lines: $(call _index,$@,$(RUNS)). make names a
# target ./x/... (or .//x/...) as x/... in $@, so the list is compared as make spells it.
_index = $(call _position,$1,$(call _as_target,$2))
_position = $(if $(filter $1,$(firstword $2)),$(words $3 x),$(if $2,$(call _position,$1,$(wordlist 2,$(words $2),$2),$3 x),?))
_as_target = $(if $(filter ./%,$1),$(call _as_target,$(call _no_slash,$(patsubst ./%,%,$1))),$1)
_no_slash = $(if $(filter /%,$1),$(call _no_slash,$(patsubst /%,%,$1)),$1)

# --- where runs train: here (default), as SLURM jobs (srun) or as one SLURM job array (sbatch) ---------
# LAUNCHER=      each run trains on this machine, on a GPU slot of its own when there are GPUs
#                (experiments/launch/slots.py: GPUS picks the devices, RUNS_PER_GPU runs may share one);
# LAUNCHER=srun  each run target is one SLURM job (srun; -j N: at most N queued or running at once);
# LAUNCHER=sbatch  `make <experiment>` submits the runs not done as one job array and returns
#                (experiments/launch/slurm.py); the same command later writes the report once all are done.
# CPUS_PER_RUN, MEM_PER_RUN, TIME_PER_RUN: each SLURM job's --cpus-per-task (empty: what a run uses, 1 on the
# CPU profiles), --mem, --time (empty: the partition's default); a request SLURM could never run is refused
# before anything is submitted (srun/sbatch --test-only); one GPU (--gres=gpu:1) when the profile wants one; SLURM_ARGS: any other option.
LAUNCHER ?=
GPUS ?=
RUNS_PER_GPU ?= 1
CPUS_PER_RUN ?=
MEM_PER_RUN ?=
TIME_PER_RUN ?=
SLURM_ARGS ?=
# ARRAY_LIMIT=N: at most N of the sbatch array's tasks run at once (--array=...%N; not --array in SLURM_ARGS).
ARRAY_LIMIT ?=
SLURM_VARS = --launcher $(call _q,LAUNCHER) --experiment $(call _q,EXPERIMENT) --profile $(call _q,PROFILE) --set $(call _q,SET) \
	--cpus $(call _q,CPUS_PER_RUN) --mem $(call _q,MEM_PER_RUN) --time $(call _q,TIME_PER_RUN) --slurm-args=$(call _q,SLURM_ARGS) \
	--array-limit $(call _q,ARRAY_LIMIT)
# Expanded when a run's recipe runs (after installation): srun's options for one run.
SRUN = srun $(or $(shell $(PY) -m experiments.launch.slurm srun-args $(SLURM_VARS)),$(error LAUNCHER=srun: no srun options))
LAUNCH = $(if $(filter srun,$(LAUNCHER)),$(SRUN))

ifdef RESULT_FILE  # the run rules exist for the goals that read build/matrices.mk
$(RUNS_DIR)/%/$(RESULT_FILE): | $(STAMP)
	@$(LAUNCH) $(PY) -m experiments.run --run-dir $(call _q,@D) --data-dir $(call _q,DATA_DIR) $(foreach s,$(SET),--set $(call _q,s)) \
		--progress $(call _index,$@,$(RUNS))/$(words $(RUNS)) --gpus $(call _q,GPUS) --runs-per-gpu $(call _q,RUNS_PER_GPU) \
		$(if $(filter srun,$(LAUNCHER)),--slurm-requeue)

# Files measured on a finished run's checkpoint, without training (RUN_OUTPUTS asks the matrix for them).
$(RUNS_DIR)/%/$(LAYER_RESPONSES_FILE): $(RUNS_DIR)/%/$(RESULT_FILE) | $(STAMP)
	@$(PY) -m experiments.responses --run-dir $(call _q,@D) --data-dir $(call _q,DATA_DIR)
endif

# --- the experiments -----------------------------------------------------------------------------
.PHONY: degradation shortcut-ablation depth-sweep methods layer-responses matrix runs report
degradation shortcut-ablation depth-sweep methods:
	@$(MAKE) --no-print-directory matrix EXPERIMENT=$@

# Paper Fig. 7: the nets it shows, trained (or reused) as degradation runs, then each one's layer responses
# from its checkpoint; the degradation report covers every run in its folder, these included.
# MODELS, where given, names the nets instead.
LAYER_RESPONSE_MODELS ?= plain-20 plain-56 resnet-20 resnet-56 resnet-110
LAYER_RESPONSE_NETS = $(if $(filter command line environment,$(origin MODELS)),$(MODELS),$(LAYER_RESPONSE_MODELS))
layer-responses:
	@$(MAKE) --no-print-directory matrix EXPERIMENT=degradation MODELS=$(call _q,LAYER_RESPONSE_NETS) \
		RUN_OUTPUTS=$(call _q,LAYER_RESPONSES_FILE)

# Check the input (nothing is written on bad input), fetch the data once, train every run (-k: a failed
# run does not stop the others), render the report, then fail if any run failed, naming it.
# LAUNCHER=sbatch: submit the runs neither done nor queued as one array; go on to the report only when all are done.
# With TUNE, the runs come in steps (the tuning grid, an end's extension, the reported seeds at the chosen rate),
# each known once the one before has finished: make trains what the plan names, then asks again until it stops growing
# (on this machine the pool does the asking: POOL_PLAN). The pool's exit 4 (no run could train: bad JOBS, data
# settings every run refuses, said once) stops here, before a report of runs that were never going to train.
# Each step trains every run of the plan not yet done (a run that failed in an earlier step is retried): the last
# step's outcome is the matrix's.
# make runs a recipe line that holds $(MAKE) even under -n, -t or -q (a dry run, touch, question): this one would
# train the whole matrix, so under those it lists the runs instead.
DRY_RUN = $(strip $(foreach f,n t q,$(findstring $f,$(firstword -$(MAKEFLAGS)))))
# The input checks (they write nothing): run first, and under make -n as well, where only the line that holds
# $(MAKE) runs.
MATRIX_CHECK = $(PY) -m experiments.matrix check $(MATRIX_ARGS) $(TUNING_ARGS) --tune $(call _q,TUNE) \
	$(if $(filter command line,$(origin LRS)),--lrs-given) \
	--reports-dir $(call _q,REPORTS_DIR) $(if $(RUN_OUTPUTS),--outputs $(call _q,RUN_OUTPUTS))
LAUNCH_CHECK = $(PY) -m experiments.launch check $(SLURM_VARS) --gpus $(call _q,GPUS) --runs-per-gpu \
	$(call _q,RUNS_PER_GPU) --jobs $(call _q,POOL_JOBS)
# set -f: the run paths in $$runs are words, never patterns (RUNS_DIR=/tmp/r? had trained the runs of /tmp/rX).
matrix: | $(STAMP)
	@$(MATRIX_CHECK)
	@$(LAUNCH_CHECK)
	@$(PY) -m experiments.data prepare --profile $(call _q,PROFILE) --data-dir $(call _q,DATA_DIR) --set $(call _q,SET)
	@set -f; status=0; runs=$(call _q,RUNS); \
	 $(if $(DRY_RUN),$(MATRIX_CHECK) || exit 2; $(LAUNCH_CHECK) || exit 2; \
		printf '%s\n' "make -n/-t/-q: no run trained; the matrix's reported runs:" $$runs \
		$(if $(TUNE),"and the tuning protocol's runs (known step by step)"); exit 0;) \
	 $(if $(TUNE),runs=$$($(PY) -m experiments.matrix plan $(MATRIX_ARGS) $(TUNING_ARGS)) || exit 2;) \
	 while :; do \
	 $(if $(filter sbatch,$(LAUNCHER)),$(PY) -m experiments.launch.slurm submit $(SLURM_VARS) --runs "$$runs" \
		--runs-dir $(call _q,RUNS_DIR) --data-dir $(call _q,DATA_DIR) --python $(call _q,PY) || { s=$$?; [ $$s = 3 ] && exit 0; exit $$s; };) \
	 status=0; $(if $(filter srun,$(LAUNCHER)),$(MAKE) --no-print-directory -k $(if $(findstring -j,$(MAKEFLAGS)),,-j$(JOBS)) \
		runs RUNS="$$runs",$(POOL) $$runs $(POOL_PLAN)) || status=$$?; [ $$status -lt 128 ] || exit $$status; \
	 [ $$status != 4 ] || exit 2; \
	 $(if $(RUN_OUTPUTS),$(MAKE) --no-print-directory -k -j$(POOL_JOBS) runs RUNS="$$runs" LAUNCHER= || status=$$?;) \
	 $(if $(and $(TUNE),$(if $(POOL_PLAN),,1)),more=$$($(PY) -m experiments.matrix plan $(MATRIX_ARGS) $(TUNING_ARGS)) \
		|| exit 2; [ "$$more" = "$$runs" ] && break; runs=$$more,break); \
	 done; \
	 $(MAKE) --no-print-directory report MODELS=$(call _q,MODEL_LIST) || status=1; \
	 $(PY) -m experiments.matrix status $(MATRIX_ARGS) $(TUNING_ARGS) || status=1; \
	 exit $$status

runs: $(RUNS) $(foreach f,$(RUN_OUTPUTS),$(RUNS:$(RESULT_FILE)=$(f)))

# Runs that train here go through one pool process (experiments/pool.py): each run is a fork of a process that has
# imported torch and Lightning once, the same run as its make target's recipe, without ~6 s of start-up each.
# -j N (or JOBS) runs at once; LAUNCHER=srun keeps one make target (one SLURM job) per run.
POOL_JOBS = $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),$(JOBS))
POOL = $(PY) -m experiments.pool --jobs $(call _q,POOL_JOBS) --data-dir $(call _q,DATA_DIR) \
	$(foreach s,$(SET),--set $(call _q,s)) --gpus $(call _q,GPUS) --runs-per-gpu $(call _q,RUNS_PER_GPU)
# With TUNE, the pool steps through the tuning protocol itself (asks the plan again, in-process, after each step),
# rather than make starting a pool, and its imports, per step; not where the runs train elsewhere (LAUNCHER) or
# make measures files on each step's runs (RUN_OUTPUTS).
POOL_PLAN = $(if $(and $(TUNE),$(if $(LAUNCHER)$(RUN_OUTPUTS),,1)),--plan $(MATRIX_ARGS) $(TUNING_ARGS))

# Every run in the experiment's folder is reported; MODELS decides which absent runs count as missing.
# With TUNE and no LRS given, the tuned board follows the grid the runs were planned with (runfolder/tuning.py's
# GRID_FILE), not the default one.
report: | $(STAMP)
	@$(PY) -m reports.build --experiment $(call _q,EXPERIMENT) --profile $(call _q,PROFILE) \
		--runs-dir $(call _q,RUNS_DIR) --out-dir $(call _q,REPORTS_DIR) $(REPORT_MODELS) $(REPORT_SEEDS) \
		--tune $(call _q,TUNE) $(if $(TUNE),$(if $(filter command line environment,$(origin LRS)),$(TUNING_ARGS)))

# Runs of the given models and seeds are expected (missing ones are counted); by default, the nets and seeds found
# on disk: `make report` re-renders what the runs folder holds, not the experiment's default matrix (whose nets not
# trained there would fill page 1 as missing). The matrix's own report (above) names its MODELS.
REPORT_MODELS = $(if $(filter command line environment,$(origin MODELS)),--models $(call _q,MODEL_LIST))
REPORT_SEEDS = $(if $(filter command line environment,$(origin SEEDS)),--seeds $(call _q,SEED_LIST))

# --- checks --------------------------------------------------------------------------------------
.PHONY: test bench help clean-build
# The tests in TEST_JOBS processes (pytest-xdist; auto: one per CPU core, at most 4), a module at a time each,
# the slowest first (tests/conftest.py); TEST_JOBS=0 runs them in this one process.
TEST_JOBS ?= auto
test: | $(STAMP)
	@$(PY) -m pytest -q $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --maxprocesses 4 --dist loadscope \
		--no-loadscope-reorder) tests

# About 1 minute on 2 quiet cores; BENCH_ARGS=--with-matrix adds the timed `make degradation` (about 5 minutes).
bench: | $(STAMP)
	@$(PY) -m bench --out-dir $(call _q,REPORTS_DIR)/bench $(BENCH_ARGS)

help:
	@sed -n '/^#/!q;s/^# \{0,1\}//;p' Makefile

clean-build:
	rm -rf build
