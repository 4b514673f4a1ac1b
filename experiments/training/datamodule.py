"""LightningDataModules: tensor datasets batched on the device, and an ImageNet folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytorch_lightning as pl
import torch
from torchvision.datasets import ImageFolder

from ..config import RunConfig
from ..data import Tensors, dataset, folder_classes, load_tensors
from .batches import BatchOrder, EvalBatches, TrainBatches, sample_seed


class TensorDataModule(pl.LightningDataModule):
    """Fashion-MNIST, CIFAR-10 or synthetic data, held once as uint8 tensors on the training device.

    ``val_dataloader`` returns two loaders: the validation split (index 0) and the test set (index 1),
    both evaluated at every evaluation point, so that test error can be plotted against iterations as in
    the paper's figures.
    """

    def __init__(self, config: RunConfig, data_dir: Path | str, seed: int, tensors: Tensors | None = None) -> None:
        super().__init__()
        self.config, self.data_dir, self.seed = config, Path(data_dir), seed
        self.tensors = tensors
        self._on_device: dict[str, torch.Tensor] | None = None

    def prepare(self) -> Tensors:
        if self.tensors is None:
            self.tensors = load_tensors(self.config, self.data_dir)
        return self.tensors

    def setup(self, stage: str) -> None:
        self.prepare()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.prepare().classes

    def input_record(self) -> dict:
        """How the inputs are normalised, for config.yaml (:meth:`experiments.data.Tensors.input_record`)."""
        return self.prepare().input_record()

    def data_record(self) -> dict:
        """Each split's images and their digest (:meth:`experiments.data.Tensors.data_record`)."""
        return self.prepare().data_record()

    def _device_tensors(self) -> dict[str, torch.Tensor]:
        if self._on_device is None:
            t, device = self.prepare(), self.trainer.strategy.root_device
            self._on_device = {
                k: getattr(t, k).to(device, non_blocking=True)
                for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
            }
            self._on_device["mean"] = t.pixel_mean().to(device)
            self._on_device["std"] = t.channel_std().to(device)
        return self._on_device

    def train_dataloader(self):
        d, c = self._device_tensors(), self.config
        return TrainBatches(d["train_x"], d["train_y"], d["mean"], d["std"], c.batch_size, self.seed, c.augment,
                            self._channels_last(), start_step=lambda: self.trainer.global_step)

    def val_dataloader(self):
        d, c = self._device_tensors(), self.config
        return [EvalBatches(d[f"{s}_x"], d[f"{s}_y"], d["mean"], d["std"], c.eval_batch_size, self._channels_last())
                for s in ("val", "test")]

    def _channels_last(self) -> bool:
        return self.config.channels_last


