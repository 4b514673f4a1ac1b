"""Train one run of the matrix into its folder: ``runs/<experiment>/<profile>/<model>/seed<k>/``.

    python -m experiments.run --run-dir runs/degradation/quick/plain-56/seed0 [--data-dir data]

The folder receives ``config.yaml`` (everything needed to rerun it, with provenance), ``metrics.csv``
(Lightning's CSVLogger), ``checkpoints/last.ckpt`` (after every evaluation) and, last and atomically,
``result.json``. A folder with a checkpoint and no result resumes from the checkpoint; one with a result
of status ok or diverged is done; a failed one, or one whose result.json is damaged, is trained again.

Reliability (issue 6):
- Kill it at any moment and run it again: it resumes from its last checkpoint and ends with exactly the
  metrics, result and weights of an uninterrupted run (batches are a function of (seed, iteration);
  checkpoints are taken right after an evaluation, where the logged training averages were just reset).
- Every file that marks progress is replaced atomically (:mod:`runfolder.io`), metrics.csv appended to in
  whole, fsynced rows (:mod:`experiments.training.csvlog`); the checkpoint replaced atomically too,
  through the ``AtomicCheckpointIO`` plugin (Lightning's own write goes through a temporary file in the
  system's temp folder and ``shutil.move``, which copies in place when that is another file system).
- A run that raises records status failed and its traceback (``error.txt``); one any of whose numbers
  turns non-finite (experiments.training.module) is a result, status diverged. Ctrl-C and SIGTERM leave
  the run resumable (exit 130 / 143).
- One process at a time trains a run folder (``flock`` on ``.lock``); another waits, then finds it done.
- A net that draws random numbers in training (a plugin's dropout) resumes exactly too: the checkpoint holds
  the random generators' states. A checkpoint is never resumed into another run than the one it holds: one
  of another format, settings, optimizer parameter groups or plugin code is refused in one line saying what
  changed and what to do (:func:`_resume_refusal`); another commit of the suite is recorded (``git_commits``).

Module map: :mod:`experiments.training.train` (the Trainer, resume, the result record),
:mod:`experiments.training.callbacks` (the run clock, the checkpoint after every evaluation),
:mod:`experiments.training.checkpoint` (the atomic checkpoint writer and reader),
:mod:`experiments.training.faults` (the tests' fault injection, ``DEGRADATION_FAULT=<kind>@<iteration>``,
off unless set), :mod:`experiments.training.provenance`. This module imports neither torch nor Lightning
at import time: ``--not-done`` runs on every ``make``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

from runfolder import (CHECKPOINT, CONFIG, DONE, ERROR, METRICS, RESULT, MalformedError, RunPath, format_seconds,
                       done_status, read_config, read_result, record_problem, write_result)

from .config import (ConfigError, RunConfig, at_lr, changed_settings, check_extras, check_seed, departures,
                     load_matrices, load_profile)

EXIT_BAD_INPUT, EXIT_FAILED = 2, 1  # and 130/143 for Ctrl-C/SIGTERM (experiments.training.train)


def run_path(run_dir: str) -> RunPath:
    """The run folder's path parsed (:class:`runfolder.RunPath`), its experiment one of the matrix's; raises
    ConfigError or ValueError naming the bad part."""
    spec = RunPath.parse(run_dir)
    experiments = load_matrices()
    if spec.experiment not in experiments:
        raise ConfigError(f"unknown experiment {spec.experiment!r}; valid: {', '.join(experiments)}")
    check_seed(spec.seed)
    return spec


def run_config(spec: RunPath, overrides: list[str]) -> RunConfig:
    """The run's settings: its profile with ``overrides`` (``--set``), at the rate its folder names, if any
    (:func:`experiments.config.at_lr`); ConfigError naming a bad value."""
    config = load_profile(spec.profile, overrides)
    return at_lr(config, spec.lr, overrides) if spec.lr is not None else config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="runs/<experiment>/<profile>/<model>/seed<k>")
    parser.add_argument("--data-dir", default="data", help="where datasets are found or fetched (default: data)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile field, e.g. --set batch_size=64 (repeatable)")
    parser.add_argument("--progress", default="", help="position in the matrix, e.g. 3/10, for the progress line")
    parser.add_argument("--gpus", default="", help="GPUS: the devices runs spread over (default: every GPU torch "
                                                   "sees; experiments/launch/slots.py)")
    parser.add_argument("--runs-per-gpu", default="1", help="RUNS_PER_GPU: runs that may share one GPU (default 1)")
    parser.add_argument("--slurm-requeue", action="store_true",
                        help="in a SLURM job (LAUNCHER=sbatch or srun): answer the requeue signal with a checkpoint "
                             "where the run is, then requeue the job where SLURM allows it (a batch job; an srun job's "
                             "next make resumes it); experiments/launch/slurm.py")
    parser.add_argument("--not-done", nargs="*", metavar="RESULT_JSON",
                        help="print those of the given result.json files that are not finished runs (failed, "
                             "damaged), for make to retry; train nothing")
    return parser


def _check_input(args: argparse.Namespace):
    """(fault, spec, config, data_dir, data, devices, declared), every one checked, the dataset fetched if
    missing and loaded (``data``: its data module, every split's labels checked against the training split's
    classes); ConfigError or ValueError naming the bad value. Nothing is written under runs/. ``devices``: the
    GPUs this run may take a slot on (experiments.launch.slots.devices); none without GPUs or when SLURM placed
    the run. ``declared``: a plugin net's declared axes (None for the suite's nets)."""
    spec = run_path(args.run_dir)  # names and settings first: they need neither torch nor Lightning
    from runfolder.io import unwritable

    if why := unwritable(spec.dir):
        raise ConfigError(f"run folder {str(spec.dir)!r} cannot be written: {why}; point RUNS_DIR at a writable folder")
    config = run_config(spec, args.set)
    from .data import check_sizes

    check_sizes(config)  # as make's input check does, for a run started by hand
    data_dir = Path(args.data_dir)
    from .data import check_data_dir, check_folder_sizes, ensure_available

    # the default folder is made on demand; a missing one is said before Lightning's import (about 5 s)
    check_data_dir(args.data_dir, required=args.data_dir != "data")
    from .training.faults import FAULT_ENV, parse_fault

    fault = parse_fault(os.environ.get(FAULT_ENV))
    check_extras(config)
    from .training.datamodule import prepared_data

    ensure_available(config.dataset, data_dir, fetch=True)
    check_folder_sizes(config, data_dir)  # a folder's size is known here only (a tensor dataset's: check_sizes)
    from .launch import slots

    slots.parse_runs_per_gpu(args.runs_per_gpu)
    devices = run_devices(config, args.gpus)
    data = prepared_data(config, data_dir, spec.seed)
    declared = _check_plugin_net(spec.model, config, data)
    return fault, spec, config, data_dir, data, devices, declared


def run_devices(config: RunConfig, gpus: str) -> list:
    """The GPU slots a run may take (experiments.launch.slots.devices): none where SLURM placed the run or it
    trains on the CPU. ConfigError for ``accelerator`` gpu or cuda on a machine with no GPU (counted without
    initialising CUDA, slots.visible_devices: the run's slot sets CUDA_VISIBLE_DEVICES later); the pool asks it
    once for the matrix, each run again."""
    from .launch import slots

    devices = [] if slots.placed_by_slurm() or config.accelerator == "cpu" else slots.devices(gpus)
    if config.accelerator in ("gpu", "cuda") and not (devices or (slots.placed_by_slurm() and slots.visible_devices())):
        raise ConfigError(f"bad accelerator {config.accelerator!r}: this machine has no GPU torch can use; valid "
                          "here: auto (a GPU where there is one, else the CPU), cpu")
    return devices


def _check_plugin_net(model: str, config: RunConfig, data) -> dict | None:
    """A researcher's net (a plugin, models/plugins.py) is built and put through one training step's work at
    the run's image size and memory format before anything is written (models.check_plugin_net): a plugin
    that fails to import, raises, builds a net of the wrong output shape or depth, fails in training mode or
    backward, has no trainable parameter or bad ``lr_factors``/``declared_axes`` is one line (PluginError, a
    ValueError) and exit 2. Returns its declared axes; None for the suite's own nets, which the test suite
    checks instead."""
    from models import parse_name

    if not parse_name(model).plugin:
        return None
    from models import check_plugin_net

    from .config import model_overrides
    from .training.datamodule import data_shape

    num_classes, in_channels, (_, size, _) = data_shape(data)
    return check_plugin_net(model, num_classes=num_classes, in_channels=in_channels, image_size=size,
                            channels_last=config.channels_last, **model_overrides(model, config))


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a line in one write: two runs at once (-j) print whole lines
        if isinstance(stream, io.TextIOWrapper):  # unbuffered (PYTHONUNBUFFERED), print wrote text, then "\n"
            stream.reconfigure(line_buffering=True, write_through=False)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.not_done is not None:
        if args.run_dir:  # two commands in one: which one was meant cannot be guessed
            parser.error("--not-done lists the runs of its RESULT_JSON paths that are not done; it takes no --run-dir")
        print(" ".join(p for p in args.not_done
                       if done_status(Path(p).parent if Path(p).name == RESULT else Path(p)) is None))
        return 0
    if not args.run_dir:
        parser.error("--run-dir is required")
    if args.slurm_requeue:  # the requeue signal may come while the run is still loading
        from .launch import slurm

        slurm.listen_early()

    from runfolder.io import exclusive_lock

    tag = f"[{args.progress}] " if args.progress else ""
    # Everything is checked before anything is written under runs/.
    try:
        fault, spec, config, data_dir, data, devices, declared = _check_input(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    with exclusive_lock(spec.dir / ".lock", on_wait=lambda: print(f"{tag}{spec}: waiting for another process "
                                                                   "training this run", file=sys.stderr)):
        return _run_locked(spec, config, data_dir, data, fault, tag, devices, int(args.runs_per_gpu),
                           args.slurm_requeue, declared)


def _place(spec: RunPath, tag: str, devices: list, runs_per_gpu: int) -> tuple[dict, str]:
    """Where the run trains: a device slot of this machine's (held until the process ends; waiting for one if
    all are busy) or the SLURM job it is in. Returns the record for config.yaml and result.json (``slot``,
    ``slurm``, ``visible_devices``; empty on a machine without GPUs, outside SLURM) and " on <where>" for
    the progress line."""
    from .launch import slots, slurm

    record, where = {}, ""
    if devices:
        slot = slots.lease(devices, runs_per_gpu, holder=f"{spec}, pid {os.getpid()}", on_wait=lambda busy: print(
            f"{tag}{spec}: waiting for a free device slot (RUNS_PER_GPU={runs_per_gpu}; busy: {busy})",
            file=sys.stderr, flush=True))
        slots.use(slot)  # before torch initialises CUDA: the run sees this device only
        record["slot"], where = slot.record(), f" on {slot.name}"
    job = slurm.job()
    if job is not None:
        record["slurm"], where = job, f" on {slurm.where(job)}"
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None and record:
        record["visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]  # as this process sees them
    return record, where


def _run_locked(spec: RunPath, config: RunConfig, data_dir: Path, data, fault, tag: str,
                devices: list | None = None, runs_per_gpu: int = 1, requeue: bool = False,
                declared: dict | None = None) -> int:
    """Inside the run folder's lock: skip a done run, check the checkpoint, take a device (or note the SLURM
    job), train, write result.json. ``declared``: a plugin net's declared axes (experiments.run's check)."""
    from models import model_axes
    from runfolder.io import atomic_write_yaml, remove_stale_temps

    from .training.checkpoint import usable_checkpoint
    from .training.datamodule import data_shape
    from .training.module import net_trained_with
    from .training.provenance import provenance

    run_dir = spec.dir
    result_path = run_dir / RESULT
    # The method, its axes (a plugin's: what it declares, None where it declares nothing) and source; a plugin's
    # provenance.
    what = model_axes(spec.model, init=config.init, declared=declared)
    record = {"experiment": spec.experiment, "profile": spec.profile, "model": spec.model, "seed": spec.seed,
              "method": what["method"], "axes": what["axes"], "source": what["source"], "plugin": what["plugin"],
              "data_dir": str(data_dir), "config": config.to_dict(),
              "departures": departures(config, spec.profile, spec.model),  # from the profile's recipe: SET, a tuning rate
              "classes": list(data.classes),  # label i is classes[i], in every split
              "inputs": data.input_record(),  # unit variance: per-pixel mean, per-channel std
              "data": data.data_record()}  # each split's images and their digest: a resume needs the same
    try:  # no result.json, or a damaged one: no previous status (runfolder.read_status's reading)
        previous_record = read_result(result_path)
    except MalformedError:
        previous_record = None
    previous = previous_record["status"] if previous_record is not None else None
    if previous in DONE and (why := record_problem(run_dir, previous_record)):
        # Not this run's record, or a folder missing its settings or curves: a resume from its checkpoint could
        # not give them back, so the run trains from the start; what was there is kept for a look.
        stamp = int(time.time())
        kept = []
        for name in (RESULT, METRICS, CHECKPOINT):
            if (run_dir / name).exists():
                (run_dir / name).rename(run_dir / f"{name}.malformed-{stamp}")
                kept.append(f"{name}.malformed-{stamp}")
        print(f"warning: {run_dir} holds a finished run's record that cannot stand for it ({why}); set aside as "
              f"{', '.join(kept)}, training the run from the start", file=sys.stderr)
        previous = None
    if previous in DONE:
        try:
            recorded = read_config(run_dir / CONFIG).get("config")
        except MalformedError:
            recorded = None
        differ = changed_settings(recorded, record["config"]) if isinstance(recorded, dict) else {}
        if differ:  # as make's check_reuse: the old run is not this call's
            what = "; ".join(f"{k} {_setting(old)}, now {_setting(new)}" for k, (old, new) in differ.items())
            print(f"error: {run_dir} is done ({previous}), trained with other settings than this call's ({what}); "
                  "use another RUNS_DIR to keep both, or delete the run folder to train it again", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{tag}{spec}: already done ({previous}); to train it again, with other settings say, use another "
              "RUNS_DIR or delete the folder")
        return 0
    if previous is None and result_path.exists():  # kept for a look, as a damaged checkpoint is
        aside = result_path.with_name(f"{RESULT}.damaged-{int(time.time())}")
        result_path.rename(aside)
        print(f"warning: {result_path} is damaged (not a complete result record); set aside as {aside.name}, "
              "training the run again", file=sys.stderr)
    for folder in (run_dir, run_dir / "checkpoints"):  # what a writer killed mid-write left behind
        remove_stale_temps(folder)
    num_classes, in_channels, _ = data_shape(data)
    net = net_trained_with(spec.model, num_classes, in_channels, config, spec.seed)
    record["optimizer_groups"] = net["optimizer_groups"]
    # The layout itself (hundreds of lines) is in the checkpoint; config.yaml names it by its digest.
    record["layout_sha256"] = hashlib.sha256("\n".join(net["layout"]).encode()).hexdigest()
    suite = provenance()
    checkpoint = usable_checkpoint(run_dir / CHECKPOINT)
    if checkpoint is not None:
        refusal = _resume_refusal(run_dir, checkpoint, record, net["layout"])
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return EXIT_BAD_INPUT
    # Every commit of the suite the run was trained with, the first session's first: a resume across commits
    # is allowed (the suite's commits change its code, rarely a run's numbers) and recorded, and the report
    # flags such a run.
    earlier = checkpoint.trained_with.get("git_commits", []) if checkpoint is not None else []
    record["git_commits"] = list(dict.fromkeys([*earlier, *([suite["git_commit"]] if suite["git_commit"] else [])]))
    trained_with = {"git_commits": record["git_commits"], "data": record["data"],
                    "plugin": {k: record["plugin"][k] for k in ("distribution", "version", "source_sha256")}
                    if record["plugin"] else None}
    placement, where = _place(spec, tag, devices or [], runs_per_gpu)
    result_path.unlink(missing_ok=True)  # a failed result is being retried (its error.txt stays)
    atomic_write_yaml(run_dir / CONFIG,
                      {**record, **suite, **placement, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    resuming = f", resuming from iteration {checkpoint.step}" if checkpoint is not None else ""
    print(f"{tag}{spec}{where}{resuming} ...", flush=True)
    started = time.monotonic()
    from .training.train import EXIT_SIGINT, Interrupted, train

    try:
        result = train(spec, config, data_dir, fault, resume_step=checkpoint.step if checkpoint is not None else None,
                       datamodule=data, requeue=requeue, trained_with=trained_with)
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"{tag}{spec}: {getattr(exc, 'note', None) or _interrupted(requeue)}", file=sys.stderr)
        return getattr(exc, "code", EXIT_SIGINT)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the matrix goes on
        _record_failure(spec, exc, traceback.format_exc(), tag, time.monotonic() - started, record)
        return EXIT_FAILED
    write_result(result_path, {**result, "shortcut": record["axes"]["shortcut"],
                               **{k: record[k] for k in ("method", "axes", "plugin", "optimizer_groups", "git_commits")},
                               **{k: v for k, v in placement.items() if k != "visible_devices"}})
    (run_dir / ERROR).unlink(missing_ok=True)  # from an earlier, failed attempt
    print(f"{tag}{spec}{where} ... {format_seconds(time.monotonic() - started)},{_outcome(result)}", flush=True)
    return 0


def _interrupted(batch_job: bool) -> str:
    """What becomes of a run stopped by Ctrl-C or SIGTERM, in words. In a SLURM batch job (the sbatch array)
    a SIGTERM with no requeue signal before it is a time limit reached, ``scancel`` or a preemption: the run
    did not requeue its job, and SLURM requeues it itself only on a preemption that says so."""
    if batch_job:
        return ("interrupted without SLURM's requeue signal (a time limit, scancel, a preemption): not requeued by "
                "the run; the next `make` resumes it from its last checkpoint")
    return "interrupted; the next `make` resumes it from its last checkpoint"


def _setting(value) -> str:
    """A setting's value as SET / --set take it (YAML; no spaces, so that SET can hold several)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _resume_refusal(run_dir: Path, checkpoint, record: dict, layout: list[str]) -> str | None:
    """Why the checkpoint in ``run_dir`` cannot be resumed by this run (``record``: its config.yaml record,
    optimizer groups and plugin provenance included; ``layout``: the net's :func:`models.layout.net_layout`),
    in one line with what to do; None when it can.

    Refused: a checkpoint of an older format (it lacks what an exact resume needs), one trained with other
    settings (its own record of them, else config.yaml's), with other optimizer parameter groups (a net whose
    ``lr_factors`` changed since), with another net layout (a module's settings or its code changed since:
    a stride moved, a ReLU placed elsewhere), with other code of its plugin (a source hash that differs) or on
    other data (a split's number of images or their digest, the data modules' ``data_record``).
    The suite's own commit may differ: that is recorded (``git_commits``), not refused."""
    from models.layout import layout_change

    from .training.checkpoint import CHECKPOINT_FORMAT, FORMAT_CHANGES, RESUMABLE_FORMATS

    ckpt = run_dir / CHECKPOINT
    anew = f"delete {ckpt} to train the run from the start, or use another RUNS_DIR"
    held = f"{run_dir} holds a checkpoint (iteration {checkpoint.step})"
    if checkpoint.format not in RESUMABLE_FORMATS:
        if not isinstance(checkpoint.format, int | None) or checkpoint.format not in FORMAT_CHANGES:
            return (f"{held} of checkpoint format {checkpoint.format!r}, not this version's {CHECKPOINT_FORMAT} "
                    f"(a newer suite's?): train it with the version that wrote it, or {anew}")
        return (f"{held} written by an older version of the suite (checkpoint format {checkpoint.format}, now "
                f"{CHECKPOINT_FORMAT}): it predates {FORMAT_CHANGES[checkpoint.format]}, so it cannot be resumed "
                f"exactly; {anew}")
    now = record["config"]
    before = checkpoint.config
    if before is None:
        try:
            before = read_config(run_dir / CONFIG).get("config")
        except MalformedError:
            before = None
    if isinstance(before, dict):
        changed = sorted(changed_settings(before, now).items())
        if changed:
            what = "; ".join(f"{k} {_setting(old)}, now {_setting(new)}" for k, (old, new) in changed)
            sets = " ".join(f"{k}={_setting(old)}" for k, (old, _) in changed)
            return (f"{held} trained with other settings ({what}); to resume it, give it its settings back: "
                    f"SET=\"{sets}\" (make) or --set {' --set '.join(sets.split())} (python -m experiments.run); "
                    f"to train it anew with these, {anew}")
    groups = checkpoint.trained_with.get("optimizer_groups")
    if groups != record["optimizer_groups"]:
        def show(gs) -> str:
            return ", ".join(f"lr x{g['lr_factor']:g}, decay x{g.get('weight_decay_factor', 1.0):g}: {g['tensors']} "
                             "tensors" for g in gs) if gs else "unknown"

        return (f"{held} trained with other optimizer parameter groups ({show(groups)}; the net now trains with "
                f"{show(record['optimizer_groups'])}): it predates a change of the net's optimizer groups "
                f"(lr_factors, weight_decay_factors) and cannot be resumed; {anew}")
    plugin, trained = record["plugin"], checkpoint.trained_with.get("plugin")
    if plugin and trained and trained.get("source_sha256") != plugin["source_sha256"]:
        def code(p) -> str:
            return f"{p.get('distribution')} {p.get('version')}, source sha256 {str(p.get('source_sha256'))[:12]}"

        return (f"{held} trained with other code of plugin {record['method']!r} ({code(trained)}; installed now: "
                f"{code(plugin)}): reinstall the code it was trained with to resume it; to train it anew with the "
                f"new code, {anew}")
    data_then, data_now = checkpoint.trained_with.get("data"), record["data"]  # None in an older checkpoint
    if data_then is not None and data_then != data_now:
        changed = [f"{split_name}: {then.get('images')} images, now {data_now[split_name]['images']}"
                   + (" (the same number, other files or labels)"
                      if then.get("images") == data_now[split_name]["images"] else "")
                   for split_name, then in data_then.items()
                   if split_name in data_now and then != data_now[split_name]]
        return (f"{held} trained on other data than {record['data_dir']} holds now "
                f"({'; '.join(changed) or 'other splits'}): the batches after its checkpoint would not be the ones "
                f"it started with; put the dataset back as it was to resume it; to train it anew on this data, {anew}")
    recorded = checkpoint.trained_with.get("layout")  # None in a format-3 checkpoint: not checked
    change = layout_change(recorded, layout) if recorded is not None else None
    if change:
        commits = checkpoint.trained_with.get("git_commits") or []
        code = f"the suite's commit {commits[-1][:12]}" if commits else "the code it was trained with"
        return (f"{held} trained with a net built otherwise than {record['model']} is now ({change}): the code "
                f"changed since, and its weights would go on training in another net; to resume it, check out "
                f"{code}; to train it anew, {anew}")
    return None


