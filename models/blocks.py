"""Building blocks of the plain and residual nets (He et al. 2015, arXiv 1512.03385, section 3) and of the
methods against degradation (``models/names.py``, ``METHODS``).

A plain block is the residual block with the addition removed: the same convolutions, the same batch
norms, the same parameter names. The shortcut is chosen by one policy, :class:`Shortcut`, resolved in one
factory, :func:`make_shortcut`, and handed explicitly to every block. Every layer comes from one factory,
:class:`LayerConfig`; a part a method does not have is a ``None`` attribute (``bn1 = None`` without BN,
``alpha = None`` without a branch scale, ``gate = None`` without a gate), so the paper's nets gain no
module, parameter or random draw from the methods.

Three block forms, each a basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1; stride on the first 1x1, as the
paper and ``resnet-pre-act.lua``; on the 3x3 where a method's authors put it there, ``stride_at=1``: Fixup's
and SkipInit's, ``Method.bottleneck_stride`` in ``models/names.py``) branch:
:class:`PostBlock` (He 2015: ReLU after the addition; also ReZero's scalar and Highway's gate),
:class:`PreActBlock` (He 2016: BN-ReLU before each convolution, nothing after the addition; also SkipInit)
and :class:`FixupBlock` (Zhang et al. 2019).

Every block declares, for :func:`models.response_layers`, :func:`models.weighted_layers` and inits that
depend on its structure:

* ``declared_weighted``: its main-path convolutions, in order (never a projection or a gate);
* ``declared_responses``: the modules whose outputs are the responses of its 3x3 layers (paper Fig. 7:
  "after BN and before other nonlinearity (ReLU/addition)"): the BN right after the convolution; where
  none follows it, the convolution itself (with its bias); for the layer ending the branch of a block with
  a scale (Fixup, SkipInit, ReZero), an ``nn.Identity`` tap ``resp<i>`` on the branch output exactly as it
  enters the addition (after the scale and the scalar bias);
* ``branch_end``: the layer whose output ends the branch, before any scale: zero its weight and the branch
  outputs zero (Fixup's rule 1, torchvision's ``zero_init_residual``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .names import Shortcut
from .plugins import choices
from .tf_compat import Conv2dSame, MaxPool2dSame, TFBatchNorm2d


class LayerConfig:
    """The one factory of a net's layers: how every convolution and BN layer computes, the settings they share.

    PyTorch's momentum is the weight of the *new* statistic, so TF's ``decay=0.999`` (the seed) is
    ``momentum=0.001`` here; PyTorch's default is 0.1 and ``eps=1e-5``. ``tf_bn`` and ``tf_same`` take TF1's
    conventions instead of PyTorch's (``models/tf_compat.py``): bias-corrected moving averages of the biased
    variance, and "SAME" padding on the strided convolutions. Both are off by default, as in the paper's
    Caffe models and torchvision.

    ``norm=False`` (the methods without normalisation): :meth:`bn` gives ``None`` and the convolutions a
    bias unless ``conv_bias=False`` (Fixup, whose scalar biases stand in for them).
    """

    __slots__ = ("eps", "momentum", "tf_bn", "tf_same", "norm", "conv_bias")

    def __init__(self, eps: float = 1e-5, momentum: float = 0.1, tf_bn: bool = False, tf_same: bool = False,
                 norm: bool = True, conv_bias: bool | None = None) -> None:
        self.eps = eps
        self.momentum = momentum
        self.tf_bn = tf_bn
        self.tf_same = tf_same
        self.norm = norm
        self.conv_bias = not norm if conv_bias is None else conv_bias

    def bn(self, channels: int) -> nn.BatchNorm2d | None:
        """The norm slot: BN, or ``None`` in a net without normalisation."""
        if not self.norm:
            return None
        norm = TFBatchNorm2d if self.tf_bn else nn.BatchNorm2d
        return norm(channels, eps=self.eps, momentum=self.momentum)

    def conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
             bias: bool | None = None) -> nn.Conv2d:
        """A convolution without bias where BN follows, whose shift makes a bias redundant (the paper's released
        Caffe models, ``bias_term: false``; section 3.4 puts BN right after each convolution); with one in a net
        without BN (``bias=None``: the config's ``conv_bias``). Padding ``k // 2`` on both sides; TF's "SAME"
        where that differs from it, i.e. with stride > 1 and kernel > 1, if ``tf_same``."""
        bias = self.conv_bias if bias is None else bias
        if self.tf_same and stride > 1 and kernel_size > 1:
            return Conv2dSame(in_channels, out_channels, kernel_size, stride=stride, bias=bias)
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)

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


def projection(in_channels: int, out_channels: int, stride: int, layers: LayerConfig, bn: bool = True) -> nn.Sequential:
    """A 1x1 convolution + BN projection shortcut (options B and C; eqn. 2 of the paper); without BN in a net
    without normalisation (as Fixup's ImageNet ``downsample``) or with ``bn=False`` (the pre-activation
    authors' projection, ``resnet-pre-act.lua``). ``(N, in, H, W) -> (N, out, H / stride, W / stride)``."""
    conv = layers.conv(in_channels, out_channels, 1, stride)
    norm = layers.bn(out_channels) if bn else None
    return nn.Sequential(conv) if norm is None else nn.Sequential(conv, norm)


def make_shortcut(option: Shortcut, in_channels: int, out_channels: int, stride: int, layers: LayerConfig,
                  bn: bool = True) -> nn.Module | None:
    """The one place the shortcut policy is resolved. ``None`` means: no addition (a plain block). ``bn``:
    whether a projection has its BN (where the layers have one)."""
    option = Shortcut(option)
    same_shape = stride == 1 and in_channels == out_channels
    if option is Shortcut.NONE:
        return None
    if option is Shortcut.C or (option is Shortcut.B and not same_shape):
        return projection(in_channels, out_channels, stride, layers, bn)
    if same_shape:
        return nn.Identity()
    return ZeroPadShortcut(in_channels, out_channels, stride)




# Highway's transform-gate bias at initialisation (Srivastava et al. 2015, arXiv 1507.06228, section 2.2:
# "b_T can be initialized with a negative value (e.g. -1, -3 etc.) such that the network is initially
# biased towards carry behavior"). -3, the more negative of the paper's two examples, because the suite's
# nets are 20 to 1202 layers deep: sigmoid(-3) = 0.047, each layer starts carrying 95% of its input. The
# authors' CIFAR code (highway-networks, cifar10_network.prototxt, transform_bias_filler) uses -2 (0.12): the
# variant ``bias2`` (``highway-<d>-bias2``).
HIGHWAY_GATE_BIAS = -3.0
HIGHWAY_GATE_BIAS_AUTHORS = -2.0

BASIC = (3, 3)  # paper Fig. 5 left
BOTTLENECK = (1, 3, 1)  # paper Fig. 5 right, x4 expansion


def _branch_shapes(kernels: tuple[int, ...], expansion: int, in_channels: int, width: int, stride: int,
                   stride_at: int = 0):
    """``[(in, out, kernel, stride)]`` of a branch's convolutions; the stride on convolution ``stride_at``
    (0: the first)."""
    channels = [in_channels] + [width] * (len(kernels) - 1) + [width * expansion]
    return [(channels[i], channels[i + 1], k, stride if i == stride_at else 1) for i, k in enumerate(kernels)]


class _Block(nn.Module):
    """What every block form shares: the branch table, the shortcut, the declarations (module docstring).

    ``(N, in_channels, H, W) -> (N, width * expansion, H / stride, W / stride)``.
    """

    kernels: tuple[int, ...] = BASIC
    expansion = 1
    forms: tuple[str, ...] = ()  # which of scale / gate / no pre-activation / the VARIANTS tokens the form takes

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig,
                 scale: str = "none", gate: bool = False, preact: bool = True, variants: tuple[str, ...] = (),
                 stride_at: int = 0) -> None:
        super().__init__()
        wanted = {"scale": scale != "none", "gate": gate, "nopreact": not preact, **{v: True for v in variants}}
        for what in [w for w, on in wanted.items() if on]:
            if what not in self.forms:
                raise ValueError(f"{type(self).__name__} takes no {what}; valid: {choices(self.forms) or 'none'}")
        self.variants = tuple(variants)
        self.shapes = _branch_shapes(self.kernels, self.expansion, in_channels, width, stride, stride_at)
        self.depth = len(self.shapes)
        self.same_shape = stride == 1 and in_channels == self.shapes[-1][1]

    def _declare(self, responses: dict[int, str]) -> None:
        """``responses``: {conv index: module name} for the 3x3 convolutions."""
        self.declared_weighted = tuple(f"conv{i}" for i in range(1, self.depth + 1))
        self.declared_responses = tuple(responses[i] for i in sorted(responses) if self.shapes[i - 1][2] == 3)

    def init_method(self, num_branches: int) -> None:
        """Inits that depend on the block's structure, after the net's He or Xavier init (``ResNet``)."""


class PostBlock(_Block):
    """He et al. 2015 (arXiv 1512.03385, section 3.2, Fig. 2 and 5): conv-BN-ReLU ..., conv-BN, the
    addition, then ReLU ("the second nonlinearity after the addition"). Without a shortcut, a plain block.

    Options of the methods (``None`` attributes otherwise):

    * ``alpha`` (ReZero, Bachlechner et al. 2020, arXiv 2003.04887): ``y = x + alpha * relu(BN(conv(..)))``
      with one learnable scalar per branch, 0 at init, and no ReLU after the sum, as the authors' own ResNet
      (tbachlechner/ReZero-examples, ``ReZNet-6x_faster_ResNet_training_via_ReZero.ipynb``, ``BasicBlock``:
      ``out = self.resweight * F.relu(out) + self.shortcut(x)``; "the skip connection is implemented
      after the nonlinearity"). At init the block is exactly its shortcut for any input, ReZero's defining
      property. Its output tap ``resp<n>`` is the branch as it enters the addition. The variant ``sumrelu``
      (``rezero-<d>-sumrelu``) is the suite's earlier form ``relu(x + alpha * BN(conv(..)))``, He 2015's
      block with alpha alone added. Departures: the authors' option A pads the new channels on both sides
      of the old ones (``F.pad(.., planes // 4, planes // 4)``), ours after them: the same net up to the
      order of channels, whose weights are drawn alike; their init is He fan-in (``init=he-fan-in``).
    * ``gate`` (Highway, Srivastava et al. 2015, arXiv 1507.06228, section 2, eq. 3):
      ``y = H(x) T(x) + c(x) (1 - T(x))`` with ``H = relu(BN(conv(relu(BN(conv(x))))))`` (H includes its
      nonlinearity, section 2), ``T = sigmoid(gate(x))``: a 3x3 convolution with bias (the same receptive
      field as H's first layer, section 3.1's convolutional highway layers; stride as the block's), its bias
      at :data:`HIGHWAY_GATE_BIAS`; ``c`` is the shortcut (identity, or option A or B where the shape
      changes). No ReLU after the sum (the paper has none). Departures: H is the suite's two-convolution
      branch with BN (the paper's H is one convolution, no BN), so depth counts the same layers as resnet's;
      against the authors' CIFAR code (highway-networks, ``cifar10_network.prototxt``): the gate bias starts
      at -3, not -2 (the variant ``bias2``, ``highway-<d>-bias2``, starts it at -2); the weights take the
      run's init, not Caffe's ``xavier``; the biases train at the run's rate with weight decay, not at twice
      it without; the shape changes inside gated blocks, not in plain convolutions and max-pooling; no dropout.

    ``relu`` is in place: a response hook reads its tensor before the nonlinearity overwrites it.
    """

    forms = ("scale", "gate", "sumrelu", "bias2")

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig,
                 scale: str = "none", gate: bool = False, preact: bool = True, variants: tuple[str, ...] = (),
                 stride_at: int = 0) -> None:
        super().__init__(in_channels, width, stride, shortcut, layers, scale, gate, preact, variants, stride_at)
        for i, (cin, cout, k, s) in enumerate(self.shapes, start=1):
            setattr(self, f"conv{i}", layers.conv(cin, cout, k, s))
            setattr(self, f"bn{i}", layers.bn(cout))
        self.relu = nn.ReLU(inplace=True)
        out_channels = self.shapes[-1][1]
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, layers)
        n = self.depth
        self.alpha = nn.Parameter(torch.zeros(1)) if scale == "zero" else None
        if scale not in ("none", "zero"):
            raise ValueError(f"PostBlock takes branch scale 'none' or 'zero', got {scale!r}")
        if "sumrelu" in variants and self.alpha is None:
            raise ValueError("the variant 'sumrelu' places ReZero's scale; valid only with branch scale 'zero'")
        if "bias2" in variants and not gate:
            raise ValueError("the variant 'bias2' sets Highway's gate bias; valid only with a gate")
        self.gate_bias = HIGHWAY_GATE_BIAS_AUTHORS if "bias2" in variants else HIGHWAY_GATE_BIAS
        # ReZero as its authors: the branch's ReLU before the scale, none after the sum.
        self.relu_before_scale = self.alpha is not None and "sumrelu" not in variants
        responses = {i: f"bn{i}" if getattr(self, f"bn{i}") is not None else f"conv{i}" for i in range(1, n + 1)}
        if self.alpha is not None:
            setattr(self, f"resp{n}", nn.Identity())
            responses[n] = f"resp{n}"
        self.gate = None
        if gate:
            if self.shortcut is None:
                raise ValueError("a gate needs a carry path: shortcut 'a', 'b' or 'c', not 'none'")
            self.gate = layers.conv(in_channels, out_channels, 3, stride, bias=True)
        self._declare(responses)
        self.branch_end = f"bn{n}" if getattr(self, f"bn{n}") is not None else f"conv{n}"

    def init_method(self, num_branches: int) -> None:
        if self.gate is not None:
            nn.init.constant_(self.gate.bias, self.gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.depth + 1):
            out = getattr(self, f"conv{i}")(out)
            bn = getattr(self, f"bn{i}")
            if bn is not None:
                out = bn(out)
            if i < self.depth or self.relu_before_scale:
                out = self.relu(out)
        if self.alpha is not None:
            out = getattr(self, f"resp{self.depth}")(out * self.alpha)
        if self.gate is not None:
            t = torch.sigmoid(self.gate(x))
            return self.relu(out) * t + self.shortcut(x) * (1.0 - t)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return out if self.relu_before_scale else self.relu(out)


