"""Issue 7: layer responses (paper Fig. 7) and gradient norms during training, from the statistic to the report.

* the response statistic on nets whose answer is known by construction (and before the ReLU / addition);
* the gradient-norm callback against gradients computed by hand, its interval, state and CSV, and an exact
  resume through the real run command (killed with SIGKILL, run again);
* the responses command end to end through make's file target on a tiny smoke run (no training again);
* the figures and sections from run folders the test writes, and None without data.
"""

from __future__ import annotations

import csv
import io
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from helpers_runs import TINY_ARGS, forked, inproc, make, run_dir  # noqa: E402
from runfolders import write_run  # noqa: E402

from experiments.training.gradients import GradNormRecorder  # noqa: E402
from experiments.responses import layer_response_stds, responses_csv  # noqa: E402
from models import create_model, response_layers, weighted_layers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and two threads beside another busy process (a shared 2-core
    machine) spin at every OpenMP barrier, 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def population_std(x: torch.Tensor) -> float:
    return float(x.double().std(unbiased=False))


# --- the response statistic ----------------------------------------------------------------------------------
class Tiny(nn.Module):
    """Two 3x3 layers with identity kernels and a shortcut: every response is known in closed form."""

    def __init__(self, s1: float, s2: float) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.BatchNorm2d(1, eps=0.0)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.BatchNorm2d(1, eps=0.0)
        for conv in (self.conv1, self.conv2):
            nn.init.zeros_(conv.weight)
            conv.weight.data[0, 0, 1, 1] = 1.0  # identity
        for bn, s in ((self.bn1, s1), (self.bn2, s2)):  # eval mode: y = s * x (mean 0, var 1, eps 0, bias 0)
            bn.weight.data.fill_(s)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def test_response_std_is_known_by_construction_and_taken_before_relu_and_addition():
    torch.manual_seed(0)
    x = 1000.0 + torch.randn(13, 1, 6, 6)  # a large mean: the pooled variance must not cancel
    x -= 1000.0  # centred again, but with float32 rounding noise of the shift left in
    net = Tiny(2.0, 3.0)
    assert [name for name, _ in response_layers(net)] == ["bn1", "bn2"]
    # Uneven batches, with and without labels: pooled over every image, channel and position.
    rows = layer_response_stds(net, [x[:5], (x[5:12], None), x[12:]])
    assert [(i, n) for i, n, _ in rows] == [(1, "bn1"), (2, "bn2")]
    # Layer 1: 2x, negative values included (std of 2x, not of relu(2x): the hook ran before the in-place ReLU).
    assert rows[0][2] == pytest.approx(2.0 * population_std(x), rel=1e-6)
    assert rows[0][2] != pytest.approx(2.0 * population_std(torch.relu(x)), rel=1e-2)
    # Layer 2: 3 * relu(2x), before the addition of x (after it, the std would be that of 6 relu(x) + x).
    assert rows[1][2] == pytest.approx(6.0 * population_std(torch.relu(x)), rel=1e-6)
    assert rows[1][2] != pytest.approx(population_std(6.0 * torch.relu(x) + x), rel=1e-2)
    assert net.training and not net.bn1._forward_hooks  # mode restored, hooks removed


def test_response_stds_scale_with_the_bn_weights_of_a_registry_net():
    """In eval mode with zero BN shifts a plain net is positively homogeneous layer by layer: scaling the
    k-th response BN's weight by c scales responses k, k+1, ... by c and leaves the earlier ones alone."""
    torch.manual_seed(0)
    net = create_model("plain-8", in_channels=1, width=4)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.bias.data.zero_()
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            m.weight.data.uniform_(0.5, 1.5)
    layers = response_layers(net)
    assert len(layers) == 7 and layers[0][0] == "bn1" and layers[-1][0] == "layer3.0.bn2"
    x = torch.randn(16, 1, 12, 12)
    before = np.array([s for _, _, s in layer_response_stds(net, [x])])
    k, c = 3, 2.5  # the fourth 3x3 layer (layer2.0.bn1)
    layers[k][1].weight.data.mul_(c)
    after = np.array([s for _, _, s in layer_response_stds(net, [x])])
    np.testing.assert_allclose(after[:k], before[:k], rtol=1e-5)
    np.testing.assert_allclose(after[k:], c * before[k:], rtol=1e-4)
    text = responses_csv(layer_response_stds(net, [x]))
    assert text.splitlines()[0] == "layer,name,std" and text.splitlines()[4].startswith("4,layer2.0.bn1,")


