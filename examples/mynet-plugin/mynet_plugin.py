"""``mynet``: a residual net with GroupNorm in place of BN, an example plugin of the degradation suite.

The builder contract is the suite's (``models/plugins.py``): ``build(depth, *, family, num_classes,
in_channels, width, stem, init)`` returns an ``nn.Module`` mapping ``(N, in_channels, H, W)`` images to
``(N, num_classes)`` logits, with ``depth`` weighted layers: every Conv2d and Linear whose module path has no
``shortcut`` component (here: the stem, two 3x3 convolutions per block, the classifier: 6n+2).
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(4, channels), channels)


class Block(nn.Module):
    """conv-GN-ReLU-conv-GN, plus the input (a 1x1 convolution where the shape changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = _norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = _norm(cout)
        same = stride == 1 and cin == cout
        self.shortcut = nn.Identity() if same else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(out)) + self.shortcut(x))


class MyNet(nn.Module):
    # The axes the suite records for its runs (models/plugins.py, declared_axes): post-activation blocks adding
    # a 1x1 projection where the shape changes (option B). Its normalisation, GroupNorm, is none of the
    # suite's values ("bn", "none"): left undeclared, the suite records it as unknown.
    declared_axes = {"block": "post", "shortcut": "b", "merge": "add", "branch_scale": "none"}

    def __init__(self, depth: int, num_classes: int, in_channels: int, width: int, stem: str) -> None:
        super().__init__()
        n = (depth - 2) // 6
        stride = 2 if stem == "imagenet" else 1
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.norm1 = _norm(width)
        blocks, cin = [], width
        for stage in range(3):
            cout = width * 2**stage
            for j in range(n):
                blocks.append(Block(cin, cout, 2 if stage and not j else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.relu(self.norm1(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build(depth: int, *, family: str, num_classes: int, in_channels: int, width: int | None, stem: str,
          init: str) -> nn.Module:
    """``mynet-<depth>``: depth 6n+2 (n >= 1) in either family (three stages of n blocks)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"mynet needs a depth of 6n+2 with n >= 1, got {depth}")
    net = MyNet(depth, num_classes, in_channels, width or 16, stem)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            if init in ("he", "he-fan-in"):
                nn.init.kaiming_normal_(m.weight, mode="fan_out" if init == "he" else "fan_in", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
    return net
