"""The tuning protocol (runfolder/tuning.py) and the learning rate in a run folder's name (runfolder/files.py)."""

from __future__ import annotations

import json

import pytest

from runfolder import METRICS_HEADER, RunPath, lr_token, run_dir, seed_and_lr, seed_of
from runfolder.tuning import TUNING_SEED, choose, extension, parse_grid, plan

GRID = (0.05, 0.1, 0.2)


def test_a_learning_rate_has_one_folder_name():
    assert [lr_token(x) for x in (0.05, 0.4, 0.0125, 1.0, 2, 1e-5)] == ["0.05", "0.4", "0.0125", "1", "2", "0.00001"]
    # Every digit of a tiny rate (LRS="1e-25 0.1" once named a folder seed1000-lr0., which its run refused):
    for tiny in (1e-25, 1.2345678e-15, 3e-7):
        assert seed_and_lr(f"seed1000-lr{lr_token(tiny)}") == (1000, tiny)
    with pytest.raises(ValueError, match="bad learning rate '1e-300' in LRS: too small to name a run folder"):
        parse_grid("1e-300 0.1")  # its folder name would pass the file system's 255 bytes
    assert seed_and_lr("seed1000-lr0.05") == (1000, 0.05)
    assert seed_and_lr("seed3") == (3, None)
    for other in ("seed1000-lr0.050", "seed1000-lr.05", "seed1000-lr05", "seed1000-lr0", "seed1000-lr1e-5", "seed01"):
        assert seed_and_lr(other) is None, other
    assert seed_of("seed1000-lr0.05") is None  # the reports' seed folders stay those at the profile's rate
    path = run_dir("runs", "methods", "quick", "fixup-56", 1000, 0.2)
    assert str(path) == "runs/methods/quick/fixup-56/seed1000-lr0.2"
    spec = RunPath.parse(path)
    assert (spec.model, spec.seed, spec.lr) == ("fixup-56", 1000, 0.2) and str(spec) == "fixup-56 seed 1000 at lr 0.2"
    with pytest.raises(ValueError, match="seed1000-lr0.05"):
        RunPath.parse("runs/methods/quick/fixup-56/seed1000-lr0.050")


def test_grid_parsing_and_extension():
    assert parse_grid("0.2, 0.05 0.1 0.1") == GRID
    for bad, words in (("0.1", "at least two"), ("0.1 x", "'x'"), ("0 0.1", "positive"), ("0.1 -1", "positive")):
        with pytest.raises(ValueError, match=words):
            parse_grid(bad)
    assert extension((0.025, 0.05, 0.1, 0.2, 0.4), 0.4) == 0.8
    assert extension((0.025, 0.05, 0.1, 0.2, 0.4), 0.025) == 0.0125
    assert extension(GRID, 0.1) is None


def _done(root, model, lr, train, status="ok", seed=TUNING_SEED, base=0.1):
    folder = run_dir(root, "", "", model, seed, None if lr == base else lr)
    folder = root / model / folder.name
    folder.mkdir(parents=True)
    record = {"status": status, "final": {"train": train, "val": train + 1}, "best": {}, "iterations": 10}
    (folder / "result.json").write_text(json.dumps(record))
    (folder / "config.yaml").write_text(f"model: {model}\n")  # a finished run's folder is whole (record_problem)
    (folder / "metrics.csv").write_text(f"{METRICS_HEADER}\n10,{lr},1.0,{train},,,,\n")


def test_the_choice_waits_for_its_runs_then_extends_at_an_edge_once(tmp_path):
    # Nothing trained: the grid on the tuning seed is planned, nothing else.
    assert plan(tmp_path, ["fixup-20"], GRID, 0.1, [0, 1]) == [
        ("fixup-20", TUNING_SEED, 0.05), ("fixup-20", TUNING_SEED, None), ("fixup-20", TUNING_SEED, 0.2)]
    _done(tmp_path, "fixup-20", 0.05, 60.0)
    _done(tmp_path, "fixup-20", 0.1, 50.0)
    assert choose(tmp_path, "fixup-20", GRID, 0.1).pending == (0.2,)
    _done(tmp_path, "fixup-20", 0.2, 40.0)  # best at the high end: one more step, 0.4
    choice = choose(tmp_path, "fixup-20", GRID, 0.1)
    assert (choice.lr, choice.extended, choice.pending) == (None, 0.4, (0.4,))
    assert plan(tmp_path, ["fixup-20"], GRID, 0.1, [0, 1])[-1] == ("fixup-20", TUNING_SEED, 0.4)
    _done(tmp_path, "fixup-20", 0.4, 45.0, status="diverged")  # a diverged run ranks below every finished one
    choice = choose(tmp_path, "fixup-20", GRID, 0.1)
    assert (choice.lr, choice.at_edge) == (0.2, False)
    assert [o.lr for o in choice.outcomes] == [0.05, 0.1, 0.2, 0.4]
    assert plan(tmp_path, ["fixup-20"], GRID, 0.1, [0, 1])[-2:] == [("fixup-20", 0, 0.2), ("fixup-20", 1, 0.2)]


def test_a_choice_at_the_profiles_rate_reuses_the_one_recipe_runs_and_ties_go_to_the_smaller_rate(tmp_path):
    for lr, train in ((0.05, 30.0), (0.1, 20.0), (0.2, 20.0)):
        _done(tmp_path, "resnet-20", lr, train)
    assert choose(tmp_path, "resnet-20", GRID, 0.1).lr == 0.1
    assert plan(tmp_path, ["resnet-20"], GRID, 0.1, [0])[-1] == ("resnet-20", 0, None)  # seed0: no second run


