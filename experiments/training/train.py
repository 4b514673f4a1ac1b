"""Training one run into its folder: the Trainer as the suite configures it, resume, the result record.

:func:`train` is what ``python -m experiments.run`` calls inside the run folder's lock (experiments/run.py
checks the input, the lock and the checkpoint first) and what ``bench/`` measures.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch

from runfolder import CHECKPOINT, METRICS, RunPath, final_and_best, read_metrics

from ..config import RunConfig
from ..launch import slurm
from ..launch.threads import cpu_threads
from .callbacks import Requeued, RequeueOnSignal, RunClock, SaveLast
from .checkpoint import AtomicCheckpointIO
from .faults import Fault, FaultInjection, before_result, checkpoint_fault
from .provenance import device_description

if TYPE_CHECKING:
    from .datamodule import DataModule

EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal's number, as a shell reports them


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SLURM's requeue signal: the run stops where it is and resumes from its checkpoint
    next time.

    ``code`` is the exit status for it: EXIT_SIGINT (130) or EXIT_SIGTERM (143); ``note``, when set, what
    became of it (the requeue), for the run's last line."""

    def __init__(self, code: int, note: str | None = None) -> None:
        super().__init__("interrupted")
        self.code, self.note = code, note


def quiet_lightning() -> None:
    """Lightning's banners ("GPU available", tips) bury the matrix's progress lines; keep its warnings."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def missing_points(rows: list[dict], step: int, config: RunConfig) -> str:
    """Which logged points that precede a checkpoint at ``step`` ``metrics.csv`` lacks ("" if none).

    A resumed run logs only what follows its checkpoint, so a point missing before it would be missing
    for good: such a run starts over instead (it is deterministic, so it ends the same).
    """
    have_train = {int(r["step"]) for r in rows if r.get("train_error") is not None}
    have_eval = {int(r["step"]) for r in rows if r.get("val_error") is not None}
    lost_train = sorted(set(range(config.log_every, step + 1, config.log_every)) - have_train)
    lost_eval = sorted(set(range(config.eval_every, step + 1, config.eval_every)) - have_eval)
    parts = [f"{what} at iteration(s) {', '.join(map(str, lost[:5]))}{' ...' if len(lost) > 5 else ''}"
             for what, lost in (("training points", lost_train), ("evaluations", lost_eval)) if lost]
    return " and ".join(parts)


def _resume_point(run_dir: Path, config: RunConfig, resume_step: int | None) -> int | None:
    """The iteration to resume from: ``resume_step`` with ``metrics.csv`` trimmed to it, or None (start over,
    ``metrics.csv`` removed) when there is no checkpoint or the metrics lack points logged before it (then
    checkpoint and metrics are set aside, with a warning)."""
    from .csvlog import trim_after

    ckpt, metrics = run_dir / CHECKPOINT, run_dir / METRICS
    if resume_step is not None:
        rows = trim_after(metrics, resume_step)
        missing = missing_points(rows, resume_step, config)
        if missing:
            stamp = int(time.time())
            ckpt.rename(ckpt.with_name(f"last.ckpt.set-aside-{stamp}"))
            if metrics.is_file():
                metrics.rename(metrics.with_name(f"metrics.csv.damaged-{stamp}"))
            print(f"warning: {metrics} lacks {missing} logged before the checkpoint at iteration {resume_step}; "
                  "checkpoint and metrics set aside, starting over", file=sys.stderr)
            resume_step = None
    if resume_step is None:
        metrics.unlink(missing_ok=True)
    return resume_step


def _data(spec: RunPath, config: RunConfig, data_dir: Path, datamodule: DataModule | None):
    """The run's data module and (num_classes, in_channels, (C, H, W) of one image)."""
    from .datamodule import data_shape, prepared_data

    data = datamodule if datamodule is not None else prepared_data(config, data_dir, spec.seed)
    return data, data_shape(data)


def loggers(run_dir: Path, config: RunConfig) -> list:
    """metrics.csv (always) and, with ``tensorboard: true``, TensorBoard event files in ``<run>/tensorboard/``.

    The module sends every metric to every logger (DegradationModule._emit)."""
    from .csvlog import RunCSVLogger

    chosen = [RunCSVLogger(run_dir)]
    if config.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        chosen.append(TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard",
                                        default_hp_metric=False))
    return chosen


