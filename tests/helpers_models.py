"""Helpers of the model tests (test_methods, test_model_guards)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small nets: one thread is as fast as two, and does not slow down a hundredfold when other processes
    share the two cores (see test_models' fixture)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def structure_net(name: str) -> torch.nn.Module:
    """``name`` at its default width, for tests of structure only (layers, keys, shapes): the ImageNet family
    on the meta device (no memory for its 60M parameters); the CIFAR one on the CPU, because on the meta device
    torch runs every initialiser through Python reference ops and builds a 1202-layer net 2-3x slower than the
    CPU does (measured: resnet-1202-c 3.2 s against 1.0 s)."""
    import models
    from models.names import parse_name

    with torch.device("meta" if parse_name(name).family == "imagenet" else "cpu"):
        return models.create_model(name)
