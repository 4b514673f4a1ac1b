"""A researcher's own net in the suite: plugins through Python entry points. Imports no torch (building does).

The builder contract, written once
----------------------------------
A distribution registers one builder per name in the entry-point group ``degradation_suite.models``;
the entry point's name is the method name (``[a-z][a-z0-9]*``, no ``-``), its object the builder::

    [project.entry-points."degradation_suite.models"]
    mynet = "mynet_plugin:build"

    def build(depth: int, *, family: str, num_classes: int, in_channels: int, width: int | None,
              stem: str, init: str) -> torch.nn.Module

* ``depth``: the number in the name (``mynet-56`` -> 56). The net must have exactly that many weighted
  layers as :func:`models.weighted_layers` counts them: every ``Conv2d`` and ``Linear`` whose module path
  has no ``shortcut`` component, unless the net's top module declares its layers itself
  (``declared_weighted``: a tuple of module names, dotted paths allowed; any submodule may declare its
  own, joined with its path), as the suite's nets do. A net whose projection shortcuts sit elsewhere
  (torchvision's ``downsample``) declares its main path, e.g. torchvision's ResNet-18::

      def build(depth, *, num_classes, in_channels, **_):   # registered as tvres: tvres-18
          net = torchvision.models.resnet18(num_classes=num_classes)
          net.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
          net.declared_weighted = ("conv1", *(f"layer{s}.{b}.conv{c}" for s in (1, 2, 3, 4)
                                              for b in (0, 1) for c in (1, 2)), "fc")
          net.declared_axes = {"block": "post", "shortcut": "b", "norm": "bn"}
          return net

* ``family``: ``"cifar"`` or ``"imagenet"`` (from the depth, as for the built-in nets, or the run's
  ``family`` override); ``num_classes``, ``in_channels``: the data's; ``width``: the channels of the first
  stage, or None for the net's own; ``stem``: ``"cifar"`` (small images: no downsampling stem) or
  ``"imagenet"``; ``init``: ``"he"`` (He fan-out), ``"he-fan-in"`` or ``"xavier"`` (``INITS``,
  ``models/names.py``). A builder may ignore what does not apply to it.
* The net maps ``(N, in_channels, H, W)`` float images to ``(N, num_classes)`` logits -- one tensor, in
  training mode too (no auxiliary outputs) -- at the sizes it is trained at (the smoke profile's 16x16,
  the quick profile's 14x14, the paper's 32x32, a profile's ``image_size``) and at the build check's
  32x32 (64x64 with the ImageNet stem), and in either memory format: the quick, paper and imagenet
  profiles train in ``channels_last`` (NHWC strides: ``.view()`` merging the channels with the pixels
  fails there; ``.flatten()`` or ``.reshape()`` works). It has trainable parameters; the suite trains it
  with cross-entropy and SGD like its own nets.
* Optional, on the net's top module:

  - ``declared_responses``: module names whose outputs are the layer responses of paper Fig. 7; without
    it :func:`models.response_layers` takes the BN after each 3x3 convolution, or the convolution itself
    where no BN follows it.
  - ``lr_factors()``: ``{parameter name: factor}``, learning-rate multipliers (a name absent: 1), as
    Fixup's official training needs for its scalar biases (the suite's ``fixup`` nets have one). Every
    name must be one of ``net.named_parameters()``, every factor a finite number > 0. Each run records
    its optimizer's groups (``optimizer_groups`` in ``config.yaml`` and ``result.json``).
  - ``weight_decay_factors()``: ``{parameter name: factor}``, weight-decay multipliers (a name absent: 1),
    as SkipInit's official optimizer, which decays neither alpha nor the biases (the suite's ``skipinit``
    nets have one); every name one of ``net.named_parameters()``, every factor a finite number >= 0;
    groups are formed per (learning-rate factor, weight-decay factor).
  - ``declared_axes``: ``{axis: value}`` for any of the axes of :data:`models.names.AXIS_VALUES`
    (``block``, ``shortcut``, ``merge``, ``branch_scale``, ``norm``, ``init``; values as the built-in
    methods': e.g. ``{"norm": "none", "shortcut": "a"}``). Runs record the declared values and null for
    the others (the suite cannot know them); the leaderboard measures a net declaring ``"norm": "none"``
    against ``plain-<depth>-nobn``, any other plugin against ``plain-<depth>``.
* Random numbers in training (dropout, noise) come from torch's, Python's or numpy's global generators,
  whose states every checkpoint keeps: a net holding a ``torch.Generator`` of its own is refused, as its
  runs could not resume exactly.
* Taken names: a plugin's distribution must not install a top-level module or package named like one of
  the suite's (:data:`SUITE_PACKAGES`: experiments, models, reports, runfolder); both share one
  environment, where one would shadow the other.

Checks. :func:`build_plugin` (every ``create_model``) checks the output shape on a ``(2, in_channels, 32,
32)`` batch (``64`` with the ImageNet stem) in evaluation mode, the weighted-layer count against the
depth, ``lr_factors``, ``weight_decay_factors`` and ``declared_axes``. Before a run writes anything (``experiments.run``, and
``make``'s input check), :func:`probe_plugin` also runs one training step's work on a copy of the net: a
forward pass in training mode at the run's image size and memory format and one backward pass. Listing
the plugins refuses a name that collides with a built-in method (built-in names are reserved: the plugin
is refused, never replaces one), a bad name, one name registered by two distributions (whatever their
entry points say), and a distribution installing one of the taken top-level names. Every failure raises
:class:`PluginError`, one line naming the plugin and its distribution.

Provenance (:func:`provenance`): the distribution, its version and a sha256 over its own files as its
``RECORD`` lists them (for an editable install, whose RECORD lists no sources: the files of the entry
point's top-level module or package), recorded by every run; a run resumed after the plugin's files
changed is refused (``experiments.run``).

Listing the names (:func:`models.names.plugin_names`) reads the installed distributions' metadata with
``importlib.metadata`` and imports nothing, so ``models.names.parse_name("mynet-56")`` works without torch;
every process ``make``, ``srun`` or an ``sbatch`` array starts sees the same plugins. The reports list no
plugin at all: they read what each run folder recorded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
from collections.abc import Collection, Mapping
from importlib import metadata
from pathlib import Path

# This module imports nothing of the suite's (models.names imports it): the built-in names it must refuse
# come in as ``reserved``; models.names.plugin_entry_points passes them.
GROUP = "degradation_suite.models"
METHOD_NAME = re.compile(r"^[a-z][a-z0-9]*$")  # a method (built-in or plugin): no "-", so names split cleanly
PROBE_SIZE = {"cifar": 32, "imagenet": 64}
# The suite's top-level packages (pyproject.toml's [tool.setuptools] packages): a plugin's distribution
# installing one of these names would shadow the suite's (or be shadowed by it) in the shared environment.
SUITE_PACKAGES = ("experiments", "models", "reports", "runfolder")
# Module path components that, in other code bases, hold projection shortcuts (torchvision: downsample);
# named in the depth error so that a researcher sees why the count is off.
SHORTCUT_LIKE = ("downsample", "proj", "projection", "skip")


def choices(values) -> str:
    """``a, b, c``: the valid choices an error message names (every module of ``models`` uses this one)."""
    return ", ".join(str(v) for v in values)


class PluginError(ValueError):
    """A plugin cannot be used: one line naming it, its distribution and what is wrong."""


def _dist_label(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "an unknown distribution"


def _where(ep: metadata.EntryPoint) -> str:
    return f"plugin {ep.name!r} ({ep.value}, from {_dist_label(ep)})"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def top_level_names(dist: metadata.Distribution) -> list[str]:
    """The top-level modules and packages a distribution installs, read from its metadata (``top_level.txt``,
    else the first component of every file its ``RECORD`` lists), without importing anything."""
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip()})
    names = set()
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) > 1:
            names.add(parts[0])
        elif parts[0].endswith(".py") and not parts[0].startswith("__editable__"):
            names.add(parts[0][:-3])
    return sorted(names)


def entry_points(reserved: Collection[str]) -> dict[str, metadata.EntryPoint]:
    """``{name: entry point}`` of group ``degradation_suite.models``; imports nothing.

    Raises :class:`PluginError` for a name that collides with a ``reserved`` (built-in) one, is not
    ``[a-z][a-z0-9]*``, or is registered by two distributions, and for a distribution that installs a
    top-level package named like one of :data:`SUITE_PACKAGES`. Callers:
    :func:`models.names.plugin_entry_points`.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        where = _where(ep)
        if ep.name in reserved:
            raise PluginError(f"{where} collides with the built-in method {ep.name!r}; built-in names are "
                              f"reserved ({choices(reserved)}): rename its entry point")
        if not METHOD_NAME.match(ep.name):
            raise PluginError(f"{where}: bad name; valid: [a-z][a-z0-9]* (no '-', it separates the depth)")
        if ep.name in found:  # importlib.metadata lists each distribution once: these are two
            raise PluginError(f"{where} is also registered by {_dist_label(found[ep.name])} "
                              f"({found[ep.name].value}); one name, one distribution: uninstall one")
        dist = getattr(ep, "dist", None)
        clash = sorted(set(top_level_names(dist)) & set(SUITE_PACKAGES)) if dist is not None else []
        if clash:
            raise PluginError(
                f"{where}: its distribution installs a top-level package {clash[0]!r}, which shadows the suite's "
                f"own {clash[0]!r} (or is shadowed by it: whichever comes first on sys.path wins); rename its "
                f"package (e.g. {ep.name}_{clash[0]}) and its imports; the suite's top-level names are taken: "
                f"{choices(SUITE_PACKAGES)}")
        found[ep.name] = ep
    return found


