"""The two families of plain and residual nets, the methods against degradation, and ``create_model``.

CIFAR family (paper section 4.2): a 3x3 stem with 16 channels, three stages of n basic blocks on
16/32/64 channels (feature maps 32/16/8), global average pooling and a fully connected layer:
6n+2 weighted layers.

ImageNet family (paper Table 1): a 7x7 stride-2 stem and a 3x3 max-pool, four stages on 64/128/256/512
channels; basic blocks for 18/34 layers, bottlenecks (x4 expansion) for 50/101/152.

Every method of ``models/names.py`` (``METHODS``) is this net with other axis values: the block form
(``models/blocks.py``: post, pre, fixup), the shortcut, the merge (add, Highway's gate), the branch scale,
the normalisation (BN, or none: the norm slots hold ``None``) and the init. A method changes the stem and
head only where its source does: pre-activation nets have no BN-ReLU after a 3x3 stem (the first block's
pre-activation follows it) and one BN-ReLU after the last block; Fixup adds scalar biases after the stem
(``bias1``) and before the classifier (``bias2``), keeps PyTorch's default init for the stem and starts the
classifier at zero; SkipInit's stem has no bias and its classifier starts at zero.

Model names (``plain-56``, ``resnet-34``, ``resnet-56-b``, ``fixup-56``) and the stage table:
``models/names.py``. A plugin's net (``models/plugins.py``) comes from its own builder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from .blocks import BLOCKS, LayerConfig
from .names import (AXIS_VALUES, IMAGENET_STAGES, INITS, METHODS, STEMS, Shortcut, choices, parse_name,
                    plugin_entry_point)
from .plugins import build_plugin, declared_axes, probe_plugin
from .tf_compat import PRESETS, SEED_FINAL_MAP


@dataclass(frozen=True)
class NetSpec:
    """Everything that decides a net's layers. One flat record, a reason per field."""

    family: str  # "cifar" (6n+2, three stages of basic blocks) or "imagenet" (Table 1)
    depth: int  # weighted layers on the main path: convolutions + the final fully connected one
    shortcut: Shortcut  # NONE for a plain net, else option A, B or C
    num_classes: int = 10
    in_channels: int = 3
    width: int = 0  # channels of the first stage; 0 = the family's (16 CIFAR, 64 ImageNet)
    stem: str = ""  # "imagenet" (7x7/2 + max-pool) or "cifar" (3x3/1); "" = the family's own
    init: str = "he"  # INITS: "he" (fan-out, the paper's ref. [13]), "he-fan-in", "xavier" (the seed's TF1 code)
    bn_eps: float = 1e-5  # PyTorch's default; the seed uses 1e-3
    bn_momentum: float = 0.1  # PyTorch convention (weight of the new batch); the seed's decay 0.999 is 0.001
    tf_same: bool = False  # TF's "SAME" padding on strided layers (the seed's); False: k // 2 both sides (Caffe, torchvision)
    tf_bn: bool = False  # BN's moving averages as TF's assign_moving_average: bias-corrected, biased variance
    preset: str = ""  # the preset that set the fields above ("seed"), or "": the net's input checks follow it
    # The method's axes (models/names.py, Method); the defaults build the paper's nets.
    method: str = ""  # the name's method ("plain", "resnet", "fixup", ...); "" = plain or resnet by the shortcut
    block: str = "post"  # "post" (He 2015), "pre" (He 2016), "fixup" (Zhang et al. 2019)
    merge: str = "add"  # "add", or "gate" (Highway)
    branch_scale: str = "none"  # "none", "zero" (SkipInit, ReZero), "one" (Fixup's multiplier)
    norm: str = "bn"  # "bn", or "none": no normalisation, the norm slots None
    variants: tuple[str, ...] = ()  # the name's VARIANTS tokens (models/names.py), read by the blocks
    bottleneck_stride: str = "1x1"  # which bottleneck convolution strides: "1x1" (the paper's, the first) or "3x3"


