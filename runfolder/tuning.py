"""The tuning protocol: every net of a board gets the same declared learning-rate budget, defined once.

A board that trains every net at one learning rate ranks the nets by how well they suit that rate (the
quick profile's 0.1 was chosen so that resnet-56 does not blow up). So ``make methods`` also gives every
net, built-in or a researcher's plugin alike, the same tuning budget, as DeepOBS does for optimisers
(Schneider et al. 2019, arXiv 1903.05499: a log grid of learning rates on a seed that is never reported,
the best rate rerun on the reported seeds):

1. Each net trains once per rate of the grid (:data:`DEFAULT_GRID`, ``LRS=`` overrides it) on the tuning
   seed :data:`TUNING_SEED`, which no board reports. The warm-up scales with the rate (it starts at the
   same fraction of it: a tenth under the quick profile).
2. The rate is chosen per net (method and depth) by the tuning run's final training error (the quantity the
   boards judge); a diverged run ranks below every finished one; ties go to the smaller rate. The final
   validation error is recorded beside it (:class:`Choice`).
3. Where the chosen rate is an end of the grid, one more grid step in that direction (the ratio of the two
   rates at that end) is trained on the tuning seed and the choice made again, once.
4. The chosen rate trains the reported seeds. A run at the profile's own rate is the one-recipe board's run
   (``seed<k>``), never trained twice; another rate's run is ``seed<k>-lr<rate>`` (:mod:`runfolder.files`).

:func:`plan` says which run folders are known to be needed now (make trains them, then asks again:
each step needs the last one's results); :func:`choose` is the choice, read by make and by the reports
alike. Torch-free, as the rest of :mod:`runfolder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .files import DONE, RESULT, MalformedError, lr_token, read_result, record_problem, seed_folder

DEFAULT_GRID = (0.025, 0.05, 0.1, 0.2, 0.4)  # learning rates, a log grid (factor 2) around the paper's 0.1
TUNING_SEED = 1000  # the tuning runs' seed: never a reported seed (make refuses it in SEEDS)
# The settings a run folder's rate (seed<k>-lr<rate>) sets: the rate and the warm-up's start, scaled with it
# (experiments.config.at_lr); a tuned run differs from the report's others in these only.
RATE_SETTINGS = ("lr", "warmup_lr")


def check_tune(value: str) -> bool:
    """Whether ``TUNE`` (as make has it) turns the tuning protocol on: "1" yes, "" (empty) no; ValueError
    naming any other value (``TUNE=0`` had meant on, being non-empty to make)."""
    if value not in ("", "1"):
        raise ValueError(f"bad TUNE {value!r}: TUNE=1 turns the tuning protocol on, TUNE= (empty) turns it off")
    return value == "1"


def parse_grid(text: str) -> tuple[float, ...]:
    """``LRS`` ("0.025 0.05 0.1", spaces or commas) as rates, sorted, each once; ``ValueError`` naming a bad
    rate, or a grid of fewer than two rates (an end needs a step to extend by)."""
    rates = []
    for token in text.replace(",", " ").split():
        try:
            lr = float(token)
        except ValueError:
            raise ValueError(f"bad learning rate {token!r} in LRS: positive numbers, e.g. LRS=\"0.05 0.1 0.2\"") from None
        if len(lr_token(lr)) > 40:  # ValueError above for zero, negative, inf, nan
            raise ValueError(f"bad learning rate {token!r} in LRS: too small to name a run folder (seed1000-lr0.000...); "
                             "rates from about 1e-30 up")
        rates.append(lr)
    grid = tuple(sorted(set(rates)))
    if len(grid) < 2:
        same = " (its rates are one rate written twice)" if len(rates) > 1 else ""
        raise ValueError(f"bad LRS {text!r}: at least two learning rates{same}, e.g. LRS=\"0.05 0.1 0.2\"")
    return grid


# The grid a profile's runs were last planned with, in ``<runs>/<experiment>/<profile>/``: one line, the rates
# as LRS takes them. Written by ``experiments.matrix plan``; read by the report when LRS is not given again.
GRID_FILE = "tuning-grid.txt"


def record_grid(root: str | Path, grid: tuple[float, ...]) -> None:
    """Write ``grid`` to ``root/GRID_FILE`` (atomically; ``root`` created) unless it already says so."""
    from .io import atomic_write_text

    path = Path(root) / GRID_FILE
    text = " ".join(repr(lr) for lr in grid) + "\n"  # every digit: the folders' rates are read back from it
    if not (path.is_file() and path.read_text() == text):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)


def recorded_grid(root: str | Path) -> tuple[float, ...] | None:
    """The grid :func:`record_grid` wrote in ``root``, or None where there is none or it does not parse."""
    path = Path(root) / GRID_FILE
    try:
        return parse_grid(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def folder_rate(lr: float, base_lr: float) -> float | None:
    """The rate a run's folder names: None at the profile's own rate (its folder is ``seed<k>``, the
    one-recipe board's run), else ``lr`` (``seed<k>-lr<rate>``): one run, one folder."""
    return None if lr == base_lr else lr


def extension(grid: tuple[float, ...], lr: float) -> float | None:
    """The rate one grid step beyond ``lr`` when it is an end of ``grid`` (the ratio of the two rates at that
    end), else None."""
    if lr not in (grid[0], grid[-1]):
        return None
    beyond = grid[0] * grid[0] / grid[1] if lr == grid[0] else grid[-1] * grid[-1] / grid[-2]
    return float(f"{beyond:.12g}")  # 0.4 * 0.4 / 0.2 is 0.8, not 0.8000000000000002: one folder name per rate


@dataclass(frozen=True)
class Outcome:
    """One tuning run: its status (ok, diverged; failed, or malformed where its result.json cannot be read;
    None where it has none yet) and final errors (%). Only a done run (ok or diverged) enters a choice."""

    lr: float
    status: str | None
    train: float | None = None
    val: float | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def rank(self) -> tuple:
        """Sort key: finished runs by final training error, then diverged ones; the smaller rate on a tie."""
        usable = self.status == "ok" and self.train is not None and math.isfinite(self.train)
        return (not usable, self.train if usable else math.inf, self.lr)


@dataclass(frozen=True)
class Choice:
    """The rate chosen for one net, and what it rests on.

    ``lr`` the chosen rate; ``outcomes`` every tuning run considered (grid and extension), by rate;
    ``extended`` the extension's rate where one was needed (None otherwise); ``pending`` the rates not done
    yet (then ``lr`` is None: no choice before every run it rests on has finished); ``at_edge`` True when the
    final choice is still an end of the rates tried (the budget's grid did not bracket it)."""

    lr: float | None
    outcomes: tuple[Outcome, ...]
    extended: float | None
    pending: tuple[float, ...]
    at_edge: bool = False


def outcome(folder: Path, lr: float) -> Outcome:
    """The tuning run in ``folder`` as an :class:`Outcome` (status None where it has no result.json; a
    failed one says so, so that a report names it rather than calling it not done)."""
    if not (folder / RESULT).is_file():
        return Outcome(lr, None)
    try:
        record = read_result(folder / RESULT)
    except MalformedError:
        return Outcome(lr, "malformed")
    if record["status"] not in DONE:
        return Outcome(lr, record["status"])
    if record_problem(folder, record):  # a record copied in, or a folder missing its settings or curves
        return Outcome(lr, "malformed")
    return Outcome(lr, record["status"], record["final"].get("train"), record["final"].get("val"))


def _best(outcomes: list[Outcome]) -> Outcome:
    return min(outcomes, key=lambda o: o.rank)


def choose(root: str | Path, model: str, grid: tuple[float, ...], base_lr: float,
           seed: int = TUNING_SEED) -> Choice:
    """The tuning protocol's choice for ``model`` from its tuning runs under ``root`` (``<runs>/<experiment>/
    <profile>``): the grid's runs first, then, where the best is an end of the grid, the extension's.
    ``base_lr`` is the profile's rate (its run folder is ``seed<k>``, without a rate)."""
    def folder(lr: float) -> Path:
        return Path(root) / model / seed_folder(seed, folder_rate(lr, base_lr))

    seen = [outcome(folder(lr), lr) for lr in grid]
    pending = tuple(o.lr for o in seen if not o.done)
    if pending:
        return Choice(None, tuple(seen), None, pending)
    best = _best(seen).lr
    ext = extension(grid, best)
    if ext is None:
        return Choice(best, tuple(seen), None, ())
    seen.append(outcome(folder(ext), ext))
    if not seen[-1].done:
        return Choice(None, tuple(seen), ext, (ext,))
    best = _best(seen).lr
    return Choice(best, tuple(sorted(seen, key=lambda o: o.lr)), ext, (), at_edge=best == ext)


def plan(root: str | Path, models: list[str], grid: tuple[float, ...], base_lr: float,
         seeds: list[int]) -> list[tuple[str, int, float | None]]:
    """The runs (model, seed, rate; rate None for the profile's) the protocol needs as far as is known now:
    every net's grid on the tuning seed, its extension once the grid is done and ends at an edge, and its
    reported seeds at the chosen rate once the choice is made. Make trains them and asks again until the
    list stops growing."""
    runs = []
    for model in models:
        rates = list(grid)
        choice = choose(root, model, grid, base_lr)
        if choice.extended is not None:
            rates.append(choice.extended)
        runs += [(model, TUNING_SEED, folder_rate(lr, base_lr)) for lr in rates]
        if choice.lr is not None:
            runs += [(model, s, folder_rate(choice.lr, base_lr)) for s in seeds]
    return runs
