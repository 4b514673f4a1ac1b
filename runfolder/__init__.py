"""The run folder: the one contract between training (``experiments``) and the reports (``reports``).

A run trains into ``<runs>/<experiment>/<profile>/<model>/seed<k>/``; make, a resumed run, the matrix's
status line and the reports read what it wrote. Everything both sides must agree on is defined here, once:

- :mod:`runfolder.files`: the folder's path (:class:`RunPath`, :func:`run_dir`), its file names and formats
  (``config.yaml``, ``metrics.csv``, ``result.json``, the analyses' CSV files), ``result.json``'s one check
  (:func:`check_result`, used by every reader and writer), the metrics reader with its one damage policy.
- :mod:`runfolder.tuning`: the tuning protocol (the learning-rate grid, the tuning seed, the choice), read by
  make's plan and by the reports' tuned board.
- :mod:`runfolder.io`: the one atomic writer (temp file beside the target, fsync, rename) and the run
  folder's lock.

Import rule (tested in tests/test_layers.py): this package imports no torch, Lightning or plugin, and
nothing from ``experiments`` or ``reports``; of the suite it imports only :mod:`models.names`, the
torch-free name grammar. Both sides import it; it imports neither.
"""

from .files import (CHECKPOINT, CONFIG, DONE, ERROR, GRAD_NORM_COLUMNS, GRAD_NORMS, LAYER_RESPONSE_COLUMNS,
                    LAYER_RESPONSES, LR_PREFIX, METRICS, METRICS_COLUMNS, METRICS_HEADER, RESULT, SEED_PREFIX, SPLITS,
                    STATUSES, MalformedError, Metrics, RunPath, check_result, done_status, final_and_best,
                    format_seconds, inside_runs, lr_token, metrics_text, read_config, read_metrics, read_result,
                    read_status, record_problem, run_dir, seed_and_lr, seed_folder, seed_of, write_result)

__all__ = [
    "CHECKPOINT", "CONFIG", "DONE", "ERROR", "GRAD_NORM_COLUMNS", "GRAD_NORMS", "LAYER_RESPONSE_COLUMNS",
    "LAYER_RESPONSES", "LR_PREFIX", "METRICS", "METRICS_COLUMNS", "METRICS_HEADER", "RESULT", "SEED_PREFIX", "SPLITS",
    "STATUSES", "MalformedError", "Metrics", "RunPath", "check_result", "done_status", "final_and_best",
    "format_seconds", "inside_runs", "lr_token", "metrics_text", "read_config", "read_metrics", "read_result",
    "read_status", "record_problem", "run_dir", "seed_and_lr", "seed_folder", "seed_of", "write_result",
]
