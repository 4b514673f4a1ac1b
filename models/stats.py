"""Parameter and FLOP counts, for the reports."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass of one image of shape ``(C, H, W)``, by ``torch.utils.flop_counter``.

    The counter counts a multiply-add as two FLOPs; the paper's "FLOPs" (e.g. 3.6 billion for ResNet-34)
    are multiply-adds, half of this number.
    """
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, *input_size, device=next(model.parameters()).device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


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
