"""Parameter and multiply-add counts, for the reports."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_multiply_adds(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """Multiply-adds of one forward pass of one image of shape ``(C, H, W)``: the paper's "FLOPs".

    He et al. 2015, Table 1 and section 3.3, count a multiply-add as one operation ("3.6 billion FLOPs
    (multiply-adds)" for ResNet-34). ``torch.utils.flop_counter`` counts it as two (a multiply and an add);
    this returns half its count: convolutions and the fully connected layer (BN, ReLU, pooling and the
    shortcut additions are not counted, by the paper nor by the counter).
    """
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, *input_size, device=next(model.parameters()).device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def weighted_layers(model: nn.Module) -> list[str]:
    """Names of the convolutions and fully connected layers on the main path (not the projections).

    Their number is the net's depth: "34-layer" counts these.
    """
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and ".shortcut." not in f".{name}."
    ]


def response_layers(model: nn.Module) -> list[tuple[str, nn.BatchNorm2d]]:
    """The BN after every 3x3 convolution on the main path, in the net's order (paper Fig. 7).

    Its output is the layer's "response": after BN, before the nonlinearity and before the addition.
    """
    found, previous_conv = [], None
    for name, m in model.named_modules():
        if ".shortcut." in f".{name}.":
            continue
        if isinstance(m, nn.Conv2d):
            previous_conv = m
        elif isinstance(m, nn.BatchNorm2d) and previous_conv is not None:
            if previous_conv.kernel_size == (3, 3):
                found.append((name, m))
            previous_conv = None
    return found
