"""The checks of bench/gpu_paper_check.sh (issue 14): the paper profile on a GPU, end to end.

    python3 -m bench.gpu_paper_check resume --killed A --uninterrupted B --kill-at K
    python3 -m bench.gpu_paper_check fig6 --run-root RUNS/degradation/paper --skip 1000
    python3 -m bench.gpu_paper_check timed-run --run-dir RUNS/degradation/paper/resnet-56/seed0 --data-dir D --set k=v ...
    python3 -m bench.gpu_paper_check throughput --root TP --counts "1 2 4" --csv throughput.csv

Each check prints ``PASS <what>`` or ``FAIL <what>`` lines (and the figures behind them) and exits 1 when
any check failed, 2 when its input is missing. The run folders are read with the report side's reader
(:func:`reports.runs.tidy_metrics`), so the checks need pandas but not torch; ``timed-run`` trains.

Why ``timed-run``: ``result.json``'s ``images_per_second`` counts from the start of training, so for a
short run it is mostly the first step's compilation (20-40 s on a GPU). The throughput of concurrent runs
is measured instead over the window in which all of them are past their first ``--skip`` iterations:
each run records (wall time, iteration) every ``--every`` iterations after a device sync, and the summed
images/s is the iterations all runs did inside the common window, times the batch, over its length.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runfolder import DONE, RESULT, SEED_PREFIX, read_status  # noqa: E402

TIMINGS = "timings.json"


def say(ok: bool, what: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {what}", flush=True)
    return ok


def train_points(run: Path):
    """(steps, train errors in %) of a run's logged training points, in step order."""
    from reports.runs import tidy_metrics

    m, _ = tidy_metrics(run / "metrics.csv")
    t = m[m.split == "train"].sort_values("step")
    return t.step.to_numpy(), t.error.to_numpy()


