"""The floor plan holds: light modules stay light, no import circles, each layer imports only what it may.

The rules are written once, in the packages' docstrings (experiments/__init__.py, runfolder/__init__.py,
reports/__init__.py); these tests keep them. The light modules are found, not listed: every module of
``runfolder`` and ``experiments`` outside ``experiments.training`` and the layer-response analysis, so a
new module is checked the day it is added.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "runfolder", "experiments", "reports", "bench")
HEAVY = ("experiments.training", "experiments.responses")  # import torch and Lightning at module level
FORBIDDEN = ("torch", "torchvision", "pytorch_lightning", "lightning_fabric", "lightning", "torchmetrics")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if "__pycache__" not in p.parts}


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at module level or inside a function (``if TYPE_CHECKING`` left out):
    ``from pkg import sub`` counts as ``pkg.sub`` where ``sub`` is a module of the project, else as ``pkg``."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(name, path) if m in known and m != name} for name, path in known.items()}


def light_modules() -> list[str]:
    return [m for m in modules() if m.split(".")[0] in ("runfolder", "experiments")
            and not any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_the_import_graph_finds_what_it_must():
    """The checker sees function-level imports and resolves relative ones (else the tests below prove little)."""
    g = graph()
    assert "experiments.training.train" in g["experiments.run"]  # imported inside a function
    assert "experiments.launch.slurm" in g["experiments.launch.__main__"]  # `from . import slots, slurm`
    assert "runfolder.io" in g["runfolder.files"]  # `from .io import ...`
    assert {"experiments.data.cifar10", "experiments.data.base"} <= g["experiments.data"]


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(g):
        if start not in state:
            walk(start, [start])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("package, may_not", [
    ("runfolder", ("experiments", "reports", "bench")),
    ("reports", ("experiments", "bench")),
    ("models", ("runfolder", "experiments", "reports", "bench")),
    ("experiments", ("reports", "bench")),
])
def test_each_layer_imports_only_what_it_may(package, may_not):
    bad = sorted(f"{name} imports {m}" for name, path in modules().items() if name.split(".")[0] == package
                 for m in imports(name, path) if m.split(".")[0] in may_not)
    assert not bad, bad


COMMANDS = ("experiments.run", "experiments.matrix", "experiments.responses")


@pytest.mark.parametrize("layer, may_not", [
    ("experiments.launch", ("experiments.training", "experiments.data", *COMMANDS)),
    ("experiments.data", ("experiments.training", "experiments.launch", *COMMANDS)),
    ("experiments.config", ("experiments.training", "experiments.launch", *COMMANDS)),
    ("experiments.errors", ("experiments", "runfolder", "models")),
    ("experiments.training", COMMANDS),
])
def test_each_experiments_layer_imports_only_the_layers_below_it(layer, may_not):
    """The floor plan of experiments/__init__.py: launch, data and config never reach up into training or the
    commands; training never into the commands (the run command calls training, not the other way)."""
    def inside(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    bad = sorted(f"{name} imports {m}" for name, path in modules().items() if inside(name, layer)
                 for m in imports(name, path) if any(inside(m, p) for p in may_not) and not inside(m, layer))
    assert not bad, bad


def test_light_layers_import_no_torch_or_lightning():
    """Each light module, imported alone in a fresh interpreter, loads none of torch, torchvision, Lightning."""
    light = light_modules()
    assert {"runfolder", "experiments.run", "experiments.matrix", "experiments.launch.slurm",
            "experiments.data.fashion_mnist", "experiments.data.__main__"} <= set(light)
    code = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
            f"print(sorted(k for k in sys.modules if k.split('.')[0] in {FORBIDDEN!r})[:3])")
    bad = {}
    for m in light:  # one fresh interpreter each: what one module loads cannot hide another's
        p = subprocess.run([sys.executable, "-c", code, m], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{m}: {p.stderr}"
        if p.stdout.strip() != "[]":
            bad[m] = p.stdout.strip()
    assert not bad, f"light modules that load heavy ones: {bad}"