class ResNet(nn.Module):
    """A plain or residual net: stem, stages of blocks, global average pooling, fully connected layer.

    ``(N, in_channels, H, W) -> (N, num_classes)`` logits. With ``preset="seed"`` the final feature map must
    be 7x7 (H and W from 193 to 224 pixels), where the seed's 7x7 VALID average pool is the global average;
    other sizes raise ``ValueError`` (see ``models/tf_compat.py``).
    """

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        pre, fixup = spec.block == "pre", spec.block == "fixup"
        layers = LayerConfig(spec.bn_eps, spec.bn_momentum, tf_bn=spec.tf_bn, tf_same=spec.tf_same,
                             norm=spec.norm == "bn", conv_bias=False if fixup else None)
        if spec.family == "cifar":
            block_name, stage_blocks = "basic", ((spec.depth - 2) // 6,) * 3
        else:
            block_name, stage_blocks = IMAGENET_STAGES[spec.depth]
        block = BLOCKS[spec.block][block_name]
        width = spec.width or (16 if spec.family == "cifar" else 64)
        stem = spec.stem or spec.family

        skipinit = spec.method == "skipinit"
        # SkipInit's stem has no bias (DeepMind's skipinit_resnet.py: initial_conv with_bias=False).
        stem_bias = False if skipinit else None
        if stem == "imagenet":
            self.conv1 = layers.conv(spec.in_channels, width, 7, stride=2, bias=stem_bias)
            self.maxpool = layers.maxpool(3, stride=2)
        else:
            self.conv1 = layers.conv(spec.in_channels, width, 3, bias=stem_bias)
            self.maxpool = nn.Identity()
        # A pre-activation net's 3x3 stem is a convolution alone: the first block's BN-ReLU follows it
        # (resnet-pre-act.lua); its ImageNet stem keeps conv-BN-ReLU-max-pool (fb.resnet.torch preresnet.lua).
        self.stem_act = not pre or stem == "imagenet"
        self.bn1 = layers.bn(width) if self.stem_act else None
        self.bias1 = nn.Parameter(torch.zeros(1)) if fixup else None  # Fixup's scalar bias before the ReLU
        self.relu = nn.ReLU(inplace=True)
        if fixup:
            self.resp1 = nn.Identity()

        in_channels = width
        stages = []
        scale = {"post": {"none": "none", "zero": "zero"}, "pre": {"none": "none", "zero": "zero"},
                 "fixup": {"one": "one"}}[spec.block].get(spec.branch_scale)
        if scale is None:
            raise ValueError(f"block form {spec.block!r} takes no branch scale {spec.branch_scale!r}")
        kwargs = {"scale": scale} if scale != "none" else {}
        if spec.merge == "gate":
            kwargs["gate"] = True
        if spec.variants:
            kwargs["variants"] = spec.variants
        if block_name == "bottleneck" and spec.bottleneck_stride == "3x3":
            kwargs["stride_at"] = 1
        for i, blocks in enumerate(stage_blocks):
            stage_width = width * 2**i
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(blocks):
                first = {"preact": False} if pre and self.stem_act and not stages and not stage else {}
                stage.append(block(in_channels, stage_width, stride if j == 0 else 1, spec.shortcut, layers,
                                   **kwargs, **first))
                in_channels = stage_width * block.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = stages[:3]
        self.layer4 = stages[3] if len(stages) == 4 else nn.Identity()
        self.bn_final = layers.bn(in_channels) if pre else None  # He 2016: BN-ReLU after the last block
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.bias2 = nn.Parameter(torch.zeros(1)) if fixup else None  # Fixup's scalar bias before the classifier
        self.fc = nn.Linear(in_channels, spec.num_classes)
        self.declared_weighted = ("conv1", "fc")
        if stem == "imagenet":
            self.declared_responses = ()  # the 7x7 stem is no 3x3 layer (paper Fig. 7 plots the 3x3 ones)
        elif fixup:
            self.declared_responses = ("resp1",)
        else:
            self.declared_responses = ("bn1",) if self.bn1 is not None else ("conv1",)
        # Fixup's stem keeps PyTorch's default init, drawn when it was built: the official code
        # (fixup_resnet_cifar.py, fixup_resnet_imagenet.py) re-initialises only the blocks and the classifier.
        _initialise(self, spec.init, skip=(self.conv1,) if fixup else ())
        num_branches = sum(stage_blocks)
        for m in self.modules():
            if hasattr(m, "init_method"):
                m.init_method(num_branches)
        if fixup or skipinit:
            # Fixup's rule 1 (the authors' nn.init.constant_(.., 0)); SkipInit's reference: hk.Linear with
            # w_init=jnp.zeros and haiku's zero bias (skipinit_resnet.py, fc_init).
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def lr_factors(self) -> dict[str, float]:
        """Learning-rate multipliers by parameter name (a name absent: 1) that the method's official training
        uses. Fixup (Zhang et al. 2019; hongyi-zhang/Fixup cifar/cifar_train.py, its optimizer's groups):
        every parameter with ``bias`` or ``scale`` in its name (the scalar biases, the branch multipliers,
        the classifier's bias) at lr / 10; without it the scalar biases move ten times as fast and, at
        lr 0.1 without BN, push every ReLU dead within a hundred iterations (measured on the quick
        profile). Every other method: none."""
        if self.spec.block != "fixup":
            return {}
        return {name: 0.1 for name, _ in self.named_parameters() if "bias" in name or "scale" in name}

    def weight_decay_factors(self) -> dict[str, float]:
        """Weight-decay multipliers by parameter name (a name absent: 1) that the method's official training
        uses. SkipInit (De and Smith 2020; DeepMind's nfnets/experiment.py, ``_make_opt``: every gain and
        bias in a group with ``weight_decay: None``): 0 for the branch scalars ``alpha`` and every bias.
        Every other method: none (Fixup's official optimizer decays all its parameters)."""
        if self.spec.method != "skipinit":
            return {}
        return {name: 0.0 for name, _ in self.named_parameters() if name.endswith(("alpha", "bias"))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        x = self.conv1(x)
        if self.stem_act:
            if self.bn1 is not None:
                x = self.bn1(x)
            if self.bias1 is not None:
                x = self.resp1(x + self.bias1)
            x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.spec.preset == "seed" and x.shape[-2:] != (SEED_FINAL_MAP, SEED_FINAL_MAP):
            raise ValueError(
                f"preset 'seed' cannot take a {size[0]}x{size[1]} input; valid: 193 to 224 pixels a side. The "
                f"seed's 7x7 VALID average pool is a global average only on a 7x7 final map (here "
                f"{x.shape[-2]}x{x.shape[-1]}): on 8 to 13 it averages the top-left 7x7 window, from 14 it fails"
            )
        if self.spec.block == "pre":
            x = self.relu(self.bn_final(x) if self.bn_final is not None else x)
        x = torch.flatten(self.avgpool(x), 1)
        if self.bias2 is not None:
            x = x + self.bias2
        return self.fc(x)


HE_MODES = {"he": "fan_out", "he-fan-in": "fan_in"}  # init (INITS) -> kaiming_normal_'s mode


def _initialise(model: nn.Module, init: str, skip: tuple[nn.Module, ...] = ()) -> None:
    """He's or Xavier's init of every convolution and BN layer, and of the classifier (``init``: INITS),
    except the modules in ``skip``, which keep the init they were built with."""
    for m in model.modules():
        if any(m is k for k in skip):
            continue
        if isinstance(m, nn.Conv2d):
            if init in HE_MODES:
                # The paper initialises "as in [13]" (He et al. 2015, delving deep): N(0, 2/fan); which fan is
                # the named choice INITS documents (models/names.py).
                nn.init.kaiming_normal_(m.weight, mode=HE_MODES[init], nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)  # tf.contrib.layers.xavier_initializer_conv2d
            if m.bias is not None:  # nets without BN: biases start at zero, as the paper's Caffe fillers
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if init == "xavier":
                nn.init.xavier_uniform_(m.weight)  # the seed's fc_initializer
                nn.init.zeros_(m.bias)
            elif init == "he-fan-in":  # akamaster's _weights_init: the classifier's weight too, its bias as PyTorch's
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            # "he": PyTorch's default Linear init, as torchvision.


_AXES = ("method", "block", "merge", "branch_scale", "norm", "variants")  # set by the name, never overridden
_OVERRIDES = {f.name for f in fields(NetSpec)} - {"depth", "shortcut", "num_classes", "in_channels", *_AXES}
_PLUGIN_OVERRIDES = ("family", "init", "stem", "width")  # the builder contract's (models/plugins.py)


def create_model(name: str, num_classes: int = 10, in_channels: int = 3, **overrides) -> nn.Module:
    """Build a registered net, e.g. ``create_model("plain-56")``, ``create_model("resnet-34-c", 1000)``,
    ``create_model("fixup-110")`` or a plugin's ``create_model("mynet-20")``:
    ``(N, in_channels, H, W) -> (N, num_classes)`` logits.

    Overrides: ``width`` (channels of the first stage), ``stem`` ("imagenet" | "cifar"), ``init``
    ("he" | "he-fan-in" | "xavier", :data:`models.names.INITS`), ``bn_eps``, ``bn_momentum``, ``family``
    ("cifar" | "imagenet"), ``tf_same`` and ``tf_bn`` (TF1's padding and BN moving averages,
    ``models/tf_compat.py``), and ``preset``.

    ``preset="seed"``: the seed's TF1 ResNet-50 computed exactly (issue 15), e.g.
    ``create_model("resnet-50", num_classes=1000, preset="seed")``. It sets ``init="xavier"``,
    ``bn_eps=1e-3``, ``bn_momentum=0.001`` (the seed's decay 0.999), ``stem="imagenet"``, ``tf_same=True``
    and ``tf_bn=True``; the net then takes inputs of 193 to 224 pixels a side (``ResNet``). The default
    nets keep PyTorch's conventions, as the paper's Caffe models and torchvision, and differ from the seed's
    code by a one-pixel shift of the stem's sampling grid and by BN's moving averages (``tf_compat``).
    Other overrides (``width``) combine with a preset; one that contradicts it is refused, and so is a
    CIFAR-family name (the seed's stem and head are the ImageNet family's).

    A method's net (``models/names.py``, ``METHODS``) takes the same overrides; ``fixup`` takes only
    ``init="he"`` (its rescaling is of He's fan-out init, the authors' formula), ``preset`` only the paper's
    plain and resnet nets. A plugin's net takes ``width``, ``stem``, ``init`` and ``family`` and is checked
    after building (``models/plugins.py``: :class:`~models.plugins.PluginError`, a ``ValueError``).

    Raises ``ValueError`` naming the bad value and the valid choices.
    """
    unknown = sorted(set(overrides) - _OVERRIDES)
    if unknown:
        raise ValueError(f"unknown override {unknown[0]!r}; valid: {choices(sorted(_OVERRIDES))}")
    parsed = parse_name(name, overrides.pop("family", None))
    if parsed.plugin:
        return _create_plugin(parsed, num_classes, in_channels, overrides)
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("in_channels", in_channels)
    if "width" in overrides:
        _check_positive_int("width", overrides["width"])
    for key, valid in (("stem", STEMS), ("init", INITS)):
        if key in overrides and overrides[key] not in valid:
            raise ValueError(f"unknown {key} {overrides[key]!r}; valid: {choices(valid)}")
    if "bn_eps" in overrides and not _is_number(overrides["bn_eps"], low=0.0, high=math.inf):
        raise ValueError(f"bad bn_eps {overrides['bn_eps']!r}; valid: a number > 0")
    if "bn_momentum" in overrides and not _is_number(overrides["bn_momentum"], low=0.0, high=1.0, closed_high=True):
        raise ValueError(f"bad bn_momentum {overrides['bn_momentum']!r}; valid: a number in (0, 1]")
    for key in ("tf_same", "tf_bn"):
        if key in overrides and not isinstance(overrides[key], bool):
            raise ValueError(f"bad {key} {overrides[key]!r}; valid: True, False")
    parsed.check_init(overrides.get("init", "he"))
    if overrides.get("preset"):
        if parsed.kind not in ("plain", "resnet") or parsed.norm != "bn":
            raise ValueError(f"preset {overrides['preset']!r} cannot build {name!r}: it is the seed's TF1 "
                             f"ResNet; valid: plain-<depth> and resnet-<depth>[-a|b|c] names")
        _apply_preset(name, parsed.family, overrides)
    spec = NetSpec(family=parsed.family, depth=parsed.depth, shortcut=parsed.shortcut, num_classes=num_classes,
                   in_channels=in_channels, method=parsed.kind, block=parsed.block, merge=parsed.merge,
                   branch_scale=parsed.branch_scale, norm=parsed.norm, variants=parsed.variants,
                   bottleneck_stride=METHODS[parsed.kind].bottleneck_stride, **overrides)
    return ResNet(spec)


def _create_plugin(parsed, num_classes: int, in_channels: int, overrides: dict) -> nn.Module:
    _check_positive_int("num_classes", num_classes)
    _check_positive_int("in_channels", in_channels)
    other = sorted(set(overrides) - set(_PLUGIN_OVERRIDES))
    if other:
        raise ValueError(f"plugin net {parsed.name!r} takes no override {other[0]!r}; valid: "
                         f"{choices(_PLUGIN_OVERRIDES)} (the builder contract, models/plugins.py)")
    if "width" in overrides:
        _check_positive_int("width", overrides["width"])
    for key, valid in (("stem", STEMS), ("init", INITS)):
        if key in overrides and overrides[key] not in valid:
            raise ValueError(f"unknown {key} {overrides[key]!r}; valid: {choices(valid)}")
    return build_plugin(plugin_entry_point(parsed.kind), parsed.depth, family=parsed.family, num_classes=num_classes,
                        in_channels=in_channels, width=overrides.get("width"),
                        stem=overrides.get("stem") or parsed.family, init=overrides.get("init", "he"),
                        axes=AXIS_VALUES)


def check_plugin_net(name: str, *, num_classes: int, in_channels: int, image_size: int, channels_last: bool,
                     **overrides) -> dict[str, str | None]:
    """A run's check of plugin net ``name`` before anything is written: built (:func:`create_model`, whose
    checks apply) and put through one training step's work at the run's ``image_size`` (pixels a side) and
    memory format (:func:`models.plugins.probe_plugin`), on a net the run does not train. Returns what it
    declares of its axes (``{axis: value or None}``, :data:`models.names.AXIS_VALUES`), for the run's
    record. :class:`~models.plugins.PluginError` (a ``ValueError``), one line naming the plugin, else."""
    parsed = parse_name(name, overrides.get("family"))
    net = create_model(name, num_classes=num_classes, in_channels=in_channels, **overrides)
    probe_plugin(plugin_entry_point(parsed.kind), net, parsed.depth, num_classes=num_classes,
                 in_channels=in_channels, size=image_size, channels_last=channels_last)
    return declared_axes(net, AXIS_VALUES)


def _apply_preset(name: str, family: str, overrides: dict) -> None:
    preset = overrides["preset"]
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {choices(PRESETS)}")
    if family != "imagenet":
        raise ValueError(
            f"preset {preset!r} cannot build {name!r} of the CIFAR family: the seed's stem and head are the "
            f"ImageNet family's; valid: depths {choices(IMAGENET_STAGES)} without family='cifar'"
        )
    for key, value in PRESETS[preset].items():
        if key in overrides and overrides[key] != value:
            raise ValueError(
                f"preset {preset!r} sets {key}={value!r}, got {key}={overrides[key]!r}; valid: {value!r}, or no {key}"
            )
        overrides[key] = value


def _check_positive_int(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"bad {key} {value!r}; valid: an integer >= 1")


def _is_number(value, low: float, high: float, closed_high: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return low < value and (value <= high if closed_high else value < high)
