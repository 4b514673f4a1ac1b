"""The matrix on a real SLURM cluster (issue 16): a one-node cluster on localhost, started by these tests.

The set-up installs Debian's ``slurm-wlm`` and ``munge`` when they are missing (as root, with apt-get), starts
``munged``, ``slurmctld`` and ``slurmd`` with a minimal ``slurm.conf`` in a temporary folder (one node with
2 CPUs, ``proctrack/linuxproc``, ``task/none``, ``select/cons_tres``, its own ports, state and spool), waits
until ``sinfo`` shows the node idle and stops the three daemons afterwards by their process ids. Nothing is
mocked: srun, sbatch, squeue, scancel and scontrol are SLURM's, the jobs run the suite's own commands.

Every run here is the same tiny matrix, ``plain-8`` and ``resnet-8`` of the smoke profile at 120 iterations
with a checkpoint every 6 (long enough to be interrupted after a checkpoint and before the end), one thread
each, so that any two runs of the same net compute bit for bit the same thing:
- trained here (``make -j 2``): the reference, and the check that a local run says nothing about SLURM;
- through ``LAUNCHER=srun -j 2``, at the same time as the reference: the same metrics;
- through ``LAUNCHER=sbatch``: an array of two tasks; one is cancelled (``scancel``) after its first
  checkpoint and resubmitted by the next ``make``, the other gets the preemption signal (``scancel
  --signal=USR1``, what ``--signal=USR1@120`` sends before a time limit) and requeues itself; both resume
  from their checkpoints and end with the reference's metrics; the last ``make`` writes the report and
  trains nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers_runs import PY, ROOT, load_ckpt, make, wait_for

pytestmark = pytest.mark.filterwarnings("ignore")

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TOOLS = ("munged", "slurmctld", "slurmd", "srun", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
MODELS = "plain-8 resnet-8"
SET = "max_steps=120 eval_every=6 log_every=3 threads=1"


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=SBIN)


def ensure_installed() -> None:
    """SLURM's and munge's programs, installed with apt-get when missing; a clear failure when that can't be."""
    missing = [t for t in TOOLS if _which(t) is None]
    if not missing:
        return
    how = "install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) or run the tests as root"
    if os.geteuid() != 0:
        pytest.fail(f"the SLURM tests need {', '.join(missing)}, which are not installed, and only root can "
                    f"install them: {how}", pytrace=False)
    if shutil.which("apt-get") is None:
        pytest.fail(f"the SLURM tests need {', '.join(missing)}; no apt-get here to install them: {how}",
                    pytrace=False)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"]):
        p = subprocess.run(command, env=apt_env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed (exit {p.returncode}), so the SLURM tests cannot run:\n"
                        f"{(p.stdout + p.stderr)[-2000:]}", pytrace=False)
    still = [t for t in TOOLS if _which(t) is None]
    if still:
        pytest.fail(f"after installing slurm-wlm and munge, still missing: {', '.join(still)}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running one-node cluster: ``env`` is what its clients (and make, and the jobs) need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf), "PATH": SBIN}
        self.procs: list[subprocess.Popen] = []

    def run(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(list(args), env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {p.returncode}: {p.stdout}{p.stderr}")
        return p.stdout

    def queue(self) -> list[str]:
        """``<job>_<task> <state>`` of every job in the queue."""
        return self.run("squeue", "-h", "-r", "-o", "%i %T").split("\n")[:-1]

    def state(self, job: str) -> str | None:
        for line in self.queue():
            if line.split()[0] == job:
                return line.split()[1]
        return None

    def stop_jobs(self) -> None:
        """Cancel every job, wait for the queue to empty, then end any process a job left behind (found by
        this cluster's SLURM_CONF in its environment: job steps outlive a stopped slurmd)."""
        if self.procs and all(p.poll() is None for p in self.procs):
            self.run("scancel", "--user=root", check=False)
            wait_for(lambda: not self.queue(), timeout=90, interval=0.5)
        mark, daemons = f"SLURM_CONF={self.conf}".encode(), {str(p.pid) for p in self.procs}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if proc.name not in daemons and mark in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), 9)
            except (OSError, ValueError):
                pass

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.root.glob("*.log")))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    ensure_installed()
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o755)
    (root / "state").mkdir(), (root / "spool").mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = root / "munge.socket"
    c = Cluster(root)
    c.conf.write_text("\n".join([
        "ClusterName=degradation-test",
        "SlurmctldHost=localhost",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={sock}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "ReturnToService=2",
        "NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 Features=a100,h100 State=UNKNOWN",  # features to constrain on
        "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "MaxArraySize=2",  # array indices 0-1: a matrix of more runs goes as more arrays (every other test submits 2)
        "",
    ]))
    daemons = [
        [_which("munged"), "-F", "--force", f"--socket={sock}", f"--key-file={key}",
         f"--log-file={root / 'munged.log'}", f"--pid-file={root / 'munged.pid'}",
         f"--seed-file={root / 'munged.seed'}"],
        [_which("slurmctld"), "-D", "-i", "-f", str(c.conf)],
        [_which("slurmd"), "-D", "-N", "localhost", "-f", str(c.conf)],
    ]
    try:
        for command in daemons:
            name = Path(command[0]).name
            c.procs.append(subprocess.Popen(command, env={**os.environ, **c.env}, stdin=subprocess.DEVNULL,
                                            stdout=open(root / f"{name}.out.log", "w"), stderr=subprocess.STDOUT))
            if name == "munged":
                assert wait_for(sock.exists, timeout=20), f"munged did not start:\n{c.logs()}"
        up = wait_for(lambda: c.run("sinfo", "-h", "-o", "%T", check=False).strip() == "idle", timeout=60,
                      interval=0.2)
        assert up, f"the node never became idle:\n{c.logs()}"
        yield c
    finally:
        c.stop_jobs()
        for p in reversed(c.procs):  # by their process ids, newest first
            p.terminate()
            try:
                p.wait(timeout=1)  # still up after 1 s (slurmctld, always) is killed: its state is in a tmp folder
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def matrix(tmp: Path, runs: Path, *args: str, cluster: Cluster | None = None, env_extra: dict | None = None,
           **kw) -> subprocess.CompletedProcess:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    extra = {**(cluster.env if cluster else {"PATH": SBIN}), **(env_extra or {})}  # SLURM's tools on PATH either way
    return make(tmp, "degradation", "PROFILE=smoke", f"MODELS={MODELS}", "SEEDS=0", f"SET={SET}",
                f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={tmp / 'reports'}", *args,
                env_extra=extra, **kw)


