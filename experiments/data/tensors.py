"""A dataset as uint8 tensors: the three splits, resizing, the validation split, the label check.

Shared by every tensor dataset (experiments/data/<name>.py); torch is imported inside the functions, so that
the data layer loads without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import check_split, reading

if TYPE_CHECKING:
    import torch

    from ..config import RunConfig


@dataclass
class Tensors:
    """A dataset split three ways, as uint8 images (N, C, H, W) and int64 labels, plus the input statistics."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    classes: tuple[str, ...] = ()  # the class names, label i is classes[i] (recorded in config.yaml)
    _data_record: dict | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def pixel_mean(self) -> torch.Tensor:
        """Per-pixel mean of the training split, (C, H, W) in [0, 1] units (paper section 4.2)."""
        return self.train_x.float().mean(0).div_(255)

    def channel_std(self) -> torch.Tensor:
        """Standard deviation of the mean-subtracted training images, one per channel, (C, 1, 1) in [0, 1] units.

        The inputs are divided by it, so that every net sees unit variance: the paper subtracts only the
        per-pixel mean (section 4.2), which its BN nets do not mind (BN divides by the batch's own std, up to
        its eps), but the BN-free methods' inits assume unit-variance inputs (Fixup's and SkipInit's official
        code normalise them; Fashion-MNIST's mean-subtracted pixels have std 0.27).
        """
        x = self.train_x.float().div_(255).sub_(self.pixel_mean())
        return x.transpose(0, 1).reshape(x.shape[1], -1).std(dim=1).clamp_min_(1e-6)[:, None, None]

    def data_record(self) -> dict:
        """What the run trains and evaluates on, for config.yaml and the checkpoint: each split's number of images
        and the sha256 of its uint8 images (as resized) and labels. A run resumes only onto the same record."""
        import hashlib

        if self._data_record is None:  # the pool's runs share one Tensors: digested once
            record = {}
            for split_name in ("train", "val", "test"):
                x, y = getattr(self, f"{split_name}_x"), getattr(self, f"{split_name}_y")
                digest = hashlib.sha256(x.contiguous().numpy().tobytes())
                digest.update(y.numpy().astype("<i8").tobytes())
                record[split_name] = {"images": len(x), "sha256": digest.hexdigest()}
            self._data_record = record
        return self._data_record

    def input_record(self) -> dict:
        """What the inputs were normalised with, for config.yaml: the per-pixel mean's range and the per-channel std."""
        mean, std = self.pixel_mean(), self.channel_std()
        return {"mean": "per-pixel, training split", "mean_range": [round(float(mean.min()), 6),
                round(float(mean.max()), 6)], "std": [round(float(v), 6) for v in std.flatten()]}


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

    check_split(name, len(full_x), config.val_size)
    g = torch.Generator().manual_seed(config.split_seed)
    order = torch.randperm(len(full_x), generator=g)
    val_idx, train_idx = order[: config.val_size].sort().values, order[config.val_size :].sort().values
    val_x, val_y = full_x[val_idx], full_y[val_idx]
    if config.eval_limit:
        val_x, val_y = val_x[: config.eval_limit], val_y[: config.eval_limit]
        keep = torch.randperm(len(test_x), generator=g)[: config.eval_limit].sort().values
        test_x, test_y = test_x[keep], test_y[keep]
    return Tensors(name, full_x[train_idx], full_y[train_idx], val_x, val_y, test_x, test_y, num_classes)


def from_torchvision(config: "RunConfig", name: str, train, test, images, where: str) -> Tensors:
    """A torchvision dataset's ``train``/``test`` objects as :class:`Tensors`: ``images(ds)`` gives uint8 images
    (N, C, H, W), resized to ``config.image_size``, split and checked (labels in range, ``where`` names the
    folder in the error)."""
    import torch

    with reading():  # what the files hold; resizing and splitting them is the settings' work
        full_x, test_x = images(train), images(test)
        full_y, test_y = torch.as_tensor(train.targets).long(), torch.as_tensor(test.targets).long()
        for split_name, x, y in (("training", full_x, full_y), ("test", test_x, test_y)):
            if len(x) != len(y):  # files of another image size read as this one's: images and labels would pair wrongly
                raise ValueError(f"{name} in {where}: its {split_name} files hold {len(x)} images and {len(y)} "
                                 "labels; they are not the dataset's files (another image size?)")
    if config.image_size:
        full_x, test_x = resize(full_x, config.image_size), resize(test_x, config.image_size)
    t = split(name, full_x, full_y, test_x, test_y, len(train.classes), config)
    t.classes = tuple(train.classes)
    return check_labels(t, where)
