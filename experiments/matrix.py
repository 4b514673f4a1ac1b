"""The matrix seen from make: the model lists, input checks and the closing status.

    python -m experiments.matrix makefile            # MODELS_<experiment> := ..., the run folder's names, for make
    python -m experiments.matrix check  --experiment degradation --profile quick --models "..." --seeds "0 1" \\
        [--runs-dir runs] [--reports-dir reports/generated]   # nothing written; RUNS_DIR, REPORTS_DIR writable
    python -m experiments.matrix status --experiment degradation --profile quick --models "..." --seeds "0 1"
    python -m experiments.matrix plan   --experiment methods --profile quick --models "..." --seeds "0 1 2" \
        --lrs "0.025 0.05 0.1 0.2 0.4"   # the result.json files known to be needed now (runfolder.tuning)

``check`` refuses the tuning seed among the reported seeds in every experiment. ``--lrs`` turns the tuning
protocol on (``make methods``; runfolder.tuning): ``check`` then refuses a bad grid too, and ``status`` and
``plan`` count the tuning runs (``status``'s line says so: all runs, the one-recipe board's and the protocol's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import runfolder
from runfolder import DONE, RESULT, MalformedError, done_status, read_result, record_problem, run_dir
from runfolder.tuning import TUNING_SEED, check_tune, parse_grid, plan, record_grid
from runfolder.io import unwritable

from .config import (ConfigError, changed_settings, check_extras, load_matrices, load_profile, parse_overrides,
                     parse_seeds)
from .data import check_data_dir, check_sizes


def run_dirs(args) -> list[Path]:
    """The matrix's run folders, each once (make collapses repeated models and seeds the same way): the reported
    seeds at the profile's rate and, with ``--lrs``, the tuning protocol's runs as far as they are known now."""
    models = list(dict.fromkeys(args.models.split())) or load_matrices()[args.experiment]
    seeds = parse_seeds(args.seeds)
    dirs = reported_dirs(args)
    if args.lrs:  # the tuning runs first: the protocol's next step waits for them
        base_lr = load_profile(args.profile, args.set.split() if args.set else None).lr
        root = Path(args.runs_dir) / args.experiment / args.profile
        dirs = [run_dir(args.runs_dir, args.experiment, args.profile, m, s, lr)
                for m, s, lr in plan(root, models, parse_grid(args.lrs), base_lr, seeds)] + dirs
    return list(dict.fromkeys(dirs))


def reported_dirs(args) -> list[Path]:
    """The reported seeds' run folders at the profile's rate (each model x seed once): the report's runs, the
    one-recipe board's where the tuning protocol is on (:func:`run_dirs` adds its runs to these)."""
    models = list(dict.fromkeys(args.models.split())) or load_matrices()[args.experiment]
    return list(dict.fromkeys(run_dir(args.runs_dir, args.experiment, args.profile, m, s)
                              for m in models for s in parse_seeds(args.seeds)))