def _write(runs, model, seed, train, lr=None, status="ok", experiment="methods", **records):
    """A finished run of ``experiment``, at ``lr`` (None: the profile's 0.1), config.yaml saying so; ``records``:
    more of what write_run records (a plugin's ``plugin`` and ``axes``)."""
    import shutil

    import yaml
    from runfolders import write_run

    scratch = runs.parent / "scratch" if lr is not None else runs  # not over the seed<k> run beside it
    folder = write_run(scratch, experiment, "quick", model, seed, train=lambda s: train, status=status,
                       classes=[str(i) for i in range(10)], **records)
    if lr is not None:
        run_dir(runs, experiment, "quick", model, seed, lr).parent.mkdir(parents=True, exist_ok=True)
        target = run_dir(runs, experiment, "quick", model, seed, lr)
        shutil.move(folder, target)
        config = yaml.safe_load((target / "config.yaml").read_text())
        config["lr"] = lr
        (target / "config.yaml").write_text(yaml.safe_dump(config))


def test_the_report_holds_the_one_recipe_and_the_tuned_board_both_on_page_one(tmp_path):
    """Hand-made runs: the one-recipe board from seed<k> at lr 0.1, the tuned one from each net's chosen rate
    (fixup-56 best at the top of the grid, so extended once, and kept; fixup-20 at 0.05; plain at 0.1,
    reusing the one-recipe runs), the tuning runs in tuning.csv and the sensitivity figure."""
    from reports.build import build_report
    import pandas as pd

    runs = tmp_path / "runs"
    one_recipe = {"plain-20": 20.0, "plain-56": 60.0, "fixup-20": 70.0, "fixup-56": 88.0}
    for model, train in one_recipe.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, train + seed)
    tuning = {"plain-20": {0.05: 25, 0.1: 20, 0.2: 22}, "plain-56": {0.05: 65, 0.1: 60, 0.2: 62},
              "fixup-20": {0.025: 45, 0.05: 40, 0.1: 70, 0.2: 80}, "fixup-56": {0.05: 70, 0.1: 88, 0.2: 30, 0.4: 35}}
    for model, by_rate in tuning.items():
        for lr, train in by_rate.items():
            _write(runs, model, TUNING_SEED, float(train), None if lr == 0.1 else lr)
    for seed in (0, 1, 2):
        _write(runs, "fixup-20", seed, 41.0 + seed, 0.05)
        _write(runs, "fixup-56", seed, 31.0 + 2 * seed, 0.2)
    result = build_report(runs, "methods", "quick", tmp_path / "out", list(one_recipe), [0, 1, 2],
                          tuning_grid=(0.05, 0.1, 0.2))
    assert not result.errors and "methods-lr" in result.figures
    out = tmp_path / "out" / "methods" / "quick"
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(dict.fromkeys(board["board"])) == ["one-recipe", "tuned"]
    fixup = board[board["method"] == "fixup"].set_index("board")
    assert (fixup.loc["one-recipe", "lr_deep"], fixup.loc["tuned", "lr_deep"]) == (0.1, 0.2)
    assert (fixup.loc["tuned", "lr_shallow"], fixup.loc["tuned", "train_deep_mean"]) == (0.05, 33.0)
    assert fixup.loc["one-recipe", "train_deep_mean"] == 89.0
    plain = board[board["method"] == "plain"].set_index("board")
    assert plain.loc["tuned", "train_deep_mean"] == plain.loc["one-recipe", "train_deep_mean"] == 61.0
    table = pd.read_csv(out / "tuning.csv")
    chosen = table[table["chosen"]].set_index("model")["lr"].to_dict()
    assert chosen == {"plain-20": 0.1, "plain-56": 0.1, "fixup-20": 0.05, "fixup-56": 0.2}
    assert table[table["extension"]].set_index("model")["lr"].to_dict() == {"fixup-56": 0.4, "fixup-20": 0.025}
    page = result.first_page
    assert page.index("## Leaderboard") < page.index("## Tuned board") < page.index("## Verdict")
    assert "Chosen: plain-20 0.1, fixup-20 0.05, plain-56 0.1, fixup-56 0.2" in page.replace("\n", " ")
    # Provenance counts the tuned board's runs too (once only the one-recipe board's 12): 14 tuning runs and 6
    # reported runs at fixup's chosen rates.
    assert "the tuning protocol's runs besides" in page and "rates): 20: 20 ok, 0 diverged" in page, page
    assert (out / "fig-methods-lr.png").stat().st_size > 0
    # Page 1 holds both boards, legibly (a landscape page, at 7 pt or more): each method once per board, with
    # its errors, rates, gap and verdict; leaderboard.md keeps each board in full.
    from reports.pages import A4_LANDSCAPE, READABLE_SIZE

    page_one = result.page_one
    texts = [t for t in page_one.texts if t.get_fontfamily() == ["monospace"]]
    lines = [t.get_text() for t in sorted(texts, key=lambda t: -t.get_position()[1])]
    assert tuple(page_one.get_size_inches()) == A4_LANDSCAPE and min(t.get_fontsize() for t in texts) >= READABLE_SIZE
    one, tuned = (next(i for i, line in enumerate(lines) if line.startswith(w)) for w in ("One recipe:", "Tuned:"))
    fixup_rows = [line for line in lines if line.startswith("fixup ")]
    assert one < tuned and len(fixup_rows) == 2
    assert "89.00 ± 1.00" in fixup_rows[0] and "0.05 / 0.2" not in fixup_rows[0]
    assert "33.00 ± 2.00" in fixup_rows[1] and "0.05 / 0.2" in fixup_rows[1] and "[" in fixup_rows[1]
    full = (out / "leaderboard.md").read_text()
    assert full.startswith("## Leaderboard: methods against degradation") and "## Tuned board" in full
    assert "Holm p: gap / within ±5" in full and "[[forest plot]]" not in full


