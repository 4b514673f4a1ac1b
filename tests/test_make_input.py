"""What make cannot hold, refused up front (issue 22, section 3): paths make cannot hold, one grammar for SEEDS,
repeated models and seeds, a read-only run folder, integers as YAML 1.1 reads them.

Bad input: one line naming the variable or value and the reason, a non-zero exit, nothing written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import io
import shutil
import re
import subprocess
import typing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers_runs import ROOT, TINY_SET, cli, env, inproc, make, run_dir, tiny_set
from runfolders import write_run

pytestmark = pytest.mark.filterwarnings("ignore")

# --- paths make cannot hold ------------------------------------------------------------------------------
# Make splits targets at whitespace, reads : ; | % in them as rule syntax, and expands $; the recipes quote with '.
TARGET_BAD = [" ", ":", ";", "|", "%", "'", "$"]
# variable -> (characters refused, kind): a path make turns into targets refuses whitespace and empty too, a
# folder only handed to commands refuses empty, a list (whitespace separates its items) neither.
PATH_VARIABLES = {
    "RUNS_DIR": (TARGET_BAD, "path"),  # the run targets' root
    "EXPERIMENT": (TARGET_BAD, "path"),  # the folders below it
    "PROFILE": (TARGET_BAD, "path"),
    "MODELS": (TARGET_BAD[1:], "list"),
    "SEEDS": (TARGET_BAD[1:], "list"),
    "REPORTS_DIR": (["'", "$"], "folder"),  # handed to commands only, quoted
    "DATA_DIR": (["'", "$"], "folder"),
}


def _make_lines(p: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]


def test_every_path_variable_make_cannot_hold_is_refused_before_anything_runs(tmp_path):
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    base = {"RUNS_DIR": str(runs), "EXPERIMENT": "degradation", "PROFILE": "smoke", "MODELS": "plain-8",
            "SEEDS": "0", "REPORTS_DIR": str(reports), "DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()
    cases = []
    for var, (chars, kind) in PATH_VARIABLES.items():
        value = base[var]
        cases += [(var, f"{value[:2]}{c}x{value[2:]}", f'holds "{c}"' if c != " " else "holds whitespace")
                  for c in chars]
        cases += [(var, "", "is empty")] if kind != "list" else []
        cases += [(var, f"{value} ", "holds whitespace")] if kind == "path" else []  # a trailing space too
        if var.endswith("_DIR"):  # a ~ no shell expanded: make expands it in targets, Python does not
            cases += [(var, f"~{value}", "starts with a ~ that no shell expanded")]
    make(tmp_path, "-q", "--version")  # the install stamp
    for var, value, why in cases:
        goal = "matrix" if var != "REPORTS_DIR" else "report"  # report: the goal that writes REPORTS_DIR
        values = {**base, var: value}
        p = make(tmp_path, goal, *(f"{k}={v}" for k, v in values.items()), timeout=60)
        lines = _make_lines(p)
        assert p.returncode == 2, (var, value, lines)
        assert len(lines) == 1 and "Traceback" not in lines[0], (var, value, lines)
        assert f"*** {var} '{value}'" in lines[0], (var, value, lines[0])
        assert why in lines[0] and ("make cannot hold" in lines[0] or why == "is empty" or "~" in why), lines[0]
        assert not runs.exists() and not reports.exists(), (var, value)


def test_what_make_can_hold_still_works(tmp_path):
    """Refusing too much is a fault too: a space in REPORTS_DIR (only handed to commands, quoted) renders the
    report; shell characters in RUNS_DIR (&, (, ", #) no longer break the list of failed runs make retries."""
    runs = tmp_path / 'a&b(c"d#e' / "runs"
    write_run(runs, "degradation", "smoke", "plain-8", 0, status="failed")
    write_run(runs, "degradation", "smoke", "plain-8", 1)
    p = make(tmp_path, "-n", "runs", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0 1",
             f"RUNS_DIR={runs}", timeout=60)
    assert p.returncode == 0 and "syntax error" not in p.stderr, p.stderr
    retried = [ln for ln in p.stdout.splitlines() if "experiments.run --run-dir" in ln]
    assert len(retried) == 1 and "seed0" in retried[0], p.stdout  # the failed run is retried, the ok one not

    reports = tmp_path / "my reports"
    p = make(tmp_path, "report", "EXPERIMENT=degradation", "PROFILE=smoke", f"RUNS_DIR={runs}",
             f"REPORTS_DIR={reports}", timeout=120)
    assert p.returncode == 0, p.stderr
    assert (reports / "degradation" / "smoke" / "report.pdf").is_file()


# --- SEEDS: one grammar; repeated models and seeds count once ---------------------------------------------
def test_seeds_take_one_grammar_and_repeats_count_once(tmp_path):
    """SEEDS="0,1" trains seed0 and seed1 (the input check accepts commas, so make does too); a model or
    seed named twice is one run: the progress says [2/2] and the closing line "2 ok"."""
    runs = tmp_path / "runs"
    write_run(runs, "degradation", "smoke", "plain-8", 0)  # done: only seed1 trains
    p = make(tmp_path, "matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS= plain-8  plain-8 ",
             "SEEDS=0 0,1,1", f"RUNS_DIR={runs}", f"REPORTS_DIR={tmp_path / 'rep'}", f"SET={' '.join(TINY_SET)}",
             timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    folder = runs / "degradation" / "smoke" / "plain-8"
    assert sorted(d.name for d in folder.iterdir()) == ["seed0", "seed1"]
    assert "[2/2] plain-8 seed 1" in p.stdout, p.stdout
    assert "/4]" not in p.stdout and "==> degradation (smoke): 2 ok" in p.stdout, p.stdout
    assert "2 runs, 2 ok" in p.stdout  # the report counts them once too


def test_the_seed_grammar_is_the_folder_grammar():
    """Every seed the check accepts names one folder, seed<k>, which the run folder's grammar reads back as k;
    a seed written another way (leading zeros, non-ASCII digits) is refused, naming it."""
    import runfolder
    from experiments.config import ConfigError, parse_seeds

    assert parse_seeds("0,1 1 2, 0") == [0, 1, 2]
    for bad in ("01", "00", "٣", "1.0", "-1", "0x1", "1_0"):
        with pytest.raises(ConfigError, match=f"bad seed '{bad}'"):
            parse_seeds(bad)
        assert runfolder.seed_of(f"seed{bad}") is None, bad
    for k in (0, 7, 10, 123):
        assert runfolder.seed_of(runfolder.run_dir("r", "e", "p", "plain-8", k).name) == k


# --- a run folder that cannot be written ---------------------------------------------------------------------
def _one_error_line(text: str, *fragments: str) -> None:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("make")]
    assert len(lines) == 1 and "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_a_read_only_run_folder_is_one_line(tmp_path):
    """On a read-only file system (a tmpfs mounted read-only in a user namespace of its own, as any user may)
    the run command, make's input check and the report builder each say so in one line, exit 2, write nothing."""
    ro = tmp_path / "ro"
    ro.mkdir()
    runs = ro / "runs"
    folder = run_dir(runs)
    script = (f"mount -t tmpfs -o ro tmpfs '{ro}' && touch '{ro}/probe' 2>/dev/null && exit 99; "
              f"'{ROOT}/.venv/bin/python' -m experiments.run --run-dir '{folder}'; echo rc=$? >&2; "
              f"'{ROOT}/.venv/bin/python' -m experiments.matrix check --profile smoke --models plain-8 --seeds 0 "
              f"--runs-dir '{runs}'; echo rc=$? >&2; "
              f"'{ROOT}/.venv/bin/python' -m experiments.matrix check --profile smoke --models plain-8 --seeds 0 "
              f"--runs-dir '{tmp_path}/runs' --reports-dir '{ro}/reports'; echo rc=$? >&2")
    p = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=ROOT, env=env(), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 99, "the mount is not read-only"
    parts = p.stderr.split("rc=")
    assert [part.split()[0] for part in parts[1:]] == ["2", "2", "2"], p.stderr
    _one_error_line(parts[0], "error: run folder", str(folder), "read-only file system")
    _one_error_line(parts[1].split("\n", 1)[1], "error: RUNS_DIR", str(runs), "read-only file system")
    _one_error_line(parts[2].split("\n", 1)[1], "error: REPORTS_DIR", "read-only file system")
    assert not (tmp_path / "runs").exists()


def test_a_run_folder_below_a_file_is_one_line(tmp_path):
    """The other way a folder cannot be made: a file where a folder of its path should be. The run command,
    make (its input check) and the report builder refuse it in one line, before anything is written."""
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder\n")
    p = cli(run_dir(blocker / "sub"))
    assert p.returncode == 2
    _one_error_line(p.stderr, "error: run folder", "is a file, not a folder")

    p = make(tmp_path, "matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={blocker}/x",
             f"REPORTS_DIR={tmp_path / 'rep'}", timeout=60)
    assert p.returncode != 0
    _one_error_line(p.stderr, "error: RUNS_DIR", "is a file, not a folder", "point RUNS_DIR at a writable folder")

    runs = tmp_path / "good"
    write_run(runs, "degradation", "smoke", "plain-8", 0)
    from reports import build

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = build.main(["--runs-dir", str(runs), "--experiment", "degradation", "--profile", "smoke",
                         "--out-dir", str(blocker / "reports")])
    assert rc == 2 and "cannot be written" in err.getvalue() and "is a file" in err.getvalue(), err.getvalue()
    assert blocker.read_text() == "not a folder\n"


# --- integers are decimal digits --------------------------------------------------------------------------------
YAML11_SIXTY = ["1:00", "6_0", "0x3c", "074", "0o74", "0b111100", "+0x3c"]  # YAML 1.1 reads each as 60


def _int_fields():
    from experiments.config import RunConfig

    hints = typing.get_type_hints(RunConfig)
    return [f.name for f in dataclasses.fields(RunConfig) if hints[f.name] in (int, list[int])]


def test_every_integer_field_takes_decimal_digits_only(tmp_path, monkeypatch):
    """For every integer field (and the list of them, milestones), from SET and from a profile's YAML: each
    YAML 1.1 spelling of 60 is refused naming the value; 60 in decimal is 60."""
    from experiments import config

    fields = _int_fields()
    assert {"max_steps", "batch_size", "threads", "milestones"} <= set(fields)
    folder = tmp_path / "configs"
    shutil.copytree(config.CONFIG_DIR, folder)
    monkeypatch.setattr(config, "CONFIG_DIR", folder)
    for name in fields:
        listed = config._HINTS[name] == list[int]
        for text in YAML11_SIXTY:
            value = f"[{text}]" if listed else text
            with pytest.raises(config.ConfigError) as exc:  # SET
                config.load_profile("smoke", [f"{name}={value}"])
            assert f"'{name}'" in str(exc.value) and repr(text) in str(exc.value), str(exc.value)
            (folder / "odd.yaml").write_text(f"dataset: synthetic\n{name}: {value}\n")  # a profile
            with pytest.raises(config.ConfigError) as exc:
                config.load_profile("odd")
            assert "odd.yaml" in str(exc.value) and repr(text) in str(exc.value), str(exc.value)
        sixty = [60] if listed else 60
        parsed = config.parse_overrides([f"{name}={'[60]' if listed else '60'}"])
        assert config.apply(config.RunConfig(), parsed, "test") == dataclasses.replace(config.RunConfig(),
                                                                                          **{name: sixty})
    # Floats: a point or an exponent, as written; YAML 1.1's 6_0 and 1:00 are refused there too.
    assert config.load_profile("smoke", ["lr=1e-3", "weight_decay=5e-4"]).lr == 0.001
    assert config.load_profile("smoke", ["lr=1e6"]).lr == 1e6
    for text in ("6_0", "1:00", "6_0.5"):
        with pytest.raises(config.ConfigError, match=repr(text)):
            config.load_profile("smoke", [f"lr={text}"])
    # A key twice: refused whichever value comes last (the last one had silently won).
    for items in (["lr=0.1", "lr=0.2"], ["lr=0.2", "batch_size=8", "lr=0.1"], [" lr=0.1", "lr =0.1"]):
        with pytest.raises(config.ConfigError, match=r"is already set by .*; give each key once"):
            config.load_profile("smoke", items)
    # SET="milestones=[3, 6]" splits at the space: the message says so.
    with pytest.raises(config.ConfigError, match=r"'milestones=\[3,': the value is not valid YAML; SET splits at "
                                                 r"spaces, so a list takes none"):
        config.load_profile("smoke", "milestones=[3, 6]".split())


def test_the_profiles_read_the_same_under_the_strict_reader():
    """The shipped profiles mean what they meant: the strict reader and PyYAML's agree on every value."""
    import yaml

    from experiments import config

    for profile in config.list_profiles():
        text = (config.CONFIG_DIR / f"{profile}.yaml").read_text()
        assert config.read_yaml(text) == yaml.safe_load(text), profile


# --- values taken as written, and what the input check refuses up front ------------------------------------------
def test_values_with_quotes_and_dollars_reach_the_commands_as_written_or_are_one_line(tmp_path):
    """SET and GPUS holding a ' or a $ once ended the recipe's quoting (a shell syntax error, a command run from the
    rest) or lost the $ to make ('lr=$x' became 'lr='): each reaches the command as written, which refuses it in
    one line naming it, before anything is written."""
    runs = tmp_path / "runs"
    base = ["matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={runs}",
            f"REPORTS_DIR={tmp_path / 'rep'}"]
    cases = [("SET=lr=0.1'x", "0.1'x"), ("SET=lr=$x", "$x"), ("SET=lr=$(HOME)", "$(HOME)"),
             ("GPUS=0'; touch pwned", "0'; touch pwned"), ("GPUS=$HOME", "$HOME")]
    make(tmp_path, "-q", "--version")  # the install stamp, before the makes run side by side
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda case: make(tmp_path, *base, case[0], timeout=120), cases))
    for (arg, shown), p in zip(cases, results):
        assert p.returncode == 2, (arg, p.stdout, p.stderr)
        _one_error_line(p.stderr, "error: ", shown)
        assert not runs.exists() and not (ROOT / "pwned").exists(), arg