def check_reuse(args, dirs: list[Path]) -> None:
    """ConfigError, one line, where a finished run of ``dirs`` (:func:`run_dirs`: those this matrix would
    reuse, make skipping them), or one begun that holds a checkpoint (it would be refused at its resume, after
    the others had trained with this call's settings beside it), was trained with other settings than this
    call's profile and SET ask (its config.yaml's ``config`` against them, a tuning folder's at its rate:
    :func:`experiments.config.changed_settings`), or by other code of a plugin than the installed one (the
    ``source_sha256`` its config.yaml records, :func:`models.plugins.provenance`): the report would show the
    old run's numbers as the new setting's or code's, or pool the two. Reads config.yaml only; a run begun
    without a checkpoint trains anew with this call's settings."""
    from models import parse_name
    from models.names import plugin_provenance

    from .config import at_lr

    overrides = args.set.split() if args.set else None
    base = load_profile(args.profile, overrides)
    installed: dict[str, str | None] = {}  # plugin -> its source's sha256 now, read once
    clashes = []
    for folder in dirs:
        done = done_status(folder) is not None
        if not done and not (folder / runfolder.CHECKPOINT).exists():
            continue  # not started, or started without a checkpoint yet: it trains with this call's settings
        try:
            record = runfolder.read_config(folder / runfolder.CONFIG)
        except runfolder.MalformedError:
            continue
        recorded = record.get("config")
        if not isinstance(recorded, dict):
            continue
        lr = runfolder.seed_and_lr(folder.name)[1]
        asked = (at_lr(base, lr, overrides) if lr is not None else base).to_dict()
        differ = changed_settings(recorded, asked)  # as a resume reads it
        if differ:
            key, (old, new) = next(iter(differ.items()))
            clashes.append((folder, done, f"{key}={old!r}", f"{key}={new!r}", "Give it its settings back (SET)"))
            continue
        trained = record.get("plugin")
        info = parse_name(folder.parent.name)
        if info.plugin and isinstance(trained, dict):
            if info.method not in installed:
                installed[info.method] = plugin_provenance(info.method)["source_sha256"]
            if trained.get("source_sha256") != installed[info.method]:
                clashes.append((folder, done, f"the code of plugin {info.method!r}: source sha256 "
                                f"{str(trained.get('source_sha256'))[:12]}",
                                f"source sha256 {str(installed[info.method])[:12]} (the installed code)",
                                "Reinstall the code it was trained with"))
    if clashes:
        folder, done, was, now, back = clashes[0]
        more = f" (and {len(clashes) - 1} more runs, done or begun)" if len(clashes) > 1 else ""
        if done:
            raise ConfigError(f"{folder} is done, trained with {was} (its config.yaml); this call asks {now}{more}: "
                              "make would report the old run as the new one. Use another RUNS_DIR to keep both, or "
                              "delete the run folder to train it again")
        raise ConfigError(f"{folder} holds a checkpoint of a run begun with {was} (its config.yaml); this call "
                          f"asks {now}{more}: make would train the other runs with these settings beside it. "
                          f"{back} to finish it, use another RUNS_DIR, or delete the run folder to train it anew")


def check_writable(name: str, folder: str) -> None:
    """ConfigError naming ``name`` if ``folder`` cannot be created or written into; nothing is created."""
    why = unwritable(folder)
    if why:
        raise ConfigError(f"{name} {folder!r} cannot be written: {why}; point {name} at a writable folder")


