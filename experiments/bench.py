"""How fast the suite trains, and what each part of the training path costs: ``make bench``.

    python -m experiments.bench --out-dir reports/generated/bench            # whatever device there is
    python -m experiments.bench --device cuda --compile-modes default,reduce-overhead
    python -m experiments.bench --with-matrix                                # also time `make degradation`
    python -m experiments.bench --smoke                                      # seconds: does it all run?

Items (the first column of the table; BENCHMARKS.md holds measured numbers and the goals):
  1  the project's Lightning training path (experiments.run.train itself: DegradationModule, pl.Trainer as
     run.py configures it, TrainBatches) against a plain PyTorch loop over the same batches, same model,
     batch size, precision and threads: images/s each and the ratio.
  2  the real input pipeline (TrainBatches with pad-crop-flip augmentation, as the paper profile) against
     training on one pre-made batch repeated, both through the Lightning path: the ratio.
  3  the project's path against the classic CIFAR script (torch DataLoader, 2 workers, per-sample PIL
     RandomCrop(32, 4) + flip + ToTensor + Normalize, fp32, NCHW, .item() every step): the ratio.
  4  images/s and peak memory of every model of the degradation matrix with the profile's width and stem
     (peak RSS growth on a CPU, torch.cuda.max_memory_allocated on a GPU).
  5  (--with-matrix) wall time of `make degradation` in a fresh RUNS_DIR, from nothing to the report.
  6  the cost of the gradient-norm recorder (experiments.gradients, switched on by the config's
     grad_norm_every), at every iteration (--grad-every) against the profile's setting (see _gradient_norms).

Method: images/s are counted between the end of a warm-up step and the end of the last step, with one
device sync at each end and none in between, so start-up, compilation, the final evaluation and the
checkpoint are excluded (they are reported apart: "first step s", "fit s"). Arms that are compared run
interleaved (A, B, A, B, ...) in one process and the ratio is the median of the per-pair ratios, since the
CPUs of a shared machine are noisy; on a CPU, a repeat during which another process took the cores (more
than CONTENDED_PER_S involuntary context switches a second) is set aside and run again. Data are synthetic
tensors of the profile's image shape (the speed of a step does not depend on what the pixels show), so the
bench needs no dataset. Compiled runs start from a fresh dynamo, as each run does in its own process.

Output: a table on stdout and, written atomically, ``<out-dir>/bench-<device>.csv`` (one row per
measurement) and ``bench-<device>.json`` (environment and settings). The CSV is rewritten after every row,
so an interrupted bench leaves what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import gc
import io
import itertools
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import torch

from .config import COMPILE_MODES, ConfigError, RunConfig, load_matrices, load_profile

REPO = Path(__file__).resolve().parent.parent
CSV_COLUMNS = ["item", "measure", "model", "variant", "images_per_s", "baseline", "baseline_images_per_s", "ratio",
               "goal", "verdict", "peak_mib", "first_step_s", "fit_s", "repeats", "note"]
# Goals from the issue: (CPU, GPU) per item; None: no goal on that device.
GOALS = {1: (0.97, 0.95), 2: (0.95, None), 3: (None, 3.0)}
GPU_TARGET_RESNET56 = 30_000  # images/s, ResNet-56, 3x32x32, batch 128, one H100, through the Lightning path


# ----------------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------------
@dataclass
class Measure:
    images_per_s: float
    first_step_s: float | None = None  # from the call to the end of the first step (set-up, compilation)
    fit_s: float | None = None  # the whole call
    peak_mib: float | None = None
    extra: dict = field(default_factory=dict)


CONTENDED_PER_S = 80  # involuntary context switches per second: ~20 on the 2 quiet cores here, 130+ when
# another process wants a core (and 2-thread training then runs 3-20 times slower)


def _preemptions() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Memory:
    """Peak memory of a region: CUDA's allocator peak, or the growth of the peak RSS of this process."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = 0
        else:
            _malloc_trim()  # give memory freed by earlier runs back, or the RSS would not grow
            self.base = _rss_reset()
        self.peak_mib = None
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.base is not None:
            peak = _status_kib("VmHWM")
            self.peak_mib = (peak - self.base) / 1024 if peak is not None else None
        return False


