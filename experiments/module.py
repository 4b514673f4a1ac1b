"""The LightningModule: one net from the registry, the paper's SGD recipe, logging against iterations.

Hot-path rules (see ``make bench``): nothing on the training step waits for the device. Training loss
and error are accumulated on the device and read (one sync) every ``log_every`` iterations; divergence is
checked at those points too (a NaN loss stays NaN, so nothing is missed).
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from models import create_model, parse_name

from .config import RunConfig

EVAL_SPLITS = ("val", "test")  # the order of the val_dataloader()s


def model_overrides(model_name: str, config: RunConfig) -> dict:
    """The registry overrides a profile asks for: width and stem of each family, the init."""
    family = parse_name(model_name)[0]
    overrides: dict = {"init": config.init}
    width = config.imagenet_width if family == "imagenet" else config.cifar_width
    if width:
        overrides["width"] = width
    if family == "imagenet":
        overrides["stem"] = config.stem
    return overrides


class StepSchedule:
    """lr factor at an iteration: warm-up, then divided by 1/gamma at each milestone. Picklable."""

    def __init__(self, milestones: list[int], gamma: float, warmup_steps: int = 0, warmup_factor: float = 1.0):
        self.milestones, self.gamma = list(milestones), gamma
        self.warmup_steps, self.warmup_factor = warmup_steps, warmup_factor

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_factor
        return self.gamma ** sum(step >= m for m in self.milestones)


class DegradationModule(pl.LightningModule):
    def __init__(self, model_name: str, num_classes: int, in_channels: int, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.config = RunConfig(**config)
        self.model_name = model_name
        self.model = create_model(model_name, num_classes=num_classes, in_channels=in_channels,
                                  **model_overrides(model_name, self.config))
        self.criterion = nn.CrossEntropyLoss()
        # Training accumulators, on the device, read every log_every iterations.
        for name in ("_loss_sum", "_wrong_sum", "_seen"):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64), persistent=False)
        self.eval_loss = nn.ModuleList(MeanMetric() for _ in EVAL_SPLITS)
        self.eval_acc = nn.ModuleList(MulticlassAccuracy(num_classes, average="micro") for _ in EVAL_SPLITS)
        self.diverged_at: int | None = None

    # --- model ---
    def configure_model(self) -> None:
        on_gpu = self.trainer.strategy.root_device.type == "cuda"
        if on_gpu and self.config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if on_gpu and self.config.compile:
            self.model.compile()  # in place: parameter names (and checkpoints) stay those of the eager net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # --- training ---
    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        loss = self.criterion(logits, y)
        with torch.no_grad():
            n = y.numel()
            self._loss_sum += loss.detach().double() * n
            self._wrong_sum += (logits.argmax(1) != y).sum()
            self._seen += n
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        step = self.global_step  # iterations done, this one included
        if step % self.config.log_every and step != self.config.max_steps:
            return
        seen = self._seen.clamp(min=1)
        loss, error = (self._loss_sum / seen).item(), (100.0 * self._wrong_sum / seen).item()
        self._loss_sum.zero_(), self._wrong_sum.zero_(), self._seen.zero_()
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self._emit({"train_loss": loss, "train_error": error, "lr": lr}, step)
        self.log("train_error", error, prog_bar=True, logger=False)
        if not math.isfinite(loss):
            self.diverged_at = step
            self.trainer.should_stop = True

    # --- evaluation: validation split (dataloader 0) and test set (dataloader 1) ---
    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0) -> None:
        self.eval_step(batch, dataloader_idx)

    def eval_step(self, batch, index: int) -> None:
        x, y = batch
        logits = self.model(x)
        self.eval_loss[index].update(self.criterion(logits, y), weight=y.numel())
        self.eval_acc[index].update(logits, y)

    def on_validation_epoch_end(self) -> None:
        metrics = {}
        for i, split in enumerate(EVAL_SPLITS):
            if self.eval_acc[i].update_count:
                metrics[f"{split}_loss"] = self.eval_loss[i].compute().item()
                metrics[f"{split}_error"] = 100.0 * (1.0 - self.eval_acc[i].compute().item())
            self.eval_loss[i].reset(), self.eval_acc[i].reset()
        if metrics and not self.trainer.sanity_checking:
            self._emit(metrics, self.global_step)
            self.log("val_error", metrics.get("val_error", float("nan")), prog_bar=True, logger=False)

    def _emit(self, metrics: dict, step: int) -> None:
        if self.logger is not None:
            self.logger.log_metrics(metrics, step=step)

    # --- optimisation (paper section 3.4) ---
    def configure_optimizers(self):
        c = self.config
        fused = self._trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        optimizer = torch.optim.SGD(self.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                    fused=fused or None)
        warmup = c.warmup_steps if self.model.spec.depth >= c.warmup_min_depth else 0
        schedule = StepSchedule(c.milestones, c.gamma, warmup, c.warmup_lr / c.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}
