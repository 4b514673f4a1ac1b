"""How fast the suite trains, and what each part of the training path costs: ``make bench``.

    python -m bench --out-dir reports/generated/bench     # whatever device there is (from the repository root)
    python -m bench --device cuda --compile-modes default,reduce-overhead
    python -m bench --with-matrix                         # also time `make degradation`
    python -m bench --smoke                               # seconds: does it all run?

Items (the first column of the table; BENCHMARKS.md holds measured numbers and the goals):
  1  the project's Lightning training path (experiments.training.train.train itself: DegradationModule, pl.Trainer as
     a run configures it, TrainBatches) against a plain PyTorch loop over the same batches, same model,
     batch size, precision and threads: images/s each and the ratio.
  2  the real input pipeline (TrainBatches with pad-crop-flip augmentation, as the paper profile) against
     training on one pre-made batch repeated, both through the Lightning path: the ratio.
  3  the project's path against the classic CIFAR script (torch DataLoader, 2 workers, per-sample PIL
     RandomCrop(32, 4) + flip + ToTensor + Normalize, fp32, NCHW, .item() every step): the ratio.
  4  images/s and peak memory of every model of the degradation matrix with the profile's width and stem
     (peak RSS growth on a CPU, torch.cuda.max_memory_allocated on a GPU).
  5  (--with-matrix) wall time of `make degradation` in a fresh RUNS_DIR, from nothing to the report.
  6  the cost of the gradient-norm recorder (experiments.training.gradients, switched on by the config's
     grad_norm_every), at every iteration (--grad-every) against the profile's setting
     (see bench.speed.gradient_norms).

Method: images/s are counted between the end of a warm-up step and the end of the last step, with one
device sync at each end and none in between, so start-up, compilation, the final evaluation and the
checkpoint are excluded (they are reported apart: "first step s", "fit s"). Arms that are compared run
interleaved (A, B, A, B, ...) in one process and the ratio is the median of the per-pair ratios, since the
CPUs of a shared machine are noisy; on a CPU, a repeat during which another process took the cores (more
than CONTENDED_PER_S involuntary context switches a second) is set aside and run again. Data are synthetic
tensors of the profile's image shape (the speed of a step does not depend on what the pixels show), so the
bench needs no dataset. Compiled runs start from a fresh dynamo, as each run does in its own process.

Output: a table on stdout and, written atomically, ``<out-dir>/bench-<device>.csv`` (one row per
measurement) and ``bench-<device>.json`` (environment and settings). The CSV is rewritten after every row,
so an interrupted bench leaves what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from experiments.config import ConfigError, RunConfig, load_profile
from experiments.data import Tensors
from models.names import parse_name
from runfolder.io import atomic_write_json, atomic_write_text, unwritable
from experiments.training.provenance import provenance

from .matrix import section_matrix
from .paths import Runner, bench_tensors, stop_if_interrupted, variant_config
from .per_model import section_models
from .speed import gradient_norms, section_arms, section_classic, section_compile, section_profile
from .table import Table


@dataclass
class Plan:
    profile: str
    shape: tuple[int, int, int]
    model: str  # items 1, 2, 3, 6
    steps: int  # per run of the interleaved arms (items 1, 2, 6)
    warmup: int
    repeats: int
    classic_steps: int
    classic_warmup: int
    classic_repeats: int
    model_steps: int  # item 4
    model_warmup: int
    compile_steps: int
    compile_warmup: int
    train_images: int
    eval_images: int
    batch_size: int | None = None  # None: the profile's
    retry_contended: bool = True  # on a CPU, run contended repeats again (bench/speed.py, _run_arms)


# The quick profile's image shape, as it trains: Fashion-MNIST's one channel at its image_size (14x14 since the
# profile halved the images; the bench once kept 28x28, a shape no quick run uses).
_QUICK_SIZE = load_profile("quick").image_size or 28
QUICK_SHAPE = (1, _QUICK_SIZE, _QUICK_SIZE)

PLANS = {
    # 2 CPU cores: about 1 minute. The quick profile's shape (QUICK_SHAPE) for items 1, 2, 4, 6.
    "cpu": Plan("quick", QUICK_SHAPE, "resnet-20", steps=10, warmup=2, repeats=4, classic_steps=8, classic_warmup=2,
                classic_repeats=2, model_steps=6, model_warmup=1, compile_steps=0, compile_warmup=0,
                train_images=8192, eval_images=128),
    # One H100/H200: the paper profile (CIFAR-10, 3x32x32, bf16, channels_last); about 4 minutes with compiles.
    "cuda": Plan("paper", (3, 32, 32), "resnet-56", steps=300, warmup=60, repeats=2, classic_steps=200,
                 classic_warmup=40, classic_repeats=2, model_steps=120, model_warmup=40, compile_steps=400,
                 compile_warmup=100, train_images=45000, eval_images=1000),
    # --smoke: every code path in seconds: small batches, and no repeat for contention (its numbers mean nothing).
    "smoke": Plan("quick", QUICK_SHAPE, "resnet-20", steps=3, warmup=1, repeats=1, classic_steps=3, classic_warmup=1,
                  classic_repeats=1, model_steps=2, model_warmup=1, compile_steps=3, compile_warmup=1,
                  train_images=512, eval_images=64, batch_size=16, retry_contended=False),
}


def environment(device: torch.device, threads: int) -> dict:
    """A run's provenance (experiments/training/provenance.py: commit, host, versions) plus what a timing depends on."""
    import torchmetrics

    record = provenance()
    env = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": record["hostname"], **record["versions"],
           "torchmetrics": torchmetrics.__version__, "threads": threads, "cpus": os.cpu_count(),
           "cpu": platform.processor() or platform.machine(),
           "git_commit": record["git_commit"], "git_dirty": record["git_dirty"]}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cudnn"] = torch.backends.cudnn.version()
    return env


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="reports/generated/bench")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--profile", help="profile whose settings are benched (default: quick on a CPU, paper on a GPU)")
    parser.add_argument("--model", help="model of items 1, 2, 3 and 6 (default: resnet-20 on a CPU, resnet-56 on a GPU)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats of items 1, 2, 6")
    parser.add_argument("--steps", type=int, help="steps per run of items 1, 2, 6 (warm-up included)")
    parser.add_argument("--items", default="1,2,3,4,6", help="which items to run (5 is --with-matrix)")
    parser.add_argument("--compile-modes", default="",
                        help="GPU: variants to bench through both paths, comma-separated: eager or a torch.compile "
                             "mode, each optionally + '/graph' (the whole-step CUDA graph), e.g. "
                             "eager/graph,default/graph,reduce-overhead ('' = the profile's setting only)")
    parser.add_argument("--models", help="item 4's models (default: the degradation matrix)")
    parser.add_argument("--grad-every", type=int, default=1,
                        help="item 6: record gradient norms every N iterations (default 1: the worst case)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the classic script (default 2)")
    parser.add_argument("--profile-steps", type=int, default=0, help="GPU: torch.profiler over this many steps")
    parser.add_argument("--profile-mode", default="",
                        help="GPU: variant of the profiled run ('' = as items 1/2/6; else as in --compile-modes)")
    parser.add_argument("--arms-eager", action="store_true",
                        help="GPU: items 1, 2, 6 without torch.compile and without the step graph")
    parser.add_argument("--compile-no-plain", action="store_true", help="compile section: the Lightning path only")
    parser.add_argument("--sync-check", action="store_true", help="GPU: count host-device syncs in item 1's window")
    parser.add_argument("--budget-s", type=float, default=0, help="skip what is left after this many seconds")
    parser.add_argument("--with-matrix", action="store_true",
                        help="item 5: time `make degradation` (quick profile) in a fresh RUNS_DIR; minutes")
    parser.add_argument("--matrix-args", default="", help="extra make arguments for item 5, e.g. '-j 2'")
    parser.add_argument("--order", default="arms,classic,compile,profile,models",
                        help="sections in the order to run them: arms (items 1, 2, 6), classic (3), compile (the "
                             "--compile-modes; compile:<mode>[+<mode>] for some), profile, models (4), matrix (5)")
    parser.add_argument("--smoke", action="store_true", help="a few steps of everything: checks that it runs")
    return parser


