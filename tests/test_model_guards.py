"""Today's names build today's nets exactly (issue 21): the guards written before the methods were added.

``tests/fixtures/model_guards.json`` and ``guard_*.pt`` were written by ``tests/fixtures/make_model_guards.py``
with the code of the commit that added this file; they are never regenerated to let a change pass. For every
name of that day's registry: the same ``state_dict`` keys, in the same order, with the same shapes; the same
initial tensors after ``torch.manual_seed(0)``; and a saved ``state_dict`` loads strictly and computes the
same logits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import models
from helpers_models import one_thread, structure_net  # noqa: F401 - one_thread: an autouse fixture

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_model_guards import build_small, guard_logits, init_digest, key_lines, keys_digest  # noqa: E402

GUARDS = json.loads((FIXTURES / "model_guards.json").read_text())
NAMES = sorted(GUARDS["nets"])
CHECKPOINTS = sorted(FIXTURES.glob("guard_*.pt"))


def test_the_guards_cover_todays_registry():
    assert len(NAMES) == 55 and {"plain-20", "resnet-1202-c", "resnet-152-a", "plain-18"} <= set(NAMES)
    assert set(NAMES) <= set(models.list_models())
    assert len(CHECKPOINTS) == 2


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_order_and_shapes(name):
    state = structure_net(name).state_dict()
    if name in GUARDS["listing"]:
        assert key_lines(state) == GUARDS["listing"][name]
    assert len(state) == GUARDS["nets"][name]["n_keys"]
    assert keys_digest(state) == GUARDS["nets"][name]["keys"]


@pytest.mark.parametrize("name", NAMES)
def test_initial_tensors_at_seed_0(name):
    assert init_digest(build_small(name).state_dict()) == GUARDS["nets"][name]["init"]


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_a_state_dict_saved_by_todays_code_loads_strictly_and_computes_the_same(path):
    saved = torch.load(path, weights_only=True)
    net = models.create_model(saved["name"], **saved["overrides"])
    net.load_state_dict(saved["state_dict"], strict=True)
    for key, tensor in net.state_dict().items():
        assert torch.equal(tensor, saved["state_dict"][key]), key
    logits = guard_logits(net, saved["input"])
    for mode in ("eval", "train"):
        # oneDNN's kernels differ between CPU models (AVX-512 and AMX, or an AMD EPYC): in training mode the
        # 50-layer net's BN layers amplify their rounding to 2e-4 of the largest logit (measured); a changed
        # layer, init or order moves the logits by far more than the 1e-3 of it allowed here.
        scale = float(saved["logits"][mode].abs().max())
        torch.testing.assert_close(logits[mode], saved["logits"][mode], rtol=0, atol=1e-3 * scale)


# --- the net's layout, as a checkpoint records it (models/layout.py) -------------------------------------------
_BLOCK_SOURCE = '''
import torch
from torch import nn


def helper(x):
    return x * 2


class Block(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride, 1)
        self.stride = stride

    def forward(self, x):
        """Doc."""
        return self.scale(self.conv(x))  # a comment

    def scale(self, x):
        return helper(x)
'''


def _layout_of(source: str, stride: int = 1, name: str = "layoutmod") -> list[str]:
    import types

    from models.layout import net_layout

    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    module.Block.__module__ = "tests.layoutmod"  # the same class name in every version
    return net_layout(module.Block(stride))


def test_a_nets_layout_changes_with_its_computation_not_with_its_docs():
    from models.layout import layout_change

    base = _layout_of(_BLOCK_SOURCE)
    # Docstrings, comments and blank lines (line numbers) are not the computation.
    edited = _BLOCK_SOURCE.replace('"""Doc."""', '"""Another doc."""').replace("# a comment", "").replace(
        "def helper", "\n\n# moved\ndef helper")
    assert _layout_of(edited) == base
    # A setting of a torch module and an attribute of the suite's are.
    moved = layout_change(base, _layout_of(_BLOCK_SOURCE, stride=2))
    assert moved.startswith("module '<net>' (tests.layoutmod.Block) stride was '1") and "now '2" in moved, moved
    # The block's forward, a method it calls and a helper of its module are.
    for before, after in [("self.scale(self.conv(x))", "self.conv(x)"), ("return helper(x)", "return helper(x) + 1"),
                          ("return x * 2", "return x * 3")]:
        changed = layout_change(base, _layout_of(_BLOCK_SOURCE.replace(before, after)))
        assert changed == "the code of tests.layoutmod.Block (its forward and what that calls) changed", (before, changed)


def test_every_built_in_nets_layout_names_its_strides_and_its_code():
    from models.layout import net_layout

    layout = net_layout(models.create_model("fixup-50", in_channels=1))
    assert any(line.startswith("layer2.0 models.blocks.FixupBottleneck(") and
               "shapes=[(256, 128, 1, 1), (128, 128, 3, 2), (128, 512, 1, 1)]" in line for line in layout), layout
    assert [line.split(" ")[1] for line in layout if line.startswith("code ")] == [
        "models.blocks.FixupBottleneck", "models.resnet.ResNet"]
    # Two builds of one name agree; two names that compute otherwise do not.
    assert net_layout(models.create_model("rezero-20")) == net_layout(models.create_model("rezero-20"))
    assert net_layout(models.create_model("rezero-20")) != net_layout(models.create_model("rezero-20-sumrelu"))
