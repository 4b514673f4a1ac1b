"""Building blocks of the plain and residual nets (He et al. 2015, arXiv 1512.03385, section 3).

A plain block is the residual block with the addition removed: the same convolutions, the same batch
norms, the same parameter names. The shortcut is chosen by one policy, :class:`Shortcut`, resolved in one
factory, :func:`make_shortcut`, and handed explicitly to every block.
"""

from __future__ import annotations

import enum

import torch
import torch.nn.functional as F
from torch import nn


class Shortcut(str, enum.Enum):
    """How a block adds its input back (paper section 4.1, "Identity vs. Projection Shortcuts").

    NONE: a plain block, no addition at all.
    A: identity everywhere; where the shape changes, subsample by the stride and pad the new channels
       with zeros. Adds no parameters.
    B: identity where the shape is unchanged, a 1x1 convolution + BN projection where it changes.
    C: a 1x1 convolution + BN projection on every block.
    """

    NONE = "none"
    A = "a"
    B = "b"
    C = "c"


class BNConfig:
    """Batch-norm settings shared by every BN layer of a net.

    PyTorch's momentum is the weight of the *new* statistic, so TF's ``decay=0.999`` (the seed) is
    ``momentum=0.001`` here; PyTorch's default is 0.1 and ``eps=1e-5``.
    """

    __slots__ = ("eps", "momentum")

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1) -> None:
        self.eps = eps
        self.momentum = momentum

    def __call__(self, channels: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(channels, eps=self.eps, momentum=self.momentum)


class ZeroPadShortcut(nn.Module):
    """Option A: parameter-free identity that subsamples by ``stride`` and zero-pads the new channels.

    A named module rather than a lambda, so that models pickle. Works for any increase of channels
    (64 -> 256 in a bottleneck as well as the doubling of the CIFAR nets).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"option A cannot shrink channels ({in_channels} -> {out_channels}); use option 'b' or 'c'"
            )
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            # F.pad's pairs run from the last dimension backwards: (W, W, H, H, C, C).
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


def projection(in_channels: int, out_channels: int, stride: int, bn: BNConfig) -> nn.Sequential:
    """A 1x1 convolution + BN projection shortcut (options B and C; eqn. 2 of the paper)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        bn(out_channels),
    )


def make_shortcut(option: Shortcut, in_channels: int, out_channels: int, stride: int, bn: BNConfig) -> nn.Module | None:
    """The one place the shortcut policy is resolved. ``None`` means: no addition (a plain block)."""
    option = Shortcut(option)
    same_shape = stride == 1 and in_channels == out_channels
    if option is Shortcut.NONE:
        return None
    if option is Shortcut.C or (option is Shortcut.B and not same_shape):
        return projection(in_channels, out_channels, stride, bn)
    if same_shape:
        return nn.Identity()
    return ZeroPadShortcut(in_channels, out_channels, stride)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # No bias: every convolution is followed by BN, whose shift makes a bias redundant (paper section 3.4).
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (paper Fig. 5 left): the block of the CIFAR nets and of ResNet-18/34.

    BN follows each convolution, the ReLU after the second one comes after the addition (paper section
    3.2, "the second nonlinearity after the addition").
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, bn: BNConfig) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn1 = bn(width)
        self.conv2 = conv3x3(width, out_channels)
        self.bn2 = bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 restore (paper Fig. 5 right): the block of ResNet-50/101/152.

    The stride sits on the *first* 1x1 convolution, as in the paper (its Caffe models) and the seed's
    TF1 code. torchvision's ResNet ("V1.5") moves it to the 3x3 convolution, which costs more FLOPs
    and gains about 0.5% top-1 on ImageNet; this suite follows the paper.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, bn: BNConfig) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = conv1x1(in_channels, width, stride)
        self.bn1 = bn(width)
        self.conv2 = conv3x3(width, width)
        self.bn2 = bn(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)
