"""Train one run of the matrix into its folder: ``runs/<experiment>/<profile>/<model>/seed<k>/``.

    python -m experiments.run --run-dir runs/degradation/quick/plain-56/seed0 [--data-dir data]

The folder receives ``config.yaml`` (everything needed to rerun it, with provenance), ``metrics.csv``
(Lightning's CSVLogger), ``checkpoints/last.ckpt`` (after every evaluation) and, last and atomically,
``result.json``. A folder with a checkpoint and no result resumes from the checkpoint; one with a result
of status ok or diverged is done; a failed one, or one whose result.json is damaged, is trained again.

Reliability (issue 6):
- Kill it at any moment and run it again: it resumes from its last checkpoint and ends with exactly the
  metrics, result and weights of an uninterrupted run (batches are a function of (seed, iteration);
  checkpoints are taken right after an evaluation, where the logged training averages were just reset).
- Every file that marks progress is replaced atomically (:mod:`experiments.io`); the checkpoint too,
  through the ``AtomicCheckpointIO`` plugin (Lightning's own write goes through a temporary file in the
  system's temp folder and ``shutil.move``, which copies in place when that is another file system).
- A run that raises records status failed and its traceback (``error.txt``); one whose loss turns NaN
  is a result, status diverged. Ctrl-C and SIGTERM leave the run resumable (exit 130 / 143).
- One process at a time trains a run folder (``flock`` on ``.lock``); another waits, then finds it done.

Fault injection, for the tests only and off unless set: ``DEGRADATION_FAULT=<kind>@<iteration>``, kind
one of ``raise`` (an exception after that iteration), ``nan`` (NaN weights from that iteration on),
``kill`` (SIGKILL after that iteration), ``kill-in-checkpoint`` (SIGKILL halfway through writing that
iteration's checkpoint), ``kill-before-result`` (SIGKILL after training, before result.json; no
iteration).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .config import ConfigError, RunConfig, load_matrices, load_profile

DONE = ("ok", "diverged")
EXIT_BAD_INPUT, EXIT_FAILED = 2, 1
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
FAULT_ENV = "DEGRADATION_FAULT"
FAULTS = ("raise", "nan", "kill", "kill-in-checkpoint", "kill-before-result")


class RunSpec:
    """What a run folder's path says: experiment, profile, model and seed, each checked."""

    def __init__(self, run_dir: Path) -> None:
        from models import parse_name

        self.dir = run_dir
        parts = run_dir.parts
        if len(parts) < 4 or not re.fullmatch(r"seed\d+", parts[-1]):
            raise ConfigError(
                f"bad run folder {str(run_dir)!r}: expected <runs>/<experiment>/<profile>/<model>/seed<k>, "
                "k an integer >= 0"
            )
        self.experiment, self.profile, self.model = parts[-4], parts[-3], parts[-2]
        self.seed = int(parts[-1][4:])
        experiments = load_matrices()
        if self.experiment not in experiments:
            raise ConfigError(f"unknown experiment {self.experiment!r}; valid: {', '.join(experiments)}")
        parse_name(self.model)  # ValueError naming the valid choices

    def __str__(self) -> str:
        return f"{self.model} seed {self.seed}"


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _threads(config: RunConfig) -> int:
    """CPU threads for this run: the config's, or the cores shared among make's parallel jobs."""
    if config.threads:
        return config.threads
    jobs = 1
    match = re.search(r"(?:^|\s)-j\s*(\d+)", os.environ.get("MAKEFLAGS", ""))
    if match:
        jobs = int(match.group(1))
    return max(1, (os.cpu_count() or 1) // jobs)


def provenance() -> dict:
    import pytorch_lightning
    import torch
    import torchvision

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "hostname": platform.node(),
        "versions": {
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
            "pytorch_lightning": str(pytorch_lightning.__version__),
            "cuda": torch.version.cuda,
        },
    }


def device_description(accelerator: str, threads: int) -> str:
    import torch

    if accelerator == "gpu":
        return torch.cuda.get_device_name(0)
    return f"cpu ({threads} threads, {platform.processor() or platform.machine()})"


def summarise(metrics_path: Path) -> tuple[dict, dict]:
    """Final and best error per split, from ``metrics.csv``."""
    from .csvlog import read_rows

    rows = read_rows(metrics_path)
    final, best = {}, {}
    for split in ("train", "val", "test"):
        values = [r[f"{split}_error"] for r in rows if r.get(f"{split}_error") is not None]
        final[split] = values[-1] if values else None
        finite = [v for v in values if v == v]
        best[split] = min(finite) if finite else None
    return final, best


