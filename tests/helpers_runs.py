"""Helpers for the reliability tests: tiny runs through the real run command, in this process or in a
subprocess, and ``make`` on a temporary runs folder. No internet, synthetic data, seconds per run."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

import runfolder

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
if not PY.exists():
    PY = Path(sys.executable)

# A run of seconds: 4 evaluations (3, 6, 9, 12), each followed by a checkpoint; one thread, so that this
# process and a subprocess compute bit for bit the same thing.
TINY = {"cifar_width": 4, "imagenet_width": 4, "image_size": 8, "synthetic_train": 256, "synthetic_eval": 64,
        "batch_size": 32, "max_steps": 12, "eval_every": 3, "log_every": 3, "threads": 1}
TINY_SET = [f"{k}={v}" for k, v in TINY.items()]
TINY_ARGS = [a for kv in TINY_SET for a in ("--set", kv)]


def tiny_set(**changes) -> list[str]:
    """TINY_SET with ``changes`` in place of (or beside) its settings: SET takes each key once."""
    return [f"{k}={v}" for k, v in {**TINY, **changes}.items()]


def tiny_args(**changes) -> list[str]:
    """TINY_ARGS with ``changes``, as ``--set`` pairs."""
    return [a for kv in tiny_set(**changes) for a in ("--set", kv)]


def run_dir(root: Path, model: str = "plain-8", seed: int = 0, experiment: str = "degradation",
            profile: str = "smoke") -> Path:
    return runfolder.run_dir(root, experiment, profile, model, seed)


def env(**extra: str) -> dict:
    """The environment of a subprocess: offline, no injected fault unless asked for."""
    e = {k: v for k, v in os.environ.items() if k not in ("DEGRADATION_FAULT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    e.update({"DEGRADATION_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return e


def cli(folder: Path, *args: str, fault: str | None = None, timeout: float = 120, env_extra: dict | None = None,
        **kw) -> subprocess.CompletedProcess:
    """``python -m experiments.run --run-dir folder [args]`` in a subprocess (``env_extra``: more variables)."""
    extra = {**({"DEGRADATION_FAULT": fault} if fault else {}), **(env_extra or {})}
    return subprocess.run([str(PY), "-m", "experiments.run", "--run-dir", str(folder), *args], cwd=ROOT,
                          env=env(**extra), capture_output=True, text=True, timeout=timeout, **kw)


def inproc(folder: Path, *args: str, fault: str | None = None) -> tuple[int, str, str]:
    """The same command in this process (no interpreter start): (exit status, stdout, stderr)."""
    from experiments import run

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in ("DEGRADATION_FAULT", "DEGRADATION_OFFLINE", "PL_GLOBAL_SEED")}
    threads = torch.get_num_threads()
    os.environ["DEGRADATION_OFFLINE"] = "1"
    if fault:
        os.environ["DEGRADATION_FAULT"] = fault
    else:
        os.environ.pop("DEGRADATION_FAULT", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = run.main(["--run-dir", str(folder), *args])
    finally:
        torch.set_num_threads(threads)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rc, out.getvalue(), err.getvalue()


class Forked:
    """The run command in a child of this process (``os.fork``): a real process, which a fault's SIGKILL or
    the test's ``kill()`` ends like any other, without the 5-10 s of an interpreter start and Lightning's
    imports that a subprocess pays. Its stdout and stderr go to ``log``. ``poll()``, ``wait()``,
    ``returncode`` and ``kill()`` as ``subprocess.Popen`` (killed by signal N: ``-N``).

    The child leads a process group of its own; once it has ended, what it started and left behind (its
    DataLoader workers, which hold the run's lock until their watchdog sees the parent gone, 5 s later) is
    killed too, as a job scheduler ends a job.

    One torch thread only (``--set threads=1``, checked): libgomp's thread pool does not survive a fork, and a
    child that starts a parallel region with more threads than its own waits for ever."""

    def __init__(self, folder: Path, *args: str, log: Path, fault: str | None = None) -> None:
        assert "threads=1" in args, "a forked run must train with one thread (--set threads=1)"
        self.log, self.returncode = Path(log), None
        sys.stdout.flush(), sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.setpgid(0, 0)
                fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1), os.dup2(fd, 2)
                sys.stdout = sys.stderr = open(fd, "w", buffering=1)
                torch.set_num_threads(1)  # before the run loads its data, which it does before it sets threads
                os.environ.update(DEGRADATION_OFFLINE="1", PYTHONUNBUFFERED="1")
                os.environ.pop("DEGRADATION_FAULT", None)
                if fault:
                    os.environ["DEGRADATION_FAULT"] = fault
                from experiments import run

                code = run.main(["--run-dir", str(folder), *args])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                try:
                    os.killpg(self.pid, signal.SIGKILL)  # what it left behind
                except (ProcessLookupError, PermissionError):
                    pass
        return self.returncode

    def wait(self, timeout: float = 900) -> int:
        if not wait_for(lambda: self.poll() is not None, timeout=timeout, interval=0.01):
            self.kill()
            raise AssertionError(f"the forked run did not end within {timeout} s:\n{self.output()}")
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def forked(folder: Path, *args: str, log: Path, fault: str | None = None, timeout: float = 900) -> tuple[int, str]:
    """The run command in a forked child, waited for: (exit status, -9 when SIGKILL ended it; its output)."""
    child = Forked(folder, *args, fault=fault, log=log)
    child.wait(timeout)
    return child.returncode, child.output()


def make(tmp: Path, *args: str, env_extra: dict | None = None, timeout: float = 180, wait: bool = True):
    """``make -s args`` in the repository, with the install stamp and the generated matrix fragment in
    ``tmp`` (nothing installed, nothing written into the checkout), and SEEDS=0 unless ``args`` set SEEDS.
    ``wait=False``: started and returned (a ``Popen``), leading a session of its own, so that it and the runs
    it started can be stopped together (``os.killpg``)."""
    stamp = Path(tmp) / "installed"
    if not stamp.exists():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    seeds = [] if any(a.startswith("SEEDS=") for a in args) else ["SEEDS=0"]  # one seed unless asked
    cmd = ["make", "-s", "--no-print-directory", f"STAMP={stamp}", f"MATRICES_MK={Path(tmp) / 'matrices.mk'}",
           *seeds, *args]
    kwargs = dict(cwd=ROOT, env=env(**(env_extra or {})), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not wait:
        return subprocess.Popen(cmd, start_new_session=True, **kwargs)
    return subprocess.run(cmd, timeout=timeout, **kwargs)


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def assert_same_state(a: dict, b: dict) -> None:
    """Two checkpoints hold bit-identical weights, optimizer and scheduler state, at the same iteration."""
    assert a["global_step"] == b["global_step"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    (sa,), (sb,) = a["optimizer_states"], b["optimizer_states"]
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        for name, value in sa["state"][k].items():
            other = sb["state"][k][name]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other, (k, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]


def wait_for(predicate, timeout: float = 60, interval: float = 0.01, proc: subprocess.Popen | None = None) -> bool:
    """Poll ``predicate`` until true (True), the timeout passes or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(predicate())
        time.sleep(interval)
    return False


def one_error_line(err: str, *fragments: str) -> str:
    """The one ``error: ...`` line of ``err`` (stderr of a refused command), holding each of ``fragments``."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
