"""The matrix on a SLURM cluster: each run as one SLURM job (``LAUNCHER=srun``) or the runs not done as one
job array (``LAUNCHER=sbatch``); and what a run needs to know when SLURM started it.

    make degradation LAUNCHER=srun -j 8 ...   # each run target: srun <resources> python -m experiments.run ...
    make degradation LAUNCHER=sbatch ...      # python -m experiments.launch.slurm submit ...: one array, returns at once

SLURM does all the scheduling: the suite adds no queue of its own. The run folders stay the only state
(a run with a result.json is done) plus, for arrays, one list file per submitted array under
``<RUNS_DIR>/.slurm/`` (line i: the run folder of array task i), named in the job's comment so that
``squeue`` tells which runs are queued or running.

Preemption and time limits (sbatch): the array is submitted with ``--requeue --signal=USR1@120``; SLURM
signals the run's job step 120 s before the time limit (or ``scancel --signal=USR1`` does, or a site's
preemption). The run (``RequeueOnSignal``, experiments/training/callbacks.py) finishes its step, writes
``checkpoints/last.ckpt`` of where it is, requeues its array task (:func:`requeue`, ``scontrol requeue``)
and says so; SLURM then stops the step. The requeued task trains the same run folder, which resumes from
that checkpoint exactly: a preempted allocation loses nothing trained before the signal. A time limit
shorter than the signal's lead plus SLURM's minute of slack and some training is refused
(:func:`check_signal_lead`). Lightning's own answer to the signal (``auto_requeue``, a checkpoint
``hpc_ckpt_*.ckpt`` written from inside the signal handler, mid-step) is off.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..config import ConfigError, RunConfig, ascii_digits, load_profile
from .threads import cpus_per_run

REQUEUE_SIGNAL = signal.SIGUSR1  # sbatch --signal and SLURMEnvironment(requeue_signal=...) both use this
SIGNAL_LEAD_SECONDS = 120  # how long before its time limit a job is signalled: a checkpoint at most, then requeue
SIGNAL_SLACK_SECONDS = 60  # SLURM may signal up to this much earlier than asked (it checks once a minute)
MIN_TIME_SECONDS = 300  # an array task's shortest time limit: the lead, the slack and two minutes to train
ARRAY_SCRIPT = Path(__file__).resolve().parent / "array.sh"
EXIT_PENDING = 3  # `submit`: runs are queued or running (make then ends without a report)
SRUN_WARNING = "The `srun` command is available on your system but is not used"  # Lightning's, on every run


# ----------------------------------------------------------------------------------------------------
# The run's side: inside a SLURM job step, or not
# ----------------------------------------------------------------------------------------------------
def in_step() -> bool:
    """SLURM placed this process: a job step's task (srun, also srun inside an sbatch job).

    Not in a step of a job named "bash" or "interactive" (``srun --pty bash``, an interactive allocation):
    Lightning takes those for a shell in which the user launches processes by hand, and so does the suite
    (a ``make -j N`` there shares the allocation's GPUs out in device slots, as on any machine).
    """
    env = os.environ
    return ("SLURM_STEP_ID" in env and "SLURM_JOB_ID" in env
            and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"))


def job() -> dict | None:
    """The SLURM job a run trains in, for config.yaml and result.json; None outside SLURM.

    ``job_id`` is the one to give squeue/sacct/scancel: ``<array job>_<task>`` for an array task.
    ``gpus``: the node's GPU numbers SLURM allocated (None when the job has none).
    """
    if not in_step():
        return None
    env = os.environ
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    return {
        "job_id": f"{array}_{task}" if array and task else env["SLURM_JOB_ID"],
        "array_job_id": array,
        "array_task_id": int(task) if task and ascii_digits(task) else None,
        "restart_count": int(env.get("SLURM_RESTART_COUNT") or 0),
        "node": env.get("SLURMD_NODENAME"),
        "gpus": env.get("SLURM_STEP_GPUS") or env.get("SLURM_JOB_GPUS"),
        "cluster": env.get("SLURM_CLUSTER_NAME"),
    }


def where(record: dict) -> str:
    """``node7 GPU 3 (SLURM job 1234_5)``, for the progress line."""
    gpu = f" GPU {record['gpus']}" if record.get("gpus") else ""
    return f"{record.get('node')}{gpu} (SLURM job {record['job_id']})"


def cluster_environment():
    """Lightning's cluster environment for this process: SLURM's in a job step, the plain one elsewhere.

    Outside SLURM with SLURM's tools installed (a login node, a workstation), Lightning warns on every run
    that ``srun`` "is available but not used": that one warning is filtered here, nothing else.
    Lightning's own answer to the requeue signal (``auto_requeue``) is off: it saves a checkpoint in the
    middle of a step, from inside the signal handler; the run's own (experiments/training/callbacks.py,
    ``RequeueOnSignal``) checkpoints at the next step boundary, then calls :func:`requeue`.
    """
    import warnings

    from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment

    if in_step():
        return SLURMEnvironment(auto_requeue=False, requeue_signal=REQUEUE_SIGNAL)
    warnings.filterwarnings("ignore", message=f"{SRUN_WARNING}.*")
    return LightningEnvironment()


_EARLY_SIGNAL: list[bool] = []  # the requeue signal came before training answered it (listen_early)


def listen_early() -> None:
    """Note SLURM's requeue signal from the run's first moments (experiments.run's main, before its imports and
    data): its default action would end the task silently, neither checkpointed nor requeued. Training's own
    handler (experiments/training/callbacks.py RequeueOnSignal) takes over and answers it at its first step."""
    signal.signal(REQUEUE_SIGNAL, lambda signum, frame: _EARLY_SIGNAL.append(True))


def signalled_early() -> bool:
    """Whether the requeue signal came while :func:`listen_early`'s handler held it."""
    return bool(_EARLY_SIGNAL)