def test_a_tuned_rate_that_trains_on_the_tuning_seed_only_gets_no_verdict(tmp_path):
    """skipinit-20's tuning run trains best at 0.2 (after the extension to 0.4), and every reported seed at 0.2
    diverges: the tuned board's deeper net "trains better" by 64 points only because one tuning seed chose a
    rate at the edge of stability. No verdict involving skipinit-20 is given there, and the reason is named;
    likewise skipinit-56 against resnet-56, whose tuned rate (0.2) diverges in one reported seed of three.
    The one-recipe board, at one rate for all, keeps its verdicts."""
    import pandas as pd

    from reports.build import build_report

    runs = tmp_path / "runs"
    for seed in (0, 1, 2):
        _write(runs, "skipinit-20", seed, 30.0 + seed)
        _write(runs, "skipinit-56", seed, 25.0 + seed)
        _write(runs, "skipinit-20", seed, 90.0, 0.2, status="diverged")
        _write(runs, "resnet-56", seed, 30.0 + 2 * seed)
        _write(runs, "resnet-56", seed, 15.0 + seed, 0.2, status="diverged" if seed == 0 else "ok")
    for model, by_rate in {"skipinit-20": {0.05: 40, 0.1: 30, 0.2: 25, 0.4: 35},
                           "skipinit-56": {0.05: 30, 0.1: 20, 0.2: 28},
                           "resnet-56": {0.05: 35, 0.1: 30, 0.2: 15, 0.4: 40}}.items():
        for lr, train in by_rate.items():
            _write(runs, model, TUNING_SEED, float(train), None if lr == 0.1 else lr)
    result = build_report(runs, "methods", "quick", tmp_path / "out", ["skipinit-20", "skipinit-56", "resnet-56"],
                          [0, 1, 2], tuning_grid=GRID)
    assert not result.errors, result.errors
    board = pd.read_csv(tmp_path / "out" / "methods" / "quick" / "leaderboard.csv")
    board = board[board["method"] == "skipinit"].set_index("board")
    tuned, one = board.loc["tuned"], board.loc["one-recipe"]
    assert tuned["vs_resnet_verdict"] == "not judged: tuned rate unstable (resnet-56)"
    assert one["vs_resnet_verdict"] == "better than resnet-56"  # 25-27% against 30-34%, at lr 0.1
    assert (tuned["lr_shallow"], tuned["lr_deep"], tuned["shallow_diverged"]) == (0.2, 0.1, 3)
    assert tuned["gap"] < -60  # what the board would otherwise call "the deeper net trains better"
    assert tuned["verdict"] == "not judged: tuned rate unstable (skipinit-20)"
    assert tuned["unstable_shallow"] == "skipinit-20 at lr 0.2: 25.0% on the tuning seed, 3/3 diverged"
    assert pd.isna(tuned["unstable_deep"])
    assert "unstable" not in one["verdict"] and pd.isna(one["unstable_shallow"])
    assert "tuned rate unstable" in result.first_page.replace("\n", " ")
    from reports.forest import gap_forest  # the first page's forest says why a far-off interval is not decided

    (row,) = gap_forest(pd.DataFrame([tuned])).itertuples()
    assert not row.decided and row.flags == "20: 3/3 diverged — tuned rate unstable"


def test_a_failed_tuning_run_is_named_where_the_report_once_said_not_done_and_not_trained(tmp_path):
    """fixup-56's extension at 0.4 failed (a crash, not a divergence): tuning.csv once said "not done", the
    flagged runs left it out (the tuning seed is not a reported one), and the tuned board called fixup-56
    "not trained (no finished run)", though five of its runs had finished. A folder at a rate the plan does
    not name (an earlier grid's choice) is not one of the protocol's runs, and provenance does not count it."""
    import pandas as pd

    from reports.build import build_report

    runs = tmp_path / "runs"
    for model, train in (("fixup-20", 40.0), ("fixup-56", 60.0)):
        for seed in (0, 1, 2):
            _write(runs, model, seed, train + seed)
    for lr, train in {0.05: 50, 0.1: 40, 0.2: 45}.items():
        _write(runs, "fixup-20", TUNING_SEED, float(train), None if lr == 0.1 else lr)
    for lr, train in {0.05: 70, 0.1: 65, 0.2: 30}.items():
        _write(runs, "fixup-56", TUNING_SEED, float(train), None if lr == 0.1 else lr)
    _write(runs, "fixup-56", TUNING_SEED, 90.0, 0.4, status="failed")
    _write(runs, "fixup-56", 0, 33.0, 0.025)  # an earlier grid's choice, on disk, outside this plan
    result = build_report(runs, "methods", "quick", tmp_path / "out", ["fixup-20", "fixup-56"], [0, 1, 2],
                          tuning_grid=GRID[:3])
    out = tmp_path / "out" / "methods" / "quick"
    table = pd.read_csv(out / "tuning.csv").set_index(["model", "lr"])
    assert table.loc[("fixup-56", 0.4), "status"] == "failed"
    tuned = pd.read_csv(out / "leaderboard.csv").set_index("board").loc["tuned"]
    assert tuned["verdict"] == "not tuned yet (fixup-56 at lr 0.4: failed)", tuned["verdict"]
    page = result.first_page
    assert "\n- fixup-56/seed1000-lr0.4: FAILED: " in page
    # The plan: 3 + 4 tuning runs (fixup-56 extended to 0.4); fixup-20's reported seeds at 0.1 are the
    # one-recipe board's; fixup-56 has no rate yet. The lr 0.025 folder is not counted.
    assert "seeds at their chosen rates): 7: 6 ok, 0 diverged, 1 failed" in page


