"""GPU check of the whole-step CUDA graph (experiments/training/step.py): same numbers as eager, and its ceiling.

    python3 bench/graph_check.py [--model resnet-56] [--steps 60] [--compile]

Trains the same net from the same initial weights on the same batches twice, once eagerly and once with
the step recorded as a CUDA graph (the optimizer step eager after it, as in training), and prints the
largest difference in per-step loss and in final weights. Then replays the recorded step alone and reports
its GPU time per step: the images/s no host overhead can improve on. Needs a GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.config import RunConfig  # noqa: E402
from experiments.training.batches import TrainBatches  # noqa: E402
from experiments.data import synthetic_tensors  # noqa: E402
from experiments.training.schedule import StepSchedule  # noqa: E402
from experiments.training.step import TrainStep  # noqa: E402
from models import create_model  # noqa: E402


def train(model_name: str, steps: int, graph: bool, compile_net: str, tensors, dev, nhwc: bool = True
          ) -> tuple[list[float], dict, TrainStep]:
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=10, in_channels=3).to(dev)
    if nhwc:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model, mode=compile_net) if compile_net else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, StepSchedule([steps // 2], 0.1))
    sums = torch.zeros(2, dtype=torch.float64, device=dev)
    step = TrainStep(forward, torch.nn.CrossEntropyLoss(), list(model.parameters()), sums[0], sums[1],
                     graph=graph, autocast_dtype=torch.bfloat16 if dev.type == "cuda" else None)
    x_all, y_all = tensors.train_x.to(dev), tensors.train_y.to(dev)
    batches = TrainBatches(x_all, y_all, tensors.pixel_mean().to(dev), tensors.channel_std().to(dev), 128, 0, True, nhwc)
    losses = []
    for s in range(steps):
        x, y = batches.batch(s)
        step(x, y)
        opt.step()
        sched.step()
        losses.append(sums[0].item() / 128)
        sums.zero_()
    return losses, {k: v.detach().float().clone() for k, v in model.state_dict().items()}, step


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet-56")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--compile", nargs="?", const="default", default="",
                    help="torch.compile the net, in this mode (default: default)")
    ap.add_argument("--nchw", action="store_true", help="NCHW instead of channels_last")
    ap.add_argument("--skip-compare", action="store_true", help="the replay timing only")
    ap.add_argument("--replays", type=int, default=300)
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script (both runs eager)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = False  # the same algorithms in both runs
    tensors = synthetic_tensors(RunConfig(dataset="synthetic", image_size=32, synthetic_train=4096, synthetic_eval=128),
                                channels=3)
    t = time.perf_counter()
    nhwc = not args.nchw
    what = f"{args.model} {'compiled ' + args.compile if args.compile else 'eager net'}, {'NHWC' if nhwc else 'NCHW'}"
    d_loss = 0.0
    if not args.skip_compare:
        eager_losses, eager_w, _ = train(args.model, args.steps, False, args.compile, tensors, dev, nhwc)
        graph_losses, graph_w, step = train(args.model, args.steps, True, args.compile, tensors, dev, nhwc)
        print(f"{what}: {args.steps} steps each, {time.perf_counter() - t:.1f}s; recorded: {step.recorded} "
              f"(after {step.warmup} eager steps)")
        d_loss = max(abs(a - b) for a, b in zip(eager_losses, graph_losses))
        d_w = max((eager_w[k] - graph_w[k]).abs().max().item() for k in eager_w)
        print(f"  loss first/last eager {eager_losses[0]:.4f}/{eager_losses[-1]:.4f}, graph {graph_losses[0]:.4f}/"
              f"{graph_losses[-1]:.4f}; max |loss diff| {d_loss:.3g}, max |weight diff| {d_w:.3g}")
    if dev.type != "cuda":
        return 0 if d_loss < 0.05 else 1
    # The recorded step alone, back to back: GPU time per step.
    torch.backends.cudnn.benchmark = True
    t = time.perf_counter()
    _, _, step = train(args.model, 5, True, args.compile, tensors, dev, nhwc)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(args.replays):
        step.graph.replay()
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / args.replays
    print(f"  {what}, replay alone (cudnn.benchmark; set-up {time.perf_counter() - t:.0f}s): {ms:.3f} ms per step = {128 / ms * 1000:,.0f} images/s ceiling "
          "(forward, loss, backward; no optimizer step, no input pipeline)")
    return 0 if d_loss < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
