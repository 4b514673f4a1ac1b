"""The data layer: one small definition per dataset, found or fetched on every ``make``, loaded by a run.

``python -m experiments.data prepare`` (experiments/data/__main__.py) finds or fetches a profile's data.

A dataset is one module here defining ``DATASET`` (:class:`~experiments.data.base.Dataset`: its name, how its
files are found or fetched, how it loads) and one line in :data:`DATASETS`; nothing else in the suite names
datasets. Tensor datasets are held as uint8 tensors on the training device
(:class:`~experiments.data.tensors.Tensors`; the batches drawn from them are experiments.training.batches');
a folder dataset (ImageNet) is read by DataLoader workers.

Import rule (tests/test_layers.py): importing this package loads no torch; the functions that make tensors
import it (``prepare`` runs on every make and needs none).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from . import cifar10, fashion_mnist, imagenet, synthetic
from .base import OFFLINE_ENV, DataUnavailable, Dataset, UnreadableFiles, check_split
from .imagenet import folder_classes
from .synthetic import synthetic_tensors
from .tensors import Tensors, check_labels, resize, split

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    fashion_mnist.DATASET, cifar10.DATASET, imagenet.DATASET, synthetic.DATASET)}

__all__ = ["DATASETS", "OFFLINE_ENV", "DataUnavailable", "Dataset", "Tensors", "check_folder_sizes", "check_labels",
           "dataset", "ensure_available", "folder_classes", "load_tensors", "preload", "resize", "split",
           "synthetic_tensors"]


def dataset(name: str) -> Dataset:
    """The definition of dataset ``name``; ConfigError naming the valid choices."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def check_data_dir(data_dir: str | Path, required: bool) -> None:
    """ConfigError, one line, where ``data_dir`` (DATA_DIR) is a file, or, when ``required`` (a DATA_DIR the
    user gave must exist; the default one is made on demand), missing."""
    path = Path(data_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"DATA_DIR {str(data_dir)!r} is a file, not a folder; point DATA_DIR at your datasets' "
                          "folder")
    if required and not path.exists():
        raise ConfigError(f"DATA_DIR {str(data_dir)!r} does not exist; create it or point DATA_DIR at your datasets")


def ensure_available(name: str, data_dir: Path, fetch: bool = True) -> None:
    """Make sure the dataset's files are under ``data_dir``, fetching them if allowed; else raise
    :class:`DataUnavailable` saying how to get them (ConfigError where ``data_dir`` is a file)."""
    check_data_dir(data_dir, required=False)
    dataset(name).ensure(Path(data_dir), fetch)


# The settings a tensor dataset's loading reads: two configs that agree on them load the same tensors.
LOAD_FIELDS = ("dataset", "image_size", "val_size", "split_seed", "eval_limit", "synthetic_train", "synthetic_eval")
_PRELOADED: dict[tuple, Tensors] = {}  # filled by preload() only (experiments.pool, before it forks its runs)


def tensor_datasets() -> str:
    """The datasets loaded as tensors (what layer responses and the split settings need), for messages:
    ``"fashion-mnist, cifar10, synthetic"``."""
    return ", ".join(name for name, d in DATASETS.items() if d.tensors)


def check_sizes(config) -> None:
    """ConfigError for a ``val_size`` or ``batch_size`` no run of ``config`` can train with, from the dataset's
    published size (:attr:`Dataset.train_split`; synthetic: ``synthetic_train``), before anything is read or
    written; a dataset of unknown size is checked when it loads (:func:`preload`, each run). For a folder
    dataset (imagenet), ConfigError for an ``eval_limit`` or ``val_size`` that would be recorded but do nothing."""
    d = dataset(config.dataset)
    if not d.tensors:  # a folder dataset evaluates its whole val folder: the tensor datasets' split settings do nothing
        import dataclasses

        defaults = {f.name: f.default for f in dataclasses.fields(config)}  # RunConfig's (no import: a circle)
        for field, unused in (("eval_limit", 0), ("val_size", defaults["val_size"])):
            if getattr(config, field) != unused:
                raise ConfigError(f"bad {field} {getattr(config, field)}: {d.name} evaluates every image of its val "
                                  f"folder, so {field} would do nothing; it applies to the tensor datasets "
                                  f"({tensor_datasets()}): leave it out of SET")
    if d.name == "synthetic":  # its validation images are made apart from its training ones
        check_split(d.name, config.synthetic_train, batch_size=config.batch_size)
    elif d.train_split is not None:
        check_split(d.name, d.train_split, config.val_size, config.batch_size)


