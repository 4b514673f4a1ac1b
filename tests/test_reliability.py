"""Reliability (issue 6): interrupted, failing, diverging and malformed runs never lose or corrupt results.

Tiny runs (synthetic 8x8 images, 4-channel nets, 12 iterations, a checkpoint every 3) through the real run
command: in this process where that is enough (no interpreter start), in a forked child where a process
must die (SIGKILL), in a subprocess where it runs beside another, and through ``make`` for the matrix's
behaviour. Faults are
injected with ``DEGRADATION_FAULT`` (see experiments/training/faults.py) or by damaging files by hand.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from helpers_runs import (PY, ROOT, TINY_ARGS, TINY_SET, Forked, tiny_args, assert_same_state, cli, env, forked, inproc, load_ckpt,
                          make, run_dir, wait_for)

pytestmark = pytest.mark.filterwarnings("ignore")


def ckpt_of(folder: Path) -> Path:
    return folder / "checkpoints" / "last.ckpt"


def result_of(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


def temps_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(".*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run: what every interrupted or damaged one must end up equal to."""
    folder = run_dir(tmp_path_factory.mktemp("reference"))
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    return {"folder": folder, "result": result_of(folder), "metrics": (folder / "metrics.csv").read_bytes(),
            "ckpt": load_ckpt(ckpt_of(folder))}


def assert_same_run(folder: Path, ref: dict) -> None:
    """Exactly the reference's results: result.json's numbers, every metrics.csv byte, the final weights,
    optimizer state and Lightning's loop counters (no evaluation re-run or shifted on resume)."""
    got = result_of(folder)
    for key in ("status", "final", "best", "iterations", "params", "multiply_adds"):
        assert got[key] == ref["result"][key], key
    assert (folder / "metrics.csv").read_bytes() == ref["metrics"]
    ckpt = load_ckpt(ckpt_of(folder))
    assert_same_state(ckpt, ref["ckpt"])
    assert ckpt["loops"] == ref["ckpt"]["loops"]
    assert not temps_in(folder), "a temporary file was left behind"


def copy_run(ref: dict, root: Path) -> Path:
    folder = run_dir(root)
    shutil.copytree(ref["folder"], folder)
    return folder


# --- 1. kill -9 at any moment, rerun: exactly the uninterrupted run ------------------------------------------
def test_killed_run_resumes_exactly(tmp_path, reference):
    folder = run_dir(tmp_path)
    ckpt = ckpt_of(folder)

    # SIGKILL halfway through writing the checkpoint of iteration 6: the one of iteration 3 survives whole,
    # the half-written one is only a hidden temporary file, and every row up to iteration 6 is on disk.
    code, output = forked(folder, *TINY_ARGS, fault="kill-in-checkpoint@6", log=tmp_path / "first.log")
    assert code == -signal.SIGKILL, output
    assert load_ckpt(ckpt)["global_step"] == 3
    (partial,) = temps_in(folder)
    assert partial.parent == ckpt.parent and 0 < partial.stat().st_size < ckpt.stat().st_size * 0.9
    assert not (folder / "result.json").exists()
    assert reference["metrics"].startswith((folder / "metrics.csv").read_bytes())
    assert b"\n6,," in (folder / "metrics.csv").read_bytes()  # the evaluation of 6 preceded its checkpoint

    # kill -9 from outside, at whatever moment follows the next checkpoint (polled for).
    before = ckpt.stat().st_mtime_ns
    child = Forked(folder, *TINY_ARGS, log=tmp_path / "second.log")
    try:
        wait_for(lambda: ckpt.exists() and ckpt.stat().st_mtime_ns != before, timeout=90, interval=0.005,
                 proc=child)
    finally:
        child.kill()
    assert load_ckpt(ckpt)["global_step"] in (6, 9, 12)  # whole, wherever the kill landed

    # SIGKILL after the last iteration's checkpoint, before result.json: it resumes at max_steps.
    if not (folder / "result.json").exists():
        code, output = forked(folder, *TINY_ARGS, fault="kill-before-result", log=tmp_path / "third.log")
        assert code == -signal.SIGKILL, output
        assert load_ckpt(ckpt)["global_step"] == 12 and not (folder / "result.json").exists()

    step = load_ckpt(ckpt)["global_step"]
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    assert f"plain-8 seed 0, resuming from iteration {step} ..." in out  # a newcomer saw no sign of the resume
    assert_same_run(folder, reference)


