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
  (``declared_weighted``: a tuple of child module names; any submodule may declare its own, joined with
  its path), as the suite's nets do.
* ``family``: ``"cifar"`` or ``"imagenet"`` (from the depth, as for the built-in nets, or the run's
  ``family`` override); ``num_classes``, ``in_channels``: the data's; ``width``: the channels of the first
  stage, or None for the net's own; ``stem``: ``"cifar"`` (small images: no downsampling stem) or
  ``"imagenet"``; ``init``: ``"he"`` (He fan-out), ``"he-fan-in"`` or ``"xavier"`` (``INITS``,
  ``models/names.py``). A builder may ignore what does not apply to it.
* The net maps ``(N, in_channels, H, W)`` float images to ``(N, num_classes)`` logits, for every H, W from
  14 (the quick profile's 14x14) up, in training and evaluation mode; the suite trains it with
  cross-entropy like its own nets.
* Optionally ``declared_responses`` (child module names whose outputs are the layer responses of paper
  Fig. 7); without it :func:`models.response_layers` takes the BN after each 3x3 convolution, or the
  convolution itself where no BN follows it.
* Optionally ``lr_factors()`` and ``weight_decay_factors()``: ``{parameter name: multiplier}`` of the
  learning rate and the weight decay, which the trainer gives their own SGD groups (as Fixup's and
  SkipInit's official optimizers, ``models/resnet.py``); a name absent: 1.

After building, :func:`build_plugin` checks the output shape on a ``(2, in_channels, 32, 32)`` batch
(``64`` with the ImageNet stem) and the weighted-layer count against the depth. Every failure -- the entry
point cannot be imported, the builder raises, the shape or the depth is wrong, the name collides with a
built-in method (built-in names are reserved: the plugin is refused, never replaces one), two distributions
register one name -- raises :class:`PluginError`, one line naming the plugin and its distribution.

Listing the names (:func:`models.names.plugin_names`) reads the installed distributions' metadata with
``importlib.metadata`` and imports nothing, so ``models.names.parse_name("mynet-56")`` works without torch
in ``reports``; every process ``make``, ``srun`` or an ``sbatch`` array starts sees the same plugins.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Collection
from importlib import metadata
from pathlib import Path

# This module imports nothing of the suite's (models.names imports it): the built-in names it must refuse
# come in as ``reserved``; models.names.plugin_entry_points passes them.
GROUP = "degradation_suite.models"
METHOD_NAME = re.compile(r"^[a-z][a-z0-9]*$")  # a method (built-in or plugin): no "-", so names split cleanly
PROBE_SIZE = {"cifar": 32, "imagenet": 64}


def choices(values) -> str:
    """``a, b, c``: the valid choices an error message names (every module of ``models`` uses this one)."""
    return ", ".join(str(v) for v in values)


class PluginError(ValueError):
    """A plugin cannot be used: one line naming it, its distribution and what is wrong."""


def _dist_label(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "an unknown distribution"


def entry_points(reserved: Collection[str]) -> dict[str, metadata.EntryPoint]:
    """``{name: entry point}`` of group ``degradation_suite.models``; imports nothing.

    Raises :class:`PluginError` for a name that collides with a ``reserved`` (built-in) one, is not
    ``[a-z][a-z0-9]*``, or is registered by two distributions. Callers: :func:`models.names.plugin_entry_points`.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        where = f"plugin {ep.name!r} ({ep.value}, from {_dist_label(ep)})"
        if ep.name in reserved:
            raise PluginError(f"{where} collides with the built-in method {ep.name!r}; built-in names are "
                              f"reserved ({choices(reserved)}): rename its entry point")
        if not METHOD_NAME.match(ep.name):
            raise PluginError(f"{where}: bad name; valid: [a-z][a-z0-9]* (no '-', it separates the depth)")
        if ep.name in found and found[ep.name].value != ep.value:
            raise PluginError(f"{where} is also registered by {_dist_label(found[ep.name])} "
                              f"({found[ep.name].value}); uninstall one")
        found[ep.name] = ep
    return found


def _source_files(ep: metadata.EntryPoint) -> list[tuple[str, Path]]:
    """``[(name relative to the package's parent folder, path)]`` of the files the entry point's top-level
    module or package is imported from (found, not imported), sorted."""
    spec = importlib.util.find_spec(ep.module.split(".")[0])  # a top-level name: found without importing it
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted((str(p.relative_to(Path(loc).parent)), p)
                      for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
    origin = Path(spec.origin) if spec.origin else None
    return [(origin.name, origin)] if origin is not None and origin.is_file() else []


def provenance(ep: metadata.EntryPoint) -> dict:
    """``{"entry_point": "mynet = mynet_plugin:build", "distribution": "mynet-plugin", "version": "0.1.0",
    "source_sha256": <hex>, "source_files": [...]}`` of an installed plugin, read without importing it.

    ``source_sha256`` is a sha256 over each source file's name (relative to its package's parent folder)
    and bytes, in sorted order: the code the run imported, editable installs included.
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


def build_plugin(ep: metadata.EntryPoint, depth: int, *, family: str, num_classes: int, in_channels: int,
                 width: int | None, stem: str, init: str):
    """Import the plugin, build its net and check it (see the contract above); :class:`PluginError` else."""
    import torch

    from .stats import weighted_layers

    name = ep.name
    model = f"{name}-{depth}"
    where = f"plugin {name!r} ({ep.value}, from {_dist_label(ep)})"
    try:
        builder = ep.load()
    except Exception as exc:  # any import failure of the user's code is one line, not a traceback
        raise PluginError(f"{where} fails to import: {type(exc).__name__}: {exc}") from exc
    try:
        net = builder(depth, family=family, num_classes=num_classes, in_channels=in_channels, width=width,
                      stem=stem, init=init)
    except Exception as exc:
        raise PluginError(f"{where}: its builder raised building {model!r}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, torch.nn.Module):
        raise PluginError(f"{where}: its builder returned {type(net).__name__}, not a torch.nn.Module")
    size = PROBE_SIZE[stem]
    was_training = net.training
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, in_channels, size, size))
    except Exception as exc:
        raise PluginError(f"{where}: {model!r} fails on a (2, {in_channels}, {size}, {size}) batch: "
                          f"{type(exc).__name__}: {exc}") from exc
    finally:
        net.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{where}: {model!r} maps (2, {in_channels}, {size}, {size}) to {shape}; "
                          f"valid: (2, {num_classes}) logits")
    layers = len(weighted_layers(net))
    if layers != depth:
        raise PluginError(f"{where}: {model!r} has {layers} weighted layers (models.weighted_layers), its name "
                          f"promises {depth}; valid: {name}-{layers}, or a net of {depth}")
    return net
