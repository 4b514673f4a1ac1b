"""Synthetic data for tests and benchmarks: a fixed random pattern per class plus noise; no files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .base import Dataset
from .tensors import Tensors, split


def synthetic_tensors(config, num_classes: int = 10, channels: int = 3) -> Tensors:
    """Learnable synthetic images: a fixed random pattern per class plus noise (seeded, no files)."""
    import torch

    g = torch.Generator().manual_seed(1234)
    s = config.image_size or 16
    patterns = torch.rand(num_classes, channels, s, s, generator=g) * 255

    def make(n):
        y = torch.randint(0, num_classes, (n,), generator=g)
        noise = torch.randn(n, channels, s, s, generator=g) * 60
        return (patterns[y] + noise).clamp_(0, 255).to(torch.uint8), y

    train_x, train_y = make(config.synthetic_train + config.synthetic_eval)
    test_x, test_y = make(config.synthetic_eval)
    cfg = dataclasses.replace(config, val_size=config.synthetic_eval)
    t = split("synthetic", train_x, train_y, test_x, test_y, num_classes, cfg)
    t.classes = tuple(f"pattern{i}" for i in range(num_classes))
    return t


def ensure(data_dir: Path, fetch: bool) -> None:
    """Nothing to find: the images are made from the seed."""


DATASET = Dataset("synthetic", ensure, lambda config, data_dir: synthetic_tensors(config))
