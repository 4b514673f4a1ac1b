"""Model names: the one grammar of the registry, the methods against degradation, and the choices of
``create_model``; imports no torch.

A name is ``<method>-<depth>(-<token>)*``, all of ``[a-z0-9-]`` (folder- and make-safe):

* ``plain-<depth>``, ``resnet-<depth>`` (the paper's shortcut for that net: option A for the CIFAR family
  and ResNet-18/34, Table 2; option B for 50/101/152, Table 3) and ``resnet-<depth>-a|b|c``, as always;
* the methods of :data:`METHODS`: ``preresnet``, ``fixup``, ``skipinit``, ``rezero``, ``highway``, each a
  bundle of axis values (block form, shortcut, merge, branch scale, normalisation, init) with its source;
* tokens: ``a|b|c`` (the shortcut where the method has one), the method's variants (:data:`VARIANTS`: a
  named departure from how its authors built it) and ``nobn`` (plain and resnet without BN, their
  convolutions with a bias), in that order. One net, one name: a token equal to the method's default is
  refused with the canonical name (``preresnet-56-b`` -> ``preresnet-56``), and so is a variant that would
  build the same net as the name without it (``preresnet-56-a-projbn``: option A has no projection); only
  ``resnet-<depth>-a|b|c`` keep naming the default explicitly, as the shortcut ablation always has;
* a plugin's ``<name>-<depth>`` for every entry point of group ``degradation_suite.models``
  (:mod:`models.plugins`), listed without importing anything; a run folder's records make such a name
  readable where the plugin is not installed (:func:`plugin_model_name`, what ``reports`` use).

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

from .plugins import METHOD_NAME, PluginError, choices, entry_points, provenance

FAMILIES = ("cifar", "imagenet")
KINDS = ("plain", "resnet")  # today's two kinds; every method's name is its kind (ModelName.kind)
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
NOBN = "nobn"
# Variant tokens: each a named departure from how the method's authors built it (Method.variants says who takes
# which). The blocks read them (models/blocks.py).
VARIANTS = {
    "projbn": "a BN after the projection's 1x1 convolution (He 2015's option B/C; resnet-pre-act.lua has none)",
    "raw": "the shortcut where the shape changes takes the block's raw input, not its shared BN-ReLU's output",
    "sumrelu": "ReZero's scaled branch added before the block's ReLU, relu(x + alpha BN(conv(..))), as He 2015's "
               "block, instead of its authors' x + alpha relu(BN(conv(..)))",
    "bias2": "Highway's transform-gate bias starting at -2, as its authors' CIFAR code (highway-networks "
             "cifar10_network.prototxt), instead of the suite's -3",
}
PROJECTION_VARIANTS = ("projbn",)  # variants that change a projection: they need option b or c
# create_model's choices, also checked by the run configuration (experiments/config.py) before anything runs.
STEMS = ("cifar", "imagenet")  # "cifar": 3x3 stride 1, no max-pool; "imagenet": 7x7 stride 2 + 3x3 max-pool
# "he": the paper's ref. [13], N(0, 2 / fan-out) as fb.resnet.torch (models/resnet.lua's ConvInit,
# n = kW*kH*nOutputPlane), resnet-pre-act.lua and torchvision, the classifier at PyTorch's default;
# "he-fan-in": N(0, 2 / fan-in) for every convolution and the classifier,
# as the widely used PyTorch CIFAR ResNet (akamaster/pytorch_resnet_cifar10 resnet.py, _weights_init) and
# ReZero's authors' ResNet built on it; "xavier": the seed's TF1 code.
INITS = ("he", "he-fan-in", "xavier")
# The axes a method fixes, and their values (ModelName.axes, model_axes):
BLOCKS = ("post", "pre", "fixup")  # He 2015 (ReLU after the addition); He 2016 (BN-ReLU before each conv); Fixup
MERGES = ("add", "gate")  # y = x + F(x); Highway's y = H(x) T(x) + x (1 - T(x))
BRANCH_SCALES = ("none", "zero", "one")  # a learnable scalar on each branch, starting at 0 (SkipInit, ReZero) or 1 (Fixup)
NORMS = ("bn", "none")  # "none": no BN anywhere; convolutions get their bias back (Fixup: scalar biases instead)
INIT_RULES = (*INITS, "fixup")  # "fixup": Zhang et al. 2019, section 3, on top of He's init

_TOKEN = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class Method:
    """A method against degradation: a named bundle of axis values and the source it follows."""

    name: str
    block: str  # BLOCKS
    residual: bool  # False: no shortcut at all (plain); True: the paper's option for that net, or a token's
    merge: str  # MERGES
    branch_scale: str  # BRANCH_SCALES
    norm: str  # NORMS
    init: str  # INIT_RULES
    source: str  # paper (arXiv id, section or equation) and official code
    options: tuple[str, ...] = ()  # shortcut tokens it takes
    nobn: bool = False  # takes the "nobn" token
    imagenet_depths: tuple[int, ...] = tuple(IMAGENET_STAGES)  # ImageNet-family depths where it defines a block
    shortcut: str = ""  # its authors' shortcut where that is not the paper's (default_shortcut): "b"
    imagenet_shortcut: str = ""  # its authors' shortcut for the ImageNet family, where that differs from the above
    bottleneck_stride: str = "1x1"  # the bottleneck convolution its authors stride: "1x1" (the first; the paper), "3x3"
    variants: tuple[str, ...] = ()  # the VARIANTS tokens it takes, in name order
    legacy_explicit: bool = False  # resnet-<d>-a|b|c name the default explicitly (today's shortcut ablation)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("plain", "post", False, "add", "none", "bn", "he",
           "He et al. 2015, arXiv 1512.03385, section 3.3 (plain network) and 4.1", nobn=True),
    Method("resnet", "post", True, "add", "none", "bn", "he",
           "He et al. 2015, arXiv 1512.03385, section 3.2-3.3, eqs. 1-2", options=OPTIONS, nobn=True,
           legacy_explicit=True),
    Method("preresnet", "pre", True, "add", "none", "bn", "he",
           "He et al. 2016, arXiv 1603.05027, section 4 and Fig. 4(e) (full pre-activation); "
           "KaimingHe/resnet-1k-layers resnet-pre-act.lua", options=OPTIONS, shortcut="b",
           variants=("raw", "projbn")),
    Method("fixup", "fixup", True, "add", "one", "none", "fixup",
           "Zhang et al. 2019, arXiv 1901.09321, section 3 (Fixup rules 1-3); hongyi-zhang/Fixup "
           "cifar/models/fixup_resnet_cifar.py and imagenet/models/fixup_resnet_imagenet.py", options=OPTIONS,
           imagenet_shortcut="b", bottleneck_stride="3x3"),
    Method("skipinit", "pre", True, "add", "zero", "none", "he",
           "De and Smith 2020, arXiv 2002.10444, SkipInit: x_{i+1} = x_i + alpha_i f_i(x_i), alpha_i = 0, "
           "no normalisation; google-deepmind/deepmind-research nfnets/skipinit_resnet.py and "
           "nfnets/experiment.py (its optimizer groups)", options=OPTIONS, shortcut="b", bottleneck_stride="3x3"),
    Method("rezero", "post", True, "add", "zero", "bn", "he",
           "Bachlechner et al. 2020, arXiv 2003.04887, x_{i+1} = x_i + alpha_i F(x_i), alpha_i = 0; "
           "tbachlechner/ReZero-examples ReZNet-6x_faster_ResNet_training_via_ReZero.ipynb (its ResNet)",
           options=OPTIONS, variants=("sumrelu",)),
    Method("highway", "post", True, "gate", "none", "bn", "he",
           "Srivastava et al. 2015, arXiv 1507.06228, section 2, y = H(x) T(x) + x (1 - T(x)), "
           "T(x) = sigmoid(W_T x + b_T); b_T negative (section 2.2)", options=("a", "b"),
           imagenet_depths=(18, 34), variants=("bias2",)),
)}


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


# Every axis a run records, and its values: a method's (Method), or what a plugin declares (declared_axes,
# models/plugins.py); a plugin's undeclared axis is recorded as None (unknown).
AXIS_VALUES: dict[str, tuple[str, ...]] = {
    "block": BLOCKS, "shortcut": tuple(s.value for s in Shortcut), "merge": MERGES,
    "branch_scale": BRANCH_SCALES, "norm": NORMS, "init": INIT_RULES,
}


@dataclass(frozen=True)
class ModelName:
    """What a registry name says: ``resnet-56-b`` -> kind resnet, family cifar, depth 56, shortcut B.

    ``kind`` is the method (``"plain"``, ``"resnet"``, ``"fixup"``, ..., or a plugin's name); the other
    axes are those of :class:`Method`, resolved for this name (``norm`` "none" for ``-nobn``). A name
    alone does not tell a plugin's axes: ``plugin`` is True, ``shortcut`` NONE (read: no value, not "a
    plain net") and the other axes ``""`` (unknown), until a run's record fills in what the plugin
    declared (``reports.runs``).
    """

    name: str
    kind: str  # the method: "plain" | "resnet" | a METHODS key | a plugin's entry point name
    family: str  # "cifar" | "imagenet"
    depth: int  # weighted layers on the main path: convolutions + the final fully connected layer
    shortcut: Shortcut  # NONE for a plain net; for "<method>-<depth>" the method's default (method_shortcut)
    explicit_option: bool  # True for resnet-<depth>-a|b|c (a shortcut-ablation variant)
    block: str = "post"  # BLOCKS
    merge: str = "add"  # MERGES
    branch_scale: str = "none"  # BRANCH_SCALES
    norm: str = "bn"  # NORMS
    init: str = "he"  # INIT_RULES (the method's rule; create_model's init override may change "he" to another INITS)
    variants: tuple[str, ...] = ()  # the VARIANTS tokens the name holds, in name order
    plugin: bool = False

    @property
    def method(self) -> str:
        return self.kind

    @property
    def paper_net(self) -> bool:
        """A net of He et al. 2015 as the paper built it: plain or resnet, with BN (not ``-nobn``)."""
        return self.kind in KINDS and self.norm == "bn"

    @property
    def axes(self) -> dict:
        """The resolved axes, JSON-able: block, shortcut, merge, branch_scale, norm, init, variants (a list)."""
        return {"block": self.block, "shortcut": self.shortcut.value, "merge": self.merge,
                "branch_scale": self.branch_scale, "norm": self.norm, "init": self.init,
                "variants": list(self.variants)}

    def check_init(self, init: str) -> None:
        """The run's ``init`` override ("he" | "xavier") applies to this net: Fixup's rule rescales He's init
        (Zhang et al. 2019, arXiv 1901.09321, section 3) and takes only "he". Raises ``ValueError`` naming
        the net, the init and the valid one. Torch-free, so that make's input check refuses it up front."""
        if self.init == "fixup" and init != "he":
            raise ValueError(f"{self.name!r} cannot take init {init!r}: Fixup rescales He's init "
                             "(arXiv 1901.09321, section 3); valid: he")

    @property
    def sort_key(self) -> tuple:
        """Family, depth, plain before residual before the other methods (plugins last, by name), BN before
        none, the paper's default before explicit options."""
        order = list(METHODS).index(self.kind) if self.kind in METHODS else len(METHODS)
        return (FAMILIES.index(self.family), self.depth, order, self.kind, self.norm != "bn",
                self.explicit_option, self.shortcut.value, self.variants, self.name)


def default_shortcut(family: str, depth: int) -> Shortcut:
    """The paper's shortcut for ``resnet-<depth>``: A for the CIFAR nets and ResNet-18/34 (Table 2), B for
    50/101/152 (Table 3)."""
    return Shortcut.B if family == "imagenet" and depth >= 50 else Shortcut.A


def method_shortcut(method: Method, family: str, depth: int) -> Shortcut:
    """The shortcut of ``<method>-<depth>``: NONE for a plain net, the method's authors' where it has one
    (``Method.imagenet_shortcut`` in the ImageNet family, else ``Method.shortcut``), else the paper's
    (:func:`default_shortcut`)."""
    if not method.residual:
        return Shortcut.NONE
    authors = (method.imagenet_shortcut if family == "imagenet" else "") or method.shortcut
    return Shortcut(authors) if authors else default_shortcut(family, depth)


def _check_depth(family: str, depth: int, name: str, method: Method) -> None:
    if family == "imagenet":
        if depth not in method.imagenet_depths:
            where = "" if method.imagenet_depths == tuple(IMAGENET_STAGES) else (
                f" ({method.name} defines no block for the others)")
            raise ValueError(
                f"impossible depth {depth} in {name!r} for the ImageNet family; valid: "
                f"{choices(method.imagenet_depths)}{where}"
            )
    elif depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"impossible depth {depth} in {name!r} for the CIFAR family: needs 6n+2 with n >= 1 "
            f"(the paper's: {choices(CIFAR_DEPTHS)}); ImageNet family: {choices(method.imagenet_depths)}"
        )