SECTIONS = {"arms": section_arms, "classic": section_classic, "profile": section_profile, "models": section_models,
            "matrix": section_matrix}


def compile_variants(name: str, args) -> list[str]:
    """The variants of a ``compile`` or ``compile:<variant>[+<variant>]`` section of --order."""
    tokens = args.compile_modes.split(",") if name == "compile" else name.split(":", 1)[1].split("+")
    return [t.strip() for t in tokens if t.strip()]


def check_args(args) -> None:
    """Every section name and variant, before anything runs or is written: ConfigError naming the bad one."""
    variants = compile_variants("compile", args)  # --compile-modes
    for name in (n.strip() for n in args.order.split(",") if n.strip()):
        if name.startswith("compile:"):
            variants += compile_variants(name, args)
        elif name != "compile" and name not in SECTIONS:
            raise ConfigError(f"unknown section {name!r} in --order; valid: {', '.join(SECTIONS)}, compile, "
                              "compile:<variant>[+<variant>]")
    if args.profile_mode:
        variants.append(args.profile_mode)
    base = RunConfig()
    for token in variants:
        variant_config(base, token)
    if args.profile is not None:
        load_profile(args.profile)  # ConfigError naming the profiles
    for name in [args.model or "", *(args.models or "").split()]:
        if name:
            try:
                parse_name(name)
            except ValueError as exc:
                raise ConfigError(f"bad model {name!r}: {exc}") from None
    items = [t.strip() for t in args.items.split(",") if t.strip()]
    if not items or any(t not in ("1", "2", "3", "4", "5", "6") for t in items):
        raise ConfigError(f"bad --items {args.items!r}: a comma list of 1 to 6 (5 is --with-matrix's)")
    order = [n.strip() for n in args.order.split(",") if n.strip()]
    if set(items) == {"5"} and not args.with_matrix and "matrix" not in order:
        raise ConfigError("bad --items 5 alone: item 5 is the matrix, which runs with --with-matrix (or 'matrix' "
                          "in --order); give one of them, or other items")
    for flag, value, least in (("--steps", args.steps, 1), ("--repeats", args.repeats, 1),
                               ("--threads", args.threads, 0), ("--workers", args.workers, 0),
                               ("--grad-every", args.grad_every, 1), ("--profile-steps", args.profile_steps, 0),
                               ("--budget-s", args.budget_s, 0)):
        if value is not None and not value >= least:  # not >=: NaN too
            raise ConfigError(f"bad {flag} {value!r}: at least {least}"
                              + (" (0: " + {"--threads": "all cores", "--budget-s": "no budget",
                                            "--profile-steps": "no profile", "--workers": "none"}[flag] + ")"
                                 if least == 0 else ""))
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bad --device cuda: torch sees no GPU here; valid: auto, cpu")
    if why := unwritable(args.out_dir):
        raise ConfigError(f"--out-dir {args.out_dir!r} cannot be written: {why}")