@pytest.mark.parametrize("at,saved", [(4, 4), (6, 7)], ids=["mid-interval", "at-an-evaluation"])
def test_the_requeue_signal_checkpoints_where_the_run_is_and_it_resumes_exactly(tmp_path, reference, at, saved):
    """SLURM's requeue signal (``--signal=USR1@<lead>`` before a time limit, a preemption), here sent by the
    run to itself after iteration 4 (between the evaluations, and checkpoints, of 3 and 6, in the middle of a
    logging interval) or 6 (an evaluation follows: the checkpoint is the next step's). The run checkpoints
    there, interval sums included, and stops; it once kept only the checkpoint of the last evaluation, losing
    what it trained since. Outside SLURM the requeue is refused, and it says so."""
    folder = run_dir(tmp_path)
    code, output = forked(folder, *TINY_ARGS, "--slurm-requeue", fault=f"signal@{at}", log=tmp_path / "first.log")
    assert code == 143, output
    assert (f"SLURM's requeue signal: checkpoint written at iteration {saved}; SLURM refused the requeue (not in a "
            f"SLURM job step): the next `make` resumes it from iteration {saved}") in output, output
    assert load_ckpt(ckpt_of(folder))["global_step"] == saved and not (folder / "result.json").exists()
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    assert result_of(folder)["resumed_from"] == saved
    assert_same_run(folder, reference)


