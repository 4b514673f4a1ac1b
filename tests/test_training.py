"""Training pipeline: data loading through torchvision, the CIFAR recipe, batches, schedule, the smoke matrix."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.config import ConfigError, RunConfig, load_profile
from experiments.training.batches import EvalBatches, TrainBatches, pad_crop_flip
from experiments.data import load_tensors
from experiments.config import model_overrides
from experiments.training.module import DegradationModule
from experiments.training.schedule import StepSchedule
from helpers_runs import make

# --- Fashion-MNIST through torchvision, from IDX files the test writes ---------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_fashion_mnist(root: Path, n_train: int = 60, n_test: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train_x = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    train_y = np.arange(n_train, dtype=np.uint8) % 10
    write_idx(raw / "train-images-idx3-ubyte", train_x)
    write_idx(raw / "train-labels-idx1-ubyte", train_y)
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test, dtype=np.uint8) % 10)
    return train_x, train_y


def test_fashion_mnist_loads_through_torchvision_with_a_fixed_validation_split(tmp_path):
    train_x, train_y = make_fashion_mnist(tmp_path)
    config = RunConfig(dataset="fashion-mnist", val_size=10)
    t = load_tensors(config, tmp_path)
    assert t.train_x.shape == (50, 1, 28, 28) and t.val_x.shape == (10, 1, 28, 28) and t.test_x.shape == (20, 1, 28, 28)
    assert t.train_x.dtype == torch.uint8 and t.num_classes == 10
    # The split partitions the training file: every image lands in exactly one of train/val.
    rows = {bytes(img.numpy().tobytes()) for img in torch.cat([t.train_x, t.val_x])}
    assert rows == {bytes(img.tobytes()) for img in train_x}
    # Fixed by split_seed, not by the run's seed: a second load gives the same split.
    assert torch.equal(load_tensors(config, tmp_path).val_x, t.val_x)
    assert not torch.equal(load_tensors(RunConfig(dataset="fashion-mnist", val_size=10, split_seed=1), tmp_path).val_x, t.val_x)


def test_missing_dataset_offline_says_how_to_get_it(tmp_path, monkeypatch):
    from experiments import data
    from experiments.data import fashion_mnist

    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    with pytest.raises(data.DataUnavailable, match="dataset-fashion-mnist"):
        data.ensure_available("fashion-mnist", tmp_path, fetch=True)
    with pytest.raises(data.DataUnavailable, match="cifar-10-python.tar.gz"):
        data.ensure_available("cifar10", tmp_path, fetch=True)
    with pytest.raises(data.DataUnavailable, match="ImageFolder"):
        data.ensure_available("imagenet", tmp_path, fetch=True)


def fake_debian_copy(tmp_path, monkeypatch) -> None:
    """Debian's dataset-fashion-mnist, gzipped IDX files, in tmp_path/debian, where experiments.data.fashion_mnist looks."""
    import gzip

    from experiments.data import fashion_mnist

    make_fashion_mnist(tmp_path / "src")
    debian = tmp_path / "debian"
    debian.mkdir()
    for name in fashion_mnist.FASHION_FILES:
        (debian / f"{name}.gz").write_bytes(gzip.compress((tmp_path / "src/FashionMNIST/raw" / name).read_bytes()))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION_MNIST", debian)


def test_debian_copy_is_decompressed_for_torchvision(tmp_path, monkeypatch):
    from experiments import data

    fake_debian_copy(tmp_path, monkeypatch)
    data.ensure_available("fashion-mnist", tmp_path / "data", fetch=True)
    assert load_tensors(RunConfig(dataset="fashion-mnist", val_size=10), tmp_path / "data").test_x.shape[0] == 20