def check_folder_sizes(config, data_dir: Path) -> None:
    """ConfigError, one line, for a ``batch_size`` larger than a folder dataset's training images (a tensor
    dataset's is :func:`check_sizes`'s, from its published size): every run would fail on it after writing its
    folder. The images are counted up to ``batch_size`` only (cheap on ImageNet). For make's data step and each
    run's input check, after :func:`ensure_available`; nothing for a tensor dataset."""
    if dataset(config.dataset).tensors:
        return
    found = imagenet.count_training_images(Path(data_dir), at_most=config.batch_size)
    if found < config.batch_size:
        raise ConfigError(f"bad batch_size {config.batch_size}: larger than the training set ({found} images in "
                          f"{Path(data_dir) / imagenet.FOLDER_SPLITS[0]}); valid: at most {found}")


def _load_key(config, data_dir: Path) -> tuple:
    return (str(Path(data_dir).resolve()), *(getattr(config, f) for f in LOAD_FIELDS))


def load_tensors(config, data_dir: Path) -> Tensors:
    """Load a profile's tensor dataset, split and subset as configured (the tensors :func:`preload` put in
    this process, where it did); ValueError for a folder dataset."""
    d = dataset(config.dataset)
    if d.load is None:
        raise ValueError(f"{config.dataset} is not a tensor dataset")
    if (done := _PRELOADED.get(_load_key(config, data_dir))) is not None:
        return done
    return _read(d, config, Path(data_dir))


def _read(d, config, data_dir: Path) -> Tensors:
    """``d.load``, with a dataset whose files are there but cannot be read (a truncated download, a missing
    batch file, a pickle or idx file of another shape: an error inside its :func:`~experiments.data.base.reading`)
    refused in one line, ConfigError naming the folder: the libraries' own errors (torchvision's "Dataset not
    found or corrupted. You can use download=True", a reshape's RuntimeError) say neither which files nor what
    to do. Any other error (the settings', the machine's: out of memory) is raised as it is: the files are not
    to blame, and deleting them would not help."""
    try:
        return d.load(config, data_dir)
    except UnreadableFiles as unreadable:
        exc = unreadable.__cause__ or unreadable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        what = f"{d.name} in {data_dir} cannot be read ({type(exc).__name__}: {first})"
        if isinstance(exc, PermissionError):  # the files may well be whole: they are not this user's to read
            raise ConfigError(f"{what}: give this user read access to its files") from None
        raise ConfigError(f"{what}: its files are damaged or incomplete; delete them and run again to fetch them "
                          "afresh") from None


def preload(config, data_dir: Path) -> None:
    """Load ``config``'s tensor dataset once in this process, for the processes it forks (experiments.pool):
    a run forked after it gets the very tensors it would load itself (same files, same :data:`LOAD_FIELDS`),
    without the 2 to 6 s of reading and resizing them. Nothing for a folder dataset. ConfigError where the
    profile's data settings cannot make a dataset (val_size beyond the training set, a batch larger than it):
    the same for every run of the matrix."""
    if dataset(config.dataset).load is not None:
        tensors = _read(dataset(config.dataset), config, Path(data_dir))
        check_split(config.dataset, len(tensors.train_y), batch_size=config.batch_size)  # as each run's BatchOrder
        _PRELOADED[_load_key(config, data_dir)] = tensors
