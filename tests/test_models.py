"""Contract tests of ``models/`` over the whole registry (timm's and torchvision's style).

Every test enumerates ``models.list_models()``; names are written by hand only in the golden tables
(parameter counts and FLOPs from the paper and torchvision). Expected values come from independent
oracles written here: the paper's Table 1 and its 6n+2 rule for the stage structure, and a re-implementation
of the seed's TF1 ResNet-50 (``/work/shared/seeds/000_dd9a21c5e752873c.txt``) for its variable list.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import pickle
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models

ALL = models.paper_models()  # the paper's plain and residual nets; the methods: tests/test_methods.py
_NAME = re.compile(r"^(?P<kind>plain|resnet)-(?P<depth>\d+)(?:-(?P<option>[abc]))?$")

# --- oracles, independent of models/ ------------------------------------------------------------

# The paper's Table 1: depth -> (expansion of the block, blocks per stage).
PAPER_TABLE1 = {
    18: (1, (2, 2, 2, 2)),
    34: (1, (3, 4, 6, 3)),
    50: (4, (3, 4, 6, 3)),
    101: (4, (3, 4, 23, 3)),
    152: (4, (3, 8, 36, 3)),
}


def parse(name: str) -> tuple[str, int, str | None]:
    match = _NAME.match(name)
    assert match, f"registered name {name!r} does not follow plain-<d> | resnet-<d>[-a|b|c]"
    return match["kind"], int(match["depth"]), match["option"]


def family_of(name: str) -> str:
    """README.md (Models in Python): the ImageNet meaning wins for the depths of Table 1 (50 and 152 are also
    6n+2; ``family="cifar"`` gives the 6n+2 one)."""
    return "imagenet" if parse(name)[1] in PAPER_TABLE1 else "cifar"


def option_of(name: str, family: str | None = None) -> str | None:
    """The shortcut a name means: None for plain; the paper's default (A for CIFAR and 18/34, B for 50+)."""
    kind, depth, option = parse(name)
    if kind == "plain":
        return None
    family = family or family_of(name)
    return option or ("b" if family == "imagenet" and depth >= 50 else "a")


# The tests that compute with a net (forward, backward, counting) take every name but the 1202-layer nets
# with an explicit shortcut option (about 1 s each per test): a block's structure does not change past 110
# layers, every option is computed at every other depth, and the paper's two 1202-layer nets (plain-1202,
# resnet-1202 with its option A) stay. The structural and guard tests (keys, names, counts) keep every name.
COMPUTED = [n for n in ALL if not (parse(n)[1] > 200 and parse(n)[2] is not None)]


