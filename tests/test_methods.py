"""The methods against degradation (issue 21, point 1): names, axes, declarations, and each method's
defining property, tested against what its source says, not only that it runs.

Small nets throughout (width 4, one or two blocks a stage, one thread): structure and properties do not
depend on width. Oracles are written here from the papers: the Fixup parameter count from its construction,
He's init formula, the pre-activation block recomputed from its layers.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from helpers_models import one_thread  # noqa: F401 - an autouse fixture
from models.names import CIFAR_DEPTHS, IMAGENET_STAGES, METHODS, parse_name

NEW_METHODS = [m for m in METHODS if m not in ("plain", "resnet")]
NEW_NAMES = [n for n in models.list_models() if n not in set(models.paper_models())]
# Structure does not change past 110 layers: of the 1202-layer nets (about 1.3 s each), each method's default.
STRUCTURE = [n for n in NEW_NAMES if not n.startswith(tuple(f"{m}-1202-" for m in METHODS))]
# One net of every method and token, both families (the ImageNet family with the quick profile's 3x3 stem).
SMALL = ["plain-8-nobn", "resnet-8-nobn", "resnet-8-b-nobn", *[f"{m}-8" for m in NEW_METHODS],
         "preresnet-8-a", "preresnet-8-c", "fixup-8-b", "skipinit-8-a", "rezero-8-b", "highway-8-b",
         "preresnet-8-raw", "preresnet-8-projbn", "preresnet-8-a-raw", "rezero-8-sumrelu", "highway-8-bias2",
         *[f"{m}-18" for m in NEW_METHODS], *[f"{m}-50" for m in NEW_METHODS if m != "highway"],
         "plain-50-nobn", "resnet-50-nobn"]


def build(name: str, seed: int = 0, **overrides) -> nn.Module:
    torch.manual_seed(seed)
    overrides.setdefault("width", 4)
    if models.model_family(name) == "imagenet":
        overrides.setdefault("stem", "cifar")
    return models.create_model(name, **overrides)


def blocks_of(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if hasattr(m, "branch_end")]


# --- names and axes ------------------------------------------------------------------------------


def test_every_method_at_every_cifar_depth_and_its_imagenet_depths():
    for method in METHODS.values():
        for depth in (8, 14, *CIFAR_DEPTHS, 6 * 40 + 2):
            if depth in IMAGENET_STAGES:
                continue
            info = parse_name(f"{method.name}-{depth}")
            assert (info.kind, info.family, info.depth) == (method.name, "cifar", depth)
        for depth in IMAGENET_STAGES:
            name = f"{method.name}-{depth}"
            if depth in method.imagenet_depths:
                assert parse_name(name).family == "imagenet"
            else:
                with pytest.raises(ValueError, match=f"valid: {', '.join(map(str, method.imagenet_depths))}"):
                    parse_name(name)
    assert METHODS["highway"].imagenet_depths == (18, 34)  # no bottleneck highway layer in the source


def test_registry_names_are_make_safe_canonical_and_unique():
    names = models.list_models()
    assert len(names) == len(set(names)) and set(models.paper_models()) < set(names)
    for name in names:
        assert re.fullmatch(r"[a-z0-9-]+", name), name
        info = parse_name(name)
        assert info.name == name and info.depth == int(name.split("-")[1])
    for method in NEW_METHODS:
        assert f"{method}-56" in names and f"{method}-20" in names


@pytest.mark.parametrize("name, bad, valid", [
    ("preresnet-56-b", "preresnet-56-b", "its name is 'preresnet-56'"),
    ("skipinit-56-b", "skipinit-56-b", "its name is 'skipinit-56'"),
    ("preresnet-56-a-projbn", "'projbn'", "valid: preresnet-56-projbn or preresnet-56-a"),
    ("preresnet-56-projbn-raw", "preresnet-56-projbn-raw", "preresnet-56-raw-projbn"),
    ("preresnet-56-raw-a", "preresnet-56-raw-a", "preresnet-56-a-raw"),
    ("rezero-56-sumrelu-sumrelu", "rezero-56-sumrelu-sumrelu", "rezero-56-sumrelu"),
    ("resnet-56-sumrelu", "'sumrelu'", "valid: a, b, c, nobn"),
    ("fixup-56-raw", "'raw'", "valid: a, b, c"),
    ("fixup-50-b", "fixup-50-b", "its name is 'fixup-50'"),
    ("fixup-18-b", "fixup-18-b", "its name is 'fixup-18'"),
    ("resnet-56-nobn-b", "resnet-56-nobn-b", "resnet-56-b-nobn"),
    ("plain-56-nobn-nobn", "nobn", "plain-56-nobn"),
    ("fixup-56-nobn", "'nobn'", "valid: a, b, c"),
    ("highway-56-c", "'c'", "valid: a, b"),
    ("plain-20-a", "'a'", "valid: nobn"),
    ("mynet-20", "'mynet'", "valid: plain, resnet, preresnet, fixup, skipinit, rezero, highway"),
    ("rezero-21", "21", "6n+2"),
    ("highway-101", "101", "valid: 18, 34"),
    ("Fixup-56", "Fixup-56", "<method>-<depth>"),
    ("resnet-056", "resnet-056", "<method>-<depth>"),
    ("resnet_56", "resnet_56", "<method>-<depth>"),
])
def test_bad_names_name_the_bad_value_and_the_valid_choices(name, bad, valid):
    with pytest.raises(ValueError) as err:
        parse_name(name)
    message = str(err.value)
    assert "\n" not in message and bad in message and valid in message, message


def test_todays_names_parse_as_before():
    a = parse_name("resnet-56-a")
    assert (a.kind, a.shortcut, a.explicit_option, a.norm, a.block) == ("resnet", "a", True, "bn", "post")
    p = parse_name("plain-56")
    assert (p.kind, p.shortcut, p.explicit_option) == ("plain", "none", False)
    assert parse_name("resnet-50").shortcut == "b" and parse_name("resnet-50", family="cifar").shortcut == "a"
    assert [n for n in models.list_models() if parse_name(n).paper_net] == models.paper_models()
    assert not parse_name("plain-56-nobn").paper_net and not parse_name("rezero-56").paper_net


@pytest.mark.parametrize("method", list(METHODS))
def test_model_axes_is_json_and_resolves_every_axis(method):
    record = models.model_axes(f"{method}-56")
    assert json.loads(json.dumps(record)) == record
    assert record["method"] == method and record["depth"] == 56 and record["family"] == "cifar"
    spec = METHODS[method]
    shortcut = (spec.shortcut or "a") if spec.residual else "none"  # the authors' where set, else the paper's
    assert record["axes"] == {"block": spec.block, "shortcut": shortcut, "merge": spec.merge,
                              "branch_scale": spec.branch_scale, "norm": spec.norm, "init": spec.init,
                              "variants": []}
    assert "arXiv" in record["source"] and record["plugin"] is None


def test_model_axes_of_tokens_and_init_override():
    assert models.model_axes("resnet-50-c-nobn")["axes"]["shortcut"] == "c"
    assert models.model_axes("resnet-50-c-nobn")["axes"]["norm"] == "none"
    assert models.model_axes("plain-20", init="xavier")["axes"]["init"] == "xavier"
    assert models.model_axes("resnet-20", init="he-fan-in")["axes"]["init"] == "he-fan-in"
    assert models.model_axes("preresnet-20-raw-projbn")["axes"]["variants"] == ["raw", "projbn"]
    assert models.model_axes("fixup-20", init="xavier")["axes"]["init"] == "fixup"
    for init in ("xavier", "he-fan-in"):
        with pytest.raises(ValueError, match="valid: he$"):
            models.create_model("fixup-20", init=init)


def test_names_and_axes_import_no_torch():
    code = ("import sys, models; from models.names import parse_name; parse_name('fixup-56-b'); "
            "models.model_axes('highway-20'); models.list_models(); models.list_methods(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dir_of_the_lazy_package_lists_the_torch_side_names():
    listed = dir(models)
    for name in ("create_model", "ResNet", "response_layers", "weighted_layers", "branch_ends", "parse_name",
                 "model_axes", "PluginError"):
        assert name in listed
    assert set(models.__all__) <= set(listed)
    for name in models.__all__:
        assert getattr(models, name) is not None


# --- structure of every new name --------------------------------------------------------------------


@pytest.mark.parametrize("name", STRUCTURE)
def test_weighted_layers_equal_the_depth_and_every_block_declares_itself(name):
    net = models.create_model(name, width=4)  # layers and blocks do not depend on the width (189 cases: 4.5 s, not 17)
    info = parse_name(name)
    layers = models.weighted_layers(net)
    assert len(layers) == info.depth
    assert layers[0] == "conv1" and layers[-1] == "fc"
    assert not any("shortcut" in n or "gate" in n for n in layers)
    blocks = blocks_of(net)
    if info.family == "cifar":
        assert len(blocks) == (info.depth - 2) // 2
    assert len(models.branch_ends(net)) == len(blocks)
    responses = models.response_layers(net)
    if info.family == "cifar":
        assert len(responses) == info.depth - 1  # the 3x3 stem and both 3x3 layers of every block
    else:
        kind, stages = IMAGENET_STAGES[info.depth]
        assert len(responses) == sum(stages) * (2 if kind == "basic" else 1)  # the 7x7 stem is no 3x3 layer
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert has_bn == (info.norm == "bn")


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("size, channels", [(14, 1), (32, 3)], ids=["quick-1x14x14", "paper-3x32x32"])
def test_forward_backward_and_every_parameter_gets_a_gradient(name, size, channels):
    """Both input sizes the profiles use. The zero-initialised parts (Fixup's last convolutions and
    classifier, SkipInit's and ReZero's scalars) stop gradients at init by design, so the test first moves
    every parameter off its init: then every parameter must get a finite non-zero gradient."""
    net = build(name, in_channels=channels)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(4, channels, size, size)
    out = net(x)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(4)).backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["fixup-14", "skipinit-14", "rezero-14", "preresnet-14", "highway-14",
                                  "plain-14-nobn", "preresnet-50", "fixup-50"])
def test_every_declared_response_is_computed_once_per_forward(name):
    net = build(name)
    layers = models.response_layers(net)
    calls = {n: 0 for n, _ in layers}
    for n, m in layers:
        m.register_forward_hook(lambda _m, _i, _o, n=n: calls.__setitem__(n, calls[n] + 1))
    net(torch.randn(2, 3, 16, 16))
    assert set(calls.values()) == {1}, calls


def test_bn_nets_keep_bn_responses_and_bn_free_nets_get_convolutions_or_taps():
    post = models.response_layers(build("rezero-8"))
    assert [n for n, _ in post] == ["bn1", "layer1.0.bn1", "layer1.0.resp2", "layer2.0.bn1", "layer2.0.resp2",
                                     "layer3.0.bn1", "layer3.0.resp2"]
    pre = [n for n, _ in models.response_layers(build("preresnet-8"))]
    assert pre == ["conv1", "layer1.0.bn2", "layer1.0.conv2", "layer2.0.bn2", "layer2.0.conv2", "layer3.0.bn2",
                   "layer3.0.conv2"]
    nobn = models.response_layers(build("plain-8-nobn"))
    assert all(isinstance(m, nn.Conv2d) and m.bias is not None for _, m in nobn)
    fixup = [n for n, _ in models.response_layers(build("fixup-8"))]
    assert fixup[:3] == ["resp1", "layer1.0.resp1", "layer1.0.resp2"]


# --- defining properties ------------------------------------------------------------------------------


def random_bn_statistics(net: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so that no BN is the identity in eval mode."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("name", ["skipinit-14", "rezero-14", "skipinit-14-a", "rezero-14-b", "skipinit-18",
                                  "rezero-50", "rezero-14-sumrelu"])
def test_skipinit_and_rezero_blocks_at_init_return_exactly_their_shortcut(name):
    """SkipInit (arXiv 2002.10444) and ReZero (arXiv 2003.04887): alpha = 0, so x_{i+1} = x_i, for inputs of
    either sign (ReZero's authors' block has no ReLU after the sum), except the variant ``sumrelu`` (a ReLU
    after the sum), which returns relu(shortcut). SkipInit's shortcut takes relu(x) where the shape changes."""
    net = build(name).eval()
    assert all(torch.count_nonzero(b.alpha) == 0 for b in blocks_of(net))
    seen = 0
    with torch.no_grad():
        for block in blocks_of(net):
            cin = block.shapes[0][0]
            xb = torch.randn(2, cin, 8, 8)
            shortcut_in = xb if block.same_shape or parse_name(name).kind == "rezero" else torch.relu(xb)
            expected = block.shortcut(shortcut_in)
            if name.endswith("sumrelu"):
                expected = torch.relu(expected)
            assert torch.equal(block(xb), expected)
            block.alpha.fill_(0.1)  # the test can fail: with alpha != 0 the branch shows
            assert not torch.equal(block(xb), expected)
            seen += 1
    assert seen == len(blocks_of(net)) > 2


