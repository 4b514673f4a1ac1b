"""The training step recorded once and replayed (experiments/training/step.py, config ``cuda_graph``).

A CPU has no CUDA graphs: these tests record into ``EmulatedGraph``, which keeps a CUDA graph's memory
semantics (a replay writes the gradients into the tensors that held them when it was recorded, whatever
``.grad`` points to now). The GPU itself is checked by ``bench/graph_check.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import csv
import io

import pytest
import torch

from experiments.config import ConfigError, RunConfig
from experiments.training.step import EmulatedGraph, TrainStep
from models import create_model
from tests.helpers_runs import TINY_ARGS, inproc, load_ckpt, run_dir
from tests.helpers_runs import assert_same_state as assert_same_checkpoint


@pytest.fixture
def emulate(monkeypatch):
    monkeypatch.setattr(TrainStep, "emulate_on_cpu", True)


def train(graph: bool, steps: int = 8, detach_at: tuple[int, ...] = (), detach_one_at: tuple[int, ...] = ()
          ) -> tuple[list[float], dict, TrainStep]:
    """A few SGD steps of a small net; at the iterations in ``detach_at`` someone sets every gradient to
    None between steps, as Lightning does before each evaluation; in ``detach_one_at``, one of them."""
    torch.manual_seed(0)
    model = create_model("resnet-8", num_classes=10, in_channels=1, width=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sums = torch.zeros(2, dtype=torch.float64)
    step = TrainStep(model, torch.nn.CrossEntropyLoss(), list(model.parameters()), sums[0], sums[1],
                     graph=graph, warmup=2)
    g = torch.Generator().manual_seed(1)
    losses = []
    for s in range(steps):
        x, y = torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)
        if s in detach_at:
            model.zero_grad(set_to_none=True)
        if s in detach_one_at:
            model.fc.weight.grad = None
        step(x, y)
        opt.step()
        losses.append(sums[0].item())
        sums.zero_()
    return losses, {k: v.clone() for k, v in model.state_dict().items()}, step


def test_a_recorded_step_trains_exactly_like_the_eager_one(emulate):
    eager_losses, eager_weights, eager = train(graph=False)
    losses, weights, step = train(graph=True, detach_at=(4, 6), detach_one_at=(5,))
    assert not eager.recorded and isinstance(step.graph, EmulatedGraph)
    assert step.calls == 8
    assert losses == eager_losses
    for k in eager_weights:
        assert torch.equal(weights[k], eager_weights[k]), k


def test_gradients_set_to_none_after_recording_are_reattached(emulate):
    # Without re-attaching, the replays write gradients the optimizer no longer sees: the weights freeze.
    _, frozen_check, _ = train(graph=True, steps=5, detach_at=(4,))
    _, eager, _ = train(graph=False, steps=5)
    _, before, _ = train(graph=True, steps=4)
    assert any(not torch.equal(frozen_check[k], before[k]) for k in before), "step 5 changed nothing"
    for k in eager:
        assert torch.equal(frozen_check[k], eager[k]), k


def test_a_batch_that_does_not_fit_the_recording_is_refused(emulate):
    _, _, step = train(graph=True, steps=3)
    assert step.recorded
    with pytest.raises(RuntimeError, match=r"batch of shape \(8, 1, 8, 8\).*does not fit"):
        step(torch.zeros(8, 1, 8, 8), torch.zeros(8, dtype=torch.long))


def test_without_emulation_a_cpu_step_is_never_recorded():
    _, _, step = train(graph=True, steps=4)
    assert not step.recorded


@pytest.mark.parametrize("bad, valid", [
    ({"compile": True, "compile_mode": "reduce-overhead"}, "default, max-autotune-no-cudagraphs"),
    ({"compile": True, "compile_mode": "max-autotune"}, "default, max-autotune-no-cudagraphs"),
    ({"precision": "16-mixed"}, "32-true, bf16-mixed"),
])
def test_settings_a_recorded_step_cannot_have_are_refused(bad, valid):
    RunConfig(**{k: v for k, v in bad.items()}).check()  # fine without cuda_graph
    with pytest.raises(ConfigError, match=valid):
        RunConfig(cuda_graph=True, **bad).check()


def _rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_a_run_with_the_recorded_step_is_the_eager_run_through_evaluations_and_a_resume(emulate, tmp_path):
    """Through Lightning: evaluations (which set gradients to None), checkpoints, a crash and its resume,
    gradient norms read from the replayed gradients: the same numbers as the eager run, byte for byte."""
    # A warm-up and a milestone before the crash: the resumed run must carry the scheduler's state over.
    extra = ["--set", "grad_norm_every=3", "--set", "milestones=[5]", "--set", "warmup_steps=2",
             "--set", "warmup_min_depth=1"]
    eager = run_dir(tmp_path / "eager")
    rc, out, err = inproc(eager, *TINY_ARGS, *extra)
    assert rc == 0, out + err
    graphed = run_dir(tmp_path / "graph")
    args = [*TINY_ARGS, *extra, "--set", "cuda_graph=true"]
    rc, out, err = inproc(graphed, *args, fault="raise@7")  # after the checkpoint of 6
    assert rc != 0 and load_ckpt(graphed / "checkpoints" / "last.ckpt")["global_step"] == 6
    rc, out, err = inproc(graphed, *args)
    assert rc == 0, out + err
    assert (graphed / "metrics.csv").read_bytes() == (eager / "metrics.csv").read_bytes()
    lrs = [float(r["lr"]) for r in _rows(graphed / "metrics.csv") if r["lr"]]
    assert lrs == pytest.approx([0.1, 0.01, 0.01, 0.01])  # logged at 3, 6, 9, 12
    norms = _rows(graphed / "grad_norms.csv")
    assert norms == _rows(eager / "grad_norms.csv")
    assert {int(r["step"]) for r in norms} == {0, 3, 6, 9}
    assert all(float(r["norm"]) > 0 for r in norms)
    assert_same_checkpoint(load_ckpt(graphed / "checkpoints" / "last.ckpt"),
                           load_ckpt(eager / "checkpoints" / "last.ckpt"))
