"""Device slots: which GPU a run of the matrix trains on when ``make -j N`` trains several at once.

Every device has ``RUNS_PER_GPU`` slots. A slot is a file ``<tmp>/degradation-slots/<device>.<k>.lock``
that a run holds with an exclusive ``flock`` for as long as its process lives: the OS releases it when the
process ends, however it ends (``kill -9`` included), so a dead run never leaves its GPU marked busy. A run
takes the first free slot, every device's first slot before any device's second (runs spread over the GPUs
before two share one); finding none free, it says so once and waits, trying again every half second. It
never trains on a device beyond ``RUNS_PER_GPU``. It then sees only its device: ``CUDA_VISIBLE_DEVICES`` is
set before torch initialises CUDA, so inside the run the device is ``cuda:0``.

The devices are those torch sees (``CUDA_VISIBLE_DEVICES`` respected), or the ones ``GPUS`` names among them
(torch's numbers: ``GPUS=0,2``). On a machine without GPUs there are none: no slot is taken and nothing
changes. Under a SLURM step (``LAUNCHER=srun``/``sbatch``) SLURM has placed the run: no slots either.

For the tests, ``DEGRADATION_FAKE_GPUS=N`` makes N devices appear (numbered 0..N-1) on a machine without
GPUs: runs take slots and set ``CUDA_VISIBLE_DEVICES`` as on a GPU machine, and train on the CPU.

Own code, not a library: the whole mechanism is one ``fcntl.flock`` per slot file; ``filelock`` would add a
dependency for the same call and has no notion of "the first free one of many".
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

from ..config import ConfigError, ascii_digits


FAKE_ENV = "DEGRADATION_FAKE_GPUS"
POLL_SECONDS = 0.5
_HELD: list["Slot"] = []  # leased slots: referenced here, their files stay open (and locked) until release()


@dataclass
class Slot:
    """A leased slot: held until the process exits or :meth:`release`, whether the caller keeps it or not."""

    index: int  # the device's number as torch numbers the devices make sees (cuda:<index>)
    visible: str  # its CUDA_VISIBLE_DEVICES entry (a number or a UUID)
    slot: int  # which of the device's RUNS_PER_GPU slots
    runs_per_gpu: int
    fake: bool = False
    _file: IO | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"cuda:{self.index}"

    def record(self) -> dict:
        """What config.yaml and result.json record about the device."""
        return {"device": self.name, "CUDA_VISIBLE_DEVICES": self.visible, "slot": self.slot,
                "runs_per_gpu": self.runs_per_gpu, **({"fake": True} if self.fake else {})}

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None
        if self in _HELD:
            _HELD.remove(self)


def slots_dir() -> Path:
    """One folder per machine (``$TMPDIR``, else /tmp): every make on the machine shares its GPUs' slots."""
    folder = Path(tempfile.gettempdir()) / "degradation-slots"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)  # other users' runs share the GPUs too
        except OSError:
            pass
    return folder


def placed_by_slurm() -> bool:
    """A SLURM job step (srun, or srun inside an sbatch job) whose GPU SLURM allocated (experiments.launch.slurm)."""
    from .slurm import in_step

    return in_step() and FAKE_ENV not in os.environ