@pytest.mark.parametrize("name", ["rezero-14", "rezero-14-b", "rezero-14-sumrelu"])
def test_rezero_block_is_its_authors_x_plus_alpha_relu_of_the_branch(name):
    """The authors' ResNet (ReZero-examples, ReZNet notebook, BasicBlock with rezero=True):
    y = alpha * relu(bn2(conv2(relu(bn1(conv1(x)))))) + shortcut(x), no ReLU after the sum; the variant
    ``sumrelu``: y = relu(alpha * bn2(conv2(..)) + shortcut(x)). Recomputed from the layers, alpha = 0.3."""
    net = build(name).eval()
    random_bn_statistics(net)
    with torch.no_grad():
        for block in blocks_of(net):
            block.alpha.fill_(0.3)
            x = torch.randn(2, block.shapes[0][0], 8, 8)
            branch = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
            if name.endswith("sumrelu"):
                expected = torch.relu(0.3 * branch + block.shortcut(x))
            else:
                expected = 0.3 * torch.relu(branch) + block.shortcut(x)
                assert (expected < 0).any()  # where the shortcut is negative: nothing cuts it
            torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["fixup-20", "fixup-20-b", "fixup-50"])
def test_fixup_branches_and_logits_are_zero_at_init(name):
    net = build(name)
    ends = {f"{n}": m for n, m in net.named_modules() if re.fullmatch(r"layer\d\.\d+\.resp[23]", n)}
    outputs = []
    for block in blocks_of(net):
        getattr(block, f"resp{block.depth}").register_forward_hook(lambda _m, _i, o: outputs.append(o))
    logits = net(torch.randn(3, 3, 16, 16))
    assert len(outputs) == len(blocks_of(net)) and ends
    assert all(torch.count_nonzero(o) == 0 for o in outputs)
    assert torch.count_nonzero(logits) == 0  # rule 1: the classifier starts at zero too
    for block in blocks_of(net):
        assert torch.count_nonzero(getattr(block, block.branch_end).weight) == 0