def requeue() -> str | None:
    """Requeue the job this process is a step of (``scontrol requeue``, as Lightning's auto-requeue does):
    None when SLURM took it, else SLURM's reason (a job submitted with ``--no-requeue``, say)."""
    record = job()
    if record is None:
        return "not in a SLURM job step"
    try:
        out = subprocess.run(["scontrol", "requeue", record["job_id"]], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if out.returncode == 0 else (out.stderr.strip() or out.stdout.strip() or f"exit {out.returncode}")


# ----------------------------------------------------------------------------------------------------
# The launchers' side: resources, the srun options, the sbatch array
# ----------------------------------------------------------------------------------------------------
def wants_gpu(config: RunConfig) -> bool:
    """A profile wants a GPU when it asks for one or for settings that only act on one (mixed precision,
    torch.compile, CUDA graphs): the paper and imagenet profiles; smoke and quick train on CPUs."""
    return (config.accelerator in ("gpu", "cuda") or config.precision != "32-true" or config.compile
            or config.cuda_graph)


def resources(config: RunConfig, cpus: str, mem: str, time_limit: str) -> list[str]:
    """srun/sbatch options for one run: one task, its CPUs, memory and time, one GPU if the profile wants one.
    Empty ``cpus``: what the run uses (its ``threads`` and DataLoader ``workers``: 1 on the CPU profiles);
    empty ``mem``/``time_limit``: the partition's defaults. ConfigError on a malformed value, or on fewer CPUs
    than the run computes with (its threads would share them, and a run's numbers do not depend on its CPUs)."""
    cpus = cpus or str(cpus_per_run(config))
    if not ascii_digits(cpus) or int(cpus) < 1:
        raise ConfigError(f"bad CPUS_PER_RUN {cpus!r}: expected an integer >= 1 (srun/sbatch --cpus-per-task)")
    if int(cpus) < cpus_per_run(config):
        raise ConfigError(f"bad CPUS_PER_RUN {cpus!r}: a run computes with {cpus_per_run(config)} (its threads and "
                          f"DataLoader workers); ask for at least that, or lower SET threads=")
    for name, value in (("MEM_PER_RUN", mem), ("TIME_PER_RUN", time_limit)):
        if value and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ConfigError(f"bad {name} {value!r}: expected one SLURM value, e.g. MEM_PER_RUN=16G, "
                              "TIME_PER_RUN=4:00:00 (empty: the partition's default)")
    time_seconds(time_limit)  # one of SLURM's spellings of a time, for either launcher
    args = ["--ntasks=1", f"--cpus-per-task={cpus}"]
    args += [f"--mem={mem}"] if mem else []
    args += [f"--time={time_limit}"] if time_limit else []
    args += ["--gres=gpu:1"] if wants_gpu(config) else []
    return args


def time_seconds(text: str) -> int | None:
    """A SLURM ``--time`` value in seconds: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``; None
    for empty (the partition's default), INFINITE or UNLIMITED. ConfigError when malformed."""
    if not text or text.upper() in ("INFINITE", "UNLIMITED"):
        return None
    days, _, rest = text.rpartition("-")
    parts = rest.split(":")
    if len(parts) > 3 or not all(ascii_digits(p) for p in parts) or (_ and not ascii_digits(days)):
        raise ConfigError(f"bad TIME_PER_RUN {text!r}: expected SLURM's minutes, minutes:seconds, hours:minutes:seconds, "
                          "days-hours, days-hours:minutes or days-hours:minutes:seconds")
    n = [int(p) for p in parts]
    if days or _:
        hours, minutes, seconds = (n + [0, 0])[:3]
    else:
        hours, minutes, seconds = ([0] * (3 - len(n)) + n) if len(n) == 3 else (0, *(n + [0])[:2])
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def check_signal_lead(time_limit: str) -> None:
    """The sbatch array's time limit leaves room for its requeue signal (``--signal=USR1@<lead>``) and for
    training before it; ConfigError naming the shortest one that does. (A limit shorter than the lead got its
    signal at once, and requeued with nothing trained, or none and ended TIMEOUT.)"""
    seconds = time_seconds(time_limit)
    if seconds is not None and seconds < MIN_TIME_SECONDS:
        raise ConfigError(
            f"bad TIME_PER_RUN {time_limit!r} for LAUNCHER=sbatch: each task is signalled {SIGNAL_LEAD_SECONDS} s before "
            f"its time limit (up to {SIGNAL_SLACK_SECONDS} s earlier: SLURM checks once a minute) to checkpoint and "
            f"requeue, which leaves too little to train; give at least {MIN_TIME_SECONDS // 60} minutes "
            f"(TIME_PER_RUN={MIN_TIME_SECONDS // 60}), or none for the partition's default")


# Options the suite sets itself, each with its own variable, refused in SLURM_ARGS (given there, it would come
# last and win): {long option: (short option, why and what to use instead)}.
OWNED_OPTIONS = {
    "--array": ("-a", "the suite submits the array itself (one task per run not done); to limit the tasks running "
                      "at once, use ARRAY_LIMIT=N"),
    "--time": ("-t", "give each job's time limit as TIME_PER_RUN (e.g. TIME_PER_RUN=4:00:00), which is checked "
                     f"against the sbatch array's requeue signal (at least {MIN_TIME_SECONDS // 60} minutes)"),
    "--comment": (None, "the suite names each array's run list in the job's comment and reads it back to know "
                        "which runs are queued (another comment would submit them again); tag jobs with --job-name"),
}
# Options the sbatch array sets itself (srun runs in the foreground: there they are the user's).
SBATCH_OWNED_OPTIONS = {
    "--signal": (None, f"the suite asks for SIGUSR1 {SIGNAL_LEAD_SECONDS} s before a time limit or preemption, on "
                       "which a run checkpoints and requeues itself; another signal would end it without a checkpoint"),
    "--requeue": (None, "the suite submits every array with --requeue, which a run's requeue depends on"),
    "--no-requeue": (None, "a run requeues itself on SLURM's warning signal, which --no-requeue forbids"),
    "--output": ("-o", "the suite writes each task's log where make reads it back to name a run that failed"),
    "--error": ("-e", "the suite keeps each task's errors in its log, where make reads them back"),
    "--open-mode": (None, "a requeued task appends to its log (--open-mode=append), so that no attempt's lines "
                          "are lost"),
    "--test-only": (None, "sbatch then submits nothing, and make would wait for an array that never runs; "
                          "`make -n` shows what would be submitted"),
}
# The shortest abbreviation of each long option refused here ("--ar" is --array to getopt_long); shorter ones
# are ambiguous in srun and sbatch, which refuse them themselves (so are some refused here, such as "--tim",
# which --time-min shares: refusing them too costs nothing).
SHORTEST_PREFIX = {"--array": 4, "--time": 5, "--comment": 5, "--signal": 5, "--requeue": 6, "--no-requeue": 6,
                   "--output": 5, "--error": 5, "--open-mode": 6, "--test-only": 6}
# srun's and sbatch's short options that take no value, which may precede another in one word (``-Qt 5``).
FLAG_LETTERS = set("EhHklOQsuvVXZ")


def _names_option(arg: str, long: str, short: str | None) -> bool:
    """``arg`` (one word of SLURM_ARGS) gives the option ``long``/``short`` in any of getopt's spellings:
    ``--time``, ``--time=5``, an abbreviation (``--tim=5``, from :data:`SHORTEST_PREFIX` on), ``-t``, ``-t5``,
    ``-Qt5`` (short flags before it in one word)."""
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
        return long.startswith(name) and len(name) >= SHORTEST_PREFIX.get(long, len(long))
    if short is None:
        return False
    letters = arg[1:] if arg.startswith("-") else ""
    for letter in letters:
        if letter == short[1]:
            return True
        if letter not in FLAG_LETTERS:
            return False
    return False


def parse_slurm_args(text: str, launcher: str = "sbatch") -> list[str]:
    """SLURM_ARGS as options; ConfigError when malformed or when it holds an option the suite sets itself
    (:data:`OWNED_OPTIONS`: ``--array``, ``--time``, ``--comment``; for ``launcher`` sbatch also
    :data:`SBATCH_OWNED_OPTIONS`: the requeue signal, the logs make reads, ``--test-only``)."""
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"bad SLURM_ARGS {text!r}: {exc}") from None
    owned = {**OWNED_OPTIONS, **(SBATCH_OWNED_OPTIONS if launcher == "sbatch" else {})}
    for long, (short, why) in owned.items():
        if any(_names_option(a, long, short) for a in args):
            raise ConfigError(f"bad SLURM_ARGS {text!r}: it sets {long}{f' ({short})' if short else ''}; {why}")
    return args


