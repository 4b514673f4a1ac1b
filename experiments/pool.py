"""Train many run folders on this machine, N at a time, paying Python's start-up once.

    python -m experiments.pool --jobs 2 RUN_DIR|RESULT_JSON ... [--data-dir data] [--set k=v ...] [--gpus ...]
    python -m experiments.pool --jobs 2 ... --plan --experiment methods --profile quick --models "..." --lrs "..."

What make's matrix calls when runs train here (no LAUNCHER): each run is exactly ``python -m experiments.run
--run-dir RUN_DIR`` (same checks, lock, checkpoint, resume, result.json, exit status), but in a process forked
from this one after torch, Lightning and the suite are imported, instead of a fresh interpreter that imports
them again: about 6 s of a 20 to 70 s quick-profile run (a third of a smoke run). Why our own and not
``multiprocessing``: its fork pool reuses workers across tasks, so a run would start from another run's
process state; here every run gets a fresh fork of a process that has trained nothing, which is what makes a
run's numbers those of a fresh process (tests/test_pool.py checks ``metrics.csv`` byte for byte).

Runs already done (ok or diverged) are skipped without a word; the others train in the order given, at most
``--jobs`` at once, each with its ``[i/N]`` position in the list.

``--plan`` (last; the rest are ``python -m experiments.matrix plan``'s arguments) steps through the tuning
protocol here: once a step's runs are done, the plan is asked again in this process (runfolder.tuning, no
torch) and the runs it adds train, until it stops growing; make's matrix would otherwise start a pool, with
its imports, for each step. Each step with runs to train opens with a line saying how many runs the plan knows
now (the N of its ``[i/N]``, which grows from step to step) and how many of them it trains. Every step trains
the plan's runs not yet done (one that failed in an earlier step is tried again), and the last step's outcome
is the exit status: 0 when every run is done, 1 when any failed or was interrupted (make then names them), 2
for bad input (the first run's message), 4 when no run could train (a bad ``--jobs``, or data settings every
run would refuse: said once); on Ctrl-C the runs in flight stop resumable, as under make, and the pool ends by
SIGINT itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from runfolder import CHECKPOINT, RESULT, done_status
from runfolder.io import end_by_sigint

EXIT_SIGINT = 130
# Nothing trained, because no run could: a bad --jobs, or data settings every run would refuse. make's matrix
# stops on it (no report of runs that were never going to train), where a run's own refusal (2) lets the others go on.
EXIT_REFUSED = 4


def _warm(run_dir: str, args: argparse.Namespace) -> str | None:
    """Import what every run imports (experiments.run itself included: a run forked later never reads the
    suite's files again, so a checkout edited meanwhile cannot hand it other code), and load the first run's tensor dataset (experiments.data.preload), so
    that the forks inherit them instead of doing it again. CUDA is not initialised (a run picks its GPU slot
    before it does) and no thread pool is started (a run sets its own thread count): importing torch and
    loading the tensors do neither, as long as torch computes here on one thread: an OpenMP pool started
    before a fork hangs the forked child at its first parallel region (libgomp is not fork-safe), so this
    process never leaves torch's one-thread mode. A run whose folder or settings are bad is left to say so
    itself; a data setting or an accelerator no run can train with (SET="val_size=70000", a batch larger
    than the training set, accelerator=cuda without a GPU; damaged data files) is returned, once for the
    matrix, as the error's text (None otherwise)."""
    import pytorch_lightning  # noqa: F401
    import torch
    import torchvision  # noqa: F401

    torch.set_num_threads(1)  # before any computation: no OpenMP worker threads in the process that forks

    from runfolder import RunPath

    from .data import ensure_available, preload
    from . import run  # every run of the pool runs this code, whatever the disk holds later
    from .training import datamodule, module, train  # noqa: F401

    from .errors import ConfigError

    try:
        spec = RunPath.parse(run_dir)
        config = run.run_config(spec, args.set)
        ensure_available(config.dataset, Path(args.data_dir), fetch=False)
    except Exception:  # noqa: BLE001 - the run itself checks the same and says what is wrong, in one line
        return None
    try:  # an accelerator this machine lacks (SET="accelerator=cuda"): every run would refuse the same
        run.run_devices(config, args.gpus)
    except ConfigError as exc:
        return str(exc)
    try:
        preload(config, Path(args.data_dir))
    except ConfigError as exc:  # the profile's data settings (SET): every run would refuse the same
        return str(exc)
    except Exception:  # noqa: BLE001 - as above: each run says it
        return None
    return None


def _child(run_dir: str, position: str, args: argparse.Namespace) -> int:
    from .run import main

    argv = ["--run-dir", run_dir, "--data-dir", args.data_dir, "--progress", position, "--gpus", args.gpus,
            "--runs-per-gpu", args.runs_per_gpu]
    for item in args.set:
        argv += ["--set", item]
    try:
        return main(argv)
    except KeyboardInterrupt:
        return EXIT_SIGINT


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plan_args = None  # after --plan: experiments.matrix plan's arguments
    if "--plan" in argv:
        cut = argv.index("--plan")
        argv, plan_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m experiments.pool", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR")
    parser.add_argument("--jobs", default="1", help="runs trained at once (default 1)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--gpus", default="")
    parser.add_argument("--runs-per-gpu", default="1")
    args = parser.parse_args(argv)
    from .errors import ConfigError
    from .launch.slots import parse_jobs

    try:
        args.jobs = parse_jobs(args.jobs)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    # make's targets are the result.json files: either is accepted; each run once, in the order given.
    dirs = list(dict.fromkeys(str(Path(d).parent) if Path(d).name == RESULT else d for d in args.run_dirs))
    warm, step, known = False, 1, len(dirs)
    while True:
        # With --plan each step's [i/N] counts the plan as known at that step: its first line says so
        heading = None if plan_args is None else _step_heading(step, len(dirs), known)
        status, warm = _step(dirs, args, warm, heading)
        if plan_args is None or status >= EXIT_SIGINT or status == EXIT_REFUSED:
            return status
        try:
            from .config import ConfigError
            from .matrix import planned

            more = [str(d) for d in planned(plan_args)]
        except (ConfigError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if more == dirs:
            return status
        step, known, dirs = step + 1, len(dirs), more


def _step_heading(step: int, total: int, before: int) -> str:
    """The line that opens a step of the tuning protocol (``--plan``) with runs to train; ``{todo}``: how many;
    ``before``: the runs the step before knew."""
    known = f"{total} runs known so far" if step == 1 else f"{total} runs known now ({before} before)"
    return (f"==> the tuning protocol's plan, step {step}: {known}, {{todo}} to train ([i/{total}]: a run's place "
            "among them)")


def _step(dirs: list[str], args: argparse.Namespace, warm: bool, heading: str | None = None) -> tuple[int, bool]:
    """Train the runs of ``dirs`` not done, ``args.jobs`` at once: (exit status, whether this process is now
    warm, :func:`_warm`). ``heading`` (:func:`_step_heading`) is printed first where there is a run to train."""
    total = len(dirs)
    todo = [(i, d) for i, d in enumerate(dirs, 1) if done_status(d) is None]
    if not todo:
        return 0, warm
    if heading:
        print(heading.format(todo=len(todo)), flush=True)
    if not warm:
        refusal = _warm(todo[0][1], args)
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return EXIT_REFUSED, True
    running: dict[int, str] = {}
    status = 0
    try:
        while todo or running:
            while todo and len(running) < args.jobs:
                i, run_dir = todo.pop(0)
                sys.stdout.flush()
                sys.stderr.flush()
                # SIGINT held over the fork: one arriving inside it (in CPython's after-fork callbacks, where a
                # KeyboardInterrupt is printed and dropped) would let the pool train on; held, it is raised
                # below, once the run is in ``running`` to be waited for.
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    pid = os.fork()
                    if pid == 0:  # the run: exactly experiments.run's main, then out without the parent's cleanup
                        code = 1
                        try:
                            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                            code = _child(run_dir, f"{i}/{total}", args)
                        except KeyboardInterrupt:  # before the run began: nothing to stop
                            code = EXIT_SIGINT
                        except BaseException:  # noqa: BLE001 - said before os._exit, which would swallow it
                            traceback.print_exc()
                        finally:
                            sys.stdout.flush()
                            sys.stderr.flush()
                            os._exit(code)
                    running[pid] = run_dir
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            pid, wait_status = os.wait()
            ended = running.pop(pid, None)
            code = os.waitstatus_to_exitcode(wait_status)
            if code < 0 and ended is not None:  # killed: it wrote nothing to say so (the OOM killer's SIGKILL)
                try:
                    name = signal.Signals(-code).name
                except ValueError:  # a real-time signal has no name
                    name = f"signal {-code}"
                kept = (Path(ended) / CHECKPOINT).exists()
                print(f"error: {ended}: the run's process was killed by {name}"
                      + (" (out of memory? the kernel's log says)" if -code == signal.SIGKILL else "")
                      + ("; its last checkpoint is kept, the next make resumes it" if kept else
                         "; it had no checkpoint yet, the next make trains it from the start"),
                      file=sys.stderr, flush=True)
            if code == 2 and status in (0, 1):
                status = 2
            elif code != 0 and status == 0:
                status = 1
    except KeyboardInterrupt:  # the runs got the same SIGINT (one process group): let them stop resumable
        for pid in list(running):
            try:
                os.waitpid(pid, 0)
            except (ChildProcessError, KeyboardInterrupt):
                pass
        end_by_sigint()
    return status, True


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