def fixup_param_count(depth: int, family: str, num_classes: int, width: int, projection: bool,
                      in_channels: int = 3) -> int:
    """Zhang et al. 2019, section 3 and the authors' fixup_resnet_cifar.py / fixup_resnet_imagenet.py:
    convolutions without bias, no BN; per branch a scalar bias before each convolution and each
    activation and one multiplier (basic: 4 + 1, bottleneck: 6 + 1); the stem's and the classifier's
    scalar bias; with ``projection`` (option B, the authors' ImageNet nets) a 1x1 convolution without bias
    where the shape changes, else (option A, their CIFAR nets) no parameter there."""
    if family == "cifar":
        n = (depth - 2) // 6
        total, cin = in_channels * width * 9 + 1, width
        for stage in range(3):
            cout = width * 2**stage
            for _ in range(n):
                total += 9 * cin * cout + 9 * cout * cout + 5
                cin = cout
        return total + 1 + cin * num_classes + num_classes
    kind, stages = IMAGENET_STAGES[depth]
    total, cin = in_channels * width * 9 + 1, width  # the 3x3 stem
    for stage, blocks in enumerate(stages):
        mid = width * 2**stage
        cout = mid * (4 if kind == "bottleneck" else 1)
        for j in range(blocks):
            stride = 2 if stage and not j else 1
            if kind == "basic":
                total += 9 * cin * mid + 9 * mid * cout + 5
            else:
                total += cin * mid + 9 * mid * mid + mid * cout + 7
            if projection and (stride != 1 or cin != cout):
                total += cin * cout
            cin = cout
    return total + 1 + cin * num_classes + num_classes