def _split(name) -> tuple[str, int, list[str]]:
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string, got {name!r}")
    parts = name.split("-")
    if len(parts) < 2 or not METHOD_NAME.match(parts[0]) or not re.fullmatch(r"0|[1-9][0-9]*", parts[1]) \
            or not all(_TOKEN.match(t) for t in parts[2:]):
        raise ValueError(
            f"unknown model {name!r}; valid: <method>-<depth>[-<token>...] with method one of "
            f"{choices(list_methods())}, e.g. {choices(list_models()[:6])} (see list_models())"
        )
    return parts[0], int(parts[1]), parts[2:]


def parse_name(name: str, family: str | None = None) -> ModelName:
    """``"resnet-56-b"`` -> ``ModelName("resnet-56-b", "resnet", "cifar", 56, Shortcut.B, True)``.

    ``family`` (``"cifar"`` | ``"imagenet"``) overrides the guess from the depth. Raises ``ValueError``
    naming the bad value and the valid choices for an unknown name, method, family, token or an impossible
    depth; :class:`models.plugins.PluginError` (a ``ValueError``) where a non-built-in method is looked up
    among plugins and one of them is refused (:func:`plugin_entry_points`).
    """
    method_name, depth, tokens = _split(name)
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {choices(FAMILIES)}")
    method = METHODS.get(method_name)
    if method is None:
        if method_name not in plugin_names():
            raise ValueError(f"unknown method {method_name!r} in {name!r}; valid: {choices(list_methods())} (a plugin's "
                             "net needs its package installed in .venv: README, Your own net)")
        return plugin_model_name(name, family)
    if family is None:
        family = "imagenet" if depth in IMAGENET_STAGES else "cifar"
    _check_depth(family, depth, name, method)
    option, variants, nobn = _read_tokens(name, method, tokens, depth)
    default = method_shortcut(method, family, depth)
    if option is not None and Shortcut(option) is default and not method.legacy_explicit:
        raise ValueError(f"{name!r} names {method.name}'s default shortcut ({option}); its name is "
                         f"{_canonical(method.name, depth, None, variants, nobn)!r}")
    shortcut = Shortcut(option) if option else default
    needless = [v for v in variants if v in PROJECTION_VARIANTS and shortcut not in (Shortcut.B, Shortcut.C)]
    if needless:
        projected = None if default in (Shortcut.B, Shortcut.C) else "b"
        kept = tuple(v for v in variants if v not in needless)
        raise ValueError(f"{name!r}: {needless[0]!r} changes a projection and shortcut {shortcut.value} has none; "
                         f"valid: {_canonical(method.name, depth, projected, variants, nobn)} or "
                         f"{_canonical(method.name, depth, option, kept, nobn)}")
    return ModelName(name, method.name, family, depth, shortcut, option is not None, method.block, method.merge,
                     method.branch_scale, "none" if nobn else method.norm, method.init, variants)