# torchvision's ImageNet statistics (per channel, [0, 1] units): unit-variance inputs, as the tensor datasets'.
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class FolderDataModule(pl.LightningDataModule):
    """An ImageNet folder (``train/`` and ``val/``, torchvision ImageFolder layout) read by DataLoaders.

    ImageNet does not fit on a device, so this one path uses worker processes and per-sample transforms.
    Every split is labelled with ``train/``'s classes (:func:`experiments.data.folder_classes`). ``val/`` is
    evaluated once per evaluation point and reported as ``val`` (ImageNet's test labels are not public; the
    paper's Tables 2-4 report the validation set too).

    Exact resume, as the tensor path: the batch of iteration ``s`` is a function of (seed, s). The examples
    come from :class:`~experiments.training.batches.BatchOrder` through :class:`SeededBatchSampler`, which starts at the
    restored ``global_step``; each example's random transforms (RandomResizedCrop, flip: torchvision draws
    them from torch's global generator) are seeded by (seed, s, index) inside ``__getitem__``, so they do
    not depend on which worker loads it, nor on what it loaded before.
    """

    num_classes: int
    in_channels = 3

    def __init__(self, config: RunConfig, data_dir: Path | str, seed: int) -> None:
        super().__init__()
        self.config, self.data_dir, self.seed = config, Path(data_dir), seed

    def input_record(self) -> dict:
        """How the inputs are normalised, for config.yaml: torchvision's ImageNet mean and std per channel."""
        return {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}

    def data_record(self) -> dict:
        """What the run reads, for config.yaml and the checkpoint: each split's number of images and the sha256
        of its list of (path relative to the split's folder, label). The batch of iteration ``s`` indexes that
        list, so a file added, removed or renamed between a checkpoint and its resume would change every later
        batch: a run resumes only onto the same record. The files' contents are not read (a replaced image
        under the same name keeps the record)."""
        import hashlib

        record = {}
        for split_name, samples in (("train", self.train_set.samples), ("val", self.val_set.samples)):
            root = os.path.join(str(self.data_dir / split_name), "")  # ImageFolder's paths start with it
            listing = "\n".join(f"{path[len(root):] if path.startswith(root) else path}\t{label}"
                                 for path, label in samples)  # str slicing: ImageNet's 1.28M paths in under 1 s
            # The names' own bytes: a file name that is not UTF-8 (caf\xe9.png, as os.listdir gives it: 'caf\udce9')
            # hashes as the bytes on disk (os.fsencode's), where plain encode() refused it; a UTF-8 name's bytes
            # are what they always were, so a run's recorded digest stays the same.
            listing_bytes = listing.encode("utf-8", "surrogateescape")
            record[split_name] = {"images": len(samples), "sha256": hashlib.sha256(listing_bytes).hexdigest()}
        return record

    def setup(self, stage: str) -> None:
        import torchvision.transforms as T

        if getattr(self, "classes", None) is not None:  # set up before the fit (experiments.run): once is enough
            return
        self.classes = folder_classes(self.data_dir)
        normalize = T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)
        train_tf = [T.RandomResizedCrop(224), T.RandomHorizontalFlip()] if self.config.augment else [T.Resize(256), T.CenterCrop(224)]
        self.train_set = LabelledFolder(self.data_dir / "train", self.classes,
                                         T.Compose([*train_tf, T.ToTensor(), normalize]))
        # allow_empty: val/ may lack some of train/'s classes; it is labelled with train/'s list all the same.
        self.val_set = LabelledFolder(self.data_dir / "val", self.classes,
                                       T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), normalize]),
                                       allow_empty=True)
        self.num_classes = len(self.classes)

    def _loader_options(self) -> dict:
        workers = self.config.workers
        on_gpu = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return {"num_workers": workers, "pin_memory": on_gpu, "persistent_workers": workers > 0}

    def train_dataloader(self):
        sampler = SeededBatchSampler(len(self.train_set), self.config.batch_size, self.seed,
                                     start_step=lambda: self.trainer.global_step)
        return torch.utils.data.DataLoader(_SeededSamples(self.train_set, self.seed), batch_sampler=sampler,
                                           **self._loader_options())

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_set, batch_size=self.config.eval_batch_size, shuffle=False,
                                           **self._loader_options())


DataModule = TensorDataModule | FolderDataModule


def prepared_data(config: RunConfig, data_dir: Path | str, seed: int) -> DataModule:
    """The run's data module, loaded (tensors) or indexed (folder) and checked: ``ConfigError`` for a split
    whose labels are not the training split's classes (experiments.data.check_labels, folder_classes).

    experiments.run calls it before it writes anything under runs/, and records ``classes`` in config.yaml.
    """
    if not dataset(config.dataset).tensors:
        data = FolderDataModule(config, data_dir, seed)
        data.setup("fit")
        return data
    data = TensorDataModule(config, data_dir, seed)
    data.prepare()
    return data


def data_shape(data: DataModule) -> tuple[int, int, tuple[int, int, int]]:
    """(num_classes, in_channels, (C, H, W) of one image) a net for this data module takes."""
    if isinstance(data, FolderDataModule):
        return data.num_classes, 3, (3, 224, 224)
    tensors = data.prepare()
    return tensors.num_classes, tensors.in_channels, tensors.image_shape


class SeededBatchSampler(torch.utils.data.Sampler):
    """Endless batches of ``(step, index)`` keys: iteration ``step``'s examples by :class:`BatchOrder`,
    from ``start_step()`` on (Lightning's restored ``global_step`` when a run resumes)."""

    def __init__(self, n: int, batch_size: int, seed: int, start_step: Callable[[], int] = lambda: 0) -> None:
        self.order, self.start_step = BatchOrder(n, batch_size, seed), start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = int(self.start_step())
        while True:
            yield [(step, int(i)) for i in self.order(step)]
            step += 1


class _SeededSamples(torch.utils.data.Dataset):
    """A dataset indexed by ``(step, index)``: example ``index`` with its random transforms seeded by
    (seed, step, index), the global generator restored afterwards (workers=0 shares it with training)."""

    def __init__(self, dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        step, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, step, index))
            return self.dataset[index]


class LabelledFolder(ImageFolder):
    """torchvision's ImageFolder over ``root``, labelled with ``classes`` (not with ``root``'s own subfolders)."""

    def __init__(self, root: Path, classes: list[str], transform, allow_empty: bool = False) -> None:
        self._classes = list(classes)
        super().__init__(str(root), transform, allow_empty=allow_empty)

    def find_classes(self, directory):
        return list(self._classes), {c: i for i, c in enumerate(self._classes)}
