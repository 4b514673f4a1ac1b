"""The three ways to train that the bench compares, and the configs it runs them with.

- the suite's path: :func:`experiments.training.train.train` itself (DegradationModule, ``pl.Trainer`` as a run
  configures it, TrainBatches, the CSV logger, the checkpoint), given synthetic tensors through its
  ``datamodule`` parameter and a timing callback through its ``trainer_kwargs`` parameter;
- the same steps as a plain PyTorch loop (the same net, batches, optimizer, schedule and TrainStep);
- the classic CIFAR script (torch DataLoader, per-sample PIL transforms, ``.item()`` every step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import shutil
import sys
import time
from pathlib import Path

import torch

from experiments.config import COMPILE_MODES, ConfigError, RunConfig
from experiments.data import Tensors
from experiments.training.datamodule import TensorDataModule
from experiments.run import run_path
from experiments.training.train import Interrupted, train

from .measure import FakeTTY, Measure, Memory, StepClock, non_progress_lines, preemptions, sync


def bench_tensors(shape: tuple[int, int, int], train: int, evaluation: int):
    """Synthetic uint8 images of ``shape`` (learnable: a pattern per class plus noise), as a run loads them."""
    from experiments.data import synthetic_tensors

    c, h, w = shape
    assert h == w, "square images only"
    cfg = RunConfig(dataset="synthetic", image_size=h, synthetic_train=train, synthetic_eval=evaluation)
    return synthetic_tensors(cfg, channels=c)


class OneBatch(TensorDataModule):
    """Item 2's data: the first batch of TrainBatches, repeated (the input pipeline's cost taken out)."""

    def train_dataloader(self):
        return itertools.repeat(super().train_dataloader().batch(0))


class Runner:
    """The three ways to train that the bench compares, each returning a :class:`Measure`: the suite's own
    path (:meth:`lightning`), the same steps as a plain PyTorch loop (:meth:`plain`), and the classic CIFAR
    script (:meth:`classic`). ``tmp``: a folder for the runs' files."""

    def __init__(self, args, device: torch.device, tmp: Path) -> None:
        self.args, self.device, self.tmp = args, device, tmp
        self._runs = itertools.count()
        self.log_lines: list[str] = []

    def _compiling(self, config: RunConfig) -> bool:
        """Before a compiled run: a fresh dynamo, as a run has in its own process. Without it, a second net
        reuses the first one's compiled code (its guards pass) and its CUDA graphs are recorded again into
        the old tree: on torch 2.11 the third net sharing one compiled graph failed to record ("CUDA driver
        error: invalid argument", 2026-11-27). The compilation is then mostly read from inductor's disk cache."""
        if self.device.type != "cuda" or not config.compile:
            return False
        import torch._dynamo

        torch._dynamo.reset()
        return True

    @staticmethod
    def _counters() -> dict:
        from torch._dynamo.utils import counters

        return {"graphs": counters["stats"]["unique_graphs"], "cudagraph_skips": counters["inductor"]["cudagraph_skips"],
                "recompiles": counters["recompiles"] and sum(counters["recompiles"].values())}

    def _compile_note(self, before: dict | None) -> str:
        if before is None:
            return ""
        after = self._counters()
        return (f"graphs +{after['graphs'] - before['graphs']}, cudagraph skips "
                f"+{after['cudagraph_skips'] - before['cudagraph_skips']}")

    # --- 1. the project's path: experiments.training.train.train itself ---
    def lightning(self, model: str, config: RunConfig, tensors: Tensors, steps: int, warmup: int, *,
                  fixed_batch: bool = False, sync_debug: bool = False, profile_steps: int = 0,
                  progress_bar: bool = True) -> Measure:
        """``steps`` iterations of ``model`` through the suite's training function on ``tensors``, images/s
        timed after ``warmup`` steps; ``fixed_batch``: one pre-made batch repeated instead of TrainBatches."""
        config = window(config, steps)
        clock = StepClock(warmup, self.device, sync_debug=sync_debug, profile_steps=profile_steps)
        seen = {}

        def trainer_kwargs(kwargs: dict) -> dict:  # the run's Trainer, plus the clock
            seen.update({k: v for k, v in kwargs.items() if k != "callbacks"})
            return {**kwargs, "callbacks": [*kwargs["callbacks"], clock]}

        run_dir = self.tmp / "degradation" / f"bench{next(self._runs)}" / model / "seed0"
        data = (OneBatch if fixed_batch else TensorDataModule)(config, self.tmp, 0, tensors=tensors)
        captured = FakeTTY() if progress_bar else io.StringIO()
        before = self._counters() if self._compiling(config) else None
        with contextlib.ExitStack() as stack:
            memory = stack.enter_context(Memory(self.device))
            stack.enter_context(contextlib.redirect_stderr(captured))  # train() asks stderr for a terminal,
            stack.enter_context(contextlib.redirect_stdout(captured))  # Lightning's bar draws on stdout
            started = time.perf_counter()
            try:
                result = train(run_path(run_dir), config, self.tmp, datamodule=data, trainer_kwargs=trainer_kwargs)
            except BaseException:
                sys.__stderr__.write(captured.getvalue()[-4000:])
                raise
            ended = time.perf_counter()
        self._keep_log(f"lightning {model} {config.compile_mode if config.compile else 'eager'}", captured.getvalue())
        shutil.rmtree(run_dir, ignore_errors=True)
        m = Measure(clock.images_per_s(steps, config.batch_size), clock.t_first - started, ended - started,
                    memory.peak_mib, {"trainer": seen, "result_images_per_s": result.get("images_per_second")})
        m.extra["tail_s"] = ended - clock.t1
        m.extra["compile"] = self._compile_note(before)
        final = result.get("final") or {}
        m.extra["errors"] = (f"train/val error {final.get('train', float('nan')):.1f}/{final.get('val', float('nan')):.1f}%"
                             if final else "")
        m.extra["syncs"] = clock.syncs
        m.extra["preempt_per_s"] = clock.preempt_per_s
        m.extra["profile"] = clock.profile_text
        return m

    # --- the same steps, as a plain PyTorch loop ---
    def plain(self, model_name: str, config: RunConfig, tensors, steps: int, warmup: int) -> Measure:
        from models import create_model

        from experiments.training.batches import TrainBatches
        from experiments.config import model_overrides
        from experiments.training.schedule import StepSchedule
        from experiments.training.step import TrainStep, autocast_dtype

        dev, on_gpu = self.device, self.device.type == "cuda"
        torch.set_num_threads(config.threads)
        if on_gpu:
            torch.backends.cudnn.benchmark = True  # as Trainer(benchmark=True) in experiments.training.train
        torch.manual_seed(0)
        before = self._counters() if self._compiling(config) else None
        with Memory(dev) as memory:
            started = time.perf_counter()
            model = create_model(model_name, num_classes=tensors.num_classes, in_channels=tensors.in_channels,
                                 **model_overrides(model_name, config)).to(dev)
            channels_last = config.channels_last  # as DegradationModule.configure_model
            if channels_last:
                model.to(memory_format=torch.channels_last)
            forward = torch.compile(model, mode=config.compile_mode) if before is not None else model
            opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                  weight_decay=config.weight_decay, fused=on_gpu or None)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, StepSchedule(config.milestones, config.gamma))
            criterion = torch.nn.CrossEntropyLoss()
            x_all, y_all = tensors.train_x.to(dev), tensors.train_y.to(dev)
            mean, std = tensors.pixel_mean().to(dev), tensors.channel_std().to(dev)
            batches = iter(TrainBatches(x_all, y_all, mean, std, config.batch_size, 0, config.augment, channels_last))
            precision = config.precision if on_gpu else "32-true"
            # The same step as the module's (forward, loss, backward, accumulators; graphed if asked), with
            # torch's own backward: what a hand-written loop that keeps its own running loss would do.
            sums = torch.zeros(2, dtype=torch.float64, device=dev)
            train_step = TrainStep(forward, criterion, list(model.parameters()), sums[0], sums[1],
                                   graph=config.cuda_graph, autocast_dtype=autocast_dtype(precision))
            log_every = window(config, steps).log_every
            t_first = t0 = None
            for step in range(1, steps + 1):
                x, y = next(batches)
                train_step(x, y)
                opt.step()
                sched.step()
                if step % log_every == 0:
                    sums.tolist()  # a loop that prints its loss now and then
                    sums.zero_()
                if step == 1:
                    sync(dev)
                    t_first = time.perf_counter()
                if step == warmup:
                    sync(dev)
                    t0 = time.perf_counter()
                    csw0 = preemptions()
            sync(dev)
            t1 = time.perf_counter()
        del model, opt, forward, train_step
        return Measure((steps - warmup) * config.batch_size / (t1 - t0), t_first - started, t1 - started,
                       memory.peak_mib, {"compile": self._compile_note(before),
                                         "preempt_per_s": (preemptions() - csw0) / (t1 - t0)})

    # --- 3. the classic CIFAR script ---
    def classic(self, model_name: str, config: RunConfig, n_images: int, steps: int, warmup: int,
                workers: int) -> Measure:
        """kuangliu/pytorch-cifar's and the PyTorch tutorial's loop: PIL transforms per sample, DataLoader workers."""
        import torchvision.transforms as T

        from models import create_model

        dev = self.device
        torch.set_num_threads(config.threads)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                               T.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))])
        dataset = CifarLike(n_images, transform)
        loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True,
                                             num_workers=workers, drop_last=True)
        torch.manual_seed(0)
        with Memory(dev) as memory:
            started = time.perf_counter()
            model = create_model(model_name, num_classes=10, in_channels=3,
                                 **{k: v for k, v in overrides(model_name, config).items()}).to(dev)
            opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                  weight_decay=config.weight_decay)
            criterion = torch.nn.CrossEntropyLoss()
            step, t_first, t0, train_loss, correct = 0, None, None, 0.0, 0
            while step < steps:
                for inputs, targets in loader:  # a new epoch starts the workers again, as in the script
                    inputs, targets = inputs.to(dev), targets.to(dev)
                    opt.zero_grad()
                    outputs = model(inputs)
                    loss = criterion(outputs, targets)
                    loss.backward()
                    opt.step()
                    train_loss += loss.item()
                    correct += outputs.argmax(1).eq(targets).sum().item()
                    step += 1
                    if step == 1:
                        t_first = time.perf_counter()
                    if step == warmup:
                        t0 = time.perf_counter()
                    if step == steps:
                        break
            sync(dev)
            t1 = time.perf_counter()
        return Measure((steps - warmup) * config.batch_size / (t1 - t0), t_first - started, t1 - started,
                       memory.peak_mib)

    def _keep_log(self, what: str, text: str) -> None:
        lines = non_progress_lines(text)
        if lines:
            self.log_lines.append(f"--- {what}")
            self.log_lines += lines[-40:]