def _record_failure(spec: RunPath, exc: Exception, text: str, tag: str, seconds: float, record: dict) -> None:
    """A failed run: its traceback in error.txt, a result.json of status failed (``record``: config.yaml's
    record, for the method, its axes and the plugin), one line on stderr."""
    from models import parse_name

    from runfolder.io import atomic_write_text

    run_dir = spec.dir
    name = parse_name(spec.model)
    try:
        atomic_write_text(run_dir / ERROR, text)
        write_result(run_dir / RESULT, {
            "status": "failed", "experiment": spec.experiment, "profile": spec.profile, "model": spec.model,
            "family": name.family, "depth": name.depth, "shortcut": record["axes"]["shortcut"], "seed": spec.seed,
            **{k: record[k] for k in ("method", "axes", "plugin")}, "final": {}, "best": {}, "error": text,
        })
    except OSError as write_error:  # a full disk, say: no result.json, so make retries it all the same
        print(f"{tag}{spec}: could not record the failure ({write_error})", file=sys.stderr)
    print(f"{tag}{spec}: FAILED after {format_seconds(seconds)}: "
          f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
          f"{_disk_hint(run_dir)} (traceback in {run_dir / ERROR})", file=sys.stderr)


def _outcome(result: dict) -> str:
    """The end of a finished run's progress line: " test error 8.1%, train error 2.0%", divergence first."""
    test = result["final"].get("test")
    what = f"test error {test:.1f}%" if test is not None else "no test error"
    train_err = result["final"].get("train")
    if train_err is not None:
        what += f", train error {train_err:.1f}%"
    status = "" if result["status"] == "ok" else \
        f" DIVERGED at iteration {result.get('diverged_at')} ({result.get('diverged_reason')}),"
    return f"{status} {what}"


def _disk_hint(run_dir: Path) -> str:
    """A note when the run folder's disk is (nearly) full: less room than two of its checkpoints, or 1 MiB."""
    from runfolder.io import full_disk

    ckpt = run_dir / CHECKPOINT
    try:
        need = max(2 * ckpt.stat().st_size if ckpt.is_file() else 0, 1 << 20)
    except OSError:
        need = 1 << 20
    return full_disk(run_dir, need)


if __name__ == "__main__":
    from runfolder.io import run_main

    run_main(main)
