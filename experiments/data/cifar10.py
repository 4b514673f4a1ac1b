"""CIFAR-10 (Krizhevsky 2009): the paper's data (section 4.2), 32x32 colour images, 50000 + 10000, 10 classes.

Found in ``<data>/cifar-10-batches-py/`` (torchvision's layout), else downloaded by torchvision.
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, download, reading


CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")  # torchvision reads these


def ensure(data_dir: Path, fetch: bool) -> None:
    """Every file torchvision reads is there, else fetched: an empty or partial folder (a download cut short,
    a file deleted as a damaged one) is fetched again, as the load's advice for damaged files says."""
    folder = data_dir / CIFAR_FOLDER
    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing:
        lacks = (f", which now lacks {', '.join(missing)}" if len(missing) < len(CIFAR_FILES) else ", now empty") \
            if folder.is_dir() else ""
        download("CIFAR10", data_dir, fetch, how=(
            "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it "
            f"into {data_dir} (giving {folder}{lacks})"))


def load(config, data_dir: Path):
    import torch
    import torchvision.datasets as tvd

    from .tensors import from_torchvision

    with reading():
        train, test = (tvd.CIFAR10(str(data_dir), train=t, download=False) for t in (True, False))
    return from_torchvision(config, "cifar10", train, test,
                            lambda ds: torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), str(data_dir))


DATASET = Dataset("cifar10", ensure, load, train_split=50000)
