"""A researcher's own net through the front door (issue 21, point 2, the models side): entry points of group
``degradation_suite.models``, listed without importing anything, built through ``create_model``, checked,
refused in one line when bad, and recorded with their provenance.

The example package (``examples/mynet-plugin``) is installed with pip, offline and without dependencies,
into a throw-away folder put on ``sys.path`` (importlib.metadata finds its entry points there as in any
site-packages); the bad plugins are hand-written ``*.dist-info`` folders beside their modules.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import models
from models.names import parse_name

EXAMPLE = Path(__file__).parent.parent / "examples" / "mynet-plugin"
DECLARED = {"block": "post", "shortcut": "b", "merge": "add", "branch_scale": "none"}  # the example's declared_axes


@pytest.fixture
def installed(example_plugin) -> Path:
    """The example plugin, pip-installed into a folder of its own (tests/conftest.py: example_plugin)."""
    return example_plugin


@pytest.fixture
def on_path(monkeypatch):
    """Put folders on sys.path for one test; forget the plugin modules imported from them afterwards."""
    before = set(sys.modules)

    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))

    yield add
    for name in set(sys.modules) - before:
        if name.startswith(("mynet_plugin", "badplug")):
            del sys.modules[name]


def fake_dist(root: Path, dist: str, entry_points: dict[str, str], module: str = "", source: str = "",
              files: dict[str, str] | None = None, top_level: str | None = None) -> Path:
    """A distribution as pip leaves it: ``<dist>-0.1.dist-info`` with METADATA and entry_points.txt; ``module``
    (``<module>.py`` holding ``source``) beside it. ``files``: more files (path under ``root``: text), which
    are then listed, with the module, in a RECORD as pip writes one; ``top_level``: a top_level.txt."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[degradation_suite.models]\n{lines}")
    if module:
        (root / f"{module}.py").write_text(source)
    if files is not None:
        listed = {**({f"{module}.py": source} if module else {}), **files}
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        record = [f"{rel},sha256=x,{len(text)}" for rel, text in listed.items()]
        record += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,", f"{info.name}/entry_points.txt,,",
                   f"__pycache__/{module or 'x'}.cpython-311.pyc,,", "../../bin/tool,,"]
        (info / "RECORD").write_text("\n".join(record) + "\n")
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)
    return root


def test_a_report_names_an_installed_plugins_net_before_its_runs_exist(installed, on_path, tmp_path):
    """The report refuses a misspelt net with no run folder (it reads as a plugin's name), but not an installed
    plugin's net whose runs have not started (make stopped before it, say): those are counted as missing."""
    from reports.build import InputError, build_report
    from runfolders import write_run

    write_run(tmp_path, "degradation", "quick", "plain-20", 0, steps=[100, 200])
    with pytest.raises(InputError, match="'mynet' is no built-in method"):
        build_report(tmp_path, "degradation", "quick", tmp_path / "out", models=["plain-20", "mynet-20"])
    on_path(installed)
    result = build_report(tmp_path, "degradation", "quick", tmp_path / "out", models=["plain-20", "mynet-20"])
    assert result.summary.set_index("model").loc["mynet-20", "missing"] == 1


def test_the_example_plugin_builds_through_create_model(installed, on_path):
    on_path(installed)
    assert "mynet" in models.plugin_names() and models.list_methods()[-1] == "mynet"
    info = parse_name("mynet-20")
    assert (info.kind, info.depth, info.family, info.plugin) == ("mynet", 20, "cifar", True)
    for size, channels in ((14, 1), (32, 3)):  # the quick and paper profiles' inputs
        torch.manual_seed(0)
        net = models.create_model("mynet-20", in_channels=channels, width=4)
        out = net(torch.randn(2, channels, size, size))
        assert out.shape == (2, 10)
        out.sum().backward()
        assert all(p.grad is not None for p in net.parameters())
    assert len(models.weighted_layers(net)) == 20 and models.response_layers(net)
    assert models.create_model("mynet-56", num_classes=3).fc.out_features == 3


def test_plugin_provenance_names_the_distribution_and_hashes_its_source(installed, on_path):
    on_path(installed)
    record = models.model_axes("mynet-20")
    assert record["method"] == "mynet" and record["depth"] == 20
    assert record["axes"] == dict.fromkeys(models.names.AXIS_VALUES)  # undeclared: unknown, never guessed
    plugin = record["plugin"]
    assert plugin["distribution"] == "mynet-plugin" and plugin["version"] == "0.1.0"
    assert plugin["entry_point"] == "mynet = mynet_plugin:build" and plugin["source_files"] == ["mynet_plugin.py"]
    body = (installed / "mynet_plugin.py").read_bytes()
    assert body == (EXAMPLE / "mynet_plugin.py").read_bytes()
    assert plugin["source_sha256"] == hashlib.sha256(b"mynet_plugin.py\0" + body + b"\0").hexdigest()


def test_an_editable_plugin_of_two_modules_hashes_both(tmp_path, on_path):
    """An editable install's RECORD lists no source, and only the entry point's own module was hashed: a run
    resumed after an edit of the plugin's second module (its activation, say) was not refused. Every module
    the distribution names in top_level.txt is hashed now."""
    root = fake_dist(tmp_path, "twomod-plugin", {"twomod": "twomod_plugin:build"}, module="twomod_plugin",
                     source="import twomod_blocks\n", top_level="twomod_plugin\ntwomod_blocks\n")
    (root / "twomod_blocks.py").write_text("ACT = 'relu'\n")
    on_path(root)
    before = models.plugin_provenance("twomod")
    assert before["source_files"] == ["twomod_blocks.py", "twomod_plugin.py"]
    (root / "twomod_blocks.py").write_text("ACT = 'tanh'\n")
    assert models.plugin_provenance("twomod")["source_sha256"] != before["source_sha256"]


