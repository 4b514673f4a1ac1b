"""`make bench` keeps working: a few steps of each of its CPU measurements, and the pipeline it relies on."""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

import pytest
import torch

from bench.paths import variant_config, variant_label
from bench.run import main as bench_main
from experiments.config import RunConfig
from experiments.training.batches import TrainBatches


def test_bench_smoke_writes_every_item(tmp_path):
    out = tmp_path / "bench"
    # One thread: the other test process (make test's -n) has the other core.
    assert bench_main(["--smoke", "--device", "cpu", "--out-dir", str(out), "--models", "resnet-20",
                       "--repeats", "1", "--threads", "1"]) == 0
    rows = list(csv.DictReader(open(out / "bench-cpu.csv")))
    by_item = {int(r["item"]): r for r in rows}
    assert {1, 2, 3, 4, 6} <= set(by_item)
    for item in (1, 2, 3):
        assert float(by_item[item]["ratio"]) > 0 and float(by_item[item]["images_per_s"]) > 0
    assert float(by_item[4]["images_per_s"]) > 0
    assert (out / "bench-cpu.json").is_file()


def test_pad_crop_flip_grid_cache_keeps_batches_a_function_of_seed_and_step():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(64)
    mean, std = images.float().mean(0).div_(255), torch.full((3, 1, 1), 0.3)
    a = TrainBatches(images, labels, mean, std, 16, 0, True, False)
    b = TrainBatches(images, labels, mean, std, 16, 0, True, False)
    first = [a.batch(s)[0] for s in range(6)]
    assert all(torch.equal(b.batch(s)[0], first[s]) for s in reversed(range(6)))  # any order, same batches
    assert not torch.equal(first[0], first[1])


def test_bench_variants_name_what_they_run():
    base = RunConfig(compile=True, compile_mode="reduce-overhead")
    eager = variant_config(base, "eager")
    assert (eager.compile, eager.cuda_graph) == (False, False)
    graphed = variant_config(base, "default/graph")
    assert (graphed.compile, graphed.compile_mode, graphed.cuda_graph) == (True, "default", True)
    assert variant_config(base, "eager/graph").cuda_graph and not variant_config(base, "eager/graph").compile
    assert variant_label(graphed, "cuda") == "fp32 compile:default + step graph"


