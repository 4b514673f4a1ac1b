"""How robust is a profile's story? Per-seed checks of the paper's claims over many seeds, and the verdict
on every subset of ``--subset`` seeds (what a user running that many seeds would be told).

    python -m reports.study --runs-dir runs --experiment degradation --profile quick [--subset 3]

Per family (deepest and shallowest depth of each kind, as the verdict): in how many seeds the deep plain
net trains worse than the shallow one, and the deep residual net better than the deep plain one; on the
means, whether the residual nets' depth difference is at most a third of the plain nets' (a description), and
the residual nets' difference over the seeds with its interval (paper Fig. 6: the deeper is better); and in how many
``--subset``-seed subsets the verdict says "reproduced". Prints markdown; reads run folders only.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

from .groups import degradation_sets, families, model_infos
from .runs import Run, discover_runs
from .verdict import FAMILY_NAMES, compare, counted, family_verdict, residual_judgement


def family_study(runs: Sequence[Run], family: str, subset: int = 3) -> str:
    """Markdown: a per-seed table of final training errors (%) and the counts of each claim. Seeds count as
    the verdict counts them (:func:`reports.verdict.counted`): a diverged seed at chance error, marked ``*``
    (left out and said so where no run records its classes, so that chance is unknown);
    a seed without a counted value for each of the four nets (failed, malformed, missing) is named, not used."""
    plain, res = degradation_sets(model_infos(runs), family)
    if len(plain) < 2 or len(res) < 2:
        return f"{FAMILY_NAMES.get(family, family)}: needs two depths of plain and of residual nets.\n"
    p_lo, p_hi, r_lo, r_hi = plain[min(plain)], plain[max(plain)], res[min(res)], res[max(res)]
    vals = {m: counted(runs, m, "train").values for m in (p_lo, p_hi, r_lo, r_hi)}
    seeds = sorted(set.intersection(*(set(v) for v in vals.values())))
    diverged = {(r.model, r.seed) for r in runs if r.status == "diverged"}
    left_out = sorted({r.seed for r in runs if r.model in vals} - set(seeds))
    uncounted = sorted({s for m, s in diverged if m in vals and s not in vals[m]})  # no classes recorded

    def cell(m: str, s: int) -> str:
        return f"{vals[m][s]:.1f}" + ("*" if (m, s) in diverged else "")

    lines = [f"### {FAMILY_NAMES.get(family, family)}", "",
             f"| seed | {p_lo} | {p_hi} | {r_lo} | {r_hi} | {p_hi} > {p_lo} | {r_hi} < {p_hi} |",
             "|---:|---:|---:|---:|---:|:---:|:---:|"]
    degrade = shortcut = 0
    for s in seeds:
        a, b, c, d = (vals[m][s] for m in (p_lo, p_hi, r_lo, r_hi))
        degrade += b > a
        shortcut += d < b
        lines.append(f"| {s} | {' | '.join(cell(m, s) for m in (p_lo, p_hi, r_lo, r_hi))} | "
                     f"{'yes' if b > a else 'NO'} | {'yes' if d < b else 'NO'} |")
    n = len(seeds)
    mean = {m: sum(vals[m][s] for s in seeds) / n for m in vals} if n else {}
    lines.append("")
    if any(m in vals and s in seeds for m, s in diverged):
        lines.append("- `*`: diverged, entered at chance error (as the verdict counts it).")
    if uncounted:
        lines.append(f"- Left out: diverged seed{'s' if len(uncounted) > 1 else ''} {', '.join(map(str, uncounted))}"
                     ", no chance error known (no run records its classes).")
    if other := [s for s in left_out if s not in uncounted]:
        lines.append(f"- Left out (no counted value for each of the four nets: failed, malformed or missing): seed"
                     f"{'s' if len(other) > 1 else ''} {', '.join(map(str, other))}.")
    lines.append(f"- {p_hi} > {p_lo} in {degrade} of {n} seeds; {r_hi} < {p_hi} in {shortcut} of {n} seeds.")
    if n:
        gap_p, gap_r = mean[p_hi] - mean[p_lo], mean[r_hi] - mean[r_lo]
        ok = gap_p > 0 and gap_r <= gap_p / 3
        lines.append(f"- On the means over {n} seeds (a description, not a test): {r_hi} − {r_lo} = {gap_r:+.2f} is "
                     f"{'at most' if ok else 'NOT at most'} a third of {p_hi} − {p_lo} = {gap_p:+.2f} "
                     f"({gap_p / 3:+.2f}).")
        used = [r for r in runs if r.seed in seeds]
        res = compare(used, r_hi, r_lo, "train")
        lines.append(f"- The residual nets over the {n} seeds, {res.text()}: {residual_judgement(res, runs=used)} "
                     "(the paper's Fig. 6: the deeper residual net trains better).")
    if n >= subset:
        combos = list(itertools.combinations(seeds, subset))
        keep = [r for r in runs if r.model in vals]
        told = [family_verdict([r for r in keep if r.seed in c], family).headline for c in combos]
        counts = {h: told.count(h) for h in dict.fromkeys(told)}
        lines.append(f"- The verdict on each of the {len(combos)} subsets of {subset} seeds: "
                     + "; ".join(f"{h}: {k}" for h, k in counts.items()) + ".")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--experiment", default="degradation")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--subset", type=int, default=3, help="seeds per subset for the verdict count (default 3)")
    args = parser.parse_args(argv)
    root = Path(args.runs_dir) / args.experiment / args.profile
    if not root.is_dir():  # a typo in any of the three read as an empty study
        print(f"error: no folder {str(root)!r}: check --runs-dir, --experiment and --profile", file=sys.stderr)
        return 2
    if args.subset < 1:
        print(f"error: bad --subset {args.subset}: seeds per subset, an integer >= 1", file=sys.stderr)
        return 2
    try:
        runs = discover_runs(args.runs_dir, args.experiment, args.profile).runs
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"## Seed study: {args.experiment} / {args.profile} ({args.runs_dir})\n")
    for family in families(runs):
        print(family_study(runs, family, args.subset))
    return 0


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