class BasicBlock(PostBlock):
    """Two 3x3 convolutions (paper Fig. 5 left): the block of the CIFAR nets and of ResNet-18/34.

    BN follows each convolution, the ReLU after the second one comes after the addition (paper section
    3.2, "the second nonlinearity after the addition").
    """

    kernels, expansion = BASIC, 1


class Bottleneck(PostBlock):
    """1x1 reduce, 3x3, 1x1 restore (paper Fig. 5 right): the block of ResNet-50/101/152.

    The stride sits on the *first* 1x1 convolution, as in the paper (its Caffe models) and the seed's
    TF1 code. torchvision's ResNet ("V1.5") moves it to the 3x3 convolution, which costs more FLOPs
    and gains about 0.5% top-1 on ImageNet; this suite follows the paper.
    """

    kernels, expansion = BOTTLENECK, 4


class PreActBlock(_Block):
    """Full pre-activation (He et al. 2016, arXiv 1603.05027, section 4.1 and Fig. 4(e)): BN-ReLU-conv for
    every convolution of the branch, the addition, and nothing after it; the net adds one BN-ReLU after the
    last block (``ResNet.bn_final``).

    Follows the authors' ``resnet-pre-act.lua`` (KaimingHe/resnet-1k-layers, "Residual Units for increasing
    dimensions"): where the shape changes, the first BN-ReLU is shared and the shortcut takes the
    pre-activated input, through a 1x1 convolution without BN (option B, ``preresnet-<d>``); elsewhere the
    identity takes the block's input. Option A there (``preresnet-<d>-a``) is fb.resnet.torch's CIFAR default
    (``preresnet.lua`` with ``shortcutType`` A), also on the shared BN-ReLU's output. Variants (named
    departures, ``models/names.py``): ``projbn`` adds a BN after the projection's convolution (He 2015's
    projection); ``raw`` feeds the shortcut the block's raw input instead, as some PyTorch CIFAR versions do.
    ``preact=False`` drops the first BN-ReLU for a block whose input has just been through one (the first
    block after the ImageNet stem's conv-BN-ReLU-max-pool, as fb.resnet.torch's ``preresnet.lua`` does).
    Departures: the authors' code builds bottleneck nets of 9n+2 layers (164, 1001; the paper also trains
    110-layer basic-block nets); here the suite's 6n+2 basic-block nets, whose first stage keeps the stem's
    width (no projection there).

    ``alpha`` (SkipInit, De and Smith 2020, arXiv 2002.10444): ``y = x + alpha * f(x)``, ``alpha`` a
    learnable scalar at 0: with ``norm=False`` layers the BN slots are ``None`` and each convolution
    has a bias, the branch is ReLU-conv-ReLU-conv, and where the shape changes the shortcut is a 1x1
    convolution with bias on the shared ReLU's output, as DeepMind's reference (``nfnets/skipinit_resnet.py``,
    ``NFResBlock``: ``shortcut = self.conv_shortcut(out)`` after ``out = self.activation(x)``). At init the
    block returns exactly its shortcut. The net (``ResNet``) follows the reference's stem without bias, its
    classifier at zero and its optimizer's groups (no weight decay on alpha and the biases). Departures:
    the reference is an ImageNet bottleneck net (its stride on the 3x3 convolution, as in the suite's
    ``skipinit-50`` and deeper) trained with stochastic depth, dropout, label smoothing and Nesterov
    momentum, its convolutions at haiku's default init; here the suite's nets and recipe, convolutions at
    the run's He init (alpha = 0 hides the branch's scale at init); ``skipinit-<d>-a`` is option A instead
    of the projection.
    """

    forms = ("scale", "nopreact", "raw", "projbn")

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig,
                 scale: str = "none", gate: bool = False, preact: bool = True, variants: tuple[str, ...] = (),
                 stride_at: int = 0) -> None:
        super().__init__(in_channels, width, stride, shortcut, layers, scale, gate, preact, variants, stride_at)
        for i, (cin, cout, k, s) in enumerate(self.shapes, start=1):
            setattr(self, f"bn{i}", layers.bn(cin) if (i > 1 or preact) else None)
            setattr(self, f"conv{i}", layers.conv(cin, cout, k, s))
        self.relu = nn.ReLU(inplace=True)
        self.preact = preact
        self.raw_shortcut = "raw" in variants  # where the shape changes; the identity always takes the input
        self.shortcut = make_shortcut(shortcut, in_channels, self.shapes[-1][1], stride, layers,
                                      bn="projbn" in variants)
        if self.shortcut is None:
            raise ValueError("a pre-activation block needs a shortcut: 'a', 'b' or 'c'")
        if scale not in ("none", "zero"):
            raise ValueError(f"PreActBlock takes branch scale 'none' or 'zero', got {scale!r}")
        n = self.depth
        self.alpha = nn.Parameter(torch.zeros(1)) if scale == "zero" else None
        # conv i's response: the BN that follows it (bn<i+1>), or, where none does, its own output.
        responses = {i: f"bn{i + 1}" if getattr(self, f"bn{i + 1}") is not None else f"conv{i}" for i in range(1, n)}
        responses[n] = f"conv{n}"
        if self.alpha is not None:
            setattr(self, f"resp{n}", nn.Identity())
            responses[n] = f"resp{n}"
        self._declare(responses)
        self.branch_end = f"conv{n}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x
        if self.preact:
            pre = F.relu(self.bn1(x)) if self.bn1 is not None else F.relu(x)  # not in place: x is the identity's
        out = self.conv1(pre)
        for i in range(2, self.depth + 1):
            bn = getattr(self, f"bn{i}")
            out = getattr(self, f"conv{i}")(self.relu(bn(out) if bn is not None else out))
        if self.alpha is not None:
            out = getattr(self, f"resp{self.depth}")(out * self.alpha)
        return out + self.shortcut(x if self.same_shape or self.raw_shortcut else pre)


