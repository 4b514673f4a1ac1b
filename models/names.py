"""Model names: the one grammar of the registry, the methods against degradation, and the choices of
``create_model``; imports no torch.

A name is ``<method>-<depth>(-<token>)*``, all of ``[a-z0-9-]`` (folder- and make-safe):

* ``plain-<depth>``, ``resnet-<depth>`` (the paper's shortcut for that net: option A for the CIFAR family
  and ResNet-18/34, Table 2; option B for 50/101/152, Table 3) and ``resnet-<depth>-a|b|c``, as always;
* the methods of :data:`METHODS`: ``preresnet``, ``fixup``, ``skipinit``, ``rezero``, ``highway``, each a
  bundle of axis values (block form, shortcut, merge, branch scale, normalisation, init) with its source;
* tokens: ``a|b|c`` (the shortcut where the method has one) and ``nobn`` (plain and resnet without BN,
  their convolutions with a bias), in that order. One net, one name: a token equal to the method's default
  is refused with the canonical name (``preresnet-56-a`` -> ``preresnet-56``); only ``resnet-<depth>-a|b|c``
  keep naming the default explicitly, as the shortcut ablation always has;
* a plugin's ``<name>-<depth>`` for every entry point of group ``degradation_suite.models``
  (:mod:`models.plugins`), listed without importing anything.

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
# create_model's choices, also checked by the run configuration (experiments/config.py) before anything runs.
STEMS = ("cifar", "imagenet")  # "cifar": 3x3 stride 1, no max-pool; "imagenet": 7x7 stride 2 + 3x3 max-pool
INITS = ("he", "xavier")  # "he": the paper's (its ref. [13]); "xavier": the seed's TF1 code
# The axes a method fixes, and their values (ModelName.axes, model_axes):
BLOCKS = ("post", "pre", "fixup")  # He 2015 (ReLU after the addition); He 2016 (BN-ReLU before each conv); Fixup
MERGES = ("add", "gate")  # y = x + F(x); Highway's y = H(x) T(x) + x (1 - T(x))
BRANCH_SCALES = ("none", "zero", "one")  # a learnable scalar on each branch, starting at 0 (SkipInit, ReZero) or 1 (Fixup)
NORMS = ("bn", "none")  # "none": no BN anywhere; convolutions get their bias back (Fixup: scalar biases instead)
INIT_RULES = ("he", "xavier", "fixup")  # "fixup": Zhang et al. 2019, section 3, on top of He's init

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
    legacy_explicit: bool = False  # resnet-<d>-a|b|c name the default explicitly (today's shortcut ablation)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("plain", "post", False, "add", "none", "bn", "he",
           "He et al. 2015, arXiv 1512.03385, section 3.3 (plain network) and 4.1", nobn=True),
    Method("resnet", "post", True, "add", "none", "bn", "he",
           "He et al. 2015, arXiv 1512.03385, section 3.2-3.3, eqs. 1-2", options=OPTIONS, nobn=True,
           legacy_explicit=True),
    Method("preresnet", "pre", True, "add", "none", "bn", "he",
           "He et al. 2016, arXiv 1603.05027, section 4 and Fig. 4(e) (full pre-activation); "
           "KaimingHe/resnet-1k-layers resnet-pre-act.lua", options=OPTIONS),
    Method("fixup", "fixup", True, "add", "one", "none", "fixup",
           "Zhang et al. 2019, arXiv 1901.09321, section 3 (Fixup rules 1-3); hongyi-zhang/Fixup "
           "cifar/models/fixup_resnet_cifar.py and imagenet/models/fixup_resnet_imagenet.py", options=OPTIONS),
    Method("skipinit", "pre", True, "add", "zero", "none", "he",
           "De and Smith 2020, arXiv 2002.10444, SkipInit: x_{i+1} = x_i + alpha_i f_i(x_i), alpha_i = 0, "
           "no normalisation", options=OPTIONS),
    Method("rezero", "post", True, "add", "zero", "bn", "he",
           "Bachlechner et al. 2020, arXiv 2003.04887, x_{i+1} = x_i + alpha_i F(x_i), alpha_i = 0; "
           "majumderb/rezero", options=OPTIONS),
    Method("highway", "post", True, "gate", "none", "bn", "he",
           "Srivastava et al. 2015, arXiv 1507.06228, section 2, y = H(x) T(x) + x (1 - T(x)), "
           "T(x) = sigmoid(W_T x + b_T); b_T negative (section 2.2)", options=("a", "b"),
           imagenet_depths=(18, 34)),
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


@dataclass(frozen=True)
class ModelName:
    """What a registry name says: ``resnet-56-b`` -> kind resnet, family cifar, depth 56, shortcut B.

    ``kind`` is the method (``"plain"``, ``"resnet"``, ``"fixup"``, ..., or a plugin's name); the other
    axes are those of :class:`Method`, resolved for this name (``norm`` "none" for ``-nobn``). A plugin's
    axes are unknown to the suite: ``plugin`` is True, ``shortcut`` NONE and the other axes ``""``.
    """

    name: str
    kind: str  # the method: "plain" | "resnet" | a METHODS key | a plugin's entry point name
    family: str  # "cifar" | "imagenet"
    depth: int  # weighted layers on the main path: convolutions + the final fully connected layer
    shortcut: Shortcut  # NONE for a plain net; for "<method>-<depth>" the paper's default
    explicit_option: bool  # True for resnet-<depth>-a|b|c (a shortcut-ablation variant)
    block: str = "post"  # BLOCKS
    merge: str = "add"  # MERGES
    branch_scale: str = "none"  # BRANCH_SCALES
    norm: str = "bn"  # NORMS
    init: str = "he"  # INIT_RULES (the method's rule; create_model's init override may change "he" to "xavier")
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
        """The resolved axes, JSON-able: block, shortcut, merge, branch_scale, norm, init."""
        return {"block": self.block, "shortcut": self.shortcut.value, "merge": self.merge,
                "branch_scale": self.branch_scale, "norm": self.norm, "init": self.init}

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
                self.explicit_option, self.shortcut.value, self.name)


def default_shortcut(family: str, depth: int) -> Shortcut:
    """The paper's shortcut for ``resnet-<depth>``: A for the CIFAR nets and ResNet-18/34 (Table 2), B for
    50/101/152 (Table 3)."""
    return Shortcut.B if family == "imagenet" and depth >= 50 else Shortcut.A


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
            raise ValueError(f"unknown method {method_name!r} in {name!r}; valid: {choices(list_methods())}")
        if tokens:
            raise ValueError(f"plugin nets take no tokens, got {name!r}; valid: {method_name}-{depth}")
        if depth < 1:
            raise ValueError(f"impossible depth {depth} in {name!r}; valid: an integer >= 1")
        family = family or ("imagenet" if depth in IMAGENET_STAGES else "cifar")
        return ModelName(name, method_name, family, depth, Shortcut.NONE, False, block="", merge="",
                         branch_scale="", norm="", init="", plugin=True)
    if family is None:
        family = "imagenet" if depth in IMAGENET_STAGES else "cifar"
    _check_depth(family, depth, name, method)
    option, nobn = _read_tokens(name, method, tokens, depth)
    default = default_shortcut(family, depth) if method.residual else Shortcut.NONE
    if option is not None and Shortcut(option) is default and not method.legacy_explicit:
        raise ValueError(f"{name!r} names {method.name}'s default shortcut ({option}); its name is "
                         f"{_canonical(method.name, depth, None, nobn)!r}")
    return ModelName(name, method.name, family, depth, Shortcut(option) if option else default,
                     option is not None, method.block, method.merge, method.branch_scale,
                     "none" if nobn else method.norm, method.init)


def _read_tokens(name: str, method: Method, tokens: list[str], depth: int) -> tuple[str | None, bool]:
    valid = [*method.options, *([NOBN] if method.nobn else [])]
    option, nobn = None, False
    for token in tokens:
        if token not in valid:
            what = "shortcut option" if len(token) == 1 else "token"
            none = "none" if not valid else choices(valid)
            raise ValueError(f"unknown {what} {token!r} in {name!r} for {method.name}; valid: {none} "
                             f"(e.g. {method.name}-{depth})")
        if token == NOBN:
            if nobn:
                raise ValueError(f"{name!r} repeats {token!r}; valid: {_canonical(method.name, depth, option, True)}")
            nobn = True
        elif option is not None or nobn:
            raise ValueError(f"{name!r}: one shortcut option, before '-nobn'; valid: e.g. "
                             f"{_canonical(method.name, depth, token, nobn)}")
        else:
            option = token
    return option, nobn


def _canonical(method: str, depth: int, option: str | None, nobn: bool) -> str:
    return "-".join([method, str(depth), *([option] if option else []), *([NOBN] if nobn else [])])


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
    depth: plain, resnet (default, a, b, c) and their ``-nobn`` nets, then every method (its default and
    its other shortcut options) at the CIFAR depths and at the ImageNet depths where it defines a block."""
    names = []
    for depth in sorted(set(CIFAR_DEPTHS) | set(IMAGENET_STAGES)):
        names += [f"plain-{depth}", f"resnet-{depth}"] + [f"resnet-{depth}-{o}" for o in OPTIONS]
        names += [f"plain-{depth}-{NOBN}", f"resnet-{depth}-{NOBN}"]
        family = "imagenet" if depth in IMAGENET_STAGES else "cifar"
        for method in METHODS.values():
            if method.name in KINDS or (family == "imagenet" and depth not in method.imagenet_depths):
                continue
            default = default_shortcut(family, depth).value
            names += [f"{method.name}-{depth}"] + [f"{method.name}-{depth}-{o}" for o in method.options if o != default]
    return names


def paper_models() -> list[str]:
    """The names of today's registry before the methods: plain and resnet (default, a, b, c), with BN."""
    return [n for n in list_models() if n.split("-")[0] in KINDS and not n.endswith(f"-{NOBN}")]


def model_family(name: str) -> str:
    """``"resnet-34"`` -> ``"imagenet"``; ``ValueError`` as :func:`parse_name`."""
    return parse_name(name).family


def model_axes(name: str, family: str | None = None, init: str | None = None) -> dict:
    """A JSON-able record of what a name builds, for ``config.yaml`` and ``result.json``::

        {"model": "fixup-56", "method": "fixup", "family": "cifar", "depth": 56,
         "axes": {"block": "fixup", "shortcut": "a", "merge": "add", "branch_scale": "one",
                  "norm": "none", "init": "fixup"},
         "source": "Zhang et al. 2019, arXiv 1901.09321, ...", "plugin": None}

    ``init``: the run's ``init`` override ("he" | "xavier"), which replaces the method's "he" (Fixup keeps
    "fixup", which refuses "xavier" when built). For a plugin, ``axes`` is None and ``plugin`` its provenance
    (:func:`models.plugins.plugin_provenance`: distribution, version, entry point, sha256 of its source
    files), read without importing it.
    """
    info = parse_name(name, family)
    record = {"model": info.name, "method": info.kind, "family": info.family, "depth": info.depth}
    if info.plugin:
        return {**record, "axes": None, "source": None, "plugin": plugin_provenance(info.kind)}
    axes = info.axes
    if init is not None and axes["init"] == "he":
        axes["init"] = init
    return {**record, "axes": axes, "source": METHODS[info.kind].source, "plugin": None}
