"""Model names: the one grammar of the registry, and the choices of ``create_model``; imports no torch.

``plain-<depth>``, ``resnet-<depth>`` (the paper's shortcut for that net: option A for the CIFAR family
and ResNet-18/34, Table 2; option B for 50/101/152, Table 3) and ``resnet-<depth>-a|b|c``.

Families by depth: the CIFAR family (section 4.2) has 6n+2 weighted layers, three stages of n basic
blocks; the ImageNet family (Table 1) has the depths of :data:`IMAGENET_STAGES`. 50 and 152 are also
6n+2: the ImageNet meaning wins unless ``family="cifar"`` is passed.

``reports`` reads run folders named by this grammar and must not import torch: this module is the reason
``models`` imports its torch modules lazily (``models/__init__.py``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

FAMILIES = ("cifar", "imagenet")
KINDS = ("plain", "resnet")
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)  # the paper's (section 4.2); any 6n+2 >= 8 builds
# Paper Table 1: the block ("basic": two 3x3; "bottleneck": 1x1, 3x3, 1x1 with x4 expansion) and the
# number of blocks in each of the four stages (conv2_x .. conv5_x).
IMAGENET_STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
OPTIONS = ("a", "b", "c")
# create_model's choices, also checked by the run configuration (experiments/config.py) before anything runs.
STEMS = ("cifar", "imagenet")  # "cifar": 3x3 stride 1, no max-pool; "imagenet": 7x7 stride 2 + 3x3 max-pool
INITS = ("he", "xavier")  # "he": the paper's (its ref. [13]); "xavier": the seed's TF1 code

_NAME = re.compile(r"^(?P<kind>plain|resnet)-(?P<depth>\d+)(?:-(?P<option>[a-z]))?$")


class Shortcut(str, enum.Enum):
    """How a block adds its input back (paper section 4.1, "Identity vs. Projection Shortcuts").

    NONE: a plain block, no addition at all.
    A: identity everywhere; where the shape changes, subsample by the stride and pad the new channels
       with zeros. Adds no parameters.
    B: identity where the shape is unchanged, a 1x1 convolution + BN projection where it changes.
    C: a 1x1 convolution + BN projection on every block.

    A member is its value as a string (``Shortcut.A == "a"``, ``f"{Shortcut.A}" == "a"``, the same hash:
    it finds ``"a"`` in a dict), as written in ``result.json`` and ``runs.csv``.
    """

    NONE = "none"
    A = "a"
    B = "b"
    C = "c"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__
    __hash__ = str.__hash__


@dataclass(frozen=True)
class ModelName:
    """What a registry name says: ``resnet-56-b`` -> kind resnet, family cifar, depth 56, shortcut B."""

    name: str
    kind: str  # "plain" | "resnet"
    family: str  # "cifar" | "imagenet"
    depth: int  # weighted layers on the main path: convolutions + the final fully connected layer
    shortcut: Shortcut  # NONE for a plain net; for "resnet-<depth>" the paper's default
    explicit_option: bool  # True for resnet-<depth>-a|b|c (a shortcut-ablation variant)

    @property
    def sort_key(self) -> tuple:
        """Family, depth, plain before residual, the paper's default before explicit options."""
        return (FAMILIES.index(self.family), self.depth, KINDS.index(self.kind), self.explicit_option,
                self.shortcut.value, self.name)


def _choices(values) -> str:
    return ", ".join(str(v) for v in values)


def default_shortcut(family: str, depth: int) -> Shortcut:
    """The paper's shortcut for ``resnet-<depth>``: A for the CIFAR nets and ResNet-18/34 (Table 2), B for
    50/101/152 (Table 3)."""
    return Shortcut.B if family == "imagenet" and depth >= 50 else Shortcut.A


def _check_depth(family: str, depth: int, name: str) -> None:
    if family == "imagenet":
        if depth not in IMAGENET_STAGES:
            raise ValueError(
                f"impossible depth {depth} in {name!r} for the ImageNet family; valid: {_choices(IMAGENET_STAGES)}"
            )
    elif depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"impossible depth {depth} in {name!r} for the CIFAR family: needs 6n+2 with n >= 1 "
            f"(the paper's: {_choices(CIFAR_DEPTHS)}); ImageNet family: {_choices(IMAGENET_STAGES)}"
        )


def parse_name(name: str, family: str | None = None) -> ModelName:
    """``"resnet-56-b"`` -> ``ModelName("resnet-56-b", "resnet", "cifar", 56, Shortcut.B, True)``.

    ``family`` (``"cifar"`` | ``"imagenet"``) overrides the guess from the depth. Raises ``ValueError``
    naming the bad value and the valid choices for an unknown name, family, option or an impossible depth.
    """
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string, got {name!r}")
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"unknown model {name!r}; valid: plain-<depth>, resnet-<depth>, resnet-<depth>-a|b|c, e.g. "
            f"{_choices(list_models()[:6])} (see list_models())"
        )
    kind, depth, option = match["kind"], int(match["depth"]), match["option"]
    if family is None:
        family = "imagenet" if depth in IMAGENET_STAGES else "cifar"
    elif family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {_choices(FAMILIES)}")
    _check_depth(family, depth, name)
    if kind == "plain":
        if option is not None:
            raise ValueError(f"plain nets have no shortcut option, got {name!r}; valid: plain-{depth}")
        return ModelName(name, kind, family, depth, Shortcut.NONE, False)
    if option is None:
        return ModelName(name, kind, family, depth, default_shortcut(family, depth), False)
    if option not in OPTIONS:
        raise ValueError(f"unknown shortcut option {option!r} in {name!r}; valid: {_choices(OPTIONS)}")
    return ModelName(name, kind, family, depth, Shortcut(option), True)


def list_models() -> list[str]:
    """Every registered name: plain and resnet (default, a, b, c) for both families' paper depths."""
    names = []
    for depth in sorted(set(CIFAR_DEPTHS) | set(IMAGENET_STAGES)):
        names += [f"plain-{depth}", f"resnet-{depth}"] + [f"resnet-{depth}-{o}" for o in OPTIONS]
    return names


def model_family(name: str) -> str:
    """``"resnet-34"`` -> ``"imagenet"``; ``ValueError`` as :func:`parse_name`."""
    return parse_name(name).family
