"""Reports: run folders on disk -> tidy tables -> figures, a verdict and report.pdf.

Reads ``runs/<experiment>/<profile>/<model>/seed<k>/`` (config.yaml, metrics.csv, result.json) and never
imports Lightning or torch. Pipeline, one module per step:

* :mod:`reports.runs`     discover and read run folders -> :class:`~reports.runs.Run` (status ok /
  diverged / failed / missing / malformed) and the tidy ``runs.csv`` table;
* :mod:`reports.summary`  ``summary.csv`` / ``summary.md``: mean +- std over ok seeds, status counts;
* :mod:`reports.stats`    mean/std and Welch's interval (t quantiles from scipy.stats);
* :mod:`reports.verdict`  is degradation reproduced? do shortcuts remove it? A vs B vs C;
* :mod:`reports.plotdata` the tidy tables the figures draw (curves over seeds, finals per run), made once;
* :mod:`reports.figures`  the degradation and shortcut figures (Figs. 4, 6; Table 3), :mod:`reports.depth`
  the depth sweep, :mod:`reports.responses` Fig. 7's layer responses, :mod:`reports.gradients` gradient
  norms (from :mod:`reports.analysis`' per-layer tables): each an Axes function of tidy data plus the
  registered figure that calls it; :mod:`reports.registry` is the hook for more (``register_figure`` /
  ``register_section``);
* :mod:`reports.verdicts` the methods board's verdict rules, written once (every seed counted, paired and
  Welch t, Holm, equivalence by TOST, seeds to decide); :mod:`reports.leaderboard` the methods benchmark's
  table (``make methods``: depth gap, verdict, against plain and resnet), :mod:`reports.forest` forest plots of differences with their intervals and the methods'
  curves, :mod:`reports.frontpage` what report.pdf's first page shows beside its text (the leaderboard for
  ``methods``, the verdict's forest plot otherwise);
* :mod:`reports.build`    the CLI and :func:`~reports.build.build_report`; :mod:`reports.io` report files
  through the one atomic writer; :mod:`reports.pages` text pages of report.pdf; :mod:`reports.paper` the
  paper's numbers.

The run folder's formats are :mod:`runfolder`'s and model names :mod:`models.names`'; both
import no torch.
"""

from .registry import ReportContext, register_figure, register_section

__all__ = ["ReportContext", "register_figure", "register_section", "build_report"]


def build_report(*args, **kwargs):
    """See :func:`reports.build.build_report` (imported lazily: matplotlib is only needed to render)."""
    from .build import build_report as _build

    return _build(*args, **kwargs)
