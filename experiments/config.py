"""One flat, typed run configuration; the profiles in ``configs/*.yaml`` set its fields.

Every field has a reason beside it. Loading checks every key and type, so a typo in a profile is one
clear error, not a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from models.names import INITS, STEMS, parse_name

from .data import DATASETS
from .errors import ConfigError

# DEGRADATION_CONFIG_DIR points at another folder of profiles and matrices.yaml (tests use it for bad profiles).
CONFIG_DIR = Path(os.environ.get("DEGRADATION_CONFIG_DIR") or Path(__file__).resolve().parent / "configs")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda")  # auto: a GPU where torch sees one, else the CPU
WARMUPS = ("constant", "linear")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
GRAPHED_COMPILE_MODES = ("reduce-overhead", "max-autotune")  # modes that add CUDA graphs themselves
MAX_SPLIT_SEED = 2**64 - 1  # torch.Generator.manual_seed takes 64 bits
MAX_IMAGE_SIZE = 224  # image_size's largest: ImageNet's crop (a tensor dataset is held whole, as uint8)


@dataclass
class RunConfig:
    # --- data ---
    dataset: str = "fashion-mnist"  # one of DATASETS
    augment: bool = False  # pad-4 random crop + horizontal flip (paper section 4.2), training batches only
    # held out of the training set, as the 45k/5k CIFAR split on which the paper chose its schedule (its Table 6
    # nets trained on all 50k: val_size=0)
    val_size: int = 5000
    split_seed: int = 0  # the validation split is the same for every run and seed
    eval_limit: int = 0  # evaluate on the first N validation / a fixed N-subset of test images; 0 = all
    # Side of the square images the nets see; 0 = the dataset's own (synthetic data: 16). Fashion-MNIST and
    # CIFAR-10 are resized once, at load time: smaller by area averaging (28 -> 14 is an exact 2x2 mean: a
    # CPU trains 3-4x more iterations per second on 14x14 than on 28x28), larger by zero padding (28 -> 32)
    image_size: int = 0
    synthetic_train: int = 2048  # synthetic data only: training images
    synthetic_eval: int = 512  # synthetic data only: validation and test images each
    workers: int = 0  # DataLoader workers, for the ImageNet folder only (tensor datasets need none)
    # --- model ---
    # "he" (fan-out, fb.resnet.torch's; the paper cites [13], which allows either), "he-fan-in", "xavier" (the
    # seed's): INITS in models/names.py
    init: str = "he"
    # stem of the ImageNet-family nets: "cifar" (3x3/1, no max-pool) for small images, "imagenet" (the paper's
    # 7x7/2 and a 3x3/2 max-pool, Table 1) for 224x224 ones
    stem: str = "cifar"
    imagenet_width: int = 0  # first-stage channels of ImageNet-family nets; 0 = 64, the paper's
    cifar_width: int = 0  # first-stage channels of CIFAR-family nets; 0 = 16, the paper's
    # --- optimisation (paper section 3.4 and 4.2) ---
    batch_size: int = 128  # mini-batch size
    lr: float = 0.1  # initial learning rate
    momentum: float = 0.9
    weight_decay: float = 1e-4
    max_steps: int = 300  # iterations: the paper's schedule counts iterations, not epochs
    milestones: list[int] = field(default_factory=list)  # iterations where lr is divided by 1/gamma
    gamma: float = 0.1  # lr factor at each milestone
    warmup_steps: int = 0  # paper (ResNet-110): lr 0.01 "until the training error is below 80% (about 400 iterations)"
    warmup_lr: float = 0.01  # lr during warm-up ("constant"), or where the ramp starts ("linear")
    # "constant": warmup_lr for warmup_steps, then lr (the paper's, section 4.2); "linear": a ramp from warmup_lr
    # to lr over warmup_steps (Goyal et al. 2017), which avoids the loss spike at the switch to lr
    warmup: str = "constant"
    warmup_min_depth: int = 110  # warm-up applies to nets at least this deep
    # --- bookkeeping ---
    eval_every: int = 100  # iterations between evaluations of validation and test error; a checkpoint follows each
    log_every: int = 25  # iterations between training loss/error points (averaged over the interval)
    eval_batch_size: int = 1000  # evaluation batch size (no gradients: larger than training's)
    # Every N iterations, record each weighted layer's gradient norm into grad_norms.csv, to test the paper's
    # claim that plain nets with BN do not suffer from vanishing gradients (section 4.1); 0 = off
    grad_norm_every: int = 0
    # Also log every metric for TensorBoard, into <run>/tensorboard/ (needs the optional extra: pip install '.[tensorboard]')
    tensorboard: bool = False
    # --- hardware ---
    accelerator: str = "auto"  # Lightning accelerator (ACCELERATORS): "auto" picks a GPU when there is one
    precision: str = "32-true"  # on a GPU; a CPU always trains in fp32
    channels_last: bool = False  # NHWC memory format: faster convolutions on GPUs and on CPUs (oneDNN)
    compile: bool = False  # torch.compile the net on a GPU
    compile_mode: str = "default"  # torch.compile mode; "reduce-overhead" adds CUDA graphs (see BENCHMARKS.md)
    # On a GPU, record each training step's forward, loss and backward once as one CUDA graph and replay it
    # (experiments/training/step.py): the host launches one graph instead of ~1,000 kernels per step
    cuda_graph: bool = False
    # CPU threads a run computes with, whatever make's -j, JOBS or SLURM's allocation: a run's numbers on a CPU
    # depend on its thread count, so it is a setting like any other (recorded in config.yaml and the checkpoint;
    # a resume with another count is refused). 1: a CPU profile's matrix trains one 1-thread run per core
    threads: int = 1

    def check(self) -> None:
        """Raise ``ConfigError`` for values no run can use."""
        _one_of("dataset", self.dataset, DATASETS)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("stem", self.stem, STEMS)
        _one_of("init", self.init, INITS)
        _one_of("warmup", self.warmup, WARMUPS)
        _one_of("compile_mode", self.compile_mode, COMPILE_MODES)
        for name in ("batch_size", "max_steps", "eval_every", "log_every", "eval_batch_size",
                     "synthetic_train", "synthetic_eval", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad {name} {getattr(self, name)!r}: must be an integer >= 1")
        for name in ("val_size", "eval_limit", "workers", "imagenet_width", "cifar_width", "warmup_steps",
                     "warmup_min_depth", "image_size", "split_seed", "grad_norm_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"bad {name} {getattr(self, name)!r}: must be an integer >= 0")
        for name in ("lr", "warmup_lr", "gamma"):
            if not 0 < getattr(self, name) < math.inf:  # 1e400 reads as inf
                raise ConfigError(f"bad {name} {getattr(self, name)!r}: must be a finite number > 0")
        for name in ("momentum", "weight_decay"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(f"bad {name} {getattr(self, name)!r}: must be a finite number >= 0")
        _one_of("accelerator", self.accelerator, ACCELERATORS)
        if self.split_seed > MAX_SPLIT_SEED:
            raise ConfigError(f"bad split_seed {self.split_seed}: must be an integer from 0 to {MAX_SPLIT_SEED} "
                              "(2^64 - 1: it seeds a torch generator, which takes 64 bits)")
        if self.image_size > MAX_IMAGE_SIZE:
            raise ConfigError(f"bad image_size {self.image_size}: must be at most {MAX_IMAGE_SIZE} (the paper's "
                              "largest input, ImageNet's crop; a tensor dataset is held whole in memory, and 60000 "
                              "CIFAR-10 images at 224x224 are already 9 GB), or 0 for the dataset's own")
        if self.image_size and DATASETS[self.dataset].own_size:
            raise ConfigError(f"bad image_size {self.image_size}: the {self.dataset} dataset "
                              f"{DATASETS[self.dataset].own_size}; valid: 0")
        # strictly: a repeated milestone would divide the rate twice at that iteration
        if any(m < 1 for m in self.milestones) or any(a >= b for a, b in zip(self.milestones, self.milestones[1:])):
            raise ConfigError(f"bad milestones {self.milestones!r}: must be strictly increasing iterations >= 1, "
                              "each once, e.g. [32000,48000]")
        if self.cuda_graph and self.compile and self.compile_mode in GRAPHED_COMPILE_MODES:
            raise ConfigError(
                f"bad compile_mode {self.compile_mode!r} with cuda_graph: that mode records CUDA graphs of its "
                f"own; valid with cuda_graph: {', '.join(m for m in COMPILE_MODES if m not in GRAPHED_COMPILE_MODES)} "
                "(or set cuda_graph=false)"
            )
        if self.cuda_graph and self.precision == "16-mixed":
            raise ConfigError(
                "bad precision '16-mixed' with cuda_graph: its loss scaling decides on the host whether to step; "
                "valid with cuda_graph: 32-true, bf16-mixed"
            )
        if self.max_steps % self.eval_every:
            raise ConfigError(
                f"bad max_steps {self.max_steps}: must be a multiple of eval_every ({self.eval_every}) so the "
                "last iteration is evaluated"
            )

        if self.eval_every % self.log_every:
            raise ConfigError(
                f"bad eval_every {self.eval_every}: must be a multiple of log_every ({self.log_every}) so that a "
                "resumed run logs the same training points as an uninterrupted one"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Loader(yaml.SafeLoader):
    """YAML for profiles and ``SET``, with plain numbers only: an integer is decimal digits without leading zeros
    (YAML 1.1 reads ``1:00``, ``6_0``, ``0x3c`` and ``074`` all as 60, and ``060`` as 48), a float has a point or
    an exponent and no ``_`` or ``:``. Anything else is a string, which a number field refuses, naming it."""


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, re.compile(
    r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def read_yaml(text: str):
    """``text`` parsed as a profile or an override value is (:class:`_Loader`); ``yaml.YAMLError`` if it is not YAML."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader


