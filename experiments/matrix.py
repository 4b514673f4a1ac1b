"""The matrix seen from make: the model lists, input checks and the closing status.

    python -m experiments.matrix makefile            # MODELS_<experiment> := ... for the Makefile
    python -m experiments.matrix check  --experiment degradation --profile quick --models "..." --seeds "0 1"
    python -m experiments.matrix status --experiment degradation --profile quick --models "..." --seeds "0 1"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError, load_matrices, load_profile, parse_seeds
from .runfolder import DONE, RESULT, read_status, run_dir


def run_dirs(args) -> list[Path]:
    models = args.models.split() or load_matrices()[args.experiment]
    return [run_dir(args.runs_dir, args.experiment, args.profile, m, s) for m in models for s in parse_seeds(args.seeds)]


def check(args) -> None:
    from models import parse_name

    matrices = load_matrices()
    if args.experiment not in matrices:
        raise ConfigError(f"unknown experiment {args.experiment!r}; valid: {', '.join(matrices)}")
    load_profile(args.profile, args.set.split() if args.set else None)
    for model in args.models.split():
        parse_name(model)
    parse_seeds(args.seeds)
    if args.data_dir_given and not Path(args.data_dir).is_dir():
        raise ConfigError(f"DATA_DIR {args.data_dir!r} does not exist; create it or point DATA_DIR at your datasets")


def status(args) -> int:
    failed, missing, counts = [], [], {}
    for d in run_dirs(args):
        # The same reader make's retry list uses: a damaged result.json is not a finished run.
        state = read_status(d / RESULT) or ("damaged" if (d / RESULT).exists() else "missing")
        counts[state] = counts.get(state, 0) + 1
        if state == "failed":
            failed.append(d)
        elif state not in DONE:
            missing.append(d)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"==> {args.experiment} ({args.profile}): {summary}")
    for d in failed:
        print(f"    FAILED: {d} (see {d / 'error.txt'}; the next `make` retries it)", file=sys.stderr)
    for d in missing:
        print(f"    NOT DONE: {d}", file=sys.stderr)
    return 1 if failed or missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.matrix")
    parser.add_argument("command", choices=("makefile", "check", "status"))
    parser.add_argument("--experiment", default="degradation")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--models", default="")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--data-dir-given", action="store_true", help="DATA_DIR was set by the user: it must exist")
    parser.add_argument("--set", default="", help="space-separated key=value overrides")
    args = parser.parse_args(argv)
    try:
        if args.command == "makefile":
            for name, models in load_matrices().items():
                print(f"MODELS_{name} := {' '.join(models)}")
            return 0
        check(args)
        return status(args) if args.command == "status" else 0
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
