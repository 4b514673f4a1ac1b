"""Reports: run folders on disk -> tidy tables -> figures, a verdict and report.pdf.

Reads ``runs/<experiment>/<profile>/<model>/seed<k>/`` (config.yaml, metrics.csv, result.json) and never
imports Lightning or torch. Pipeline, one module per step:

* :mod:`reports.runs`     discover and read run folders -> :class:`~reports.runs.Run` (status ok /
  diverged / failed / missing / malformed) and the tidy ``runs.csv`` table;
* :mod:`reports.summary`  ``summary.csv`` / ``summary.md``: mean +- std over ok seeds, status counts;
* :mod:`reports.stats`    mean/std, Student t and Welch's interval (no scipy);
* :mod:`reports.verdict`  is degradation reproduced? do shortcuts remove it? A vs B vs C;
* :mod:`reports.figures`  the built-in figures and sections; :mod:`reports.registry` is the hook for
  more (``register_figure`` / ``register_section``);
* :mod:`reports.build`    the CLI and :func:`~reports.build.build_report`; :mod:`reports.io` atomic writes;
  :mod:`reports.pages` text pages of report.pdf; :mod:`reports.paper` the paper's numbers.
"""

from .registry import ReportContext, register_figure, register_section

__all__ = ["ReportContext", "register_figure", "register_section", "build_report"]


def build_report(*args, **kwargs):
    """See :func:`reports.build.build_report` (imported lazily: matplotlib is only needed to render)."""
    from .build import build_report as _build

    return _build(*args, **kwargs)