@dataclass
class Session:
    """One bench invocation: what every section reads (the plan, the configs, the data, the runner) and
    where it writes (the table, ``settings`` and ``state`` for the JSON and for sections that reuse runs)."""

    args: argparse.Namespace
    kind: str  # "cpu" or "cuda"
    plan: Plan
    model: str  # of items 1, 2, 3, 6
    threads: int
    items: set[int]
    out_dir: Path
    tmp: Path
    table: Table
    base: RunConfig  # the profile's config
    arms_cfg: RunConfig  # items 1, 2, 6 (eager after a failed compiled attempt)
    runner: Runner
    tensors: Tensors
    started: float = field(default_factory=time.monotonic)
    settings: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    @property
    def shape_txt(self) -> str:
        return "x".join(map(str, self.plan.shape))

    @property
    def grad_cfg(self) -> RunConfig | None:
        return gradient_norms(self.arms_cfg, self.args.grad_every) if 6 in self.items else None

    @property
    def without_grad(self) -> int:
        return getattr(self.arms_cfg, "grad_norm_every", 0)

    def over_budget(self, what: str) -> bool:
        """True (and a row saying so) once --budget-s seconds have passed: the section skips what is left."""
        if self.args.budget_s and time.monotonic() - self.started > self.args.budget_s:
            print(f"  (skipped {what}: over --budget-s {self.args.budget_s:.0f})", flush=True)
            self.table.add(0, f"skipped: {what}", note="over --budget-s")
            return True
        return False


