"""The LightningModule: one net from the registry, the paper's SGD recipe, logging against iterations.

Hot-path rules (see ``make bench``): nothing on the training step waits for the device. Training loss
and error are accumulated on the device and read (one sync) every ``log_every`` iterations.

Divergence: a run is diverged (``diverged_at`` set, training stopped) when any number it produces or keeps
is non-finite: the training loss at a log point (a NaN stays NaN in the sums, so none is missed), an
evaluation's loss or error, or, checked after every evaluation and after the last update, a weight, a BN
running statistic or an optimizer buffer. The checkpoint that follows an evaluation is written only when
the run has not diverged (experiments.run), so no non-finite state is ever resumed from or measured.

Manual optimization: ``training_step`` runs a :class:`experiments.training.step.TrainStep` (forward, loss,
backward, the sums; on a GPU with ``cuda_graph`` one recorded CUDA graph), then steps the optimizer through
Lightning (which counts ``global_step`` and calls ``on_before_optimizer_step``) and the scheduler.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from models import create_model, parse_name
from models.plugins import lr_factors, weight_decay_factors
from models.layout import net_layout

from ..config import RunConfig, model_overrides
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_KEY, RNG_KEY, TRAINED_WITH_KEY, rng_states, set_rng_states
from .schedule import StepSchedule
from .step import TrainStep, autocast_dtype

TRAIN_SUMS_KEY = "degradation_train_sums"  # in the checkpoint: the current training interval's sums
EVAL_SPLITS = ("val", "test")  # the order of the val_dataloader()s; the ImageNet folder has val only


class DegradationModule(pl.LightningModule):
    def __init__(self, model_name: str, num_classes: int, in_channels: int, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.config = RunConfig(**config)
        self.model = create_model(model_name, num_classes=num_classes, in_channels=in_channels,
                                  **model_overrides(model_name, self.config))
        self.criterion = nn.CrossEntropyLoss()
        # Training accumulators, on the device, read every log_every iterations; the image count on the host.
        for name in ("_loss_sum", "_wrong_sum"):
            self.register_buffer(name, torch.zeros((), dtype=torch.float64), persistent=False)
        self._seen = 0
        # Manual optimization: a training step is TrainStep's device work (forward, loss, backward; on a GPU
        # recorded as one CUDA graph if asked), then the optimizer and scheduler steps (experiments/training/step.py).
        self.automatic_optimization = False
        # The net as training steps call it (configure_model: compiled on a GPU if asked) and the step
        # (on_train_start). Not submodules, so parameter names and checkpoints stay those of the eager net.
        object.__setattr__(self, "_train_forward", self.model)
        self._step: TrainStep | None = None
        # nan_strategy="disable": a NaN loss makes the mean NaN (the default drops NaN batches, biasing the
        # mean, and checks every batch on the host). "disable" also ignores update()'s weights (torchmetrics
        # 1.9.0), so eval_step passes per-image losses: their plain mean is the mean over images.
        self.eval_loss = nn.ModuleList(MeanMetric(nan_strategy="disable") for _ in EVAL_SPLITS)
        # validate_args=False: its label checks wait for the device every batch; labels are checked once, at
        # loading (experiments.data.check_labels, folder_classes).
        self.eval_acc = nn.ModuleList(MulticlassAccuracy(num_classes, average="micro", validate_args=False)
                                      for _ in EVAL_SPLITS)
        self.diverged_at: int | None = None
        self.diverged_reason: str | None = None
        self._lr = float(self.config.lr)  # the rate of the latest training iteration
        # What the run is trained with, kept in every checkpoint and checked on resume (experiments.run):
        # the plugin's source hash and the suite's commits, set by experiments.training.train; the optimizer's
        # groups, set by configure_optimizers.
        self.trained_with: dict = {}
        self._rng_to_restore: dict | None = None

    # --- model ---
    def configure_model(self) -> None:
        on_gpu = self.trainer.strategy.root_device.type == "cuda"
        if self.config.channels_last:  # on a CPU too: oneDNN's convolutions are 1.2-1.6x faster in NHWC
            self.model.to(memory_format=torch.channels_last)
        forward = self.model
        if on_gpu and self.config.compile:
            # Training steps only: evaluation runs the eager net, since eval mode at the evaluation batch
            # size is another graph whose compilation costs more than a run's few evaluation passes.
            forward = torch.compile(self.model, mode=self.config.compile_mode)
        object.__setattr__(self, "_train_forward", forward)

    def on_train_start(self) -> None:
        # Here, not in configure_model: the buffers the step accumulates into are on the device only now
        # (moving a module replaces its buffers), and a resumed fit's weights and optimizer are restored.
        # The Trainer's precision: experiments.run gives a CPU "32-true" whatever the profile says.
        object.__setattr__(self, "_step", TrainStep(
            self._train_forward, self.criterion, list(self.model.parameters()), self._loss_sum, self._wrong_sum,
            graph=self.config.cuda_graph, autocast_dtype=autocast_dtype(self.trainer.precision),
            backward=self.manual_backward))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_FORMAT_KEY] = CHECKPOINT_FORMAT
        checkpoint[TRAINED_WITH_KEY] = self.trained_with
        # Taken after a step and its evaluation; nothing draws from these generators until the next step.
        checkpoint[RNG_KEY] = rng_states()
        # The training interval's sums so far (zero after an evaluation, which ends an interval; not at the
        # requeue signal's checkpoint, taken between two logged points: experiments.training.callbacks).
        loss, wrong = torch.stack([self._loss_sum, self._wrong_sum]).tolist()
        checkpoint[TRAIN_SUMS_KEY] = {"loss": loss, "wrong": wrong, "seen": self._seen}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        sums = checkpoint.get(TRAIN_SUMS_KEY) or {"loss": 0.0, "wrong": 0.0, "seen": 0}
        self._loss_sum.fill_(sums["loss"]), self._wrong_sum.fill_(sums["wrong"])  # in place: TrainStep holds them
        self._seen = int(sums["seen"])
        # Restored when the next step starts, not now: between here and that step Lightning builds the data
        # iterators, and a DataLoader's draws its base seed from torch's generator (the ImageNet folder's);
        # the uninterrupted run drew that seed long before its checkpoint.
        self._rng_to_restore = checkpoint.get(RNG_KEY)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        if self._rng_to_restore is not None:
            set_rng_states(self._rng_to_restore)
            self._rng_to_restore = None

    # --- training ---
    def training_step(self, batch, batch_idx):
        x, y = batch
        self._step(x, y)  # forward, loss, backward, accumulators: no host-device sync
        self._seen += y.numel()
        optimizer = self.optimizers()
        self._lr = optimizer.param_groups[0]["lr"]  # this iteration's rate, before the scheduler moves it
        optimizer.step()  # Lightning counts it (global_step) and calls on_before_optimizer_step
        self.lr_schedulers().step()
        self._log_interval()

    def _log_interval(self) -> None:
        """At the end of every ``log_every``-th step: the interval's training point, the sums reset. Here, not in
        ``on_train_batch_end``: the callbacks' hooks, which run before the module's, then see the step whole
        (the requeue signal's checkpoint, experiments.training.callbacks)."""
        step = self.global_step  # iterations done, this one included
        if step % self.config.log_every and step != self.config.max_steps:
            return
        seen = max(self._seen, 1)
        loss, wrong = torch.stack([self._loss_sum, self._wrong_sum]).tolist()  # one host-device sync
        loss, error = loss / seen, 100.0 * wrong / seen
        self._loss_sum.zero_(), self._wrong_sum.zero_()
        self._seen = 0
        # lr: the rate of this row's last iteration (the one its step counts), not the next one's.
        self._emit({"train_loss": loss, "train_error": error, "lr": self._lr}, step)
        # A CPU tensor: Lightning converts progress-bar values with .item() after *every* batch once logged,
        # which for a value on the GPU is a host-device sync per step.
        self.log("train_error", torch.tensor(error), prog_bar=True, logger=False)
        if not math.isfinite(loss):
            self._diverge(step, "non-finite training loss")

    # --- evaluation: validation split (dataloader 0) and test set (dataloader 1) ---
    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0) -> None:
        self.eval_step(batch, dataloader_idx)

    def eval_step(self, batch, index: int) -> None:
        x, y = batch
        logits = self.model(x)  # eager even when training steps are compiled (see configure_model)
        self.eval_loss[index].update(nn.functional.cross_entropy(logits, y, reduction="none"))
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
            self.log("val_error", torch.tensor(metrics.get("val_error", float("nan"))), prog_bar=True, logger=False)
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            if bad:
                self._diverge(self.global_step, f"non-finite {bad[0]}")
            else:
                self.check_finite_state()

    def on_train_end(self) -> None:
        self.check_finite_state()  # after the last update, whether or not an evaluation followed it

    def _emit(self, metrics: dict, step: int) -> None:
        """Every logger the Trainer holds gets every metric (metrics.csv, TensorBoard if asked for, ...)."""
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)

    # --- divergence ---
    def _diverge(self, step: int, reason: str) -> None:
        if self.diverged_at is None:
            self.diverged_at, self.diverged_reason = step, reason
        self.trainer.should_stop = True

    def check_finite_state(self) -> None:
        """Mark the run diverged if a weight, BN statistic or optimizer buffer is non-finite (one host sync)."""
        if self.diverged_at is not None:
            return
        name = first_non_finite(self)
        if name is not None:
            self._diverge(self.global_step, f"non-finite {name}")

    # --- callbacks the run's config asks for (Lightning merges them with the Trainer's) ---
    def configure_callbacks(self):
        if not self.config.grad_norm_every:
            return []
        from .gradients import GradNormRecorder

        # No out_dir: it writes into the trainer's default_root_dir, the run folder (experiments.run).
        return [GradNormRecorder(self.config.grad_norm_every)]

    # --- optimisation (paper section 3.4) ---
    def configure_optimizers(self):
        c = self.config
        fused = self._trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        groups = parameter_groups(self.named_parameters(), c.lr, lr_factors(self.model), prefix="model.",
                                  weight_decay=c.weight_decay, decay_factors=weight_decay_factors(self.model))
        self.trained_with["optimizer_groups"] = optimizer_groups(self.model)
        self.trained_with["layout"] = net_layout(self.model)
        optimizer = torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                                    fused=fused or None)
        warmup = c.warmup_steps if parse_name(self.hparams.model_name).depth >= c.warmup_min_depth else 0
        schedule = StepSchedule(c.milestones, c.gamma, warmup, c.warmup_lr / c.lr, c.warmup)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        # Stepped by training_step after every optimizer step (manual optimization has no "interval").
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def optimizer_groups(model: nn.Module) -> list[dict]:
    """The optimizer's parameter groups a net trains with, as runs record them (``config.yaml``,
    ``result.json``, the checkpoint): ``[{"lr_factor": 1.0, "weight_decay_factor": 1.0, "tensors": 40},
    {"lr_factor": 0.1, "weight_decay_factor": 1.0, "tensors": 20}]``, in :func:`parameter_groups`' order (the
    base rate first); ``tensors``: parameter tensors in the group."""
    return [{"lr_factor": g["lr"], "weight_decay_factor": g.get("weight_decay", 1.0), "tensors": len(g["params"])}
            for g in parameter_groups(model.named_parameters(), 1.0, lr_factors(model), weight_decay=1.0,
                                      decay_factors=weight_decay_factors(model))]


