"""The run's own Lightning callbacks: a clock that survives resumes, the checkpoint a run resumes from, and
the checkpoint at SLURM's requeue signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint


class RunClock(pl.Callback):
    """Seconds spent training (evaluations excluded) and evaluating, summed over every session of a run.

    ``train_seconds`` and ``eval_seconds`` (wall seconds) are kept in the checkpoint, so a resumed run
    reports the time of the whole run (less the work lost to an interruption). The suite keeps its own
    clock because Lightning's ``Timer`` keeps only the last evaluation's duration.
    """

    @property
    def state_key(self) -> str:
        return "RunClock"

    def __init__(self) -> None:
        self.train_seconds = self.eval_seconds = 0.0
        self._since: float | None = None
        self._eval_since = 0.0

    def _lap(self) -> None:
        if self._since is not None:
            now = time.monotonic()
            self.train_seconds += now - self._since
            self._since = now

    def on_train_start(self, trainer, pl_module) -> None:
        self._since = time.monotonic()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._lap()
        self._since, self._eval_since = None, time.monotonic()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.eval_seconds += time.monotonic() - self._eval_since
        self._since = time.monotonic()

    def on_train_end(self, trainer, pl_module) -> None:
        self._lap()
        self._since = None

    def state_dict(self) -> dict:
        self._lap()
        return {"train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_seconds = float(state_dict.get("train_seconds", 0.0))
        self.eval_seconds = float(state_dict.get("eval_seconds", 0.0))


class SaveLast(Checkpoint):
    """Write the checkpoint at ``path`` (``checkpoints/last.ckpt``) after every evaluation, the one point a
    run resumes from; not after a divergence (a run resumed from NaN weights would diverge elsewhere).

    Not ModelCheckpoint: with ``save_top_k=0`` it saves "last" only when a top-k file was saved at the
    same step, i.e. never during training, only in ``on_train_end``. Being a ``Checkpoint``, this runs
    after every other callback's ``on_validation_end`` (Lightning orders checkpoint callbacks last), so
    the run clock and the evaluation's metrics rows are on disk before it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and getattr(pl_module, "diverged_at", None) is None:
            trainer.save_checkpoint(self.path)


class Requeued(Exception):
    """SLURM's requeue signal came: the checkpoint of iteration ``step`` is written, training stopped."""

    def __init__(self, step: int) -> None:
        super().__init__(f"requeue signal, checkpoint at iteration {step}")
        self.step = step


class RequeueOnSignal(pl.Callback):
    """SLURM's requeue signal (``sbatch --signal=USR1@<lead>`` before the time limit, ``scancel --signal=USR1``,
    a site's preemption): write ``path`` (``checkpoints/last.ckpt``) of where the run is, at the next step
    boundary, and stop with :class:`Requeued` (experiments.training.train then requeues the job).

    The handler only notes the signal: a checkpoint taken inside it could catch a step half done. At the end
    of the step that follows (where Lightning's own step checkpoints are taken, so that its loop counters
    resume right) the update and its logged row are complete, and the checkpoint holds them all (the
    interval's training sums too: DegradationModule), so the requeued run resumes from that iteration
    exactly: a preempted allocation loses nothing trained before the signal. Not at the end of a step that an
    evaluation follows (the checkpoint would lack it): one step later. A signal during the last iteration
    lets the run finish.
    """

    def __init__(self, path: Path, signum: int, eval_every: int) -> None:
        self.path, self.signum, self.eval_every, self.signalled = path, signum, eval_every, False

    def install(self) -> None:
        """Answer the signal from now on (before ``trainer.fit``: Lightning keeps the handler it finds)."""
        signal.signal(self.signum, self._note)

    def _note(self, signum, frame) -> None:
        self.signalled = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.signalled and step % self.eval_every and step < trainer.max_steps:
            trainer.save_checkpoint(self.path)
            raise Requeued(step)