def test_a_net_every_rate_of_whose_grid_diverged_is_not_blamed_on_the_budget(tmp_path):
    """Every tuning run of fixup-56 diverged (the grid too high for it) and so did its reported seeds: the tuned
    board said "too short a budget to judge it". It names the grid now; a net that trains at some rate on the
    tuning seed and at none on the reported seeds keeps the budget's words."""
    import pandas as pd

    from reports.build import build_report

    runs = tmp_path / "runs"
    def write(folder, grid_trains: bool):
        for model in ("fixup-20", "fixup-56"):  # every rate diverged: the tie rule's smallest, 0.025
            for seed in (0, 1, 2):
                _write(folder, model, seed, 90.0, status="diverged")
                _write(folder, model, seed, 90.0, 0.025, status="diverged")
            for lr in GRID + (0.025,):
                trains = grid_trains and model == "fixup-20" and lr == 0.025
                _write(folder, model, TUNING_SEED, 89.0 if trains else 90.0, None if lr == 0.1 else lr,
                       status="ok" if trains else "diverged")

    def verdict(folder) -> str:
        verdict.page = build_report(folder, "methods", "quick", folder.parent / "out", ["fixup-20", "fixup-56"],
                                    [0, 1, 2], tuning_grid=GRID).first_page.replace("\n", " ")
        return pd.read_csv(folder.parent / "out" / "methods" / "quick" / "leaderboard.csv").set_index("board").loc[
            "tuned", "verdict"]

    write(runs, grid_trains=False)
    assert verdict(runs) == ("does not train: every rate tried diverged on the tuning seed (fixup-20, fixup-56), "
                             "a grid too high for it")
    # "Chosen:" said 0.025 as an ordinary choice; then "not bracketed", which a reader could not parse beside a
    # chosen rate that diverged: it says what happened now
    assert "fixup-56 0.025 (every rate tried diverged; the smallest is kept)" in verdict.page
    write(tmp_path / "b" / "runs", grid_trains=True)  # fixup-20 ends at chance (89%) at 0.025, not diverged
    assert verdict(tmp_path / "b" / "runs") == ("does not train: every rate tried diverged on the tuning seed "
                                                "(fixup-56), a grid too high for it")
    assert "fixup-20 0.025 (an end of the rates tried: a better rate may lie beyond it)" in verdict.page