def test_the_input_check_refuses_what_every_run_would_fail_on(tmp_path):
    """SET="init=xavier" with a Fixup net (Fixup rescales He's init) and a seed numpy cannot take (above 2^32-1)
    passed the check and then failed every run they touched, retried by every make; both are one line from the
    check, before anything is written. The largest seed is still accepted."""
    from experiments import matrix

    runs = tmp_path / "runs"
    for args, fragments in (
        (["--models", "plain-8 fixup-8", "--set", "init=xavier"], ["'fixup-8' cannot take init 'xavier'", "valid: he"]),
        (["--models", "plain-8", "--seeds", "0 4294967296"], ["bad seed 4294967296", "4294967295"]),
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = matrix.main(["check", "--profile", "smoke", "--runs-dir", str(runs), *args])
        assert rc == 2, args
        _one_error_line(err.getvalue(), *fragments)
    assert matrix.main(["check", "--profile", "smoke", "--models", "fixup-8", "--seeds", "4294967295",
                        "--runs-dir", str(runs)]) == 0
    assert not runs.exists()
    # The run command refuses such a seed's folder too (its grammar is the folder's), before writing anything.
    p = cli(run_dir(runs, seed=2**32))
    assert p.returncode == 2
    _one_error_line(p.stderr, "bad seed 4294967296")
    assert not runs.exists()


def test_a_runs_dir_make_reads_as_a_pattern_or_spells_with_dot_slash_is_retried_and_counted(tmp_path):
    """RUNS_DIR holding [ ] * ? (patterns to make's wildcard) once hid its failed runs from the retry list, and
    RUNS_DIR=./x printed every progress line as [?/N] (make names the target x/...): the failed run is retried,
    the done one not, and every run has its place in the matrix."""
    import os

    runs = Path("./" + os.path.relpath(tmp_path, ROOT)) / "a[b]c*d?" / "runs"  # relative to make's folder
    write_run(ROOT / runs, "degradation", "smoke", "plain-8", 0, status="failed")
    write_run(ROOT / runs, "degradation", "smoke", "plain-8", 1)
    p = make(tmp_path, "-n", "runs", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0 1 2",
             f"RUNS_DIR=./{runs}", timeout=60)
    assert p.returncode == 0, p.stderr
    commands = [ln for ln in p.stdout.splitlines() if "experiments.run --run-dir" in ln]
    assert len(commands) == 2 and "seed0" in commands[0] and "seed2" in commands[1], p.stdout
    progress = [ln.split("--progress ")[1].split()[0] for ln in p.stdout.splitlines() if "--progress" in ln]
    assert progress == ["1/3", "3/3"], p.stdout


def test_a_runs_dir_the_shell_would_read_as_a_pattern_trains_its_own_runs(tmp_path):
    """Found by a fault hunt: the matrix's recipe handed the run paths to the shell unquoted, so RUNS_DIR=<tmp>/r?
    trained the failed run of <tmp>/rX, which matched, and then reported <tmp>/r?'s runs missing."""
    other = write_run(tmp_path / "rX", "degradation", "smoke", "plain-8", 0, status="failed")
    before = (other / "result.json").read_text()
    p = make(tmp_path, "matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0",
             f"RUNS_DIR={tmp_path}/r?", f"REPORTS_DIR={tmp_path / 'rep'}", f"SET={' '.join(TINY_SET)}", timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (other / "result.json").read_text() == before  # the other folder's run is left alone
    assert json.loads((tmp_path / "r?" / "degradation" / "smoke" / "plain-8" / "seed0" / "result.json")
                      .read_text())["status"] == "ok"
    assert "==> degradation (smoke): 1 ok" in p.stdout, p.stdout


def test_a_report_follows_its_runs_folder_unless_told_otherwise(tmp_path):
    """`make methods RUNS_DIR=other` once replaced the report of runs/ (REPORTS_DIR did not follow RUNS_DIR):
    the default runs folder reports into reports/generated (README), any other into <RUNS_DIR>/reports, and
    REPORTS_DIR given is where it says."""
    def out_dir(*args: str) -> str:
        p = make(tmp_path, "-n", "report", "EXPERIMENT=degradation", "PROFILE=smoke", *args, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.split("--out-dir ")[1].split()[0].strip("'")

    assert out_dir() == "reports/generated"
    assert out_dir(f"RUNS_DIR={tmp_path}/a") == f"{tmp_path}/a/reports"
    assert out_dir(f"RUNS_DIR={tmp_path}/b") == f"{tmp_path}/b/reports"
    assert out_dir(f"RUNS_DIR={tmp_path}/b", f"REPORTS_DIR={tmp_path}/mine") == f"{tmp_path}/mine"


def test_tuning_variables_and_settings_are_checked_before_anything_trains(tmp_path):
    """Found by a newcomer: TUNE=0 meant tuning on; LRS="" turned tuning off without a word; SET="lr=0.05"
    under the tuning protocol trained four of five runs before a run refused it. The check refuses each in one
    line; TUNE=1 and TUNE= still pass."""
    from experiments import matrix

    runs = tmp_path / "runs"
    base = ["check", "--experiment", "methods", "--profile", "smoke", "--models", "plain-8", "--seeds", "0",
            "--runs-dir", str(runs)]
    for args, fragments in (
        (["--tune", "0", "--lrs", "0.05 0.1"], ["bad TUNE '0'", "TUNE=1 turns the tuning protocol on", "TUNE= (empty)"]),
        (["--tune", "1", "--lrs", ""], ["LRS is empty", "at least two learning rates", "TUNE= turns it off"]),
        (["--tune", "1", "--lrs", "0.05 0.1", "--set", "lr=0.05"], ["bad SET lr=...", "leave lr out of SET"]),
        (["--tune", "1", "--lrs", "0.05 0.1", "--set", "warmup_lr=0.01"], ["bad SET warmup_lr=..."]),
        # Found by a fault hunt: LRS without TUNE (make degradation) was ignored without a word, and a grid of one
        # rate written twice was "at least two learning rates" without saying why.
        (["--lrs-given", "--tune", ""], ["LRS is given but the tuning protocol is off", "add TUNE=1"]),
        (["--tune", "1", "--lrs", "0.10 0.1"], ["bad LRS '0.10 0.1'", "one rate written twice"]),
        # A key given twice in SET: the last one had silently won.
        (["--set", "max_steps=5 eval_every=5 max_steps=6"],
         ["bad override 'max_steps=6'", "already set by 'max_steps=5'", "give each key once"]),
    ):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = matrix.main([*base, *args])
        assert rc == 2, args
        _one_error_line(err.getvalue(), *fragments)
    assert matrix.main([*base, "--tune", "1", "--lrs", "0.05 0.1"]) == 0
    assert matrix.main([*base, "--tune", "", "--set", "lr=0.05"]) == 0  # no tuning: lr is the profile's to set
    assert not runs.exists()


def test_settings_no_run_can_train_with_are_one_line_for_the_whole_matrix(tmp_path):
    """A bad JOBS once printed argparse's usage and a misleading report error; a batch larger than the training
    set failed inside every run, leaving failed run folders and a report. Now one line, exit 2, nothing written."""
    import torch

    runs, reports = tmp_path / "runs", tmp_path / "reports"
    make(tmp_path, "-q", "--version")  # the install stamp
    # accelerator=cuda without a GPU: each run refused it in one line, and make then failed a second time on
    # a report of no runs; the pool now says it once for the matrix
    no_gpu = [] if torch.cuda.is_available() else [
        ("degradation", [f"SET={' '.join(TINY_SET)} accelerator=cuda"], "bad accelerator 'cuda': this machine has no GPU")]
    for goal, extra, fragment in (
            *no_gpu,
            ("degradation", ["JOBS=abc"], "bad JOBS 'abc'"), ("degradation", ["JOBS=0"], "bad JOBS '0'"),
            ("degradation", [f"SET={' '.join(tiny_set(batch_size=100000))}"], "bad batch_size 100000: larger than "
                                                                             "the training set"),
            # the tuning protocol records its grid beside the runs: not before the input is known good
            ("methods", ["LRS=0.05 0.1", "SET=batch_size=100000"], "bad batch_size 100000"),
            ("methods", ["LRS=0.05 0.1", "JOBS=x"], "bad JOBS 'x'")):
        p = make(tmp_path, goal, "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0", f"RUNS_DIR={runs}",
                 f"REPORTS_DIR={reports}", *extra, timeout=120)
        errors = [ln for ln in _make_lines(p) if not ln.startswith("make")]
        assert p.returncode == 2 and len(errors) == 1 and fragment in errors[0], (extra, _make_lines(p))
        assert not runs.exists() and not reports.exists(), extra


def test_an_accelerator_or_an_infinite_rate_no_run_can_use_is_one_line(tmp_path):
    """accelerator=foo trained on the CPU and recorded 'foo'; accelerator=gpu on a machine without one fell back
    to the CPU silently; lr=1e400 (read as inf) was taken, and the run 'diverged'."""
    from experiments.config import ConfigError, load_profile

    for setting, fragment in (("accelerator=foo", "unknown accelerator 'foo'; valid: auto, cpu, gpu, cuda"),
                              ("lr=1e400", "bad lr inf: must be a finite number > 0"),
                              ("weight_decay=1e999", "bad weight_decay inf: must be a finite number >= 0")):
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            load_profile("smoke", [setting])
    import torch

    if not torch.cuda.is_available():
        rc, out, err = inproc(run_dir(tmp_path / "runs"), "--set", "accelerator=gpu")
        assert rc == 2
        _one_error_line(err, "bad accelerator 'gpu': this machine has no GPU", "valid here: auto")
        assert not (tmp_path / "runs").exists()


def test_layer_responses_take_models_where_given(tmp_path):
    """`make layer-responses MODELS=plain-8` once trained its five default nets, resnet-110 among them. Seen
    through `make -n`, which once trained the whole matrix anyway (make runs a recipe line holding $(MAKE)
    even in a dry run): now it lists the runs and writes nothing."""
    given = make(tmp_path, "-n", "layer-responses", "MODELS=plain-8", "PROFILE=smoke", f"RUNS_DIR={tmp_path / 'runs'}")
    default = make(tmp_path, "-n", "layer-responses", "PROFILE=smoke", f"RUNS_DIR={tmp_path / 'runs'}")
    assert "--models 'plain-8'" in given.stdout, given.stdout
    assert "--models 'plain-20 plain-56 resnet-20 resnet-56 resnet-110'" in default.stdout, default.stdout
    assert "make -n/-t/-q: no run trained" in given.stdout and "plain-8/seed0/result.json" in given.stdout
    assert not (tmp_path / "runs").exists()


def test_a_finished_run_trained_with_other_settings_is_refused_not_reused(tmp_path, capsys, monkeypatch):
    """`make degradation SET="init=he-fan-in"` over a finished default-init run printed "1 ok" and reported the
    old run as the new setting's (adding a seed pooled the two). The input check now names the run and the
    setting; the same settings, or another RUNS_DIR, go on."""
    from experiments import matrix

    runs = tmp_path / "runs"
    rc, out, err = inproc(run_dir(runs), *[a for kv in TINY_SET for a in ("--set", kv)])
    assert rc == 0, out + err
    args = ["check", "--experiment", "degradation", "--profile", "smoke", "--models", "plain-8", "--seeds", "0 1",
            "--runs-dir", str(runs)]
    assert matrix.main([*args, "--set", " ".join(TINY_SET)]) == 0
    capsys.readouterr()
    assert matrix.main([*args, "--set", " ".join([*TINY_SET, "init=he-fan-in"])]) == 2
    _one_error_line(capsys.readouterr().err, "plain-8/seed0 is done, trained with init='he' (its config.yaml); this "
                    "call asks init='he-fan-in'", "Use another RUNS_DIR to keep both")
    assert matrix.main([*args[:-1], str(tmp_path / "other"), "--set", " ".join([*TINY_SET, "init=he-fan-in"])]) == 0
    # tensorboard changes no number a run records: still this call's run where the package is installed; without
    # it, the input check refuses tensorboard=true in one line before any run (each run had failed on it)
    import experiments.config

    monkeypatch.setattr(experiments.config, "TENSORBOARD_MODULES", ("no_such_module_here",))  # as if not installed
    assert matrix.main([*args, "--set", " ".join([*TINY_SET, "tensorboard=true"])]) == 2
    _one_error_line(capsys.readouterr().err, "bad tensorboard true: the tensorboard package is not installed")
    monkeypatch.setattr(experiments.config, "TENSORBOARD_MODULES", ("json",))  # as if installed
    assert matrix.main([*args, "--set", " ".join([*TINY_SET, "tensorboard=true"])]) == 0
    # A run begun (interrupted) with other settings, its checkpoint kept: refused up front too, before make
    # trains the other runs with the new settings beside it (its resume alone would refuse, run by run).
    (run_dir(runs) / "result.json").unlink()
    assert (run_dir(runs) / "checkpoints" / "last.ckpt").exists()
    capsys.readouterr()
    assert matrix.main([*args, "--set", " ".join([*TINY_SET, "init=he-fan-in"])]) == 2
    _one_error_line(capsys.readouterr().err, "plain-8/seed0 holds a checkpoint of a run begun with init='he' (its "
                    "config.yaml); this call asks init='he-fan-in'", "Give it its settings back (SET)")
    # ...and one begun without a checkpoint yet trains anew with this call's settings: not refused.
    (run_dir(runs) / "checkpoints" / "last.ckpt").unlink()
    assert matrix.main([*args, "--set", " ".join([*TINY_SET, "init=he-fan-in"])]) == 0


def test_make_n_checks_the_input_before_it_lists_the_runs(tmp_path):
    """`make -n degradation SEEDS=-1` listed .../seed-1/result.json and exited 0: a dry run looked like a
    validation and was none. The input checks run under -n too (they write nothing)."""
    bad = make(tmp_path, "-n", "degradation", "PROFILE=smoke", "SEEDS=-1", f"RUNS_DIR={tmp_path / 'runs'}")
    listed = lambda p: [ln for ln in p.stdout.splitlines() if ln.endswith("/result.json") and " " not in ln]  # noqa: E731
    assert bad.returncode != 0 and "bad seed '-1'" in bad.stderr and not listed(bad)
    good = make(tmp_path, "-n", "degradation", "PROFILE=smoke", "MODELS=plain-8", f"RUNS_DIR={tmp_path / 'runs'}")
    assert good.returncode == 0 and listed(good) == [f"{tmp_path / 'runs'}/degradation/smoke/plain-8/seed0/result.json"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("setting", ["eval_limit=2", "val_size=7"])
def test_a_split_setting_the_folder_dataset_ignores_is_refused(setting, capsys):
    """The imagenet profile's folder dataset evaluates its whole val folder: eval_limit and val_size were
    recorded in config.yaml and did nothing. Refused before anything runs, naming the datasets they apply to."""
    from experiments import matrix

    assert matrix.main(["check", "--experiment", "degradation", "--profile", "imagenet", "--models", "plain-18",
                        "--seeds", "0", "--set", setting]) == 2
    _one_error_line(capsys.readouterr().err, f"bad {setting.replace('=', ' ')}: imagenet evaluates every image of "
                    "its val folder", "it applies to the tensor datasets (fashion-mnist, cifar10, synthetic)")


def test_layer_responses_on_a_folder_dataset_are_refused_before_anything_trains(tmp_path):
    """`make layer-responses PROFILE=imagenet` trained (or reused) every run first, then failed on each: layer
    responses need a tensor dataset. Refused by the input check, in one line, nothing written."""
    p = make(tmp_path, "-n", "layer-responses", "PROFILE=imagenet", f"RUNS_DIR={tmp_path / 'runs'}")
    assert p.returncode != 0
    _one_error_line(p.stderr, "bad dataset 'imagenet' for make layer-responses: layer responses need a tensor dataset")
    assert not (tmp_path / "runs").exists()


def test_a_data_dir_that_is_a_file_is_one_line_everywhere(tmp_path, capsys):
    """Found by a fault hunt: `experiments.data prepare` gave a NotADirectoryError traceback, and make said the
    DATA_DIR "does not exist" (it does, as a file)."""
    from experiments import matrix
    from experiments.data.__main__ import main as prepare

    data = tmp_path / "data.txt"
    data.write_text("not a folder")
    expected = f"DATA_DIR {str(data)!r} is a file, not a folder"
    assert prepare(["prepare", "--profile", "quick", "--data-dir", str(data)]) == 2
    assert matrix.main(["check", "--profile", "smoke", "--models", "plain-8", "--runs-dir", str(tmp_path / "runs"),
                        "--data-dir", str(data), "--data-dir-given"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(expected in line for line in err), err
    rc, out, err = inproc(run_dir(tmp_path / "runs"), "--data-dir", str(data))
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_finished_run_whose_record_cannot_stand_for_it_is_trained_again(tmp_path):
    """Found by a fault hunt: the report called a run malformed (its metrics.csv gone, a result.json copied in
    from another seed, no config.yaml) while make said "4 ok" on every call and never trained it again.
    Make, the pool and the closing line now read runfolder.done_status, as the report does."""
    runs = tmp_path / "runs"
    folders = [write_run(runs, "degradation", "smoke", "plain-8", s) for s in range(5)]
    kept = (folders[0] / "result.json").read_text()
    (folders[1] / "metrics.csv").unlink()
    (folders[2] / "config.yaml").unlink()
    (folders[3] / "result.json").write_text(kept)  # names seed 0
    lines = (folders[4] / "metrics.csv").read_text().splitlines(keepends=True)
    (folders[4] / "metrics.csv").write_text("".join(ln for ln in lines if not ln.startswith("600,")))  # cut short
    base = ["EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0 1 2 3 4", f"RUNS_DIR={runs}",
            f"REPORTS_DIR={tmp_path / 'rep'}", f"SET={' '.join(TINY_SET)}"]
    from experiments import matrix

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = matrix.main(["status", "--experiment", "degradation", "--profile", "smoke", "--models", "plain-8",
                          "--seeds", "0 1 2 3 4", "--runs-dir", str(runs)])
    assert rc == 1 and "4 malformed, 1 ok" in out.getvalue(), out.getvalue()
    for folder, why in zip(folders[1:], ("metrics.csv missing", "no config.yaml", "result.json names seed 0",
                                         "metrics.csv ends at iteration 500, the run at 600 (cut short)")):
        assert f"MALFORMED: {folder} ({why}" in err.getvalue(), err.getvalue()

    p = make(tmp_path, "matrix", *base, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "==> degradation (smoke): 5 ok" in p.stdout, p.stdout
    assert (folders[0] / "result.json").read_text() == kept  # the whole one is not touched
    for folder in folders[1:]:
        record = json.loads((folder / "result.json").read_text())
        assert record["seed"] == int(folder.name[4:]) and record["wall_seconds"] != 60.0  # trained, not the fixture
        assert (folder / "config.yaml").is_file() and (folder / "metrics.csv").is_file()
        assert list(folder.glob("result.json.malformed-*")), list(folder.iterdir())  # kept for a look
    assert "training the run from the start" in p.stderr, p.stderr


def test_a_reports_dir_inside_the_runs_is_refused_before_anything_trains(tmp_path):
    """Found by a code review: REPORTS_DIR=<runs>/degradation trained the whole matrix, then the report refused
    its folder. make's input check now says it first, in one line."""
    runs = tmp_path / "runs"
    p = make(tmp_path, "matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=plain-8", "SEEDS=0",
             f"RUNS_DIR={runs}", f"REPORTS_DIR={runs / 'degradation'}", timeout=120)
    lines = _make_lines(p)
    assert p.returncode == 2 and any("is inside the runs it would report" in ln for ln in lines), lines
    assert not list(runs.rglob("result.json")) and "Traceback" not in p.stderr


def test_one_net_under_two_names_is_refused(tmp_path):
    """A fault hunt: MODELS="resnet-20 resnet-20-a" trained the same net twice (byte-identical metrics.csv) and
    reported it as two. Refused in one line, before anything trains; nets that differ in any axis are not."""
    runs = tmp_path / "runs"
    p = make(tmp_path, "matrix", "EXPERIMENT=degradation", "PROFILE=smoke", "MODELS=resnet-8 plain-8 resnet-8-a",
             "SEEDS=0", f"RUNS_DIR={runs}", timeout=120)
    lines = _make_lines(p)
    assert p.returncode == 2 and any("MODELS names one net twice: resnet-8 and resnet-8-a build the same net" in ln
                                     for ln in lines), lines
    assert not runs.exists()
    from experiments import matrix

    for models in ("resnet-8 resnet-8-b resnet-8-nobn plain-8 plain-8-nobn highway-8 highway-8-bias2",):
        assert matrix.main(["check", "--experiment", "degradation", "--profile", "smoke", "--models", models,
                            "--seeds", "0", "--runs-dir", str(runs)]) == 0


def test_make_report_without_models_re_renders_what_the_runs_folder_holds(tmp_path):
    """Found by a newcomer: `make methods MODELS="plain-8 ..." LRS=...` then `make report EXPERIMENT=methods`
    reported the experiment's default matrix (54 of its 66 runs "MISSING: not started", page 1's leaderboard
    lost). Without MODELS (and SEEDS) the report takes the nets (and seeds) found in the runs folder; given, they
    decide which absent runs count as missing, as before; `make <experiment>`'s own report names its MODELS."""
    runs, rep = tmp_path / "runs", tmp_path / "rep"
    for model in ("plain-8", "resnet-8"):
        for seed in (0, 1):
            write_run(runs, "methods", "smoke", model, seed)
    stamp = tmp_path / "installed"
    stamp.touch()

    def report(*args: str) -> subprocess.CompletedProcess:  # not make(): it gives SEEDS=0
        return subprocess.run(["make", "-s", "--no-print-directory", f"STAMP={stamp}",
                               f"MATRICES_MK={tmp_path / 'matrices.mk'}", "report", "EXPERIMENT=methods",
                               "PROFILE=smoke", f"RUNS_DIR={runs}", f"REPORTS_DIR={rep}", *args], cwd=ROOT, env=env(),
                              capture_output=True, text=True, timeout=180)

    p = report()
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("methods / smoke: 4 runs, 4 ok\n"), p.stdout
    assert "warning:" not in p.stdout and "missing" not in p.stdout, p.stdout
    assert "MISSING" not in (rep / "methods" / "smoke" / "summary.md").read_text()

    def command(*args: str) -> str:
        p = report("-n", *args)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert "--models" not in command() and "--seeds" not in command()
    assert "--models 'plain-8 plain-14' --seeds '0 1 2'" in command("MODELS=plain-8 plain-14", "SEEDS=0 1 2")
    assert "--models 'plain-8'" in command("MODELS=plain-8") and "--seeds" not in command("MODELS=plain-8")
    # The matrix's report expects the matrix (its nets not trained yet are missing), given MODELS or not.
    p = make(tmp_path, "-n", "matrix", "EXPERIMENT=methods", "PROFILE=smoke", f"RUNS_DIR={runs}", timeout=60)
    assert "report MODELS='plain-20 plain-56 resnet-20 " in p.stdout, p.stdout + p.stderr