def check(args, build_plugins: bool = True) -> None:
    """Every input the matrix is given, checked before anything trains: ConfigError (or ValueError), one line.
    ``build_plugins=False`` (``plan``, ``status``: make ran ``check`` before them) leaves out building the plugin
    nets the matrix names, which imports torch: about 2 s a call."""
    from models import parse_name
    from models.names import model_axes

    matrices = load_matrices()
    if args.experiment not in matrices:
        raise ConfigError(f"unknown experiment {args.experiment!r}; valid: {', '.join(matrices)}")
    config = load_profile(args.profile, args.set.split() if args.set else None)
    check_sizes(config)
    check_extras(config)
    if not args.models.split():
        raise ConfigError(f"no models given (MODELS is empty); name at least one, e.g. MODELS=\"plain-20 plain-56\", "
                          f"or leave MODELS unset for {args.experiment}'s list: {' '.join(matrices[args.experiment])}")
    infos = [parse_name(model) for model in dict.fromkeys(args.models.split())]
    for info in infos:  # what each run would refuse when it builds its net (a plugin's: check_plugins)
        info.check_init(config.init)
    seen: dict[tuple, str] = {}  # one net under two names (resnet-20, resnet-20-a) would train twice
    for info in infos:
        if info.plugin:
            continue
        what = model_axes(info.name, init=config.init)  # its method and every axis: the net it builds
        key = (info.family, info.depth, what["method"], repr(sorted(what["axes"].items())))
        if key in seen:
            raise ConfigError(f"MODELS names one net twice: {seen[key]} and {info.name} build the same net "
                              f"({what['method']}, shortcut {what['axes']['shortcut']}); name it once")
        seen[key] = info.name
    seeds = parse_seeds(args.seeds)
    if TUNING_SEED in seeds:  # reserved in every experiment: the reports never count its runs
        raise ConfigError(f"bad seed {TUNING_SEED} in SEEDS: it is the tuning protocol's seed, never reported "
                          "(runfolder/tuning.py); choose other seeds")
    tune = check_tune(args.tune)
    if args.lrs_given and not tune:
        raise ConfigError("LRS is given but the tuning protocol is off (TUNE is empty): its grid would be ignored; "
                          "add TUNE=1 (make methods has it on), or leave LRS out")
    if tune and not args.lrs.split():
        raise ConfigError("LRS is empty: the tuning protocol needs at least two learning rates, e.g. LRS=\"0.05 0.1 "
                          "0.2\"; TUNE= turns it off")
    if args.lrs:
        parse_grid(args.lrs)
        clash = sorted({"lr", "warmup_lr"} & set(parse_overrides(args.set.split() if args.set else [])))
        if clash:
            raise ConfigError(f"bad SET {clash[0]}=...: under the tuning protocol each run's folder names its "
                              f"learning rate (the grid LRS, the profile's rate for the one-recipe board); leave "
                              f"{clash[0]} out of SET, or turn tuning off with TUNE=")
    if runfolder.LAYER_RESPONSES in args.outputs.split():
        from .data import dataset, tensor_datasets

        if not dataset(config.dataset).tensors:  # make layer-responses: refused before it trains anything
            raise ConfigError(f"bad dataset {config.dataset!r} for make layer-responses: layer responses need a "
                              f"tensor dataset ({tensor_datasets()}); use a profile or SET=dataset=... with one")
    check_plugins([i.name for i in infos if i.plugin], config, build=build_plugins)
    check_data_dir(args.data_dir, required=args.data_dir_given)


def check_plugins(names: list[str], config, build: bool = True) -> None:
    """Every installed plugin is usable (models.plugins: no name collides with a built-in method, none is
    registered twice), and each plugin net the matrix names builds and passes the builder contract's checks,
    before anything trains: PluginError (a ValueError), one line naming the plugin. A refused plugin the
    matrix does not name is a warning, not an error (it changes no built-in net: built-in names never
    resolve to a plugin). Building imports torch: only for a matrix that names a plugin (and ``build``). The
    nets are built for 10 classes and the dataset's channels, and where the profile sets its ``image_size`` put
    through one training step's work at that size and memory format (models.check_plugin_net); each run checks
    its own again for its data (experiments.run)."""
    from models.names import check_plugins as check_installed
    from models.plugins import PluginError

    try:
        check_installed()
    except PluginError as exc:
        if names:
            raise
        print(f"warning: {exc} (this matrix names no plugin: it is ignored)", file=sys.stderr)
    if names and build:
        from models import check_plugin_net, create_model

        from .config import model_overrides

        from .data import dataset

        channels = dataset(config.dataset).channels
        for name in names:
            if config.image_size:
                check_plugin_net(name, num_classes=10, in_channels=channels, image_size=config.image_size,
                                 channels_last=config.channels_last, **model_overrides(name, config))
            else:
                create_model(name, num_classes=10, in_channels=channels, **model_overrides(name, config))


