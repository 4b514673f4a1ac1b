"""Plain and residual nets of He et al. 2015 (arXiv 1512.03385) and the methods against degradation since
(pre-activation, Fixup, SkipInit, ReZero, Highway, nets without BN; plugins). Pure PyTorch: imports torch only.

The name grammar (:mod:`models.names`) and the plugins' listing and provenance (:mod:`models.plugins`)
import no torch and are loaded at once; the nets, blocks and counters import torch when first used
(PEP 562: ``__getattr__``, and ``__dir__`` lists them), so that ``reports`` can read model names without it.
"""

from importlib import import_module

from .names import (CIFAR_DEPTHS, IMAGENET_STAGES, METHODS, Method, ModelName, Shortcut, check_plugins, list_methods,
                    list_models, model_axes, model_family, paper_models, parse_name, plugin_names, plugin_provenance)
from .plugins import GROUP as PLUGIN_GROUP
from .plugins import PluginError

_LAZY = {
    "BasicBlock": "blocks", "Bottleneck": "blocks", "ZeroPadShortcut": "blocks", "make_shortcut": "blocks",
    "PreActBasicBlock": "blocks", "PreActBottleneck": "blocks", "FixupBasicBlock": "blocks",
    "FixupBottleneck": "blocks", "LayerConfig": "blocks", "HIGHWAY_GATE_BIAS": "blocks",
    "NetSpec": "resnet", "ResNet": "resnet", "create_model": "resnet", "check_plugin_net": "resnet",
    "branch_ends": "stats", "count_multiply_adds": "stats", "count_params": "stats", "response_layers": "stats",
    "weighted_layers": "stats",
}

_EAGER = [
    "CIFAR_DEPTHS", "IMAGENET_STAGES", "METHODS", "Method", "ModelName", "PLUGIN_GROUP", "PluginError", "Shortcut",
    "check_plugins", "list_methods", "list_models", "model_axes", "model_family", "paper_models", "parse_name",
    "plugin_names", "plugin_provenance",
]
__all__ = sorted(_EAGER + list(_LAZY))  # the torch-side names resolve through __getattr__


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """PEP 562: ``dir(models)`` lists the torch-side names too, without importing them."""
    return sorted(set(globals()) | set(_LAZY))
