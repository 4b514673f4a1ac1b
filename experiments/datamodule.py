"""LightningDataModules: tensor datasets batched on the device, and an ImageNet folder."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from .config import RunConfig
from .data import EvalBatches, Tensors, TrainBatches, load_tensors


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

    def _device_tensors(self) -> dict[str, torch.Tensor]:
        if self._on_device is None:
            t, device = self.prepare(), self.trainer.strategy.root_device
            self._on_device = {
                k: getattr(t, k).to(device, non_blocking=True)
                for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
            }
            mean = t.pixel_mean().to(device)
            self._on_device["mean"] = mean
        return self._on_device

    def train_dataloader(self):
        d, c = self._device_tensors(), self.config
        return TrainBatches(d["train_x"], d["train_y"], d["mean"], c.batch_size, self.seed, c.augment,
                            self._channels_last(), start_step=lambda: self.trainer.global_step)

    def val_dataloader(self):
        d, c = self._device_tensors(), self.config
        return [EvalBatches(d[f"{s}_x"], d[f"{s}_y"], d["mean"], c.eval_batch_size, self._channels_last())
                for s in ("val", "test")]

    def _channels_last(self) -> bool:
        return self.config.channels_last


class FolderDataModule(pl.LightningDataModule):
    """An ImageNet folder (``train/`` and ``val/``, torchvision ImageFolder layout) read by DataLoaders.

    ImageNet does not fit on a device, so this one path uses worker processes and per-sample transforms.
    ``val/`` serves as the test set too (ImageNet's test labels are not public).
    """

    num_classes: int
    in_channels = 3

    def __init__(self, config: RunConfig, data_dir: Path | str, seed: int) -> None:
        super().__init__()
        self.config, self.data_dir, self.seed = config, Path(data_dir), seed

    def setup(self, stage: str) -> None:
        import torchvision.datasets as tvd
        import torchvision.transforms as T

        normalize = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        train_tf = [T.RandomResizedCrop(224), T.RandomHorizontalFlip()] if self.config.augment else [T.Resize(256), T.CenterCrop(224)]
        self.train_set = tvd.ImageFolder(str(self.data_dir / "train"), T.Compose([*train_tf, T.ToTensor(), normalize]))
        self.val_set = tvd.ImageFolder(str(self.data_dir / "val"), T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), normalize]))
        self.num_classes = len(self.train_set.classes)

    def _loader(self, dataset, train: bool):
        g = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            dataset, batch_size=self.config.batch_size if train else self.config.eval_batch_size, shuffle=train,
            drop_last=train, num_workers=self.config.workers, pin_memory=True, generator=g,
            persistent_workers=self.config.workers > 0)

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return [self._loader(self.val_set, False), self._loader(self.val_set, False)]