@pytest.mark.parametrize("name, width, classes", [("fixup-20", 16, 10), ("fixup-56", 16, 10), ("fixup-110", 16, 100),
                                                  ("fixup-18", 8, 10), ("fixup-34-a", 8, 10), ("fixup-50", 8, 1000)])
def test_fixup_parameter_count_matches_the_papers_construction(name, width, classes):
    info = parse_name(name)
    net = build(name, width=width, num_classes=classes)
    expected = fixup_param_count(info.depth, info.family, classes, width, projection=info.shortcut == "b")
    assert models.count_params(net) == expected
    if name == "fixup-20":  # the paper's ResNet-20 (269,722) without its 19 BN layers, with Fixup's scalars
        assert models.count_params(net) == 269722 - 2 * (16 * 7 + 32 * 6 + 64 * 6) + 5 * 9 + 2


def test_fixup_rescales_he_init_by_the_number_of_branches():
    """Rule 2: std of a branch's first convolution = sqrt(2 / (9 out)) * L^(-1/(2m-2)), L = 27 branches in
    fixup-56, m = 2; the authors' code draws exactly N(0, that)."""
    net = build("fixup-56", width=16)
    w = net.layer3[4].conv1.weight.detach()
    expected = math.sqrt(2 / (9 * 64)) * 27 ** -0.5
    assert float(w.std()) == pytest.approx(expected, rel=0.03)
    plain = build("resnet-56", width=16).layer3[4].conv1.weight.detach()
    assert float(plain.std()) == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.03)


