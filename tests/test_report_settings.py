"""Reports and provenance (issue 22, section 4): the report renders under its own matplotlib settings whatever
the user's matplotlibrc, its "generated:" stamp is unambiguous, a git that refuses records unknown as unknown,
and metrics.csv is appended to, not rewritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers_runs import PY, ROOT, env
from runfolders import write_paper_like, write_run
from test_analysis import write_analysis_runs

pytestmark = pytest.mark.filterwarnings("ignore")

# What a journal rejects (non-embedded base-14 fonts) and what a machine without LaTeX cannot render.
HOSTILE_RC = """\
pdf.use14corefonts: True
text.usetex: True
pdf.fonttype: 3
font.family: monospace
"""

# Builds each experiment's report in a process that reads the hostile matplotlibrc; prints what it wrote.
BUILD = """
import json, sys
from reports.build import build_report
out = {}
for experiment, profile, runs, dest in json.loads(sys.argv[1]):
    r = build_report(runs, experiment, profile, dest,
                     tuning_grid=(0.05, 0.1, 0.2) if experiment == "methods" else None)  # both boards
    out[experiment] = {"figures": r.figures, "errors": r.errors, "out_dir": str(r.out_dir),
                       "generated": [ln for ln in r.first_page.splitlines() if "generated:" in ln]}
print(json.dumps(out))
"""


def _fonts(pdf: bytes) -> list[bytes]:
    """The PDF's font dictionaries (matplotlib writes them uncompressed)."""
    return re.findall(rb"<<[^<>]*/Type\s*/Font\b[^<>]*>>", pdf)


def _assert_embedded_truetype(path: Path) -> None:
    data = path.read_bytes()
    fonts = _fonts(data)
    assert fonts, f"{path.name}: no font"
    for font in fonts:
        assert re.search(rb"/Subtype\s*/(TrueType|Type0|CIDFontType2)\b", font), (path.name, font)
        assert not re.search(rb"/Subtype\s*/Type[13]\b", font), (path.name, font)  # base-14 Type 1, Type 3
    assert b"/FontFile2" in data, path.name  # the TrueType programs are in the file
    for base14 in (b"/Helvetica", b"/Courier", b"/Times-Roman"):
        assert base14 not in data, (path.name, base14)


def _every_registered_figure() -> set[str]:
    from reports.build import FIGURE_MODULES
    from reports.registry import figure_functions

    import importlib

    for module in FIGURE_MODULES:
        importlib.import_module(module)
    return {name for name, _ in figure_functions()}


