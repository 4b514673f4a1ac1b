"""Building blocks of the plain and residual nets (He et al. 2015, arXiv 1512.03385, section 3).

A plain block is the residual block with the addition removed: the same convolutions, the same batch
norms, the same parameter names. The shortcut is chosen by one policy, :class:`Shortcut`, resolved in one
factory, :func:`make_shortcut`, and handed explicitly to every block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .names import Shortcut
from .tf_compat import Conv2dSame, MaxPool2dSame, TFBatchNorm2d


class LayerConfig:
    """How every convolution and BN layer of a net computes: the settings they share.

    PyTorch's momentum is the weight of the *new* statistic, so TF's ``decay=0.999`` (the seed) is
    ``momentum=0.001`` here; PyTorch's default is 0.1 and ``eps=1e-5``. ``tf_bn`` and ``tf_same`` take TF1's
    conventions instead of PyTorch's (``models/tf_compat.py``): bias-corrected moving averages of the biased
    variance, and "SAME" padding on the strided convolutions. Both are off by default, as in the paper's
    Caffe models and torchvision.
    """

    __slots__ = ("eps", "momentum", "tf_bn", "tf_same")

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1, tf_bn: bool = False, tf_same: bool = False) -> None:
        self.eps = eps
        self.momentum = momentum
        self.tf_bn = tf_bn
        self.tf_same = tf_same

    def bn(self, channels: int) -> nn.BatchNorm2d:
        norm = TFBatchNorm2d if self.tf_bn else nn.BatchNorm2d
        return norm(channels, eps=self.eps, momentum=self.momentum)

    def conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
        """A convolution without bias: every one is followed by BN, whose shift makes a bias redundant
        (paper section 3.4). Padding ``k // 2`` on both sides; TF's "SAME" where that differs from it,
        i.e. with stride > 1 and kernel > 1, if ``tf_same``."""
        if self.tf_same and stride > 1 and kernel_size > 1:
            return Conv2dSame(in_channels, out_channels, kernel_size, stride=stride, bias=False)
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)

    def maxpool(self, kernel_size: int, stride: int) -> nn.MaxPool2d:
        if self.tf_same:
            return MaxPool2dSame(kernel_size, stride)
        return nn.MaxPool2d(kernel_size, stride=stride, padding=kernel_size // 2)


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


def projection(in_channels: int, out_channels: int, stride: int, layers: LayerConfig) -> nn.Sequential:
    """A 1x1 convolution + BN projection shortcut (options B and C; eqn. 2 of the paper)."""
    return nn.Sequential(layers.conv(in_channels, out_channels, 1, stride), layers.bn(out_channels))


def make_shortcut(option: Shortcut, in_channels: int, out_channels: int, stride: int, layers: LayerConfig) -> nn.Module | None:
    """The one place the shortcut policy is resolved. ``None`` means: no addition (a plain block)."""
    option = Shortcut(option)
    same_shape = stride == 1 and in_channels == out_channels
    if option is Shortcut.NONE:
        return None
    if option is Shortcut.C or (option is Shortcut.B and not same_shape):
        return projection(in_channels, out_channels, stride, layers)
    if same_shape:
        return nn.Identity()
    return ZeroPadShortcut(in_channels, out_channels, stride)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (paper Fig. 5 left): the block of the CIFAR nets and of ResNet-18/34.

    BN follows each convolution, the ReLU after the second one comes after the addition (paper section
    3.2, "the second nonlinearity after the addition").
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = layers.conv(in_channels, width, 3, stride)
        self.bn1 = layers.bn(width)
        self.conv2 = layers.conv(width, out_channels, 3)
        self.bn2 = layers.bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, layers)

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

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = layers.conv(in_channels, width, 1, stride)
        self.bn1 = layers.bn(width)
        self.conv2 = layers.conv(width, width, 3)
        self.bn2 = layers.bn(width)
        self.conv3 = layers.conv(width, out_channels, 1)
        self.bn3 = layers.bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)