def test_make_data_step_follows_set(tmp_path, monkeypatch, capsys):
    """make's data step (`experiments.data prepare`) fetches the dataset SET chooses, not the profile's own:
    `make degradation PROFILE=paper SET="dataset=fashion-mnist"` offline once failed here for want of CIFAR-10."""
    from experiments import data
    from experiments.data import __main__ as prepare
    from experiments.data import fashion_mnist

    fake_debian_copy(tmp_path, monkeypatch)
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    out = tmp_path / "data"
    out.mkdir()
    assert prepare.main(["prepare", "--profile", "paper", "--data-dir", str(out),
                      "--set", "dataset=fashion-mnist image_size=32"]) == 0
    assert sorted(p.name for p in (out / "FashionMNIST/raw").iterdir()) == sorted(fashion_mnist.FASHION_FILES)
    assert not (out / "cifar-10-batches-py").exists()
    # Without SET the paper profile still asks for CIFAR-10; a bad SET is one line naming the value.
    assert prepare.main(["prepare", "--profile", "paper", "--data-dir", str(out)]) == 2
    assert prepare.main(["prepare", "--profile", "paper", "--data-dir", str(out), "--set", "dataset=mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "CIFAR10 not found" in err[0] and err[1].startswith("error: unknown dataset 'mnist'; valid:")


# --- CIFAR-10's recipe on data the test makes ------------------------------------------------------------
def make_cifar10(root: Path, per_batch: int = 20, n_test: int = 30) -> np.ndarray:
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        images.append(x)
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({"data": x, "labels": list(rng.integers(0, 10, per_batch))}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), "labels": [0] * n_test}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return np.concatenate(images).reshape(-1, 3, 32, 32)


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    # Our files cannot match torchvision's md5 sums; everything else is torchvision's own loading code.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    images = make_cifar10(tmp_path)
    return tmp_path, images


def test_cifar10_split_and_per_pixel_mean(cifar):
    root, images = cifar
    config = load_profile("paper", ["val_size=10"])
    t = load_tensors(config, root)
    assert (len(t.train_x), len(t.val_x), len(t.test_x)) == (90, 10, 30)  # as 45k/5k, scaled down
    assert t.image_shape == (3, 32, 32)
    everything = {img.tobytes() for img in images}
    assert {img.numpy().tobytes() for img in torch.cat([t.train_x, t.val_x])} == everything
    # Per-pixel mean over the training split only, in [0, 1] units.
    expected = t.train_x.float().mean(0) / 255
    assert torch.allclose(t.pixel_mean(), expected)
    assert t.pixel_mean().shape == (3, 32, 32)
    # Divided by each channel's std after the mean: the training inputs have unit variance per channel.
    x = (t.train_x.float() / 255 - t.pixel_mean()) / t.channel_std()
    assert t.channel_std().shape == (3, 1, 1)
    assert torch.allclose(x.transpose(0, 1).reshape(3, -1).std(dim=1), torch.ones(3), atol=1e-4)


@pytest.mark.parametrize("damage", ["missing batch", "no labels", "not a pickle", "another image size"])
def test_a_dataset_whose_files_cannot_be_read_is_one_line_naming_its_folder(cifar, damage, capsys, monkeypatch):
    """A CIFAR-10 folder with a batch file missing, a pickle without labels or a file that is no pickle gave each
    run a raw traceback (torchvision's "Dataset not found or corrupted. You can use download=True ...", a
    KeyError, an UnpicklingError). The load is refused in one line naming the folder and what to do, for the
    pool's preload (said once for the matrix) and for each run. A missing file is the run's data check's to find
    (it fetches the dataset again; offline, it says how to get it)."""
    from experiments import run
    from experiments.data import OFFLINE_ENV, preload
    from experiments.errors import ConfigError

    monkeypatch.setenv(OFFLINE_ENV, "1")  # never a download in a test

    root, _ = cifar
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    if damage == "missing batch":
        batch.unlink()
    elif damage == "another image size":  # 32x32 grey images read as RGB: 150 labels beside 50 images
        for i in range(1, 6):
            with open(root / "cifar-10-batches-py" / f"data_batch_{i}", "wb") as f:
                pickle.dump({"data": np.zeros((30, 1024), dtype=np.uint8), "labels": [0] * 30}, f)
    elif damage == "no labels":
        with open(batch, "wb") as f:
            pickle.dump({"data": np.zeros((20, 3072), dtype=np.uint8)}, f)
    else:
        batch.write_bytes(b"not a pickle at all")
    with pytest.raises(ConfigError, match=rf"^cifar10 in {re.escape(str(root))} cannot be read \(.*\): its files are "
                                          "damaged or incomplete; delete them and run again to fetch them afresh$"):
        preload(load_profile("paper", ["val_size=10"]), root)
    folder = root / "runs" / "degradation" / "paper" / "plain-8" / "seed0"
    assert run.main(["--run-dir", str(folder), "--data-dir", str(root), "--set", "val_size=10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    if damage == "missing batch":
        assert err[0].startswith("error: CIFAR10 not found under ") and "lacks data_batch_3" in err[0], err
    else:
        assert err[0].startswith("error: cifar10 in "), err
    assert not folder.exists()


def test_the_paper_profile_on_a_cpu_says_it_trains_in_fp32_and_records_it(cifar, capsys):
    """The paper profile asks bf16, torch.compile and a CUDA graph; on a CPU none applies, silently, and the
    report's provenance read "device: cpu ...; precision: bf16-mixed". The run now says so when it starts and
    result.json records the precision it trained with (config.yaml keeps what was asked)."""
    import yaml

    from experiments import run

    root, _ = cifar
    folder = root / "runs" / "degradation" / "paper" / "plain-8" / "seed0"
    tiny = ["val_size=10", "max_steps=2", "milestones=[1]", "eval_every=2", "log_every=1", "batch_size=16",
            "eval_batch_size=10", "warmup_steps=0"]
    assert run.main(["--run-dir", str(folder), "--data-dir", str(root), *[a for kv in tiny for a in ("--set", kv)]]) == 0
    err = capsys.readouterr().err
    assert "on the CPU, so precision bf16-mixed, compile True, cuda_graph True do not apply: it trains in fp32" in err
    assert json.loads((folder / "result.json").read_text())["precision"] == "32-true"
    assert yaml.safe_load((folder / "config.yaml").read_text())["config"]["precision"] == "bf16-mixed"


def test_unit_variance_leaves_the_papers_bn_nets_logits_unchanged_up_to_bn_eps():
    """The paper's nets (BN after every conv) compute the same logits at initialisation on mean-subtracted
    inputs and on the same inputs divided by their std: BN divides by the batch's std, up to its eps (1e-5)."""
    from experiments.training.batches import normalise
    from models import create_model

    images = torch.randint(0, 256, (32, 1, 14, 14), dtype=torch.uint8)
    mean = images.float().mean(0).div_(255)
    std = (images.float().div(255) - mean).std().reshape(1, 1, 1)
    assert 0.2 < float(std) < 0.4  # uniform pixels: not unit variance before the division
    for name in ("plain-20", "resnet-20", "resnet-18"):
        gaps = {}
        for eps in (1e-5, 1e-12):  # BN's default eps, and one too small to matter
            torch.manual_seed(0)
            net = create_model(name, in_channels=1, stem="cifar", width=8, bn_eps=eps).train()
            with torch.no_grad():
                unit, raw = net(normalise(images, mean, std)), net(normalise(images, mean, torch.ones(1, 1, 1)))
            gaps[eps] = float((unit - raw).abs().max() / unit.abs().max())
        assert gaps[1e-5] < 1e-2 and gaps[1e-12] < 1e-5, (name, gaps)  # the difference is BN's eps, nothing else


def test_cifar10_augmentation_is_pad4_crop_and_flip_on_training_batches_only(cifar):
    root, _ = cifar
    config = load_profile("paper", ["val_size=10", "batch_size=16"])
    assert config.augment
    t = load_tensors(config, root)
    mean, std = t.pixel_mean(), t.channel_std()
    batches = TrainBatches(t.train_x, t.train_y, mean, std, 16, seed=0, augment=True, channels_last=False)
    plain = TrainBatches(t.train_x, t.train_y, mean, std, 16, seed=0, augment=False, channels_last=False)
    x, y = batches.batch(3)
    x0, y0 = plain.batch(3)  # same images (same permutation), not augmented
    assert torch.equal(y, y0) and x.shape == (16, 3, 32, 32)
    padded = torch.nn.functional.pad(x0, (4, 4, 4, 4))
    flips = 0
    for i in range(16):
        candidates = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                      if torch.equal(x[i], (lambda c: c.flip(2) if f else c)(padded[i, :, dy:dy + 32, dx:dx + 32]))]
        assert candidates, f"image {i} is not a flipped/unflipped 32x32 crop of the 4-padded original"
        flips += candidates[0][2]
    assert 0 < flips < 16  # both flipped and unflipped images occur
    # Evaluation batches are never augmented.
    ex, _ = next(iter(EvalBatches(t.val_x, t.val_y, mean, std, 5, channels_last=False)))
    assert torch.equal(ex, (t.val_x[:5].float() / 255 - mean) / std)


def test_pad_crop_flip_keeps_values_and_is_seeded():
    x = torch.randn(8, 3, 8, 8)
    a = pad_crop_flip(x, torch.Generator().manual_seed(0))
    b = pad_crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape


# --- batches are a function of (seed, iteration) ------------------------------------------------------------
def test_train_batches_depend_only_on_seed_and_iteration():
    images = torch.randint(0, 256, (100, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(100)
    mean, std = torch.zeros(1, 8, 8), torch.ones(1, 1, 1)
    make = lambda seed, start=0: TrainBatches(images, labels, mean, std, 16, seed, True, False, start_step=lambda: start)
    it = iter(make(0))
    sequence = [next(it) for _ in range(15)]  # crosses two epoch boundaries (6 batches per epoch)
    resumed = iter(make(0, start=9))
    for step in range(9, 15):
        x, y = next(resumed)
        assert torch.equal(x, sequence[step][0]) and torch.equal(y, sequence[step][1])
    # Each epoch is a permutation: 6 batches of 16 cover 96 distinct images.
    assert len(torch.cat([y for _, y in sequence[:6]]).unique()) == 96
    assert not torch.equal(next(iter(make(1)))[1], sequence[0][1])


# --- optimisation -------------------------------------------------------------------------------------------
def test_step_schedule_divides_at_milestones_after_warmup():
    s = StepSchedule([32000, 48000], 0.1, warmup_steps=400, warmup_factor=0.1)
    assert [s(0), s(399), s(400), s(31999), s(32000), s(48000)] == pytest.approx([0.1, 0.1, 1, 1, 0.1, 0.01])


def test_module_uses_the_papers_sgd_and_profile_overrides():
    config = load_profile("quick")
    module = DegradationModule("resnet-34", num_classes=10, in_channels=1, config=config.to_dict())
    assert module.model.spec.width == config.imagenet_width and module.model.spec.stem == "cifar"
    assert model_overrides("resnet-20", config) == {"init": "he"}
    opt = module.configure_optimizers()["optimizer"]
    group = opt.param_groups[0]
    assert (group["initial_lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 1e-4)
    # the quick profile warms every net up from 0.01 (config.warmup_min_depth 0)
    assert config.warmup == "linear" and group["lr"] == pytest.approx(config.warmup_lr)


def test_fixup_and_skipinit_optimizer_groups_as_their_official_code():
    """hongyi-zhang/Fixup cifar/cifar_train.py: parameters with 'bias' or 'scale' in their name at lr / 10;
    every other method keeps the one group of the paper's SGD. The logged rate (group 0) is the base rate,
    and the schedule scales every group alike."""
    config = load_profile("quick")
    fixup = DegradationModule("fixup-20", num_classes=10, in_channels=1, config=config.to_dict())
    configured = fixup.configure_optimizers()
    opt, scheduler = configured["optimizer"], configured["lr_scheduler"]
    base, tenth = opt.param_groups
    named = dict(fixup.model.named_parameters())
    slow = {n for n, p in named.items() if any(p is q for q in tenth["params"])}
    assert slow == {n for n in named if "bias" in n or "scale" in n} and "fc.bias" in slow and "layer1.0.scale" in slow
    assert len(base["params"]) + len(tenth["params"]) == len(named)
    assert (base["initial_lr"], tenth["initial_lr"]) == pytest.approx((0.1, 0.01))
    for _ in range(60):  # past the linear warm-up: both groups at their full rate
        opt.step()
        scheduler.step()
    assert (base["lr"], tenth["lr"]) == pytest.approx((0.1, 0.01))
    for name in ("resnet-20", "rezero-20", "plain-20-nobn"):
        module = DegradationModule(name, num_classes=10, in_channels=1, config=config.to_dict())
        assert len(module.configure_optimizers()["optimizer"].param_groups) == 1, name
    # SkipInit's reference decays neither its scalars nor its biases: a second group at weight decay 0.
    skipinit = DegradationModule("skipinit-20", num_classes=10, in_channels=1, config=config.to_dict())
    decayed, free = skipinit.configure_optimizers()["optimizer"].param_groups
    named = dict(skipinit.model.named_parameters())
    undecayed = {n for n, p in named.items() if any(p is q for q in free["params"])}
    assert undecayed == {n for n in named if n.endswith((".alpha", ".bias"))} and "layer1.0.alpha" in undecayed
    assert (decayed["weight_decay"], free["weight_decay"]) == (config.weight_decay, 0.0)
    assert decayed["lr"] == free["lr"]


def test_profiles_load_and_bad_values_are_refused():
    for profile in ("smoke", "quick", "paper", "imagenet"):
        load_profile(profile)
    with pytest.raises(ConfigError, match="valid: imagenet, paper, quick, smoke"):
        load_profile("fast")
    with pytest.raises(ConfigError, match="batch_size"):
        load_profile("quick", ["batch_size=0"])
    with pytest.raises(ConfigError, match="unknown key 'batchsize'"):
        load_profile("quick", ["batchsize=64"])
    with pytest.raises(ConfigError, match="bad type for 'lr'"):
        load_profile("quick", ["lr=fast"])


# --- the smoke matrix, end to end through make -------------------------------------------------------------
def test_smoke_matrix_end_to_end(smoke_matrix):
    # `make -j2 degradation PROFILE=smoke SEEDS=0` through the tests' make (the install stamp and the matrix
    # fragment in its folder: nothing installed or written into the checkout), trained in the background
    # while the model tests ran (conftest.py).
    out = smoke_matrix.result()
    assert out.returncode == 0, out.stdout + out.stderr
    models = load_matrices_models("degradation")
    results = sorted((smoke_matrix.runs / "degradation/smoke").glob("*/seed0/result.json"))
    assert len(results) == len(models)
    for path in results:
        result = json.loads(path.read_text())
        assert result["status"] == "ok" and result["iterations"] == load_profile("smoke").max_steps
        assert set(result["final"]) == {"train", "val", "test"}
        assert (path.parent / "checkpoints/last.ckpt").is_file() and (path.parent / "config.yaml").is_file()
    assert "[1/%d]" % len(models) in out.stdout and "[%d/%d]" % (len(models), len(models)) in out.stdout
    assert (smoke_matrix.reports / "degradation/smoke/report.pdf").is_file()
    # A second invocation trains nothing: every run is a finished Make target (`make -q`: exit 0 only when
    # every run target of the matrix is up to date; the check, the report and the status are seen above).
    again = make(smoke_matrix.root, "-q", "runs", "EXPERIMENT=degradation", *smoke_matrix.args[2:], timeout=120)
    assert again.returncode == 0 and " ... " not in again.stdout, again.stdout + again.stderr


def load_matrices_models(name: str) -> list[str]:
    from experiments.config import load_matrices

    return load_matrices()[name]


def test_resize_averages_down_and_pads_up():
    from experiments.config import ConfigError
    from experiments.data import resize

    x = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
    down = resize(x, 2)
    assert down.dtype == torch.uint8 and down.tolist() == [[[[2, 4], [10, 12]]]]  # 2x2 means, rounded half to even
    up = resize(x, 6)
    assert up.shape == (1, 1, 6, 6) and torch.equal(up[..., 1:5, 1:5], x) and up.sum() == x.sum()
    assert resize(x, 4) is x
    with pytest.raises(ConfigError, match="bad image_size 3"):
        resize(torch.zeros(1, 1, 2, 4, dtype=torch.uint8), 3)


def test_linear_warmup_ramps_to_lr_then_steps_down():
    s = StepSchedule([100, 150], 0.1, warmup_steps=50, warmup_factor=0.1, warmup="linear")
    assert [s(i) for i in (0, 25, 50, 99, 100, 150)] == pytest.approx([0.1, 0.55, 1.0, 1.0, 0.1, 0.01])
    constant = StepSchedule([100], 0.1, warmup_steps=50, warmup_factor=0.1)
    assert [constant(i) for i in (0, 49, 50)] == pytest.approx([0.1, 0.1, 1.0])


def test_each_tensor_datasets_declared_channels_are_its_loaded_images(cifar, tmp_path):
    """make's input check builds a plugin net for ``Dataset.channels`` without loading the data; the runs see
    the loaded tensors' channels. The two must agree for every tensor dataset."""
    from experiments.data import DATASETS, dataset

    make_fashion_mnist(tmp_path / "fm")
    roots = {"fashion-mnist": tmp_path / "fm", "cifar10": cifar[0], "synthetic": tmp_path}
    assert set(roots) == {name for name, d in DATASETS.items() if d.tensors}  # a new tensor dataset joins here
    for name, root in roots.items():
        config = RunConfig(dataset=name, val_size=10, synthetic_train=64, synthetic_eval=16)
        assert load_tensors(config, root).train_x.shape[1] == dataset(name).channels, name



def test_a_failed_download_leaves_nothing_it_wrote(tmp_path, monkeypatch):
    """Found by a fault hunt: `experiments.data prepare --profile paper` without a network left an empty
    DATA_DIR (and torchvision's partial files) behind. What was there before stays."""
    import torchvision.datasets as tvd

    from experiments.data import DataUnavailable, base

    def failing(root, train, download):
        folder = Path(root) / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"partial")
        raise OSError("network is unreachable")

    monkeypatch.setattr(tvd, "CIFAR10", failing)
    monkeypatch.delenv(base.OFFLINE_ENV, raising=False)
    fresh = tmp_path / "fresh"
    with pytest.raises(DataUnavailable, match="the download failed .OSError: network is unreachable."):
        base.download("CIFAR10", fresh, True, how="get it by hand")
    assert not fresh.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("the user's")
    with pytest.raises(DataUnavailable):
        base.download("CIFAR10", kept, True, how="get it by hand")
    assert sorted(p.name for p in kept.iterdir()) == ["mine.txt"]
