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
    no output for it), when ``train/`` has fewer than two class folders (one class is learnt at 0% error),
    a hidden one (``.ipynb_checkpoints``: torchvision would read it as a class) or one without an image
    (torchvision fails on it in every run), or when ``val/`` holds no image at all (a run would evaluate
    nothing, and a checkpoint follows an evaluation: an interrupted run could not resume). Reads each
    class folder's tree (ImageFolder's reading) only up to its first image: cheap on ImageNet's 1,000 classes.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes

    data_dir = Path(data_dir)
    train = data_dir / FOLDER_SPLITS[0]
    try:
        classes = find_classes(train)[0]
    except FileNotFoundError:
        raise ConfigError(f"bad dataset folder {train}: no class subfolders "
                          "(torchvision's ImageFolder layout: one subfolder per class)") from None
    hidden = [c for c in classes if c.startswith(".")]
    if hidden:
        raise ConfigError(f"bad dataset folder {train}: {hidden[0]!r} would be read as a class (torchvision reads "
                          "every subfolder as one); move it out of the dataset folder")
    if len(classes) < 2:
        raise ConfigError(f"bad dataset folder {train}: one class ({classes[0]!r}); a classifier needs at least two "
                          "class subfolders")

    def has_image(folder: Path) -> bool:  # as ImageFolder reads a class: its whole tree, links followed
        return any(name.lower().endswith(IMG_EXTENSIONS)
                   for _, _, files in os.walk(folder, followlinks=True) for name in files)

    empty = [c for c in classes if not has_image(train / c)]
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise ConfigError(f"bad dataset folder {train / empty[0]}{more}: no image file ({', '.join(IMG_EXTENSIONS)}) "
                          "in it; every training class needs at least one")
    for split_name in FOLDER_SPLITS[1:]:
        folder = data_dir / split_name
        present = {e.name for e in os.scandir(folder) if e.is_dir()}
        extra = sorted(present - set(classes))
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise ConfigError(f"bad dataset folder {folder}: class {extra[0]!r}{more} is not among the "
                              f"{len(classes)} classes of {train}; every split is labelled "
                              "with the training split's classes")
        if not any(has_image(folder / c) for c in sorted(present)):
            raise ConfigError(f"bad dataset folder {folder}: no image in any class subfolder; a run evaluates on it "
                              "(and checkpoints after each evaluation)")
    return classes


def count_training_images(data_dir: Path, at_most: int) -> int:
    """The images of ``train/`` as ImageFolder reads them (each class folder's tree, links followed, files with
    an image extension), counted up to ``at_most`` only: the count stops there, so that it is cheap on ImageNet's
    1.28M images (a batch of 256 is found in its first class folder)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    train, found = Path(data_dir) / FOLDER_SPLITS[0], 0
    for name in folder_classes(data_dir):
        for _, _, files in os.walk(train / name, followlinks=True):
            found += sum(f.lower().endswith(IMG_EXTENSIONS) for f in files)
            if found >= at_most:
                return found
    return found


DATASET = Dataset("imagenet", ensure, None, own_size="crops 224x224 itself")
