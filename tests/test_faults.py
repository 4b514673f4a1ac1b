"""Faults found by replaying public bug reports, and what a new user hits first (issue 12).

Each test reproduces one kind of fault with the smallest input that shows it, on data the test makes:
ImageNet-style folders of tiny PNGs, Fashion-MNIST IDX files, CIFAR-10 pickles, synthetic tensors.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers_runs import ROOT, assert_same_state, env, forked, inproc, load_ckpt, one_error_line, run_dir
from runfolders import write_run

pytestmark = pytest.mark.filterwarnings("ignore")


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
    from experiments.training.datamodule import FolderDataModule

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


@pytest.mark.parametrize("case, fragments", [
    ("one class", ["one class ('c0')", "at least two class subfolders"]),
    ("empty class", ["c2", "no image file", "every training class needs at least one"]),
    ("hidden folder", ["'.ipynb_checkpoints' would be read as a class"]),
    ("empty val", ["no image in any class subfolder", "checkpoints after each evaluation"]),
])
def test_an_image_folder_a_run_cannot_train_or_resume_from_is_refused_before_anything_is_written(
        case, fragments, tmp_path):
    """Found by a fault hunt: one class trained 8 "ok" runs at 0% error; an empty class folder (or a hidden
    .ipynb_checkpoints) passed `experiments.data prepare` and then failed every run with a traceback; an
    empty val/ trained "ok" without ever writing a checkpoint, so an interrupted run started over."""
    from experiments.data import ensure_available

    root = tmp_path / "data"
    make_folder(root, {"train": ["c0"] if case == "one class" else ["c0", "c1"], "val": ["c0", "c1"]}, per_class=1)
    if case == "empty class":
        (root / "train" / "c2").mkdir()
        (root / "train" / "c2" / "notes.txt").write_text("no image here")
    elif case == "hidden folder":
        (root / "train" / ".ipynb_checkpoints").mkdir()
    elif case == "empty val":
        for f in (root / "val").glob("*/*.png"):
            f.unlink()
    runs = tmp_path / "runs"
    rc, out, err = inproc(run_dir(runs, profile="imagenet"), "--data-dir", str(root), *args_of(TINY))
    assert rc == 2, out + err
    one_error_line(err, *fragments)
    assert not runs.exists()
    with pytest.raises(Exception, match="bad dataset folder"):  # make's `experiments.data prepare` says the same
        ensure_available("imagenet", root, fetch=False)


def test_an_image_folder_with_images_in_subfolders_of_a_class_is_accepted(tmp_path):
    """ImageFolder reads a class folder's whole tree: images one level down are a valid dataset (the first
    version of the empty-class check refused it)."""
    from experiments.data import ensure_available, folder_classes

    root = make_folder(tmp_path / "data", {"train": ["c0", "c1"], "val": ["c0", "c1"]}, per_class=1)
    for f in root.glob("*/*/*.png"):
        (f.parent / "part1").mkdir()
        f.rename(f.parent / "part1" / f.name.upper())  # and an uppercase extension
    ensure_available("imagenet", root, fetch=False)
    assert folder_classes(root) == ["c0", "c1"]


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


def test_config_yaml_records_the_class_list_and_departures(tmp_path):
    import yaml

    root = make_folder(tmp_path / "data", {"train": ["c0", "c1", "c2"], "val": ["c0", "c2"]}, per_class=2)
    folder = run_dir(tmp_path / "runs", profile="imagenet")
    rc, out, err = inproc(folder, "--data-dir", str(root), *args_of({**TINY, "max_steps": 2, "augment": False}))
    assert rc == 0, out + err
    record = yaml.safe_load((folder / "config.yaml").read_text())
    assert record["classes"] == ["c0", "c1", "c2"]
    # ...with where the run left its profile's recipe (SET), and nothing of how it was computed or logged:
    # (plain-8 is a CIFAR-family net: imagenet_width does not reach it; the warm-up is off in both configs)
    assert record["departures"] == {"augment": [False, True], "cifar_width": [4, 0], "batch_size": [4, 256],
                                    "max_steps": [2, 600000]}
    # ...and val/ was evaluated once per evaluation, reported as val (no copy of it posing as a test set).
    result = json.loads((folder / "result.json").read_text())
    assert result["final"]["val"] is not None and result["final"].get("test") is None
    header, *rows = (folder / "metrics.csv").read_text().splitlines()
    cols = header.split(",")
    assert not any(r.split(",")[cols.index("test_error")] for r in rows)


def test_departures_name_only_what_reaches_the_net():
    """config.yaml's departures (experiments.config.departures): a SET of the other family's width or stem, or of
    a warm-up the net is too shallow for under both configs, is no departure for that net; a tuning rate is."""
    from experiments.config import at_lr, departures, load_profile

    shortened = ["max_steps=2000", "milestones=[1000,1500]", "warmup_steps=100", "imagenet_width=8",
                 "eval_every=1000", "threads=2"]
    config = load_profile("paper", shortened)
    assert departures(config, "paper", "resnet-20") == {"max_steps": [2000, 64000],
                                                       "milestones": [[1000, 1500], [32000, 48000]]}
    assert departures(config, "paper", "resnet-110") == {"max_steps": [2000, 64000],
                                                        "milestones": [[1000, 1500], [32000, 48000]],
                                                        "warmup_steps": [100, 400]}
    assert departures(config, "paper", "resnet-18")["imagenet_width"] == [8, 64]
    assert departures(load_profile("paper"), "paper", "resnet-56") == {}
    assert departures(at_lr(load_profile("quick"), 0.05), "quick", "resnet-56") == {
        "lr": [0.05, 0.1], "warmup_lr": [0.005, 0.01]}


# --- 2. exact resume on every data path ----------------------------------------------------------------------


def _data_for(kind: str, root: Path) -> tuple[str, dict]:
    """(profile, extra settings) for a dataset kind, its files made under ``root``."""
    from test_training import make_cifar10, make_fashion_mnist

    root.mkdir(parents=True, exist_ok=True)
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
    if kind == "cifar10":  # our files are not the real ones (the forked run inherits this too)
        import torchvision.datasets.cifar as tv_cifar

        monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))

    reference = run_dir(tmp_path / "ref", profile=profile)
    rc, out, err = inproc(reference, *args)
    assert rc == 0, out + err

    folder = run_dir(tmp_path / "runs", profile=profile)
    code, output = forked(folder, *args, fault="kill@7", log=tmp_path / "killed.log")  # SIGKILLed at iteration 7
    assert code == -9, output
    assert load_ckpt(folder / "checkpoints" / "last.ckpt")["global_step"] == 6
    rc, out, err = inproc(folder, *args)
    assert rc == 0, out + err

    ref_result = json.loads((reference / "result.json").read_text())
    result = json.loads((folder / "result.json").read_text())
    assert result["resumed_from"] == 6
    assert (result["final"], result["best"]) == (ref_result["final"], ref_result["best"])
    assert (folder / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert_same_state(load_ckpt(folder / "checkpoints" / "last.ckpt"), load_ckpt(reference / "checkpoints" / "last.ckpt"))


@pytest.mark.parametrize("change", ["removed", "renamed", "replaced"])
def test_a_run_resumes_only_onto_the_image_folder_it_started_on(change, tmp_path):
    """Found in the ninth session: an image deleted (or renamed) between a failed run and its resume renumbered
    the folder's images, and the run resumed without a word onto other batches. Now that is refused in one
    line; an unreadable image replaced by a readable one under the same name resumes (README)."""
    root = make_folder(tmp_path / "data", {"train": ["c0", "c1"], "val": ["c0", "c1"]}, per_class=4)
    folder = run_dir(tmp_path / "runs", profile="imagenet")
    args = ["--data-dir", str(root), *args_of({**TINY, "workers": 0})]
    rc, out, err = inproc(folder, *args, fault="raise@6")
    assert rc != 0 and load_ckpt(folder / "checkpoints" / "last.ckpt")["global_step"] == 4, out + err
    image = root / "train" / "c1" / "2.png"
    if change == "removed":
        image.unlink()
    elif change == "renamed":
        image.rename(root / "train" / "c0" / "9.png")  # the same number of images, one in another class
    else:
        image.write_bytes((root / "train" / "c1" / "1.png").read_bytes())
    config_before = (folder / "config.yaml").read_text()
    rc, out, err = inproc(folder, *args)
    if change == "replaced":
        assert rc == 0 and json.loads((folder / "result.json").read_text())["resumed_from"] == 4, out + err
        return
    assert rc == 2, out + err
    line = one_error_line(err, "holds a checkpoint (iteration 4) trained on other data", str(root),
                          "put the dataset back as it was")
    assert ("train: 8 images, now 7" if change == "removed" else "train: 8 images, now 8 (the same number") in line
    assert (folder / "config.yaml").read_text() == config_before  # nothing written: the failed attempt's record stays
    assert json.loads((folder / "result.json").read_text())["status"] == "failed"


def test_a_tensor_datasets_record_changes_with_one_pixel_or_label():
    """The tensor datasets' data record (config.yaml, the checkpoint) is a digest of what the run reads."""
    from experiments.config import load_profile
    from experiments.data import load_tensors

    t = load_tensors(load_profile("smoke"), ROOT / "data")
    record = dict(t.data_record())
    assert {k: v["images"] for k, v in record.items()} == {k: len(getattr(t, f"{k}_x")) for k in record}
    for split_name, damage in (("train", lambda: t.train_x[0, 0, 0].add_(1)), ("test", lambda: t.test_y[-1].add_(1))):
        damage()
        t._data_record = None
        now = t.data_record()
        assert now[split_name] != record[split_name] and now["val"] == record["val"]
        record = dict(now)


