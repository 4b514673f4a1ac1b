"""Gradient norms during training: is the plain net's trouble vanishing gradients? (issue 7)

He et al. 2015, section 4.1: "we argue that this optimization difficulty is unlikely to be caused by
vanishing gradients ... the backward propagated gradients exhibit healthy norms with BN". This callback
records the evidence: every ``every`` iterations, the L2 norm of the weight gradient of each weighted
layer (:func:`models.weighted_layers`: every convolution and the fully connected layer of the main path,
in the net's order; projection shortcuts excluded), written to ``<run>/grad_norms.csv``::

    step,layer,name,norm
    0,1,conv1,0.1953
    0,2,layer1.0.conv1,0.0874
    ...

``step`` is the number of optimizer updates done before the gradient was taken (``trainer.global_step``
in ``on_before_optimizer_step``): 0 is the gradient at the initial weights, and a record at ``step`` is
the gradient of iteration ``step + 1`` in metrics.csv's counting. Records are taken where
``step % every == 0``. ``layer`` is 1-based, in :func:`models.weighted_layers` order; ``name`` is the
module's name in the net. The norm is of the gradient of the loss alone (weight decay is added by the
optimizer afterwards, so it is not in it) and, under mixed precision, of the unscaled gradient (Lightning
unscales before this hook).

Cost: on a recorded step, one ``torch._foreach_norm`` over the weight gradients and one ``stack`` on the
device; nothing waits for the device. The stacked tensors are kept and copied to the host together when
a checkpoint is saved, at the end of training, or after :data:`MAX_PENDING` records.

Resume: the records live in the callback's ``state_dict()``, which Lightning stores in the checkpoint.
A resumed run drops any record at or after the step it resumes from (they are recomputed, never
duplicated), so its ``grad_norms.csv`` is exactly that of an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from models import weighted_layers

from runfolder import GRAD_NORM_COLUMNS, GRAD_NORMS
from runfolder.io import atomic_write_text

MAX_PENDING = 64  # records held on the device before one copy to the host (bounds memory, not speed)


class GradNormRecorder(pl.Callback):
    """Record each weighted layer's weight-gradient L2 norm every ``every`` iterations.

    ``out_dir``: where ``grad_norms.csv`` goes; ``None`` = the trainer's ``default_root_dir`` (the run
    folder in :mod:`experiments.run`). ``net_attr``: the attribute of the LightningModule that holds the
    net (``"model"`` in :class:`experiments.training.module.DegradationModule`); ``None`` = the module itself.
    """

    def __init__(self, every: int, out_dir: str | Path | None = None, net_attr: str | None = "model") -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"bad every {every!r}: an integer >= 1")
        self.every = every
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.net_attr = net_attr
        self.names: list[str] = []
        self.records: list[tuple[int, list[float]]] = []  # (step, one norm per layer), on the host
        self._pending: list[tuple[int, torch.Tensor]] = []  # (step, norms), still on the device
        self._weights: list[torch.Tensor] = []

    @property
    def state_key(self) -> str:
        return "GradNormRecorder"

    # --- recording ---
    def _net(self, pl_module: nn.Module) -> nn.Module:
        return getattr(pl_module, self.net_attr) if self.net_attr else pl_module

    def on_train_start(self, trainer, pl_module) -> None:
        # The net is on its device by now (and its weights are the restored ones after a resume).
        net = self._net(pl_module)
        modules = dict(net.named_modules())
        names = weighted_layers(net)
        if self.records and self.names != names:
            raise ValueError(f"{GRAD_NORMS}: the restored records are of other layers than this net's")
        self.names = names
        self._weights = [modules[n].weight for n in names]
        # After a resume (Lightning restored global_step and this callback's state): records at or after
        # the step training continues from are recomputed, so drop any the state may hold.
        start = trainer.global_step
        self.records = [r for r in self.records if r[0] < start]
        self._pending = [p for p in self._pending if p[0] < start]

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        step = trainer.global_step  # updates done before this one
        if step % self.every:
            return
        grads = [w.grad if w.grad is not None else torch.zeros((), device=w.device) for w in self._weights]
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(grads)).float()
        self._pending.append((step, norms))
        if len(self._pending) >= MAX_PENDING:
            self._flush()

    def _flush(self) -> None:
        """Copy the pending records to the host: one transfer (and one wait) for all of them."""
        if not self._pending:
            return
        steps = [s for s, _ in self._pending]
        values = torch.stack([n for _, n in self._pending]).cpu().tolist()
        self.records += list(zip(steps, values))
        self._pending = []

    # --- state and output ---
    def state_dict(self) -> dict:
        self._flush()
        return {"every": self.every, "names": list(self.names), "records": [(s, list(v)) for s, v in self.records]}

    def load_state_dict(self, state_dict: dict) -> None:
        self.names = list(state_dict.get("names", []))
        self.records = [(int(s), [float(x) for x in v]) for s, v in state_dict.get("records", [])]
        self._pending = []

    def csv_text(self) -> str:
        self._flush()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(GRAD_NORM_COLUMNS)
        for step, values in sorted(self.records, key=lambda r: r[0]):
            for i, (name, value) in enumerate(zip(self.names, values), start=1):
                writer.writerow((step, i, name, repr(float(value))))
        return buffer.getvalue()

    def write(self, trainer) -> None:
        folder = self.out_dir if self.out_dir is not None else Path(trainer.default_root_dir)
        atomic_write_text(folder / GRAD_NORMS, self.csv_text())

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        # The file holds exactly what the checkpoint being saved holds.
        self.write(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.write(trainer)