def test_a_report_without_lrs_follows_the_grid_the_runs_were_planned_with(tmp_path, capsys):
    """`make report EXPERIMENT=methods` without the LRS of the `make methods` that trained the runs once
    re-rendered the tuned board at the default grid: "Chosen: none yet", its finished rates "not done".
    `experiments.matrix plan` records the grid beside the runs; `reports.build --tuned` reads it."""
    import pandas as pd

    from experiments import matrix
    from reports.build import main as build
    from runfolder.tuning import GRID_FILE, record_grid, recorded_grid

    runs, out = tmp_path / "runs", tmp_path / "out"
    args = ["--experiment", "methods", "--profile", "quick", "--models", "plain-20 plain-56", "--seeds", "0 1",
            "--runs-dir", str(runs), "--lrs", "0.05 0.1"]
    assert matrix.main(["plan", *args]) == 0
    assert (runs / "methods" / "quick" / GRID_FILE).read_text() == "0.05 0.1\n"
    assert recorded_grid(runs / "methods" / "quick") == (0.05, 0.1)
    record_grid(tmp_path / "other", (0.1234567, 0.2))  # every digit kept: the folders' names are read from it
    assert recorded_grid(tmp_path / "other") == (0.1234567, 0.2)
    for model, by_rate in {"plain-20": {0.05: 25.0, 0.1: 20.0}, "plain-56": {0.05: 61.0, 0.1: 60.0}}.items():
        for lr, train in by_rate.items():
            _write(runs, model, TUNING_SEED, train, None if lr == 0.1 else lr)
        for seed in (0, 1):
            _write(runs, model, seed, by_rate[0.1] + seed)
    # Both nets are best at 0.1, the top of this grid: each wants 0.2 next (an extension step), nothing else.
    assert build(["--experiment", "methods", "--profile", "quick", "--runs-dir", str(runs), "--out-dir", str(out),
                  "--models", "plain-20 plain-56", "--tuned"]) == 0
    table = pd.read_csv(out / "methods" / "quick" / "tuning.csv")
    assert sorted(table[table["model"] == "plain-56"]["lr"]) == [0.05, 0.1, 0.2]  # 0.2: the extension's, waited for
    assert not ({0.025, 0.4} & set(table["lr"]))  # the default grid's other rates are not asked for
    capsys.readouterr()
    # TUNE as make hands it: 1 is --tuned; anything but 1 or empty refused in one line, nothing written
    # (`make report TUNE=x` had rendered the tuned board, as if TUNE were 1)
    base = ["--experiment", "methods", "--profile", "quick", "--runs-dir", str(runs), "--models", "plain-20 plain-56"]
    assert build([*base, "--out-dir", str(tmp_path / "one"), "--tune", "1"]) == 0
    assert (tmp_path / "one" / "methods" / "quick" / "tuning.csv").read_bytes() == \
        (out / "methods" / "quick" / "tuning.csv").read_bytes()
    assert build([*base, "--out-dir", str(tmp_path / "off"), "--tune", ""]) == 0
    assert not (tmp_path / "off" / "methods" / "quick" / "tuning.csv").exists()
    capsys.readouterr()
    for bad in ("x", "0", "yes"):
        assert build([*base, "--out-dir", str(tmp_path / "bad"), "--tune", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"reports.build: error: bad TUNE {bad!r}: TUNE=1 turns the tuning protocol on, TUNE= "
                       "(empty) turns it off"]
    assert not (tmp_path / "bad").exists()


def test_the_base_rate_is_the_one_most_runs_at_it_record(tmp_path):
    """A seed0 trained under SET="lr=0.05" named the whole protocol's base rate (the first folder decided), and
    the tuned board then read the tuning seed's 0.1 run as its 0.05 one. The rate most seed<k> folders record
    is the base; the odd run is flagged (tests/test_reports.py)."""
    import yaml

    from reports.tuning import base_lr

    runs = tmp_path / "runs"
    for seed in (0, 1, 2):
        _write(runs, "plain-20", seed, 20.0)
    _write(runs, "plain-20", TUNING_SEED, 20.0)
    for seed, lr in ((0, 0.05), (1, 0.1), (2, 0.1), (TUNING_SEED, 0.1)):
        path = run_dir(runs, "methods", "quick", "plain-20", seed) / "config.yaml"
        record = yaml.safe_load(path.read_text())
        record["config"] = {"lr": lr}
        path.write_text(yaml.safe_dump(record))
    assert base_lr(runs / "methods" / "quick", ["plain-20"]) == 0.1
    import shutil

    for seed in (1, 2):  # a tie, one run each: the tuning seed's own run at the base rate decides
        shutil.rmtree(run_dir(runs, "methods", "quick", "plain-20", seed))
    assert base_lr(runs / "methods" / "quick", ["plain-20"]) == 0.1


def test_tune_1_on_any_experiment_reports_both_boards_and_summary_flags_the_tuned_runs(tmp_path, capsys):
    """Found by a fault hunt: (1) `make degradation TUNE=1` trained the tuning protocol but its report showed
    neither the tuned board nor tuning.csv; (2) summary.md said "Flagged runs: None." while a reported seed at
    a tuned rate had failed (the console and page 1 counted it); (3) `make report` after `make methods TUNE=`
    rendered a tuned board of 18 nets "not tuned yet", at the default grid, for runs never meant to be tuned."""
    import pandas as pd

    from reports.build import build_report
    from reports.build import main as build

    runs = tmp_path / "runs"
    for model, by_rate in {"plain-20": {0.025: 25.0, 0.05: 15.0, 0.1: 20.0, 0.2: 30.0},
                           "plain-56": {0.025: 65.0, 0.05: 61.0, 0.1: 60.0, 0.2: 70.0}}.items():
        for lr, train in by_rate.items():
            _write(runs, model, TUNING_SEED, train, None if lr == 0.1 else lr, experiment="degradation")
        for seed in (0, 1):
            _write(runs, model, seed, by_rate[0.1] + seed, experiment="degradation")
    _write(runs, "plain-20", 0, 16.0, 0.05, experiment="degradation")  # plain-20's tuned rate: seed 1 failed
    _write(runs, "plain-20", 1, 17.0, 0.05, status="failed", experiment="degradation")
    result = build_report(runs, "degradation", "quick", tmp_path / "out", ["plain-20", "plain-56"], None,
                          (0.025, 0.05, 0.1, 0.2))
    board = pd.read_csv(result.out_dir / "leaderboard.csv")
    assert list(board["board"]) == ["one-recipe", "tuned"] and list(board["lr_shallow"]) == [0.1, 0.05]
    assert (result.out_dir / "tuning.csv").exists() and "methods-lr" in result.figures
    summary = (result.out_dir / "summary.md").read_text()
    assert "- `degradation/quick/plain-20/seed1-lr0.05`: FAILED" in summary and "None." not in summary

    methods = tmp_path / "never-tuned"  # `make methods TUNE=`: no grid recorded, no tuning seed's run
    for model in ("plain-20", "plain-56"):
        for seed in (0, 1):
            _write(methods, model, seed, 20.0 + seed)
    out = tmp_path / "out-never"
    assert build(["--experiment", "methods", "--profile", "quick", "--runs-dir", str(methods), "--out-dir",
                  str(out), "--models", "plain-20 plain-56", "--tune", "1"]) == 0
    capsys.readouterr()
    assert set(pd.read_csv(out / "methods" / "quick" / "leaderboard.csv")["board"]) == {"one-recipe"}
    assert not (out / "methods" / "quick" / "tuning.csv").exists()


def test_two_depths_at_one_error_and_rate_both_show_in_the_sensitivity_figure():
    """A reader could not see rezero-20's points under rezero-56's where both ended at one error: each depth has
    its own marker and sits a little apart along the rate, the ring on its own point."""
    import pandas as pd

    from reports.tuning import DODGE, lr_sensitivity_figure

    rows = [{"model": f"rezero-{d}", "method": "rezero", "depth": d, "lr": lr, "status": "ok", "train": 16.0,
             "val": 16.0, "chosen": lr == 0.1, "extension": False} for d in (20, 56) for lr in (0.05, 0.1, 0.2)]
    fig = lr_sensitivity_figure(pd.DataFrame(rows), "t", chance=90.0, one_recipe=0.1)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    shallow, deep = lines["20 layers"], lines["56 layers"]
    assert shallow.get_marker() != deep.get_marker()
    assert list(shallow.get_ydata()) == list(deep.get_ydata()) == [16.0] * 3
    ratio = [d / s for s, d in zip(shallow.get_xdata(), deep.get_xdata())]
    assert ratio == pytest.approx([10 ** DODGE] * 3) and 10 ** DODGE > 1.05  # apart, by a visible step
    rings = [line for line in ax.get_lines() if line.get_markersize() == 11]
    assert sorted(x for ring in rings for x in ring.get_xdata()) == pytest.approx(
        sorted([shallow.get_xdata()[1], deep.get_xdata()[1]]))


def test_the_tuned_board_flags_runs_and_rates_resting_on_other_data_as_the_one_recipe_board_does(tmp_path):
    """The data check (reports.runs: a run trained on other files than most of the report's runs is named, not
    pooled) reached only the one-recipe board: the tuned board loaded its runs afresh, so a seed the one-recipe
    board had set aside (plain-56 seed 0, on other files) counted again there at the same rate, a tuned run at
    another rate on other files was pooled, and a rate chosen by a tuning run on other files was judged."""
    import yaml

    from reports.forest import methods_board, tuned_board
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    import pandas as pd

    runs = tmp_path / "runs"

    def data(model, seed, lr=None, files="1"):
        folder = run_dir(runs, "methods", "quick", model, seed, lr)
        config = yaml.safe_load((folder / "config.yaml").read_text())
        config["data"] = {"train": {"images": 55000, "sha256": files * 64}}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))

    models = ["plain-20", "plain-56", "fixup-20", "fixup-56", "resnet-20", "resnet-56"]
    for model in models:
        for seed in (0, 1, 2):
            _write(runs, model, seed, {"plain": 20.0, "fixup": 30.0, "resnet": 10.0}[model.split("-")[0]] + seed)
            data(model, seed, files="2" if (model, seed) == ("plain-56", 0) else "1")  # plain-56 seed 0: other files
        # every net best at 0.1 (the one-recipe runs), but fixup-56: best at 0.2, by a tuning run on other files
        tuning = {0.05: 25.0, 0.1: 20.0, 0.2: 10.0 if model == "fixup-56" else 23.0}
        for lr, train in tuning.items():
            _write(runs, model, TUNING_SEED, train, None if lr == 0.1 else lr)
            data(model, TUNING_SEED, None if lr == 0.1 else lr, files="2" if (model, lr) == ("fixup-56", 0.2) else "1")
    _write(runs, "fixup-56", TUNING_SEED, 12.0, 0.4)  # the extension past the grid's top: 0.2 stays chosen
    data("fixup-56", TUNING_SEED, 0.4)
    for seed in (0, 1, 2):  # the reported seeds at 0.2: seed 1 on other files
        _write(runs, "fixup-56", seed, 15.0 + seed, 0.2)
        data("fixup-56", seed, 0.2, files="2" if seed == 1 else "1")
    found = discover_runs(runs, "methods", "quick", models, [0, 1, 2])
    ctx = ReportContext("methods", "quick", runs, tmp_path / "out", found.runs, pd.DataFrame(), pd.DataFrame(),
                        extras={"tuning_grid": (0.05, 0.1, 0.2)}, models=models)
    one, tuned = (board.set_index("method") for board in (methods_board(ctx), tuned_board(ctx)))
    # plain-56 seed 0 is set aside on both boards alike
    assert one.loc["plain", "train_deep_n"] == tuned.loc["plain", "train_deep_n"] == 2
    assert "malformed" in tuned.loc["plain", "deep_flags"]
    # fixup-56's tuned seed 1, on other files, is set aside; and its rate rests on a tuning run on other files
    assert tuned.loc["fixup", "lr_deep"] == 0.2 and tuned.loc["fixup", "train_deep_n"] == 2
    assert tuned.loc["fixup", "verdict"] == (
        "not judged: fixup-56's rate rests on a tuning run trained on other data")
    assert tuned.loc["fixup", "vs_resnet_verdict"] == tuned.loc["fixup", "verdict"]
    assert "tuned on other data" in tuned.loc["fixup", "deep_flags"]
    assert one.loc["fixup", "verdict"] != tuned.loc["fixup", "verdict"]  # the one-recipe board rests on no tuning
    # and the report names them among its flagged runs: the reported seed at 0.2 and the tuning run behind it
    from reports.build import build_report

    page = build_report(runs, "methods", "quick", tmp_path / "report", models, [0, 1, 2],
                        tuning_grid=(0.05, 0.1, 0.2)).first_page
    for rel in ("plain-56/seed0", "fixup-56/seed1-lr0.2", f"fixup-56/seed{TUNING_SEED}-lr0.2"):
        assert f"- {rel}: " in page and "trained on other data" in page.split(f"- {rel}: ")[1].split("\n")[0], rel