def visible_devices() -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` entries of the devices torch sees, in torch's order; [] without GPUs.

    Counted without initialising CUDA in this process (once initialised, CUDA ignores later changes of
    ``CUDA_VISIBLE_DEVICES``): no NVIDIA driver means no devices; else torch counts them in a subprocess.
    """
    fake = os.environ.get(FAKE_ENV)
    if fake is not None:
        if not ascii_digits(fake):
            raise ConfigError(f"bad {FAKE_ENV} {fake!r}: expected a number of devices, e.g. 2")
        return [str(i) for i in range(int(fake))]
    if not (Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()):
        return []
    try:
        out = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, timeout=120)
        count = int(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in listed.split(",")] if listed is not None else [str(i) for i in range(count)]
    return entries[:count]


def parse_gpus(text: str) -> list[int] | None:
    """``GPUS``: torch's device numbers, comma- or space-separated; "" (all devices) gives None."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        return None
    if not all(ascii_digits(t) for t in tokens) or len(set(tokens)) != len(tokens):
        raise ConfigError(f"bad GPUS {text!r}: expected distinct device numbers, e.g. GPUS=0,1 (empty: every GPU)")
    return [int(t) for t in tokens]


def parse_runs_per_gpu(text: str | int) -> int:
    value = str(text).strip()
    if not ascii_digits(value) or int(value) < 1:
        raise ConfigError(f"bad RUNS_PER_GPU {text!r}: expected an integer >= 1 (runs sharing one GPU)")
    return int(value)


def parse_jobs(text: str | int) -> int:
    """JOBS (or make's -j N): the runs trained at once, an integer >= 1; ConfigError naming the value."""
    value = str(text).strip()
    if not ascii_digits(value) or int(value) < 1:
        raise ConfigError(f"bad JOBS {text!r} (runs trained at once, also -j N): a whole number >= 1")
    return int(value)


def devices(gpus: str = "") -> list[tuple[int, str]]:
    """The devices runs may use: (torch's number, CUDA_VISIBLE_DEVICES entry); [] without GPUs.

    ConfigError when ``gpus`` is malformed or names a device torch does not see.
    """
    chosen = parse_gpus(gpus)
    seen = visible_devices()
    if chosen is None:
        return list(enumerate(seen))
    bad = [i for i in chosen if i >= len(seen)]
    if bad:
        valid = f"0 to {len(seen) - 1}" if seen else "none: torch sees no GPU here (leave GPUS empty)"
        raise ConfigError(f"bad GPUS {gpus!r}: no device {bad[0]}; valid: {valid}")
    return [(i, seen[i]) for i in chosen]


def _slot_file(folder: Path, visible: str, k: int) -> Path:
    """Slot ``k`` of the device ``visible`` (a number or a UUID, which may hold a "/")."""
    return folder / f"{visible.replace('/', '_')}.{k}.lock"


def _try(folder: Path, index: int, visible: str, k: int, runs_per_gpu: int, holder: str) -> Slot | None:
    path = _slot_file(folder, visible, k)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        writable = True
    except PermissionError:  # another user's slot file, not writable for us: a read-only fd locks as well
        fd, writable = os.open(path, os.O_RDONLY), False
    f = os.fdopen(fd, "r+" if writable else "r")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    if writable:
        try:
            os.fchmod(fd, 0o666)  # other users' runs use the same GPUs
        except OSError:
            pass
        f.seek(0), f.truncate(), f.write(holder + "\n"), f.flush()  # who holds it, for the waiting message
    slot = Slot(index, visible, k, runs_per_gpu, os.environ.get(FAKE_ENV) is not None, f)
    _HELD.append(slot)  # a Slot nobody references would close its file, and so free the device, too early
    return slot


def _holders(folder: Path, devs: list[tuple[int, str]], runs_per_gpu: int) -> str:
    parts = []
    for index, visible in devs:
        for k in range(runs_per_gpu):
            try:
                who = _slot_file(folder, visible, k).read_text().strip()
            except OSError:
                who = ""
            parts.append(f"cuda:{index}{f' ({who})' if who else ''}")
    return ", ".join(parts)


def lease(devs: list[tuple[int, str]], runs_per_gpu: int = 1, holder: str = "",
          on_wait: Callable[[str], None] | None = None, poll: float = POLL_SECONDS) -> Slot:
    """Take the first free slot of ``devs`` (from :func:`devices`), waiting for one if all are held.

    ``on_wait`` is called once, with the busy slots' holders, before the first wait. The slot is held
    until :meth:`Slot.release` or the end of the process.
    """
    if not devs:
        raise ValueError("lease() needs at least one device")
    folder = slots_dir()
    holder = holder or f"pid {os.getpid()}"
    order = [(k, index, visible) for k in range(runs_per_gpu) for index, visible in devs]
    told = False
    while True:
        for k, index, visible in order:
            slot = _try(folder, index, visible, k, runs_per_gpu, holder)
            if slot is not None:
                return slot
        if not told and on_wait is not None:
            on_wait(_holders(folder, devs, runs_per_gpu))
            told = True
        time.sleep(poll)


def use(slot: Slot) -> None:
    """Make the slot's device the only one this process (and its children) sees. Call before CUDA starts."""
    os.environ["CUDA_VISIBLE_DEVICES"] = slot.visible


def default_jobs(gpus: str, runs_per_gpu: str | int, cpu_jobs: int) -> int:
    """Runs to train at once when make is given no ``-j`` (the Makefile's ``JOBS``): one per slot, GPUs x
    ``RUNS_PER_GPU``, where there are GPUs (fake ones included); else ``cpu_jobs``. Raises ConfigError as
    :func:`devices` and :func:`parse_runs_per_gpu`."""
    slots = len(devices(gpus)) * parse_runs_per_gpu(runs_per_gpu)
    return slots if slots else max(1, cpu_jobs)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m experiments.launch.slots")
    parser.add_argument("command", choices=("jobs",), help="jobs: print the default number of runs at once")
    parser.add_argument("--gpus", default="", help="GPUS (default: every GPU torch sees)")
    parser.add_argument("--runs-per-gpu", default="1", help="RUNS_PER_GPU")
    parser.add_argument("--cpu-jobs", type=int, default=1, help="runs at once where there is no GPU")
    args = parser.parse_args(argv)
    try:
        jobs = default_jobs(args.gpus, args.runs_per_gpu, args.cpu_jobs)
    except ConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    print(jobs)
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
