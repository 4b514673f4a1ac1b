"""Write fake run folders (config.yaml, metrics.csv, result.json) for tests and for rendering sample
reports, through the run folder's one definition (runfolder/files.py: paths, metrics.csv's columns
and rows, result.json's check and writer) and the model-name grammar (models/names.py). No torch, no
Lightning."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import yaml

import runfolder
from models.names import parse_name, plugin_model_name

Curve = Callable[[int], float] | Sequence[float] | None


def _values(curve: Curve, steps: Sequence[int]) -> list[float] | None:
    if curve is None:
        return None
    if callable(curve):
        return [float(curve(s)) for s in steps]
    values = [float(v) for v in curve]
    assert len(values) == len(steps), "a curve given as values needs one per step"
    return values


def write_run(runs_dir: str | Path, experiment: str, profile: str, model: str, seed: int, *,
              status: str = "ok", steps: Sequence[int] = (100, 200, 300, 400, 500, 600),
              train: Curve = lambda s: 50.0, val: Curve = None, test: Curve = None,
              eval_steps: Sequence[int] | None = None,
              final: dict | None = None, best: dict | None = None,
              wall_seconds: float = 60.0, images_per_second: float = 250.0,
              params: int | None = 269_722, multiply_adds: int | None = 40_500_000,
              dataset: str = "fashion-mnist", device: str = "cpu (2 threads)",
              family: str | None = None, depth: int | None = None, shortcut: str | None = None,
              diverged_at: int | None = None, error: str | None = None,
              write_result: bool = True, write_metrics: bool = True, extra_rows: Sequence[dict] = (),
              classes: Sequence[str] | None = None, plugin: dict | None = None, axes: dict | None = None) -> Path:
    """Write ``runs_dir/experiment/profile/model/seed<seed>/`` and return the folder.

    ``train``/``val``/``test`` are error curves (%): a function of the step or one value per step of
    ``steps`` (train) / ``eval_steps`` (val, test; default: ``steps``). Loss is error / 40. Train and eval
    points of one step are written in separate rows, as the trainer does. ``final``/``best`` default to
    the last / lowest point of each curve. ``extra_rows`` (dicts over metrics.csv's columns) are appended
    (a resumed run's repeated steps, for instance). ``family``/``depth``/``shortcut`` default to what the
    name says. ``classes``: the class names config.yaml records (the trainer always records them).
    ``plugin``: a plugin net's provenance as the trainer records it (``models.plugins.provenance``), with
    ``axes`` its recorded axes (``models.names.model_axes``); the name is then read as a plugin's, none need
    be installed.
    """
    folder = runfolder.run_dir(runs_dir, experiment, profile, model, seed)
    folder.mkdir(parents=True, exist_ok=True)
    name = plugin_model_name(model, family) if plugin is not None else parse_name(model, family)
    family, depth = name.family, depth if depth is not None else name.depth
    if plugin is None:
        shortcut = shortcut if shortcut is not None else name.shortcut.value
    recorded = {"method": name.kind, "axes": axes, "plugin": plugin} if plugin is not None else {}
    steps = list(steps)
    eval_steps = list(eval_steps) if eval_steps is not None else steps
    curves = {"train": (_values(train, steps), steps), "val": (_values(val, eval_steps), eval_steps),
              "test": (_values(test, eval_steps), eval_steps)}

    config = {
        "experiment": experiment, "profile": profile, "model": model, "seed": seed, "dataset": dataset,
        "batch_size": 128, "lr": 0.1, "max_steps": steps[-1] if steps else 0, "milestones": [400, 500],
        "device": device, "precision": "32-true",
        "versions": {"python": "3.11.9", "torch": "2.14.1", "torchvision": "0.29.1", "pytorch_lightning": "2.6.6"},
        "git_commit": "9ea55ac0123456789abcdef0123456789abcdef0",
        **({"classes": list(classes)} if classes is not None else {}), **recorded,
    }
    (folder / runfolder.CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))

    rows = []
    for i, s in enumerate(steps):
        v = curves["train"][0]
        if v is not None:
            rows.append({"step": s, "lr": 0.1, "train_error": v[i], "train_loss": v[i] / 40})
        for split in ("val", "test"):
            vals, es = curves[split]
            if vals is not None and s in es:
                e = vals[es.index(s)]
                rows.append({"step": s, f"{split}_error": e, f"{split}_loss": e / 40})
    for split in ("val", "test"):  # eval steps that are not train steps
        vals, es = curves[split]
        if vals is not None:
            for j, s in enumerate(es):
                if s not in steps:
                    rows.append({"step": s, f"{split}_error": vals[j], f"{split}_loss": vals[j] / 40})
    rows += list(extra_rows)
    if write_metrics:
        (folder / runfolder.METRICS).write_text(runfolder.METRICS_HEADER + "\n" + runfolder.metrics_text(rows))

    if write_result:
        last, lowest = runfolder.final_and_best(rows)
        result = {
            "status": status, "experiment": experiment, "profile": profile, "model": model, "family": family,
            "depth": depth, "shortcut": shortcut, "seed": seed,
            "final": final if final is not None else last,
            "best": best if best is not None else lowest,
            "iterations": steps[-1] if steps else 0, "wall_seconds": wall_seconds,
            "images_per_second": images_per_second, "params": params, "multiply_adds": multiply_adds, **recorded,
        }
        if status == "failed":
            result["error"] = error or "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory"
        if status == "diverged":
            result["diverged_at"] = diverged_at if diverged_at is not None else (steps[-1] if steps else 0)
        runfolder.write_result(folder / runfolder.RESULT, result)
    return folder


# --- curves shaped like the paper's --------------------------------------------------------------

# Final training error (%) after 600 quick iterations, illustrative, shaped like the paper's Fig. 4 (deep plain
# nets worse than shallow ones, residual nets better with depth); test error a little above train.
FLOORS = {"plain-20": 12.0, "plain-56": 33.0, "resnet-20": 10.5, "resnet-56": 8.5,
          "plain-18": 13.0, "plain-34": 17.0, "resnet-18": 11.5, "resnet-34": 9.5,
          "resnet-34-a": 9.6, "resnet-34-b": 9.3, "resnet-34-c": 9.1,
          "resnet-56-a": 8.5, "resnet-56-b": 8.3, "resnet-56-c": 8.2}


def paper_like(model: str, seed: int, kind: str = "train", milestone: int = 400,
               floor: float | None = None) -> Callable[[int], float]:
    """An error curve: fast fall from ~90%, slower for deeper plain nets, a step down at the lr drop,
    mini-batch noise for train; seeded by (model, seed, kind) so it is reproducible. ``floor``: the level
    (%) it settles near (default: :data:`FLOORS`' or 15)."""
    floor = (FLOORS.get(model, 15.0) if floor is None else floor) + (2.5 if kind != "train" else 0.0)
    deep_plain = model.startswith("plain") and int(model.split("-")[1]) >= 34
    tau = 110.0 if deep_plain else 60.0
    rng = np.random.default_rng(zlib.crc32(f"{model}/{seed}/{kind}".encode()))
    offset = rng.normal(0, 0.6)
    noise_scale = 1.2 if kind == "train" else 0.35

    def curve(step: int) -> float:
        base = floor * 1.25 + (90.0 - floor * 1.25) * math.exp(-step / tau)
        if step > milestone:
            base -= floor * 0.25 * (1 - math.exp(-(step - milestone) / 30.0))
        noise = np.random.default_rng(zlib.crc32(f"{model}/{seed}/{kind}/{step}".encode())).normal(0, noise_scale)
        return max(0.0, base + offset + noise)

    return curve


def write_paper_like(runs_dir, experiment, profile, models, seeds, *, max_steps=600, log_every=20,
                     eval_every=100, floors: dict[str, float] | None = None) -> None:
    """A realistic-looking matrix: each model x seed, train logged every ``log_every`` iterations, test
    and val every ``eval_every``; ``floors``: a model's level (%), as :func:`paper_like`'s ``floor``."""
    steps = list(range(log_every, max_steps + 1, log_every))
    eval_steps = list(range(eval_every, max_steps + 1, eval_every))
    params = {"20": 269_722, "56": 853_018, "18": 11_689_512, "34": 21_797_672}
    for model in models:
        for seed in seeds:
            write_run(runs_dir, experiment, profile, model, seed, steps=steps, eval_steps=eval_steps,
                      train=paper_like(model, seed, "train", floor=(floors or {}).get(model)),
                      val=paper_like(model, seed, "val", floor=(floors or {}).get(model)),
                      test=paper_like(model, seed, "test", floor=(floors or {}).get(model)),
                      params=params.get(model.split("-")[1]),
                      wall_seconds=30.0 * int(model.split("-")[1]) / 20)
