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


def fake_dist(root: Path, dist: str, entry_points: dict[str, str], module: str = "", source: str = "") -> Path:
    """A distribution as pip leaves it: ``<dist>-0.1.dist-info`` with METADATA and entry_points.txt."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[degradation_suite.models]\n{lines}")
    if module:
        (root / f"{module}.py").write_text(source)
    return root


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
    assert record["method"] == "mynet" and record["axes"] is None and record["depth"] == 20
    plugin = record["plugin"]
    assert plugin["distribution"] == "mynet-plugin" and plugin["version"] == "0.1.0"
    assert plugin["entry_point"] == "mynet = mynet_plugin:build" and plugin["source_files"] == ["mynet_plugin.py"]
    body = (installed / "mynet_plugin.py").read_bytes()
    assert body == (EXAMPLE / "mynet_plugin.py").read_bytes()
    assert plugin["source_sha256"] == hashlib.sha256(b"mynet_plugin.py\0" + body + b"\0").hexdigest()


def test_plugin_names_parse_without_importing_torch_or_the_plugin(installed):
    code = (f"import sys; sys.path.insert(0, {str(installed)!r}); import models; "
            "from models.names import parse_name; assert parse_name('mynet-56').plugin; models.model_axes('mynet-56'); "
            "assert 'torch' not in sys.modules and 'mynet_plugin' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_plugin_its_names_are_unknown():
    with pytest.raises(ValueError, match="unknown method 'mynet'"):
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
                       "has 1 weighted layers (models.weighted_layers), its name promises 20; valid: badnet-1"),
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


def test_the_example_plugin_trains_through_make_like_a_built_in_net(installed, tmp_path):
    """`make layer-responses` (which trains the degradation runs first) with MODELS naming the plugin: the
    plugin is found by every process make starts (here through PYTHONPATH, as any installed package), killed
    mid-run and resumed, its gradient norms and layer responses measured, its provenance recorded, and the
    report covers it. (Beside built-in nets: test_srun_trains_each_run_as_a_job_with_the_local_results's report.)
    The killed first make trains only (the `runs` goal): the check, the report and the status are the second's."""
    import json

    import yaml
    from helpers_runs import make

    runs, data, reports = tmp_path / "runs", tmp_path / "data", tmp_path / "reports"
    data.mkdir()
    args = ["layer-responses", "PROFILE=smoke", "LAYER_RESPONSE_MODELS=mynet-8", "SET=grad_norm_every=2",
            f"RUNS_DIR={runs}", f"DATA_DIR={data}", f"REPORTS_DIR={reports}", "-j2"]
    killed = make(tmp_path, "runs", "EXPERIMENT=degradation", "MODELS=mynet-8", *args[1:],
                  env_extra={"PYTHONPATH": str(installed), "DEGRADATION_FAULT": "kill@4"}, timeout=300)
    assert killed.returncode != 0  # the run was killed after iteration 4, past its checkpoint at 3
    p = make(tmp_path, *args, env_extra={"PYTHONPATH": str(installed)}, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    folder = runs / "degradation" / "smoke" / "mynet-8" / "seed0"
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "ok" and result["method"] == "mynet" and result["resumed_from"] == 3
    assert result["plugin"]["distribution"] == "mynet-plugin" and result["plugin"]["version"] == "0.1.0"
    digest = hashlib.sha256(b"mynet_plugin.py\0" + (installed / "mynet_plugin.py").read_bytes() + b"\0").hexdigest()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["plugin"]["source_sha256"] == result["plugin"]["source_sha256"] == digest
    assert config["method"] == "mynet" and config["axes"] is None
    assert (folder / "grad_norms.csv").read_text().count("\n") > 1
    assert (folder / "layer_responses.csv").read_text().count("\n") > 1
    tidy = (reports / "degradation" / "smoke" / "runs.csv").read_text()
    assert "mynet-8" in tidy


def test_a_bad_plugin_is_one_line_before_anything_is_written(tmp_path):
    """A plugin whose builder raises: `experiments.run` says so in one line naming it, exit 2, no run folder."""
    from helpers_runs import cli

    site = fake_dist(tmp_path / "site", "badplug-dist", {"badplug": "badplug_mod:build"}, module="badplug_mod",
                     source="def build(depth, **kw):\n    raise RuntimeError('no such net')\n")
    folder = tmp_path / "runs" / "degradation" / "smoke" / "badplug-8" / "seed0"
    (tmp_path / "data").mkdir()
    p = cli(folder, "--data-dir", str(tmp_path / "data"), env_extra={"PYTHONPATH": str(site)})
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "badplug" in lines[0] and "no such net" in lines[0], p.stderr
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