def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _malloc_trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_reset() -> int | None:
    """Reset the process's peak RSS to its current RSS (Linux: clear_refs 5); the RSS in KiB, or None."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


class StepClock:
    """A Lightning callback: host time at the end of step ``warmup`` and of the last step, synced there only."""

    def __init__(self, warmup: int, device: torch.device, sync_debug: bool = False, profile_steps: int = 0):
        import pytorch_lightning as pl

        class _Clock(pl.Callback):
            def on_train_batch_end(cb, trainer, pl_module, outputs, batch, batch_idx):  # noqa: N805
                self._batch_end(trainer.global_step, trainer.max_steps)

        self.callback = _Clock()
        self.warmup, self.device, self.sync_debug, self.profile_steps = warmup, device, sync_debug, profile_steps
        self.t_first = self.t0 = self.t1 = None
        self.csw0, self.preempt_per_s = 0, None
        self.syncs: int | None = None
        self.profile_text: str | None = None
        self._warnings = None
        self._profiler = None

    def _batch_end(self, step: int, max_steps: int) -> None:
        if step == 1:
            _sync(self.device)
            self.t_first = time.perf_counter()
        if step == self.warmup:
            _sync(self.device)
            self.t0 = time.perf_counter()
            self.csw0 = _preemptions()
            if self.sync_debug:  # count host-device syncs in the timed window (CUDA only)
                self._warnings = warnings.catch_warnings(record=True)
                self._records = self._warnings.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            if self.profile_steps:
                from torch.profiler import ProfilerActivity, profile

                acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
                self._profiler = profile(activities=acts)
                self._profiler.__enter__()
                self._t_profile = time.perf_counter()
        if self._profiler is not None and step == self.warmup + self.profile_steps:
            _sync(self.device)
            wall = time.perf_counter() - self._t_profile
            self._profiler.__exit__(None, None, None)
            self.profile_text = _profile_summary(self._profiler, self.profile_steps, wall)
            self._profiler = None
        if step == max_steps:
            if self._warnings is not None:
                torch.cuda.set_sync_debug_mode(0)
                self.syncs = sum("synchroniz" in str(w.message) for w in self._records)
                self._warnings.__exit__(None, None, None)
                self._warnings = None
            _sync(self.device)
            self.t1 = time.perf_counter()
            self.preempt_per_s = (_preemptions() - self.csw0) / max(self.t1 - self.t0, 1e-9)

    def images_per_s(self, steps: int, batch_size: int) -> float:
        if self.t0 is None or self.t1 is None or self.t1 <= self.t0:
            raise RuntimeError("the timed window was not reached (did the run stop early?)")
        return (steps - self.warmup) * batch_size / (self.t1 - self.t0)


def _profile_summary(prof, steps: int, wall_s: float) -> str:
    """Per step: wall time, CPU time inside torch ops, GPU kernel time; then the top ops."""
    events = prof.key_averages()

    def total(attr):
        return sum(getattr(e, attr, 0) or 0 for e in events) / 1000 / steps  # ms per step

    device_attr = "self_device_time_total" if hasattr(events[0], "self_device_time_total") else "self_cuda_time_total"

    def kernels_ms():  # as the table's "Self CUDA time total": events on the device, not the ops that launched them
        on_device = [e for e in events if "CPU" not in str(getattr(e, "device_type", "CPU"))
                     and not getattr(e, "is_user_annotation", False)]
        return sum(getattr(e, device_attr, 0) or 0 for e in on_device) / 1000 / steps

    lines = [f"torch.profiler over {steps} steps (profiler overhead included)",
             f"wall per step:             {wall_s / steps * 1000:8.3f} ms",
             f"CPU time in torch ops:     {total('self_cpu_time_total'):8.3f} ms per step (self time, summed over "
             "ops and their launches)",
             f"GPU kernel time:           {kernels_ms():8.3f} ms per step (less than wall: the GPU waits "
             "for the CPU)",
             f"ops per step:              {sum(e.count for e in events) / steps:8.0f}"]
    lines.append(events.table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=60))
    try:
        lines.append(events.table(sort_by=device_attr, row_limit=15, max_name_column_width=60))
    except Exception:  # noqa: BLE001 - diagnostics only
        pass
    return "\n".join(lines)


class _FakeTTY(io.StringIO):
    """stderr during a run: a terminal to run.py (so the progress bar is drawn and costs what it costs)."""

    def isatty(self) -> bool:
        return True


def _non_progress_lines(text: str) -> list[str]:
    import re

    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # the bar's cursor movements
    lines = [s.strip() for s in text.replace("\r", "\n").split("\n")]
    return [s for s in lines if s and not any(t in s for t in ("it/s]", "s/it]", "?it/s", "Epoch "))]


# ----------------------------------------------------------------------------------------------------
# The three ways to train
# ----------------------------------------------------------------------------------------------------
def bench_tensors(shape: tuple[int, int, int], train: int, evaluation: int):
    """Synthetic uint8 images of ``shape`` (learnable: a pattern per class plus noise), as run.py loads them."""
    from .data import synthetic_tensors

    c, h, w = shape
    assert h == w, "square images only"
    cfg = RunConfig(dataset="synthetic", image_size=h, synthetic_train=train, synthetic_eval=evaluation)
    return synthetic_tensors(cfg, channels=c)


def _gradient_norms(config: RunConfig, every: int) -> RunConfig | None:
    """HOOK (item 6): ``config`` with the gradient-norm recorder on every ``every`` iterations, or None if
    the suite has none. The recorder (experiments.gradients.GradNormRecorder) is switched on by the run
    config's ``grad_norm_every`` and added by DegradationModule.configure_callbacks; if that changes,
    adapt this function: the rest of item 6 follows."""
    if "grad_norm_every" not in {f.name for f in dataclasses.fields(RunConfig)}:
        return None
    return dataclasses.replace(config, grad_norm_every=every)


class Bench:
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

    # --- 1. the project's path: experiments.run.train itself ---
    def lightning(self, model: str, config: RunConfig, tensors, steps: int, warmup: int, *,
                  fixed_batch: bool = False, add_callbacks=(), drop_callbacks=(), sync_debug: bool = False,
                  profile_steps: int = 0, progress_bar: bool = True) -> Measure:
        import pytorch_lightning as pl

        from . import datamodule, run, train

        config = _window(config, steps)
        clock = StepClock(warmup, self.device, sync_debug=sync_debug, profile_steps=profile_steps)
        real_trainer = pl.Trainer
        seen = {}

        def trainer(*a, callbacks=(), **kw):
            callbacks = [c for c in callbacks if not isinstance(c, tuple(drop_callbacks))]
            callbacks += [cls() for cls in add_callbacks] + [clock.callback]
            seen.update(kw)
            return real_trainer(*a, callbacks=callbacks, **kw)

        real_loader = datamodule.TensorDataModule.train_dataloader

        def one_batch(dm):
            return itertools.repeat(real_loader(dm).batch(0))

        run_dir = self.tmp / "degradation" / f"bench{next(self._runs)}" / model / "seed0"
        patches = [mock.patch.object(pl, "Trainer", trainer),
                   mock.patch.object(datamodule, "load_tensors", lambda cfg, data_dir: tensors)]
        if fixed_batch:
            patches.append(mock.patch.object(datamodule.TensorDataModule, "train_dataloader", one_batch))
        captured = _FakeTTY() if progress_bar else io.StringIO()
        before = self._counters() if self._compiling(config) else None
        with contextlib.ExitStack() as stack:
            for p in patches:
                stack.enter_context(p)
            memory = stack.enter_context(_Memory(self.device))
            stack.enter_context(contextlib.redirect_stderr(captured))  # run.py asks stderr for a terminal,
            stack.enter_context(contextlib.redirect_stdout(captured))  # Lightning's bar draws on stdout
            started = time.perf_counter()
            try:
                result = train.train(run.RunSpec(run_dir), config, self.tmp)
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

        from .data import TrainBatches
        from .module import StepSchedule, model_overrides
        from .step import TrainStep, autocast_dtype

        dev, on_gpu = self.device, self.device.type == "cuda"
        torch.set_num_threads(config.threads)
        if on_gpu:
            torch.backends.cudnn.benchmark = True  # as Trainer(benchmark=True) in run.py
        torch.manual_seed(0)
        before = self._counters() if self._compiling(config) else None
        with _Memory(dev) as memory:
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
            mean = tensors.pixel_mean().to(dev)
            batches = iter(TrainBatches(x_all, y_all, mean, config.batch_size, 0, config.augment, channels_last))
            precision = config.precision if on_gpu else "32-true"
            # The same step as the module's (forward, loss, backward, accumulators; graphed if asked), with
            # torch's own backward: what a hand-written loop that keeps its own running loss would do.
            sums = torch.zeros(2, dtype=torch.float64, device=dev)
            train_step = TrainStep(forward, criterion, list(model.parameters()), sums[0], sums[1],
                                   graph=config.cuda_graph, autocast_dtype=autocast_dtype(precision))
            log_every = _window(config, steps).log_every
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
                    _sync(dev)
                    t_first = time.perf_counter()
                if step == warmup:
                    _sync(dev)
                    t0 = time.perf_counter()
                    csw0 = _preemptions()
            _sync(dev)
            t1 = time.perf_counter()
        del model, opt, forward, train_step
        return Measure((steps - warmup) * config.batch_size / (t1 - t0), t_first - started, t1 - started,
                       memory.peak_mib, {"compile": self._compile_note(before),
                                         "preempt_per_s": (_preemptions() - csw0) / (t1 - t0)})

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
        with _Memory(dev) as memory:
            started = time.perf_counter()
            model = create_model(model_name, num_classes=10, in_channels=3,
                                 **{k: v for k, v in _overrides(model_name, config).items()}).to(dev)
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
            _sync(dev)
            t1 = time.perf_counter()
        return Measure((steps - warmup) * config.batch_size / (t1 - t0), t_first - started, t1 - started,
                       memory.peak_mib)

    def _keep_log(self, what: str, text: str) -> None:
        lines = _non_progress_lines(text)
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


def _overrides(model_name: str, config: RunConfig) -> dict:
    from .module import model_overrides

    return model_overrides(model_name, config)


def _window(config: RunConfig, steps: int) -> RunConfig:
    """The config of a bench run: ``steps`` iterations, one evaluation (after the timed window), logging
    at the profile's interval or the largest divisor of ``steps`` below it."""
    log_every = max(d for d in range(1, min(config.log_every, steps) + 1) if steps % d == 0)
    return dataclasses.replace(config, max_steps=steps, eval_every=steps, log_every=log_every, milestones=[],
                               warmup_steps=0)