def test_folder_batches_are_a_function_of_seed_and_iteration(tmp_path):
    """The sampler starts at the restored iteration; augmentation does not depend on the worker or on
    what was loaded before."""
    from experiments.config import load_profile
    from experiments.training.datamodule import FolderDataModule, SeededBatchSampler

    root = make_folder(tmp_path, {"train": ["c0", "c1", "c2"], "val": ["c0"]}, per_class=4)
    data = FolderDataModule(load_profile("imagenet", ["batch_size=4", "augment=true"]), root, seed=0)
    data.setup("fit")
    full = iter(SeededBatchSampler(12, 4, seed=0))
    keys = [next(full) for _ in range(7)]  # crosses two epochs of 3 batches
    resumed = iter(SeededBatchSampler(12, 4, seed=0, start_step=lambda: 4))
    assert [next(resumed) for _ in range(3)] == keys[4:7]
    assert sorted(i for batch in keys[:3] for _, i in batch) == list(range(12))  # an epoch is a permutation
    from experiments.training.datamodule import _SeededSamples

    samples = _SeededSamples(data.train_set, seed=0)
    a = samples[(5, 3)][0]
    torch.manual_seed(123)  # whatever state the global generator is in
    samples[(4, 7)]
    assert torch.equal(samples[(5, 3)][0], a)
    assert not torch.equal(samples[(6, 3)][0], a)  # another iteration: another crop of the same image


