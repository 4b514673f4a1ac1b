"""Faults found by replaying public bug reports, and what a new user hits first (issue 12).

Each test reproduces one kind of fault with the smallest input that shows it, on data the test makes:
ImageNet-style folders of tiny PNGs, Fashion-MNIST IDX files, CIFAR-10 pickles, synthetic tensors.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers_runs import PY, ROOT, assert_same_state, env, inproc, load_ckpt, run_dir

pytestmark = pytest.mark.filterwarnings("ignore")


def one_error_line(err: str, *fragments: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def args_of(sets: dict) -> list[str]:
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


# --- data the tests make ------------------------------------------------------------------------------------
COLOURS = {"c0": (220, 30, 30), "c1": (30, 220, 30), "c2": (30, 30, 220), "c3": (220, 220, 30)}


def make_folder(root: Path, splits: dict[str, list[str]], per_class: int = 4, size: int = 64) -> Path:
    """An ImageNet-style folder: ``root/<split>/<class>/<i>.png``, each class a colour with seeded noise
    (so that crops and flips change the pixels)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, classes in splits.items():
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                noise = rng.integers(-40, 41, (size, size, 3))
                pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


# Tiny settings for every profile: 12 iterations of batch 4, an evaluation (and a checkpoint) every 2.
TINY = {"batch_size": 4, "max_steps": 12, "eval_every": 2, "log_every": 2, "eval_batch_size": 8, "threads": 1,
        "cifar_width": 4, "imagenet_width": 4, "grad_norm_every": 0}


# --- 1. every split is labelled with the training split's classes -------------------------------------------
def test_folder_splits_use_the_training_split_class_indices(tmp_path):
    from experiments.config import load_profile
    from experiments.datamodule import FolderDataModule

    root = make_folder(tmp_path, {"train": ["c0", "c1", "c2"], "val": ["c0", "c2"]}, per_class=2)
    data = FolderDataModule(load_profile("imagenet"), root, seed=0)
    data.setup("fit")
    assert data.classes == ["c0", "c1", "c2"] and data.num_classes == 3
    labels = {Path(path).parent.name: label for path, label in data.val_set.samples}
    assert labels == {"c0": 0, "c2": 2}  # c2 is 2 in every split, not 1 in val/ because val/ lacks c1
    assert {Path(p).parent.name: y for p, y in data.train_set.samples} == {"c0": 0, "c1": 1, "c2": 2}


def test_a_split_with_a_class_training_lacks_is_refused_before_anything_is_written(tmp_path):
    root = make_folder(tmp_path / "data", {"train": ["c0", "c1"], "val": ["c0", "c1", "c3"]}, per_class=1)
    runs = tmp_path / "runs"
    rc, out, err = inproc(run_dir(runs, profile="imagenet"), "--data-dir", str(root), *args_of(TINY))
    assert rc == 2, out + err
    one_error_line(err, "'c3'", str(root / "val"), str(root / "train"))
    assert not runs.exists()


def test_tensor_labels_outside_the_training_classes_are_refused(tmp_path):
    from experiments.config import ConfigError, RunConfig
    from experiments.data import load_tensors
    from test_training import make_fashion_mnist, write_idx

    make_fashion_mnist(tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([3] * 19 + [12], dtype=np.uint8))  # class 12 of 10
    with pytest.raises(ConfigError, match=r"the test split has label 12, outside the training split's 10 classes"):
        load_tensors(RunConfig(dataset="fashion-mnist", val_size=10), tmp_path)
    # Through the run command: one line, exit 2, nothing under runs/.
    runs = tmp_path / "runs"
    rc, out, err = inproc(run_dir(runs, profile="quick"), "--data-dir", str(tmp_path), "--set", "val_size=10",
                          *args_of(TINY))
    assert rc == 2, out + err
    one_error_line(err, "label 12", str(tmp_path))
    assert not runs.exists()


def test_config_yaml_records_the_class_list(tmp_path):
    import yaml

    root = make_folder(tmp_path / "data", {"train": ["c0", "c1", "c2"], "val": ["c0", "c2"]}, per_class=2)
    folder = run_dir(tmp_path / "runs", profile="imagenet")
    rc, out, err = inproc(folder, "--data-dir", str(root), *args_of({**TINY, "max_steps": 2, "augment": False}))
    assert rc == 0, out + err
    assert yaml.safe_load((folder / "config.yaml").read_text())["classes"] == ["c0", "c1", "c2"]
    # ...and val/ was evaluated once per evaluation, reported as val (no copy of it posing as a test set).
    result = json.loads((folder / "result.json").read_text())
    assert result["final"]["val"] is not None and result["final"].get("test") is None
    header, *rows = (folder / "metrics.csv").read_text().splitlines()
    cols = header.split(",")
    assert not any(r.split(",")[cols.index("test_error")] for r in rows)