# ----------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------
class Table:
    def __init__(self, path: Path, device_kind: str) -> None:
        self.path, self.rows, self.device_kind = path, [], device_kind

    def add(self, item: int, measure: str, *, model: str = "", variant: str = "", a: Measure | None = None,
            baseline: str = "", b: Measure | None = None, ratio: float | None = None, repeats: int = 1,
            note: str = "", goal: float | None = None) -> dict:
        if goal is None and item in GOALS and (ratio is not None or b is not None):
            goal = GOALS[item][1 if self.device_kind == "cuda" else 0]
        if ratio is None and a is not None and b is not None:
            ratio = a.images_per_s / b.images_per_s
        verdict = "" if goal is None or ratio is None else ("ok" if ratio >= goal else "SHORT")
        row = {"item": item, "measure": measure, "model": model, "variant": variant,
               "images_per_s": _r(a.images_per_s if a else None, 1), "baseline": baseline,
               "baseline_images_per_s": _r(b.images_per_s if b else None, 1), "ratio": _r(ratio, 3),
               "goal": goal if goal is not None else "", "verdict": verdict,
               "peak_mib": _r(a.peak_mib if a else None, 1), "first_step_s": _r(a.first_step_s if a else None, 2),
               "fit_s": _r(a.fit_s if a else None, 2), "repeats": repeats, "note": note}
        self.rows.append(row)
        self.write()
        print("  " + self._line(row), flush=True)
        return row

    def write(self) -> None:
        from .io import atomic_write_text

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())

    @staticmethod
    def _line(r: dict) -> str:
        def f(v, spec):
            return format(v, spec) if isinstance(v, (int, float)) and v != "" else str(v or "")

        return (f"{r['item']:>2} {r['measure'][:34]:<34} {r['model'][:10]:<10} {r['variant'][:22]:<22} "
                f"{f(r['images_per_s'], '9.0f'):>9} {r['baseline'][:16]:<16} {f(r['baseline_images_per_s'], '9.0f'):>9} "
                f"{f(r['ratio'], '6.3f'):>6} {str(r['goal']):>5} {r['verdict']:<5} {f(r['peak_mib'], '7.0f'):>7} "
                f"{f(r['first_step_s'], '6.1f'):>6}  {r['note']}")

    def render(self) -> str:
        head = (f"{'#':>2} {'measure':<34} {'model':<10} {'variant':<22} {'images/s':>9} {'vs':<16} {'images/s':>9} "
                f"{'ratio':>6} {'goal':>5} {'':<5} {'peakMiB':>7} {'1st s':>6}  note")
        return "\n".join([head, "-" * len(head)] + [self._line(r) for r in self.rows])


