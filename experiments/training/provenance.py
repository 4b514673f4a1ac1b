"""Where and with what a run was trained: the commit, the host, the versions, the device."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def provenance() -> dict:
    """The git commit (and whether the work tree differs from it), the hostname and the library versions,
    for a run's ``config.yaml``. The commit is None outside a git checkout."""
    import pytorch_lightning
    import torch
    import torchvision

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=here).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, timeout=5, cwd=here).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
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