@pytest.mark.parametrize("args, fragments", [
    (["--compile-modes", "default,fast"], ["'fast'", "eager, default, reduce-overhead", "'/graph'"]),
    (["--compile-modes", "reduce-overhead/graph"], ["reduce-overhead", "cuda_graph", "valid with cuda_graph: default"]),
    (["--profile-mode", "eager/grap"], ["'eager/grap'"]),
    (["--order", "arms,speed"], ["'speed'", "arms, classic, profile, models, matrix"]),
    (["--order", "compile:default+turbo"], ["'turbo'"]),
    # each once a traceback, or exit 0 over a bench-cpu.csv of FAILED rows
    (["--model", "reznet-20"], ["bad model 'reznet-20'", "unknown method 'reznet'"]),
    (["--models", "resnet-20 plain-7"], ["bad model 'plain-7'"]),
    (["--profile", "smok"], ["unknown profile 'smok'", "quick"]),
    (["--items", "1,9"], ["bad --items '1,9'"]),
    # found by a fault hunt: a traceback, a section FAILED under exit 0, or every item "skipped" under exit 0
    (["--steps", "-5"], ["bad --steps -5: at least 1"]),
    (["--repeats", "0"], ["bad --repeats 0: at least 1"]),
    (["--threads", "-1"], ["bad --threads -1: at least 0 (0: all cores)"]),
    (["--workers", "-3"], ["bad --workers -3: at least 0"]),
    (["--budget-s", "-1"], ["bad --budget-s -1.0: at least 0 (0: no budget)"]),
    (["--budget-s", "nan"], ["bad --budget-s nan"]),
    (["--items", "5"], ["bad --items 5 alone", "--with-matrix (or 'matrix' in --order)"]),
    (["--items", "5,5"], ["bad --items 5 alone"]),
])
def test_bad_bench_arguments_are_one_line_and_write_nothing(tmp_path, capsys, args, fragments):
    out = tmp_path / "bench"
    assert bench_main(["--smoke", "--device", "cpu", "--out-dir", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    for f in fragments:
        assert f in err, (f, err)
    assert not out.exists()


def test_the_gpu_graph_check_script_runs_its_comparison_on_a_cpu(monkeypatch, capsys):
    # bench/graph_check.py is for a lent GPU, where a broken script costs the session's device time. It runs
    # as __main__ in this process (an interpreter start and torch's import cost more than the check); the
    # global state it changes (argv, sys.path, cudnn.benchmark, torch's seed) is put back afterwards.
    script = Path(__file__).resolve().parents[1] / "bench" / "graph_check.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--device", "cpu", "--model", "resnet-8", "--steps", "3"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    rng = torch.random.get_rng_state()
    try:
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        torch.random.set_rng_state(rng)
    out = capsys.readouterr()
    assert exited.value.code == 0, out.out + out.err
    assert "max |loss diff| 0, max |weight diff| 0" in out.out


def test_the_cpu_bench_measures_the_shape_the_quick_profile_trains():
    """The CPU bench timed 1x28x28 images after the quick profile had moved to 14x14: its speed and memory
    described a shape no quick run uses."""
    from bench.run import PLANS
    from experiments.config import load_profile

    size = load_profile("quick").image_size
    assert size and PLANS["cpu"].shape == PLANS["smoke"].shape == (1, size, size)


def test_a_failed_section_is_recorded_and_the_bench_exits_1(tmp_path, capsys, monkeypatch):
    """A section that raised was a FAILED row under exit 0: `make bench` looked like a success."""
    import bench.run

    def broken(session):
        raise RuntimeError("no such kernel")

    monkeypatch.setitem(bench.run.SECTIONS, "classic", broken)
    out = tmp_path / "bench"
    assert bench_main(["--smoke", "--device", "cpu", "--out-dir", str(out), "--order", "classic",
                       "--threads", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: 1 failed: section classic FAILED (the notes say why)", err
    from bench.run import check_args, parser

    check_args(parser().parse_args(["--items", "5", "--order", "matrix", "--out-dir", str(out)]))  # valid: no error
    rows = list(csv.DictReader(open(out / "bench-cpu.csv")))
    assert rows[-1]["measure"] == "section classic FAILED" and "no such kernel" in rows[-1]["note"]


def test_the_gpu_check_names_a_refused_stage_and_checks_none_of_the_runs_it_did_not_train(tmp_path):
    """Found by a fault hunt: bench/gpu_paper_check.sh counted every stage "exit 0"; a fig6 whose make refused
    the runs on disk (trained with other settings by an earlier call) was then checked on those old runs and
    its old figure copied to OUT. Now the stage is a FAIL line, with no checks and no figure; an empty
    SECTIONS argument is refused."""
    import subprocess

    import yaml
    from helpers_runs import ROOT, env
    from runfolders import write_run

    work, out = tmp_path / "work", tmp_path / "out"
    folder = write_run(work / "fig6" / "runs", "degradation", "paper", "plain-20", 0, steps=[10, 20])
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["config"] = {"max_steps": 999}  # an earlier call's settings
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "fig6" / "reports" / "degradation" / "paper").mkdir(parents=True)
    (work / "fig6" / "reports" / "degradation" / "paper" / "fig-degradation-cifar.png").write_bytes(b"old")
    script = str(ROOT / "bench" / "gpu_paper_check.sh")
    call = {**env(), "CPU_TINY": "1", "OUT": str(out), "WORK": str(work), "DATA_DIR": str(tmp_path / "data")}
    p = subprocess.run(["bash", script, "120", "fig6"], cwd=ROOT, env=call, capture_output=True, text=True,
                       timeout=300)
    checks = (out / "checks.txt").read_text()
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    assert "FAIL fig6: refused before training" in checks and "stages with a failure: fig6(refused)" in checks
    assert "done: 0 PASS, 1 FAIL" in checks and not (out / "fig-degradation-cifar.png").exists()
    for empty in ("", " ", "\n"):
        p = subprocess.run(["bash", script, "120", empty], cwd=ROOT, env=call, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 2 and "no sections given" in p.stderr, (empty, p.stderr)
