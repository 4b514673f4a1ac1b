"""Files that mark progress are written atomically: a temp file in the same folder, fsync, os.replace.

A reader (make, the report, a resumed run) sees either the old file or the whole new one, never half:
the temporary file lives beside its final name (``.<name>.<random>.tmp``, so ``os.replace`` is a rename
within one file system), is flushed to disk before the rename, and the folder is synced after it, so
that not even a power cut leaves a renamed-but-empty file. A process killed mid-write leaves only the
hidden temporary file, which :func:`remove_stale_temps` clears when the run next starts.

Our own writer, because none of the pinned libraries has one that fsyncs and renames beside the target
(Lightning's and fsspec's go through the system's temp folder and copy across file systems). It imports
no torch: the run folder's contracts (:mod:`runfolder`) and the reports write through it too.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, NoReturn

import yaml

TEMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file to write; it appears under ``path`` only when the ``with`` block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from other users of a shared machine
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path | str, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_write_yaml(path: Path | str, data) -> None:
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def unwritable(folder: Path | str) -> str | None:
    """Why ``folder`` (existing or not) could not be created or written into, or None if it could: the first
    existing folder on its path is on a read-only file system, is not writable by this user, or is a file.
    Creates nothing: for the checks made before anything is written."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        return f"{existing} is on a read-only file system"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user"
    return None


def full_disk(path: Path | str, need: int = 1 << 20) -> str:
    """``"; the disk holding <folder> is full (<n> KiB free)"`` where the first existing folder on ``path``'s
    way has less than ``need`` bytes free, else "": a write error's hint (torch and PIL report a full disk
    cryptically)."""
    path = Path(path)
    folder = next((p for p in (path, *path.parents) if p.exists()), None)
    try:
        free = shutil.disk_usage(folder).free if folder is not None else None
    except OSError:
        return ""
    return f"; the disk holding {folder} is full ({free // 1024} KiB free)" if free is not None and free < need else ""


def remove_stale_temps(folder: Path | str, older_than: float | None = None) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``: every one (call it holding the folder's
    lock), or, where no lock guards the folder (a report's), those last written more than ``older_than``
    seconds ago, which no live writer still holds."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    stale = [p for p in folder.glob(f".*{TEMP_SUFFIX}")
             if p.is_file() and (older_than is None or now - p.stat().st_mtime > older_than)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


@contextmanager
def exclusive_lock(path: Path | str, on_wait=None):
    """Hold an exclusive ``flock`` on ``path`` (created if needed); released when the process dies too.

    ``on_wait`` is called once if another process holds the lock, before blocking on it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_main(main: Callable[[], int], sigterm: bool = False) -> NoReturn:
    """``sys.exit(main())`` for a command's ``__main__``: Ctrl-C where the command does not handle it (its
    imports, say) is one line rather than a traceback, and the process then ends by SIGINT itself, so that the
    shell running make's recipe stops too (it takes a child that exits 130 for one that handled Ctrl-C).
    ``sigterm``: SIGTERM (make's or SLURM's stop) is one line and exit 143 by way of SystemExit, so that what
    the command was writing is cleaned up as on Ctrl-C (:func:`atomic_open` removes its temporary file)."""
    if sigterm:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        end_by_sigint()
    sys.exit(code)


def _exit_on_sigterm(signum, frame) -> NoReturn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut short the cleanup this one starts
    print("stopped (SIGTERM)", file=sys.stderr, flush=True)
    sys.exit(128 + signal.SIGTERM)


def end_by_sigint() -> NoReturn:
    """End this process by SIGINT itself, not an exit status: the shell running make's recipe then stops too
    (it takes a child that exits 130 for one that handled Ctrl-C and goes on with the next command)."""
    sys.stdout.flush()  # ending by the signal skips the interpreter's own flush
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    sys.exit(130)  # not reached: SIGINT's default action ends the process