# --- 2. exact resume on every data path ----------------------------------------------------------------------
RUNNER = ("import os, sys, torchvision.datasets.cifar as c; "
                "c.check_integrity = lambda path, md5=None: os.path.isfile(path); "  # our files are not the real ones
                "from experiments.run import main; sys.exit(main(sys.argv[1:]))")


def _data_for(kind: str, root: Path) -> tuple[str, dict]:
    """(profile, extra settings) for a dataset kind, its files made under ``root``."""
    from test_training import make_cifar10, make_fashion_mnist

    if kind == "fashion-mnist":
        make_fashion_mnist(root)
        return "quick", {"val_size": 10, "eval_limit": 0}
    if kind == "cifar10":
        make_cifar10(root)
        return "paper", {"val_size": 10}
    if kind == "synthetic":
        return "smoke", {"image_size": 8, "synthetic_train": 64, "synthetic_eval": 16}
    make_folder(root, {"train": ["c0", "c1", "c2"], "val": ["c0", "c1", "c2"]}, per_class=4)
    return "imagenet", {}


RESUME_CASES = [
    ("synthetic", {"augment": True}),
    ("fashion-mnist", {"augment": False}),
    ("cifar10", {"augment": True}),
    ("folder", {"augment": False, "workers": 0}),
    ("folder", {"augment": True, "workers": 0}),
    ("folder", {"augment": True, "workers": 2}),
]


@pytest.mark.parametrize("kind,extra", RESUME_CASES,
                         ids=[f"{k}-{'aug' if e['augment'] else 'plain'}{'-workers' if e.get('workers') else ''}"
                              for k, e in RESUME_CASES])
def test_a_killed_run_resumes_exactly_on_every_data_path(tmp_path, monkeypatch, kind, extra):
    data = tmp_path / "data"
    profile, settings = _data_for(kind, data)
    args = ["--data-dir", str(data), *args_of({**TINY, **settings, **extra})]
    if kind == "cifar10":
        import torchvision.datasets.cifar as tv_cifar

        monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))

    reference = run_dir(tmp_path / "ref", profile=profile)
    rc, out, err = inproc(reference, *args)
    assert rc == 0, out + err

    folder = run_dir(tmp_path / "runs", profile=profile)
    killed = subprocess.run([str(PY), "-c", RUNNER, "--run-dir", str(folder), *args], cwd=ROOT,
                            env=env(DEGRADATION_FAULT="kill@7"), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert load_ckpt(folder / "checkpoints" / "last.ckpt")["global_step"] == 6
    rc, out, err = inproc(folder, *args)
    assert rc == 0, out + err

    ref_result = json.loads((reference / "result.json").read_text())
    result = json.loads((folder / "result.json").read_text())
    assert result["resumed_from"] == 6
    assert (result["final"], result["best"]) == (ref_result["final"], ref_result["best"])
    assert (folder / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert_same_state(load_ckpt(folder / "checkpoints" / "last.ckpt"), load_ckpt(reference / "checkpoints" / "last.ckpt"))


def test_folder_batches_are_a_function_of_seed_and_iteration(tmp_path):
    """The sampler starts at the restored iteration; augmentation does not depend on the worker or on
    what was loaded before."""
    from experiments.config import load_profile
    from experiments.datamodule import FolderDataModule, SeededBatchSampler

    root = make_folder(tmp_path, {"train": ["c0", "c1", "c2"], "val": ["c0"]}, per_class=4)
    data = FolderDataModule(load_profile("imagenet", ["batch_size=4", "augment=true"]), root, seed=0)
    data.setup("fit")
    full = iter(SeededBatchSampler(12, 4, seed=0))
    keys = [next(full) for _ in range(7)]  # crosses two epochs of 3 batches
    resumed = iter(SeededBatchSampler(12, 4, seed=0, start_step=lambda: 4))
    assert [next(resumed) for _ in range(3)] == keys[4:7]
    assert sorted(i for batch in keys[:3] for _, i in batch) == list(range(12))  # an epoch is a permutation
    from experiments.datamodule import _SeededSamples

    samples = _SeededSamples(data.train_set, seed=0)
    a = samples[(5, 3)][0]
    torch.manual_seed(123)  # whatever state the global generator is in
    samples[(4, 7)]
    assert torch.equal(samples[(5, 3)][0], a)
    assert not torch.equal(samples[(6, 3)][0], a)  # another iteration: another crop of the same image