# --- 3. a run whose numbers went non-finite is diverged, and leaves no non-finite checkpoint ---------------
def test_a_run_whose_evaluation_went_non_finite_is_diverged_and_the_report_excludes_it(tmp_path):
    runs = tmp_path / "runs"
    folder = run_dir(runs, model="plain-20")
    rc, out, err = inproc(folder, "--set", "lr=100000", "--set", "threads=1")
    assert rc == 0, out + err
    result = json.loads((folder / "result.json").read_text())
    # The training loss is huge but finite at the log point; the evaluation's loss is NaN.
    assert result["status"] == "diverged" and result["diverged_at"] == 3 and "DIVERGED at iteration 3" in out
    assert "non-finite" in result["diverged_reason"]
    ckpt = folder / "checkpoints" / "last.ckpt"
    if ckpt.exists():  # whatever checkpoint there is predates the divergence and is finite
        state = load_ckpt(ckpt)
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    build = pytest.importorskip("reports.build")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert build.main(["--experiment", "degradation", "--profile", "smoke", "--runs-dir", str(runs),
                           "--out-dir", str(tmp_path / "out")]) == 0
    out_dir = tmp_path / "out" / "degradation" / "smoke"
    summary = (out_dir / "summary.md").read_text()
    assert "0/1 ok, 1 diverged" in summary and "diverged at step 3" in summary
    import pandas as pd

    row = pd.read_csv(out_dir / "summary.csv").set_index("model").loc["plain-20"]
    assert row["n"] == 0 and row["diverged"] == 1 and math.isnan(row["final_test_mean"])
    # 4c. Multiply-adds, the paper's "FLOPs" (Table 1 counts a multiply-add once), and the header says so.
    from test_models import multiply_adds

    assert result["multiply_adds"] == row["multiply_adds"] == multiply_adds("plain-20", 16, width=4)
    assert "FLOPs (mult-adds)" in summary.splitlines()[[ln.startswith("| model") for ln in summary.splitlines()].index(True)]


