"""One training step's device work as one callable, optionally recorded once as a CUDA graph and replayed.

Forward, loss, backward and the training accumulators (loss sum, wrong-prediction count) of a step are the
same few hundred small kernels every iteration. Launched from Python they cost the host 20-40 us each,
more than the GPU needs to run them (BENCHMARKS.md): the GPU waits for the CPU. Recorded once with
``torch.cuda.graph`` they become one launch per step.

The optimizer step stays outside, eager (fused SGD: a few launches), so that Lightning counts and hooks it
as usual (``global_step``, ``on_before_optimizer_step``) and the scheduler can change the learning rate.

Rules the graph imposes, kept here:

- the first ``warmup`` calls of a process run eagerly: cuDNN's algorithm search (``benchmark``), the
  compilation of a ``torch.compile``'d net and its backward, lazy CUDA module loading all happen there,
  never while recording. They are real training steps, not extra ones: nothing is computed twice;
- the graph reads its batch from fixed input buffers (each call copies into them) and writes the gradients
  into fixed tensors, which the optimizer then reads;
- whoever sets the gradients to ``None`` after recording (Lightning does, before every evaluation, in
  ``on_validation_model_zero_grad``) would leave the replay writing gradients the optimizer no longer
  sees, and training would silently stop: each call re-attaches any that were detached;
- autocast runs with its weight cache off (a cached bf16 copy of a weight would be recorded as a constant)
  in every call, eager or recorded, so that a compiled net sees the same global state and is not
  recompiled while recording.

On a CPU, or with ``graph=False``, every call is eager. ``TrainStep.emulate_on_cpu = True`` (tests) records
on a CPU too, into :class:`EmulatedGraph`, which has a CUDA graph's memory semantics: so the bookkeeping
above is tested on any machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import nn


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning precision setting; None for full precision."""
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)


class EmulatedGraph:
    """A CPU stand-in for ``torch.cuda.CUDAGraph``, for tests: ``replay()`` runs the recorded step again on
    the recorded input buffers and, like a real replay, writes the gradients into the tensors that held them
    when it was recorded, whatever the parameters' ``.grad`` point to now."""

    def __init__(self, step: TrainStep) -> None:
        self.step = step
        self.grads = [torch.zeros_like(p) for p in step.params]  # what recording would have allocated

    def replay(self) -> None:
        def backward(loss):
            for g, d in zip(self.grads, torch.autograd.grad(loss, self.step.params)):
                g.copy_(d)

        self.step._work(self.step._x, self.step._y, backward)


class TrainStep:
    """``step(x, y)``: forward, loss, backward, accumulators. Gradients are left in the parameters' ``.grad``.

    ``forward``: the net as training calls it (possibly ``torch.compile``'d); ``backward``: how to
    backpropagate eagerly (Lightning's ``manual_backward``, or ``Tensor.backward``); ``loss_sum`` and
    ``wrong_sum``: 0-dim device tensors, increased by the batch's summed loss and number of wrong top-1
    predictions; ``autocast_dtype``: bf16/fp16 autocast on a GPU, ``None`` for fp32.
    """

    emulate_on_cpu = False  # tests: record CPU steps into an EmulatedGraph

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], criterion: nn.Module,
                 params: Sequence[nn.Parameter], loss_sum: torch.Tensor, wrong_sum: torch.Tensor, *,
                 graph: bool = False, warmup: int = 3, autocast_dtype: torch.dtype | None = None,
                 backward: Callable[[torch.Tensor], None] | None = None) -> None:
        if warmup < 1 and graph:
            raise ValueError(f"bad warmup {warmup}: a CUDA graph needs at least 1 eager step before recording")
        self.forward, self.criterion, self.params = forward, criterion, list(params)
        self.loss_sum, self.wrong_sum = loss_sum, wrong_sum
        self.graph_wanted, self.warmup, self.autocast_dtype = graph, warmup, autocast_dtype
        self.backward = backward or (lambda loss: loss.backward())
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | EmulatedGraph | None = None
        self._grads: list[torch.Tensor] = []  # the gradients the graph writes
        self._x: torch.Tensor | None = None
        self._y: torch.Tensor | None = None

    @property
    def recorded(self) -> bool:
        return self.graph is not None

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def _work(self, x: torch.Tensor, y: torch.Tensor, backward: Callable[[torch.Tensor], None]) -> None:
        with self._autocast(x.device):
            logits = self.forward(x)
            loss = self.criterion(logits, y)
        with torch.no_grad():
            self.loss_sum.add_(loss.detach(), alpha=y.numel())
            self.wrong_sum.add_((logits.argmax(1) != y).sum())
        backward(loss)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.calls += 1
        if self.graph is not None:
            if x.shape != self._x.shape or x.stride() != self._x.stride() or y.shape != self._y.shape:
                raise RuntimeError(f"batch of shape {tuple(x.shape)} stride {x.stride()} does not fit the recorded "
                                   f"step's {tuple(self._x.shape)} stride {self._x.stride()}")
            self._x.copy_(x)
            self._y.copy_(y)
            self._attach_grads()
            self.graph.replay()
            return
        if self.graph_wanted and (x.is_cuda or self.emulate_on_cpu) and self.calls > self.warmup:
            self._record(x, y)
            self.graph.replay()
            return
        for p in self.params:
            p.grad = None
        self._work(x, y, self.backward)

    def _attach_grads(self) -> None:
        # Every parameter, not just the first: ~10 us of host time, and the host runs ahead of the GPU here.
        for p, g in zip(self.params, self._grads):
            if p.grad is not g:
                p.grad = g

    def _record(self, x: torch.Tensor, y: torch.Tensor) -> None:
        # Gradients allocated while recording live in the graph's memory pool: every replay rewrites them.
        for p in self.params:
            p.grad = None
        self._x, self._y = x.clone(memory_format=torch.preserve_format), y.clone()
        if not x.is_cuda:
            self.graph = EmulatedGraph(self)
            self._grads = self.graph.grads
            self._attach_grads()
            return
        graph = torch.cuda.CUDAGraph()  # torch.cuda.graph() waits for the device before recording
        # Recording runs nothing: the accumulators and gradients are only written by the replay that follows.
        try:
            with torch.cuda.graph(graph):
                self._work(self._x, self._y, lambda loss: loss.backward())
        except Exception as exc:
            raise RuntimeError(f"recording the training step as a CUDA graph failed ({type(exc).__name__}: {exc}); "
                               "train without it with --set cuda_graph=false (make: SET=\"cuda_graph=false\")") from exc
        self.graph = graph
        self._grads = [p.grad for p in self.params]
        if any(g is None for g in self._grads):
            raise RuntimeError("a parameter got no gradient while recording the training step")
