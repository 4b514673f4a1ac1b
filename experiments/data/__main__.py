"""``python -m experiments.data prepare --profile quick --data-dir data [--set "k=v ..."]``: find or fetch a
profile's data, the profile's dataset as make's ``SET`` leaves it (:mod:`experiments.data`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import load_profile
from ..errors import refusing_bad_input
from . import check_folder_sizes, ensure_available


@refusing_bad_input
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.data", description="find or fetch a profile's data")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="find or fetch a profile's dataset")
    prep.add_argument("--profile", default="quick")
    prep.add_argument("--data-dir", default="data")
    prep.add_argument("--set", default="", help="space-separated key=value overrides, as make's SET "
                      "(SET=dataset=fashion-mnist makes the paper profile's data Fashion-MNIST)")
    args = parser.parse_args(argv)
    config = load_profile(args.profile, args.set.split() if args.set else None)
    ensure_available(config.dataset, Path(args.data_dir), fetch=True)
    check_folder_sizes(config, Path(args.data_dir))  # before make trains anything: each run would refuse it
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
