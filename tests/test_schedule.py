"""A run's numbers do not depend on how make scheduled it (issue 22, section 1).

Older versions gave a run cores // make's ``-j`` CPU threads (or a SLURM step's CPUs): the same run computed
with 2 threads under ``make`` or ``make -j1`` and with 1 under ``make -j2`` on a 2-core machine, and those
give other numbers; a run killed under one and resumed under another mixed the two silently. Here the
same tiny run (``TINY`` without its ``threads=1``: the setting's default is what is tested) is trained
under each schedule, one of them killed under ``-j2`` and resumed under ``JOBS=1`` through the whole matrix
target, and every ``metrics.csv`` must be byte-identical.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from helpers_runs import TINY, inproc, make, run_dir

pytestmark = pytest.mark.filterwarnings("ignore")

SET = " ".join(f"{k}={v}" for k, v in TINY.items() if k != "threads")


def _make(tmp: Path, name: str, *args: str, fault: str | None = None, wait: bool = True):
    """``make`` of the one run plain-8 seed 0 (smoke) in its own runs folder ``tmp/name``."""
    root = tmp / name
    (root / "data").mkdir(parents=True, exist_ok=True)
    target = run_dir(root / "runs") / "result.json"
    return make(root, f"RUNS_DIR={root / 'runs'}", f"DATA_DIR={root / 'data'}", f"REPORTS_DIR={root / 'reports'}",
                "PROFILE=smoke", "MODELS=plain-8", f"SET={SET}", *args, *([] if "degradation" in args else [str(target)]),
                env_extra={"DEGRADATION_FAULT": fault} if fault else None, wait=wait, timeout=300)


def _finish(proc) -> tuple[int, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out + err


def test_the_same_run_gives_the_same_metrics_under_any_schedule_and_resumed_under_another(tmp_path):
    started = time.monotonic()
    # Three at once (each one thread): -j1, no -j (old code: all cores), and -j2 killed at iteration 5.
    procs = {"j1": _make(tmp_path, "j1", "-j1", wait=False), "plain": _make(tmp_path, "plain", wait=False),
             "killed": _make(tmp_path, "killed", "-j2", fault="kill@5", wait=False)}
    done = {name: _finish(p) for name, p in procs.items()}
    assert done["j1"][0] == 0 and done["plain"][0] == 0, done
    assert done["killed"][0] != 0, done["killed"][1]
    killed = run_dir(tmp_path / "killed" / "runs")
    assert (killed / "checkpoints" / "last.ckpt").is_file() and not (killed / "result.json").exists()

    # Resuming with another thread count than the checkpoint's is refused, in one line, before training.
    rc, out, err = inproc(killed, *[a for kv in SET.split() for a in ("--set", kv)], "--set", "threads=2")
    assert rc == 2 and err.count("\n") == 1 and "trained with other settings (threads 1, now 2)" in err, err

    # Resumed under JOBS=1, through the matrix target (check, data, the runs' sub-make -j1, report, status).
    p = _make(tmp_path, "killed", "degradation", "JOBS=1")
    assert p.returncode == 0, p.stdout + p.stderr
    resumed = json.loads((killed / "result.json").read_text())
    assert resumed["resumed_from"] == 3  # the checkpoint after the evaluation at 3; killed at 5
    seconds = time.monotonic() - started

    reference = (run_dir(tmp_path / "j1" / "runs") / "metrics.csv").read_bytes()
    for name in ("plain", "killed"):
        assert (run_dir(tmp_path / name / "runs") / "metrics.csv").read_bytes() == reference, name
    for name in ("j1", "plain", "killed"):
        folder = run_dir(tmp_path / name / "runs")
        assert "threads: 1\n" in (folder / "config.yaml").read_text()  # what it computed with, recorded
        assert json.loads((folder / "result.json").read_text())["device"].startswith("cpu (1 threads"), name
    print(f"\n-j1, no -j, -j2 killed at 5 and resumed under JOBS=1: one metrics.csv, in {seconds:.1f} s")