def folders(runs: Path) -> dict[str, Path]:
    return {m: runs / "degradation" / "smoke" / m / "seed0" for m in MODELS.split()}


def result(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


def assert_same_metrics(folder: Path, reference: Path) -> None:
    got, ref = result(folder), result(reference)
    for key in ("status", "final", "best", "iterations", "params"):
        assert got[key] == ref[key], key
    assert (folder / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


class Local:
    """The tiny matrix trained here (``make -j 2``), with SLURM's tools installed but not used. It trains in
    the background, beside the srun matrix (half of each make is one process at a time: the check, the data
    step, the report); ``done()`` waits for it and says what it printed."""

    def __init__(self, tmp: Path) -> None:
        self.runs, self.started = tmp / "runs", time.monotonic()
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.future = self.pool.submit(self._train, tmp)

    def _train(self, tmp: Path) -> dict:
        p = matrix(tmp, self.runs, "-j", "2", timeout=900)
        return {"p": p, "seconds": time.monotonic() - self.started}

    def done(self) -> dict:
        got = self.future.result()
        assert got["p"].returncode == 0, got["p"].stdout + got["p"].stderr
        return {"runs": self.runs, "out": got["p"].stdout + got["p"].stderr, "seconds": got["seconds"]}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    ensure_installed()
    reference = Local(tmp_path_factory.mktemp("local"))
    yield reference
    reference.pool.shutdown(wait=True)  # never left running


def test_launcher_options_and_bad_launcher_values(tmp_path):
    from experiments.config import load_profile
    from experiments.launch.slurm import resources

    # One GPU per run for the GPU profiles, none for the CPU ones; empty memory and time: the partition's.
    assert resources(load_profile("paper"), "8", "32G", "6:00:00") == [
        "--ntasks=1", "--cpus-per-task=8", "--mem=32G", "--time=6:00:00", "--gres=gpu:1"]
    assert resources(load_profile("smoke"), "1", "", "") == ["--ntasks=1", "--cpus-per-task=1"]
    for bad, message in ((["--launcher", "slurm"], "unknown LAUNCHER 'slurm'; valid: srun, sbatch (empty: train here)"),
                         (["--launcher", "srun", "--cpus", "two"], "bad CPUS_PER_RUN 'two'"),
                         # a SLURM variable without LAUNCHER trained here, on the login node, exit 0
                         (["--time", "6:00:00"], "TIME_PER_RUN='6:00:00' is set but LAUNCHER is empty: the runs "
                          "would train here, not under SLURM")):
        p = subprocess.run([str(PY), "-m", "experiments.launch", "check", *bad], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.count("error:") == 1 and message in p.stderr, p.stderr
    # Through make: SLURM_ARGS start with "--" and must reach the launcher whole; a malformed one is refused.
    runs = tmp_path / "runs"
    p = make(tmp_path, "degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}", "LAUNCHER=srun",
             'SLURM_ARGS=--partition=gpu --comment="x', env_extra={"PATH": SBIN})
    assert p.returncode == 2 and "bad SLURM_ARGS" in p.stderr and p.stderr.count("error:") == 1, p.stderr
    assert not runs.exists()


def test_a_run_asks_slurm_for_the_cpus_it_uses(tmp_path):
    """CPUS_PER_RUN empty (make's default): a run's threads plus its DataLoader workers (it once asked for 4
    whatever it used: on 2-CPU nodes every job pended for ever)."""
    from experiments.config import load_profile
    from experiments.launch.slurm import resources

    for profile, cpus in (("smoke", 1), ("quick", 1), ("paper", 1), ("imagenet", 9)):
        assert f"--cpus-per-task={cpus}" in resources(load_profile(profile), "", "", ""), profile
    assert "--cpus-per-task=4" in resources(load_profile("quick", ["threads=4"]), "", "", "")
    p = make(tmp_path, "--eval=cpus: ; @echo $(CPUS_PER_RUN)", "cpus")
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr


def test_a_request_no_node_can_satisfy_is_refused_before_anything_is_submitted(tmp_path, cluster):
    """4 CPUs a task on a node of 2: SLURM would queue the array for ever (reason PartitionConfig) and srun would
    wait until killed; both launchers refuse it at once, in one line with SLURM's reason."""
    runs = tmp_path / "runs"
    for launcher in ("sbatch", "srun"):
        p = matrix(tmp_path, runs, f"LAUNCHER={launcher}", "CPUS_PER_RUN=4", cluster=cluster, timeout=60)
        assert p.returncode == 2 and p.stderr.count("error:") == 1, p.stdout + p.stderr
        assert f"LAUNCHER={launcher}: SLURM can never run a job of" in p.stderr, p.stderr
        assert "Requested node configuration is not available" in p.stderr and "CPUS_PER_RUN" in p.stderr, p.stderr
        assert not cluster.queue() and not runs.exists()


def test_a_time_limit_too_short_for_the_requeue_signal_is_refused(tmp_path, cluster):
    """TIME_PER_RUN=2 (minutes) with --signal=USR1@120: the first allocation was signalled at once and requeued
    with nothing trained, the next got no signal and ended TIMEOUT. A limit must leave room for the signal's
    lead, SLURM's minute of slack and some training; a shorter one is refused before anything is submitted."""
    from experiments.launch.slurm import MIN_TIME_SECONDS, time_seconds

    assert [time_seconds(t) for t in ("2", "4:59", "1:00:00", "1-2", "1-2:3:4", "", "UNLIMITED")] == \
        [120, 299, 3600, 93600, 93784, None, None]
    runs = tmp_path / "runs"
    for short in ("2", "4:59", "0:04:00"):
        p = matrix(tmp_path, runs, "LAUNCHER=sbatch", f"TIME_PER_RUN={short}", cluster=cluster, timeout=60)
        assert p.returncode == 2 and p.stderr.count("error:") == 1, p.stdout + p.stderr
        assert f"bad TIME_PER_RUN '{short}' for LAUNCHER=sbatch" in p.stderr and "TIME_PER_RUN=5" in p.stderr, p.stderr
        assert not cluster.queue() and not runs.exists()
    assert MIN_TIME_SECONDS == 300


def test_the_suite_owns_the_array_and_array_limit_throttles_it(tmp_path, cluster):
    """SLURM_ARGS="--array=0-1%1" once overrode the suite's --array: make printed "tasks 0-0" while SLURM ran
    tasks 0-1, the extra one failing with an empty log. --array in SLURM_ARGS is refused with a pointer to
    ARRAY_LIMIT, which submits the suite's array with %N."""
    runs = tmp_path / "runs"
    for bad in ("--array=0-1%1", "--partition=debug -a 0-1", "--array 0-3"):
        p = matrix(tmp_path, runs, "LAUNCHER=sbatch", f"SLURM_ARGS={bad}", cluster=cluster, timeout=60)
        assert p.returncode == 2 and p.stderr.count("error:") == 1 and "ARRAY_LIMIT=N" in p.stderr, p.stdout + p.stderr
        assert not cluster.queue() and not runs.exists()
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "ARRAY_LIMIT=0", cluster=cluster, timeout=60)
    assert p.returncode == 2 and "bad ARRAY_LIMIT '0'" in p.stderr, p.stderr
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "ARRAY_LIMIT=1", cluster=cluster, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    job = re.search(r"submitted 2 run\(s\) as SLURM job array (\d+) \(tasks 0-1, at most 1 at once;", p.stdout)
    assert job, p.stdout
    try:
        shown = cluster.run("scontrol", "show", "job", job.group(1))
        assert "ArrayTaskThrottle=1" in shown, shown
    finally:
        cluster.run("scancel", job.group(1), check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_more_runs_than_max_array_size_go_as_more_arrays(tmp_path, cluster):
    """A matrix larger than the cluster's MaxArraySize (here 2; SLURM's default 1001) was one array that sbatch
    refused ("Invalid job array specification") without the reason named: it goes as several arrays now."""
    runs = tmp_path / "runs"
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "SEEDS=0 1", "ARRAY_LIMIT=1", cluster=cluster, timeout=120)
    jobs = re.findall(r"submitted 2 run\(s\) as SLURM job array (\d+) \(tasks 0-1, at most 1 at once;", p.stdout)
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        assert "4 runs, more than the cluster's MaxArraySize (2) allows in one array: submitted as 2 arrays" \
            in p.stdout, p.stdout
        assert len(jobs) == 2 and len(set(jobs)) == 2, p.stdout
        again = matrix(tmp_path, runs, "LAUNCHER=sbatch", "SEEDS=0 1", cluster=cluster, timeout=120)
        said = again.stdout + again.stderr
        assert "4 run(s) queued or running in SLURM job(s)" in said and "as SLURM job array" not in said, said
    finally:
        for job in jobs:
            cluster.run("scancel", job, check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_a_time_limit_in_slurm_args_is_refused_for_time_per_run(tmp_path):
    """SLURM_ARGS="--time=2" (or -t 2) came after the suite's --time and won, bypassing the 5-minute floor that keeps
    room for the requeue signal's lead: a time limit in SLURM_ARGS, in any of getopt's spellings, is refused in one
    line pointing at TIME_PER_RUN, before anything is submitted; options that merely look alike are not."""
    from experiments.config import ConfigError
    from experiments.launch.slurm import parse_slurm_args

    for bad in ("--time=2", "--time 2", "-t 2", "-t2", "-t=2", "--partition=debug -Qt 2", "-vt5"):
        with pytest.raises(ConfigError, match=r"it sets --time \(-t\); give each job's time limit as TIME_PER_RUN"):
            parse_slurm_args(bad)
    for fine in ("--time-min=5", "--partition=debug -J t2", "--job-name=-t", "-p tiny", "--tmp=10"):
        assert parse_slurm_args(fine) == fine.split(), fine
    runs = tmp_path / "runs"
    for launcher in ("sbatch", "srun"):
        p = matrix(tmp_path, runs, f"LAUNCHER={launcher}", "SLURM_ARGS=--partition=debug -t 2", timeout=60)
        assert p.returncode == 2 and p.stderr.count("error:") == 1, p.stdout + p.stderr
        assert "bad SLURM_ARGS '--partition=debug -t 2'" in p.stderr and "TIME_PER_RUN" in p.stderr, p.stderr
        assert not runs.exists()


def test_the_options_the_suite_sets_itself_are_refused_in_any_spelling():
    """SLURM_ARGS="--comment=myproject" replaced the comment that names each array's run list, so a second make
    submitted the queued runs again; "--arr=0-3" (getopt_long's abbreviation) ran four tasks for a list of one."""
    from experiments.config import ConfigError
    from experiments.launch.slurm import parse_slurm_args

    for bad, owned in (("--comment=myproject", "--comment;"), ("--comm=x", "--comment;"), ("--arr=0-3", "--array (-a)"),
                       ("--ar=0-3", "--array (-a)"), ("--tim=5", "--time (-t)")):
        with pytest.raises(ConfigError, match=re.escape(f"it sets {owned}")):
            parse_slurm_args(bad)
    for fine in ("--account=x", "--acctg-freq=10", "--job-name=comment", "--time-min=5", "--constraint=a"):
        assert parse_slurm_args(fine) == [fine], fine


def test_slurm_values_with_quotes_and_dollars_reach_slurm_as_written(tmp_path, cluster):
    """SLURM_ARGS="--constraint='a100|h100'" (how SLURM users write alternatives) once ended the recipe's quoting
    and ran `h100` as a command; '--output=$HOME/x.out' reached SLURM as '--output=OME/x.out'. Both reach sbatch
    (the array, held), as SLURM's record of the job shows, and srun (a run that fails at once: its DATA_DIR does
    not exist), whose output goes to the file named; a quote or a $ in TIME_PER_RUN or MEM_PER_RUN is one line
    naming it."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    args = f"--partition=debug --constraint='a100|h100' --output={tmp_path}/$HOME.out"  # srun's: its own output
    held = "--partition=debug --constraint='a100|h100' --job-name=x$HOME --hold"  # the array's log is the suite's
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "MODELS=plain-8", f"SLURM_ARGS={held}", cluster=cluster,
               timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    job = re.search(r"submitted 1 run\(s\) as SLURM job array (\d+)", p.stdout).group(1)
    try:
        shown = cluster.run("scontrol", "show", "job", job)
    finally:
        cluster.run("scancel", job, check=False)
    assert "Features=a100|h100" in shown and "JobName=x$HOME" in shown, shown
    p = make(tmp_path, "runs", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=resnet-8", f"RUNS_DIR={runs}",
             f"DATA_DIR={data}/absent", "LAUNCHER=srun", f"SLURM_ARGS={args}", env_extra=cluster.env, timeout=120)
    assert p.returncode != 0 and "Error 127" not in p.stderr, p.stderr
    assert "DATA_DIR" in (tmp_path / "$HOME.out").read_text()  # the run's own error, where srun was told
    for variable, value, shown in (("TIME_PER_RUN", "5'", "bad TIME_PER_RUN \"5'\""),
                                   ("MEM_PER_RUN", "$HOME", "--mem=$HOME")):
        p = matrix(tmp_path, runs, "LAUNCHER=srun", f"{variable}={value}", cluster=cluster, timeout=60)
        ours = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("make")]
        assert p.returncode == 2 and len(ours) == 1 and shown in ours[0], p.stdout + p.stderr
    wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_array_sh_says_when_its_list_has_no_line_for_the_task(tmp_path):
    """`read` at the end of the list once ended the task under set -e before its own message: an empty log."""
    from experiments.launch.slurm import ARRAY_SCRIPT

    listing = tmp_path / "list.runs"
    listing.write_text("/some/run\t1/1\n")
    p = subprocess.run(["bash", str(ARRAY_SCRIPT), str(listing), "true"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "SLURM_ARRAY_TASK_ID": "1"})
    assert p.returncode == 2 and f"error: {listing} has no line for array task 1" in p.stderr, p


def test_a_run_pending_for_a_reason_that_never_clears_is_named(tmp_path, cluster):
    """An array already pending for ever (submitted by hand, or before the partition changed): the next make
    does not call it "queued or running" and end 0; it names the reason and what to do, and fails."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    target = folders(runs)["plain-8"] / "result.json"
    p = subprocess.run([str(PY), "-m", "experiments.launch.slurm", "submit", "--launcher", "sbatch", "--profile",
                        "smoke", "--set", SET, "--cpus", "4", "--runs", str(target), "--runs-dir", str(runs),
                        "--data-dir", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, **cluster.env, "DEGRADATION_OFFLINE": "1"})
    assert p.returncode == 3, p.stdout + p.stderr
    job = re.search(r"SLURM job array (\d+)", p.stdout).group(1)
    try:
        assert wait_for(lambda: "PartitionConfig" in cluster.run("squeue", "-h", "-j", job, "-o", "%r"), timeout=60,
                        interval=0.2), cluster.queue()
        p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "MODELS=plain-8", cluster=cluster, timeout=120)
        assert p.returncode != 0, p.stdout + p.stderr
        assert re.search(rf"error: degradation \(smoke\): 1 run\(s\) pending in SLURM job\(s\) {job}_0 for a reason "
                         rf"that never clears \(PartitionConfig: .*\); cancel them \(scancel {job}\)", p.stderr), p.stderr
        assert "queued or running" not in p.stdout and not (folders(runs)["plain-8"] / "config.yaml").exists()
    finally:
        cluster.run("scancel", job, check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_a_run_that_failed_in_its_last_sbatch_attempt_is_named_at_the_next_make(tmp_path, cluster):
    """A run that failed in its array task was resubmitted by every make, which ended 0 and named nothing: the
    error was only in .slurm/<job>_<task>.out. The next make names it, its error and its log, submits it again
    (as a local make retries a failed run) and fails."""
    runs = tmp_path / "runs"
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "MODELS=plain-8", "SET=max_steps=12 eval_every=6 log_every=3 threads=1",
               cluster=cluster, env_extra={"DEGRADATION_FAULT": "raise@3"}, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    job = re.search(r"SLURM job array (\d+)", p.stdout).group(1)
    assert wait_for(lambda: not cluster.queue(), timeout=240, interval=0.2), cluster.queue()
    assert json.loads((folders(runs)["plain-8"] / "result.json").read_text())["status"] == "failed"
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "MODELS=plain-8", "SET=max_steps=12 eval_every=6 log_every=3 threads=1",
               cluster=cluster, timeout=300)
    try:
        assert p.returncode != 0, p.stdout + p.stderr
        failed = [ln for ln in p.stderr.splitlines() if ln.startswith("FAILED: ")]
        assert len(failed) == 1 and "plain-8/seed0: " in failed[0] and "injected fault" in failed[0], p.stderr
        assert failed[0].endswith(f"(log: {(runs / '.slurm').resolve()}/{job}_0.out)"), failed[0]
        assert "1 run(s) failed in their last SLURM attempt (above); submitted again" in p.stderr
        assert re.search(r"submitted 1 run\(s\) as SLURM job array \d+", p.stdout), p.stdout
    finally:
        cluster.run("scancel", "-u", "root", check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_an_srun_job_sent_the_requeue_signal_checkpoints_where_it_is(tmp_path, cluster):
    """`scancel --signal=USR1` on an srun job (a site's preemption notice) killed the run: only sbatch runs
    listened, so it lost what it trained since its last evaluation's checkpoint. It now checkpoints where it
    is; SLURM does not requeue an srun job, so the next make resumes it from there."""
    runs = tmp_path / "runs"
    folder = folders(runs)["plain-8"]
    p = matrix(tmp_path, runs, "LAUNCHER=srun", "MODELS=plain-8", "SLURM_ARGS=--partition=debug", cluster=cluster,
               wait=False, timeout=300)
    try:
        assert wait_for(lambda: (folder / "checkpoints" / "last.ckpt").exists(), timeout=240, interval=0.05, proc=p)
        (job,) = [line.split()[0] for line in cluster.queue()]
        cluster.run("scancel", "--signal=USR1", job)
        out, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
        cluster.run("scancel", "-u", "root", check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)
    said = re.search(r"SLURM's requeue signal: checkpoint written at iteration (\d+); SLURM refused the requeue "
                     r"\(.*\): the next `make` resumes it from iteration \1", out + err)
    assert said, out + err
    assert load_ckpt(folder / "checkpoints" / "last.ckpt")["global_step"] == int(said.group(1))
    assert not (folder / "result.json").exists()


def test_srun_trains_each_run_as_a_job_with_the_local_results(tmp_path, cluster, local, example_plugin):
    """Each run one SLURM job, with the metrics of the same run trained here. A researcher's net (the example
    plugin) trains beside a built-in one: the job, started by SLURM on the node, finds the entry point (the
    environment make passes on), records the plugin's provenance, and the report covers it. (resnet-8, the
    local matrix's other net, goes through SLURM in the sbatch test: two jobs here, one round of -j 2.)"""
    runs = tmp_path / "runs"
    started = time.monotonic()
    p = matrix(tmp_path, runs, "-j", "2", "LAUNCHER=srun", "SLURM_ARGS=--partition=debug", "MODELS=plain-8 mynet-8",
               cluster=cluster, env_extra={"PYTHONPATH": str(example_plugin)}, timeout=900)
    seconds = time.monotonic() - started
    assert p.returncode == 0, p.stdout + p.stderr + cluster.logs()
    local = local.done()
    jobs = set()
    plain, mynet = folders(runs)["plain-8"], runs / "degradation" / "smoke" / "mynet-8" / "seed0"
    assert not folders(runs)["resnet-8"].exists()  # only what MODELS names
    for model, folder in [("plain-8", plain), ("mynet-8", mynet)]:
        if model == "plain-8":
            assert_same_metrics(folder, folders(local["runs"])[model])
        record = result(folder)["slurm"]
        assert record["node"] == "localhost" and record["array_task_id"] is None and record["restart_count"] == 0
        jobs.add(record["job_id"])
        assert re.search(rf"{model} seed 0 on localhost \(SLURM job {record['job_id']}\) \.\.\.", p.stdout)
    assert len(jobs) == 2  # one SLURM job per run
    assert result(mynet)["status"] == "ok" and result(mynet)["method"] == "mynet"
    assert result(mynet)["plugin"]["distribution"] == "mynet-plugin"
    tidy = (tmp_path / "reports" / "degradation" / "smoke" / "runs.csv").read_text()
    assert "mynet-8" in tidy and "plain-8" in tidy  # the report covers it beside the built-in nets
    print(f"\nsmoke matrix ({SET}): {MODELS} here, both at once, {local['seconds']:.1f} s; plain-8 mynet-8 "
          f"through srun -j 2 {seconds:.1f} s")


def test_a_local_run_says_nothing_about_slurm(local):
    assert _which("srun")
    here = local.done()
    assert not re.search(r"srun|slurm", here["out"], re.IGNORECASE), here["out"]
    for folder in folders(here["runs"]).values():
        assert result(folder).get("slurm") is None


def test_sbatch_array_survives_cancel_and_preemption_and_resumes_exactly(tmp_path, cluster, local):
    local = local.done()
    runs = tmp_path / "runs"
    started = time.monotonic()
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "SLURM_ARGS=--partition=debug", cluster=cluster, timeout=900)
    submitted = time.monotonic() - started
    assert p.returncode == 0, p.stdout + p.stderr
    match = re.search(r"submitted 2 run\(s\) as SLURM job array (\d+)", p.stdout)
    assert match, p.stdout
    job = match.group(1)
    assert f"squeue -j {job}" in p.stdout and "sacct" in p.stdout  # how to follow it
    assert not (tmp_path / "reports").exists()  # make returned at once, without a report
    cancelled, preempted = folders(runs)["plain-8"], folders(runs)["resnet-8"]  # tasks 0 and 1

    # Each task as soon as it has a checkpoint, in mid-run: task 0 is cancelled; task 1 gets the preemption
    # signal, on which Lightning requeues it.
    todo = {cancelled: ["scancel", f"{job}_0"], preempted: ["scancel", "--signal=USR1", f"{job}_1"]}
    at_signal = None

    def interrupt_those_with_a_checkpoint() -> bool:
        nonlocal at_signal
        for folder in [f for f in todo if (f / "checkpoints" / "last.ckpt").exists()]:
            if folder == preempted:
                at_signal = load_ckpt(folder / "checkpoints" / "last.ckpt")["global_step"]
            cluster.run(*todo.pop(folder))
        return not todo

    assert wait_for(interrupt_those_with_a_checkpoint, timeout=300, interval=0.05), cluster.logs()
    assert wait_for(lambda: cluster.state(f"{job}_0") is None, timeout=120), cluster.queue()
    at_cancel = load_ckpt(cancelled / "checkpoints" / "last.ckpt")["global_step"]
    assert 0 < at_cancel < 120 and not (cancelled / "result.json").exists()
    # A requeued job waits (BeginTime) about two minutes before it may start again; start it now.
    assert wait_for(lambda: cluster.state(f"{job}_1") == "PENDING", timeout=120), cluster.queue()
    assert not (preempted / "result.json").exists()
    cluster.run("scontrol", "update", f"JobId={job}_1", "StartTime=now")

    # The next make: resnet-8 is queued or running (not submitted again), plain-8 is resubmitted.
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "SLURM_ARGS=--partition=debug", cluster=cluster, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(rf"1 run\(s\) queued or running in SLURM job\(s\) {job}_1", p.stdout), p.stdout
    resubmitted = re.search(r"submitted 1 run\(s\) as SLURM job array (\d+)", p.stdout)
    assert resubmitted, p.stdout
    again = resubmitted.group(1)
    assert wait_for(lambda: not cluster.queue(), timeout=300, interval=0.2), cluster.queue()

    for folder in (cancelled, preempted):
        assert_same_metrics(folder, folders(local["runs"])[folder.parent.name])
        assert not list(folder.glob("hpc_ckpt_*"))  # Lightning's own signal checkpoint is not written
    assert result(cancelled)["resumed_from"] == at_cancel and at_cancel % 6 == 0  # the last evaluation's
    # The preempted run checkpointed where it was when the signal came (after the checkpoint it had then), said
    # that SLURM took the requeue, and resumed from there.
    log = (runs / ".slurm" / f"{job}_1.out").read_text()
    signalled = re.search(r"SLURM's requeue signal: checkpoint written at iteration (\d+); requeued: the requeued "
                          r"task resumes it from iteration \1", log)
    assert signalled and int(signalled.group(1)) >= at_signal, log
    assert result(preempted)["resumed_from"] == int(signalled.group(1))
    assert "interrupted without SLURM's requeue signal (a time limit, scancel, a preemption): not requeued" in \
        (runs / ".slurm" / f"{job}_0.out").read_text()
    first, second = result(cancelled)["slurm"], result(preempted)["slurm"]
    assert first["job_id"] == f"{again}_0" and first["restart_count"] == 0  # resubmitted
    assert second["job_id"] == f"{job}_1" and second["restart_count"] == 1  # requeued: same task, restarted
    print(f"\ncancelled: plain-8 (task {job}_0) at iteration {at_cancel}; resubmitted as {first['job_id']}, resumed from "
          f"{result(cancelled)['resumed_from']}; preempted: resnet-8 ({job}_1) by USR1, requeued "
          f"(restart {second['restart_count']}), resumed from {result(preempted)['resumed_from']}; both: final errors "
          f"{result(cancelled)['final']} / {result(preempted)['final']} and every metrics.csv byte as the local runs")

    # The last make: everything is done; it trains nothing and writes the report.
    before = {f: (f / "result.json").stat().st_mtime_ns for f in folders(runs).values()}
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", "SLURM_ARGS=--partition=debug", cluster=cluster, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "submitted" not in p.stdout and " ... " not in p.stdout
    assert (tmp_path / "reports" / "degradation" / "smoke" / "report.pdf").is_file()
    assert before == {f: (f / "result.json").stat().st_mtime_ns for f in folders(runs).values()}
    print(f"\nsbatch: make returned in {submitted:.1f} s after submitting; the array, cancelled and preempted "
          f"included, was done {time.monotonic() - started:.1f} s after the first make")


def test_an_installed_wheel_submits_an_sbatch_array(tmp_path, cluster, wheel_python):
    """`pip install .` then LAUNCHER=sbatch: the array's script travels in the wheel (it once did not:
    "Unable to open file .../array.sh") and the installed copy trains the run, not the checkout."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    target = folders(runs)["plain-8"] / "result.json"
    p = subprocess.run([str(wheel_python), "-m", "experiments.launch.slurm", "submit", "--launcher", "sbatch",
                        "--profile", "smoke", "--set", SET, "--cpus", "1", "--slurm-args=--partition=debug",
                        "--runs", str(target), "--runs-dir", str(runs), "--data-dir", str(data),
                        "--python", str(wheel_python)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **cluster.env,
                            "DEGRADATION_OFFLINE": "1"})
    assert p.returncode == 3, p.stdout + p.stderr  # submitted, pending
    job = re.search(r"submitted 1 run\(s\) as SLURM job array (\d+)", p.stdout).group(1)
    assert wait_for(lambda: not cluster.queue(), timeout=300, interval=0.2), cluster.queue()
    log = (runs / ".slurm" / f"{job}_0.out").read_text()
    assert result(target.parent)["status"] == "ok", log
    assert "Unable to open" not in log and "No such file" not in log, log


def test_a_machine_without_a_reachable_cluster_is_named_as_such(tmp_path):
    """srun and sbatch installed but no usable slurm.conf (an empty one; none at all where the machine has no
    system-wide one): LAUNCHER=srun/sbatch says SLURM is not reachable, not that the job's resources are
    wrong. (A SLURM_CONF naming a missing file is left out: sbatch spends a minute on it.)"""
    ensure_installed()
    base = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    (tmp_path / "empty.conf").write_text("")
    for conf in (str(tmp_path / "empty.conf"), None):
        env = {**base, "PATH": SBIN, **({"SLURM_CONF": conf} if conf else {})}
        if conf is None and any(Path(d, "slurm.conf").exists() for d in ("/etc/slurm", "/etc/slurm-llnl")):
            continue  # a machine with a system-wide cluster: that case is the cluster's
        for launcher in ("srun", "sbatch"):
            p = subprocess.run([str(PY), "-m", "experiments.launch", "check", "--launcher", launcher, "--profile",
                                "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            lines = p.stderr.strip().splitlines()
            assert p.returncode == 2 and len(lines) == 1, p.stderr
            assert "SLURM is not reachable from here" in lines[0] and "CPUS_PER_RUN" not in lines[0], lines[0]


def test_the_arrays_own_signal_logs_and_submission_are_refused_in_slurm_args_for_sbatch_only():
    """A fault hunt: SLURM_ARGS=--signal=USR2@120 ended a run at its time limit without a checkpoint; --output hid
    the logs make reads back; --test-only made make report a submission with an empty job id on every call."""
    from experiments.config import ConfigError
    from experiments.launch.slurm import parse_slurm_args

    for bad, owned in (("--signal=USR2@120", "--signal;"), ("--sig=USR2", "--signal;"), ("--no-requeue", "--no-requeue;"),
                       ("-o /tmp/x.out", "--output (-o)"), ("--output=x", "--output (-o)"), ("-e x", "--error (-e)"),
                       ("--open-mode=truncate", "--open-mode;"), ("--test-only", "--test-only;")):
        with pytest.raises(ConfigError, match=re.escape(f"it sets {owned}")):
            parse_slurm_args(bad)
        if bad not in ("--no-requeue",):  # srun runs in the foreground: its output and signals are the user's
            assert parse_slurm_args(bad, "srun") == bad.split()
    for fine in ("--qos=high", "--job-name=out", "--exclusive"):
        assert parse_slurm_args(fine) == [fine]


def test_counts_take_ascii_digits_only():
    """A fault hunt: ARRAY_LIMIT=² (str.isdigit takes it, int() does not) gave a traceback, and ARRAY_LIMIT=１ (a
    full-width one) reached sbatch as '%１', which set no throttle."""
    from experiments.config import ConfigError
    from experiments.launch.slots import parse_jobs, parse_runs_per_gpu
    from experiments.launch.slurm import parse_array_limit, time_seconds

    for parse, value in ((parse_array_limit, "²"), (parse_array_limit, "１"), (parse_jobs, "²"),
                         (parse_runs_per_gpu, "１"), (time_seconds, "²0")):
        with pytest.raises(ConfigError, match="bad "):
            parse(value)
    assert parse_array_limit("2") == "2" and parse_jobs("2") == 2


def test_two_makes_at_once_submit_one_array(tmp_path, cluster):
    """A fault hunt: two `make LAUNCHER=sbatch` started together both read an empty queue and both submitted the
    runs; one array's task then held its allocation waiting on the other's lock. Submitting now holds a lock
    from reading the queue to sbatch: the second make sees the first's array."""
    runs = tmp_path / "runs"
    with ThreadPoolExecutor(max_workers=2) as pool:
        calls = [pool.submit(matrix, tmp_path, runs, "LAUNCHER=sbatch", "SLURM_ARGS=--hold", cluster=cluster,
                             timeout=120) for _ in range(2)]
        outs = [c.result() for c in calls]
    try:
        assert all(p.returncode == 0 for p in outs), [p.stdout + p.stderr for p in outs]
        said = "".join(p.stdout for p in outs)
        assert said.count("as SLURM job array") == 1 and "not submitted again" in said, said
        assert len({line.split()[0].split("_")[0] for line in cluster.queue()}) == 1, cluster.queue()
    finally:
        for line in cluster.queue():
            cluster.run("scancel", line.split()[0].split("_")[0], check=False)
        wait_for(lambda: not cluster.queue(), timeout=60, interval=0.2)


def test_what_would_override_the_arrays_settings_from_outside_is_refused(tmp_path):
    """A fault hunt: SBATCH_TIMELIMIT=1 in the environment bypassed TIME_PER_RUN's 5-minute check (sbatch reads
    it where the command line gives no --time), and CPUS_PER_RUN=1 with SET threads=2 was accepted without a
    word. Each is one line before anything is submitted."""
    from experiments.config import ConfigError, load_profile
    from experiments.launch.slurm import resources

    runs = tmp_path / "runs"
    p = matrix(tmp_path, runs, "LAUNCHER=sbatch", env_extra={"SBATCH_TIMELIMIT": "1"}, timeout=60)
    assert p.returncode == 2 and p.stderr.count("error:") == 1, p.stdout + p.stderr
    assert "SBATCH_TIMELIMIT='1' is set in the environment" in p.stderr and "TIME_PER_RUN" in p.stderr, p.stderr
    assert not runs.exists()
    with pytest.raises(ConfigError, match=r"bad CPUS_PER_RUN '1': a run computes with 2"):
        resources(load_profile("smoke", ["threads=2"]), "1", "", "")
    assert "--cpus-per-task=2" in resources(load_profile("smoke", ["threads=2"]), "", "", "")