def _session(args: argparse.Namespace, started: float) -> tuple[Session, dict]:
    """The session of these arguments (its output folder created) and the environment for the JSON."""
    kind = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(kind)
    plan = dataclasses.replace(PLANS["smoke" if args.smoke else kind])
    if args.smoke and kind == "cuda":
        plan = dataclasses.replace(plan, profile="paper", shape=(3, 32, 32), model="resnet-56")
    if args.steps:
        plan.steps = args.steps
    if args.repeats:
        plan.repeats = args.repeats
    profile = args.profile or plan.profile
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = load_profile(profile, [f"threads={threads}", "augment=true", f"eval_limit={plan.eval_images}",
                                  *([f"batch_size={plan.batch_size}"] if plan.batch_size else [])])
    env = environment(device, threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    s = Session(args=args, kind=kind, plan=plan, model=args.model or plan.model, threads=threads,
                items={int(i) for i in args.items.split(",") if i.strip()}, out_dir=out_dir, tmp=tmp,
                table=Table(out_dir / f"bench-{kind}.csv", kind), base=base,
                arms_cfg=variant_config(base, "eager") if args.arms_eager else base,
                runner=Runner(args, device, tmp),
                tensors=bench_tensors(plan.shape, plan.train_images, plan.eval_images), started=started)
    s.settings = {"profile": profile, "model": s.model, "plan": dataclasses.asdict(plan), "args": vars(args),
                  "precision": base.precision if kind == "cuda" else "32-true",
                  "channels_last": base.channels_last, "compile": base.compile and kind == "cuda",  # NHWC applies on a CPU too
                  "compile_mode": base.compile_mode}
    return s, env


def _run_section(s: Session, name: str) -> None:
    """One section of --order; a failing section is recorded as a row and the bench goes on (items 1, 2, 6
    measured eagerly when their compiled attempt failed)."""
    if name == "compile" or name.startswith("compile:"):
        section_compile(s, compile_variants(name, s.args))
        return
    if name not in SECTIONS:
        return
    try:
        SECTIONS[name](s)
    except Exception as exc:  # noqa: BLE001 - record it, go on with the other sections
        import traceback

        stop_if_interrupted(exc)
        traceback.print_exc()
        s.table.add(0, f"section {name} FAILED", note=f"{type(exc).__name__}: {exc}"[:300])
        if name == "arms" and (s.arms_cfg.compile or s.arms_cfg.cuda_graph):  # measure eager instead
            s.arms_cfg = variant_config(s.base, "eager")
            SECTIONS[name](s)


def main(argv: list[str] | None = None) -> int:
    """The bench: arguments checked (exit 2 and one line naming the bad one, nothing written), then the
    sections of --order; the table on stdout, ``bench-<device>.csv``/``.json`` (and ``.log``) in --out-dir."""
    args = parser().parse_args(argv)
    try:
        check_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    started = time.monotonic()
    # The bench compiles many nets in one process (a run compiles one): keep dynamo from giving up.
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = 64
    s, env = _session(args, started)
    base, settings = s.base, s.settings
    print(f"==> bench on {env.get('gpu', env['cpu'])} ({s.kind}, {s.threads} threads), torch {env['torch']}, "
          f"Lightning {env['pytorch_lightning']}, profile {settings['profile']} ({settings['precision']}"
          f"{', channels_last' if settings['channels_last'] else ''}"
          f"{', compile ' + base.compile_mode if settings['compile'] else ''}), batch {base.batch_size}", flush=True)
    order = [x.strip() for x in args.order.split(",") if x.strip()]
    if args.with_matrix and "matrix" not in order:
        order.append("matrix")
    try:
        for name in order:
            _run_section(s, name)
    finally:
        shutil.rmtree(s.tmp, ignore_errors=True)
        settings["elapsed_s"] = round(time.monotonic() - started, 1)
        atomic_write_json(s.out_dir / f"bench-{s.kind}.json", {"environment": env, "settings": settings})
        if s.runner.log_lines:
            atomic_write_text(s.out_dir / f"bench-{s.kind}.log", "\n".join(s.runner.log_lines) + "\n")
    print()
    print(s.table.render())
    print(f"\n==> {s.table.path} ({settings['elapsed_s']:.0f}s)")
    failed = [f"{r['measure']} {r['model']}".strip() for r in s.table.rows if "FAILED" in str(r["measure"])]
    if failed:  # the table holds what ran; the exit status says not everything did
        print(f"error: {len(failed)} failed: {', '.join(failed)} (the notes say why)", file=sys.stderr)
        return 1
    return 0