GRID5 = (0.025, 0.05, 0.1, 0.2, 0.4)


def _boards(runs, models, grid=GRID5):
    """The one-recipe and the tuned board of the methods runs under ``runs`` (reports.forest), by method."""
    import pandas as pd

    from reports.forest import methods_board, tuned_board
    from reports.registry import ReportContext
    from reports.runs import discover_runs

    found = discover_runs(runs, "methods", "quick", models, [0, 1, 2])
    ctx = ReportContext("methods", "quick", runs, runs.parent / "out", found.runs, pd.DataFrame(), pd.DataFrame(),
                        extras={"tuning_grid": grid}, models=models)
    return methods_board(ctx).set_index("method"), tuned_board(ctx).set_index("method"), ctx


def _tuned_at(runs, model, lr, tuning_train, seeds_train, **records):
    """``model``'s tuning runs over :data:`GRID5`, best at ``lr`` (inside it), and its reported seeds there."""
    for rate in GRID5:
        _write(runs, model, TUNING_SEED, tuning_train if rate == lr else 30.0, None if rate == 0.1 else rate,
               **records)
    if lr != 0.1:
        for seed in (0, 1, 2):
            _write(runs, model, seed, seeds_train + seed, lr, **records)


def test_a_plugin_net_keeps_its_declared_axes_and_baseline_on_the_tuned_board(tmp_path):
    """Found by a hunt: a plugin net declaring norm "none" was judged against plain-56-nobn on the one-recipe
    board and, at a tuned rate other than the profile's, against plain-56 (BN) on the tuned one: its runs there
    were loaded without reading what they declare, so its norm read "unknown"."""
    runs = tmp_path / "runs"
    plugin = {"distribution": "mynet-plugin", "version": "0.1.0", "source_sha256": "ab" * 32}
    axes = {"block": None, "shortcut": "none", "merge": None, "branch_scale": None, "norm": "none", "init": None}
    errors = {"plain-20": 20, "plain-56": 40, "plain-20-nobn": 30, "plain-56-nobn": 60, "resnet-20": 10,
              "resnet-56": 8, "mynet-20": 15, "mynet-56": 14}
    for model, error in errors.items():
        records = {"plugin": plugin, "axes": axes} if model.startswith("mynet") else {}
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + seed, **records)
        _tuned_at(runs, model, 0.2 if model.startswith("mynet") else 0.1, 10.0, error - 2, **records)
    one, tuned, _ = _boards(runs, list(errors))
    assert tuned.loc["mynet", "lr_deep"] == 0.2
    assert one.loc["mynet", "norm"] == tuned.loc["mynet", "norm"] == "none"
    assert one.loc["mynet", "plain"] == tuned.loc["mynet", "plain"] == "plain-56-nobn"
    assert tuned.loc["mynet", "vs_plain"] == 60 - 12


