"""Training and evaluation batches, drawn and augmented on the training device.

Why on the device (our own code, not a torchvision transform pipeline): the nets are small and the
images tiny, so a per-sample PIL pipeline with worker processes (the classic CIFAR script) costs more
than the forward pass on a GPU and fights the training for the two cores of a laptop CPU. Here each batch
is one gather from a uint8 tensor that never leaves the device (:class:`experiments.data.Tensors`);
pad-crop and flip are folded into that gather.

Why every batch is a function of (seed, iteration): Lightning's checkpoint does not hold RNG states or
the position inside an epoch. Deriving the permutation from (seed, epoch) and the augmentation from
(seed, iteration) makes a resumed run see exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..data.base import check_split

CROP_PADDING = 4  # paper section 4.2: "4 pixels are padded on each side"


def _generator(device: torch.device, *key: int, reuse: torch.Generator | None = None) -> torch.Generator:
    """A generator seeded by a tuple of integers, reproducibly (Python's hash() is salted for strings).

    ``reuse``: re-seed this generator instead of making one (the same stream: seeding resets its state).
    """
    return (reuse if reuse is not None else torch.Generator(device=device)).manual_seed(_seed_of(*key))


def _seed_of(*key: int) -> int:
    seed = 0
    for k in key:
        seed = (seed * 1_000_003 + int(k) + 0x9E3779B9) % (2**63 - 1)
    return seed


_PERMUTATION, _AUGMENT = 1, 2  # separate random streams


def sample_seed(seed: int, step: int, index: int) -> int:
    """The seed of one example's augmentation at one iteration (per-sample transforms, the folder path)."""
    return _seed_of(seed, _AUGMENT, step, index)


class BatchOrder:
    """Which examples iteration ``step`` trains on, as a function of (seed, step) only.

    Epoch ``e`` is a permutation of the ``n`` examples seeded by (seed, e), cut into ``n // batch_size``
    batches (the last partial batch is dropped). Used by the tensor batches and the folder's sampler alike.
    """

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device | str = "cpu") -> None:
        check_split("training", n, batch_size=batch_size)
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, torch.device(device)
        self.steps_per_epoch = n // batch_size
        self._epoch, self._order = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            g = _generator(self.device, self.seed, _PERMUTATION, epoch)
            self._order = torch.randperm(self.n, generator=g, device=self.device)
            self._epoch = epoch
        return self._order[position * self.batch_size : (position + 1) * self.batch_size]


def pad_crop_flip(x: torch.Tensor, g: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Random crop after ``padding`` zeros on each side, and a random horizontal flip, in one gather
    (paper section 4.2): ``(N, C, H, W)`` float -> ``(N, C, H, W)``, draws from ``g``.

    Zeros are added after mean subtraction, i.e. the padding has the mean colour (as fb.resnet.torch).
    The result is laid out NHWC in memory (channels_last) whatever the input's layout.
    """
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=g, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=g, device=x.device)
    flip = torch.rand(n, 1, generator=g, device=x.device) < 0.5
    batch, ar_h, ar_w, ar_w_flipped = _grid(n, h, w, x.device)  # index grids, made once per shape
    rows = (dy + ar_h)[:, :, None]
    cols = (dx + torch.where(flip, ar_w_flipped, ar_w))[:, None, :]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


@functools.lru_cache(maxsize=8)
def _grid(n: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """pad_crop_flip's constant index tensors: a training step would otherwise launch them anew each time."""
    ar_w = torch.arange(w, device=device)
    return torch.arange(n, device=device)[:, None, None], torch.arange(h, device=device), ar_w, ar_w.flip(0)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(B, C, H, W)`` -> float ``(images / 255 - mean) / std``: ``mean`` the training split's
    per-pixel mean ``(C, H, W)`` (paper section 4.2), ``std`` its per-channel std after that ``(C, 1, 1)``
    (:meth:`experiments.data.Tensors.channel_std`), both in [0, 1] units: every net sees unit-variance inputs."""
    return images.float().div_(255).sub_(mean).div_(std)


class TrainBatches:
    """Endless training batches: batch ``s`` depends only on (seed, s), never on what ran before.

    The examples of batch ``s`` are :class:`BatchOrder`'s. Iteration starts at ``start_step()``,
    Lightning's restored ``global_step`` on resume.
    """

    def __init__(self, images, labels, mean, std, batch_size: int, seed: int, augment: bool, channels_last: bool,
                 start_step: Callable[[], int] = lambda: 0) -> None:
        self.order = BatchOrder(len(images), batch_size, seed, images.device)
        self.images, self.labels, self.mean, self.std = images, labels, mean, std
        self.batch_size, self.seed, self.augment, self.channels_last = batch_size, seed, augment, channels_last
        self.start_step = start_step
        self.steps_per_epoch = self.order.steps_per_epoch
        self._augment_g = torch.Generator(device=images.device)  # re-seeded for every batch

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step``: images ``(batch_size, C, H, W)`` float, normalised (:func:`normalise`), and labels
        ``(batch_size,)``."""
        device = self.images.device
        idx = self.order(step)
        x = normalise(self.images[idx], self.mean, self.std)
        if self.augment:
            x = pad_crop_flip(x, _generator(device, self.seed, _AUGMENT, step, reuse=self._augment_g))
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        return x, self.labels[idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        step = int(self.start_step())
        while True:
            yield self.batch(step)
            step += 1


class EvalBatches:
    """The evaluation images in order, in batches, normalised like training (no augmentation).

    ``images`` uint8 ``(N, C, H, W)``, ``labels`` ``(N,)``, ``mean`` and ``std`` broadcastable to an image
    (:func:`normalise`); yields ``(x, y)`` with ``x`` float ``(B, C, H, W)``, the last batch shorter.
    """

    def __init__(self, images, labels, mean, std, batch_size: int, channels_last: bool) -> None:
        self.images, self.labels, self.mean, self.std = images, labels, mean, std
        self.batch_size, self.channels_last = batch_size, channels_last

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for start in range(0, len(self.images), self.batch_size):
            x = normalise(self.images[start : start + self.batch_size], self.mean, self.std)
            yield x.contiguous(memory_format=fmt), self.labels[start : start + self.batch_size]