def train(spec: RunPath, config: RunConfig, data_dir: Path, fault: Fault | None = None,
          resume_step: int | None = None, *, datamodule: DataModule | None = None,
          trainer_kwargs: Callable[[dict], dict] | None = None, requeue: bool = False,
          trained_with: dict | None = None) -> dict:
    """Train the run in ``spec.dir``, or resume it from ``checkpoints/last.ckpt`` at ``resume_step``
    (checked by the caller); return its result record (the fields of ``result.json``).

    ``datamodule``: train on this data module, already loaded and checked (experiments.run's, or the bench's
    synthetic tensors); by default the profile's dataset, loaded here.
    ``trainer_kwargs``: called with the ``pl.Trainer`` keyword arguments, returns those to use (the bench
    adds its timing callback). ``requeue``: in a SLURM batch job, answer SLURM's requeue signal with a checkpoint
    of where the run is, then requeue the job (RequeueOnSignal, experiments/launch/slurm.py). ``trained_with``:
    what else the checkpoints record of the run's provenance (experiments.run: ``plugin``, ``git_commits``),
    beside the optimizer's groups the module records itself. Raises Interrupted
    on Ctrl-C, SIGTERM or the requeue signal; any other error propagates.
    """
    from pytorch_lightning.callbacks import TQDMProgressBar

    from .module import DegradationModule

    quiet_lightning()
    run_dir = spec.dir
    threads = cpu_threads(config)
    torch.set_num_threads(threads)
    accelerator = "gpu" if config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"
    precision = config.precision if accelerator == "gpu" else "32-true"
    gpu_only = [f"{k} {v}" for k, v, plain in (("precision", config.precision, "32-true"), ("compile", config.compile, False),
                                               ("cuda_graph", config.cuda_graph, False)) if v != plain]
    if accelerator == "cpu" and gpu_only:  # a GPU profile (paper) on a CPU: said, and recorded as trained
        print(f"note: {spec}: on the CPU, so {', '.join(gpu_only)} do not apply: it trains in fp32, eagerly, "
              "without a CUDA graph (result.json's precision says so)", file=sys.stderr)
    ckpt = run_dir / CHECKPOINT
    resume_step = _resume_point(run_dir, config, resume_step)

    pl.seed_everything(spec.seed, workers=True, verbose=False)
    data, (num_classes, in_channels, image_shape) = _data(spec, config, data_dir, datamodule)
    module = DegradationModule(spec.model, num_classes, in_channels, config.to_dict())
    module.trained_with.update(trained_with or {})

    clock = RunClock()
    callbacks: list[pl.Callback] = [SaveLast(ckpt), clock]  # a checkpoint after every evaluation, atomically
    if fault is not None:
        callbacks.append(FaultInjection(*fault))
    if requeue:
        on_signal = RequeueOnSignal(ckpt, slurm.REQUEUE_SIGNAL, config.eval_every)
        on_signal.install()
        on_signal.signalled = on_signal.signalled or slurm.signalled_early()  # before it: at the first step
        callbacks.append(on_signal)
    show_bar = sys.stderr.isatty()
    if show_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, config.log_every // 5)))
    kwargs = dict(
        accelerator=accelerator, devices=1, precision=precision, max_steps=config.max_steps, max_epochs=-1,
        val_check_interval=config.eval_every, check_val_every_n_epoch=None, num_sanity_val_steps=0,
        logger=loggers(run_dir, config), callbacks=callbacks,
        enable_progress_bar=show_bar, enable_model_summary=False, benchmark=accelerator == "gpu",
        default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO(checkpoint_fault(fault)), slurm.cluster_environment()],
    )
    trainer = pl.Trainer(**(trainer_kwargs(kwargs) if trainer_kwargs is not None else kwargs))
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if resume_step is not None else None)
    except Requeued as exc:
        raise Interrupted(EXIT_SIGTERM, _requeue(exc.step)) from exc
    except SystemExit as exc:
        # Lightning turns Ctrl-C into sys.exit(1) and SIGTERM into SIGTERMException (a SystemExit).
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        raise Interrupted(EXIT_SIGTERM if isinstance(exc, SIGTERMException) else EXIT_SIGINT) from exc
    if trainer.interrupted:
        raise Interrupted(EXIT_SIGINT)
    before_result(fault)
    return _result(spec, config, module, trainer.global_step, clock, image_shape,
                   device_description(accelerator, threads), resume_step or 0, precision)


def _requeue(step: int) -> str:
    """Requeue the SLURM job after the signal's checkpoint: what became of the run, in words."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # SLURM stops the requeued job's step: let the run say so first
    refused = slurm.requeue()
    done = f"SLURM's requeue signal: checkpoint written at iteration {step}"
    if refused is None:
        return f"{done}; requeued: the requeued task resumes it from iteration {step}"
    return f"{done}; SLURM refused the requeue ({refused}): the next `make` resumes it from iteration {step}"


def _result(spec: RunPath, config: RunConfig, module, iterations: int, clock: RunClock,
            image_shape: tuple[int, int, int], device: str, start_step: int, precision: str) -> dict:
    """The result record of a finished (ok or diverged) run."""
    from models import count_multiply_adds, count_params, parse_name

    final, best = final_and_best(read_metrics(spec.dir / METRICS).rows)
    model, name = module.model, parse_name(spec.model)
    images = iterations * config.batch_size
    return {
        "status": "diverged" if module.diverged_at is not None else "ok",
        "experiment": spec.experiment,
        "profile": spec.profile,
        "model": spec.model,
        "family": name.family,
        "depth": name.depth,
        "shortcut": None if name.plugin else name.shortcut.value,  # a plugin's: what it declares (experiments.run)
        "seed": spec.seed,
        "lr": config.lr,  # the run's rate (a tuning folder's): runfolder.record_problem matches it to config.yaml
        "final": final,
        "best": best,
        "iterations": iterations,
        # Summed over every session of the run (a resumed run included), evaluations included.
        "wall_seconds": round(clock.train_seconds + clock.eval_seconds, 3),
        "images_per_second": round(images / clock.train_seconds, 1) if clock.train_seconds > 0 and images else None,
        "params": count_params(model),
        # Per image, forward: the paper's "FLOPs" (Table 1), which count a multiply-add once. The eager net:
        # compiling wraps it, never replaces it.
        "multiply_adds": count_multiply_adds(model, image_shape),
        **({"diverged_at": module.diverged_at, "diverged_reason": module.diverged_reason}
           if module.diverged_at is not None else {}),
        "resumed_from": start_step or None,
        "device": device,
        "precision": precision,  # as trained: a CPU trains in fp32 whatever the profile asks (config.yaml)
    }