def test_the_tuned_board_compares_with_the_baselines_the_first_board_does(tmp_path):
    """Found by a hunt: with MODELS naming only a method's nets, the one-recipe board compared fixup-56 with
    the resnet-56 already in the runs folder, and the tuned board said "no resnet-56 run": it tuned and read
    only its rows' nets. The baselines are read at their own tuned rates, without rows of their own."""
    runs = tmp_path / "runs"
    for model, error in {"fixup-20": 30, "fixup-56": 31, "resnet-20": 10, "resnet-56": 8}.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + 2 * seed)
        _tuned_at(runs, model, 0.05 if model == "resnet-56" else 0.1, 10.0, error - 5)
    one, tuned, _ = _boards(runs, ["fixup-20", "fixup-56"])
    assert list(one.index) == list(tuned.index) == ["fixup"]
    assert one.loc["fixup", "vs_resnet_verdict"] != "no resnet-56 run"
    assert one.loc["fixup", "vs_resnet"] == 10 - 33  # the means over seeds 0-2 at lr 0.1
    assert tuned.loc["fixup", "vs_resnet"] == 4 - 33  # resnet-56 at its own tuned rate, 0.05; fixup-56 at 0.1


@pytest.mark.parametrize("final", ["15", -5.0, 101.0])
def test_a_tuning_run_whose_final_error_is_no_percentage_chooses_nothing(tmp_path, final):
    """Found by a hunt: a tuning run whose result.json was edited by hand to a final error of -5 chose its rate
    (tuning.csv: ok, chosen), while the report set the same run aside as malformed; a string "15" crashed the
    choice (make's plan included). Now no part of the suite takes it: make trains it again, and until then the
    net is "not tuned yet", naming it."""
    from runfolder import done_status

    runs = tmp_path / "runs"
    for model, error in {"fixup-20": 30, "fixup-56": 31}.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + seed)
        _tuned_at(runs, model, 0.2, 10.0, error - 10)
    folder = run_dir(runs, "methods", "quick", "fixup-56", TUNING_SEED, 0.2)
    record = json.loads((folder / "result.json").read_text())
    record["final"]["train"] = final
    (folder / "result.json").write_text(json.dumps(record))
    assert done_status(folder) is None  # make trains it again
    choice = choose(runs / "methods" / "quick", "fixup-56", GRID5, 0.1)
    assert choice.lr is None and 0.2 in choice.pending
    _, tuned, ctx = _boards(runs, ["fixup-20", "fixup-56"])
    assert tuned.loc["fixup", "verdict"] == "not tuned yet (fixup-56 at lr 0.2: malformed)"
    table = ctx.extras["tuning"].set_index(["model", "lr"])
    assert table.loc[("fixup-56", 0.2), "status"] == "malformed" and not table.loc[("fixup-56", 0.2), "chosen"]


def test_the_tuned_board_flags_other_settings_but_the_rate_as_the_one_recipe_board_does(tmp_path):
    """Found by a hunt: a reported seed at a tuned rate trained at another batch size was pooled on the tuned
    board (the one-recipe board sets such a seed aside), and a rate chosen by tuning runs of another length was
    judged. The tuned board now compares every setting but the rate (runfolder.tuning.RATE_SETTINGS) with the
    report's runs."""
    import yaml

    runs = tmp_path / "runs"
    errors = {"plain-20": 20, "plain-56": 40, "fixup-20": 30, "fixup-56": 31, "resnet-20": 10, "resnet-56": 8}
    for model, error in errors.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + seed)
        _tuned_at(runs, model, 0.2 if model == "fixup-56" else 0.1, 10.0, error - 10)
    for folder in (runs / "methods" / "quick").glob("*/seed*"):
        config = yaml.safe_load((folder / "config.yaml").read_text())
        lr = config.get("lr", 0.1)
        odd = {"plain-56/seed1": {"batch_size": 32}, "fixup-56/seed1-lr0.2": {"batch_size": 32},
               f"fixup-20/seed{TUNING_SEED}-lr0.2": {"max_steps": 300}}.get(f"{folder.parent.name}/{folder.name}", {})
        config["config"] = {"lr": lr, "warmup_lr": lr / 10, "batch_size": 128, "max_steps": 600, **odd}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    one, tuned, _ = _boards(runs, list(errors))
    assert one.loc["plain", "train_deep_n"] == tuned.loc["plain", "train_deep_n"] == 2
    assert tuned.loc["fixup", "lr_deep"] == 0.2 and tuned.loc["fixup", "train_deep_n"] == 2  # seed 1 set aside
    assert "malformed" in tuned.loc["fixup", "deep_flags"]
    assert tuned.loc["fixup", "verdict"] == (
        "not judged: fixup-20's rate rests on a tuning run trained on other settings")
    assert "tuned on other settings" in tuned.loc["fixup", "shallow_flags"]
    assert one.loc["fixup", "verdict"] != tuned.loc["fixup", "verdict"]
    assert tuned.loc["resnet", "verdict"] == one.loc["resnet", "verdict"]  # rates differ, nothing else: judged