@pytest.mark.parametrize("name", ["preresnet-14", "preresnet-14-a", "preresnet-14-raw", "preresnet-14-projbn",
                                  "preresnet-14-a-raw", "preresnet-14-c", "preresnet-50"])
def test_preactivation_applies_no_nonlinearity_after_the_addition(name):
    """He et al. 2016, Fig. 4(e): y = x + conv(relu(bn(conv(relu(bn(x)))))), nothing after the sum; where
    the shape changes, the shortcut takes the pre-activated input relu(bn1(x)) (resnet-pre-act.lua), or the
    raw input x with the variant ``raw``; its projection (option B, the default) is a 1x1 convolution
    without BN, with one after it with the variant ``projbn``. Recomputed here from the layers."""
    info = parse_name(name)
    net = build(name).eval()
    random_bn_statistics(net)
    with torch.no_grad():
        checked = projections = 0
        for block in blocks_of(net):
            cin = block.shapes[0][0]
            x = torch.randn(2, cin, 8, 8)
            pre = torch.relu(block.bn1(x)) if block.preact else x
            out = block.conv1(pre)
            for i in range(2, block.depth + 1):
                out = getattr(block, f"conv{i}")(torch.relu(getattr(block, f"bn{i}")(out)))
            shortcut_in = x if block.same_shape or "raw" in info.variants else pre
            if isinstance(block.shortcut, nn.Sequential):  # a projection, by hand
                conv = block.shortcut[0]
                assert conv.kernel_size == (1, 1) and conv.bias is None
                shortcut = F.conv2d(shortcut_in, conv.weight, stride=conv.stride)
                if "projbn" in info.variants:
                    bn = block.shortcut[1]
                    shortcut = (shortcut - bn.running_mean[:, None, None]) / torch.sqrt(
                        bn.running_var[:, None, None] + bn.eps) * bn.weight[:, None, None] + bn.bias[:, None, None]
                else:
                    assert len(block.shortcut) == 1
                projections += 1
            else:
                shortcut = block.shortcut(shortcut_in)
            y = block(x)
            torch.testing.assert_close(y, out + shortcut, rtol=0, atol=1e-5)
            assert (y < 0).any()  # no ReLU after the addition
            checked += 1
    assert checked == len(blocks_of(net)) and isinstance(net.bn_final, nn.BatchNorm2d)
    assert (projections > 0) == (info.shortcut != "a")