def _quiet_lightning() -> None:
    """Lightning's banners ("GPU available", tips) bury the matrix's progress lines; keep its warnings."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


# ----------------------------------------------------------------------------------------------------
# Fault injection (tests only; see the module docstring)
# ----------------------------------------------------------------------------------------------------
def parse_fault(text: str | None) -> tuple[str, int] | None:
    """``DEGRADATION_FAULT``'s value as (kind, iteration), None when unset; ConfigError when malformed."""
    if not text:
        return None
    kind, _, at = text.partition("@")
    if kind == "kill-before-result" and not at:
        return kind, 0
    if kind not in FAULTS or not at.isdigit() or int(at) < 1:
        raise ConfigError(f"bad {FAULT_ENV} {text!r}: expected <kind>@<iteration>, kind one of {', '.join(FAULTS)}")
    return kind, int(at)


def _die() -> None:
    """Kill this process as ``kill -9`` would: no handler, no cleanup, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


def _fault_callback(kind: str, at: int):
    import pytorch_lightning as pl
    import torch

    class FaultInjection(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if kind == "nan" and trainer.global_step + 1 == at:  # iteration `at` is about to run
                with torch.no_grad():
                    next(pl_module.parameters()).fill_(float("nan"))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step != at:
                return
            if kind == "raise":
                raise RuntimeError(f"injected fault ({FAULT_ENV}=raise@{at})")
            if kind == "kill":
                _die()

    return FaultInjection()


# ----------------------------------------------------------------------------------------------------
# Lightning pieces: an atomic checkpoint writer and a clock that survives resumes
# ----------------------------------------------------------------------------------------------------
def _atomic_checkpoint_io(fault: tuple[str, int] | None):
    """A ``TorchCheckpointIO`` that writes ``last.ckpt`` as :mod:`experiments.io` writes everything else.

    Lightning's ``_atomic_save`` writes through an fsspec transaction, whose local temporary file is made
    by ``tempfile.mkstemp()`` in the system's temp folder and committed with ``shutil.move``: a copy (not
    a rename) when that folder is on another file system, no fsync, and a killed process leaves it
    behind. Here: a temporary file beside the checkpoint, fsync, ``os.replace``.
    """
    import io as _io

    import torch
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    from .io import atomic_open

    class AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
            if storage_options is not None:
                raise TypeError(f"{type(self).__name__} takes no storage_options")
            with atomic_open(path) as f:
                if fault is not None and fault == ("kill-in-checkpoint", checkpoint.get("global_step")):
                    buffer = _io.BytesIO()
                    torch.save(checkpoint, buffer)
                    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                    _die()
                torch.save(checkpoint, f)

    return AtomicCheckpointIO()


def _clock_callback():
    """Seconds spent training (evaluations excluded) and evaluating, summed over every session of a run.

    Kept in the checkpoint, so a resumed run reports the time of the whole run (less the work lost to an
    interruption). Lightning's Timer keeps only the last evaluation's duration.
    """
    import pytorch_lightning as pl

    class RunClock(pl.Callback):
        @property
        def state_key(self) -> str:
            return "RunClock"

        def __init__(self) -> None:
            self.train_seconds = self.eval_seconds = 0.0
            self._since: float | None = None
            self._eval_since = 0.0

        def _lap(self) -> None:
            if self._since is not None:
                now = time.monotonic()
                self.train_seconds += now - self._since
                self._since = now

        def on_train_start(self, trainer, pl_module) -> None:
            self._since = time.monotonic()

        def on_validation_start(self, trainer, pl_module) -> None:
            self._lap()
            self._since, self._eval_since = None, time.monotonic()

        def on_validation_end(self, trainer, pl_module) -> None:
            self.eval_seconds += time.monotonic() - self._eval_since
            self._since = time.monotonic()

        def on_train_end(self, trainer, pl_module) -> None:
            self._lap()
            self._since = None

        def state_dict(self) -> dict:
            self._lap()
            return {"train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds}

        def load_state_dict(self, state_dict: dict) -> None:
            self.train_seconds = float(state_dict.get("train_seconds", 0.0))
            self.eval_seconds = float(state_dict.get("eval_seconds", 0.0))

    return RunClock()


def _save_last_callback(path: Path):
    """Write ``checkpoints/last.ckpt`` after every evaluation, the one point a run resumes from.

    Not ModelCheckpoint: with ``save_top_k=0`` it saves "last" only when a top-k file was saved at the
    same step, i.e. never during training, only in ``on_train_end``. Being a ``Checkpoint``, this runs
    after every other callback's ``on_validation_end`` (Lightning orders checkpoint callbacks last), so
    the run clock and the evaluation's metrics rows are on disk before it.
    """
    from pytorch_lightning.callbacks import Checkpoint

    class SaveLast(Checkpoint):
        def on_validation_end(self, trainer, pl_module) -> None:
            # Not after a divergence: a run resumed from NaN weights would diverge at another iteration.
            if not trainer.sanity_checking and getattr(pl_module, "diverged_at", None) is None:
                trainer.save_checkpoint(path)

    return SaveLast()


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run stops where it is and resumes from its checkpoint next time."""

    def __init__(self, code: int) -> None:
        super().__init__("interrupted")
        self.code = code


