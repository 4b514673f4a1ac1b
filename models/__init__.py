"""Plain and residual nets of He et al. 2015 (arXiv 1512.03385). Pure PyTorch: imports torch only."""

from .blocks import BasicBlock, Bottleneck, Shortcut, ZeroPadShortcut, make_shortcut
from .resnet import CIFAR_DEPTHS, IMAGENET_STAGES, NetSpec, ResNet, create_model, list_models, model_family, parse_name
from .stats import count_multiply_adds, count_params, response_layers, weighted_layers

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CIFAR_DEPTHS",
    "IMAGENET_STAGES",
    "NetSpec",
    "ResNet",
    "Shortcut",
    "ZeroPadShortcut",
    "count_multiply_adds",
    "count_params",
    "create_model",
    "list_models",
    "make_shortcut",
    "model_family",
    "parse_name",
    "response_layers",
    "weighted_layers",
]