def test_plugin_names_parse_without_importing_torch_or_the_plugin(installed):
    code = (f"import sys; sys.path.insert(0, {str(installed)!r}); import models; "
            "from models.names import parse_name; assert parse_name('mynet-56').plugin; models.model_axes('mynet-56'); "
            "assert 'torch' not in sys.modules and 'mynet_plugin' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_plugin_its_names_are_unknown():
    with pytest.raises(ValueError, match="unknown method 'mynet'.*a plugin's net needs its package installed"):
        parse_name("mynet-20")


BAD = {
    "fails to import": ("badplug_a:build", "raise ImportError('no module named mylib')\n", "fails to import: ImportError"),
    "builder raises": ("badplug_b:build", "def build(depth, **kw):\n    raise RuntimeError('out of ideas')\n",
                       "its builder raised building 'badnet-20': RuntimeError: out of ideas"),
    "wrong output shape": ("badplug_c:build",
                           "import torch\ndef build(depth, *, in_channels, **kw):\n"
                           "    return torch.nn.Sequential(torch.nn.Conv2d(in_channels, 2, 3), torch.nn.Flatten())\n",
                           "valid: (2, 10) logits"),
    "depth mismatch": ("badplug_d:build",
                       "import torch\ndef build(depth, *, num_classes, in_channels, **kw):\n"
                       "    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),\n"
                       "                               torch.nn.Linear(in_channels, num_classes))\n",
                       "has 1 weighted layers as models.weighted_layers counts them"),
    "not a module": ("badplug_e:build", "def build(depth, **kw):\n    return 'a net'\n", "returned str"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_plugin_is_one_line_naming_it(case, tmp_path, on_path):
    target, module_source, expected = BAD[case]
    module = target.split(":")[0]
    on_path(fake_dist(tmp_path, "bad-plugin", {"badnet": target}, module, module_source))
    with pytest.raises(models.PluginError) as err:
        models.create_model("badnet-20")
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, ValueError)
    assert message.startswith(f"plugin 'badnet' ({target}, from bad-plugin 0.1)"), message
    assert expected in message, message


def test_a_plugin_colliding_with_a_built_in_is_refused_never_replacing_it(tmp_path, on_path):
    on_path(fake_dist(tmp_path, "evil-plugin", {"resnet": "badplug_x:build"}, "badplug_x",
                      "raise AssertionError('never imported')\n"))
    net = models.create_model("resnet-8", width=2)  # the built-in, untouched
    assert isinstance(net, models.ResNet) and net.spec.method == "resnet"
    with pytest.raises(models.PluginError) as err:
        models.check_plugins()
    message = str(err.value)
    assert "\n" not in message and "'resnet'" in message and "evil-plugin 0.1" in message
    assert "collides with the built-in method 'resnet'" in message and "rename its entry point" in message
    with pytest.raises(models.PluginError, match="collides"):
        parse_name("mynet-20")  # looking a plugin up refuses the whole set until it is fixed


def test_bad_plugin_names_and_duplicates_are_refused(tmp_path, on_path):
    on_path(fake_dist(tmp_path / "one", "plugin-one", {"my-net": "badplug_y:build"}))
    with pytest.raises(models.PluginError, match=r"bad name; valid: \[a-z\]\[a-z0-9\]\*"):
        models.check_plugins()


def test_two_distributions_registering_one_name_are_refused(tmp_path, on_path):
    on_path(fake_dist(tmp_path / "one", "plugin-one", {"twin": "badplug_p:build"}))
    on_path(fake_dist(tmp_path / "two", "plugin-two", {"twin": "badplug_q:build"}))
    with pytest.raises(models.PluginError, match="is also registered by plugin-"):
        models.check_plugins()


def test_plugin_overrides_follow_the_builder_contract(installed, on_path):
    on_path(installed)
    with pytest.raises(ValueError, match="takes no override 'bn_eps'; valid: family, init, stem, width"):
        models.create_model("mynet-20", bn_eps=1e-3)
    with pytest.raises(ValueError, match="mynet-20-b"):
        parse_name("mynet-20-b")
    net = models.create_model("mynet-20", stem="imagenet", init="xavier", width=4)
    assert isinstance(net, nn.Module) and net.conv1.stride == (2, 2)


def test_the_example_plugin_trains_through_make_like_a_built_in_net(installed, tmp_path, on_path):
    """`make layer-responses` (which trains the degradation runs first) with MODELS naming the plugin: the
    plugin is found by every process make starts (here through PYTHONPATH, as any installed package), its run
    killed mid-run (the run command forked from this process, the plugin on sys.path) is resumed, its gradient
    norms and layer responses measured, its provenance recorded, and the report covers it. (Beside built-in
    nets: test_srun_trains_each_run_as_a_job_with_the_local_results's report.)"""
    import json

    import yaml
    from helpers_runs import forked, make

    runs, data, reports = tmp_path / "runs", tmp_path / "data", tmp_path / "reports"
    data.mkdir()
    args = ["layer-responses", "PROFILE=smoke", "LAYER_RESPONSE_MODELS=mynet-8", "SET=grad_norm_every=2 threads=1",
            f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={reports}", "-j2"]
    folder = runs / "degradation" / "smoke" / "mynet-8" / "seed0"
    on_path(installed)
    code, output = forked(folder, "--data-dir", str(data), "--set", "grad_norm_every=2", "--set", "threads=1",
                          log=tmp_path / "killed.log", fault="kill@4")
    assert code == -9, output  # killed after iteration 4, past its checkpoint at 3
    p = make(tmp_path, *args, env_extra={"PYTHONPATH": str(installed)}, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "ok" and result["method"] == "mynet" and result["resumed_from"] == 3
    assert result["plugin"]["distribution"] == "mynet-plugin" and result["plugin"]["version"] == "0.1.0"
    digest = hashlib.sha256(b"mynet_plugin.py\0" + (installed / "mynet_plugin.py").read_bytes() + b"\0").hexdigest()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["plugin"]["source_sha256"] == result["plugin"]["source_sha256"] == digest
    assert config["method"] == "mynet" and config["axes"] == {**dict.fromkeys(models.names.AXIS_VALUES), **DECLARED}
    assert (folder / "grad_norms.csv").read_text().count("\n") > 1
    assert (folder / "layer_responses.csv").read_text().count("\n") > 1
    tidy = (reports / "degradation" / "smoke" / "runs.csv").read_text()
    assert "mynet-8" in tidy


def test_a_bad_plugin_is_one_line_before_anything_is_written(tmp_path, on_path):
    """A plugin whose builder raises: `experiments.run` says so in one line naming it, exit 2, no run folder
    (the run command's main, in this process: the plugin on sys.path as PYTHONPATH would put it)."""
    from helpers_runs import inproc

    on_path(fake_dist(tmp_path / "site", "badplug-dist", {"badplug": "badplug_mod:build"}, module="badplug_mod",
                      source="def build(depth, **kw):\n    raise RuntimeError('no such net')\n"))
    folder = tmp_path / "runs" / "degradation" / "smoke" / "badplug-8" / "seed0"
    (tmp_path / "data").mkdir()
    rc, out, err = inproc(folder, "--data-dir", str(tmp_path / "data"))
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "badplug" in lines[0] and "no such net" in lines[0], err
    assert not (tmp_path / "runs").exists()


def test_make_refuses_a_bad_plugin_before_anything_trains_and_warns_of_a_colliding_one(tmp_path):
    """Through make: a matrix naming a plugin whose builder raises stops at the input check, in one line
    naming the plugin, before any run (plain-8 beside it included) trains; an installed plugin that takes a
    built-in name is refused when a matrix names a plugin and is a warning when it names none; an empty
    MODELS is refused in one line."""
    from helpers_runs import make

    site = fake_dist(tmp_path / "site", "badplug-dist", {"badplug": "badplug_mod:build"}, module="badplug_mod",
                     source="def build(depth, **kw):\n    raise RuntimeError('no such net')\n")
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    common = ["degradation", "PROFILE=smoke", f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={tmp_path / 'r'}"]
    p = make(tmp_path, *common, "MODELS=plain-8 badplug-8", env_extra={"PYTHONPATH": str(site)})
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert p.returncode != 0 and len(errors) == 1 and "badplug" in errors[0] and "no such net" in errors[0], p.stderr
    assert not runs.exists()
    p = make(tmp_path, *common, "MODELS=", env_extra={"PYTHONPATH": str(site)})
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert p.returncode != 0 and len(errors) == 1 and "no models given (MODELS is empty)" in errors[0], p.stderr
    assert not runs.exists()

    clash = fake_dist(tmp_path / "clash", "clash-dist", {"plain": "clash_mod:build"}, module="clash_mod",
                      source="def build(depth, **kw):\n    raise RuntimeError('never built')\n")

    def check(models: str) -> tuple[int, str]:
        code = (f"import sys; sys.path[:0] = [{str(clash)!r}, {str(site)!r}]; from experiments import matrix; "
                f"sys.exit(matrix.main(['check', '--profile', 'smoke', '--models', {models!r}, "
                f"'--runs-dir', {str(tmp_path / 'runs2')!r}]))")
        q = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        return q.returncode, q.stderr

    rc, err = check("plain-8")
    assert rc == 0 and err.count("warning:") == 1 and "collides with the built-in method 'plain'" in err, err
    rc, err = check("plain-8 badplug-8")
    assert rc == 2 and err.count("error:") == 1 and "collides with the built-in method 'plain'" in err, err


# --- the plugin check, as training uses the net -------------------------------------------------------------

_NET = '''import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, depth, num_classes, in_channels):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, 4, 3, padding=1)]
                                   + [nn.Conv2d(4, 4, 3, padding=1) for _ in range(depth - 2)])
        self.fc = nn.Linear(FEATURES, num_classes)

    def features(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x
'''
TRAINING_FAULTS = {
    # a classifier sized for 32x32 inputs: passes the 32x32 build check, fails at the smoke profile's 16x16
    "sized for 32x32": ("FEATURES = 4 * 32 * 32\n", "return self.fc(torch.flatten(self.features(x), 1))",
                        "fails in training mode on a (2, 3, 16, 16) batch, the run's input: RuntimeError"),
    # auxiliary logits in training mode, as torchvision's Inception and GoogLeNet return them
    "auxiliary logits": ("FEATURES = 4\n", "y = self.fc(self.features(x).mean((2, 3)))\n"
                         "        return (y, y) if self.training else y",
                         "maps a (2, 3, 16, 16) batch in training mode to tuple; valid: (2, 10) logits"),
    # .view() on a channels_last feature map (the quick and paper profiles train in channels_last)
    "view on channels_last": ("FEATURES = 4\n",
                              "return self.fc(self.features(x).view(x.shape[0], -1).view(x.shape[0], 4, -1).mean(2))",
                              "in channels_last memory format, the run's input: RuntimeError"),
    "no trainable parameter": ("FEATURES = 4\n", "return self.fc(self.features(x).mean((2, 3)))",
                               "has no trainable parameter"),
}


@pytest.mark.parametrize("case", list(TRAINING_FAULTS))
def test_the_plugin_check_uses_the_net_as_training_does(case, tmp_path, on_path):
    """The run's check (experiments.run, make's input check) runs the net at the run's image size and memory
    format, in training mode, with one backward pass: a net that passes the build check and then fails every
    run is refused in one line naming the plugin."""
    features, forward, expected = TRAINING_FAULTS[case]
    frozen = "    net.requires_grad_(False)\n" if case == "no trainable parameter" else ""
    source = (_NET.replace("FEATURES", features.split(" = ")[1].strip()) + f"\n    def forward(self, x):\n        {forward}\n"
              f"\ndef build(depth, *, num_classes, in_channels, **kw):\n    net = Net(depth, num_classes, in_channels)\n"
              f"{frozen}    return net\n")
    on_path(fake_dist(tmp_path, "bad-plugin", {"badnet": "badplug_t:build"}, "badplug_t", source))
    models.create_model("badnet-8")  # the build check passes
    with pytest.raises(models.PluginError) as err:
        models.check_plugin_net("badnet-8", num_classes=10, in_channels=3, image_size=16,
                                channels_last=case == "view on channels_last")
    message = str(err.value)
    assert "\n" not in message and message.startswith("plugin 'badnet' (badplug_t:build, from bad-plugin 0.1)")
    assert expected in message, message


def test_a_net_that_fails_at_the_runs_image_size_is_refused_before_anything_is_written(tmp_path, on_path):
    """Through the run command (its main, in this process), smoke profile (16x16): the classifier sized for
    32x32 once passed the check and failed the run (a failed result.json on every make); now exit 2, one line,
    no run folder."""
    from helpers_runs import inproc

    features, forward, _ = TRAINING_FAULTS["sized for 32x32"]
    source = (_NET.replace("FEATURES", features.split(" = ")[1].strip()) + f"\n    def forward(self, x):\n        {forward}\n"
              "\ndef build(depth, *, num_classes, in_channels, **kw):\n    return Net(depth, num_classes, in_channels)\n")
    on_path(fake_dist(tmp_path / "site", "bad-plugin", {"badnet": "badplug_t:build"}, "badplug_t", source))
    folder = tmp_path / "runs" / "degradation" / "smoke" / "badnet-8" / "seed0"
    (tmp_path / "data").mkdir()
    rc, out, err = inproc(folder, "--data-dir", str(tmp_path / "data"))
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert "'badnet'" in lines[0] and "(2, 3, 16, 16) batch, the run's input" in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()


def test_the_input_check_builds_a_plugin_for_the_datasets_channels(tmp_path, on_path, capsys):
    """Found by a fault hunt: make's input check built every plugin for 3 input channels, so a net that ignores
    ``in_channels`` passed it on Fashion-MNIST (1 channel), and every one of its runs then failed, one error
    line each, beside the other nets' training. Now the check refuses it once, before anything trains."""
    from experiments import matrix

    source = (_NET.replace("FEATURES", "4") + "\n    def forward(self, x):\n"
              "        return self.fc(self.features(x).mean((2, 3)))\n"
              "\ndef build(depth, *, num_classes, in_channels, **kw):\n    return Net(depth, num_classes, 3)\n")
    on_path(fake_dist(tmp_path / "site", "rgb-plugin", {"rgbonly": "badplug_rgb:build"}, "badplug_rgb", source))
    args = ["check", "--profile", "smoke", "--models", "plain-8 rgbonly-8", "--runs-dir", str(tmp_path / "runs")]
    assert matrix.main(args) == 0  # the smoke profile's synthetic data: 3 channels, as the net assumes
    capsys.readouterr()
    assert matrix.main([*args, "--set", "dataset=fashion-mnist"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "plugin 'rgbonly'" in lines[0] and "on a (2, 1, " in lines[0], lines
    assert not (tmp_path / "runs").exists()


# --- the distribution: its files, its name, its top-level packages ------------------------------------------

def test_the_source_hash_covers_the_plugins_own_distribution_only(tmp_path, on_path):
    """Two distributions sharing a namespace package (``labnets/``): the plugin's hash and file list are its
    RECORD's files (never the other distribution's, never compiled files or scripts), and change with them."""
    lab = tmp_path / "site"
    fake_dist(lab, "labnet-a", {"labneta": "labnets.a:build"}, files={"labnets/a.py": "def build(depth, **kw): ...\n"})
    fake_dist(lab, "labnet-b", {"labnetb": "labnets.b:build"}, files={"labnets/b.py": "def build(depth, **kw): ...\n"})
    on_path(lab)
    record = models.plugin_provenance("labneta")
    assert record["distribution"] == "labnet-a" and record["source_files"] == ["labnets/a.py"]
    body = (lab / "labnets" / "a.py").read_bytes()
    assert record["source_sha256"] == hashlib.sha256(b"labnets/a.py\0" + body + b"\0").hexdigest()
    (lab / "labnets" / "b.py").write_text("# the other distribution changed\n")
    assert models.plugin_provenance("labneta")["source_sha256"] == record["source_sha256"]
    (lab / "labnets" / "a.py").write_text("def build(depth, **kw): return None\n")
    assert models.plugin_provenance("labneta")["source_sha256"] != record["source_sha256"]


def test_one_name_from_two_distributions_is_refused_even_with_one_entry_point(tmp_path, on_path):
    on_path(fake_dist(tmp_path / "one", "plugin-one", {"twin": "badplug_p:build"}))
    on_path(fake_dist(tmp_path / "two", "plugin-two", {"twin": "badplug_p:build"}))
    with pytest.raises(models.PluginError, match="is also registered by plugin-.*; one name, one distribution"):
        models.check_plugins()


@pytest.mark.parametrize("how", ["top_level.txt", "RECORD"])
def test_a_distribution_shadowing_a_suite_package_is_refused_in_one_line(how, tmp_path, on_path):
    """A lab package with a top-level ``models/`` would shadow the suite's ``models`` (or be shadowed by it):
    named when the plugin is listed, read from its metadata without importing it."""
    if how == "RECORD":
        site = fake_dist(tmp_path, "lab-nets", {"labnet": "models.labnet:build"},
                         files={"models/__init__.py": "", "models/labnet.py": "raise AssertionError('imported')\n"})
    else:
        site = fake_dist(tmp_path, "lab-nets", {"labnet": "models.labnet:build"}, top_level="models\nlabtools\n")
    on_path(site)
    with pytest.raises(models.PluginError) as err:
        models.check_plugins()
    message = str(err.value)
    assert "\n" not in message and message.startswith("plugin 'labnet' (models.labnet:build, from lab-nets 0.1)")
    assert "installs a top-level package 'models', which shadows the suite's own 'models'" in message
    assert "rename its package" in message and "experiments, models, reports, runfolder" in message


def test_the_taken_top_level_names_are_the_suites_packages():
    import tomllib

    from models.plugins import SUITE_PACKAGES

    packages = tomllib.loads((EXAMPLE.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert set(SUITE_PACKAGES) == {p.split(".")[0] for p in packages}


TVRES = '''import torch, torchvision

def build(depth, *, num_classes, in_channels, **kw):
    net = torchvision.models.resnet18(num_classes=num_classes)
    net.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    DECLARE
    return net
'''


def test_a_torchvision_resnet_is_told_why_its_count_is_off_and_wraps_as_the_contract_shows(tmp_path, on_path):
    """torchvision's ResNet-18 counts 21 weighted layers (its three ``downsample`` projections included): the
    message says so and points to ``declared_weighted``; declaring the main path as the contract's example
    does builds ``tvres-18``."""
    on_path(fake_dist(tmp_path / "a", "tv-plugin", {"tvres": "badplug_tv:build"}, "badplug_tv",
                      TVRES.replace("DECLARE", "pass")))
    with pytest.raises(models.PluginError) as err:
        models.create_model("tvres-18")
    message = str(err.value)
    assert "has 21 weighted layers as models.weighted_layers counts them" in message, message
    assert "3 of them on what look like projection shortcuts (layer2.0.downsample.0, layer3.0.downsample.0, " \
           "layer4.0.downsample.0)" in message and "declared_weighted" in message and "valid: tvres-21" in message
    import models.plugins as contract

    example = contract.__doc__.split("def build(depth, *, num_classes, in_channels, **_):")[1].split("return net")[0]
    declare = "\n    ".join(line.strip() for line in example.splitlines() if "declared" in line or "for b in" in line)
    for module in [m for m in sys.modules if m.startswith("badplug_tv")]:
        del sys.modules[module]
    on_path(fake_dist(tmp_path / "b", "tv-plugin2", {"tvnet": "badplug_tv2:build"}, "badplug_tv2",
                      TVRES.replace("DECLARE", declare)))
    net = models.create_model("tvnet-18", in_channels=1)
    assert len(models.weighted_layers(net)) == 18
    assert models.check_plugin_net("tvnet-18", num_classes=10, in_channels=1, image_size=14, channels_last=True) \
        == {**dict.fromkeys(models.names.AXIS_VALUES), "block": "post", "shortcut": "b", "norm": "bn"}


# --- lr_factors and declared axes ---------------------------------------------------------------------------

@pytest.mark.parametrize("attr,factors,expected", [
    ("lr_factors", "{'fc.bias': 0.0}", "gives 'fc.bias' the factor 0.0; valid: a finite number > 0"),
    ("lr_factors", "{'head.bias': 0.1}", "names 'head.bias', which is no parameter of the net"),
    ("lr_factors", "[('fc.bias', 0.1)]", "returned list; valid: a mapping"),
    # weight-decay factors were not checked: a misspelt name failed every run with a traceback, -50 trained
    # with negative decay, nan diverged
    ("weight_decay_factors", "{'fc.bais': 0.0}", "weight_decay_factors() names 'fc.bais', which is no parameter"),
    ("weight_decay_factors", "{'fc.bias': -50}", "gives 'fc.bias' the factor -50; valid: a finite number >= 0"),
    ("weight_decay_factors", "{'fc.bias': float('nan')}", "the factor nan; valid: a finite number >= 0"),
])
def test_bad_lr_factors_are_refused_when_the_plugin_is_checked(attr, factors, expected, tmp_path, on_path):
    source = (_NET.replace("FEATURES", "4") + "\n    def forward(self, x):\n        return self.fc(self.features(x).mean((2, 3)))\n"
              f"\n    def {attr}(self):\n        return {factors}\n"
              "\ndef build(depth, *, num_classes, in_channels, **kw):\n    return Net(depth, num_classes, in_channels)\n")
    on_path(fake_dist(tmp_path, "bad-plugin", {"badnet": "badplug_lr:build"}, "badplug_lr", source))
    with pytest.raises(models.PluginError) as err:
        models.create_model("badnet-8")
    assert "\n" not in str(err.value) and expected in str(err.value), str(err.value)


def test_a_net_with_a_generator_of_its_own_is_refused(tmp_path, on_path):
    """A net drawing noise from its own torch.Generator resumed from step 7 on with other numbers (no
    checkpoint holds that generator's state): refused when the plugin is checked, in one line."""
    source = (_NET.replace("FEATURES", "4") + "\n    def forward(self, x):\n        return self.fc(self.features(x).mean((2, 3)))\n"
              "\ndef build(depth, *, num_classes, in_channels, **kw):\n    net = Net(depth, num_classes, in_channels)\n"
              "    net.convs[0].gen = torch.Generator().manual_seed(0)\n    return net\n")
    on_path(fake_dist(tmp_path, "bad-plugin", {"badnet": "badplug_gen:build"}, "badplug_gen", source))
    with pytest.raises(models.PluginError) as err:
        models.create_model("badnet-8")
    assert "\n" not in str(err.value) and "module 'convs.0' keeps its own torch.Generator ('gen')" in str(err.value)


@pytest.mark.parametrize("declared,expected", [("{'norm': 'gn'}", "gives norm 'gn'; valid: bn, none"),
                                               ("{'depthwise': True}", "names the axis 'depthwise'; valid: block, ")])
def test_bad_declared_axes_are_refused(declared, expected, tmp_path, on_path):
    source = (_NET.replace("FEATURES", "4") + f"    declared_axes = {declared}\n"
              "\n    def forward(self, x):\n        return self.fc(self.features(x).mean((2, 3)))\n"
              "\ndef build(depth, *, num_classes, in_channels, **kw):\n    return Net(depth, num_classes, in_channels)\n")
    on_path(fake_dist(tmp_path, "bad-plugin", {"badnet": "badplug_ax:build"}, "badplug_ax", source))
    with pytest.raises(models.PluginError, match=expected):
        models.create_model("badnet-8")


def test_every_run_records_its_optimizer_groups():
    from experiments.training.module import optimizer_groups

    assert optimizer_groups(models.create_model("plain-8")) == [{"lr_factor": 1.0, "weight_decay_factor": 1.0,
                                                                 "tensors": 23}]
    groups = optimizer_groups(models.create_model("fixup-8"))
    assert [g["lr_factor"] for g in groups] == [1.0, 0.1] and groups[1]["tensors"] > 0
    groups = optimizer_groups(models.create_model("skipinit-8"))  # no weight decay on alpha and the biases
    assert [(g["lr_factor"], g["weight_decay_factor"]) for g in groups] == [(1.0, 1.0), (1.0, 0.0)]


# --- a plugin net trained, killed, resumed ------------------------------------------------------------------

# A net drawing random numbers in training from every generator a net may use: torch's (dropout), Python's
# and numpy's; with its own learning-rate groups and one declared axis.
DROPNET = _NET.replace("FEATURES", "4").replace(
    "        self.fc = nn.Linear(4, num_classes)\n",
    "        self.fc = nn.Linear(4, num_classes)\n        self.drop = nn.Dropout(0.5)\n") + '''
    declared_axes = {"norm": "none"}

    def forward(self, x):
        import random

        import numpy as np

        x = self.drop(self.features(x).mean((2, 3)))
        if self.training:
            x = x * (1 + 0.1 * random.random() + 0.1 * float(np.random.rand()))
        return self.fc(x)

    def lr_factors(self):
        return {"fc.bias": 0.1}


def build(depth, *, num_classes, in_channels, **kw):
    return Net(depth, num_classes, in_channels)
'''


@pytest.fixture
def dropnet(tmp_path, on_path) -> Path:
    """The dropout plugin ``dropnet`` on sys.path (for this process, its forked children and subprocesses
    through PYTHONPATH); returns its module file."""
    site = fake_dist(tmp_path / "site", "dropnet-plugin", {"dropnet": "badplug_drop:build"}, "badplug_drop", DROPNET)
    on_path(site)
    return site / "badplug_drop.py"


def _trained_and_killed(tmp_path: Path, model: str) -> tuple[Path, Path]:
    """``model`` trained once uninterrupted (the reference) and once killed after iteration 7: both folders."""
    from helpers_runs import TINY_ARGS, forked, inproc, run_dir

    reference = run_dir(tmp_path / "ref", model)
    rc, out, err = inproc(reference, *TINY_ARGS)
    assert rc == 0, out + err
    folder = run_dir(tmp_path / "runs", model)
    code, output = forked(folder, *TINY_ARGS, fault="kill@7", log=tmp_path / "killed.log")
    assert code == -9, output
    return reference, folder


def test_a_dropout_plugin_killed_mid_run_resumes_byte_identical(tmp_path, dropnet):
    """The checkpoint holds the random generators' states (torch, Python, numpy; CUDA where used): a net that
    draws random numbers in training resumes exactly, metrics.csv byte for byte (it once differed in every row
    after the resume point)."""
    from helpers_runs import TINY_ARGS, assert_same_state, inproc, load_ckpt

    reference, folder = _trained_and_killed(tmp_path, "dropnet-8")
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    import json

    result = json.loads((folder / "result.json").read_text())
    assert result["resumed_from"] == 6
    assert (folder / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    assert_same_state(load_ckpt(folder / "checkpoints" / "last.ckpt"), load_ckpt(reference / "checkpoints" / "last.ckpt"))
    # its groups and declared axes, recorded
    assert result["optimizer_groups"] == [{"lr_factor": 1.0, "weight_decay_factor": 1.0, "tensors": 15},
                                          {"lr_factor": 0.1, "weight_decay_factor": 1.0, "tensors": 1}]
    assert result["axes"] == {**dict.fromkeys(models.names.AXIS_VALUES), "norm": "none"} and result["shortcut"] is None


# A net that draws its structure when built, from the global generators (torch's, Python's, numpy's): a random
# wiring, the same for a seed (training seeds them before it builds the net).
WIRENET = _NET.replace("FEATURES", "4") + """
    declared_axes = {"norm": "none"}

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)) * self.scale)


def build(depth, *, num_classes, in_channels, **kw):
    import random

    import numpy as np
    import torch

    net = Net(depth, num_classes, in_channels)
    net.wiring = (int(torch.randint(0, 2, ())), random.randrange(2), int(np.random.randint(2)))
    net.scale = 1.0 + 0.1 * sum(net.wiring)
    return net
"""


def test_a_plugin_that_draws_its_wiring_when_built_resumes_exactly(tmp_path, on_path):
    """The resume check built its comparison net before the generators were seeded, so a net whose structure is
    drawn at build time (public attribute ``wiring``, in its layout) differed from the trained one, and every
    resume was refused as "code changed", at the same commit; config.yaml's layout digest named a net never
    trained. Built as training builds it, it resumes byte for byte."""
    import hashlib

    import torch
    import yaml
    from helpers_runs import TINY_ARGS, inproc

    on_path(fake_dist(tmp_path / "site", "wirenet-plugin", {"wirenet": "badplug_wire:build"}, "badplug_wire", WIRENET))
    reference, folder = _trained_and_killed(tmp_path, "wirenet-8")
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    layout = checkpoint["degradation_trained_with"]["layout"]
    recorded = yaml.safe_load((folder / "config.yaml").read_text())["layout_sha256"]
    assert hashlib.sha256("\n".join(layout).encode()).hexdigest() == recorded
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    assert (folder / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


def test_a_plugin_edited_between_a_kill_and_the_resume_is_refused(tmp_path, dropnet):
    """The checkpoint records the plugin's source hash: a resume under other plugin code is refused in one line
    saying what changed and what to do, the checkpoint untouched; under the same code (another suite commit
    in between) it resumes, and the run records every commit it was trained with."""
    import json

    import torch
    from helpers_runs import TINY_ARGS, forked, inproc, load_ckpt, run_dir

    folder = run_dir(tmp_path / "runs", "dropnet-8")
    code, output = forked(folder, *TINY_ARGS, fault="kill@7", log=tmp_path / "killed.log")
    assert code == -9, output
    ckpt = folder / "checkpoints" / "last.ckpt"
    original = dropnet.read_text()
    dropnet.write_text(original + "\n# an edit after the kill\n")
    before = ckpt.read_bytes()
    rc, out, err = inproc(folder, *TINY_ARGS)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert "holds a checkpoint (iteration 6) trained with other code of plugin 'dropnet' (dropnet-plugin 0.1, " \
           "source sha256 " in lines[0] and "reinstall the code it was trained with to resume it" in lines[0]
    assert f"delete {ckpt} to train the run from the start" in lines[0]
    assert ckpt.read_bytes() == before and not (folder / "result.json").exists()

    dropnet.write_text(original)
    state = load_ckpt(ckpt)
    state["degradation_trained_with"]["git_commits"] = ["f" * 40]  # as if killed under another commit
    torch.save(state, ckpt)
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    result = json.loads((folder / "result.json").read_text())
    assert result["git_commits"][0] == "f" * 40 and result["resumed_from"] == 6
    import yaml

    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["git_commits"] == result["git_commits"]
    assert config["git_commit"] is None or result["git_commits"] == ["f" * 40, config["git_commit"]]


def test_a_finished_plugin_run_trained_by_other_code_is_refused_not_reused(tmp_path, dropnet, capsys):
    """Found by a fault hunt: with the plugin's code edited, `make` skipped its finished runs without a word and
    reported the old code's numbers as the new code's (the resume check compared the code; the reuse check
    did not). Refused in one line naming both hashes; under the code it was trained with, reused."""
    from experiments import matrix
    from helpers_runs import TINY_ARGS, TINY_SET, inproc, run_dir

    runs = tmp_path / "runs"
    folder = run_dir(runs, "dropnet-8")
    rc, out, err = inproc(folder, *TINY_ARGS)
    assert rc == 0, out + err
    args = ["check", "--experiment", "degradation", "--profile", "smoke", "--models", "dropnet-8", "--seeds", "0",
            "--runs-dir", str(runs), "--set", " ".join(TINY_SET)]
    assert matrix.main(args) == 0  # the same code: the run is reused
    original = dropnet.read_text()
    dropnet.write_text(original + "\n# an edit after the run\n")
    capsys.readouterr()
    assert matrix.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder} is done, trained with the code of plugin "
                                                   "'dropnet': source sha256 "), lines
    assert "(the installed code): make would report the old run as the new one" in lines[0]
    dropnet.write_text(original)
    assert matrix.main(args) == 0


# --- reports: what the run folders record -------------------------------------------------------------------

def _plugin_runs(runs: Path, versions: dict[int, str], axes: dict | None = None) -> None:
    from runfolders import write_run

    for seed, sha in versions.items():
        for model, v in (("plain-20", 10.0), ("plain-56", 30.0), ("plain-20-nobn", 20.0), ("plain-56-nobn", 60.0),
                         ("dropnet-20", 9.0), ("dropnet-56", 8.0)):
            plugin = {"distribution": "dropnet-plugin", "version": "0.1", "source_sha256": sha,
                      "entry_point": "dropnet = badplug_drop:build"} if model.startswith("dropnet") else None
            write_run(runs, "methods", "quick", model, seed, steps=[100, 200], train=lambda s, v=v: v + seed,
                      test=lambda s, v=v: v + 2, plugin=plugin, axes=axes if plugin else None)


def test_plugin_runs_are_reported_from_their_records_not_the_installed_plugins(tmp_path, on_path):
    """The report reads a plugin's runs from their folders: reported where the plugin is not installed, and
    beside installed plugins that are refused (a bad name, a built-in's name), which cost a warning at most;
    its declared normalisation picks its baseline (``"norm": "none"``: plain-<d>-nobn)."""
    from reports.build import build_report
    from reports.leaderboard import leaderboard_table
    from reports.runs import discover_runs

    runs = tmp_path / "runs"
    _plugin_runs(runs, {0: "a" * 64, 1: "a" * 64}, axes={**dict.fromkeys(models.names.AXIS_VALUES), "norm": "none"})
    on_path(fake_dist(tmp_path / "bad1", "bad-name", {"My_Net": "badplug_n:build"}))
    on_path(fake_dist(tmp_path / "bad2", "evil-plugin", {"plain": "badplug_x:build"}))
    found = discover_runs(runs, "methods", "quick")
    assert "dropnet-56" in found.models and not found.ignored
    dropnet = [r for r in found.runs if r.kind == "dropnet"]
    assert len(dropnet) == 4 and all(r.ok and r.info.plugin and r.info.norm == "none" for r in dropnet)
    assert {r.shortcut for r in dropnet} == {"unknown"}  # undeclared: never "none"
    board = leaderboard_table(found.runs).set_index("method")
    assert board.loc["dropnet", "plain"] == "plain-56-nobn" and board.loc["dropnet", "norm"] == "none"
    result = build_report(runs, "methods", "quick", tmp_path / "out")
    tidy = (result.out_dir / "runs.csv").read_text()
    assert "dropnet-56" in tidy and "not expected" not in (result.out_dir / "summary.md").read_text()


def test_the_report_names_plugin_versions_and_flags_seeds_of_two_versions(tmp_path):
    """Seeds of one plugin net trained by two versions of its code: the report names each net's versions and
    flags every run of such a net (its mean pools two nets), as page 1 names the suite's commits."""
    from reports.build import build_report
    from reports.runs import discover_runs

    runs = tmp_path / "runs"
    _plugin_runs(runs, {0: "a" * 64, 1: "a" * 64, 2: "b" * 64})
    found = discover_runs(runs, "methods", "quick")
    flagged = [r for r in found.runs if r.notes]
    assert {r.model for r in flagged} == {"dropnet-20", "dropnet-56"} and len(flagged) == 6
    note = flagged[0].notes[0]
    assert "trained by 2 versions of plugin 'dropnet' (dropnet-plugin 0.1, sha256 aaaaaaaaaaaa: seeds 0, 1; " \
           "dropnet-plugin 0.1, sha256 bbbbbbbbbbbb: seed 2)" in note, note
    text = build_report(runs, "methods", "quick", tmp_path / "out").first_page
    assert "- plugins: dropnet-20: dropnet-plugin 0.1, sha256 aaaaaaaaaaaa (2 runs); dropnet-plugin 0.1, sha256 " \
           "bbbbbbbbbbbb (1 run) -- SEEDS TRAINED BY DIFFERENT VERSIONS" in text, text
    assert "trained by 2 versions of plugin 'dropnet'" in text
    # The board gives such a net no verdict (it gave one, its flags "–"), and its flags say why.
    from reports.leaderboard import leaderboard_table

    row = leaderboard_table(found.runs).set_index("method").loc["dropnet"]
    assert row["verdict"] == "not judged: seeds trained by different plugin code (dropnet-20, dropnet-56)"
    assert row["deep_flags"].endswith("2 plugin versions") and row["vs_resnet_verdict"] == "no resnet-56 run"


def test_layer_responses_refuse_a_plugin_net_whose_code_changed_since_its_run(installed, on_path, tmp_path):
    """`make layer-responses` rebuilt a plugin net from the code installed now and measured the run's weights
    in it (a ReLU changed to tanh gave new numbers under the old record): other source files are refused."""
    from experiments.responses import RunError, _check_same_net

    on_path(installed)
    net = models.create_model("mynet-20", width=4)
    now = models.plugin_provenance("mynet")["source_sha256"]
    _check_same_net(tmp_path / "last.ckpt", "mynet-20", net, {"plugin": {"source_sha256": now}})  # the same code
    with pytest.raises(RunError, match="trained with other code of plugin mynet-plugin .*installed now " + now[:12]):
        _check_same_net(tmp_path / "last.ckpt", "mynet-20", net, {"plugin": {"source_sha256": "0" * 64}})


def test_a_tuned_rate_chosen_by_other_plugin_code_than_trained_the_seeds_is_not_judged(tmp_path):
    """A plugin edited in the middle of the tuning protocol: the rate was chosen by runs of one version of its
    code and the reported seeds trained by another, and the tuned board gave a verdict with nothing flagged
    (the mixed-code check looked at the reported seeds only)."""
    import shutil

    import pandas as pd

    import runfolder
    from reports.build import build_report
    from runfolders import write_run

    runs = tmp_path / "runs"
    _plugin_runs(runs, {0: "a" * 64, 1: "a" * 64, 2: "a" * 64})
    for model in ("dropnet-20", "dropnet-56"):
        for lr, v in ((0.05, 20.0), (0.1, 10.0), (0.2, 15.0)):  # 0.1 chosen: the reported seeds are seed<k>'s
            plugin = {"distribution": "dropnet-plugin", "version": "0.2", "source_sha256": "b" * 64,
                      "entry_point": "dropnet = badplug_drop:build"}
            folder = write_run(tmp_path / "scratch" / str(lr), "methods", "quick", model, 1000, steps=[100, 200],
                               train=lambda s, v=v: v, plugin=plugin)
            target = runfolder.run_dir(runs, "methods", "quick", model, 1000, None if lr == 0.1 else lr)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder, target)
    result = build_report(runs, "methods", "quick", tmp_path / "out", ["dropnet-20", "dropnet-56"], [0, 1, 2],
                          tuning_grid=(0.05, 0.1, 0.2))
    assert not result.errors, result.errors
    board = pd.read_csv(result.out_dir / "leaderboard.csv").set_index("board")
    assert board.loc["tuned", "verdict"] == "not judged: seeds trained by different plugin code (dropnet-20, dropnet-56)"
    assert board.loc["one-recipe", "verdict"] != board.loc["tuned", "verdict"]  # one version there: judged