def status(args) -> int:
    failed, missing, malformed, counts = [], [], [], {}
    dirs = run_dirs(args)
    for d in dirs:
        # The same reading as make's retry list (runfolder.done_status): a damaged result.json, or one that
        # cannot stand for its folder's run, is not a finished run.
        try:
            record = read_result(d / RESULT)
            state = record["status"]
        except MalformedError:
            record, state = None, ("damaged" if (d / RESULT).exists() else "missing")
        if state in DONE and (why := record_problem(d, record)):
            state = "malformed"
            malformed.append((d, why))
        counts[state] = counts.get(state, 0) + 1
        if state == "failed":
            failed.append(d)
        elif state not in DONE and state != "malformed":
            missing.append(d)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if args.lrs:  # the report counts the one-recipe board's runs alone: this line says what it counts besides
        board = len(reported_dirs(args))  # each folder once
        what = (f"all {len(dirs)} runs incl. the tuning protocol's (one-recipe board {board}, tuning protocol "
                f"{len(dirs) - board})")
        print(f"==> {args.experiment} ({args.profile}), {what}: {summary}")
    else:
        print(f"==> {args.experiment} ({args.profile}): {summary}")
    for d in failed:
        print(f"    FAILED: {d} (see {d / 'error.txt'}; the next `make` retries it)", file=sys.stderr)
    for d, why in malformed:
        print(f"    MALFORMED: {d} ({why}; the next `make` trains it again)", file=sys.stderr)
    for d in missing:
        print(f"    NOT DONE: {d}", file=sys.stderr)
    return 1 if failed or missing or malformed else 0


def planned(argv: list[str]) -> list[Path]:
    """The run folders ``plan`` names for these arguments (``--experiment ... --lrs ...``, as make passes them),
    in its order: what the pool trains next when it steps through the tuning protocol itself
    (experiments.pool ``--plan``). ConfigError or ValueError, one line, for bad input."""
    args = _parser().parse_args(["plan", *argv])
    check(args, build_plugins=False)
    dirs = run_dirs(args)
    check_reuse(args, dirs)
    return dirs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.matrix")
    parser.add_argument("command", choices=("makefile", "check", "status", "plan"))
    parser.add_argument("--experiment", default="degradation")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--models", default="")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--reports-dir", default="", help="REPORTS_DIR (check): must be writable")
    parser.add_argument("--data-dir-given", action="store_true", help="DATA_DIR was set by the user: it must exist")
    parser.add_argument("--set", default="", help="space-separated key=value overrides")
    parser.add_argument("--lrs", default="", help="LRS: the tuning protocol's learning-rate grid (empty: no tuning)")
    parser.add_argument("--tune", default="", help="TUNE as make has it (check): 1 or empty; 1 needs a grid in --lrs")
    parser.add_argument("--lrs-given", action="store_true", help="LRS was set by the user (check): TUNE must be on")
    parser.add_argument("--outputs", default="", help="files make measures on each run besides result.json "
                        "(check): layer_responses.csv needs a tensor dataset")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "makefile":
            print("# generated by `python -m experiments.matrix makefile`")
            for name, models in load_matrices().items():
                print(f"MODELS_{name} := {' '.join(models)}")
            # The run folder's names, from runfolder/files.py (their one definition).
            print(f"SEED_PREFIX := {runfolder.SEED_PREFIX}\nRESULT_FILE := {runfolder.RESULT}\n"
                  f"LAYER_RESPONSES_FILE := {runfolder.LAYER_RESPONSES}")
            return 0
        check(args, build_plugins=args.command == "check")
        if args.command in ("check", "plan"):
            dirs = run_dirs(args)  # the tuning plan reads every tuning run's result: once
            check_reuse(args, dirs)
        if args.command == "plan":
            if args.lrs:  # for a later `make report` without LRS (reports.build --tuned)
                record_grid(Path(args.runs_dir) / args.experiment / args.profile, parse_grid(args.lrs))
            print(" ".join(str(d / RESULT) for d in dirs))
            return 0
        if args.command == "status":
            return status(args)
        # Before anything is trained: where runs and the report will be written (status only reads).
        check_writable("RUNS_DIR", args.runs_dir)
        if args.reports_dir:
            check_writable("REPORTS_DIR", args.reports_dir)
            if runfolder.inside_runs(args.reports_dir, args.runs_dir, args.experiment):
                raise ConfigError(f"REPORTS_DIR {args.reports_dir!r} is inside the runs it would report "
                                  f"({str(Path(args.runs_dir) / args.experiment)!r}); point it elsewhere")
        return 0
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
