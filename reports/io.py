"""Report files, written through the one atomic writer (:mod:`runfolder.io`): a file appears under its
final name whole or not at all, and a failed writer leaves the old file as it was and no temporary file.

Only the adapters for what a report writes (text, a pandas table, a matplotlib figure, a multi-page PDF)
live here; :func:`runfolder.io.atomic_open` imports no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from runfolder.io import atomic_open, atomic_write_text


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_text(path, text)
    return Path(path)


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame to ``path`` atomically (no index column, ``\\n`` line ends)."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/fig-<name>.png`` (150 dpi) and ``.pdf`` atomically; return both paths.

    The PDF keeps TrueType fonts (Type 42) when called inside :func:`reports.build.report_style`. The figure's
    layout (constrained) is solved once, at the PNG, and kept from then on (the PDF, report.pdf's page):
    matplotlib would solve it again at every save, a quarter of the time a report spends on its figures.
    """
    paths = []
    for ext, kwargs in (("png", {"dpi": 150}), ("pdf", {})):
        final = Path(out_dir) / f"fig-{name}.{ext}"
        with atomic_open(final) as f:
            fig.savefig(f, format=ext, **kwargs)
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # the positions the PNG's layout gave every artist stay
        paths.append(final)
    return paths


def save_pdf(path: str | os.PathLike, pages: Iterable, metadata: dict[str, str]) -> Path:
    """Write matplotlib figures ``pages``, one per page, as the PDF ``path``, atomically."""
    from matplotlib.backends.backend_pdf import PdfPages

    with atomic_open(path) as f, PdfPages(f, metadata=metadata) as pdf:
        for page in pages:
            pdf.savefig(page)
    return Path(path)