@pytest.mark.parametrize("where", ["weight", "bn-statistic", "momentum"])
def test_every_kept_number_is_checked(where):
    """Weights, BN running statistics and optimizer buffers: what a checkpoint keeps."""
    from experiments.config import load_profile
    from experiments.training.module import DegradationModule, first_non_finite

    module = DegradationModule("plain-8", 10, 3, load_profile("smoke").to_dict())
    assert first_non_finite(module) is None
    with torch.no_grad():
        if where == "weight":
            module.model.fc.bias[3] = float("nan")
            expected = "model.fc.bias"
        elif where == "bn-statistic":
            module.model.bn1.running_var[0] = float("inf")
            expected = "model.bn1.running_var"
        else:
            optimizer = module.configure_optimizers()["optimizer"]
            weight = module.model.fc.weight
            optimizer.state[weight]["momentum_buffer"] = torch.full_like(weight, float("-inf"))

            class FakeTrainer:  # the two attributes first_non_finite reads from a Trainer
                optimizers = [optimizer]

            module._trainer = FakeTrainer()
            expected = "optimizer momentum_buffer of model.fc.weight"
    assert first_non_finite(module) == expected


# --- 4g. evaluation means keep NaN visible and weigh every image once ----------------------------------------
def test_evaluation_loss_is_the_mean_over_images_and_nan_shows():
    from experiments.config import load_profile
    from experiments.training.module import DegradationModule

    module = DegradationModule("plain-8", 10, 3, load_profile("smoke").to_dict())
    module.eval()
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)) for n in (5, 2)]
    with torch.no_grad():
        for b in batches:
            module.eval_step(b, 0)
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        expected = torch.nn.functional.cross_entropy(module.model(x), y)  # over 7 images, not 2 batch means
        assert module.eval_loss[0].compute().item() == pytest.approx(expected.item(), rel=1e-6)
        module.eval_loss[0].reset()
        module.eval_step(batches[0], 0)
        module.model.fc.bias.fill_(float("nan"))
        module.eval_step(batches[1], 0)
    assert math.isnan(module.eval_loss[0].compute().item())  # not the first batch's loss alone


# --- 4f. metrics.csv's lr is the rate of the iterations its row measured -------------------------------------
def test_lr_column_at_a_milestone_is_the_rate_the_row_trained_at(tmp_path):
    from runfolder import read_metrics

    folder = run_dir(tmp_path)
    # Iterations 1..6 at lr 0.1, 7..12 at 0.01 (divided after 6 iterations); a training row every 3.
    sets = {**TINY, "batch_size": 32, "eval_every": 3, "log_every": 3, "milestones": "[6]", "lr": 0.1,
            "image_size": 8, "synthetic_train": 128, "synthetic_eval": 32}
    rc, out, err = inproc(folder, *args_of(sets))
    assert rc == 0, out + err
    lr = {int(r["step"]): r["lr"] for r in read_metrics(folder / "metrics.csv").rows if r["lr"] is not None}
    assert lr == {3: 0.1, 6: 0.1, 9: pytest.approx(0.01), 12: pytest.approx(0.01)}


