"""ImageNet (paper section 3.4), or any folder in torchvision's ImageFolder layout: ``train/`` and ``val/``,
one subfolder per class. Read image by image by DataLoader workers (experiments.training.datamodule), never
held as tensors; 224x224 crops, so ``image_size`` does not apply.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from .base import Dataset, DataUnavailable


def ensure(data_dir: Path, fetch: bool) -> None:
    missing = [d for d in FOLDER_SPLITS if not (data_dir / d).is_dir()]
    if missing:
        raise DataUnavailable(
            f"ImageNet not found: {data_dir} has no {' or '.join(missing)}/ folder; point DATA_DIR at a folder "
            "with train/ and val/ in torchvision's ImageFolder layout (one subfolder per class)"
        )
    folder_classes(data_dir)  # a class val/ has and train/ lacks: refused before anything is written


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


DATASET = Dataset("imagenet", ensure, None, own_size="crops 224x224 itself")