def _source_files(ep: metadata.EntryPoint) -> list[tuple[str, Path]]:
    """``[(name, path)]``, sorted, of the plugin's code: every file its distribution's ``RECORD`` lists
    (names relative to the installation folder), less the metadata folder, compiled ``.pyc`` files and
    anything outside the folder (scripts); for an editable install, whose RECORD lists no source, the
    files of every top-level module or package the distribution names (``top_level.txt``) and of the entry
    point's own (found, not imported)."""
    dist = getattr(ep, "dist", None)
    files = []
    for f in (dist.files or ()) if dist is not None else ():
        parts = Path(str(f)).parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info")) \
                or str(f).endswith(".pyc") or parts[0].startswith("__editable__") or str(f).endswith(".pth"):
            continue
        path = Path(dist.locate_file(f))
        if path.is_file():
            files.append((Path(str(f)).as_posix(), path))
    if files:
        return sorted(files)
    # Editable: every top-level module or package the distribution names (top_level.txt: a plugin of two modules,
    # the second one's edits included), and the entry point's own.
    names = {ep.module.split(".")[0]}
    listed = dist.read_text("top_level.txt") if dist is not None else None
    names |= {line.strip() for line in (listed or "").splitlines() if line.strip()}
    found = {}
    for name in sorted(names):
        spec = importlib.util.find_spec(name)  # a top-level name: found without importing it
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found.update((str(p.relative_to(Path(loc).parent)), p)
                         for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
        elif spec.origin and Path(spec.origin).is_file():
            found[Path(spec.origin).name] = Path(spec.origin)
    return sorted(found.items())


def provenance(ep: metadata.EntryPoint) -> dict:
    """``{"entry_point": "mynet = mynet_plugin:build", "distribution": "mynet-plugin", "version": "0.1.0",
    "source_sha256": <hex>, "source_files": [...]}`` of an installed plugin, read without importing it.

    ``source_sha256`` is a sha256 over each source file's name and bytes, in sorted order
    (:func:`_source_files`: the distribution's own files, never another distribution's sharing a
    namespace package): the code the run imported, edits since the installation included.
    """
    files = _source_files(ep)
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    dist = getattr(ep, "dist", None)
    return {"entry_point": f"{ep.name} = {ep.value}",
            "distribution": dist.metadata["Name"] if dist is not None else None,
            "version": dist.version if dist is not None else None,
            "source_sha256": digest.hexdigest() if files else None, "source_files": [rel for rel, _ in files]}


def lr_factors(net) -> dict[str, float]:
    """A net's learning-rate multipliers (``net.lr_factors()``, the contract above; ``{}`` without it), checked:
    ``ValueError`` naming a name that is no parameter of the net or a factor that is not a finite number > 0."""
    return _factors(net, "lr_factors", zero=False)


def weight_decay_factors(net) -> dict[str, float]:
    """A net's weight-decay multipliers (``net.weight_decay_factors()``, the contract above; ``{}`` without it),
    checked as :func:`lr_factors`' but each a finite number >= 0 (0: no decay, as SkipInit's alpha)."""
    return _factors(net, "weight_decay_factors", zero=True)


def _factors(net, attr: str, zero: bool) -> dict[str, float]:
    method = getattr(net, attr, None)
    if method is None:
        return {}
    if not callable(method):
        raise ValueError(f"{attr} is {type(method).__name__}, not a method returning {{parameter name: factor}}")
    table = method()
    if not isinstance(table, Mapping):
        raise ValueError(f"{attr}() returned {type(table).__name__}; valid: a mapping {{parameter name: factor}}")
    names = {n for n, _ in net.named_parameters()}
    for name, factor in table.items():
        if name not in names:
            raise ValueError(f"{attr}() names {name!r}, which is no parameter of the net; valid: names of "
                             f"net.named_parameters(), e.g. {choices(sorted(names)[:3])}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) \
                or factor < 0 or (factor == 0 and not zero):
            raise ValueError(f"{attr}() gives {name!r} the factor {factor!r}; valid: a finite number "
                             f"{'>= 0' if zero else '> 0'}")
    return {name: float(factor) for name, factor in table.items()}


def declared_axes(net, valid: Mapping[str, Collection[str]]) -> dict[str, str | None]:
    """``{axis: value or None}`` over every axis of ``valid`` (:data:`models.names.AXIS_VALUES`): the net's
    ``declared_axes``, None for an axis it does not declare (unknown, never guessed). ``ValueError`` naming a
    declared axis or value that ``valid`` lacks."""
    declared = getattr(net, "declared_axes", None) or {}
    if not isinstance(declared, Mapping):
        raise ValueError(f"declared_axes is {type(declared).__name__}; valid: a mapping {{axis: value}}")
    for axis, value in declared.items():
        if axis not in valid:
            raise ValueError(f"declared_axes names the axis {axis!r}; valid: {choices(valid)}")
        if value not in valid[axis]:
            raise ValueError(f"declared_axes gives {axis} {value!r}; valid: {choices(valid[axis])}")
    return {axis: declared.get(axis) for axis in valid}


def build_plugin(ep: metadata.EntryPoint, depth: int, *, family: str, num_classes: int, in_channels: int,
                 width: int | None, stem: str, init: str, axes: Mapping[str, Collection[str]]):
    """Import the plugin, build its net and check it (the contract above; ``axes``: the valid values of
    ``declared_axes``, :data:`models.names.AXIS_VALUES`); :class:`PluginError` else. The check runs in
    evaluation mode without gradients, so the net is returned as built: its BN statistics untouched."""
    import torch

    from .stats import weighted_layers

    name = ep.name
    model = f"{name}-{depth}"
    where = _where(ep)
    try:
        builder = ep.load()
    except Exception as exc:  # any import failure of the user's code is one line, not a traceback
        raise PluginError(f"{where} fails to import: {_one_line(exc)}") from exc
    try:
        net = builder(depth, family=family, num_classes=num_classes, in_channels=in_channels, width=width,
                      stem=stem, init=init)
    except Exception as exc:
        raise PluginError(f"{where}: its builder raised building {model!r}: {_one_line(exc)}") from exc
    if not isinstance(net, torch.nn.Module):
        raise PluginError(f"{where}: its builder returned {type(net).__name__}, not a torch.nn.Module")
    size = PROBE_SIZE[stem]
    was_training = net.training
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, in_channels, size, size))
    except Exception as exc:
        raise PluginError(f"{where}: {model!r} fails on a (2, {in_channels}, {size}, {size}) batch: "
                          f"{_one_line(exc)}") from exc
    finally:
        net.train(was_training)
    _check_logits(out, where, model, f"(2, {in_channels}, {size}, {size})", num_classes)
    try:
        layers = weighted_layers(net)
    except ValueError as exc:  # a declared_weighted naming no module
        raise PluginError(f"{where}: {model!r}: {exc}") from exc
    if len(layers) != depth:
        raise PluginError(f"{where}: {model!r} {_depth_mismatch(layers, depth)}; valid: {name}-{len(layers)}, a net "
                          f"of {depth}, or declared_weighted naming the {depth} layers of its main path")
    try:
        lr_factors(net)
        weight_decay_factors(net)
        declared_axes(net, axes)
    except Exception as exc:
        raise PluginError(f"{where}: {model!r}: {exc}") from exc
    import torch

    for name, module in net.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, torch.Generator):
                raise PluginError(
                    f"{where}: {model!r}: module {name or '<net>'!r} keeps its own torch.Generator ({attr!r}), "
                    "whose state no checkpoint holds, so a resumed run would not end where an uninterrupted one "
                    "does; draw from torch's global generator (generator=None), which every checkpoint keeps")
    return net


