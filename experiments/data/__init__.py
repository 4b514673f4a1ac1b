"""Data: torchvision datasets found or fetched, held as uint8 tensors on the training device
(:class:`Tensors`); the batches drawn from them are :mod:`experiments.batches`'.

``python -m experiments.data prepare --profile quick --data-dir data [--set "k=v ..."]`` finds or fetches a
profile's data, the profile's dataset as make's ``SET`` leaves it.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ConfigError, RunConfig, load_profile
from .io import atomic_open

if TYPE_CHECKING:  # torch is imported where tensors are made: `prepare` runs on every make and needs none
    import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
OFFLINE_ENV = "DEGRADATION_OFFLINE"  # set to 1 to never try a download (tests set it)


class DataUnavailable(ConfigError):
    """The dataset is not on disk and could not be fetched; the message says how to get it."""


# ----------------------------------------------------------------------------------------------------
# Finding or fetching the files
# ----------------------------------------------------------------------------------------------------
def ensure_available(dataset: str, data_dir: Path, fetch: bool = True) -> None:
    """Make sure the dataset's files are under ``data_dir``, fetching them if allowed; else raise."""
    data_dir = Path(data_dir)
    if dataset == "synthetic":
        return
    if dataset == "fashion-mnist":
        _ensure_fashion_mnist(data_dir, fetch)
    elif dataset == "cifar10":
        if not (data_dir / "cifar-10-batches-py").is_dir():
            _download("CIFAR10", data_dir, fetch, how=(
                "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it "
                f"into {data_dir} (giving {data_dir / 'cifar-10-batches-py'})"))
    elif dataset == "imagenet":
        missing = [d for d in FOLDER_SPLITS if not (data_dir / d).is_dir()]
        if missing:
            raise DataUnavailable(
                f"ImageNet not found: {data_dir} has no {' or '.join(missing)}/ folder; point DATA_DIR at a folder "
                "with train/ and val/ in torchvision's ImageFolder layout (one subfolder per class)"
            )
        folder_classes(data_dir)  # a class val/ has and train/ lacks: refused before anything is written
    else:  # RunConfig.check() has already refused it
        raise DataUnavailable(f"unknown dataset {dataset!r}")


FOLDER_SPLITS = ("train", "val")  # an ImageNet folder's splits; train/ is first and defines the classes


def folder_classes(data_dir: Path) -> list[str]:
    """The classes of an ImageNet-style folder: ``train/``'s subfolders, sorted (torchvision's ``find_classes``).

    Every split is labelled with this list (class ``classes[i]`` is label ``i``), never with its own: a
    ``val/`` lacking one of train/'s classes would otherwise number the rest differently. Raises
    ``ConfigError`` naming the class and the folder when a split has a class ``train/`` lacks (the net has
    no output for it), or when ``train/`` has no class folder.
    """
    from torchvision.datasets.folder import find_classes

    data_dir = Path(data_dir)
    try:
        classes = find_classes(data_dir / FOLDER_SPLITS[0])[0]
    except FileNotFoundError:
        raise ConfigError(f"bad dataset folder {data_dir / FOLDER_SPLITS[0]}: no class subfolders "
                          "(torchvision's ImageFolder layout: one subfolder per class)") from None
    for split_name in FOLDER_SPLITS[1:]:
        folder = data_dir / split_name
        extra = sorted({e.name for e in os.scandir(folder) if e.is_dir()} - set(classes))
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise ConfigError(f"bad dataset folder {folder}: class {extra[0]!r}{more} is not among the "
                              f"{len(classes)} classes of {data_dir / FOLDER_SPLITS[0]}; every split is labelled "
                              "with the training split's classes")
    return classes


def check_labels(t: "Tensors", where: str) -> "Tensors":
    """Refuse (``ConfigError``) a split whose labels lie outside the training split's classes 0..num_classes-1.

    The tensor datasets' splits share torchvision's class list; a damaged or hand-made file can still hold
    a label the net has no output for, which would otherwise fail only at the first evaluation.
    """
    for split_name in ("train", "val", "test"):
        labels = getattr(t, f"{split_name}_y")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= t.num_classes):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ConfigError(f"bad labels in {where}: the {split_name} split has label {bad}, outside the "
                              f"training split's {t.num_classes} classes (0..{t.num_classes - 1})")
    return t


def _ensure_fashion_mnist(data_dir: Path, fetch: bool) -> None:
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
    _download("FashionMNIST", data_dir, fetch, how=(
        f"install Debian's package (apt-get install dataset-fashion-mnist, which puts it under "
        f"{DEBIAN_FASHION_MNIST}) or copy the four IDX files, decompressed, into {raw}"))


def _has_debian_copy() -> bool:
    return all((DEBIAN_FASHION_MNIST / f"{name}.gz").is_file() for name in FASHION_FILES)


def _download(cls_name: str, data_dir: Path, fetch: bool, how: str) -> None:
    import torchvision.datasets as tvd

    reason = "downloads are off" if not fetch or os.environ.get(OFFLINE_ENV) == "1" else None
    if reason is None:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            print(f"==> downloading {cls_name} into {data_dir}", file=sys.stderr)
            getattr(tvd, cls_name)(str(data_dir), train=True, download=True)
            getattr(tvd, cls_name)(str(data_dir), train=False, download=True)
            return
        except Exception as exc:  # noqa: BLE001 - any failure to download means: tell the user how
            reason = f"the download failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        finally:
            socket.setdefaulttimeout(previous)
    raise DataUnavailable(f"{cls_name} not found under {data_dir} and {reason}: {how}")