def parse_array_limit(text: str) -> str:
    """ARRAY_LIMIT: empty (no limit) or the most array tasks running at once (sbatch ``--array=...%N``)."""
    if text and (not ascii_digits(text) or int(text) < 1):
        raise ConfigError(f"bad ARRAY_LIMIT {text!r}: expected an integer >= 1, the most array tasks running at once "
                          "(empty: no limit)")
    return text


def _need(tool: str, launcher: str) -> None:
    if shutil.which(tool) is None:
        raise ConfigError(f"LAUNCHER={launcher} needs SLURM's `{tool}`, which is not on PATH here; "
                          "valid LAUNCHER values: srun, sbatch (on a SLURM login node), empty (train here)")


# What srun/sbatch print when there is no cluster to ask (no slurm.conf, a controller that does not answer):
# not a request SLURM refused, so no resource advice.
UNREACHABLE = ("configuration source", "Unable to process configuration file", "Unable to contact slurm controller",
               "Connection refused", "Socket timed out", "Zero Bytes were transmitted")


def probe(launcher: str, options: list[str]) -> None:
    """Ask SLURM (``srun``/``sbatch --test-only``) whether a job with these options could ever run; ConfigError
    with SLURM's reason when not (more CPUs or memory than any node of the partition has, an unknown partition
    or account...), so that nothing is submitted that would pend for ever."""
    command = [launcher, "--test-only", *options, *(["true"] if launcher == "srun" else ["--wrap=true"])]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        lines = [line for line in (out.stderr + out.stdout).splitlines() if line.strip()]
        text = " ".join(lines)
        if any(sign in text for sign in UNREACHABLE):
            raise ConfigError(f"LAUNCHER={launcher}: SLURM is not reachable from here: "
                              f"{lines[-1].strip()} ({launcher} --test-only); run make on a login node of a "
                              "configured cluster (SLURM_CONF names its slurm.conf), or leave LAUNCHER empty to "
                              "train here")
        raise ConfigError(f"LAUNCHER={launcher}: SLURM can never run a job of {shlex.join(options)}: "
                          f"{lines[-1].strip() if lines else f'exit {out.returncode}'} ({launcher} --test-only); "
                          "ask for what the partition's nodes have (CPUS_PER_RUN, MEM_PER_RUN, TIME_PER_RUN, SLURM_ARGS)")