def train(spec: RunSpec, config: RunConfig, data_dir: Path, progress: str,
          fault: tuple[str, int] | None = None, resume_step: int | None = None) -> dict:
    """Train the run, or resume it from ``checkpoints/last.ckpt`` at ``resume_step`` (checked by the
    caller); return its result record. Runs inside the run folder's lock."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import TQDMProgressBar

    from models import count_flops, count_params

    from .csvlog import RunCSVLogger, trim_after
    from .datamodule import FolderDataModule, TensorDataModule
    from .module import DegradationModule

    _quiet_lightning()
    run_dir = spec.dir
    threads = _threads(config)
    torch.set_num_threads(threads)
    accelerator = "gpu" if config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"
    precision = config.precision if accelerator == "gpu" else "32-true"

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    metrics = run_dir / "metrics.csv"
    if resume_step is not None:
        rows = trim_after(metrics, resume_step)
        missing = _missing_points(rows, resume_step, config)
        if missing:
            stamp = int(time.time())
            ckpt.rename(ckpt.with_name(f"last.ckpt.set-aside-{stamp}"))
            if metrics.is_file():
                metrics.rename(metrics.with_name(f"metrics.csv.damaged-{stamp}"))
            print(f"warning: {metrics} lacks {missing} logged before the checkpoint at iteration {resume_step}; "
                  "checkpoint and metrics set aside, starting over", file=sys.stderr)
            resume_step = None
    if resume_step is None:
        metrics.unlink(missing_ok=True)

    pl.seed_everything(spec.seed, workers=True, verbose=False)
    if config.dataset == "imagenet":
        data = FolderDataModule(config, data_dir, spec.seed)
        data.setup("fit")
        num_classes, in_channels, image_shape = data.num_classes, 3, (3, 224, 224)
    else:
        data = TensorDataModule(config, data_dir, spec.seed)
        tensors = data.prepare()
        num_classes, in_channels, image_shape = tensors.num_classes, tensors.in_channels, tensors.image_shape
    module = DegradationModule(spec.model, num_classes, in_channels, config.to_dict())

    clock = _clock_callback()
    callbacks = [
        _save_last_callback(ckpt),  # after every evaluation (eval_every iterations), atomically
        clock,
    ]
    if fault is not None:
        callbacks.append(_fault_callback(*fault))
    show_bar = sys.stderr.isatty()
    if show_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, config.log_every // 5)))
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_steps=config.max_steps, max_epochs=-1,
        val_check_interval=config.eval_every, check_val_every_n_epoch=None, num_sanity_val_steps=0,
        logger=RunCSVLogger(run_dir), log_every_n_steps=config.log_every, callbacks=callbacks,
        enable_progress_bar=show_bar, enable_model_summary=False, benchmark=accelerator == "gpu",
        default_root_dir=str(run_dir), plugins=[_atomic_checkpoint_io(fault)],
    )
    start_step = resume_step or 0
    try:
        trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if resume_step is not None else None)
    except SystemExit as exc:
        # Lightning turns Ctrl-C into sys.exit(1) and SIGTERM into SIGTERMException (a SystemExit).
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        raise Interrupted(EXIT_SIGTERM if isinstance(exc, SIGTERMException) else EXIT_SIGINT) from exc
    if trainer.interrupted:
        raise Interrupted(EXIT_SIGINT)
    if fault is not None and fault[0] == "kill-before-result":
        _die()

    final, best = summarise(metrics)
    model = module.model
    images = trainer.global_step * config.batch_size
    return {
        "status": "diverged" if module.diverged_at is not None else "ok",
        "experiment": spec.experiment,
        "profile": spec.profile,
        "model": spec.model,
        "family": model.spec.family,
        "depth": model.spec.depth,
        "shortcut": model.spec.shortcut.value,
        "seed": spec.seed,
        "final": final,
        "best": best,
        "iterations": trainer.global_step,
        # Summed over every session of the run (a resumed run included), evaluations included.
        "wall_seconds": round(clock.train_seconds + clock.eval_seconds, 3),
        "images_per_second": round(images / clock.train_seconds, 1) if clock.train_seconds > 0 and images else None,
        "params": count_params(model),
        "flops": count_flops(model, image_shape),  # the eager net: compiling wraps it, never replaces it
        **({"diverged_at": module.diverged_at} if module.diverged_at is not None else {}),
        "resumed_from": start_step or None,
        "device": device_description(accelerator, threads),
    }


def _missing_points(rows: list[dict], step: int, config: RunConfig) -> str:
    """Which logged points that precede a checkpoint at ``step`` ``metrics.csv`` lacks ("" if none).

    A resumed run logs only what follows its checkpoint, so a point missing before it would be missing
    for good: such a run starts over instead (it is deterministic, so it ends the same).
    """
    have_train = {int(r["step"]) for r in rows if r.get("train_error") is not None}
    have_eval = {int(r["step"]) for r in rows if r.get("val_error") is not None}
    lost_train = sorted(set(range(config.log_every, step + 1, config.log_every)) - have_train)
    lost_eval = sorted(set(range(config.eval_every, step + 1, config.eval_every)) - have_eval)
    parts = [f"{what} at iteration(s) {', '.join(map(str, lost[:5]))}{' ...' if len(lost) > 5 else ''}"
             for what, lost in (("training points", lost_train), ("evaluations", lost_eval)) if lost]
    return " and ".join(parts)


def _usable_checkpoint(ckpt: Path) -> tuple[int, dict | None, object] | None:
    """The iteration a checkpoint holds, the config it was trained with and its format mark
    (experiments.module.CHECKPOINT_FORMAT; None in checkpoints older than the mark), or None if there is none.

    A damaged checkpoint is set aside with a warning (and None returned): the run starts over.
    """
    if not ckpt.is_file():
        return None
    import torch

    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        step = int(state["global_step"])
        config = (state.get("hyper_parameters") or {}).get("config")
        from .module import CHECKPOINT_FORMAT_KEY

        return step, (config if isinstance(config, dict) else None), state.get(CHECKPOINT_FORMAT_KEY)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is set aside, never trusted
        aside = ckpt.with_name(f"last.ckpt.damaged-{int(time.time())}")
        ckpt.rename(aside)
        print(f"warning: {ckpt} is unreadable ({type(exc).__name__}); set aside as {aside.name}, starting over",
              file=sys.stderr)
        return None


def _changed_settings(before: dict, now: dict) -> list[str]:
    """The fields whose values differ; a field an older version did not have counts as its default."""
    before = {**RunConfig().to_dict(), **before}
    return sorted(k for k in now if before.get(k) != now[k])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="runs/<experiment>/<profile>/<model>/seed<k>")
    parser.add_argument("--data-dir", default="data", help="where datasets are found or fetched (default: data)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile field, e.g. --set batch_size=64 (repeatable)")
    parser.add_argument("--progress", default="", help="position in the matrix, e.g. 3/10, for the progress line")
    parser.add_argument("--not-done", nargs="*", metavar="RESULT_JSON",
                        help="print those of the given result.json files that are not finished runs (failed, "
                             "damaged), for make to retry; train nothing")
    args = parser.parse_args(argv)
    if args.not_done is not None:
        print(" ".join(p for p in args.not_done if read_status(Path(p)) not in DONE))
        return 0
    if not args.run_dir:
        parser.error("--run-dir is required")

    from .io import atomic_write_json, atomic_write_text, atomic_write_yaml, exclusive_lock, remove_stale_temps

    tag = f"[{args.progress}] " if args.progress else ""
    # Everything is checked before anything is written under runs/.
    try:
        fault = parse_fault(os.environ.get(FAULT_ENV))
        spec = RunSpec(Path(args.run_dir))
        config = load_profile(spec.profile, args.set)
        data_dir = Path(args.data_dir)
        if args.data_dir != "data" and not data_dir.is_dir():
            raise ConfigError(f"DATA_DIR {args.data_dir!r} does not exist; create it or point DATA_DIR at your datasets")
        from .data import ensure_available

        ensure_available(config.dataset, data_dir, fetch=True)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    run_dir = spec.dir
    result_path = run_dir / "result.json"
    record = {"experiment": spec.experiment, "profile": spec.profile, "model": spec.model, "seed": spec.seed,
              "data_dir": str(data_dir), "config": config.to_dict()}
    with exclusive_lock(run_dir / ".lock", on_wait=lambda: print(f"{tag}{spec}: waiting for another process "
                                                                  "training this run", file=sys.stderr)):
        previous = read_status(result_path)
        if previous in DONE:
            print(f"{tag}{spec}: already done ({previous})")
            return 0
        if previous is None and result_path.exists():
            print(f"warning: {result_path} is damaged (not a complete result record); training the run again",
                  file=sys.stderr)
        old_config = run_dir / "config.yaml"
        for folder in (run_dir, run_dir / "checkpoints"):  # what a writer killed mid-write left behind
            remove_stale_temps(folder)
        checkpoint = _usable_checkpoint(run_dir / "checkpoints" / "last.ckpt")
        if checkpoint is not None:
            # The settings the checkpoint was trained with: its own record, else config.yaml's.
            before = checkpoint[1]
            if before is None and old_config.is_file():
                import yaml

                try:
                    before = (yaml.safe_load(old_config.read_text()) or {}).get("config")
                except (yaml.YAMLError, AttributeError):
                    before = None
            changed = _changed_settings(before, record["config"]) if isinstance(before, dict) else []
            from .module import CHECKPOINT_FORMAT

            if checkpoint[2] != CHECKPOINT_FORMAT:
                changed.insert(0, f"checkpoint format {checkpoint[2]}, now {CHECKPOINT_FORMAT}: an older version")
            if changed:
                print(f"error: {run_dir} holds a checkpoint trained with other settings ({', '.join(changed)}); "
                      "use another RUNS_DIR or delete the folder", file=sys.stderr)
                return EXIT_BAD_INPUT
        result_path.unlink(missing_ok=True)  # a failed or damaged result is being retried
        atomic_write_yaml(old_config, {**record, **provenance(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        print(f"{tag}{spec} ...", flush=True)
        started = time.monotonic()
        try:
            result = train(spec, config, data_dir, args.progress, fault,
                           resume_step=checkpoint[0] if checkpoint is not None else None)
        except (Interrupted, KeyboardInterrupt) as exc:
            print(f"{tag}{spec}: interrupted; `make` resumes it from its last checkpoint", file=sys.stderr)
            return getattr(exc, "code", EXIT_SIGINT)
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the matrix goes on
            text = traceback.format_exc()
            from models import parse_name

            family, depth, shortcut = parse_name(spec.model)
            try:
                atomic_write_text(run_dir / "error.txt", text)
                atomic_write_json(result_path, {
                    "status": "failed", "experiment": spec.experiment, "profile": spec.profile, "model": spec.model,
                    "family": family, "depth": depth, "shortcut": shortcut.value, "seed": spec.seed,
                    "final": {}, "best": {}, "error": text,
                })
            except OSError as write_error:  # a full disk, say: no result.json, so make retries it all the same
                print(f"{tag}{spec}: could not record the failure ({write_error})", file=sys.stderr)
            print(f"{tag}{spec}: FAILED after {_fmt_duration(time.monotonic() - started)}: "
                  f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
                  f"{_disk_hint(run_dir)} (traceback in {run_dir / 'error.txt'})", file=sys.stderr)
            return EXIT_FAILED
        atomic_write_json(result_path, result)
        (run_dir / "error.txt").unlink(missing_ok=True)  # from an earlier, failed attempt
    elapsed = _fmt_duration(time.monotonic() - started)
    test = result["final"].get("test")
    what = f"test error {test:.1f}%" if test is not None else "no test error"
    train_err = result["final"].get("train")
    if train_err is not None:
        what += f", train error {train_err:.1f}%"
    status = "" if result["status"] == "ok" else f" DIVERGED at iteration {result.get('diverged_at')},"
    print(f"{tag}{spec} ... {elapsed},{status} {what}", flush=True)
    return 0


def _disk_hint(run_dir: Path) -> str:
    """A note when the run folder's disk is (nearly) full: torch reports a full disk cryptically."""
    import shutil

    try:
        free = shutil.disk_usage(run_dir).free
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        need = max(2 * ckpt.stat().st_size if ckpt.is_file() else 0, 1 << 20)
    except OSError:
        return ""
    return f"; the disk holding {run_dir} is full ({free // 1024} KiB free)" if free < need else ""


def read_status(path: Path) -> str | None:
    """A result.json's status, or None when there is none or it is damaged (not a complete record)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") not in (*DONE, "failed"):
        return None
    if not all(isinstance(record.get(k), dict) for k in ("final", "best")):
        return None
    if record["status"] in DONE and not isinstance(record.get("iterations"), int):
        return None
    return record["status"]


if __name__ == "__main__":
    sys.exit(main())