# ----------------------------------------------------------------------------------------------------
# Loading into tensors
# ----------------------------------------------------------------------------------------------------
@dataclass
class Tensors:
    """A dataset split three ways, as uint8 images (N, C, H, W) and int64 labels, plus the pixel mean."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    classes: tuple[str, ...] = ()  # the class names, label i is classes[i] (recorded in config.yaml)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def pixel_mean(self) -> torch.Tensor:
        """Per-pixel mean of the training split, in [0, 1] units (paper section 4.2)."""
        return self.train_x.float().mean(0).div_(255)


def load_tensors(config: RunConfig, data_dir: Path) -> Tensors:
    """Load a profile's dataset through torchvision's dataset classes, split and subset as configured."""
    import torch
    import torchvision.datasets as tvd

    data_dir = Path(data_dir)
    if config.dataset == "synthetic":
        return synthetic_tensors(config)
    if config.dataset == "fashion-mnist":
        train = tvd.FashionMNIST(str(data_dir), train=True, download=False)
        test = tvd.FashionMNIST(str(data_dir), train=False, download=False)
        full_x, full_y = train.data.unsqueeze(1), train.targets
        test_x, test_y = test.data.unsqueeze(1), test.targets
        num_classes = len(train.classes)
    elif config.dataset == "cifar10":
        train = tvd.CIFAR10(str(data_dir), train=True, download=False)
        test = tvd.CIFAR10(str(data_dir), train=False, download=False)
        full_x, full_y = torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(train.targets)
        test_x, test_y = torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(test.targets)
        num_classes = len(train.classes)
    else:
        raise ValueError(f"{config.dataset} is not a tensor dataset")
    if config.image_size:
        full_x, test_x = resize(full_x, config.image_size), resize(test_x, config.image_size)
    t = split(config.dataset, full_x, full_y.long(), test_x, test_y.long(), num_classes, config)
    t.classes = tuple(train.classes)
    return check_labels(t, str(data_dir))


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> (N, C, size, size): smaller by area averaging (rounded back to uint8),
    larger by zero padding around the centre (Fashion-MNIST on 32x32, as CIFAR; its background is 0).

    Area averaging is an exact mean of 2x2 blocks for 28 -> 14 (no aliasing, no interpolation kernel to
    choose). Done once at load time, in chunks to bound memory (60k float images at once would be 190 MB).
    Raises ConfigError for a non-square change (one side larger, the other smaller).
    """
    import torch
    import torch.nn.functional as F

    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if size >= h and size >= w:
        top, left = (size - h) // 2, (size - w) // 2
        return F.pad(images, (left, size - w - left, top, size - h - top))
    if size > h or size > w:
        raise ConfigError(f"bad image_size {size}: the images are {h}x{w}; valid: at most {min(h, w)} or at least "
                          f"{max(h, w)}")
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(images), 10000):
        chunk = images[start : start + 10000].float()
        out[start : start + 10000] = F.interpolate(chunk, size=(size, size), mode="area").round_().clamp_(0, 255)
    return out


def split(name, full_x, full_y, test_x, test_y, num_classes, config: RunConfig) -> Tensors:
    """Hold ``val_size`` images out of training with the fixed ``split_seed``; apply ``eval_limit``."""
    import torch

    if config.val_size >= len(full_x):
        raise ConfigError(f"bad val_size {config.val_size}: the {name} training set has only {len(full_x)} images")
    g = torch.Generator().manual_seed(config.split_seed)
    order = torch.randperm(len(full_x), generator=g)
    val_idx, train_idx = order[: config.val_size].sort().values, order[config.val_size :].sort().values
    val_x, val_y = full_x[val_idx], full_y[val_idx]
    if config.eval_limit:
        val_x, val_y = val_x[: config.eval_limit], val_y[: config.eval_limit]
        keep = torch.randperm(len(test_x), generator=g)[: config.eval_limit].sort().values
        test_x, test_y = test_x[keep], test_y[keep]
    return Tensors(name, full_x[train_idx], full_y[train_idx], val_x, val_y, test_x, test_y, num_classes)


def synthetic_tensors(config: RunConfig, num_classes: int = 10, channels: int = 3) -> Tensors:
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
    cfg = RunConfig(**{**config.to_dict(), "val_size": config.synthetic_eval})
    t = split("synthetic", train_x, train_y, test_x, test_y, num_classes, cfg)
    t.classes = tuple(f"pattern{i}" for i in range(num_classes))
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="find or fetch a profile's dataset")
    prep.add_argument("--profile", default="quick")
    prep.add_argument("--data-dir", default="data")
    prep.add_argument("--set", default="", help="space-separated key=value overrides, as make's SET "
                      "(SET=dataset=fashion-mnist makes the paper profile's data Fashion-MNIST)")
    args = parser.parse_args(argv)
    try:
        config = load_profile(args.profile, args.set.split() if args.set else None)
        ensure_available(config.dataset, Path(args.data_dir), fetch=True)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
