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