class PreActBasicBlock(PreActBlock):
    kernels, expansion = BASIC, 1


class PreActBottleneck(PreActBlock):
    """:class:`PreActBlock` with the 1x1-3x3-1x1 bottleneck (4x expansion) of ``preresnet-50/101/152``.

    A choice between two sources, named: the stride sits on the first 1x1 convolution, as in the suite's
    post-activation :class:`Bottleneck` (the paper's released models), while the ImageNet stem and first block
    follow fb.resnet.torch's ``preresnet.lua``, whose bottleneck strides its 3x3 convolution instead (as
    torchvision's v1.5); ``resnet-pre-act.lua`` holds no ImageNet net to follow.
    """

    kernels, expansion = BOTTLENECK, 4


class FixupBlock(_Block):
    """Fixup (Zhang et al. 2019, arXiv 1901.09321, section 3), as the authors' ``FixupBasicBlock`` and
    ``FixupBottleneck`` (hongyi-zhang/Fixup ``cifar/models/fixup_resnet_cifar.py``,
    ``imagenet/models/fixup_resnet_imagenet.py``), with their parameter names: no normalisation; a scalar
    bias before each convolution (``bias<i>a``) and before each activation (``bias<i>b``), one scalar
    multiplier ``scale`` (init 1) on the branch; ``relu(branch + shortcut)``, the shortcut taking
    ``x + bias1a`` where the shape changes (option A, the CIFAR nets' default: subsample and zero channels,
    as the authors' CIFAR ``AvgPool2d(1, stride)`` + zero concatenation; B, the ImageNet nets' default
    (``models/names.py``, ``imagenet_shortcut``): a 1x1 convolution without BN, as their ImageNet
    ``downsample``). A bottleneck's stride is on its 3x3 convolution, as in their ``FixupBottleneck``.

    Init (:meth:`init_method`, after the net's He init ``N(0, 2 / (k^2 out))``, the authors' formula): rule 2
    multiplies the branch's other convolutions by ``L^(-1/(2m-2))`` (L branches, m convolutions in one: 2 for
    basic, 3 for bottleneck), rule 1 sets its last convolution to zero (the classifier too: ``ResNet``);
    the projections keep He's init, as the authors'; the stem keeps PyTorch's default init, as the
    authors' (``ResNet``). Optimizer: the scalar biases and multipliers at lr / 10 (``ResNet.lr_factors``,
    the authors' ``cifar_train.py``). Departures: none in the blocks, the init's distributions or the
    optimizer groups (the random draws come in another order). Named variants of ours: option B on the
    CIFAR nets (``fixup-<d>-b``, the authors' ImageNet ``downsample`` on their CIFAR net) and option A on
    the ImageNet nets (``fixup-<d>-a``, their CIFAR shortcut on their ImageNet net). The ImageNet nets'
    stem is the profile's, as for every ImageNet-family net here (the quick profile's 3x3 CIFAR stem where
    the authors have 7x7/2 and max-pool); the training recipe is the suite's, without mixup (the suite
    measures training error).
    """

    forms = ()

    def __init__(self, in_channels: int, width: int, stride: int, shortcut: Shortcut, layers: LayerConfig,
                 scale: str = "one", gate: bool = False, preact: bool = True, variants: tuple[str, ...] = (),
                 stride_at: int = 0) -> None:
        super().__init__(in_channels, width, stride, shortcut, layers, "none", gate, preact, variants, stride_at)
        if scale != "one":
            raise ValueError(f"FixupBlock's branch scale is 'one' (its multiplier), got {scale!r}")
        n = self.depth
        for i, (cin, cout, k, s) in enumerate(self.shapes, start=1):
            setattr(self, f"bias{i}a", nn.Parameter(torch.zeros(1)))
            setattr(self, f"conv{i}", layers.conv(cin, cout, k, s, bias=False))
            if i == n:
                self.scale = nn.Parameter(torch.ones(1))
            setattr(self, f"bias{i}b", nn.Parameter(torch.zeros(1)))
            setattr(self, f"resp{i}", nn.Identity())
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_channels, self.shapes[-1][1], stride, layers)
        if self.shortcut is None:
            raise ValueError("a Fixup block needs a shortcut: 'a', 'b' or 'c'")
        self._declare({i: f"resp{i}" for i in range(1, n + 1)})
        self.branch_end = f"conv{n}"

    def init_method(self, num_branches: int) -> None:
        m = self.depth
        with torch.no_grad():
            for i in range(1, m):
                getattr(self, f"conv{i}").weight.mul_(num_branches ** (-1.0 / (2 * m - 2)))
            nn.init.zeros_(getattr(self, f"conv{m}").weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.depth + 1):
            out = getattr(self, f"conv{i}")(out + getattr(self, f"bias{i}a"))
            if i < self.depth:
                out = self.relu(getattr(self, f"resp{i}")(out + getattr(self, f"bias{i}b")))
            else:
                out = getattr(self, f"resp{i}")(out * self.scale + getattr(self, f"bias{i}b"))
        identity = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(x + self.bias1a)
        return self.relu(out + identity)


class FixupBasicBlock(FixupBlock):
    kernels, expansion = BASIC, 1


class FixupBottleneck(FixupBlock):
    kernels, expansion = BOTTLENECK, 4


# block form -> {"basic" | "bottleneck": class}: the one table ResNet builds from.
BLOCKS: dict[str, dict[str, type[_Block]]] = {
    "post": {"basic": BasicBlock, "bottleneck": Bottleneck},
    "pre": {"basic": PreActBasicBlock, "bottleneck": PreActBottleneck},
    "fixup": {"basic": FixupBasicBlock, "bottleneck": FixupBottleneck},
}
