"""Train one run of the matrix into its folder: ``runs/<experiment>/<profile>/<model>/seed<k>/``.

    python -m experiments.run --run-dir runs/degradation/quick/plain-56/seed0 [--data-dir data]

The folder receives ``config.yaml`` (everything needed to rerun it, with provenance), ``metrics.csv``
(Lightning's CSVLogger), ``checkpoints/last.ckpt`` (after every evaluation) and, last and atomically,
``result.json``. A folder with a checkpoint and no result resumes from the checkpoint; one with a result
of status ok or diverged is done; a failed one is trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .config import ConfigError, RunConfig, load_matrices, load_profile

DONE = ("ok", "diverged")
EXIT_BAD_INPUT, EXIT_FAILED = 2, 1


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


def summarise(metrics_path: Path) -> tuple[dict, dict, int]:
    """Final and best error per split, and the last iteration, from ``metrics.csv``."""
    from .csvlog import read_rows

    rows = read_rows(metrics_path)
    final, best = {}, {}
    for split in ("train", "val", "test"):
        values = [r[f"{split}_error"] for r in rows if r.get(f"{split}_error") is not None]
        final[split] = values[-1] if values else None
        finite = [v for v in values if v == v]
        best[split] = min(finite) if finite else None
    steps = [int(r["step"]) for r in rows if r.get("step") is not None]
    return final, best, max(steps, default=0)


def _quiet_lightning() -> None:
    """Lightning's banners ("GPU available", tips) bury the matrix's progress lines; keep its warnings."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def train(spec: RunSpec, config: RunConfig, data_dir: Path, progress: str) -> dict:
    """Train (or resume) the run; return its result record. Runs inside the run folder's lock."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, Timer, TQDMProgressBar

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
    resume_step = _usable_checkpoint(ckpt)
    if resume_step is None:
        (run_dir / "metrics.csv").unlink(missing_ok=True)
    else:
        trim_after(run_dir / "metrics.csv", resume_step)

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

    timer = Timer()
    callbacks = [
        # Saved after every evaluation (eval_every iterations); Lightning writes it atomically.
        ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0, enable_version_counter=False),
        timer,
    ]
    show_bar = sys.stderr.isatty()
    if show_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, config.log_every // 5)))
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_steps=config.max_steps, max_epochs=-1,
        val_check_interval=config.eval_every, check_val_every_n_epoch=None, num_sanity_val_steps=0,
        logger=RunCSVLogger(run_dir), log_every_n_steps=config.log_every, callbacks=callbacks,
        enable_progress_bar=show_bar, enable_model_summary=False, benchmark=accelerator == "gpu",
        default_root_dir=str(run_dir),
    )
    start_step = resume_step or 0
    trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if resume_step is not None else None)
    if trainer.interrupted:
        raise KeyboardInterrupt

    final, best, iterations = summarise(run_dir / "metrics.csv")
    train_seconds = timer.time_elapsed("train") - timer.time_elapsed("validate")
    images = (trainer.global_step - start_step) * config.batch_size
    model = module.model
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
        "wall_seconds": round(timer.time_elapsed("train"), 3),
        "images_per_second": round(images / train_seconds, 1) if train_seconds > 0 and images else None,
        "params": count_params(model),
        "flops": count_flops(getattr(model, "_orig_mod", model), image_shape),
        **({"diverged_at": module.diverged_at} if module.diverged_at is not None else {}),
        "device": device_description(accelerator, threads),
    }


def _usable_checkpoint(ckpt: Path) -> int | None:
    """The iteration a checkpoint holds, or None; a damaged one is set aside with a warning."""
    if not ckpt.is_file():
        return None
    import torch

    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        return int(state["global_step"])
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is set aside, never trusted
        aside = ckpt.with_name(f"last.ckpt.damaged-{int(time.time())}")
        ckpt.rename(aside)
        print(f"warning: {ckpt} is unreadable ({type(exc).__name__}); set aside as {aside.name}, starting over",
              file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="runs/<experiment>/<profile>/<model>/seed<k>")
    parser.add_argument("--data-dir", default="data", help="where datasets are found or fetched (default: data)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile field, e.g. --set batch_size=64 (repeatable)")
    parser.add_argument("--progress", default="", help="position in the matrix, e.g. 3/10, for the progress line")
    args = parser.parse_args(argv)

    from .io import atomic_write_json, atomic_write_text, atomic_write_yaml, exclusive_lock

    tag = f"[{args.progress}] " if args.progress else ""
    # Everything is checked before anything is written under runs/.
    try:
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
        previous = _read_status(result_path)
        if previous in DONE:
            print(f"{tag}{spec}: already done ({previous})")
            return 0
        old_config = run_dir / "config.yaml"
        if old_config.is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file():
            import yaml

            try:
                before = (yaml.safe_load(old_config.read_text()) or {}).get("config")
            except yaml.YAMLError:
                before = None
            if before is not None and before != record["config"]:
                changed = sorted(k for k in record["config"] if before.get(k) != record["config"][k])
                print(f"error: {run_dir} holds a checkpoint trained with other settings ({', '.join(changed)}); "
                      "use another RUNS_DIR or delete the folder", file=sys.stderr)
                return EXIT_BAD_INPUT
        result_path.unlink(missing_ok=True)  # a failed result is being retried
        atomic_write_yaml(old_config, {**record, **provenance(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        print(f"{tag}{spec} ...", flush=True)
        started = time.monotonic()
        try:
            result = train(spec, config, data_dir, args.progress)
        except KeyboardInterrupt:
            print(f"{tag}{spec}: interrupted; `make` resumes it from its last checkpoint", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the matrix goes on
            text = traceback.format_exc()
            atomic_write_text(run_dir / "error.txt", text)
            from models import parse_name

            family, depth, shortcut = parse_name(spec.model)
            atomic_write_json(result_path, {
                "status": "failed", "experiment": spec.experiment, "profile": spec.profile, "model": spec.model,
                "family": family, "depth": depth, "shortcut": shortcut.value, "seed": spec.seed,
                "final": {}, "best": {}, "error": text,
            })
            print(f"{tag}{spec}: FAILED after {_fmt_duration(time.monotonic() - started)}: "
                  f"{type(exc).__name__}: {exc} (traceback in {run_dir / 'error.txt'})", file=sys.stderr)
            return EXIT_FAILED
        atomic_write_json(result_path, result)
    elapsed = _fmt_duration(time.monotonic() - started)
    test = result["final"].get("test")
    what = f"test error {test:.1f}%" if test is not None else "no test error"
    train_err = result["final"].get("train")
    if train_err is not None:
        what += f", train error {train_err:.1f}%"
    status = "" if result["status"] == "ok" else f" DIVERGED at iteration {result.get('diverged_at')},"
    print(f"{tag}{spec} ... {elapsed},{status} {what}", flush=True)
    return 0


def _read_status(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


if __name__ == "__main__":
    sys.exit(main())