def plugin_model_name(name: str, family: str | None = None) -> ModelName:
    """``"mynet-56"`` read as a plugin's net without listing the installed plugins (nothing imported or
    read): for names a run folder records as a plugin's (``reports``, where the plugin may be absent, or
    another plugin refused). ``ValueError`` for a built-in method, tokens or a depth below 1."""
    method_name, depth, tokens = _split(name)
    if method_name in METHODS:
        raise ValueError(f"{name!r} names the built-in method {method_name!r}, not a plugin")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {choices(FAMILIES)}")
    if tokens:
        raise ValueError(f"plugin nets take no tokens, got {name!r}; valid: {method_name}-{depth}")
    if depth < 1:
        raise ValueError(f"impossible depth {depth} in {name!r}; valid: an integer >= 1")
    family = family or ("imagenet" if depth in IMAGENET_STAGES else "cifar")
    return ModelName(name, method_name, family, depth, Shortcut.NONE, False, block="", merge="",
                     branch_scale="", norm="", init="", plugin=True)


def _read_tokens(name: str, method: Method, tokens: list[str], depth: int) -> tuple[str | None, tuple[str, ...], bool]:
    """``(option, variants, nobn)`` of a name's tokens, in the order option, variants (the method's), nobn."""
    order = [*method.options, *method.variants, *([NOBN] if method.nobn else [])]
    rank = {**{o: 0 for o in method.options}, **{v: 1 + i for i, v in enumerate(method.variants)}, NOBN: 99}
    found: list[str] = []
    for token in tokens:
        if token not in order:
            what = "shortcut option" if len(token) == 1 else "token"
            none = "none" if not order else choices(order)
            raise ValueError(f"unknown {what} {token!r} in {name!r} for {method.name}; valid: {none} "
                             f"(e.g. {method.name}-{depth})")
        if found and rank[found[-1]] >= rank[token]:  # repeated, a second option, or out of order
            given = found + [token]
            option = next((t for t in given if t in method.options), None)
            what = "one shortcut option" if token in method.options else "each token once"
            raise ValueError(f"{name!r}: {what}, in the order option, variants, nobn; valid: e.g. "
                             f"{_canonical(method.name, depth, option, _variants(method, given), NOBN in given)}")
        found.append(token)
    return next((t for t in found if t in method.options), None), _variants(method, found), NOBN in found


