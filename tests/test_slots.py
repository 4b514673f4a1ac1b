"""Device slots (issue 16): under ``make -j N`` each run trains on a device of its own, at most RUNS_PER_GPU
runs per device, a killed run's device free again at once.

No GPU here: ``DEGRADATION_FAKE_GPUS=N`` makes N devices appear (experiments/launch/slots.py); everything else is
real: the slot files' flocks, the processes holding them, ``make -j``, the run command. ``TMPDIR`` points the
slot files into the test's folder, so nothing else on the machine shares them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers_runs import PY, ROOT, env, make, wait_for

pytestmark = pytest.mark.filterwarnings("ignore")

# A process that leases a slot as a run does, says which, and holds it until killed.
HOLDER = """
import os, sys, time
from experiments.launch import slots
slot = slots.lease(slots.devices(os.environ.get("GPUS", "")), int(sys.argv[1]), holder=sys.argv[2],
                   on_wait=lambda busy: print("WAIT", busy, flush=True), poll=0.05)
slots.use(slot)
print("GOT", slot.name, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
time.sleep(600)
"""


class Holder:
    def __init__(self, tmp: Path, name: str, runs_per_gpu: int = 1, **extra: str) -> None:
        self.name, self.lines = name, []
        self.log = tmp / f"{name}.out"
        self.proc = subprocess.Popen([str(PY), "-c", HOLDER, str(runs_per_gpu), name], cwd=ROOT,
                                     env=env(TMPDIR=str(tmp), DEGRADATION_FAKE_GPUS="2", **extra),
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        """What it has printed, whole lines only: under PYTHONUNBUFFERED print writes each of its pieces
        separately, and a read between two of them would see "GOT " without the device."""
        text = self.log.read_text()
        return text[:text.rfind("\n") + 1]

    def got(self) -> str | None:
        """The device it leased ("cuda:1") once it has one."""
        for line in self.output().splitlines():
            if line.startswith("GOT "):
                _, device, visible = line.split()
                assert device == f"cuda:{visible}"  # it sees only its device, under its own number
                return device
        return None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def holders(tmp_path):
    started: list[Holder] = []

    def start(name: str, runs_per_gpu: int = 1, **extra: str) -> Holder:
        holder = Holder(tmp_path, name, runs_per_gpu, **extra)
        started.append(holder)
        return holder

    yield start
    for h in started:
        if h.proc.poll() is None:
            h.kill()


def test_one_run_per_device_and_a_killed_runs_device_is_free_at_once(holders):
    a, b = holders("a"), holders("b")
    assert wait_for(lambda: a.got() and b.got(), timeout=60)
    assert {a.got(), b.got()} == {"cuda:0", "cuda:1"}  # one each: spread over the devices

    c = holders("c")
    assert wait_for(lambda: "WAIT" in c.output(), timeout=60)
    time.sleep(0.5)
    assert c.got() is None and c.output().count("WAIT") == 1  # it waits, and says so once
    assert "cuda:0 (" in c.output() and "cuda:1 (" in c.output()  # naming who holds the devices

    a.kill()  # kill -9: no handler, no clean-up; the OS drops the flock
    killed_at = time.monotonic()
    assert wait_for(lambda: c.got(), timeout=10)
    assert time.monotonic() - killed_at < 2  # at once (the waiter looks every 0.05 s here)
    assert c.got() == a.got()


def test_runs_per_gpu_runs_share_a_device_never_more(holders):
    first = [holders(f"h{i}", 2) for i in range(4)]
    assert wait_for(lambda: all(h.got() for h in first), timeout=60)
    assert sorted(h.got() for h in first) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    fifth = holders("h4", 2)
    assert wait_for(lambda: "WAIT" in fifth.output(), timeout=60) and fifth.got() is None
    # GPUS picks devices: a holder limited to device 1 waits while device 0 would be free.
    first[0].kill()
    freed = first[0].got()
    assert wait_for(lambda: fifth.got(), timeout=10) and fifth.got() == freed
    other = "cuda:1" if freed == "cuda:0" else "cuda:0"
    next(h for h in first[1:] if h.got() == freed).kill()
    only_other = holders("h5", 2, GPUS=other[-1])
    assert wait_for(lambda: "WAIT" in only_other.output(), timeout=60)
    time.sleep(0.3)
    assert only_other.got() is None  # the free slot is on the device it was not given


def test_matrix_on_fake_gpus_never_shares_a_device(tmp_path):
    """make -j 3 degradation over 2 devices, RUNS_PER_GPU=1: every run records its device, none overlaps another
    on it. Through the matrix, as a user's `make degradation GPUS=...` trains: the pool's forked runs lease the
    slots (experiments/pool.py), three at once."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    models = "plain-8 resnet-8 plain-14"
    p = make(tmp_path, "-j", "3", "degradation", "PROFILE=smoke", "SEEDS=0", f"MODELS={models}",
             f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={tmp_path / 'reports'}",
             "SET=threads=1 max_steps=12",
             env_extra={"TMPDIR": str(tmp_path), "DEGRADATION_FAKE_GPUS": "2"}, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    spans: dict[str, list[tuple[int, int]]] = {}
    for model in models.split():
        folder = runs / "degradation" / "smoke" / model / "seed0"
        config = yaml.safe_load((folder / "config.yaml").read_text())
        slot = config["slot"]
        assert slot["device"] == f"cuda:{slot['CUDA_VISIBLE_DEVICES']}" and slot["device"] in ("cuda:0", "cuda:1")
        assert config["visible_devices"] == slot["CUDA_VISIBLE_DEVICES"]  # what the run's process saw
        result = json.loads((folder / "result.json").read_text())
        assert result["slot"] == slot
        assert f"{model} seed 0 on {slot['device']} ..." in p.stdout
        # The slot is held from before config.yaml is written until after result.json is.
        spans.setdefault(slot["device"], []).append(
            ((folder / "config.yaml").stat().st_mtime_ns, (folder / "result.json").stat().st_mtime_ns))
    for device, intervals in spans.items():
        intervals.sort()
        for (s1, e1), (s2, e2) in zip(intervals, intervals[1:]):
            assert s2 > e1, f"two runs on {device} at once: {intervals}"


def test_gpus_naming_an_absent_device_is_refused_before_anything_runs(tmp_path):
    runs = tmp_path / "runs"
    p = make(tmp_path, "degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}", "GPUS=0,3",
             env_extra={"TMPDIR": str(tmp_path), "DEGRADATION_FAKE_GPUS": "2"})
    assert p.returncode == 2 and "bad GPUS '0,3': no device 3; valid: 0 to 1" in p.stderr
    p = make(tmp_path, "degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}", "RUNS_PER_GPU=0")
    assert p.returncode == 2 and "bad RUNS_PER_GPU '0'" in p.stderr
    assert not runs.exists()


def test_jobs_default_is_one_run_per_gpu_slot(tmp_path):
    """make with no -j trains JOBS runs at once: every GPU slot (GPUs x RUNS_PER_GPU) where there are GPUs,
    else a run per CPU core on the CPU profiles and one on the GPU profiles."""
    def jobs(*args: str, fake: str | None = None) -> str:
        extra = {"TMPDIR": str(tmp_path), **({"DEGRADATION_FAKE_GPUS": fake} if fake else {})}
        p = make(tmp_path, "--eval=print-jobs: ; @echo $(JOBS)", "print-jobs", *args, env_extra=extra)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    assert jobs("PROFILE=paper", fake="2") == "2"
    assert jobs("PROFILE=paper", "RUNS_PER_GPU=3", fake="2") == "6"
    assert jobs("PROFILE=paper", "GPUS=1", fake="2") == "1"
    assert jobs("PROFILE=smoke", fake="4") == "4"  # the GPUs' slots, not the cores, once there are GPUs
    assert jobs("PROFILE=paper") == "1"  # no GPU
    assert jobs("PROFILE=smoke") == str(len(os.sched_getaffinity(0)))  # nproc
    assert jobs("PROFILE=paper", "JOBS=5", fake="2") == "5"  # the user's word wins
