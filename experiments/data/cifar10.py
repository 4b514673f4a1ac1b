"""CIFAR-10 (Krizhevsky 2009): the paper's data (section 4.2), 32x32 colour images, 50000 + 10000, 10 classes.

Found in ``<data>/cifar-10-batches-py/`` (torchvision's layout), else downloaded by torchvision.
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, download, reading


def ensure(data_dir: Path, fetch: bool) -> None:
    if not (data_dir / "cifar-10-batches-py").is_dir():
        download("CIFAR10", data_dir, fetch, how=(
            "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it "
            f"into {data_dir} (giving {data_dir / 'cifar-10-batches-py'})"))


def load(config, data_dir: Path):
    import torch
    import torchvision.datasets as tvd

    from .tensors import from_torchvision

    with reading():
        train, test = (tvd.CIFAR10(str(data_dir), train=t, download=False) for t in (True, False))
    return from_torchvision(config, "cifar10", train, test,
                            lambda ds: torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), str(data_dir))


DATASET = Dataset("cifar10", ensure, load, train_split=50000)