def _variants(method: Method, tokens: list[str]) -> tuple[str, ...]:
    return tuple(v for v in method.variants if v in tokens)


def _canonical(method: str, depth: int, option: str | None, variants: tuple[str, ...], nobn: bool) -> str:
    return "-".join([method, str(depth), *([option] if option else []), *variants, *([NOBN] if nobn else [])])


def plugin_entry_points() -> dict:
    """``{name: importlib.metadata.EntryPoint}`` of the installed plugins (group ``degradation_suite.models``,
    :mod:`models.plugins`); imports nothing. :class:`~models.plugins.PluginError` (a ``ValueError``, one
    line) for a plugin whose name collides with a built-in method (refused, never replacing it), is no
    ``[a-z][a-z0-9]*`` or is registered by two distributions."""
    return entry_points(reserved=METHODS)


def plugin_names() -> list[str]:
    """The installed plugins' method names, sorted; imports nothing."""
    return sorted(plugin_entry_points())


def check_plugins() -> None:
    """Raise :class:`~models.plugins.PluginError` if any installed plugin is refused; for a trainer's start."""
    plugin_entry_points()


def plugin_entry_point(name: str):
    """The entry point of plugin ``name``; :class:`~models.plugins.PluginError` naming the installed ones."""
    eps = plugin_entry_points()
    if name not in eps:
        raise PluginError(f"no plugin {name!r} is installed; valid: {choices(sorted(eps)) or 'none installed'}")
    return eps[name]