def _one_of(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)


def _coerce(key: str, value, source: str):
    """Check one value against its field's type; ints are accepted where floats are expected."""
    hint = _HINTS[key]
    ok: bool
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:  # list[int]
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok:
        kind = getattr(hint, "__name__", str(hint))
        how = {int: " (an integer is decimal digits, e.g. 60)", float: " (a number, e.g. 0.1 or 1e-4)"}.get(
            hint, " (decimal integers, e.g. [32000, 48000])" if hint == list[int] else "")
        raise ConfigError(f"bad type for {key!r} in {source}: {value!r} is not {kind}{how}")
    return value


def apply(config: RunConfig, values: dict, source: str) -> RunConfig:
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a mapping of keys to values, got {type(values).__name__}")
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {source}; valid: {', '.join(_FIELDS)}")
    return dataclasses.replace(config, **{k: _coerce(k, v, source) for k, v in values.items()})


def list_profiles() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "matrices")


def load_profile(profile: str, overrides: list[str] | None = None) -> RunConfig:
    """The profile's config with ``key=value`` overrides (values parsed as YAML) applied, checked."""
    path = CONFIG_DIR / f"{profile}.yaml"
    if profile not in list_profiles():
        raise ConfigError(f"unknown profile {profile!r}; valid: {', '.join(list_profiles())}")
    try:
        values = read_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    config = apply(RunConfig(), values, str(path))
    if overrides:
        config = apply(config, parse_overrides(overrides), "the command line")
    config.check()
    return config