def test_preactivation_stem_and_first_block_follow_the_authors():
    cifar = build("preresnet-8")
    assert cifar.bn1 is None and cifar.layer1[0].preact  # resnet-pre-act.lua: a bare 3x3 convolution
    imagenet = build("preresnet-18", stem="imagenet")
    assert isinstance(imagenet.bn1, nn.BatchNorm2d) and not imagenet.layer1[0].preact  # fb.resnet.torch


def test_highway_gate_bias_starts_negative_so_the_layer_starts_near_carrying():
    """Srivastava et al. 2015, section 2.2: b_T negative (here -3, HIGHWAY_GATE_BIAS) biases each layer
    towards carrying its input: T(x) = sigmoid(W x - 3) is small, y close to the carry path."""
    assert models.HIGHWAY_GATE_BIAS == -3.0
    net = build("highway-14", width=16).eval()
    for block in blocks_of(net):
        assert torch.equal(block.gate.bias, torch.full_like(block.gate.bias, -3.0))
    block = net.layer1[1]
    x = torch.relu(torch.randn(8, 16, 16, 16))
    with torch.no_grad():
        t = torch.sigmoid(block.gate(x))
        y, carry = block(x), block.shortcut(x)
        assert float(t.mean()) < 0.15
        assert float((y - carry).norm() / carry.norm()) < 0.3
        block.gate.bias.fill_(3.0)  # the test can fail: a positive bias transforms instead
        assert float((block(x) - carry).norm() / carry.norm()) > 0.5
    # The variant bias2: the authors' CIFAR code's -2 (cifar10_network.prototxt), the rest of the net alike
    # (the bias is a constant, not a draw: same seed, same weights elsewhere)
    authors, ours = build("highway-14-bias2", width=16), build("highway-14", width=16)
    for a, b in zip(blocks_of(authors), blocks_of(ours)):
        assert torch.equal(a.gate.bias, torch.full_like(a.gate.bias, -2.0))
        assert torch.equal(a.gate.weight, b.gate.weight) and torch.equal(a.conv1.weight, b.conv1.weight)
    x = torch.relu(torch.randn(8, 16, 16, 16))
    with torch.no_grad():  # T = sigmoid(W x - 2): more of the transform than at -3, by exactly the bias
        zero = authors.layer1[1].gate.weight.clone().zero_()
        authors.layer1[1].gate.weight.copy_(zero)
        assert torch.allclose(torch.sigmoid(authors.layer1[1].gate(x)), torch.full((8, 16, 16, 16), 0.11920292))
    with pytest.raises(ValueError, match="unknown token 'bias2' in 'rezero-14-bias2' for rezero"):
        build("rezero-14-bias2")


def test_nobn_nets_have_no_bn_and_biased_convolutions_starting_at_zero():
    for name in ("plain-14-nobn", "resnet-14-b-nobn", "skipinit-14"):
        net = build(name)
        stem_bias = not name.startswith("skipinit")  # SkipInit's reference stem has none (test below)
        convs = [m for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and (stem_bias or n != "conv1")]
        assert (net.conv1.bias is not None) == stem_bias
        assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
        assert convs and all(m.bias is not None and torch.count_nonzero(m.bias) == 0 for m in convs)
    fixup = build("fixup-14-b")
    assert all(m.bias is None for m in fixup.modules() if isinstance(m, nn.Conv2d))  # scalar biases instead


def test_nobn_nets_share_names_with_their_bn_nets_apart_from_the_norm_slots():
    bn, nobn = build("resnet-14-b").state_dict(), build("resnet-14-b-nobn").state_dict()
    strip = {k for k in bn if ".bn" not in f".{k}" and not re.search(r"shortcut\.1\.", k)}
    assert strip == {k for k in nobn if not k.endswith(".bias") or "fc" in k}


def test_fixup_stem_keeps_pytorchs_default_init_as_the_official_code():
    """fixup_resnet_cifar.py re-initialises the blocks' convolutions and the classifier only: the stem
    keeps nn.Conv2d's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a = sqrt(5)),
    std 1/sqrt(3 fan_in): 0.192 at one input channel, where He's fan-out gives sqrt(2/(9*16)) = 0.118. The
    stem is the net's first draw, so an nn.Conv2d drawn at the same seed is the stem exactly."""
    for channels in (1, 3):
        torch.manual_seed(5)
        reference = nn.Conv2d(channels, 16, 3, padding=1, bias=False)
        net = build("fixup-20", seed=5, width=16, in_channels=channels)
        assert torch.equal(net.conv1.weight, reference.weight)
        fan_in = 9 * channels
        assert float(net.conv1.weight.detach().abs().max()) <= 1 / math.sqrt(fan_in)
    assert float(net.conv1.weight.detach().std()) == pytest.approx(1 / math.sqrt(3 * 27), rel=0.15)
    plain = build("resnet-20", seed=5, width=16)  # the paper's nets keep He's init of the stem
    assert not torch.equal(plain.conv1.weight, reference.weight)


