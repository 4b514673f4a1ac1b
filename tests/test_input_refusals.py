"""Bad input a fault hunt found accepted or misreported: each is one line naming the bad value and the valid
choices, a non-zero exit, nothing written; good input keeps working (and keeps its recorded digests).
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from experiments.config import ConfigError, load_profile
from helpers_runs import one_error_line

pytestmark = pytest.mark.filterwarnings("ignore")


# --- milestones must be strictly increasing ----------------------------------------------------------------
@pytest.mark.parametrize("milestones", ["[3,3]", "[6,3]", "[0,3]"])
def test_repeated_or_unordered_milestones_are_refused(milestones, tmp_path):
    """milestones=[3,3] passed a check whose own words say "must be increasing" and divided the rate twice
    at iteration 3 (the check compared with sorted(), which keeps repeats)."""
    from experiments import matrix

    shown = milestones.replace(",", ", ")
    with pytest.raises(ConfigError, match=re.escape(f"bad milestones {shown}: must be strictly increasing")):
        load_profile("smoke", [f"milestones={milestones}"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = matrix.main(["check", "--profile", "smoke", "--runs-dir", str(tmp_path / "runs"),
                          "--set", f"milestones={milestones}"])
    assert rc == 2
    one_error_line(err.getvalue(), "bad milestones", "strictly increasing")
    assert not (tmp_path / "runs").exists()
    assert load_profile("smoke", ["milestones=[3,6]"]).milestones == [3, 6]


# --- settings no run can load its data with are refused by the input check, not blamed on the files -------
@pytest.mark.parametrize("setting, fragments", [
    ("split_seed=18446744073709551616", ["bad split_seed 18446744073709551616", "0 to 18446744073709551615"]),
    ("image_size=5000", ["bad image_size 5000", "at most 224"]),
])
def test_a_data_setting_out_of_range_is_refused_by_the_input_check(setting, fragments, tmp_path):
    """split_seed=2^64 (torch's generators take 64 bits) and image_size=5000 (1.5 TB of Fashion-MNIST) passed
    make's input check; every run then failed to load its data and was told its data files were damaged, to
    delete them and fetch them afresh."""
    from experiments import matrix

    with pytest.raises(ConfigError, match=re.escape(fragments[0])):
        load_profile("quick", [setting])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = matrix.main(["check", "--profile", "quick", "--runs-dir", str(tmp_path / "runs"), "--set", setting])
    assert rc == 2
    one_error_line(err.getvalue(), *fragments)
    assert not (tmp_path / "runs").exists()


def test_the_largest_split_seed_and_image_size_still_load():
    from experiments.data import load_tensors

    config = load_profile("smoke", ["split_seed=18446744073709551615", "image_size=224", "synthetic_train=8",
                                    "synthetic_eval=4", "batch_size=4"])
    t = load_tensors(config, "unused")
    assert t.image_shape == (3, 224, 224) and len(t.train_x) == 8


def write_fashion_mnist(root, n_train: int = 40, n_test: int = 20):
    """Fashion-MNIST's four IDX files, random images, in ``root/FashionMNIST/raw`` (torchvision's layout)."""
    import struct

    import numpy as np

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, array in (("train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28))),
                        ("train-labels-idx1-ubyte", np.arange(n_train) % 10),
                        ("t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28))),
                        ("t10k-labels-idx1-ubyte", np.arange(n_test) % 10)):
        magic = 0x0803 if array.ndim == 3 else 0x0801
        (raw / name).write_bytes(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
                                 + array.astype(np.uint8).tobytes())
    return raw


def test_only_errors_reading_the_files_are_blamed_on_them(tmp_path):
    """An error of the settings (a split_seed torch cannot take, were it to pass the check) was reported as
    "fashion-mnist ... cannot be read: its files are damaged or incomplete; delete them and run again", advice to
    delete good data. It is raised as what it is; a truncated file is still said to be damaged."""
    from experiments.config import RunConfig
    from experiments.data import load_tensors

    raw = write_fashion_mnist(tmp_path)
    unchecked = RunConfig(dataset="fashion-mnist", val_size=10, split_seed=2**64)  # as the check once let through
    with pytest.raises(ValueError, match="Overflow") as caught:
        load_tensors(unchecked, tmp_path)
    assert not isinstance(caught.value, ConfigError)
    assert len(load_tensors(RunConfig(dataset="fashion-mnist", val_size=10), tmp_path).train_x) == 30
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])  # a truncated download
    with pytest.raises(ConfigError, match=r"^fashion-mnist in .* cannot be read \(.*\): its files are damaged or "
                                          "incomplete; delete them and run again to fetch them afresh$"):
        load_tensors(RunConfig(dataset="fashion-mnist", val_size=10), tmp_path)


@pytest.mark.parametrize("case", ["empty folder", "one file missing"])
def test_a_cifar_folder_missing_files_is_fetched_again(case, tmp_path, monkeypatch):
    """An empty cifar-10-batches-py/ passed the data check (it looked for the folder only), then every run was
    told to delete the files and run again to fetch them afresh, and no fetch ever came. The check now looks for
    each file torchvision reads: a fetch is tried, and offline it says how to get the files."""
    import torchvision.datasets as tvd

    from experiments.data import OFFLINE_ENV, DataUnavailable, ensure_available

    CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                   "batches.meta")  # what torchvision's CIFAR10 reads

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    if case == "one file missing":
        for name in CIFAR_FILES[1:]:
            (folder / name).write_bytes(b"x")
    monkeypatch.setenv(OFFLINE_ENV, "1")
    lacks = "now empty" if case == "empty folder" else f"lacks {CIFAR_FILES[0]}"
    with pytest.raises(DataUnavailable, match=f"CIFAR10 not found under .*downloads are off.*{lacks}"):
        ensure_available("cifar10", tmp_path, fetch=True)
    fetched = []

    def download(root, train, download):  # torchvision's download, without the network
        fetched.append(train)
        for name in CIFAR_FILES:
            (folder / name).write_bytes(b"x")

    monkeypatch.setattr(tvd, "CIFAR10", download)
    monkeypatch.delenv(OFFLINE_ENV)
    ensure_available("cifar10", tmp_path, fetch=True)
    assert fetched == [True, False]
    ensure_available("cifar10", tmp_path, fetch=False)  # all there now: nothing to fetch


# --- image folders --------------------------------------------------------------------------------------------
FOLDER_TINY = {"batch_size": 4, "max_steps": 2, "eval_every": 2, "log_every": 2, "eval_batch_size": 8, "threads": 1,
               "workers": 0, "cifar_width": 4, "imagenet_width": 4, "grad_norm_every": 0}


def folder_args(**changes) -> list[str]:
    return [a for k, v in {**FOLDER_TINY, **changes}.items() for a in ("--set", f"{k}={v}")]


def make_image_folder(root, names: dict[str, list]) -> object:
    """An ImageNet-style folder: ``root/<split>/<class>/<name>`` for each name (str, or bytes for a name that
    is not UTF-8), tiny PNGs of one colour per class with seeded noise."""
    import os

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"c0": (220, 30, 30), "c1": (30, 220, 30)}
    for key, files in names.items():
        split, cls = key.split("/")
        folder = root / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            pixels = np.clip(np.array(colours[cls]) + rng.integers(-40, 41, (16, 16, 3)), 0, 255).astype(np.uint8)
            path = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else os.fsencode(name))
            with open(path, "wb") as f:
                Image.fromarray(pixels).save(f, format="PNG")
    return root


def folder_record(root) -> dict:
    from experiments.training.datamodule import FolderDataModule

    data = FolderDataModule(load_profile("imagenet"), root, seed=0)
    data.setup("fit")
    return data.data_record()


def test_an_image_folders_recorded_digest_is_what_it_was(tmp_path):
    """The digest a run records of an image folder (and a resume compares) is unchanged for UTF-8 file names,
    ASCII or not: these are the digests the suite recorded for this folder before non-UTF-8 names were taken."""
    root = make_image_folder(tmp_path, {"train/c0": ["0.png", "1.png"], "train/c1": ["0.png", "1.png"],
                                        "val/c0": ["0.png", "1.png"], "val/c1": ["0.png", "café.png"]})
    assert folder_record(root) == {
        "train": {"images": 4, "sha256": "6a76d5af4f033eb98a808d95c530bfbb041ab52ce3d739960b804be00526e284"},
        "val": {"images": 4, "sha256": "d66655bfdfbf4180220a444c19fa0ee23d02af4bc1ead78ea03fbf9efb693a2d"}}


def test_a_file_name_that_is_not_utf8_trains(tmp_path):
    """train/c0/caf\\xe9.png (a Latin-1 name) crashed every run with a UnicodeEncodeError traceback while it
    digested the folder's file list, leaving no result and no error.txt, again on every make. The name is
    digested as its bytes on disk: the run trains, and the digest tells it apart from the UTF-8 'café.png'."""
    from helpers_runs import inproc, run_dir

    names = {"train/c0": ["0.png", b"caf\xe9.png"], "train/c1": ["0.png", "1.png"], "val/c0": ["0.png"],
             "val/c1": ["0.png"]}
    root = make_image_folder(tmp_path / "data", names)
    utf8 = make_image_folder(tmp_path / "utf8", {**names, "train/c0": ["0.png", "café.png"]})
    record = folder_record(root)
    assert record["train"]["images"] == 4 and record["train"]["sha256"] != folder_record(utf8)["train"]["sha256"]
    folder = run_dir(tmp_path / "runs", profile="imagenet")
    rc, out, err = inproc(folder, "--data-dir", str(root), *folder_args())
    assert rc == 0, out + err
    assert (folder / "result.json").is_file() and not (folder / "error.txt").exists()


def test_a_batch_larger_than_an_image_folders_training_set_is_refused_before_anything_is_written(tmp_path):
    """With 12 training images and batch_size=16 every run wrote config.yaml, metrics.csv, error.txt and a failed
    result.json ("ConfigError: bad batch_size 16: larger than the training set (12 images)"), again on every make;
    the tensor datasets refuse it up front. make's data step now says it once, before any run starts, and a run
    started by hand says it before it writes its folder. The images are counted only up to the batch."""
    from experiments.data import __main__ as prepare
    from experiments.data.imagenet import count_training_images
    from helpers_runs import inproc, make, run_dir

    names = [f"{i}.png" for i in range(6)]
    root = make_image_folder(tmp_path / "data", {"train/c0": names, "train/c1": names, "val/c0": names[:1],
                                                 "val/c1": names[:1]})
    assert count_training_images(root, at_most=100) == 12 and count_training_images(root, at_most=5) == 6
    fragments = ["bad batch_size 16: larger than the training set (12 images in", "valid: at most 12"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = prepare.main(["prepare", "--profile", "imagenet", "--data-dir", str(root), "--set", "batch_size=16"])
    assert rc == 2
    one_error_line(err.getvalue(), *fragments)
    runs = tmp_path / "runs"
    rc, out, err = inproc(run_dir(runs, profile="imagenet"), "--data-dir", str(root), *folder_args(batch_size=16))
    assert rc == 2, out + err
    one_error_line(err, *fragments)
    assert not runs.exists()
    sets = " ".join(f"{k}={v}" for k, v in {**FOLDER_TINY, "batch_size": 16}.items())
    p = make(tmp_path, "degradation", "PROFILE=imagenet", "MODELS=plain-8", f"DATA_DIR={root}", f"RUNS_DIR={runs}",
             f"REPORTS_DIR={tmp_path / 'reports'}", "JOBS=1", f"SET={sets}", timeout=300)
    errors = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip() and not ln.startswith("make")]
    assert p.returncode == 2 and len(errors) == 1 and fragments[0] in errors[0], p.stdout + p.stderr
    assert not runs.exists() and not (tmp_path / "reports").exists()
    # A batch the folder holds trains (12 images, batch 12).
    rc, out, err = inproc(run_dir(runs, profile="imagenet"), "--data-dir", str(root), *folder_args(batch_size=12))
    assert rc == 0, out + err


def test_a_val_size_that_leaves_less_than_a_batch_is_named(tmp_path):
    """val_size=59999 on Fashion-MNIST (60000 training images) was refused as "bad batch_size 128: larger than the
    training set (1 images)", naming the value the user had not changed. A batch larger than the whole training
    split is still the batch's fault."""
    from experiments import matrix
    from experiments.data import check_sizes

    batch = load_profile("quick").batch_size
    with pytest.raises(ConfigError, match=re.escape(f"bad val_size 59999: it leaves 1 of the fashion-mnist training "
                                                    f"set's 60000 images to train on, fewer than a batch (batch_size "
                                                    f"{batch}); valid: at most {60000 - batch}")):
        check_sizes(load_profile("quick", ["val_size=59999"]))
    with pytest.raises(ConfigError, match=re.escape(f"bad val_size 60000: the fashion-mnist training set has only "
                                                    f"60000 images; valid: at most {60000 - batch}")):
        check_sizes(load_profile("quick", ["val_size=60000"]))
    with pytest.raises(ConfigError, match=re.escape("bad batch_size 60001: larger than the training set")):
        check_sizes(load_profile("quick", ["batch_size=60001"]))
    check_sizes(load_profile("quick", [f"val_size={60000 - batch}"]))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = matrix.main(["check", "--profile", "quick", "--runs-dir", str(tmp_path / "runs"),
                          "--set", "val_size=59999"])
    assert rc == 2
    one_error_line(err.getvalue(), "bad val_size 59999")
