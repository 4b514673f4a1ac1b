"""Atomic file output: nothing appears under its final name half-written.

Every writer goes through :func:`atomic_path`: the content is written to a hidden temporary file in the
destination's own folder (so ``os.replace`` is a rename on one file system, atomic on POSIX and Windows),
then moved over the final name. On an exception the temporary file is removed and the old file, if any,
is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes files 0600; outputs are meant to be shared.
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame to ``path`` atomically (no index column)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
    return Path(path)


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/fig-<name>.png`` and ``.pdf`` atomically; return both paths.

    The PDF keeps TrueType fonts (Type 42) when called inside :func:`reports.build.report_style`.
    """
    out_dir = Path(out_dir)
    paths = []
    for ext, kwargs in (("png", {"dpi": 150}), ("pdf", {})):
        final = out_dir / f"fig-{name}.{ext}"
        with atomic_path(final) as tmp:
            fig.savefig(tmp, format=ext, **kwargs)
        paths.append(final)
    return paths