# Reasons a pending job gives that will not clear by waiting (SLURM's squeue(1), "JOB REASON CODES").
NEVER_CLEARS = {
    "PartitionConfig": "it asks for more than the partition's nodes have or its limits allow",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionTimeLimit": "it asks for more time than the partition allows",
    "BadConstraints": "no node satisfies its constraints",
    "InvalidAccount": "its account is not valid",
    "InvalidQOS": "its QOS is not valid",
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
}


def _slurm_dir(runs_dir: Path) -> Path:
    return runs_dir / ".slurm"


def queued(runs_dir: Path) -> dict[Path, tuple[str, str]]:
    """Run folders (resolved) that a pending or running array task of this user will train:
    {folder: (job id, the reason it pends: "" when running)}.

    squeue lists every task (``-r``) with its job's comment, the list file the array was submitted with.
    """
    # The account SLURM records for this process (its real uid), not $USER/$LOGNAME, which sudo -E keeps.
    out = subprocess.run(["squeue", "-h", "-r", "-u", pwd.getpwuid(os.getuid()).pw_name, "-o", "%i|%K|%T|%r|%k"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"squeue failed: {out.stderr.strip()}")
    slurm_dir = _slurm_dir(runs_dir).resolve()
    found: dict[Path, tuple[str, str]] = {}
    lists: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        job_id, task, state, reason, comment = (line.split("|", 4) + [""] * 4)[:5]
        path = Path(comment)
        if not ascii_digits(task) or path.parent != slurm_dir or not path.is_file():
            continue
        if comment not in lists:
            lists[comment] = path.read_text().splitlines()
        entries = lists[comment]
        if int(task) < len(entries):
            found[Path(entries[int(task)].split("\t")[0]).resolve()] = (job_id, reason if state == "PENDING" else "")
    return found


JOB_SUFFIX = ".job"  # beside an array's run list: the array's job id, once sbatch took it


def _last_logs(slurm_dir: Path, folders: set[Path]) -> dict[Path, Path]:
    """Each of ``folders`` (resolved run folders) -> the log of the latest array task that trained it (the run
    lists whose job id is known, oldest first)."""
    out: dict[Path, Path] = {}
    for listing in sorted(slurm_dir.glob("*.runs"), key=lambda p: p.stat().st_mtime):
        job = listing.with_suffix(JOB_SUFFIX)
        if not job.is_file():
            continue
        job_id = job.read_text().strip()
        for i, line in enumerate(listing.read_text().splitlines()):
            folder = Path(line.split("\t")[0]).resolve()
            if folder in folders:
                out[folder] = slurm_dir / f"{job_id}_{i}.out"
    return out


def _failures(slurm_dir: Path, todo: list[Path]) -> list[str]:
    """The runs of ``todo`` (result.json paths, neither done nor queued) whose last attempt failed, in one line
    each: a result.json of status failed (its error.txt's last line), or a task whose log's last ``error:``
    line says the run refused to start. A run cancelled, killed or interrupted is not a failure: it resumes."""
    from runfolder import ERROR, read_status

    logs = _last_logs(slurm_dir, {r.parent.resolve() for r in todo})
    lines = []
    for r in todo:
        folder = r.parent.resolve()
        log = logs.get(folder)
        where = f" (log: {log})" if log is not None else ""
        if read_status(r) == "failed":
            error = folder / ERROR
            text = error.read_text(errors="replace").strip().splitlines() if error.is_file() else []
            lines.append(f"FAILED: {folder}: {text[-1] if text else 'failed'}{where}")
        elif log is not None and log.is_file():
            said = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("error: ")]
            if said:
                lines.append(f"FAILED: {folder}: refused to start: {said[-1][len('error: '):]}{where}")
    return lines