def _stop_if_interrupted(exc: BaseException) -> None:
    """run.py turns Ctrl-C and SIGTERM inside a run into run.Interrupted: that stops the bench too."""
    from .train import Interrupted

    if isinstance(exc, Interrupted):
        raise KeyboardInterrupt from exc


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _r(v, nd):
    return "" if v is None or not math.isfinite(float(v)) else round(float(v), nd)


def _median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else None


def _med_measure(ms: list[Measure]) -> Measure:
    return Measure(_median([m.images_per_s for m in ms]), _median([m.first_step_s for m in ms if m.first_step_s]),
                   _median([m.fit_s for m in ms if m.fit_s]), _median([m.peak_mib for m in ms if m.peak_mib]))


# ----------------------------------------------------------------------------------------------------
# Plans
# ----------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    profile: str
    shape: tuple[int, int, int]
    model: str  # items 1, 2, 3, 6
    steps: int  # per run of the interleaved arms (items 1, 2, 6)
    warmup: int
    repeats: int
    classic_steps: int
    classic_warmup: int
    classic_repeats: int
    model_steps: int  # item 4
    model_warmup: int
    compile_steps: int
    compile_warmup: int
    train_images: int
    eval_images: int


PLANS = {
    # 2 CPU cores: about 1 minute. The quick profile's shape (Fashion-MNIST, 1x28x28) for items 1, 2, 4, 6.
    "cpu": Plan("quick", (1, 28, 28), "resnet-20", steps=10, warmup=2, repeats=4, classic_steps=8, classic_warmup=2,
                classic_repeats=2, model_steps=6, model_warmup=1, compile_steps=0, compile_warmup=0,
                train_images=8192, eval_images=128),
    # One H100/H200: the paper profile (CIFAR-10, 3x32x32, bf16, channels_last); about 4 minutes with compiles.
    "cuda": Plan("paper", (3, 32, 32), "resnet-56", steps=300, warmup=60, repeats=2, classic_steps=200,
                 classic_warmup=40, classic_repeats=2, model_steps=120, model_warmup=40, compile_steps=400,
                 compile_warmup=100, train_images=45000, eval_images=1000),
    # --smoke: every code path in seconds.
    "smoke": Plan("quick", (1, 28, 28), "resnet-20", steps=3, warmup=1, repeats=1, classic_steps=3, classic_warmup=1,
                  classic_repeats=1, model_steps=2, model_warmup=1, compile_steps=3, compile_warmup=1,
                  train_images=512, eval_images=64),
}


