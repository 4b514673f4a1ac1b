"""Fixtures shared across test modules: the smoke matrix, trained in the background beside the model tests;
what is built once per session (the suite's wheel, the example plugin); and the order and grouping of the
tests over pytest-xdist's worker processes.

`make test` runs the tests in two processes (pytest-xdist, ``-n``), one module at a time each (``--dist
loadscope``: a module's fixtures are computed once, by the process that runs it), the slowest modules first
(:data:`SLOW_MODULES`), so that neither process is left with a long module at the end. What several modules
share is built once per session by whichever process gets there first (:func:`built_once`).

Run in one process (plain ``pytest``), the model tests (test_models.py, about a minute) keep one core busy;
the smoke matrix end to end (test_training.py: the default degradation matrix through `make -j2`, eight runs,
most of each run the interpreter's and Lightning's start) needs about a minute of CPU. It is then started
when the first model test starts and trains on the core they leave idle; test_smoke_matrix_end_to_end waits
for it and checks what it did. Selected without the model tests (``pytest -k smoke_matrix``), or under
xdist (where the other process keeps that core busy), the test starts it itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers_runs import make
from runfolder.io import exclusive_lock

SMOKE_MATRIX_TEST = "test_smoke_matrix_end_to_end"
BESIDE = "test_models"  # the module during which the smoke matrix trains


class SmokeMatrix:
    """``make -j2 degradation PROFILE=smoke SEEDS=0`` in a folder of its own, started once, waited for once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs, self.data, self.reports = root / "runs", root / "data", root / "reports"
        self.args = ["-j2", "degradation", "PROFILE=smoke", "SEEDS=0", f"RUNS_DIR={self.runs}",
                     f"DATA_DIR={self.data}", f"REPORTS_DIR={self.reports}"]
        self.proc: subprocess.Popen | None = None
        self.output: tuple[str, str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        if self.proc is not None:
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = make(self.root, *self.args, wait=False)
        self._reader = threading.Thread(target=self._read, daemon=True)  # drains the pipes as make writes
        self._reader.start()

    def _read(self) -> None:
        self.output = self.proc.communicate()

    def result(self, timeout: float = 600) -> subprocess.CompletedProcess:
        """The finished make (started now if it was not): its exit status, stdout and stderr."""
        self.start()
        self._reader.join(timeout)
        if self._reader.is_alive():
            self.stop()
            raise AssertionError(f"the smoke matrix did not finish within {timeout} s")
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, *self.output)

    def stop(self) -> None:
        """End make and the runs it started, if still running (a session cut short: -x, Ctrl-C)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


@pytest.fixture(scope="session")
def smoke_matrix(tmp_path_factory):
    matrix = SmokeMatrix(tmp_path_factory.mktemp("smoke-matrix"))
    yield matrix
    matrix.stop()


SELECTED = pytest.StashKey[bool]()


XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"... in a pytest-xdist worker; None outside

# The modules that take longest, run first (each is one unit of work under --dist loadscope): a long module
# started last would keep one process busy after the other has finished. The others follow in file order.
# test_models before test_training: in one process the smoke matrix trains beside the model tests (below).
SLOW_MODULES = ["test_slurm", "test_plugins", "test_pool", "test_reliability", "test_models", "test_training", "test_slots",
                "test_schedule", "test_seed_exact", "test_report_settings", "test_analysis"]


def pytest_configure(config):
    """In an xdist worker, torch computes on one thread: `make test` runs one worker per core, and a worker's
    second OpenMP thread would contend with the other worker for its core (OpenMP threads wait on each other
    at every operation: the in-process model tests ran twice as long beside a busy worker)."""
    if XDIST_WORKER is not None:
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """The slow modules first, in :data:`SLOW_MODULES`' order (a stable sort: within a module, file order). Every
    xdist worker collects the same items and sorts them the same way, as xdist requires."""
    def rank(item) -> int:
        name = item.module.__name__ if item.module is not None else ""
        return SLOW_MODULES.index(name) if name in SLOW_MODULES else len(SLOW_MODULES)

    items.sort(key=rank)


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build(folder)`` filled once in this test session, whatever the number of xdist
    workers: the first worker to ask builds it in the session's own temporary folder (the workers' base
    folders' parent, ``pytest-<n>``), holding a lock on it; the others wait on the lock and reuse it. A build
    that failed is tried again by the next worker (its marker file is written last). In one process: a
    temporary folder of the session's."""
    if XDIST_WORKER is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent
    folder, done = root / name, root / f"{name}.built"
    with exclusive_lock(root / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(autouse=True)
def _smoke_matrix_beside_the_model_tests(request):
    if request.module.__name__ != BESIDE or XDIST_WORKER is not None:
        return
    if SELECTED not in request.config.stash:  # the session's tests, as selected (-k, -m, paths)
        request.config.stash[SELECTED] = any(i.name == SMOKE_MATRIX_TEST for i in request.session.items)
    if request.config.stash[SELECTED]:
        request.getfixturevalue("smoke_matrix").start()


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory) -> Path:
    """The interpreter of a fresh virtual environment into which the suite's wheel (`pip install .`, not
    editable) is installed: what a user without make gets.

    The wheel is built from a copy of the sources (the packages pyproject.toml names, nothing written into
    the checkout) without build isolation, and installed without dependencies: the fresh environment sees
    the shared one's packages (torch, pyyaml) through a .pth file placed after the wheel's own, so nothing
    is downloaded and the suite's code is the wheel's.
    """
    return built_once(tmp_path_factory, "wheel", _build_wheel_venv) / "venv" / "bin" / "python"


def _build_wheel_venv(tmp: Path) -> None:
    import sys
    import sysconfig
    import tomllib
    import venv

    root = Path(__file__).resolve().parents[1]
    src = tmp / "src"
    src.mkdir()
    packages = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for name in {p.split(".")[0] for p in packages}:
        shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    quiet = ["--disable-pip-version-check", "-q"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("*.whl")
    fresh = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", *quiet, "--python", str(python), "install", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # zz: after the wheel's own files; the shared environment's editable finder (a .pth in ITS site-packages)
    # is not run from here, so the checkout is not importable unless it is the working folder.
    Path(site, "zz-shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory) -> Path:
    """examples/mynet-plugin pip-installed (no index, no dependencies, no build isolation) into a fresh
    folder, which a test puts on sys.path or PYTHONPATH: importlib.metadata finds its entry point there as in
    any site-packages."""
    return built_once(tmp_path_factory, "plugin", _install_example_plugin) / "site"


def _install_example_plugin(root: Path) -> None:
    import sys

    source = root / "src"
    # pip writes build/ and *.egg-info beside the sources: a copy, not the checkout
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "mynet-plugin", source)
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True)