# Settings a run may change and still be the same run (a finished one reused, a checkpoint resumed): they change
# no number it records (reports.runs' MIXABLE_SETTINGS says the same for a report, which cannot import this).
NUMBERLESS = frozenset({"tensorboard"})
# Settings that decide how a run is computed, placed or logged, not the recipe it trains (data, net, optimisation,
# schedule): a run that sets one of them otherwise than its profile has not left the profile's recipe.
NOT_RECIPE = NUMBERLESS | {"workers", "eval_every", "log_every", "eval_batch_size", "grad_norm_every", "accelerator",
                           "precision", "channels_last", "compile", "compile_mode", "cuda_graph", "threads"}


def ascii_digits(text: str) -> bool:
    """``text`` is a whole number in ASCII digits: str.isdigit also takes '²' (which int() refuses, a traceback)
    and '１' (which int() reads, but SLURM does not)."""
    return text.isascii() and text.isdigit()


def changed_settings(recorded: dict, asked: dict) -> dict[str, tuple]:
    """The settings of ``asked`` (a RunConfig's dict) that a run recorded otherwise (its config.yaml's or its
    checkpoint's ``config``; a key it does not record read as RunConfig's default, which an older version
    trained with), less NUMBERLESS: ``{setting: (recorded, asked)}`` in RunConfig's order. What a finished
    run's reuse (experiments.matrix ``check_reuse``) and a checkpoint's resume (experiments.run) both refuse."""
    had = {**RunConfig().to_dict(), **recorded}
    return {k: (had.get(k), v) for k, v in asked.items() if k not in NUMBERLESS and had.get(k) != v}


TENSORBOARD_MODULES = ("tensorboard", "tensorboardX")  # either serves Lightning's TensorBoardLogger


def check_extras(config: RunConfig) -> None:
    """ConfigError, one line, where ``config`` needs an optional package this Python lacks (``tensorboard``):
    make's input check says it once, before any run starts, rather than each run failing on it."""
    if config.tensorboard and not any(importlib.util.find_spec(m) for m in TENSORBOARD_MODULES):
        raise ConfigError("bad tensorboard true: the tensorboard package is not installed; "
                          "pip install '.[tensorboard]', or set tensorboard=false")


WARMUP_SETTINGS = ("warmup_steps", "warmup_lr", "warmup", "warmup_min_depth")