def environment(device: torch.device, threads: int) -> dict:
    import pytorch_lightning
    import torchmetrics
    import torchvision

    env = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": platform.node(), "python": platform.python_version(),
           "torch": torch.__version__, "torchvision": torchvision.__version__,
           "pytorch_lightning": pytorch_lightning.__version__, "torchmetrics": torchmetrics.__version__,
           "cuda": torch.version.cuda, "threads": threads, "cpus": os.cpu_count(),
           "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cudnn"] = torch.backends.cudnn.version()
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                           cwd=REPO, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="reports/generated/bench")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--profile", help="profile whose settings are benched (default: quick on a CPU, paper on a GPU)")
    parser.add_argument("--model", help="model of items 1, 2, 3 and 6 (default: resnet-20 on a CPU, resnet-56 on a GPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats of items 1, 2, 6")
    parser.add_argument("--steps", type=int, help="steps per run of items 1, 2, 6 (warm-up included)")
    parser.add_argument("--items", default="1,2,3,4,6", help="which items to run (5 is --with-matrix)")
    parser.add_argument("--compile-modes", default="",
                        help="GPU: variants to bench through both paths, comma-separated: eager or a torch.compile "
                             "mode, each optionally + '/graph' (the whole-step CUDA graph), e.g. "
                             "eager/graph,default/graph,reduce-overhead ('' = the profile's setting only)")
    parser.add_argument("--models", help="item 4's models (default: the degradation matrix)")
    parser.add_argument("--grad-every", type=int, default=1,
                        help="item 6: record gradient norms every N iterations (default 1: the worst case)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the classic script (default 2)")
    parser.add_argument("--profile-steps", type=int, default=0, help="GPU: torch.profiler over this many steps")
    parser.add_argument("--profile-mode", default="",
                        help="GPU: variant of the profiled run ('' = as items 1/2/6; else as in --compile-modes)")
    parser.add_argument("--arms-eager", action="store_true",
                        help="GPU: items 1, 2, 6 without torch.compile and without the step graph")
    parser.add_argument("--compile-no-plain", action="store_true", help="compile section: the Lightning path only")
    parser.add_argument("--sync-check", action="store_true", help="GPU: count host-device syncs in item 1's window")
    parser.add_argument("--budget-s", type=float, default=0, help="skip what is left after this many seconds")
    parser.add_argument("--with-matrix", action="store_true",
                        help="item 5: time `make degradation` (quick profile) in a fresh RUNS_DIR; minutes")
    parser.add_argument("--matrix-args", default="", help="extra make arguments for item 5, e.g. '-j 2'")
    parser.add_argument("--order", default="arms,classic,compile,profile,models",
                        help="sections in the order to run them: arms (items 1, 2, 6), classic (3), compile (the "
                             "--compile-modes; compile:<mode>[+<mode>] for some), profile, models (4), matrix (5)")
    parser.add_argument("--smoke", action="store_true", help="a few steps of everything: checks that it runs")
    args = parser.parse_args(argv)
    try:
        _check_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    started = time.monotonic()
    # The bench compiles many nets in one process (a run compiles one): keep dynamo from giving up.
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = 64
    kind = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(kind)
    plan = dataclasses.replace(PLANS["smoke" if args.smoke else kind])
    if args.smoke and kind == "cuda":
        plan = dataclasses.replace(plan, profile="paper", shape=(3, 32, 32), model="resnet-56")
    if args.steps:
        plan.steps = args.steps
    if args.repeats:
        plan.repeats = args.repeats
    profile = args.profile or plan.profile
    model = args.model or plan.model
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    items = {int(i) for i in args.items.split(",") if i.strip()}
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = Table(out_dir / f"bench-{kind}.csv", kind)
    base = load_profile(profile, [f"threads={threads}", "augment=true", f"eval_limit={plan.eval_images}"])
    env = environment(device, threads)
    settings = {"profile": profile, "model": model, "plan": dataclasses.asdict(plan), "args": vars(args),
                "precision": base.precision if kind == "cuda" else "32-true",
                "channels_last": base.channels_last and kind == "cuda", "compile": base.compile and kind == "cuda",
                "compile_mode": base.compile_mode}
    print(f"==> bench on {env.get('gpu', env['cpu'])} ({kind}, {threads} threads), torch {env['torch']}, "
          f"Lightning {env['pytorch_lightning']}, profile {profile} ({settings['precision']}"
          f"{', channels_last' if settings['channels_last'] else ''}"
          f"{', compile ' + base.compile_mode if settings['compile'] else ''}), batch {base.batch_size}", flush=True)

    def over_budget(what: str) -> bool:
        if args.budget_s and time.monotonic() - started > args.budget_s:
            print(f"  (skipped {what}: over --budget-s {args.budget_s:.0f})", flush=True)
            table.add(0, f"skipped: {what}", note="over --budget-s")
            return True
        return False

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    bench = Bench(args, device, tmp)
    from .io import atomic_write_json, atomic_write_text

    tensors = bench_tensors(plan.shape, plan.train_images, plan.eval_images)
    shape_txt = "x".join(map(str, plan.shape))
    arms_cfg = variant_config(base, "eager") if args.arms_eager else base
    grad_cfg = _gradient_norms(arms_cfg, args.grad_every) if 6 in items else None
    without_grad = getattr(arms_cfg, "grad_norm_every", 0)
    state: dict = {}

    def section_arms():
        if not items & {1, 2, 6}:
            return
        arms = {"lightning": {}}
        if 1 in items:
            arms["plain"] = None
        if 2 in items:
            arms["fixed"] = {"fixed_batch": True}
        if 6 in items and grad_cfg is not None:
            arms["grad"] = {"config": _gradient_norms(arms_cfg, args.grad_every)}
        results = {k: [] for k in arms}
        label = _variant(arms_cfg, kind)
        print(f"-- items 1/2/6: {model}, {shape_txt}, {label}: {plan.repeats} x {list(arms)} "
              f"({plan.steps} steps, {plan.warmup} warm-up)", flush=True)
        def contended(r):  # another process took our cores during repeat r (CPU only)
            return kind == "cpu" and any(results[a][r].extra.get("preempt_per_s", 0) > CONTENDED_PER_S for a in arms)

        r = 0
        while r < plan.repeats or (r < 2 * plan.repeats and
                                   sum(not contended(i) for i in range(r)) < plan.repeats):
            if r >= plan.repeats:
                print(f"     (repeat {r + 1}: earlier ones were contended, > {CONTENDED_PER_S} preemptions/s)", flush=True)
            for arm, kw in arms.items():
                if arm == "plain":
                    m = bench.plain(model, arms_cfg, tensors, plan.steps, plan.warmup)
                else:
                    kw = dict(kw)
                    cfg = kw.pop("config", arms_cfg)
                    extra = {"sync_debug": args.sync_check and kind == "cuda" and r == 0 and arm == "lightning"}
                    m = bench.lightning(model, cfg, tensors, plan.steps, plan.warmup, **kw, **extra)
                    if m.extra.get("syncs") is not None:
                        steps_timed = plan.steps - plan.warmup
                        print(f"  host-device syncs in {steps_timed} timed steps: {m.extra['syncs']} "
                              f"(log every {_window(arms_cfg, plan.steps).log_every})", flush=True)
                        settings["syncs_in_window"] = {"syncs": m.extra["syncs"], "steps": steps_timed}
                results[arm].append(m)
                pre = m.extra.get("preempt_per_s")
                print(f"     {r + 1}/{plan.repeats} {arm:<9} {m.images_per_s:9.1f} images/s"
                      + (f"  ({pre:.0f} preemptions/s)" if pre is not None and kind == "cpu" else ""), flush=True)
            r += 1
        clean = [i for i in range(r) if not contended(i)]
        if len(clean) >= 2 or (clean and r == 1):
            results = {a: [v[i] for i in clean] for a, v in results.items()}
        noisy = "" if len(clean) == r else f"{len(clean)} of {r} repeats uncontended" + (
            "" if len(clean) >= 2 else ": NOISY, all used")
        settings["trainer_kwargs"] = {k: repr(v) for k, v in
                                     (results["lightning"][0].extra.get("trainer") or {}).items()}
        light = _med_measure(results["lightning"])
        state["arms"] = (arms_cfg, results)
        cnote = _join(noisy, *(f"{k} {v[0].extra['compile']}" for k, v in results.items() if v and v[0].extra.get("compile")),
                      f"after {plan.steps} steps {results['lightning'][0].extra.get('errors', '')}")

        def pair_ratio(a, b):
            return _median([x.images_per_s / y.images_per_s for x, y in zip(results[a], results[b])])

        if "plain" in results:
            table.add(1, "Lightning path vs plain loop", model=model, variant=label, a=light, baseline="plain loop",
                      b=_med_measure(results["plain"]), ratio=pair_ratio("lightning", "plain"),
                      repeats=len(results["lightning"]), note=f"{shape_txt}, augment, median of pair ratios"
                      + (f"; {cnote}" if cnote else ""))
        if "fixed" in results:
            table.add(2, "TrainBatches+augment vs one batch", model=model, variant=label, a=light,
                      baseline="one batch", b=_med_measure(results["fixed"]),
                      ratio=pair_ratio("lightning", "fixed"), repeats=len(results["lightning"]),
                      note=_join("both through Lightning", noisy))
        if 6 in items:
            if "grad" in results:
                table.add(6, f"grad norms every {args.grad_every} it. vs profile", model=model, variant=label,
                          a=_med_measure(results["grad"]), baseline=f"every {without_grad or 'never'}", b=light,
                          ratio=pair_ratio("grad", "lightning"), repeats=len(results["lightning"]),
                          note=_join("GradNormRecorder (experiments.gradients); the cost scales with 1/every", noisy))
            else:
                table.add(6, "gradient-norm recorder: not found", model=model,
                          note="HOOK: no grad_norm_every in RunConfig (see bench._gradient_norms)")
        if kind == "cuda" and model == "resnet-56" and arms_cfg.batch_size == 128 and not args.smoke:
            table.add(1, f"target {GPU_TARGET_RESNET56} images/s", model=model, variant=label, a=light,
                      ratio=light.images_per_s / GPU_TARGET_RESNET56, goal=1.0,
                      note="Lightning path; the goal is set for one H100")

    def section_classic():
        if 3 not in items or over_budget("item 3"):
            return
        cifar = bench_tensors((3, 32, 32), plan.train_images, plan.eval_images) if plan.shape != (3, 32, 32) else tensors
        cfg = arms_cfg if plan.shape == (3, 32, 32) else load_profile(
            "paper", [f"threads={threads}", f"eval_limit={plan.eval_images}"])
        print(f"-- item 3: project ({_variant(cfg, kind)}) vs classic script ({args.workers} workers, fp32, NCHW), "
              f"{model}, 3x32x32", flush=True)
        proj, classic = [], []
        reuse = state.get("arms") if plan.shape == (3, 32, 32) else None
        if reuse is not None and reuse[0] == cfg:  # the arms' Lightning runs are this very measurement
            proj = reuse[1]["lightning"][: plan.classic_repeats]
        for r in range(plan.classic_repeats):
            if reuse is None or reuse[0] != cfg or r >= len(proj):
                proj.append(bench.lightning(model, cfg, cifar, plan.classic_steps, plan.classic_warmup))
            classic.append(bench.classic(model, cfg, plan.train_images, plan.classic_steps, plan.classic_warmup,
                                         args.workers))
            print(f"     {r + 1}/{plan.classic_repeats} project {proj[r].images_per_s:9.1f}  classic "
                  f"{classic[-1].images_per_s:9.1f} images/s", flush=True)
        table.add(3, "project path vs classic CIFAR script", model=model, variant=_variant(cfg, kind),
                  a=_med_measure(proj), baseline=f"classic {args.workers}w", b=_med_measure(classic),
                  ratio=_median([a.images_per_s / b.images_per_s for a, b in zip(proj, classic)]),
                  repeats=plan.classic_repeats,
                  note="3x32x32" + ("; project = item 1's Lightning runs" if reuse is not None and reuse[0] == cfg else ""))

    def section_compile(modes):
        if not modes or (kind != "cuda" and not args.smoke):
            return
        if "eager" not in state:
            eager_cfg = variant_config(base, "eager")
            print(f"-- compile variants of {model}: eager vs {modes}", flush=True)
            eager = state["eager"] = bench.lightning(model, eager_cfg, tensors, plan.compile_steps, plan.compile_warmup)
            table.add(1, "Lightning path, eager", model=model, variant=_variant(eager_cfg, kind), a=eager,
                      note=f"fit {eager.fit_s:.1f}s, after last step {eager.extra['tail_s']:.1f}s; {eager.extra['errors']}", goal=None)
        eager = state["eager"]
        for mode in modes:
            if over_budget(f"compile {mode}"):
                break
            try:
                cfg = variant_config(base, mode)
                light = bench.lightning(model, cfg, tensors, plan.compile_steps, plan.compile_warmup)
                plain = (None if args.compile_no_plain else
                         bench.plain(model, cfg, tensors, plan.compile_steps, plan.compile_warmup))
            except Exception as exc:  # noqa: BLE001 - one mode failing is a result, not the end of the bench
                _stop_if_interrupted(exc)
                table.add(1, f"compile {mode}: FAILED", model=model, note=f"{type(exc).__name__}: {exc}"[:300])
                continue
            # Break-even: the compile's extra start-up over the per-step time it saves.
            extra_s = light.first_step_s - eager.first_step_s
            saved = 1 / eager.images_per_s - 1 / light.images_per_s  # seconds per image
            breakeven = extra_s / saved / base.batch_size if saved > 0 and extra_s > 0 else float("nan")
            table.add(1, f"Lightning path vs plain, {mode}" if plain else f"Lightning path, {mode}", model=model,
                      variant=_variant(cfg, kind), a=light, baseline="plain loop" if plain else "", b=plain,
                      note=_join(f"compile +{extra_s:.0f}s, break-even {breakeven:.0f} steps", light.extra['compile'],
                                 light.extra['errors'], f"after last step {light.extra['tail_s']:.1f}s",
                                 f"x{light.images_per_s / eager.images_per_s:.2f} vs eager")
                           + (f"; {light.images_per_s / GPU_TARGET_RESNET56:.2f} of the {GPU_TARGET_RESNET56} target"
                              if kind == "cuda" and model == "resnet-56" else ""))

    def section_profile():
        if not args.profile_steps or kind != "cuda" or over_budget("profile"):
            return
        pm = args.profile_mode
        try:
            cfg = arms_cfg if not pm else variant_config(base, pm)
            m = bench.lightning(model, cfg, tensors, plan.warmup + args.profile_steps + 10, plan.warmup,
                                profile_steps=args.profile_steps)
            text = f"{_variant(cfg, kind)}, {model}, batch {cfg.batch_size}\n{m.extra['profile'] or ''}"
            atomic_write_text(out_dir / f"profile-{kind}.txt", text)
            print(text[:3000], flush=True)
        except Exception as exc:  # noqa: BLE001
            _stop_if_interrupted(exc)
            print(f"  profile failed: {type(exc).__name__}: {exc}", flush=True)

    def section_models():
        if 4 not in items or over_budget("item 4"):
            return
        names = args.models.split() if args.models else load_matrices()["degradation"]
        cfg = dataclasses.replace(base, compile=False) if kind == "cuda" else base
        print(f"-- item 4: {len(names)} models, {shape_txt}, {_variant(cfg, kind)} "
              f"({plan.model_steps} steps, {plan.model_warmup} warm-up)", flush=True)
        for name in names:
            if over_budget(f"item 4 {name}"):
                break
            try:
                m = bench.lightning(name, cfg, tensors, plan.model_steps, plan.model_warmup)
            except Exception as exc:  # noqa: BLE001
                _stop_if_interrupted(exc)
                table.add(4, "FAILED", model=name, note=f"{type(exc).__name__}: {exc}"[:300])
                continue
            w = _overrides(name, cfg).get("width", "")
            table.add(4, "throughput and peak memory", model=name, variant=_variant(cfg, kind), a=m,
                      note=("peak RSS growth" if kind == "cpu" else "max_memory_allocated")
                      + (f"; width {w}" if w else ""))

    def section_matrix():
        table.add(5, "make degradation (quick), wall s", **_time_matrix(args, tmp))

    sections = {"arms": section_arms, "classic": section_classic, "profile": section_profile,
                "models": section_models, "matrix": section_matrix}
    order = [x.strip() for x in args.order.split(",") if x.strip()]
    if args.with_matrix and "matrix" not in order:
        order.append("matrix")
    try:
        for name in order:
            if name == "compile" or name.startswith("compile:"):
                section_compile(_compile_variants(name, args))
            elif name in sections:
                try:
                    sections[name]()
                except Exception as exc:  # noqa: BLE001 - record it, go on with the other sections
                    import traceback

                    _stop_if_interrupted(exc)

                    traceback.print_exc()
                    table.add(0, f"section {name} FAILED", note=f"{type(exc).__name__}: {exc}"[:300])
                    if name == "arms" and (arms_cfg.compile or arms_cfg.cuda_graph):  # measure eager instead
                        arms_cfg = variant_config(base, "eager")
                        sections[name]()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        settings["elapsed_s"] = round(time.monotonic() - started, 1)
        atomic_write_json(out_dir / f"bench-{kind}.json", {"environment": env, "settings": settings})
        if bench.log_lines:
            atomic_write_text(out_dir / f"bench-{kind}.log", "\n".join(bench.log_lines) + "\n")
    print()
    print(table.render())
    print(f"\n==> {table.path} ({settings['elapsed_s']:.0f}s)")
    return 0