def seeded_net(model_name: str, num_classes: int, in_channels: int, config: RunConfig, seed: int) -> nn.Module:
    """The net a run of ``model_name`` at ``seed`` trains, built under the seeding training builds it under
    (``pl.seed_everything(seed)``, then the net: experiments/training/train.py), so that a net drawing its
    structure from the global generators (a plugin's random wiring) is the same net; leaves the generators
    seeded."""
    pl.seed_everything(seed, workers=True, verbose=False)
    return create_model(model_name, num_classes=num_classes, in_channels=in_channels,
                        **model_overrides(model_name, config))


def net_trained_with(model_name: str, num_classes: int, in_channels: int, config: RunConfig, seed: int) -> dict:
    """What a run's checkpoint records of the net a run of ``model_name`` at ``seed`` builds (built here, as
    training builds it: :func:`seeded_net`, for the run's record and its resume check):
    ``{"optimizer_groups": optimizer_groups(net), "layout": net_layout(net)}``."""
    net = seeded_net(model_name, num_classes, in_channels, config, seed)
    return {"optimizer_groups": optimizer_groups(net), "layout": net_layout(net)}


def parameter_groups(named, lr: float, factors: dict[str, float], prefix: str = "", weight_decay: float = 0.0,
                     decay_factors: dict[str, float] | None = None) -> list[dict]:
    """SGD's parameter groups: every parameter whose name (less ``prefix``) has neither a learning-rate factor
    nor a weight-decay factor, at ``lr`` and the optimizer's weight decay, first (so ``param_groups[0]``
    holds the base rate, the one metrics.csv logs); then one group per (lr factor, decay factor) pair at
    ``lr * factor`` and, where the decay factor is not 1, ``weight_decay * decay factor``. One group when
    there are no factors, as a plain ``SGD(parameters)``. The schedule (LambdaLR) scales every group's rate
    alike. Raises ValueError for a factor naming no parameter."""
    named = list(named)
    decay_factors = decay_factors or {}
    names = {n.removeprefix(prefix) for n, _ in named}
    for what, given in (("learning-rate", factors), ("weight-decay", decay_factors)):
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"{what} factors for parameters the net lacks: {', '.join(unknown[:3])}")
    by_factor: dict[tuple[float, float], list] = {}
    for name, p in named:
        key = name.removeprefix(prefix)
        by_factor.setdefault((float(factors.get(key, 1.0)), float(decay_factors.get(key, 1.0))), []).append(p)
    groups = [{"params": by_factor.pop((1.0, 1.0), []), "lr": lr}]
    for (f, d), ps in sorted(by_factor.items()):
        groups.append({"params": ps, "lr": lr * f, **({"weight_decay": weight_decay * d} if d != 1.0 else {})})
    return groups


def first_non_finite(module: "DegradationModule") -> str | None:
    """The name of the first tensor of the module's state (weights, BN running statistics) or of its
    optimizer's state (momentum buffers) holding a NaN or an infinity; None when all are finite.

    These are what a checkpoint keeps: a resume or ``make layer-responses`` would start from them.
    """
    named = [(k, v) for k, v in module.state_dict().items() if torch.is_tensor(v) and v.is_floating_point()]
    if module._trainer is not None:
        names = {id(p): n for n, p in module.named_parameters()}
        for optimizer in module.trainer.optimizers:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    for key, v in optimizer.state.get(p, {}).items():
                        if torch.is_tensor(v) and v.is_floating_point():
                            named.append((f"optimizer {key} of {names.get(id(p), '?')}", v))
    if not named:
        return None
    with torch.no_grad():
        finite = torch.stack([torch.isfinite(v).all() for _, v in named]).tolist()  # one host-device sync
    return next((name for (name, _), ok in zip(named, finite) if not ok), None)
