"""The tuning protocol's runs as make trains them: through the pool (experiments/pool.py), at a rate named by
the run folder, killed and resumed, and a researcher's plugin net tuned like a built-in one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import runfolder
from experiments.matrix import planned
from helpers_runs import PY, ROOT, TINY_ARGS, TINY_SET, env, forked, inproc, load_ckpt, make
from runfolder.tuning import TUNING_SEED, choose

pytestmark = pytest.mark.filterwarnings("ignore")


def folder(root, model="plain-8", seed=0, lr=None):
    return runfolder.run_dir(root, "methods", "smoke", model, seed, lr)


def test_a_run_through_the_pool_is_the_run_of_a_fresh_process(tmp_path):
    """Each run of the pool is a fork of a process that imported torch and Lightning once: it writes the
    metrics.csv and result numbers of `python -m experiments.run` in a fresh interpreter, byte for byte,
    whatever trained beside it; a run already done is skipped, and the rate of a seed<k>-lr<rate> folder is
    the run's (its warm-up scaled with it)."""
    runs = [("plain-8", 0, None), ("resnet-8", 1, 0.05)]
    fresh = [subprocess.Popen([str(PY), "-m", "experiments.run", "--run-dir", str(folder(tmp_path / "fresh", m, s, lr)),
                               *TINY_ARGS], cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for m, s, lr in runs]  # both at once, each in its own interpreter
    for proc in fresh:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    pooled = [str(folder(tmp_path / "pool", m, s, lr) / "result.json") for m, s, lr in runs]
    p = subprocess.run([str(PY), "-m", "experiments.pool", "--jobs", "2", *TINY_ARGS, *pooled, pooled[0]], cwd=ROOT,
                       env=env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "[2/2] resnet-8 seed 1 at lr 0.05 ..." in p.stdout and "already done" not in p.stdout  # each once
    for model, seed, lr in runs:
        a, b = folder(tmp_path / "fresh", model, seed, lr), folder(tmp_path / "pool", model, seed, lr)
        assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()
        ra, rb = (json.loads((f / "result.json").read_text()) for f in (a, b))
        assert (ra["final"], ra["best"]) == (rb["final"], rb["best"])
    settings = yaml.safe_load((folder(tmp_path / "pool", "resnet-8", 1, 0.05) / "config.yaml").read_text())["config"]
    assert settings["lr"] == 0.05 and settings["warmup_lr"] == pytest.approx(0.005)
    again = subprocess.run([str(PY), "-m", "experiments.pool", *TINY_ARGS, *pooled], cwd=ROOT, env=env(),
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""


def test_a_tuning_run_killed_mid_run_resumes_exactly(tmp_path):
    reference = folder(tmp_path / "ref", seed=TUNING_SEED, lr=0.2)
    rc, out, err = inproc(reference, *TINY_ARGS)
    assert rc == 0, out + err
    killed = folder(tmp_path / "runs", seed=TUNING_SEED, lr=0.2)
    code, output = forked(killed, *TINY_ARGS, fault="kill@7", log=tmp_path / "killed.log")
    assert code == -9, output
    assert load_ckpt(killed / "checkpoints" / "last.ckpt")["global_step"] == 6
    rc, out, err = inproc(killed, *TINY_ARGS)
    assert rc == 0, out + err
    assert json.loads((killed / "result.json").read_text())["resumed_from"] == 6
    assert (killed / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


def test_a_pool_run_killed_by_a_signal_is_named_and_resumed(tmp_path):
    """A run whose process the kernel kills (the OOM killer's SIGKILL) wrote nothing to say so: the pool said
    only NOT DONE at make's end. Now it names the run and the signal at once; the next call resumes it."""
    target = str(folder(tmp_path, seed=TUNING_SEED, lr=0.2) / "result.json")
    p = subprocess.run([str(PY), "-m", "experiments.pool", *TINY_ARGS, target], cwd=ROOT,
                       env=env(DEGRADATION_FAULT="kill@7"), capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert (f"error: {Path(target).parent}: the run's process was killed by SIGKILL (out of memory? the kernel's log "
            "says); its last checkpoint is kept, the next make resumes it") in p.stderr
    again = subprocess.run([str(PY), "-m", "experiments.pool", *TINY_ARGS, target], cwd=ROOT, env=env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(Path(target).read_text())["resumed_from"] == 6


def test_a_rate_named_twice_is_refused_in_one_line(tmp_path):
    """The profile's own rate has one folder (seed<k>); a folder that names it, or a SET lr beside a folder
    rate, is refused before anything is written."""
    rc, out, err = inproc(folder(tmp_path, lr=0.1), *TINY_ARGS)
    assert rc == 2 and "profile's own rate" in err and len(err.strip().splitlines()) == 1
    rc, out, err = inproc(folder(tmp_path, lr=0.2), *TINY_ARGS, "--set", "lr=0.3")
    assert rc == 2 and "bad SET lr" in err and not folder(tmp_path, lr=0.2).exists()


def test_a_plugin_net_is_tuned_like_a_built_in_one(tmp_path, example_plugin):
    """`make methods` with MODELS naming only a researcher's net: the grid on the tuning seed, the extension
    beyond the end it chose, the reported seed at the chosen rate, with nothing written for the plugin; its
    console says what each count counts (:func:`_says_what_each_count_counts`)."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    p = make(tmp_path, "methods", "PROFILE=smoke", "MODELS=mynet-8", "LRS=0.05 0.1", f"SET={' '.join(TINY_SET)}",
             f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={tmp_path / 'reports'}",
             env_extra={"PYTHONPATH": str(example_plugin)}, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    root = runs / "methods" / "smoke"
    choice = choose(root, "mynet-8", (0.05, 0.1), 0.1)
    assert choice.lr is not None and choice.extended in (0.025, 0.2)
    trained = sorted(f.name for f in (root / "mynet-8").iterdir())
    rate = "" if choice.lr == 0.1 else f"-lr{runfolder.lr_token(choice.lr)}"
    expected = {"seed0", f"seed0{rate}", f"seed{TUNING_SEED}", f"seed{TUNING_SEED}-lr0.05",
                f"seed{TUNING_SEED}-lr{runfolder.lr_token(choice.extended)}"}
    assert set(trained) == expected
    for name in trained:
        assert json.loads((root / "mynet-8" / name / "result.json").read_text())["status"] == "ok"
    _says_what_each_count_counts(p.stdout, "mynet-8", board=1)  # one make methods checks both (make test's time)


def _says_what_each_count_counts(stdout: str, model: str, board: int) -> None:
    """Found by a newcomer: one `make methods` printed "methods / smoke: 6 runs, 6 ok", then "==> methods
    (smoke): 15 ok", and progress that jumped ([1/10] ... [10/10], [3/12], [6/12], [4/15] ... [6/15]). Each
    step of the tuning protocol now opens with the plan's size, which its [i/N] counts; the report's line
    names the one-recipe board (``board`` runs) and adds the tuning protocol's runs; make's closing line names
    what it counts: one total, said the same way three times. The runs and their order are those of before."""
    import re

    heading = re.compile(r"==> the tuning protocol's plan, step (\d+): (\d+) runs known (?:so far|now \((\d+) "
                         r"before\)), (\d+) to train \(\[i/(\d+)\]: a run's place among them\)")
    steps, total = [], None
    for line in stdout.splitlines():
        if m := heading.fullmatch(line):
            step, total, before, todo, n = (int(g) if g else None for g in m.groups())
            assert step == len(steps) + 1 and n == total and before == (steps[-1]["total"] if steps else None)
            steps.append({"total": total, "todo": todo, "started": []})
        elif m := re.fullmatch(r"\[(\d+)/(\d+)\] (.+) \.\.\.", line):  # a run starting
            assert int(m[2]) == total and int(m[1]) <= total, line
            steps[-1]["started"].append(m[3])
    assert len(steps) >= 2 and all(len(s["started"]) == s["todo"] for s in steps), stdout
    # the first step's runs (two jobs start them in pairs, so their lines may come in either order)
    assert sorted(steps[0]["started"][:3]) == sorted([f"{model} seed 1000 at lr 0.05", f"{model} seed 1000",
                                                      f"{model} seed 0"]), steps
    tuning = total - board  # the reported seeds at the profile's rate are the board's; the rest, the protocol's
    assert (f"methods / smoke, one-recipe board: {board} runs, {board} ok; the tuning protocol's runs besides: "
            f"{tuning}, {tuning} ok ({total} in all)") in stdout.splitlines(), stdout
    assert stdout.splitlines()[-1] == (f"==> methods (smoke), all {total} runs incl. the tuning protocol's "
                                       f"(one-recipe board {board}, tuning protocol {tuning}): {total} ok")


def test_the_pool_steps_through_the_tuning_protocol_in_one_process(tmp_path):
    """``--plan``: given only the protocol's first step (the grid on the tuning seed, the reported seed at the
    profile's rate), the pool asks the plan again after each step, in-process, and trains the end's extension
    and the reported seed at the chosen rate before it returns: one start-up for the whole protocol (make's
    matrix hands it the steps' asking; tests/test_pool.py::test_a_plugin_net_is_tuned_like_a_built_in_one)."""
    runs = tmp_path / "runs"
    plan_args = ["--experiment", "methods", "--profile", "smoke", "--models", "plain-8", "--seeds", "0",
                 "--runs-dir", str(runs), "--set", " ".join(TINY_SET), "--lrs", "0.05 0.1"]
    first = [str(d) for d in planned(plan_args)]  # what `python -m experiments.matrix plan` prints, as folders
    assert len(first) == 3  # lr 0.05 and 0.1 on the tuning seed; seed 0 at 0.1
    p = subprocess.run([str(PY), "-m", "experiments.pool", "--jobs", "2", *TINY_ARGS, *first, "--plan", *plan_args],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    root = runs / "methods" / "smoke"
    choice = choose(root, "plain-8", (0.05, 0.1), 0.1)
    assert choice.extended in (0.025, 0.2)  # the end's extension was trained, then the choice made again
    done = {f.name for f in (root / "plain-8").iterdir() if runfolder.read_status(f / "result.json") in runfolder.DONE}
    rate = "" if choice.lr == 0.1 else f"-lr{runfolder.lr_token(choice.lr)}"
    assert done == {"seed0", f"seed0{rate}", f"seed{TUNING_SEED}", f"seed{TUNING_SEED}-lr0.05",
                    f"seed{TUNING_SEED}-lr{runfolder.lr_token(choice.extended)}"}
    assert set(planned(plan_args)) == {root / "plain-8" / name for name in done}  # the plan has stopped growing


def test_ctrl_c_while_the_pool_imports_is_one_line_and_ends_by_the_signal(tmp_path):
    """Ctrl-C in the pool's first seconds (importing torch and Lightning) printed a 40-60 line KeyboardInterrupt
    traceback. It is one line now, and the pool still ends by SIGINT, so that make's recipe stops too."""
    import signal
    import subprocess
    import time

    from helpers_runs import PY, ROOT, env, run_dir

    proc = subprocess.Popen([str(PY), "-m", "experiments.pool", "--jobs", "1", str(run_dir(tmp_path))], cwd=ROOT,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Signal it while it imports torch: once torch's library is mapped (inside the pool's main, seconds before
    # a run is forked). A fixed sleep could land in the interpreter's start on a loaded machine, or after the
    # imports on a fast one.
    maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 60
    while "libtorch" not in maps.read_text():
        assert time.monotonic() < deadline and proc.poll() is None, "the pool never loaded torch"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted (Ctrl-C)", err


def test_ctrl_c_during_a_fork_stops_the_pool(tmp_path):
    """Found by a fault hunt: a SIGINT landing inside os.fork() (CPython's after-fork callbacks, where a
    KeyboardInterrupt is printed as "Exception ignored" and dropped) let the pool go on to train every other
    run, 2 times in 18. Here every fork is hit: an after-fork hook in the pool's process sends the process
    group SIGINT. The pool now stops at the first run, ends by SIGINT, and trains no other."""
    import signal

    from helpers_runs import run_dir

    dirs = [run_dir(tmp_path, "plain-8", seed) for seed in (0, 1, 2)]
    code = ("import os, signal, sys; from experiments import pool; "
            "os.register_at_fork(after_in_parent=lambda: os.killpg(0, signal.SIGINT)); "
            "sys.exit(pool.main(sys.argv[1:]))")
    proc = subprocess.run([str(PY), "-c", code, "--jobs", "1", *map(str, dirs), *TINY_ARGS], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=300, start_new_session=True)
    assert proc.returncode == -signal.SIGINT, (proc.returncode, proc.stderr[-2000:])
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]
    assert not any((d / "result.json").exists() for d in dirs[1:]) and not dirs[2].exists(), proc.stderr[-2000:]