def _check_logits(out, where: str, model: str, batch: str, num_classes: int) -> None:
    import torch

    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{where}: {model!r} maps {batch} to {shape}; valid: (2, {num_classes}) logits, one "
                          "tensor in training and evaluation mode")


def _depth_mismatch(layers: list[str], depth: int) -> str:
    """Why the count is what it is: the rule, and the layers it counted that look like shortcuts."""
    side = [n for n in layers if set(n.split(".")) & set(SHORTCUT_LIKE)]
    also = (f", {len(side)} of them on what look like projection shortcuts ({choices(side[:3])}"
            f"{', ...' if len(side) > 3 else ''})") if side else ""
    return (f"has {len(layers)} weighted layers as models.weighted_layers counts them (every Conv2d and Linear "
            f"whose module path has no 'shortcut' component, unless the net lists its main path in "
            f"declared_weighted){also}; its name promises {depth}")


def probe_plugin(ep: metadata.EntryPoint, net, depth: int, *, num_classes: int, in_channels: int, size: int,
                 channels_last: bool) -> None:
    """The run's check of a plugin net built by :func:`build_plugin`, on a net the run will not train (it
    updates BN statistics and leaves gradients): one forward pass in training mode on a ``(2, in_channels,
    size, size)`` batch -- the run's image size, in ``channels_last`` memory format where the run trains so
    (the net converted too, as the trainer does) -- returning ``(2, num_classes)`` logits, trainable
    parameters, and one backward pass. :class:`PluginError`, one line, else."""
    import torch

    where, model = _where(ep), f"{ep.name}-{depth}"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    batch = f"(2, {in_channels}, {size}, {size}) batch{' in channels_last memory format' if channels_last else ''}"
    if not any(p.requires_grad for p in net.parameters()):
        raise PluginError(f"{where}: {model!r} has no trainable parameter; valid: a net with parameters SGD can train")
    g = torch.Generator().manual_seed(0)  # its own generator: the global one is the run's
    x = torch.randn(2, in_channels, size, size, generator=g).contiguous(memory_format=fmt)
    try:
        net.to(memory_format=fmt).train()
        out = net(x)
    except Exception as exc:
        raise PluginError(f"{where}: {model!r} fails in training mode on a {batch}, the run's input: "
                          f"{_one_line(exc)}") from exc
    _check_logits(out, where, model, f"a {batch} in training mode", num_classes)
    try:
        torch.nn.functional.cross_entropy(out, torch.zeros(2, dtype=torch.long)).backward()
    except Exception as exc:
        raise PluginError(f"{where}: {model!r}'s backward pass fails on a {batch}: {_one_line(exc)}") from exc
