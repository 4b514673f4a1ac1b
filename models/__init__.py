"""Plain and residual nets of He et al. 2015 (arXiv 1512.03385). Pure PyTorch: imports torch only.

The name grammar (:mod:`models.names`) imports no torch and is loaded at once; the nets, blocks and
counters import torch when first used (PEP 562), so that ``reports`` can read model names without it.
"""

from importlib import import_module

from .names import CIFAR_DEPTHS, IMAGENET_STAGES, ModelName, Shortcut, list_models, model_family, parse_name

_LAZY = {
    "BasicBlock": "blocks", "Bottleneck": "blocks", "ZeroPadShortcut": "blocks", "make_shortcut": "blocks",
    "NetSpec": "resnet", "ResNet": "resnet", "create_model": "resnet",
    "count_multiply_adds": "stats", "count_params": "stats", "response_layers": "stats", "weighted_layers": "stats",
}

__all__ = [  # noqa: F822 - the torch-side names resolve through __getattr__
    "BasicBlock", "Bottleneck", "CIFAR_DEPTHS", "IMAGENET_STAGES", "ModelName", "NetSpec", "ResNet", "Shortcut",
    "ZeroPadShortcut", "count_multiply_adds", "count_params", "create_model", "list_models", "make_shortcut",
    "model_family", "parse_name", "response_layers", "weighted_layers",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
