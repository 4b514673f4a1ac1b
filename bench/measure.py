"""Measuring a training run: images/s between two synced points, peak memory, contention, the profiler."""

from __future__ import annotations

import gc
import io
import math
import re
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch


@dataclass
class Measure:
    """One timed run: images/s in the timed window, seconds to the end of the first step and of the whole
    call, peak memory (MiB), and notes (``extra``)."""

    images_per_s: float
    first_step_s: float | None = None  # from the call to the end of the first step (set-up, compilation)
    fit_s: float | None = None  # the whole call
    peak_mib: float | None = None
    extra: dict = field(default_factory=dict)


CONTENDED_PER_S = 80  # involuntary context switches per second: ~20 on the 2 quiet cores here, 130+ when
# another process wants a core (and 2-thread training then runs 3-20 times slower)


def preemptions() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Memory:
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


class StepClock(pl.Callback):
    """A Lightning callback: host time (s) at the end of step ``warmup`` and of the last step, synced there
    only; optionally the host-device syncs in between (``sync_debug``, CUDA) and a torch.profiler summary
    of ``profile_steps`` steps after the warm-up."""

    def __init__(self, warmup: int, device: torch.device, sync_debug: bool = False, profile_steps: int = 0):
        self.warmup, self.device, self.sync_debug, self.profile_steps = warmup, device, sync_debug, profile_steps
        self.t_first = self.t0 = self.t1 = None
        self.csw0, self.preempt_per_s = 0, None
        self.syncs: int | None = None
        self.profile_text: str | None = None
        self._warnings = None
        self._profiler = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batch_end(trainer.global_step, trainer.max_steps)

    def _batch_end(self, step: int, max_steps: int) -> None:
        if step == 1:
            sync(self.device)
            self.t_first = time.perf_counter()
        if step == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()
            self.csw0 = preemptions()
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
            sync(self.device)
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
            sync(self.device)
            self.t1 = time.perf_counter()
            self.preempt_per_s = (preemptions() - self.csw0) / max(self.t1 - self.t0, 1e-9)

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


class FakeTTY(io.StringIO):
    """stderr during a run: a terminal to experiments.training.train (so the progress bar is drawn and costs what it costs)."""

    def isatty(self) -> bool:
        return True


def non_progress_lines(text: str) -> list[str]:
    """The lines of a run's captured output that are not the progress bar's."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # the bar's cursor movements
    lines = [s.strip() for s in text.replace("\r", "\n").split("\n")]
    return [s for s in lines if s and not any(t in s for t in ("it/s]", "s/it]", "?it/s", "Epoch "))]


def median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else None


def med_measure(ms: list[Measure]) -> Measure:
    return Measure(median([m.images_per_s for m in ms]), median([m.first_step_s for m in ms if m.first_step_s]),
                   median([m.fit_s for m in ms if m.fit_s]), median([m.peak_mib for m in ms if m.peak_mib]))