def plugin_provenance(name: str) -> dict:
    """``{"entry_point", "distribution", "version", "source_sha256", "source_files"}`` of plugin ``name``,
    read without importing it (:func:`models.plugins.provenance`)."""
    return provenance(plugin_entry_point(name))


def list_methods() -> list[str]:
    """The built-in methods, then the installed plugins' names (read from entry points, nothing imported)."""
    return list(METHODS) + plugin_names()


def list_models() -> list[str]:
    """Every built-in name at the paper's depths, in the order of :attr:`ModelName.sort_key` within a
    depth: plain, resnet (default, a, b, c) and their ``-nobn`` nets, then every method (its default, its
    other shortcut options, and each of its variants on its default shortcut) at the CIFAR depths and at
    the ImageNet depths where it defines a block."""
    names = []
    for depth in sorted(set(CIFAR_DEPTHS) | set(IMAGENET_STAGES)):
        names += [f"plain-{depth}", f"resnet-{depth}"] + [f"resnet-{depth}-{o}" for o in OPTIONS]
        names += [f"plain-{depth}-{NOBN}", f"resnet-{depth}-{NOBN}"]
        family = "imagenet" if depth in IMAGENET_STAGES else "cifar"
        for method in METHODS.values():
            if method.name in KINDS or (family == "imagenet" and depth not in method.imagenet_depths):
                continue
            default = method_shortcut(method, family, depth).value
            names += [f"{method.name}-{depth}"] + [f"{method.name}-{depth}-{o}" for o in method.options if o != default]
            names += [f"{method.name}-{depth}-{v}" for v in method.variants
                      if v not in PROJECTION_VARIANTS or default in ("b", "c")]
    return names


