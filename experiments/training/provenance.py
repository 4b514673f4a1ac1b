"""Where and with what a run was trained: the commit, the host, the versions, the device."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

_warned: set[str] = set()  # git's refusals already reported by this process


def _git(*args: str) -> subprocess.CompletedProcess | None:
    """``git args`` in this package's folder; None where git is not installed or hangs."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None


def git_state() -> tuple[str | None, bool | None]:
    """(commit, whether the work tree differs from it); None for what git could not tell: outside a git
    checkout or without git, silently; where git refuses (a checkout owned by another user: "dubious
    ownership"), with one warning on stderr per process. Never False for a git that did not run."""
    head = _git("rev-parse", "HEAD")
    if head is None:
        return None, None
    if head.returncode != 0:
        why = next((ln for ln in head.stderr.splitlines() if ln.strip()), f"exit {head.returncode}")
        if "not a git repository" not in why and why not in _warned:
            _warned.add(why)
            print(f"warning: git cannot read this checkout ({why.removeprefix('fatal: ')}); config.yaml records "
                  "git_commit and git_dirty as unknown (null)", file=sys.stderr)
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    dirty = bool(status.stdout.strip()) if status is not None and status.returncode == 0 else None
    return head.stdout.strip() or None, dirty


def provenance() -> dict:
    """The git commit (and whether the work tree differs from it: :func:`git_state`, None where unknown), the
    hostname and the library versions, for a run's ``config.yaml``."""
    import pytorch_lightning
    import torch
    import torchvision

    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "hostname": platform.node(),
        "versions": {
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
            "pytorch_lightning": str(pytorch_lightning.__version__),
            "cuda": torch.version.cuda,
        },
    }


def device_description(accelerator: str, threads: int) -> str:
    """The device a run trained on, for its ``result.json``: the GPU's name, or the CPU and its threads."""
    import torch

    if accelerator == "gpu":
        return torch.cuda.get_device_name(0)
    return f"cpu ({threads} threads, {platform.processor() or platform.machine()})"