@pytest.mark.parametrize("name, stride_conv", [("fixup-50", "conv2"), ("fixup-18", "conv1")])
def test_fixup_imagenet_nets_as_the_authors_imagenet_code(name, stride_conv):
    """fixup_resnet_imagenet.py: where the shape changes (a new stage, or a bottleneck net's first block,
    whose channels grow 4x) the shortcut is ``conv1x1(inplanes, planes * expansion, stride)`` without BN on
    ``x + bias1a``; FixupBottleneck strides its 3x3 (conv2), FixupBasicBlock its conv1. A downsampling
    block recomputed by hand from its layers, with every scalar bias and the multiplier moved off its init."""
    net = build(name)
    changed = [b for b in blocks_of(net) if not b.same_shape]
    assert len(changed) == (4 if name == "fixup-50" else 3)
    for block in changed:
        (projection,) = block.shortcut  # a convolution alone: no BN
        assert isinstance(projection, nn.Conv2d) and projection.kernel_size == (1, 1) and projection.bias is None
        strides = {f"conv{i}": getattr(block, f"conv{i}").stride[0] for i in range(1, block.depth + 1)}
        stride = projection.stride[0]
        assert strides == {conv: stride if conv == stride_conv else 1 for conv in strides}
    block = net.layer2[0]
    assert getattr(block, stride_conv).stride == (2, 2) and block.shortcut[0].stride == (2, 2)
    with torch.no_grad():
        scalars = [p for n, p in block.named_parameters() if n.startswith(("bias", "scale"))]
        assert len(scalars) == 2 * block.depth + 1
        for i, scalar in enumerate(scalars):
            scalar.fill_(0.1 * (i + 1) * (-1) ** i)
        for i in range(1, block.depth + 1):  # rule 1 zeroed the last convolution
            nn.init.normal_(getattr(block, f"conv{i}").weight, std=0.3)
    x = torch.randn(2, block.shapes[0][0], 8, 8)
    out = x
    for i in range(1, block.depth + 1):
        out = getattr(block, f"conv{i}")(out + getattr(block, f"bias{i}a"))
        out = torch.relu(out + getattr(block, f"bias{i}b")) if i < block.depth else (
            out * block.scale + getattr(block, f"bias{i}b"))
    expected = torch.relu(out + block.shortcut(x + block.bias1a))
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-6)
    assert models.create_model(f"{name}-a", width=4, stem="cifar").layer2[0].shortcut.__class__.__name__ == \
        "ZeroPadShortcut"  # the named variant: the authors' CIFAR shortcut