# --- 4d. every logger gets every metric ----------------------------------------------------------------------
def test_every_logger_the_trainer_holds_receives_every_metric(tmp_path):
    import csv

    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from experiments.config import load_profile
    from experiments.training.csvlog import RunCSVLogger
    from experiments.training.datamodule import TensorDataModule
    from experiments.training.module import DegradationModule

    config = load_profile("smoke", ["image_size=8", "synthetic_train=64", "synthetic_eval=16", "batch_size=16"])
    module = DegradationModule("plain-8", 10, 3, config.to_dict())
    trainer = pl.Trainer(accelerator="cpu", max_steps=config.max_steps, max_epochs=-1,
                         val_check_interval=config.eval_every, check_val_every_n_epoch=None, num_sanity_val_steps=0,
                         logger=[RunCSVLogger(tmp_path / "ours"), CSVLogger(str(tmp_path / "stock"), name="", version="")],
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(module, datamodule=TensorDataModule(config, tmp_path, seed=0))

    def cells(path: Path) -> set:
        with open(path) as f:
            return {(int(r["step"]), k, float(v)) for r in csv.DictReader(f) for k, v in r.items()
                    if v not in ("", None) and k not in ("step", "epoch")}

    ours, stock = cells(tmp_path / "ours" / "metrics.csv"), cells(tmp_path / "stock" / "metrics.csv")
    assert ours == stock and {k for _, k, _ in ours} >= {"train_loss", "train_error", "lr", "val_error", "test_error"}


# --- 4a. a wheel carries everything read at run time ---------------------------------------------------------
def test_the_wheel_carries_the_profiles(wheel_python, tmp_path):
    """`pip install .` (not editable) into a fresh virtual environment loads every profile and matrix, and
    carries the sbatch array's script (its LAUNCHER=sbatch submit is tested on a real cluster in test_slurm)."""
    code = ("import json, experiments, experiments.config as c, experiments.launch.slurm as s; "
            "print(experiments.__file__); print(json.dumps(c.list_profiles())); "
            "[c.load_profile(p) for p in c.list_profiles()]; print(json.dumps(sorted(c.load_matrices()))); "
            "print(s.ARRAY_SCRIPT, s.ARRAY_SCRIPT.is_file())")
    p = subprocess.run([str(wheel_python), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in env().items() if k not in ("PYTHONPATH", "DEGRADATION_CONFIG_DIR")})
    assert p.returncode == 0, p.stderr
    where, profiles, matrices, array = p.stdout.splitlines()
    fresh = wheel_python.parents[1]
    assert where.startswith(str(fresh))  # the installed copy, not the checkout
    assert array.startswith(str(fresh)) and array.endswith("array.sh True"), array
    from experiments.config import list_profiles, load_matrices

    assert json.loads(profiles) == list_profiles() and len(list_profiles()) >= 4
    assert json.loads(matrices) == sorted(load_matrices())


# --- 4b. help and the targets that need nothing installed install nothing ------------------------------------
def test_make_help_on_a_fresh_clone_installs_nothing(tmp_path):
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, clone / name)
    for name in ("experiments", "runfolder"):
        shutil.copytree(ROOT / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv_dir = tmp_path / "no-venv"
    for goal in ([], ["help"], ["clean-build"]):
        p = subprocess.run(["make", "--no-print-directory", *goal, f"VENV={venv_dir}", "PYTHON=false"], cwd=clone,
                           env=env(), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (goal, p.stdout + p.stderr)
        assert not venv_dir.exists() and not (clone / "build").exists(), goal
    assert "The degradation suite's matrix" in subprocess.run(
        ["make", "help", f"VENV={venv_dir}"], cwd=clone, env=env(), capture_output=True, text=True).stdout
    # A goal that trains does need the environment: it tries to build it (and fails here, PYTHON=false).
    p = subprocess.run(["make", "degradation", f"VENV={venv_dir}", "PYTHON=false"], cwd=clone, env=env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "installing into" in p.stdout + p.stderr


def test_tensorboard_is_one_setting_away(tmp_path):
    import importlib.util

    folder = run_dir(tmp_path / "runs")
    sets = {**TINY, "batch_size": 32, "max_steps": 4, "image_size": 8, "synthetic_train": 64, "synthetic_eval": 16,
            "tensorboard": "true"}
    rc, out, err = inproc(folder, *args_of(sets))
    if importlib.util.find_spec("tensorboard") is None:  # the optional extra is not installed: say how
        assert rc == 2
        one_error_line(err, "tensorboard", "pip install '.[tensorboard]'")
        assert not (tmp_path / "runs").exists()
        return
    assert rc == 0, out + err
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard")).Reload()
    assert {"train_loss", "train_error", "lr", "val_error", "test_error"} <= set(events.Tags()["scalars"])


# --- 4h. weight decay applies to BN's scale and shift too, as in the authors' Torch code ---------------------
def test_weight_decay_covers_batch_norm_parameters():
    from experiments.config import load_profile
    from experiments.training.module import DegradationModule

    module = DegradationModule("resnet-20", 10, 3, load_profile("paper").to_dict())
    optimizer = module.configure_optimizers()["optimizer"]
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 1e-4 for p in g["params"]}
    assert {id(p) for p in module.model.parameters()} == decayed  # BN's weight and bias included


def test_a_progress_line_reaches_the_terminal_in_one_write(tmp_path, monkeypatch):
    """Found by a fault hunt: under PYTHONUNBUFFERED=1 (Docker, CI) print wrote a line's text and its newline
    in two writes, and two runs at once (make -j2) printed "[6/6] ... seed 2 ...[5/6] ... seed 1 ..." on one
    line. Each line is now one write to the file descriptor."""
    from experiments import run

    class Recorder(io.RawIOBase):
        def __init__(self):
            self.chunks: list[bytes] = []

        def writable(self):
            return True

        def write(self, b):
            self.chunks.append(bytes(b))
            return len(b)

    raw = Recorder()
    unbuffered = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # what -u / PYTHONUNBUFFERED gives
    folder = write_run(tmp_path, "degradation", "smoke", "plain-8", 0)
    monkeypatch.setattr(sys, "stdout", unbuffered)
    assert run.main(["--run-dir", str(folder), "--progress", "3/4"]) == 0
    unbuffered.flush()
    assert raw.chunks and all(c.endswith(b"\n") for c in raw.chunks), raw.chunks
    assert b"[3/4] plain-8 seed 0: already done (ok)" in raw.chunks[0]


def test_a_finished_run_asked_with_other_settings_is_refused_not_called_done(tmp_path):
    """Found by a fault hunt: `experiments.run --run-dir <done run> --set lr=0.2` printed "already done" and
    exited 0, so a script went on with the lr 0.1 run as the lr 0.2 one (make refused it; the run did not)."""
    folder = run_dir(tmp_path / "runs")
    args = args_of({**TINY, "threads": 1})
    assert inproc(folder, *args)[0] == 0
    result = (folder / "result.json").read_text()
    assert json.loads(result)["lr"] == yaml.safe_load((folder / "config.yaml").read_text())["config"]["lr"]
    rc, out, err = inproc(folder, *args)
    assert rc == 0 and "already done (ok)" in out, out + err
    rc, out, err = inproc(folder, *args, "--set", "lr=0.2")
    assert rc == 2, out + err
    one_error_line(err, "is done (ok), trained with other settings than this call's (lr 0.1, now 0.2)",
                   "use another RUNS_DIR")
    assert (folder / "result.json").read_text() == result


def test_not_done_with_a_run_dir_is_refused(capsys):
    """Found by a fault hunt: `--run-dir X --not-done` listed nothing, exited 0 and never looked at X."""
    from experiments import run

    with pytest.raises(SystemExit) as exit_:
        run.main(["--run-dir", "runs/degradation/smoke/plain-8/seed0", "--not-done", "a/result.json"])
    assert exit_.value.code == 2 and "it takes no --run-dir" in capsys.readouterr().err