@pytest.mark.parametrize("where", ["MATPLOTLIBRC", "working folder"])
def test_every_figure_renders_under_the_suites_settings_whatever_the_users_matplotlibrc(tmp_path, where):
    """With a matplotlibrc asking for base-14 Type 1 fonts, Type 3 fonts and LaTeX (not installed here), every
    fig-*.pdf and report.pdf of every experiment embeds TrueType fonts and the builds raise nothing. The stamp
    on the first page is ISO 8601 with the UTC offset, under a time zone whose abbreviation says nothing."""
    runs = tmp_path / "runs"
    write_analysis_runs(runs)  # degradation, with layer responses and gradient norms
    write_paper_like(runs, "shortcut-ablation", "quick", ["plain-20", "resnet-20-a", "resnet-20-b", "resnet-20-c"],
                     [0], max_steps=200)
    write_paper_like(runs, "depth-sweep", "quick", ["plain-20", "plain-32", "resnet-20", "resnet-32"], [0, 1],
                     max_steps=200)
    write_paper_like(runs, "methods", "quick", ["plain-20", "plain-56", "fixup-20", "fixup-56"], [0, 1], max_steps=200)
    for model in ("plain-20", "plain-56", "fixup-20", "fixup-56"):  # tuning runs: the tuned board, fig-methods-lr
        folder = runs / "methods" / "quick" / model
        for name, lr, worse in (("seed1000-lr0.05", 0.05, 5.0), ("seed1000", 0.1, 0.0), ("seed1000-lr0.2", 0.2, 3.0)):
            shutil.copytree(folder / "seed0", folder / name)
            record = json.loads((folder / name / "result.json").read_text())
            record["final"]["train"] += worse  # 0.1 is the best: no extension, the tuned board reuses seed<k>
            (folder / name / "result.json").write_text(json.dumps(record))
            config = (folder / name / "config.yaml").read_text()
            (folder / name / "config.yaml").write_text(config.replace("lr: 0.1\n", f"lr: {lr}\n", 1))
    for seed in (0, 1):  # the per-method analyses: a method's gradient norms
        (runs / "methods" / "quick" / "fixup-56" / f"seed{seed}" / "grad_norms.csv").write_text(
            "step,layer,name,norm\n" + "".join(f"{s},{k},l{k}.conv,0.5\n" for s in (0, 100) for k in range(1, 57)))
    home = tmp_path / "home"
    home.mkdir()
    rc_dir = tmp_path / "rc"
    rc_dir.mkdir()
    # The working folder's file asks only for the fonts, so that they, not the crash, are what it shows.
    (rc_dir / "matplotlibrc").write_text(HOSTILE_RC if where == "MATPLOTLIBRC" else HOSTILE_RC.replace(
        "text.usetex: True", "text.usetex: False"))
    extra = {"HOME": str(home), "MPLCONFIGDIR": str(home / "mpl"), "TZ": "XYZ-5:30",  # +05:30, called "XYZ"
             "PYTHONPATH": str(ROOT)}  # this checkout, from any working folder
    if where == "MATPLOTLIBRC":
        extra["MATPLOTLIBRC"] = str(rc_dir / "matplotlibrc")
    cwd = rc_dir if where == "working folder" else ROOT
    # Every experiment (every registered figure) under MATPLOTLIBRC; under ./matplotlibrc the smallest report
    # (depth-sweep: the same style, fewer figures) shows the second way in is closed too.
    experiments = ("degradation", "shortcut-ablation", "depth-sweep", "methods") if where == "MATPLOTLIBRC" \
        else ("depth-sweep",)
    jobs = [(e, "quick", str(runs), str(tmp_path / "out")) for e in experiments]
    check = subprocess.run([str(PY), "-c", "import matplotlib as m; print(m.rcParams['pdf.use14corefonts'], "
                            "m.rcParams['text.usetex'])"], cwd=cwd, env=env(**extra), capture_output=True, text=True)
    assert check.stdout.split() == ["True", str(where == "MATPLOTLIBRC")], check  # the hostile file is read
    # Two builders at once, each with every other experiment: each reads the hostile file itself.
    procs = [subprocess.Popen([str(PY), "-c", BUILD, json.dumps(jobs[k::2])], cwd=cwd, env=env(**extra),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(min(2, len(jobs)))]
    built = {}
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        built.update(json.loads(out.splitlines()[-1]))
    assert set(built) == set(experiments)

    written = set()
    for experiment, info in built.items():
        assert not info["errors"], (experiment, info["errors"])
        out_dir = Path(info["out_dir"])
        pdfs = sorted(out_dir.glob("fig-*.pdf"))
        assert {f"fig-{n}.pdf" for n in info["figures"]} == {p.name for p in pdfs}
        for pdf in [out_dir / "report.pdf", *pdfs]:
            _assert_embedded_truetype(pdf)
        written |= {n.removesuffix("-cifar").removesuffix("-imagenet") for n in info["figures"]}
        (stamp,) = info["generated"]
        match = re.search(r"generated: (\S+) by", stamp)
        when = datetime.fromisoformat(match[1])
        assert match[1].endswith("+05:30") and "XYZ" not in stamp, stamp
        assert abs(when - datetime.now(timezone.utc)) < timedelta(minutes=10), stamp
    if where == "MATPLOTLIBRC":
        assert written >= _every_registered_figure(), written  # every figure the suite draws was checked


def test_the_generated_stamp_under_an_invalid_time_zone(monkeypatch):
    """An invalid TZ (C libraries then use UTC under the given name): the stamp says +00:00, not "Mars"."""
    import time

    from reports.build import generated_stamp

    monkeypatch.setenv("TZ", "Mars")
    time.tzset()
    try:
        stamp = generated_stamp()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d\+00:00", stamp), stamp


def test_a_git_that_refuses_records_unknown_and_warns_once(tmp_path, monkeypatch, capsys):
    """git refusing the checkout (owned by another user: "dubious ownership", exit 128) ran no status: config.yaml
    records git_commit and git_dirty as null, not false, with one warning however often it is asked."""
    from experiments.training import provenance

    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"fatal: detected dubious ownership in repository at '/x'\" >&2\n"
                    "echo \"To add an exception for this directory, call:\" >&2\nexit 128\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(provenance, "_warned", set())
    first, second = provenance.provenance(), provenance.provenance()
    for record in (first, second):
        assert record["git_commit"] is None and record["git_dirty"] is None, record
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "dubious ownership" in err[0] and "unknown" in err[0], err

    # The checkout itself (git works here): a commit and a definite answer on whether it is dirty.
    monkeypatch.undo()
    commit, dirty = provenance.git_state()
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and dirty in (True, False)


def test_metrics_csv_is_appended_to_not_rewritten(tmp_path, monkeypatch):
    """Each row is appended to the same file (its inode and earlier bytes untouched): writing a row no longer
    costs a rewrite of all rows before it. A resumed run's file is made whole once, then appended to; an
    append that fails is cut back to the last whole row."""
    from experiments.training import csvlog
    from runfolder import read_metrics

    row = {"train_loss": 2.0, "train_error": 80.0, "lr": 0.1}
    writer = csvlog._RunWriter(str(tmp_path))
    path = tmp_path / "metrics.csv"
    inode = path.stat().st_ino
    written = []
    real_write = os.write
    monkeypatch.setattr(csvlog.os, "write", lambda fd, data: written.append(len(data)) or real_write(fd, data))
    for step in range(1, 201):
        writer.log_metrics(row, step=step)
        writer.save()
    monkeypatch.undo()
    assert path.stat().st_ino == inode
    assert len(read_metrics(path).rows) == 200 and max(written) < 100  # one row's bytes per row, not the file's

    # A resumed run: damage (a half row a kill left) is cut once; the appends follow the whole rows.
    with open(path, "a") as f:
        f.write("201,0.1,1.9")
    csvlog._RunWriter(str(tmp_path)).save()
    assert read_metrics(path).damaged == 0 and len(read_metrics(path).rows) == 200
    writer = csvlog._RunWriter(str(tmp_path))
    inode, before = path.stat().st_ino, path.read_bytes()
    writer.log_metrics(row, step=201)
    writer.save()
    assert path.stat().st_ino == inode and path.read_bytes().startswith(before)

    # A full disk mid-append: half the row written, then ENOSPC -> the file is cut back to its whole rows.
    before = path.read_bytes()

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    writer.log_metrics(row, step=202)
    monkeypatch.setattr(csvlog.os, "write", half_then_full)
    with pytest.raises(OSError):
        writer.save()
    monkeypatch.undo()
    assert path.read_bytes() == before