@pytest.mark.parametrize("name", ["skipinit-14", "skipinit-18", "skipinit-50"])
def test_skipinit_follows_deepminds_reference(name):
    """nfnets/skipinit_resnet.py: the stem convolution has no bias (with_bias=False); the classifier starts
    at zero (fc_init=jnp.zeros, haiku's zero bias); where the shape changes the shortcut is a 1x1
    convolution with bias on relu(x), the branch's own input (conv_shortcut(out), out = activation(x)):
    y = alpha * conv2(relu(conv1(relu(x)))) + conv_sc(relu(x)) (a bottleneck: conv3(relu(conv2(..)))),
    checked by hand with alpha = 0.4; NFResBlock strides its 3x3 (conv1 there, our conv2 in a bottleneck)."""
    net = build(name)
    assert net.conv1.bias is None
    assert torch.count_nonzero(net.fc.weight) == 0 and torch.count_nonzero(net.fc.bias) == 0
    changed = [b for b in blocks_of(net) if not b.same_shape]
    assert changed
    for block in changed:
        strides = [getattr(block, f"conv{i}").stride[0] for i in range(1, block.depth + 1)]
        three = [getattr(block, f"conv{i}").kernel_size[0] for i in range(1, block.depth + 1)].index(3)
        assert strides == [block.shortcut[0].stride[0] if i == three else 1 for i in range(block.depth)]
    with torch.no_grad():
        for block in blocks_of(net):
            for p in block.parameters():
                p.add_(0.05 * torch.randn_like(p))
            block.alpha.fill_(0.4)
            x = torch.randn(2, block.shapes[0][0], 8, 8)
            branch = torch.relu(x)
            for i in range(1, block.depth + 1):
                branch = getattr(block, f"conv{i}")(branch)
                branch = torch.relu(branch) if i < block.depth else branch
            if block.same_shape:
                shortcut = x
            else:
                conv = block.shortcut[0]
                assert len(block.shortcut) == 1 and conv.kernel_size == (1, 1) and conv.bias is not None
                shortcut = F.conv2d(torch.relu(x), conv.weight, conv.bias, stride=conv.stride)
            torch.testing.assert_close(block(x), 0.4 * branch + shortcut, rtol=0, atol=1e-5)


def test_skipinit_decays_neither_its_scalars_nor_its_biases_as_deepminds_reference():
    """nfnets/experiment.py, _make_opt: every gain and bias in a group with weight_decay None. One SGD step
    (no momentum) on zero gradients: a decayed weight w moves to w (1 - lr wd), alpha and the biases stay."""
    from experiments.training.module import parameter_groups

    net = build("skipinit-14")
    factors = net.weight_decay_factors()
    names = [n for n, _ in net.named_parameters()]
    assert set(factors) == {n for n in names if n.endswith((".alpha", ".bias"))} and "fc.bias" in factors
    assert all(f == 0.0 for f in factors.values()) and "fc.weight" not in factors
    assert build("fixup-14").weight_decay_factors() == {} and build("resnet-14").weight_decay_factors() == {}
    lr, wd = 0.1, 0.01
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
    groups = parameter_groups(net.named_parameters(), lr, net.lr_factors(), weight_decay=wd,
                              decay_factors=factors)
    assert len(groups) == 2 and "weight_decay" not in groups[0] and groups[1]["weight_decay"] == 0.0
    optimizer = torch.optim.SGD(groups, lr=lr, weight_decay=wd)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for n, p in net.named_parameters():
        expected = 0.5 if n in factors else 0.5 * (1 - lr * wd)
        assert torch.allclose(p, torch.full_like(p, expected), rtol=0, atol=1e-7), n


def test_he_fan_in_and_fan_out_are_named_choices_with_their_formulas():
    """init "he": N(0, 2 / (k^2 out)) (fb.resnet.torch, torchvision), the classifier at PyTorch's default
    U(+-1/sqrt(in)); "he-fan-in": N(0, 2 / (k^2 in)) for every convolution and N(0, 2 / in) for the
    classifier (akamaster/pytorch_resnet_cifar10's _weights_init)."""
    out = build("resnet-20", width=16, in_channels=1)
    fan_in = build("resnet-20", width=16, in_channels=1, init="he-fan-in")
    for (name, a), (_, b) in zip(out.named_modules(), fan_in.named_modules()):
        if isinstance(a, nn.Conv2d) and a.weight.numel() >= 2000:
            cout, cin, k, _ = a.weight.shape
            assert float(a.weight.detach().std()) == pytest.approx(math.sqrt(2 / (k * k * cout)), rel=0.1), name
            assert float(b.weight.detach().std()) == pytest.approx(math.sqrt(2 / (k * k * cin)), rel=0.1), name
    stem_ratio = float(fan_in.conv1.weight.detach().std() / out.conv1.weight.detach().std())
    assert stem_ratio == pytest.approx(4.0, rel=0.25)  # sqrt(16 / 1) at one input channel
    assert float(out.fc.weight.detach().abs().max()) <= 1 / math.sqrt(64)
    big = build("resnet-20", width=64, init="he-fan-in")  # 256 x 10 weights: a usable std
    assert float(big.fc.weight.detach().std()) == pytest.approx(math.sqrt(2 / 256), rel=0.15)