# --- the gradient-norm callback ------------------------------------------------------------------------------
class Holder(nn.Module):
    """A stand-in for the LightningModule: the net under ``.model``."""

    def __init__(self, net):
        super().__init__()
        self.model = net


def backward_once(net, seed: int) -> None:
    torch.manual_seed(seed)
    net.zero_grad()
    x, y = torch.randn(4, 1, 10, 10), torch.randint(0, 10, (4,))
    nn.functional.cross_entropy(net(x), y).backward()


def test_grad_norms_match_hand_computed_gradients_every_k_steps(tmp_path):
    net = create_model("resnet-14-b", in_channels=1, width=4)  # option B: projections, which are left out
    module = Holder(net)
    names = weighted_layers(net)
    assert len(names) == 14 and not any("shortcut" in n for n in names)
    assert any("shortcut" in n for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
    rec = GradNormRecorder(every=4)
    trainer = SimpleNamespace(global_step=0, default_root_dir=str(tmp_path))
    rec.on_train_start(trainer, module)
    expected = {}
    modules = dict(net.named_modules())
    for step in range(11):
        backward_once(net, step)
        trainer.global_step = step
        rec.on_before_optimizer_step(trainer, module, None)
        if step % 4 == 0:
            expected[step] = [float(torch.linalg.vector_norm(modules[n].weight.grad)) for n in names]
    assert len(rec._pending) == 3 and not rec.records  # nothing read back from the device yet
    rec.on_train_end(trainer, module)
    assert [s for s, _ in rec.records] == [0, 4, 8]
    for step, values in rec.records:
        np.testing.assert_allclose(values, expected[step], rtol=1e-5)

    frame = pd.read_csv(tmp_path / "grad_norms.csv")
    assert list(frame.columns) == ["step", "layer", "name", "norm"]
    assert len(frame) == 3 * 14 and sorted(frame["step"].unique()) == [0, 4, 8]
    at4 = frame[frame["step"] == 4].sort_values("layer")
    assert at4["layer"].tolist() == list(range(1, 15)) and at4["name"].tolist() == names
    np.testing.assert_allclose(at4["norm"], expected[4], rtol=1e-6)
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, nothing left behind

    # The state round trip: a restored recorder writes the same file; a resume drops records at or after
    # the step it resumes from (recomputed, not duplicated).
    restored = GradNormRecorder(every=4)
    restored.load_state_dict(rec.state_dict())
    assert restored.csv_text() == (tmp_path / "grad_norms.csv").read_text()
    restored.on_train_start(SimpleNamespace(global_step=5, default_root_dir=str(tmp_path)), module)
    assert [s for s, _ in restored.records] == [0, 4]
    with pytest.raises(ValueError):
        GradNormRecorder(every=0)


def test_recording_reads_nothing_back_from_the_device():
    """No host-device sync on a training step: on the meta device (tensors without data) any read of a
    value raises, yet recording works; only the flush (at a checkpoint, at the end) reads."""
    net = create_model("plain-8", width=2).to("meta")
    for p in net.parameters():
        p.grad = torch.empty_like(p)
    rec = GradNormRecorder(every=1)
    trainer = SimpleNamespace(global_step=0, default_root_dir="unused")
    rec.on_train_start(trainer, Holder(net))
    for step in range(3):
        trainer.global_step = step
        rec.on_before_optimizer_step(trainer, Holder(net), None)
    assert [s for s, _ in rec._pending] == [0, 1, 2] and rec._pending[0][1].shape == (8,)
    with pytest.raises(NotImplementedError, match="meta"):
        rec.state_dict()  # the flush: one copy of every pending record


def test_grad_norms_resume_exactly_after_kill_and_responses_through_make(tmp_path):
    """Through the real run command: an uninterrupted run and one killed at iteration 7 (checkpoint at 6),
    then run again, write the same grad_norms.csv. Then make's file target measures the layer responses of
    the finished run from its checkpoint without training it again."""
    args = [*TINY_ARGS, "--set", "grad_norm_every=2"]
    reference = run_dir(tmp_path / "reference")
    rc, out, err = inproc(reference, *args)
    assert rc == 0, out + err
    ref_text = (reference / "grad_norms.csv").read_text()
    frame = pd.read_csv(io.StringIO(ref_text))
    assert sorted(frame["step"].unique()) == [0, 2, 4, 6, 8, 10] and frame["layer"].max() == 8  # plain-8
    assert np.isfinite(frame["norm"]).all() and (frame["norm"] > 0).all()

    folder = run_dir(tmp_path / "killed")
    code, output = forked(folder, *args, fault="kill@7", log=tmp_path / "killed.log")
    assert code == -signal.SIGKILL, output
    partial = pd.read_csv(folder / "grad_norms.csv")  # as of the checkpoint at 6: steps 0, 2, 4
    assert sorted(partial["step"].unique()) == [0, 2, 4]
    rc, out, err = inproc(folder, *args)
    assert rc == 0, out + err
    assert (folder / "grad_norms.csv").read_text() == ref_text

    # make's file target: result.json is there, so nothing is trained; the responses come from last.ckpt.
    result = reference / "result.json"
    stamp = result.stat().st_mtime_ns
    target = reference / "layer_responses.csv"
    p = make(tmp_path / "mk", f"RUNS_DIR={tmp_path / 'reference'}", str(target), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert result.stat().st_mtime_ns == stamp and " ... " not in p.stdout
    rows = list(csv.DictReader(target.open()))
    assert [r["layer"] for r in rows] == [str(i) for i in range(1, 8)]  # plain-8: seven 3x3 layers
    assert rows[0]["name"] == "bn1" and all(float(r["std"]) > 0 for r in rows)
    again = make(tmp_path / "mk", f"RUNS_DIR={tmp_path / 'reference'}", str(target), timeout=60)
    assert again.returncode == 0 and "layer responses" not in again.stdout  # up to date: not measured twice


def test_responses_command_refuses_what_it_cannot_measure(tmp_path, capsys):
    from experiments import responses

    folder = tmp_path / "degradation" / "smoke" / "plain-8" / "seed0"
    assert responses.main(["--run-dir", str(folder)]) == 1
    assert "config.yaml does not exist" in capsys.readouterr().err
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: plain-8\nconfig: {dataset: synthetic}\n")
    assert responses.main(["--run-dir", str(folder)]) == 1  # not finished: no result.json
    assert "not finished" in capsys.readouterr().err
    (folder / "result.json").write_text('{"status": "ok", "iterations": 6, "final": {}, "best": {}}')
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    assert responses.main(["--run-dir", str(folder)]) == 1
    assert "does not hold plain-8's weights" in capsys.readouterr().err
    (folder / "result.json").write_text('{"status": "diverged", "iterations": 6, "final": {}, "best": {}}')
    assert responses.main(["--run-dir", str(folder)]) == 0  # a result, but no trained net: a note, no file
    assert "diverged" in capsys.readouterr().err
    assert not (folder / "layer_responses.csv").exists()


# --- figures and sections ------------------------------------------------------------------------------------
EXP, PROF = "degradation", "quick"
DEPTHS = {"plain-20": 19, "resnet-20": 19, "plain-56": 55, "resnet-56": 55, "resnet-110": 109}


def write_analysis_runs(runs: Path, grads: str = "healthy", plain56_error: float = 50.0) -> None:
    """Run folders with responses (plain larger than residual) and gradient norms: healthy, or in plain-56
    vanishing (10^((layer - 56) / 10): the first layer's norm is 10^-5.5 of the last's) or exploding (the
    mirror image: largest at the input)."""
    for model, n in DEPTHS.items():
        error = plain56_error if model == "plain-56" else 50.0
        folder = write_run(runs, EXP, PROF, model, 0, steps=[50, 100], train=lambda s: error, test=lambda s: 55.0,
                           classes=[f"c{i}" for i in range(10)])
        level = 2.0 if model.startswith("plain") else 1.0 / (1 + n / 50)
        layers = np.arange(1, n + 1)
        pd.DataFrame({"layer": layers, "name": [f"l{i}.bn" for i in layers],
                      "std": level * (1 + 0.2 * np.sin(layers))}).to_csv(folder / "layer_responses.csv", index=False)
        if model in ("plain-20", "plain-56", "resnet-56"):
            rows = []
            for step in (0, 25, 50, 75):
                for layer in range(1, n + 2):  # weighted layers: the 3x3 convs and the fc
                    norm = 0.5 + 0.01 * layer
                    if model == "plain-56" and grads != "healthy" and (grads != "explode-first" or step == 0):
                        norm = 10 ** ((layer - n - 1 if grads == "vanishing" else 1 - layer) / 10)
                    rows.append((step, layer, f"l{layer}.conv", norm / (1 + step / 100)))
            pd.DataFrame(rows, columns=["step", "layer", "name", "norm"]).to_csv(folder / "grad_norms.csv", index=False)


def context(runs: Path):
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    found = discover_runs(runs, EXP, PROF)
    return ReportContext(EXP, PROF, runs, runs.parent / "out", found.runs, pd.DataFrame(), pd.DataFrame())


def test_figures_and_sections_render_from_run_folders(tmp_path):
    from reports import analysis, gradients
    from reports.build import FIGURE_MODULES, build_report

    assert {"reports.responses", "reports.gradients"} <= set(FIGURE_MODULES)
    write_analysis_runs(tmp_path / "runs")
    result = build_report(tmp_path / "runs", EXP, PROF, tmp_path / "out")
    assert not result.errors, result.errors
    assert {"layer-responses-cifar", "grad-norms-cifar"} <= set(result.figures)
    for name in ("layer-responses-cifar", "grad-norms-cifar"):
        assert (result.out_dir / f"fig-{name}.png").stat().st_size > 10_000
    summary = (result.out_dir / "summary.md").read_text()
    assert "## Layer responses (paper Fig. 7)" in summary and "## Gradient norms (paper section 4.1)" in summary
    assert "resnet-56's responses are smaller, as in the paper" in summary
    assert "smaller in deeper nets, as in the paper" in summary
    assert "**Agrees with the paper:** plain-56's gradients do not vanish" in summary

    # The pair is the deepest with norms on both sides (56, not 20); vanishing norms are called so.
    ctx = context(tmp_path / "runs")
    table, _ = analysis.gradient_table(ctx.runs)
    ((family, plain, res),) = gradients.gradient_pairs(table, ctx.runs)
    assert (family, plain, res) == ("cifar", "plain-56", "resnet-56")
    facts = gradients.gradient_facts(table[table["model"] == plain], 75)
    assert facts.first_over_last == pytest.approx(0.51 / 1.06) and facts.below == 0 and facts.layers == 56
    write_analysis_runs(tmp_path / "vanish", grads="vanishing")
    text = gradients.gradient_section(context(tmp_path / "vanish"))
    assert "**Disagrees with the paper:** plain-56's gradients vanish on their way to the input" in text
    table, _ = analysis.gradient_table(context(tmp_path / "vanish").runs)
    facts = gradients.gradient_facts(table[table["model"] == "plain-56"], 75)
    assert facts.first_over_last == pytest.approx(10 ** -5.5) and facts.below == 25  # layers 1..25 < 1e-3
    assert (facts.worst_weak, facts.worst_strong, facts.trend) == (1, 56, "shrink")
    write_analysis_runs(tmp_path / "explode", grads="exploding")
    text = gradients.gradient_section(context(tmp_path / "explode"))
    assert "plain-56's gradients grow on their way to the input" in text and "explode rather than vanish" in text
    assert "instead" not in text  # exploding at every recorded iteration
    # Exploding at iteration 0 only, then healthy and shrinking towards the input: the text said "explode" for
    # the whole run, read from the first iteration alone.
    write_analysis_runs(tmp_path / "first", grads="explode-first")
    text = gradients.gradient_section(context(tmp_path / "first"))
    assert "at iteration 0, layer 56's norm" in text and "there they explode rather than vanish" in text, text
    assert ("By iteration 75 (the last recorded) they shrink on their way to the input instead: layer 1 (l1.conv) "
            "is the weakest") in text, text
    # A plain net at chance is no test of section 4.1 (its "healthy norms" are those of plain nets that train):
    # the depth sweep's plain-110 had read "Disagrees with the paper", its norms vanishing only after it failed.
    write_analysis_runs(tmp_path / "chance", grads="vanishing", plain56_error=89.5)
    text = gradients.gradient_section(context(tmp_path / "chance"))
    assert "Agrees" not in text and "Disagrees" not in text, text
    assert ("**Not a test of the paper's claim:** plain-56 did not train in 1 of 1 seeds (diverged or at chance), "
            "and the paper's \"healthy norms\" are those of plain nets that train.") in text, text
    assert "the extreme is at iteration" in text, text


def test_no_data_no_figures_and_damaged_files_are_named(tmp_path):
    from reports import gradients, responses

    runs = tmp_path / "runs"
    for model in ("plain-20", "resnet-20"):
        write_run(runs, EXP, PROF, model, 0, steps=[50, 100])
    ctx = context(runs)
    for fn in (responses.layer_response_figures, gradients.gradient_figures, responses.layer_response_section,
               gradients.gradient_section):
        assert fn(ctx) is None
    (runs / EXP / PROF / "plain-20" / "seed0" / "layer_responses.csv").write_text("garbage\n")
    assert responses.layer_response_figures(context(runs)) is None
    assert "degradation/quick/plain-20/seed0/layer_responses.csv" in responses.layer_response_section(context(runs))


def test_every_method_gets_its_analyses_and_the_paper_checks_stay_on_the_paper_nets(tmp_path):
    """Point 4 of the methods benchmark: layer responses and gradient norms of every method are read and
    drawn (one panel per method); a net without BN (plain-56-nobn) never stands in for the paper's plain-56
    in Fig. 7's checks, the gradient pair or the degradation sets."""
    from reports import analysis, gradients, responses
    from reports.build import build_report
    from reports.groups import degradation_sets, model_infos

    runs = tmp_path / "runs"
    write_analysis_runs(runs)
    for model, level in (("plain-56-nobn", 9.0), ("fixup-56", 0.01), ("highway-20", 0.3)):
        folder = write_run(runs, EXP, PROF, model, 0, steps=[50, 100], train=lambda s: 50.0, test=lambda s: 55.0)
        n = int(model.split("-")[1]) - 1
        layers = np.arange(1, n + 1)
        pd.DataFrame({"layer": layers, "name": [f"l{i}.conv" for i in layers], "std": level + 0 * layers}).to_csv(
            folder / "layer_responses.csv", index=False)
        pd.DataFrame([(s, k, f"l{k}.conv", level) for s in (0, 75) for k in range(1, n + 2)],
                     columns=["step", "layer", "name", "norm"]).to_csv(folder / "grad_norms.csv", index=False)
    ctx = context(runs)
    table, _ = analysis.response_table(ctx.runs)
    assert set(table["model"]) == set(DEPTHS) | {"plain-56-nobn", "fixup-56", "highway-20"}
    methods = dict(zip(table["model"], table["method"]))
    assert (methods["plain-56-nobn"], methods["fixup-56"], methods["plain-56"]) == ("plain-nobn", "fixup", "plain")
    assert not table[table["model"] == "fixup-56"]["paper"].any() and table[table["model"] == "plain-56"]["paper"].all()
    plain, _ = degradation_sets(model_infos(ctx.runs), "cifar")
    assert plain == {20: "plain-20", 56: "plain-56"}

    result = build_report(runs, EXP, PROF, tmp_path / "out")
    assert not result.errors, result.errors
    assert {"layer-responses-methods-cifar", "grad-norms-methods-cifar"} <= set(result.figures)
    figures = {**responses.layer_response_figures(ctx), **gradients.gradient_method_figures(ctx)}
    for name in ("layer-responses-methods-cifar", "grad-norms-methods-cifar"):
        fig = figures[name]
        panels = {"plain", "resnet", "plain-nobn", "fixup", "highway"}
        titles = {ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()}
        assert titles == panels, (name, titles)
        fixup = next(ax for ax in fig.axes if ax.get_title() == "fixup")
        (line,) = fixup.get_lines()
        assert np.allclose(line.get_ydata(), 0.01) and line.get_label().startswith("fixup-56")
    # The paper's Fig. 7 keeps the paper's nets only, and its checks read plain-56, not plain-56-nobn (9.0).
    paper = figures["layer-responses-cifar"]
    assert {lab.split(" ")[0] for lab in paper.axes[0].get_legend_handles_labels()[1]} == set(DEPTHS)
    summary = (result.out_dir / "summary.md").read_text()
    assert "resnet-56's responses are smaller, as in the paper (mean std" in summary
    assert "for plain-56;" in summary and "for plain-56-nobn" not in summary
    ((_, p, r),) = gradients.gradient_pairs(analysis.gradient_table(ctx.runs)[0], ctx.runs)
    assert (p, r) == ("plain-56", "resnet-56")
    # A net with no ok seed has no curve: its panel says so (a reader found resnet-56-nobn, 3/3 diverged, missing
    # from its panel without a word).
    write_run(runs, EXP, PROF, "fixup-20", 0, status="diverged", steps=[50, 100])
    fig = gradients.gradient_method_figures(context(runs))["grad-norms-methods-cifar"]
    fixup = next(ax for ax in fig.axes if ax.get_title() == "fixup")
    assert [t.get_text() for t in fixup.texts] == ["20: no ok seed (1/1 diverged)"]
    write_run(runs, EXP, PROF, "highway-56", 0, steps=[50, 100])  # ok, but no grad_norms.csv
    fig = gradients.gradient_method_figures(context(runs))["grad-norms-methods-cifar"]
    highway = next(ax for ax in fig.axes if ax.get_title() == "highway")
    assert [t.get_text() for t in highway.texts] == ["56: no gradient norms recorded"]


def test_responses_refuse_a_checkpoint_of_a_net_built_otherwise_since(tmp_path, capsys):
    """The layer responses rebuild the net from today's code and load the run's weights: a net built otherwise
    since (its layout in the checkpoint differs) once gave another net's responses under the run's name."""
    from experiments import responses
    from experiments.config import model_overrides
    from experiments.data import load_tensors
    from experiments.training.checkpoint import TRAINED_WITH_KEY
    from models import create_model
    from models.layout import net_layout

    folder = tmp_path / "degradation" / "smoke" / "plain-8" / "seed0"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.yaml").write_text("model: plain-8\nconfig: {dataset: synthetic}\n")
    (folder / "result.json").write_text('{"status": "ok", "iterations": 6, "final": {}, "best": {}}')
    _, config = responses.load_run_config(folder)
    t = load_tensors(config, tmp_path)
    net = create_model("plain-8", num_classes=t.num_classes, in_channels=t.in_channels,
                              **model_overrides("plain-8", config))
    layout = net_layout(net)
    state = {"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}, "global_step": 6}
    moved = [line.replace("stride=(2, 2)", "stride=(1, 1)", 1) for line in layout]
    assert moved != layout
    torch.save({**state, TRAINED_WITH_KEY: {"layout": moved}}, folder / "checkpoints" / "last.ckpt")
    assert responses.main(["--run-dir", str(folder), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "was trained with a net built otherwise than plain-8 is now" in err and "stride was '(1, 1)" in err, err
    assert not (folder / "layer_responses.csv").exists()
    torch.save({**state, TRAINED_WITH_KEY: {"layout": layout}}, folder / "checkpoints" / "last.ckpt")
    assert responses.main(["--run-dir", str(folder), "--data-dir", str(tmp_path)]) == 0
    assert (folder / "layer_responses.csv").exists()
