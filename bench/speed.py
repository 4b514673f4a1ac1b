"""What the training path costs (items 1, 2, 3 and 6, the compile variants, the profile).

- item 1: the suite's Lightning path against a plain PyTorch loop over the same batches (the ratio);
- item 2: the real input pipeline (TrainBatches with augmentation) against one pre-made batch repeated;
- item 6: the gradient-norm recorder at every ``--grad-every`` iterations against the profile's setting;
- item 3: the suite's path against the classic CIFAR script;
- the ``compile`` sections: each variant's speed and its compile time's break-even point;
- the ``profile`` section (GPU): torch.profiler over a few steps.

Each section takes the bench's :class:`bench.run.Session` and adds rows to its table.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from experiments.config import RunConfig, load_profile
from runfolder.io import atomic_write_text

from .measure import CONTENDED_PER_S, Measure, med_measure, median
from .paths import bench_tensors, stop_if_interrupted, variant_config, variant_label, window
from .table import GPU_TARGET_RESNET56, join

if TYPE_CHECKING:
    from .run import Session


def gradient_norms(config: RunConfig, every: int) -> RunConfig | None:
    """HOOK (item 6): ``config`` with the gradient-norm recorder on every ``every`` iterations, or None if
    the suite has none. The recorder (experiments.training.gradients.GradNormRecorder) is switched on by the run
    config's ``grad_norm_every`` and added by DegradationModule.configure_callbacks; if that changes,
    adapt this function: the rest of item 6 follows."""
    if "grad_norm_every" not in {f.name for f in dataclasses.fields(RunConfig)}:
        return None
    return dataclasses.replace(config, grad_norm_every=every)


def _arms(s: Session) -> dict:
    """The interleaved arms of items 1, 2 and 6: name -> keyword arguments of Runner.lightning (None: plain)."""
    arms: dict = {"lightning": {}}
    if 1 in s.items:
        arms["plain"] = None
    if 2 in s.items:
        arms["fixed"] = {"fixed_batch": True}
    if 6 in s.items and s.grad_cfg is not None:
        arms["grad"] = {"config": gradient_norms(s.arms_cfg, s.args.grad_every)}
    return arms


def _run_arms(s: Session, arms: dict) -> tuple[dict[str, list[Measure]], str]:
    """Repeats of the arms, interleaved; on a CPU, contended repeats are run again (up to twice as many).
    The measures of the uncontended repeats per arm, and a note on the contention ("" if none)."""
    plan, kind, args = s.plan, s.kind, s.args
    results: dict[str, list[Measure]] = {k: [] for k in arms}

    def contended(r):  # another process took our cores during repeat r (CPU only)
        return kind == "cpu" and any(results[a][r].extra.get("preempt_per_s", 0) > CONTENDED_PER_S for a in arms)

    r = 0
    while r < plan.repeats or (plan.retry_contended and r < 2 * plan.repeats
                               and sum(not contended(i) for i in range(r)) < plan.repeats):
        if r >= plan.repeats:
            print(f"     (repeat {r + 1}: earlier ones were contended, > {CONTENDED_PER_S} preemptions/s)", flush=True)
        for arm, kw in arms.items():
            if arm == "plain":
                m = s.runner.plain(s.model, s.arms_cfg, s.tensors, plan.steps, plan.warmup)
            else:
                kw = dict(kw)
                cfg = kw.pop("config", s.arms_cfg)
                extra = {"sync_debug": args.sync_check and kind == "cuda" and r == 0 and arm == "lightning"}
                m = s.runner.lightning(s.model, cfg, s.tensors, plan.steps, plan.warmup, **kw, **extra)
                if m.extra.get("syncs") is not None:
                    steps_timed = plan.steps - plan.warmup
                    print(f"  host-device syncs in {steps_timed} timed steps: {m.extra['syncs']} "
                          f"(log every {window(s.arms_cfg, plan.steps).log_every})", flush=True)
                    s.settings["syncs_in_window"] = {"syncs": m.extra["syncs"], "steps": steps_timed}
            results[arm].append(m)
            pre = m.extra.get("preempt_per_s")
            print(f"     {r + 1}/{plan.repeats} {arm:<9} {m.images_per_s:9.1f} images/s"
                  + (f"  ({pre:.0f} preemptions/s)" if pre is not None and kind == "cpu" else ""), flush=True)
        r += 1
    clean = [i for i in range(r) if not contended(i)]
    if len(clean) >= 2 or (clean and r == 1):
        results = {a: [v[i] for i in clean] for a, v in results.items()}
    noisy = "" if len(clean) == r else f"{len(clean)} of {r} repeats uncontended" + (
        "" if len(clean) >= 2 else ": NOISY, all used")
    return results, noisy


def section_arms(s: Session) -> None:
    """Items 1, 2 and 6: the arms run interleaved, the ratio is the median of the per-pair ratios."""
    if not s.items & {1, 2, 6}:
        return
    arms = _arms(s)
    label = variant_label(s.arms_cfg, s.kind)
    print(f"-- items 1/2/6: {s.model}, {s.shape_txt}, {label}: {s.plan.repeats} x {list(arms)} "
          f"({s.plan.steps} steps, {s.plan.warmup} warm-up)", flush=True)
    results, noisy = _run_arms(s, arms)
    s.settings["trainer_kwargs"] = {k: repr(v) for k, v in (results["lightning"][0].extra.get("trainer") or {}).items()}
    light = med_measure(results["lightning"])
    s.state["arms"] = (s.arms_cfg, results)
    cnote = join(noisy, *(f"{k} {v[0].extra['compile']}" for k, v in results.items() if v and v[0].extra.get("compile")),
                 f"after {s.plan.steps} steps {results['lightning'][0].extra.get('errors', '')}")
    repeats = len(results["lightning"])

    def pair_ratio(a, b):
        return median([x.images_per_s / y.images_per_s for x, y in zip(results[a], results[b])])

    table, model = s.table, s.model
    if "plain" in results:
        table.add(1, "Lightning path vs plain loop", model=model, variant=label, a=light, baseline="plain loop",
                  b=med_measure(results["plain"]), ratio=pair_ratio("lightning", "plain"), repeats=repeats,
                  note=f"{s.shape_txt}, augment, median of pair ratios" + (f"; {cnote}" if cnote else ""))
    if "fixed" in results:
        table.add(2, "TrainBatches+augment vs one batch", model=model, variant=label, a=light, baseline="one batch",
                  b=med_measure(results["fixed"]), ratio=pair_ratio("lightning", "fixed"), repeats=repeats,
                  note=join("both through Lightning", noisy))
    if 6 in s.items:
        if "grad" in results:
            table.add(6, f"grad norms every {s.args.grad_every} it. vs profile", model=model, variant=label,
                      a=med_measure(results["grad"]), baseline=f"every {s.without_grad or 'never'}", b=light,
                      ratio=pair_ratio("grad", "lightning"), repeats=repeats,
                      note=join("GradNormRecorder (experiments.training.gradients); the cost scales with 1/every", noisy))
        else:
            table.add(6, "gradient-norm recorder: not found", model=model,
                      note="HOOK: no grad_norm_every in RunConfig (see bench.speed.gradient_norms)")
    if s.kind == "cuda" and model == "resnet-56" and s.arms_cfg.batch_size == 128 and not s.args.smoke:
        table.add(1, f"target {GPU_TARGET_RESNET56} images/s", model=model, variant=label, a=light,
                  ratio=light.images_per_s / GPU_TARGET_RESNET56, goal=1.0,
                  note="Lightning path; the goal is set for one H100")


def section_classic(s: Session) -> None:
    """Item 3: the suite's path against the classic CIFAR script, at 3x32x32 (item 1's runs reused when
    they are the same measurement)."""
    if 3 not in s.items or s.over_budget("item 3"):
        return
    plan, args = s.plan, s.args
    cifar = bench_tensors((3, 32, 32), plan.train_images, plan.eval_images) if plan.shape != (3, 32, 32) else s.tensors
    cfg = s.arms_cfg if plan.shape == (3, 32, 32) else load_profile(
        "paper", [f"threads={s.threads}", f"eval_limit={plan.eval_images}"])
    print(f"-- item 3: project ({variant_label(cfg, s.kind)}) vs classic script ({args.workers} workers, fp32, NCHW), "
          f"{s.model}, 3x32x32", flush=True)
    proj, classic = [], []
    reuse = s.state.get("arms") if plan.shape == (3, 32, 32) else None
    if reuse is not None and reuse[0] == cfg:  # the arms' Lightning runs are this very measurement
        proj = reuse[1]["lightning"][: plan.classic_repeats]
    for r in range(plan.classic_repeats):
        if reuse is None or reuse[0] != cfg or r >= len(proj):
            proj.append(s.runner.lightning(s.model, cfg, cifar, plan.classic_steps, plan.classic_warmup))
        classic.append(s.runner.classic(s.model, cfg, plan.train_images, plan.classic_steps, plan.classic_warmup,
                                        args.workers))
        print(f"     {r + 1}/{plan.classic_repeats} project {proj[r].images_per_s:9.1f}  classic "
              f"{classic[-1].images_per_s:9.1f} images/s", flush=True)
    s.table.add(3, "project path vs classic CIFAR script", model=s.model, variant=variant_label(cfg, s.kind),
                a=med_measure(proj), baseline=f"classic {args.workers}w", b=med_measure(classic),
                ratio=median([a.images_per_s / b.images_per_s for a, b in zip(proj, classic)]),
                repeats=plan.classic_repeats,
                note="3x32x32" + ("; project = item 1's Lightning runs" if reuse is not None and reuse[0] == cfg else ""))


def section_compile(s: Session, modes: list[str]) -> None:
    """Each compile variant (GPU, or --smoke): both paths' speed, the compile time and its break-even."""
    if not modes or (s.kind != "cuda" and not s.args.smoke):
        return
    plan, model = s.plan, s.model
    if "eager" not in s.state:
        eager_cfg = variant_config(s.base, "eager")
        print(f"-- compile variants of {model}: eager vs {modes}", flush=True)
        eager = s.state["eager"] = s.runner.lightning(model, eager_cfg, s.tensors, plan.compile_steps,
                                                      plan.compile_warmup)
        s.table.add(1, "Lightning path, eager", model=model, variant=variant_label(eager_cfg, s.kind), a=eager,
                    note=f"fit {eager.fit_s:.1f}s, after last step {eager.extra['tail_s']:.1f}s; {eager.extra['errors']}",
                    goal=None)
    eager = s.state["eager"]
    for mode in modes:
        if s.over_budget(f"compile {mode}"):
            break
        try:
            cfg = variant_config(s.base, mode)
            light = s.runner.lightning(model, cfg, s.tensors, plan.compile_steps, plan.compile_warmup)
            plain = (None if s.args.compile_no_plain else
                     s.runner.plain(model, cfg, s.tensors, plan.compile_steps, plan.compile_warmup))
        except Exception as exc:  # noqa: BLE001 - one mode failing is a result, not the end of the bench
            stop_if_interrupted(exc)
            s.table.add(1, f"compile {mode}: FAILED", model=model, note=f"{type(exc).__name__}: {exc}"[:300])
            continue
        # Break-even: the compile's extra start-up over the per-step time it saves.
        extra_s = light.first_step_s - eager.first_step_s
        saved = 1 / eager.images_per_s - 1 / light.images_per_s  # seconds per image
        breakeven = extra_s / saved / s.base.batch_size if saved > 0 and extra_s > 0 else float("nan")
        s.table.add(1, f"Lightning path vs plain, {mode}" if plain else f"Lightning path, {mode}", model=model,
                    variant=variant_label(cfg, s.kind), a=light, baseline="plain loop" if plain else "", b=plain,
                    note=join(f"compile +{extra_s:.0f}s, break-even {breakeven:.0f} steps", light.extra['compile'],
                              light.extra['errors'], f"after last step {light.extra['tail_s']:.1f}s",
                              f"x{light.images_per_s / eager.images_per_s:.2f} vs eager")
                    + (f"; {light.images_per_s / GPU_TARGET_RESNET56:.2f} of the {GPU_TARGET_RESNET56} target"
                       if s.kind == "cuda" and model == "resnet-56" else ""))


def section_profile(s: Session) -> None:
    """GPU: torch.profiler over --profile-steps steps of the Lightning path, into ``profile-cuda.txt``."""
    args = s.args
    if not args.profile_steps or s.kind != "cuda" or s.over_budget("profile"):
        return
    pm = args.profile_mode
    try:
        cfg = s.arms_cfg if not pm else variant_config(s.base, pm)
        m = s.runner.lightning(s.model, cfg, s.tensors, s.plan.warmup + args.profile_steps + 10, s.plan.warmup,
                               profile_steps=args.profile_steps)
        text = f"{variant_label(cfg, s.kind)}, {s.model}, batch {cfg.batch_size}\n{m.extra['profile'] or ''}"
        atomic_write_text(s.out_dir / f"profile-{s.kind}.txt", text)
        print(text[:3000], flush=True)
    except Exception as exc:  # noqa: BLE001
        stop_if_interrupted(exc)
        print(f"  profile failed: {type(exc).__name__}: {exc}", flush=True)
