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


def _declared(model: nn.Module, attr: str) -> list[tuple[str, nn.Module]] | None:
    """The modules named by every ``attr`` declaration (a tuple of child names), in the net's module order;
    None when the top module declares nothing (a net not built by the suite: the fallback rules apply)."""
    if getattr(model, attr, None) is None:
        return None
    wanted = set()
    for prefix, m in model.named_modules():
        for child in getattr(m, attr, None) or ():
            wanted.add(f"{prefix}.{child}" if prefix else child)
    found = [(name, m) for name, m in model.named_modules() if name in wanted]
    missing = wanted - {name for name, _ in found}
    if missing:
        raise ValueError(f"{type(model).__name__} declares {attr} {sorted(missing)[0]!r}, which is no module of it")
    return found


def weighted_layers(model: nn.Module) -> list[str]:
    """Names of the convolutions and fully connected layers on the main path, in the net's order: never a
    projection shortcut or a Highway gate. Their number is the net's depth: "34-layer" counts these.

    The suite's nets declare them (``declared_weighted`` on the net and on every block,
    ``models/blocks.py``); any other net (a plugin's): every ``Conv2d`` and ``Linear`` whose module path has
    no ``shortcut`` component.
    """
    declared = _declared(model, "declared_weighted")
    if declared is not None:
        return [name for name, _ in declared]
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and ".shortcut." not in f".{name}."
    ]


def response_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(name, module)]``: the modules whose outputs are the 3x3 layers' responses, in the net's order
    (paper Fig. 7: "the responses are the outputs of each 3x3 layer, after BN and before other
    nonlinearity (ReLU/addition)"). Hook a module's forward output to read its response.

    The suite's nets declare them (``declared_responses``, ``models/blocks.py``): the BN after each 3x3
    convolution of the paper's nets (as before the methods: ``BatchNorm2d`` modules); where no BN follows
    a 3x3 convolution (pre-activation branch ends, nets without BN) the convolution itself, with its bias;
    for a branch with a scale (Fixup, SkipInit, ReZero) an ``nn.Identity`` tap on the branch output as it
    enters the addition, after the scale and scalar bias. Any other net: the BN right after each 3x3
    convolution of the main path, or the convolution where none follows. ``ValueError`` if that finds none:
    a net never silently gets an empty figure.
    """
    declared = _declared(model, "declared_responses")
    if declared is not None:
        if not declared:
            raise ValueError(f"{type(model).__name__} declares no response layers (no 3x3 convolution)")
        return declared
    found, previous = [], None
    for name, m in model.named_modules():
        if ".shortcut." in f".{name}.":
            continue
        if isinstance(m, nn.Conv2d):
            if previous is not None:
                found.append(previous)  # a 3x3 convolution no BN followed
            previous = (name, m) if m.kernel_size == (3, 3) else None
        elif isinstance(m, nn.BatchNorm2d) and previous is not None:
            found.append((name, m))
            previous = None
    if previous is not None:
        found.append(previous)
    if not found:
        raise ValueError(f"{type(model).__name__} has no 3x3 convolution on its main path: no layer responses")
    return found


def branch_ends(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(name, module)]``: the layer ending each residual branch (``branch_end``, ``models/blocks.py``),
    before any scale: zeroing its weight makes the branch output zero (Fixup's rule 1, torchvision's
    ``zero_init_residual``). Empty for a net that declares none (a plugin's)."""
    wanted = {f"{prefix}.{m.branch_end}" for prefix, m in model.named_modules() if isinstance(getattr(m, "branch_end", None), str)}
    return [(name, m) for name, m in model.named_modules() if name in wanted]