def block_shapes(depth: int, family: str, width: int | None = None) -> tuple[str, list[tuple[int, int, int]]]:
    """("basic" | "bottleneck", [(in_channels, out_channels, stride)] for every block, in order)."""
    if family == "imagenet":
        expansion, blocks = PAPER_TABLE1[depth]
        width = width or 64
    else:
        assert (depth - 2) % 6 == 0
        expansion, blocks = 1, ((depth - 2) // 6,) * 3
        width = width or 16
    shapes, channels = [], width
    for stage, n in enumerate(blocks):
        out = width * 2**stage * expansion
        for j in range(n):
            shapes.append((channels, out, 2 if stage > 0 and j == 0 else 1))
            channels = out
    return ("bottleneck" if expansion == 4 else "basic"), shapes


def projection_params(name: str, family: str | None = None, width: int | None = None) -> int:
    """Parameters the shortcuts add: in*out (1x1 conv) + 2*out (BN) for every block with a projection."""
    family = family or family_of(name)
    option = option_of(name, family)
    _, shapes = block_shapes(parse(name)[1], family, width)
    total = 0
    for cin, cout, stride in shapes:
        if option == "c" or (option == "b" and (stride != 1 or cin != cout)):
            total += cin * cout + 2 * cout
    return total


def plain_params(name: str, num_classes: int, family: str | None = None, width: int | None = None,
                 stem: str | None = None, in_channels: int = 3) -> int:
    """Parameters of the plain net of that depth: stem conv + BN, the blocks, the fully connected layer."""
    family = family or family_of(name)
    kind, shapes = block_shapes(parse(name)[1], family, width)
    k = 7 if (stem or family) == "imagenet" else 3
    stem_width = shapes[0][0]
    total = in_channels * stem_width * k * k + 2 * stem_width
    for cin, cout, _ in shapes:
        if kind == "basic":
            total += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
        else:
            mid = cout // 4
            total += cin * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * cout + 2 * cout
    return total + shapes[-1][1] * num_classes + num_classes


# --- helpers -------------------------------------------------------------------------------------

SMALL = {"width": 4}  # for tests about structure, not about the default widths


def light(name: str) -> dict:
    """Overrides that keep a forward pass cheap: the quick profile's width 16 for the ImageNet family
    (building ResNet-152's 60M parameters alone takes a second), width 4 for the 1202-layer nets."""
    if family_of(name) == "imagenet":
        return {"width": 16}
    return {"width": 4} if parse(name)[1] > 200 else {}


@functools.lru_cache(maxsize=None)
def cached(name: str, **overrides) -> models.ResNet:
    """A model built once, for tests that only read it (no training-mode forward, no backward)."""
    torch.manual_seed(0)
    return models.create_model(name, **overrides)


def input_for(name: str, batch: int = 2, family: str | None = None, stem: str | None = None,
              cifar_size: int = 32) -> torch.Tensor:
    imagenet_stem = (stem or family or family_of(name)) == "imagenet"
    size = 64 if imagenet_stem else cifar_size
    return torch.randn(batch, 3, size, size)


def is_shortcut(module_name: str) -> bool:
    return ".shortcut." in f".{module_name}."


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_a_cache():
    """These nets are deep and their tensors tiny: one thread is as fast, and unlike two it does not
    slow down a hundredfold when other processes share the two cores (OpenMP threads wait on each other
    at every one of ResNet-1202's ~5000 operations)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    cached.cache_clear()  # about 1 GB of models, ResNet-152's included


def test_registry_names_parse_and_cover_both_families():
    assert ALL and len(ALL) == len(set(ALL))
    for name in ALL:
        parse(name)
        assert models.model_family(name) == family_of(name), name
    assert {family_of(n) for n in ALL} == {"cifar", "imagenet"}
    assert {option_of(n) for n in ALL} == {None, "a", "b", "c"}
    # Every residual name has its plain twin, the degradation experiment's pair.
    for name in ALL:
        assert f"plain-{parse(name)[1]}" in ALL


# --- forward: shape and finite output -----------------------------------------------------------

FORWARD_CASES = [(n, None) for n in COMPUTED] + [(n, "cifar") for n in ALL if family_of(n) == "imagenet"]


@pytest.mark.parametrize("name, stem", FORWARD_CASES, ids=[f"{n}-stem:{s or 'default'}" for n, s in FORWARD_CASES])
def test_forward_shape_and_finite(name, stem):
    overrides = {"stem": stem} if stem else {}
    # bn_momentum=1: one training-mode pass sets the running statistics to that batch's, so the eval-mode
    # pass below is meaningful. (With fresh statistics, mean 0 and variance 1, an eval-mode ResNet-1202
    # overflows: every residual block roughly doubles the variance.)
    model = models.create_model(name, num_classes=10, bn_momentum=1.0, **light(name), **overrides)
    x = input_for(name, stem=stem)
    with torch.no_grad():
        model.train()
        y_train = model(x)
        model.eval()
        y_eval = model(x)
    for y in (y_train, y_eval):
        assert y.shape == (2, 10)
        assert y.dtype == torch.float32
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", [n for n in COMPUTED if option_of(n) == "a"])
def test_option_a_forward_on_odd_sizes(name):
    """The zero-pad shortcut subsamples exactly like a stride-2 convolution, odd sizes too."""
    model = models.create_model(name, **SMALL, stem="cifar")
    with torch.no_grad():
        y = model(torch.randn(2, 3, 33, 33))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", [n for n in ALL if parse(n)[1] <= 200])
def test_one_channel_28x28_inputs(name):
    """The quick profile's Fashion-MNIST images, with either family's default stem."""
    model = models.create_model(name, num_classes=10, in_channels=1, **SMALL)
    assert models.count_params(model) == plain_params(name, 10, width=4, in_channels=1) + projection_params(name, width=4)
    with torch.no_grad():
        y = model.eval()(torch.randn(2, 1, 28, 28))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


# --- backward: every parameter gets a gradient --------------------------------------------------


@pytest.mark.parametrize("name", COMPUTED)
def test_every_parameter_gets_a_finite_gradient(name):
    # float64: at initialisation, BN in training mode makes the gradients of a deep plain net explode
    # with depth (Yang et al. 2019, "A mean field theory of batch normalization"): at the stem, plain-1202's
    # reach ~1e89 and resnet-1202-c's (a BN projection on every block) ~1e70, past float32's range (see
    # the float32 test below). This
    # test is about wiring: every parameter is reached by the loss. float64 convolutions are slow on the
    # CPU, hence the narrow nets.
    width = 8 if family_of(name) == "imagenet" else 4
    model = models.create_model(name, num_classes=10, width=width).double().train()
    x = input_for(name, cifar_size=16).double()
    loss = F.cross_entropy(model(x), torch.tensor([1, 7]))
    loss.backward()
    params = dict(model.named_parameters())
    assert params
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"


def test_identity_shortcuts_keep_float32_gradients_finite_where_the_plain_net_overflows():
    """At initialisation, identity shortcuts keep ResNet-1202's float32 gradients in range; the plain net's
    overflow (inf/nan) in the first backward pass, so a float32 plain-1202 run diverges at once."""
    depth = max(parse(n)[1] for n in ALL)
    grads = {}
    for name in (f"plain-{depth}", f"resnet-{depth}"):
        model = models.create_model(name, width=4).train()  # the explosion depends on depth, not width
        F.cross_entropy(model(input_for(name, cifar_size=16)), torch.tensor([1, 7])).backward()
        grads[name] = model.conv1.weight.grad
    assert torch.isfinite(grads[f"resnet-{depth}"]).all()
    assert not torch.isfinite(grads[f"plain-{depth}"]).all()


# --- depth, parameter counts, names -------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_weighted_layers_equal_the_depth_in_the_name(name):
    model = cached(name, **SMALL)
    layers = models.weighted_layers(model)
    assert len(layers) == parse(name)[1]
    assert layers[0] == "conv1" and isinstance(model.get_submodule(layers[-1]), nn.Linear)
    # Every other weighted module is a 1x1 projection inside a shortcut.
    for mname, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and mname not in layers:
            assert is_shortcut(mname) and isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1), mname


GOLDEN_PARAMS = {
    # name: (num_classes, parameters): the paper's counts (section 4.2, e.g. ResNet-56 0.85M); torchvision's for ImageNet
    "plain-20": (10, 269_722),
    "resnet-20": (10, 269_722),
    "plain-32": (10, 464_154),
    "resnet-32": (10, 464_154),
    "plain-44": (10, 658_586),
    "resnet-44": (10, 658_586),
    "plain-56": (10, 853_018),
    "resnet-56": (10, 853_018),
    "plain-110": (10, 1_727_962),
    "resnet-110": (10, 1_727_962),
    "resnet-18-b": (1000, 11_689_512),
    "resnet-34-b": (1000, 21_797_672),
    "resnet-50": (1000, 25_557_032),
    "resnet-101": (1000, 44_549_160),
    "resnet-152": (1000, 60_192_808),
}


@pytest.mark.parametrize("name", GOLDEN_PARAMS)
def test_golden_parameter_counts(name):
    assert name in ALL
    num_classes, expected = GOLDEN_PARAMS[name]
    model = cached(name, num_classes=num_classes)
    assert models.count_params(model) == expected
    # The oracle used over the whole registry below agrees with the golden numbers.
    assert plain_params(name, num_classes) + projection_params(name) == expected


@pytest.mark.parametrize("name", ALL)
def test_parameter_count_is_plain_plus_projections(name):
    """Option A adds no parameter over the plain net; B and C add exactly their projections."""
    count = models.count_params(cached(name, **SMALL))
    assert count == plain_params(name, 10, width=4) + projection_params(name, width=4)
    plain = models.count_params(cached(f"plain-{parse(name)[1]}", **SMALL))
    if option_of(name) in (None, "a"):
        assert count == plain
    else:
        assert count - plain == projection_params(name, width=4) > 0


@pytest.mark.parametrize("name", [n for n in ALL if option_of(n) is not None])
def test_plain_and_residual_share_names_apart_from_shortcuts(name):
    residual = cached(name, **SMALL).state_dict()
    plain = cached(f"plain-{parse(name)[1]}", **SMALL).state_dict()
    main_path = {k: v.shape for k, v in residual.items() if not is_shortcut(k.rpartition(".")[0])}
    assert list(main_path) == list(plain)  # same names, same order, BN buffers included
    assert main_path == {k: v.shape for k, v in plain.items()}
    shortcut_keys = [k for k in residual if k not in plain]
    if option_of(name) == "a":
        assert shortcut_keys == []
    else:
        assert shortcut_keys and all(".shortcut." in k for k in shortcut_keys)
        assert any(k.endswith("running_var") for k in shortcut_keys)  # the projections' BN buffers


@pytest.mark.parametrize("name", [n for n in ALL if parse(n)[0] == "resnet" and parse(n)[2] is None])
def test_default_shortcut_is_the_papers(name):
    default = cached(name, **SMALL)
    explicit = cached(f"{name}-{option_of(name)}", **SMALL)
    assert [type(m) for m in default.modules()] == [type(m) for m in explicit.modules()]
    assert {k: v.shape for k, v in default.state_dict().items()} == {
        k: v.shape for k, v in explicit.state_dict().items()
    }


# --- option A -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cin, cout, stride, size",
    [(16, 32, 2, 8), (32, 64, 2, 7), (64, 256, 1, 8), (256, 512, 2, 9), (3, 5, 2, 5), (8, 8, 2, 6), (8, 8, 1, 4)],
)
def test_zero_pad_shortcut_subsamples_and_pads_with_zeros(cin, cout, stride, size):
    shortcut = models.ZeroPadShortcut(cin, cout, stride)
    assert list(shortcut.parameters()) == [] and shortcut.state_dict() == {}
    x = torch.randn(2, cin, size, size)
    y = shortcut(x)
    out_size = math.ceil(size / stride)
    assert y.shape == (2, cout, out_size, out_size)
    # the same spatial size as a 3x3/stride-s/pad-1 convolution, the main path it is added to
    assert y.shape[-1] == nn.Conv2d(1, 1, 3, stride, 1)(torch.zeros(1, 1, size, size)).shape[-1]
    torch.testing.assert_close(y[:, :cin], x[:, :, ::stride, ::stride], rtol=0, atol=0)
    assert (y[:, cin:] == 0).all()


def test_zero_pad_shortcut_refuses_to_shrink():
    with pytest.raises(ValueError, match="shrink"):
        models.ZeroPadShortcut(64, 32, 1)


@pytest.mark.parametrize("name", [n for n in ALL if option_of(n) == "a"])
def test_option_a_models_use_the_zero_pad_module_where_the_shape_changes(name):
    model = cached(name, **SMALL)
    family = family_of(name)
    _, shapes = block_shapes(parse(name)[1], family, width=4)
    blocks = [m for m in model.modules() if isinstance(m, (models.BasicBlock, models.Bottleneck))]
    assert len(blocks) == len(shapes)
    for block, (cin, cout, stride) in zip(blocks, shapes):
        if stride != 1 or cin != cout:
            assert isinstance(block.shortcut, models.ZeroPadShortcut)
            assert (block.shortcut.stride, block.shortcut.extra) == (stride, cout - cin)
        else:
            assert isinstance(block.shortcut, nn.Identity)


# --- pickling -----------------------------------------------------------------------------------


# Pickling depends on the module classes, not on the depth, and a 1202-layer net takes seconds to pickle:
# the nets up to ResNet-152 are pickled, and the deeper ones are checked to be made of the same classes.
PICKLED = [n for n in ALL if parse(n)[1] <= 200]


@pytest.mark.parametrize("name", PICKLED)
def test_models_pickle(name):
    model = cached(name, **SMALL)
    x = input_for(name)
    copies = [pickle.loads(pickle.dumps(model))]
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    copies.append(torch.load(buffer, weights_only=False))
    with torch.no_grad():
        expected = model.eval()(x)
        for copy in copies:
            assert type(copy) is type(model) and copy.spec == model.spec
            assert repr(copy) == repr(model)  # the same modules, ZeroPadShortcut's stride and padding too
            state = copy.state_dict()
            assert list(state) == list(model.state_dict())
            for key, value in model.state_dict().items():
                assert torch.equal(state[key], value), key
            torch.testing.assert_close(copy.eval()(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in ALL if n not in PICKLED])
def test_deeper_models_are_made_of_pickled_classes(name):
    kind, _, option = parse(name)
    twins = [n for n in PICKLED if parse(n)[0] == kind and parse(n)[2] == option and family_of(n) == family_of(name)]
    assert twins
    pickled_types = {type(m) for twin in twins for m in cached(twin, **SMALL).modules()}
    assert {type(m) for m in cached(name, **SMALL).modules()} <= pickled_types


# --- the seed's TF1 ResNet-50 -------------------------------------------------------------------


def seed_resnet50(height: int = 224, in_channels: int = 3, num_classes: int = 1000):
    """The seed's ``ResNet50`` construction, mirrored: same scopes, same helpers, same branches.

    A tensor is its static NHWC shape without the batch, ``(H, W, C)``. Returns the variables in creation
    order as ``(name, shape, trainable)``, and every convolution's stride and output shape by scope.
    """
    variables, strides, conv_outputs, scopes = [], {}, {}, []

    @contextlib.contextmanager
    def variable_scope(name):
        scopes.append(name)
        try:
            yield
        finally:
            scopes.pop()

    def create_var(name, shape, trainable=True):
        variables.append(("/".join(scopes + [name]), tuple(shape), trainable))

    def conv2d(x, num_outputs, kernel_size, stride=1, scope="conv2d"):
        h, w, num_inputs = x
        with variable_scope(scope):
            create_var("kernel", [kernel_size, kernel_size, num_inputs, num_outputs])
            out = (math.ceil(h / stride), math.ceil(w / stride), num_outputs)  # padding="SAME"
            strides["/".join(scopes)] = stride
            conv_outputs["/".join(scopes)] = out
        return out

    def batch_norm(x, scope="scope"):
        num_inputs = x[-1]
        with variable_scope(scope):
            create_var("beta", [num_inputs])
            create_var("gamma", [num_inputs])
            create_var("moving_mean", [num_inputs], trainable=False)
            create_var("moving_variance", [num_inputs], trainable=False)
        return x

    def fc(x, num_outputs, scope="fc"):
        num_inputs = x[-1]
        with variable_scope(scope):
            create_var("weight", [num_inputs, num_outputs])
            create_var("bias", [num_outputs])
        return (num_outputs,)

    def max_pool(x, pool_size, stride, scope):  # padding="SAME"
        return (math.ceil(x[0] / stride), math.ceil(x[1] / stride), x[2])

    def avg_pool(x, pool_size, scope):  # padding="VALID", stride = pool_size
        return ((x[0] - pool_size) // pool_size + 1, (x[1] - pool_size) // pool_size + 1, x[2])

    def bottleneck(x, h_out, n_out, stride=None, scope="bottleneck"):
        n_in = x[-1]
        if stride is None:
            stride = 1 if n_in == n_out else 2
        with variable_scope(scope):
            h = conv2d(x, h_out, 1, stride=stride, scope="conv_1")
            h = batch_norm(h, scope="bn_1")
            h = conv2d(h, h_out, 3, stride=1, scope="conv_2")
            h = batch_norm(h, scope="bn_2")
            h = conv2d(h, n_out, 1, stride=1, scope="conv_3")
            h = batch_norm(h, scope="bn_3")
            if n_in != n_out:
                shortcut = conv2d(x, n_out, 1, stride=stride, scope="conv_4")
                shortcut = batch_norm(shortcut, scope="bn_4")
            else:
                shortcut = x
            assert shortcut == h  # tf.nn.relu(shortcut + h) needs equal shapes
            return h

    def block(x, n_out, n, init_stride=2, scope="block"):
        with variable_scope(scope):
            h_out = n_out // 4
            out = bottleneck(x, h_out, n_out, stride=init_stride, scope="bottlencek1")  # sic
            for i in range(1, n):
                out = bottleneck(out, h_out, n_out, scope=("bottlencek%s" % (i + 1)))
            return out

    stage_outputs = []
    with variable_scope("resnet50"):
        net = conv2d((height, height, in_channels), 64, 7, 2, scope="conv1")
        net = batch_norm(net, scope="bn1")
        net = max_pool(net, 3, 2, scope="maxpool1")
        stage_outputs.append(net)
        net = block(net, 256, 3, init_stride=1, scope="block2")
        stage_outputs.append(net)
        net = block(net, 512, 4, scope="block3")
        stage_outputs.append(net)
        net = block(net, 1024, 6, scope="block4")
        stage_outputs.append(net)
        net = block(net, 2048, 3, scope="block5")
        stage_outputs.append(net)
        net = avg_pool(net, 7, scope="avgpool5")
        stage_outputs.append(net)
        fc(net[-1:], num_classes, "fc6")
    return variables, strides, conv_outputs, stage_outputs


_BN_LEAVES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_IN_BLOCK = {"conv1": "conv_1", "conv2": "conv_2", "conv3": "conv_3", "shortcut.0": "conv_4",
             "bn1": "bn_1", "bn2": "bn_2", "bn3": "bn_3", "shortcut.1": "bn_4"}


def seed_scope(module_name: str) -> str:
    """Our module name -> the seed's variable scope."""
    match = re.fullmatch(r"layer(\d)\.(\d+)\.(.+)", module_name)
    if match:
        stage, index, rest = int(match[1]), int(match[2]), match[3]
        return f"resnet50/block{stage + 1}/bottlencek{index + 1}/{_IN_BLOCK[rest]}"
    return "resnet50/" + {"conv1": "conv1", "bn1": "bn1", "fc": "fc6"}[module_name]


def seed_variable(key: str, tensor: torch.Tensor) -> tuple[str, tuple[int, ...]] | None:
    """A state_dict entry -> the seed's (name, shape); None for what TF has no variable for."""
    module_name, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
        return None
    scope = seed_scope(module_name)
    shape = tuple(tensor.shape)
    if tensor.dim() == 4:  # conv, OIHW -> HWIO
        assert leaf == "weight"
        return f"{scope}/kernel", (shape[2], shape[3], shape[1], shape[0])
    if module_name == "fc":  # Linear stores [out, in]; the seed's xw_plus_b [in, out]
        return f"{scope}/{leaf}", shape[::-1]
    return f"{scope}/{_BN_LEAVES[leaf]}", shape


def test_seed_mirror_reproduces_the_seeds_shape_comments():
    _, _, conv_outputs, stages = seed_resnet50()
    assert conv_outputs["resnet50/conv1"] == (112, 112, 64)
    assert stages == [(56, 56, 64), (56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048), (1, 1, 2048)]


def test_seed_resnet50_is_reproduced_exactly():
    name = "resnet-50"
    assert name in ALL
    model = models.create_model(name, num_classes=1000, init="xavier", bn_eps=1e-3, bn_momentum=0.001)
    seed_vars, seed_strides, seed_outputs, _ = seed_resnet50()

    params = {k for k, _ in model.named_parameters()}
    ours = []  # (seed name, shape, trainable), in our registration order
    for key, tensor in model.state_dict().items():
        mapped = seed_variable(key, tensor)
        if mapped is not None:
            ours.append((*mapped, key in params))

    names = [v[0] for v in ours]
    assert len(names) == len(set(names)), "the mapping is not one-to-one"
    assert {n: (s, t) for n, s, t in ours} == {n: (s, t) for n, s, t in seed_vars}
    assert sorted(s for _, s, _ in ours) == sorted(s for _, s, _ in seed_vars)  # as multisets of shapes

    def scope_order(variables):
        order = []
        for n, _, _ in variables:
            scope = n.rpartition("/")[0]
            if not order or order[-1] != scope:
                order.append(scope)
        return order

    assert scope_order(ours) == scope_order(seed_vars)  # same layers in the same order

    # The seed's batch_norm: epsilon=1e-3, decay=0.999 (PyTorch's momentum is 1 - decay).
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == sum(n.endswith("/gamma") for n, _, _ in seed_vars)
    for bn in bns:
        assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(1 - 0.999)

    # Strides: on conv_1 (and the conv_4 projection) of each block's first bottleneck; block2's is 1.
    convs = {seed_scope(n): m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert set(convs) == set(seed_strides)
    for scope, stride in seed_strides.items():
        assert convs[scope].stride == (stride, stride), scope
    for block, stride in (("block2", 1), ("block3", 2), ("block4", 2), ("block5", 2)):
        assert seed_strides[f"resnet50/{block}/bottlencek1/conv_1"] == stride
        assert seed_strides[f"resnet50/{block}/bottlencek1/conv_2"] == 1
    assert all(c.bias is None for c in convs.values())

    # Every convolution's output has the shape the seed's "SAME" convolutions give on 224x224.
    outputs = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, scope=seed_scope(n): outputs.__setitem__(scope, out.shape))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            logits = model.eval()(torch.randn(1, 3, 224, 224))
    finally:
        for hook in hooks:
            hook.remove()
    assert logits.shape == (1, 1000)
    assert {s: (o[2], o[3], o[1]) for s, o in outputs.items()} == seed_outputs


# --- initialisation -----------------------------------------------------------------------------


def _kurtosis(t: torch.Tensor) -> float:
    t = t.detach().double().flatten()
    t = t - t.mean()
    return float((t**4).mean() / (t**2).mean() ** 2)


# One residual net per family, the deepest of at most 60 layers: ResNet-56 and ResNet-50.
INIT_CASES = [
    max((n for n in ALL if family_of(n) == f and parse(n)[0] == "resnet" and parse(n)[2] is None and parse(n)[1] <= 60),
        key=lambda n: parse(n)[1])
    for f in ("cifar", "imagenet")
]


@pytest.mark.parametrize("name", INIT_CASES)
def test_xavier_and_he_init_differ_as_their_formulas_say(name):
    he, xavier = cached(name), cached(name, init="xavier")
    checked = 0
    for (cname, c_he), (_, c_xa) in zip(he.named_modules(), xavier.named_modules()):
        if not isinstance(c_he, nn.Conv2d):
            continue
        cout, cin, kh, kw = c_he.weight.shape
        fan_in, fan_out = cin * kh * kw, cout * kh * kw
        # He et al. 2015 ("delving deep"), fan-out, as the paper's Caffe models and torchvision.
        he_std = math.sqrt(2.0 / fan_out)
        # tf.contrib.layers.xavier_initializer_conv2d: uniform on +-sqrt(6 / (fan_in + fan_out)).
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert c_xa.weight.abs().max() <= bound + 1e-7, cname
        if c_he.weight.numel() < 400:
            continue
        assert float(c_he.weight.detach().std()) == pytest.approx(he_std, rel=0.15), cname
        assert float(c_xa.weight.detach().std()) == pytest.approx(bound / math.sqrt(3), rel=0.15), cname
        if c_he.weight.numel() >= 20_000:  # normal (kurtosis 3) vs uniform (kurtosis 1.8)
            assert _kurtosis(c_he.weight) == pytest.approx(3.0, abs=0.3), cname
            assert _kurtosis(c_xa.weight) == pytest.approx(1.8, abs=0.15), cname
        checked += 1
    assert checked >= 10
    # The seed's fc: xavier weight, zero bias; PyTorch's default Linear init otherwise.
    fan_in, fan_out = xavier.fc.in_features, xavier.fc.out_features
    assert xavier.fc.weight.abs().max() <= math.sqrt(6.0 / (fan_in + fan_out)) + 1e-7
    assert (xavier.fc.bias == 0).all() and (he.fc.bias != 0).any()
    # BN starts as the identity in both.
    for model in (he, xavier):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert (m.weight == 1).all() and (m.bias == 0).all()


# --- errors -------------------------------------------------------------------------------------


def _mentions(message: str, token: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", message) is not None


_VALID_DEPTHS = sorted({str(parse(n)[1]) for n in ALL})

ERROR_CASES = [
    # (name, overrides, the bad value, valid choices: at least one must be named)
    ("foo", {}, "foo", ALL),
    ("resnet", {}, "resnet", ALL),
    ("resnet-21", {}, "21", _VALID_DEPTHS),
    ("plain-0", {}, "0", _VALID_DEPTHS),
    ("resnet-56-d", {}, "resnet-56-d", ["b", "c"]),
    ("plain-20-a", {}, "plain-20-a", ["plain-20"]),
    ("resnet-20", {"foo": 1}, "foo", ["width", "stem", "init", "bn_eps", "bn_momentum", "family"]),
    ("resnet-20", {"stem": "x"}, "x", ["imagenet", "cifar"]),
    ("resnet-20", {"init": "x"}, "x", ["he", "he-fan-in", "xavier"]),
    ("resnet-20", {"width": 0}, "0", ["1", "positive"]),
    ("resnet-20", {"bn_eps": -1}, "-1", ["0", "positive"]),
    ("resnet-20", {"family": "x"}, "x", ["cifar", "imagenet"]),
    ("resnet-20", {"family": "imagenet"}, "20", [str(d) for d in PAPER_TABLE1]),
]


@pytest.mark.parametrize("name, overrides, bad, valid", ERROR_CASES, ids=[f"{c[0]}-{c[1]}" for c in ERROR_CASES])
def test_errors_name_the_bad_value_and_the_valid_choices(name, overrides, bad, valid):
    with pytest.raises(ValueError) as info:
        models.create_model(name, **overrides)
    message = str(info.value)
    assert _mentions(message, bad) or repr(bad) in message, message
    assert any(_mentions(message, choice) for choice in valid), message


# --- families -----------------------------------------------------------------------------------


def _main_path_channels(model: nn.Module) -> set[int]:
    return {m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and not is_shortcut(n)}


@pytest.mark.parametrize("name", [n for n in ALL if family_of(n) == "imagenet" and (parse(n)[1] - 2) % 6 == 0])
def test_family_cifar_gives_the_6n_plus_2_net(name):
    depth = parse(name)[1]
    cifar = cached(name, family="cifar")
    assert len(models.weighted_layers(cifar)) == depth
    assert _main_path_channels(cifar) == {16, 32, 64}
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert sum(isinstance(m, models.BasicBlock) for m in cifar.modules()) == 3 * (depth - 2) // 6
    assert models.count_params(cifar) == plain_params(name, 10, family="cifar") + projection_params(name, "cifar")
    with torch.no_grad():
        assert cifar.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)

    imagenet = cached(name, width=8)  # the default: the ImageNet meaning wins
    assert _main_path_channels(imagenet) == {8 * 2**k for k in range(6)}  # 4 stages, x4 expansion
    assert imagenet.conv1.kernel_size == (7, 7) and imagenet.conv1.stride == (2, 2)
    assert sum(isinstance(m, models.Bottleneck) for m in imagenet.modules()) == sum(PAPER_TABLE1[depth][1])


# --- FLOPs --------------------------------------------------------------------------------------


def multiply_adds(name: str, size: int, family: str | None = None, width: int | None = None,
                  stem: str | None = None, num_classes: int = 10) -> int:
    """Multiply-adds of the convolutions and the fully connected layer on a ``size`` x ``size`` image."""
    family = family or family_of(name)
    kind, shapes = block_shapes(parse(name)[1], family, width)
    option = option_of(name, family)
    stem_width = shapes[0][0]
    if (stem or family) == "imagenet":
        h = (size + 2 * 3 - 7) // 2 + 1  # 7x7, stride 2, padding 3
        total = 3 * stem_width * 49 * h * h
        h = (h + 2 * 1 - 3) // 2 + 1  # 3x3 max-pool, stride 2, padding 1
    else:
        h = size
        total = 3 * stem_width * 9 * h * h
    for cin, cout, stride in shapes:
        h = (h - 1) // stride + 1  # the output of a 3x3/pad-1 or 1x1/pad-0 convolution with that stride
        # Bottlenecks: the stride on the first 1x1 convolution (the paper), so all three run at the output size.
        if kind == "basic":
            total += (9 * cin * cout + 9 * cout * cout) * h * h
        else:
            mid = cout // 4
            total += (cin * mid + 9 * mid * mid + mid * cout) * h * h
        if option == "c" or (option == "b" and (stride != 1 or cin != cout)):
            total += cin * cout * h * h
    return total + shapes[-1][1] * num_classes


@pytest.mark.parametrize("name", COMPUTED)
def test_multiply_adds_count_every_convolution_and_scale_with_the_image_area(name):
    model = cached(name, **SMALL)
    model.train()
    small = models.count_multiply_adds(model, (3, 32, 32))
    assert model.training  # count_multiply_adds restores the mode
    assert small == multiply_adds(name, 32, width=4) > 0  # a multiply-add counts once, as in the paper
    if parse(name)[1] > 200:
        return  # counting costs ~1 ms per operation: one count of the 1202-layer nets is enough
    large = models.count_multiply_adds(model, (3, 64, 64))
    assert large == multiply_adds(name, 64, width=4)
    assert 3.6 < large / small <= 4.0 + 1e-9  # convolutions x4; the fully connected layer is constant


# The paper's Table 1 "FLOPs", which are multiply-adds, on 224x224.
# ResNet-50 also pins the stride on the first 1x1 convolution: torchvision's V1.5 (stride on the 3x3) has
# 4.1e9 multiply-adds, 8% off.
PAPER_MULTIPLY_ADDS = {"resnet-18-b": 1.8e9, "resnet-34-b": 3.6e9, "resnet-50": 3.8e9, "resnet-101": 7.6e9,
                       "resnet-152": 11.3e9}


@pytest.mark.parametrize("name", PAPER_MULTIPLY_ADDS)
def test_multiply_adds_match_the_papers_flops(name):
    assert name in ALL
    count = models.count_multiply_adds(cached(name, num_classes=1000), (3, 224, 224))
    assert count == multiply_adds(name, 224, num_classes=1000)
    assert count == pytest.approx(PAPER_MULTIPLY_ADDS[name], rel=0.05)


# --- layer responses (paper Fig. 7) -------------------------------------------------------------


def _responses_by_execution(model: nn.Module, x: torch.Tensor) -> list[str]:
    """BN layers, in execution order, that directly follow a 3x3 convolution of the main path."""
    calls, hooks = [], []
    for n, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
            hooks.append(m.register_forward_hook(lambda mod, inp, out, n=n: calls.append((n, mod))))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for hook in hooks:
            hook.remove()
    found, previous = [], None
    for n, m in calls:
        if isinstance(m, nn.Conv2d):
            previous = m
        elif previous is not None and previous.kernel_size == (3, 3) and not is_shortcut(n):
            found.append(n)
    return found


RESPONSE_CASES = [(n, None) for n in ALL] + [
    (n, "cifar") for n in ALL if family_of(n) == "imagenet" and (parse(n)[1] - 2) % 6 == 0
]


@pytest.mark.parametrize("name, family", RESPONSE_CASES, ids=[f"{n}-family:{f or 'default'}" for n, f in RESPONSE_CASES])
def test_response_layers(name, family):
    overrides = {"family": family} if family else {}
    model = cached(name, **SMALL, **overrides)
    layers = models.response_layers(model)
    assert all(isinstance(bn, nn.BatchNorm2d) for _, bn in layers)
    assert not any(is_shortcut(n) for n, _ in layers)
    assert [n for n, _ in layers] == _responses_by_execution(model, input_for(name, family=family))
    if (family or family_of(name)) == "cifar":
        depth = parse(name)[1]
        assert len(layers) == depth - 1  # 6n+1: the stem and two per block
        assert layers[0][0] == "bn1"