def test_a_requeue_signal_while_the_run_is_still_loading_is_answered_at_its_first_step(tmp_path, reference):
    """``scancel --signal=USR1`` in a run's first seconds (imports, data) reached it before training installed
    its handler: USR1's default action ended the task, with no checkpoint, no requeue and no word. The run now
    listens from its start and answers at its first step boundary."""
    import signal
    import subprocess
    import time

    from helpers_runs import PY, ROOT, env

    folder = run_dir(tmp_path)
    proc = subprocess.Popen([str(PY), "-m", "experiments.run", "--run-dir", str(folder), *TINY_ARGS,
                             "--slurm-requeue"], cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    # Wait until the run answers USR1 (its caught-signal mask in /proc says so), which must be before it has
    # loaded torch's library; then signal it, still loading. (A fixed sleep could land before main on a loaded
    # machine; the old code listened only once training began, long after torch was loaded.)
    status, maps = Path(f"/proc/{proc.pid}/status"), Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while True:
        caught = int(next(ln for ln in status.read_text().splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
        if caught & (1 << (signal.SIGUSR1 - 1)):
            break
        assert "libtorch" not in maps.read_text(), "torch loaded before the run listened for USR1"
        assert time.monotonic() < deadline and proc.poll() is None, "the run never listened for USR1"
        time.sleep(0.01)
    assert "libtorch" not in maps.read_text()
    proc.send_signal(signal.SIGUSR1)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, output
    assert ("SLURM's requeue signal: checkpoint written at iteration 1; SLURM refused the requeue (not in a SLURM "
            "job step): the next `make` resumes it from iteration 1") in output, output
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0 and result_of(folder)["resumed_from"] == 1, out + err
    assert_same_run(folder, reference)


# --- 2. progress files are replaced atomically: old or new, never half ----------------------------------------
class Crash(Exception):
    pass


def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path):
    """`kill -TERM` of reports.build mid-figure left `.report.pdf.<x>.tmp` beside the report (only a build 10
    minutes later removed it); Ctrl-C left nothing. A command run by run_main(sigterm=True) now ends on SIGTERM
    through SystemExit: the writer's cleanup runs, one line says why, exit 143."""
    code = ("import os, signal, sys; from runfolder.io import atomic_open, run_main\n"
            "def main():\n"
            "    with atomic_open(sys.argv[1]) as f:\n"
            "        f.write(b'half a figure'); f.flush(); os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return 0\n"
            "run_main(main, sigterm=True)\n")
    target = tmp_path / "report.pdf"
    p = subprocess.run([str(PY), "-c", code, str(target)], cwd=ROOT, env=env(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 143 and p.stderr == "stopped (SIGTERM)\n", p.stderr
    assert list(tmp_path.iterdir()) == []


def test_crash_mid_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    from experiments.training import csvlog
    from runfolder import io as rio
    from experiments.training.checkpoint import AtomicCheckpointIO

    # The suite's writer: raise with half the new bytes written -> old content, no temporary file.
    target = tmp_path / "result.json"
    rio.atomic_write_json(target, {"status": "ok", "old": True})
    old = target.read_bytes()
    with pytest.raises(Crash):
        with rio.atomic_open(target) as f:
            f.write(b'{"status": "fai')
            f.flush()
            raise Crash
    assert target.read_bytes() == old and not temps_in(tmp_path)

    # result.json, config.yaml, error.txt: a crash at fsync (all bytes written, not yet renamed).
    def crash(*args):
        raise Crash

    rio.atomic_write_yaml(tmp_path / "config.yaml", {"model": "plain-8"})
    monkeypatch.setattr(rio.os, "fsync", crash)
    for write, path, data in ((rio.atomic_write_json, target, {"status": "new"}),
                              (rio.atomic_write_yaml, tmp_path / "config.yaml", {"model": "resnet-8"}),
                              (rio.atomic_write_text, tmp_path / "error.txt", "Traceback")):
        before = path.read_bytes() if path.exists() else None
        with pytest.raises(Crash):
            write(path, data)
        assert (path.read_bytes() if path.exists() else None) == before
    monkeypatch.undo()
    assert not temps_in(tmp_path)

    # The checkpoint: torch.save dies halfway -> the previous checkpoint loads, unchanged.
    checkpoint_io = AtomicCheckpointIO()
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint_io.save_checkpoint({"global_step": 3, "w": torch.ones(1000)}, ckpt)
    real_save = torch.save

    def half_save(obj, f, *a, **k):
        import io

        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise Crash

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(Crash):
        checkpoint_io.save_checkpoint({"global_step": 6, "w": torch.zeros(1000)}, ckpt)
    monkeypatch.undo()
    assert load_ckpt(ckpt)["global_step"] == 3 and not temps_in(tmp_path)
    # ...and a temporary file a SIGKILL left (the writer had no chance to clean up) is cleared on restart.
    (ckpt.parent / ".last.ckpt.abc123.tmp").write_bytes(b"half")
    assert rio.remove_stale_temps(ckpt.parent) and not temps_in(tmp_path)

    # metrics.csv: a flush that fails keeps the rows flushed before.
    writer = csvlog._RunWriter(str(tmp_path))
    writer.log_metrics({"train_loss": 2.0, "train_error": 80.0, "lr": 0.1}, step=3)
    writer.save()
    rows_before = (tmp_path / "metrics.csv").read_bytes()
    writer.log_metrics({"train_loss": 1.0, "train_error": 40.0, "lr": 0.1}, step=6)
    monkeypatch.setattr(rio.os, "fsync", crash)  # the new row written, not yet on disk
    with pytest.raises(Crash):
        writer.save()
    monkeypatch.undo()
    assert (tmp_path / "metrics.csv").read_bytes() == rows_before == csvlog.HEADER.encode() + b"3,0.1,2.0,80.0,,,,\n"

    # Report files go through the same writer (reports.io adapts it to tables, figures and the PDF).
    from reports import io as report_io

    summary = tmp_path / "summary.md"
    report_io.write_text(summary, "old summary")
    with pytest.raises(Crash):
        with rio.atomic_open(summary) as f:
            f.write(b"new sum")
            raise Crash
    assert summary.read_text() == "old summary" and not list(tmp_path.glob(".*.tmp"))


# --- 3. failed runs are recorded and retried; diverged runs are results ---------------------------------------
def test_failed_run_records_its_traceback_and_resumes_when_retried(tmp_path, reference):
    folder = run_dir(tmp_path)
    rc, out, err = inproc(folder, *TINY_ARGS, fault="raise@5")
    assert rc == 1
    assert err.count("\n") == 1 and "FAILED" in err and "RuntimeError: injected fault" in err and str(folder) in err
    result = result_of(folder)
    assert result["status"] == "failed" and "Traceback" in result["error"]
    assert "injected fault" in (folder / "error.txt").read_text()
    assert load_ckpt(ckpt_of(folder))["global_step"] == 3
    # make's list of runs to retry holds it.
    rc, listed, _ = _not_done([folder / "result.json"])
    assert listed == [str(folder / "result.json")]
    # The retry resumes from iteration 3 and ends exactly as an uninterrupted run.
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, err
    assert result_of(folder)["resumed_from"] == 3 and not (folder / "error.txt").exists()
    assert_same_run(folder, reference)


def _not_done(paths) -> tuple[int, list[str], str]:
    import contextlib
    import io

    from experiments import run

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run.main(["--not-done", *map(str, paths)])
    return rc, out.getvalue().split(), ""


# lr=1e6: the weights are non-finite by the first evaluation (3), so no checkpoint is ever written; a NaN
# fault at iteration 4: the training loss at the log point 6, after the checkpoint of 3.
@pytest.mark.parametrize("how,at,ckpt_step", [(("--set", "lr=1e6"), 3, None), (("fault", "nan@4"), 6, 3)],
                         ids=["lr-1e6", "nan-fault"])
def test_diverged_run_is_a_result_and_is_not_retried(tmp_path, how, at, ckpt_step):
    folder = run_dir(tmp_path)
    args, fault = (TINY_ARGS + list(how), None) if how[0] == "--set" else (TINY_ARGS, how[1])
    rc, out, err = inproc(folder, *args, fault=fault)
    assert rc == 0 and f"DIVERGED at iteration {at}" in out
    result = result_of(folder)
    assert result["status"] == "diverged" and result["diverged_at"] == at and result["iterations"] == at
    assert _not_done([folder / "result.json"])[1] == []
    rc, out, _ = inproc(folder, *args)
    assert rc == 0 and "already done (diverged)" in out
    # Its checkpoint, if any, predates the divergence: with result.json lost, the rerun diverges just the same.
    if ckpt_step is None:
        assert not ckpt_of(folder).exists()
    else:
        assert load_ckpt(ckpt_of(folder))["global_step"] == ckpt_step
    metrics = (folder / "metrics.csv").read_bytes()
    (folder / "result.json").unlink()
    rc, out, err = inproc(folder, *args, fault=fault)
    again = result_of(folder)
    assert rc == 0 and again["resumed_from"] == ckpt_step, err
    assert {k: again[k] for k in ("status", "diverged_at", "final", "best")} == \
        {k: result[k] for k in ("status", "diverged_at", "final", "best")}
    assert (folder / "metrics.csv").read_bytes() == metrics


def test_make_goes_on_past_a_failed_run_names_it_and_retries_it(tmp_path):
    runs = tmp_path / "runs"
    broken, fine = run_dir(runs, "plain-8"), run_dir(runs, "resnet-8")
    broken.mkdir(parents=True)
    (broken / "checkpoints").write_text("not a folder")  # the first checkpoint write fails: a failed run
    # -j2: both runs at once (the failure comes while resnet-8 trains: -k lets it finish)
    args = ["-k", "-j2", "runs", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8 resnet-8",
            f"RUNS_DIR={runs}", f"SET={' '.join(TINY_SET)}"]
    first = make(tmp_path, *args)
    assert first.returncode != 0
    assert "plain-8 seed 0: FAILED" in first.stderr and str(broken / "error.txt") in first.stderr
    assert result_of(broken)["status"] == "failed" and "Traceback" in (broken / "error.txt").read_text()
    assert result_of(fine)["status"] == "ok"  # -k: the matrix went on past the failure
    # The matrix's closing status (the last step of `make degradation`) names it too, and fails.
    import contextlib
    import io

    from experiments import matrix

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = matrix.main(["status", "--experiment", "degradation", "--profile", "smoke", "--models",
                          "plain-8 resnet-8", "--runs-dir", str(runs), "--set", " ".join(TINY_SET)])
    assert rc == 1 and f"FAILED: {broken}" in err.getvalue()

    (broken / "checkpoints").unlink()  # the fault is fixed: the next make retries the failed run only
    second = make(tmp_path, *args)
    assert second.returncode == 0, second.stderr
    assert "plain-8 seed 0 ..." in second.stdout and "resnet-8" not in second.stdout
    assert result_of(broken)["status"] == "ok" and not (broken / "error.txt").exists()


# --- 4. two matrices at once on one runs folder: each run trained once -----------------------------------------
def test_two_makes_at_once_train_each_run_once(tmp_path):
    runs = tmp_path / "runs"
    first = run_dir(runs, "plain-8")
    first.mkdir(parents=True)
    args = ["runs", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}",
            f"SET={' '.join(TINY_SET)}"]
    make(tmp_path, "-q", "--version")  # the install stamp, before two makes race to create it
    outs = [tmp_path / f"make{i}.txt" for i in range(2)]
    # The test holds plain-8's lock until both makes' runs wait on it: then one trains, the other finds it done.
    with open(first / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = []
        for path in outs:
            with open(path, "w") as f:
                procs.append(subprocess.Popen(
                    ["make", "-s", "--no-print-directory", f"STAMP={tmp_path / 'installed'}",
                     f"MATRICES_MK={tmp_path / 'matrices.mk'}", "SEEDS=0", *args],
                    cwd=ROOT, env=env(), stdout=f, stderr=subprocess.STDOUT, text=True))
        both_wait = wait_for(lambda: sum(p.read_text().count("waiting for another process") for p in outs) == 2,
                             timeout=120, interval=0.05)
        fcntl.flock(lock, fcntl.LOCK_UN)
    codes = [p.wait(timeout=180) for p in procs]
    text = "".join(p.read_text() for p in outs)
    assert both_wait and codes == [0, 0], text
    lines = text.splitlines()
    assert sum(ln.endswith("plain-8 seed 0 ...") for ln in lines) == 1, text  # trained by one make only
    assert sum("plain-8 seed 0: already done (ok)" in ln for ln in lines) == 1, text  # the other waited
    assert result_of(first)["status"] == "ok" and result_of(first)["resumed_from"] is None
    steps = [ln.split(",")[0] for ln in (first / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["3", "3", "6", "6", "9", "9", "12", "12"]  # no row twice
    assert not temps_in(first)


# --- 5. bad input: one line naming the value and the choices, exit 2, nothing written ------------------------
BAD_RUNS = [
    ("degradation/smoke/resnet-x/seed0", [], ["'resnet-x'", "<method>-<depth>"]),
    ("degradation/smoke/plain-7/seed0", [], ["impossible depth 7", "6n+2", "20, 32, 44, 56"]),
    ("degradation/fast/plain-8/seed0", [], ["unknown profile 'fast'", "imagenet, paper, quick, smoke"]),
    ("degr/smoke/plain-8/seed0", [], ["unknown experiment 'degr'", "degradation, shortcut-ablation"]),
    ("degradation/smoke/plain-8/seedx", [], ["seedx", "seed<k>", "integer >= 0"]),
    ("degradation/smoke/plain-8/seed-1", [], ["seed-1", "integer >= 0"]),
    ("degradation/smoke/plain-8/seed0", ["batch_size=0"], ["bad batch_size 0", ">= 1"]),
    ("degradation/smoke/plain-8/seed0", ["max_steps=-3"], ["bad max_steps -3", ">= 1"]),
    ("degradation/smoke/plain-8/seed0", ["lr=0"], ["bad lr 0.0", "> 0"]),
    ("degradation/smoke/plain-8/seed0", ["lr=-0.1"], ["bad lr -0.1", "> 0"]),
    ("degradation/smoke/plain-8/seed0", ["batchsize=64"], ["unknown key 'batchsize'", "batch_size"]),
    ("degradation/smoke/plain-8/seed0", ["lr=fast"], ["'lr'", "'fast' is not float"]),
    ("degradation/smoke/plain-8/seed0", ["max_steps=1.5"], ["'max_steps'", "1.5 is not int"]),
]


def _one_error_line(err: str, *fragments: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def bad_profiles(tmp_path):
    """A copy of the profiles plus three broken ones, for DEGRADATION_CONFIG_DIR."""
    from experiments import config

    folder = tmp_path / "configs"
    shutil.copytree(config.CONFIG_DIR, folder)
    (folder / "badkey.yaml").write_text("dataset: synthetic\nbatchsize: 32\n")
    (folder / "badtype.yaml").write_text("dataset: synthetic\nmax_steps: lots\n")
    (folder / "badyaml.yaml").write_text("dataset: [synthetic\n")
    return folder


def test_bad_input_to_the_run_command(tmp_path, monkeypatch, bad_profiles):
    from experiments import config

    runs = tmp_path / "runs"
    cases = [(rel, sets, frags, {}) for rel, sets, frags in BAD_RUNS] + [
        ("degradation/smoke/plain-8/seed0", [], ["DATA_DIR", "/no/such/folder", "does not exist"],
         {"--data-dir": "/no/such/folder"}),
        ("degradation/paper/plain-8/seed0", [], ["CIFAR10 not found", "downloads are off", "cifar-10-python.tar.gz"],
         {"--data-dir": str(tmp_path / "empty")}),
        ("degradation/smoke/plain-8/seed0", [], ["DEGRADATION_FAULT", "'explode@x'", "raise, nan, kill"],
         {"fault": "explode@x"}),
        ("degradation/badkey/plain-8/seed0", [], ["unknown key 'batchsize'", "badkey.yaml", "valid: dataset"], {}),
        ("degradation/badtype/plain-8/seed0", [], ["bad type for 'max_steps'", "'lots' is not int"], {}),
        ("degradation/badyaml/plain-8/seed0", [], ["badyaml.yaml is not valid YAML"], {}),
    ]
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(config, "CONFIG_DIR", bad_profiles)
    for rel, sets, fragments, extra in cases:
        args = [a for kv in sets for a in ("--set", kv)]
        if "--data-dir" in extra:
            args += ["--data-dir", extra["--data-dir"]]
        rc, out, err = inproc(runs / rel, *args, fault=extra.get("fault"))
        assert rc == 2, (rel, sets, out, err)
        _one_error_line(err, *fragments)
        assert not runs.exists(), f"{rel} {sets} wrote under runs/"
    # The real command line too: one line, no traceback.
    p = cli(runs / "degradation/smoke/plain-7/seed0")
    assert p.returncode == 2
    _one_error_line(p.stderr, "impossible depth 7")
    assert not runs.exists()


def test_a_missing_data_dir_is_refused_before_torch_or_lightning_is_imported(tmp_path):
    """A run started by hand with a DATA_DIR that does not exist says so in one line, exit 2, without first
    importing torch and Lightning (about 5 s on a 2-core VM: the line had come only after them)."""
    code = ("import sys\nfrom experiments import run\nrc = run.main(sys.argv[1:])\n"
            "print(rc, sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'pytorch_lightning'))[:3])")
    p = subprocess.run([str(PY), "-c", code, "--run-dir", str(tmp_path / "runs/degradation/smoke/plain-8/seed0"),
                        "--data-dir", str(tmp_path / "no-such-folder")], cwd=ROOT, env=env(), capture_output=True,
                       text=True, timeout=60)
    assert p.stdout.strip() == "2 []", p.stdout + p.stderr
    _one_error_line(p.stderr, f"DATA_DIR '{tmp_path / 'no-such-folder'}' does not exist")
    assert not (tmp_path / "runs").exists()


def test_bad_input_to_make(tmp_path, bad_profiles, monkeypatch):
    runs = tmp_path / "runs"
    (tmp_path / "empty").mkdir()
    base = ["matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}",
            f"REPORTS_DIR={tmp_path / 'rep'}"]
    cases = [  # through make: the checks, and the Makefile's wiring of SET, DATA_DIR and the data step
        (["MODELS=plain-7"], {}, ["impossible depth 7", "6n+2"]),
        (["SET=batch_size=0"], {}, ["bad batch_size 0", ">= 1"]),
        (["DATA_DIR=/no/such/folder"], {}, ["DATA_DIR '/no/such/folder' does not exist"]),
        (["PROFILE=badtype"], {"DEGRADATION_CONFIG_DIR": str(bad_profiles)},
         ["bad type for 'max_steps'", "'lots' is not int"]),
    ]
    make(tmp_path, "-q", "--version")  # the install stamp, before the makes run side by side

    def one(case):
        return make(tmp_path, *base, *case[0], env_extra=case[1])

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, cases))
    for (extra_args, _, fragments), p in zip(cases, results):
        assert p.returncode != 0, extra_args
        assert "Traceback" not in p.stderr
        ours = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("make")]
        _one_error_line("\n".join(ours), *fragments)  # and make's own "make: *** [matrix] Error 2"
        assert not runs.exists(), f"{extra_args} wrote under runs/"

    # The same check (`python -m experiments.matrix check`, make's first step), in this process.
    import contextlib
    import io

    from experiments import matrix

    for args, fragments in (
        (["--seeds", "0 -1"], ["bad seed '-1'", "integers >= 0"]),
        (["--seeds", "x"], ["bad seed 'x'"]),
        (["--profile", "fast"], ["unknown profile 'fast'", "imagenet, paper, quick, smoke"]),
        (["--experiment", "degr"], ["unknown experiment 'degr'", "degradation, shortcut-ablation"]),
        (["--set", "lr=-1 batch_size=64"], ["bad lr -1.0", "> 0"]),
        (["--data-dir", "/no/such/folder", "--data-dir-given"], ["DATA_DIR '/no/such/folder' does not exist"]),
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = matrix.main(["check", "--profile", "smoke", "--models", "plain-8", "--runs-dir", str(runs), *args])
        assert rc == 2, args
        _one_error_line(err.getvalue(), *fragments)
    # make's second step, `python -m experiments.data prepare`: a dataset missing offline says how to get it.
    from experiments.data import __main__ as prepare

    monkeypatch.setenv("DEGRADATION_OFFLINE", "1")  # never a download in a test
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = prepare.main(["prepare", "--profile", "paper", "--data-dir", str(tmp_path / "empty")])
    assert rc == 2
    _one_error_line(err.getvalue(), "CIFAR10 not found", "downloads are off", "cifar-10-python.tar.gz")


# --- 6. damaged inputs to a resume or a report -------------------------------------------------------------
def test_truncated_checkpoint_is_set_aside_and_the_run_starts_over(tmp_path, reference):
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").unlink()
    data = ckpt_of(folder).read_bytes()
    ckpt_of(folder).write_bytes(data[: len(data) // 3])
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0 and "unreadable" in err and "starting over" in err
    assert len(list(ckpt_of(folder).parent.glob("last.ckpt.damaged-*"))) == 1
    assert result_of(folder)["resumed_from"] is None
    assert_same_run(folder, reference)


def test_damaged_metrics_csv_is_tolerated(tmp_path, reference):
    from experiments.training.csvlog import HEADER, trim_after
    from runfolder import read_metrics

    # Reading: an incomplete last line (even one cut to a plausible "1"), garbage and short rows are skipped.
    path = tmp_path / "metrics.csv"
    good = "3,0.1,2.3,81.25,,,,\n3,,,,2.32,89.0,2.31,90.6\n"
    for tail in ("1", "12,0.1,1.8", "garbage\n6,0.1\n\x00\x00", "6,0.1,x,y,,,,\n9,0.1,2.0,70.0,,,,\n12,0.1"):
        path.write_text(HEADER + good + tail)
        rows = read_metrics(path).rows
        assert [r["step"] for r in rows][:2] == [3.0, 3.0] and all(r["step"] in (3.0, 9.0) for r in rows), tail
        kept = trim_after(path, 6)
        assert len(kept) == 2 and path.read_text() == HEADER + good
    path.write_text("step,lr,tra")  # cut inside the header
    assert read_metrics(path).rows == [] and trim_after(path, 6) == []

    # Resuming: the last row cut mid-line when the checkpoint is at 12 -> a point before the checkpoint is lost
    # for good, so the run starts over (deterministic: it ends the same).
    folder = copy_run(reference, tmp_path / "a")
    (folder / "result.json").unlink()
    (folder / "metrics.csv").write_bytes(reference["metrics"][:-20])
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0 and "lacks evaluations at iteration(s) 12" in err and "starting over" in err, err
    assert_same_run(folder, reference)

    # A half-written row after the checkpoint's rows (a failed run, checkpoint at 9) is dropped on resume.
    folder = run_dir(tmp_path / "b")
    assert inproc(folder, *TINY_ARGS, fault="raise@10")[0] == 1
    assert load_ckpt(ckpt_of(folder))["global_step"] == 9
    with open(folder / "metrics.csv", "a") as f:
        f.write("12,0.1,1.8")
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0 and "damaged line" in err, err
    assert result_of(folder)["resumed_from"] == 9
    assert_same_run(folder, reference)


@pytest.mark.parametrize("damage", ['{"status": "ok", "final": {"train": 5', "[]", '{"status": "ok"}', ""],
                         ids=["truncated", "not-a-record", "incomplete", "empty"])
def test_damaged_result_json_is_not_done_and_the_run_finishes_again(tmp_path, reference, damage):
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").write_text(damage)
    assert _not_done([folder / "result.json"])[1] == [str(folder / "result.json")]  # make forces it
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0 and "damaged" in err, err
    assert result_of(folder)["resumed_from"] == 12  # nothing left to train: the checkpoint is the last one
    assert_same_run(folder, reference)
    (aside,) = folder.glob("result.json.damaged-*")  # set aside for a look, as a damaged checkpoint is (it was deleted)
    assert aside.read_text() == damage and aside.name in err


def test_the_trainer_writes_what_the_readers_read(tmp_path, reference):
    """The run folder's one definition (runfolder/files.py), seen from both sides: a trained run's
    files are what the test fixtures write and what make and the reports read, with nothing to flag."""
    import runfolder
    from reports.runs import load_run
    from tests.runfolders import write_run

    folder = reference["folder"]
    assert (folder / "metrics.csv").read_text().split("\n", 1)[0] == runfolder.METRICS_HEADER
    metrics = runfolder.read_metrics(folder / "metrics.csv")
    assert metrics.problem == "" and metrics.damaged == 0 and len(metrics.rows) == 8  # 4 training + 4 eval points
    result = runfolder.read_result(folder / "result.json")
    assert (result["final"], result["best"]) == runfolder.final_and_best(metrics.rows)
    assert runfolder.read_status(folder / "result.json") == "ok"
    run = load_run(folder.parents[3], "degradation", "smoke", "plain-8", 0)
    assert (run.status, run.notes, run.final("test")) == ("ok", [], result["final"]["test"])
    fake = write_run(tmp_path, "degradation", "smoke", "plain-8", 0, steps=[3, 6, 9, 12], train=[80.0] * 4)
    assert (fake / "metrics.csv").read_text().split("\n", 1)[0] == runfolder.METRICS_HEADER
    assert set(runfolder.read_result(fake / "result.json")) <= set(result)  # the fixture invents no field


def test_report_flags_a_run_with_a_malformed_result(tmp_path, reference):
    build = pytest.importorskip("reports.build")
    runs = tmp_path / "runs"
    copy_run(reference, runs)
    bad = run_dir(runs, seed=1)
    shutil.copytree(reference["folder"], bad)
    (bad / "result.json").write_text('{"status": "ok", "final": {"train": 5')
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = build.main(["--experiment", "degradation", "--profile", "smoke", "--runs-dir", str(runs),
                         "--out-dir", str(tmp_path / "out")])
    assert rc == 0
    out = tmp_path / "out" / "degradation" / "smoke"
    summary = (out / "summary.md").read_text()
    assert "malformed" in summary and "seed1" in summary
    assert (out / "report.pdf").is_file()


def test_a_checkpoint_trained_with_other_settings_is_never_resumed(tmp_path, reference):
    """Refused in one line giving each changed setting's value then and now and the command that resumes the
    run (it once named only the fields, and offered only remedies that discard the checkpoint); that command
    resumes it exactly."""
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").unlink()
    (folder / "config.yaml").write_text("config: [damaged\n")  # the checkpoint's own record still says
    before = ckpt_of(folder).read_bytes()
    rc, out, err = inproc(folder, *tiny_args(lr=0.05, threads=2))
    assert rc == 2
    _one_error_line(err, "other settings (lr 0.1, now 0.05; threads 1, now 2)", 'SET="lr=0.1 threads=1" (make)',
                    "--set lr=0.1 --set threads=1 (python -m experiments.run)", "another RUNS_DIR")
    assert ckpt_of(folder).read_bytes() == before and not (folder / "result.json").exists()
    rc, out, err = inproc(folder, *tiny_args(lr=0.1, threads=1))
    assert rc == 0, out + err
    assert result_of(folder)["resumed_from"] == 12
    assert_same_run(folder, reference)


def test_a_checkpoint_from_before_manual_optimization_is_never_resumed(tmp_path, reference):
    # Such a checkpoint keeps its iteration count where Lightning's manual loop does not look: resumed, the
    # run would restart at iteration 0 with trained weights.
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").unlink()
    state = load_ckpt(ckpt_of(folder))
    del state["degradation_format"]
    torch.save(state, ckpt_of(folder))
    before = ckpt_of(folder).read_bytes()
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 2
    _one_error_line(err, "written by an older version of the suite (checkpoint format None, now 4)",
                    "cannot be resumed exactly", "delete", "to train the run from the start", "another RUNS_DIR")
    assert ckpt_of(folder).read_bytes() == before and not (folder / "result.json").exists()
    # format 2: before the random generators' states and the optimizer's groups were kept (a Fixup run
    # interrupted before its lr/10 groups once failed every make on "a different number of parameter groups")
    state["degradation_format"] = 2
    torch.save(state, ckpt_of(folder))
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 2
    _one_error_line(err, "(checkpoint format 2, now 4): it predates the random generators' states and the record "
                    "of what the run was trained with (the optimizer's parameter groups", "delete")



def test_a_checkpoint_from_before_the_layout_record_still_resumes_exactly(tmp_path, reference):
    """Format 3 lacks only the net's layout record, which an exact resume does not need: a run interrupted under
    the previous version resumes (its layout unchecked, as then) and ends as the uninterrupted run; the
    checkpoint it writes next records the layout."""
    folder = run_dir(tmp_path)
    rc, out, err = inproc(folder, *TINY_ARGS, fault="raise@5")
    assert rc == 1 and ckpt_of(folder).exists()
    state = load_ckpt(ckpt_of(folder))
    state["degradation_format"] = 3
    del state["degradation_trained_with"]["layout"]
    torch.save(state, ckpt_of(folder))
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    assert result_of(folder)["resumed_from"] == 3
    assert_same_run(folder, reference)
    after = load_ckpt(ckpt_of(folder))
    assert after["degradation_format"] == 4 and after["degradation_trained_with"]["layout"]


def test_a_checkpoint_of_a_net_built_otherwise_is_refused(tmp_path, reference):
    """A net whose parameter names and shapes stayed but whose computation changed since its checkpoint
    (Fixup's and SkipInit's bottlenecks: the stride moved from the first 1x1 to the 3x3 convolution) loads
    the checkpoint without complaint; the checkpoint records the net's layout, and a resume into another
    one is refused in one line naming the module that changed, with nothing written."""
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").unlink()
    state = load_ckpt(ckpt_of(folder))
    layout = state["degradation_trained_with"]["layout"]
    downsampling = [i for i, line in enumerate(layout) if "stride=(2, 2)" in line and " torch.nn.modules.conv." in line]
    assert downsampling, layout  # the tiny net's downsampling convolutions are in it, with their stride
    name = layout[downsampling[0]].split(" ")[0]
    layout[downsampling[0]] = layout[downsampling[0]].replace("stride=(2, 2)", "stride=(1, 1)")
    torch.save(state, ckpt_of(folder))
    before, config = ckpt_of(folder).read_bytes(), (folder / "config.yaml").read_bytes()
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 2
    _one_error_line(err, "trained with a net built otherwise than", f"module {name!r} (torch.nn.modules.conv.Conv2d)",
                    "stride was '(1, 1), padding", "now '(2, 2), padding", "check out the suite's commit",
                    f"delete {ckpt_of(folder)} to train the run from the start")
    assert ckpt_of(folder).read_bytes() == before and (folder / "config.yaml").read_bytes() == config
    assert not (folder / "result.json").exists()
    # The same checkpoint with its own layout back resumes (nothing else in it was touched).
    state["degradation_trained_with"]["layout"] = reference["ckpt"]["degradation_trained_with"]["layout"]
    torch.save(state, ckpt_of(folder))
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err


def test_a_checkpoint_with_another_optimizer_group_layout_is_refused(tmp_path, reference):
    """A net whose learning-rate groups changed since its checkpoint (Fixup's lr/10 groups, added after runs
    were interrupted) once failed every make with "loaded state dict has a different number of parameter
    groups"; the checkpoint records its groups, and a resume with others is refused in one line."""
    folder = copy_run(reference, tmp_path)
    (folder / "result.json").unlink()
    state = load_ckpt(ckpt_of(folder))
    assert state["degradation_trained_with"]["optimizer_groups"] == [{"lr_factor": 1.0, "weight_decay_factor": 1.0,
                                                                       "tensors": 23}]
    state["degradation_trained_with"]["optimizer_groups"] = [{"lr_factor": 1.0, "tensors": 20},
                                                             {"lr_factor": 0.1, "tensors": 3}]
    torch.save(state, ckpt_of(folder))
    before = ckpt_of(folder).read_bytes()
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 2
    _one_error_line(err, "trained with other optimizer parameter groups (lr x1, decay x1: 20 tensors, lr x0.1, decay "
                    "x1: 3 tensors; the net now trains with lr x1, decay x1: 23 tensors)", "predates a change of the "
                    "net's optimizer groups (lr_factors, weight_decay_factors)",
                    f"delete {ckpt_of(folder)} to train the run from the start")
    assert ckpt_of(folder).read_bytes() == before and not (folder / "result.json").exists()
