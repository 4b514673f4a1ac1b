"""Fault injection, for the reliability tests only: off unless ``DEGRADATION_FAULT`` is set.

``DEGRADATION_FAULT=<kind>@<iteration>``, kind one of

- ``raise``: an exception after that iteration (the run records status failed);
- ``nan``: NaN weights from that iteration on (the run diverges);
- ``kill``: SIGKILL after that iteration;
- ``kill-in-checkpoint``: SIGKILL halfway through writing that iteration's checkpoint;
- ``kill-before-result``: SIGKILL after training, before ``result.json`` (no iteration);
- ``signal``: SLURM's requeue signal (SIGUSR1) to itself after that iteration, as ``scancel --signal=USR1``
  sends it (a run started with ``--slurm-requeue`` checkpoints and stops; experiments/training/callbacks.py).

The suite keeps its own injection because the faults must strike at exact points of Lightning's loop and
of the checkpoint write, which no fault-injection library reaches.
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Callable
from typing import BinaryIO

import pytorch_lightning as pl
import torch

from ..config import ConfigError
from ..launch.slurm import REQUEUE_SIGNAL

FAULT_ENV = "DEGRADATION_FAULT"
FAULTS = ("raise", "nan", "kill", "kill-in-checkpoint", "kill-before-result", "signal")
Fault = tuple[str, int]  # (kind, iteration); iteration 0 for kill-before-result


def parse_fault(text: str | None) -> Fault | None:
    """``DEGRADATION_FAULT``'s value as (kind, iteration), None when unset.

    Raises ConfigError naming the value and the valid kinds when it is malformed.
    """
    if not text:
        return None
    kind, _, at = text.partition("@")
    if kind == "kill-before-result" and not at:
        return kind, 0
    if kind not in FAULTS or not at.isdigit() or int(at) < 1:
        raise ConfigError(f"bad {FAULT_ENV} {text!r}: expected <kind>@<iteration>, kind one of {', '.join(FAULTS)}")
    return kind, int(at)


def die() -> None:
    """Kill this process as ``kill -9`` would: no handler, no cleanup, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


class FaultInjection(pl.Callback):
    """The faults that strike in the training loop: ``raise``, ``nan``, ``kill`` and ``signal`` at iteration ``at``."""

    def __init__(self, kind: str, at: int) -> None:
        self.kind, self.at = kind, at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.kind == "nan" and trainer.global_step + 1 == self.at:  # iteration `at` is about to run
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.at:
            return
        if self.kind == "raise":
            raise RuntimeError(f"injected fault ({FAULT_ENV}=raise@{self.at})")
        if self.kind == "kill":
            die()
        if self.kind == "signal":
            os.kill(os.getpid(), REQUEUE_SIGNAL)


def checkpoint_fault(fault: Fault | None) -> Callable[[dict, BinaryIO], None] | None:
    """``kill-in-checkpoint``: a hook for :class:`experiments.training.checkpoint.AtomicCheckpointIO` that writes
    half of that iteration's checkpoint into the temporary file, syncs it and dies; None for other faults."""
    if fault is None or fault[0] != "kill-in-checkpoint":
        return None
    at = fault[1]

    def write_half_and_die(checkpoint: dict, f: BinaryIO) -> None:
        if checkpoint.get("global_step") != at:
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        os.fsync(f.fileno())
        die()

    return write_half_and_die


def before_result(fault: Fault | None) -> None:
    """``kill-before-result``: die after training, before the result is written."""
    if fault is not None and fault[0] == "kill-before-result":
        die()
