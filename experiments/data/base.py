"""What a dataset definition is, and the torchvision download every fetchable one shares. Imports no torch."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import RunConfig
    from .tensors import Tensors

OFFLINE_ENV = "DEGRADATION_OFFLINE"  # set to 1 to never try a download (tests set it)


class DataUnavailable(ConfigError):
    """The dataset is not on disk and could not be fetched; the message says how to get it."""


class UnreadableFiles(Exception):
    """A dataset's files are there but cannot be read (its cause: the reader's own error); raised by
    :func:`reading`, said in one line by :func:`experiments.data._read`."""


@contextmanager
def reading() -> Iterator[None]:
    """Around a dataset's reading of its files (and the tensors made straight from them): any error there but a
    ConfigError or MemoryError is the files' (a truncated download, a missing batch file, a pickle or IDX file of
    another shape), raised as :class:`UnreadableFiles`. What a load does with the tensors afterwards (resizing,
    the split) is outside: its errors are the settings' or the machine's, not the files'."""
    try:
        yield
    except (ConfigError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the reader raises on bad bytes
        raise UnreadableFiles(exc) from exc


def check_split(name: str, images: int, val_size: int | None = None, batch_size: int | None = None) -> int:
    """The images left to train on when ``val_size`` of a training split of ``images`` are held out (None:
    none are, the split is the training set already); ConfigError where none are left, or fewer than
    ``batch_size`` (one check and its words, for the input check, the pool's preload, the split and the
    batch order alike)."""
    fits = batch_size is not None and batch_size <= images  # a batch fits the split before any is held out
    most = f"; valid: at most {images - batch_size}" if fits else ""
    if val_size is not None and val_size >= images:
        raise ConfigError(f"bad val_size {val_size}: the {name} training set has only {images} images{most}")
    left = images - (val_size or 0)
    if batch_size is not None and batch_size > left:
        if fits:  # the held-out images leave too few: val_size is the value to change
            raise ConfigError(f"bad val_size {val_size}: it leaves {left} of the {name} training set's {images} "
                              f"images to train on, fewer than a batch (batch_size {batch_size}){most}")
        raise ConfigError(f"bad batch_size {batch_size}: larger than the training set ({left} images)")
    return left


@dataclass(frozen=True)
class Dataset:
    """One dataset a profile can name (``dataset: <name>``): how its files are found or fetched, how it loads.

    ``ensure(data_dir, fetch)`` makes sure the files are under ``data_dir`` (fetching them when ``fetch``)
    or raises :class:`DataUnavailable` saying how to get them; it runs on every ``make`` and imports no torch.
    ``load(config, data_dir)`` returns the splits as uint8 :class:`~experiments.data.tensors.Tensors`, held
    on the training device, its reading of the files inside :func:`reading` (an error there is said to be the
    files', one outside it is not); None for a folder dataset, which DataLoader workers read image by image
    (experiments.training.datamodule). ``own_size``: why ``image_size`` cannot apply, for a dataset that sizes
    its images itself (empty: it can). ``train_split``: the published training split's size, for the input
    check (:func:`experiments.data.check_sizes`); None where it is not fixed.
    """

    name: str
    ensure: Callable[[Path, bool], None]
    load: Callable[["RunConfig", Path], "Tensors"] | None
    own_size: str = ""
    train_split: int | None = None  # images in the training split as published (val_size is held out of it)
    channels: int = 3  # the images' channels as loaded (the input check builds the nets for them)

    @property
    def tensors(self) -> bool:
        """True where the whole dataset is held as tensors (every analysis that reads test images needs it)."""
        return self.load is not None


def download(cls_name: str, data_dir: Path, fetch: bool, how: str) -> None:
    """torchvision's download of ``cls_name`` into ``data_dir``; DataUnavailable saying ``how`` to get the
    files where downloads are off or it fails. A failed download leaves nothing it wrote: its partial files
    and the folders it made (``data_dir`` itself included) are removed, what was there before is kept."""
    import torchvision.datasets as tvd

    reason = "downloads are off" if not fetch or os.environ.get(OFFLINE_ENV) == "1" else None
    if reason is None:
        before = _tree(data_dir)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            print(f"==> downloading {cls_name} into {data_dir}", file=sys.stderr)
            getattr(tvd, cls_name)(str(data_dir), train=True, download=True)
            getattr(tvd, cls_name)(str(data_dir), train=False, download=True)
            return
        except Exception as exc:  # noqa: BLE001 - any failure to download means: tell the user how
            reason = f"the download failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            for path in sorted(_tree(data_dir) - before, key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not path.is_symlink():
                    if not any(path.iterdir()):
                        path.rmdir()
                else:
                    path.unlink(missing_ok=True)
        finally:
            socket.setdefaulttimeout(previous)
    raise DataUnavailable(f"{cls_name} not found under {data_dir} and {reason}: {how}")


def _tree(folder: Path) -> set[Path]:
    """``folder`` and everything under it, as paths; empty where it does not exist."""
    return {folder, *folder.rglob("*")} if folder.exists() else set()