def max_array_size() -> int | None:
    """The cluster's MaxArraySize (``scontrol show config``: an array's indices must be below it; SLURM's default
    1001), None where scontrol cannot tell (then one array, and sbatch says if it is too large)."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and ascii_digits(value := value.strip()) and int(value) > 0:
            return int(value)
    return None


def submit(args) -> int:
    """Submit the runs of ``args.runs`` (result.json paths) that are neither done nor queued as one array (as
    several where they are more than the cluster's MaxArraySize, :func:`max_array_size`).

    Returns 0 when every run is done (make renders the report), EXIT_PENDING when runs are queued or
    running, 1 when sbatch refused the array, a run pends for a reason that will never clear, or a run failed
    in its last attempt (named, with its error and log; submitted again with the others, as a local make
    retries a failed run, so that every make says it until it trains).
    """
    from runfolder import done_status
    from runfolder.io import exclusive_lock

    config = load_profile(args.profile, args.set.split() if args.set else None)
    slurm_args = parse_slurm_args(args.slurm_args)
    sbatch_resources = resources(config, args.cpus, args.mem, args.time)
    check_signal_lead(args.time)
    limit = parse_array_limit(args.array_limit)
    _need("sbatch", "sbatch"), _need("squeue", "sbatch")
    runs = [Path(r) for r in args.runs.split()]
    position = {r: i + 1 for i, r in enumerate(runs)}
    not_done = [r for r in runs if done_status(r.parent) is None]
    if not not_done:
        return 0
    runs_dir = Path(args.runs_dir)
    slurm_dir = _slurm_dir(runs_dir)
    slurm_dir.mkdir(parents=True, exist_ok=True)
    # One make at a time reads the queue and submits: two at once had both submitted the same runs.
    with exclusive_lock(slurm_dir / "submit.lock",
                        on_wait=lambda: print(f"==> waiting for another make submitting runs of {runs_dir}")):
        in_queue = queued(runs_dir)
        waiting = sorted({in_queue[r.parent.resolve()] for r in not_done if r.parent.resolve() in in_queue})
        todo = [r for r in not_done if r.parent.resolve() not in in_queue]
        label = f"{args.experiment} ({args.profile})"
        stuck = [(job, reason) for job, reason in waiting if reason in NEVER_CLEARS]
        if stuck:
            reasons = sorted({reason for _, reason in stuck})
            print(f"error: {label}: {len(stuck)} run(s) pending in SLURM job(s) {', '.join(j for j, _ in stuck)} "
                  f"for a reason that never clears ({'; '.join(f'{r}: {NEVER_CLEARS[r]}' for r in reasons)}); "
                  f"cancel them (scancel {' '.join(sorted({j.split('_')[0] for j, _ in stuck}))}) and run make again "
                  "with what the partition has (CPUS_PER_RUN, MEM_PER_RUN, TIME_PER_RUN, SLURM_ARGS)", file=sys.stderr)
            return 1
        if waiting:
            print(f"==> {label}: {len(not_done) - len(todo)} run(s) queued or running in SLURM job(s) "
                  f"{', '.join(job for job, _ in waiting)}; not submitted again")
        failures = _failures(slurm_dir, todo)
        for line in failures:
            print(line, file=sys.stderr)
        if todo:
            cap = max_array_size()  # SLURM refuses an array index at or above it: more runs go as more arrays
            parts = [todo[i:i + cap] for i in range(0, len(todo), cap)] if cap else [todo]
            if len(parts) > 1:
                print(f"==> {label}: {len(todo)} runs, more than the cluster's MaxArraySize ({cap}) allows in one "
                      f"array: submitted as {len(parts)} arrays")
            command = [str(Path(args.python).absolute()), "-m", "experiments.run", "--data-dir", args.data_dir,
                       *[a for kv in (args.set.split() if args.set else []) for a in ("--set", kv)],
                       "--slurm-requeue"]
            for k, part in enumerate(parts):
                stamp = time.strftime("%Y%m%d-%H%M%S")
                listing = (slurm_dir / f"{args.experiment}-{args.profile}-{stamp}-{os.getpid()}"
                           f"{f'-{k + 1}' if len(parts) > 1 else ''}.runs").resolve()
                listing.write_text("".join(f"{r.parent.resolve()}\t{position[r]}/{len(runs)}\n" for r in part))
                sbatch = ["sbatch", "--parsable", f"--job-name={args.experiment}-{args.profile}",
                          f"--array=0-{len(part) - 1}{f'%{limit}' if limit else ''}", *sbatch_resources, "--requeue",
                          f"--signal={REQUEUE_SIGNAL.name[3:]}@{SIGNAL_LEAD_SECONDS}", "--open-mode=append",
                          f"--output={slurm_dir.resolve()}/%A_%a.out", f"--comment={listing}", *slurm_args,
                          str(ARRAY_SCRIPT), str(listing), *command]
                out = subprocess.run(sbatch, capture_output=True, text=True, timeout=120)
                if out.returncode != 0:
                    listing.unlink(missing_ok=True)
                    before = f" ({k} of the {len(parts)} arrays submitted before it)" if k else ""
                    print(f"error: sbatch refused the array{before}: {out.stderr.strip() or out.stdout.strip()}\n"
                          f"    command: {shlex.join(sbatch)}", file=sys.stderr)
                    return 1
                job_id = out.stdout.strip().split(";")[0]
                listing.with_suffix(JOB_SUFFIX).write_text(job_id + "\n")  # the next make: which task trained which
                print(f"==> {label}: submitted {len(part)} run(s) as SLURM job array {job_id} (tasks 0-{len(part) - 1}"
                      f"{f', at most {limit} at once' if limit else ''}; "
                      f"list {listing})\n"
                      f"    follow it: squeue -j {job_id}   |   sacct -j {job_id} -X   |   "
                      f"tail -f {slurm_dir}/{job_id}_*.out")
            print("    then run the same make command again: it submits nothing running or done, and writes the "
                  "report once every run is done")
        elif waiting:
            print("    run the same make command again when they are done: it writes the report then")
        if failures:
            print(f"error: {label}: {len(failures)} run(s) failed in their last SLURM attempt (above); submitted "
                  "again with the others: fix what they say, or this repeats at every make", file=sys.stderr)
            return 1
        return EXIT_PENDING


def parser(prog: str = "python -m experiments.launch.slurm") -> argparse.ArgumentParser:
    """The SLURM variables make passes (``SLURM_VARS``), for this module's commands and ``experiments.launch check``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", default="")
    parser.add_argument("--experiment", default="degradation")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", default="", help="space-separated key=value profile overrides")
    parser.add_argument("--cpus", default="", help="CPUS_PER_RUN: --cpus-per-task (empty: the CPUs a run uses)")
    parser.add_argument("--mem", default="", help="MEM_PER_RUN: --mem (empty: the partition's default)")
    parser.add_argument("--time", default="", help="TIME_PER_RUN: --time (empty: the partition's default)")
    parser.add_argument("--slurm-args", default="", help="SLURM_ARGS: more srun/sbatch options (not --array)")
    parser.add_argument("--array-limit", default="", help="ARRAY_LIMIT: the most array tasks running at once (sbatch)")
    return parser


# sbatch reads these from the environment where its command line does not give the option: each would set
# what the suite sets or checks itself (SLURM_ARGS refuses the same options).
SBATCH_ENV_OWNED = {"SBATCH_TIMELIMIT": "TIME_PER_RUN", "SBATCH_SIGNAL": None, "SBATCH_REQUEUE": None,
                    "SBATCH_NO_REQUEUE": None, "SBATCH_OUTPUT": None, "SBATCH_ERROR": None, "SBATCH_OPEN_MODE": None,
                    "SBATCH_ARRAY_INX": "ARRAY_LIMIT", "SBATCH_TEST_ONLY": None}


def check(args: argparse.Namespace) -> None:
    """LAUNCHER and, for SLURM, the resources and options each job would ask for; ConfigError naming the bad one."""
    if args.launcher not in ("", "srun", "sbatch"):
        raise ConfigError(f"unknown LAUNCHER {args.launcher!r}; valid: srun, sbatch (empty: train here)")
    if args.launcher:
        options = resources(load_profile(args.profile, args.set.split() if args.set else None), args.cpus,
                            args.mem, args.time) + parse_slurm_args(args.slurm_args, args.launcher)
        _need(args.launcher, args.launcher)
        if args.launcher == "sbatch":
            for name, instead in SBATCH_ENV_OWNED.items():
                if name in os.environ:
                    raise ConfigError(f"{name}={os.environ[name]!r} is set in the environment: sbatch would take it "
                                      "over the suite's own setting" + (f"; give it as {instead}, which is checked"
                                      if instead else "") + f"; unset {name}")
            check_signal_lead(args.time)
            parse_array_limit(args.array_limit)
        probe(args.launcher, options)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    p.add_argument("command", choices=("srun-args", "submit"),
                   help="srun-args: srun's options for one run; submit: the runs not done as one sbatch array")
    p.add_argument("--runs", default="", help="submit: the matrix's result.json paths, in order")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--python", default=sys.executable, help="submit: the interpreter the jobs run")
    args = p.parse_args(argv)
    try:
        if args.command == "srun-args":
            config = load_profile(args.profile, args.set.split() if args.set else None)
            print(shlex.join([f"--job-name={args.experiment}-{args.profile}", "--quit-on-interrupt",
                              *resources(config, args.cpus, args.mem, args.time),
                              *parse_slurm_args(args.slurm_args, "srun")]))
            return 0
        return submit(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # SLURM unreachable, say
        print(f"error: LAUNCHER=sbatch: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