class CifarLike(torch.utils.data.Dataset):
    """torchvision.datasets.CIFAR10's __getitem__ over random uint8 images (CIFAR-10 cannot be fetched here)."""

    def __init__(self, n: int, transform) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)  # HWC, as CIFAR10.data
        self.targets = rng.integers(0, 10, size=n).tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        from PIL import Image

        img, target = Image.fromarray(self.data[index]), self.targets[index]
        return self.transform(img), target


def overrides(model_name: str, config: RunConfig) -> dict:
    from experiments.config import model_overrides

    return model_overrides(model_name, config)


def window(config: RunConfig, steps: int) -> RunConfig:
    """The config of a bench run: ``steps`` iterations, one evaluation (after the timed window), logging
    at the profile's interval or the largest divisor of ``steps`` below it."""
    log_every = max(d for d in range(1, min(config.log_every, steps) + 1) if steps % d == 0)
    return dataclasses.replace(config, max_steps=steps, eval_every=steps, log_every=log_every, milestones=[],
                               warmup_steps=0)


def variant_config(base: RunConfig, token: str) -> RunConfig:
    """A bench variant: ``eager``, a compile mode (``default``, ``reduce-overhead``, ...), either followed by
    ``/graph`` for the whole-step CUDA graph (experiments/training/step.py), e.g. ``eager/graph``, ``default/graph``."""
    mode, _, graph = token.partition("/")
    if graph not in ("", "graph") or mode not in ("eager", *COMPILE_MODES):
        raise ConfigError(f"bad variant {token!r}; valid: eager, {', '.join(COMPILE_MODES)}, each optionally + '/graph'")
    config = dataclasses.replace(base, compile=mode != "eager", compile_mode=mode if mode != "eager" else "default",
                                 cuda_graph=bool(graph))
    config.check()  # e.g. reduce-overhead/graph: CUDA graphs twice
    return config


def variant_label(config: RunConfig, kind: str) -> str:
    """A variant as the table names it, e.g. "bf16 NHWC compile:default + step graph"."""
    if kind != "cuda":
        return "fp32 NHWC" if config.channels_last else "fp32"
    parts = [{"32-true": "fp32", "bf16-mixed": "bf16", "16-mixed": "fp16"}.get(config.precision, config.precision)]
    if config.channels_last:
        parts.append("NHWC")
    parts.append(f"compile:{config.compile_mode}" if config.compile else "eager")
    if config.cuda_graph:
        parts.append("+ step graph")
    return " ".join(parts)


def stop_if_interrupted(exc: BaseException) -> None:
    """experiments.training.train turns Ctrl-C and SIGTERM inside a run into Interrupted: that stops the bench too."""
    if isinstance(exc, Interrupted):
        raise KeyboardInterrupt from exc