def _nested_rates(runs):
    """Give every run folder's config.yaml the nested ``config`` a real run records (its rate, as the folder's)."""
    import yaml

    for folder in (runs / "methods" / "quick").glob("*/seed*"):
        config = yaml.safe_load((folder / "config.yaml").read_text())
        config["config"] = {"lr": config.get("lr", 0.1), "batch_size": 128}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))


def test_seeds_left_out_of_a_report_do_not_decide_its_base_rate(tmp_path):
    """Found by a hunt: a second study in the same runs folder (seeds 10-14, trained under SET="lr=0.05") was
    left out of the one-recipe board by --seeds 0 1 2, yet its rate was read as the profile's: every tuned row
    read "not tuned yet (... at lr 0.1: not done)"."""
    runs = tmp_path / "runs"
    errors = {"plain-20": 20, "plain-56": 40, "fixup-20": 30, "fixup-56": 31}
    for model, error in errors.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + seed)
        _tuned_at(runs, model, 0.1, 10.0, error)
        for seed in range(10, 15):
            _write(runs, model, seed, 50.0)
    _nested_rates(runs)
    for folder in (runs / "methods" / "quick").glob("*/seed1[0-4]"):
        (folder / "config.yaml").write_text((folder / "config.yaml").read_text().replace("lr: 0.1", "lr: 0.05"))
    one, tuned, ctx = _boards(runs, list(errors))
    assert ctx.extras["tuning_base_lr"] == 0.1
    assert list(tuned["lr_deep"]) == [0.1, 0.1] and not tuned["verdict"].str.startswith("not tuned").any()


def test_a_run_folder_copied_to_another_rate_cannot_stand_for_a_run_there(tmp_path):
    """Found by a hunt: seed0 (config at lr 0.1) copied by hand to seed0-lr0.2 counted as a run at 0.2, its
    numbers those of 0.1. The folder's rate is compared with its config's, as result.json's already was."""
    import shutil

    from runfolder import done_status, record_problem

    runs = tmp_path / "runs"
    _write(runs, "fixup-56", 0, 31.0)
    _nested_rates(runs)
    copy = run_dir(runs, "methods", "quick", "fixup-56", 0, 0.2)
    shutil.copytree(run_dir(runs, "methods", "quick", "fixup-56", 0), copy)
    record = json.loads((copy / "result.json").read_text())
    assert record_problem(copy, record) == "its folder names lr 0.2, its config.yaml 0.1"
    assert done_status(copy) is None and done_status(run_dir(runs, "methods", "quick", "fixup-56", 0)) == "ok"


def test_failed_runs_do_not_outvote_the_runs_that_trained_on_which_data_is_the_reports():
    """Found by a review: every run but a missing one voted on the report's data, so two failed seeds on new
    files (DATA_DIR changed, the retries failed) set aside the one seed per net that had trained."""
    from pathlib import Path

    from reports.runs import Run, flag_other_data, read_name

    def run(model, seed, status, files):
        r = Run(model, seed, Path("/nowhere"), f"{model}/seed{seed}", read_name(model), status=status)
        r.config, r.result = {"data": {"train": {"images": 55000, "sha256": files * 64}}}, {"status": status}
        return r

    runs = [run(m, s, "ok" if s == 0 else "failed", "a" if s == 0 else "b")
            for m in ("plain-20", "plain-56") for s in (0, 1, 2)]
    flag_other_data(runs)
    assert [r.status for r in runs] == ["ok", "failed", "failed"] * 2


def test_a_plugin_nets_notes_are_said_once_whichever_board_reads_them(tmp_path):
    """Found by a review: the tuned board's copy of a run shared its notes list with the first board's run and
    appended the plugin-version note to it again: the flagged runs listed it twice."""
    plugin = {"distribution": "mynet-plugin", "version": "0.1.0", "source_sha256": "ab" * 32}
    runs = tmp_path / "runs"
    for model in ("mynet-20", "mynet-56"):
        for seed in (0, 1, 2):
            version = {**plugin, "version": "0.2.0", "source_sha256": "cd" * 32} if seed == 2 else plugin
            _write(runs, model, seed, 20.0 + seed, plugin=version)
        _tuned_at(runs, model, 0.1, 10.0, 20.0, plugin=plugin)
    _, _, ctx = _boards(runs, ["mynet-20", "mynet-56"])
    for run in ctx.runs:
        assert len(run.notes) == len(set(run.notes)) == 1, run.notes


def test_a_net_not_tuned_yet_says_so_in_every_verdict_of_its_row(tmp_path):
    """Found by a review: fixup-56's rate not chosen yet (its run at 0.4 not done) and a tuning run of it on
    other files: the gap read "not judged: ... other data", the comparisons "not tuned yet". Both say the
    latter: no rate rests on anything yet."""
    import shutil

    import yaml

    runs = tmp_path / "runs"
    for model, error in {"fixup-20": 30, "fixup-56": 31, "resnet-20": 10, "resnet-56": 8}.items():
        for seed in (0, 1, 2):
            _write(runs, model, seed, error + seed)
        _tuned_at(runs, model, 0.1, 10.0, error)
    shutil.rmtree(run_dir(runs, "methods", "quick", "fixup-56", TUNING_SEED, 0.4))
    for folder in (runs / "methods" / "quick").glob("*/seed*"):
        config = yaml.safe_load((folder / "config.yaml").read_text())
        odd = folder.parent.name == "fixup-56" and folder.name == f"seed{TUNING_SEED}-lr0.025"
        config["data"] = {"train": {"images": 55000, "sha256": ("2" if odd else "1") * 64}}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    _, tuned, _ = _boards(runs, ["fixup-20", "fixup-56", "resnet-20", "resnet-56"])
    waiting = "not tuned yet (fixup-56 at lr 0.4: not done)"
    assert tuned.loc["fixup", "verdict"] == tuned.loc["fixup", "vs_resnet_verdict"] == waiting