def paper_models() -> list[str]:
    """The names of today's registry before the methods: plain and resnet (default, a, b, c), with BN."""
    return [n for n in list_models() if n.split("-")[0] in KINDS and not n.endswith(f"-{NOBN}")]


def model_family(name: str) -> str:
    """``"resnet-34"`` -> ``"imagenet"``; ``ValueError`` as :func:`parse_name`."""
    return parse_name(name).family


def model_axes(name: str, family: str | None = None, init: str | None = None,
               declared: dict | None = None) -> dict:
    """A JSON-able record of what a name builds, for ``config.yaml`` and ``result.json``::

        {"model": "fixup-56", "method": "fixup", "family": "cifar", "depth": 56,
         "axes": {"block": "fixup", "shortcut": "a", "merge": "add", "branch_scale": "one",
                  "norm": "none", "init": "fixup"},
         "source": "Zhang et al. 2019, arXiv 1901.09321, ...", "plugin": None}

    ``init``: the run's ``init`` override ("he" | "xavier"), which replaces the method's "he" (Fixup keeps
    "fixup", which refuses "xavier" when built). For a plugin, ``axes`` holds every axis of
    :data:`AXIS_VALUES`, each the value its net declares (``declared``: :func:`models.plugins.declared_axes`
    of the built net, which the run checks) or None (unknown), and ``plugin`` its provenance
    (:func:`models.plugins.provenance`: distribution, version, entry point, sha256 of its files), read
    without importing it.
    """
    info = parse_name(name, family)
    record = {"model": info.name, "method": info.kind, "family": info.family, "depth": info.depth}
    if info.plugin:
        axes = {axis: (declared or {}).get(axis) for axis in AXIS_VALUES}
        return {**record, "axes": axes, "source": None, "plugin": plugin_provenance(info.kind)}
    axes = info.axes
    if init is not None and axes["init"] == "he":
        axes["init"] = init
    return {**record, "axes": axes, "source": METHODS[info.kind].source, "plugin": None}