def eval_points(run: Path, split: str):
    from reports.runs import tidy_metrics

    m, _ = tidy_metrics(run / "metrics.csv")
    e = m[m.split == split].sort_values("step")
    return e.step.to_numpy(), e.error.to_numpy()


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_config(run: Path) -> dict:
    import yaml

    try:
        return (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("config", {})
    except (OSError, yaml.YAMLError):
        return {}


def grad_norm_check(run: Path, label: str, eval_every: int) -> bool:
    """Every recorded gradient norm finite and > 0; the records right after each evaluation present."""
    import pandas as pd

    path = run / "grad_norms.csv"
    if not path.is_file():
        return say(False, f"{label}: no grad_norms.csv")
    g = pd.read_csv(path)
    per_step = g.groupby("step")["norm"].agg(["min", "max", "count"])
    bad = per_step[~((per_step["min"] > 0) & per_step["max"].map(math.isfinite))]
    after_eval = [s for s in per_step.index if s and s % eval_every == 0]
    print(f"  {label}: grad norms at {len(per_step)} steps ({per_step.index.min()}..{per_step.index.max()}), "
          f"{int(per_step['count'].iloc[0])} layers; smallest norm per step: "
          + " ".join(f"{s}:{v:.3g}" for s, v in per_step["min"].items()))
    ok = say(bad.empty, f"{label}: gradient norms never zero or non-finite"
             + ("" if bad.empty else f" (zero or non-finite at steps {list(bad.index)[:10]})"))
    return say(bool(after_eval) and ok,
               f"{label}: norms recorded right after the evaluations (steps {after_eval[:8]}) are non-zero") and ok


def interval_means(steps, errors, every: int) -> list[tuple[int, float]]:
    """Mean training error of each evaluation interval (k*every, (k+1)*every], keyed by its end."""
    out = []
    for end in range(every, int(max(steps)) + 1, every):
        sel = [e for s, e in zip(steps, errors) if end - every < s <= end]
        if sel:
            out.append((end, sum(sel) / len(sel)))
    return out


# --- 1. the resume check ----------------------------------------------------------------------------------
def resume(args) -> int:
    a, b = Path(args.killed), Path(args.uninterrupted)
    cfg = run_config(b) or run_config(a)
    if not cfg:
        print(f"error: no config.yaml in {b} or {a}", file=sys.stderr)
        return 2
    every, log_every, batch = cfg["eval_every"], cfg["log_every"], cfg["batch_size"]
    resume_at = (args.kill_at // every) * every
    ok = True
    ra, rb = read_json(a / "result.json"), read_json(b / "result.json")
    ok &= say(ra.get("status") == "ok" and ra.get("resumed_from") == resume_at
              and ra.get("iterations") == cfg["max_steps"],
              f"killed run resumed from iteration {resume_at} and finished: status {ra.get('status')}, "
              f"resumed_from {ra.get('resumed_from')}, iterations {ra.get('iterations')}")
    ok &= say(rb.get("status") == "ok", f"uninterrupted run finished: status {rb.get('status')}")
    for run, label in ((a, "killed+resumed"), (b, "uninterrupted")):
        ok &= grad_norm_check(run, label, every)
    # Training error keeps falling after the first evaluation (the bug: it stopped there), and after the resume.
    for run, label in ((a, "killed+resumed"), (b, "uninterrupted")):
        if not (run / "metrics.csv").is_file():
            ok &= say(False, f"{label}: no metrics.csv")
            continue
        steps, errors = train_points(run)
        means = interval_means(steps, errors, every)
        print(f"  {label}: mean training error per evaluation interval (end: %): "
              + " ".join(f"{e}:{m:.2f}" for e, m in means))
        m = dict(means)
        first, second, last = m.get(every), m.get(2 * every), means[-1][1] if means else None
        if None in (first, second, last):
            ok &= say(False, f"{label}: too few evaluation intervals to tell whether training error falls")
        else:
            ok &= say(last < second < first, f"{label}: training error falls after the first evaluation "
                                            f"(interval means {first:.2f} > {second:.2f} > last {last:.2f})")
        if run == a and (3 * every) in m:
            ok &= say(m[3 * every] < m[2 * every],
                      f"{label}: training error lower in the interval after the resume ({m[3 * every]:.2f}) "
                      f"than before it ({m[2 * every]:.2f})")
    # Final errors within the noise of the uninterrupted run.
    fa, fb = ra.get("final", {}), rb.get("final", {})
    n_eval = {"val": cfg["eval_limit"] or cfg["val_size"], "test": cfg["eval_limit"] or 10000,
              "train": log_every * batch}
    for split in ("train", "val", "test"):
        x, y = fa.get(split), fb.get(split)
        if x is None or y is None:
            ok &= say(False, f"final {split} error missing (resumed {x}, uninterrupted {y})")
            continue
        p = min(max((x + y) / 200, 1e-3), 0.999)
        sd = 100 * math.sqrt(2 * p * (1 - p) / n_eval[split])  # SD of the difference of two such estimates
        tol = max(args.tol, 3 * sd)
        ok &= say(abs(x - y) <= tol, f"final {split} error, resumed {x:.2f}% vs uninterrupted {y:.2f}%: "
                                     f"difference {abs(x - y):.2f} <= {tol:.2f} points (3 sampling SDs of the "
                                     f"difference over {n_eval[split]} images, at least {args.tol})")
    print(f"  metrics.csv rows up to the kill's checkpoint (iteration {resume_at}): "
          f"{_prefix_state(a, b, resume_at)} (a GPU run is not bit-reproducible: cuDNN's algorithm choice)")
    return 0 if ok else 1


def _prefix_state(a: Path, b: Path, step: int) -> str:
    """Whether the two runs' metrics.csv rows up to ``step`` are identical: "identical (N rows)", "differ", or
    why they were not compared (a file missing, or a run that did not get past ``step``: a stage that timed
    out before its kill)."""
    try:
        la, lb = ((p / "metrics.csv").read_text().splitlines() for p in (a, b))
    except OSError:
        return "not compared (a metrics.csv is missing)"
    steps = lambda lines: [float(ln.split(",")[0]) for ln in lines[1:] if ln]  # noqa: E731
    if not all(any(x > step for x in steps(lines)) for lines in (la, lb)):
        return f"not compared (a run has no row past iteration {step})"
    keep = lambda lines: [ln for ln in lines[1:] if ln and float(ln.split(",")[0]) <= step]  # noqa: E731
    return f"identical ({len(keep(la))} rows)" if keep(la) == keep(lb) else "differ"


# --- 2. Fig. 6 --------------------------------------------------------------------------------------------
def fig6(args) -> int:
    root = Path(args.run_root)
    runs = {m: root / m / f"{SEED_PREFIX}{args.seed}" for m in ("plain-20", "plain-56", "resnet-20", "resnet-56")}
    missing = [m for m, r in runs.items() if read_status(r / RESULT) not in DONE]
    curves = {}
    for m, r in runs.items():
        if (r / "metrics.csv").is_file():
            s, e = train_points(r)
            curves[m] = dict(zip(s.tolist(), e.tolist()))
    print("  final errors (%) and images/s from result.json:")
    for m, r in runs.items():
        res = read_json(r / "result.json")
        f = {k: (f"{v:.2f}" if isinstance(v, (int, float)) else v) for k, v in res.get("final", {}).items()}
        print(f"    {m:10s} status {res.get('status')}  train {f.get('train')}  val {f.get('val')}  "
              f"test {f.get('test')}  iterations {res.get('iterations')}  images/s {res.get('images_per_second')}  "
              f"wall {res.get('wall_seconds')} s")
    ok = say(not missing, "all four runs finished" + (f" (not: {', '.join(missing)})" if missing else ""))
    for deep, shallow, want in (("plain-56", "plain-20", "above"), ("resnet-56", "resnet-20", "below")):
        if deep not in curves or shallow not in curves:
            ok &= say(False, f"{deep} {want} {shallow}: curves missing")
            continue
        common = sorted(set(curves[deep]) & set(curves[shallow]))
        diff = [(s, curves[deep][s] - curves[shallow][s]) for s in common]
        sign = 1 if want == "above" else -1
        wrong_all = [s for s, d in diff if sign * d <= 0]
        late = [(s, d) for s, d in diff if s >= args.skip]
        wrong = [s for s, d in late if sign * d <= 0]
        margin = min((sign * d for _, d in late), default=float("nan"))
        print(f"  {deep} - {shallow}, training error (points): "
              + " ".join(f"{s}:{d:+.1f}" for s, d in diff[:: max(1, len(diff) // 16)]))
        ok &= say(bool(late) and not wrong,
                  f"{deep} {want} {shallow} in training error at every logged point from iteration {args.skip} "
                  f"({len(late) - len(wrong)}/{len(late)} points; smallest margin {margin:.2f} points"
                  + (f"; not at {wrong[:8]}" if wrong else "") + ")")
        print(f"  ({deep} {want} {shallow} at {len(diff) - len(wrong_all)}/{len(diff)} of all logged points"
              + (f"; not at {wrong_all[:8]}" if wrong_all else "") + ")")
    cfg = run_config(runs["plain-56"])
    if cfg:
        for m, r in runs.items():
            if (r / "grad_norms.csv").is_file():
                ok &= grad_norm_check(r, m, cfg["eval_every"])
    return 0 if ok else 1


# --- 3. throughput of concurrent runs ---------------------------------------------------------------------
def timed_run(args) -> int:
    """One run through the suite's own training path, with (wall time, iteration) recorded."""
    import pytorch_lightning as pl
    import torch

    from experiments.config import load_profile
    from experiments.data import ensure_available
    from runfolder.io import atomic_write_json
    from experiments.run import run_path
    from runfolder import write_result
    from experiments.training.train import train

    class Stamps(pl.Callback):
        def __init__(self, every: int) -> None:
            self.every, self.records = every, []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step % self.every == 0:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self.records.append((time.time(), trainer.global_step))

    spec = run_path(args.run_dir)
    config = load_profile(spec.profile, args.set)
    ensure_available(config.dataset, Path(args.data_dir), fetch=False)
    stamps = Stamps(args.every)
    started = time.time()
    result = train(spec, config, Path(args.data_dir),
                   trainer_kwargs=lambda kw: {**kw, "callbacks": [*kw["callbacks"], stamps]})
    write_result(spec.dir / RESULT, result)
    atomic_write_json(spec.dir / TIMINGS, {"started": started, "batch_size": config.batch_size,
                                           "records": stamps.records})
    return 0


def _steps_at(records, t: float) -> float:
    """Iterations done at wall time t, interpolated between records."""
    for (t0, s0), (t1, s1) in zip(records, records[1:]):
        if t0 <= t <= t1:
            return s0 + (s1 - s0) * (t - t0) / (t1 - t0) if t1 > t0 else s1
    return float(records[-1][1] if t > records[-1][0] else records[0][1])


def throughput(args) -> int:
    root = Path(args.root)
    rows, ok = [], True
    for n in map(int, args.counts.split()):
        timings = [read_json(p) for p in sorted((root / f"n{n}").glob(f"**/{TIMINGS}"))]
        results = [read_json(p.parent / "result.json") for p in sorted((root / f"n{n}").glob(f"**/{TIMINGS}"))]
        recs = [[r for r in t.get("records", []) if r[1] >= args.skip] for t in timings]
        if len(recs) != n or any(len(r) < 2 for r in recs):
            ok &= say(False, f"{n} concurrent runs: {len(recs)} timed runs of {n} finished")
            rows.append({"runs": n})
            continue
        batch = timings[0]["batch_size"]
        start, end = max(r[0][0] for r in recs), min(r[-1][0] for r in recs)
        spans = [r[-1][0] - r[0][0] for r in recs]
        if end - start < 0.2 * min(spans):
            ok &= say(False, f"{n} concurrent runs: their steady states overlap for {end - start:.1f} s only")
            rows.append({"runs": n})
            continue
        summed = sum(_steps_at(r, end) - _steps_at(r, start) for r in recs) * batch / (end - start)
        alone = [(r[-1][1] - r[0][1]) * batch / (r[-1][0] - r[0][0]) for r in recs]
        first = [r[0][0] - t["started"] for r, t in zip(recs, timings)]
        rows.append({"runs": n, "summed_images_per_s": round(summed), "per_run_images_per_s": round(summed / n),
                     "window_s": round(end - start, 1),
                     "per_run_own_window": " ".join(str(round(x)) for x in alone),
                     "start_to_iteration_skip_s": " ".join(f"{x:.0f}" for x in first),
                     "result_json_images_per_s_sum": round(sum(r.get("images_per_second") or 0 for r in results))})
    one = next((r.get("summed_images_per_s") for r in rows if r["runs"] == 1), None)
    print(f"  {'runs':>4} {'summed img/s':>12} {'per run':>8} {'vs 1 run':>8} {'window s':>8}  own-window img/s per run; "
          "start->steady s; sum of result.json images_per_second (start-up included)")
    for r in rows:
        if "summed_images_per_s" not in r:
            print(f"  {r['runs']:>4} {'-':>12}")
            continue
        ratio = f"{r['summed_images_per_s'] / one:.2f}" if one else "-"
        print(f"  {r['runs']:>4} {r['summed_images_per_s']:>12} {r['per_run_images_per_s']:>8} {ratio:>8} "
              f"{r['window_s']:>8}  {r['per_run_own_window']}; {r['start_to_iteration_skip_s']}; "
              f"{r['result_json_images_per_s_sum']}")
    if args.csv:
        import csv

        keys = ["runs", "summed_images_per_s", "per_run_images_per_s", "window_s", "per_run_own_window",
                "start_to_iteration_skip_s", "result_json_images_per_s_sum"]
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    best = max((r for r in rows if "summed_images_per_s" in r), key=lambda r: r["summed_images_per_s"], default=None)
    if best:
        print(f"  most images/s summed: {best['runs']} run(s) at once ({best['summed_images_per_s']} images/s)")
    return 0 if ok else 1


# --- 4. every method through the recorded step ---------------------------------------------------------
def methods(args) -> int:
    """Each method's run finished (ok, or diverged with its reason named), and every parameter of each ok net
    moved from its initial value: the net rebuilt as the run built it (its seed, then create_model with the
    run's overrides, experiments.training.train) against its last checkpoint."""
    import pytorch_lightning as pl
    import torch

    from experiments.config import RunConfig, model_overrides
    from models import create_model

    ok = True
    for model in args.models.split():
        run = Path(args.run_root) / model / f"{SEED_PREFIX}0"
        res = read_json(run / RESULT)
        status = res.get("status")
        final = res.get("final", {})
        print(f"  {model:16s} status {status}  train {final.get('train')}  iterations {res.get('iterations')}  "
              f"images/s {res.get('images_per_second')}" + (f"  diverged: {res.get('diverged_reason')} at "
                                                            f"{res.get('diverged_at')}" if status == "diverged" else ""))
        if status != "ok":
            ok &= say(status == "diverged", f"{model}: {status or 'no result.json'}")
            continue
        cfg = RunConfig(**run_config(run))
        state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
        pl.seed_everything(0, workers=True, verbose=False)
        net = create_model(model, num_classes=10, in_channels=1, **model_overrides(model, cfg))
        still = [n for n, p in net.named_parameters() if torch.equal(p.detach(), state[f"model.{n}"].float())]
        ok &= say(not still, f"{model}: every one of its {sum(1 for _ in net.parameters())} parameters moved "
                             f"from its initial value" + (f" (not: {', '.join(still[:6])})" if still else ""))
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_paper_check", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("resume")
    p.add_argument("--killed", required=True)
    p.add_argument("--uninterrupted", required=True)
    p.add_argument("--kill-at", type=int, required=True)
    p.add_argument("--tol", type=float, default=1.0, help="smallest tolerance for the final errors, in points")
    p = sub.add_parser("fig6")
    p.add_argument("--run-root", required=True, help="<runs>/degradation/paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", type=int, default=0, help="compare the curves from this iteration on")
    p = sub.add_parser("timed-run")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--set", nargs="*", default=[])
    p.add_argument("--every", type=int, default=50)
    p = sub.add_parser("throughput")
    p.add_argument("--root", required=True)
    p.add_argument("--counts", default="1 2 4")
    p.add_argument("--skip", type=int, default=100, help="time from this iteration on (after compilation)")
    p.add_argument("--csv", default="")
    p = sub.add_parser("methods")
    p.add_argument("--run-root", required=True, help="<runs>/methods/paper")
    p.add_argument("--models", required=True)
    args = ap.parse_args(argv)
    return {"resume": resume, "fig6": fig6, "timed-run": timed_run, "throughput": throughput,
            "methods": methods}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
