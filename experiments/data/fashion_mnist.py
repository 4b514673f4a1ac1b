"""Fashion-MNIST (Xiao et al. 2017): the quick profile's data, 28x28 grey images, 60000 + 10000, 10 classes.

Found in ``<data>/FashionMNIST/raw/`` (torchvision's layout), else taken from Debian's package
``dataset-fashion-mnist`` (installed with apt-get where we are root), else downloaded by torchvision.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

from runfolder.io import atomic_open

from .base import Dataset, download, reading

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def ensure(data_dir: Path, fetch: bool) -> None:
    raw = data_dir / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in FASHION_FILES):
        return
    if fetch and not _has_debian_copy() and os.geteuid() == 0 and shutil.which("apt-get"):
        print("==> installing Debian's dataset-fashion-mnist (apt-get)", file=sys.stderr)
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]):
            subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if fetch and _has_debian_copy():
        # torchvision's md5 check would fail on Debian's recompressed .gz files (and then try to download),
        # so they are decompressed into the raw/ folder, where torchvision loads them without a check.
        raw.mkdir(parents=True, exist_ok=True)
        for name in FASHION_FILES:
            target = raw / name
            if not target.is_file():
                with gzip.open(DEBIAN_FASHION_MNIST / f"{name}.gz", "rb") as src, atomic_open(target) as dst:
                    shutil.copyfileobj(src, dst)
        return
    download("FashionMNIST", data_dir, fetch, how=(
        f"install Debian's package (apt-get install dataset-fashion-mnist, which puts it under "
        f"{DEBIAN_FASHION_MNIST}) or copy the four IDX files, decompressed, into {raw}"))


def _has_debian_copy() -> bool:
    return all((DEBIAN_FASHION_MNIST / f"{name}.gz").is_file() for name in FASHION_FILES)


def load(config, data_dir: Path):
    import torchvision.datasets as tvd

    from .tensors import from_torchvision

    with reading():
        train, test = (tvd.FashionMNIST(str(data_dir), train=t, download=False) for t in (True, False))
    return from_torchvision(config, "fashion-mnist", train, test, lambda ds: ds.data.unsqueeze(1), str(data_dir))


DATASET = Dataset("fashion-mnist", ensure, load, train_split=60000, channels=1)
