"""Issue 15: ``create_model("resnet-50", num_classes=1000, preset="seed")`` computes the seed's TF1 ResNet-50.

The reference is TensorFlow's own computation of the seed's graph (shared/seeds/000_dd9a21c5e752873c.txt),
committed as ``tests/fixtures/seed_resnet50.npz`` by ``tests/fixtures/make_seed_fixture.py`` (run once in a
scratch environment with the ``seed`` extra). This file needs numpy and torch only: it draws the same
weights and inputs from ``tests/fixtures/seed_draws.py``, loads them into the suite's nets through the
variable mapping of ``test_models.py`` (HWIO -> OIHW, ``[in, out]`` -> ``[out, in]``), and compares
evaluation mode, training mode and the moving statistics after 3 training-mode steps. The default net with
the same weights must differ by far more than the tolerance: the preset is what makes the difference.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from seed_draws import BATCH, FIXTURE, NUM_CLASSES, STEPS, checksum, draw_inputs, draw_variable, stat_channels  # noqa: E402
from test_models import seed_scope, seed_variable  # noqa: E402  (our names -> the seed's, defined once)

import models  # noqa: E402
from models import create_model  # noqa: E402
from models.tf_compat import Conv2dSame, MaxPool2dSame, TFBatchNorm2d, tf_same_padding  # noqa: E402

TOLERANCE = 1e-4  # largest |ours - TF| over largest |TF|, per array (per step, per BN layer)
SEED_OVERRIDES = {"init": "xavier", "bn_eps": 1e-3, "bn_momentum": 0.001}  # the default net, as issue 15 built it


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def load_seed_weights(model: nn.Module) -> float:
    """Loads the fixture's weights (drawn by TF variable name) into ``model``; returns their checksum.

    ``num_batches_tracked`` is 0, as the seed's ``local_step`` before the first step.
    """
    state, drawn = {}, []
    for key, tensor in model.state_dict().items():
        mapped = seed_variable(key, tensor)
        if mapped is None:
            state[key] = torch.zeros_like(tensor)
            continue
        value = draw_variable(*mapped)
        drawn.append((mapped[0], value))
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif value.ndim == 2:
            value = value.T  # xw_plus_b's [in, out] -> Linear's [out, in]
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    model.load_state_dict(state)
    return checksum(v for _, v in sorted(drawn, key=lambda item: item[0]))


def compute(model: nn.Module, bn_scopes: list[str]) -> dict[str, np.ndarray]:
    """What the generator asks of TF, asked of ``model``: the fixture's arrays."""
    images = torch.from_numpy(draw_inputs()).permute(0, 1, 4, 2, 3).contiguous()  # NHWC -> NCHW
    bns = {seed_scope(n): m for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    out = {}
    with torch.no_grad():
        out["eval_logits"] = model.eval()(images[0]).numpy()
        out["train_logits"] = np.stack([model.train()(images[k]).numpy() for k in range(STEPS)])
        for leaf, buffer in (("moving_mean", "running_mean"), ("moving_variance", "running_var")):
            out[leaf] = np.stack(
                [getattr(bns[s], buffer).numpy()[stat_channels(bns[s].num_features)] for s in bn_scopes]
            )
        out["eval_logits_after"] = model.eval()(images[0]).numpy()
    return out


@pytest.fixture(scope="module")
def seed_run():
    with np.load(FIXTURE, allow_pickle=False) as f:  # committed: a missing file is an error, never a skip
        reference = dict(f)
    assert checksum([draw_inputs()]) == pytest.approx(float(reference["input_checksum"]), rel=1e-12), (
        f"the inputs drawn here differ from the fixture's (numpy {np.__version__}, fixture numpy "
        f"{reference['numpy_version']}): numpy's streams changed, regenerate the fixture"
    )
    bn_scopes = [str(s) for s in reference["bn_scopes"]]
    nets = {
        "preset": create_model("resnet-50", num_classes=NUM_CLASSES, preset="seed"),
        "default": create_model("resnet-50", num_classes=NUM_CLASSES, **SEED_OVERRIDES),
    }
    results = {}
    for label, net in nets.items():
        weights = load_seed_weights(net)
        assert weights == pytest.approx(float(reference["weight_checksum"]), rel=1e-12), (
            "the weights drawn here differ from the fixture's: numpy's streams changed, regenerate the fixture"
        )
        results[label] = compute(net, bn_scopes)
    return reference, results


def errors(reference: dict, ours: dict, key: str) -> list[float]:
    """Relative errors of one array of the fixture: per step / per BN layer where it has those."""
    if key in ("train_logits", "moving_mean", "moving_variance"):
        return [relative_error(a, b) for a, b in zip(ours[key], reference[key])]
    return [relative_error(ours[key], reference[key])]


KEYS = ["eval_logits", "train_logits", "moving_mean", "moving_variance", "eval_logits_after"]


@pytest.mark.parametrize("key", KEYS)
def test_seed_preset_computes_what_tensorflow_computes_and_the_default_does_not(seed_run, key):
    reference, results = seed_run
    assert results["preset"][key].shape == reference[key].shape
    preset, default = errors(reference, results["preset"], key), errors(reference, results["default"], key)
    assert max(preset) <= TOLERANCE, f"{key}: preset vs TF {max(preset):.3g} (per step/layer: {preset})"
    # Clearly more than the tolerance: without the preset the net is not the seed's.
    assert max(default) >= 10 * TOLERANCE, f"{key}: default vs TF only {max(default):.3g}"


def test_seed_fixture_is_what_the_generator_says(seed_run):
    reference, _ = seed_run
    assert reference["eval_logits"].shape == (BATCH, NUM_CLASSES)
    assert reference["train_logits"].shape == (STEPS, BATCH, NUM_CLASSES)
    assert reference["moving_mean"].shape == (53, 32) == reference["moving_variance"].shape
    assert np.isfinite(reference["train_logits"]).all() and reference["train_logits"].std() > 0.1
    # The seed's zero-debias forgets the drawn moving statistics (>= 0.5) after one step: the variance is
    # the batch's, which at the first BN (7x7 conv of N(0, 1) pixels with xavier weights) is well below.
    assert reference["moving_variance"][0].max() < 0.5


# --- the padding ----------------------------------------------------------------------------------------


def tf_formula(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's "SAME" (tensorflow/core/framework/kernel_shape_util.cc), as issue 15 quotes it."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("kernel, stride", [(1, 1), (1, 2), (3, 1), (3, 2), (7, 2), (4, 2), (5, 3)])
def test_tf_same_padding_is_tfs_formula_on_odd_and_even_sizes(kernel, stride):
    for size in range(1, 70):
        assert tf_same_padding(size, kernel, stride) == tf_formula(size, kernel, stride), size
    # The seed's two layers on 224x224: the odd pixel goes to the bottom/right on even inputs.
    assert tf_same_padding(224, 7, 2) == (2, 3) and tf_same_padding(225, 7, 2) == (3, 3)
    assert tf_same_padding(112, 3, 2) == (0, 1) and tf_same_padding(113, 3, 2) == (1, 1)
    with pytest.raises(ValueError, match="0"):
        tf_same_padding(0, kernel, stride)


@pytest.mark.parametrize("size", [224, 225, 14, 15])
def test_conv_and_pool_sample_where_tf_does(size):
    """A 7x7 stride-2 convolution whose only tap is the centre reads input pixel ``2 i - before + 3``."""
    before = tf_formula(size, 7, 2)[0]
    rows = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1).expand(1, 1, size, size).contiguous()
    conv = Conv2dSame(1, 1, 7, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 3, 3] = 1.0
        out = conv(rows)
    assert out.shape[-2:] == (math.ceil(size / 2),) * 2
    assert out[0, 0, :, 0].tolist() == [float(2 * i - before + 3) for i in range(out.shape[-2])]
    torch_default = nn.Conv2d(1, 1, 7, stride=2, padding=3, bias=False)
    torch_default.load_state_dict(conv.state_dict())
    shift = (out - torch_default(rows)).unique().tolist()
    assert shift == ([1.0] if size % 2 == 0 else [0.0])  # one pixel apart on even sizes only

    # Max-pool: windows [2i - before, 2i - before + 2] of increasing rows; the -inf padding never wins,
    # so an all-negative input stays negative (zero padding would give 0 at the padded border).
    before = tf_formula(size, 3, 2)[0]
    pooled = MaxPool2dSame(3, 2)(rows)
    assert pooled[0, 0, :, 0].tolist() == [float(min(2 * i - before + 2, size - 1)) for i in range(math.ceil(size / 2))]
    assert (MaxPool2dSame(3, 2)(-1.0 - rows) < 0).all()


# --- BN's moving averages -------------------------------------------------------------------------------


def test_tf_batch_norm_averages_as_assign_moving_average_with_zero_debias():
    torch.manual_seed(0)
    momentum, channels, steps = 0.001, 3, 5
    tf_bn = TFBatchNorm2d(channels, eps=1e-3, momentum=momentum)
    torch_bn = nn.BatchNorm2d(channels, eps=1e-3, momentum=momentum)
    with torch.no_grad():
        tf_bn.running_mean.fill_(5.0)  # forgotten at the first step, whatever was loaded
        tf_bn.running_var.fill_(7.0)
    means, variances = [], []
    for t in range(1, steps + 1):
        x = torch.randn(2, channels, 3, 3) * t + t
        out = tf_bn(x)
        assert torch.allclose(out, torch_bn(x), atol=1e-5)  # same normalisation: batch mean, biased variance
        means.append(x.double().mean((0, 2, 3)))
        variances.append(x.double().var((0, 2, 3), correction=0))  # tf.nn.moments: biased
        # assign_moving_average(zero_debias=True): an EMA from 0, divided by 1 - (1 - decay)^t, where TF's
        # decay (1 - 0.999) and 1 - decay are float32 numbers; the rest in float64 here.
        decay = float(np.float32(momentum))
        keep = float(np.float32(1.0) - np.float32(momentum))
        weights = torch.tensor([decay * keep ** (t - 1 - i) for i in range(t)], dtype=torch.float64)
        correction = 1 - keep**t
        expected_mean = (weights[:, None] * torch.stack(means)).sum(0) / correction
        expected_var = (weights[:, None] * torch.stack(variances)).sum(0) / correction
        assert torch.allclose(tf_bn.running_mean.double(), expected_mean, rtol=1e-5)
        assert torch.allclose(tf_bn.running_var.double(), expected_var, rtol=1e-5)
        assert int(tf_bn.num_batches_tracked) == t
    # PyTorch's own: from 0 and 1, unbiased variance: far from the seed's after 5 steps.
    assert not torch.allclose(torch_bn.running_var.double(), expected_var, rtol=0.5)
    tf_bn.eval()
    assert torch.allclose(tf_bn(x), F.batch_norm(x, tf_bn.running_mean, tf_bn.running_var, tf_bn.weight, tf_bn.bias, eps=1e-3))


# --- the preset as a model ------------------------------------------------------------------------------


def test_seed_preset_is_the_default_net_with_tf_conventions_and_the_same_state_dict():
    preset = create_model("resnet-50", num_classes=1000, preset="seed")
    default = create_model("resnet-50", num_classes=1000, **SEED_OVERRIDES)
    assert preset.spec.init == "xavier" and preset.spec.bn_eps == 1e-3 and preset.spec.bn_momentum == 0.001
    assert preset.spec.tf_same and preset.spec.tf_bn and not default.spec.tf_same and not default.spec.tf_bn
    assert models.count_params(preset) == models.count_params(default) == 25_557_032
    assert preset.state_dict().keys() == default.state_dict().keys()
    preset.load_state_dict(default.state_dict())  # and back: the same buffers, no extra ones
    default.load_state_dict(preset.state_dict())
    # TF's padding only where it can differ (stride > 1, kernel > 1): the stem's conv and max-pool.
    same = [n for n, m in preset.named_modules() if isinstance(m, (Conv2dSame, MaxPool2dSame))]
    assert same == ["conv1", "maxpool"]
    assert all(isinstance(m, TFBatchNorm2d) for m in preset.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(isinstance(m, (Conv2dSame, MaxPool2dSame, TFBatchNorm2d)) for m in default.modules())
    # ResNet-34 has 3x3 stride-2 convolutions in its blocks: those pad as TF too.
    r34 = create_model("resnet-34", num_classes=1000, preset="seed", width=8)
    strided3x3 = [m for m in r34.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.stride == (2, 2)]
    assert len(strided3x3) == 3 and all(isinstance(m, Conv2dSame) for m in strided3x3)


@pytest.mark.parametrize("size", [193, 224])
def test_seed_preset_trains_on_the_sizes_it_takes(size):
    torch.manual_seed(0)
    net = create_model("resnet-50", num_classes=10, preset="seed", width=4).train()
    F.cross_entropy(net(torch.randn(2, 3, size, size)), torch.tensor([0, 1])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("size", [192, 225, 448])
def test_seed_preset_refuses_inputs_whose_pool_is_not_global(size):
    net = create_model("resnet-50", num_classes=10, preset="seed", width=4).eval()
    with pytest.raises(ValueError) as info, torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    assert f"{size}x{size}" in str(info.value) and "193 to 224" in str(info.value)


@pytest.mark.parametrize("name, overrides, bad, valid", [
    ("resnet-50", {"preset": "tf"}, "'tf'", "seed"),
    ("resnet-50", {"preset": "seed", "init": "he"}, "init='he'", "'xavier'"),
    ("resnet-50", {"preset": "seed", "bn_eps": 1e-5}, "bn_eps=1e-05", "0.001"),
    ("resnet-50", {"preset": "seed", "tf_bn": False}, "tf_bn=False", "True"),
    ("resnet-50", {"preset": "seed", "stem": "cifar"}, "stem='cifar'", "'imagenet'"),
    ("resnet-56", {"preset": "seed"}, "'resnet-56'", "50"),
    ("resnet-50", {"preset": "seed", "family": "cifar"}, "CIFAR", "18, 34, 50, 101, 152"),
    ("resnet-50", {"tf_same": 1}, "tf_same 1", "True, False"),
])
def test_seed_preset_refuses_what_it_cannot_be(name, overrides, bad, valid):
    with pytest.raises(ValueError) as info:
        create_model(name, **overrides)
    assert bad in str(info.value) and valid in str(info.value), str(info.value)