def _variant(config: RunConfig, kind: str) -> str:
    if kind != "cuda":
        return "fp32 NHWC" if config.channels_last else "fp32"
    parts = [{"32-true": "fp32", "bf16-mixed": "bf16", "16-mixed": "fp16"}.get(config.precision, config.precision)]
    if config.channels_last:
        parts.append("NHWC")
    parts.append(f"compile:{config.compile_mode}" if config.compile else "eager")
    if config.cuda_graph:
        parts.append("+ step graph")
    return " ".join(parts)


SECTIONS = ("arms", "classic", "profile", "models", "matrix")


def _compile_variants(name: str, args) -> list[str]:
    """The variants of a ``compile`` or ``compile:<variant>[+<variant>]`` section of --order."""
    tokens = args.compile_modes.split(",") if name == "compile" else name.split(":", 1)[1].split("+")
    return [t.strip() for t in tokens if t.strip()]


def _check_args(args) -> None:
    """Every section name and variant, before anything runs or is written: ConfigError naming the bad one."""
    variants = _compile_variants("compile", args)  # --compile-modes
    for name in (n.strip() for n in args.order.split(",") if n.strip()):
        if name.startswith("compile:"):
            variants += _compile_variants(name, args)
        elif name != "compile" and name not in SECTIONS:
            raise ConfigError(f"unknown section {name!r} in --order; valid: {', '.join(SECTIONS)}, compile, "
                              "compile:<variant>[+<variant>]")
    if args.profile_mode:
        variants.append(args.profile_mode)
    base = RunConfig()
    for token in variants:
        variant_config(base, token)