def departures(config: RunConfig, profile: str, model: str) -> dict[str, list]:
    """Where the recipe ``config`` trains ``model`` with differs from ``profile``'s own (a SET, or a tuning
    folder's rate): ``{setting: [this run's value, the profile's]}`` in RunConfig's order; ``{}`` for none.
    Left out: NOT_RECIPE, and settings that do not reach this net under either config (the other family's
    width and stem; the warm-up where the net is shallower than ``warmup_min_depth`` or it has no steps).
    config.yaml records it, so a report can say a run did not train the recipe its profile stands for (the
    paper's, for ``paper``). ConfigError as :func:`load_profile`; ValueError for a bad ``model``."""
    name = parse_name(model)
    own = load_profile(profile)

    def warms_up(c: RunConfig) -> bool:  # as experiments.training.module decides it
        return c.warmup_steps > 0 and name.depth >= c.warmup_min_depth

    unused = set(NOT_RECIPE) | ({"cifar_width"} if name.family == "imagenet" else {"imagenet_width", "stem"})
    if not (warms_up(config) or warms_up(own)):
        unused |= set(WARMUP_SETTINGS)
    mine, theirs = config.to_dict(), own.to_dict()
    return {k: [v, theirs[k]] for k, v in mine.items() if k not in unused and v != theirs[k]}


def at_lr(config: RunConfig, lr: float, overrides: list[str] | None = None) -> RunConfig:
    """``config`` at learning rate ``lr`` (a run folder ``seed<k>-lr<rate>``, :mod:`runfolder.tuning`), the
    warm-up scaled with it (it starts at the same fraction of the rate: a tenth under the quick profile).

    ConfigError when ``lr`` is the config's own rate (that run's folder is ``seed<k>``: one run, one folder) or
    when ``overrides`` also set ``lr`` or ``warmup_lr`` (the folder decides the rate)."""
    from runfolder import lr_token

    from runfolder.tuning import RATE_SETTINGS

    clash = sorted(set(RATE_SETTINGS) & set(parse_overrides(overrides or [])))
    if clash:
        raise ConfigError(f"bad SET {clash[0]}=...: the run folder names its learning rate (-lr{lr_token(lr)}); "
                          f"leave {clash[0]} out of SET for such a run")
    if lr == config.lr:
        raise ConfigError(f"bad run folder rate -lr{lr_token(lr)}: it is the profile's own rate; that run's folder "
                          f"is seed<k>, without -lr")
    return dataclasses.replace(config, lr=lr, warmup_lr=config.warmup_lr * lr / config.lr)


def parse_overrides(items: list[str]) -> dict:
    """``key=value`` items (SET, ``--set``) as a mapping, each value read as YAML; ConfigError naming an item
    that is not ``key=value``, whose value is not YAML, or whose key an earlier item already set (which of two
    values was meant is the user's to say, not ours to guess)."""
    values: dict = {}
    given: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad override {item!r}: expected key=value, e.g. batch_size=64")
        if key.strip() in given:
            raise ConfigError(f"bad override {item!r}: {key.strip()} is already set by {given[key.strip()]!r}; "
                              "give each key once")
        given[key.strip()] = item
        try:
            values[key.strip()] = read_yaml(raw)
        except yaml.YAMLError:
            hint = ("; SET splits at spaces, so a list takes none, e.g. milestones=[100,150]"
                    if "[" in raw and "]" not in raw else "")
            raise ConfigError(f"bad override {item!r}: the value is not valid YAML{hint}") from None
    return values


def load_matrices() -> dict[str, list[str]]:
    data = yaml.safe_load((CONFIG_DIR / "matrices.yaml").read_text())
    return {name: list(spec["models"]) for name, spec in data.items()}


# The largest seed a run can take: Lightning's seed_everything seeds numpy's global generator, which takes 32 bits.
MAX_SEED = 2**32 - 1


def check_seed(seed: int) -> None:
    """ConfigError when a run cannot be seeded with ``seed`` (above :data:`MAX_SEED`)."""
    if seed > MAX_SEED:
        raise ConfigError(f"bad seed {seed}: a run's seed seeds numpy, which takes 0 to {MAX_SEED} (2^32 - 1)")


def parse_seeds(text: str) -> list[int]:
    """The seeds of ``SEEDS``, separated by spaces or commas (make reads it the same way), each once, in order;
    ConfigError naming a seed written otherwise than its folder's name, or above :data:`MAX_SEED`."""
    seeds = []
    for token in text.replace(",", " ").split():
        if not (token.isascii() and token.isdigit() and str(int(token)) == token):  # as make names its folder
            raise ConfigError(f"bad seed {token!r}: seeds are integers >= 0 in decimal digits without leading zeros, "
                              "e.g. SEEDS=\"0 1 2\"")
        check_seed(int(token))
        if int(token) not in seeds:
            seeds.append(int(token))
    if not seeds:
        raise ConfigError("no seeds given: SEEDS must name at least one integer >= 0, e.g. SEEDS=0")
    return seeds


def model_overrides(model_name: str, config: RunConfig) -> dict:
    """The registry overrides a profile asks for: width and stem of each family, the init."""
    family = parse_name(model_name).family
    overrides: dict = {"init": config.init}
    width = config.imagenet_width if family == "imagenet" else config.cifar_width
    if width:
        overrides["width"] = width
    if family == "imagenet":
        overrides["stem"] = config.stem
    return overrides
