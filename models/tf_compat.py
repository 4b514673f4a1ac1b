"""TensorFlow 1's conventions, where they differ from PyTorch's: what the ``"seed"`` preset switches on.

The seed document (a TF1 ResNet-50) and the suite's default nets have the same variables but do not compute
the same function (issue 15). Three things differ, all outside the paper, which fixes none of them:

* **Padding.** TF's ``padding="SAME"`` is computed from the input size and puts the odd pixel at the bottom
  and right: the 7x7 stride-2 stem convolution pads (2, 3) on 224 pixels, the 3x3 stride-2 max-pool (0, 1)
  on 112. PyTorch, Caffe (the paper's models) and torchvision pad ``k // 2`` on both sides, (3, 3) and
  (1, 1): the sampling grid is one pixel apart. :class:`Conv2dSame` and :class:`MaxPool2dSame` pad as TF.
  Only a layer with stride > 1 and kernel > 1 can differ: a stride-1 layer of odd kernel pads
  ``(k - 1) / 2`` on both sides in both conventions, and a 1x1 layer never pads.
* **BN's moving averages.** TF's ``assign_moving_average`` (``zero_debias=True``, its default, which the
  seed's ``batch_norm`` keeps) is bias-corrected, and averages ``tf.nn.moments``' *biased* batch variance.
  PyTorch blends from 0 and 1 with the new statistic's weight ``momentum``, so that with the seed's
  decay 0.999 the starting values keep 37% of the weight after 1,000 steps, and it averages the
  *unbiased* variance (x n / (n - 1): 1% on the 7x7 maps of the last stage at batch 2).
  :class:`TFBatchNorm2d` averages as TF does.
* **The head.** The seed's ``avg_pool(net, 7)`` is a 7x7 VALID pool: a global average only on a 7x7 map
  (inputs of 193 to 224 pixels); on 8 to 13 it averages the top-left 7x7 window, and from 14 its squeeze
  fails. The preset keeps the global average and refuses other sizes (``ResNet.forward``).

timm has ``Conv2dSame`` and ``MaxPool2dSame`` too; ``models/`` imports torch only (``models/__init__.py``; tests/test_layers.py), so these few
lines are kept here.
"""

from __future__ import annotations

import struct

import torch
import torch.nn.functional as F
from torch import nn

# create_model(name, preset="seed"): the seed's TF1 ResNet-50 computed exactly (issue 15), on top of its
# init (xavier), BN epsilon 1e-3 and decay 0.999 (PyTorch's momentum is 1 - decay).
PRESETS: dict[str, dict] = {
    "seed": {
        "init": "xavier",
        "bn_eps": 1e-3,
        "bn_momentum": 0.001,
        "stem": "imagenet",
        "tf_same": True,
        "tf_bn": True,
    },
}
SEED_FINAL_MAP = 7  # the seed's avgpool5 is avg_pool(net, 7): VALID, window = stride = 7


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's ``padding="SAME"`` along one axis of ``size`` pixels: ``(before, after)``, in pixels.

    The output has ``ceil(size / stride)`` pixels; ``total = max((out - 1) * stride + kernel - size, 0)``,
    ``before = total // 2`` and the rest after, so an odd total pads one more pixel at the bottom/right.
    Raises ``ValueError`` for a size, kernel or stride < 1.
    """
    if min(size, kernel, stride) < 1:
        raise ValueError(f"bad size/kernel/stride {size}/{kernel}/{stride}; valid: integers >= 1")
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    top, bottom = tf_same_padding(x.shape[-2], kernel[0], stride[0])
    left, right = tf_same_padding(x.shape[-1], kernel[1], stride[1])
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TF's ``padding="SAME"``, computed from each input's size (see the module docstring).

    ``(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))``. The same parameters as
    ``nn.Conv2d`` (a state_dict loads either way); no dilation and no padding argument.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class MaxPool2dSame(nn.MaxPool2d):
    """``nn.MaxPool2d`` with TF's ``padding="SAME"``: ``(N, C, H, W) -> (N, C, ceil(H / s), ceil(W / s))``.

    Padded pixels never win (they are -inf, as TF ignores them); every window holds a real pixel.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__(kernel_size, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = (self.kernel_size,) * 2, (self.stride,) * 2
        return super().forward(_pad_same(x, kernel, stride, value=float("-inf")))


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as TF holds its constants."""
    return struct.unpack("f", struct.pack("f", value))[0]


class TFBatchNorm2d(nn.BatchNorm2d):
    """BN as the seed's TF1 ``batch_norm``: moving averages bias-corrected and of the biased variance.

    Training mode normalises with the batch mean and biased variance, as ``nn.BatchNorm2d`` does, and
    then updates the moving statistics as TF's ``assign_moving_average(zero_debias=True)`` of
    ``tf.nn.moments``: after step ``t`` (``num_batches_tracked``) they are
    ``sum_i m (1 - m)^(t - i) v_i / (1 - (1 - m)^t)`` with ``m = momentum``, so after the first step they equal
    that step's batch statistics and the initial values (0 and 1, or whatever was loaded) are forgotten.
    TF keeps two extra variables per average for this, ``biased`` and ``local_step``; here none are needed:
    ``local_step`` is ``num_batches_tracked`` and ``biased`` is ``running * (1 - (1 - m)^t)``, recomputed in
    each step (exactly 0 before the first, whatever was loaded). The arithmetic is TF's, in float32, so that
    the results agree to rounding: float32's ``1 - 0.999`` is 1.3e-5 off, which TF's division carries and a
    plain ``running += (v - running) * m / (1 - (1 - m)^t)`` would not. The state_dict has exactly
    ``nn.BatchNorm2d``'s keys, so the default net's load here and back (a loaded ``num_batches_tracked``
    continues the correction from that step).
    Evaluation mode is ``nn.BatchNorm2d``'s, the same formula as ``tf.nn.batch_normalization``.
    ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        self._check_input_dim(x)
        var, mean = torch.var_mean(x.float(), dim=(0, 2, 3), correction=0)  # tf.nn.moments: biased
        with torch.no_grad():
            # TF's _zero_debias, in float32 as TF: biased -= (biased - value) * decay, then
            # moving = biased / (1 - (1 - decay)^t). TF's "decay" is 1 - 0.999, our momentum.
            # Python floats holding float32 values: no host-to-device copy, so CUDA graphs can record it.
            decay = _float32(self.momentum)
            keep = _float32(1.0 - decay)
            before = 1.0 - keep ** self.num_batches_tracked.to(torch.float32)
            self.num_batches_tracked.add_(1)
            after = 1.0 - keep ** self.num_batches_tracked.to(torch.float32)
            for running, value in ((self.running_mean, mean), (self.running_var, var)):
                biased = running * before  # TF's `biased` variable; exactly 0 before the first step
                biased -= (biased - value) * decay
                running.copy_(biased / after)
        # tf.nn.batch_normalization's own arithmetic: x * inv + (beta - mean * inv).
        inv = torch.rsqrt(var + self.eps) * self.weight
        out = x * inv[:, None, None] + (self.bias - mean * inv)[:, None, None]
        return out.to(x.dtype)