def variant_config(base: RunConfig, token: str) -> RunConfig:
    """A bench variant: ``eager``, a compile mode (``default``, ``reduce-overhead``, ...), either followed by
    ``/graph`` for the whole-step CUDA graph (experiments/step.py), e.g. ``eager/graph``, ``default/graph``."""
    mode, _, graph = token.partition("/")
    if graph not in ("", "graph") or mode not in ("eager", *COMPILE_MODES):
        raise ConfigError(f"bad variant {token!r}; valid: eager, {', '.join(COMPILE_MODES)}, each optionally + '/graph'")
    config = dataclasses.replace(base, compile=mode != "eager", compile_mode=mode if mode != "eager" else "default",
                                 cuda_graph=bool(graph))
    config.check()  # e.g. reduce-overhead/graph: CUDA graphs twice
    return config


def _time_matrix(args, tmp: Path) -> dict:
    """Run `make degradation` (quick profile) into fresh folders under tmp; its wall time and outcome."""
    runs, reports = tmp / "matrix-runs", tmp / "matrix-reports"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    cmd = ["make", "--no-print-directory", "degradation", "PROFILE=quick", f"RUNS_DIR={runs}",
           f"REPORTS_DIR={reports}", *args.matrix_args.split()]
    print(f"-- item 5: {' '.join(cmd)}", flush=True)
    t = time.perf_counter()
    rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
    wall = time.perf_counter() - t
    done = len(list(runs.glob("**/result.json")))
    pdfs = list(reports.glob("**/report.pdf"))
    note = f"exit {rc}; {done} runs; report {'written' if pdfs else 'MISSING'}; {' '.join(cmd[3:])}"
    return {"a": Measure(float("nan"), fit_s=wall), "note": note, "variant": f"{wall:.0f} s wall"}


if __name__ == "__main__":
    sys.exit(main())
