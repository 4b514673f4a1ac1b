"""A run's checkpoint, ``checkpoints/last.ckpt``: written atomically, read back with a check.

Lightning's own write (``_atomic_save``) goes through an fsspec transaction whose temporary file is made by
``tempfile.mkstemp()`` in the system's temp folder and committed with ``shutil.move``: a copy, not a
rename, when that folder is on another file system, with no fsync, and a killed process leaves it behind.
The suite keeps its own writer so that the checkpoint is replaced as every other progress file is
(:mod:`runfolder.io`): a temporary file beside it, fsync, ``os.replace``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from runfolder.io import atomic_open

# Written into every checkpoint. Checkpoints without it come from the automatic-optimization versions,
# whose iteration count Lightning keeps elsewhere: resuming one would restart at iteration 0 with trained
# weights, so experiments.run refuses them. Format 3 added the random generators' states (RNG_KEY) and what
# the run was trained with (TRAINED_WITH_KEY: the optimizer's parameter groups, the plugin's source hash, the
# suite's commits), without which a resume is not checked exact: experiments.run refuses older formats too.
# Format 4 added the net's layout (models.layout.net_layout: its modules' settings and code) to TRAINED_WITH_KEY.
CHECKPOINT_FORMAT_KEY, CHECKPOINT_FORMAT = "degradation_format", 4
# The formats a run resumes from: format 3 lacks only the layout record, which an exact resume does not need,
# so it resumes with the layout unchecked (as it did before format 4) and its next checkpoint records it.
RESUMABLE_FORMATS = (3, CHECKPOINT_FORMAT)
# What each older format lacks, for experiments.run's refusal (None: no mark, the automatic-optimization versions).
FORMAT_CHANGES = {None: "manual optimization (Lightning's loop would restart it at iteration 0 with trained weights)",
                  2: "the random generators' states and the record of what the run was trained with (the "
                     "optimizer's parameter groups, a plugin's source hash)"}
RNG_KEY = "degradation_rng"
TRAINED_WITH_KEY = "degradation_trained_with"


class Checkpoint(NamedTuple):
    """What :func:`usable_checkpoint` reads of a checkpoint, without building the net."""

    step: int  # the iteration it holds
    config: dict | None  # the run's settings (RunConfig.to_dict()) it was trained with
    format: object  # CHECKPOINT_FORMAT's value in it; None before the mark
    # TRAINED_WITH_KEY: {"optimizer_groups", "layout", "plugin", "git_commits", "data"}; {} before format 3
    trained_with: dict


def rng_states() -> dict:
    """Every random generator a training step may draw from (a plugin's dropout, say): torch's CPU one, CUDA's
    where initialised, Python's ``random`` and numpy's. The suite's batches draw from generators of their own,
    seeded by (seed, iteration) (experiments/training/batches.py); these are for what the net draws."""
    import random

    import numpy as np

    # Plain lists and tensors: Lightning loads checkpoints with torch.load(weights_only=True), which refuses
    # numpy arrays.
    version, internal, gauss = random.getstate()
    kind, key, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss],
            "numpy": [kind, key.tolist(), pos, has_gauss, cached],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None}


def set_rng_states(states: dict) -> None:
    """Restore :func:`rng_states`' record (CUDA's where this process uses CUDA)."""
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, key, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), pos, has_gauss, cached))
    if states.get("cuda") is not None and torch.cuda.is_initialized():
        torch.cuda.set_rng_state_all(states["cuda"])


# Lightning's name for the checkpoint it saves when SLURM signals a requeue (``hpc_ckpt_<n>.ckpt``).
LIGHTNING_SIGNAL_CHECKPOINT = "hpc_ckpt_"


class AtomicCheckpointIO(TorchCheckpointIO):
    """A ``TorchCheckpointIO`` plugin (``pl.Trainer(plugins=[...])``) that writes checkpoints atomically.

    ``before_write(checkpoint, f)``, if given, is called with the open temporary file before the
    checkpoint is saved into it (the tests' ``kill-in-checkpoint`` fault, :mod:`experiments.training.faults`).
    ``save_checkpoint`` raises TypeError when given ``storage_options`` (a local file has none), and skips
    Lightning's checkpoint at SLURM's requeue signal (``hpc_ckpt_*.ckpt``; see the comment there).
    """

    def __init__(self, before_write: Callable[[dict, BinaryIO], None] | None = None) -> None:
        super().__init__()
        self.before_write = before_write

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        if Path(path).name.startswith(LIGHTNING_SIGNAL_CHECKPOINT):
            # Lightning's checkpoint at SLURM's requeue signal (experiments/launch/slurm.py) is not written: taken
            # from inside the signal handler, in the middle of a step, it could not be resumed exactly. The run's
            # own answer to the signal (callbacks.RequeueOnSignal) writes last.ckpt at the end of the step.
            return
        with atomic_open(path) as f:
            if self.before_write is not None:
                self.before_write(checkpoint, f)
            torch.save(checkpoint, f)


def usable_checkpoint(ckpt: Path) -> Checkpoint | None:
    """What a checkpoint holds (:class:`Checkpoint`: its iteration, the settings and what else it was trained
    with, its format mark), or None if there is none.

    A damaged checkpoint is set aside as ``last.ckpt.damaged-<time>`` with a warning (and None returned):
    the run starts over.
    """
    if not ckpt.is_file():
        return None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        step = int(state["global_step"])
        config = (state.get("hyper_parameters") or {}).get("config")
        trained_with = state.get(TRAINED_WITH_KEY)
        return Checkpoint(step, config if isinstance(config, dict) else None, state.get(CHECKPOINT_FORMAT_KEY),
                          trained_with if isinstance(trained_with, dict) else {})
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is set aside, never trusted
        aside = ckpt.with_name(f"last.ckpt.damaged-{int(time.time())}")
        ckpt.rename(aside)
        print(f"warning: {ckpt} is unreadable ({type(exc).__name__}); set aside as {aside.name}, starting over",
              file=sys.stderr)
        return None
